//! Unit tests of the formats (round trips, truncation, nesting).
