//! Test program: makes syscalls whose names a shifted table got wrong (getppid vs setpgid,
//! statfs, getxattr, lgetxattr), then exits with the status given as argument.
use std::ffi::c_char;

#[repr(C)]
struct StatFs([u64; 15]);

extern "C" {
    fn getppid() -> i32;
    fn statfs(path: *const c_char, buf: *mut StatFs) -> i32;
    fn getxattr(path: *const c_char, name: *const c_char, value: *mut u8, size: usize) -> isize;
    fn lgetxattr(path: *const c_char, name: *const c_char, value: *mut u8, size: usize) -> isize;
}

fn main() {
    let root = c"/".as_ptr();
    let name = c"user.ruchytrace_none".as_ptr();
    let mut buf = StatFs([0; 15]);
    // SAFETY: valid NUL-terminated strings and a buffer larger than struct statfs.
    unsafe {
        getppid();
        statfs(root, &mut buf);
        getxattr(root, name, std::ptr::null_mut(), 0);
        lgetxattr(root, name, std::ptr::null_mut(), 0);
    }
    let code = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    std::process::exit(code);
}
