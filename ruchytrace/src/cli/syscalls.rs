//! `ruchytrace syscalls`: the ptrace companion (strace-style system call tracer).
//!
//! The command line is strace's, parsed as strace parses it (getopt without permutation): short
//! options cluster (`-ff`, `-tt`, `-fe trace=open`), an option's value may be glued (`-s64`,
//! `-otrace.txt`) or the next word, and options end at `--` or at the first word that is not an
//! option — the program. An unknown option is a usage error (exit 2) with a one-line hint, never
//! taken as the program. Trace text goes to stderr or `-o FILE`, never to stdout, which belongs
//! to the traced program.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::syscalls::{self, CpuMode, Format, Options, StatusFilter, TimeFormat, XlatStyle};

use super::EXIT_USAGE;

/// Arguments of `ruchytrace syscalls`: the raw words after the subcommand, parsed by
/// [`parse`] (strace's rules, which clap cannot express).
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct SyscallsArgs {
    /// Options and the program to run, as for strace (see `ruchytrace syscalls -h`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..,
        value_name = "ARGS"
    )]
    pub args: Vec<OsString>,
}

/// The help text, with every option.
pub const HELP: &str = "\
Trace the system calls of a program, or of running processes, strace-style.

Usage: ruchytrace syscalls [OPTIONS] [--] PROGRAM [ARGS...]
       ruchytrace syscalls [OPTIONS] -p PID [-p PID...]

Options end at `--` or at the first word that is not an option (the program).

Tracing:
  -f, --follow-forks       follow forked child processes (threads are always followed)
  -ff                      with -o NAME: one file per thread, NAME.TID
  -p, --attach PID         attach to a running process (repeatable); Ctrl-C detaches
  -D                       run the tracer as a detached grandchild (the program keeps its pid)
  -e trace=SET             NAME,%class,/REGEX,?NAME (optional), all, none; `!` negates
  -e signal=SET            which signals to show (names, numbers, all, none; `!` negates)
  -e status=failed|successful|all
  -P PATH                  only calls that touch PATH (repeatable)
  -z                       only calls that succeeded (= -e status=successful)
  -Z                       only calls that failed (= -e status=failed)

Output:
  -o, --output FILE        write the trace to FILE (sys.json when FILE ends in .json)
      --format text|json   force the format of -o
  -c, --summary            count time, calls and errors per call; print only the table
  -C                       print the table after the trace
  -t, -tt, -ttt            time of day, with microseconds, as epoch seconds
  -r                       time since the previous line
  -T                       time spent in each call
  -s, --string-limit N     longest string printed (default 32)
  -x, -xx                  strings with non-printable bytes in hex; every string in hex
  -X raw|abbrev|verbose    constants as numbers, names (default), or both
  -y, -yy                  paths behind file descriptors; also socket endpoints
  -v                       unabbreviated environments
  -q, -qq                  no attach/detach messages; no exit lines either
  -k, --stack-trace        the user stack of each call: function, file and line per frame
      --stack-depth N      with -k: at most N frames (default 64)

Speed:
      --pin-cpu            pin tracer and program to one CPU (changes the program's affinity)
      --cpu-mode MODE      where the tracer's own thread runs: auto (default; next to the
                           traced thread, as SCHED_IDLE while CPUs are idle), follow (pinned
                           to the traced thread's last CPU), off (the scheduler decides)
      --no-follow-cpu      same as --cpu-mode off
      --no-seccomp         stop at every call even with -e trace= (no seccomp-bpf filter)

Diagnostics:
      --debug              the tracer's own waitpid/ptrace log on stderr (RUST_LOG filters)
  -h, --help               this help

Exit status: the program's (128+N when killed by signal N; 128+N when the tracer itself got
SIGINT, SIGTERM or SIGHUP and detached), 126/127 when the program cannot run, 2 for usage
errors and bad input (unknown option, bad -e, -p of a missing process, -P of a missing path,
an -o that cannot be created), 1 for failures while tracing.

Examples:
  ruchytrace syscalls -f -o sys.json -- make
  ruchytrace syscalls -e trace=%file -y ls
  ruchytrace syscalls -p 1234";

/// A usage error: printed as `ruchytrace syscalls: MESSAGE` and a hint, exit 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

/// What the command line asked for.
#[derive(Debug)]
pub struct Parsed {
    /// The tracer options.
    pub opts: Options,
    /// `-p` processes.
    pub pids: Vec<i32>,
    /// The program and its arguments.
    pub command: Vec<OsString>,
    /// `--debug`.
    pub debug: bool,
    /// `-h`/`--help`.
    pub help: bool,
}

/// Short options that take a value.
const SHORT_WITH_VALUE: &[u8] = b"eopPsXSEIabuU";
/// Short options without a value.
const SHORT_FLAGS: &[u8] = b"fcCtTrxyzZDqvVhwdnkiFAY";

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Parses the words after `syscalls` the way strace parses its command line.
pub fn parse(words: &[OsString]) -> Result<Parsed, UsageError> {
    let mut p = Parsed {
        opts: Options::default(),
        pids: Vec::new(),
        command: Vec::new(),
        debug: false,
        help: false,
    };
    let mut counts = [0u8; 128];
    let mut format: Option<Format> = None;
    let mut exprs: Vec<String> = Vec::new();
    let mut stack_depth = crate::stack::DEFAULT_DEPTH;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_bytes();
        i += 1;
        if w == b"--" {
            break;
        }
        if w.len() < 2 || w[0] != b'-' {
            // The program: options end here.
            i -= 1;
            break;
        }
        if let Some(long) = w.strip_prefix(b"--") {
            let long = String::from_utf8_lossy(long).into_owned();
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.clone(), None),
            };
            let mut value = |what: &str| -> Result<String, UsageError> {
                if let Some(v) = &inline {
                    return Ok(v.clone());
                }
                let v = words
                    .get(i)
                    .ok_or_else(|| usage(format!("option '--{name}' requires {what}")))?;
                i += 1;
                Ok(v.to_string_lossy().into_owned())
            };
            match name.as_str() {
                "help" => p.help = true,
                "follow-forks" => counts[b'f' as usize] += 1,
                "output-separately" => counts[b'f' as usize] = 2,
                "summary" | "summary-only" => counts[b'c' as usize] += 1,
                "summary-with-output" => counts[b'C' as usize] += 1,
                "debug" => p.debug = true,
                "pin-cpu" => p.opts.pin_cpu = true,
                "no-follow-cpu" => p.opts.cpu = CpuMode::Off,
                "cpu-mode" => {
                    p.opts.cpu = match value("auto, follow or off")?.as_str() {
                        "auto" => CpuMode::Auto,
                        "follow" => CpuMode::Follow,
                        "off" => CpuMode::Off,
                        other => {
                            return Err(usage(format!(
                                "invalid --cpu-mode '{other}' (expected auto, follow or off)"
                            )))
                        }
                    }
                }
                "no-seccomp" => p.opts.seccomp = false,
                "stack-trace" | "stacks" => counts[b'k' as usize] += 1,
                "stack-depth" => {
                    let v = value("a number")?;
                    stack_depth = v
                        .parse()
                        .ok()
                        .filter(|&n: &usize| n > 0)
                        .ok_or_else(|| usage(format!("invalid --stack-depth '{v}'")))?;
                }
                "output" => short_value(&mut p, &mut exprs, b'o', value("a file")?)?,
                "attach" => short_value(&mut p, &mut exprs, b'p', value("a process id")?)?,
                "string-limit" => short_value(&mut p, &mut exprs, b's', value("a number")?)?,
                "trace-path" => short_value(&mut p, &mut exprs, b'P', value("a path")?)?,
                "const-print-style" => short_value(&mut p, &mut exprs, b'X', value("a style")?)?,
                "format" => {
                    format = Some(match value("text or json")?.as_str() {
                        "text" => Format::Text,
                        "json" => Format::Json,
                        other => {
                            return Err(usage(format!(
                                "invalid --format '{other}' (expected text or json)"
                            )))
                        }
                    })
                }
                _ => return Err(usage(format!("unrecognized option '--{name}'"))),
            }
            continue;
        }
        // A cluster of short options: `-ff`, `-fe trace=open`, `-s64`.
        let mut j = 1;
        while j < w.len() {
            let c = w[j];
            j += 1;
            if SHORT_WITH_VALUE.contains(&c) {
                let v = if j < w.len() {
                    let v = OsStr::from_bytes(&w[j..]).to_string_lossy().into_owned();
                    j = w.len();
                    v
                } else {
                    let v = words.get(i).ok_or_else(|| {
                        usage(format!("option requires an argument -- '{}'", c as char))
                    })?;
                    i += 1;
                    v.to_string_lossy().into_owned()
                };
                short_value(&mut p, &mut exprs, c, v)?;
            } else if SHORT_FLAGS.contains(&c) && supported_flag(c) {
                if c == b'h' {
                    p.help = true;
                }
                counts[c as usize] = counts[c as usize].saturating_add(1);
            } else if SHORT_FLAGS.contains(&c) {
                return Err(usage(format!(
                    "option -{} is not supported by ruchytrace",
                    c as char
                )));
            } else {
                return Err(usage(format!("invalid option -- '{}'", c as char)));
            }
        }
    }
    p.command = words[i..].to_vec();
    apply_counts(&mut p, &counts)?;
    // -k: the user stack of every kept call.
    p.opts.stack_depth = (counts[b'k' as usize] > 0).then_some(stack_depth);
    for e in &exprs {
        p.opts
            .apply_expr(e)
            .map_err(|err| usage(format!("invalid -e '{e}': {err}")))?;
    }
    p.opts.format = match (format, &p.opts.output) {
        (Some(f), _) => f,
        (None, Some(path)) if path.extension().is_some_and(|e| e == "json") => Format::Json,
        _ => Format::Text,
    };
    if p.opts.format == Format::Json && p.opts.output.is_none() {
        return Err(usage(
            "--format json needs -o FILE (stdout belongs to the traced program)",
        ));
    }
    if p.opts.output_separately && (p.opts.output.is_none() || p.opts.format == Format::Json) {
        // strace: -ff without -o is -f.
        p.opts.output_separately = false;
    }
    if !p.help {
        match (p.pids.is_empty(), p.command.is_empty()) {
            (true, true) => {
                return Err(usage(
                    "must have PROGRAM [ARGS] or -p PID (see `ruchytrace syscalls -h`)",
                ))
            }
            (false, false) => {
                return Err(usage("give either -p PID or a program to run, not both"))
            }
            _ => {}
        }
        if p.opts.daemonize && !p.pids.is_empty() {
            return Err(usage("-D and -p are mutually exclusive"));
        }
    }
    Ok(p)
}

/// The short flags implemented (the others strace has are refused, not ignored).
fn supported_flag(c: u8) -> bool {
    b"fcCtTrxyzZDqvhk".contains(&c)
}

fn short_value(
    p: &mut Parsed,
    exprs: &mut Vec<String>,
    c: u8,
    v: String,
) -> Result<(), UsageError> {
    match c {
        b'e' => exprs.push(v),
        b'o' => p.opts.output = Some(PathBuf::from(v)),
        b'p' => {
            // strace accepts `-p "1 2"` and `-p 1,2`.
            for part in v.split([',', ' ']).filter(|s| !s.is_empty()) {
                let pid: i32 = part
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| usage(format!("invalid process id: '{part}'")))?;
                p.pids.push(pid);
            }
        }
        b'P' => p.opts.paths.push(PathBuf::from(v)),
        b's' => {
            p.opts.strsize = v
                .parse()
                .map_err(|_| usage(format!("invalid -s argument: '{v}'")))?
        }
        b'X' => {
            p.opts.xlat = match v.as_str() {
                "raw" => XlatStyle::Raw,
                "abbrev" => XlatStyle::Abbrev,
                "verbose" => XlatStyle::Verbose,
                _ => {
                    return Err(usage(format!(
                        "invalid -X argument: '{v}' (expected raw, abbrev or verbose)"
                    )))
                }
            }
        }
        other => {
            return Err(usage(format!(
                "option -{} is not supported by ruchytrace",
                other as char
            )))
        }
    }
    Ok(())
}

fn apply_counts(p: &mut Parsed, counts: &[u8; 128]) -> Result<(), UsageError> {
    let n = |c: u8| counts[c as usize];
    let o = &mut p.opts;
    o.follow_forks = n(b'f') > 0;
    o.output_separately = n(b'f') > 1;
    o.summary = n(b'c') > 0 || n(b'C') > 0;
    o.summary_with_trace = n(b'C') > 0;
    o.time = match n(b't') {
        0 => TimeFormat::None,
        1 => TimeFormat::Seconds,
        2 => TimeFormat::Micros,
        _ => TimeFormat::Epoch,
    };
    o.relative_time = n(b'r') > 0;
    o.show_durations = n(b'T') > 0;
    o.strings_hex = n(b'x').min(2);
    o.show_fd_paths = n(b'y') > 0;
    o.show_sockets = n(b'y') > 1;
    o.verbose = n(b'v') > 0;
    o.quiet = n(b'q');
    o.daemonize = n(b'D') > 0;
    match (n(b'z') > 0, n(b'Z') > 0) {
        (true, true) => return Err(usage("-z and -Z are mutually exclusive")),
        (true, false) => o.status = StatusFilter::Successful,
        (false, true) => o.status = StatusFilter::Failed,
        _ => {}
    }
    Ok(())
}

fn init_debug(enabled: bool) {
    if !enabled {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("ruchytrace=trace"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// The words after `syscalls` exactly as given: clap drops a leading `--`, which strace's rule
/// (options end at `--`) needs to see.
fn raw_words(fallback: Vec<OsString>) -> Vec<OsString> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    match argv.get(1) {
        Some(sub) if sub == "syscalls" => argv[2..].to_vec(),
        _ => fallback,
    }
}

/// Runs the subcommand and returns the exit status (the traced program's).
pub fn run(args: SyscallsArgs) -> anyhow::Result<i32> {
    let words = raw_words(args.args);
    let parsed = match parse(&words) {
        Ok(p) => p,
        Err(UsageError(msg)) => {
            eprintln!("ruchytrace syscalls: {msg}");
            eprintln!("Try 'ruchytrace syscalls -h' for more information.");
            return Ok(EXIT_USAGE);
        }
    };
    if parsed.help {
        println!("{HELP}");
        return Ok(0);
    }
    init_debug(parsed.debug);
    let result = match parsed.command.split_first() {
        Some((program, rest)) => syscalls::trace_command(&parsed.opts, program, rest),
        None => syscalls::attach(&parsed.opts, &parsed.pids),
    };
    match result {
        Ok(outcome) => Ok(outcome.exit_code),
        Err(e) => {
            eprintln!("ruchytrace: {e}");
            Ok(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    fn ok(s: &[&str]) -> Parsed {
        parse(&words(s)).unwrap()
    }

    fn err(s: &[&str]) -> String {
        parse(&words(s)).unwrap_err().0
    }

    #[test]
    fn options_end_at_the_program_or_double_dash() {
        let p = ok(&["-f", "ls", "-r", "-l"]);
        assert!(p.opts.follow_forks);
        assert_eq!(p.command, words(&["ls", "-r", "-l"]));
        let p = ok(&["--", "-weird-program", "-f"]);
        assert!(!p.opts.follow_forks);
        assert_eq!(p.command, words(&["-weird-program", "-f"]));
    }

    #[test]
    fn clusters_and_glued_values() {
        let p = ok(&[
            "-ff",
            "-tt",
            "-otrace.txt",
            "-s64",
            "-fe",
            "trace=openat",
            "true",
        ]);
        assert!(p.opts.output_separately && p.opts.follow_forks);
        assert_eq!(p.opts.time, TimeFormat::Micros);
        assert_eq!(p.opts.strsize, 64);
        assert_eq!(p.opts.output, Some(PathBuf::from("trace.txt")));
        assert!(p.opts.trace.is_some());
        let p = ok(&["-yy", "-xx", "-qq", "-X", "verbose", "-rCvz", "true"]);
        assert!(p.opts.show_sockets && p.opts.show_fd_paths);
        assert_eq!((p.opts.strings_hex, p.opts.quiet), (2, 2));
        assert_eq!(p.opts.xlat, XlatStyle::Verbose);
        assert!(p.opts.relative_time && p.opts.summary_with_trace && p.opts.verbose);
        assert_eq!(p.opts.status, StatusFilter::Successful);
        let p = ok(&["-p", "12,13", "-p14"]);
        assert_eq!(p.pids, vec![12, 13, 14]);
    }

    #[test]
    fn usage_errors() {
        assert_eq!(err(&["-%", "true"]), "invalid option -- '%'");
        assert_eq!(err(&["--bogus", "true"]), "unrecognized option '--bogus'");
        assert_eq!(err(&["-o"]), "option requires an argument -- 'o'");
        assert!(err(&["-X", "loud", "true"]).starts_with("invalid -X argument"));
        assert!(err(&["-e", "trace=nosuch", "true"]).contains("nosuch"));
        assert!(err(&[]).starts_with("must have PROGRAM"));
        assert!(err(&["-p", "x"]).starts_with("invalid process id"));
        assert!(err(&["-z", "-Z", "true"]).contains("mutually exclusive"));
        assert!(err(&["-w", "true"]).contains("not supported"));
        assert!(err(&["--stack-depth", "0", "-k", "true"]).starts_with("invalid --stack-depth"));
    }

    #[test]
    fn k_takes_stacks_with_a_depth() {
        assert_eq!(ok(&["true"]).opts.stack_depth, None);
        assert_eq!(
            ok(&["-fk", "true"]).opts.stack_depth,
            Some(crate::stack::DEFAULT_DEPTH)
        );
        let p = ok(&["--stacks", "--stack-depth", "8", "true"]);
        assert_eq!(p.opts.stack_depth, Some(8));
        assert!(ok(&["--stack-trace", "true"]).opts.stack_depth.is_some());
    }

    #[test]
    fn ff_without_output_is_f() {
        let p = ok(&["-ff", "true"]);
        assert!(p.opts.follow_forks && !p.opts.output_separately);
    }
}
