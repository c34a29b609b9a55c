//! Processes and memory: wait statuses, clone flags and `struct clone_args`, futex operations,
//! timespecs, resource limits, uname, CPU sets, mmap flags and protections.

use super::*;

pub(super) fn map_flags(v: u64) -> String {
    composite(v, || map_flags_names(v))
}

fn map_flags_names(v: u64) -> String {
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

pub(super) fn prot(v: u64) -> String {
    flags(v, PROT, "PROT_NONE")
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

pub(super) fn timespec_at(addr: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    match read_pod::<[i64; 2]>(addr, ctx) {
        Some([sec, nsec]) => format!("{{tv_sec={sec}, tv_nsec={nsec}}}"),
        None => format!("{addr:#x}"),
    }
}

pub(super) fn rlim_value(v: u64) -> String {
    composite_raw(v.to_string(), || rlim_value_names(v))
}

fn rlim_value_names(v: u64) -> String {
    if v == u64::MAX {
        "RLIM64_INFINITY".to_string()
    } else if v > 0 && v % 1024 == 0 {
        format!("{}*1024", v / 1024)
    } else {
        v.to_string()
    }
}

pub(super) fn rlimit_at(addr: u64, ctx: &Ctx) -> String {
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

pub(super) fn uname_at(addr: u64, ctx: &Ctx) -> String {
    let Some(CUtsname(u)) = read_pod::<CUtsname>(addr, ctx) else {
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

pub(super) fn futex_op(v: u64) -> String {
    composite(v, || futex_op_names(v))
}

fn futex_op_names(v: u64) -> String {
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

pub(super) fn clone_flags(v: u64) -> String {
    composite(v, || clone_flags_names(v))
}

fn clone_flags_names(v: u64) -> String {
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
pub(super) const CLONE_TLS: usize = 3;

#[cfg(target_arch = "aarch64")]
pub(super) const CLONE_CTID: usize = 4;

#[cfg(not(target_arch = "aarch64"))]
pub(super) const CLONE_TLS: usize = 4;

#[cfg(not(target_arch = "aarch64"))]
pub(super) const CLONE_CTID: usize = 3;

pub(super) const CLONE_PARENT_SETTID: u64 = 0x100000;

pub(super) const CLONE_CHILD_SETTID: u64 = 0x1000000;

pub(super) const CLONE_CHILD_CLEARTID: u64 = 0x200000;

pub(super) const CLONE_SETTLS: u64 = 0x80000;

pub(super) const CLONE_PIDFD: u64 = 0x1000;

/// clone3's `struct clone_args`, as far as strace prints it.
pub(super) fn clone_args_at(addr: u64, size: u64, ctx: &Ctx) -> String {
    let size = (size as usize).clamp(0, 88);
    let Some(b) = ctx.mem.read(addr, size).filter(|b| b.len() >= 64) else {
        return ptr(addr);
    };
    let f = |i: usize| pod_at::<u64>(&b, i * 8).unwrap_or(0);
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

/// A CPU set of `len` bytes: the numbers of the CPUs in it, `[0 1]`.
pub(super) fn cpuset_at(addr: u64, len: usize, ctx: &Ctx) -> String {
    let Some(b) = ctx.mem.read(addr, len) else {
        return ptr(addr);
    };
    let cpus: Vec<String> = (0..len * 8)
        .filter(|&i| b[i / 8] & (1 << (i % 8)) != 0)
        .map(|i| i.to_string())
        .collect();
    format!("[{}]", cpus.join(" "))
}

/// An array of `n` group ids: `[0, 4, 27]`, at most `-s` of them.
pub(super) fn gids_at(addr: u64, n: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let shown = n.min(ctx.opts.strsize as u64);
    let mut items = Vec::new();
    for i in 0..shown {
        match read_u32(addr + i * 4, ctx) {
            Some(g) => items.push(g.to_string()),
            None if i == 0 => return ptr(addr),
            None => break,
        }
    }
    if n > shown {
        items.push("...".into());
    }
    format!("[{}]", items.join(", "))
}

/// prctl(2) options strace names.
const PRCTL_OPTIONS: &[(u64, &str)] = &[
    (1, "PR_SET_PDEATHSIG"),
    (2, "PR_GET_PDEATHSIG"),
    (3, "PR_GET_DUMPABLE"),
    (4, "PR_SET_DUMPABLE"),
    (7, "PR_GET_KEEPCAPS"),
    (8, "PR_SET_KEEPCAPS"),
    (15, "PR_SET_NAME"),
    (16, "PR_GET_NAME"),
    (21, "PR_GET_SECCOMP"),
    (22, "PR_SET_SECCOMP"),
    (23, "PR_CAPBSET_READ"),
    (24, "PR_CAPBSET_DROP"),
    (29, "PR_SET_TIMERSLACK"),
    (30, "PR_GET_TIMERSLACK"),
    (36, "PR_SET_CHILD_SUBREAPER"),
    (37, "PR_GET_CHILD_SUBREAPER"),
    (38, "PR_SET_NO_NEW_PRIVS"),
    (39, "PR_GET_NO_NEW_PRIVS"),
    (41, "PR_SET_THP_DISABLE"),
    (42, "PR_GET_THP_DISABLE"),
    (0x59616d61, "PR_SET_PTRACER"),
    (0x5356_4d41, "PR_SET_VMA"),
];

/// Capability numbers, as `capability(7)` names them.
const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// prctl(2)'s option.
pub(super) fn prctl_option(v: u64) -> String {
    enum_name(v & 0xffff_ffff, PRCTL_OPTIONS, false)
}

/// Argument `i` (1 to 4) of prctl(2) as strace prints it for the option in `args[0]`; empty
/// when the option takes fewer arguments.
pub(super) fn prctl_arg(i: usize, ctx: &Ctx) -> String {
    let v = ctx.args[i];
    match (ctx.args[0] & 0xffff_ffff, i) {
        // No argument.
        (2 | 3 | 7 | 21 | 30 | 39 | 42, _) => String::new(),
        (1, 1) => match v as i32 {
            0 => "0".to_string(),
            s => signal_name(s),
        },
        (4, 1) => enum_name(
            v,
            &[
                (0, "SUID_DUMP_DISABLE"),
                (1, "SUID_DUMP_USER"),
                (2, "SUID_DUMP_ROOT"),
            ],
            false,
        ),
        (23 | 24, 1) => match CAPABILITIES.get(v as usize) {
            Some(name) => xlat(v.to_string(), Some(name.to_string())),
            None => format!("{v:#x} /* CAP_??? */"),
        },
        (8 | 29 | 36 | 41, 1) => v.to_string(),
        (15, 1) => cstr(v, 16, ctx),
        (16 | 37, 1) => ptr(v),
        (1 | 4 | 8 | 15 | 16 | 23 | 24 | 29 | 36 | 37 | 41, _) => String::new(),
        (38, _) => v.to_string(),
        _ if v == 0 => "0".to_string(),
        _ => format!("{v:#x}"),
    }
}
