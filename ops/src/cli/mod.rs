//! The chatctl command line.
//!
//! - [`args`]: every subcommand and flag (clap derive), with its help text.
//! - `commands`: [`Cli::run`], carrying out a parsed command and printing its result.

pub mod args;
mod commands;

pub use args::*;
