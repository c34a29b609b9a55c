//! Strings and buffers: strace's quoting, NUL-terminated strings, data buffers, execve's argv/envp
//! and iovec arrays.

use super::*;

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

/// Quotes bytes as `-x`/`-xx` ask: `-xx` every string in hex, `-x` the strings that hold a byte
/// other than printable ASCII and `\t\n\v\f\r` (the whole string then, as strace does).
pub fn quote(b: &[u8], truncated: bool, strings_hex: u8) -> String {
    let hex = match strings_hex {
        0 => false,
        1 => b
            .iter()
            .any(|&c| c > 0x7e || (c < 0x20 && !(0x09..=0x0d).contains(&c))),
        _ => true,
    };
    if hex {
        escape_hex(b, truncated)
    } else {
        escape_bytes(b, truncated)
    }
}

/// Quotes bytes with every byte as `\xNN` (strace does this for binary data such as getrandom's buffer).
pub(super) fn escape_hex(b: &[u8], truncated: bool) -> String {
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

/// A NUL-terminated string of at most `max` bytes, quoted; the address when unreadable.
pub(super) fn cstr(addr: u64, max: usize, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    match ctx.mem.read_cstr(addr, max) {
        Some((bytes, truncated)) => quote(&bytes, truncated, ctx.opts.strings_hex),
        None => format!("{addr:#x}"),
    }
}

/// `len` bytes of a buffer, cut at `-s`; the address when unreadable.
pub(super) fn buffer(addr: u64, len: u64, ctx: &Ctx, hex: bool) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let shown = (len as usize).min(ctx.opts.strsize);
    match ctx.mem.read(addr, shown) {
        Some(bytes) if hex => escape_hex(&bytes, (len as usize) > shown),
        Some(bytes) => quote(&bytes, (len as usize) > shown, ctx.opts.strings_hex),
        None => format!("{addr:#x}"),
    }
}

/// argv of execve: `["ls", "-la"]`, at most `-s` elements, each string cut at `-s`.
pub(super) fn argv_at(addr: u64, ctx: &Ctx) -> String {
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
        // Abbreviated (not -v): at most -s elements, as strace.
        if !ctx.opts.verbose && items.len() >= ctx.opts.strsize {
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
pub(super) fn envp_at(addr: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    if ctx.opts.verbose {
        // -v: the environment strings, like argv.
        return argv_at(addr, ctx);
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

pub(super) fn iovec_at(addr: u64, count: u64, data_limit: Option<u64>, ctx: &Ctx) -> String {
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
