//! The JSON function trace (`fn.json`): writer (`writer`) and reader (`reader`).
//!
//! The writer streams one event per line so the file is useful while it grows and a truncated
//! file can be salvaged line by line:
//!
//! ```text
//! {"metadata":{...},
//! "events":[
//! {"type":"function_enter",...},
//! {"type":"function_exit",...}
//! ],
//! "sites":[
//! {"id":0,...}
//! ],
//! "end":{"complete":true,"events":2,"lost":0,"end_ns":...}}
//! ```
//!
//! Sites come after the events because they are discovered while streaming; every call event
//! also carries its site's `name` (and the enter its `location`), so a truncated file is still
//! readable. The reader accepts any JSON layout of the same document (e.g. pretty-printed); only
//! the salvage of a damaged file relies on the line layout above. The schema is in
//! `docs/trace-format.md` and `docs/schema/fn-trace.schema.json`.

#[cfg(feature = "readers")]
mod reader;
mod writer;

#[cfg(feature = "readers")]
pub use reader::{check_metadata, parse_event, parse_event_str, read_json};
pub use writer::{metadata_json, site_json, write_event, JsonWriter};

use crate::model::LossReason;

/// The file name of a loss reason (`buffer_full`, `evicted`, `unflushed`).
pub fn loss_reason_name(r: LossReason) -> &'static str {
    match r {
        LossReason::BufferFull => "buffer_full",
        LossReason::Evicted => "evicted",
        LossReason::Unflushed => "unflushed",
    }
}

#[cfg(feature = "readers")]
pub(super) fn loss_reason_from(s: &str) -> Option<LossReason> {
    match s {
        "buffer_full" => Some(LossReason::BufferFull),
        "evicted" => Some(LossReason::Evicted),
        "unflushed" => Some(LossReason::Unflushed),
        _ => None,
    }
}
