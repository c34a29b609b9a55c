//! Decoders on real memory (this process, read through `process_vm_readv` like the tracer does) and, when the
//! `strace` binary is present and ptrace is allowed, line-by-line agreement with strace on a fixed workload.

#[path = "support/sys.rs"]
mod support;

use ruchytrace::syscalls::decode::{self, DecodeOptions, TraceeMemory};
use ruchytrace::syscalls::table;
use std::ffi::CString;

/// Reads a process's memory with process_vm_readv — the engine's primary path.
struct ProcMem(libc::pid_t);

impl TraceeMemory for ProcMem {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: `local` points to `len` writable bytes owned by `buf`; the kernel validates `remote`.
        let n = unsafe { libc::process_vm_readv(self.0, &local, 1, &remote, 1, 0) };
        (n == len as isize).then_some(buf)
    }
    fn read_cstr(&self, addr: u64, max: usize) -> Option<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        while out.len() <= max {
            let b = self.read(addr + out.len() as u64, 1)?;
            if b[0] == 0 {
                return Some((out, false));
            }
            out.push(b[0]);
        }
        out.truncate(max);
        Some((out, true))
    }
    fn fd_path(&self, fd: i64) -> Option<String> {
        let link = if fd == -100 {
            format!("/proc/{}/cwd", self.0)
        } else {
            format!("/proc/{}/fd/{fd}", self.0)
        };
        std::fs::read_link(link)
            .ok()
            .map(|p| p.display().to_string())
    }
}

fn render(name: &str, args: [u64; 6], ret: i64, opts: &DecodeOptions) -> String {
    // SAFETY: getpid has no preconditions.
    let mem = ProcMem(unsafe { libc::getpid() });
    let nr = table::number(name).expect("known syscall");
    let p = decode::decode_entry(nr, &args, &mem, opts);
    let args = decode::decode_exit(nr, &args, ret, p, &mem, opts);
    format!(
        "{name}({}) = {}",
        args.join(", "),
        decode::format_return(nr, ret).0
    )
}

const AT_FDCWD: u64 = -100i64 as u64;

/// The fixed workload, as (syscall, args) pairs whose pointers point into `bufs`.
struct Workload {
    _bufs: Vec<CString>,
    calls: Vec<(&'static str, [u64; 6])>,
}

fn workload() -> Workload {
    let path = CString::new("/nonexistent-ruchytrace/a\x01\"b\\c").unwrap();
    let dir = CString::new("/nonexistent-ruchytrace/dir").unwrap();
    let root = CString::new("/").unwrap();
    let text =
        CString::new("ruchytrace says hi\n\tthis line is longer than thirty-two bytes").unwrap();
    let calls = vec![
        (
            "openat",
            [
                AT_FDCWD,
                path.as_ptr() as u64,
                (libc::O_RDONLY | libc::O_CLOEXEC) as u64,
                0,
                0,
                0,
            ],
        ),
        (
            "openat",
            [
                AT_FDCWD,
                path.as_ptr() as u64,
                (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64,
                0o640,
                0,
                0,
            ],
        ),
        (
            "faccessat",
            [AT_FDCWD, root.as_ptr() as u64, libc::R_OK as u64, 0, 0, 0],
        ),
        ("mkdirat", [AT_FDCWD, dir.as_ptr() as u64, 0o755, 0, 0, 0]),
        (
            "write",
            [
                u32::MAX as u64,
                text.as_ptr() as u64,
                text.as_bytes().len() as u64,
                0,
                0,
                0,
            ],
        ),
        (
            "lseek",
            [u32::MAX as u64, 0, libc::SEEK_END as u64, 0, 0, 0],
        ),
    ];
    Workload {
        _bufs: vec![path, dir, root, text],
        calls,
    }
}

fn run(name: &str, a: [u64; 6]) -> i64 {
    let nr = table::number(name).unwrap() as libc::c_long;
    // SAFETY: every call of the workload takes pointers to live NUL-terminated buffers or plain integers, and
    // none of them can succeed in a way that changes this process (bad fds, nonexistent directories).
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r == -1 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64)
    } else {
        r as i64
    }
}

#[test]
fn decodes_real_process_memory() {
    let w = workload();
    let opts = DecodeOptions::default();
    let lines: Vec<String> = w
        .calls
        .iter()
        .map(|&(n, a)| render(n, a, run(n, a), &opts))
        .collect();
    assert_eq!(
        lines[0],
        "openat(AT_FDCWD, \"/nonexistent-ruchytrace/a\\1\\\"b\\\\c\", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)"
    );
    assert_eq!(lines[2], "faccessat(AT_FDCWD, \"/\", R_OK) = 0");
    assert_eq!(lines[4], "write(-1, \"ruchytrace says hi\\n\\tthis line is\"..., 61) = -1 EBADF (Bad file descriptor)");
}

#[test]
fn fd_paths_from_proc() {
    let f = std::fs::File::open("/proc/self/status").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let y = DecodeOptions {
        show_fd_paths: true,
        ..DecodeOptions::default()
    };
    // /proc/self resolves to our pid.
    let pid = std::process::id();
    assert_eq!(
        render("close", [fd as u64, 0, 0, 0, 0, 0], 0, &y),
        format!("close({fd}</proc/{pid}/status>) = 0")
    );
}

/// One recorded call of the strace workload.
type Record = (&'static str, [u64; 6], i64);

/// socklen pointers (and recvmsg's msg_namelen, 8 bytes into its msghdr) with the value they held before the
/// call, so that rendering (done after the workload) shows the entry value at entry (`[128 => 16]`).
type SocklenPatch = Vec<(u64, u32)>;

/// Storage the workload's pointers point into; kept alive until the calls are rendered.
#[derive(Default)]
struct Arena {
    strings: Vec<CString>,
    blocks: Vec<Vec<u8>>,
}

impl Arena {
    fn s(&mut self, text: &str) -> u64 {
        self.strings.push(CString::new(text).unwrap());
        self.strings.last().unwrap().as_ptr() as u64
    }
    fn block(&mut self, bytes: &[u8]) -> u64 {
        self.blocks.push(bytes.to_vec());
        self.blocks.last().unwrap().as_ptr() as u64
    }
    fn zeroed(&mut self, len: usize) -> u64 {
        self.block(&vec![0; len])
    }
}

fn sockaddr_in(port: u16, ip: [u8; 4]) -> Vec<u8> {
    let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
    b.extend(port.to_be_bytes());
    b.extend(ip);
    b.extend([0; 8]);
    b
}

/// Runs a fixed set of calls between two marker calls and records (name, args, ret). Everything the calls
/// point to is prepared before the first marker, so the thread makes no other system call in between.
fn strace_workload_calls(
    arena: &mut Arena,
    dir: &str,
    keep_fds: bool,
    patches: &mut SocklenPatch,
) -> Vec<Record> {
    let file = arena.s(&format!("{dir}/data.txt"));
    std::fs::write(
        format!("{dir}/data.txt"),
        b"hello world\n\x01\x02binary\ttail",
    )
    .unwrap();
    let missing = arena.s("/nonexistent-ruchytrace/x");
    // execve of a missing program fails and leaves the process alone, which is all strace needs to show argv.
    let prog = arena.s("/nonexistent-ruchytrace/prog");
    let argv = {
        let items = [
            arena.s("prog"),
            arena.s("two words"),
            arena.s("tab\there"),
            arena.s(&"x".repeat(40)),
        ];
        let v: Vec<u8> = items
            .iter()
            .chain(&[0])
            .flat_map(|p| p.to_ne_bytes())
            .collect();
        arena.block(&v)
    };
    let envp = {
        let items = [arena.s("A=1"), arena.s("B=2"), arena.s("PATH=/bin")];
        let v: Vec<u8> = items
            .iter()
            .chain(&[0])
            .flat_map(|p| p.to_ne_bytes())
            .collect();
        arena.block(&v)
    };
    let here = arena.s(std::env::current_dir().unwrap().to_str().unwrap());
    let empty = arena.s("");
    let root = arena.s("/");
    let begin = arena.s("/ruchytrace-begin");
    let end = arena.s("/ruchytrace-end");
    let subdir = arena.s(&format!("{dir}/sub"));
    let buf = arena.zeroed(256);
    let stat = arena.zeroed(256);
    let statx = arena.zeroed(512);
    let fds = arena.zeroed(8);
    let pipe_data = arena.block(b"ab\0\x01\xff7");
    let in4 = arena.block(&sockaddr_in(1, [127, 0, 0, 1]));
    let mut in6 = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
    in6.extend(1u16.to_be_bytes());
    in6.extend([0; 4]);
    in6.extend(std::net::Ipv6Addr::LOCALHOST.octets());
    in6.extend([0; 4]);
    let in6 = arena.block(&in6);
    let mut un = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    un.extend(b"/nonexistent-ruchytrace/sock\0");
    let un_len = un.len() as u64;
    let un = arena.block(&un);
    let set = arena.block(&((1u64 << (libc::SIGUSR1 - 1)) | (1 << 34)).to_ne_bytes());
    let oldset = arena.zeroed(8);
    let mut act = Vec::new();
    for v in [1u64, libc::SA_RESTART as u64, 0, 1 << (libc::SIGTERM - 1)] {
        act.extend(v.to_ne_bytes());
    }
    let act = arena.block(&act);
    let oldact = arena.zeroed(32);
    let uts = arena.zeroed(std::mem::size_of::<libc::utsname>());
    let rlim = arena.zeroed(16);
    let ts = arena.zeroed(16);
    let sleep = arena.block(
        &[0i64, 1000]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect::<Vec<_>>(),
    );
    let status = arena.zeroed(4);
    let siginfo = arena.zeroed(std::mem::size_of::<libc::siginfo_t>());
    let one = arena.block(&1i32.to_ne_bytes());
    let cwd = arena.zeroed(4096);
    let word = arena.zeroed(8);
    let iov = {
        let a = arena.block(b"iov-one ");
        let b = arena.block(b"iov-two\n");
        let v: Vec<u8> = [a, 8, b, 8].iter().flat_map(|v| v.to_ne_bytes()).collect();
        arena.block(&v)
    };
    let mut pollfd = Vec::new();
    pollfd.extend(0i32.to_ne_bytes());
    pollfd.extend(libc::POLLIN.to_ne_bytes());
    pollfd.extend(0i16.to_ne_bytes());
    let pollfd = arena.block(&pollfd);
    let fdcwd = -100i64 as u64;
    let cloexec = libc::O_CLOEXEC as u64;

    let mut rec: Vec<Record> = Vec::with_capacity(128);
    macro_rules! call {
        ($name:literal, $($a:expr),*) => {{
            #[allow(unused_mut)]
            let mut args = [0u64; 6];
            let list = [$($a as u64),*];
            args[..list.len()].copy_from_slice(&list);
            // Under -y the calls are rendered after the workload, so fds must stay open (and never be
            // reused) until then: skip the closes.
            let r = if keep_fds && $name == "close" { 0 } else { run($name, args) };
            rec.push(($name, args, r));
            r
        }};
    }
    call!("faccessat", fdcwd, begin, libc::F_OK);
    let fd = call!("openat", fdcwd, file, libc::O_RDONLY as u64 | cloexec) as u64;
    // Each output buffer is used once: the calls are rendered after the whole workload has run.
    call!("read", fd, arena.zeroed(64), 64);
    call!("lseek", fd, 0, libc::SEEK_SET);
    call!("pread64", fd, arena.zeroed(8), 5, 6);
    call!("newfstatat", fd, empty, stat, libc::AT_EMPTY_PATH);
    call!("fstat", fd, stat);
    call!("statx", fdcwd, file, 0, 0x7ff, statx);
    call!("ioctl", fd, 0x5401, buf);
    call!("fcntl", fd, libc::F_SETFD, libc::FD_CLOEXEC);
    let fd2 = call!("dup3", fd, 100, cloexec) as u64;
    call!("close", fd2);
    call!("close", fd);
    call!(
        "openat",
        fdcwd,
        missing,
        (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64,
        0o640
    );
    call!("newfstatat", fdcwd, missing, stat, 0);
    call!("faccessat", fdcwd, root, libc::R_OK | libc::X_OK);
    call!("faccessat2", fdcwd, missing, libc::W_OK, libc::AT_EACCESS);
    call!("mkdirat", fdcwd, subdir, 0o750);
    call!("unlinkat", fdcwd, subdir, libc::AT_REMOVEDIR);
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let map = call!(
        "mmap",
        0,
        8192,
        rw,
        (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
        -1i64 as u64,
        0
    ) as u64;
    call!("mprotect", map, 4096, libc::PROT_READ);
    call!("madvise", map, 4096, libc::MADV_DONTNEED);
    call!("munmap", map, 8192);
    call!("pipe2", fds, cloexec);
    // SAFETY: pipe2 just filled the two ints at `fds`.
    let [r, w] = unsafe { std::ptr::read_unaligned(fds as *const [i32; 2]) };
    call!("write", w, pipe_data, 6);
    call!("writev", w, iov, 2);
    call!("ppoll", pollfd, 1, arena.zeroed(16), 0, 8);
    call!("read", r, arena.zeroed(256), 256);
    call!("close", r);
    call!("close", w);
    let s4 = call!(
        "socket",
        libc::AF_INET,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
        0
    ) as u64;
    call!(
        "setsockopt",
        s4,
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        one,
        4
    );
    call!("connect", s4, in4, 16);
    call!("close", s4);
    let s6 = call!("socket", libc::AF_INET6, libc::SOCK_DGRAM, 0) as u64;
    call!("sendto", s6, pipe_data, 6, libc::MSG_DONTWAIT, in6, 28);
    call!("close", s6);
    let su = call!("socket", libc::AF_UNIX, libc::SOCK_STREAM, 0) as u64;
    call!("connect", su, un, un_len);
    call!("close", su);
    call!("rt_sigprocmask", libc::SIG_BLOCK, set, oldset, 8);
    call!("rt_sigprocmask", libc::SIG_SETMASK, oldset, 0, 8);
    call!("rt_sigaction", libc::SIGUSR2, act, oldact, 8);
    call!("rt_sigaction", libc::SIGUSR2, oldact, 0, 8);
    call!("uname", uts);
    call!("prlimit64", 0, libc::RLIMIT_NOFILE, 0, rlim);
    call!("clock_gettime", libc::CLOCK_MONOTONIC, ts);
    call!("nanosleep", sleep, 0);
    call!("getcwd", cwd, 4096);
    call!("wait4", -1i64 as u64, status, libc::WNOHANG, 0);
    // A child that exits with 3 at once, created by a raw clone (fork's flags) so its only action is exit_group.
    let clone_args = [libc::SIGCHLD as u64, 0, 0, 0, 0, 0];
    let nr = table::number("clone").unwrap() as libc::c_long;
    // SAFETY: in the child, the only code run before exit_group is the return from syscall(2); it touches no
    // lock or allocator state inherited from the multi-threaded parent.
    let child = unsafe { libc::syscall(nr, libc::SIGCHLD as libc::c_long, 0, 0, 0, 0) };
    if child == 0 {
        // SAFETY: exit_group ends the child immediately.
        unsafe { libc::syscall(table::number("exit_group").unwrap() as libc::c_long, 3) };
    }
    rec.push(("clone", clone_args, child as i64));
    call!("waitid", libc::P_PID, child, siginfo, libc::WEXITED, 0);
    call!("futex", word, 0x81, 1);
    call!("getrandom", arena.zeroed(8), 8, 1);
    call!("kill", 0, 0);
    let dirfd = call!(
        "openat",
        fdcwd,
        arena.s(dir),
        (libc::O_RDONLY | libc::O_DIRECTORY) as u64 | cloexec
    ) as u64;
    call!("getdents64", dirfd, arena.zeroed(4096), 4096);
    call!("fcntl", dirfd, libc::F_GETFL);
    call!("fcntl", dirfd, libc::F_GETFD);
    call!("close", dirfd);
    call!(
        "readlinkat",
        fdcwd,
        arena.s("/proc/self/exe"),
        arena.zeroed(4096),
        4096
    );
    call!("symlinkat", file, fdcwd, arena.s(&format!("{dir}/link")));
    call!(
        "readlinkat",
        fdcwd,
        arena.s(&format!("{dir}/link")),
        arena.zeroed(64),
        64
    );
    call!(
        "renameat2",
        fdcwd,
        arena.s(&format!("{dir}/link")),
        fdcwd,
        arena.s(&format!("{dir}/link2")),
        1
    );
    call!("unlinkat", fdcwd, arena.s(&format!("{dir}/link2")), 0);
    call!("umask", 0o22);
    call!("chdir", here);
    let sp = arena.zeroed(8);
    call!(
        "socketpair",
        libc::AF_UNIX,
        libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
        0,
        sp
    );
    // sendmsg/recvmsg over the pair: two iovecs out, one buffer in; then an fd passed with SCM_RIGHTS.
    // SAFETY: socketpair just filled the two ints at `sp`.
    let [sa, sb] = unsafe { std::ptr::read_unaligned(sp as *const [i32; 2]) };
    let msghdr = |arena: &mut Arena,
                  name: u64,
                  namelen: u32,
                  iov: u64,
                  iovlen: u64,
                  control: u64,
                  controllen: u64| {
        let mut m = Vec::new();
        m.extend(name.to_ne_bytes());
        m.extend(namelen.to_ne_bytes());
        m.extend([0; 4]);
        m.extend(iov.to_ne_bytes());
        m.extend(iovlen.to_ne_bytes());
        m.extend(control.to_ne_bytes());
        m.extend(controllen.to_ne_bytes());
        m.extend([0; 8]);
        arena.block(&m)
    };
    let send = msghdr(arena, 0, 0, iov, 2, 0, 0);
    call!("sendmsg", sa, send, 0);
    let rbuf = arena.zeroed(100);
    let riov = arena.block(
        &[rbuf, 100]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect::<Vec<_>>(),
    );
    let name_buf = arena.zeroed(110);
    let recv = msghdr(arena, name_buf, 110, riov, 1, 0, 0);
    patches.push((recv + 8, 110));
    call!("recvmsg", sb, recv, 0);
    let mut cmsg = Vec::new();
    cmsg.extend(20u64.to_ne_bytes());
    cmsg.extend(libc::SOL_SOCKET.to_ne_bytes());
    cmsg.extend(libc::SCM_RIGHTS.to_ne_bytes());
    cmsg.extend(0i32.to_ne_bytes());
    cmsg.extend([0; 4]);
    let cmsg = arena.block(&cmsg);
    let send_fd = msghdr(arena, 0, 0, iov, 1, cmsg, 24);
    call!("sendmsg", sa, send_fd, 0);
    let rbuf = arena.zeroed(100);
    let riov = arena.block(
        &[rbuf, 100]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect::<Vec<_>>(),
    );
    let control = arena.zeroed(64);
    let recv_fd = msghdr(arena, 0, 0, riov, 1, control, 64);
    call!("recvmsg", sb, recv_fd, libc::MSG_CMSG_CLOEXEC);
    let su = call!("socket", libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDP) as u64;
    let any = arena.block(&sockaddr_in(0, [127, 0, 0, 1]));
    call!("bind", su, any, 16);
    let name = arena.zeroed(128);
    let namelen = arena.block(&128u32.to_ne_bytes());
    patches.push((namelen, 128));
    call!("getsockname", su, name, namelen);
    call!("sendto", su, pipe_data, 6, 0, name, 16);
    let fromlen = arena.block(&128u32.to_ne_bytes());
    patches.push((fromlen, 128));
    call!(
        "recvfrom",
        su,
        arena.zeroed(64),
        64,
        0,
        arena.zeroed(128),
        fromlen
    );
    call!(
        "recvfrom",
        su,
        arena.zeroed(64),
        64,
        libc::MSG_DONTWAIT,
        0,
        0
    );
    call!("close", su);
    let efd = call!("eventfd2", 0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
    call!("close", efd);
    let epfd = call!("epoll_create1", libc::EPOLL_CLOEXEC);
    call!("close", epfd);
    let mfd = call!(
        "memfd_create",
        arena.s("ruchytrace-memfd"),
        libc::MFD_CLOEXEC
    );
    call!("ftruncate", mfd, 4096);
    call!("close", mfd);
    call!("sched_getaffinity", 0, 128, arena.zeroed(128));
    call!("sigaltstack", 0, arena.zeroed(24));
    call!("getpid",);
    call!("gettid",);
    call!("getuid",);
    call!("clock_nanosleep", libc::CLOCK_MONOTONIC, 0, sleep, 0);
    call!("sched_yield",);
    call!("statfs", root, arena.zeroed(120));
    call!("statfs", arena.s("/proc"), arena.zeroed(120));
    call!("statfs", missing, arena.zeroed(120));
    call!(
        "sysinfo",
        arena.zeroed(std::mem::size_of::<libc::sysinfo>())
    );
    call!("execve", prog, argv, envp);
    call!("faccessat", fdcwd, end, libc::F_OK);
    rec
}

/// Not a test on its own: runs the workload under strace (see `matches_strace`) and writes our rendering of
/// each call to the file named by `RUCHYTRACE_DECODE_OUT`.
#[test]
#[ignore = "run by matches_strace under strace"]
fn strace_workload() {
    let Ok(out) = std::env::var("RUCHYTRACE_DECODE_OUT") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut arena = Arena::default();
    let y = std::env::var_os("RUCHYTRACE_DECODE_Y").is_some();
    let mut patches = SocklenPatch::new();
    let records = strace_workload_calls(&mut arena, dir.path().to_str().unwrap(), y, &mut patches);
    let opts = DecodeOptions {
        show_fd_paths: y,
        ..DecodeOptions::default()
    };
    // SAFETY: getpid has no preconditions.
    let mem = ProcMem(unsafe { libc::getpid() });
    let mut text = String::new();
    for &(name, args, ret) in records.iter().filter(|r| !(y && r.0 == "close")) {
        let nr = table::number(name).unwrap();
        // Put back the socklen the kernel saw at entry, decode the entry, then restore the kernel's value.
        let patch = patches
            .iter()
            .find(|p| args.iter().any(|&a| a == p.0 || a.wrapping_add(8) == p.0));
        let after = patch.map(|&(addr, before)| {
            // SAFETY: `addr` points to a live 4-byte block of the arena.
            unsafe { std::ptr::replace(addr as *mut u32, before) }
        });
        let p = decode::decode_entry(nr, &args, &mem, &opts);
        if let (Some(&(addr, _)), Some(after)) = (patch, after) {
            // SAFETY: as above.
            unsafe { std::ptr::write(addr as *mut u32, after) };
        }
        let rendered = decode::decode_exit(nr, &args, ret, p, &mem, &opts);
        let r = decode::format_return_full(nr, &args, ret, &mem, &opts).0;
        text.push_str(&format!("{name}({}) = {r}\n", rendered.join(", ")));
    }
    let info = records
        .iter()
        .find(|r| r.0 == "waitid")
        .map(|r| r.1[2])
        .unwrap();
    // SAFETY: `info` points to the arena's siginfo block, filled by waitid.
    let info = unsafe { std::ptr::read_unaligned(info as *const libc::siginfo_t) };
    text.push_str(&format!(
        "--- SIGCHLD {} ---\n",
        decode::format_siginfo(&info)
    ));
    std::fs::write(out, text).unwrap();
}

#[test]
fn matches_strace() {
    compare_with_strace(false);
}

#[test]
fn matches_strace_with_fd_paths() {
    compare_with_strace(true);
}

/// True for strace's line of the workload's begin or end marker (`faccessat(AT_FDCWD[</cwd>], "/ruchytrace-begin"`).
fn is_marker(line: &str, which: &str) -> bool {
    line.starts_with("faccessat(AT_FDCWD") && line.contains(&format!("\"/ruchytrace-{which}\""))
}

/// Runs the workload under `strace -f` (with `-y` when `fd_paths`) and compares strace's lines with ours.
fn compare_with_strace(fd_paths: bool) {
    if !support::ptrace_or_skip() || !support::strace_or_skip() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let trace = tempfile::NamedTempFile::new().unwrap();
    let ours = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = std::process::Command::new("strace");
    cmd.args(["-qq", "-f", "-o"]).arg(trace.path());
    if fd_paths {
        cmd.arg("-y").env("RUCHYTRACE_DECODE_Y", "1");
    }
    let run = cmd
        .arg(&exe)
        .args([
            "--exact",
            "strace_workload",
            "--ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env("RUCHYTRACE_DECODE_OUT", ours.path())
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run strace");
    // ptrace and strace were checked above: a failing run is the workload's failure.
    assert!(
        run.status.success(),
        "the workload under strace failed ({}): {}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(trace.path()).unwrap();
    assert!(!text.is_empty(), "strace wrote no trace");
    // With -f and -o each line starts with the tid. Keep the workload thread's lines between the markers.
    let normalise = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut theirs: Vec<String> = Vec::new();
    let mut tid = None;
    let mut unfinished: Option<String> = None;
    let mut signal: Option<String> = None;
    let mut done = false;
    for line in text.lines() {
        // strace pads short tids: "4644  faccessat(...".
        let (t, rest) = line.split_once(' ').unwrap_or(("", line));
        let rest = rest.trim_start();
        if is_marker(rest, "begin") {
            tid = Some(t.to_string());
        }
        // The child's SIGCHLD may be delivered to any thread of the workload process, possibly after the
        // end marker.
        if tid.is_some() && rest.starts_with("--- SIGCHLD") && signal.is_none() {
            signal = Some(normalise(rest));
        }
        if done || tid.as_deref() != Some(t) || rest.starts_with("---") {
            continue;
        }
        // Another thread's event split the call: join `NAME(args <unfinished ...>` with `<... NAME resumed>rest`.
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            unfinished = Some(head.to_string());
            continue;
        }
        let full = match (unfinished.take(), rest.split_once(" resumed>")) {
            (Some(head), Some((_, tail))) if rest.starts_with("<... ") => format!("{head}{tail}"),
            _ => rest.to_string(),
        };
        theirs.push(normalise(&full));
        if is_marker(rest, "end") {
            done = true;
        }
    }
    let mut ours: Vec<String> = std::fs::read_to_string(ours.path())
        .unwrap()
        .lines()
        .map(normalise)
        .collect();
    // The workload's last line is our rendering of the child's exit siginfo (from waitid).
    let our_signal = ours.pop();
    assert_eq!(our_signal, signal, "SIGCHLD siginfo");
    assert!(ours.len() > 40, "workload did not run: {ours:?}");
    let diffs: Vec<String> = ours
        .iter()
        .zip(&theirs)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("ours:   {a}\nstrace: {b}"))
        .collect();
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    let n = ours.len().min(theirs.len());
    assert_eq!(
        ours.len(),
        theirs.len(),
        "extra lines: ours {:?}, strace {:?}",
        &ours[n..],
        &theirs[n..]
    );
}

/// Runs the workload under `strace -f -e trace=EXPR` and returns (names strace showed on the workload thread
/// between the markers, names of every call the workload made).
fn traced_names(
    expr: &str,
) -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
) {
    let exe = std::env::current_exe().unwrap();
    let trace = tempfile::NamedTempFile::new().unwrap();
    let ours = tempfile::NamedTempFile::new().unwrap();
    let run = std::process::Command::new("strace")
        .args(["-qq", "-f", "-e", expr, "-o"])
        .arg(trace.path())
        .arg(&exe)
        .args([
            "--exact",
            "strace_workload",
            "--ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .env("RUCHYTRACE_DECODE_OUT", ours.path())
        .stdout(std::process::Stdio::null())
        .output()
        .expect("run strace");
    // ptrace and strace were checked by the caller: a failing run is the workload's failure.
    assert!(
        run.status.success(),
        "the workload under strace -e {expr} failed ({}): {}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(trace.path()).unwrap();
    assert!(!text.is_empty(), "strace -e {expr} wrote no trace");
    let name_of = |l: &str| l.split(['(', ' ']).next().unwrap_or("").to_string();
    let mut seen = std::collections::BTreeSet::new();
    let mut tid = None;
    for line in text.lines() {
        let (t, rest) = line.split_once(' ').unwrap_or(("", line));
        let rest = rest.trim_start();
        if is_marker(rest, "begin") {
            tid = Some(t.to_string());
        }
        if tid.as_deref() == Some(t) && !rest.starts_with("---") {
            // `<... NAME resumed>` lines repeat a call already counted.
            if !rest.starts_with("<...") {
                seen.insert(name_of(rest));
            }
            if is_marker(rest, "end") {
                break;
            }
        }
    }
    let all = std::fs::read_to_string(ours.path())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("---"))
        .map(name_of)
        .collect();
    (seen, all)
}

/// `%file`, `%desc`... select exactly the calls strace selects (for every call of the workload).
#[test]
fn classes_match_strace() {
    if !support::ptrace_or_skip() || !support::strace_or_skip() {
        return;
    }
    for class in [
        "%file", "%desc", "%process", "%network", "%memory", "%signal", "%ipc", "%creds", "%clock",
    ] {
        // The markers are faccessat(2) calls, so always trace faccessat too.
        let (seen, all) = traced_names(&format!("trace={class},faccessat"));
        let c = table::parse_class(class).unwrap();
        let expected: std::collections::BTreeSet<String> = all
            .iter()
            .filter(|n| *n == "faccessat" || table::classes(n).contains(c))
            .cloned()
            .collect();
        assert_eq!(seen, expected, "{class}");
    }
}
