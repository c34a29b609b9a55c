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
    /// Input array of `gid_t` whose length is argument N (setgroups).
    GidsIn(u8),
    /// Output array of `gid_t` whose length is the return value (getgroups).
    GidsOut,
    /// prctl(2)'s option (`PR_SET_NAME`).
    PrctlOption,
    /// prctl(2)'s argument N (2 to 5), rendered as the option wants (or omitted).
    PrctlValue(u8),
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
    /// statx(2) flags: the sync type (`AT_STATX_SYNC_AS_STAT` when 0) then AT_* flags.
    StatxFlags,
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
    FcntlThird,
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
    /// Output CPU set, as many bytes as the return value (`[0 1]`).
    CpuSetOut,
    /// Input `stack_t` of sigaltstack(2).
    StackIn,
    /// Output `stack_t` of sigaltstack(2).
    StackOut,
    /// clone flags without an exit signal (unshare, setns).
    CloneFlagsBare,
    /// epoll_ctl operation.
    EpollOp,
    /// getrusage `who`.
    Who,
    /// Output `struct timeval`.
    TimevalOut,
    /// ioctl's third argument: a struct for the terminal requests strace decodes, shown at exit.
    IoctlData,
    /// waitid `idtype` (P_PID...).
    IdType,
    /// Output `siginfo_t`.
    SiginfoOut,
    /// Input `struct msghdr` (sendmsg).
    MsghdrIn,
    /// Output `struct msghdr` (recvmsg), shown at exit.
    MsghdrOut,
    /// Output `struct sysinfo`.
    SysinfoOut,
    /// Output `struct statfs`.
    StatfsOut,
    /// POSIX_FADV_*.
    Fadvice,
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
                | Arg::CpuSetOut
                | Arg::TimevalOut
                | Arg::SiginfoOut
                | Arg::MsghdrOut
                | Arg::SysinfoOut
                | Arg::StatfsOut
                | Arg::IoctlData
                | Arg::StackOut
                | Arg::GidsOut
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
    /// A new file descriptor (`3</path>` under `-y`).
    Fd,
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

const fn newfd(name: &'static str, args: &'static [Arg]) -> Spec {
    Spec {
        name,
        args,
        ret: Ret::Fd,
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
    newfd("accept", &[Fd, SockaddrOut(2), SockLenOut]),
    newfd("accept4", &[Fd, SockaddrOut(2), SockLenOut, SockFlags]),
    s("access", &[Path, Access]),
    s("acct", &[Path]),
    s("alarm", &[Uint]),
    s("arch_prctl", &[ArchPrctl, Hex]),
    s("bind", &[Fd, SockaddrIn(2), Uint]),
    hex("brk", &[Ptr]),
    s("capget", &[Ptr, Ptr]),
    s("capset", &[Ptr, Ptr]),
    s("chdir", &[Path]),
    s("chmod", &[Path, Mode]),
    s("chown", &[Path, Int, Int]),
    s("chroot", &[Path]),
    s("clock_getres", &[ClockId, TimespecOut]),
    s("clock_gettime", &[ClockId, TimespecOut]),
    s("clock_nanosleep", &[ClockId, Hex, TimespecIn, Ptr]),
    s("clock_settime", &[ClockId, TimespecIn]),
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
    s("copy_file_range", &[Fd, Ptr, Fd, Ptr, Uint, Hex]),
    newfd("creat", &[Path, Mode]),
    s("delete_module", &[Str, Hex]),
    newfd("dup", &[Fd]),
    newfd("dup2", &[Fd, Int]),
    newfd("dup3", &[Fd, Int, CloexecFlags]),
    newfd("epoll_create", &[Int]),
    newfd("epoll_create1", &[EpollFlags]),
    s("epoll_ctl", &[Fd, EpollOp, Fd, Ptr]),
    s("epoll_pwait", &[Fd, Ptr, Int, Int, SigSetIn(5), Uint]),
    s("epoll_wait", &[Fd, Ptr, Int, Int]),
    newfd("eventfd", &[Uint]),
    newfd("eventfd2", &[Uint, EfdFlags]),
    s("execve", &[Path, Argv, Envp]),
    s("execveat", &[DirFd, Path, Argv, Envp, AtFlags]),
    s("exit", &[Int]),
    s("exit_group", &[Int]),
    s("faccessat", &[DirFd, Path, Access]),
    s("faccessat2", &[DirFd, Path, Access, FaccessatFlags]),
    s("fadvise64", &[Fd, Long, Long, Fadvice]),
    s("fallocate", &[Fd, Int, Long, Long]),
    s("fchdir", &[Fd]),
    s("fchmod", &[Fd, Mode]),
    s("fchmodat", &[DirFd, Path, Mode]),
    s("fchown", &[Fd, Int, Int]),
    s("fchownat", &[DirFd, Path, Int, Int, AtFlags]),
    s("fcntl", &[Fd, FcntlCmd, FcntlThird]),
    s("fdatasync", &[Fd]),
    s("fgetxattr", &[Fd, Str, Ptr, Uint]),
    s("finit_module", &[Fd, Str, Hex]),
    s("flistxattr", &[Fd, Ptr, Uint]),
    s("flock", &[Fd, FlockOp]),
    s("fork", &[]),
    s("fremovexattr", &[Fd, Str]),
    s("fsetxattr", &[Fd, Str, InBuf(3), Uint, Hex]),
    s("fstat", &[Fd, StatOut]),
    s("fstatfs", &[Fd, StatfsOut]),
    s("fsync", &[Fd]),
    s("ftruncate", &[Fd, Long]),
    s(
        "futex",
        &[Ptr, FutexOp, Int, FutexTimeout, FutexUaddr2, FutexVal3],
    ),
    s("futimesat", &[DirFd, Path, Ptr]),
    s("getcpu", &[IntOut, IntOut, Ptr]),
    s("getcwd", &[OutStr, Uint]),
    s("getdents", &[Fd, DirentsOut, Uint]),
    s("getdents64", &[Fd, DirentsOut, Uint]),
    s("getegid", &[]),
    s("geteuid", &[]),
    s("getgid", &[]),
    s("getgroups", &[Int, GidsOut]),
    s("getitimer", &[Int, Ptr]),
    s("getpeername", &[Fd, SockaddrOut(2), SockLenOut]),
    s("getpgid", &[Int]),
    s("getpgrp", &[]),
    s("getpid", &[]),
    s("getppid", &[]),
    s("getpriority", &[Int, Int]),
    s("getrandom", &[OutBufHex, Uint, GrndFlags]),
    s("getresgid", &[IntOut, IntOut, IntOut]),
    s("getresuid", &[IntOut, IntOut, IntOut]),
    s("getrlimit", &[Rlimit, RlimitOut]),
    s("getrusage", &[Who, Ptr]),
    s("getsid", &[Int]),
    s("getsockname", &[Fd, SockaddrOut(2), SockLenOut]),
    s(
        "getsockopt",
        &[Fd, SockoptLevel, SockoptName, IntOut, IntOut],
    ),
    s("gettid", &[]),
    s("gettimeofday", &[TimevalOut, Ptr]),
    s("getuid", &[]),
    s("getxattr", &[Path, Str, Ptr, Uint]),
    newfd("inotify_add_watch", &[Fd, Path, Hex]),
    newfd("inotify_init", &[]),
    newfd("inotify_init1", &[CloexecFlags]),
    s("inotify_rm_watch", &[Fd, Int]),
    s("io_uring_enter", &[Fd, Uint, Uint, Hex, Ptr, Uint]),
    s("io_uring_register", &[Fd, Uint, Ptr, Uint]),
    newfd("io_uring_setup", &[Uint, Ptr]),
    s("ioctl", &[Fd, Ioctl, IoctlData]),
    s("kill", &[Int, Signal]),
    s("lchown", &[Path, Int, Int]),
    s("lgetxattr", &[Path, Str, Ptr, Uint]),
    s("link", &[Path, Path]),
    s("linkat", &[DirFd, Path, DirFd, Path, AtFlags]),
    s("listen", &[Fd, Int]),
    s("listxattr", &[Path, Ptr, Uint]),
    s("llistxattr", &[Path, Ptr, Uint]),
    s("lremovexattr", &[Path, Str]),
    s("lseek", &[Fd, Long, Whence]),
    s("lsetxattr", &[Path, Str, InBuf(3), Uint, Hex]),
    s("lstat", &[Path, StatOut]),
    s("madvise", &[Ptr, Uint, Madvise]),
    s("membarrier", &[Int, Hex, Int]),
    newfd("memfd_create", &[Str, MfdFlags]),
    s("mincore", &[Ptr, Uint, Ptr]),
    s("mkdir", &[Path, Mode]),
    s("mkdirat", &[DirFd, Path, Mode]),
    s("mknod", &[Path, Hex, Hex]),
    s("mknodat", &[DirFd, Path, Hex, Hex]),
    s("mlock", &[Ptr, Uint]),
    s("mlock2", &[Ptr, Uint, Hex]),
    s("mlockall", &[Hex]),
    hex("mmap", &[Ptr, Uint, Prot, MapFlags, Fd, Hex]),
    s("mount", &[Str, Path, Str, Hex, Ptr]),
    s("mprotect", &[Ptr, Uint, Prot]),
    hex("mremap", &[Ptr, Uint, Uint, MremapFlags, Ptr]),
    s("msync", &[Ptr, Uint, Hex]),
    s("munlock", &[Ptr, Uint]),
    s("munlockall", &[]),
    s("munmap", &[Ptr, Uint]),
    s("nanosleep", &[TimespecIn, Ptr]),
    s("newfstatat", &[DirFd, Path, StatOut, AtFlags]),
    newfd("open", &[Path, OpenFlags, OpenMode(1)]),
    newfd("openat", &[DirFd, Path, OpenFlags, OpenMode(2)]),
    newfd("openat2", &[DirFd, Path, Ptr, Uint]),
    s("pause", &[]),
    s("personality", &[Hex]),
    newfd("pidfd_getfd", &[Fd, Int, Hex]),
    newfd("pidfd_open", &[Int, Hex]),
    s("pidfd_send_signal", &[Fd, Signal, Ptr, Hex]),
    s("pipe", &[PipeFdsOut]),
    s("pipe2", &[PipeFdsOut, CloexecFlags]),
    s("pivot_root", &[Path, Path]),
    s("poll", &[PollFds(1), Uint, Int]),
    s("ppoll", &[PollFds(1), Uint, TimespecIn, SigSetIn(4), Uint]),
    s(
        "prctl",
        &[
            PrctlOption,
            PrctlValue(1),
            PrctlValue(2),
            PrctlValue(3),
            PrctlValue(4),
        ],
    ),
    s("pread64", &[Fd, OutBuf, Uint, Long]),
    s("preadv", &[Fd, IovOut(2), Int, Long]),
    s("preadv2", &[Fd, IovOut(2), Int, Long, Hex]),
    s("prlimit64", &[Int, Rlimit, RlimitIn, RlimitOut]),
    s("process_vm_readv", &[Int, Ptr, Uint, Ptr, Uint, Hex]),
    s("process_vm_writev", &[Int, Ptr, Uint, Ptr, Uint, Hex]),
    s("pselect6", &[Int, Ptr, Ptr, Ptr, TimespecIn, Ptr]),
    s("ptrace", &[Int, Int, Ptr, Ptr]),
    s("pwrite64", &[Fd, InBuf(2), Uint, Long]),
    s("pwritev", &[Fd, IovIn(2), Int, Long]),
    s("pwritev2", &[Fd, IovIn(2), Int, Long, Hex]),
    s("read", &[Fd, OutBuf, Uint]),
    s("readahead", &[Fd, Long, Uint]),
    s("readlink", &[Path, OutStr, Uint]),
    s("readlinkat", &[DirFd, Path, OutStr, Uint]),
    s("readv", &[Fd, IovOut(2), Int]),
    s("reboot", &[Hex, Hex, Hex, Ptr]),
    s(
        "recvfrom",
        &[Fd, OutBuf, Uint, MsgFlags, SockaddrOut(5), SockLenOut],
    ),
    s("recvmmsg", &[Fd, Ptr, Uint, MsgFlags, Ptr]),
    s("recvmsg", &[Fd, MsghdrOut, MsgFlags]),
    s("removexattr", &[Path, Str]),
    s("rename", &[Path, Path]),
    s("renameat", &[DirFd, Path, DirFd, Path]),
    s("renameat2", &[DirFd, Path, DirFd, Path, RenameFlags]),
    s("restart_syscall", &[]),
    s("rmdir", &[Path]),
    s("rseq", &[Ptr, Hex, Int, Hex]),
    s("rt_sigaction", &[Signal, SigActIn, SigActOut, Uint]),
    s("rt_sigpending", &[SigSetOut(1), Uint]),
    s("rt_sigprocmask", &[SigHow, SigSetIn(3), SigSetOut(3), Uint]),
    s("rt_sigqueueinfo", &[Int, Signal, Ptr]),
    s("rt_sigreturn", &[]),
    s("rt_sigsuspend", &[SigSetIn(1), Uint]),
    s("rt_sigtimedwait", &[SigSetIn(3), Ptr, TimespecIn, Uint]),
    s("rt_tgsigqueueinfo", &[Int, Int, Signal, Ptr]),
    s("sched_get_priority_max", &[Int]),
    s("sched_get_priority_min", &[Int]),
    s("sched_getaffinity", &[Int, Uint, CpuSetOut]),
    s("sched_getparam", &[Int, Ptr]),
    s("sched_getscheduler", &[Int]),
    s("sched_setaffinity", &[Int, Uint, Ptr]),
    s("sched_setparam", &[Int, Ptr]),
    s("sched_setscheduler", &[Int, Int, Ptr]),
    s("sched_yield", &[]),
    s("seccomp", &[Int, Hex, Ptr]),
    s("select", &[Int, Ptr, Ptr, Ptr, Ptr]),
    s("sendfile", &[Fd, Fd, Ptr, Uint]),
    s("sendmmsg", &[Fd, Ptr, Uint, MsgFlags]),
    s("sendmsg", &[Fd, MsghdrIn, MsgFlags]),
    s(
        "sendto",
        &[Fd, InBuf(2), Uint, MsgFlags, SockaddrIn(5), Uint],
    ),
    s("set_robust_list", &[Ptr, Uint]),
    s("set_tid_address", &[Ptr]),
    s("setdomainname", &[Str, Uint]),
    s("setfsgid", &[Int]),
    s("setfsuid", &[Int]),
    s("setgid", &[Int]),
    s("setgroups", &[Int, GidsIn(0)]),
    s("sethostname", &[Str, Uint]),
    s("setitimer", &[Int, Ptr, Ptr]),
    s("setns", &[Fd, CloneFlagsBare]),
    s("setpgid", &[Int, Int]),
    s("setpriority", &[Int, Int, Int]),
    s("setregid", &[Int, Int]),
    s("setresgid", &[Int, Int, Int]),
    s("setresuid", &[Int, Int, Int]),
    s("setreuid", &[Int, Int]),
    s("setrlimit", &[Rlimit, RlimitIn]),
    s("setsid", &[]),
    s(
        "setsockopt",
        &[Fd, SockoptLevel, SockoptName, SockoptVal(4), Uint],
    ),
    s("settimeofday", &[Ptr, Ptr]),
    s("setuid", &[Int]),
    s("setxattr", &[Path, Str, InBuf(3), Uint, Hex]),
    hex("shmat", &[Int, Ptr, Hex]),
    s("shmctl", &[Int, Int, Ptr]),
    s("shmdt", &[Ptr]),
    s("shmget", &[Hex, Uint, Hex]),
    s("shutdown", &[Fd, ShutHow]),
    s("sigaltstack", &[StackIn, StackOut]),
    newfd("signalfd4", &[Fd, SigSetIn(2), Uint, CloexecFlags]),
    newfd("socket", &[Family, SockType, SockProto]),
    s("socketpair", &[Family, SockType, SockProto, PipeFdsOut]),
    s("splice", &[Fd, Ptr, Fd, Ptr, Uint, Hex]),
    s("stat", &[Path, StatOut]),
    s("statfs", &[Path, StatfsOut]),
    s("statx", &[DirFd, Path, StatxFlags, StatxMask, StatxOut]),
    s("swapoff", &[Path]),
    s("swapon", &[Path, Hex]),
    s("symlink", &[Path, Path]),
    s("symlinkat", &[Path, DirFd, Path]),
    s("sync", &[]),
    s("syncfs", &[Fd]),
    s("sysinfo", &[SysinfoOut]),
    s("syslog", &[Int, Ptr, Int]),
    s("tee", &[Fd, Fd, Uint, Hex]),
    s("tgkill", &[Int, Int, Signal]),
    s("time", &[Ptr]),
    s("timer_create", &[ClockId, Ptr, Ptr]),
    s("timer_delete", &[Int]),
    s("timer_getoverrun", &[Int]),
    s("timer_gettime", &[Int, Ptr]),
    s("timer_settime", &[Int, Hex, Ptr, Ptr]),
    newfd("timerfd_create", &[ClockId, Hex]),
    s("timerfd_gettime", &[Fd, Ptr]),
    s("timerfd_settime", &[Fd, Hex, Ptr, Ptr]),
    s("times", &[Ptr]),
    s("tkill", &[Int, Signal]),
    s("truncate", &[Path, Long]),
    Spec {
        name: "umask",
        args: &[Mode],
        ret: Ret::Octal,
    },
    s("umount2", &[Path, Hex]),
    s("uname", &[UnameOut]),
    s("unlink", &[Path]),
    s("unlinkat", &[DirFd, Path, AtFlags]),
    s("unshare", &[CloneFlagsBare]),
    newfd("userfaultfd", &[Hex]),
    s("utime", &[Path, Ptr]),
    s("utimensat", &[DirFd, Path, Ptr, AtFlags]),
    s("utimes", &[Path, Ptr]),
    s("vfork", &[]),
    s("vhangup", &[]),
    s("vmsplice", &[Fd, Ptr, Uint, Hex]),
    s("wait4", &[Int, WaitStatusOut, WaitOptions, Ptr]),
    s("waitid", &[IdType, Int, SiginfoOut, WaitOptions, Ptr]),
    s("write", &[Fd, InBuf(2), Uint]),
    s("writev", &[Fd, IovIn(2), Int]),
];
