//! Fibonacci with some real I/O, for the merged view of functions and system calls:
//!
//! ```sh
//! cargo run -p ruchytrace -- cargo --syscalls -- run --example fibonacci_io
//! ```
//!
//! prints the program's output and, on stderr, one timeline per thread in which `save` holds its
//! `openat`/`write`/`close` and `load` its `openat`/`read`/`close` (checked by `tests/docs.rs`):
//!
//! ```text
//! == thread 10722 "main" (pid 10722) ==
//! ...
//! [0.054307]   -> save(path="/tmp/fibonacci-10722.txt", values=[0, 1, 1, 2, 3, 5, 8]) <examples/fibonacci_io.rs:35:1>
//! [0.054333]     openat(AT_FDCWD, "/tmp/fibonacci-10722.txt", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 4 [117us]
//! [0.054469]     write(4, "0 1 1 2 3 5 8\n", 14) = 14 [40us]
//! [0.054525]     fcntl(4, F_GETFD) = 1 [14us]
//! [0.054551]     close(4) = 0 [14us]
//! [0.054578]   <- save() = Ok(14) [270us]
//! ```

use std::io::Write;

/// The n-th Fibonacci number, the slow recursive way (so there is something to trace).
#[ruchytrace::trace]
fn fibonacci(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fibonacci(n - 1) + fibonacci(n - 2)
    }
}

/// Writes the numbers to `path`, space-separated, in one `write`.
#[ruchytrace::trace]
fn save(path: &str, values: &[u64]) -> Result<usize, String> {
    let line: Vec<String> = values.iter().map(u64::to_string).collect();
    let text = format!("{}\n", line.join(" "));
    let mut f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    f.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(text.len())
}

/// Reads the numbers back.
#[ruchytrace::trace]
fn load(path: &str) -> Result<Vec<u64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    text.split_whitespace()
        .map(|w| {
            w.parse()
                .map_err(|e: std::num::ParseIntError| e.to_string())
        })
        .collect()
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(6);
    let values: Vec<u64> = (0..=n).map(fibonacci).collect();
    let path = std::env::temp_dir().join(format!("fibonacci-{}.txt", std::process::id()));
    let path = path.to_string_lossy().into_owned();
    save(&path, &values).expect("save");
    let back = load(&path).expect("load");
    assert_eq!(back, values);
    let _ = std::fs::remove_file(&path);
    println!("fibonacci(0..={n}) = {back:?}");
}
