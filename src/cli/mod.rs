//! Subcommands with subcommands of their own.

pub mod normalizer;
pub mod objects;
pub mod verify;
