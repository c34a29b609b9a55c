//! Keeping the tracer's own thread on the CPU where the traced thread runs.
//!
//! Every ptrace stop wakes the tracer, and every resume wakes the tracee; when the two run on
//! different CPUs each wake-up is an inter-processor interrupt and a cold cache, which costs more
//! than the stop itself. Pinning both (`--pin-cpu`) removes that but changes the program's
//! affinity. Instead the tracer moves **only its own thread** to the CPU the tracee last ran on
//! (`/proc/TID/stat`, field 39), re-checked every [`CHECK_EVERY`] stops — a file read per check,
//! one comparison per stop. The scheduler then tends to wake the tracee where its waker runs.
//! When the stops of a window came from several threads taking turns (a multi-threaded program
//! running in parallel), there is no single CPU to follow and the tracer's own affinity is
//! restored; a parent blocked in `wait4` while its child runs does not count, so fork/exec
//! chains are followed child by child. The program's affinity is never touched.

use nix::sched::CpuSet;

use crate::syscalls::sys;

/// Stops between two looks at the tracee's CPU.
pub(super) const CHECK_EVERY: u32 = 256;

/// The tracer thread's CPU-following state.
pub(super) struct CpuFollow {
    enabled: bool,
    stops: u32,
    /// The tracer thread's affinity before we pinned it.
    original: Option<CpuSet>,
    pinned: Option<usize>,
    /// The thread of the previous stop, and how often the stopping thread changed this window.
    last_tid: i32,
    switches: u32,
}

/// Thread changes per window above which the stops are "several threads taking turns".
const MAX_SWITCHES: u32 = CHECK_EVERY / 16;

impl CpuFollow {
    pub(super) fn new(enabled: bool) -> Self {
        CpuFollow {
            enabled,
            stops: 0,
            original: None,
            pinned: None,
            last_tid: 0,
            switches: 0,
        }
    }

    /// Called once per stop of `tid`.
    #[inline]
    pub(super) fn on_stop(&mut self, tid: i32) {
        if !self.enabled {
            return;
        }
        if tid != self.last_tid {
            self.last_tid = tid;
            self.switches += 1;
        }
        self.stops = self.stops.wrapping_add(1);
        if self.stops % CHECK_EVERY != 0 {
            return;
        }
        let switches = std::mem::take(&mut self.switches);
        self.check(tid, switches);
    }

    #[cold]
    fn check(&mut self, tid: i32, switches: u32) {
        if switches > MAX_SWITCHES {
            self.restore();
            return;
        }
        let Some(cpu) = last_cpu(tid) else {
            return;
        };
        if self.pinned == Some(cpu) {
            return;
        }
        if self.original.is_none() {
            match sys::thread_cpus() {
                Ok(set) => self.original = Some(set),
                Err(_) => return,
            }
        }
        // Only follow onto CPUs we were allowed to run on.
        if !self
            .original
            .as_ref()
            .is_some_and(|s| s.is_set(cpu).unwrap_or(false))
        {
            return;
        }
        if sys::pin_thread_to_cpu(cpu).is_ok() {
            tracing::trace!(pid = tid, cpu, "tracer follows tracee");
            self.pinned = Some(cpu);
        }
    }

    /// Gives the tracer thread its original affinity back.
    pub(super) fn restore(&mut self) {
        if self.pinned.take().is_some() {
            if let Some(set) = &self.original {
                let _ = sys::set_thread_cpus(set);
            }
        }
    }
}

impl Drop for CpuFollow {
    fn drop(&mut self) {
        self.restore();
    }
}

/// The CPU `tid` last ran on: field 39 (`processor`) of `/proc/TID/stat`.
pub(super) fn last_cpu(tid: i32) -> Option<usize> {
    let stat = std::fs::read_to_string(format!("/proc/{tid}/stat")).ok()?;
    parse_processor(&stat)
}

fn parse_processor(stat: &str) -> Option<usize> {
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(39 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processor_field_after_odd_command_names() {
        let tail = (3..=52)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let stat = format!("42 (a) b (c) {tail}");
        assert_eq!(parse_processor(&stat), Some(39));
        let own = last_cpu(std::process::id() as i32);
        assert!(own.is_some());
    }
}
