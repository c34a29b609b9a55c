//! Test program for the decoding differences of issue 14: fcntl(F_GETFL)'s returned flags,
//! getgroups(0, NULL), and statx's mask (Rust's std asks for STATX_ALL).
use std::os::fd::AsRawFd;

extern "C" {
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    fn getgroups(size: i32, list: *mut u32) -> i32;
}

fn main() {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .append(true)
        .open("/dev/null")
        .unwrap();
    // SAFETY: F_GETFL and F_GETFD (3 and 1) take no third argument; the fd is open.
    let (fl, fd) = unsafe { (fcntl(f.as_raw_fd(), 3), fcntl(f.as_raw_fd(), 1)) };
    // SAFETY: a size of 0 with a NULL list only asks for the count.
    let n = unsafe { getgroups(0, std::ptr::null_mut()) };
    let m = std::fs::metadata("/etc/hostname").unwrap();
    std::hint::black_box((fl, fd, n, m.len()));
}
