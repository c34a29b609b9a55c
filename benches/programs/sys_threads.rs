//! Benchmark workload: 4 threads each write 64 bytes N times (argv[1], default 5000) to
//! /dev/null.
use std::io::Write;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let f = std::sync::Arc::new(std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let f = std::sync::Arc::clone(&f);
            std::thread::spawn(move || {
                let mut w: &std::fs::File = &f;
                for _ in 0..n {
                    w.write_all(&[b'x'; 64]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
