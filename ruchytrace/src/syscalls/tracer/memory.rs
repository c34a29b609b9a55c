//! The tracee's memory and `/proc` entries as the decoders see them ([`TraceeMemory`]).

use crate::syscalls::decode::{sockets, TraceeMemory};
use crate::syscalls::sys;

/// Reads the memory and `/proc/TID/...` of one stopped thread.
pub(super) struct Memory {
    pub(super) tid: i32,
}

impl TraceeMemory for Memory {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        sys::read_memory(self.tid, addr, len)
    }

    fn read_cstr(&self, addr: u64, max: usize) -> Option<(Vec<u8>, bool)> {
        // Read page by page so a string ending just before an unmapped page is still found.
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let to_page_end = 4096 - (at % 4096) as usize;
            let want = to_page_end.min(max + 1 - out.len());
            let chunk = sys::read_memory(self.tid, at, want)?;
            if chunk.is_empty() {
                return if out.is_empty() {
                    None
                } else {
                    Some((out, true))
                };
            }
            if let Some(nul) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                let truncated = out.len() > max;
                out.truncate(max);
                return Some((out, truncated));
            }
            out.extend_from_slice(&chunk);
            if out.len() > max {
                out.truncate(max);
                return Some((out, true));
            }
            at += chunk.len() as u64;
        }
    }

    fn fd_path(&self, fd: i64) -> Option<String> {
        // AT_FDCWD: the working directory, which strace shows as `AT_FDCWD</dir>` under -y.
        let link = if fd == -100 {
            format!("/proc/{}/cwd", self.tid)
        } else {
            format!("/proc/{}/fd/{fd}", self.tid)
        };
        std::fs::read_link(link)
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }

    fn socket_endpoint(&self, fd: i64, inode: u64) -> Option<String> {
        // The tables of the tracee's network namespace list listening and connected sockets.
        let found = sockets::TABLES.iter().find_map(|(table, label)| {
            let text = std::fs::read_to_string(format!("/proc/{}/net/{table}", self.tid)).ok()?;
            sockets::endpoint_in_table(table, label, &text, inode)
        });
        if found.is_some() {
            return found;
        }
        // Bound but not listening (e.g. at listen's entry): its local address; not even bound:
        // the protocol and inode, as strace prints them.
        let proto = sys::socket_protocol(self.tid, fd)?;
        if proto.starts_with("TCP") || proto.starts_with("UDP") {
            if let Some(addr) = sys::socket_local_addr(self.tid, fd).filter(|a| a.port() != 0) {
                return Some(format!("{proto}:[{addr}]"));
            }
        }
        Some(format!("{proto}:[{inode}]"))
    }
}
