//! The per-thread single-producer/single-consumer byte ring. The ring's shared-memory `unsafe`
//! lives here; the only other writer into its bytes is [`crate::capture::ArgWriter`], inside
//! the region [`Producer::region_with_slack`] hands out.
//!
//! The owning thread appends records at `head`; the collector reads from `tail`. Each side
//! publishes its position with one `Release` store of an atomic only it writes, so the hot path
//! never performs a read-modify-write on shared memory. Positions grow forever (u64); the byte
//! index is `pos & mask`. A record never wraps: when it does not fit before the end, the producer
//! writes a [`PAD`] byte and continues at the start of the next lap.

use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Marks the rest of a lap as padding.
pub const PAD: u8 = 0xFF;

/// A byte ring shared by one producer thread and the collector.
pub struct Ring {
    buf: Box<[UnsafeCell<u8>]>,
    mask: u64,
    head: CachePadded<AtomicU64>,
    tail: CachePadded<AtomicU64>,
    /// Set by the producer thread when it exits; the collector frees the ring once drained.
    pub closed: AtomicBool,
    /// Events the producer had counted as lost but could not record a loss record for when it
    /// exited (its buffer was still full); the collector reports them.
    pub lost_at_exit: AtomicU64,
    /// Set by the producer while it waits for space (`overflow=block`), so the collector
    /// drains at once instead of at its next tick.
    pub waiting: AtomicBool,
}

// SAFETY: the bytes are only written by the single producer in [head, tail + cap) and only read by
// the single consumer in [tail, head); the Release/Acquire pairs on head and tail order those
// accesses, so no byte is accessed by both sides at once.
unsafe impl Sync for Ring {}
// SAFETY: see `Sync`; the ring owns its buffer.
unsafe impl Send for Ring {}

impl Ring {
    /// A ring of at least `bytes` bytes (rounded up to a power of two, minimum 4 KiB).
    pub fn new(bytes: usize) -> Ring {
        let cap = bytes.clamp(4096, 1 << 30).next_power_of_two();
        // `SLACK` bytes past the last lap: the producer's writer may store into them (never
        // read) when a record does not fit the free region.
        let buf: Box<[UnsafeCell<u8>]> = (0..cap + crate::capture::SLACK)
            .map(|_| UnsafeCell::new(0))
            .collect();
        Ring {
            buf,
            mask: cap as u64 - 1,
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            closed: AtomicBool::new(false),
            lost_at_exit: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
        }
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        (self.mask + 1) as usize
    }

    fn base(&self) -> *mut u8 {
        UnsafeCell::raw_get(self.buf.as_ptr())
    }

    /// Bytes written but not yet consumed.
    pub fn pending(&self) -> u64 {
        self.head.load(Ordering::Acquire) - self.tail.load(Ordering::Acquire)
    }

    /// Consumer side: calls `f` with each contiguous readable slice (at most two per call), then
    /// releases them to the producer. Returns the number of bytes consumed.
    ///
    /// Must only be called by one consumer at a time (the collector holds the ring list lock).
    pub fn consume(&self, mut f: impl FnMut(&[u8])) -> u64 {
        let head = self.head.load(Ordering::Acquire);
        let mut tail = self.tail.load(Ordering::Relaxed);
        let start = tail;
        while tail < head {
            let idx = tail & self.mask;
            let lap_end = tail - idx + self.mask + 1;
            let end = head.min(lap_end);
            let len = (end - tail) as usize;
            // SAFETY: [tail, end) lies within one lap, was published by the producer's Release
            // store of `head` (acquired above), and is not written again until we store `tail`.
            let slice = unsafe { std::slice::from_raw_parts(self.base().add(idx as usize), len) };
            f(slice);
            tail = end;
        }
        self.tail.store(tail, Ordering::Release);
        tail - start
    }
}

/// The producer's handle: owned by exactly one thread.
pub struct Producer {
    ring: std::sync::Arc<Ring>,
    /// Copies of the ring's buffer address and mask, so the hot path does not chase the `Arc`.
    base: *mut u8,
    mask: u64,
    head: u64,
    cached_tail: u64,
}

impl Producer {
    /// Creates the producer side of `ring` (call once per ring).
    pub fn new(ring: std::sync::Arc<Ring>) -> Producer {
        Producer {
            base: ring.base(),
            mask: ring.mask,
            ring,
            head: 0,
            cached_tail: 0,
        }
    }

    /// The shared ring.
    pub fn ring(&self) -> &std::sync::Arc<Ring> {
        &self.ring
    }

    /// The contiguous free region at `head`: a pointer and its length (possibly 0).
    #[inline(always)]
    pub fn region(&mut self) -> (*mut u8, usize) {
        let cap = self.mask + 1;
        let idx = self.head & self.mask;
        let to_end = cap - idx;
        let mut free = cap - (self.head - self.cached_tail);
        if free < to_end {
            self.cached_tail = self.ring.tail.load(Ordering::Acquire);
            free = cap - (self.head - self.cached_tail);
        }
        // SAFETY: idx < cap, so the pointer stays inside the buffer (`base` is the ring's
        // buffer, which the `ring` field keeps alive).
        let ptr = unsafe { self.base.add(idx as usize) };
        (ptr, free.min(to_end) as usize)
    }

    /// The free region at `head` for a writer that may store up to `SLACK` bytes past what it
    /// is given ([`crate::capture::ArgWriter`]): `(ptr, avail)` with `ptr` valid for writes of
    /// `avail + SLACK` bytes that the consumer never reads before they are committed. At the end
    /// of a lap the slack is the ring's slack area; elsewhere `SLACK` bytes of free space are
    /// held back (the bytes after the free space are unconsumed records). `avail == 0` means:
    /// do not write at all.
    #[inline(always)]
    pub fn region_with_slack(&mut self) -> (*mut u8, usize) {
        let slack = crate::capture::SLACK as u64;
        let cap = self.mask + 1;
        let idx = self.head & self.mask;
        let to_end = cap - idx;
        let mut free = cap - (self.head - self.cached_tail);
        if free < to_end + slack {
            self.cached_tail = self.ring.tail.load(Ordering::Acquire);
            free = cap - (self.head - self.cached_tail);
        }
        let avail = if free >= to_end {
            to_end
        } else {
            free.saturating_sub(slack)
        };
        // SAFETY: idx < cap, so the pointer stays inside the buffer (`base` is the ring's
        // buffer, which the `ring` field keeps alive).
        let ptr = unsafe { self.base.add(idx as usize) };
        (ptr, avail as usize)
    }

    /// Publishes `n` bytes written at the start of the last [`Producer::region`].
    #[inline(always)]
    pub fn commit(&mut self, n: usize) {
        self.head += n as u64;
        self.ring.head.store(self.head, Ordering::Release);
    }

    /// Bytes left before the end of the current lap.
    pub fn to_lap_end(&self) -> usize {
        (self.ring.mask + 1 - (self.head & self.ring.mask)) as usize
    }

    /// Free bytes in total (refreshing the consumer's position).
    pub fn free(&mut self) -> usize {
        self.cached_tail = self.ring.tail.load(Ordering::Acquire);
        (self.ring.mask + 1 - (self.head - self.cached_tail)) as usize
    }

    /// Writes a complete record of `bytes.len()` bytes (the caller checked that
    /// [`Producer::free`] is at least `to_lap_end() + len` when it does not fit before the lap end,
    /// or `len` otherwise). Pads the lap when needed.
    pub fn write_record(&mut self, bytes: &[u8]) {
        let to_end = self.to_lap_end();
        if bytes.len() > to_end {
            let (ptr, avail) = self.region();
            assert!(
                avail == to_end,
                "write_record called without space for padding"
            );
            // SAFETY: `avail >= 1` bytes are free at `ptr` (checked above).
            unsafe { ptr.write(PAD) };
            self.commit(to_end);
        }
        let (ptr, avail) = self.region();
        assert!(avail >= bytes.len(), "write_record called without space");
        // SAFETY: `avail` free bytes start at `ptr`, and `bytes` does not overlap the ring.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) };
        self.commit(bytes.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn wraps_with_padding_and_keeps_order() {
        let ring = Arc::new(Ring::new(4096));
        let mut p = Producer::new(ring.clone());
        let mut seen = Vec::new();
        let mut next = 0u32;
        for round in 0..200 {
            // Records of varying size: [len u8][payload...]
            for _ in 0..(round % 7 + 1) {
                let len = 5 + (next % 200) as usize;
                let mut rec = vec![len as u8];
                rec.extend(std::iter::repeat_n((next % 250) as u8, len - 1));
                if len > p.to_lap_end() {
                    if p.free() < p.to_lap_end() + len {
                        break;
                    }
                } else if p.free() < len {
                    break;
                }
                p.write_record(&rec);
                next += 1;
            }
            ring.consume(|mut s| {
                while let Some(&len) = s.first() {
                    if len == PAD {
                        break;
                    }
                    seen.push(s[1]);
                    s = &s[len as usize..];
                }
            });
        }
        assert_eq!(seen.len() as u32, next);
        for (i, v) in seen.iter().enumerate() {
            assert_eq!(*v, (i as u32 % 250) as u8);
        }
    }
}
