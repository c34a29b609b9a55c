//! Perfetto's native trace format (`.pftrace`): a `Trace` protobuf of `TracePacket`s with
//! `TrackEvent`s, for the Perfetto UI and trace processor.
//!
//! What is written, on one packet sequence (`trusted_packet_sequence_id` 1):
//!
//! * the first packet is a `ClockSnapshot` (`CLOCK_MONOTONIC` and `CLOCK_REALTIME` of the trace's
//!   clock pair, `primary_trace_clock` = `CLOCK_MONOTONIC`) and carries
//!   `SEQ_INCREMENTAL_STATE_CLEARED`; every packet's `timestamp` is absolute nanoseconds of
//!   `CLOCK_MONOTONIC` (`timestamp_clock_id` 3);
//! * a process track (`TrackDescriptor.process`) per pid, a thread track
//!   (`TrackDescriptor.thread {pid, tid, thread_name}`) per visible thread, an async track per
//!   `async fn` future (child of its process track) and a counter track per process for lost
//!   events;
//! * every traced call is a `TYPE_SLICE_BEGIN`/`TYPE_SLICE_END` pair on its thread's track,
//!   category `function`, with its arguments (by parameter name), `location`, and on the end
//!   event `return` and `end`, as debug annotations; every system call is a slice of category
//!   `syscall` nested inside the function slice that issued it, with `args` and `return`;
//!   instants, signals and thread ends are `TYPE_INSTANT` events (categories `instant`,
//!   `signal`, `exit`, `killed`);
//! * an `async fn` future: each poll is a slice on the thread that ran it, linked by a flow from
//!   each poll to the next (the flow crosses threads when the future moved); its async track
//!   holds one slice for its whole lifetime (first poll to completion) with `busy_ns`,
//!   `lifetime_ns`, `polls` and `threads`, and one `poll` slice per poll inside it;
//! * a loss record is a `TYPE_INSTANT` of category `loss` on its thread and a step of its
//!   process's `lost events` counter (cumulative count);
//! * event names, categories and annotation names are interned per sequence
//!   (`interned_data`): a string is sent once, with the first packet that uses it, and packets
//!   that use interned ids carry `SEQ_NEEDS_INCREMENTAL_STATE`.
//!
//! The file is a concatenation of `Trace.packet` fields, written packet by packet (so memory is
//! that of one packet and the intern tables).

pub mod proto;

use rustc_hash::FxHashMap as HashMap;
use std::io::{self, Write};

use prost::encoding::{encode_key, encoded_len_varint, WireType};
use prost::Message;
use ruchytrace_runtime::model::{Return, Site, Value};

use super::futures::FutureInfo;
use super::{fmt_return, Merged, Node, NodeId, NodeKind, ProcessInfo, ThreadTrack};
use proto::{
    AnnotationValue, Clock, ClockSnapshot, CounterDescriptor, EventType, PacketData,
    ProcessDescriptor, ThreadDescriptor, TracePacket, TrackDescriptor,
};

/// The packet sequence every packet is written on.
pub const SEQUENCE_ID: u32 = 1;

/// Track uuids: a kind tag in the top bits, then the ids.
fn process_uuid(pid: u32) -> u64 {
    (1 << 60) | u64::from(pid)
}

fn thread_uuid(pid: u32, tid: u32) -> u64 {
    (2 << 60) | (u64::from(pid) << 30) | u64::from(tid & 0x3fff_ffff)
}

fn loss_counter_uuid(pid: u32) -> u64 {
    (4 << 60) | u64::from(pid)
}

/// A well-mixed 60-bit value of two numbers (splitmix64's finalizer).
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) & ((1 << 60) - 1)
}

fn async_uuid(pid: u32, call_id: u64) -> u64 {
    (3 << 60) | mix(u64::from(pid), call_id)
}

/// The flow from poll `k` of a future to poll `k + 1`.
fn flow_id(pid: u32, call_id: u64, k: usize) -> u64 {
    mix(mix(u64::from(pid), call_id), k as u64 + 1)
}

/// A value as a debug annotation: numbers and booleans as themselves, the rest as text.
fn annotation_value(v: &Value) -> AnnotationValue {
    match v {
        Value::Bool(b) => AnnotationValue::Bool(*b),
        Value::I8(x) => AnnotationValue::Int(i64::from(*x)),
        Value::I16(x) => AnnotationValue::Int(i64::from(*x)),
        Value::I32(x) => AnnotationValue::Int(i64::from(*x)),
        Value::I64(x) => AnnotationValue::Int(*x),
        Value::U8(x) => AnnotationValue::Uint(u64::from(*x)),
        Value::U16(x) => AnnotationValue::Uint(u64::from(*x)),
        Value::U32(x) => AnnotationValue::Uint(u64::from(*x)),
        Value::U64(x) => AnnotationValue::Uint(*x),
        Value::F32(x) => AnnotationValue::Double(f64::from(*x)),
        Value::F64(x) => AnnotationValue::Double(*x),
        other => AnnotationValue::String(other.to_string()),
    }
}

/// The text of a call's return, as the other formats show it.
fn return_text(ret: &Option<Return>) -> Option<String> {
    match ret {
        Some(Return::Value(v)) => Some(v.to_string()),
        Some(Return::Panic { message }) => {
            Some(format!("<panic: {}>", message.as_deref().unwrap_or("?")))
        }
        Some(Return::Cancelled) => Some("<cancelled>".into()),
        Some(Return::NotCaptured) | None => None,
    }
}

/// One track event to write.
pub struct Ev<'a> {
    /// Absolute `CLOCK_MONOTONIC` nanoseconds.
    pub ts: u64,
    /// The track.
    pub track: u64,
    /// Begin, end, instant or counter.
    pub kind: EventType,
    /// Name (not sent for slice ends).
    pub name: &'a str,
    /// Category (not sent for slice ends).
    pub category: &'a str,
    /// Debug annotations.
    pub annotations: Vec<(&'a str, AnnotationValue)>,
    /// Flows that start (or continue) here.
    pub flows: Vec<u64>,
    /// Flows that end here.
    pub terminating_flows: Vec<u64>,
    /// A counter's value.
    pub counter: Option<i64>,
}

impl<'a> Ev<'a> {
    /// An event with no annotations, flows or counter value.
    pub fn new(ts: u64, track: u64, kind: EventType, name: &'a str, category: &'a str) -> Self {
        Ev {
            ts,
            track,
            kind,
            name,
            category,
            annotations: Vec::new(),
            flows: Vec::new(),
            terminating_flows: Vec::new(),
            counter: None,
        }
    }
}

/// The packet sequence: writes packets, interns strings.
///
/// Track events, the bulk of a trace, are encoded by hand straight into reused buffers (no
/// message values, no allocation per event); the bytes are those `prost` writes for the same
/// [`TracePacket`] (fields in tag order, proto2 explicit presence), which a unit test checks.
pub struct Sequence<'w> {
    out: &'w mut dyn Write,
    buf: Vec<u8>,
    first: bool,
    names: HashMap<String, u64>,
    categories: HashMap<String, u64>,
    annotation_names: HashMap<String, u64>,
    /// Packets written.
    pub packets: u64,
    /// The `TrackEvent` being built: category ids and debug annotations so far.
    ev: Vec<u8>,
    /// `InternedData` entries first sent with the event being built: categories (field 1),
    /// event names (field 2), debug annotation names (field 3), each already framed.
    interned: [Vec<u8>; 3],
    /// Scratch text for formatted annotation values.
    text: String,
    /// The fields of the event being built that follow its annotations.
    pending: Pending,
    /// Per site id, its `location` text (a sequence is written from one site table).
    locations: Vec<Option<Box<str>>>,
}

/// The fields of a track event that are encoded after its debug annotations.
#[derive(Default)]
struct Pending {
    ts: u64,
    track: u64,
    kind: i32,
    name_iid: Option<u64>,
    counter: Option<i64>,
    flows: Vec<u64>,
    terminating_flows: Vec<u64>,
}

/// A debug annotation's value, borrowed.
#[derive(Clone, Copy)]
enum Val<'a> {
    Bool(bool),
    Uint(u64),
    Int(i64),
    Double(f64),
    Str(&'a str),
}

impl<'a> From<&'a AnnotationValue> for Val<'a> {
    fn from(v: &'a AnnotationValue) -> Self {
        match v {
            AnnotationValue::Bool(b) => Val::Bool(*b),
            AnnotationValue::Uint(x) => Val::Uint(*x),
            AnnotationValue::Int(x) => Val::Int(*x),
            AnnotationValue::Double(x) => Val::Double(*x),
            AnnotationValue::String(s) => Val::Str(s),
        }
    }
}

/// Appends `v` as a protobuf varint (what `prost::encoding::encode_varint` writes, without
/// its generic buffer handling).
#[inline]
fn encode_varint(mut v: u64, buf: &mut Vec<u8>) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Interns `s` in `table`; a new string is also appended, framed as field `field` of
/// `InternedData`, to `new`.
fn intern(table: &mut HashMap<String, u64>, new: &mut Vec<u8>, field: u32, s: &str) -> u64 {
    if let Some(&iid) = table.get(s) {
        return iid;
    }
    let iid = table.len() as u64 + 1;
    table.insert(s.to_owned(), iid);
    // `InternedString { iid = 1, name = 2 }`.
    let len = 1 + encoded_len_varint(iid) + 1 + encoded_len_varint(s.len() as u64) + s.len();
    encode_key(field, WireType::LengthDelimited, new);
    encode_varint(len as u64, new);
    new.push(0x08);
    encode_varint(iid, new);
    new.push(0x12);
    encode_varint(s.len() as u64, new);
    new.extend_from_slice(s.as_bytes());
    iid
}

impl<'w> Sequence<'w> {
    /// A sequence writing to `out`; nothing is written yet.
    pub fn new(out: &'w mut dyn Write) -> Self {
        Sequence {
            out,
            buf: Vec::with_capacity(256),
            first: true,
            names: HashMap::default(),
            categories: HashMap::default(),
            annotation_names: HashMap::default(),
            packets: 0,
            ev: Vec::with_capacity(256),
            interned: Default::default(),
            text: String::new(),
            pending: Pending::default(),
            locations: Vec::new(),
        }
    }

    fn write_packet(&mut self, mut p: TracePacket, uses_interning: bool) -> io::Result<()> {
        p.trusted_packet_sequence_id = Some(SEQUENCE_ID);
        if self.first {
            p.sequence_flags =
                Some(proto::SEQ_INCREMENTAL_STATE_CLEARED | proto::SEQ_NEEDS_INCREMENTAL_STATE);
            p.first_packet_on_sequence = Some(true);
            self.first = false;
        } else if uses_interning {
            p.sequence_flags = Some(proto::SEQ_NEEDS_INCREMENTAL_STATE);
        }
        self.buf.clear();
        // `Trace.packet` (field 1, length-delimited): a file of these is a `Trace`.
        p.encode_length_delimited(&mut self.buf)
            .map_err(io::Error::other)?;
        self.out.write_all(&[0x0a])?;
        self.out.write_all(&self.buf)?;
        self.packets += 1;
        Ok(())
    }

    /// The first packet: the clock snapshot that ties `CLOCK_MONOTONIC` to `CLOCK_REALTIME`.
    pub fn clock_snapshot(&mut self, monotonic_ns: u64, realtime_ns: u64) -> io::Result<()> {
        let p = TracePacket {
            timestamp: Some(monotonic_ns),
            timestamp_clock_id: Some(proto::CLOCK_MONOTONIC),
            data: Some(PacketData::ClockSnapshot(ClockSnapshot {
                clocks: vec![
                    Clock {
                        clock_id: Some(proto::CLOCK_MONOTONIC),
                        timestamp: Some(monotonic_ns),
                    },
                    Clock {
                        clock_id: Some(proto::CLOCK_REALTIME),
                        timestamp: Some(realtime_ns),
                    },
                ],
                primary_trace_clock: Some(proto::CLOCK_MONOTONIC as i32),
            })),
            ..Default::default()
        };
        self.write_packet(p, false)
    }

    /// Declares a track.
    pub fn track(&mut self, ts: u64, desc: TrackDescriptor) -> io::Result<()> {
        let p = TracePacket {
            timestamp: Some(ts),
            timestamp_clock_id: Some(proto::CLOCK_MONOTONIC),
            data: Some(PacketData::TrackDescriptor(desc)),
            ..Default::default()
        };
        self.write_packet(p, false)
    }

    /// Writes one track event, interning its strings.
    pub fn event(&mut self, ev: Ev<'_>) -> io::Result<()> {
        self.begin(ev.ts, ev.track, ev.kind, ev.name, ev.category);
        for (name, value) in &ev.annotations {
            self.annotate(name, value.into());
        }
        self.pending.flows.extend_from_slice(&ev.flows);
        self.pending
            .terminating_flows
            .extend_from_slice(&ev.terminating_flows);
        self.pending.counter = ev.counter;
        self.finish()
    }

    /// Starts a track event: interns its name and category (not sent for slice ends and
    /// counter values). Annotations, flows and a counter value may follow; [`Self::finish`]
    /// writes it.
    fn begin(&mut self, ts: u64, track: u64, kind: EventType, name: &str, category: &str) {
        self.ev.clear();
        for list in &mut self.interned {
            list.clear();
        }
        let p = &mut self.pending;
        p.ts = ts;
        p.track = track;
        p.kind = kind as i32;
        p.counter = None;
        p.flows.clear();
        p.terminating_flows.clear();
        p.name_iid = None;
        if !matches!(kind, EventType::SliceEnd | EventType::Counter) {
            p.name_iid = Some(intern(&mut self.names, &mut self.interned[1], 2, name));
            let iid = intern(&mut self.categories, &mut self.interned[0], 1, category);
            // `TrackEvent.category_iids` (3, unpacked).
            self.ev.push(0x18);
            encode_varint(iid, &mut self.ev);
        }
    }

    /// Adds a debug annotation (`TrackEvent.debug_annotations`, field 4) to the event being
    /// built.
    fn annotate(&mut self, name: &str, value: Val<'_>) {
        let iid = intern(&mut self.annotation_names, &mut self.interned[2], 3, name);
        let value_len = match value {
            Val::Bool(b) => encoded_len_varint(u64::from(b)),
            Val::Uint(x) => encoded_len_varint(x),
            Val::Int(x) => encoded_len_varint(x as u64),
            Val::Double(_) => 8,
            Val::Str(s) => encoded_len_varint(s.len() as u64) + s.len(),
        };
        let ev = &mut self.ev;
        ev.push(0x22);
        encode_varint((1 + encoded_len_varint(iid) + 1 + value_len) as u64, ev);
        ev.push(0x08);
        encode_varint(iid, ev);
        match value {
            Val::Bool(b) => {
                ev.push(0x10);
                encode_varint(u64::from(b), ev);
            }
            Val::Uint(x) => {
                ev.push(0x18);
                encode_varint(x, ev);
            }
            Val::Int(x) => {
                ev.push(0x20);
                encode_varint(x as u64, ev);
            }
            Val::Double(x) => {
                ev.push(0x29);
                ev.extend_from_slice(&x.to_le_bytes());
            }
            Val::Str(s) => {
                ev.push(0x32);
                encode_varint(s.len() as u64, ev);
                ev.extend_from_slice(s.as_bytes());
            }
        }
    }

    /// Adds a text annotation formatted from `args`, without allocating.
    fn annotate_fmt(&mut self, name: &str, args: std::fmt::Arguments<'_>) {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        let _ = std::fmt::Write::write_fmt(&mut text, args);
        self.annotate(name, Val::Str(&text));
        self.text = text;
    }

    /// Adds a traced value as an annotation: numbers and booleans as themselves, the rest as
    /// text.
    fn annotate_value(&mut self, name: &str, v: &Value) {
        let val = match v {
            Value::Bool(b) => Val::Bool(*b),
            Value::I8(x) => Val::Int(i64::from(*x)),
            Value::I16(x) => Val::Int(i64::from(*x)),
            Value::I32(x) => Val::Int(i64::from(*x)),
            Value::I64(x) => Val::Int(*x),
            Value::U8(x) => Val::Uint(u64::from(*x)),
            Value::U16(x) => Val::Uint(u64::from(*x)),
            Value::U32(x) => Val::Uint(u64::from(*x)),
            Value::U64(x) => Val::Uint(*x),
            Value::F32(x) => Val::Double(f64::from(*x)),
            Value::F64(x) => Val::Double(*x),
            other => return self.annotate_fmt(name, format_args!("{other}")),
        };
        self.annotate(name, val);
    }

    /// Writes the event being built as one `TracePacket`.
    fn finish(&mut self) -> io::Result<()> {
        let p = &self.pending;
        let ev = &mut self.ev;
        // The `TrackEvent` fields after the annotations, in tag order.
        ev.push(0x48);
        encode_varint(p.kind as u64, ev);
        if let Some(iid) = p.name_iid {
            ev.push(0x50);
            encode_varint(iid, ev);
        }
        ev.push(0x58);
        encode_varint(p.track, ev);
        if let Some(c) = p.counter {
            encode_key(30, WireType::Varint, ev);
            encode_varint(c as u64, ev);
        }
        for &f in &p.flows {
            encode_key(47, WireType::SixtyFourBit, ev);
            ev.extend_from_slice(&f.to_le_bytes());
        }
        for &f in &p.terminating_flows {
            encode_key(48, WireType::SixtyFourBit, ev);
            ev.extend_from_slice(&f.to_le_bytes());
        }
        // The `TracePacket`, fields in tag order: `track_event` (11; the `data` oneof sorts at
        // its lowest tag, 6), `timestamp` (8), `trusted_packet_sequence_id` (10),
        // `interned_data` (12), `sequence_flags` (13), `timestamp_clock_id` (58),
        // `first_packet_on_sequence` (87).
        let b = &mut self.buf;
        b.clear();
        b.push(0x5a);
        encode_varint(ev.len() as u64, b);
        b.extend_from_slice(ev);
        b.push(0x40);
        encode_varint(p.ts, b);
        b.push(0x50);
        encode_varint(u64::from(SEQUENCE_ID), b);
        let interned_len: usize = self.interned.iter().map(Vec::len).sum();
        if interned_len > 0 {
            b.push(0x62);
            encode_varint(interned_len as u64, b);
            for list in &self.interned {
                b.extend_from_slice(list);
            }
        }
        let flags = if self.first {
            proto::SEQ_INCREMENTAL_STATE_CLEARED | proto::SEQ_NEEDS_INCREMENTAL_STATE
        } else {
            proto::SEQ_NEEDS_INCREMENTAL_STATE
        };
        b.push(0x68);
        encode_varint(u64::from(flags), b);
        encode_key(58, WireType::Varint, b);
        encode_varint(u64::from(proto::CLOCK_MONOTONIC), b);
        if self.first {
            encode_key(87, WireType::Varint, b);
            b.push(1);
            self.first = false;
        }
        // `Trace.packet` (field 1, length-delimited): a file of these is a `Trace`.
        let mut head = [0u8; 11];
        head[0] = 0x0a;
        let n = {
            let mut rest = &mut head[1..];
            let before = rest.len();
            prost::encoding::encode_varint(b.len() as u64, &mut rest);
            before - rest.len()
        };
        self.out.write_all(&head[..1 + n])?;
        self.out.write_all(b)?;
        self.packets += 1;
        Ok(())
    }
}

/// The futures whose polls all ran on visible threads.
fn visible_futures(m: &Merged, show_tracer: bool) -> Vec<&FutureInfo> {
    let visible: rustc_hash::FxHashSet<(u32, u32)> = m
        .visible_threads(show_tracer)
        .map(|t| (t.pid, t.tid))
        .collect();
    m.futures
        .list
        .iter()
        .filter(|f| {
            f.polls
                .iter()
                .all(|&(tid, _)| visible.contains(&(f.pid, tid)))
        })
        .collect()
}

/// Writes the merged forest as a Perfetto trace.
pub fn write(m: &Merged, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut seq = Sequence::new(out);
    let (mono, real) = m
        .clock
        .as_ref()
        .map_or((m.origin_ns, 0), |c| (c.monotonic_ns, c.realtime_ns));
    let threads: Vec<ThreadHead> = m
        .visible_threads(show_tracer)
        .map(|t| ThreadHead {
            pid: t.pid,
            tid: t.tid,
            label: if t.tracer {
                format!("{} (ruchytrace collector)", t.label())
            } else {
                t.label()
            },
        })
        .collect();
    header(&mut seq, (mono, real), m.origin_ns, &m.processes, &threads)?;

    // Flows between the polls of each future: out of poll k, into poll k + 1.
    let futures = visible_futures(m, show_tracer);
    let mut flows: HashMap<NodeId, (Option<u64>, Option<u64>)> = HashMap::default();
    for f in &futures {
        for k in 0..f.polls.len().saturating_sub(1) {
            let id = flow_id(f.pid, f.call_id, k);
            flows.entry(f.polls[k].1).or_default().0 = Some(id);
            flows.entry(f.polls[k + 1].1).or_default().1 = Some(id);
        }
    }

    let mut losses: HashMap<u32, Vec<(u64, i64)>> = HashMap::default();
    for t in m.visible_threads(show_tracer) {
        write_thread(m, t, &flows, &mut losses, &mut seq)?;
    }
    for f in &futures {
        write_future(m, f, &mut seq)?;
    }
    write_losses(losses, &mut seq)
}

/// A thread track to declare.
pub struct ThreadHead {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Its name on the track.
    pub label: String,
}

/// The first packets: the clock snapshot, then the process and thread tracks.
pub fn header(
    seq: &mut Sequence<'_>,
    (monotonic_ns, realtime_ns): (u64, u64),
    t0: u64,
    processes: &[ProcessInfo],
    threads: &[ThreadHead],
) -> io::Result<()> {
    seq.clock_snapshot(monotonic_ns, realtime_ns)?;
    for p in processes {
        let name = std::path::Path::new(&p.program)
            .file_name()
            .map_or_else(|| p.program.clone(), |n| n.to_string_lossy().into_owned());
        seq.track(
            t0,
            TrackDescriptor {
                uuid: Some(process_uuid(p.pid)),
                process: Some(ProcessDescriptor {
                    pid: Some(p.pid as i32),
                    cmdline: std::iter::once(p.program.clone())
                        .chain(p.args.iter().cloned())
                        .collect(),
                    process_name: Some(name),
                }),
                ..Default::default()
            },
        )?;
    }
    for t in threads {
        seq.track(
            t0,
            TrackDescriptor {
                uuid: Some(thread_uuid(t.pid, t.tid)),
                parent_uuid: Some(process_uuid(t.pid)),
                thread: Some(ThreadDescriptor {
                    pid: Some(t.pid as i32),
                    tid: Some(t.tid as i32),
                    thread_name: Some(t.label.clone()),
                }),
                ..Default::default()
            },
        )?;
    }
    Ok(())
}

/// Writes one node of a thread: a call's begin (`closing` false) or end, a system call (both
/// ends), or a point event. Loss records are also added to `losses` (pid -> (time, count)).
#[allow(clippy::too_many_arguments)]
pub fn write_node(
    seq: &mut Sequence<'_>,
    (pid, tid): (u32, u32),
    n: &Node,
    closing: bool,
    sites: &[Site],
    trace_end: u64,
    flows: Option<(Option<u64>, Option<u64>)>,
    losses: &mut HashMap<u32, Vec<(u64, i64)>>,
) -> io::Result<()> {
    let track = thread_uuid(pid, tid);
    match &n.kind {
        NodeKind::Call(c) if closing => {
            let end = n.end_ns.unwrap_or(trace_end).max(n.start_ns);
            seq.begin(end, track, EventType::SliceEnd, "", "");
            match &c.ret {
                Some(Return::Value(v)) => seq.annotate_fmt("return", format_args!("{v}")),
                Some(Return::Panic { message }) => seq.annotate_fmt(
                    "return",
                    format_args!("<panic: {}>", message.as_deref().unwrap_or("?")),
                ),
                Some(Return::Cancelled) => seq.annotate("return", Val::Str("<cancelled>")),
                Some(Return::NotCaptured) | None => {}
            }
            seq.annotate("end", Val::Str(c.end.as_str()));
            seq.finish()
        }
        NodeKind::Call(c) => {
            let site = &sites[c.site as usize];
            seq.begin(
                n.start_ns,
                track,
                EventType::SliceBegin,
                &site.name,
                "function",
            );
            for (i, v) in c.args.iter().enumerate() {
                let name = site.args.get(i).map_or("?", |a| a.name.as_str());
                seq.annotate_value(name, v);
            }
            let i = c.site as usize;
            if seq.locations.len() <= i {
                seq.locations.resize(i + 1, None);
            }
            let mut locations = std::mem::take(&mut seq.locations);
            let location = locations[i].get_or_insert_with(|| site.location.to_string().into());
            seq.annotate("location", Val::Str(location));
            seq.locations = locations;
            if let Some((out, into)) = flows {
                seq.pending.flows.extend(out);
                seq.pending.terminating_flows.extend(into);
            }
            seq.finish()
        }
        NodeKind::Syscall(s) => {
            seq.begin(n.start_ns, track, EventType::SliceBegin, &s.name, "syscall");
            seq.annotate_fmt("args", format_args!("{}", Joined(&s.args)));
            seq.finish()?;
            let end = n.end_ns.unwrap_or(n.start_ns);
            seq.begin(end, track, EventType::SliceEnd, "", "");
            let ret = fmt_return(s);
            seq.annotate("return", Val::Str(&ret));
            seq.finish()
        }
        NodeKind::Point { category, text } => {
            if *category == "loss" {
                // The loss point's text starts with the count (see `build`).
                let count = text
                    .split(' ')
                    .next()
                    .and_then(|c| c.parse::<i64>().ok())
                    .unwrap_or(0);
                losses.entry(pid).or_default().push((n.start_ns, count));
            }
            seq.event(Ev::new(
                n.start_ns,
                track,
                EventType::Instant,
                text,
                category,
            ))
        }
    }
}

/// Strings joined by `", "`, formatted without building the joined string.
struct Joined<'a>(&'a [String]);

impl std::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

/// One thread's slices, depth first.
fn write_thread(
    m: &Merged,
    t: &ThreadTrack,
    flows: &HashMap<NodeId, (Option<u64>, Option<u64>)>,
    losses: &mut HashMap<u32, Vec<(u64, i64)>>,
    seq: &mut Sequence<'_>,
) -> io::Result<()> {
    let mut stack: Vec<(NodeId, bool)> = t.roots.iter().rev().map(|&r| (r, false)).collect();
    while let Some((id, closing)) = stack.pop() {
        let n = m.node(id);
        write_node(
            seq,
            (t.pid, t.tid),
            n,
            closing,
            &m.sites,
            m.end_ns,
            flows.get(&id).copied(),
            losses,
        )?;
        if !closing && matches!(n.kind, NodeKind::Call(_)) {
            stack.push((id, true));
            stack.extend(n.children.iter().rev().map(|&c| (c, false)));
        }
    }
    Ok(())
}

/// A future's async track: its lifetime slice with one `poll` slice per poll.
fn write_future(m: &Merged, f: &FutureInfo, seq: &mut Sequence<'_>) -> io::Result<()> {
    let first = m.node(f.polls[0].1);
    let last = m.node(f.polls[f.polls.len() - 1].1);
    let NodeKind::Call(c0) = &first.kind else {
        return Ok(());
    };
    let NodeKind::Call(cl) = &last.kind else {
        return Ok(());
    };
    let site = m.site(c0);
    let track = async_uuid(f.pid, f.call_id);
    let (start, end) = (f.start_ns, f.end_ns);
    seq.track(
        start,
        TrackDescriptor {
            uuid: Some(track),
            parent_uuid: Some(process_uuid(f.pid)),
            name: Some(format!("{} (future {})", site.name, f.call_id)),
            ..Default::default()
        },
    )?;
    let mut ev = Ev::new(start, track, EventType::SliceBegin, &site.name, "async");
    for (i, v) in c0.args.iter().enumerate() {
        let name = site.args.get(i).map_or("?", |a| a.name.as_str());
        ev.annotations.push((name, annotation_value(v)));
    }
    seq.event(ev)?;
    for &(tid, id) in &f.polls {
        let n = m.node(id);
        let pend = n.end_ns.unwrap_or(m.end_ns).max(n.start_ns);
        let mut ev = Ev::new(n.start_ns, track, EventType::SliceBegin, "poll", "async");
        ev.annotations
            .push(("tid", AnnotationValue::Uint(u64::from(tid))));
        seq.event(ev)?;
        seq.event(Ev::new(pend, track, EventType::SliceEnd, "", ""))?;
    }
    let mut ev = Ev::new(end, track, EventType::SliceEnd, "", "");
    ev.annotations
        .push(("lifetime_ns", AnnotationValue::Uint(end - start)));
    ev.annotations
        .push(("busy_ns", AnnotationValue::Uint(f.busy_ns)));
    ev.annotations
        .push(("polls", AnnotationValue::Uint(f.polls.len() as u64)));
    let list: Vec<String> = f.segment_threads().iter().map(u32::to_string).collect();
    ev.annotations
        .push(("threads", AnnotationValue::String(list.join(","))));
    if let Some(r) = return_text(&cl.ret) {
        ev.annotations.push(("return", AnnotationValue::String(r)));
    }
    ev.annotations
        .push(("end", AnnotationValue::String(cl.end.as_str().into())));
    seq.event(ev)
}

/// Each process's lost-events counter: the cumulative count at each loss record.
pub fn write_losses(
    losses: HashMap<u32, Vec<(u64, i64)>>,
    seq: &mut Sequence<'_>,
) -> io::Result<()> {
    let mut pids: Vec<u32> = losses.keys().copied().collect();
    pids.sort_unstable();
    for pid in pids {
        let mut list = losses[&pid].clone();
        list.sort_unstable();
        let track = loss_counter_uuid(pid);
        seq.track(
            list[0].0,
            TrackDescriptor {
                uuid: Some(track),
                parent_uuid: Some(process_uuid(pid)),
                name: Some("lost events".into()),
                counter: Some(CounterDescriptor {
                    unit: Some(proto::UNIT_COUNT),
                    is_incremental: Some(false),
                    unit_name: Some("events".into()),
                }),
                ..Default::default()
            },
        )?;
        let mut total = 0i64;
        for (ts, count) in list {
            total += count;
            let mut ev = Ev::new(ts, track, EventType::Counter, "", "");
            ev.counter = Some(total);
            seq.event(ev)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a written trace into its packets' bytes (each a `Trace.packet` field).
    fn packets(mut bytes: &[u8]) -> Vec<&[u8]> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], 0x0a, "a Trace.packet field");
            bytes = &bytes[1..];
            let len = prost::encoding::decode_varint(&mut bytes).unwrap() as usize;
            out.push(&bytes[..len]);
            bytes = &bytes[len..];
        }
        out
    }

    /// The hand-encoded track events are byte for byte what `prost` writes for the same
    /// packets: each packet decoded and encoded again by `prost` gives the same bytes.
    #[test]
    fn hand_encoded_events_match_prost() {
        let mut out = Vec::new();
        let mut seq = Sequence::new(&mut out);
        // An event as the very first packet (flags and `first_packet_on_sequence`).
        let mut ev = Ev::new(5, 7, EventType::Instant, "start", "instant");
        ev.annotations
            .push(("s", AnnotationValue::String("x".into())));
        seq.event(ev).unwrap();
        seq.clock_snapshot(10, 20).unwrap();
        for i in 0..300u64 {
            let name = format!("f{}", i % 7);
            let mut ev = Ev::new(
                1 << (i % 60),
                thread_uuid(1, i as u32),
                EventType::SliceBegin,
                &name,
                ["function", "syscall"][i as usize % 2],
            );
            ev.annotations
                .push(("b", AnnotationValue::Bool(i % 2 == 0)));
            ev.annotations.push(("u", AnnotationValue::Uint(i << 40)));
            ev.annotations
                .push(("i", AnnotationValue::Int(-(i as i64))));
            ev.annotations
                .push(("d", AnnotationValue::Double(i as f64 / 3.0)));
            ev.annotations
                .push(("long", AnnotationValue::String("é".repeat(i as usize))));
            if i % 3 == 0 {
                ev.flows.push(u64::MAX - i);
                ev.terminating_flows.push(i);
            }
            seq.event(ev).unwrap();
            seq.event(Ev::new(i, 3, EventType::SliceEnd, "", ""))
                .unwrap();
            let mut ev = Ev::new(i, 4, EventType::Counter, "", "");
            ev.counter = Some(i as i64 - 150);
            seq.event(ev).unwrap();
        }
        let written = seq.packets;
        let list = packets(&out);
        assert_eq!(list.len() as u64, written);
        assert_eq!(list.len(), 2 + 3 * 300);
        for p in list {
            let decoded = TracePacket::decode(p).unwrap();
            assert_eq!(decoded.encode_to_vec(), p, "{decoded:?}");
        }
        let first = TracePacket::decode(packets(&out)[0]).unwrap();
        assert_eq!(first.first_packet_on_sequence, Some(true));
        assert_eq!(first.sequence_flags, Some(3));
        let Some(PacketData::TrackEvent(te)) = first.data else {
            panic!("a track event")
        };
        assert_eq!(te.debug_annotations.len(), 1);
        assert_eq!(
            first.interned_data.unwrap().event_names[0].name.as_deref(),
            Some("start")
        );
    }
}
