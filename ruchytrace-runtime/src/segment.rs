//! The trace file as the recording threads see it: a file header page followed by fixed-size
//! segments, each mapped `MAP_SHARED` into the process and owned by one thread while it writes.
//!
//! All of the runtime's memory-mapping `unsafe` lives here. A thread writes records straight into
//! its segment, in their final encoding; the kernel owns those pages, so they reach the file even
//! when the process is killed a moment later (SIGKILL, abort, a crash). Nothing is copied,
//! decoded or re-encoded inside the traced program.
//!
//! Layout (all integers little-endian; the reader is `format::segmented`):
//!
//! | offset | size | file header (page 0) |
//! | --- | --- | --- |
//! | 0 | 8 | magic `RUCHYTR2` |
//! | 8 | 4 | version (2) |
//! | 12 | 4 | header size (4096) |
//! | 16 | 4 | segment size in bytes (a multiple of the page size) |
//! | 20 | 4 | flags: bit 0 ticks are TSC, bit 1 ring mode (segments are reused) |
//! | 24 | 4 | pid |
//! | 28 | 4 | state: 0 recording, 1 finished (the process exited normally) |
//! | 32 | 8+8 | start anchor: TSC ticks, `CLOCK_MONOTONIC` ns |
//! | 48 | 8+8 | clock pair: `CLOCK_REALTIME` ns, `CLOCK_MONOTONIC` ns |
//! | 64 | 4 | length of the metadata block that follows |
//! | 68 | … | metadata block (see `format::segmented`) |
//!
//! | offset | size | segment header (64 bytes at the start of every segment) |
//! | --- | --- | --- |
//! | 0 | 4 | magic `SEG2`, stored last (a reader skips a segment being set up) |
//! | 4 | 4 | kind: 1 thread records, 2 metadata records (sites, thread names) |
//! | 8 | 4 | pid |
//! | 12 | 4 | tid |
//! | 16 | 4 | sequence number of this segment among its thread's segments |
//! | 20 | 4 | reserved |
//! | 24 | 8+8 | anchor taken when the segment was started: TSC ticks, `CLOCK_MONOTONIC` ns |
//! | 40 | 8 | base ticks: the first record's time delta is relative to this |
//! | 48 | 8 | records of this thread overwritten before this segment (ring mode) |
//! | 56 | 4 | sealed: 1 once the thread moved on to another segment or exited |
//!
//! Records follow the header back to back; the byte after the last record is always 0 (a
//! record's first byte is never 0), and a record's first byte is stored last, with `Release`, so
//! a concurrent or post-mortem reader sees either the whole record or none of it.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Mutex;

/// File magic.
pub const FILE_MAGIC: [u8; 8] = *b"RUCHYTR2";
/// File format version.
pub const FILE_VERSION: u32 = 2;
/// Size of the file header.
pub const FILE_HEADER: usize = 4096;
/// Size of a segment header.
pub const SEG_HEADER: usize = 64;
/// Segment magic.
pub const SEG_MAGIC: u32 = u32::from_le_bytes(*b"SEG2");
/// Segment kind: one thread's records.
pub const SEG_THREAD: u32 = 1;
/// Segment kind: metadata records (sites, thread names) of the whole process.
pub const SEG_META: u32 = 2;
/// File flag: ticks are TSC readings.
pub const FLAG_TSC: u32 = 1;
/// File flag: ring mode.
pub const FLAG_RING: u32 = 2;
/// Offsets inside the file header.
pub mod file_off {
    /// Segment size.
    pub const SEG_SIZE: usize = 16;
    /// Flags.
    pub const FLAGS: usize = 20;
    /// Pid.
    pub const PID: usize = 24;
    /// State word.
    pub const STATE: usize = 28;
    /// Start anchor.
    pub const ANCHOR: usize = 32;
    /// Clock pair.
    pub const CLOCK_PAIR: usize = 48;
    /// Metadata length.
    pub const META_LEN: usize = 64;
    /// Metadata block.
    pub const META: usize = 68;
}
/// Offsets inside a segment header.
pub mod seg_off {
    /// Magic.
    pub const MAGIC: usize = 0;
    /// Kind.
    pub const KIND: usize = 4;
    /// Pid.
    pub const PID: usize = 8;
    /// Tid.
    pub const TID: usize = 12;
    /// Sequence number.
    pub const SEQ: usize = 16;
    /// Anchor.
    pub const ANCHOR: usize = 24;
    /// Base ticks.
    pub const BASE: usize = 40;
    /// Overwritten records.
    pub const EVICTED: usize = 48;
    /// Sealed flag.
    pub const SEALED: usize = 56;
}

/// The header fields of a new segment.
#[derive(Debug, Clone, Copy)]
pub struct SegmentInfo {
    /// [`SEG_THREAD`] or [`SEG_META`].
    pub kind: u32,
    /// Process id.
    pub pid: u32,
    /// Thread id (0 for metadata).
    pub tid: u32,
    /// The thread's segment number.
    pub seq: u32,
    /// Anchor (ticks, ns) taken now.
    pub anchor: (u64, u64),
    /// Records overwritten so far (ring mode).
    pub evicted: u64,
}

/// The file header's contents.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// Segment size (rounded up to the page size by [`TraceFile::create`]).
    pub seg_size: usize,
    /// [`FLAG_TSC`], [`FLAG_RING`].
    pub flags: u32,
    /// Process id.
    pub pid: u32,
    /// (ticks, ns) at start.
    pub anchor: (u64, u64),
    /// (`CLOCK_REALTIME`, `CLOCK_MONOTONIC`) ns.
    pub clock_pair: (u64, u64),
    /// Encoded metadata (program, arguments, settings).
    pub meta: Vec<u8>,
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory effects.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).unwrap_or(4096)
}

/// A shared mapping of part of the trace file (or anonymous memory, for in-memory recording).
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
    /// Offset in the file (0 for anonymous memory).
    offset: u64,
}

// SAFETY: the mapping is plain memory; who writes where is the owner's protocol (one writer per
// segment, readers synchronise through the Release/Acquire record start bytes).
unsafe impl Send for Mapping {}
// SAFETY: see `Send`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `file` at `offset` (`MAP_SHARED`); with `populate`, every page is
    /// faulted in for writing before this returns.
    ///
    /// `MAP_POPULATE` is not enough for that on a shared mapping: the kernel maps its pages
    /// read-only (to notice the first write of each page for writeback), so every page still
    /// takes a write fault — through the file system's `page_mkwrite` — on its first record:
    /// 9–15 µs per page measured on a virtual machine, 40–60 ns per call of a two-integer
    /// function. `MADV_POPULATE_WRITE` (Linux 5.14) takes those faults where the mapping is
    /// made (on the prefault thread, for spares), and a record's first write into a page then
    /// costs what a write to warm memory costs. Older kernels fall back to faults on first
    /// write.
    fn file(file: &File, offset: u64, len: usize, populate: bool) -> io::Result<Mapping> {
        // SAFETY: a fresh mapping of a file we own; the kernel validates the arguments.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        if populate {
            // SAFETY: `p` is the mapping of `len` bytes just made, over blocks reserved by
            // `reserve`; populating only faults its pages in. On failure (an older kernel) the
            // pages fault on first write instead.
            unsafe { libc::madvise(p, len, libc::MADV_POPULATE_WRITE) };
        }
        Ok(Mapping {
            ptr: p.cast(),
            len,
            offset,
        })
    }

    /// Zeroed anonymous memory of `len` bytes (in-memory recording, tests).
    pub fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh private anonymous mapping.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: p.cast(),
            len,
            offset: 0,
        })
    }

    /// Offset of the mapping in its file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Start of the mapping.
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false (mappings are never empty).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `bytes` at `at` (plain stores; bounds-checked).
    pub fn write(&self, at: usize, bytes: &[u8]) {
        assert!(
            at <= self.len && bytes.len() <= self.len - at,
            "write past the mapping"
        );
        // SAFETY: in bounds (checked above); the caller owns this part of the mapping.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(at), bytes.len()) }
    }

    /// Copies `out.len()` bytes from `at` (plain loads; bounds-checked). Only for bytes a
    /// `Release` store published (see [`Mapping::load_u8`]) or that this thread wrote.
    pub fn read(&self, at: usize, out: &mut [u8]) {
        assert!(
            at <= self.len && out.len() <= self.len - at,
            "read past the mapping"
        );
        // SAFETY: in bounds (checked above).
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(at), out.as_mut_ptr(), out.len()) }
    }

    /// The bytes `[at, at + len)` as a slice. The caller promises nobody writes them while the
    /// slice lives (they were published and their writer has moved past them).
    pub fn slice(&self, at: usize, len: usize) -> &[u8] {
        assert!(
            at <= self.len && len <= self.len - at,
            "slice past the mapping"
        );
        // SAFETY: in bounds (checked above); immutability while borrowed is the caller's promise.
        unsafe { std::slice::from_raw_parts(self.ptr.add(at), len) }
    }

    fn atomic_u8(&self, at: usize) -> &AtomicU8 {
        assert!(at < self.len, "atomic past the mapping");
        // SAFETY: in bounds; AtomicU8 has the size and alignment of u8; every concurrent access
        // to this byte goes through an atomic.
        unsafe { &*(self.ptr.add(at) as *const AtomicU8) }
    }

    fn atomic_u32(&self, at: usize) -> &AtomicU32 {
        assert!(
            at % 4 == 0 && at + 4 <= self.len,
            "misaligned or out-of-bounds atomic"
        );
        // SAFETY: in bounds and 4-aligned (mappings are page-aligned); every concurrent access
        // to these bytes goes through an atomic.
        unsafe { &*(self.ptr.add(at) as *const AtomicU32) }
    }

    /// `Release` store of one byte (publishes everything written before it).
    pub fn store_u8(&self, at: usize, v: u8) {
        self.atomic_u8(at).store(v, Ordering::Release)
    }

    /// `Acquire` load of one byte.
    pub fn load_u8(&self, at: usize) -> u8 {
        self.atomic_u8(at).load(Ordering::Acquire)
    }

    /// `Release` store of an aligned u32.
    pub fn store_u32(&self, at: usize, v: u32) {
        self.atomic_u32(at).store(v, Ordering::Release)
    }

    /// `Acquire` load of an aligned u32.
    pub fn load_u32(&self, at: usize) -> u32 {
        self.atomic_u32(at).load(Ordering::Acquire)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from a successful mmap and are unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Writes a segment header into `m` at `at` and publishes it (magic last).
pub fn init_segment(m: &Mapping, at: usize, info: &SegmentInfo) {
    // (The magic is at offset 0 of the header: `seg_off::MAGIC`.)
    m.store_u32(at, 0);
    let mut h = [0u8; SEG_HEADER];
    h[seg_off::KIND..][..4].copy_from_slice(&info.kind.to_le_bytes());
    h[seg_off::PID..][..4].copy_from_slice(&info.pid.to_le_bytes());
    h[seg_off::TID..][..4].copy_from_slice(&info.tid.to_le_bytes());
    h[seg_off::SEQ..][..4].copy_from_slice(&info.seq.to_le_bytes());
    h[seg_off::ANCHOR..][..8].copy_from_slice(&info.anchor.0.to_le_bytes());
    h[seg_off::ANCHOR + 8..][..8].copy_from_slice(&info.anchor.1.to_le_bytes());
    h[seg_off::BASE..][..8].copy_from_slice(&info.anchor.0.to_le_bytes());
    h[seg_off::EVICTED..][..8].copy_from_slice(&info.evicted.to_le_bytes());
    m.write(at + 4, &h[4..]);
    // An empty record list: the first record byte is the terminator.
    m.store_u8(at + SEG_HEADER, 0);
    m.store_u32(at, SEG_MAGIC);
}

/// The trace file: header page plus an append-only list of segments.
#[derive(Debug)]
pub struct TraceFile {
    file: File,
    seg_size: usize,
    header: Mapping,
    /// Segments handed out so far (the file is extended to cover them).
    next: Mutex<u64>,
}

impl TraceFile {
    /// Creates (truncating) the trace file at `path`, mode 0600, and writes its header.
    pub fn create(path: &std::path::Path, mut info: FileInfo) -> io::Result<TraceFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        Self::from_file(file, &mut info)
    }

    /// Uses an already open, empty file.
    pub fn from_file(file: File, info: &mut FileInfo) -> io::Result<TraceFile> {
        let page = page_size();
        info.seg_size = info.seg_size.max(page).div_ceil(page) * page;
        info.meta.truncate(FILE_HEADER - file_off::META);
        reserve(&file, 0, FILE_HEADER as u64)?;
        let header = Mapping::file(&file, 0, FILE_HEADER, false)?;
        let mut h = vec![0u8; FILE_HEADER];
        h[..8].copy_from_slice(&FILE_MAGIC);
        h[8..12].copy_from_slice(&FILE_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(FILE_HEADER as u32).to_le_bytes());
        h[file_off::SEG_SIZE..][..4].copy_from_slice(&(info.seg_size as u32).to_le_bytes());
        h[file_off::FLAGS..][..4].copy_from_slice(&info.flags.to_le_bytes());
        h[file_off::PID..][..4].copy_from_slice(&info.pid.to_le_bytes());
        h[file_off::ANCHOR..][..8].copy_from_slice(&info.anchor.0.to_le_bytes());
        h[file_off::ANCHOR + 8..][..8].copy_from_slice(&info.anchor.1.to_le_bytes());
        h[file_off::CLOCK_PAIR..][..8].copy_from_slice(&info.clock_pair.0.to_le_bytes());
        h[file_off::CLOCK_PAIR + 8..][..8].copy_from_slice(&info.clock_pair.1.to_le_bytes());
        h[file_off::META_LEN..][..4].copy_from_slice(&(info.meta.len() as u32).to_le_bytes());
        h[file_off::META..][..info.meta.len()].copy_from_slice(&info.meta);
        header.write(0, &h);
        Ok(TraceFile {
            file,
            seg_size: info.seg_size,
            header,
            next: Mutex::new(0),
        })
    }

    /// Segment size in bytes.
    pub fn seg_size(&self) -> usize {
        self.seg_size
    }

    /// Extends the file by one segment, maps it and writes its header. Blocks are reserved
    /// before the mapping is touched (`fallocate`), so a full disk is an error here, never a
    /// `SIGBUS` while recording.
    ///
    /// Its pages fault in on first write: a thread that records a handful of calls touches a
    /// page or two, not a whole segment.
    pub fn new_segment(&self, info: &SegmentInfo) -> io::Result<Mapping> {
        let m = self.grow(false)?;
        init_segment(&m, 0, info);
        Ok(m)
    }

    /// Extends the file by one segment and maps it, prefaulted for writing, without writing
    /// its header: a spare, made ahead of need off the recording threads. Until
    /// [`init_segment`] gives it a header, readers skip it (no magic), so a spare never used,
    /// or one being made when the process dies, is not damage.
    pub fn spare_segment(&self) -> io::Result<Mapping> {
        self.grow(true)
    }

    /// Reserves the file's next segment under the lock, then maps it outside the lock (so a
    /// recording thread that needs a segment never waits for the prefault thread's faults).
    fn grow(&self, populate: bool) -> io::Result<Mapping> {
        let offset = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let offset = FILE_HEADER as u64 + *next * self.seg_size as u64;
            reserve(&self.file, offset, self.seg_size as u64)?;
            *next += 1;
            offset
        };
        Mapping::file(&self.file, offset, self.seg_size, populate)
    }

    /// Marks the trace finished (the process is exiting normally).
    pub fn finish(&self) {
        self.header.store_u32(file_off::STATE, 1);
    }

    /// Gives the pages of `[offset, offset + len)` back (a memory file's consumed segments).
    pub fn release(&self, offset: u64, len: usize) {
        // SAFETY: plain system call on a descriptor we own; punching a hole only frees pages.
        unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                len as libc::off_t,
            )
        };
    }

    /// Gives back segments that were reserved but never used (unused spares at the end of a
    /// run): those at the end of the file are cut off, the others' blocks are freed (they read
    /// as zeros, which readers skip as segments without a header).
    pub fn give_back(&self, unused: Vec<Mapping>) {
        let mut offsets: Vec<u64> = unused.iter().map(Mapping::offset).collect();
        drop(unused);
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let seg = self.seg_size as u64;
        offsets.sort_unstable();
        let before = *next;
        while *next > 0 && offsets.last() == Some(&(FILE_HEADER as u64 + (*next - 1) * seg)) {
            offsets.pop();
            *next -= 1;
        }
        if *next != before {
            let _ = self.file.set_len(FILE_HEADER as u64 + *next * seg);
        }
        drop(next);
        for off in offsets {
            self.release(off, self.seg_size);
        }
    }

    /// A second handle on the file, for readers inside the process.
    pub fn try_clone_file(&self) -> io::Result<File> {
        self.file.try_clone()
    }
}

/// Reserves disk blocks for `[offset, offset + len)`, extending the file.
fn reserve(file: &File, offset: u64, len: u64) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor we own.
    let r = unsafe {
        libc::posix_fallocate(file.as_raw_fd(), offset as libc::off_t, len as libc::off_t)
    };
    match r {
        0 => Ok(()),
        // File systems without fallocate: extend (sparse); a later full disk may then show
        // as lost pages rather than this error.
        libc::EOPNOTSUPP | libc::EINVAL => file.set_len(file.metadata()?.len().max(offset + len)),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> FileInfo {
        FileInfo {
            seg_size: 5000,
            flags: FLAG_TSC,
            pid: 42,
            anchor: (1, 2),
            clock_pair: (3, 4),
            meta: b"meta".to_vec(),
        }
    }

    #[test]
    fn header_and_segments_land_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.rtrace");
        let tf = TraceFile::create(&path, info()).unwrap();
        assert_eq!(tf.seg_size(), 8192, "rounded up to whole pages");
        let seg = SegmentInfo {
            kind: SEG_THREAD,
            pid: 42,
            tid: 7,
            seq: 3,
            anchor: (10, 20),
            evicted: 5,
        };
        let m = tf.new_segment(&seg).unwrap();
        m.write(SEG_HEADER + 1, b"xyz");
        m.store_u8(SEG_HEADER, 0x41);
        let m2 = tf.new_segment(&SegmentInfo { seq: 4, ..seg }).unwrap();
        drop(m2);
        tf.finish();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), FILE_HEADER + 2 * 8192);
        assert_eq!(&bytes[..8], b"RUCHYTR2");
        assert_eq!(bytes[file_off::STATE], 1);
        assert_eq!(&bytes[file_off::META..][..4], b"meta");
        let s = &bytes[FILE_HEADER..];
        assert_eq!(&s[..4], b"SEG2");
        assert_eq!(u32::from_le_bytes(s[12..16].try_into().unwrap()), 7);
        assert_eq!(u32::from_le_bytes(s[16..20].try_into().unwrap()), 3);
        assert_eq!(u64::from_le_bytes(s[48..56].try_into().unwrap()), 5);
        assert_eq!(&s[SEG_HEADER..SEG_HEADER + 4], b"Axyz");
        let s2 = &bytes[FILE_HEADER + 8192..];
        assert_eq!(u32::from_le_bytes(s2[16..20].try_into().unwrap()), 4);
        assert_eq!(s2[SEG_HEADER], 0, "empty segment ends at once");
        let mode = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn bounds_are_checked() {
        let m = Mapping::anonymous(4096).unwrap();
        m.write(4090, b"abcdef");
        let mut out = [0u8; 6];
        m.read(4090, &mut out);
        assert_eq!(&out, b"abcdef");
        assert!(std::panic::catch_unwind(|| m.write(4091, b"abcdef")).is_err());
        assert!(std::panic::catch_unwind(|| m.slice(4097, 0)).is_err());
        assert!(std::panic::catch_unwind(|| m.load_u32(4094)).is_err());
    }

    #[test]
    fn mappings_know_where_they_are() {
        assert_eq!(page_size(), 4096);
        let dir = tempfile::tempdir().unwrap();
        let tf = TraceFile::create(&dir.path().join("t"), info()).unwrap();
        let seg = SegmentInfo {
            kind: SEG_THREAD,
            pid: 1,
            tid: 2,
            seq: 0,
            anchor: (3, 4),
            evicted: 0,
        };
        let a = tf.new_segment(&seg).unwrap();
        let b = tf.new_segment(&seg).unwrap();
        assert_eq!(
            (a.offset(), b.offset()),
            (FILE_HEADER as u64, FILE_HEADER as u64 + 8192)
        );
        assert_eq!((a.len(), a.is_empty()), (8192, false));
        assert!(!a.ptr().is_null() && a.ptr() != b.ptr());
        a.store_u8(100, 7);
        assert_eq!(a.load_u8(100), 7);
        a.write(200, b"gone");
        // Giving the pages back leaves zeros behind.
        tf.release(a.offset(), a.len());
        let mut out = [1u8; 4];
        a.read(200, &mut out);
        assert_eq!(out, [0; 4]);
        b.write(300, b"kept");
        b.read(300, &mut out);
        assert_eq!(&out, b"kept");
    }

    #[test]
    fn unused_spares_are_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let tf = TraceFile::create(&path, info()).unwrap();
        let seg = SegmentInfo {
            kind: SEG_THREAD,
            pid: 1,
            tid: 2,
            seq: 0,
            anchor: (3, 4),
            evicted: 0,
        };
        let spare_a = tf.spare_segment().unwrap();
        let used = tf.new_segment(&seg).unwrap();
        let spare_b = tf.spare_segment().unwrap();
        let spare_c = tf.spare_segment().unwrap();
        used.write(SEG_HEADER, b"kept");
        let len = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();
        assert_eq!(len(&path), FILE_HEADER as u64 + 4 * 8192);
        let a_at = spare_a.offset();
        // The two at the end are cut off; the one before the used segment becomes a hole.
        tf.give_back(vec![spare_c, spare_a, spare_b]);
        assert_eq!(len(&path), FILE_HEADER as u64 + 2 * 8192);
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes[a_at as usize..][..8192].iter().all(|&b| b == 0));
        assert_eq!(&bytes[used.offset() as usize + SEG_HEADER..][..4], b"kept");
        // The file grows again from where it now ends.
        let next = tf.new_segment(&seg).unwrap();
        assert_eq!(next.offset(), FILE_HEADER as u64 + 2 * 8192);
    }

    #[test]
    fn a_segment_header_can_start_anywhere_in_a_mapping() {
        let m = Mapping::anonymous(8192).unwrap();
        m.write(4096 + SEG_HEADER, &[9]);
        m.write(0, &[1, 1, 1, 1]);
        init_segment(
            &m,
            4096,
            &SegmentInfo {
                kind: SEG_META,
                pid: 5,
                tid: 6,
                seq: 7,
                anchor: (8, 9),
                evicted: 10,
            },
        );
        let mut h = [0u8; SEG_HEADER + 1];
        m.read(4096, &mut h);
        let u32_at = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().unwrap());
        assert_eq!(u32_at(seg_off::MAGIC), SEG_MAGIC);
        assert_eq!(
            (
                u32_at(seg_off::KIND),
                u32_at(seg_off::PID),
                u32_at(seg_off::TID)
            ),
            (SEG_META, 5, 6)
        );
        assert_eq!(u32_at(seg_off::SEQ), 7);
        assert_eq!(
            (u64_at(seg_off::ANCHOR), u64_at(seg_off::ANCHOR + 8)),
            (8, 9)
        );
        assert_eq!((u64_at(seg_off::BASE), u64_at(seg_off::EVICTED)), (8, 10));
        assert_eq!(h[SEG_HEADER], 0, "the record list starts empty");
        let mut before = [0u8; 4];
        m.read(0, &mut before);
        assert_eq!(before, [1; 4], "nothing written before `at`");
    }

    #[test]
    fn the_header_holds_every_field_and_cuts_long_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let long = FILE_HEADER - file_off::META + 10;
        let tf = TraceFile::create(
            &path,
            FileInfo {
                meta: vec![b'm'; long],
                anchor: (0x1111, 0x2222),
                clock_pair: (0x3333, 0x4444),
                ..info()
            },
        )
        .unwrap();
        drop(tf);
        let b = std::fs::read(&path).unwrap();
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        assert_eq!(u32_at(8), FILE_VERSION);
        assert_eq!(u32_at(12), FILE_HEADER as u32);
        assert_eq!(u32_at(file_off::FLAGS), FLAG_TSC);
        assert_eq!(u32_at(file_off::PID), 42);
        assert_eq!(u32_at(file_off::STATE), 0, "not finished");
        assert_eq!(
            (u64_at(file_off::ANCHOR), u64_at(file_off::ANCHOR + 8)),
            (0x1111, 0x2222)
        );
        assert_eq!(
            (
                u64_at(file_off::CLOCK_PAIR),
                u64_at(file_off::CLOCK_PAIR + 8)
            ),
            (0x3333, 0x4444)
        );
        let kept = FILE_HEADER - file_off::META;
        assert_eq!(u32_at(file_off::META_LEN) as usize, kept);
        assert!(b[file_off::META..FILE_HEADER].iter().all(|&c| c == b'm'));
        assert_eq!(b.len(), FILE_HEADER);
    }

    #[test]
    fn unmapping_gives_the_address_range_back() {
        let maps = || std::fs::read_to_string("/proc/self/maps").unwrap();
        let m = Mapping::anonymous(3 * 4096).unwrap();
        let start = format!("{:x}-", m.ptr() as usize);
        assert!(maps().lines().any(|l| l.starts_with(&start)));
        drop(m);
        assert!(!maps().lines().any(|l| l.starts_with(&start)));
    }

    #[test]
    fn full_disk_is_an_error_not_a_crash() {
        // /dev/full-like behaviour is hard to get for a regular file; a read-only file
        // descriptor makes fallocate fail the same way (EBADF), which must surface as an error.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        std::fs::write(&path, b"").unwrap();
        let file = File::open(&path).unwrap();
        assert!(TraceFile::from_file(file, &mut info()).is_err());
    }
}
