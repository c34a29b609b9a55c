//! Callers from user stacks (`syscalls -k`): the innermost frame of each system call's stack
//! that belongs to the program's own code — not std, not libc, not our runtime, not a
//! registry dependency. Under a traced function it is the exact calling line; outside every
//! traced function it is an *inferred* caller, always shown as such (`~app::log::flush`), never
//! as a traced call.

use crate::stack::Frame;

/// The program's own frame that made a system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Function (demangled, no hash).
    pub function: String,
    /// Source file, as the debug info names it (relative to the build directory for the
    /// program's own crates).
    pub file: Option<String>,
    /// Line.
    pub line: Option<u32>,
    /// No traced call encloses the system call: the caller is inferred from the stack only.
    pub inferred: bool,
}

impl Caller {
    /// `<src/log.rs:42>` (under a traced call) or `~app::log::flush <src/log.rs:42>` (inferred).
    pub fn text(&self) -> String {
        let loc = match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("<{f}:{l}>"),
            (Some(f), None) => format!("<{f}>"),
            _ => String::new(),
        };
        if self.inferred {
            if loc.is_empty() {
                format!("~{}", self.function)
            } else {
                format!("~{} {loc}", self.function)
            }
        } else if loc.is_empty() {
            format!("<{}>", self.function)
        } else {
            loc
        }
    }

    /// The name a flame graph or call graph shows for an inferred caller (`~name`).
    pub fn frame_name(&self) -> String {
        format!("~{}", self.function)
    }
}

/// Crates that are never "the program's own": the standard library, its private dependencies,
/// and ruchytrace itself.
const FOREIGN_CRATES: &[&str] = &[
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "panic_unwind",
    "panic_abort",
    "compiler_builtins",
    "std_detect",
    "rustc_std_workspace_core",
    "rustc_std_workspace_alloc",
    "hashbrown",
    "backtrace",
    "addr2line",
    "gimli",
    "object",
    "miniz_oxide",
    "adler2",
    "memchr",
    "unwind",
    "ruchytrace",
    "ruchytrace_runtime",
    "ruchytrace_macros",
];

/// The crate a demangled Rust path starts with (`<app::X as core::fmt::Debug>::fmt` → `app`).
fn crate_of(function: &str) -> Option<&str> {
    let f = function.trim_start_matches('<').trim_start_matches('&');
    let f = f.strip_prefix("mut ").unwrap_or(f);
    let (krate, _) = f.split_once("::")?;
    Some(krate)
}

/// Whether a frame is the program's own code.
pub fn is_own(f: &Frame) -> bool {
    let (Some(function), Some(file)) = (&f.function, &f.file) else {
        // Without debug info there is no line to give and no way to tell own code from a
        // dependency: never inferred.
        return false;
    };
    if file.starts_with("/rustc/")
        || file.starts_with("library/")
        || file.contains("/.cargo/registry/")
        || file.contains("/.cargo/git/")
        || file.starts_with("../")
    {
        return false;
    }
    match crate_of(function) {
        Some(k) => !FOREIGN_CRATES.contains(&k),
        // C or other unmangled code: own when it is not a system file.
        None => {
            !file.starts_with("/usr/")
                && f.module.as_deref().is_some_and(|m| !m.starts_with("/usr/"))
        }
    }
}

/// The innermost own frame of a stack, as a (not yet inferred) caller.
pub fn own_caller(stack: &[Frame]) -> Option<Caller> {
    let f = stack.iter().find(|f| is_own(f))?;
    Some(Caller {
        function: f.function.as_deref()?.to_string(),
        file: f.file.as_deref().map(str::to_string),
        line: f.line,
        inferred: false,
    })
}

/// Crates a system call passes through on its way from the code that asked for it: the
/// standard library and its private dependencies.
const PLUMBING: &[&str] = &[
    "std",
    "core",
    "alloc",
    "hashbrown",
    "std_detect",
    "memchr",
    "compiler_builtins",
];

/// Whether the code that asked for a system call is the ruchytrace runtime (opening the trace
/// file, calibrating the clock, starting its thread), not the program: the innermost Rust frame
/// outside the standard library belongs to the runtime. (Every traced call also passes through
/// the runtime further out, so only the innermost counts.)
pub fn by_tracer(stack: &[Frame]) -> bool {
    stack
        .iter()
        .filter_map(|f| f.function.as_deref().and_then(crate_of))
        .find(|k| !PLUMBING.contains(k))
        .is_some_and(|k| k == "ruchytrace_runtime")
}

/// The runtime brackets the system calls it makes on a program's thread (creating the trace
/// file, mapping a segment) with `write(-1, "ruchytrace:runtime:begin")` and `…:end`, which
/// fail at once. Whether `s` is such a marker, and whether it begins a bracket.
fn runtime_marker(s: &super::Syscall) -> Option<bool> {
    if s.name != "write" || s.args.first().is_none_or(|a| a != "-1") {
        return None;
    }
    let text = s.args.get(1)?;
    if text.contains("ruchytrace:runtime:begin") {
        Some(true)
    } else if text.contains("ruchytrace:runtime:end") {
        Some(false)
    } else {
        None
    }
}

/// Marks, thread by thread in event order, the system calls between the runtime's markers
/// (the markers included) as tracer traffic: how the runtime's own calls are recognised
/// without user stacks.
#[derive(Debug, Default)]
pub(crate) struct Markers(std::collections::HashMap<(u32, u32), bool>);

impl Markers {
    /// Feeds the next system call node of thread `key`.
    pub(crate) fn mark(&mut self, key: (u32, u32), n: &mut super::Node) {
        let super::NodeKind::Syscall(s) = &mut n.kind else {
            return;
        };
        let inside = self.0.entry(key).or_insert(false);
        match runtime_marker(s) {
            Some(begin) => {
                *inside = begin;
                s.by_tracer = true;
            }
            None => s.by_tracer |= *inside,
        }
    }
}

/// Whether the text timeline hides a node without `--show-tracer` (the runtime's own system
/// calls on user threads).
pub(crate) fn hidden(n: &super::Node) -> bool {
    matches!(&n.kind, super::NodeKind::Syscall(s) if s.by_tracer)
}

/// Marks the callers of system calls that no traced call encloses (the roots of each thread)
/// as inferred.
pub(crate) fn mark_inferred(threads: &[super::ThreadTrack], nodes: &mut [super::Node]) {
    for t in threads {
        for &r in &t.roots {
            if let super::NodeKind::Syscall(s) = &mut nodes[r as usize].kind {
                if let Some(c) = &mut s.caller {
                    c.inferred = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Unwound;

    fn syscall(name: &str, args: &[&str]) -> super::super::Node {
        super::super::Node {
            start_ns: 0,
            end_ns: Some(1),
            children: Vec::new(),
            kind: super::super::NodeKind::Syscall(super::super::Syscall {
                name: name.into(),
                args: args.iter().map(|a| a.to_string()).collect(),
                raw_args: vec![],
                ret: Some(0),
                errno: None,
                caller: None,
                by_tracer: false,
                startup: None,
            }),
        }
    }

    #[test]
    fn calls_between_the_runtime_markers_are_tracer_traffic() {
        let mut m = Markers::default();
        let calls = [
            syscall("openat", &["AT_FDCWD", "\"/etc/hosts\""]),
            syscall("write", &["-1", "\"ruchytrace:runtime:begin\"", "24"]),
            syscall("fallocate", &["3", "0", "4096", "1048576"]),
            syscall("mmap", &["NULL", "1048576"]),
            syscall("write", &["-1", "\"ruchytrace:runtime:end\"", "22"]),
            syscall("write", &["1", "\"ruchytrace:runtime:begin\"", "24"]),
        ];
        let mut hidden = Vec::new();
        for mut c in calls {
            m.mark((1, 1), &mut c);
            hidden.push(super::hidden(&c));
        }
        // The program's own write of the same text to stdout is not a marker.
        assert_eq!(hidden, [false, true, true, true, true, false]);
        // Markers are per thread.
        let mut other = syscall("mmap", &[]);
        m.mark((1, 2), &mut other);
        assert!(!super::hidden(&other));
    }

    fn frame(function: &str, file: &str, module: &str) -> Frame {
        Frame {
            pc: 1,
            module: Some(module.into()),
            module_address: None,
            function: Some(function.into()),
            symbol: None,
            symbol_offset: None,
            file: Some(file.into()),
            line: Some(7),
            inlined: false,
            unwound: Unwound::Cfi,
            file_offset: None,
        }
    }

    #[test]
    fn own_frames_skip_std_libc_runtime_and_dependencies() {
        let stack = vec![
            frame(
                "__GI___libc_write",
                "../sysdeps/unix/sysv/linux/write.c",
                "/usr/lib/libc.so.6",
            ),
            frame(
                "std::sys::fd::FileDesc::write",
                "library/std/src/sys/fd/unix.rs",
                "/app",
            ),
            frame(
                "<std::fs::File as std::io::Write>::write",
                "/rustc/abc/library/std/src/fs.rs",
                "/app",
            ),
            frame(
                "ruchytrace_runtime::sink::flush",
                "ruchytrace-runtime/src/sink.rs",
                "/app",
            ),
            frame(
                "serde_json::ser::to_writer",
                "/root/.cargo/registry/src/x/serde_json/src/ser.rs",
                "/app",
            ),
            frame("app::log::flush", "src/log.rs", "/app"),
            frame("app::main", "src/main.rs", "/app"),
        ];
        let c = own_caller(&stack).unwrap();
        assert_eq!(c.function, "app::log::flush");
        assert_eq!((c.file.as_deref(), c.line), (Some("src/log.rs"), Some(7)));
        assert_eq!(c.text(), "<src/log.rs:7>");
        let inferred = Caller {
            inferred: true,
            ..c
        };
        assert_eq!(inferred.text(), "~app::log::flush <src/log.rs:7>");
        assert_eq!(crate_of("<app::X as core::fmt::Debug>::fmt"), Some("app"));
        assert!(own_caller(&stack[..5]).is_none());
    }

    #[test]
    fn c_code_outside_the_system_is_own() {
        assert!(is_own(&frame("lib_getppid", "lib.c", "/tmp/x/libstk.so")));
        assert!(!is_own(&frame(
            "getppid",
            "syscall-template.S",
            "/usr/lib/libc.so.6"
        )));
    }
}
