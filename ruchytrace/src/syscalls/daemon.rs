//! `-D`: the tracer runs as a detached grandchild and the program keeps the pid (and the parent)
//! the caller started, as with `strace -D`.
//!
//! This process forks a child that forks the tracer and exits at once (so the tracer is
//! re-parented and the program's parent never sees it). The tracer seizes this process, tells it
//! to go on through a pipe, and this process execs the program. Calls made before the exec are
//! not shown; the execve itself is reported from the exec event, as for a spawned program.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use nix::unistd::{fork, ForkResult};

use super::tracer::{self, Mode, Tracer};
use super::{
    clock_info, decode_options, envp_bytes, install_handlers, metadata, open_outputs, outcome,
    seccomp_program, sinks, strip_os_error, sys, uninstall_handlers, Error, Options, Outcome,
    RunInfo,
};

/// Runs the `-D` dance. Returns only in this process, and only if the exec failed; the tracer
/// grandchild exits the process when tracing ends.
pub(super) fn trace_as_grandchild(
    opts: &Options,
    program: &OsStr,
    resolved: &Path,
    args: &[OsString],
) -> Result<Outcome, Error> {
    let (text, json, _) = open_outputs(opts, false)?;
    let (ready_r, ready_w) = nix::unistd::pipe().map_err(|e| Error::Output(e.into()))?;
    let target = nix::unistd::getpid().as_raw();
    // SAFETY: the CLI is single-threaded here; the child only forks again and exits.
    match unsafe { fork() }.map_err(|e| Error::Output(e.into()))? {
        ForkResult::Parent { child } => {
            drop(ready_w);
            // The intermediate child exits at once; reap it so it is no zombie.
            let _ = nix::sys::wait::waitpid(child, None);
            // Wait until the tracer has seized us (it writes a byte), or gave up (EOF).
            let mut b = [0u8; 1];
            let n = nix::unistd::read(&ready_r, &mut b).unwrap_or(0);
            drop(ready_r);
            if n == 0 {
                return Err(Error::Ptrace {
                    request: "PTRACE_SEIZE",
                    pid: target,
                    source: std::io::Error::other("the -D tracer could not attach"),
                });
            }
            let filter = seccomp_program(opts);
            let mut cmd = std::process::Command::new(resolved);
            cmd.arg0(program).args(args);
            if let Some(f) = filter {
                // SAFETY: runs just before exec in this process; installs a prebuilt filter
                // with two system calls and no allocation.
                unsafe {
                    cmd.pre_exec(move || f.install());
                }
            }
            let e = cmd.exec();
            Err(Error::Spawn {
                program: program.to_string_lossy().into_owned(),
                reason: strip_os_error(&e),
                exit_code: if e.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                },
            })
        }
        ForkResult::Child => {
            drop(ready_r);
            // SAFETY: as above; the grandchild continues as the tracer.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {}
                // SAFETY: _exit ends the intermediate child without running destructors.
                _ => unsafe { libc::_exit(0) },
            }
            let code = run_tracer(opts, program, resolved, args, target, text, json, ready_w);
            std::process::exit(code);
        }
    }
}

/// The grandchild: seize `target`, let it exec, trace it.
#[allow(clippy::too_many_arguments)]
fn run_tracer(
    opts: &Options,
    program: &OsStr,
    resolved: &Path,
    args: &[OsString],
    target: i32,
    text: Option<super::TextOut>,
    json: Option<std::fs::File>,
    ready: OwnedFd,
) -> i32 {
    let seccomp = seccomp_program(opts).is_some();
    let argv: Vec<&[u8]> = std::iter::once(program.as_bytes())
        .chain(args.iter().map(|a| a.as_bytes()))
        .collect();
    let meta = metadata(
        opts,
        RunInfo {
            program: resolved.to_string_lossy().into_owned(),
            args: argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            pid: target,
            clock: clock_info(),
        },
    );
    let sinks = match sinks(opts, text, json, &meta) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ruchytrace: {e}");
            return 1;
        }
    };
    let mut tr = Tracer::new(opts, Mode::Attached, seccomp, sinks);
    tr.skip_until_exec(target);
    if let Err(e) = sys::seize(
        target,
        tracer::ptrace_options(opts, Mode::Attached, seccomp),
    ) {
        eprintln!("ruchytrace: cannot attach to process {target}: {e}");
        return 1;
    }
    let _ = sys::interrupt(target);
    tr.add_tracee(target, target);
    let _ = nix::unistd::write(&ready, b"x");
    let _ = ready.as_raw_fd();
    drop(ready);
    let envp = envp_bytes();
    let envp: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
    tr.set_exec_args(tracer::exec_args(
        resolved.as_os_str().as_bytes(),
        &argv,
        &envp,
        &decode_options(opts),
    ));
    install_handlers();
    let result = tr.run();
    uninstall_handlers();
    match result {
        Ok(r) => outcome(r, None).exit_code,
        Err(e) => {
            eprintln!("ruchytrace: {e}");
            1
        }
    }
}
