//! DL4J -> ONNX: a graph computing what DL4J computes at inference, carrying the whole archive.
//!
//! The graph's initializers are the named tensors of [`dl4j_core::named`] (parameters by DL4J key,
//! updater state, normalizer, objects, other entries) and `metadata_props` holds the exact
//! configuration text and everything else needed to rebuild the archive, so ONNX -> DL4J of a
//! file we wrote is lossless. Layers are translated in [`export`]; one that cannot be fails the
//! whole conversion, listing every such layer.
//!
//! ONNX -> DL4J of files written by other tools is [`import`]: their nodes are matched to DL4J
//! layers that compute the same thing.

pub mod bake;
pub mod export;
pub mod import;
mod proto;

use dl4j_core::plugin::Format;
use dl4j_core::{Archive, Error, ReadOptions, Result, WriteOptions};

/// Format id on the command line.
pub const FORMAT_ID: &str = "onnx";

/// Opset written when none is asked for.
pub const DEFAULT_OPSET: i64 = 17;

/// Opsets the exporter writes.
pub const OPSETS: std::ops::RangeInclusive<i64> = 13..=21;

struct OnnxFormat;

impl dl4j_core::Reader for OnnxFormat {
    fn read(&self, bytes: &[u8], options: &ReadOptions) -> Result<Archive> {
        self.read_noted(bytes, options).map(|(a, _)| a)
    }

    fn read_noted(&self, bytes: &[u8], options: &ReadOptions) -> Result<(Archive, Vec<String>)> {
        let parsed = proto::decode(bytes)?;
        if dl4j_core::named::is_dl4j(&parsed) {
            // Written by us: the exact archive is in the file.
            return Ok((dl4j_core::named::rebuild(&parsed, FORMAT_ID)?, Vec::new()));
        }
        let imported = import::import(
            bytes,
            &import::ImportOptions {
                loss: options.loss.clone(),
                allow_partial: options.allow_partial,
                frozen: options.frozen.clone(),
            },
        )?;
        Ok((imported.archive, imported.notes))
    }
}

impl dl4j_core::Writer for OnnxFormat {
    fn write(
        &self,
        archive: &Archive,
        out: &mut dyn std::io::Write,
        options: &WriteOptions,
    ) -> Result<()> {
        let bytes = to_onnx_with(
            archive,
            &OnnxOptions {
                opset: options.onnx_opset.unwrap_or(DEFAULT_OPSET),
                bake_normalizer: options.onnx_bake_normalizer,
            },
        )?;
        out.write_all(&bytes)
            .map_err(|e| Error::Format(format!("writing ONNX: {e}")))
    }
}

/// Options of [`to_onnx_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnnxOptions {
    /// ONNX opset written (see [`OPSETS`]).
    pub opset: i64,
    /// Insert the archive's normalizer as the first nodes (see [`bake`]).
    pub bake_normalizer: bool,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        OnnxOptions {
            opset: DEFAULT_OPSET,
            bake_normalizer: false,
        }
    }
}

/// Exports an archive as an ONNX model (bytes) at `opset`.
pub fn to_onnx(archive: &Archive, opset: i64) -> Result<Vec<u8>> {
    to_onnx_with(
        archive,
        &OnnxOptions {
            opset,
            bake_normalizer: false,
        },
    )
}

/// Exports an archive as an ONNX model (bytes) with `options`.
pub fn to_onnx_with(archive: &Archive, options: &OnnxOptions) -> Result<Vec<u8>> {
    let opset = options.opset;
    if !OPSETS.contains(&opset) {
        return Err(Error::Format(format!(
            "ONNX opset {opset} is not supported (use {}..={})",
            OPSETS.start(),
            OPSETS.end()
        )));
    }
    let tool = format!("dl4j {}", env!("CARGO_PKG_VERSION"));
    let flat = dl4j_core::named::flatten(archive, &tool)?;
    let params: std::collections::HashSet<&str> =
        flat.tensors.iter().map(|t| t.name.as_str()).collect();
    let mut graph = export::translate(archive, &params, opset)?;
    if options.bake_normalizer {
        bake::bake(archive, &mut graph)?;
    }
    proto::encode(proto::ModelParts {
        opset,
        producer: tool,
        nodes: graph.nodes,
        inputs: graph.inputs,
        outputs: graph.outputs,
        tensors: flat.tensors,
        constants: graph.constants,
        metadata: flat.metadata,
    })
}

/// Reads one serialized ONNX `TensorProto` (the `input_0.pb` / `output_0.pb` files of ONNX test
/// data): its name (possibly empty) and its values.
pub fn read_tensor_proto(bytes: &[u8]) -> Result<(String, dl4j_core::Tensor)> {
    proto::decode_tensor(bytes)
}

/// ONNX has no magic bytes; files are recognised by their `.onnx` extension.
fn detect(_bytes: &[u8]) -> bool {
    false
}

static ONNX: OnnxFormat = OnnxFormat;

dl4j_core::inventory::submit! {
    Format {
        id: FORMAT_ID,
        description: "ONNX (graph with DL4J's inference math; the whole archive kept for re-import)",
        extensions: &["onnx"],
        detect,
        reader: Some(&ONNX),
        writer: Some(&ONNX),
    }
}

/// Referenced by the facade so the linker keeps this crate's registration.
pub fn link() {}
