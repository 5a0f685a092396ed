//! The DL4J model-archive model, independent of any file format.
//!
//! * [`Archive`]: configuration, parameters, updater state, normalizer, extra objects and
//!   unknown entries, plus where they came from.
//! * [`config`]: `configuration.json` kept byte-exact, with typed read-only views.
//! * [`layout`] / [`updater`]: where each parameter and each piece of optimizer state lives.
//! * [`nd4j`], [`normalizer`]: DL4J's own binary encodings, shared by every format plugin.
//! * [`serializer`]: the DL4J zip itself and DL4J's `ModelSerializer` operations on it.
//! * [`plugin`]: the `Reader` / `Writer` traits and the format registry.

// A hostile file must give an error, never a panic: library code has no unwrap, expect or
// unchecked indexing (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod archive;
mod atomic;
pub mod bytes;
pub mod config;
pub mod error;
pub mod java_serial;
pub mod layout;
pub mod named;
pub mod nd4j;
pub mod nd4j_input;
pub mod normalizer;
pub mod plugin;
pub mod progress;
pub mod serializer;
pub mod tensor;
pub mod updater;

pub use archive::{Archive, Origin, ParamsStorage};
pub use config::{Configuration, ModelKind};
pub use error::{Error, Result, ResultExt};
pub use layout::{ParamEntry, ParamLayout};
pub use nd4j::{Encoding, Nd4jArray};
pub use normalizer::Normalizer;
pub use plugin::{Compression, Format, FormatOrigin, ReadOptions, Reader, WriteOptions, Writer};
pub use progress::{Progress, ProgressSink};
pub use tensor::{DType, Order, Tensor, TensorData};
pub use updater::UpdaterLayout;

/// Writes a file atomically (temporary file in the same folder, fsync, rename); without
/// `replace` an existing file is refused.
pub use atomic::write_file as write_file_atomically;

/// For interrupt handlers: removes every unfinished output and makes later writes fail.
pub use atomic::abandon_unfinished_writes;

/// Re-exported so plugins register with the same `inventory` version.
pub use inventory;
