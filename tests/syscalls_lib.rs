//! The library API of the system call tracer (`ruchytrace::syscalls`), as `ruchytrace run
//! --syscalls` will call it. Its own test binary with a single test: the tracer reaps children
//! with `waitpid(-1)`, which must not race with other tests' child processes.

#[path = "support/skip.rs"]
mod skip;

use ruchytrace::syscalls::{self, Event, Options};

#[test]
fn trace_command_returns_status_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        follow_forks: true,
        keep_events: true,
        output: Some(dir.path().join("trace.txt")),
        ..Options::default()
    };
    // Decided by a direct probe (its child is reaped before the tracer starts): with ptrace
    // permitted, any error of the tracer is a failure.
    if !skip::ptrace_or_skip() {
        return;
    }
    let outcome = syscalls::trace_command(
        &opts,
        "sh".as_ref(),
        &["-c".into(), "/bin/true; exit 3".into()],
    )
    .unwrap();
    assert_eq!(outcome.exit_code, 3);
    assert!(outcome.complete);
    let trace = outcome.trace.expect("kept events");
    assert_eq!(trace.events.len(), outcome.events);
    let pids: std::collections::BTreeSet<i32> = trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Exit(x) => Some(x.pid),
            _ => None,
        })
        .collect();
    assert_eq!(pids.len(), 2, "sh and true both exit");
    assert!(trace
        .events
        .iter()
        .any(|e| matches!(e, Event::Syscall(s) if s.name == "exit_group")));
    let text = std::fs::read_to_string(dir.path().join("trace.txt")).unwrap();
    assert!(text.ends_with("+++ exited with 3 +++\n"), "{text}");

    let missing = syscalls::trace_command(&opts, "nosuch-ruchytrace".as_ref(), &[]).unwrap_err();
    assert_eq!(missing.exit_code(), 127);
    assert_eq!(
        missing.to_string(),
        "cannot run 'nosuch-ruchytrace': No such file or directory"
    );
}
