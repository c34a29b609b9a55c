//! Signals: signal masks, `struct sigaction`, `stack_t` and siginfo.

use super::*;

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

pub(super) fn sigset_at(addr: u64, size: u64, ctx: &Ctx) -> String {
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
pub(super) fn sigaction_at(addr: u64, ctx: &Ctx) -> String {
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

/// A `stack_t`: `{ss_sp=0x7f..., ss_flags=0, ss_size=8192}`.
pub(super) fn stack_at(addr: u64, ctx: &Ctx) -> String {
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

/// CPU time in clock ticks, with strace's seconds comment when non-zero: `1 /* 0.01 s */`.
pub(super) fn clock_ticks(ticks: i64) -> String {
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
