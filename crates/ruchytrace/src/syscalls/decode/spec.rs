//! Per-syscall argument kinds: the table that drives decoding.

/// How one argument is rendered. Kinds carrying a `u8` name another argument (by index) they depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arg {
    /// `int`, signed decimal.
    Int,
    /// `long`/`off_t`, signed decimal.
    Long,
    /// `size_t`, unsigned decimal.
    Uint,
    /// Hexadecimal.
    Hex,
    /// Pointer: `NULL` or hex.
    Ptr,
    /// File descriptor (`3`, or `3</path>` with `-y`).
    Fd,
    /// Directory fd of *at calls (`AT_FDCWD`).
    DirFd,
    /// Path name, printed whole.
    Path,
    /// NUL-terminated string cut at `-s`.
    Str,
    /// Input buffer whose length is argument N.
    InBuf(u8),
    /// Output buffer whose length is the return value (read).
    OutBuf,
    /// Output buffer printed in `\x` hex (getrandom).
    OutBufHex,
    /// Output string whose length is the return value (readlink, getcwd).
    OutStr,
    /// open(2) flags.
    OpenFlags,
    /// open(2) mode, printed only when flags (argument N) can create a file.
    OpenMode(u8),
    /// Permission bits in octal.
    Mode,
    /// PROT_*.
    Prot,
    /// MAP_*.
    MapFlags,
    /// SEEK_*.
    Whence,
    /// access(2) mode.
    Access,
    /// AT_* flags.
    AtFlags,
    /// faccessat2(2) flags (AT_EACCESS).
    FaccessatFlags,
    /// statx(2) mask.
    StatxMask,
    /// Signal number.
    Signal,
    /// SIG_BLOCK...
    SigHow,
    /// Input sigset, size in argument N.
    SigSetIn(u8),
    /// Output sigset, size in argument N.
    SigSetOut(u8),
    /// Input `struct sigaction`.
    SigActIn,
    /// Output `struct sigaction`.
    SigActOut,
    /// wait4 options.
    WaitOptions,
    /// Output wait status.
    WaitStatusOut,
    /// Output `struct stat`.
    StatOut,
    /// Output `struct statx`.
    StatxOut,
    /// Input sockaddr, length in argument N.
    SockaddrIn(u8),
    /// Output sockaddr, socklen pointer in argument N.
    SockaddrOut(u8),
    /// In/out socklen pointer (`[16]`, `[128 => 16]`).
    SockLenOut,
    /// AF_*.
    Family,
    /// SOCK_* type with flags.
    SockType,
    /// Protocol, named for inet families (argument 0).
    SockProto,
    /// SOCK_CLOEXEC/SOCK_NONBLOCK.
    SockFlags,
    /// MSG_*.
    MsgFlags,
    /// SHUT_*.
    ShutHow,
    /// ioctl request.
    Ioctl,
    /// fcntl command.
    FcntlCmd,
    /// fcntl argument, depending on the command (omitted for F_GET*).
    FcntlArg,
    /// LOCK_*.
    FlockOp,
    /// execve argv.
    Argv,
    /// execve envp (`0x... /* N vars */`).
    Envp,
    /// Input timespec.
    TimespecIn,
    /// Output timespec.
    TimespecOut,
    /// RLIMIT_*.
    Rlimit,
    /// Input rlimit.
    RlimitIn,
    /// Output rlimit.
    RlimitOut,
    /// CLOCK_*.
    ClockId,
    /// ARCH_*.
    ArchPrctl,
    /// MADV_*.
    Madvise,
    /// MREMAP_*.
    MremapFlags,
    /// GRND_*.
    GrndFlags,
    /// FUTEX_* operation.
    FutexOp,
    /// futex 4th argument (timeout or val2, by operation).
    FutexTimeout,
    /// futex uaddr2 (only for requeue operations).
    FutexUaddr2,
    /// futex val3 (bitset or compare value).
    FutexVal3,
    /// O_CLOEXEC|O_NONBLOCK (pipe2, dup3, inotify_init1).
    CloexecFlags,
    /// EFD_*.
    EfdFlags,
    /// EPOLL_CLOEXEC.
    EpollFlags,
    /// MFD_*.
    MfdFlags,
    /// RENAME_*.
    RenameFlags,
    /// Output pipe fd pair.
    PipeFdsOut,
    /// Output `struct utsname`.
    UnameOut,
    /// Output getdents64 buffer (`0x... /* N entries */`).
    DirentsOut,
    /// Input iovec array, count in argument N.
    IovIn(u8),
    /// Output iovec array, count in argument N, data up to the return value.
    IovOut(u8),
    /// pollfd array, count in argument N.
    PollFds(u8),
    /// Output `int` behind a pointer (`[42]`).
    IntOut,
    /// setsockopt level.
    SockoptLevel,
    /// setsockopt option name.
    SockoptName,
    /// setsockopt value, length in argument N.
    SockoptVal(u8),
    /// clone: `child_stack=` (argument 1).
    CloneStack,
    /// clone: `flags=` (argument 0).
    CloneFlags,
    /// clone: `parent_tid=[N]` at exit when CLONE_PARENT_SETTID.
    CloneParentTid,
    /// clone: `tls=` when CLONE_SETTLS.
    CloneTls,
    /// clone: `child_tidptr=` when CLONE_CHILD_SETTID/CLEARTID.
    CloneChildTid,
    /// clone3: `struct clone_args`, size in argument 1.
    CloneArgs,
}

impl Arg {
    /// True when the kernel fills the argument: it is rendered at the exit stop.
    pub(crate) fn is_output(self) -> bool {
        matches!(
            self,
            Arg::OutBuf
                | Arg::OutBufHex
                | Arg::OutStr
                | Arg::SigSetOut(_)
                | Arg::SigActOut
                | Arg::WaitStatusOut
                | Arg::StatOut
                | Arg::StatxOut
                | Arg::SockaddrOut(_)
                | Arg::SockLenOut
                | Arg::TimespecOut
                | Arg::RlimitOut
                | Arg::PipeFdsOut
                | Arg::UnameOut
                | Arg::DirentsOut
                | Arg::IovOut(_)
                | Arg::IntOut
                | Arg::CloneParentTid
        )
    }
}

/// How the return value is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ret {
    /// Signed decimal.
    Dec,
    /// Hexadecimal (addresses: mmap, brk).
    Hex,
    /// Octal (umask).
    Octal,
}

/// Decoding recipe of one system call.
#[derive(Debug)]
pub(crate) struct Spec {
    /// Name as in the syscall table.
    pub name: &'static str,
    /// Kinds of the arguments, in the order strace prints them.
    pub args: &'static [Arg],
    /// Return value format.
    pub ret: Ret,
}

/// Finds the spec of `name`.
pub(crate) fn lookup(name: &str) -> Option<&'static Spec> {
    SPECS
        .binary_search_by_key(&name, |s| s.name)
        .ok()
        .map(|i| &SPECS[i])
}

use Arg::*;

const fn s(name: &'static str, args: &'static [Arg]) -> Spec {
    Spec {
        name,
        args,
        ret: Ret::Dec,
    }
}

const fn hex(name: &'static str, args: &'static [Arg]) -> Spec {
    Spec {
        name,
        args,
        ret: Ret::Hex,
    }
}

/// Every decoded call, sorted by name (a unit test checks the order).
pub(crate) static SPECS: &[Spec] = &[
    s("accept", &[Fd, SockaddrOut(2), SockLenOut]),
    s("accept4", &[Fd, SockaddrOut(2), SockLenOut, SockFlags]),
    s("access", &[Path, Access]),
    s("alarm", &[Uint]),
    s("arch_prctl", &[ArchPrctl, Hex]),
    s("bind", &[Fd, SockaddrIn(2), Uint]),
    hex("brk", &[Ptr]),
    s("chdir", &[Path]),
    s("chmod", &[Path, Mode]),
    s("chown", &[Path, Int, Int]),
    s("chroot", &[Path]),
    s("clock_getres", &[ClockId, TimespecOut]),
    s("clock_gettime", &[ClockId, TimespecOut]),
    s("clock_nanosleep", &[ClockId, Hex, TimespecIn, Ptr]),
    s(
        "clone",
        &[
            CloneStack,
            CloneFlags,
            CloneParentTid,
            CloneTls,
            CloneChildTid,
        ],
    ),
    s("clone3", &[CloneArgs, Uint]),
    s("close", &[Fd]),
    s("close_range", &[Fd, Fd, Hex]),
    s("connect", &[Fd, SockaddrIn(2), Uint]),
    s("creat", &[Path, Mode]),
    s("dup", &[Fd]),
    s("dup2", &[Fd, Fd]),
    s("dup3", &[Fd, Fd, CloexecFlags]),
    s("epoll_create", &[Int]),
    s("epoll_create1", &[EpollFlags]),
    s("eventfd2", &[Uint, EfdFlags]),
    s("execve", &[Path, Argv, Envp]),
    s("execveat", &[DirFd, Path, Argv, Envp, AtFlags]),
    s("exit", &[Int]),
    s("exit_group", &[Int]),
    s("faccessat", &[DirFd, Path, Access]),
    s("faccessat2", &[DirFd, Path, Access, FaccessatFlags]),
    s("fchdir", &[Fd]),
    s("fchmod", &[Fd, Mode]),
    s("fchmodat", &[DirFd, Path, Mode]),
    s("fchown", &[Fd, Int, Int]),
    s("fchownat", &[DirFd, Path, Int, Int, AtFlags]),
    s("fcntl", &[Fd, FcntlCmd, FcntlArg]),
    s("fdatasync", &[Fd]),
    s("flock", &[Fd, FlockOp]),
    s("fork", &[]),
    s("fstat", &[Fd, StatOut]),
    s("fsync", &[Fd]),
    s("ftruncate", &[Fd, Long]),
    s(
        "futex",
        &[Ptr, FutexOp, Int, FutexTimeout, FutexUaddr2, FutexVal3],
    ),
    s("getcwd", &[OutStr, Uint]),
    s("getdents64", &[Fd, DirentsOut, Uint]),
    s("getegid", &[]),
    s("geteuid", &[]),
    s("getgid", &[]),
    s("getpeername", &[Fd, SockaddrOut(2), SockLenOut]),
    s("getpgid", &[Int]),
    s("getpgrp", &[]),
    s("getpid", &[]),
    s("getppid", &[]),
    s("getrandom", &[OutBufHex, Uint, GrndFlags]),
    s("getrlimit", &[Rlimit, RlimitOut]),
    s("getsid", &[Int]),
    s("getsockname", &[Fd, SockaddrOut(2), SockLenOut]),
    s(
        "getsockopt",
        &[Fd, SockoptLevel, SockoptName, IntOut, IntOut],
    ),
    s("gettid", &[]),
    s("getuid", &[]),
    s("inotify_init1", &[CloexecFlags]),
    s("ioctl", &[Fd, Ioctl, Hex]),
    s("kill", &[Int, Signal]),
    s("lchown", &[Path, Int, Int]),
    s("link", &[Path, Path]),
    s("linkat", &[DirFd, Path, DirFd, Path, AtFlags]),
    s("listen", &[Fd, Int]),
    s("lseek", &[Fd, Long, Whence]),
    s("lstat", &[Path, StatOut]),
    s("madvise", &[Ptr, Uint, Madvise]),
    s("memfd_create", &[Str, MfdFlags]),
    s("mkdir", &[Path, Mode]),
    s("mkdirat", &[DirFd, Path, Mode]),
    hex("mmap", &[Ptr, Uint, Prot, MapFlags, Fd, Hex]),
    s("mprotect", &[Ptr, Uint, Prot]),
    hex("mremap", &[Ptr, Uint, Uint, MremapFlags, Ptr]),
    s("munmap", &[Ptr, Uint]),
    s("nanosleep", &[TimespecIn, Ptr]),
    s("newfstatat", &[DirFd, Path, StatOut, AtFlags]),
    s("open", &[Path, OpenFlags, OpenMode(1)]),
    s("openat", &[DirFd, Path, OpenFlags, OpenMode(2)]),
    s("pause", &[]),
    s("pipe", &[PipeFdsOut]),
    s("pipe2", &[PipeFdsOut, CloexecFlags]),
    s("poll", &[PollFds(1), Uint, Int]),
    s("pread64", &[Fd, OutBuf, Uint, Long]),
    s("prlimit64", &[Int, Rlimit, RlimitIn, RlimitOut]),
    s("pwrite64", &[Fd, InBuf(2), Uint, Long]),
    s("read", &[Fd, OutBuf, Uint]),
    s("readlink", &[Path, OutStr, Uint]),
    s("readlinkat", &[DirFd, Path, OutStr, Uint]),
    s("readv", &[Fd, IovOut(2), Int]),
    s(
        "recvfrom",
        &[Fd, OutBuf, Uint, MsgFlags, SockaddrOut(5), SockLenOut],
    ),
    s("rename", &[Path, Path]),
    s("renameat", &[DirFd, Path, DirFd, Path]),
    s("renameat2", &[DirFd, Path, DirFd, Path, RenameFlags]),
    s("rmdir", &[Path]),
    s("rseq", &[Ptr, Hex, Int, Hex]),
    s("rt_sigaction", &[Signal, SigActIn, SigActOut, Uint]),
    s("rt_sigpending", &[SigSetOut(1), Uint]),
    s("rt_sigprocmask", &[SigHow, SigSetIn(3), SigSetOut(3), Uint]),
    s("rt_sigreturn", &[]),
    s("rt_sigsuspend", &[SigSetIn(1), Uint]),
    s("sched_getaffinity", &[Int, Uint, Ptr]),
    s("sched_yield", &[]),
    s("sendfile", &[Fd, Fd, Ptr, Uint]),
    s(
        "sendto",
        &[Fd, InBuf(2), Uint, MsgFlags, SockaddrIn(5), Uint],
    ),
    s("set_robust_list", &[Ptr, Uint]),
    s("set_tid_address", &[Ptr]),
    s("setgid", &[Int]),
    s("setpgid", &[Int, Int]),
    s("setsid", &[]),
    s(
        "setsockopt",
        &[Fd, SockoptLevel, SockoptName, SockoptVal(4), Uint],
    ),
    s("setuid", &[Int]),
    s("shutdown", &[Fd, ShutHow]),
    s("socket", &[Family, SockType, SockProto]),
    s("socketpair", &[Family, SockType, SockProto, PipeFdsOut]),
    s("stat", &[Path, StatOut]),
    s("statx", &[DirFd, Path, AtFlags, StatxMask, StatxOut]),
    s("symlink", &[Path, Path]),
    s("symlinkat", &[Path, DirFd, Path]),
    s("tgkill", &[Int, Int, Signal]),
    s("tkill", &[Int, Signal]),
    s("truncate", &[Path, Long]),
    Spec {
        name: "umask",
        args: &[Mode],
        ret: Ret::Octal,
    },
    s("uname", &[UnameOut]),
    s("unlink", &[Path]),
    s("unlinkat", &[DirFd, Path, AtFlags]),
    s("vfork", &[]),
    s("wait4", &[Int, WaitStatusOut, WaitOptions, Ptr]),
    s("write", &[Fd, InBuf(2), Uint]),
    s("writev", &[Fd, IovIn(2), Int]),
];
