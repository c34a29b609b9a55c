//! Test program: four threads each write 10 bytes five times to a shared /dev/null handle (opened
//! once, so fd numbers do not depend on scheduling), then the main thread does the same.
use std::io::Write;
use std::sync::Arc;

fn work(f: &std::fs::File) {
    for _ in 0..5 {
        let mut w = f;
        w.write_all(b"0123456789").unwrap();
    }
}

fn main() {
    let f = Arc::new(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap(),
    );
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || work(&f))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    work(&f);
}
