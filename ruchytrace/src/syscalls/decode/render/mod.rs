//! Renderers for each argument kind and for the structures strace prints.
//!
//! This file holds the per-argument dispatch ([`render_input`] at the entry stop,
//! [`render_output`] and [`exit_suffix`] at the exit stop) and the primitives every area uses
//! (pointers, ints, file descriptors, reads of tracee memory). The structures live by area:
//! [`strings`] (quoting, buffers, argv, iovecs), [`fs`] (modes, stat, statfs, terminals),
//! [`signals`] (masks, sigaction, siginfo), [`net`] (socket addresses, msghdr, poll) and
//! [`process`] (wait statuses, clone, futex, limits, memory mappings).

mod fs;
mod net;
mod process;
mod signals;
mod strings;

pub(crate) use fs::*;
pub(crate) use net::*;
pub(crate) use process::*;
pub(crate) use signals::*;
pub(crate) use strings::*;

pub use strings::{escape_bytes, quote};

use super::consts::*;
use super::names::{composite, composite_raw, enum_name, flags, push_sep, signal_name, xlat};
use super::spec::Arg;
use super::{DecodeOptions, TraceeMemory};

/// Everything a renderer may look at.
pub(crate) struct Ctx<'a> {
    pub args: &'a [u64; 6],
    pub mem: &'a dyn TraceeMemory,
    pub opts: &'a DecodeOptions,
}

/// Longest path strace reads (PATH_MAX); paths are not cut by `-s`.
const PATH_MAX: usize = 4096;

/// The value of `AT_FDCWD` as the kernel sees it in an `int` argument.
const AT_FDCWD: i32 = -100;

/// A pointer: `NULL` or hex.
pub(crate) fn ptr(v: u64) -> String {
    if v == 0 {
        "NULL".to_string()
    } else {
        format!("{v:#x}")
    }
}

/// An `int` argument (the low 32 bits, signed), as the kernel reads it.
fn int(v: u64) -> i32 {
    v as u32 as i32
}

/// A file descriptor, with its path under `-y`.
pub(crate) fn fd(v: i64, ctx: &Ctx) -> String {
    if ctx.opts.show_fd_paths && v >= 0 {
        if let Some(p) = ctx.mem.fd_path(v) {
            // The kernel marks unlinked files " (deleted)"; strace moves the mark outside the brackets.
            let (p, deleted) = match p.strip_suffix(" (deleted)") {
                Some(stripped) => (stripped, "(deleted)"),
                None => (p.as_str(), ""),
            };
            if ctx.opts.show_sockets {
                if let Some(ep) = super::sockets::socket_inode(p)
                    .and_then(|inode| ctx.mem.socket_endpoint(v, inode))
                {
                    return format!("{v}<{ep}>");
                }
            }
            return format!("{v}<{p}>{deleted}");
        }
    }
    v.to_string()
}

fn dirfd(v: u64, ctx: &Ctx) -> String {
    let v = int(v);
    if v == AT_FDCWD {
        // Under -y strace shows the working directory: fd_path(AT_FDCWD) is the tracee's cwd.
        // Only then: the readlink of /proc/PID/cwd is a system call per `*at` call.
        let cwd = if ctx.opts.show_fd_paths {
            ctx.mem.fd_path(AT_FDCWD as i64)
        } else {
            None
        };
        match cwd {
            Some(cwd) => format!("{}<{cwd}>", xlat("-100".into(), Some("AT_FDCWD".into()))),
            None => xlat("-100".into(), Some("AT_FDCWD".into())),
        }
    } else {
        fd(v as i64, ctx)
    }
}

/// Reads a value of type `T` from the tracee; `None` for NULL, unreadable or short memory.
pub(crate) fn read_pod<T: bytemuck::AnyBitPattern>(addr: u64, ctx: &Ctx) -> Option<T> {
    if addr == 0 {
        return None;
    }
    let bytes = ctx.mem.read(addr, std::mem::size_of::<T>())?;
    bytemuck::try_pod_read_unaligned(&bytes).ok()
}

/// The value of type `T` at byte `off` of a buffer already read from the tracee.
pub(crate) fn pod_at<T: bytemuck::AnyBitPattern>(b: &[u8], off: usize) -> Option<T> {
    b.get(off..off.checked_add(std::mem::size_of::<T>())?)
        .map(bytemuck::pod_read_unaligned)
}

/// Declares `#[repr(transparent)]` wrappers that let [`read_pod`] read libc's C structures.
macro_rules! c_structs {
    ($($(#[$doc:meta])* $name:ident($ty:ty);)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy)]
        #[repr(transparent)]
        pub(crate) struct $name(pub $ty);
        // SAFETY: the wrapped libc struct is made of integers and integer arrays only (no
        // pointers, references, bools or enums), so the all-zero pattern is a valid value.
        unsafe impl bytemuck::Zeroable for $name {}
        // SAFETY: as above, every bit pattern is a valid value of each field; padding bytes are
        // never read through the type.
        unsafe impl bytemuck::AnyBitPattern for $name {}
    )*};
}

c_structs! {
    /// `struct stat`.
    CStat(libc::stat);
    /// `struct statx`.
    CStatx(libc::statx);
    /// `struct utsname`.
    CUtsname(libc::utsname);
    /// `siginfo_t` (libc models its union as an array of ints).
    CSiginfo(libc::siginfo_t);
    /// `struct sysinfo`.
    CSysinfo(libc::sysinfo);
}

fn read_u32(addr: u64, ctx: &Ctx) -> Option<u32> {
    read_pod::<u32>(addr, ctx)
}

fn read_u64(addr: u64, ctx: &Ctx) -> Option<u64> {
    read_pod::<u64>(addr, ctx)
}

/// Renders an argument known at entry.
pub(crate) fn render_input(kind: Arg, i: usize, ctx: &Ctx) -> String {
    let a = ctx.args;
    let v = a[i];
    match kind {
        Arg::Int => int(v).to_string(),
        Arg::Long => (v as i64).to_string(),
        Arg::Uint => v.to_string(),
        // C's %#lx, which strace uses, prints zero without the prefix.
        Arg::Hex if v == 0 => "0".to_string(),
        Arg::Hex => format!("{v:#x}"),
        Arg::Ptr => ptr(v),
        Arg::Fd => fd(int(v) as i64, ctx),
        Arg::GidsIn(n) => gids_at(v, a[n as usize] & 0xffff_ffff, ctx),
        Arg::PrctlOption => prctl_option(v),
        Arg::PrctlValue(n) => prctl_arg(n as usize, ctx),
        Arg::DirFd => dirfd(v, ctx),
        Arg::Path => cstr(v, PATH_MAX, ctx),
        Arg::Str => cstr(v, ctx.opts.strsize, ctx),
        Arg::InBuf(len) => buffer(v, a[len as usize], ctx, false),
        Arg::OpenFlags => open_flags(v),
        Arg::OpenMode(flags_arg) => {
            // The mode is only meaningful (and only printed) when the call may create a file.
            let fl = a[flags_arg as usize];
            if fl & libc::O_CREAT as u64 != 0
                || fl & libc::O_TMPFILE as u64 == libc::O_TMPFILE as u64
            {
                mode(v & 0o7777)
            } else {
                String::new()
            }
        }
        Arg::Mode => mode(v & 0o7777),
        Arg::Prot => prot(v),
        Arg::MapFlags => map_flags(v),
        Arg::Whence => enum_name(v & 0xffff_ffff, WHENCE, false),
        Arg::Access => flags(v & 0xffff_ffff, ACCESS, "F_OK"),
        Arg::AtFlags => flags(v & 0xffff_ffff, AT_FLAGS, "0"),
        Arg::FaccessatFlags => flags(v & 0xffff_ffff, FACCESSAT_FLAGS, "0"),
        Arg::StatxMask => flags(v & 0xffff_ffff, STATX_MASK, "0"),
        Arg::StatxFlags => {
            let mut out = match v & 0x6000 {
                0 => "AT_STATX_SYNC_AS_STAT".to_string(),
                0x2000 => "AT_STATX_FORCE_SYNC".to_string(),
                0x4000 => "AT_STATX_DONT_SYNC".to_string(),
                _ => "0x6000".to_string(),
            };
            let rest = v & 0xffff_ffff & !0x6000;
            if rest != 0 {
                push_sep(&mut out, &flags(rest, AT_FLAGS, "0"));
            }
            out
        }
        Arg::Signal => {
            let s = int(v);
            if s == 0 {
                "0".to_string()
            } else {
                signal_name(s)
            }
        }
        Arg::SigHow => enum_name(v, SIG_HOW, true),
        Arg::SigSetIn(size_arg) => sigset_at(v, a[size_arg as usize], ctx),
        Arg::SigActIn => sigaction_at(v, ctx),
        Arg::WaitOptions => flags(v & 0xffff_ffff, WAIT_OPTIONS, "0"),
        Arg::SockaddrIn(len_arg) => sockaddr_at(v, a[len_arg as usize], ctx),
        Arg::Family => enum_name(v & 0xffff_ffff, AF, false),
        Arg::SockType => socket_type(v & 0xffff_ffff),
        Arg::SockProto => socket_proto(a[0], v),
        Arg::SockFlags => flags(v & 0xffff_ffff, SOCK_FLAGS, "0"),
        Arg::MsgFlags => flags(v & 0xffff_ffff, MSG_FLAGS, "0"),
        Arg::ShutHow => enum_name(v, SHUT_HOW, false),
        Arg::Ioctl => ioctl_request(v & 0xffff_ffff),
        Arg::FcntlCmd => enum_name(v & 0xffff_ffff, FCNTL_CMD, false),
        Arg::FcntlThird => match int(a[1]) {
            // F_GETFD, F_GETFL, F_GETOWN, F_GETSIG, F_GETLEASE, F_GETPIPE_SZ, F_GET_SEALS take no argument.
            1 | 3 | 9 | 11 | 1025 | 1032 | 1034 => String::new(),
            2 => flags(v, &[(1, "FD_CLOEXEC")], "0"),
            4 => open_flags(v),
            5..=7 => ptr(v),
            _ => int(v).to_string(),
        },
        Arg::FlockOp => flags(v & 0xffff_ffff, FLOCK_OPS, "0"),
        Arg::Argv => argv_at(v, ctx),
        Arg::Envp => envp_at(v, ctx),
        Arg::TimespecIn => timespec_at(v, ctx),
        Arg::Rlimit => enum_name(v & 0xffff_ffff, RLIMIT, false),
        Arg::RlimitIn => rlimit_at(v, ctx),
        Arg::ClockId => enum_name(v & 0xffff_ffff, CLOCKS, false),
        Arg::ArchPrctl => enum_name(v & 0xffff_ffff, ARCH_PRCTL, true),
        Arg::Madvise => enum_name(v & 0xffff_ffff, MADVISE, false),
        Arg::MremapFlags => flags(v, MREMAP_FLAGS, "0"),
        Arg::GrndFlags => flags(v & 0xffff_ffff, GRND_FLAGS, "0"),
        Arg::FutexOp => futex_op(v & 0xffff_ffff),
        Arg::FutexTimeout => match a[1] & 0x7f {
            // FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2: a timeout.
            0 | 6 | 9 | 11 | 13 => timespec_at(v, ctx),
            // FUTEX_REQUEUE, FUTEX_CMP_REQUEUE(_PI), FUTEX_WAKE_OP: the number of waiters to requeue.
            3 | 4 | 5 | 12 => (v as u32).to_string(),
            _ => String::new(),
        },
        Arg::FutexUaddr2 => match a[1] & 0x7f {
            3 | 4 | 5 | 11 | 12 => ptr(v),
            _ => String::new(),
        },
        Arg::FutexVal3 => match a[1] & 0x7f {
            9 | 10 if v as u32 == u32::MAX => "FUTEX_BITSET_MATCH_ANY".to_string(),
            4 | 12 => (v as u32).to_string(),
            5 | 9 | 10 => format!("{:#x}", v as u32),
            _ => String::new(),
        },
        Arg::CloexecFlags => flags(v & 0xffff_ffff, CLOEXEC_NONBLOCK, "0"),
        Arg::EfdFlags => flags(
            v & 0xffff_ffff,
            &[
                (0o2000000, "EFD_CLOEXEC"),
                (0o4000, "EFD_NONBLOCK"),
                (1, "EFD_SEMAPHORE"),
            ],
            "0",
        ),
        Arg::EpollFlags => flags(v & 0xffff_ffff, &[(0o2000000, "EPOLL_CLOEXEC")], "0"),
        Arg::MfdFlags => flags(v & 0xffff_ffff, MFD_FLAGS, "0"),
        Arg::RenameFlags => flags(v & 0xffff_ffff, RENAME_FLAGS, "0"),
        Arg::CloneStack => format!("child_stack={}", ptr(a[1])),
        Arg::CloneFlags => format!("flags={}", clone_flags(a[0])),
        Arg::CloneTls => {
            if a[0] & CLONE_SETTLS != 0 {
                format!("tls={}", ptr(a[CLONE_TLS]))
            } else {
                String::new()
            }
        }
        Arg::CloneChildTid => {
            if a[0] & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID) != 0 {
                format!("child_tidptr={}", ptr(a[CLONE_CTID]))
            } else {
                String::new()
            }
        }
        Arg::CloneArgs => clone_args_at(v, a[1], ctx),
        Arg::StackIn if v != 0 => stack_at(v, ctx),
        Arg::Fadvice => {
            let t: &[(u64, &str)] = &[
                (0, "POSIX_FADV_NORMAL"),
                (1, "POSIX_FADV_RANDOM"),
                (2, "POSIX_FADV_SEQUENTIAL"),
                (3, "POSIX_FADV_WILLNEED"),
                (4, "POSIX_FADV_DONTNEED"),
                (5, "POSIX_FADV_NOREUSE"),
            ];
            enum_name(v & 0xffff_ffff, t, false)
        }
        Arg::MsghdrIn => msghdr_at(v, None, None, ctx),
        Arg::IdType => enum_name(
            v & 0xffff_ffff,
            &[(0, "P_ALL"), (1, "P_PID"), (2, "P_PGID"), (3, "P_PIDFD")],
            false,
        ),
        Arg::CloneFlagsBare => flags(v & 0xffff_ffff, CLONE_FLAGS, "0"),
        Arg::EpollOp => enum_name(
            v & 0xffff_ffff,
            &[
                (1, "EPOLL_CTL_ADD"),
                (2, "EPOLL_CTL_DEL"),
                (3, "EPOLL_CTL_MOD"),
            ],
            false,
        ),
        Arg::Who => enum_name(
            int(v) as i64 as u64,
            &[
                (0, "RUSAGE_SELF"),
                (u64::MAX, "RUSAGE_CHILDREN"),
                (1, "RUSAGE_THREAD"),
            ],
            false,
        ),
        Arg::IovIn(count_arg) => iovec_at(v, a[count_arg as usize], None, ctx),
        Arg::PollFds(count_arg) => pollfds_at(v, a[count_arg as usize], ctx),
        Arg::SockoptLevel => {
            let t: &[(u64, &str)] = &[
                (0, "SOL_IP"),
                (1, "SOL_SOCKET"),
                (6, "SOL_TCP"),
                (17, "SOL_UDP"),
                (41, "SOL_IPV6"),
                (270, "SOL_NETLINK"),
            ];
            enum_name(v & 0xffff_ffff, t, false)
        }
        Arg::SockoptName => {
            let t: &[(u64, &str)] = &[
                (1, "SO_DEBUG"),
                (2, "SO_REUSEADDR"),
                (3, "SO_TYPE"),
                (4, "SO_ERROR"),
                (5, "SO_DONTROUTE"),
                (6, "SO_BROADCAST"),
                (7, "SO_SNDBUF"),
                (8, "SO_RCVBUF"),
                (9, "SO_KEEPALIVE"),
                (13, "SO_LINGER"),
                (15, "SO_REUSEPORT"),
                (20, "SO_RCVTIMEO"),
                (21, "SO_SNDTIMEO"),
            ];
            let netlink: &[(u64, &str)] = &[
                (1, "NETLINK_ADD_MEMBERSHIP"),
                (2, "NETLINK_DROP_MEMBERSHIP"),
                (3, "NETLINK_PKTINFO"),
                (5, "NETLINK_NO_ENOBUFS"),
                (7, "NETLINK_RX_RING"),
                (11, "NETLINK_EXT_ACK"),
                (12, "NETLINK_GET_STRICT_CHK"),
            ];
            if a[1] & 0xffff_ffff == 1 {
                enum_name(v & 0xffff_ffff, t, false)
            } else if a[1] & 0xffff_ffff == 270 {
                enum_name(v & 0xffff_ffff, netlink, false)
            } else if a[1] & 0xffff_ffff == 6 && v == 1 {
                "TCP_NODELAY".to_string()
            } else {
                int(v).to_string()
            }
        }
        Arg::SockoptVal(len_arg) => {
            if a[len_arg as usize] == 4 {
                match read_u32(v, ctx) {
                    Some(x) => format!("[{}]", x as i32),
                    None => ptr(v),
                }
            } else {
                ptr(v)
            }
        }
        // Output kinds are rendered at exit; reaching here means the spec marks them as input by mistake.
        _ => ptr(v),
    }
}

/// Value an output argument needs from the entry stop (the socklen before the kernel overwrites it).
pub(crate) fn save_at_entry(kind: Arg, i: usize, ctx: &Ctx) -> u64 {
    match kind {
        Arg::SockLenOut => read_u32(ctx.args[i], ctx)
            .map(u64::from)
            .unwrap_or(u64::MAX),
        // recvmsg: msg_namelen before the kernel rewrites it.
        Arg::MsghdrOut => read_u32(ctx.args[i] + 8, ctx)
            .map(u64::from)
            .unwrap_or(u64::MAX),
        _ => 0,
    }
}

/// Text appended at exit to an argument rendered at entry, for structures that are both read and written by
/// the kernel (clone3's `=> {parent_tid=[N]}`); `None` for every other kind.
pub(crate) fn exit_suffix(kind: Arg, i: usize, ret: i64, ctx: &Ctx) -> Option<String> {
    match kind {
        Arg::CloneArgs if ret >= 0 => {
            let fl = read_u64(ctx.args[i], ctx)?;
            if fl & CLONE_PARENT_SETTID == 0 {
                return None;
            }
            let ptid_addr = read_u64(ctx.args[i] + 24, ctx)?;
            let tid = read_u32(ptid_addr, ctx)?;
            Some(format!(" => {{parent_tid=[{}]}}", tid as i32))
        }
        _ => None,
    }
}

/// Renders an argument filled by the kernel, at the exit stop.
pub(crate) fn render_output(kind: Arg, i: usize, ret: i64, saved: u64, ctx: &Ctx) -> String {
    let a = ctx.args;
    let v = a[i];
    let failed = ret < 0;
    match kind {
        Arg::OutBuf if failed => ptr(v),
        Arg::OutBuf => buffer(v, ret as u64, ctx, false),
        Arg::OutBufHex if failed => ptr(v),
        Arg::OutBufHex => buffer(v, ret as u64, ctx, true),
        Arg::OutStr if failed => ptr(v),
        // readlink returns the length without NUL, getcwd the length with it.
        Arg::OutStr => {
            let len = if ret > 0 && ctx.mem.read(v + ret as u64 - 1, 1) == Some(vec![0]) {
                ret - 1
            } else {
                ret
            };
            buffer(v, len as u64, ctx, false)
        }
        Arg::StatOut if !failed => stat_at(v, ctx),
        Arg::GidsOut if !failed => gids_at(v, ret as u64, ctx),
        Arg::StatxOut if !failed => statx_at(v, ctx),
        Arg::SigSetOut(size_arg) if !failed => sigset_at(v, a[size_arg as usize], ctx),
        Arg::SigActOut if !failed => sigaction_at(v, ctx),
        Arg::WaitStatusOut if ret > 0 && v != 0 => match read_pod::<i32>(v, ctx) {
            Some(s) => format!("[{}]", wait_status(s)),
            None => ptr(v),
        },
        Arg::TimespecOut if !failed => timespec_at(v, ctx),
        Arg::RlimitOut if !failed => rlimit_at(v, ctx),
        Arg::PipeFdsOut if !failed => match read_pod::<[i32; 2]>(v, ctx) {
            Some([r, w]) => format!("[{}, {}]", fd(r as i64, ctx), fd(w as i64, ctx)),
            None => ptr(v),
        },
        Arg::SockaddrOut(len_arg) if !failed => {
            let len = read_u32(a[len_arg as usize], ctx).unwrap_or(0);
            sockaddr_at(v, len as u64, ctx)
        }
        Arg::SockLenOut if v != 0 => match read_u32(v, ctx) {
            Some(after) if failed || saved == u64::MAX || saved == after as u64 => {
                format!("[{after}]")
            }
            Some(after) => format!("[{saved} => {after}]"),
            None => ptr(v),
        },
        Arg::UnameOut if !failed => uname_at(v, ctx),
        Arg::DirentsOut if !failed => dirents(v, ret, ctx),
        Arg::IovOut(count_arg) if !failed => {
            iovec_at(v, a[count_arg as usize], Some(ret as u64), ctx)
        }
        Arg::CloneParentTid => {
            if a[0] & (CLONE_PARENT_SETTID | CLONE_PIDFD) != 0 {
                match read_u32(a[2], ctx) {
                    Some(t) if !failed => format!("parent_tid=[{}]", t as i32),
                    _ => format!("parent_tid={}", ptr(a[2])),
                }
            } else {
                String::new()
            }
        }
        Arg::TimevalOut if !failed && v != 0 => match read_pod::<[i64; 2]>(v, ctx) {
            Some([sec, usec]) => format!("{{tv_sec={sec}, tv_usec={usec}}}"),
            None => ptr(v),
        },
        // waitid with WNOHANG and no child ready leaves si_pid 0: strace then prints `{}`.
        Arg::SiginfoOut if !failed && v != 0 => match read_pod::<CSiginfo>(v, ctx) {
            Some(CSiginfo(info)) if info.si_signo == 0 => "{}".to_string(),
            Some(CSiginfo(info)) => siginfo(&info),
            None => ptr(v),
        },
        Arg::MsghdrOut if !failed => msghdr_at(v, Some(saved as u32), Some(ret as u64), ctx),
        Arg::SysinfoOut if !failed => match read_pod::<CSysinfo>(v, ctx) {
            Some(CSysinfo(si)) => format!(
                "{{uptime={}, loads=[{}, {}, {}], totalram={}, freeram={}, sharedram={}, bufferram={}, \
                 totalswap={}, freeswap={}, procs={}, totalhigh={}, freehigh={}, mem_unit={}}}",
                si.uptime,
                si.loads[0],
                si.loads[1],
                si.loads[2],
                si.totalram,
                si.freeram,
                si.sharedram,
                si.bufferram,
                si.totalswap,
                si.freeswap,
                si.procs,
                si.totalhigh,
                si.freehigh,
                si.mem_unit
            ),
            None => ptr(v),
        },
        Arg::StatfsOut if !failed => statfs_at(v, ctx),
        Arg::IoctlData => ioctl_arg(a[1] & 0xffff_ffff, v, failed, ctx),
        Arg::CpuSetOut if !failed => cpuset_at(v, ret as usize, ctx),
        Arg::StackOut if !failed && v != 0 => stack_at(v, ctx),
        Arg::IntOut if !failed => match read_u32(v, ctx) {
            Some(x) => format!("[{}]", x as i32),
            None => ptr(v),
        },
        // A failed call leaves its output untouched: strace shows the address.
        _ => ptr(v),
    }
}
