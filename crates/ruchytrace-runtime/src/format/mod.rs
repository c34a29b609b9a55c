//! Trace file formats: binary (`.rtrace`), JSON and text writers, and readers.
