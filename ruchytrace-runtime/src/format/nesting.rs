//! [`Nesting`]: per-thread call stacks, so every writer and reader agrees on depths and
//! durations.

use super::{EventCtx, FxMap, SiteTable};
use crate::model::Event;

/// One frame of a thread's call stack.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    site: u32,
    /// Entry time (`None` for a future resumed without a known enter).
    enter_ts: Option<u64>,
    call_id: Option<u64>,
}

/// A call that had not returned when observation stopped ([`Nesting::open_calls`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCall {
    /// Process id.
    pub pid: u32,
    /// Thread id (for a suspended future: the thread that last polled it).
    pub tid: u32,
    /// Site id.
    pub site: u32,
    /// Entry time, when known.
    pub enter_ts: Option<u64>,
    /// The future's call id (`async fn`).
    pub call_id: Option<u64>,
    /// True for a suspended future (not on any thread's stack).
    pub suspended: bool,
}

/// Tracks per-(pid, tid) call stacks so writers and readers get depths and durations.
///
/// * A suspended future's frame leaves its thread's stack; a resume pushes it back, possibly on
///   another thread; its exit duration is measured from its enter.
/// * Recovery after loss: an exit whose site is not on top pops frames until it matches,
///   counting the popped calls as "exit lost" ([`Nesting::exits_lost`]). An exit that matches no
///   frame at all is reported with no duration and leaves the stack alone.
#[derive(Debug, Default)]
pub struct Nesting {
    stacks: FxMap<(u32, u32), Vec<Frame>>,
    suspended: FxMap<u64, (u32, u32, Frame)>,
    exits_lost: u64,
    unmatched_exits: u64,
}

impl Nesting {
    /// No thread seen yet.
    pub fn new() -> Self {
        Nesting::default()
    }

    /// Updates the stacks with `ev` and returns its context.
    pub fn observe<'a>(&mut self, ev: &Event, sites: &'a SiteTable) -> EventCtx<'a> {
        let key = ev.pid_tid();
        let stack = self.stacks.entry(key).or_default();
        let (depth, duration_ns, site) = match ev {
            Event::Enter {
                site, ts, call_id, ..
            } => {
                let depth = stack.len();
                stack.push(Frame {
                    site: *site,
                    enter_ts: Some(*ts),
                    call_id: *call_id,
                });
                (depth, None, Some(*site))
            }
            Event::Exit {
                site, ts, call_id, ..
            } => {
                let frame = match pop_matching(stack, *site, *call_id) {
                    Some((frame, lost)) => {
                        self.exits_lost += lost;
                        Some(frame)
                    }
                    // A future that exits while suspended (e.g. dropped) is not on any stack.
                    None => call_id
                        .and_then(|id| self.suspended.remove(&id))
                        .map(|(_, _, f)| f),
                };
                if frame.is_none() {
                    self.unmatched_exits += 1;
                }
                let duration = frame
                    .and_then(|f| f.enter_ts)
                    .map(|enter| ts.saturating_sub(enter));
                (stack.len(), duration, Some(*site))
            }
            Event::Suspend {
                site,
                call_id,
                pid,
                tid,
                ..
            } => {
                if let Some((frame, lost)) = pop_matching(stack, *site, Some(*call_id)) {
                    self.exits_lost += lost;
                    self.suspended.insert(*call_id, (*pid, *tid, frame));
                }
                (stack.len(), None, Some(*site))
            }
            Event::Resume { site, call_id, .. } => {
                let depth = stack.len();
                let frame = self
                    .suspended
                    .remove(call_id)
                    .map(|(_, _, f)| f)
                    .unwrap_or(Frame {
                        site: *site,
                        enter_ts: None,
                        call_id: Some(*call_id),
                    });
                stack.push(frame);
                (depth, None, Some(*site))
            }
            Event::Instant { .. }
            | Event::Thread { .. }
            | Event::Loss { .. }
            | Event::Stall { .. } => (stack.len(), None, None),
        };
        EventCtx {
            depth,
            duration_ns,
            site: site.and_then(|id| sites.get(id)),
            multi_thread: self.stacks.len() > 1,
        }
    }

    /// Calls entered and not exited: on a thread's stack (innermost last) or suspended.
    pub fn open_calls(&self) -> Vec<OpenCall> {
        let mut keys: Vec<_> = self.stacks.keys().copied().collect();
        keys.sort_unstable();
        let mut out = Vec::new();
        for (pid, tid) in keys {
            for f in &self.stacks[&(pid, tid)] {
                out.push(OpenCall {
                    pid,
                    tid,
                    site: f.site,
                    enter_ts: f.enter_ts,
                    call_id: f.call_id,
                    suspended: false,
                });
            }
        }
        let mut suspended: Vec<_> = self.suspended.values().collect();
        suspended.sort_unstable_by_key(|(pid, tid, f)| (*pid, *tid, f.call_id));
        for (pid, tid, f) in suspended {
            out.push(OpenCall {
                pid: *pid,
                tid: *tid,
                site: f.site,
                enter_ts: f.enter_ts,
                call_id: f.call_id,
                suspended: true,
            });
        }
        out
    }

    /// Calls popped without their exit (their exit was lost) during loss recovery.
    pub fn exits_lost(&self) -> u64 {
        self.exits_lost
    }

    /// Exits that matched no open call (their enter was lost or predates the trace).
    pub fn unmatched_exits(&self) -> u64 {
        self.unmatched_exits
    }

    /// Current stack depth of a thread.
    pub fn depth(&self, pid: u32, tid: u32) -> usize {
        self.stacks.get(&(pid, tid)).map_or(0, Vec::len)
    }
}

/// Pops the innermost frame of `site` (and `call_id`, when given) and every frame above it.
/// Returns the frame and how many frames above it were discarded; `None` (stack untouched) when
/// no frame matches.
fn pop_matching(stack: &mut Vec<Frame>, site: u32, call_id: Option<u64>) -> Option<(Frame, u64)> {
    let pos = stack
        .iter()
        .rposition(|f| f.site == site && (call_id.is_none() || f.call_id == call_id))?;
    let lost = (stack.len() - pos - 1) as u64;
    stack.truncate(pos + 1);
    stack.pop().map(|f| (f, lost))
}
