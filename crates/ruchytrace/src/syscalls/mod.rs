//! System call tracing: syscall tables and strace-style argument decoding.

pub mod decode;
pub mod table;
