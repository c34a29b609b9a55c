//! Unit tests of the decoders, against a fake tracee memory.

use super::*;
use std::collections::HashMap;

/// A tracee memory made of a few byte regions and an fd table.
#[derive(Default)]
struct FakeMem {
    regions: Vec<(u64, Vec<u8>)>,
    fds: HashMap<i64, String>,
    /// How often a descriptor's path was asked for (each is a readlink in the tracer).
    fd_lookups: std::cell::Cell<usize>,
}

impl FakeMem {
    fn with(mut self, addr: u64, bytes: &[u8]) -> Self {
        self.regions.push((addr, bytes.to_vec()));
        self
    }
    fn fd(mut self, fd: i64, path: &str) -> Self {
        self.fds.insert(fd, path.to_string());
        self
    }
}

impl TraceeMemory for FakeMem {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.regions.iter().find_map(|(base, b)| {
            let off = addr.checked_sub(*base)? as usize;
            (off + len <= b.len()).then(|| b[off..off + len].to_vec())
        })
    }
    fn read_cstr(&self, addr: u64, max: usize) -> Option<(Vec<u8>, bool)> {
        self.regions.iter().find_map(|(base, b)| {
            let off = addr.checked_sub(*base)? as usize;
            let rest = b.get(off..)?;
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            Some(if end > max {
                (rest[..max].to_vec(), true)
            } else {
                (rest[..end].to_vec(), false)
            })
        })
    }
    fn fd_path(&self, fd: i64) -> Option<String> {
        self.fd_lookups.set(self.fd_lookups.get() + 1);
        self.fds.get(&fd).cloned()
    }
}

fn nr(name: &str) -> u64 {
    table::number(name).unwrap_or_else(|| panic!("no syscall {name}"))
}

/// The decoding spec of `name`, whatever the host architecture (aarch64 lacks open, access...).
fn spec(name: &str) -> Option<&'static super::spec::Spec> {
    Some(super::spec::lookup(name).unwrap_or_else(|| panic!("no spec for {name}")))
}

/// Decodes a whole call (entry then exit) and renders it as strace's `name(args) = ret` line.
fn line(name: &str, args: [u64; 6], ret: i64, mem: &FakeMem, opts: &DecodeOptions) -> String {
    let p = entry_with(spec(name), &args, mem, opts);
    let rendered = exit_with(spec(name), &args, ret, p, mem, opts);
    format!(
        "{name}({}) = {}",
        rendered.join(", "),
        return_with(spec(name), ret).0
    )
}

fn strace(name: &str, args: [u64; 6], ret: i64, mem: &FakeMem) -> String {
    line(name, args, ret, mem, &DecodeOptions::default())
}

const AT_FDCWD: u64 = -100i64 as u64;
const ENOENT: i64 = -2;

#[test]
fn openat_flags_mode_and_errors() {
    let mem = FakeMem::default()
        .with(0x1000, b"/etc/passwd\0")
        .with(0x2000, b"/nonexist\x01\"\0");
    let cloexec = libc::O_RDONLY as u64 | libc::O_CLOEXEC as u64;
    assert_eq!(
        strace("openat", [AT_FDCWD, 0x1000, cloexec, 0, 0, 0], 3, &mem),
        "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC) = 3"
    );
    let creat = (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64;
    assert_eq!(
        strace("openat", [AT_FDCWD, 0x2000, creat, 0o644, 0, 0], ENOENT, &mem),
        "openat(AT_FDCWD, \"/nonexist\\1\\\"\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = -1 ENOENT (No such file or directory)"
    );
    let dir = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_DIRECTORY) as u64;
    assert_eq!(
        strace("openat", [AT_FDCWD, 0x1000, dir, 0, 0, 0], 3, &mem),
        "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 3"
    );
    let tmp = (libc::O_RDWR | libc::O_TMPFILE) as u64;
    assert_eq!(
        strace("openat", [AT_FDCWD, 0x1000, tmp, 0o1777, 0, 0], 3, &mem),
        "openat(AT_FDCWD, \"/etc/passwd\", O_RDWR|O_TMPFILE, 01777) = 3"
    );
    // Unreadable path: the address, like strace.
    assert_eq!(
        strace("openat", [AT_FDCWD, 0xdead, 0, 0, 0, 0], -14, &mem),
        "openat(AT_FDCWD, 0xdead, O_RDONLY) = -1 EFAULT (Bad address)"
    );
}

#[test]
fn read_buffer_shown_at_exit_and_cut_at_strsize() {
    let data = b"root:x:0:0:root:/root:/bin/bash\nmore";
    let mem = FakeMem::default().with(0x5000, data);
    let opts = DecodeOptions::default();
    let n = nr("read");
    let args = [3, 0x5000, 100, 0, 0, 0];
    let p = decode_entry(n, &args, &mem, &opts);
    assert_eq!(entry_text(&p), "3, ");
    assert!(p.has_exit_args());
    let out = decode_exit(n, &args, 36, p, &mem, &opts);
    assert_eq!(
        out,
        ["3", "\"root:x:0:0:root:/root:/bin/bash\\n\"...", "100"]
    );
    // Short read: no ellipsis.
    assert_eq!(
        strace("read", [3, 0x5000, 100, 0, 0, 0], 4, &mem),
        "read(3, \"root\", 100) = 4"
    );
    // Failed read: the buffer address.
    assert_eq!(
        strace("read", [3, 0x5000, 100, 0, 0, 0], -9, &mem),
        "read(3, 0x5000, 100) = -1 EBADF (Bad file descriptor)"
    );
    // -s 4
    let small = DecodeOptions {
        strsize: 4,
        ..DecodeOptions::default()
    };
    assert_eq!(
        line("read", [3, 0x5000, 100, 0, 0, 0], 10, &mem, &small),
        "read(3, \"root\"..., 100) = 10"
    );
}

#[test]
fn write_buffer_escapes_like_strace() {
    let mut data = b"hi\n\t\x01\xff".to_vec();
    data.extend(std::iter::repeat_n(b'z', 39));
    let mem = FakeMem::default().with(0x5000, &data);
    assert_eq!(
        strace("write", [1, 0x5000, 45, 0, 0, 0], 45, &mem),
        "write(1, \"hi\\n\\t\\1\\377zzzzzzzzzzzzzzzzzzzzzzzzzz\"..., 45) = 45"
    );
}

#[test]
fn escape_rules() {
    assert_eq!(escape_bytes(b"abc", false), "\"abc\"");
    assert_eq!(escape_bytes(b"abc", true), "\"abc\"...");
    assert_eq!(
        escape_bytes(b"\x1b[0m\x1b1\x80\xff9", false),
        "\"\\33[0m\\0331\\200\\3779\""
    );
    assert_eq!(
        escape_bytes(b"\x7fELF\x02\x01", false),
        "\"\\177ELF\\2\\1\""
    );
    // An octal escape before a digit takes three digits so it reads back unambiguously.
    assert_eq!(escape_bytes(b"\x001", false), "\"\\0001\"");
    assert_eq!(escape_bytes(b"\x008", false), "\"\\08\"");
    assert_eq!(
        escape_bytes(b"a\"b\\c\r\x0b\x0c", false),
        "\"a\\\"b\\\\c\\r\\v\\f\""
    );
}

#[test]
fn fd_paths_with_y() {
    let mem = FakeMem::default()
        .fd(3, "/etc/hostname")
        .with(0x5000, b"vm\n");
    let y = DecodeOptions {
        show_fd_paths: true,
        ..DecodeOptions::default()
    };
    assert_eq!(
        line("read", [3, 0x5000, 131072, 0, 0, 0], 3, &mem, &y),
        "read(3</etc/hostname>, \"vm\\n\", 131072) = 3"
    );
    // Without -y, or for an fd with no known path, the bare number.
    assert_eq!(strace("close", [3, 0, 0, 0, 0, 0], 0, &mem), "close(3) = 0");
    assert_eq!(
        line("close", [4, 0, 0, 0, 0, 0], 0, &mem, &y),
        "close(4) = 0"
    );
}

#[test]
fn no_descriptor_lookups_without_y() {
    // Each lookup is a readlink of /proc/PID/fd/N (or cwd) per call: only -y pays for them.
    let mem = FakeMem::default()
        .fd(-100, "/home")
        .with(0x5000, b"/etc/passwd\0");
    let at = AT_FDCWD;
    assert_eq!(
        strace("openat", [at, 0x5000, 0, 0, 0, 0], 3, &mem),
        "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3"
    );
    assert_eq!(mem.fd_lookups.get(), 0);
    let y = DecodeOptions {
        show_fd_paths: true,
        ..DecodeOptions::default()
    };
    assert_eq!(
        line("openat", [at, 0x5000, 0, 0, 0, 0], 3, &mem, &y),
        "openat(AT_FDCWD</home>, \"/etc/passwd\", O_RDONLY) = 3"
    );
    assert!(mem.fd_lookups.get() > 0);
}

#[test]
fn mmap_family() {
    let mem = FakeMem::default();
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
    assert_eq!(
        strace(
            "mmap",
            [0, 4096, rw, anon, -1i64 as u64, 0],
            0x7fcd8654d000,
            &mem
        ),
        "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7fcd8654d000"
    );
    let fixed = (libc::MAP_PRIVATE | libc::MAP_FIXED | libc::MAP_DENYWRITE) as u64;
    let rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
    assert_eq!(
        strace("mmap", [0x7fa6710c0000, 1400832, rx, fixed, 3, 0x26000], 0x7fa6710c0000, &mem),
        "mmap(0x7fa6710c0000, 1400832, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x26000) = 0x7fa6710c0000"
    );
    assert_eq!(
        strace(
            "mprotect",
            [0x7fa671269000, 16384, libc::PROT_READ as u64, 0, 0, 0],
            0,
            &mem
        ),
        "mprotect(0x7fa671269000, 16384, PROT_READ) = 0"
    );
    assert_eq!(
        strace("mprotect", [0x1000, 4096, 0, 0, 0, 0], 0, &mem),
        "mprotect(0x1000, 4096, PROT_NONE) = 0"
    );
    assert_eq!(
        strace("brk", [0, 0, 0, 0, 0, 0], 0x561ae9ac4000, &mem),
        "brk(NULL) = 0x561ae9ac4000"
    );
    assert_eq!(
        strace("mmap", [0, 4096, 0, 0x3 | 0x80000, -1i64 as u64, 0], -9, &mem),
        "mmap(NULL, 4096, PROT_NONE, MAP_SHARED_VALIDATE|MAP_SYNC, -1, 0) = -1 EBADF (Bad file descriptor)"
    );
    assert_eq!(
        strace("munmap", [0x7fa67127c000, 33699, 0, 0, 0, 0], 0, &mem),
        "munmap(0x7fa67127c000, 33699) = 0"
    );
}

fn stat_bytes(mode: u32, size: i64, rdev: u64) -> Vec<u8> {
    // SAFETY: libc::stat is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = mode;
    st.st_size = size;
    st.st_rdev = rdev;
    // SAFETY: reading the bytes of a fully initialised POD struct.
    unsafe {
        std::slice::from_raw_parts(
            (&st as *const libc::stat).cast::<u8>(),
            std::mem::size_of::<libc::stat>(),
        )
        .to_vec()
    }
}

#[test]
fn stat_structs() {
    let mem = FakeMem::default()
        .with(0x1000, b"\0")
        .with(0x2000, b"/dev/pts/3\0")
        .with(0x8000, &stat_bytes(0o100644, 1221, 0))
        .with(0x9000, &stat_bytes(0o20620, 0, (136 << 8) | 3))
        .with(0xa000, &stat_bytes(0o41777, 4096, 0));
    let empty = libc::AT_EMPTY_PATH as u64;
    assert_eq!(
        strace("newfstatat", [3, 0x1000, 0x8000, empty, 0, 0], 0, &mem),
        "newfstatat(3, \"\", {st_mode=S_IFREG|0644, st_size=1221, ...}, AT_EMPTY_PATH) = 0"
    );
    assert_eq!(
        strace("newfstatat", [AT_FDCWD, 0x2000, 0x9000, 0, 0, 0], 0, &mem),
        "newfstatat(AT_FDCWD, \"/dev/pts/3\", {st_mode=S_IFCHR|0620, st_rdev=makedev(0x88, 0x3), ...}, 0) = 0"
    );
    assert_eq!(
        strace("newfstatat", [AT_FDCWD, 0x2000, 0xa000, 0, 0, 0], 0, &mem),
        "newfstatat(AT_FDCWD, \"/dev/pts/3\", {st_mode=S_IFDIR|S_ISVTX|0777, st_size=4096, ...}, 0) = 0"
    );
    assert_eq!(
        strace(
            "newfstatat",
            [AT_FDCWD, 0x2000, 0x8000, 0, 0, 0],
            ENOENT,
            &mem
        ),
        "newfstatat(AT_FDCWD, \"/dev/pts/3\", 0x8000, 0) = -1 ENOENT (No such file or directory)"
    );
    assert_eq!(
        strace("fstat", [3, 0x8000, 0, 0, 0, 0], 0, &mem),
        "fstat(3, {st_mode=S_IFREG|0644, st_size=1221, ...}) = 0"
    );
}

#[test]
fn statx_struct() {
    // SAFETY: libc::statx is plain old data; all-zero is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    stx.stx_mask = 0x17ff;
    stx.stx_mode = 0o100644;
    stx.stx_size = 1234;
    stx.stx_attributes = 0x2000;
    // SAFETY: reading the bytes of a fully initialised POD struct.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&stx as *const libc::statx).cast::<u8>(),
            std::mem::size_of::<libc::statx>(),
        )
    };
    let mem = FakeMem::default().with(0x1000, b"/x\0").with(0x8000, bytes);
    assert_eq!(
        strace("statx", [AT_FDCWD, 0x1000, 0, 0x7ff, 0x8000, 0], 0, &mem),
        "statx(AT_FDCWD, \"/x\", AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS, {stx_mask=STATX_BASIC_STATS|STATX_MNT_ID, \
         stx_attributes=STATX_ATTR_MOUNT_ROOT, stx_mode=S_IFREG|0644, stx_size=1234, ...}) = 0"
    );
}

fn sockaddr_in(port: u16, ip: [u8; 4]) -> Vec<u8> {
    let mut b = 2u16.to_ne_bytes().to_vec();
    b.extend(port.to_be_bytes());
    b.extend(ip);
    b.extend([0; 8]);
    b
}

#[test]
fn sockaddrs() {
    let mut in6 = 10u16.to_ne_bytes().to_vec();
    in6.extend(2u16.to_be_bytes());
    in6.extend([0; 4]);
    in6.extend(std::net::Ipv6Addr::LOCALHOST.octets());
    in6.extend([0; 4]);
    let mut un = 1u16.to_ne_bytes().to_vec();
    un.extend(b"/run/x.sock\0");
    let mut abs = 1u16.to_ne_bytes().to_vec();
    abs.extend(b"\0hidden");
    let mem = FakeMem::default()
        .with(0x1000, &sockaddr_in(80, [127, 0, 0, 1]))
        .with(0x2000, &in6)
        .with(0x3000, &un)
        .with(0x4000, &abs);
    assert_eq!(
        strace("connect", [3, 0x1000, 16, 0, 0, 0], -111, &mem),
        "connect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = -1 ECONNREFUSED (Connection refused)"
    );
    assert_eq!(
        strace("connect", [3, 0x2000, 28, 0, 0, 0], 0, &mem),
        "connect(3, {sa_family=AF_INET6, sin6_port=htons(2), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, \"::1\", &sin6_addr), sin6_scope_id=0}, 28) = 0"
    );
    assert_eq!(
        strace("connect", [3, 0x3000, un.len() as u64, 0, 0, 0], 0, &mem),
        "connect(3, {sa_family=AF_UNIX, sun_path=\"/run/x.sock\"}, 14) = 0"
    );
    assert_eq!(
        strace("bind", [3, 0x4000, abs.len() as u64, 0, 0, 0], 0, &mem),
        "bind(3, {sa_family=AF_UNIX, sun_path=@\"hidden\"}, 9) = 0"
    );
    assert_eq!(
        strace(
            "socket",
            [
                2,
                (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64,
                0,
                0,
                0,
                0
            ],
            3,
            &mem
        ),
        "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3"
    );
    assert_eq!(
        strace("socket", [1, 2, 0, 0, 0, 0], 3, &mem),
        "socket(AF_UNIX, SOCK_DGRAM, 0) = 3"
    );
}

#[test]
fn accept_sockaddr_and_socklen_at_exit() {
    let addr = 0x1000;
    let lenp = 0x2000;
    let mut mem = FakeMem::default()
        .with(addr, &sockaddr_in(5555, [10, 0, 0, 2]))
        .with(lenp, &128u32.to_ne_bytes());
    let opts = DecodeOptions::default();
    let n = nr("accept");
    let args = [3, addr, lenp, 0, 0, 0];
    let p = decode_entry(n, &args, &mem, &opts);
    assert_eq!(entry_text(&p), "3, ");
    // The kernel rewrites the length.
    mem.regions[1].1 = 16u32.to_ne_bytes().to_vec();
    let out = decode_exit(n, &args, 4, p, &mem, &opts);
    assert_eq!(
        out.join(", "),
        "3, {sa_family=AF_INET, sin_port=htons(5555), sin_addr=inet_addr(\"10.0.0.2\")}, [128 => 16]"
    );
    assert_eq!(
        strace("accept", [3, 0, 0, 0, 0, 0], 4, &mem),
        "accept(3, NULL, NULL) = 4"
    );
}

#[test]
fn signals_sets_and_sigaction() {
    let mut act = Vec::new();
    for v in [1u64, 0x1400_0000, 0x7fa6710d6050, 1 << 33] {
        act.extend(v.to_ne_bytes());
    }
    let mut old = Vec::new();
    for v in [0u64, 0, 0, 0] {
        old.extend(v.to_ne_bytes());
    }
    // All signals but INT, RTMIN and RT_1 (what glibc's sigfillset gives, minus SIGINT).
    let full: u64 = !((1 << 1) | (1 << 31) | (1 << 32));
    let mem = FakeMem::default()
        .with(0x1000, &act)
        .with(0x2000, &old)
        .with(0x3000, &((1u64 << 1) | (1 << 39)).to_ne_bytes())
        .with(0x4000, &full.to_ne_bytes());
    assert_eq!(
        strace("rt_sigaction", [34, 0x1000, 0x2000, 8, 0, 0], 0, &mem),
        "rt_sigaction(SIGRT_2, {sa_handler=SIG_IGN, sa_mask=[RT_2], sa_flags=SA_RESTORER|SA_RESTART, \
         sa_restorer=0x7fa6710d6050}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0"
    );
    assert_eq!(
        strace("rt_sigprocmask", [0, 0x3000, 0, 8, 0, 0], 0, &mem),
        "rt_sigprocmask(SIG_BLOCK, [INT RT_8], NULL, 8) = 0"
    );
    assert_eq!(
        strace("rt_sigprocmask", [2, 0x4000, 0x3000, 8, 0, 0], 0, &mem),
        "rt_sigprocmask(SIG_SETMASK, ~[INT RTMIN RT_1], [INT RT_8], 8) = 0"
    );
    assert_eq!(
        strace("kill", [5516, 34, 0, 0, 0, 0], 0, &mem),
        "kill(5516, SIGRT_2) = 0"
    );
    assert_eq!(
        strace("tgkill", [1, 2, 11, 0, 0, 0], 0, &mem),
        "tgkill(1, 2, SIGSEGV) = 0"
    );
    assert_eq!(sigset_full(), "~[]");
}

fn sigset_full() -> String {
    super::render::sigset(&[0xff; 8])
}

#[test]
fn wait_statuses() {
    assert_eq!(
        format_wait_status(3 << 8),
        "[{WIFEXITED(s) && WEXITSTATUS(s) == 3}]"
    );
    assert_eq!(
        format_wait_status(11),
        "[{WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV}]"
    );
    assert_eq!(
        format_wait_status(0x80 | 6),
        "[{WIFSIGNALED(s) && WTERMSIG(s) == SIGABRT && WCOREDUMP(s)}]"
    );
    assert_eq!(
        format_wait_status((19 << 8) | 0x7f),
        "[{WIFSTOPPED(s) && WSTOPSIG(s) == SIGSTOP}]"
    );
    assert_eq!(format_wait_status(0xffff), "[{WIFCONTINUED(s)}]");
    let mem = FakeMem::default().with(0x1000, &(3i32 << 8).to_ne_bytes());
    let n = nr("wait4");
    let args = [-1i64 as u64, 0x1000, 0, 0, 0, 0];
    let p = decode_entry(n, &args, &mem, &DecodeOptions::default());
    assert_eq!(entry_text(&p), "-1, ");
    assert_eq!(
        strace("wait4", args, 5421, &mem),
        "wait4(-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 5421"
    );
    assert_eq!(
        strace(
            "wait4",
            [-1i64 as u64, 0x1000, 1 | 0x4000_0000, 0, 0, 0],
            -10,
            &mem
        ),
        "wait4(-1, 0x1000, WNOHANG|__WALL, NULL) = -1 ECHILD (No child processes)"
    );
}

#[test]
fn clone_flags_and_fields() {
    let mem = FakeMem::default().with(0x7f0000000100, &4242u32.to_ne_bytes());
    let fork_flags = 0x200000 | 0x1000000 | libc::SIGCHLD as u64;
    // x86_64 order: flags, stack, ptid, ctid, tls; aarch64: flags, stack, ptid, tls, ctid.
    let ctid_idx = if cfg!(target_arch = "aarch64") { 4 } else { 3 };
    let mut args = [fork_flags, 0, 0, 0, 0, 0];
    args[ctid_idx] = 0x7fcd86360a10;
    assert_eq!(
        strace("clone", args, 5421, &mem),
        "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7fcd86360a10) = 5421"
    );
    let thread = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000;
    let tls_idx = if cfg!(target_arch = "aarch64") { 3 } else { 4 };
    let mut args = [thread, 0x7f0000001000, 0x7f0000000100, 0, 0, 0];
    args[ctid_idx] = 0x7f0000000100;
    args[tls_idx] = 0x7f0000002000;
    let n = nr("clone");
    let p = decode_entry(n, &args, &mem, &DecodeOptions::default());
    assert_eq!(
        entry_text(&p),
        "child_stack=0x7f0000001000, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|\
         CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, "
    );
    assert_eq!(
        strace("clone", args, 4242, &mem),
        "clone(child_stack=0x7f0000001000, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|\
         CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, parent_tid=[4242], \
         tls=0x7f0000002000, child_tidptr=0x7f0000000100) = 4242"
    );
}

#[test]
fn clone3_struct() {
    let fields: [u64; 11] = [
        0x3d0f00, 0, 0x7f10, 0x7f20, 0, 0x7f30, 0x7fff00, 0x7f40, 0, 0, 0,
    ];
    let bytes: Vec<u8> = fields.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mem = FakeMem::default()
        .with(0x1000, &bytes)
        .with(0x7f20, &77u32.to_ne_bytes());
    assert_eq!(
        strace("clone3", [0x1000, 88, 0, 0, 0, 0], 77, &mem),
        "clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|\
         CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f10, parent_tid=0x7f20, exit_signal=0, \
         stack=0x7f30, stack_size=0x7fff00, tls=0x7f40} => {parent_tid=[77]}, 88) = 77"
    );
}

#[test]
fn execve_argv_envp() {
    let mut mem = FakeMem::default()
        .with(0x100, b"/bin/ls\0")
        .with(0x200, b"ls\0")
        .with(0x300, b"-la\0");
    let argv: Vec<u8> = [0x200u64, 0x300, 0]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let envp: Vec<u8> = [0x200u64, 0x300, 0x200, 0]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    mem = mem.with(0x1000, &argv).with(0x2000, &envp);
    assert_eq!(
        strace("execve", [0x100, 0x1000, 0x2000, 0, 0, 0], 0, &mem),
        "execve(\"/bin/ls\", [\"ls\", \"-la\"], 0x2000 /* 3 vars */) = 0"
    );
}

#[test]
fn misc_calls() {
    let mem = FakeMem::default()
        .with(0x100, b"/etc\0")
        .with(0x200, &[0xd3, 0x45, 0x91, 0x53])
        .with(
            0x300,
            &[3i32, 4]
                .iter()
                .flat_map(|v| v.to_ne_bytes())
                .collect::<Vec<_>>(),
        )
        .with(
            0x400,
            &[8192u64 * 1024, u64::MAX]
                .iter()
                .flat_map(|v| v.to_ne_bytes())
                .collect::<Vec<_>>(),
        )
        .with(
            0x500,
            &[1i64, 500]
                .iter()
                .flat_map(|v| v.to_ne_bytes())
                .collect::<Vec<_>>(),
        );
    assert_eq!(
        strace("access", [0x100, 6, 0, 0, 0, 0], 0, &mem),
        "access(\"/etc\", R_OK|W_OK) = 0"
    );
    assert_eq!(
        strace("access", [0x100, 0, 0, 0, 0, 0], 0, &mem),
        "access(\"/etc\", F_OK) = 0"
    );
    assert_eq!(
        strace("lseek", [3, 0, 2, 0, 0, 0], 1221, &mem),
        "lseek(3, 0, SEEK_END) = 1221"
    );
    assert_eq!(
        strace("getrandom", [0x200, 4, 1, 0, 0, 0], 4, &mem),
        "getrandom(\"\\xd3\\x45\\x91\\x53\", 4, GRND_NONBLOCK) = 4"
    );
    assert_eq!(
        strace(
            "pipe2",
            [0x300, libc::O_CLOEXEC as u64, 0, 0, 0, 0],
            0,
            &mem
        ),
        "pipe2([3, 4], O_CLOEXEC) = 0"
    );
    assert_eq!(
        strace("prlimit64", [0, 3, 0, 0x400, 0, 0], 0, &mem),
        "prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0"
    );
    assert_eq!(
        strace("clock_gettime", [1, 0x500, 0, 0, 0, 0], 0, &mem),
        "clock_gettime(CLOCK_MONOTONIC, {tv_sec=1, tv_nsec=500}) = 0"
    );
    assert_eq!(
        strace("mkdir", [0x100, 0, 0, 0, 0, 0], ENOENT, &mem),
        "mkdir(\"/etc\", 000) = -1 ENOENT (No such file or directory)"
    );
    assert_eq!(
        strace("umask", [0o22, 0, 0, 0, 0, 0], 0o22, &mem),
        "umask(022) = 022"
    );
    assert_eq!(strace("getppid", [0; 6], 41, &mem), "getppid() = 41");
    assert_eq!(strace("exit_group", [0; 6], 0, &mem), "exit_group(0) = 0");
    assert_eq!(
        strace("futex", [0x1000, 128, 2, 0, 0, 0], 0, &mem),
        "futex(0x1000, FUTEX_WAIT_PRIVATE, 2, NULL) = 0"
    );
    assert_eq!(
        strace("futex", [0x1000, 129, 1, 0, 0, 0], 0, &mem),
        "futex(0x1000, FUTEX_WAKE_PRIVATE, 1) = 0"
    );
    assert_eq!(
        strace("futex", [0x1000, 9 | 128 | 256, 0, 0, 0, 0xffff_ffff], 0, &mem),
        "futex(0x1000, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, FUTEX_BITSET_MATCH_ANY) = 0"
    );
    assert_eq!(
        strace("fcntl", [3, 1, 0, 0, 0, 0], 1, &mem),
        "fcntl(3, F_GETFD) = 1"
    );
    assert_eq!(
        strace("fcntl", [3, 2, 1, 0, 0, 0], 0, &mem),
        "fcntl(3, F_SETFD, FD_CLOEXEC) = 0"
    );
    assert_eq!(
        strace("ioctl", [1, 0x5401, 0x7ffd0000, 0, 0, 0], -25, &mem),
        "ioctl(1, TCGETS, 0x7ffd0000) = -1 ENOTTY (Inappropriate ioctl for device)"
    );
    assert_eq!(
        strace("rseq", [0x7fa671098060, 0x20, 0, 0x53053053, 0, 0], 0, &mem),
        "rseq(0x7fa671098060, 0x20, 0, 0x53053053) = 0"
    );
}

#[test]
fn writev_and_readv() {
    let iov: Vec<u8> = [0x100u64, 3, 0x200, 2]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let mem = FakeMem::default()
        .with(0x100, b"hi\n")
        .with(0x200, b"ok")
        .with(0x1000, &iov);
    assert_eq!(
        strace("writev", [1, 0x1000, 2, 0, 0, 0], 5, &mem),
        "writev(1, [{iov_base=\"hi\\n\", iov_len=3}, {iov_base=\"ok\", iov_len=2}], 2) = 5"
    );
    assert_eq!(
        strace("readv", [0, 0x1000, 2, 0, 0, 0], 4, &mem),
        "readv(0, [{iov_base=\"hi\\n\", iov_len=3}, {iov_base=\"o\", iov_len=2}], 2) = 4"
    );
}

#[test]
fn return_values() {
    assert_eq!(
        format_return(nr("openat"), -2),
        (
            "-1 ENOENT (No such file or directory)".to_string(),
            Some("ENOENT")
        )
    );
    assert_eq!(
        format_return(nr("read"), -512),
        (
            "? ERESTARTSYS (To be restarted if SA_RESTART is set)".to_string(),
            Some("ERESTARTSYS")
        )
    );
    assert_eq!(
        format_return(nr("mmap"), 0x7f12a000),
        ("0x7f12a000".to_string(), None)
    );
    assert_eq!(format_return(nr("read"), 832), ("832".to_string(), None));
    // Past -4095 a negative value is a plain result (lseek on /dev/mem can return it), not an error.
    assert_eq!(format_return(nr("lseek"), -5000).1, None);
}

#[test]
fn unknown_syscall_prints_raw_hex() {
    let mem = FakeMem::default();
    let opts = DecodeOptions::default();
    let n = 100_000;
    let p = decode_entry(n, &[1, 2, 3, 4, 5, 6], &mem, &opts);
    assert_eq!(entry_text(&p), "0x1, 0x2, 0x3, 0x4, 0x5, 0x6");
    assert_eq!(arg_count(n), 6);
    assert_eq!(arg_count(nr("close")), 1);
    assert_eq!(arg_count(nr("getpid")), 0);
}

#[test]
fn spec_table_sorted_and_named() {
    let specs = super::spec::SPECS;
    for w in specs.windows(2) {
        assert!(w[0].name < w[1].name, "{} !< {}", w[0].name, w[1].name);
    }
    for s in specs {
        assert!(
            table::Arch::X86_64.number(s.name).is_some()
                || table::Arch::Aarch64.number(s.name).is_some(),
            "{} is in no syscall table",
            s.name
        );
        assert!(s.args.len() <= 6);
    }
    assert!(specs.len() >= 60, "only {} decoded syscalls", specs.len());
}

#[test]
fn siginfo_rendering() {
    // SAFETY: siginfo_t is plain old data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    info.si_signo = libc::SIGCHLD;
    info.si_code = 1;
    // The SIGCHLD union member starts right after the three ints of the header (plus padding on 64-bit).
    // SAFETY: the union area of siginfo_t is at least 28 bytes past offset 16 on 64-bit Linux.
    unsafe {
        let base = (&mut info as *mut libc::siginfo_t).cast::<u8>().add(16);
        base.cast::<i32>().write(42);
        base.add(4).cast::<u32>().write(0);
        base.add(8).cast::<i32>().write(3);
    }
    assert_eq!(
        format_siginfo(&info),
        "{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=42, si_uid=0, si_status=3, si_utime=0, si_stime=0}"
    );
    // CPU times are clock ticks; strace adds the seconds (at the usual 100 ticks per second).
    // SAFETY: si_utime and si_stime are the clock_t words at offsets 16+16 and 16+24 of the union.
    unsafe {
        let base = (&mut info as *mut libc::siginfo_t).cast::<u8>().add(16);
        base.add(16).cast::<i64>().write(150);
        base.add(24).cast::<i64>().write(1);
    }
    // SAFETY: sysconf has no preconditions.
    if unsafe { libc::sysconf(libc::_SC_CLK_TCK) } == 100 {
        assert_eq!(
            format_siginfo(&info),
            "{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=42, si_uid=0, si_status=3, si_utime=150 /* 1.50 s */, \
             si_stime=1 /* 0.01 s */}"
        );
    }
    info.si_signo = libc::SIGSEGV;
    info.si_code = 0;
    // SAFETY: as above.
    unsafe {
        (&mut info as *mut libc::siginfo_t)
            .cast::<u8>()
            .add(16)
            .cast::<i32>()
            .write(7)
    };
    assert_eq!(
        format_siginfo(&info),
        "{si_signo=SIGSEGV, si_code=SI_USER, si_pid=7, si_uid=0}"
    );
}

#[test]
fn returns_decorated_from_args() {
    let mem = FakeMem::default()
        .fd(3, "/etc/passwd")
        .fd(-100, "/tmp")
        .with(0x1000, b"/etc/passwd\0");
    let y = DecodeOptions {
        show_fd_paths: true,
        ..DecodeOptions::default()
    };
    let plain = DecodeOptions::default();
    let openat = nr("openat");
    let args = [AT_FDCWD, 0x1000, 0, 0, 0, 0];
    assert_eq!(
        format_return_full(openat, &args, 3, &mem, &y).0,
        "3</etc/passwd>"
    );
    assert_eq!(format_return_full(openat, &args, 3, &mem, &plain).0, "3");
    assert_eq!(
        format_return_full(openat, &args, -2, &mem, &y).1,
        Some("ENOENT")
    );
    assert_eq!(
        line("openat", args, 3, &mem, &y),
        "openat(AT_FDCWD</tmp>, \"/etc/passwd\", O_RDONLY) = 3"
    );
    let fcntl = nr("fcntl");
    assert_eq!(
        format_return_full(fcntl, &[0, 3, 0, 0, 0, 0], 0x8000, &mem, &plain).0,
        "0x8000 (flags O_RDONLY|O_LARGEFILE)"
    );
    assert_eq!(
        format_return_full(fcntl, &[0, 1, 0, 0, 0, 0], 1, &mem, &plain).0,
        "0x1 (flags FD_CLOEXEC)"
    );
    assert_eq!(
        format_return_full(fcntl, &[0, 1, 0, 0, 0, 0], 0, &mem, &plain).0,
        "0"
    );
    assert_eq!(
        format_return_full(fcntl, &[0, 1030, 10, 0, 0, 0], 3, &mem, &y).0,
        "3</etc/passwd>"
    );
    assert_eq!(
        format_return_full(nr("getpid"), &[0; 6], 3, &mem, &y).0,
        "3"
    );
}

#[test]
fn ioctl_terminal_structs() {
    // What a terminal in its default cooked mode returns for TCGETS (values from strace's own rendering).
    let termios: Vec<u8> = [0o2400u32, 0o5, 0o277, 0o105073]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let winsz: Vec<u8> = [24u16, 80, 0, 0]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let mem = FakeMem::default()
        .with(0x1000, &termios)
        .with(0x2000, &winsz)
        .with(0x3000, &7642i32.to_ne_bytes());
    assert_eq!(
        strace("ioctl", [1, 0x5401, 0x1000, 0, 0, 0], 0, &mem),
        "ioctl(1, TCGETS, {c_iflag=ICRNL|IXON, c_oflag=NL0|CR0|TAB0|BS0|VT0|FF0|OPOST|ONLCR, \
         c_cflag=B38400|CS8|CREAD, c_lflag=ISIG|ICANON|ECHO|ECHOE|ECHOK|IEXTEN|ECHOCTL|ECHOKE, ...}) = 0"
    );
    assert_eq!(
        strace("ioctl", [0, 0x5414, 0x2000, 0, 0, 0], 0, &mem),
        "ioctl(0, TIOCSWINSZ, {ws_row=24, ws_col=80, ws_xpixel=0, ws_ypixel=0}) = 0"
    );
    assert_eq!(
        strace("ioctl", [0, 0x540f, 0x3000, 0, 0, 0], 0, &mem),
        "ioctl(0, TIOCGPGRP, [7642]) = 0"
    );
    assert_eq!(
        strace("ioctl", [3, 0x5401, 0x1000, 0, 0, 0], -25, &mem),
        "ioctl(3, TCGETS, 0x1000) = -1 ENOTTY (Inappropriate ioctl for device)"
    );
    assert_eq!(
        strace("ioctl", [3, 0xabcd, 0x1000, 0, 0, 0], 0, &mem),
        "ioctl(3, _IOC(_IOC_NONE, 0xab, 0xcd, 0), 0x1000) = 0"
    );
    assert_eq!(
        strace("ioctl", [3, 0x8010_4604, 0x1000, 0, 0, 0], 0, &mem),
        "ioctl(3, _IOC(_IOC_READ, 0x46, 0x4, 0x10), 0x1000) = 0"
    );
}

#[test]
fn issue_14_group_lists_prctl_statx_mask_and_sigreturn() {
    let mem = FakeMem::default()
        .with(0x1000, &[0, 0, 0, 0, 4, 0, 0, 0, 27, 0, 0, 0])
        .with(0x2000, b"worker\0")
        // A signal frame: the restored mask (SIGINT) at the ucontext's uc_sigmask.
        .with(0x3000 + SIGRETURN_MASK_OFFSET, &[2, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        strace("getgroups", [0, 0x1000, 0, 0, 0, 0], 0, &mem),
        "getgroups(0, []) = 0"
    );
    assert_eq!(
        strace("getgroups", [3, 0x1000, 0, 0, 0, 0], 3, &mem),
        "getgroups(3, [0, 4, 27]) = 3"
    );
    assert_eq!(
        strace("setgroups", [2, 0x1000, 0, 0, 0, 0], 0, &mem),
        "setgroups(2, [0, 4]) = 0"
    );
    assert_eq!(
        strace("prctl", [23, 32, 0, 0, 0, 0], 1, &mem),
        "prctl(PR_CAPBSET_READ, CAP_MAC_OVERRIDE) = 1"
    );
    assert_eq!(
        strace("prctl", [23, 48, 0, 0, 0, 0], -22, &mem),
        "prctl(PR_CAPBSET_READ, 0x30 /* CAP_??? */) = -1 EINVAL (Invalid argument)"
    );
    assert_eq!(
        strace("prctl", [15, 0x2000, 0, 0, 0, 0], 0, &mem),
        "prctl(PR_SET_NAME, \"worker\") = 0"
    );
    assert_eq!(
        strace("prctl", [38, 1, 0, 0, 0, 0], 0, &mem),
        "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) = 0"
    );
    assert_eq!(
        strace("prctl", [3, 0, 0, 0, 0, 0], 1, &mem),
        "prctl(PR_GET_DUMPABLE) = 1"
    );
    assert_eq!(
        names::flags(0x1fff, consts::STATX_MASK, "0"),
        "STATX_ALL|STATX_MNT_ID"
    );
    let p = sigreturn_entry(0x3000, &mem);
    assert_eq!(entry_text(&p), "{mask=[INT]}");
}

#[test]
fn x_flags_quote_whole_strings_in_hex() {
    assert_eq!(quote(b"hi\n", false, 1), "\"hi\\n\"");
    assert_eq!(quote(b"a\x01b", false, 1), "\"\\x61\\x01\\x62\"");
    assert_eq!(quote(b"hi\n", true, 2), "\"\\x68\\x69\\x0a\"...");
    assert_eq!(quote(b"\xff", false, 0), "\"\\377\"");
}

#[test]
fn xlat_styles_raw_and_verbose() {
    use crate::syscalls::options::XlatStyle;
    let mem = FakeMem::default().with(0x1000, b"/etc/passwd\0");
    let call = [AT_FDCWD, 0x1000, 0x80000, 0, 0, 0];
    set_xlat_style(XlatStyle::Raw);
    let raw = strace("openat", call, 3, &mem);
    set_xlat_style(XlatStyle::Verbose);
    let verbose = strace("openat", call, 3, &mem);
    set_xlat_style(XlatStyle::Abbrev);
    assert_eq!(raw, "openat(-100, \"/etc/passwd\", 0x80000) = 3");
    assert_eq!(
        verbose,
        "openat(-100 /* AT_FDCWD */, \"/etc/passwd\", 0x80000 /* O_RDONLY|O_CLOEXEC */) = 3"
    );
    assert_eq!(
        strace("openat", call, 3, &mem),
        "openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC) = 3"
    );
}

#[test]
fn netlink_names_dumpable_return_and_long_poll_sets() {
    let mem = FakeMem::default();
    assert_eq!(
        strace("socket", [16, 0o2000003, 0, 0, 0, 0], 3, &mem),
        "socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE) = 3"
    );
    let opts = DecodeOptions::default();
    assert_eq!(
        return_full_with(spec("prctl"), &[3, 0, 0, 0, 0, 0], 1, &mem, &opts).0,
        "1 (SUID_DUMP_USER)"
    );
    // 40 pollfds, all POLLNVAL: both lists stop at -s (2 here) entries.
    let fds: Vec<u8> = (0..40i32)
        .flat_map(|f| {
            let mut b = f.to_ne_bytes().to_vec();
            b.extend_from_slice(&(1i16).to_ne_bytes());
            b.extend_from_slice(&(0x20i16).to_ne_bytes());
            b
        })
        .collect();
    let mem = FakeMem::default().with(0x1000, &fds);
    let small = DecodeOptions {
        strsize: 2,
        ..DecodeOptions::default()
    };
    let p = entry_with(spec("poll"), &[0x1000, 40, 0, 0, 0, 0], &mem, &small);
    assert_eq!(
        entry_text(&p),
        "[{fd=0, events=POLLIN}, {fd=1, events=POLLIN}, ...], 40, 0"
    );
    assert_eq!(
        return_full_with(spec("poll"), &[0x1000, 40, 0, 0, 0, 0], 40, &mem, &small).0,
        "40 ([{fd=0, revents=POLLNVAL}, {fd=1, revents=POLLNVAL}, ...])"
    );
}
