//! Keeping the tracer's own thread on the CPU where the traced thread runs.
//!
//! Every ptrace stop wakes the tracer, and every resume wakes the tracee; when the two run on
//! different CPUs each wake-up is a cross-CPU wake-up of an idle CPU, which costs several times
//! the stop itself. Pinning both (`--pin-cpu`) removes that but changes the program's affinity.
//! Moving or pinning only the tracer's thread does not help on its own: at a resume the
//! tracer is running on its CPU, so the scheduler wakes the tracee on an idle CPU instead
//! (`select_idle_sibling`), and the two drift apart again at once.
//!
//! [`CpuMode::Auto`] therefore gives the tracer's thread the `SCHED_IDLE` policy: a CPU that
//! runs only `SCHED_IDLE` threads counts as idle when a thread is woken, so a tracee resumed by
//! the tracer is woken on the tracer's CPU and preempts it there; the tracer stays runnable on
//! that CPU and runs again as soon as the tracee stops. The tracer moves itself (once, without
//! staying pinned) to the CPU of the thread whose stops it sees: 8 stops after the stopping
//! thread changed or after an exec, and every [`CHECK_EVERY`] stops. A `SCHED_IDLE` thread
//! only gets CPU time nobody else wants, so every 100 ms the tracer looks at the machine's idle
//! time (`/proc/stat`): with less than half a CPU idle it takes `SCHED_OTHER` back (on a busy
//! machine the scheduler keeps tracer and tracee together anyway), and tries again later,
//! backing off. This is only done where the thread may leave `SCHED_IDLE` again (root,
//! `CAP_SYS_NICE`, `RLIMIT_NICE` >= 20); elsewhere `auto` leaves placement to the scheduler.
//!
//! [`CpuMode::Follow`] (the former default, kept to compare) pins the tracer's thread to the
//! CPU the tracee last ran on, every [`CHECK_EVERY`] stops. The program's affinity and
//! scheduling policy are never touched in any mode.

use std::fs::File;

use nix::sched::CpuSet;

use crate::syscalls::options::CpuMode;
use crate::syscalls::sys;

/// Stops between two looks at the tracee's CPU.
pub(super) const CHECK_EVERY: u32 = 256;

/// Thread changes per window above which the stops are "several threads taking turns".
const MAX_SWITCHES: u32 = CHECK_EVERY / 16;

/// Consecutive stops of one thread after which the tracer moves next to it.
const SETTLE: u32 = 8;

/// How often the machine's idle time is looked at.
const LOAD_PERIOD_NS: u64 = 100_000_000;

/// First and longest wait before `SCHED_IDLE` is tried again on a busy machine.
const BACKOFF_MIN_NS: u64 = 200_000_000;
const BACKOFF_MAX_NS: u64 = 3_200_000_000;

/// What the tracer does, once [`CpuMode::Auto`] is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Active {
    Off,
    Follow,
    Idle,
}

/// The tracer thread's placement state.
pub(super) struct CpuPlacement {
    active: Active,
    stops: u32,
    /// The tracer thread's affinity before we pinned or moved it.
    original: Option<CpuSet>,
    /// Follow: the CPU we are pinned to.
    pinned: Option<usize>,
    /// The thread of the previous stop, how often the stopping thread changed this window,
    /// and how many stops in a row the current one made.
    last_tid: i32,
    switches: u32,
    run: u32,
    /// Idle: whether the thread has `SCHED_IDLE` now.
    idle_policy: bool,
    /// Idle: `/proc/stat`, and its idle/total times at the last look.
    stat: Option<File>,
    last_times: Option<(u64, u64)>,
    next_load_ns: u64,
    /// Idle: not before this time (after the machine was found busy), and the next back-off.
    retry_ns: u64,
    backoff_ns: u64,
    ncpu: usize,
}

impl CpuPlacement {
    pub(super) fn new(mode: CpuMode) -> Self {
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
        let active = match mode {
            CpuMode::Off => Active::Off,
            CpuMode::Follow => Active::Follow,
            // One CPU: nothing to cross. Elsewhere only if SCHED_IDLE can be left again.
            CpuMode::Auto if ncpu > 1 && sys::idle_policy_is_reversible() => Active::Idle,
            CpuMode::Auto => Active::Off,
        };
        tracing::debug!(?mode, ?active, ncpu, "tracer placement");
        CpuPlacement {
            active,
            stops: 0,
            original: None,
            pinned: None,
            last_tid: 0,
            switches: 0,
            run: 0,
            idle_policy: false,
            stat: None,
            last_times: None,
            next_load_ns: 0,
            retry_ns: 0,
            backoff_ns: BACKOFF_MIN_NS,
            ncpu,
        }
    }

    /// Called when the loop starts (the program is already forked, so it cannot inherit the
    /// tracer's policy): takes `SCHED_IDLE` unless the machine is busy right now.
    pub(super) fn start(&mut self, now: u64) {
        if self.active != Active::Idle {
            return;
        }
        self.stat = File::open("/proc/stat").ok();
        self.last_times = self.stat.as_ref().and_then(sys::cpu_times);
        self.next_load_ns = now + LOAD_PERIOD_NS;
        // Runnable threads now, the tracer included: busy when no CPU would be left idle.
        let running = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().nth(3)?.split('/').next()?.parse().ok())
            .unwrap_or(usize::MAX);
        if running < self.ncpu {
            self.set_idle(true);
        } else {
            self.retry_ns = now + BACKOFF_MIN_NS;
        }
    }

    /// Called after an exec: the scheduler may have moved the thread (exec balancing).
    pub(super) fn rearm(&mut self) {
        self.run = 0;
    }

    /// Called once per stop of `tid`, at `now` (the stop's timestamp).
    #[inline]
    pub(super) fn on_stop(&mut self, tid: i32, now: u64) {
        if self.active == Active::Off {
            return;
        }
        if tid != self.last_tid {
            self.last_tid = tid;
            self.switches += 1;
            self.run = 0;
        }
        self.run = self.run.saturating_add(1);
        self.stops = self.stops.wrapping_add(1);
        let window_end = self.stops % CHECK_EVERY == 0;
        match self.active {
            Active::Follow if window_end => {
                let switches = std::mem::take(&mut self.switches);
                self.follow(tid, switches);
            }
            Active::Idle if window_end || self.run == SETTLE || now >= self.next_load_ns => {
                self.idle_check(tid, now, window_end);
            }
            _ => {}
        }
    }

    #[cold]
    fn idle_check(&mut self, tid: i32, now: u64, window_end: bool) {
        if now >= self.next_load_ns {
            self.next_load_ns = now + LOAD_PERIOD_NS;
            self.load_check(now);
        }
        let switches = if window_end {
            std::mem::take(&mut self.switches)
        } else {
            0
        };
        // Only a thread that made the last stops in a row, and not when threads take turns
        // (they run in parallel: one tracer thread cannot sit next to all of them).
        if !self.idle_policy || switches > MAX_SWITCHES || self.run < SETTLE {
            return;
        }
        let (Some(cpu), Some(here)) = (last_cpu(tid), sys::current_cpu()) else {
            return;
        };
        if cpu == here || !self.allowed(cpu) {
            return;
        }
        if let Some(set) = &self.original {
            if sys::migrate_thread(cpu, set).is_ok() {
                tracing::trace!(pid = tid, cpu, "tracer moves next to tracee");
            }
        }
    }

    /// Keeps `SCHED_IDLE` only while at least half a CPU was idle in the last period.
    fn load_check(&mut self, now: u64) {
        let Some(times) = self.stat.as_ref().and_then(sys::cpu_times) else {
            return;
        };
        let Some((idle0, total0)) = self.last_times.replace(times) else {
            return;
        };
        let (idle, total) = (times.0 - idle0.min(times.0), times.1 - total0.min(times.1));
        if total == 0 {
            return;
        }
        let idle_cpus = idle as f64 / total as f64 * self.ncpu as f64;
        if idle_cpus < 0.5 {
            if self.idle_policy {
                tracing::debug!(idle_cpus, "machine busy: tracer back to SCHED_OTHER");
                self.set_idle(false);
                self.retry_ns = now + self.backoff_ns;
                self.backoff_ns = (self.backoff_ns * 2).min(BACKOFF_MAX_NS);
            }
        } else if !self.idle_policy && now >= self.retry_ns {
            self.set_idle(true);
        } else if self.idle_policy {
            self.backoff_ns = (self.backoff_ns / 2).max(BACKOFF_MIN_NS);
        }
    }

    fn set_idle(&mut self, idle: bool) {
        match sys::set_thread_idle_policy(idle) {
            Ok(()) => {
                tracing::debug!(idle, "tracer scheduling policy");
                self.idle_policy = idle;
            }
            Err(e) => {
                tracing::debug!(error = %e, "tracer scheduling policy unchanged");
                if !idle {
                    // Cannot happen (checked up front); do not try SCHED_IDLE again.
                    self.active = Active::Off;
                }
            }
        }
    }

    /// Whether the tracer's thread may run on `cpu` (its affinity as we found it).
    fn allowed(&mut self, cpu: usize) -> bool {
        if self.original.is_none() {
            match sys::thread_cpus() {
                Ok(set) => self.original = Some(set),
                Err(_) => return false,
            }
        }
        self.original
            .as_ref()
            .is_some_and(|s| s.is_set(cpu).unwrap_or(false))
    }

    #[cold]
    fn follow(&mut self, tid: i32, switches: u32) {
        if switches > MAX_SWITCHES {
            self.restore_affinity();
            return;
        }
        let Some(cpu) = last_cpu(tid) else {
            return;
        };
        if self.pinned == Some(cpu) || !self.allowed(cpu) {
            return;
        }
        if sys::pin_thread_to_cpu(cpu).is_ok() {
            tracing::trace!(pid = tid, cpu, "tracer follows tracee");
            self.pinned = Some(cpu);
        }
    }

    fn restore_affinity(&mut self) {
        if self.pinned.take().is_some() {
            if let Some(set) = &self.original {
                let _ = sys::set_thread_cpus(set);
            }
        }
    }

    /// Gives the tracer thread its original affinity and scheduling policy back.
    pub(super) fn restore(&mut self) {
        self.restore_affinity();
        if self.idle_policy {
            self.set_idle(false);
        }
    }
}

impl Drop for CpuPlacement {
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

    #[test]
    fn placement_restores_the_threads_policy() {
        // On a thread of its own: the test harness's threads are left alone.
        std::thread::spawn(|| {
            let mut p = CpuPlacement::new(CpuMode::Auto);
            p.start(sys::monotonic_ns());
            let me = nix::unistd::gettid().as_raw();
            for i in 0..(2 * CHECK_EVERY) {
                p.on_stop(me, sys::monotonic_ns() + u64::from(i));
            }
            p.restore();
            // SAFETY: sched_getscheduler(0) only reads the calling thread's policy.
            assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
            assert!(!p.idle_policy);
        })
        .join()
        .unwrap();
    }
}
