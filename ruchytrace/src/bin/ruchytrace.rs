//! The `ruchytrace` command-line tool; all logic lives in `ruchytrace::cli`.

fn main() {
    std::process::exit(ruchytrace::cli::main());
}
