//! Setting a trace up and winding it down: the output files and sinks, the metadata, the
//! signal handlers, the seccomp filter, and the [`Outcome`] of a finished loop.

use super::*;

/// The (`CLOCK_REALTIME`, `CLOCK_MONOTONIC`) pair, read back to back.
pub(super) fn clock_info() -> ClockInfo {
    let realtime_ns = sys::realtime_ns();
    let monotonic_ns = sys::monotonic_ns();
    ClockInfo {
        domain: "CLOCK_MONOTONIC".into(),
        source: "CLOCK_MONOTONIC".into(),
        realtime_ns,
        monotonic_ns,
        tsc_hz: None,
    }
}

pub(super) extern "C" fn on_interrupt(sig: libc::c_int) {
    tracer::INTERRUPTED.store(sig, Ordering::Relaxed);
}

pub(super) extern "C" fn on_alarm(_: libc::c_int) {
    tracer::FLUSH_DUE.store(true, Ordering::Relaxed);
}

/// The signals that make the tracer detach and stop, as strace.
const STOP_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// Handlers for the loop: stop signals and the flush tick. Undone by [`uninstall_handlers`].
pub(super) fn install_handlers() {
    tracer::INTERRUPTED.store(0, Ordering::Relaxed);
    for s in STOP_SIGNALS {
        sys::set_flag_handler(s, on_interrupt);
    }
    sys::set_flag_handler(Signal::SIGALRM, on_alarm);
    sys::set_interval_timer(50);
}

pub(super) fn uninstall_handlers() {
    sys::set_interval_timer(0);
    for s in STOP_SIGNALS {
        sys::set_default_handler(s);
    }
}

/// How lines of `-o FILE` (or stderr) name their thread.
pub(super) fn pid_style(opts: &Options, to_file: bool, several_roots: bool) -> PidStyle {
    if opts.output_separately && to_file {
        PidStyle::None
    } else if to_file && (opts.follow_forks || several_roots) {
        PidStyle::Bare
    } else {
        PidStyle::Bracketed
    }
}

/// What [`open_outputs`] opened: the text sink, the JSON file, the files it created.
pub(super) type Outputs = (Option<TextOut>, Option<File>, Vec<PathBuf>);

/// Creates the output files before anything runs, so a bad path fails first (and exit 2).
/// Returns the text sink, the JSON file, and the files created (removed again if the program
/// cannot be started).
pub(super) fn open_outputs(opts: &Options, several_roots: bool) -> Result<Outputs, Error> {
    let open = |path: &Path| {
        output::create_private(path).map_err(|source| Error::OutputOpen {
            path: path.to_path_buf(),
            source,
        })
    };
    let format = |to_file| LineFormat {
        time: opts.time,
        relative: opts.relative_time,
        durations: opts.show_durations,
        pids: pid_style(opts, to_file, several_roots),
        clock: clock_info(),
    };
    let stderr = || {
        TextOut::One(TextPrinter::new(
            Box::new(BufWriter::with_capacity(64 * 1024, io::stderr())),
            format(false),
        ))
    };
    match (&opts.output, opts.format) {
        (Some(path), Format::Json) => {
            let file = open(path)?;
            let text = (opts.summary).then(stderr);
            Ok((text, Some(file), vec![path.clone()]))
        }
        (Some(path), Format::Text) if opts.output_separately => {
            // Check the directory is writable now: the per-thread files appear later.
            let mut probe = path.clone().into_os_string();
            probe.push(format!(".{}", std::process::id()));
            let probe = PathBuf::from(probe);
            open(&probe)?;
            let _ = std::fs::remove_file(&probe);
            let text = TextOut::PerThread {
                base: path.clone(),
                format: format(true),
                files: Default::default(),
            };
            Ok((Some(text), None, Vec::new()))
        }
        (Some(path), Format::Text) => {
            let file = open(path)?;
            let text = TextOut::One(TextPrinter::new(
                Box::new(BufWriter::with_capacity(64 * 1024, file)),
                format(true),
            ));
            Ok((Some(text), None, vec![path.clone()]))
        }
        (None, _) => Ok((Some(stderr()), None, Vec::new())),
    }
}

/// Checks what can be checked before tracing: `-P` paths exist.
pub(super) fn check_options(opts: &Options) -> Result<(), Error> {
    for p in &opts.paths {
        if std::fs::symlink_metadata(p).is_err() {
            return Err(Error::Filter(format!(
                "-P {}: no such file or directory",
                p.display()
            )));
        }
    }
    Ok(())
}

/// What the metadata says about the run.
pub(super) struct RunInfo {
    pub(super) program: String,
    pub(super) args: Vec<String>,
    pub(super) pid: i32,
    pub(super) clock: ClockInfo,
}

pub(super) fn metadata(opts: &Options, info: RunInfo) -> Metadata {
    Metadata {
        format: SYS_TRACE_FORMAT.into(),
        version: SYS_TRACE_VERSION,
        ruchytrace_version: env!("CARGO_PKG_VERSION").into(),
        program: info.program,
        args: info.args,
        pid: info.pid,
        arch: std::env::consts::ARCH.into(),
        clock: info.clock,
        options: RecordedOptions {
            follow_forks: opts.follow_forks,
            filter: filter_text(opts),
            strsize: opts.strsize,
        },
        images: Vec::new(),
    }
}

pub(super) fn sinks(
    opts: &Options,
    text: Option<TextOut>,
    json: Option<File>,
    meta: &Metadata,
) -> Result<Sinks, Error> {
    let json = match json {
        Some(f) => Some(JsonWriter::new(f, meta).map_err(Error::Output)?),
        None => None,
    };
    Ok(Sinks {
        text,
        json,
        keep: opts.keep_events,
    })
}

/// The outcome of a finished loop.
pub(super) fn outcome(result: tracer::LoopResult, meta: Option<Metadata>) -> Outcome {
    let exit_code = match (result.interrupted, result.root_status) {
        (Some(sig), _) => 128 + sig,
        (None, Some(RootEnd::Exited(c))) => c,
        (None, Some(RootEnd::Killed(s))) => 128 + s,
        (None, None) => 0,
    };
    let trace = meta.map(|mut metadata| {
        metadata.images = result.images;
        let mut events = result.events;
        events.sort_by_key(Event::timestamp_ns);
        SysTrace {
            metadata,
            end: End {
                complete: result.complete,
                events: events.len(),
            },
            events,
        }
    });
    Outcome {
        exit_code,
        events: result.count,
        complete: result.complete,
        trace,
        interrupted: result.interrupted,
    }
}

pub(super) fn filter_text(opts: &Options) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(t) = &opts.trace {
        parts.push(format!("trace={}", t.expr));
    }
    match opts.status {
        StatusFilter::All => {}
        StatusFilter::Failed => parts.push("status=failed".into()),
        StatusFilter::Successful => parts.push("status=successful".into()),
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The seccomp filter for `-e trace=` (execve always runs without a stop: see
/// [`sys::SeccompProgram::new`]).
pub(super) fn seccomp_program(opts: &Options) -> Option<sys::SeccompProgram> {
    let never: Vec<u64> = ["execve", "execveat"]
        .iter()
        .filter_map(|n| table::number(n))
        .collect();
    match (&opts.trace, opts.seccomp) {
        // An exec is never a seccomp stop (the first one cannot be), so a set that selects one
        // stops at every call instead: strace shows the path as the program passed it.
        (Some(set), true) if never.iter().any(|&nr| set.contains(nr)) => None,
        (Some(set), true) => Some(sys::SeccompProgram::new(&set.numbers, set.negated, &never)),
        _ => None,
    }
}

pub(super) fn envp_bytes() -> Vec<Vec<u8>> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend_from_slice(v.as_encoded_bytes());
            kv
        })
        .collect()
}

/// The decoder settings of `opts` (for the lines the tracer builds itself).
pub(super) fn decode_options(opts: &Options) -> decode::DecodeOptions {
    decode::DecodeOptions {
        strsize: opts.strsize,
        show_fd_paths: opts.show_fd_paths || opts.show_sockets,
        show_sockets: opts.show_sockets,
        strings_hex: opts.strings_hex,
        verbose: opts.verbose,
    }
}
