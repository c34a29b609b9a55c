//! Reading what threads are still writing: each cycle follows every thread's segments from
//! where the last cycle stopped up to what the thread has published (see
//! `global::ThreadShared::publish`), converts ticks to nanoseconds with anchors taken now, and
//! hands the events to the sink in time order. A segment its thread has moved past is read to
//! its end and released.

use super::sink::Sink;
use crate::clock::Converter;
use crate::global::{Runtime, ThreadShared};
use crate::model::Event;
use crate::record::{self, Decoded};
use crate::segment::{seg_off, SEG_HEADER};
use std::collections::HashMap;
use std::sync::atomic::Ordering::*;
use std::sync::Arc;

/// Where reading stopped in one thread's segments.
#[derive(Default)]
struct Cursor {
    seq: Option<u32>,
    pos: usize,
    ticks: u64,
    named: bool,
}

/// The collector's reading position in every thread.
pub(super) struct Tail {
    conv: Converter,
    cursors: HashMap<usize, Cursor>,
    /// Events before this time are not counted (`reset`).
    pub(super) reset_ns: u64,
    warned: bool,
}

impl Tail {
    pub(super) fn new(tsc: bool) -> Tail {
        Tail {
            conv: Converter::new(tsc),
            cursors: HashMap::new(),
            reset_ns: 0,
            warned: false,
        }
    }

    /// Reads every thread's new records and writes them.
    pub(super) fn cycle(&mut self, rt: &Runtime, sink: &mut Sink) {
        self.conv.anchor();
        let threads: Vec<Arc<ThreadShared>> =
            rt.threads.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let pid = rt.pid();
        let file = crate::output::current();
        let mut batch = Vec::new();
        let mut done = Vec::new();
        for t in &threads {
            let key = Arc::as_ptr(t) as usize;
            let closed = t.closed.load(Acquire);
            let cur = self.cursors.entry(key).or_default();
            let before = batch.len();
            if let Err(e) = read_thread(t, cur, &self.conv, pid, &mut batch, file.as_deref()) {
                if !self.warned {
                    eprintln!("ruchytrace: warning: thread {}: {e}", t.tid);
                    self.warned = true;
                }
            }
            if !cur.named && batch.len() > before {
                cur.named = true;
                let ts = batch[before].ts();
                batch.insert(
                    before,
                    Event::Thread {
                        ts,
                        pid,
                        tid: t.tid,
                        name: t.name.clone(),
                    },
                );
            }
            if closed && t.segs.lock().unwrap_or_else(|e| e.into_inner()).len() <= 1 {
                let (seq, pos) = split(t.published.load(Acquire));
                if cur.seq.is_none_or(|s| s == seq) && cur.pos >= pos {
                    done.push(key);
                }
            }
        }
        if !done.is_empty() {
            rt.threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|t| !done.contains(&(Arc::as_ptr(t) as usize)));
            for k in done {
                self.cursors.remove(&k);
            }
        }
        // Per-thread order is already by time; a stable sort interleaves threads by time.
        batch.sort_by_key(|e| e.ts());
        for ev in &batch {
            sink.emit(ev);
        }
    }
}

fn split(published: u64) -> (u32, usize) {
    ((published >> 32) as u32, (published & 0xFFFF_FFFF) as usize)
}

fn read_thread(
    t: &ThreadShared,
    cur: &mut Cursor,
    conv: &Converter,
    pid: u32,
    out: &mut Vec<Event>,
    file: Option<&crate::output::Output>,
) -> Result<(), String> {
    let (pseq, ppos) = split(t.published.load(Acquire));
    loop {
        let front = t
            .segs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first()
            .cloned();
        let Some((seq, map)) = front else {
            return Ok(());
        };
        if cur.seq != Some(seq) {
            let mut b = [0u8; 8];
            map.read(seg_off::BASE, &mut b);
            cur.seq = Some(seq);
            cur.pos = SEG_HEADER;
            cur.ticks = u64::from_le_bytes(b);
        }
        let sealed = seq < pseq;
        let limit = if sealed {
            map.len()
        } else if seq == pseq {
            ppos
        } else {
            return Ok(());
        };
        if limit <= cur.pos && !sealed {
            return Ok(());
        }
        // The thread published everything below `limit` (sealed: the whole segment) and never
        // writes there again.
        let bytes = map.slice(0, limit);
        let mut ended = false;
        while cur.pos < limit {
            match record::decode_at(bytes, cur.pos) {
                Ok(Some(r)) => {
                    cur.ticks = cur.ticks.wrapping_add(r.dt);
                    cur.pos = r.next;
                    if let Decoded::Event(mut e) = r.decoded {
                        e.set_identity(conv.to_ns(cur.ticks), pid, t.tid);
                        out.push(e);
                    }
                }
                Ok(None) => {
                    ended = true;
                    break;
                }
                Err(e) => {
                    // Skip the rest of this segment rather than trust it.
                    t.segs.lock().unwrap_or_else(|e| e.into_inner()).remove(0);
                    return Err(format!("damaged record at offset {}: {}", cur.pos, e.0));
                }
            }
        }
        if sealed && (ended || cur.pos >= limit) {
            let m = t.segs.lock().unwrap_or_else(|e| e.into_inner()).remove(0).1;
            if let Some(f) = file {
                f.file.release(m.offset(), m.len());
            }
            continue;
        }
        return Ok(());
    }
}
