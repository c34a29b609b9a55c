//! File system: modes, open flags, `struct stat`/`statx`/`statfs`, directory entries, and the ioctl
//! requests strace decodes (terminals).

use super::*;

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
    // -X raw prints the whole mode in octal, verbose adds the names.
    composite_raw(format!("0{m:o}"), || st_mode_names(m))
}

fn st_mode_names(m: u32) -> String {
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

pub(super) fn makedev(dev: u64) -> String {
    composite(dev, || makedev_names(dev))
}

fn makedev_names(dev: u64) -> String {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    format!("makedev({major:#x}, {minor:#x})")
}

pub(crate) fn open_flags(v: u64) -> String {
    composite(v, || open_flags_names(v))
}

fn open_flags_names(v: u64) -> String {
    let acc = v & 0o3;
    let mut out = enum_name(acc, OPEN_ACCMODE, true);
    let rest = v & !0o3;
    if rest != 0 {
        push_sep(&mut out, &flags(rest, OPEN_FLAGS, "0"));
    }
    out
}

pub(super) fn stat_at(addr: u64, ctx: &Ctx) -> String {
    let Some(CStat(st)) = read_pod::<CStat>(addr, ctx) else {
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

pub(super) fn statx_at(addr: u64, ctx: &Ctx) -> String {
    let Some(CStatx(stx)) = read_pod::<CStatx>(addr, ctx) else {
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

/// Number of `linux_dirent64` records in a getdents64 buffer of `len` bytes.
pub(super) fn dirents(addr: u64, len: i64, ctx: &Ctx) -> String {
    if len <= 0 {
        return format!("{} /* {} entries */", ptr(addr), 0);
    }
    let Some(b) = ctx.mem.read(addr, len as usize) else {
        return ptr(addr);
    };
    let (mut off, mut n) = (0usize, 0);
    while off + 18 <= b.len() {
        let reclen = pod_at::<u16>(&b, off + 16).unwrap_or(0) as usize;
        if reclen == 0 {
            break;
        }
        n += 1;
        off += reclen;
    }
    format!("{addr:#x} /* {n} entries */")
}

/// The kernel's `struct termios` as strace abbreviates it.
pub(super) fn termios_at(addr: u64, ctx: &Ctx) -> String {
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
pub(super) fn ioctl_request(req: u64) -> String {
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
pub(super) fn ioctl_arg(req: u64, v: u64, failed: bool, ctx: &Ctx) -> String {
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
pub(super) fn statfs_at(addr: u64, ctx: &Ctx) -> String {
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
