//! The native DL4J format: the `ModelSerializer` zip of every release from 0.5.0 to 1.0.0-M2.1,
//! registered as format `dl4j`. The zip itself is read and written by `dl4j_core::serializer`,
//! which the ModelSerializer operations share.

// A hostile file must give an error, never a panic: library code has no unwrap, expect or
// unchecked indexing (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use dl4j_core::plugin::Format;
use dl4j_core::serializer::{self, names::CONFIGURATION};

pub use serializer::FORMAT_ID;

struct Native;

impl dl4j_core::Reader for Native {
    fn read(
        &self,
        bytes: &[u8],
        options: &dl4j_core::ReadOptions,
    ) -> dl4j_core::Result<dl4j_core::Archive> {
        // From a file, inflate with file reads: the mapped bytes' pages would otherwise stay
        // resident beside the decoded arrays (the file is the same bytes).
        if let Some(path) = &options.source_path {
            if let Ok(file) = std::fs::File::open(path) {
                if file.metadata().is_ok_and(|m| m.len() == bytes.len() as u64) {
                    return serializer::read_archive_file(
                        &file,
                        &options.progress,
                        options.max_size(),
                    );
                }
            }
        }
        serializer::read_archive_with(bytes, &options.progress, options.max_size())
    }
}

impl dl4j_core::Writer for Native {
    fn write(
        &self,
        archive: &dl4j_core::Archive,
        out: &mut dyn std::io::Write,
        options: &dl4j_core::WriteOptions,
    ) -> dl4j_core::Result<()> {
        serializer::write_archive_with(
            archive,
            out,
            options.dl4j_encoding,
            options.compression,
            &options.progress,
        )
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A zip whose entries include `configuration.json` (names sit in the local headers near the
/// start and in the central directory at the end).
fn detect(bytes: &[u8]) -> bool {
    if !bytes.starts_with(b"PK\x03\x04") {
        return false;
    }
    // The first 64 KiB and the last 1 MiB (all of a shorter file).
    let head = bytes.get(..1 << 16).unwrap_or(bytes);
    let tail = bytes
        .get(bytes.len().saturating_sub(1 << 20)..)
        .unwrap_or(bytes);
    contains(head, CONFIGURATION.as_bytes()) || contains(tail, CONFIGURATION.as_bytes())
}

static NATIVE: Native = Native;

dl4j_core::inventory::submit! {
    Format {
        id: FORMAT_ID,
        description: "DL4J ModelSerializer zip (0.5.0 .. 1.0.0-M2.1)",
        extensions: &["zip"],
        detect,
        reader: Some(&NATIVE),
        writer: Some(&NATIVE),
    }
}

/// Referenced by the facade so the linker keeps this crate's registration.
pub fn link() {}
