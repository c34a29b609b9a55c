//! Unit tests of the decoders, against a fake tracee memory.
