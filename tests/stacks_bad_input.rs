//! `ruchytrace syscalls -k` on binaries the unwinder cannot fully trust: no CFI and no frame
//! pointers (stripped C), a corrupt `.eh_frame`, an executable deleted while it runs. The tracer
//! never crashes or hangs; a stack stops where it can no longer be trusted and says why
//! (`stack_truncated`), and no guessed frame is presented as certain.

#[path = "support/sys.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A tracer run longer than this is a hang.
const LIMIT: Duration = Duration::from_secs(120);

/// Runs `ruchytrace syscalls -k -e trace=getppid` on `exe` and returns its `getppid` events.
fn getppid_events(dir: &Path, exe: &Path) -> Vec<Value> {
    let json = dir.join("sys.json");
    let mut child = Command::new(support::ruchytrace())
        .args(["syscalls", "-f", "-k", "-e", "trace=getppid", "-o"])
        .arg(&json)
        .arg("--")
        .arg(exe)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("the tracer hung on {}", exe.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    // The program's own exit status (3) is passed on; anything else is the tracer failing.
    assert_eq!(status.code(), Some(3), "{err}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let events: Vec<Value> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "getppid")
        .cloned()
        .collect();
    assert_eq!(events.len(), 1, "{doc:#}");
    events
}

fn frames(ev: &Value) -> &[Value] {
    ev["stack"]
        .as_array()
        .unwrap_or_else(|| panic!("no stack: {ev:#}"))
}

/// Index of the first frame in `exe`.
fn first_in(ev: &Value, exe: &Path) -> usize {
    let exe = exe.to_string_lossy();
    frames(ev)
        .iter()
        .position(|f| f["module"].as_str().is_some_and(|m| m.starts_with(&*exe)))
        .unwrap_or_else(|| panic!("no frame in {exe}: {ev:#}"))
}

/// Beyond the first frame that is a frame-pointer guess, every frame is marked as one.
fn guesses_stay_guesses(ev: &Value) {
    let how: Vec<&str> = frames(ev)
        .iter()
        .map(|f| f["unwound"].as_str().unwrap())
        .collect();
    if let Some(i) = how.iter().position(|h| *h == "fp") {
        assert!(how[i..].iter().all(|h| *h == "fp"), "{ev:#}");
    }
}

const C_PROGRAM: &str = r#"
#include <unistd.h>
__attribute__((noinline)) int inner(int x) {
    volatile int r = getppid();
    return r + x;
}
__attribute__((noinline)) int middle(int x) {
    volatile int r = inner(x + 1);
    return r * 3;
}
int main(int argc, char **argv) {
    (void)argv;
    middle(argc);
    return 3;
}
"#;

fn gcc(dir: &Path, flags: &[&str]) -> Option<PathBuf> {
    std::fs::write(dir.join("prog.c"), C_PROGRAM).unwrap();
    let ok = Command::new("gcc")
        .args(flags)
        .args(["-o", "prog", "prog.c"])
        .current_dir(dir)
        .status()
        .ok()?
        .success();
    assert!(ok, "gcc failed");
    Some(dir.join("prog"))
}

#[test]
fn no_cfi_no_frame_pointers_no_debug_info() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = gcc(
        dir.path(),
        &[
            "-O2",
            "-fomit-frame-pointer",
            "-fno-asynchronous-unwind-tables",
            "-fno-unwind-tables",
            "-s",
        ],
    ) else {
        support::skip("gcc is not installed");
        return;
    };
    let ev = &getppid_events(dir.path(), &exe)[0];
    let i = first_in(ev, &exe);
    let f = &frames(ev)[i];
    // Reached with libc's CFI: certain, but nameless (stripped, no symbols).
    assert_eq!(f["unwound"], "cfi", "{ev:#}");
    assert_eq!(f["line"], Value::Null);
    guesses_stay_guesses(ev);
    // Beyond it: nothing certain. Either the walk stopped there, saying why, or every further
    // frame is a frame-pointer guess.
    let rest = &frames(ev)[i + 1..];
    if rest.is_empty() {
        let why = ev["stack_truncated"]
            .as_str()
            .unwrap_or_else(|| panic!("{ev:#}"));
        assert!(why.starts_with("no CFI for pc"), "{why}");
    } else {
        assert!(rest.iter().all(|f| f["unwound"] == "fp"), "{ev:#}");
    }
}

const RUST_PROGRAM: &str = r#"
extern "C" {
    fn getppid() -> i32;
}
#[inline(never)]
fn inner(x: i32) -> i32 {
    std::hint::black_box(unsafe { getppid() }) + x
}
#[inline(never)]
fn middle(x: i32) -> i32 {
    std::hint::black_box(inner(x + 1)) * 3
}
fn main() {
    if std::env::var_os("DELETE_SELF").is_some() {
        std::fs::remove_file(std::env::current_exe().unwrap()).unwrap();
    }
    std::hint::black_box(middle(std::env::args().count() as i32));
    std::process::exit(3);
}
"#;

fn rustc(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("prog.rs"), RUST_PROGRAM).unwrap();
    let ok = Command::new("rustc")
        .args([
            "--edition",
            "2021",
            "-Copt-level=2",
            "-g",
            "--crate-name",
            "prog",
        ])
        .args(["-o", "prog", "prog.rs"])
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "rustc failed");
    dir.join("prog")
}

/// File range of section `name` of a 64-bit little-endian ELF file.
fn section_range(elf: &[u8], name: &str) -> std::ops::Range<usize> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(&elf[..6], b"\x7fELF\x02\x01", "64-bit little-endian ELF");
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28), u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(header(shstrndx) + 0x18);
    (0..shnum)
        .find_map(|i| {
            let h = header(i);
            let at = strtab + u32_at(h);
            let end = at + elf[at..].iter().position(|&b| b == 0)?;
            (&elf[at..end] == name.as_bytes()).then(|| {
                let off = u64_at(h + 0x18);
                off..off + u64_at(h + 0x20)
            })
        })
        .unwrap_or_else(|| panic!("no section {name}"))
}

#[test]
fn corrupt_eh_frame() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let exe = rustc(dir.path());
    let mut bytes = std::fs::read(&exe).unwrap();
    let range = section_range(&bytes, ".eh_frame");
    // Garbage lengths and CIE pointers: every entry is broken.
    for (i, b) in bytes[range].iter_mut().enumerate() {
        *b = if i % 3 == 0 { 0xff } else { 0x7f };
    }
    std::fs::write(&exe, &bytes).unwrap();
    let ev = &getppid_events(dir.path(), &exe)[0];
    let i = first_in(ev, &exe);
    let f = &frames(ev)[i];
    // libc's own CFI is intact: the program's innermost frame is certain and named.
    assert_eq!(f["unwound"], "cfi", "{ev:#}");
    assert_eq!(f["function"], "prog::inner", "{ev:#}");
    guesses_stay_guesses(ev);
    match frames(ev).get(i + 1) {
        None => {
            let why = ev["stack_truncated"]
                .as_str()
                .unwrap_or_else(|| panic!("{ev:#}"));
            assert!(why.contains("corrupt .eh_frame"), "{why}");
        }
        Some(next) => assert_eq!(next["unwound"], "fp", "{ev:#}"),
    }
}

#[test]
fn executable_deleted_while_running() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let exe = rustc(dir.path());
    let json = dir.path().join("sys.json");
    // The program deletes itself before the traced call; its mapped file stays readable through
    // /proc/PID/map_files, so the stack is complete and named.
    let status = Command::new(support::ruchytrace())
        .env("DELETE_SELF", "1")
        .args(["syscalls", "-f", "-k", "-e", "trace=getppid", "-o"])
        .arg(&json)
        .arg("--")
        .arg(&exe)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    assert!(!exe.exists());
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let ev = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "getppid")
        .unwrap_or_else(|| panic!("{doc:#}"));
    let deleted = format!("{} (deleted)", exe.display());
    let ours: Vec<&str> = frames(ev)
        .iter()
        .filter(|f| f["module"] == deleted.as_str())
        .filter_map(|f| f["function"].as_str())
        .collect();
    assert!(
        ours.starts_with(&["prog::inner", "prog::middle", "prog::main"]),
        "{ev:#}"
    );
    assert_eq!(ev.get("stack_truncated"), None, "{ev:#}");
}
