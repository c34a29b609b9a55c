//! Network: socket addresses, socket types and protocols, poll sets, `struct msghdr` and its control
//! messages.

use super::*;

/// A socket address of `len` bytes.
pub(crate) fn sockaddr(bytes: &[u8]) -> String {
    if bytes.len() < 2 {
        return "{}".to_string();
    }
    let family = pod_at::<u16>(bytes, 0).unwrap_or(0);
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
                pod_at::<u32>(bytes, 24).unwrap_or(0)
            } else {
                0
            };
            format!(
                "{{sa_family={fam}, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), \
                 inet_pton({fam}, \"{addr}\", &sin6_addr), sin6_scope_id={scope}}}"
            )
        }
        16 if bytes.len() >= 12 => {
            let pid = pod_at::<u32>(bytes, 4).unwrap_or(0);
            let groups = pod_at::<u32>(bytes, 8).unwrap_or(0);
            format!("{{sa_family={fam}, nl_pid={pid}, nl_groups={groups:08x}}}")
        }
        _ => format!(
            "{{sa_family={fam}, sa_data={}}}",
            escape_bytes(&bytes[2..], false)
        ),
    }
}

pub(super) fn sockaddr_at(addr: u64, len: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let len = (len as usize).min(128);
    match ctx.mem.read(addr, len) {
        Some(b) => sockaddr(&b),
        None => format!("{addr:#x}"),
    }
}

pub(super) fn socket_type(v: u64) -> String {
    composite(v, || socket_type_names(v))
}

fn socket_type_names(v: u64) -> String {
    let mut out = enum_name(v & 0xf, SOCK_TYPE, true);
    let rest = v & !0xf;
    if rest != 0 {
        push_sep(&mut out, &flags(rest, SOCK_FLAGS, "0"));
    }
    out
}

pub(super) fn socket_proto(family: u64, proto: u64) -> String {
    if family == 16 {
        let names: &[(u64, &str)] = &[
            (0, "NETLINK_ROUTE"),
            (4, "NETLINK_SOCK_DIAG"),
            (9, "NETLINK_AUDIT"),
            (15, "NETLINK_KOBJECT_UEVENT"),
            (16, "NETLINK_GENERIC"),
        ];
        return enum_name(proto, names, false);
    }
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

pub(super) fn pollfds_at(addr: u64, count: u64, ctx: &Ctx) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    let mut items = Vec::new();
    let shown = count.min(ctx.opts.strsize as u64);
    for i in 0..shown {
        let Some([f, events]) = read_pod::<[i32; 2]>(addr + i * 8, ctx) else {
            return format!("{addr:#x}");
        };
        let ev = flags(events as u16 as u64, POLL_EVENTS, "0");
        items.push(format!("{{fd={}, events={ev}}}", fd(f as i64, ctx)));
    }
    // strace stops at -s entries, as for every array.
    if count > shown {
        items.push("...".into());
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
            if items.len() >= ctx.opts.strsize {
                items.push("...".to_string());
                break;
            }
            // strace prints the bare fd here, even under -y.
            items.push(format!(
                "{{fd={f}, revents={}}}",
                flags(revents as u64, POLL_EVENTS, "0")
            ));
        }
    }
    Some(format!("[{}]", items.join(", ")))
}

/// Control messages of a msghdr: `[{cmsg_len=20, cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[0]}]`.
pub(super) fn cmsgs_at(addr: u64, len: u64, ctx: &Ctx) -> String {
    let Some(b) = ctx.mem.read(addr, len.min(4096) as usize) else {
        return ptr(addr);
    };
    let mut items = Vec::new();
    let mut off = 0usize;
    while off + 16 <= b.len() {
        // struct cmsghdr: cmsg_len (size_t), cmsg_level (int), cmsg_type (int).
        let clen = pod_at::<u64>(&b, off).unwrap_or(0) as usize;
        let [level, kind] = pod_at::<[i32; 2]>(&b, off + 8).unwrap_or([0; 2]);
        if clen < 16 {
            break;
        }
        let data = &b[off + 16..(off + clen).min(b.len())];
        let word = |i: usize| pod_at::<u32>(data, i).unwrap_or(0);
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
pub(super) fn msghdr_at(
    addr: u64,
    namelen_before: Option<u32>,
    data_len: Option<u64>,
    ctx: &Ctx,
) -> String {
    let Some(b) = ctx.mem.read(addr, 56).filter(|b| b.len() == 56) else {
        return ptr(addr);
    };
    let q = |i: usize| pod_at::<u64>(&b, i).unwrap_or(0);
    let (name, iov, iovlen, control, controllen) = (q(0), q(16), q(24), q(32), q(40));
    let namelen = pod_at::<u32>(&b, 8).unwrap_or(0);
    let msg_flags = pod_at::<u32>(&b, 48).unwrap_or(0) as u64;
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
