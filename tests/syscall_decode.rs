//! Decoders on real memory (this process, read through `process_vm_readv` like the tracer does) and, when the
//! `strace` binary is present and ptrace is allowed, line-by-line agreement with strace on a fixed workload.

use ruchytrace::syscalls::decode::{self, DecodeOptions, TraceeMemory};
use ruchytrace::syscalls::table;
use std::ffi::CString;

/// Reads a process's memory with process_vm_readv — the engine's primary path.
struct ProcMem(libc::pid_t);

impl TraceeMemory for ProcMem {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: `local` points to `len` writable bytes owned by `buf`; the kernel validates `remote`.
        let n = unsafe { libc::process_vm_readv(self.0, &local, 1, &remote, 1, 0) };
        (n == len as isize).then_some(buf)
    }
    fn read_cstr(&self, addr: u64, max: usize) -> Option<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        while out.len() <= max {
            let b = self.read(addr + out.len() as u64, 1)?;
            if b[0] == 0 {
                return Some((out, false));
            }
            out.push(b[0]);
        }
        out.truncate(max);
        Some((out, true))
    }
    fn fd_path(&self, fd: i64) -> Option<String> {
        std::fs::read_link(format!("/proc/{}/fd/{fd}", self.0))
            .ok()
            .map(|p| p.display().to_string())
    }
}

fn render(name: &str, args: [u64; 6], ret: i64, opts: &DecodeOptions) -> String {
    // SAFETY: getpid has no preconditions.
    let mem = ProcMem(unsafe { libc::getpid() });
    let nr = table::number(name).expect("known syscall");
    let p = decode::decode_entry(nr, &args, &mem, opts);
    let args = decode::decode_exit(nr, &args, ret, p, &mem, opts);
    format!(
        "{name}({}) = {}",
        args.join(", "),
        decode::format_return(nr, ret).0
    )
}

const AT_FDCWD: u64 = -100i64 as u64;

/// The fixed workload, as (syscall, args) pairs whose pointers point into `bufs`.
struct Workload {
    _bufs: Vec<CString>,
    calls: Vec<(&'static str, [u64; 6])>,
}

fn workload() -> Workload {
    let path = CString::new("/nonexistent-ruchytrace/a\x01\"b\\c").unwrap();
    let dir = CString::new("/nonexistent-ruchytrace/dir").unwrap();
    let root = CString::new("/").unwrap();
    let text =
        CString::new("ruchytrace says hi\n\tthis line is longer than thirty-two bytes").unwrap();
    let calls = vec![
        (
            "openat",
            [
                AT_FDCWD,
                path.as_ptr() as u64,
                (libc::O_RDONLY | libc::O_CLOEXEC) as u64,
                0,
                0,
                0,
            ],
        ),
        (
            "openat",
            [
                AT_FDCWD,
                path.as_ptr() as u64,
                (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64,
                0o640,
                0,
                0,
            ],
        ),
        (
            "access",
            [root.as_ptr() as u64, libc::R_OK as u64, 0, 0, 0, 0],
        ),
        ("mkdirat", [AT_FDCWD, dir.as_ptr() as u64, 0o755, 0, 0, 0]),
        (
            "write",
            [
                u32::MAX as u64,
                text.as_ptr() as u64,
                text.as_bytes().len() as u64,
                0,
                0,
                0,
            ],
        ),
        (
            "lseek",
            [u32::MAX as u64, 0, libc::SEEK_END as u64, 0, 0, 0],
        ),
    ];
    Workload {
        _bufs: vec![path, dir, root, text],
        calls,
    }
}

fn run(name: &str, a: [u64; 6]) -> i64 {
    let nr = table::number(name).unwrap() as libc::c_long;
    // SAFETY: every call of the workload takes pointers to live NUL-terminated buffers or plain integers, and
    // none of them can succeed in a way that changes this process (bad fds, nonexistent directories).
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r == -1 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64)
    } else {
        r as i64
    }
}

#[test]
fn decodes_real_process_memory() {
    let w = workload();
    let opts = DecodeOptions::default();
    let lines: Vec<String> = w
        .calls
        .iter()
        .map(|&(n, a)| render(n, a, run(n, a), &opts))
        .collect();
    assert_eq!(
        lines[0],
        "openat(AT_FDCWD, \"/nonexistent-ruchytrace/a\\1\\\"b\\\\c\", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)"
    );
    assert_eq!(lines[2], "access(\"/\", R_OK) = 0");
    assert_eq!(lines[4], "write(-1, \"ruchytrace says hi\\n\\tthis line is\"..., 61) = -1 EBADF (Bad file descriptor)");
}

#[test]
fn fd_paths_from_proc() {
    let f = std::fs::File::open("/proc/self/status").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let y = DecodeOptions {
        show_fd_paths: true,
        ..DecodeOptions::default()
    };
    // /proc/self resolves to our pid.
    let pid = std::process::id();
    assert_eq!(
        render("close", [fd as u64, 0, 0, 0, 0, 0], 0, &y),
        format!("close({fd}</proc/{pid}/status>) = 0")
    );
}

/// Not a test on its own: the workload that `matches_strace` runs under strace.
#[test]
#[ignore = "run by matches_strace under strace"]
fn strace_workload() {
    let w = workload();
    for &(n, a) in &w.calls {
        run(n, a);
    }
}

#[test]
fn matches_strace() {
    let exe = std::env::current_exe().unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let status = std::process::Command::new("strace")
        .args([
            "-qq",
            "-f",
            "-e",
            "trace=openat,access,mkdirat,write,lseek",
            "-o",
        ])
        .arg(out.path())
        .arg(&exe)
        .args([
            "--exact",
            "strace_workload",
            "--ignored",
            "--test-threads=1",
            "--quiet",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let Ok(status) = status else {
        eprintln!("skipping: strace is not installed");
        return;
    };
    let text = std::fs::read_to_string(out.path()).unwrap_or_default();
    if !status.success() || text.is_empty() {
        eprintln!("skipping: strace could not trace (ptrace not permitted?): {status}");
        return;
    }
    // Keep strace's lines for the workload only: the test harness and the loader make calls of their own.
    // With -f and -o, each line starts with the tid; the workload runs on the harness's test thread.
    let normalise = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let theirs: Vec<String> = text
        .lines()
        .map(|l| {
            l.trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start()
        })
        .filter(|l| {
            l.contains("nonexistent-ruchytrace")
                || l.starts_with("access(\"/\"")
                || l.contains("(-1, ")
        })
        .map(normalise)
        .collect();
    let w = workload();
    let opts = DecodeOptions::default();
    let ours: Vec<String> = w
        .calls
        .iter()
        .map(|&(n, a)| normalise(&render(n, a, run(n, a), &opts)))
        .collect();
    assert_eq!(ours, theirs, "strace output:\n{text}");
}
