//! Unwinding real stopped processes: a forked child of this test process, and small programs
//! compiled here in several shapes (PIE / non-PIE, optimized with debug info, stripped).

use std::process::Command;

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use super::*;

#[inline(never)]
fn level3() -> i32 {
    const RAISE: u32 = line!() + 1;
    // SAFETY: raising SIGSTOP on ourselves; the tracing parent resumes us.
    let r = unsafe { libc::raise(libc::SIGSTOP) };
    std::hint::black_box(RAISE);
    r
}

#[inline(always)]
fn inlined_hop() -> i32 {
    level3() + 1
}

#[inline(never)]
fn level2() -> i32 {
    std::hint::black_box(inlined_hop()) + 1
}

#[inline(never)]
fn level1() -> i32 {
    std::hint::black_box(level2()) + 1
}

fn line_of(needle: &str) -> u32 {
    let src = include_str!("tests.rs");
    let idx = src
        .lines()
        .position(|l| l.contains(needle) && !l.contains("line_of"))
        .expect("needle in source");
    idx as u32 + 1
}

/// Forks a child that becomes traced, calls `body` and exits; returns its pid stopped at the
/// SIGSTOP `body` raises.
fn stopped_child(body: fn() -> i32) -> Pid {
    // SAFETY: the child only makes system calls and calls `body`, which calls raise(3) and
    // returns; it never returns into the test harness (it `_exit`s).
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let _ = ptrace::traceme();
            let r = body();
            // SAFETY: leaving the forked child without running the harness's destructors.
            unsafe { libc::_exit(r & 0x7f) }
        }
        ForkResult::Parent { child } => {
            match waitpid(child, None).expect("waitpid") {
                WaitStatus::Stopped(_, Signal::SIGSTOP) => {}
                other => panic!("child did not stop: {other:?}"),
            }
            child
        }
    }
}

fn finish(child: Pid) {
    let _ = ptrace::detach(child, None);
    let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
    let _ = waitpid(child, None);
}

fn functions(stack: &Stack) -> Vec<String> {
    stack
        .frames
        .iter()
        .map(|f| f.function.as_deref().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn unwinds_own_forked_child_with_lines_and_inlined_frames() {
    let child = stopped_child(level1);
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let stack = u.unwind(child.as_raw(), child.as_raw());
    finish(child);
    let names = functions(&stack);
    let pos = |suffix: &str| {
        names
            .iter()
            .position(|n| n.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} not in {names:#?}"))
    };
    let (l3, hop, l2, l1) = (
        pos("stack::tests::level3"),
        pos("stack::tests::inlined_hop"),
        pos("stack::tests::level2"),
        pos("stack::tests::level1"),
    );
    assert!(l3 > 0, "libc's raise frames come first: {names:#?}");
    assert_eq!((hop, l2, l1), (l3 + 1, l3 + 2, l3 + 3), "{names:#?}");
    let f3 = &stack.frames[l3];
    assert_eq!(
        f3.file
            .as_deref()
            .map(|f| f.ends_with("src/stack/tests.rs")),
        Some(true)
    );
    assert_eq!(f3.line, Some(line_of("libc::raise(libc::SIGSTOP)")));
    assert!(!f3.inlined);
    assert_eq!(f3.unwound, Unwound::Cfi);
    // The inlined call shares its pc with the frame it was inlined into, and comes first.
    let (fh, f2) = (&stack.frames[hop], &stack.frames[l2]);
    assert!(fh.inlined && !f2.inlined);
    assert_eq!(fh.pc, f2.pc);
    assert_eq!(fh.line, Some(line_of("level3() + 1")));
    assert_eq!(
        f2.line,
        Some(line_of("std::hint::black_box(inlined_hop())"))
    );
    assert_eq!(
        stack.frames[l1].line,
        Some(line_of("std::hint::black_box(level2())"))
    );
    // Every frame has a module; the walk reached the thread's start or said why not.
    assert!(stack.frames.iter().all(|f| f.module.is_some()));
    if let Some(why) = &stack.truncated {
        panic!("walk truncated: {why}\n{names:#?}");
    }
    // Second walk of the same stop hits the caches and gives the same answer.
    let child = stopped_child(level1);
    let again = u.unwind(child.as_raw(), child.as_raw());
    finish(child);
    assert_eq!(functions(&again), names);
}

#[test]
fn depth_limit_truncates_with_reason() {
    let child = stopped_child(level1);
    let mut u = StackUnwinder::new(2);
    let stack = u.unwind(child.as_raw(), child.as_raw());
    finish(child);
    assert_eq!(stack.truncated.as_deref(), Some("depth limit 2 reached"));
    assert_eq!(stack.frames.iter().filter(|f| !f.inlined).count(), 2);
}

#[test]
fn stack_deferred_while_symbolizers_build_resolves_to_the_immediate_one() {
    let child = stopped_child(level1);
    let pid = child.as_raw();
    // No symbolizer can be built while the gate is held: the walk must not wait for one.
    let gate = module::BUILD_GATE
        .write()
        .unwrap_or_else(|e| e.into_inner());
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let Taken::Pending(pending) = u.unwind_or_defer(pid, pid) else {
        drop(gate);
        finish(child);
        panic!("a stack through modules whose symbolizers are not built was not deferred");
    };
    assert!(!u.is_ready(&pending), "nothing was built yet");
    assert!(!pending.modules.is_empty());
    // The maps read again in between (an exec or mmap would): the walk keeps its own.
    u.invalidate(pid);
    drop(gate);
    let resolved = u.resolve(&pending);
    assert!(u.is_ready(&pending), "resolving waited for the symbolizers");
    // Once built, the next stop is symbolized at once, and is the same stack.
    let again = match u.unwind_or_defer(pid, pid) {
        Taken::Ready(s) => s,
        Taken::Pending(_) => panic!("deferred although every symbolizer is built"),
    };
    let mut fresh = StackUnwinder::new(DEFAULT_DEPTH);
    let direct = fresh.unwind(pid, pid);
    finish(child);
    assert_eq!(resolved, direct, "deferred and immediate stacks differ");
    assert_eq!(again, direct);
    let names = functions(&resolved);
    assert!(
        names.iter().any(|n| n.ends_with("stack::tests::level1")),
        "{names:#?}"
    );
    assert!(
        resolved.frames.iter().any(|f| f.line.is_some()),
        "lines from DWARF"
    );
}

#[test]
fn garbage_registers_stop_with_a_reason_not_a_frame() {
    let child = stopped_child(level1);
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let mut mem = memory::ProcessMemory::new(child.as_raw());
    let mut regs = regs::Regs::new(regs::Arch::native(), 0x10);
    regs.set(regs::Arch::native().sp(), Some(0x1000));
    let stack = u.unwind_from(child.as_raw(), regs, &mut mem);
    finish(child);
    assert_eq!(stack.frames.len(), 1);
    assert_eq!(stack.frames[0].module, None);
    assert_eq!(stack.frames[0].function, None);
    assert_eq!(
        stack.truncated.as_deref(),
        Some("pc outside any mapped file")
    );
}

#[test]
fn text_layout_matches_strace() {
    let frames = vec![
        Frame {
            pc: 0x7f00_0000_1234,
            module: Some("/lib/libc.so.6".into()),
            module_address: Some(0x1234),
            function: Some("__GI___libc_write".into()),
            symbol: Some("__write".into()),
            symbol_offset: Some(0x10),
            file_offset: Some(0x1234),
            file: None,
            line: None,
            inlined: false,
            unwound: Unwound::Regs,
        },
        Frame {
            pc: 0x5555_0000_0042,
            module: Some("/app".into()),
            module_address: Some(0x42),
            function: Some("app::log::flush".into()),
            symbol: None,
            symbol_offset: None,
            file_offset: Some(0x42),
            file: Some("src/log.rs".into()),
            line: Some(42),
            inlined: true,
            unwound: Unwound::Cfi,
        },
    ];
    assert_eq!(
        text_lines(&frames, Some("no CFI for pc")),
        vec![
            " > /lib/libc.so.6(__write+0x10) [0x1234]",
            " > /app(app::log::flush) [0x42] at src/log.rs:42 (inlined)",
            " > (stack truncated: no CFI for pc)",
        ]
    );
    let json = serde_json::to_value(&frames[1]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"pc": "0x555500000042", "module": "/app", "module_address": "0x42",
            "function": "app::log::flush", "file": "src/log.rs", "line": 42, "inlined": true,
            "unwound": "cfi"})
    );
    let back: Frame = serde_json::from_value(json).unwrap();
    assert_eq!(
        back,
        Frame {
            file_offset: None,
            ..frames[1].clone()
        }
    );
}

const PROGRAM: &str = r#"
extern "C" { fn raise(sig: i32) -> i32; }
#[inline(never)]
fn inner(x: u64) -> u64 {
    let r = unsafe { raise(19) }; // RAISE
    std::hint::black_box(r) as u64 + x
}
#[inline(never)]
fn middle(x: u64) -> u64 {
    std::hint::black_box(inner(x + 1)) + 1 // MIDDLE
}
fn main() {
    let v = middle(std::hint::black_box(std::env::args().count() as u64)); // MAIN
    std::process::exit((v & 1) as i32);
}
"#;

fn program_line(tag: &str) -> u32 {
    PROGRAM.lines().position(|l| l.contains(tag)).expect("tag") as u32 + 1
}

/// Compiles `PROGRAM` with `flags` (as `name`), runs it traced until its SIGSTOP and unwinds it.
fn compile_and_unwind(name: &str, flags: &[&str]) -> Option<(Stack, String)> {
    let dir = tempfile::tempdir().unwrap();
    let built = rustc_program(dir.path(), flags);
    let exe = dir.path().join(name);
    std::fs::rename(built, &exe).unwrap();
    let pid = spawn_stopped(&exe);
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let stack = u.unwind(pid.as_raw(), pid.as_raw());
    finish(pid);
    Some((stack, exe.to_string_lossy().into_owned()))
}

fn check_program(stack: &Stack, exe: &str, lines: bool) {
    let names = functions(stack);
    let ours: Vec<&Frame> = stack
        .frames
        .iter()
        .filter(|f| f.module.as_deref() == Some(exe))
        .collect();
    let pos = |n: &str| {
        ours.iter()
            .position(|f| f.function.as_deref() == Some(n))
            .unwrap_or_else(|| panic!("{n} not in {names:#?}"))
    };
    let (i, m, main) = (pos("prog::inner"), pos("prog::middle"), pos("prog::main"));
    assert!(i < m && m < main, "{names:#?}");
    if lines {
        assert_eq!(ours[i].line, Some(program_line("// RAISE")));
        assert_eq!(ours[m].line, Some(program_line("// MIDDLE")));
        assert_eq!(ours[main].line, Some(program_line("// MAIN")));
        assert_eq!(ours[i].file.as_deref(), Some("prog.rs"));
    } else {
        assert!(ours.iter().all(|f| f.line.is_none() && f.file.is_none()));
        assert!(ours[i].symbol_offset.is_some());
    }
    assert_eq!(stack.truncated, None, "{names:#?}");
}

#[test]
fn release_pie_with_debug_info() {
    let (stack, exe) =
        compile_and_unwind("pie", &["-Copt-level=2", "-g", "-Crelocation-model=pie"]).unwrap();
    check_program(&stack, &exe, true);
}

#[test]
fn release_non_pie_with_debug_info() {
    let (stack, exe) = compile_and_unwind(
        "nopie",
        &["-Copt-level=2", "-g", "-Crelocation-model=static"],
    )
    .unwrap();
    check_program(&stack, &exe, true);
    // Position-dependent: the module's addresses are the process's.
    let f = stack
        .frames
        .iter()
        .find(|f| f.module.as_deref() == Some(exe.as_str()))
        .unwrap();
    assert_eq!(f.module_address, Some(f.pc));
}

#[test]
fn debug_build() {
    let (stack, exe) = compile_and_unwind("debug", &["-g"]).unwrap();
    check_program(&stack, &exe, true);
}

#[test]
fn stripped_of_debug_info_names_from_symbol_table() {
    let (stack, exe) =
        compile_and_unwind("nodebug", &["-Copt-level=2", "-Cstrip=debuginfo"]).unwrap();
    check_program(&stack, &exe, false);
}

#[test]
fn fully_stripped_never_invents_names() {
    let (stack, exe) =
        compile_and_unwind("stripped", &["-Copt-level=2", "-Cstrip=symbols"]).unwrap();
    let ours: Vec<&Frame> = stack
        .frames
        .iter()
        .filter(|f| f.module.as_deref() == Some(exe.as_str()))
        .collect();
    assert!(ours.len() >= 3, "{:#?}", stack.frames);
    // Without a symbol table the program's own functions have no name; nothing else is claimed.
    assert!(ours.iter().all(|f| f
        .function
        .as_deref()
        .is_none_or(|n| !n.starts_with("prog::"))));
    assert!(ours.iter().all(|f| f.line.is_none()));
}

/// Runs `exe` traced until its SIGSTOP; returns the stopped pid.
fn spawn_stopped(exe: &std::path::Path) -> Pid {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(exe);
    // SAFETY: pre_exec runs between fork and exec; traceme is a single system call.
    unsafe {
        cmd.pre_exec(|| ptrace::traceme().map_err(std::io::Error::from));
    }
    // Reaped by `finish` with waitpid (ptrace needs the raw pid, not a `Child`).
    #[allow(clippy::zombie_processes)]
    let pid = Pid::from_raw(cmd.spawn().unwrap().id() as i32);
    assert!(matches!(
        waitpid(pid, None).unwrap(),
        WaitStatus::Stopped(_, Signal::SIGTRAP)
    ));
    ptrace::cont(pid, None).unwrap();
    assert!(matches!(
        waitpid(pid, None).unwrap(),
        WaitStatus::Stopped(_, Signal::SIGSTOP)
    ));
    pid
}

fn rustc_program(dir: &std::path::Path, flags: &[&str]) -> std::path::PathBuf {
    let src = dir.join("prog.rs");
    std::fs::write(&src, PROGRAM).unwrap();
    let exe = dir.join("prog");
    let ok = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--edition=2021", "--crate-name", "prog"])
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    exe
}

#[test]
fn deleted_executable_is_read_through_map_files() {
    let dir = tempfile::tempdir().unwrap();
    let exe = rustc_program(dir.path(), &["-Copt-level=2", "-g"]);
    let pid = spawn_stopped(&exe);
    std::fs::remove_file(&exe).unwrap();
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let stack = u.unwind(pid.as_raw(), pid.as_raw());
    finish(pid);
    let shown = format!("{} (deleted)", exe.display());
    check_program(&stack, &shown, true);
}

#[test]
fn corrupt_eh_frame_is_never_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let exe = rustc_program(dir.path(), &["-Copt-level=2", "-g"]);
    let mut bytes = std::fs::read(&exe).unwrap();
    let range = {
        use object::{Object, ObjectSection};
        let obj = object::File::parse(&bytes[..]).unwrap();
        let s = obj.section_by_name(".eh_frame").unwrap();
        let (off, len) = s.file_range().unwrap();
        off as usize..(off + len) as usize
    };
    // Garbage lengths and CIE pointers: every entry is broken.
    for (i, b) in bytes[range].iter_mut().enumerate() {
        *b = if i % 3 == 0 { 0xff } else { 0x7f };
    }
    std::fs::write(&exe, &bytes).unwrap();
    let pid = spawn_stopped(&exe);
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let stack = u.unwind(pid.as_raw(), pid.as_raw());
    finish(pid);
    let exe = exe.to_string_lossy().into_owned();
    let first = stack
        .frames
        .iter()
        .position(|f| f.module.as_deref() == Some(exe.as_str()))
        .unwrap_or_else(|| panic!("{stack:#?}"));
    // The frame reached with libc's (good) CFI is certain; what lies beyond it in the corrupt
    // module is either not shown, or marked as a frame-pointer guess.
    assert_eq!(stack.frames[first].unwound, Unwound::Cfi);
    assert_eq!(stack.frames[first].function.as_deref(), Some("prog::inner"));
    match stack.frames.get(first + 1) {
        None => {
            let why = stack.truncated.as_deref().unwrap();
            assert!(why.contains("corrupt .eh_frame"), "{why}");
        }
        Some(next) => assert_eq!(next.unwound, Unwound::Fp, "{stack:#?}"),
    }
}

const C_PROGRAM: &str = r#"
#include <signal.h>
__attribute__((noinline)) int inner(int x) {
    int r = raise(SIGSTOP); /* RAISE */
    return r + x;
}
__attribute__((noinline)) int middle(int x) {
    int r = inner(x + 1); /* MIDDLE */
    return r * 3;
}
int main(int argc, char **argv) {
    (void)argv;
    return middle(argc) & 1; /* MAIN */
}
"#;

fn gcc_program(dir: &std::path::Path, name: &str, flags: &[&str]) -> Option<std::path::PathBuf> {
    std::fs::write(dir.join("prog.c"), C_PROGRAM).unwrap();
    let out = Command::new("gcc")
        .args(flags)
        .args(["-o", name, "prog.c"])
        .current_dir(dir)
        .status()
        .ok()?;
    assert!(out.success());
    Some(dir.join(name))
}

fn c_line(tag: &str) -> u32 {
    C_PROGRAM.lines().position(|l| l.contains(tag)).unwrap() as u32 + 1
}

#[test]
fn debug_frame_only_c_program() {
    let dir = tempfile::tempdir().unwrap();
    // No .eh_frame entries for the program's functions: their CFI is in .debug_frame.
    let Some(exe) = gcc_program(
        dir.path(),
        "dbgframe",
        &[
            "-O1",
            "-g",
            "-fno-asynchronous-unwind-tables",
            "-fno-unwind-tables",
        ],
    ) else {
        eprintln!("SKIPPED: no gcc");
        return;
    };
    let pid = spawn_stopped(&exe);
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let stack = u.unwind(pid.as_raw(), pid.as_raw());
    finish(pid);
    let exe = exe.to_string_lossy().into_owned();
    let ours: Vec<&Frame> = stack
        .frames
        .iter()
        .filter(|f| f.module.as_deref() == Some(exe.as_str()))
        .collect();
    let got: Vec<(Option<&str>, Option<u32>, Unwound)> = ours
        .iter()
        .map(|f| (f.function.as_deref(), f.line, f.unwound))
        .collect();
    assert_eq!(
        &got[..3],
        &[
            (Some("inner"), Some(c_line("RAISE")), Unwound::Cfi),
            (Some("middle"), Some(c_line("MIDDLE")), Unwound::Cfi),
            (Some("main"), Some(c_line("MAIN")), Unwound::Cfi),
        ],
        "{stack:#?}"
    );
}

#[test]
fn no_cfi_at_all_falls_back_to_frame_pointers_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let Some(exe) = gcc_program(
        dir.path(),
        "nocfi",
        &[
            "-O0",
            "-fno-omit-frame-pointer",
            "-fno-asynchronous-unwind-tables",
            "-fno-unwind-tables",
        ],
    ) else {
        eprintln!("SKIPPED: no gcc");
        return;
    };
    let pid = spawn_stopped(&exe);
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let stack = u.unwind(pid.as_raw(), pid.as_raw());
    finish(pid);
    let exe = exe.to_string_lossy().into_owned();
    let ours: Vec<(Option<&str>, Unwound)> = stack
        .frames
        .iter()
        .filter(|f| f.module.as_deref() == Some(exe.as_str()))
        .map(|f| (f.function.as_deref(), f.unwound))
        .collect();
    // `inner` is reached with libc's CFI; its callers only through the frame-pointer chain, and
    // they say so. No lines: there is no debug info.
    assert_eq!(
        &ours[..3],
        &[
            (Some("inner"), Unwound::Cfi),
            (Some("middle"), Unwound::Fp),
            (Some("main"), Unwound::Fp),
        ],
        "{stack:#?}"
    );
    assert!(stack
        .frames
        .iter()
        .all(|f| f.line.is_none() || f.module.as_deref() != Some(exe.as_str())));
    let text = text_block(&stack);
    assert!(text.contains("(middle+0x"), "{text}");
    assert!(text.contains("(frame pointer)"), "{text}");
}

#[test]
fn unreadable_deleted_executable_stops_with_a_reason() {
    // A deleted executable whose mapped file cannot be opened (no /proc/PID/map_files for a
    // process that is not there): no CFI, no symbols; the walk says why it stops and presents
    // nothing as certain beyond the registers.
    let pid = i32::MAX - 7;
    let mapping = maps::Mapping {
        start: 0x40_0000,
        end: 0x40_1000,
        read: true,
        exec: true,
        offset: 0,
        dev: "08:01".into(),
        inode: 42,
        path: "/gone/prog (deleted)".into(),
    };
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let module = u.module_for(pid, &mapping);
    assert!(
        module.is_some(),
        "the mapping keeps its (failed) module slot"
    );
    u.generations += 1;
    u.procs.insert(
        pid,
        Process {
            placed: vec![Placed {
                start: mapping.start,
                end: mapping.end,
                path: Arc::from(mapping.path.as_str()),
                offset: 0,
                module,
            }],
            stale: false,
            generation: u.generations,
        },
    );
    let base = 0x7000;
    let bytes = [0u8; 64];
    let mut mem = memory::SliceMemory {
        base,
        bytes: &bytes,
    };
    let arch = regs::Arch::native();
    let mut r = regs::Regs::new(arch, 0x40_0100);
    r.set(arch.sp(), Some(base));
    r.set(arch.fp(), Some(0));
    let stack = u.unwind_from(pid, r, &mut mem);
    assert_eq!(stack.frames.len(), 1, "{stack:#?}");
    assert_eq!(
        stack.frames[0].module.as_deref(),
        Some("/gone/prog (deleted)")
    );
    assert_eq!(stack.frames[0].function, None);
    assert_eq!(stack.frames[0].unwound, Unwound::Regs);
    assert_eq!(
        stack.truncated.as_deref(),
        Some("no CFI for pc (/gone/prog (deleted) unreadable); no plausible frame pointer")
    );
    // The same walk again comes from the stack cache: the same frames, the same reason.
    let again = u.unwind_from(pid, r_again(arch, base), &mut mem);
    assert!(Arc::ptr_eq(&again.frames, &stack.frames));
    assert_eq!(again.truncated, stack.truncated);
}

fn r_again(arch: regs::Arch, sp: u64) -> regs::Regs {
    let mut r = regs::Regs::new(arch, 0x40_0100);
    r.set(arch.sp(), Some(sp));
    r.set(arch.fp(), Some(0));
    r
}

#[test]
fn stack_cache_tells_walks_and_map_readings_apart() {
    // Two walks that differ only in the reading of the maps they were made under are not
    // confused: a process's maps read again (exec, dlopen) symbolize afresh.
    let child = stopped_child(level1);
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let first = u.unwind(child.as_raw(), child.as_raw());
    let same = u.unwind(child.as_raw(), child.as_raw());
    assert!(
        Arc::ptr_eq(&first.frames, &same.frames),
        "the same stop twice: one symbolization"
    );
    u.invalidate(child.as_raw());
    let reread = u.unwind(child.as_raw(), child.as_raw());
    finish(child);
    assert!(!Arc::ptr_eq(&first.frames, &reread.frames));
    assert_eq!(first, reread, "same content");
}

#[test]
fn maps_read_again_midway_relocate_the_frames_found_so_far() {
    // The cached maps lack this test binary (as they lack a library loaded with dlopen after
    // they were read): the walk starts in libc, meets a return address outside every known
    // mapping, reads the maps again — and the frames already found must point into the new
    // reading, not at whatever mapping now has their old index.
    let child = stopped_child(level1);
    let pid = child.as_raw();
    let mut u = StackUnwinder::new(DEFAULT_DEPTH);
    let want = u.unwind(pid, pid);
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let exe = exe.to_string_lossy().into_owned();
    let p = u.procs.get_mut(&pid).unwrap();
    let before = p.placed.len();
    p.placed.retain(|m| *m.path != *exe);
    assert!(p.placed.len() < before, "the test binary was mapped");
    let got = u.unwind(pid, pid);
    finish(child);
    assert_eq!(got, want);
    assert!(got
        .frames
        .iter()
        .any(|f| f.module.as_deref() == Some(exe.as_str())));
}
