//! Tests of the protocol: unit tests, and round trips against the CLI's recorded transcripts.

mod recordings;
mod unit;
