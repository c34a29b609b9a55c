//! ruchytrace: trace the functions you mark and the system calls your program makes.
#![deny(missing_docs)]

pub use ruchytrace_runtime as runtime;

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod syscalls;
