//! The native DL4J format: the `ModelSerializer` zip of every release from 0.5.0 to 1.0.0-M2.1.
//!
//! Reading accepts any standard zip (DL4J's own, or re-packed by other tools); writing follows
//! what `ModelSerializer.writeModel` / `addNormalizerToModel` / `addObjectToFile` produce.

mod read;
mod write;

use dl4j_core::plugin::Format;

pub use read::read_zip;
pub use write::write_zip;

/// Format id on the command line.
pub const FORMAT_ID: &str = "dl4j";

/// Entry names DL4J itself reserves (case-insensitive in `addObjectToFile`).
pub const CONFIGURATION: &str = "configuration.json";
pub const COEFFICIENTS: &str = "coefficients.bin";
pub const NO_PARAMS_MARKER: &str = "noParams.marker";
pub const UPDATER_STATE: &str = "updaterState.bin";
pub const NORMALIZER: &str = "normalizer.bin";
pub const OBJECTS_PREFIX: &str = "objects/";

struct Native;

impl dl4j_core::Reader for Native {
    fn read(&self, bytes: &[u8]) -> dl4j_core::Result<dl4j_core::Archive> {
        read_zip(bytes)
    }
}

impl dl4j_core::Writer for Native {
    fn write(
        &self,
        archive: &dl4j_core::Archive,
        out: &mut dyn std::io::Write,
        options: &dl4j_core::WriteOptions,
    ) -> dl4j_core::Result<()> {
        write_zip(archive, out, options)
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
    let head = &bytes[..bytes.len().min(1 << 16)];
    let tail = &bytes[bytes.len().saturating_sub(1 << 20)..];
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
