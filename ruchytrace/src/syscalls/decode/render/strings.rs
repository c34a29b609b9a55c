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

/// The pointers of a NULL-terminated array (argv, envp) at `addr`, at most `max` of them: read
/// up to a page at a time (one `process_vm_readv` for a typical environment, not one per entry).
/// `None` when the first read fails; the `bool` says whether the terminating NULL was found.
fn ptr_array(addr: u64, max: usize, ctx: &Ctx) -> Option<(Vec<u64>, bool)> {
    let mut out = Vec::new();
    let mut at = addr;
    // After a failed chunk, one pointer at a time (a reader may refuse a range it cannot
    // read entirely).
    let mut small = false;
    while out.len() < max {
        // Up to the end of the page (so a readable array just before an unmapped page is read),
        // at least one pointer, and no more than are still wanted.
        let to_page_end = (4096 - (at % 4096) as usize).max(8);
        let want = if small {
            8
        } else {
            to_page_end.min((max - out.len()) * 8)
        };
        let bytes = match ctx.mem.read(at, want) {
            Some(b) if b.len() >= 8 => b,
            _ if want > 8 => {
                small = true;
                continue;
            }
            _ if out.is_empty() => return None,
            _ => return Some((out, false)),
        };
        for word in bytes.chunks_exact(8) {
            let p = u64::from_ne_bytes(word.try_into().expect("8-byte chunk"));
            if p == 0 {
                return Some((out, true));
            }
            out.push(p);
            if out.len() == max {
                break;
            }
        }
        at += (bytes.len() / 8 * 8) as u64;
    }
    Some((out, false))
}

/// argv of execve: `["ls", "-la"]`, at most `-s` elements, each string cut at `-s`.
pub(super) fn argv_at(addr: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    // Abbreviated (not -v): at most -s elements, as strace; one more pointer tells whether
    // there are more.
    let limit = if ctx.opts.verbose {
        1 << 16
    } else {
        ctx.opts.strsize.saturating_add(1)
    };
    let Some((ptrs, _)) = ptr_array(addr, limit, ctx) else {
        return format!("{addr:#x}");
    };
    let more = !ctx.opts.verbose && ptrs.len() > ctx.opts.strsize;
    let shown = if more { ctx.opts.strsize } else { ptrs.len() };
    let items: Vec<String> = ptrs[..shown]
        .iter()
        .map(|&p| cstr(p, ctx.opts.strsize, ctx))
        .collect();
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
    match ptr_array(addr, 1 << 16, ctx) {
        Some((ptrs, true)) => format!("{addr:#x} /* {} vars */", ptrs.len()),
        _ => format!("{addr:#x}"),
    }
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
