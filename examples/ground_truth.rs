//! Ground truth for the merge: four threads call traced functions that make known system calls,
//! nested and recursive, so a test can check that every one of them lands under the right
//! function. Run it with `ruchytrace run --syscalls -- target/debug/examples/ground_truth DIR`.
//!
//! Thread `gt-N` (N = 0..3), in order:
//!
//! | function | system calls made directly |
//! | --- | --- |
//! | `write_file(path)` | `openat(.., "DIR/gt-N.txt", O_WRONLY\|O_CREAT\|O_TRUNC)`, `close` |
//! | `write_chunk(fd, n)` (inside `write_file`) | `write(fd, .., 16 + N)` |
//! | `read_file(path)` | `openat(.., "DIR/gt-N.txt", O_RDONLY)`, `close` |
//! | `read_chunk(fd)` (inside `read_file`) | `read(fd, .., 64)` |
//! | `nap(level)` for level 3, 2, 1, 0 (recursive) | `nanosleep({0, (level+1)*100000 + N*1000})` |
//! | `whoami()` | `getpid()` |
//!
//! The main thread is not traced: its final `write` of "ground truth done" stays top level.
//! With `--hang` the program instead blocks forever in `wait_forever` (a `read` on a pipe nobody
//! writes to), for the `--timeout` test.
//!
//! The system calls are issued with `libc::syscall` so the C library cannot swap them for others
//! (glibc implements `nanosleep` with `clock_nanosleep`, for instance).

use std::ffi::CString;

fn sys(nr: libc::c_long, a: [libc::c_long; 4]) -> libc::c_long {
    // SAFETY: callers pass valid pointers (to live buffers/strings) for the system call at hand.
    unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3]) }
}

#[ruchytrace::trace]
fn write_chunk(fd: i64, n: usize) -> i64 {
    let buf = vec![b'x'; n];
    sys(
        libc::SYS_write,
        [fd, buf.as_ptr() as libc::c_long, n as libc::c_long, 0],
    )
}

#[ruchytrace::trace]
fn write_file(path: &str, n: usize) -> i64 {
    let c = CString::new(path).expect("no NUL in path");
    let fd = sys(
        libc::SYS_openat,
        [
            libc::AT_FDCWD as libc::c_long,
            c.as_ptr() as libc::c_long,
            (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as libc::c_long,
            0o644,
        ],
    );
    assert!(fd >= 0, "open {path} for writing failed");
    let written = write_chunk(fd, n);
    sys(libc::SYS_close, [fd, 0, 0, 0]);
    written
}

#[ruchytrace::trace]
fn read_chunk(fd: i64) -> i64 {
    let mut buf = [0u8; 64];
    sys(
        libc::SYS_read,
        [fd, buf.as_mut_ptr() as libc::c_long, 64, 0],
    )
}

#[ruchytrace::trace]
fn read_file(path: &str) -> i64 {
    let c = CString::new(path).expect("no NUL in path");
    let fd = sys(
        libc::SYS_openat,
        [
            libc::AT_FDCWD as libc::c_long,
            c.as_ptr() as libc::c_long,
            libc::O_RDONLY as libc::c_long,
            0,
        ],
    );
    assert!(fd >= 0, "open {path} for reading failed");
    let n = read_chunk(fd);
    sys(libc::SYS_close, [fd, 0, 0, 0]);
    n
}

#[ruchytrace::trace]
fn nap(level: u32, worker: u32) {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: i64::from(level + 1) * 100_000 + i64::from(worker) * 1_000,
    };
    sys(
        libc::SYS_nanosleep,
        [&ts as *const libc::timespec as libc::c_long, 0, 0, 0],
    );
    if level > 0 {
        nap(level - 1, worker);
    }
}

#[ruchytrace::trace]
fn whoami() -> i64 {
    sys(libc::SYS_getpid, [0; 4])
}

#[ruchytrace::trace]
fn worker(n: u32, dir: &str) -> i64 {
    let path = format!("{dir}/gt-{n}.txt");
    let written = write_file(&path, 16 + n as usize);
    let read = read_file(&path);
    assert_eq!(written, read, "read back what was written");
    nap(3, n);
    whoami()
}

#[ruchytrace::trace]
fn wait_forever(fd: i64) -> i64 {
    let mut b = [0u8; 1];
    sys(libc::SYS_read, [fd, b.as_mut_ptr() as libc::c_long, 1, 0])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--hang") {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        wait_forever(i64::from(fds[0]));
        return;
    }
    let dir = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| std::env::temp_dir().to_string_lossy().into_owned());
    let handles: Vec<_> = (0..4u32)
        .map(|n| {
            let dir = dir.clone();
            std::thread::Builder::new()
                .name(format!("gt-{n}"))
                .spawn(move || worker(n, &dir))
                .expect("spawn")
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    let msg = b"ground truth done\n";
    sys(
        libc::SYS_write,
        [
            1,
            msg.as_ptr() as libc::c_long,
            msg.len() as libc::c_long,
            0,
        ],
    );
}
