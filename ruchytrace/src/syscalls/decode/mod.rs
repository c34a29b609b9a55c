//! strace-style rendering of system call arguments and return values.
//!
//! Decoding is table-driven: `spec::SPECS` lists, per system call name, the kind of each argument
//! (`spec::Arg`: fd, path, open flags, buffer...). [`decode_entry`] renders the arguments known when the call
//! starts; [`decode_exit`] renders the ones the kernel fills in (read buffers, `struct stat`...). Tracee memory
//! is only reached through [`TraceeMemory`], so every renderer is unit-tested against a fake memory.
//!
//! Rendering follows strace 6.x and is checked against the `strace` binary by `tests/syscall_decode.rs`
//! (a workload of ~90 calls compared line by line, with and without `-y`). For a tracer:
//!
//! * call [`decode_entry`] at the entry stop, print `name(` + [`entry_text`] when the call is interrupted,
//!   and [`decode_exit`] at the exit stop; [`Pending::entry_args`] gives the entry-time arguments without
//!   re-parsing the text;
//! * [`format_return_full`] adds what strace derives from the arguments (`3</etc/passwd>` under `-y`,
//!   `0x8000 (flags O_RDONLY|O_LARGEFILE)` for `fcntl(F_GETFL)`, poll's revents); [`format_return`] is the
//!   plain form;
//! * [`TraceeMemory::fd_path`] is also asked for `-100` (`AT_FDCWD`): answering with `/proc/PID/cwd` makes
//!   `AT_FDCWD</home/me>` appear under `-y` as in strace.

mod consts;
mod names;
mod render;
pub mod sockets;
mod spec;

pub use names::{errno_desc, errno_name, set_xlat_style, signal_name};
pub use render::{escape_bytes, quote};

use crate::syscalls::table;
use spec::Arg;

/// Read access to the memory and file descriptors of a stopped tracee.
pub trait TraceeMemory {
    /// Reads `len` bytes at `addr` in the tracee (process_vm_readv, falling back to PTRACE_PEEKDATA).
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>>;
    /// Reads a NUL-terminated string of at most `max` bytes; returns (bytes, truncated).
    fn read_cstr(&self, addr: u64, max: usize) -> Option<(Vec<u8>, bool)>;
    /// `/proc/PID/fd/FD` link target, for `-y`. Called with `-100` (`AT_FDCWD`) for the working directory
    /// (`/proc/PID/cwd`), which strace shows as `AT_FDCWD</home/me>`.
    fn fd_path(&self, fd: i64) -> Option<String>;
    /// For `-yy`: the endpoints of socket `inode` (open as `fd`) as strace prints them
    /// (`TCP:[1.2.3.4:5->...]`, `TCP:[INODE]` when it has no address yet), see [`sockets`].
    /// The default knows none.
    fn socket_endpoint(&self, _fd: i64, _inode: u64) -> Option<String> {
        None
    }
}

/// Rendering options shared by every decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// `-s`: the longest string or buffer printed before `...` (strace's default is 32).
    pub strsize: usize,
    /// `-y`: print the path behind each file descriptor (`3</etc/passwd>`).
    pub show_fd_paths: bool,
    /// `-yy`: print socket endpoints instead of `socket:[INODE]` (`3<TCP:[1.2.3.4:80->...]>`).
    pub show_sockets: bool,
    /// `-x` (1): strings holding non-printable bytes in `\x` hex; `-xx` (2): every string.
    pub strings_hex: u8,
    /// `-v`: print environments and structures in full.
    pub verbose: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            strsize: 32,
            show_fd_paths: false,
            show_sockets: false,
            strings_hex: 0,
            verbose: false,
        }
    }
}

/// Decoding state carried from the entry stop to the exit stop of one syscall.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// Per argument: `Some(text)` when rendered at entry, `None` when it is only known at exit.
    args: Vec<Option<String>>,
    /// Values read at entry that the exit rendering needs (e.g. a socklen before the kernel rewrites it).
    saved: Vec<u64>,
}

impl Pending {
    /// The arguments rendered at entry, up to (not including) the first one only known at exit.
    pub fn entry_args(&self) -> Vec<&str> {
        self.args.iter().map_while(|a| a.as_deref()).collect()
    }

    /// True when some argument is only rendered at exit (strace then prints `<... NAME resumed>` followed by
    /// the remaining arguments).
    pub fn has_exit_args(&self) -> bool {
        self.args.iter().any(Option::is_none)
    }
}

/// The decoding spec of every host syscall number, looked up by name once: it is asked for
/// several times per call (entry, exit, return value, argument count).
static SPECS_BY_NR: std::sync::LazyLock<Vec<Option<&'static spec::Spec>>> =
    std::sync::LazyLock::new(|| {
        let all = table::all();
        let len = all
            .iter()
            .map(|&(nr, _)| nr as usize + 1)
            .max()
            .unwrap_or(0);
        let mut by_nr = vec![None; len];
        for &(nr, name) in all {
            by_nr[nr as usize] = spec::lookup(name);
        }
        by_nr
    });

/// The decoding spec of `nr` on the host architecture.
fn spec_of(nr: u64) -> Option<&'static spec::Spec> {
    usize::try_from(nr)
        .ok()
        .and_then(|i| SPECS_BY_NR.get(i).copied().flatten())
}

/// At the syscall-entry stop: render input arguments (paths, flags, write buffers...).
pub fn decode_entry(
    nr: u64,
    args: &[u64; 6],
    mem: &dyn TraceeMemory,
    opts: &DecodeOptions,
) -> Pending {
    entry_with(spec_of(nr), args, mem, opts)
}

/// [`decode_entry`] for a given spec (tests use it to decode any architecture's calls).
fn entry_with(
    spec: Option<&'static spec::Spec>,
    args: &[u64; 6],
    mem: &dyn TraceeMemory,
    opts: &DecodeOptions,
) -> Pending {
    let Some(spec) = spec else {
        // Unknown call: strace prints every raw argument in hex.
        let n = 6;
        return Pending {
            args: args[..n].iter().map(|a| Some(format!("{a:#x}"))).collect(),
            saved: Vec::new(),
        };
    };
    let ctx = render::Ctx { args, mem, opts };
    let mut pending = Pending::default();
    for (i, kind) in spec.args.iter().enumerate() {
        if kind.is_output() {
            pending.args.push(None);
            pending.saved.push(render::save_at_entry(*kind, i, &ctx));
        } else {
            pending
                .args
                .push(Some(render::render_input(*kind, i, &ctx)));
            pending.saved.push(0);
        }
    }
    pending
}

/// Offset from the stack pointer at `rt_sigreturn`'s entry to the signal mask the call restores
/// (`uc_sigmask` of the signal frame's `ucontext`). x86_64: the frame's return address was
/// popped, so `sp` points at the ucontext (flags, link, stack_t, 256-byte sigcontext). aarch64:
/// `sp` points at the frame, a 128-byte siginfo then the ucontext (mask after flags, link,
/// stack_t).
#[cfg(target_arch = "x86_64")]
const SIGRETURN_MASK_OFFSET: u64 = 8 + 8 + 24 + 256;
#[cfg(target_arch = "aarch64")]
const SIGRETURN_MASK_OFFSET: u64 = 128 + 8 + 8 + 24;

/// `rt_sigreturn`'s argument as strace shows it, `{mask=[INT]}`: the mask the call restores,
/// read from the signal frame at the stack pointer `sp` of the entry stop.
pub fn sigreturn_entry(sp: u64, mem: &dyn TraceeMemory) -> Pending {
    let text = match mem.read(sp + SIGRETURN_MASK_OFFSET, 8) {
        Some(b) if b.len() == 8 => format!("{{mask={}}}", render::sigset(&b)),
        _ => String::new(),
    };
    Pending {
        args: if text.is_empty() {
            vec![]
        } else {
            vec![Some(text)]
        },
        saved: vec![0],
    }
}

/// `-P`: whether the call names one of `paths` (each given as the bytes to compare): a path
/// argument equal to one, or a file descriptor argument (including `*at` directory fds) open on
/// one. Checked at the entry stop, while `close`'s descriptor still resolves.
pub fn touches_paths(nr: u64, args: &[u64; 6], mem: &dyn TraceeMemory, paths: &[Vec<u8>]) -> bool {
    let Some(spec) = spec_of(nr) else {
        return false;
    };
    spec.args.iter().enumerate().any(|(i, kind)| match kind {
        Arg::Path => mem
            .read_cstr(args[i], 4096)
            .is_some_and(|(p, _)| paths.contains(&p)),
        Arg::Fd | Arg::DirFd => {
            let fd = args[i] as u32 as i32;
            fd >= 0
                && mem
                    .fd_path(fd as i64)
                    .is_some_and(|p| paths.iter().any(|want| want.as_slice() == p.as_bytes()))
        }
        _ => false,
    })
}

/// Text shown for an unfinished call (`read(3, ` part): the args known at entry, strace-style.
///
/// When later arguments are only known at exit, the text ends with `", "` exactly as strace leaves it before
/// ` <unfinished ...>`; when all arguments are known it ends with the last one.
pub fn entry_text(p: &Pending) -> String {
    let known = p.entry_args();
    let mut out = known.join(", ");
    if known.len() < p.args.len() && !known.is_empty() {
        out.push_str(", ");
    }
    out
}

/// At the exit stop: the final rendered argument list (output buffers, structs filled by the kernel).
pub fn decode_exit(
    nr: u64,
    args: &[u64; 6],
    ret: i64,
    p: Pending,
    mem: &dyn TraceeMemory,
    opts: &DecodeOptions,
) -> Vec<String> {
    exit_with(spec_of(nr), args, ret, p, mem, opts)
}

/// [`decode_exit`] for a given spec.
fn exit_with(
    spec: Option<&'static spec::Spec>,
    args: &[u64; 6],
    ret: i64,
    p: Pending,
    mem: &dyn TraceeMemory,
    opts: &DecodeOptions,
) -> Vec<String> {
    let Some(spec) = spec else {
        return p.args.into_iter().flatten().collect();
    };
    let ctx = render::Ctx { args, mem, opts };
    let mut out = Vec::with_capacity(p.args.len());
    for (i, rendered) in p.args.into_iter().enumerate() {
        match rendered {
            Some(mut text) => {
                if let Some(kind) = spec.args.get(i) {
                    if let Some(suffix) = render::exit_suffix(*kind, i, ret, &ctx) {
                        text.push_str(&suffix);
                    }
                }
                out.push(text)
            }
            None => {
                let kind = spec.args.get(i).copied().unwrap_or(Arg::Hex);
                out.push(render::render_output(
                    kind,
                    i,
                    ret,
                    p.saved.get(i).copied().unwrap_or(0),
                    &ctx,
                ));
            }
        }
    }
    // Some kinds render as nothing (open's mode without O_CREAT): strace omits those arguments.
    out.retain(|a| !a.is_empty());
    out
}

/// Number of arguments the syscall takes (for raw_args in JSON); 6 when unknown.
pub fn arg_count(nr: u64) -> usize {
    spec_of(nr).map(|s| s.args.len()).unwrap_or(6)
}

/// The largest value the kernel returns as `-errno`.
const MAX_ERRNO: i64 = 4095;

/// Renders a return value: "3", "0x7f12a000" (mmap/brk), "-1 ENOENT (No such file or directory)", "? ERESTARTSYS (...)".
/// Returns (text, errno name when the call failed).
pub fn format_return(nr: u64, ret: i64) -> (String, Option<&'static str>) {
    return_with(spec_of(nr), ret)
}

/// [`format_return`] for a given spec.
fn return_with(spec: Option<&'static spec::Spec>, ret: i64) -> (String, Option<&'static str>) {
    if (-MAX_ERRNO..0).contains(&ret) {
        let e = (-ret) as i32;
        let name = errno_name(e);
        // Restart codes never reach the program: strace shows `?` instead of -1 for them.
        let prefix = if e >= 512 { "?" } else { "-1" };
        let text = match name {
            Some(n) => format!("{prefix} {n} ({})", errno_desc(e)),
            None => format!("{prefix} E??? (errno {e})"),
        };
        return (text, name);
    }
    let text = match spec.map(|s| s.ret) {
        Some(spec::Ret::Hex) => format!("{:#x}", ret as u64),
        Some(spec::Ret::Octal) if ret == 0 => "0".to_string(),
        Some(spec::Ret::Octal) => format!("0{ret:o}"),
        _ => ret.to_string(),
    };
    (text, None)
}

/// Like [`format_return`], with the decorations strace adds from the arguments and the tracee: the path of a
/// returned fd under `-y` (`3</etc/passwd>`), the flags returned by `fcntl(F_GETFD/F_GETFL)`
/// (`0x8000 (flags O_RDONLY|O_LARGEFILE)`).
pub fn format_return_full(
    nr: u64,
    args: &[u64; 6],
    ret: i64,
    mem: &dyn TraceeMemory,
    opts: &DecodeOptions,
) -> (String, Option<&'static str>) {
    return_full_with(spec_of(nr), args, ret, mem, opts)
}

/// [`format_return_full`] for a given spec.
fn return_full_with(
    spec: Option<&'static spec::Spec>,
    args: &[u64; 6],
    ret: i64,
    mem: &dyn TraceeMemory,
    opts: &DecodeOptions,
) -> (String, Option<&'static str>) {
    let (text, err) = return_with(spec, ret);
    if err.is_some() || ret < 0 {
        return (text, err);
    }
    let Some(spec) = spec else {
        return (text, err);
    };
    let ctx = render::Ctx { args, mem, opts };
    let is_fd =
        spec.ret == spec::Ret::Fd || (spec.name == "fcntl" && matches!(args[1] as u32, 0 | 1030));
    if is_fd {
        return (render::fd(ret, &ctx), None);
    }
    if spec.name == "poll" || spec.name == "ppoll" {
        if ret == 0 {
            return ("0 (Timeout)".to_string(), None);
        }
        if let Some(revents) = render::poll_revents(args[0], args[1], &ctx) {
            // ppoll also reports the time left of its timeout.
            let left = match (spec.name, render::timespec(args[2], &ctx)) {
                ("ppoll", Some(ts)) => format!(", left {ts}"),
                _ => String::new(),
            };
            return (format!("{ret} ({revents}{left})"), None);
        }
    }
    if spec.name == "prctl" && args[0] & 0xffff_ffff == 3 {
        // PR_GET_DUMPABLE: the SUID_DUMP_* value.
        let name = match ret {
            0 => "SUID_DUMP_DISABLE",
            1 => "SUID_DUMP_USER",
            2 => "SUID_DUMP_ROOT",
            _ => return (text, err),
        };
        return (format!("{ret} ({name})"), None);
    }
    if spec.name == "fcntl" {
        match args[1] as u32 {
            1 if ret != 0 => {
                return (
                    format!(
                        "{ret:#x} (flags {})",
                        names::flags(ret as u64, &[(1, "FD_CLOEXEC")], "0")
                    ),
                    None,
                )
            }
            3 => {
                return (
                    format!("{ret:#x} (flags {})", render::open_flags(ret as u64)),
                    None,
                )
            }
            _ => {}
        }
    }
    (text, err)
}

/// Renders a `siginfo_t` strace-style: `{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=42, ...}`.
pub fn format_siginfo(info: &libc::siginfo_t) -> String {
    render::siginfo(info)
}

/// Renders a wait(2) status strace-style: `[{WIFEXITED(s) && WEXITSTATUS(s) == 3}]`.
pub fn format_wait_status(status: i32) -> String {
    format!("[{}]", render::wait_status(status))
}

#[cfg(test)]
mod tests;
