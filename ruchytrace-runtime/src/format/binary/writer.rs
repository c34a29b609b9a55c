//! [`BinaryWriter`]: streams events as framed, checksummed records.

use super::value::encode_value;
use super::{
    crc32, put_i, put_i64, put_str, put_u, tag, FRAME_HEADER_LEN, FRAME_TARGET, HEADER_LEN, MAGIC,
};
use crate::format::{EventCtx, FxMap, TraceWriter};
use crate::model::{Event, LossReason, Metadata, Return, Site, Trailer, SCHEMA_VERSION};
use std::io::{self, Write};

/// Streams a trace in the binary format.
pub struct BinaryWriter<W: Write + Send> {
    out: W,
    /// Records of the frame being built.
    buf: Vec<u8>,
    /// Thread index by (pid, tid); `last_ts[index]` is the thread's previous timestamp.
    threads: FxMap<(u32, u32), usize>,
    last_ts: Vec<u64>,
    /// The thread of the previous event: consecutive events of one thread skip the map.
    last_thread: Option<((u32, u32), usize)>,
    /// `declared[id]`: the site's record is already in the file.
    declared: Vec<bool>,
    header_written: bool,
}

impl<W: Write + Send> BinaryWriter<W> {
    /// A writer on `out`.
    pub fn new(out: W) -> Self {
        BinaryWriter {
            out,
            buf: Vec::with_capacity(FRAME_TARGET + 1024),
            threads: Default::default(),
            last_ts: Vec::new(),
            last_thread: None,
            declared: Vec::new(),
            header_written: false,
        }
    }

    /// Gives the output back.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes the buffered records as one frame (no-op when empty).
    fn emit_frame(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut head = [0u8; FRAME_HEADER_LEN];
        head[..4].copy_from_slice(&(self.buf.len() as u32).to_le_bytes());
        head[4..].copy_from_slice(&crc32(&self.buf).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Tag, thread index and timestamp delta of an event (declaring the thread first if new).
    fn event_head(&mut self, tag: u8, pid: u32, tid: u32, ts: u64) {
        let key = (pid, tid);
        let index = match self.last_thread {
            Some((k, i)) if k == key => i,
            _ => self.thread_index(key),
        };
        self.buf.push(tag);
        put_u(&mut self.buf, index as u64);
        let delta = i128::from(ts) - i128::from(self.last_ts[index]);
        match i64::try_from(delta) {
            // Same bytes as `put_i`, without 128-bit arithmetic.
            Ok(d) => put_i64(&mut self.buf, d),
            Err(_) => put_i(&mut self.buf, delta),
        }
        self.last_ts[index] = ts;
    }

    /// The index of a thread, declaring it (`THREAD_DEF`) the first time.
    #[inline(never)]
    fn thread_index(&mut self, key: (u32, u32)) -> usize {
        let next = self.last_ts.len();
        let index = *self.threads.entry(key).or_insert_with(|| {
            self.buf.push(tag::THREAD_DEF);
            put_u(&mut self.buf, next as u64);
            put_u(&mut self.buf, u64::from(key.0));
            put_u(&mut self.buf, u64::from(key.1));
            next
        });
        if index == next {
            self.last_ts.push(0);
        }
        self.last_thread = Some((key, index));
        index
    }

    fn close(&mut self, trailer: &Trailer, truncation: Option<&str>) -> io::Result<()> {
        if let Some(t) = truncation {
            self.buf.push(tag::SOURCE_TRUNCATED);
            put_str(&mut self.buf, t);
        }
        self.buf.push(tag::TRAILER);
        put_u(&mut self.buf, trailer.events);
        put_u(&mut self.buf, trailer.lost);
        put_u(&mut self.buf, trailer.end_ns);
        self.flush()
    }
}

impl<W: Write + Send> TraceWriter for BinaryWriter<W> {
    fn begin(&mut self, meta: &Metadata) -> io::Result<()> {
        let mut head = Vec::with_capacity(HEADER_LEN);
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
        head.extend_from_slice(&0u32.to_le_bytes());
        self.out.write_all(&head)?;
        self.header_written = true;
        let json = serde_json::to_string(meta).map_err(io::Error::other)?;
        self.buf.push(tag::METADATA);
        put_str(&mut self.buf, &json);
        // The metadata gets a frame of its own so that even a trace killed before its first
        // flush of events identifies itself.
        self.emit_frame()
    }

    fn site(&mut self, site: &Site) -> io::Result<()> {
        let json = serde_json::to_string(site).map_err(io::Error::other)?;
        self.buf.push(tag::SITE);
        put_str(&mut self.buf, &json);
        let i = site.id as usize;
        if self.declared.len() <= i {
            self.declared.resize(i + 1, false);
        }
        self.declared[i] = true;
        Ok(())
    }

    fn event(&mut self, ev: &Event, ctx: &EventCtx<'_>) -> io::Result<()> {
        // A site the caller did not declare but the context knows is declared now, so a reader
        // always meets a site before its first event.
        if let Some(s) = ctx.site {
            if !self.declared.get(s.id as usize).copied().unwrap_or(false) {
                self.site(s)?;
            }
        }
        match ev {
            Event::Enter {
                site,
                ts,
                pid,
                tid,
                args,
                call_id,
            } => {
                let t = if call_id.is_some() {
                    tag::ENTER_ASYNC
                } else {
                    tag::ENTER
                };
                self.event_head(t, *pid, *tid, *ts);
                put_u(&mut self.buf, u64::from(*site));
                put_u(&mut self.buf, args.len() as u64);
                for a in args {
                    encode_value(&mut self.buf, a);
                }
                if let Some(id) = call_id {
                    put_u(&mut self.buf, *id);
                }
            }
            Event::Exit {
                site,
                ts,
                pid,
                tid,
                ret,
                call_id,
            } => {
                let mut t = match ret {
                    Return::Value(_) => tag::EXIT_VALUE,
                    Return::NotCaptured => tag::EXIT_NOT_CAPTURED,
                    Return::Panic { message: None } => tag::EXIT_PANIC,
                    Return::Panic { message: Some(_) } => tag::EXIT_PANIC_MSG,
                    Return::Cancelled => tag::EXIT_CANCELLED,
                };
                if call_id.is_some() {
                    t |= tag::EXIT_ASYNC_BIT;
                }
                self.event_head(t, *pid, *tid, *ts);
                put_u(&mut self.buf, u64::from(*site));
                match ret {
                    Return::Value(v) => encode_value(&mut self.buf, v),
                    Return::Panic { message: Some(m) } => put_str(&mut self.buf, m),
                    _ => {}
                }
                if let Some(id) = call_id {
                    put_u(&mut self.buf, *id);
                }
            }
            Event::Suspend {
                site,
                ts,
                pid,
                tid,
                call_id,
            }
            | Event::Resume {
                site,
                ts,
                pid,
                tid,
                call_id,
            } => {
                let t = if matches!(ev, Event::Suspend { .. }) {
                    tag::SUSPEND
                } else {
                    tag::RESUME
                };
                self.event_head(t, *pid, *tid, *ts);
                put_u(&mut self.buf, u64::from(*site));
                put_u(&mut self.buf, *call_id);
            }
            Event::Instant {
                ts,
                pid,
                tid,
                category,
                name,
                detail,
            } => {
                self.event_head(tag::INSTANT, *pid, *tid, *ts);
                self.buf.push(*category as u8);
                put_str(&mut self.buf, name);
                put_str(&mut self.buf, detail);
            }
            Event::Thread { ts, pid, tid, name } => {
                let t = if name.is_some() {
                    tag::THREAD_NAMED
                } else {
                    tag::THREAD
                };
                self.event_head(t, *pid, *tid, *ts);
                if let Some(n) = name {
                    put_str(&mut self.buf, n);
                }
            }
            Event::Loss {
                ts,
                pid,
                tid,
                count,
                reason,
            } => {
                self.event_head(tag::LOSS, *pid, *tid, *ts);
                put_u(&mut self.buf, *count);
                self.buf.push(match reason {
                    LossReason::BufferFull => 0,
                    LossReason::Evicted => 1,
                    LossReason::Unflushed => 2,
                });
            }
            Event::Stall {
                ts,
                pid,
                tid,
                waited_ns,
            } => {
                self.event_head(tag::STALL, *pid, *tid, *ts);
                put_u(&mut self.buf, *waited_ns);
            }
        }
        if self.buf.len() >= FRAME_TARGET {
            self.emit_frame()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit_frame()?;
        self.out.flush()
    }

    fn finish(&mut self, trailer: &Trailer) -> io::Result<()> {
        self.close(trailer, None)
    }

    fn finish_incomplete(&mut self, trailer: &Trailer, truncation: &str) -> io::Result<()> {
        self.close(trailer, Some(truncation))
    }
}
