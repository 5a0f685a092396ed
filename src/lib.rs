//! `dl4j`: read, write and convert Deeplearning4j model archives.
//!
//! ```no_run
//! let (archive, _format) = dl4j::open("model.zip", None)?;
//! let layout = archive.layout()?;
//! for p in layout.params() {
//!     println!("{} {:?}", p.name, p.shape);
//! }
//! dl4j::save(&archive, "copy.zip", None, &dl4j::WriteOptions::default(), false)?;
//! # Ok::<(), dl4j::Error>(())
//! ```

// A hostile file must give an error, never a panic: library code has no unwrap, expect or
// unchecked indexing (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod files;
pub mod inspect;
pub mod plugins;
mod progress_bar;

pub use dl4j_core::*;
pub use dl4j_native;
pub use dl4j_onnx;
pub use dl4j_safetensors;
pub use files::{convert, open, save, ConvertOptions, Converted};

/// The registered formats; calling this also keeps the built-in plugins linked in.
pub fn formats() -> Vec<&'static Format> {
    dl4j_native::link();
    dl4j_safetensors::link();
    dl4j_onnx::link();
    dl4j_core::plugin::formats()
}
