//! Reading the stopped tracee's memory with `process_vm_readv`, cached for the duration of one
//! unwind (the stack cannot change while the thread is stopped): a window of the stack above the
//! stack pointer in one read (doubled when the walk climbs past it), and other
//! addresses (CFA expressions, frame pointers off the stack) page by page.

/// Word-sized reads of another address space.
pub trait Memory {
    /// The little-endian 8-byte word at `addr`, or `None` when it cannot be read.
    fn read_u64(&mut self, addr: u64) -> Option<u64>;
}

const PAGE: u64 = 4096;
/// Pages kept by one reader: a stack walk touches a few; a corrupt chain cannot grow the cache.
const MAX_PAGES: usize = 64;
/// Bytes of stack read at first: most walks need no second read; a deeper one doubles the window
/// (one more read each time). Two pages: a read costs about 1 µs for 4-8 KiB, 1.7 µs for 16 KiB
/// and 7 µs for 64 KiB, and a read is made at every stop.
const WINDOW: usize = 8 << 10;
/// Largest stack window: beyond it, reads go page by page (bounded by `MAX_PAGES`).
const MAX_WINDOW: usize = 256 << 10;

/// Reads a process's memory through `process_vm_readv`: the stack as one window from the stack
/// pointer up, other addresses page by page. The buffers are reused from one unwind to the next
/// ([`ProcessMemory::reset`]).
pub struct ProcessMemory {
    pid: i32,
    /// Start of the stack window (page-aligned), when the stack pointer is known.
    window_base: Option<u64>,
    /// The window's buffer (kept between unwinds, never cleared: only bytes read are used).
    window: Vec<u8>,
    /// Bytes of the window requested so far; `window_len` of them are valid.
    window_req: usize,
    window_len: usize,
    /// The window cannot grow further (a read came back short: the end of the stack mapping).
    window_done: bool,
    /// `(page address, contents or None when unreadable)`, few enough for a linear search.
    pages: Vec<(u64, Option<Box<[u8; PAGE as usize]>>)>,
    spare: Vec<Box<[u8; PAGE as usize]>>,
    /// `process_vm_readv` calls made (for tests and cost accounting).
    pub reads: u64,
}

impl ProcessMemory {
    /// A reader for the address space of `pid` (any thread id of the process works).
    pub fn new(pid: i32) -> ProcessMemory {
        ProcessMemory {
            pid,
            window_base: None,
            window: Vec::new(),
            window_req: 0,
            window_len: 0,
            window_done: false,
            pages: Vec::new(),
            spare: Vec::new(),
            reads: 0,
        }
    }

    /// Forgets the cached memory (keeping the buffers) and reads `pid` from now on, with the
    /// stack window starting at the page of `sp`.
    pub fn reset(&mut self, pid: i32, sp: Option<u64>) {
        self.pid = pid;
        self.window_base = sp.map(|sp| sp & !(PAGE - 1));
        self.window_req = 0;
        self.window_len = 0;
        self.window_done = false;
        for (_, p) in self.pages.drain(..) {
            self.spare.extend(p);
        }
    }

    /// The word at `addr` from the stack window, growing it when `addr` lies just past it;
    /// `None` when `addr` is not a window address (below it, too far above it, or past the end
    /// of the stack's mapping): the caller then reads page by page.
    fn window_word(&mut self, addr: u64) -> Option<Option<u64>> {
        let base = self.window_base?;
        let off = usize::try_from(addr.checked_sub(base)?).ok()?;
        let end = off.checked_add(8)?;
        if end > MAX_WINDOW {
            return None;
        }
        while end > self.window_len {
            if self.window_done || self.window_len < self.window_req {
                // Past the end of the stack's mapping: another mapping, read page by page.
                return None;
            }
            let from = self.window_req;
            let to =
                if from == 0 { WINDOW } else { 2 * from }.max(end.next_multiple_of(PAGE as usize));
            let want = to.min(MAX_WINDOW) - from;
            if self.window.len() < from + want {
                self.window.resize(from + want, 0);
            }
            self.window_req = from + want;
            self.reads += 1;
            let got = read_pages(
                self.pid,
                base + from as u64,
                &mut self.window[from..from + want],
            );
            self.window_len = from + got;
            if got < want {
                self.window_done = true;
            }
        }
        let b = &self.window[off..end];
        Some(Some(u64::from_le_bytes(b.try_into().ok()?)))
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
                self.reads += 1;
                let page =
                    (read_pages(self.pid, base, &mut buf[..]) == PAGE as usize).then_some(buf);
                self.pages.push((base, page));
                self.pages.len() - 1
            }
        };
        self.pages[i].1.as_deref()
    }
}

/// Reads `buf.len()` bytes (whole pages) at page-aligned `base` in one `process_vm_readv`;
/// returns how many bytes of the start of `buf` are valid (whole pages: the read stops at the
/// first unreadable one).
fn read_pages(pid: i32, base: u64, buf: &mut [u8]) -> usize {
    use nix::sys::uio::{process_vm_readv, RemoteIoVec};
    const MAX_IOV: usize = (MAX_WINDOW / PAGE as usize) + 1;
    let Ok(base) = usize::try_from(base) else {
        return 0;
    };
    // One remote element per page: the kernel transfers whole elements, so a window that runs
    // into an unmapped page still yields the pages before it.
    let pages = (buf.len() / PAGE as usize).min(MAX_IOV);
    let mut remote = [RemoteIoVec { base: 0, len: 0 }; MAX_IOV];
    for (i, r) in remote.iter_mut().take(pages).enumerate() {
        let Some(b) = base.checked_add(i * PAGE as usize) else {
            return 0;
        };
        *r = RemoteIoVec {
            base: b,
            len: PAGE as usize,
        };
    }
    let mut local = [std::io::IoSliceMut::new(&mut buf[..pages * PAGE as usize])];
    match process_vm_readv(
        nix::unistd::Pid::from_raw(pid),
        &mut local,
        &remote[..pages],
    ) {
        Ok(n) => n - n % PAGE as usize,
        Err(_) => 0,
    }
}

impl Memory for ProcessMemory {
    fn read_u64(&mut self, addr: u64) -> Option<u64> {
        if let Some(word) = self.window_word(addr) {
            return word;
        }
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
    fn stack_window_is_one_read_and_grows_on_demand() {
        // 48 KiB of words: the first window from the buffer's page comes in one read, the rest
        // as the window grows.
        let buf: Vec<u64> = (0..6144u64).map(|i| i ^ 0x5a5a_0000).collect();
        let start = buf.as_ptr() as u64;
        let mut mem = ProcessMemory::new(0);
        mem.reset(std::process::id() as i32, Some(start));
        let first_window = ((start & !(PAGE - 1)) + WINDOW as u64 - start) / 8;
        for (i, v) in buf.iter().enumerate().take(first_window as usize) {
            assert_eq!(mem.read_u64(start + 8 * i as u64), Some(*v), "word {i}");
        }
        assert_eq!(mem.reads, 1, "one read for the whole first window");
        for (i, v) in buf.iter().enumerate() {
            assert_eq!(mem.read_u64(start + 8 * i as u64), Some(*v), "word {i}");
        }
        // The window doubles: one read per doubling until it covers the buffer.
        let span = start - (start & !(PAGE - 1)) + 8 * buf.len() as u64;
        let mut expect = 1;
        let mut covered = WINDOW as u64;
        while covered < span {
            covered *= 2;
            expect += 1;
        }
        assert_eq!(mem.reads, expect, "one read per doubling");
        // Below the window: page by page, still correct.
        assert_eq!(mem.read_u64(8), None, "the zero page is unmapped");
        // Reset reuses the buffers and forgets the contents.
        mem.reset(std::process::id() as i32, Some(start));
        assert_eq!(mem.read_u64(start), Some(buf[0]));
    }

    #[test]
    fn window_stops_at_an_unmapped_page() {
        // One page followed by a hole: the window holds the page, reads past it fail, and
        // nothing is read twice.
        // SAFETY: anonymous private mapping of two pages; the second is unmapped again before
        // use, the first at the end of the test.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * PAGE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let base = p as u64;
        // SAFETY: the second page lies inside the mapping made above.
        unsafe { libc::munmap((base + PAGE) as *mut libc::c_void, PAGE as usize) };
        // SAFETY: the first page is mapped and writable.
        unsafe { *((base + 8) as *mut u64) = 77 };
        let mut mem = ProcessMemory::new(0);
        mem.reset(std::process::id() as i32, Some(base));
        assert_eq!(mem.read_u64(base + 8), Some(77));
        assert_eq!(mem.reads, 1);
        // Past the window: page by page (and an unreadable page is remembered as such).
        assert_eq!(mem.read_u64(base + PAGE), None);
        assert_eq!(mem.read_u64(base + PAGE + 64), None);
        assert_eq!(
            mem.reads, 2,
            "the short read ended the window; one page read after it"
        );
        let own = &mem as *const ProcessMemory as u64;
        assert!(mem.read_u64(own).is_some(), "another mapping reads");
        // SAFETY: unmapping the page mapped above.
        unsafe { libc::munmap(p, PAGE as usize) };
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
