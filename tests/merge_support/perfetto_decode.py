#!/usr/bin/env python3
"""Decodes a .pftrace with Perfetto's own message types (the `perfetto` package's
perfetto_trace_pb2) and replays it the way a viewer does, printing JSON for the Rust tests.

Checks made here (each failure goes to "errors"): interned ids are defined before use on their
sequence; the first packet of the sequence clears incremental state; packets that use interned
ids say they need it; every track event names a declared track; every slice begin has its end
on the same track, in time order; timestamps use CLOCK_MONOTONIC.

Output: {"packets", "first_packet_flags", "clock_snapshot", "tracks": {uuid: {...}},
"slices": [{"track", "name", "category", "ts", "dur", "depth", "parent", "args",
"flows_out", "flows_in"}], "instants": [...], "counters": [...], "errors": [...]}
"""

import json
import sys

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

SLICE_BEGIN = pb.TrackEvent.TYPE_SLICE_BEGIN
SLICE_END = pb.TrackEvent.TYPE_SLICE_END
INSTANT = pb.TrackEvent.TYPE_INSTANT
COUNTER = pb.TrackEvent.TYPE_COUNTER


def annotation_value(a):
    kind = a.WhichOneof("value")
    return getattr(a, kind) if kind else None


def main(path):
    trace = pb.Trace()
    with open(path, "rb") as f:
        trace.ParseFromString(f.read())
    errors = []
    tracks = {}
    slices = []
    instants = []
    counters = []
    open_slices = {}  # track -> stack of slice indexes
    last_ts = {}  # track -> last timestamp
    interned = {}  # sequence -> {"names", "cats", "anns"}
    out = {"packets": len(trace.packet), "clock_snapshot": None}
    for i, p in enumerate(trace.packet):
        seq = p.trusted_packet_sequence_id
        flags = p.sequence_flags
        if i == 0:
            out["first_packet_flags"] = flags
        if flags & pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED:
            interned[seq] = {"names": {}, "cats": {}, "anns": {}}
        state = interned.get(seq)
        if p.HasField("interned_data"):
            if state is None:
                errors.append(f"packet {i}: interned data before the state was cleared")
                state = interned.setdefault(seq, {"names": {}, "cats": {}, "anns": {}})
            for table, entries in (("names", p.interned_data.event_names),
                                   ("cats", p.interned_data.event_categories),
                                   ("anns", p.interned_data.debug_annotation_names)):
                for e in entries:
                    if e.iid in state[table]:
                        errors.append(f"packet {i}: {table} iid {e.iid} defined twice")
                    if e.name in state[table].values():
                        errors.append(f"packet {i}: {table} {e.name!r} interned twice")
                    state[table][e.iid] = e.name
        kind = p.WhichOneof("data")
        if kind == "clock_snapshot":
            out["clock_snapshot"] = {
                "primary": p.clock_snapshot.primary_trace_clock,
                "clocks": {c.clock_id: c.timestamp for c in p.clock_snapshot.clocks},
            }
        elif kind == "track_descriptor":
            d = p.track_descriptor
            t = {"uuid": d.uuid, "parent": d.parent_uuid if d.HasField("parent_uuid") else None}
            if d.HasField("process"):
                t.update(kind="process", pid=d.process.pid, name=d.process.process_name,
                         cmdline=list(d.process.cmdline))
            elif d.HasField("thread"):
                t.update(kind="thread", pid=d.thread.pid, tid=d.thread.tid,
                         name=d.thread.thread_name)
            elif d.HasField("counter"):
                t.update(kind="counter", name=d.name, unit=d.counter.unit)
            else:
                t.update(kind="async", name=d.name)
            tracks[d.uuid] = t
        elif kind == "track_event":
            e = p.track_event
            if p.timestamp_clock_id != pb.BUILTIN_CLOCK_MONOTONIC:
                errors.append(f"packet {i}: clock id {p.timestamp_clock_id}")
            uses = e.HasField("name_iid") or len(e.category_iids) or any(
                a.HasField("name_iid") for a in e.debug_annotations)
            if uses and not flags & pb.TracePacket.SEQ_NEEDS_INCREMENTAL_STATE:
                errors.append(f"packet {i}: uses interned ids without SEQ_NEEDS_INCREMENTAL_STATE")
            if state is None:
                errors.append(f"packet {i}: track event before incremental state was cleared")
                continue

            def lookup(table, iid):
                if iid not in state[table]:
                    errors.append(f"packet {i}: unknown {table} iid {iid}")
                    return None
                return state[table][iid]

            track = e.track_uuid
            if track not in tracks:
                errors.append(f"packet {i}: undeclared track {track}")
            ts = p.timestamp
            if ts < last_ts.get(track, 0):
                errors.append(f"packet {i}: time goes back on track {track}")
            last_ts[track] = ts
            name = lookup("names", e.name_iid) if e.HasField("name_iid") else None
            cats = [lookup("cats", c) for c in e.category_iids]
            args = {lookup("anns", a.name_iid): annotation_value(a) for a in e.debug_annotations}
            stack = open_slices.setdefault(track, [])
            if e.type == SLICE_BEGIN:
                slices.append({
                    "track": track, "name": name, "category": cats[0] if cats else None,
                    "ts": ts, "dur": None, "depth": len(stack),
                    "parent": stack[-1] if stack else None, "args": args,
                    "flows_out": list(e.flow_ids), "flows_in": list(e.terminating_flow_ids),
                })
                stack.append(len(slices) - 1)
            elif e.type == SLICE_END:
                if not stack:
                    errors.append(f"packet {i}: slice end without a begin on track {track}")
                    continue
                s = slices[stack.pop()]
                s["dur"] = ts - s["ts"]
                s["args"].update(args)
            elif e.type == INSTANT:
                instants.append({"track": track, "name": name,
                                 "category": cats[0] if cats else None, "ts": ts, "args": args})
            elif e.type == COUNTER:
                counters.append({"track": track, "ts": ts, "value": e.counter_value})
            else:
                errors.append(f"packet {i}: event type {e.type}")
    for track, stack in open_slices.items():
        if stack:
            errors.append(f"track {track}: {len(stack)} slice(s) never ended")
    out.update(tracks={str(k): v for k, v in tracks.items()}, slices=slices,
               instants=instants, counters=counters, errors=errors)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
