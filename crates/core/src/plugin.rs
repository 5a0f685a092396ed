//! Format plugins: tiny `Reader` / `Writer` traits and a registry of the built-in formats
//! (filled through `inventory`) plus formats registered at run time ([`register`]: plugins
//! loaded from shared libraries).
//!
//! Detection looks at magic bytes first and falls back to the file extension; see [`detect`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::nd4j::Encoding;
pub use crate::progress::{Progress, ProgressSink};

/// Reads a whole file's bytes into an archive.
pub trait Reader: Sync {
    fn read(&self, bytes: &[u8], options: &ReadOptions) -> Result<Archive>;

    /// `read`, plus notes for the user on what the conversion changed or left out (importers
    /// of foreign models have some; lossless readers have none).
    fn read_noted(&self, bytes: &[u8], options: &ReadOptions) -> Result<(Archive, Vec<String>)> {
        Ok((self.read(bytes, options)?, Vec::new()))
    }

    /// Does this content look like the format? `None` (the default) defers to the
    /// [`Format::detect`] function; readers that need state to decide (formats loaded from
    /// plugins, which ask their library) answer here instead.
    fn detect(&self, _bytes: &[u8]) -> Option<bool> {
        None
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
    /// The file the bytes came from, when there is one: ONNX external data is resolved in its
    /// folder. `None` for bytes from memory (external data is then an error).
    pub source_path: Option<PathBuf>,
    /// Where to report progress (bytes decoded).
    pub progress: Progress,
    /// Ceiling on the bytes a reader inflates from a compressed container (a DL4J zip's
    /// entries, as their sizes declare them); `None` is [`DEFAULT_MAX_SIZE`]. Stops zip bombs
    /// before anything inflates.
    pub max_size: Option<u64>,
}

/// The default ceiling on inflated bytes (`--max-size`): 16 GiB, four times the arrays of the
/// largest DL4J models seen, far below what a zip bomb claims.
pub const DEFAULT_MAX_SIZE: u64 = 16 << 30;

impl ReadOptions {
    /// The ceiling on inflated bytes in effect.
    pub fn max_size(&self) -> u64 {
        self.max_size.unwrap_or(DEFAULT_MAX_SIZE)
    }
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
    /// How DL4J zip entries are compressed.
    pub compression: Compression,
    /// ONNX exports only: store tensors in a file beside the `.onnx` file (ONNX external data,
    /// needed above protobuf's 2 GiB limit). Needs `output_path`.
    pub onnx_external_data: bool,
    /// The file the output goes to, when there is one (writers that put data beside it need it).
    pub output_path: Option<PathBuf>,
    /// Files written beside the output (external data) may replace existing ones.
    pub replace: bool,
    /// Where to report progress (bytes encoded).
    pub progress: Progress,
}

/// Compression of DL4J zip entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression (STORED entries): the fastest to write and to read.
    Stored,
    /// DEFLATE at level 2: much faster to write, barely larger. (Level 1 of the zlib-rs
    /// backend codes with fixed Huffman tables, which makes float data larger than stored.)
    Fast,
    /// DEFLATE at level 6, as DL4J's own ZipOutputStream writes.
    #[default]
    Default,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Stored => "stored",
            Compression::Fast => "fast",
            Compression::Default => "default",
        }
    }

    pub fn from_name(name: &str) -> Option<Compression> {
        [Compression::Stored, Compression::Fast, Compression::Default]
            .into_iter()
            .find(|c| c.name() == name)
    }

    /// DEFLATE level, `None` for stored entries.
    pub fn level(self) -> Option<u32> {
        match self {
            Compression::Stored => None,
            Compression::Fast => Some(2),
            Compression::Default => Some(6),
        }
    }
}

/// A registered format.
pub struct Format {
    /// Short id used on the command line (`dl4j`, `safetensors`).
    pub id: &'static str,
    pub description: &'static str,
    /// Lower-case extensions without the dot.
    pub extensions: &'static [&'static str],
    /// Does this content look like the format (magic bytes)? A reader's own
    /// [`Reader::detect`] answer, when it gives one, takes precedence.
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

/// Where a format comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatOrigin {
    /// Compiled into this program.
    BuiltIn,
    /// Loaded at run time from a plugin library.
    Plugin {
        /// The shared library the format was loaded from.
        path: PathBuf,
        /// The plugin's name and version, as it reports them.
        name: String,
        version: String,
    },
}

impl std::fmt::Display for FormatOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatOrigin::BuiltIn => f.write_str("built-in"),
            FormatOrigin::Plugin {
                path,
                name,
                version,
            } => write!(f, "plugin {name} {version} ({})", path.display()),
        }
    }
}

/// Formats registered at run time, in registration order.
static REGISTERED: RwLock<Vec<(&'static Format, FormatOrigin)>> = RwLock::new(Vec::new());

fn registered() -> std::sync::RwLockReadGuard<'static, Vec<(&'static Format, FormatOrigin)>> {
    // A panic while the lock was held cannot leave the list half-updated (push is the only
    // write), so a poisoned lock is still good to read.
    REGISTERED.read().unwrap_or_else(|e| e.into_inner())
}

fn built_ins() -> impl Iterator<Item = &'static Format> {
    inventory::iter::<Format>.into_iter()
}

/// Adds a format at run time (one a plugin library provides). Refused when its id is already
/// taken by a built-in format or an earlier registration; the error names both origins.
pub fn register(format: &'static Format, origin: FormatOrigin) -> Result<()> {
    register_all(&[format], origin)
}

/// Adds all formats of one plugin, or none of them: refused when any id is already taken (by a
/// built-in format, an earlier registration, or twice within `formats`).
pub fn register_all(formats: &[&'static Format], origin: FormatOrigin) -> Result<()> {
    let mut list = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    for (i, format) in formats.iter().enumerate() {
        let clash = if built_ins().any(|f| f.id == format.id) {
            Some("a built-in format".to_string())
        } else if let Some((_, o)) = list.iter().find(|(f, _)| f.id == format.id) {
            Some(o.to_string())
        } else if formats.iter().take(i).any(|f| f.id == format.id) {
            Some("another format of the same plugin".to_string())
        } else {
            None
        };
        if let Some(existing) = clash {
            return Err(Error::Format(format!(
                "format id {:?} of {origin} clashes with {existing}",
                format.id
            )));
        }
    }
    list.extend(formats.iter().map(|f| (*f, origin.clone())));
    Ok(())
}

/// Where a registered format comes from (`BuiltIn` for anything not registered at run time).
pub fn origin(format: &Format) -> FormatOrigin {
    registered()
        .iter()
        .find(|(f, _)| std::ptr::eq(*f, format))
        .map(|(_, o)| o.clone())
        .unwrap_or(FormatOrigin::BuiltIn)
}

/// All formats, built-in and registered at run time, sorted by id.
pub fn formats() -> Vec<&'static Format> {
    let mut v: Vec<&'static Format> = built_ins().collect();
    v.extend(registered().iter().map(|(f, _)| *f));
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

/// Whether `bytes` look like `format`: its reader's own answer, else its `detect` function.
pub fn looks_like(format: &Format, bytes: &[u8]) -> bool {
    format
        .reader
        .and_then(|r| r.detect(bytes))
        .unwrap_or_else(|| (format.detect)(bytes))
}

/// The format of existing content: magic bytes first, then the extension. When several formats
/// recognise the bytes (a NumPy .npz and a DL4J model are both zips), one whose extension the
/// path has wins; otherwise the first by id.
pub fn detect(bytes: &[u8], path: &Path) -> Result<&'static Format> {
    let all = formats();
    let ext = extension(path);
    let has_ext = |f: &Format| ext.as_deref().is_some_and(|e| f.extensions.contains(&e));
    let by_magic: Vec<&'static Format> = all
        .iter()
        .copied()
        .filter(|f| looks_like(f, bytes))
        .collect();
    if let Some(f) = by_magic
        .iter()
        .find(|f| has_ext(f))
        .or_else(|| by_magic.first())
    {
        return Ok(f);
    }
    if let Some(f) = all.iter().find(|f| has_ext(f)) {
        return Ok(f);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn format(id: &'static str) -> &'static Format {
        Box::leak(Box::new(Format {
            id,
            description: "test",
            extensions: &[],
            detect: |_| false,
            reader: None,
            writer: None,
        }))
    }

    fn origin(name: &str) -> FormatOrigin {
        FormatOrigin::Plugin {
            path: PathBuf::from(format!("/plugins/lib{name}.so")),
            name: name.into(),
            version: "1.2.3".into(),
        }
    }

    #[test]
    fn registered_formats_join_the_registry_and_clashes_are_refused_whole() {
        let a = format("registry-test-a");
        register(a, origin("first")).unwrap();
        assert!(formats().iter().any(|f| std::ptr::eq(*f, a)));
        assert_eq!(by_id("registry-test-a").unwrap().id, "registry-test-a");
        assert_eq!(super::origin(a), origin("first"));

        // A plugin with a fresh and a taken id registers neither; the error names both.
        let b = format("registry-test-b");
        let e = register_all(&[b, format("registry-test-a")], origin("second"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"registry-test-a\"") && e.contains("second") && e.contains("first"),
            "{e}"
        );
        assert!(by_id("registry-test-b").is_err());

        let e = register_all(&[b, format("registry-test-b")], origin("third"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("same plugin"), "{e}");
        assert!(by_id("registry-test-b").is_err());
    }
}
