//! Test program: dereferences a null pointer (a real fault, re-raised on every retry if the
//! tracer swallowed the signal).
fn main() {
    let p: *mut u32 = std::hint::black_box(std::ptr::null_mut());
    // SAFETY: none; this program exists to crash with SIGSEGV.
    unsafe { p.write_volatile(1) };
}
