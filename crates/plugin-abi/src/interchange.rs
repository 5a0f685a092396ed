//! Archives across the boundary: the lossless safetensors layout dl4j writes (every parameter,
//! updater piece, normalizer array, object and entry as a named tensor; the configuration and
//! everything else needed to rebuild the exact archive in `__metadata__`).
//!
//! A plugin's `read` returns its archive encoded so; a plugin's `write` receives one.

use dl4j_core::{Archive, Result};

/// The origin format of archives a plugin's writer receives (the host's source format does not
/// cross the boundary in this ABI version).
pub const HOST_ORIGIN: &str = "dl4j-host";

/// The archive in the interchange encoding.
pub fn encode(archive: &Archive) -> Result<Vec<u8>> {
    dl4j_safetensors::to_bytes(archive)
}

/// The archive an [`encode`]d buffer holds; `format` (the id of the plugin format that read
/// it) becomes its origin format. Safetensors files not written from a DL4J archive are an
/// error.
pub fn decode(bytes: &[u8], format: &str) -> Result<Archive> {
    dl4j_safetensors::from_dl4j_bytes(bytes, format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    pub(crate) fn fixture(rel: &str) -> PathBuf {
        let root = match std::env::var_os("DL4J_FIXTURES") {
            Some(p) => PathBuf::from(p),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
        };
        root.join(rel)
    }

    #[test]
    fn round_trip_is_lossless() {
        for rel in [
            "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
            "dl4j/augmented/mnist_imageminmax_objects.zip",
            "dl4j/augmented/iris_standardize_0.9.1.zip",
        ] {
            let bytes = std::fs::read(fixture(rel)).unwrap();
            let archive = dl4j_core::serializer::read_archive(&bytes).unwrap();
            let encoded = encode(&archive).unwrap();
            let back = decode(&encoded, "toy").unwrap();
            archive
                .same_as(&back)
                .unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert_eq!(back.origin.format, "toy");
        }
    }

    #[test]
    fn foreign_or_garbage_is_refused() {
        assert!(decode(b"not safetensors", "toy").is_err());
        // A valid safetensors file without dl4j metadata.
        let header = br#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header);
        file.extend_from_slice(&1.0f32.to_le_bytes());
        let e = decode(&file, "toy").unwrap_err().to_string();
        assert!(e.contains("DL4J"), "{e}");
    }
}
