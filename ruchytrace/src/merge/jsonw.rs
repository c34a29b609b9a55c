//! Small helpers that write JSON text straight into a `String`, byte for byte as `serde_json`
//! writes the same values (its string escapes, its integer and float forms), for the writers
//! that produce one record per event (OTLP spans, merged JSON nodes): building a
//! `serde_json::Value` per event and serializing it costs several allocations and a map per
//! object.

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it (`\"`, `\\`, `\b`, `\t`,
/// `\n`, `\f`, `\r`, other control characters as `\u00XX` with lowercase hex).
pub(crate) fn str(out: &mut String, s: &str) {
    out.push('"');
    str_contents(out, s);
    out.push('"');
}

/// Appends the escaped contents of a JSON string (without its quotes), as [`str`].
pub(crate) fn str_contents(out: &mut String, s: &str) {
    escape_into(out, s, true);
}

/// Appends the escaped contents of `s`: `\"`, `\\`, `\t`, `\n`, `\r`, with `short_bf` also
/// `\b` and `\f`, every other control character as `\u00xx` — copied in runs between the
/// bytes that need an escape.
fn escape_into(out: &mut String, s: &str, short_bf: bool) {
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\n' => "\\n",
            b'\r' => "\\r",
            0x08 if short_bf => "\\b",
            0x0c if short_bf => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // Every escaped byte is ASCII, so `start..i` lies on character boundaries.
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends `v` as 16 lowercase hex digits.
pub(crate) fn hex16(out: &mut String, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..16).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xf) as usize] as char);
    }
}

/// Appends `s` as a JSON string escaped as the runtime's `value_json::write_json_str` escapes it
/// (`\"`, `\\`, `\n`, `\r`, `\t`, other control characters as `\u00xx`): the same bytes,
/// copied in runs instead of a character at a time.
pub(crate) fn rt_str(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s, false);
    out.push('"');
}

/// Appends an unsigned integer in decimal.
pub(crate) fn u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends a signed integer in decimal.
pub(crate) fn i64(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends a signed 128-bit integer in decimal.
pub(crate) fn i128(out: &mut String, v: i128) {
    out.push_str(itoa::Buffer::new().format(v));
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let samples = [
            "",
            "plain",
            "quote \" and \\ backslash",
            "controls \u{0} \u{1f} \u{8} \u{c} \t\n\r end",
            "unicode é ✓ \u{7f}",
        ];
        for s in samples {
            let mut out = String::new();
            super::str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
        for s in samples {
            let (mut fast, mut slow) = (String::new(), String::new());
            super::rt_str(&mut fast, s);
            ruchytrace_runtime::format::value_json::write_json_str(&mut slow, s);
            assert_eq!(fast, slow, "{s:?}");
        }
        let mut out = String::new();
        super::i64(&mut out, i64::MIN);
        super::u64(&mut out, u64::MAX);
        super::i128(&mut out, -5);
        assert_eq!(out, format!("{}{}-5", i64::MIN, u64::MAX));
        let mut out = String::new();
        super::hex16(&mut out, 0xab_cdef);
        assert_eq!(out, format!("{:016x}", 0xab_cdef));
    }
}
