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
//!
//! The model is streamed: each tensor's bytes are made only when written, so an export holds at
//! most one tensor besides the archive. With external data ([`write_onnx_external`]) the tensors
//! go to one file beside the model, which lifts protobuf's 2 GiB limit; both directions read it.

// A hostile file must give an error, never a panic: library code has no unwrap, expect or
// unchecked indexing (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod bake;
pub mod export;
pub mod import;
mod proto;
mod sniff;

use std::io::Write;
use std::path::{Path, PathBuf};

use dl4j_core::plugin::Format;
use dl4j_core::{Archive, Error, Progress, ReadOptions, Result, WriteOptions};

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
        let source = options.source_path.as_deref();
        let parsed = proto::decode(bytes, source)?;
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
                source_path: options.source_path.clone(),
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
        let onnx = OnnxOptions {
            opset: options.onnx_opset.unwrap_or(DEFAULT_OPSET),
            bake_normalizer: options.onnx_bake_normalizer,
        };
        if !options.onnx_external_data {
            return write_onnx(archive, &onnx, out, &options.progress);
        }
        let path = options.output_path.as_deref().ok_or_else(|| {
            Error::Format(
                "ONNX external data needs an output file: the tensors go to a file beside it"
                    .into(),
            )
        })?;
        write_onnx_external(
            archive,
            &onnx,
            out,
            path,
            options.replace,
            &options.progress,
        )
        .map(|_| ())
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
    let mut out = Vec::new();
    write_onnx(archive, options, &mut out, &Progress::none())?;
    Ok(out)
}

/// Streams an archive as an ONNX model to `out`, one tensor at a time. A model over protobuf's
/// 2 GiB limit fails before anything is written (see [`write_onnx_external`]).
pub fn write_onnx(
    archive: &Archive,
    options: &OnnxOptions,
    out: &mut dyn Write,
    progress: &Progress,
) -> Result<()> {
    check_opset(options.opset)?;
    let tool = tool();
    let flat = dl4j_core::named::flatten(archive, &tool)?;
    let parts = model_parts(archive, options, tool, flat)?;
    progress.start(proto::data_size(&parts)?);
    proto::encode_to(&parts, None, out, progress)
}

/// The external data file of the model `model_path`: `<file name>.data` beside it.
pub fn external_data_path(model_path: &Path) -> Result<PathBuf> {
    let name = model_path.file_name().ok_or_else(|| {
        Error::Format(format!(
            "{} names no file to put the external data beside",
            model_path.display()
        ))
    })?;
    let mut data = name.to_os_string();
    data.push(".data");
    Ok(model_path.with_file_name(data))
}

/// Exports an archive as an ONNX model whose initializers keep their bytes in one file beside
/// `model_path` ([`external_data_path`]; ONNX external data), and writes the model itself to
/// `out`. The data file is written atomically (replacing an existing one only with `replace`)
/// before the model, and removed again if the model cannot be written. Returns its path.
pub fn write_onnx_external(
    archive: &Archive,
    options: &OnnxOptions,
    out: &mut dyn Write,
    model_path: &Path,
    replace: bool,
    progress: &Progress,
) -> Result<PathBuf> {
    let data_path = external_data_path(model_path)?;
    let location = data_path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            Error::Format(format!(
                "{}: the external data file name must be valid UTF-8",
                data_path.display()
            ))
        })?
        .to_string();
    check_opset(options.opset)?;
    let tool = tool();
    let flat = dl4j_core::named::flatten(archive, &tool)?;
    // The graph is translated first: a network that cannot be exported leaves no data file.
    let parts = model_parts(archive, options, tool, flat)?;
    progress.start(proto::data_size(&parts)?);
    let mut placement = None;
    dl4j_core::write_file_atomically(&data_path, replace, |w| {
        placement = Some(proto::write_external(&parts, &location, w, progress)?);
        Ok(())
    })?;
    let written = match &placement {
        // Only the small constants kept inline still advance the progress.
        Some(p) => proto::encode_to(&parts, Some(p), out, progress),
        None => Err(Error::Format("the external data was not written".into())),
    };
    if let Err(e) = written {
        // Best effort: the data file is useless without the model.
        let _ = std::fs::remove_file(&data_path);
        return Err(e);
    }
    Ok(data_path)
}

fn check_opset(opset: i64) -> Result<()> {
    if !OPSETS.contains(&opset) {
        return Err(Error::Format(format!(
            "ONNX opset {opset} is not supported (use {}..={})",
            OPSETS.start(),
            OPSETS.end()
        )));
    }
    Ok(())
}

fn tool() -> String {
    format!("dl4j {}", env!("CARGO_PKG_VERSION"))
}

/// The translated graph and the archive's tensors, ready to encode.
fn model_parts<'a>(
    archive: &Archive,
    options: &OnnxOptions,
    producer: String,
    flat: dl4j_core::named::Flattened<'a>,
) -> Result<proto::ModelParts<'a>> {
    let opset = options.opset;
    let params: std::collections::HashSet<&str> =
        flat.tensors.iter().map(|t| t.name.as_str()).collect();
    let mut graph = export::translate(archive, &params, opset)?;
    if options.bake_normalizer {
        bake::bake(archive, &mut graph)?;
    }
    Ok(proto::ModelParts {
        opset,
        producer,
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

/// ONNX has no magic bytes: the top level of the protobuf is checked instead ([`sniff`]).
fn detect(bytes: &[u8]) -> bool {
    sniff::looks_like_model(bytes)
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
