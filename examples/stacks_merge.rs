//! System calls at known lines, traced and untraced, for the merged view with user stacks:
//!
//! ```sh
//! cargo run -p ruchytrace -- cargo --syscalls -k -- run --example stacks_merge --features trace
//! ```
//!
//! `traced_save` (traced) writes through an untraced helper: its `openat`/`write` stay under
//! it and gain the helper's lines; `untraced_probe` is called from `main` outside any traced
//! function: its `getppid` is shown with the inferred caller `~stacks_merge::untraced_probe`.
//! Each line that makes a system call is marked `LINE:tag`.

use std::io::Write;

extern "C" {
    fn getppid() -> i32;
}

/// Untraced: makes its system call outside any traced function.
#[inline(never)]
fn untraced_probe() -> i32 {
    // SAFETY: getppid has no preconditions.
    let r = unsafe { getppid() }; // LINE:probe
    std::hint::black_box(r)
}

/// Untraced helper of a traced function.
#[inline(never)]
fn write_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?; // LINE:create
    f.write_all(text.as_bytes()) // LINE:write
}

/// Traced: its system calls are made by the helper above.
#[ruchytrace::trace]
fn traced_save(path: &str) -> bool {
    write_file(std::path::Path::new(path), "merged with stacks\n").is_ok()
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("/tmp/stacks-merge-{}.txt", std::process::id()));
    untraced_probe();
    let ok = traced_save(&path);
    untraced_probe();
    let _ = std::fs::remove_file(&path);
    println!("saved: {ok}");
}
