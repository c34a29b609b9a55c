//! Thin, checked wrappers over the Linux calls the tracer needs. Every `unsafe` block of the
//! engine lives here, so the rest of the engine is safe code.
//!
//! nix's safe wrappers are used wherever nix has one: the ptrace requests (`PTRACE_SYSCALL`,
//! `CONT`, `DETACH`, `SEIZE`, `INTERRUPT`, `GETEVENTMSG`, `GETSIGINFO`, `GET_SYSCALL_INFO`,
//! `TRACEME`), `kill`, `process_vm_readv`, `prctl(PR_SET_NO_NEW_PRIVS)`, CPU affinity and
//! `sigaction`. Raw `libc` remains only where nix has no wrapper or cannot express what the
//! tracer must do:
//!
//! * `PTRACE_LISTEN` (nix names the request but offers no call);
//! * a resume or detach that delivers a **realtime signal** (`SIGRTMIN+n`): nix's `Signal` enum
//!   has no realtime signals, and a tracer must pass every signal on unchanged;
//! * `waitpid`: nix's `WaitStatus` fails to decode a stop or death by a realtime signal, so the
//!   raw status word is classified by the tracer itself (`tracer::Stop`);
//! * `seccomp(SECCOMP_SET_MODE_FILTER)` and `setitimer` (no nix wrapper).

use std::io;
use std::io::IoSliceMut;

use nix::sys::ptrace;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::uio::{process_vm_readv, RemoteIoVec};
use nix::unistd::Pid;

/// `PTRACE_SYSCALL_INFO_*` values of `ptrace_syscall_info.op`.
const OP_ENTRY: u8 = 1;
const OP_EXIT: u8 = 2;
const OP_SECCOMP: u8 = 3;

/// What `PTRACE_GET_SYSCALL_INFO` reported at a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallInfo {
    /// Syscall-entry stop (or seccomp stop, which the tracer treats as an entry).
    Entry {
        /// System call number.
        nr: u64,
        /// The six argument registers.
        args: [u64; 6],
        /// The stack pointer (rt_sigreturn finds its frame there).
        sp: u64,
    },
    /// Syscall-exit stop with the raw return value (`-errno` on failure).
    Exit {
        /// Raw return value.
        rval: i64,
    },
    /// Not a syscall stop.
    None,
}

fn pid(tid: i32) -> Pid {
    Pid::from_raw(tid)
}

/// Reads the syscall information of the stopped tracee `tid`.
pub fn get_syscall_info(tid: i32) -> io::Result<SyscallInfo> {
    let info = ptrace::syscall_info(pid(tid))?;
    // SAFETY: `op` tells which member of the union the kernel filled (ptrace(2)); only that
    // member is read, and all of them are plain integers.
    Ok(unsafe {
        match info.op {
            OP_ENTRY => SyscallInfo::Entry {
                nr: info.u.entry.nr,
                args: info.u.entry.args,
                sp: info.stack_pointer,
            },
            OP_SECCOMP => SyscallInfo::Entry {
                nr: info.u.seccomp.nr,
                args: info.u.seccomp.args,
                sp: info.stack_pointer,
            },
            OP_EXIT => SyscallInfo::Exit {
                rval: info.u.exit.sval,
            },
            _ => SyscallInfo::None,
        }
    })
}

/// A ptrace request that resumes or releases a stopped tracee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// `PTRACE_SYSCALL`: run to the next syscall entry or exit.
    Syscall,
    /// `PTRACE_CONT`: run until the next signal or event (seccomp-filtered tracing).
    Cont,
    /// `PTRACE_DETACH`: stop tracing it.
    Detach,
}

impl Resume {
    /// The request's name in ptrace(2), for diagnostics.
    pub fn name(self) -> &'static str {
        match self {
            Resume::Syscall => "PTRACE_SYSCALL",
            Resume::Cont => "PTRACE_CONT",
            Resume::Detach => "PTRACE_DETACH",
        }
    }
}

/// Resumes (or detaches) `tid`, delivering signal `sig` (0 for none).
pub fn resume(req: Resume, tid: i32, sig: i32) -> io::Result<()> {
    let signal = match sig {
        0 => None,
        s => match Signal::try_from(s) {
            Ok(s) => Some(s),
            Err(_) => return resume_raw(req, tid, sig),
        },
    };
    let r = match req {
        Resume::Syscall => ptrace::syscall(pid(tid), signal),
        Resume::Cont => ptrace::cont(pid(tid), signal),
        Resume::Detach => ptrace::detach(pid(tid), signal),
    };
    r.map_err(io::Error::from)
}

/// The raw request for a signal nix's `Signal` cannot name (realtime signals).
fn resume_raw(req: Resume, tid: i32, sig: i32) -> io::Result<()> {
    let req = match req {
        Resume::Syscall => libc::PTRACE_SYSCALL,
        Resume::Cont => libc::PTRACE_CONT,
        Resume::Detach => libc::PTRACE_DETACH,
    };
    raw_request(req, tid, sig as libc::c_long)
}

fn raw_request(req: libc::c_uint, tid: i32, data: libc::c_long) -> io::Result<()> {
    // SAFETY: SYSCALL, CONT, DETACH and LISTEN read `data` as an integer (a signal number or 0)
    // and dereference no pointer of ours.
    let r = unsafe { libc::ptrace(req, tid, std::ptr::null_mut::<libc::c_void>(), data) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `PTRACE_SEIZE` with `options`.
pub fn seize(tid: i32, options: ptrace::Options) -> io::Result<()> {
    ptrace::seize(pid(tid), options).map_err(io::Error::from)
}

/// `PTRACE_INTERRUPT`: stop a seized tracee (it reports a `PTRACE_EVENT_STOP`).
pub fn interrupt(tid: i32) -> io::Result<()> {
    ptrace::interrupt(pid(tid)).map_err(io::Error::from)
}

/// `PTRACE_LISTEN`: leave a seized tracee in its group-stop but keep receiving its events.
pub fn listen(tid: i32) -> io::Result<()> {
    raw_request(libc::PTRACE_LISTEN, tid, 0)
}

/// `PTRACE_GETEVENTMSG`: the new pid of a clone/fork event, the former tid of an exec event.
pub fn get_event_msg(tid: i32) -> io::Result<u64> {
    ptrace::getevent(pid(tid))
        .map(|m| m as u64)
        .map_err(io::Error::from)
}

/// `PTRACE_GETSIGINFO`; fails with `EINVAL` in a group-stop of a non-seized tracee.
pub fn get_siginfo(tid: i32) -> io::Result<libc::siginfo_t> {
    ptrace::getsiginfo(pid(tid)).map_err(io::Error::from)
}

/// `waitpid(-1, &status, __WALL | flags)`; `Ok(None)` for `WNOHANG` with nothing to report.
pub fn wait_any(nohang: bool) -> io::Result<Option<(i32, i32)>> {
    let mut status = 0;
    let flags = libc::__WALL | if nohang { libc::WNOHANG } else { 0 };
    // SAFETY: `status` is a live local the kernel writes an int to.
    let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
    match pid {
        p if p < 0 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        p => Ok(Some((p, status))),
    }
}

/// `waitpid(pid, ..., __WALL | extra)` for one specific tracee.
fn wait_one(pid: i32, extra: libc::c_int) -> io::Result<i32> {
    let mut status = 0;
    // SAFETY: as in `wait_any`.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | extra) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(status)
    }
}

/// `waitpid(pid, ..., __WALL)` for one specific tracee.
pub fn wait_pid(pid: i32) -> io::Result<i32> {
    wait_one(pid, 0)
}

/// `waitpid(pid, ..., __WALL | WUNTRACED)`: also reports a stop of an untraced child.
pub fn wait_pid_stopped(pid: i32) -> io::Result<i32> {
    wait_one(pid, libc::WUNTRACED)
}

/// `kill(pid, sig)` for the standard signals the tracer sends itself (SIGSTOP, SIGCONT...).
pub fn kill(pid: i32, sig: Signal) -> io::Result<()> {
    signal::kill(Pid::from_raw(pid), sig).map_err(io::Error::from)
}

/// Reads `len` bytes at `addr` of process `pid` with `process_vm_readv`. Returns fewer bytes when
/// the range crosses into unmapped memory.
pub fn read_memory(pid: i32, addr: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let remote = [RemoteIoVec {
        base: addr as usize,
        len,
    }];
    let n = process_vm_readv(
        Pid::from_raw(pid),
        &mut [IoSliceMut::new(&mut buf)],
        &remote,
    )
    .ok()?;
    buf.truncate(n);
    Some(buf)
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock every event is stamped with.
pub fn monotonic_ns() -> u64 {
    ruchytrace_runtime::clock::monotonic_ns()
}

/// `CLOCK_REALTIME` in nanoseconds.
pub fn realtime_ns() -> u64 {
    ruchytrace_runtime::clock::realtime_ns()
}

/// The protocol name the kernel gives socket `fd` of `tid` (`TCP`, `UDPv6`, `UNIX`...), from
/// the `system.sockprotoname` attribute of the socket inode (what strace shows under `-yy`
/// for a socket it cannot describe further).
pub fn socket_protocol(tid: i32, fd: i64) -> Option<String> {
    let path = std::ffi::CString::new(format!("/proc/{tid}/fd/{fd}")).ok()?;
    let mut buf = [0u8; 64];
    // SAFETY: both names are NUL-terminated C strings alive for the call; the kernel writes at
    // most `buf.len()` bytes into `buf`.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"system.sockprotoname".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n <= 0 {
        return None;
    }
    let name = &buf[..n as usize];
    let name = name.split(|&b| b == 0).next().unwrap_or(name);
    Some(String::from_utf8_lossy(name).into_owned())
}

/// The local address of socket `fd` of process `pid` (`getsockname` on a duplicate obtained with
/// `pidfd_getfd`, which ptrace-level access allows); `None` when unavailable.
pub fn socket_local_addr(pid: i32, fd: i64) -> Option<std::net::SocketAddr> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags; a returned descriptor is ours to own.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return None;
    }
    // SAFETY: `pidfd` was just returned to us and is closed once, by this OwnedFd.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd takes our pidfd, the target's fd number and flags; a returned
    // descriptor is ours to own.
    let dup = unsafe {
        libc::syscall(
            libc::SYS_pidfd_getfd,
            std::os::fd::AsRawFd::as_raw_fd(&pidfd),
            fd as i32,
            0,
        )
    };
    if dup < 0 {
        return None;
    }
    // SAFETY: as above, a fresh descriptor owned once.
    let dup = unsafe { OwnedFd::from_raw_fd(dup as i32) };
    // A sockaddr_storage-sized, suitably aligned buffer of plain integers.
    let mut ss = [0u64; 16];
    let mut len = std::mem::size_of_val(&ss) as libc::socklen_t;
    // SAFETY: `ss` (128 bytes, 8-aligned like sockaddr_storage) and `len` are live locals; the
    // kernel writes at most `len` bytes into `ss`.
    let r = unsafe {
        libc::getsockname(
            std::os::fd::AsRawFd::as_raw_fd(&dup),
            ss.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r < 0 {
        return None;
    }
    let bytes: &[u8] = bytemuck::cast_slice(&ss);
    let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
    match family as i32 {
        libc::AF_INET => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let ip = std::net::Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            Some((ip, port).into())
        }
        libc::AF_INET6 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let ip: [u8; 16] = bytes[8..24].try_into().ok()?;
            Some((std::net::Ipv6Addr::from(ip), port).into())
        }
        _ => None,
    }
}

/// A classic-BPF seccomp program, built in the parent so the forked child does not allocate.
pub struct SeccompProgram {
    filter: Vec<libc::sock_filter>,
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

impl SeccompProgram {
    /// A filter that makes the syscalls in `listed` return `SECCOMP_RET_TRACE` (or, when
    /// `invert`, every syscall except them), and lets everything else run without a stop.
    /// `never_trace` syscalls always run (execve must: the tracer cannot see seccomp stops
    /// before its options are set at the first post-exec stop).
    pub fn new(listed: &[u64], invert: bool, never_trace: &[u64]) -> Self {
        // seccomp_data: nr at offset 0, arch at offset 4.
        let (hit, miss) = if invert {
            (SECCOMP_RET_ALLOW, SECCOMP_RET_TRACE)
        } else {
            (SECCOMP_RET_TRACE, SECCOMP_RET_ALLOW)
        };
        let mut f = vec![
            stmt(BPF_LD_W_ABS, 4),
            // A foreign architecture (e.g. i386 via int 0x80): let it run untraced.
            libc::sock_filter {
                code: BPF_JEQ_K,
                jt: 1,
                jf: 0,
                k: AUDIT_ARCH,
            },
            stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
            stmt(BPF_LD_W_ABS, 0),
        ];
        // Each test is `if (nr == k) return X;` as two instructions, so no jump exceeds the 8-bit
        // offsets of classic BPF however long the list is.
        for &nr in never_trace {
            f.push(libc::sock_filter {
                code: BPF_JEQ_K,
                jt: 0,
                jf: 1,
                k: nr as u32,
            });
            f.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
        }
        for &nr in listed {
            f.push(libc::sock_filter {
                code: BPF_JEQ_K,
                jt: 0,
                jf: 1,
                k: nr as u32,
            });
            f.push(stmt(BPF_RET_K, hit));
        }
        f.push(stmt(BPF_RET_K, miss));
        SeccompProgram { filter: f }
    }

    /// Installs the filter in the calling process. Async-signal-safe: only two system calls and
    /// no allocation, so it may run between fork and exec.
    pub fn install(&self) -> io::Result<()> {
        let prog = libc::sock_fprog {
            len: self.filter.len() as u16,
            filter: self.filter.as_ptr() as *mut libc::sock_filter,
        };
        nix::sys::prctl::set_no_new_privs()?;
        // SAFETY: `prog` points at `self.filter`, alive for the duration of the call; the kernel
        // copies the program.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// `ptrace(PTRACE_TRACEME)` in the forked child. Async-signal-safe.
pub fn traceme() -> io::Result<()> {
    ptrace::traceme().map_err(io::Error::from)
}

/// Restricts the calling thread (only it, not the process) to `cpu`.
pub fn pin_thread_to_cpu(cpu: usize) -> io::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)?;
    // pid 0 is the calling thread for sched_setaffinity(2).
    nix::sched::sched_setaffinity(Pid::from_raw(0), &set).map_err(io::Error::from)
}

/// Lets the calling thread run on the CPUs in `cpus` again.
pub fn set_thread_cpus(cpus: &nix::sched::CpuSet) -> io::Result<()> {
    nix::sched::sched_setaffinity(Pid::from_raw(0), cpus).map_err(io::Error::from)
}

/// The calling thread's CPU affinity.
pub fn thread_cpus() -> io::Result<nix::sched::CpuSet> {
    nix::sched::sched_getaffinity(Pid::from_raw(0)).map_err(io::Error::from)
}

/// The CPU the calling thread runs on.
pub fn current_cpu() -> Option<usize> {
    nix::sched::sched_getcpu().ok()
}

/// Gives the calling thread (only it) the `SCHED_IDLE` policy, or `SCHED_OTHER` back.
pub fn set_thread_idle_policy(idle: bool) -> io::Result<()> {
    set_idle_policy_of(0, idle)
}

/// [`set_thread_idle_policy`] for thread `tid` of this process (0: the calling thread).
pub fn set_idle_policy_of(tid: i32, idle: bool) -> io::Result<()> {
    let policy = if idle {
        libc::SCHED_IDLE
    } else {
        libc::SCHED_OTHER
    };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler(2) acts on one thread on Linux (0: the caller); `param` is a
    // live local.
    if unsafe { libc::sched_setscheduler(tid, policy, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives thread `tid` of this process the CPU affinity `cpus`.
pub fn set_cpus_of(tid: i32, cpus: &nix::sched::CpuSet) -> io::Result<()> {
    nix::sched::sched_setaffinity(Pid::from_raw(tid), cpus).map_err(io::Error::from)
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    nix::unistd::gettid().as_raw()
}

/// Whether thread `tid` of this process is runnable (state `R` in `/proc/self/task/TID/stat`).
pub fn thread_runnable(tid: i32) -> bool {
    thread_state(&format!("/proc/self/task/{tid}/stat")) == Some('R')
}

/// How long thread `tid` of this process has waited on a run queue so far, in nanoseconds
/// (`/proc/self/task/TID/schedstat`, second field); `None` where the kernel does not keep it.
pub fn run_delay_ns(tid: i32) -> Option<u64> {
    let mut buf = [0u8; 128];
    let text = read_head(&format!("/proc/self/task/{tid}/schedstat"), &mut buf)?;
    parse_run_delay(text)
}

fn parse_run_delay(text: &[u8]) -> Option<u64> {
    let field = text
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty())
        .nth(1)?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Whether thread `tid` (of any process) is running or runnable (state `R` in `/proc/TID/stat`).
pub fn task_runnable(tid: i32) -> bool {
    thread_state(&format!("/proc/{tid}/stat")) == Some('R')
}

fn thread_state(path: &str) -> Option<char> {
    let mut buf = [0u8; 512];
    let s = read_head(path, &mut buf)?;
    let rest = &s[s.iter().rposition(|&b| b == b')')? + 1..];
    rest.split(u8::is_ascii_whitespace)
        .find(|w| !w.is_empty())
        .map(|w| w[0] as char)
}

/// The start of a small `/proc` file, in one `read` (open, read, close: three system calls;
/// `fs::read_to_string` takes six to eight, as `/proc` reports a size of 0).
pub fn read_head<'a>(path: &str, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    use std::io::Read;
    let n = std::fs::File::open(path).ok()?.read(buf).ok()?;
    Some(&buf[..n])
}

/// Blocks every signal in the calling thread: helper threads must not take the signals the
/// tracer thread waits for (a blocking `waitpid` is interrupted only in the thread that
/// receives the signal).
pub fn block_all_signals() {
    let _ = signal::pthread_sigmask(signal::SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None);
}

/// Whether a thread of this process may leave `SCHED_IDLE` again once it took it (root,
/// `CAP_SYS_NICE`, or `RLIMIT_NICE` >= 20): asked of the kernel by a short-lived thread that
/// tries both steps, since capabilities and limits are hard to read exactly (user namespaces).
pub fn idle_policy_is_reversible() -> bool {
    std::thread::Builder::new()
        .name("ruchytrace-probe".into())
        .spawn(|| {
            block_all_signals();
            set_thread_idle_policy(true).is_ok() && set_thread_idle_policy(false).is_ok()
        })
        .ok()
        .and_then(|t| t.join().ok())
        .unwrap_or(false)
}

/// The machine's idle and total CPU time so far (`/proc/stat`'s first line, in clock ticks),
/// read through an open `/proc/stat`.
pub fn cpu_times(stat: &std::fs::File) -> Option<(u64, u64)> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 256];
    let n = stat.read_at(&mut buf, 0).ok()?;
    parse_cpu_times(&buf[..n])
}

fn parse_cpu_times(text: &[u8]) -> Option<(u64, u64)> {
    let line = text.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.strip_prefix("cpu ")?;
    let mut idle = 0;
    let mut total = 0;
    // user nice system idle iowait irq softirq steal (guest times are included in user).
    for (i, v) in line.split_whitespace().take(8).enumerate() {
        let v: u64 = v.parse().ok()?;
        total += v;
        if i == 3 || i == 4 {
            idle += v;
        }
    }
    Some((idle, total))
}

/// Installs `handler` for `sig` without `SA_RESTART`, so a blocking `waitpid` returns `EINTR`.
pub fn set_flag_handler(sig: Signal, handler: extern "C" fn(libc::c_int)) {
    let sa = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handlers installed by the tracer only store to atomics, which is
    // async-signal-safe.
    let _ = unsafe { signal::sigaction(sig, &sa) };
}

/// Restores the default disposition of `sig`.
pub fn set_default_handler(sig: Signal) {
    let sa = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_DFL runs no code of ours.
    let _ = unsafe { signal::sigaction(sig, &sa) };
}

/// Arms (or with 0, disarms) a periodic `ITIMER_REAL` of `ms` milliseconds.
pub fn set_interval_timer(ms: u64) {
    let tv = libc::timeval {
        tv_sec: (ms / 1000) as _,
        tv_usec: ((ms % 1000) * 1000) as _,
    };
    let it = libc::itimerval {
        it_interval: tv,
        it_value: tv,
    };
    // SAFETY: `it` is a live local; the old value is not requested.
    unsafe { libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seccomp_program_shape() {
        let p = SeccompProgram::new(&[1, 2], false, &[59]);
        // arch check (3) + load nr (1) + 2 per listed/never-traced nr + default return.
        assert_eq!(p.filter.len(), 4 + 2 * 3 + 1);
        assert_eq!(p.filter.last().unwrap().k, SECCOMP_RET_ALLOW);
        let inv = SeccompProgram::new(&[1], true, &[]);
        assert_eq!(inv.filter.last().unwrap().k, SECCOMP_RET_TRACE);
        assert_eq!(inv.filter[inv.filter.len() - 2].k, SECCOMP_RET_ALLOW);
    }

    #[test]
    fn reads_own_memory() {
        let data = *b"hello\0world";
        let got = read_memory(std::process::id() as i32, data.as_ptr() as u64, 5).unwrap();
        assert_eq!(got, b"hello");
    }

    #[test]
    fn cpu_times_from_proc_stat() {
        let text = b"cpu  10 2 30 400 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 1 1\n";
        assert_eq!(parse_cpu_times(text), Some((405, 468)));
        assert_eq!(parse_cpu_times(b"intr 1 2 3\n"), None);
        let stat = std::fs::File::open("/proc/stat").unwrap();
        let (idle, total) = cpu_times(&stat).unwrap();
        assert!(idle <= total && total > 0);
    }

    #[test]
    fn run_delay_from_schedstat() {
        assert_eq!(parse_run_delay(b"123 4567 8\n"), Some(4567));
        assert_eq!(parse_run_delay(b"123\n"), None);
        // The kernel of the test machine keeps it (CONFIG_SCHED_INFO): a number for our thread.
        if std::path::Path::new("/proc/self/schedstat").exists() {
            assert!(run_delay_ns(gettid()).is_some());
        }
    }

    #[test]
    fn idle_policy_probe_leaves_the_caller_alone() {
        // SAFETY: sched_getscheduler(0) only reads the calling thread's policy.
        let before = unsafe { libc::sched_getscheduler(0) };
        let _ = idle_policy_is_reversible();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, before);
        assert_eq!(before, libc::SCHED_OTHER);
    }
}
