//! Reading the stopped tracee's memory: whole pages with `process_vm_readv`, cached for the
//! duration of one unwind (the stack cannot change while the thread is stopped).

/// Word-sized reads of another address space.
pub trait Memory {
    /// The little-endian 8-byte word at `addr`, or `None` when it cannot be read.
    fn read_u64(&mut self, addr: u64) -> Option<u64>;
}

const PAGE: u64 = 4096;
/// Pages kept by one reader: a stack walk touches a few; a corrupt chain cannot grow the cache.
const MAX_PAGES: usize = 64;

/// Reads a process's memory page by page through `process_vm_readv`. The page buffers are
/// reused from one unwind to the next ([`ProcessMemory::reset`]).
pub struct ProcessMemory {
    pid: i32,
    /// `(page address, contents or None when unreadable)`, few enough for a linear search.
    pages: Vec<(u64, Option<Box<[u8; PAGE as usize]>>)>,
    spare: Vec<Box<[u8; PAGE as usize]>>,
}

impl ProcessMemory {
    /// A reader for the address space of `pid` (any thread id of the process works).
    pub fn new(pid: i32) -> ProcessMemory {
        ProcessMemory {
            pid,
            pages: Vec::new(),
            spare: Vec::new(),
        }
    }

    /// Forgets the cached pages (keeping their buffers) and reads `pid` from now on.
    pub fn reset(&mut self, pid: i32) {
        self.pid = pid;
        for (_, p) in self.pages.drain(..) {
            self.spare.extend(p);
        }
    }

    fn page(&mut self, base: u64) -> Option<&[u8; PAGE as usize]> {
        let i = match self.pages.iter().position(|(b, _)| *b == base) {
            Some(i) => i,
            None => {
                if self.pages.len() >= MAX_PAGES {
                    return None;
                }
                let mut buf = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| Box::new([0u8; PAGE as usize]));
                let page = read_page(self.pid, base, &mut buf).then_some(buf);
                self.pages.push((base, page));
                self.pages.len() - 1
            }
        };
        self.pages[i].1.as_deref()
    }
}

fn read_page(pid: i32, base: u64, buf: &mut [u8; PAGE as usize]) -> bool {
    use nix::sys::uio::{process_vm_readv, RemoteIoVec};
    let Ok(base) = usize::try_from(base) else {
        return false;
    };
    let remote = [RemoteIoVec {
        base,
        len: PAGE as usize,
    }];
    let mut local = [std::io::IoSliceMut::new(&mut buf[..])];
    matches!(
        process_vm_readv(nix::unistd::Pid::from_raw(pid), &mut local, &remote),
        Ok(n) if n == PAGE as usize
    )
}

impl Memory for ProcessMemory {
    fn read_u64(&mut self, addr: u64) -> Option<u64> {
        let base = addr & !(PAGE - 1);
        let off = (addr - base) as usize;
        if off + 8 <= PAGE as usize {
            let p = self.page(base)?;
            return Some(u64::from_le_bytes(p[off..off + 8].try_into().ok()?));
        }
        // Straddles two pages.
        let mut bytes = [0u8; 8];
        for (i, b) in bytes.iter_mut().enumerate() {
            let a = addr.checked_add(i as u64)?;
            let base = a & !(PAGE - 1);
            *b = self.page(base)?[(a - base) as usize];
        }
        Some(u64::from_le_bytes(bytes))
    }
}

/// Memory given as a byte slice at a base address (tests, and synthetic stacks).
pub struct SliceMemory<'a> {
    /// Address of `bytes[0]`.
    pub base: u64,
    /// Contents.
    pub bytes: &'a [u8],
}

impl Memory for SliceMemory<'_> {
    fn read_u64(&mut self, addr: u64) -> Option<u64> {
        let off = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        let b = self.bytes.get(off..off.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory_across_a_page_boundary() {
        // A buffer straddling a page boundary, read through the kernel.
        let buf: Vec<u64> = (0..1024u64).map(|i| i * 0x0101_0101).collect();
        let mut mem = ProcessMemory::new(std::process::id() as i32);
        for (i, v) in buf.iter().enumerate() {
            let addr = v as *const u64 as u64;
            assert_eq!(mem.read_u64(addr), Some(*v), "word {i}");
        }
        let unaligned = buf.as_ptr() as u64 + 4;
        let expect = (buf[0] >> 32) | (buf[1] << 32);
        assert_eq!(mem.read_u64(unaligned), Some(expect));
        assert_eq!(mem.read_u64(8), None, "the zero page is unmapped");
        assert_eq!(mem.read_u64(u64::MAX - 3), None, "no wrap-around");
    }

    #[test]
    fn slice_memory_bounds() {
        let bytes = [1u8, 0, 0, 0, 0, 0, 0, 0, 2];
        let mut m = SliceMemory {
            base: 0x1000,
            bytes: &bytes,
        };
        assert_eq!(m.read_u64(0x1000), Some(1));
        assert_eq!(m.read_u64(0x1001), Some(2 << 56));
        assert_eq!(m.read_u64(0x1002), None);
        assert_eq!(m.read_u64(0xfff), None);
    }
}
