//! The `orchestra` server: configuration, the composition root that wires adapters into
//! ports, the background services, and the CLI subcommands.
//!
//! **Architecture Invariant:** this is the only crate that names concrete adapters. It is
//! thin: build, wire, run.

pub mod adapters;
pub mod background;
pub mod backup;
pub mod cli;
pub mod config;
pub mod entry;
pub mod keys;
pub mod ops;
pub mod policy_audit;
pub mod retention;
pub mod startup;
pub mod tls;

pub use config::{Environment, Settings};
pub use startup::Application;
