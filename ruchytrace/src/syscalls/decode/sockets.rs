//! `-yy`: socket endpoints as strace prints them, from the tables in `/proc/PID/net/`.
//!
//! `TCP:[127.0.0.1:46843]` (listening or unconnected), `TCP:[127.0.0.1:57862->127.0.0.1:46843]`,
//! `UDPv6:[[::1]:53512]`, `UNIX-STREAM:[58349,"/tmp/yy.sock"]`. strace learns a UNIX socket's
//! peer (`UNIX-STREAM:[58348->58352]`) over `NETLINK_SOCK_DIAG`; `/proc/net/unix` has no peer
//! column, so ours shows the socket's own inode (and bound path) only.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The tables tried in order, with strace's protocol label.
pub(crate) const TABLES: &[(&str, &str)] = &[
    ("tcp", "TCP"),
    ("tcp6", "TCPv6"),
    ("udp", "UDP"),
    ("udp6", "UDPv6"),
    ("unix", "UNIX"),
];

/// The inode of a `socket:[INODE]` link target.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Finds socket `inode` in the text of `/proc/PID/net/TABLE` and renders it (`TCP:[...]`).
pub fn endpoint_in_table(table: &str, label: &str, text: &str, inode: u64) -> Option<String> {
    if table == "unix" {
        return unix_endpoint(text, inode);
    }
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 10 || cols[9].parse::<u64>().ok() != Some(inode) {
            continue;
        }
        let local = inet_endpoint(cols[1])?;
        let remote = inet_endpoint(cols[2])?;
        // A remote of port 0 is an unconnected (or listening) socket: strace prints only the
        // local side.
        return Some(if cols[2].ends_with(":0000") {
            format!("{label}:[{local}]")
        } else {
            format!("{label}:[{local}->{remote}]")
        });
    }
    None
}

/// `0100007F:B6FB` -> `127.0.0.1:46843`; the 32-digit IPv6 form -> `[::1]:53512`.
fn inet_endpoint(col: &str) -> Option<String> {
    let (addr, port) = col.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints each 32-bit word of the address in host byte order.
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    match addr.len() {
        8 => Some(format!("{}:{port}", Ipv4Addr::from(word(0)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(format!("[{}]:{port}", Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// A line of `/proc/net/unix`: `Num RefCount Protocol Flags Type St Inode [Path]`.
fn unix_endpoint(text: &str, inode: u64) -> Option<String> {
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 7 || cols[6].parse::<u64>().ok() != Some(inode) {
            continue;
        }
        let kind = match u32::from_str_radix(cols[4], 16).ok()? {
            1 => "UNIX-STREAM",
            2 => "UNIX-DGRAM",
            5 => "UNIX-SEQPACKET",
            _ => "UNIX",
        };
        return Some(match cols.get(7) {
            Some(path) => format!("{kind}:[{inode},\"{path}\"]"),
            None => format!("{kind}:[{inode}]"),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_udp_and_unix_lines() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:B6FB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 58343 1 0 100 0 0 10 0\n\
   1: 0100007F:E206 0100007F:B6FB 01 00000000:00000000 00:00000000 00000000     0        0 58344 1 0 20 4 30 10 -1\n";
        assert_eq!(
            endpoint_in_table("tcp", "TCP", tcp, 58343).as_deref(),
            Some("TCP:[127.0.0.1:46843]")
        );
        assert_eq!(
            endpoint_in_table("tcp", "TCP", tcp, 58344).as_deref(),
            Some("TCP:[127.0.0.1:57862->127.0.0.1:46843]")
        );
        assert_eq!(endpoint_in_table("tcp", "TCP", tcp, 1), None);
        let udp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  612: 00000000000000000000000001000000:D108 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 58360 2 0 0\n";
        assert_eq!(
            endpoint_in_table("udp6", "UDPv6", udp6, 58360).as_deref(),
            Some("UDPv6:[[::1]:53512]")
        );
        let unix = "Num       RefCount Protocol Flags    Type St Inode Path\n\
0000000000000000: 00000002 00000000 00010000 0001 01 58349 /tmp/yy.sock\n\
0000000000000000: 00000003 00000000 00000000 0001 03 58348\n";
        assert_eq!(
            endpoint_in_table("unix", "UNIX", unix, 58349).as_deref(),
            Some("UNIX-STREAM:[58349,\"/tmp/yy.sock\"]")
        );
        assert_eq!(
            endpoint_in_table("unix", "UNIX", unix, 58348).as_deref(),
            Some("UNIX-STREAM:[58348]")
        );
        assert_eq!(socket_inode("socket:[58348]"), Some(58348));
        assert_eq!(socket_inode("/etc/passwd"), None);
    }
}
