//! Names and the `execve` line the tracer builds itself (the first exec, and execs run without a
//! stop under the seccomp filter), and `/proc` lookups.

use crate::syscalls::decode::{self, DecodeOptions};
use crate::syscalls::table;

pub(super) fn syscall_name(nr: u64) -> String {
    table::name(nr).map_or_else(|| format!("syscall_{nr}"), str::to_string)
}

pub(crate) fn execve_nr() -> u64 {
    table::number("execve").unwrap_or(u64::MAX)
}

/// `execve` arguments rebuilt from `/proc` after the exec (seccomp mode, where the call itself
/// was not stopped at).
pub(super) fn exec_args_from_proc(tid: i32, opts: &DecodeOptions) -> Vec<String> {
    let exe = std::fs::read_link(format!("/proc/{tid}/exe"))
        .map(|p| p.into_os_string())
        .unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{tid}/cmdline")).unwrap_or_default();
    let argv: Vec<&[u8]> = cmdline
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .collect();
    let environ = std::fs::read(format!("/proc/{tid}/environ")).unwrap_or_default();
    let envp: Vec<&[u8]> = environ
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .collect();
    exec_args(exe.as_encoded_bytes(), &argv, &envp, opts)
}

/// strace's rendering of execve's arguments: the path, argv, and the environment (its size, or
/// with `-v` its strings).
pub(crate) fn exec_args(
    path: &[u8],
    argv: &[&[u8]],
    envp: &[&[u8]],
    opts: &DecodeOptions,
) -> Vec<String> {
    let q = |b: &[u8]| {
        let cut = b.len() > opts.strsize;
        decode::quote(&b[..b.len().min(opts.strsize)], cut, opts.strings_hex)
    };
    // Abbreviated (not -v): at most -s elements, as strace.
    let max = if opts.verbose {
        usize::MAX
    } else {
        opts.strsize
    };
    let list = |items: &[&[u8]]| {
        let mut out: Vec<String> = items.iter().take(max).map(|a| q(a)).collect();
        if items.len() > max {
            out.push("...".into());
        }
        format!("[{}]", out.join(", "))
    };
    let env = if opts.verbose {
        list(envp)
    } else {
        format!("0x0 /* {} vars */", envp.len())
    };
    // The path is not cut by -s.
    let path = decode::quote(path, false, opts.strings_hex);
    vec![path, list(argv), env]
}

/// The thread group of `tid`, from `/proc/TID/status`.
pub(crate) fn tgid_of(tid: i32) -> Option<i32> {
    // Tgid is the fourth line, after Name (at most 64 bytes escaped), Umask and State.
    let mut buf = [0u8; 512];
    let status = crate::syscalls::sys::read_head(&format!("/proc/{tid}/status"), &mut buf)?;
    parse_tgid(status)
}

/// `Tgid:` of a `/proc/TID/status` text (bytes: the command name need not be UTF-8).
fn parse_tgid(status: &[u8]) -> Option<i32> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"Tgid:"))?;
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tgid_from_status() {
        assert_eq!(
            parse_tgid(
                b"Name:\tx\xff y\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\n"
            ),
            Some(4242)
        );
        assert_eq!(parse_tgid(b"Name:\tx\n"), None);
        let me = std::process::id() as i32;
        assert_eq!(tgid_of(me), Some(me));
        // A live thread of ours: its thread group is this process.
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(crate::syscalls::sys::gettid()).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        assert_ne!(tid, me);
        assert_eq!(tgid_of(tid), Some(me));
        done_tx.send(()).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn execve_arguments_like_strace() {
        let opts = DecodeOptions::default();
        let args = exec_args(b"/bin/echo", &[b"echo", b"a\nb"], &[b"A=1", b"B=2"], &opts);
        assert_eq!(args[0], "\"/bin/echo\"");
        assert_eq!(args[1], "[\"echo\", \"a\\nb\"]");
        assert_eq!(args[2], "0x0 /* 2 vars */");
        let v = DecodeOptions {
            verbose: true,
            strsize: 1,
            ..DecodeOptions::default()
        };
        let args = exec_args(b"/bin/echo", &[b"echo", b"x"], &[b"A=1", b"B=2"], &v);
        assert_eq!(args[0], "\"/bin/echo\"");
        assert_eq!(args[1], "[\"e\"..., \"x\"]");
        assert_eq!(args[2], "[\"A\"..., \"B\"...]");
        let short = DecodeOptions {
            strsize: 1,
            ..DecodeOptions::default()
        };
        let args = exec_args(b"/bin/echo", &[b"echo", b"x"], &[], &short);
        assert_eq!(args[1], "[\"e\"..., ...]");
    }
}
