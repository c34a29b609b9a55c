//! Errno and signal names, and the small helpers that render flag sets and enumerations strace-style.

use std::cell::Cell;

/// Linux errno names by number (identical on x86_64 and aarch64); index = errno.
static ERRNO_NAMES: [&str; 134] = [
    "",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
    "",
    "ENOMSG",
    "EIDRM",
    "ECHRNG",
    "EL2NSYNC",
    "EL3HLT",
    "EL3RST",
    "ELNRNG",
    "EUNATCH",
    "ENOCSI",
    "EL2HLT",
    "EBADE",
    "EBADR",
    "EXFULL",
    "ENOANO",
    "EBADRQC",
    "EBADSLT",
    "",
    "EBFONT",
    "ENOSTR",
    "ENODATA",
    "ETIME",
    "ENOSR",
    "ENONET",
    "ENOPKG",
    "EREMOTE",
    "ENOLINK",
    "EADV",
    "ESRMNT",
    "ECOMM",
    "EPROTO",
    "EMULTIHOP",
    "EDOTDOT",
    "EBADMSG",
    "EOVERFLOW",
    "ENOTUNIQ",
    "EBADFD",
    "EREMCHG",
    "ELIBACC",
    "ELIBBAD",
    "ELIBSCN",
    "ELIBMAX",
    "ELIBEXEC",
    "EILSEQ",
    "ERESTART",
    "ESTRPIPE",
    "EUSERS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ESTALE",
    "EUCLEAN",
    "ENOTNAM",
    "ENAVAIL",
    "EISNAM",
    "EREMOTEIO",
    "EDQUOT",
    "ENOMEDIUM",
    "EMEDIUMTYPE",
    "ECANCELED",
    "ENOKEY",
    "EKEYEXPIRED",
    "EKEYREVOKED",
    "EKEYREJECTED",
    "EOWNERDEAD",
    "ENOTRECOVERABLE",
    "ERFKILL",
    "EHWPOISON",
];

/// Kernel-internal restart codes that a tracer sees at the exit stop of an interrupted call, with the text strace
/// prints for them (they never reach the program, so libc has no strerror for them).
static RESTART_CODES: [(i32, &str, &str); 5] = [
    (512, "ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    (513, "ERESTARTNOINTR", "To be restarted"),
    (514, "ERESTARTNOHAND", "To be restarted if no handler"),
    (515, "ENOIOCTLCMD", "No ioctl command"),
    (516, "ERESTART_RESTARTBLOCK", "Interrupted by signal"),
];

/// Symbolic name of errno `e` (`2` → `"ENOENT"`), including the kernel's restart codes.
pub fn errno_name(e: i32) -> Option<&'static str> {
    if let Some(n) = usize::try_from(e).ok().and_then(|i| ERRNO_NAMES.get(i)) {
        return (!n.is_empty()).then_some(*n);
    }
    RESTART_CODES.iter().find(|r| r.0 == e).map(|r| r.1)
}

/// Description of errno `e`, as strerror(3) words it ("No such file or directory").
pub fn errno_desc(e: i32) -> String {
    if let Some(r) = RESTART_CODES.iter().find(|r| r.0 == e) {
        return r.2.to_string();
    }
    // std's message is strerror_r's text followed by " (os error N)"; strace shows only the text.
    let text = std::io::Error::from_raw_os_error(e).to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Standard signal names, index = signal number (Linux x86_64/aarch64 numbering).
static SIGNAL_NAMES: [&str; 32] = [
    "0",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// First real-time signal as the kernel numbers them (glibc reserves 32 and 33 for itself, strace does not care).
const SIGRTMIN: i32 = 32;
/// Last signal number.
const SIGRTMAX: i32 = 64;

/// Name of signal `sig` strace-style: `"SIGCHLD"`, `"SIGRTMIN"`, `"SIGRT_3"`, or the bare number when unknown.
pub fn signal_name(sig: i32) -> String {
    match sig {
        1..=31 => SIGNAL_NAMES[sig as usize].to_string(),
        SIGRTMIN => "SIGRTMIN".to_string(),
        33..=SIGRTMAX => format!("SIGRT_{}", sig - SIGRTMIN),
        _ => sig.to_string(),
    }
}

thread_local! {
    /// `-X` of the tracer running on this thread: 0 raw, 1 abbrev (default), 2 verbose. Per
    /// thread because the flag and enumeration helpers below are called from every renderer,
    /// and the tracer decodes on the thread that runs its loop.
    static XLAT_STYLE: Cell<u8> = const { Cell::new(1) };
}

fn style() -> u8 {
    XLAT_STYLE.with(Cell::get)
}

/// Sets how [`flags`] and [`enum_name`] print named constants on this thread (strace's `-X`).
pub fn set_xlat_style(style: crate::syscalls::options::XlatStyle) {
    use crate::syscalls::options::XlatStyle;
    let v = match style {
        XlatStyle::Raw => 0,
        XlatStyle::Abbrev => 1,
        XlatStyle::Verbose => 2,
    };
    XLAT_STYLE.with(|c| c.set(v));
}

/// Applies `-X` to a constant whose number is `raw` and whose names are `named` (`None` when
/// no name applies, then the number alone is printed in every style).
pub(crate) fn xlat(raw: String, named: Option<String>) -> String {
    match (style(), named) {
        (1, Some(n)) => n,
        (2, Some(n)) => format!("{raw} /* {n} */"),
        _ => raw,
    }
}

/// A value whose names are built from several tables (`O_RDONLY|O_CLOEXEC`, `SOCK_STREAM|
/// SOCK_CLOEXEC`): `names` runs in abbrev style, and `-X` applies to the value as a whole.
pub(crate) fn composite(value: u64, names: impl FnOnce() -> String) -> String {
    let raw = if value == 0 {
        "0".to_string()
    } else {
        format!("{value:#x}")
    };
    composite_raw(raw, names)
}

/// [`composite`] with the raw form given (`040755` for a file mode).
pub(crate) fn composite_raw(raw: String, names: impl FnOnce() -> String) -> String {
    let outer = style();
    if outer == 1 {
        return names();
    }
    XLAT_STYLE.with(|c| c.set(1));
    let n = names();
    XLAT_STYLE.with(|c| c.set(outer));
    let named = (n != raw).then_some(n);
    xlat(raw, named)
}

/// Renders `value` as `A|B|0x40` using `(bit, name)` pairs; `zero` is what to print when `value` is 0.
pub(crate) fn flags(value: u64, table: &[(u64, &str)], zero: &str) -> String {
    if style() != 1 {
        let raw = if value == 0 {
            "0".to_string()
        } else {
            format!("{value:#x}")
        };
        let named = (zero != "0" || value != 0).then(|| flags_abbrev(value, table, zero));
        let named = named.filter(|n| *n != raw);
        return xlat(raw, named);
    }
    flags_abbrev(value, table, zero)
}

fn flags_abbrev(value: u64, table: &[(u64, &str)], zero: &str) -> String {
    if value == 0 {
        return zero.to_string();
    }
    let mut out = String::new();
    let mut rest = value;
    for &(bit, name) in table {
        if bit != 0 && rest & bit == bit {
            push_sep(&mut out, name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        let hex = format!("{rest:#x}");
        push_sep(&mut out, &hex);
    }
    out
}

/// Appends `item` to a `|`-separated list.
pub(crate) fn push_sep(out: &mut String, item: &str) {
    if !out.is_empty() {
        out.push('|');
    }
    out.push_str(item);
}

/// Renders an enumerated value: its name, or `default` formatting (decimal or hex) when unknown.
pub(crate) fn enum_name(value: u64, table: &[(u64, &str)], hex_default: bool) -> String {
    // -X raw/verbose print named values in hex, as strace.
    let raw = if value == 0 {
        "0".to_string()
    } else if hex_default || style() != 1 {
        format!("{value:#x}")
    } else {
        (value as i64).to_string()
    };
    xlat(
        raw,
        table.iter().find(|e| e.0 == value).map(|e| e.1.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names_match_libc() {
        let checks = [
            (libc::EPERM, "EPERM"),
            (libc::ENOENT, "ENOENT"),
            (libc::EBADF, "EBADF"),
            (libc::EAGAIN, "EAGAIN"),
            (libc::ENOSYS, "ENOSYS"),
            (libc::ELOOP, "ELOOP"),
            (libc::ENOMSG, "ENOMSG"),
            (libc::EBFONT, "EBFONT"),
            (libc::EOVERFLOW, "EOVERFLOW"),
            (libc::ENOTSOCK, "ENOTSOCK"),
            (libc::ECONNREFUSED, "ECONNREFUSED"),
            (libc::EINPROGRESS, "EINPROGRESS"),
            (libc::EDQUOT, "EDQUOT"),
            (libc::ECANCELED, "ECANCELED"),
            (libc::EHWPOISON, "EHWPOISON"),
        ];
        for (n, name) in checks {
            assert_eq!(errno_name(n), Some(name), "errno {n}");
        }
        assert_eq!(errno_name(41), None);
        assert_eq!(errno_name(512), Some("ERESTARTSYS"));
        assert_eq!(errno_name(-1), None);
    }

    #[test]
    fn errno_descriptions() {
        assert_eq!(errno_desc(libc::ENOENT), "No such file or directory");
        assert_eq!(errno_desc(libc::EACCES), "Permission denied");
        assert_eq!(errno_desc(516), "Interrupted by signal");
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(libc::SIGCHLD), "SIGCHLD");
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
        assert_eq!(signal_name(libc::SIGSYS), "SIGSYS");
        assert_eq!(signal_name(32), "SIGRTMIN");
        assert_eq!(signal_name(34), "SIGRT_2");
        assert_eq!(signal_name(64), "SIGRT_32");
        assert_eq!(signal_name(65), "65");
        assert_eq!(signal_name(0), "0");
    }

    #[test]
    fn flag_rendering() {
        let t = [(1, "A"), (2, "B"), (4, "C")];
        assert_eq!(flags(0, &t, "0"), "0");
        assert_eq!(flags(5, &t, "0"), "A|C");
        assert_eq!(flags(0x13, &t, "0"), "A|B|0x10");
        assert_eq!(enum_name(2, &t, false), "B");
        assert_eq!(enum_name(9, &t, true), "0x9");
    }
}
