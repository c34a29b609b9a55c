//! Test program for `syscalls -k`: system calls made by untraced functions at known lines
//! (each marked `LINE:tag`) — directly, through std, from a second thread and from a library
//! loaded with dlopen. Arguments: the file to create, the library to load.
use std::ffi::{c_char, c_void, CString};
use std::io::Write;
use std::path::Path;

extern "C" {
    fn getppid() -> i32;
    fn dlopen(path: *const c_char, flags: i32) -> *mut c_void;
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
}

#[inline(never)]
fn direct() -> i32 {
    // SAFETY: getppid has no preconditions.
    let r = unsafe { getppid() }; // LINE:direct
    std::hint::black_box(r)
}

#[inline(never)]
fn through_std(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap(); // LINE:create
    f.write_all(b"stacks").unwrap(); // LINE:write
}

#[inline(never)]
fn on_thread() -> i32 {
    // SAFETY: as above.
    let r = unsafe { getppid() }; // LINE:thread
    std::hint::black_box(r)
}

#[inline(never)]
fn from_library(lib: &str) -> i32 {
    let path = CString::new(lib).unwrap();
    // SAFETY: a valid NUL-terminated path; RTLD_NOW.
    let handle = unsafe { dlopen(path.as_ptr(), 2) };
    assert!(!handle.is_null(), "dlopen {lib}");
    // SAFETY: a valid handle and NUL-terminated name.
    let sym = unsafe { dlsym(handle, c"lib_getppid".as_ptr()) };
    assert!(!sym.is_null());
    // SAFETY: the library defines `int lib_getppid(void)`.
    let f: extern "C" fn() -> i32 = unsafe { std::mem::transmute(sym) };
    let r = f(); // LINE:library
    std::hint::black_box(r)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    direct();
    through_std(Path::new(&args[1]));
    std::thread::spawn(on_thread).join().unwrap();
    from_library(&args[2]);
}
