//! Thin, checked wrappers over the raw Linux calls the tracer needs (ptrace requests nix does not
//! wrap, `waitpid` with `__WALL`, `process_vm_readv`, seccomp). Every `unsafe` block of the
//! engine lives here, so the rest of the engine is safe code.

use std::io;

/// `PTRACE_GET_SYSCALL_INFO` (Linux 5.3); not exported by every libc version.
const PTRACE_GET_SYSCALL_INFO: libc::c_uint = 0x420e;
/// `PTRACE_SYSCALL_INFO_*` values of `ptrace_syscall_info.op`.
const OP_ENTRY: u8 = 1;
const OP_EXIT: u8 = 2;
const OP_SECCOMP: u8 = 3;

/// `struct ptrace_syscall_info` of `<linux/ptrace.h>`: the union is represented as eight `u64`
/// words, large enough for its biggest member (`seccomp`: nr, 6 args, u32 ret_data).
#[repr(C)]
#[derive(Default)]
struct RawSyscallInfo {
    op: u8,
    pad: [u8; 3],
    arch: u32,
    instruction_pointer: u64,
    stack_pointer: u64,
    data: [u64; 8],
}

/// What `PTRACE_GET_SYSCALL_INFO` reported at a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallInfo {
    /// Syscall-entry stop (or seccomp stop, which the tracer treats as an entry).
    Entry {
        /// System call number.
        nr: u64,
        /// The six argument registers.
        args: [u64; 6],
    },
    /// Syscall-exit stop with the raw return value (`-errno` on failure).
    Exit {
        /// Raw return value.
        rval: i64,
    },
    /// Not a syscall stop.
    None,
}

/// Reads the syscall information of the stopped tracee `tid`.
pub fn get_syscall_info(tid: i32) -> io::Result<SyscallInfo> {
    let mut info = RawSyscallInfo::default();
    // SAFETY: the kernel writes at most `size_of::<RawSyscallInfo>()` bytes (the size we pass)
    // into `info`, which is a properly aligned, exclusively borrowed repr(C) struct.
    let r = unsafe {
        libc::ptrace(
            PTRACE_GET_SYSCALL_INFO,
            tid,
            std::mem::size_of::<RawSyscallInfo>(),
            &mut info as *mut RawSyscallInfo,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut args = [0u64; 6];
    args.copy_from_slice(&info.data[1..7]);
    Ok(match info.op {
        OP_ENTRY | OP_SECCOMP => SyscallInfo::Entry {
            nr: info.data[0],
            args,
        },
        OP_EXIT => SyscallInfo::Exit {
            rval: info.data[0] as i64,
        },
        _ => SyscallInfo::None,
    })
}

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A ptrace request that takes no pointer argument (`data` is an integer such as a signal).
pub fn ptrace_simple(req: libc::c_uint, tid: i32, data: libc::c_long) -> io::Result<()> {
    // SAFETY: these requests (SYSCALL, CONT, DETACH, LISTEN, INTERRUPT, SETOPTIONS, SEIZE) read
    // `data` as an integer and dereference no user pointer.
    let r = unsafe { libc::ptrace(req, tid, std::ptr::null_mut::<libc::c_void>(), data) };
    check(r).map(|_| ())
}

/// `PTRACE_GETEVENTMSG`: the new pid of a clone/fork event, the former tid of an exec event.
pub fn get_event_msg(tid: i32) -> io::Result<u64> {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: the kernel stores one `unsigned long` at the address we pass, a live local.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            tid,
            std::ptr::null_mut::<libc::c_void>(),
            &mut msg as *mut libc::c_ulong,
        )
    };
    check(r).map(|_| msg as u64)
}

/// `PTRACE_GETSIGINFO`; fails with `EINVAL` in a group-stop of a non-seized tracee.
pub fn get_siginfo(tid: i32) -> io::Result<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain old data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes one siginfo_t into `info`, a live, exclusively borrowed local.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGINFO,
            tid,
            std::ptr::null_mut::<libc::c_void>(),
            &mut info as *mut libc::siginfo_t,
        )
    };
    check(r).map(|_| info)
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

/// `waitpid(pid, ..., __WALL)` for one specific tracee.
pub fn wait_pid(pid: i32) -> io::Result<i32> {
    let mut status = 0;
    // SAFETY: as in `wait_any`.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
    check(r as libc::c_long).map(|_| status)
}

/// `waitpid(pid, ..., __WALL | WUNTRACED)`: also reports a stop of an untraced child.
pub fn wait_pid_stopped(pid: i32) -> io::Result<i32> {
    let mut status = 0;
    // SAFETY: as in `wait_any`.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::WUNTRACED) };
    check(r as libc::c_long).map(|_| status)
}

/// `kill(pid, sig)`.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: a plain system call with integer arguments.
    let r = unsafe { libc::kill(pid, sig) };
    check(r as libc::c_long).map(|_| ())
}

/// Reads `len` bytes at `addr` of process `pid` with `process_vm_readv`. Returns fewer bytes when
/// the range crosses into unmapped memory.
pub fn read_memory(pid: i32, addr: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: `local` describes `buf`, which we own and which outlives the call; the remote
    // address is only interpreted by the kernel in the other process's address space.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

/// Reads `CLOCK_MONOTONIC` (or another clock) in nanoseconds.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live local; clock_gettime only writes it.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
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
        // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
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
        check(r).map(|_| ())
    }
}

/// `ptrace(PTRACE_TRACEME)` in the forked child. Async-signal-safe.
pub fn traceme() -> io::Result<()> {
    ptrace_simple(libc::PTRACE_TRACEME, 0, 0)
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes within `set` for cpu < CPU_SETSIZE, checked by the caller's source
    // (sched_getcpu).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a live local of the size we pass.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    check(r as libc::c_long).map(|_| ())
}

/// The CPU the calling thread runs on.
pub fn current_cpu() -> Option<usize> {
    // SAFETY: no arguments.
    let c = unsafe { libc::sched_getcpu() };
    (c >= 0).then_some(c as usize)
}

/// Installs `handler` for `sig` without `SA_RESTART`, so a blocking `waitpid` returns `EINTR`.
pub fn set_flag_handler(sig: i32, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: sigaction is plain data; we fill the handler and an empty mask.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = handler as usize;
    sa.sa_flags = 0;
    // SAFETY: `sa.sa_mask` is a live sigset_t; the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe {
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}

/// Restores the default disposition of `sig`.
pub fn set_default_handler(sig: i32) {
    // SAFETY: setting SIG_DFL has no memory-safety preconditions.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
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
}
