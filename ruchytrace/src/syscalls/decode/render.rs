//! Renderers for each argument kind and for the structures strace prints.

use super::consts::*;
use super::names::{enum_name, flags, push_sep, signal_name};
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

/// Quotes bytes the way strace does: printable ASCII as is, `"` and `\` escaped, C escapes for `\t\n\v\f\r`,
/// other bytes in octal (three digits when the next byte is an octal digit, so the output reads back
/// unambiguously). `truncated` appends `...` after the closing quote.
pub fn escape_bytes(b: &[u8], truncated: bool) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(c as char),
            _ => {
                // Octal with the fewest digits, or three when the next byte is an octal digit. Written by
                // hand: a format! per byte made binary buffers the slowest part of decoding.
                let three = b.get(i + 1).is_some_and(|n| (b'0'..=b'7').contains(n));
                out.push('\\');
                if three || c >= 0o100 {
                    out.push((b'0' + (c >> 6)) as char);
                }
                if three || c >= 0o10 {
                    out.push((b'0' + ((c >> 3) & 7)) as char);
                }
                out.push((b'0' + (c & 7)) as char);
            }
        }
    }
    out.push('"');
    if truncated {
        out.push_str("...");
    }
    out
}

/// Quotes bytes with every byte as `\xNN` (strace does this for binary data such as getrandom's buffer).
fn escape_hex(b: &[u8], truncated: bool) -> String {
    let mut out = String::with_capacity(b.len() * 4 + 5);
    out.push('"');
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &c in b {
        out.push_str("\\x");
        out.push(HEX[(c >> 4) as usize] as char);
        out.push(HEX[(c & 15) as usize] as char);
    }
    out.push('"');
    if truncated {
        out.push_str("...");
    }
    out
}

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
            return format!("{v}<{p}>{deleted}");
        }
    }
    v.to_string()
}

fn dirfd(v: u64, ctx: &Ctx) -> String {
    let v = int(v);
    if v == AT_FDCWD {
        // Under -y strace shows the working directory: fd_path(AT_FDCWD) is the tracee's cwd.
        match ctx
            .mem
            .fd_path(AT_FDCWD as i64)
            .filter(|_| ctx.opts.show_fd_paths)
        {
            Some(cwd) => format!("AT_FDCWD<{cwd}>"),
            None => "AT_FDCWD".to_string(),
        }
    } else {
        fd(v as i64, ctx)
    }
}

/// A NUL-terminated string of at most `max` bytes, quoted; the address when unreadable.
fn cstr(addr: u64, max: usize, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    match ctx.mem.read_cstr(addr, max) {
        Some((bytes, truncated)) => escape_bytes(&bytes, truncated),
        None => format!("{addr:#x}"),
    }
}

/// `len` bytes of a buffer, cut at `-s`; the address when unreadable.
fn buffer(addr: u64, len: u64, ctx: &Ctx, hex: bool) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let shown = (len as usize).min(ctx.opts.strsize);
    match ctx.mem.read(addr, shown) {
        Some(bytes) if hex => escape_hex(&bytes, (len as usize) > shown),
        Some(bytes) => escape_bytes(&bytes, (len as usize) > shown),
        None => format!("{addr:#x}"),
    }
}

/// Reads a plain-old-data value of type `T` from the tracee.
fn read_pod<T: Copy>(addr: u64, ctx: &Ctx) -> Option<T> {
    if addr == 0 {
        return None;
    }
    let bytes = ctx.mem.read(addr, std::mem::size_of::<T>())?;
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: `bytes` holds exactly size_of::<T>() initialised bytes; callers only use T = integer arrays and
    // libc C structs (stat, statx, utsname...) for which every bit pattern is a valid value; read_unaligned
    // copes with the Vec's alignment.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

fn read_u32(addr: u64, ctx: &Ctx) -> Option<u32> {
    read_pod::<u32>(addr, ctx)
}

fn read_u64(addr: u64, ctx: &Ctx) -> Option<u64> {
    read_pod::<u64>(addr, ctx)
}

/// A numeric mode argument: `0644`, `000`, `01777`.
pub(crate) fn mode(m: u64) -> String {
    let s = if m == 0 {
        "0".to_string()
    } else {
        format!("0{m:o}")
    };
    format!("{s:0>3}")
}

/// `st_mode`: `S_IFREG|0644`, `S_IFDIR|S_ISVTX|0777`.
pub(crate) fn st_mode(m: u32) -> String {
    let mut out = String::new();
    if let Some(t) = S_IFMT.iter().find(|t| m & 0o170000 == t.0) {
        out.push_str(t.1);
    } else if m & 0o170000 != 0 {
        out.push_str(&format!("{:#o}", m & 0o170000));
    }
    for (bit, name) in [
        (0o4000, "S_ISUID"),
        (0o2000, "S_ISGID"),
        (0o1000, "S_ISVTX"),
    ] {
        if m & bit != 0 {
            push_sep(&mut out, name);
        }
    }
    push_sep(&mut out, &mode((m & 0o777) as u64));
    out
}

fn makedev(dev: u64) -> String {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    format!("makedev({major:#x}, {minor:#x})")
}

pub(crate) fn open_flags(v: u64) -> String {
    let acc = v & 0o3;
    let mut out = enum_name(acc, OPEN_ACCMODE, true);
    let rest = v & !0o3;
    if rest != 0 {
        push_sep(&mut out, &flags(rest, OPEN_FLAGS, "0"));
    }
    out
}

fn map_flags(v: u64) -> String {
    let mut out = match MAP_TYPE.iter().find(|t| t.0 == v & 0xf) {
        Some(t) => t.1.to_string(),
        None => format!("{:#x}", v & 0xf),
    };
    let rest = v & !0xf;
    if rest != 0 {
        push_sep(&mut out, &flags(rest, MAP_FLAGS, "0"));
    }
    out
}

fn prot(v: u64) -> String {
    flags(v, PROT, "PROT_NONE")
}

/// A signal mask of `bytes` bytes: `[INT RT_8]`, or `~[...]` listing what is missing when most are set.
pub(crate) fn sigset(bytes: &[u8]) -> String {
    let nbits = (bytes.len() * 8).min(64);
    let is_set = |sig: usize| bytes[(sig - 1) / 8] & (1 << ((sig - 1) % 8)) != 0;
    let count = (1..=nbits).filter(|&s| is_set(s)).count();
    let invert = count * 2 > nbits;
    let mut out = String::from(if invert { "~[" } else { "[" });
    let mut first = true;
    for s in 1..=nbits {
        if is_set(s) != invert {
            if !first {
                out.push(' ');
            }
            first = false;
            let name = signal_name(s as i32);
            out.push_str(name.strip_prefix("SIG").unwrap_or(&name));
        }
    }
    out.push(']');
    out
}

fn sigset_at(addr: u64, size: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let size = (size as usize).clamp(1, 8);
    match ctx.mem.read(addr, size) {
        Some(b) if b.len() == size => sigset(&b),
        _ => format!("{addr:#x}"),
    }
}

/// The kernel's `struct sigaction` (handler, flags, restorer, mask) on 64-bit Linux.
fn sigaction_at(addr: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let Some([handler, sa_flags, restorer, mask]) = read_pod::<[u64; 4]>(addr, ctx) else {
        return format!("{addr:#x}");
    };
    let handler = match handler {
        0 => "SIG_DFL".to_string(),
        1 => "SIG_IGN".to_string(),
        h => format!("{h:#x}"),
    };
    let mut out = format!(
        "{{sa_handler={handler}, sa_mask={}, sa_flags={}",
        sigset(&mask.to_le_bytes()),
        flags(sa_flags, SA_FLAGS, "0")
    );
    if sa_flags & 0x0400_0000 != 0 {
        out.push_str(&format!(", sa_restorer={}", ptr(restorer)));
    }
    out.push('}');
    out
}

/// A wait(2) status word, without the surrounding brackets.
pub(crate) fn wait_status(s: i32) -> String {
    let sig = s & 0x7f;
    if sig == 0 {
        format!("{{WIFEXITED(s) && WEXITSTATUS(s) == {}}}", (s >> 8) & 0xff)
    } else if s & 0xff == 0x7f {
        let stop = (s >> 8) & 0xff;
        let event = (s >> 16) & 0xff;
        let mut out = format!("{{WIFSTOPPED(s) && WSTOPSIG(s) == {}}}", signal_name(stop));
        if event != 0 {
            out.push_str(&format!(" | {:#x}", (event as u32) << 16));
        }
        out
    } else if s == 0xffff {
        "{WIFCONTINUED(s)}".to_string()
    } else {
        let core = if s & 0x80 != 0 {
            " && WCOREDUMP(s)"
        } else {
            ""
        };
        format!(
            "{{WIFSIGNALED(s) && WTERMSIG(s) == {}{core}}}",
            signal_name(sig)
        )
    }
}

/// A readable timespec, `None` for NULL or unreadable memory.
pub(crate) fn timespec(addr: u64, ctx: &Ctx) -> Option<String> {
    let [sec, nsec] = read_pod::<[i64; 2]>(addr, ctx)?;
    Some(format!("{{tv_sec={sec}, tv_nsec={nsec}}}"))
}

fn timespec_at(addr: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    match read_pod::<[i64; 2]>(addr, ctx) {
        Some([sec, nsec]) => format!("{{tv_sec={sec}, tv_nsec={nsec}}}"),
        None => format!("{addr:#x}"),
    }
}

fn rlim_value(v: u64) -> String {
    if v == u64::MAX {
        "RLIM64_INFINITY".to_string()
    } else if v > 0 && v % 1024 == 0 {
        format!("{}*1024", v / 1024)
    } else {
        v.to_string()
    }
}

fn rlimit_at(addr: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    match read_pod::<[u64; 2]>(addr, ctx) {
        Some([cur, max]) => format!(
            "{{rlim_cur={}, rlim_max={}}}",
            rlim_value(cur),
            rlim_value(max)
        ),
        None => format!("{addr:#x}"),
    }
}

fn stat_at(addr: u64, ctx: &Ctx) -> String {
    let Some(st) = read_pod::<libc::stat>(addr, ctx) else {
        return ptr(addr);
    };
    let m = st.st_mode;
    let kind = m & 0o170000;
    if kind == 0o020000 || kind == 0o060000 {
        format!(
            "{{st_mode={}, st_rdev={}, ...}}",
            st_mode(m),
            makedev(st.st_rdev)
        )
    } else {
        format!("{{st_mode={}, st_size={}, ...}}", st_mode(m), st.st_size)
    }
}

fn statx_at(addr: u64, ctx: &Ctx) -> String {
    let Some(stx) = read_pod::<libc::statx>(addr, ctx) else {
        return ptr(addr);
    };
    let m = stx.stx_mode as u32;
    let kind = m & 0o170000;
    let tail = if kind == 0o020000 || kind == 0o060000 {
        format!(
            "stx_rdev={}",
            makedev(((stx.stx_rdev_major as u64) << 8) | stx.stx_rdev_minor as u64)
        )
    } else {
        format!("stx_size={}", stx.stx_size)
    };
    format!(
        "{{stx_mask={}, stx_attributes={}, stx_mode={}, {tail}, ...}}",
        flags(stx.stx_mask as u64, STATX_MASK, "0"),
        flags(stx.stx_attributes, STATX_ATTR, "0"),
        st_mode(m)
    )
}

/// A socket address of `len` bytes.
pub(crate) fn sockaddr(bytes: &[u8]) -> String {
    if bytes.len() < 2 {
        return "{}".to_string();
    }
    let family = u16::from_ne_bytes([bytes[0], bytes[1]]);
    let fam = enum_name(family as u64, AF, false);
    match family {
        1 => {
            let path = &bytes[2..];
            if path.is_empty() {
                return format!("{{sa_family={fam}}}");
            }
            if path[0] == 0 {
                // Abstract socket: strace prints @ then the name (NULs included, quoted).
                return format!(
                    "{{sa_family={fam}, sun_path=@{}}}",
                    escape_bytes(&path[1..], false)
                );
            }
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            format!(
                "{{sa_family={fam}, sun_path={}}}",
                escape_bytes(&path[..end], false)
            )
        }
        2 if bytes.len() >= 8 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let addr = std::net::Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            format!("{{sa_family={fam}, sin_port=htons({port}), sin_addr=inet_addr(\"{addr}\")}}")
        }
        10 if bytes.len() >= 24 => {
            let port = u16::from_be_bytes([bytes[2], bytes[3]]);
            let flow = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            let mut a = [0u8; 16];
            a.copy_from_slice(&bytes[8..24]);
            let addr = std::net::Ipv6Addr::from(a);
            let scope = if bytes.len() >= 28 {
                u32::from_ne_bytes([bytes[24], bytes[25], bytes[26], bytes[27]])
            } else {
                0
            };
            format!(
                "{{sa_family={fam}, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), \
                 inet_pton({fam}, \"{addr}\", &sin6_addr), sin6_scope_id={scope}}}"
            )
        }
        16 if bytes.len() >= 12 => {
            let pid = u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            let groups = u32::from_ne_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            format!("{{sa_family={fam}, nl_pid={pid}, nl_groups={groups:08x}}}")
        }
        _ => format!(
            "{{sa_family={fam}, sa_data={}}}",
            escape_bytes(&bytes[2..], false)
        ),
    }
}

fn sockaddr_at(addr: u64, len: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let len = (len as usize).min(128);
    match ctx.mem.read(addr, len) {
        Some(b) => sockaddr(&b),
        None => format!("{addr:#x}"),
    }
}

fn socket_type(v: u64) -> String {
    let mut out = enum_name(v & 0xf, SOCK_TYPE, true);
    let rest = v & !0xf;
    if rest != 0 {
        push_sep(&mut out, &flags(rest, SOCK_FLAGS, "0"));
    }
    out
}

fn socket_proto(family: u64, proto: u64) -> String {
    if family == 2 || family == 10 {
        let names: &[(u64, &str)] = &[
            (0, "IPPROTO_IP"),
            (1, "IPPROTO_ICMP"),
            (6, "IPPROTO_TCP"),
            (17, "IPPROTO_UDP"),
        ];
        let names6: &[(u64, &str)] = &[(58, "IPPROTO_ICMPV6")];
        if let Some(n) = names.iter().chain(names6).find(|n| n.0 == proto) {
            return n.1.to_string();
        }
    }
    (proto as i64).to_string()
}

/// argv of execve: `["ls", "-la"]`, at most `-s` elements, each string cut at `-s`.
fn argv_at(addr: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let mut items = Vec::new();
    let mut more = false;
    for i in 0.. {
        let Some(p) = read_u64(addr + i * 8, ctx) else {
            if i == 0 {
                return format!("{addr:#x}");
            }
            break;
        };
        if p == 0 {
            break;
        }
        if items.len() >= ctx.opts.strsize {
            more = true;
            break;
        }
        items.push(cstr(p, ctx.opts.strsize, ctx));
    }
    let mut out = format!("[{}", items.join(", "));
    if more {
        out.push_str(", ...");
    }
    out.push(']');
    out
}

/// envp of execve: `0x7ffc... /* 35 vars */`.
fn envp_at(addr: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let mut n = 0u64;
    while let Some(p) = read_u64(addr + n * 8, ctx) {
        if p == 0 {
            return format!("{addr:#x} /* {n} vars */");
        }
        n += 1;
        if n > 1 << 16 {
            break;
        }
    }
    format!("{addr:#x}")
}

fn iovec_at(addr: u64, count: u64, data_limit: Option<u64>, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let mut items = Vec::new();
    let mut remaining = data_limit;
    let shown = count.min(ctx.opts.strsize as u64);
    for i in 0..shown {
        let Some([base, len]) = read_pod::<[u64; 2]>(addr + i * 16, ctx) else {
            if i == 0 {
                return format!("{addr:#x}");
            }
            break;
        };
        let data_len = match remaining.as_mut() {
            Some(r) => {
                let l = len.min(*r);
                *r -= l;
                l
            }
            None => len,
        };
        items.push(format!(
            "{{iov_base={}, iov_len={len}}}",
            buffer(base, data_len, ctx, false)
        ));
    }
    let mut out = format!("[{}", items.join(", "));
    if count > shown {
        out.push_str(", ...");
    }
    out.push(']');
    out
}

fn pollfds_at(addr: u64, count: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let mut items = Vec::new();
    for i in 0..count.min(ctx.opts.strsize as u64) {
        let Some([f, events]) = read_pod::<[i32; 2]>(addr + i * 8, ctx) else {
            return format!("{addr:#x}");
        };
        let ev = flags(events as u16 as u64, POLL_EVENTS, "0");
        items.push(format!("{{fd={}, events={ev}}}", fd(f as i64, ctx)));
    }
    format!("[{}]", items.join(", "))
}

/// The `revents` strace appends to poll's return value: `[{fd=0, revents=POLLIN}]`.
pub(crate) fn poll_revents(addr: u64, count: u64, ctx: &Ctx) -> Option<String> {
    let mut items = Vec::new();
    for i in 0..count.min(1024) {
        let [f, ev] = read_pod::<[i32; 2]>(addr + i * 8, ctx)?;
        let revents = (ev >> 16) as u16;
        if revents != 0 {
            // strace prints the bare fd here, even under -y.
            items.push(format!(
                "{{fd={f}, revents={}}}",
                flags(revents as u64, POLL_EVENTS, "0")
            ));
        }
    }
    Some(format!("[{}]", items.join(", ")))
}

fn uname_at(addr: u64, ctx: &Ctx) -> String {
    let Some(u) = read_pod::<libc::utsname>(addr, ctx) else {
        return ptr(addr);
    };
    let field = |f: &[libc::c_char]| {
        let b: Vec<u8> = f.iter().map(|&c| c as u8).take_while(|&c| c != 0).collect();
        escape_bytes(&b, false)
    };
    format!(
        "{{sysname={}, nodename={}, ...}}",
        field(&u.sysname),
        field(&u.nodename)
    )
}

/// Number of `linux_dirent64` records in a getdents64 buffer of `len` bytes.
fn dirents(addr: u64, len: i64, ctx: &Ctx) -> String {
    if len <= 0 {
        return format!("{} /* {} entries */", ptr(addr), 0);
    }
    let Some(b) = ctx.mem.read(addr, len as usize) else {
        return ptr(addr);
    };
    let (mut off, mut n) = (0usize, 0);
    while off + 18 <= b.len() {
        let reclen = u16::from_ne_bytes([b[off + 16], b[off + 17]]) as usize;
        if reclen == 0 {
            break;
        }
        n += 1;
        off += reclen;
    }
    format!("{addr:#x} /* {n} entries */")
}

fn futex_op(v: u64) -> String {
    let cmd = v & 0x7f;
    let mut out = enum_name(cmd, FUTEX_CMD, true);
    if v & 128 != 0 {
        out.push_str("_PRIVATE");
    }
    if v & 256 != 0 {
        out.push_str("|FUTEX_CLOCK_REALTIME");
    }
    let rest = v & !0x1ff;
    if rest != 0 {
        out.push_str(&format!("|{rest:#x}"));
    }
    out
}

fn clone_flags(v: u64) -> String {
    let sig = v & 0xff;
    let rest = v & !0xff;
    let mut out = if rest != 0 {
        flags(rest, CLONE_FLAGS, "0")
    } else {
        String::new()
    };
    if sig != 0 {
        push_sep(&mut out, &signal_name(sig as i32));
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// Indices of clone(2)'s raw arguments: x86_64 passes (flags, stack, ptid, ctid, tls), the generic ABI used by
/// aarch64 passes (flags, stack, ptid, tls, ctid).
#[cfg(target_arch = "aarch64")]
const CLONE_TLS: usize = 3;
#[cfg(target_arch = "aarch64")]
const CLONE_CTID: usize = 4;
#[cfg(not(target_arch = "aarch64"))]
const CLONE_TLS: usize = 4;
#[cfg(not(target_arch = "aarch64"))]
const CLONE_CTID: usize = 3;

const CLONE_PARENT_SETTID: u64 = 0x100000;
const CLONE_CHILD_SETTID: u64 = 0x1000000;
const CLONE_CHILD_CLEARTID: u64 = 0x200000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PIDFD: u64 = 0x1000;

/// clone3's `struct clone_args`, as far as strace prints it.
fn clone_args_at(addr: u64, size: u64, ctx: &Ctx) -> String {
    let size = (size as usize).clamp(0, 88);
    let Some(b) = ctx.mem.read(addr, size).filter(|b| b.len() >= 64) else {
        return ptr(addr);
    };
    let f = |i: usize| u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let (fl, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls) =
        (f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7));
    let mut out = format!("{{flags={}", flags(fl, CLONE_FLAGS, "0"));
    if fl & CLONE_PIDFD != 0 {
        out.push_str(&format!(", pidfd={}", ptr(pidfd)));
    }
    if fl & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID) != 0 {
        out.push_str(&format!(", child_tid={}", ptr(child_tid)));
    }
    if fl & CLONE_PARENT_SETTID != 0 {
        out.push_str(&format!(", parent_tid={}", ptr(parent_tid)));
    }
    let sig = if exit_signal == 0 {
        "0".to_string()
    } else {
        signal_name(exit_signal as i32)
    };
    out.push_str(&format!(
        ", exit_signal={sig}, stack={}, stack_size={stack_size:#x}",
        ptr(stack)
    ));
    if fl & CLONE_SETTLS != 0 {
        out.push_str(&format!(", tls={}", ptr(tls)));
    }
    out.push('}');
    out
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
            if a[1] & 0xffff_ffff == 1 {
                enum_name(v & 0xffff_ffff, t, false)
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

/// A `stack_t`: `{ss_sp=0x7f..., ss_flags=0, ss_size=8192}`.
fn stack_at(addr: u64, ctx: &Ctx) -> String {
    match read_pod::<[u64; 3]>(addr, ctx) {
        Some([sp, fl, size]) => format!(
            "{{ss_sp={}, ss_flags={}, ss_size={size}}}",
            ptr(sp),
            flags(
                fl & 0xffff_ffff,
                &[
                    (1, "SS_ONSTACK"),
                    (2, "SS_DISABLE"),
                    (1 << 31, "SS_AUTODISARM")
                ],
                "0"
            )
        ),
        None => ptr(addr),
    }
}

/// A CPU set of `len` bytes: the numbers of the CPUs in it, `[0 1]`.
fn cpuset_at(addr: u64, len: usize, ctx: &Ctx) -> String {
    let Some(b) = ctx.mem.read(addr, len) else {
        return ptr(addr);
    };
    let cpus: Vec<String> = (0..len * 8)
        .filter(|&i| b[i / 8] & (1 << (i % 8)) != 0)
        .map(|i| i.to_string())
        .collect();
    format!("[{}]", cpus.join(" "))
}

/// Control messages of a msghdr: `[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[0]}]`.
fn cmsgs_at(addr: u64, len: u64, ctx: &Ctx) -> String {
    let Some(b) = ctx.mem.read(addr, len.min(4096) as usize) else {
        return ptr(addr);
    };
    let mut items = Vec::new();
    let mut off = 0usize;
    while off + 16 <= b.len() {
        let clen = u64::from_ne_bytes(b[off..off + 8].try_into().unwrap_or([0; 8])) as usize;
        let level = i32::from_ne_bytes(b[off + 8..off + 12].try_into().unwrap_or([0; 4]));
        let kind = i32::from_ne_bytes(b[off + 12..off + 16].try_into().unwrap_or([0; 4]));
        if clen < 16 {
            break;
        }
        let data = &b[off + 16..(off + clen).min(b.len())];
        let word = |i: usize| u32::from_ne_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let (level_s, kind_s, data_s) = match (level, kind) {
            (1, 1) => {
                let fds: Vec<String> = (0..data.len() / 4)
                    .map(|i| fd(word(i * 4) as i32 as i64, ctx))
                    .collect();
                (
                    "SOL_SOCKET".to_string(),
                    "SCM_RIGHTS".to_string(),
                    format!("[{}]", fds.join(", ")),
                )
            }
            (1, 2) if data.len() >= 12 => (
                "SOL_SOCKET".to_string(),
                "SCM_CREDENTIALS".to_string(),
                format!("{{pid={}, uid={}, gid={}}}", word(0), word(4), word(8)),
            ),
            (1, t) => (
                "SOL_SOCKET".to_string(),
                format!("{t:#x}"),
                escape_bytes(data, false),
            ),
            (l, t) => (l.to_string(), format!("{t:#x}"), escape_bytes(data, false)),
        };
        items.push(format!(
            "{{cmsg_len={clen}, cmsg_level={level_s}, cmsg_type={kind_s}, cmsg_data={data_s}}}"
        ));
        off += (clen + 7) & !7;
    }
    format!("[{}]", items.join(", "))
}

/// A `struct msghdr` (LP64 layout). For recvmsg, `namelen_before` is msg_namelen at entry (strace prints
/// `msg_namelen=110 => 16` when the kernel changed it) and `data_len` the bytes received.
fn msghdr_at(addr: u64, namelen_before: Option<u32>, data_len: Option<u64>, ctx: &Ctx) -> String {
    let Some(b) = ctx.mem.read(addr, 56).filter(|b| b.len() == 56) else {
        return ptr(addr);
    };
    let q = |i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    let (name, iov, iovlen, control, controllen) = (q(0), q(16), q(24), q(32), q(40));
    let namelen = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
    let msg_flags = u32::from_ne_bytes([b[48], b[49], b[50], b[51]]) as u64;
    let name_s = if name == 0 {
        "NULL".to_string()
    } else if namelen == 0 {
        ptr(name)
    } else {
        sockaddr_at(name, namelen as u64, ctx)
    };
    let namelen_s = match namelen_before {
        Some(before) if before != u32::MAX && before != namelen => format!("{before} => {namelen}"),
        _ => namelen.to_string(),
    };
    let mut out = format!(
        "{{msg_name={name_s}, msg_namelen={namelen_s}, msg_iov={}, msg_iovlen={iovlen}",
        iovec_at(iov, iovlen, data_len, ctx)
    );
    if controllen != 0 {
        out.push_str(&format!(
            ", msg_control={}",
            cmsgs_at(control, controllen, ctx)
        ));
    }
    out.push_str(&format!(
        ", msg_controllen={controllen}, msg_flags={}}}",
        flags(msg_flags, MSG_FLAGS, "0")
    ));
    out
}

/// The kernel's `struct termios` as strace abbreviates it.
fn termios_at(addr: u64, ctx: &Ctx) -> String {
    let Some([iflag, oflag, cflag, lflag]) = read_pod::<[u32; 4]>(addr, ctx) else {
        return ptr(addr);
    };
    let (iflag, oflag, cflag, lflag) = (iflag as u64, oflag as u64, cflag as u64, lflag as u64);
    // Output delays: each field is printed by value (NL0, CR2...), then the plain flags.
    let mut o = String::new();
    for (mask, shift, names) in [
        (0o400u64, 8, &["NL0", "NL1"][..]),
        (0o3000, 9, &["CR0", "CR1", "CR2", "CR3"][..]),
        (0o14000, 11, &["TAB0", "TAB1", "TAB2", "TAB3"][..]),
        (0o20000, 13, &["BS0", "BS1"][..]),
        (0o40000, 14, &["VT0", "VT1"][..]),
        (0o100000, 15, &["FF0", "FF1"][..]),
    ] {
        push_sep(&mut o, names[((oflag & mask) >> shift) as usize]);
    }
    let rest = oflag & !0o177400;
    if rest != 0 {
        push_sep(&mut o, &flags(rest, TC_OFLAG, "0"));
    }
    let mut c = enum_name(cflag & 0o10017, BAUD, true);
    push_sep(
        &mut c,
        ["CS5", "CS6", "CS7", "CS8"][((cflag & 0o60) >> 4) as usize],
    );
    let ibaud = (cflag >> 16) & 0o10017;
    if ibaud != 0 {
        push_sep(
            &mut c,
            &format!("{}<<IBSHIFT", enum_name(ibaud, BAUD, true)),
        );
    }
    let rest = cflag & !(0o10017 | 0o60 | (0o10017 << 16));
    if rest != 0 {
        push_sep(&mut c, &flags(rest, TC_CFLAG, "0"));
    }
    format!(
        "{{c_iflag={}, c_oflag={o}, c_cflag={c}, c_lflag={}, ...}}",
        flags(iflag, TC_IFLAG, "0"),
        flags(lflag, TC_LFLAG, "0")
    )
}

/// An ioctl request: its name when known, else strace's `_IOC(dir, type, nr, size)` breakdown.
fn ioctl_request(req: u64) -> String {
    if let Some(n) = IOCTL_REQ.iter().find(|e| e.0 == req) {
        return n.1.to_string();
    }
    let dir = match req >> 30 {
        0 => "_IOC_NONE",
        1 => "_IOC_WRITE",
        2 => "_IOC_READ",
        _ => "_IOC_READ|_IOC_WRITE",
    };
    let hex = |v: u64| {
        if v == 0 {
            "0".to_string()
        } else {
            format!("{v:#x}")
        }
    };
    format!(
        "_IOC({dir}, {}, {}, {})",
        hex((req >> 8) & 0xff),
        hex(req & 0xff),
        hex((req >> 16) & 0x3fff)
    )
}

/// ioctl's third argument for the requests strace decodes; the bare pointer otherwise.
fn ioctl_arg(req: u64, v: u64, failed: bool, ctx: &Ctx) -> String {
    if failed || v == 0 {
        return ptr(v);
    }
    match req {
        // TCGETS and the TCSETS family share the struct.
        0x5401..=0x5404 => termios_at(v, ctx),
        // TIOCGWINSZ, TIOCSWINSZ.
        0x5413 | 0x5414 => match read_pod::<[u16; 4]>(v, ctx) {
            Some([r, c, x, y]) => {
                format!("{{ws_row={r}, ws_col={c}, ws_xpixel={x}, ws_ypixel={y}}}")
            }
            None => ptr(v),
        },
        // TIOCGPGRP, TIOCSPGRP, FIONREAD, FIONBIO, FIOASYNC: an int.
        0x540f | 0x5410 | 0x541b | 0x5421 | 0x5452 => match read_u32(v, ctx) {
            Some(x) => format!("[{}]", x as i32),
            None => ptr(v),
        },
        _ => ptr(v),
    }
}

/// The 64-bit kernel `struct statfs`: eleven words (f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files,
/// f_ffree, f_fsid as two ints, f_namelen, f_frsize, f_flags).
fn statfs_at(addr: u64, ctx: &Ctx) -> String {
    let Some(w) = read_pod::<[u64; 11]>(addr, ctx) else {
        return ptr(addr);
    };
    let hex = |v: u32| {
        if v == 0 {
            "0".to_string()
        } else {
            format!("{v:#x}")
        }
    };
    format!(
        "{{f_type={}, f_bsize={}, f_blocks={}, f_bfree={}, f_bavail={}, f_files={}, f_ffree={}, \
         f_fsid={{val=[{}, {}]}}, f_namelen={}, f_frsize={}, f_flags={}}}",
        enum_name(w[0], FS_MAGIC, true),
        w[1],
        w[2],
        w[3],
        w[4],
        w[5],
        w[6],
        hex(w[7] as u32),
        hex((w[7] >> 32) as u32),
        w[8],
        w[9],
        flags(w[10], ST_FLAGS, "0")
    )
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
        Arg::SiginfoOut if !failed && v != 0 => match read_pod::<libc::siginfo_t>(v, ctx) {
            Some(info) if info.si_signo == 0 => "{}".to_string(),
            Some(info) => siginfo(&info),
            None => ptr(v),
        },
        Arg::MsghdrOut if !failed => msghdr_at(v, Some(saved as u32), Some(ret as u64), ctx),
        Arg::SysinfoOut if !failed => match read_pod::<libc::sysinfo>(v, ctx) {
            Some(si) => format!(
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

/// CPU time in clock ticks, with strace's seconds comment when non-zero: `1 /* 0.01 s */`.
fn clock_ticks(ticks: i64) -> String {
    // SAFETY: sysconf has no preconditions.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n,
        _ => 100,
    };
    if ticks == 0 {
        return "0".to_string();
    }
    let hundredths = ticks * 100 / hz;
    format!(
        "{ticks} /* {}.{:02} s */",
        hundredths / 100,
        hundredths % 100
    )
}

/// Renders a siginfo strace-style.
pub(crate) fn siginfo(info: &libc::siginfo_t) -> String {
    let signo = info.si_signo;
    let code = info.si_code;
    let mut out = format!("{{si_signo={}, si_code=", signal_name(signo));
    let sender_codes: &[(i32, &str)] = &[
        (0, "SI_USER"),
        (0x80, "SI_KERNEL"),
        (-1, "SI_QUEUE"),
        (-2, "SI_TIMER"),
        (-3, "SI_MESGQ"),
        (-4, "SI_ASYNCIO"),
        (-5, "SI_SIGIO"),
        (-6, "SI_TKILL"),
    ];
    let specific: &[(i32, &str)] = match signo {
        libc::SIGCHLD => &[
            (1, "CLD_EXITED"),
            (2, "CLD_KILLED"),
            (3, "CLD_DUMPED"),
            (4, "CLD_TRAPPED"),
            (5, "CLD_STOPPED"),
            (6, "CLD_CONTINUED"),
        ],
        libc::SIGSEGV => &[
            (1, "SEGV_MAPERR"),
            (2, "SEGV_ACCERR"),
            (3, "SEGV_BNDERR"),
            (4, "SEGV_PKUERR"),
        ],
        libc::SIGBUS => &[(1, "BUS_ADRALN"), (2, "BUS_ADRERR"), (3, "BUS_OBJERR")],
        libc::SIGILL => &[
            (1, "ILL_ILLOPC"),
            (2, "ILL_ILLOPN"),
            (3, "ILL_ILLADR"),
            (4, "ILL_ILLTRP"),
        ],
        libc::SIGFPE => &[(1, "FPE_INTDIV"), (2, "FPE_INTOVF"), (3, "FPE_FLTDIV")],
        libc::SIGTRAP => &[(1, "TRAP_BRKPT"), (2, "TRAP_TRACE")],
        libc::SIGSYS => &[(1, "SYS_SECCOMP")],
        _ => &[],
    };
    let code_name = if code > 0 && code < 0x80 {
        specific.iter().find(|c| c.0 == code)
    } else {
        None
    }
    .or_else(|| sender_codes.iter().find(|c| c.0 == code));
    match code_name {
        Some(c) => out.push_str(c.1),
        None => out.push_str(&code.to_string()),
    }
    // SAFETY: the union fields read below are the ones the kernel fills for this (signo, si_code) pair, as
    // documented in sigaction(2); libc exposes them through accessor methods that read the union.
    unsafe {
        if signo == libc::SIGCHLD && code > 0 {
            let status = info.si_status();
            let status = if code == 1 {
                status.to_string()
            } else {
                signal_name(status)
            };
            out.push_str(&format!(
                ", si_pid={}, si_uid={}, si_status={status}, si_utime={}, si_stime={}",
                info.si_pid(),
                info.si_uid(),
                clock_ticks(info.si_utime()),
                clock_ticks(info.si_stime())
            ));
        } else if code <= 0 {
            out.push_str(&format!(
                ", si_pid={}, si_uid={}",
                info.si_pid(),
                info.si_uid()
            ));
            if code == -1 || code == -2 {
                out.push_str(&format!(
                    ", si_value={{int={}, ptr={}}}",
                    info.si_value().sival_ptr as usize as i32,
                    ptr(info.si_value().sival_ptr as u64)
                ));
            }
        } else if matches!(
            signo,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
        ) {
            out.push_str(&format!(", si_addr={}", ptr(info.si_addr() as u64)));
        }
    }
    out.push('}');
    out
}
