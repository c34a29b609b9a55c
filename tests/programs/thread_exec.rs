//! Test program: a second thread execs `/bin/sh -c 'exit 6'` while the main thread is blocked
//! in a syscall (exec from a non-leader thread: the kernel gives it the leader's tid).
//!
//! The second thread waits until `/proc` shows the leader blocked in `clock_nanosleep`, so the
//! leader's sleep is always entered (and left unfinished) before the exec, however the two
//! threads are scheduled.
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

#[cfg(target_arch = "x86_64")]
const CLOCK_NANOSLEEP: &str = "230";
#[cfg(target_arch = "aarch64")]
const CLOCK_NANOSLEEP: &str = "115";

fn main() {
    let leader = std::process::id();
    std::thread::spawn(move || {
        let path = format!("/proc/self/task/{leader}/syscall");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let now = std::fs::read_to_string(&path).unwrap_or_default();
            if now.split_whitespace().next() == Some(CLOCK_NANOSLEEP) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let err = std::process::Command::new("/bin/sh").args(["-c", "exit 6"]).exec();
        panic!("exec failed: {err}");
    });
    std::thread::sleep(Duration::from_secs(30));
}
