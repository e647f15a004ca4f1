//! Tests of the protocol: unit tests, and round trips against the CLI's recorded transcripts.

mod control;
mod fixtures;
mod stdout;
mod unit;
