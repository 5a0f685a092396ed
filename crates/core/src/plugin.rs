//! Format plugins: tiny `Reader` / `Writer` traits and a registry filled through `inventory`.
//!
//! Detection looks at magic bytes first and falls back to the file extension.

use std::io::Write;
use std::path::Path;

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::nd4j::Encoding;

/// Reads a whole file's bytes into an archive.
pub trait Reader: Sync {
    fn read(&self, bytes: &[u8], options: &ReadOptions) -> Result<Archive>;

    /// `read`, plus notes for the user on what the conversion changed or left out (importers
    /// of foreign models have some; lossless readers have none).
    fn read_noted(&self, bytes: &[u8], options: &ReadOptions) -> Result<(Archive, Vec<String>)> {
        Ok((self.read(bytes, options)?, Vec::new()))
    }
}

/// Options every reader receives; a reader ignores what does not apply to its format.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// A DL4J `configuration.json` for sources that carry no DL4J network (foreign weights).
    pub config: Option<String>,
    /// A mapping from source tensors to DL4J parameters (TOML), for foreign weights.
    pub map: Option<String>,
    /// Foreign graphs: the output layer's loss (`MCXENT`, `XENT`, `MSE`, ...) instead of the
    /// one the final activation suggests.
    pub loss: Option<String>,
    /// Foreign graphs: write the translated part when some nodes have no DL4J equivalent.
    pub allow_partial: bool,
    /// Foreign graphs: graph inputs to treat as constants (weights a model takes as inputs).
    pub frozen: Vec<(String, crate::tensor::Tensor)>,
}

/// Writes an archive.
pub trait Writer: Sync {
    fn write(&self, archive: &Archive, out: &mut dyn Write, options: &WriteOptions) -> Result<()>;
}

/// Options every writer receives; a writer ignores what does not apply to its format.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// ND4J encoding for DL4J arrays; `None` keeps the source's (or modern for foreign sources).
    pub dl4j_encoding: Option<Encoding>,
    /// ONNX opset for graph exports; `None` means the exporter's default.
    pub onnx_opset: Option<i64>,
    /// ONNX exports only: insert the archive's data normalizer as the graph's first nodes, so the
    /// exported model takes raw (unnormalized) features. Off by default; an archive without a
    /// normalizer, or with one that cannot be expressed in ONNX, is then an error.
    pub onnx_bake_normalizer: bool,
}

/// A registered format.
pub struct Format {
    /// Short id used on the command line (`dl4j`, `safetensors`).
    pub id: &'static str,
    pub description: &'static str,
    /// Lower-case extensions without the dot.
    pub extensions: &'static [&'static str],
    /// Does this content look like the format (magic bytes)?
    pub detect: fn(&[u8]) -> bool,
    pub reader: Option<&'static dyn Reader>,
    pub writer: Option<&'static dyn Writer>,
}

inventory::collect!(Format);

impl std::fmt::Debug for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Format")
            .field("id", &self.id)
            .field("extensions", &self.extensions)
            .field("reads", &self.reader.is_some())
            .field("writes", &self.writer.is_some())
            .finish()
    }
}

/// All registered formats, sorted by id.
pub fn formats() -> Vec<&'static Format> {
    let mut v: Vec<&'static Format> = inventory::iter::<Format>.into_iter().collect();
    v.sort_by_key(|f| f.id);
    v
}

pub fn by_id(id: &str) -> Result<&'static Format> {
    formats().into_iter().find(|f| f.id == id).ok_or_else(|| {
        let known: Vec<&str> = formats().iter().map(|f| f.id).collect();
        Error::Format(format!(
            "unknown format {id:?} (known: {})",
            known.join(", ")
        ))
    })
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// The format of existing content: magic bytes first, then the extension.
pub fn detect(bytes: &[u8], path: &Path) -> Result<&'static Format> {
    let all = formats();
    if let Some(f) = all.iter().find(|f| (f.detect)(bytes)) {
        return Ok(f);
    }
    if let Some(ext) = extension(path) {
        if let Some(f) = all.iter().find(|f| f.extensions.contains(&ext.as_str())) {
            return Ok(f);
        }
    }
    Err(Error::Format(
        "not a recognised model file (no known magic bytes or extension)".into(),
    ))
}

/// The format an output path asks for, by extension.
pub fn for_output(path: &Path) -> Result<&'static Format> {
    let ext = extension(path).ok_or_else(|| {
        Error::Format("output has no extension; name the format with --to".into())
    })?;
    formats()
        .into_iter()
        .find(|f| f.extensions.contains(&ext.as_str()) && f.writer.is_some())
        .ok_or_else(|| Error::Format(format!("no format writes .{ext} files; name one with --to")))
}
