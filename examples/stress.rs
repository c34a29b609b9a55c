//! A workload for the runtime's integration tests: `stress THREADS CALLS MODE`.
//!
//! Each of THREADS named threads calls `work` CALLS times (each `work` calls `leaf` once).
//! MODE says how the program ends: `return` (from main), `exit` (`std::process::exit(3)`),
//! `abort` (a panic escaping an `extern "C"` function aborts the process), `hang` (one extra
//! thread stays inside a traced call forever while main returns), `forever` (loop until killed).

/// Innermost traced call.
#[ruchytrace::trace]
fn leaf(i: u64) -> u64 {
    i ^ 0x5
}

/// Outer traced call.
#[ruchytrace::trace]
fn work(t: u32, i: u64) -> u64 {
    leaf(i).wrapping_add(t as u64)
}

/// Never returns.
#[ruchytrace::trace]
fn stuck(reason: &str) {
    let _ = reason;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Panics across a non-unwinding boundary, which aborts the process.
#[ruchytrace::trace]
extern "C" fn explode(code: i32) -> i32 {
    if code > 0 {
        panic!("exploding with {code}");
    }
    code
}

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let calls: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let mode = args.next().unwrap_or_else(|| "return".into());
    if mode == "hang" {
        std::thread::Builder::new()
            .name("stuck".into())
            .spawn(|| stuck("waiting for nothing"))
            .expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let forever = mode == "forever";
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn(move || {
                    let mut acc = 0u64;
                    let mut i = 0;
                    while forever || i < calls {
                        acc = acc.wrapping_add(work(t, i));
                        i += 1;
                    }
                    acc
                })
                .expect("spawn")
        })
        .collect();
    let total: u64 = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .fold(0, u64::wrapping_add);
    println!("checksum {total}");
    match mode.as_str() {
        "exit" => std::process::exit(3),
        "abort" => {
            explode(7);
        }
        _ => {}
    }
}
