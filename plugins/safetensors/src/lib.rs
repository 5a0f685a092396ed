//! DL4J <-> safetensors, lossless both ways.
//!
//! Export writes one tensor per parameter (DL4J's key, logical shape, row-major, dtype kept),
//! one per updater-state piece (`updater.<param>.<piece>`), the normalizer's arrays
//! (`normalizer.<field>`), objects and unknown entries as U8 tensors, and everything needed to
//! rebuild the exact archive in `__metadata__`. Import rebuilds that archive; files written by
//! other tools become DL4J networks given a DL4J configuration (and optionally a tensor map).

// A hostile file must give an error, never a panic: library code has no unwrap, expect or
// unchecked indexing (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod foreign;
mod st;

use dl4j_core::plugin::Format;
use dl4j_core::{Archive, ReadOptions, Result, WriteOptions};

pub use foreign::import_foreign;
pub use st::SafeFile;

/// Format id on the command line.
pub const FORMAT_ID: &str = "safetensors";

struct SafetensorsFormat;

impl dl4j_core::Reader for SafetensorsFormat {
    fn read(&self, bytes: &[u8], options: &ReadOptions) -> Result<Archive> {
        let file = st::SafeFile::parse(bytes)?;
        if dl4j_core::named::is_dl4j(&file) {
            dl4j_core::named::rebuild(&file, FORMAT_ID)
        } else {
            let config = options.config.as_deref().ok_or_else(|| {
                dl4j_core::Error::Format(
                    "this safetensors file was not written from a DL4J model: pass the DL4J network with --config configuration.json (and optionally --map mapping.toml)".into(),
                )
            })?;
            import_foreign(&file, config, options.map.as_deref())
        }
    }
}

impl dl4j_core::Writer for SafetensorsFormat {
    fn write(
        &self,
        archive: &Archive,
        out: &mut dyn std::io::Write,
        options: &WriteOptions,
    ) -> Result<()> {
        let tool = format!("dl4j {}", env!("CARGO_PKG_VERSION"));
        let flat = dl4j_core::named::flatten(archive, &tool)?;
        st::write(&flat.tensors, &flat.metadata, out, &options.progress)
    }
}

/// The archive as the bytes of a lossless safetensors file (what `dl4j convert --to safetensors`
/// writes). The plugin ABI uses this as its interchange encoding.
pub fn to_bytes(archive: &Archive) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    dl4j_core::Writer::write(&SAFETENSORS, archive, &mut out, &WriteOptions::default())?;
    Ok(out)
}

/// Rebuilds the archive from a safetensors file written from a DL4J archive ([`to_bytes`]);
/// `format` becomes the archive's origin format. Files written by other tools are refused
/// (they need a configuration, which only the safetensors reader takes).
pub fn from_dl4j_bytes(bytes: &[u8], format: &str) -> Result<Archive> {
    let file = st::SafeFile::parse(bytes)?;
    if !dl4j_core::named::is_dl4j(&file) {
        return Err(dl4j_core::Error::Format(
            "not a safetensors file written from a DL4J archive (no dl4j metadata)".into(),
        ));
    }
    dl4j_core::named::rebuild(&file, format)
}

/// An 8-byte little-endian header length followed by a JSON object that fits the file.
fn detect(bytes: &[u8]) -> bool {
    st::looks_like_safetensors(bytes)
}

static SAFETENSORS: SafetensorsFormat = SafetensorsFormat;

dl4j_core::inventory::submit! {
    Format {
        id: FORMAT_ID,
        description: "safetensors (DL4J export with full metadata, or foreign weights + --config)",
        extensions: &["safetensors"],
        detect,
        reader: Some(&SAFETENSORS),
        writer: Some(&SAFETENSORS),
    }
}

/// Referenced by the facade so the linker keeps this crate's registration.
pub fn link() {}
