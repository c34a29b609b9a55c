//! Keeping the tracer's own thread on the CPU where the traced thread runs.
//!
//! Every ptrace stop wakes the tracer, and every resume wakes the tracee; when the two run on
//! different CPUs each wake-up is a cross-CPU wake-up of an idle CPU, which costs several times
//! the stop itself. Pinning both (`--pin-cpu`) removes that but changes the program's affinity.
//! Moving or pinning only the tracer's thread does not help on its own: at a resume the
//! tracer is running on its CPU, so the scheduler wakes the tracee on an idle CPU instead
//! (`select_idle_sibling`), and the two drift apart again at once.
//!
//! [`CpuMode::Auto`] therefore also gives the tracer's thread the `SCHED_IDLE` policy: a CPU
//! that runs only `SCHED_IDLE` threads counts as idle when a thread is woken, so a tracee
//! resumed by the tracer is woken on the tracer's CPU and preempts it there; the tracer stays
//! runnable on that CPU and runs again as soon as the tracee stops. The tracer pins its own
//! thread to the CPU of the thread whose stops it sees (4 stops after the stopping thread
//! changed; at once after an exec, at a new process's first stop and at the stop after a
//! tracee ended; every [`CHECK_EVERY`] stops; never next to a thread entering a call that
//! waits), and unpins it while several threads take turns. A `SCHED_IDLE` thread only gets
//! CPU time nobody else wants, so: every 100 ms the tracer looks at the machine's idle time
//! (`/proc/stat`) and with less than half a CPU idle takes `SCHED_OTHER` back (on a busy
//! machine the scheduler keeps tracer and tracee together anyway); and a watchdog thread
//! (normal policy, every 2 ms) gives the tracer thread `SCHED_OTHER` and its affinity back
//! when it waited on its run queue for half a period without progress while the thread it
//! resumed last was not running either. Both retry later, backing off (10 ms after a
//! starvation, 0.2 s after a busy load check). This is only done where a thread may leave
//! `SCHED_IDLE` again (root, `CAP_SYS_NICE`, `RLIMIT_NICE` >= 20); elsewhere `auto` leaves
//! placement to the scheduler.
//!
//! [`CpuMode::Follow`] (the former default, kept to compare) pins the tracer's thread to the
//! CPU the tracee last ran on, every [`CHECK_EVERY`] stops. The program's affinity and
//! scheduling policy are never touched in any mode.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sched::CpuSet;

use crate::syscalls::options::CpuMode;
use crate::syscalls::sys;

/// Stops between two looks at the tracee's CPU.
pub(super) const CHECK_EVERY: u32 = 256;

/// Thread changes per window above which the stops are "several threads taking turns".
const MAX_SWITCHES: u32 = CHECK_EVERY / 16;

/// Consecutive stops of one thread after which the tracer moves next to it.
const SETTLE: u32 = 4;

/// How often the machine's idle time is looked at.
const LOAD_PERIOD_NS: u64 = 100_000_000;

/// First and longest wait before `SCHED_IDLE` is tried again on a busy machine.
const BACKOFF_MIN_NS: u64 = 200_000_000;
const BACKOFF_MAX_NS: u64 = 3_200_000_000;

/// How often the watchdog looks at the tracer thread: a starved tracer stalls the program
/// for one to two periods.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(2);

/// First and longest wait before `SCHED_IDLE` is tried again after the watchdog found the
/// tracer starved (most starvation is a short burst of another program on the CPU).
const STARVED_BACKOFF_MIN_NS: u64 = 10_000_000;

/// System calls that usually put the calling thread to sleep until another thread or the
/// clock wakes it (the host's numbers; names missing on an architecture are left out).
static WAITING_CALLS: std::sync::LazyLock<Vec<u64>> = std::sync::LazyLock::new(|| {
    [
        "wait4",
        "waitid",
        "nanosleep",
        "clock_nanosleep",
        "pause",
        "rt_sigsuspend",
        "rt_sigtimedwait",
        "poll",
        "ppoll",
        "select",
        "pselect6",
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
    ]
    .iter()
    .filter_map(|n| crate::syscalls::table::number(n))
    .collect()
});

/// What the tracer thread and its watchdog share.
struct Shared {
    /// Stops handled so far (only compared for change).
    stops: AtomicU32,
    /// The thread of the last stop.
    last_tid: AtomicI32,
    /// The tracer thread has `SCHED_IDLE` (the watchdog only acts then).
    idle: AtomicBool,
    /// Set by the watchdog when it gave the tracer `SCHED_OTHER` and its affinity back.
    starved: AtomicBool,
    /// Ends the watchdog.
    stop: AtomicBool,
}

/// The watchdog thread: gives the tracer thread `SCHED_OTHER` and `cpus` back when it waited
/// on its run queue for most of a period without handling a stop while the thread it resumed
/// last is not running either (starved by threads other than the program's). The wait is the
/// kernel's run delay of the thread, so a tracer busy with one long stop (a first `-k`
/// symbolization) is not mistaken for a starved one; where the kernel does not keep it, a
/// tracer found runnable twice in a row without progress counts as starved.
fn watchdog(shared: Arc<Shared>, tracer: i32, cpus: CpuSet) {
    sys::block_all_signals();
    let period_ns = WATCHDOG_PERIOD.as_nanos() as u64;
    let mut last = shared.stops.load(Ordering::Relaxed);
    // The run delay (or, without one, 0 when runnable) at the previous period without progress.
    let mut previous: Option<u64> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(WATCHDOG_PERIOD);
        let now = shared.stops.load(Ordering::Relaxed);
        if now != last || !shared.idle.load(Ordering::Relaxed) {
            previous = None;
            last = now;
            continue;
        }
        let waited = match sys::run_delay_ns(tracer) {
            Some(delay) => {
                let waited = previous.is_some_and(|p| delay.saturating_sub(p) >= period_ns / 2);
                previous = Some(delay);
                waited
            }
            None => {
                let runnable = sys::thread_runnable(tracer);
                let waited = runnable && previous.is_some();
                previous = runnable.then_some(0);
                waited
            }
        };
        // A tracer waiting while the program computes is not starved: its last thread runs.
        if waited && !sys::task_runnable(shared.last_tid.load(Ordering::Relaxed)) {
            let _ = sys::set_cpus_of(tracer, &cpus);
            if sys::set_idle_policy_of(tracer, false).is_ok() {
                shared.idle.store(false, Ordering::Relaxed);
                shared.starved.store(true, Ordering::Relaxed);
            }
            previous = None;
        }
        last = now;
    }
}

/// What the tracer does, once [`CpuMode::Auto`] is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Active {
    Off,
    Follow,
    /// `SCHED_IDLE` co-location.
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
    /// Idle: after a starvation, `SCHED_IDLE` is taken again at `retry_ns` (not only at a load
    /// check), with its own back-off.
    starved_retry: bool,
    starved_backoff_ns: u64,
    /// The last load check found the machine busy.
    busy: bool,
    /// Look at the CPU of the thread stopping now (1) or at the next stop (2), whichever thread
    /// it is (after an exec or at the start of a new process, which the scheduler placed
    /// anew; after a tracee ended, the next stops come from another thread); 0: no.
    look_at: u8,
    /// The CPU of the current run's thread was looked up already (at its first stop).
    looked: bool,
    /// The thread stopping now enters a call that waits (`wait4`, `poll`...): not worth
    /// moving next to; the look goes to the next stop instead.
    entering_wait: bool,
    /// How many times the traced thread's CPU was looked up (`/proc/TID/stat`) and how many
    /// times the tracer moved: the cost of following, in tests and `--debug` logs.
    lookups: u32,
    moves: u32,
    ncpu: usize,
    /// Idle: the watchdog.
    shared: Arc<Shared>,
    watchdog: Option<std::thread::JoinHandle<()>>,
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
            starved_retry: false,
            starved_backoff_ns: STARVED_BACKOFF_MIN_NS,
            busy: false,
            look_at: 0,
            looked: false,
            entering_wait: false,
            lookups: 0,
            moves: 0,
            ncpu,
            shared: Arc::new(Shared {
                stops: AtomicU32::new(0),
                last_tid: AtomicI32::new(0),
                idle: AtomicBool::new(false),
                starved: AtomicBool::new(false),
                stop: AtomicBool::new(false),
            }),
            watchdog: None,
        }
    }

    /// Called when the loop starts (the program is already forked, so it cannot inherit the
    /// tracer's policy): starts the watchdog and takes `SCHED_IDLE`. Whether the machine is busy
    /// is first known at the end of the first load period (a snapshot of the runnable threads
    /// at start, tried first, kept the tracer out of `SCHED_IDLE` on short runs of a quiet
    /// machine: 0.25x of strace's time instead of 0.16x).
    pub(super) fn start(&mut self, now: u64) {
        if self.active != Active::Idle {
            return;
        }
        let Some(cpus) = self.original_cpus() else {
            self.active = Active::Off;
            return;
        };
        let (shared, tracer) = (Arc::clone(&self.shared), sys::gettid());
        match std::thread::Builder::new()
            .name("ruchytrace-watchdog".into())
            .spawn(move || watchdog(shared, tracer, cpus))
        {
            Ok(h) => self.watchdog = Some(h),
            Err(_) => {
                // No watchdog, no SCHED_IDLE.
                self.active = Active::Off;
                return;
            }
        }
        self.stat = File::open("/proc/stat").ok();
        self.last_times = self.stat.as_ref().and_then(sys::cpu_times);
        self.next_load_ns = now + LOAD_PERIOD_NS;
        self.set_idle(true);
    }

    /// Called at an exec event, before [`Self::on_stop`] for it: the scheduler may have moved
    /// the thread (exec balancing), so its CPU is looked at right away. Also at the first stop
    /// of a new process (fork balancing starts it on an idle CPU) and when a tracee ended (the
    /// next stops come from another thread, e.g. the parent woken from `wait4`): the tracer
    /// moves at once instead of [`SETTLE`] stops later, when the CPU differs.
    pub(super) fn rearm(&mut self) {
        self.look_at = 1;
    }

    /// [`Self::rearm`] for the stop after this one (this one's thread has ended).
    pub(super) fn rearm_next(&mut self) {
        self.look_at = 2;
    }

    /// Called at the entry stop of system call `nr`, before [`Self::on_stop`] for it: a thread
    /// entering a call that waits (a shell in `wait4` for its child) is not followed; the
    /// thread that stops next is looked at instead.
    pub(super) fn on_entry(&mut self, nr: u64) {
        if self.active == Active::Idle && WAITING_CALLS.contains(&nr) {
            self.entering_wait = true;
        }
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
            self.looked = false;
        }
        self.run = self.run.saturating_add(1);
        self.stops = self.stops.wrapping_add(1);
        if self.active == Active::Idle {
            self.shared.stops.store(self.stops, Ordering::Relaxed);
            self.shared.last_tid.store(tid, Ordering::Relaxed);
        }
        let window_end = self.stops % CHECK_EVERY == 0;
        let entering_wait = std::mem::take(&mut self.entering_wait);
        let look = match self.look_at {
            1 => true,
            2 => {
                self.look_at = 1;
                false
            }
            _ => false,
        };
        match self.active {
            Active::Follow if window_end => {
                let switches = std::mem::take(&mut self.switches);
                self.follow(tid, switches);
            }
            Active::Idle
                if window_end
                    || self.run == SETTLE
                    || look
                    || now >= self.next_load_ns
                    || (self.starved_retry && now >= self.retry_ns) =>
            {
                self.idle_check(tid, now, window_end, look, entering_wait);
            }
            _ => {}
        }
    }

    #[cold]
    fn idle_check(&mut self, tid: i32, now: u64, window_end: bool, look: bool, waits: bool) {
        if look {
            self.look_at = 0;
        }
        if self.shared.starved.swap(false, Ordering::Relaxed) {
            // The watchdog gave us SCHED_OTHER and our affinity back. Usually another program
            // ran a short burst on our CPU: try again soon, later each time it happens again.
            tracing::debug!(
                retry_ms = self.starved_backoff_ns / 1_000_000,
                "tracer starved: back to SCHED_OTHER"
            );
            self.idle_policy = false;
            self.pinned = None;
            self.retry_ns = now + self.starved_backoff_ns;
            self.starved_backoff_ns = (self.starved_backoff_ns * 2).min(BACKOFF_MAX_NS);
            self.starved_retry = true;
        }
        if now >= self.next_load_ns {
            self.next_load_ns = now + LOAD_PERIOD_NS;
            self.load_check(now);
        }
        if self.starved_retry && !self.idle_policy && !self.busy && now >= self.retry_ns {
            self.starved_retry = false;
            self.set_idle(true);
        }
        let switches = if window_end {
            std::mem::take(&mut self.switches)
        } else {
            0
        };
        if !self.idle_policy {
            return;
        }
        // Threads taking turns run in parallel: one tracer thread cannot sit next to all of
        // them, so it goes where the scheduler puts it.
        if switches > MAX_SWITCHES {
            self.restore_affinity();
            return;
        }
        // Only next to a thread that made the last stops in a row, or that just started a
        // new program or process.
        if !look && (self.run < SETTLE || (self.run == SETTLE && self.looked)) {
            return;
        }
        if waits {
            // It is about to sleep: whoever stops next runs while it waits (this stop's
            // look-ahead was already taken, so 1 is the next stop).
            self.look_at = 1;
            return;
        }
        self.looked = true;
        self.lookups += 1;
        let Some(cpu) = last_cpu(tid) else {
            return;
        };
        if self.pinned == Some(cpu) || !self.allowed(cpu) {
            return;
        }
        if sys::pin_thread_to_cpu(cpu).is_ok() {
            self.moves += 1;
            tracing::trace!(pid = tid, cpu, "tracer moves next to tracee");
            self.pinned = Some(cpu);
        }
    }

    fn back_off(&mut self, now: u64) {
        self.retry_ns = now + self.backoff_ns;
        self.backoff_ns = (self.backoff_ns * 2).min(BACKOFF_MAX_NS);
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
        self.busy = idle_cpus < 0.5;
        if idle_cpus < 0.5 {
            if self.idle_policy {
                tracing::debug!(idle_cpus, "machine busy: tracer back to SCHED_OTHER");
                self.set_idle(false);
                self.back_off(now);
            }
        } else if !self.idle_policy && now >= self.retry_ns {
            self.starved_retry = false;
            self.set_idle(true);
        } else if self.idle_policy {
            self.backoff_ns = (self.backoff_ns / 2).max(BACKOFF_MIN_NS);
            self.starved_backoff_ns = (self.starved_backoff_ns / 2).max(STARVED_BACKOFF_MIN_NS);
        }
    }

    fn set_idle(&mut self, idle: bool) {
        if !idle {
            // Pinned with SCHED_OTHER is `follow`, which does not pay: unpin first.
            self.restore_affinity();
            self.shared.idle.store(false, Ordering::Relaxed);
        }
        match sys::set_thread_idle_policy(idle) {
            Ok(()) => {
                tracing::debug!(idle, "tracer scheduling policy");
                self.idle_policy = idle;
                self.shared.idle.store(idle, Ordering::Relaxed);
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

    /// The tracer thread's affinity as we found it.
    fn original_cpus(&mut self) -> Option<CpuSet> {
        if self.original.is_none() {
            self.original = sys::thread_cpus().ok();
        }
        self.original
    }

    /// Whether the tracer's thread may run on `cpu` (its affinity as we found it).
    fn allowed(&mut self, cpu: usize) -> bool {
        self.original_cpus()
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

    /// Gives the tracer thread its original affinity and scheduling policy back, and ends the
    /// watchdog.
    pub(super) fn restore(&mut self) {
        if self.active != Active::Off {
            tracing::debug!(
                stops = self.stops,
                lookups = self.lookups,
                moves = self.moves,
                "tracer placement"
            );
        }
        if let Some(h) = self.watchdog.take() {
            self.shared.stop.store(true, Ordering::Relaxed);
            h.thread().unpark();
            let _ = h.join();
        }
        self.restore_affinity();
        if self.idle_policy {
            self.set_idle(false);
        }
        self.active = Active::Off;
    }
}

impl Drop for CpuPlacement {
    fn drop(&mut self) {
        self.restore();
    }
}

/// The CPU `tid` last ran on: field 39 (`processor`) of `/proc/TID/stat`.
pub(super) fn last_cpu(tid: i32) -> Option<usize> {
    // About 300 bytes; the command name is at most 64.
    let mut buf = [0u8; 1024];
    let stat = sys::read_head(&format!("/proc/{tid}/stat"), &mut buf)?;
    parse_processor(stat)
}

fn parse_processor(stat: &[u8]) -> Option<usize> {
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
    let field = rest
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty())
        .nth(39 - 3)?;
    std::str::from_utf8(field).ok()?.parse().ok()
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
        assert_eq!(parse_processor(stat.as_bytes()), Some(39));
        let own = last_cpu(std::process::id() as i32);
        assert!(own.is_some());
    }

    #[test]
    fn the_tracee_cpu_is_looked_up_after_settling_and_at_once_when_rearmed() {
        // On threads of their own: the test harness's threads are left alone.
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            tx.send(sys::gettid()).unwrap();
            let _ = done_rx.recv();
        });
        let other_tid = rx.recv().unwrap();
        std::thread::spawn(move || {
            let mut p = CpuPlacement::new(CpuMode::Auto);
            p.start(sys::monotonic_ns());
            if p.active != Active::Idle {
                // No SCHED_IDLE here (not root, no CAP_SYS_NICE): nothing is followed.
                return;
            }
            let me = sys::gettid();
            let t0 = sys::monotonic_ns();
            let stop = |p: &mut CpuPlacement, tid| p.on_stop(tid, t0);
            for _ in 1..SETTLE {
                stop(&mut p, me);
            }
            assert_eq!(p.lookups, 0, "not before {SETTLE} stops in a row");
            stop(&mut p, me);
            assert_eq!(p.lookups, 1);
            stop(&mut p, me);
            assert_eq!(p.lookups, 1, "once per run");
            // An exec or a new process: its CPU at its first stop.
            p.rearm();
            stop(&mut p, me);
            assert_eq!(p.lookups, 2);
            // A tracee ended: not at its own last stop, at the next one, whoever makes it...
            p.rearm_next();
            stop(&mut p, other_tid);
            assert_eq!(p.lookups, 2);
            stop(&mut p, me);
            assert_eq!(p.lookups, 3);
            // ...and not again when that run settles.
            for _ in 1..SETTLE {
                stop(&mut p, me);
            }
            assert_eq!(p.lookups, 3);
            // A thread settling into a call that waits (a shell's wait4) is not looked at;
            // the next stop is, whoever makes it.
            let wait4 = crate::syscalls::table::number("wait4").unwrap();
            stop(&mut p, other_tid);
            for _ in 1..SETTLE {
                stop(&mut p, me);
            }
            assert_eq!(p.lookups, 3);
            p.on_entry(wait4);
            stop(&mut p, me);
            assert_eq!(p.lookups, 3, "not next to a thread entering wait4");
            stop(&mut p, other_tid);
            assert_eq!(p.lookups, 4);
            assert!(p.moves <= p.lookups);
            p.restore();
        })
        .join()
        .unwrap();
        done_tx.send(()).unwrap();
        other.join().unwrap();
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
