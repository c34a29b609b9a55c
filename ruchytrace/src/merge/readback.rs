//! Reading a merged JSON document (`merge --format json`) back into a [`Merged`] forest, so
//! `report`, `diff` and `convert` work on a merged trace as on its inputs.
//!
//! The document carries everything the forest holds except the sites' declared types, which
//! come back from the values' `type_info` (a call site's table entry is rebuilt from its first
//! call: display and qualified name, location, argument names and types, return type; a site
//! whose calls carry `future` or `resumed` is `async`).

use std::collections::HashMap;

use ruchytrace_runtime::format::value_json::typed_to_value;
use ruchytrace_runtime::model::{ArgInfo, ClockInfo, Location, Return, Site, SiteKind};
use serde_json::Value as Json;

use super::{Call, CallEnd, Merged, Node, NodeId, NodeKind, ProcessInfo, Syscall, ThreadTrack};

type Result<T> = std::result::Result<T, String>;

fn field<'a>(obj: &'a Json, key: &str, at: &str) -> Result<&'a Json> {
    obj.get(key)
        .ok_or_else(|| format!("{at}: missing \"{key}\""))
}

fn u64_of(obj: &Json, key: &str, at: &str) -> Result<u64> {
    field(obj, key, at)?
        .as_u64()
        .ok_or_else(|| format!("{at}: \"{key}\" is not a number"))
}

fn opt_u64(obj: &Json, key: &str) -> Option<u64> {
    obj.get(key).and_then(Json::as_u64)
}

fn str_of<'a>(obj: &'a Json, key: &str, at: &str) -> Result<&'a str> {
    field(obj, key, at)?
        .as_str()
        .ok_or_else(|| format!("{at}: \"{key}\" is not a string"))
}

fn strings(obj: &Json, key: &str, at: &str) -> Result<Vec<String>> {
    field(obj, key, at)?
        .as_array()
        .ok_or_else(|| format!("{at}: \"{key}\" is not an array"))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{at}: \"{key}\" holds a non-string"))
        })
        .collect()
}

/// `file:line:col` (the file may itself contain `:`).
fn location(text: &str) -> Location {
    let mut parts = text.rsplitn(3, ':');
    let col = parts.next().and_then(|c| c.parse().ok());
    let line = parts.next().and_then(|l| l.parse().ok());
    match (parts.next(), line, col) {
        (Some(file), Some(line), Some(column)) => Location {
            file: file.to_owned(),
            line,
            column,
        },
        _ => Location {
            file: text.to_owned(),
            line: 0,
            column: 0,
        },
    }
}

struct Reader {
    nodes: Vec<Node>,
    sites: Vec<Site>,
    site_ids: HashMap<(String, String), u32>,
}

impl Reader {
    fn site(&mut self, obj: &Json, at: &str) -> Result<u32> {
        let qualified = str_of(obj, "qualified_name", at)?.to_owned();
        let loc = str_of(obj, "location", at)?.to_owned();
        if let Some(&id) = self.site_ids.get(&(qualified.clone(), loc.clone())) {
            // A future's first polls return nothing: its return type comes with the last.
            let site = &mut self.sites[id as usize];
            if site.return_type == "?" {
                if let Some(t) = obj["return"]["type_info"]["name"].as_str() {
                    site.return_type = t.to_owned();
                }
            }
            return Ok(id);
        }
        let id = self.sites.len() as u32;
        let args = field(obj, "args", at)?
            .as_array()
            .ok_or_else(|| format!("{at}: \"args\" is not an array"))?
            .iter()
            .map(|a| ArgInfo {
                name: a["name"].as_str().unwrap_or("?").to_owned(),
                type_name: a["type_info"]["name"].as_str().unwrap_or("?").to_owned(),
            })
            .collect();
        let asynchronous = obj.get("future").is_some_and(|f| !f.is_null())
            || obj["resumed"].as_bool() == Some(true);
        self.sites.push(Site {
            id,
            name: str_of(obj, "name", at)?.to_owned(),
            qualified_name: qualified.clone(),
            location: location(&loc),
            args,
            return_type: obj["return"]["type_info"]["name"]
                .as_str()
                .unwrap_or("?")
                .to_owned(),
            kind: if asynchronous {
                SiteKind::Async
            } else {
                SiteKind::Fn
            },
        });
        self.site_ids.insert((qualified, loc), id);
        Ok(id)
    }

    /// Reads `events` (and their children, iteratively) and returns the ids of the top level.
    fn nodes(&mut self, events: &Json, at: &str) -> Result<Vec<NodeId>> {
        let list = events
            .as_array()
            .ok_or_else(|| format!("{at}: \"events\" is not an array"))?;
        let mut top = Vec::new();
        // (node json, parent id)
        let mut stack: Vec<(&Json, Option<NodeId>)> =
            list.iter().rev().map(|e| (e, None)).collect();
        while let Some((e, parent)) = stack.pop() {
            let (node, children) = self.node(e, at)?;
            let id = self.nodes.len() as NodeId;
            self.nodes.push(node);
            match parent {
                Some(p) => self.nodes[p as usize].children.push(id),
                None => top.push(id),
            }
            if let Some(children) = children {
                stack.extend(children.iter().rev().map(|c| (c, Some(id))));
            }
        }
        Ok(top)
    }

    fn node<'a>(&mut self, e: &'a Json, at: &str) -> Result<(Node, Option<&'a Vec<Json>>)> {
        let kind = str_of(e, "type", at)?;
        let start_ns = u64_of(e, "start_ns", at)?;
        Ok(match kind {
            "call" => {
                let site = self.site(e, at)?;
                let args = field(e, "args", at)?
                    .as_array()
                    .ok_or_else(|| format!("{at}: call \"args\" is not an array"))?
                    .iter()
                    .map(|a| typed_to_value(a).map_err(|m| format!("{at}: argument: {m}")))
                    .collect::<Result<Vec<_>>>()?;
                let end = match str_of(e, "end", at)? {
                    "returned" => CallEnd::Returned,
                    "suspended" => CallEnd::Suspended,
                    "exit_lost" => CallEnd::ExitLost,
                    "open" => CallEnd::Open,
                    other => return Err(format!("{at}: unknown call end {other:?}")),
                };
                let ret = match (e.get("panic"), e.get("return")) {
                    (Some(Json::String(p)), _) => Some(Return::Panic {
                        message: (!p.is_empty()).then(|| p.clone()),
                    }),
                    (_, Some(r)) if !r.is_null() => Some(Return::Value(
                        typed_to_value(r).map_err(|m| format!("{at}: return: {m}"))?,
                    )),
                    _ if end == CallEnd::Returned => Some(Return::NotCaptured),
                    _ => None,
                };
                let node = Node {
                    start_ns,
                    end_ns: opt_u64(e, "end_ns"),
                    children: Vec::new(),
                    kind: NodeKind::Call(Call {
                        site,
                        args,
                        ret,
                        end,
                        resumed: e["resumed"].as_bool() == Some(true),
                        call_id: e["future"]["call_id"].as_u64(),
                    }),
                };
                (node, e.get("children").and_then(Json::as_array))
            }
            "syscall" => (
                Node {
                    start_ns,
                    end_ns: opt_u64(e, "duration_ns").map(|d| start_ns + d),
                    children: Vec::new(),
                    kind: NodeKind::Syscall(Syscall {
                        name: str_of(e, "name", at)?.to_owned(),
                        args: strings(e, "args", at)?,
                        raw_args: Vec::new(),
                        ret: e.get("return").and_then(Json::as_i64),
                        errno: e.get("errno").and_then(Json::as_str).map(str::to_owned),
                        caller: None,
                        by_tracer: false,
                        startup: None,
                    }),
                },
                None,
            ),
            other => {
                let category: &'static str = match other {
                    "instant" => "instant",
                    "loss" => "loss",
                    "signal" => "signal",
                    "exit" => "exit",
                    "killed" => "killed",
                    _ => return Err(format!("{at}: unknown event type {other:?}")),
                };
                (
                    Node {
                        start_ns,
                        end_ns: None,
                        children: Vec::new(),
                        kind: NodeKind::Point {
                            category,
                            text: str_of(e, "text", at)?.to_owned(),
                        },
                    },
                    None,
                )
            }
        })
    }
}

/// Reads a merged JSON document.
pub fn read_merged(doc: &Json) -> Result<Merged> {
    let meta = field(doc, "metadata", "document")?;
    let version = u64_of(meta, "version", "metadata")?;
    if version == 0 || version > u64::from(super::json::MERGED_VERSION) {
        return Err(format!(
            "unsupported merged trace version {version} (this reader supports 1 to {})",
            super::json::MERGED_VERSION
        ));
    }
    let clock: Option<ClockInfo> = match meta.get("clock") {
        Some(c) if !c.is_null() => {
            Some(serde_json::from_value(c.clone()).map_err(|e| format!("metadata.clock: {e}"))?)
        }
        _ => None,
    };
    let processes = field(meta, "processes", "metadata")?
        .as_array()
        .ok_or("metadata.processes is not an array")?
        .iter()
        .map(|p| {
            Ok(ProcessInfo {
                pid: u64_of(p, "pid", "process")? as u32,
                program: str_of(p, "program", "process")?.to_owned(),
                args: strings(p, "args", "process")?,
                collector_tid: opt_u64(p, "collector_tid").map(|t| t as u32),
                sample_rate: opt_u64(p, "sample_rate").map(|r| r as u32),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut r = Reader {
        nodes: Vec::new(),
        sites: Vec::new(),
        site_ids: HashMap::new(),
    };
    let mut threads = Vec::new();
    for t in field(doc, "threads", "document")?
        .as_array()
        .ok_or("\"threads\" is not an array")?
    {
        let pid = u64_of(t, "pid", "thread")? as u32;
        let tid = u64_of(t, "tid", "thread")? as u32;
        let at = format!("thread {tid}");
        let roots = r.nodes(field(t, "events", &at)?, &at)?;
        threads.push(ThreadTrack {
            pid,
            tid,
            name: t.get("name").and_then(Json::as_str).map(str::to_owned),
            tracer: t["tracer"].as_bool() == Some(true),
            roots,
        });
    }
    let mut m = Merged {
        sources: strings(meta, "sources", "metadata")?,
        processes,
        threads,
        nodes: r.nodes,
        sites: r.sites,
        origin_ns: u64_of(meta, "origin_ns", "metadata")?,
        end_ns: u64_of(meta, "end_ns", "metadata")?,
        clock,
        warnings: strings(meta, "warnings", "metadata")?,
        futures: Default::default(),
    };
    m.futures = super::futures::collect(&m);
    Ok(m)
}
