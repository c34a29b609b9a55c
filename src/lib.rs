//! Unpublished package that owns the workspace's top-level examples, tests and benchmarks.
