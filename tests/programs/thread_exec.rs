//! Test program: a second thread execs `/bin/sh -c 'exit 6'` while the main thread is blocked
//! in a syscall (exec from a non-leader thread: the kernel gives it the leader's tid).
use std::os::unix::process::CommandExt;

fn main() {
    std::thread::spawn(|| {
        let err = std::process::Command::new("/bin/sh").args(["-c", "exit 6"]).exec();
        panic!("exec failed: {err}");
    });
    std::thread::sleep(std::time::Duration::from_secs(30));
}
