//! The runtime of ruchytrace: what runs inside a traced program.
#![deny(missing_docs)]

pub mod format;
pub mod model;
