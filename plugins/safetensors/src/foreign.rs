//! Foreign safetensors files (PyTorch `state_dict`, burn, candle) -> a DL4J network described by a
//! user-supplied configuration.

use dl4j_core::{Archive, Error, Result};

use crate::st::SafeFile;

/// Builds a DL4J archive from foreign weights, the DL4J configuration text and an optional map.
pub fn import_foreign(_file: &SafeFile, _config: &str, _map: Option<&str>) -> Result<Archive> {
    Err(Error::Unsupported("foreign safetensors import is not written yet".into()))
}
