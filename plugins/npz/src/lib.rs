//! NumPy `.npz` as a dl4j format, loaded at run time as a plugin (issue 7), lossless both ways.
//!
//! Writing flattens the archive ([`dl4j_core::named::flatten`]): every tensor becomes a member
//! `<name>.npy` (NumPy format 1.0, little-endian, C order), and the metadata (configuration text
//! and the rest) a member [`METADATA_MEMBER`] holding a 0-d `|S<n>` array of a UTF-8 JSON object
//! of the key/value pairs. bf16 has no NumPy dtype: such tensors are stored as `<u2` bit patterns
//! and listed under [`BF16_KEY`] in the metadata, so reading restores them. Members are
//! *stored* (not compressed), as `np.savez` writes them.
//!
//! Reading accepts our output and NumPy's (`np.savez`, `np.savez_compressed`; npy versions
//! 1.0 - 3.0, either byte order, Fortran order, the metadata as `|S` bytes or `<U` unicode) and
//! rebuilds the archive with [`dl4j_core::named::rebuild`]. Object arrays are refused, never
//! unpickled.

// A hostile file must give an error, never a panic: library code has no unwrap, expect or
// unchecked indexing (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod npy;

use std::collections::{HashMap, HashSet};
use std::io::Write;

use dl4j_core::named::{self, TensorSource, TensorView};
use dl4j_core::{Archive, DType, Error, ReadOptions, Result, WriteOptions};
use dl4j_plugin_abi::PluginFormat;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

/// Format id on the command line.
pub const FORMAT_ID: &str = "npz";

/// The member holding the metadata (`np.load(f)["__dl4j_metadata__"]`).
pub const METADATA_MEMBER: &str = "__dl4j_metadata__.npy";

/// Metadata key listing (as a JSON array of names) the tensors stored as `<u2` that are bf16.
pub const BF16_KEY: &str = "npz.bf16_tensors";

/// The zip local-file-header signature every `.npz` starts with.
pub const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// The format the plugin provides.
pub const NPZ_FORMAT: PluginFormat = PluginFormat {
    id: FORMAT_ID,
    description: "NumPy .npz (one .npy per tensor + __dl4j_metadata__), lossless",
    extensions: &["npz"],
    magic: &[(0, ZIP_MAGIC)],
    detect,
    reader: Some(&NpzFormat),
    writer: Some(&NpzFormat),
};

dl4j_plugin_abi::dl4j_plugin! {
    name: "npz",
    version: env!("CARGO_PKG_VERSION"),
    formats: [NPZ_FORMAT],
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Format(format!("npz: {msg}"))
}

/// Reader and writer of the format.
pub struct NpzFormat;

impl dl4j_core::Reader for NpzFormat {
    fn read(&self, bytes: &[u8], _options: &ReadOptions) -> Result<Archive> {
        from_bytes(bytes)
    }
}

impl dl4j_core::Writer for NpzFormat {
    fn write(&self, archive: &Archive, out: &mut dyn Write, _options: &WriteOptions) -> Result<()> {
        write(archive, out)
    }
}

/// A zip whose first member is a `.npy` file: an `.npz` (ordinary DL4J zips, also `PK`,
/// start with `configuration.json` and are not claimed).
pub fn detect(bytes: &[u8]) -> bool {
    if !bytes.starts_with(ZIP_MAGIC) {
        return false;
    }
    let Some(&[lo, hi]) = bytes.get(26..28) else {
        return false;
    };
    let name_len = u16::from_le_bytes([lo, hi]);
    bytes
        .get(30..30 + name_len as usize)
        .is_some_and(|name| name.ends_with(b".npy"))
}

/// Writes the archive as an `.npz`.
pub fn write(archive: &Archive, out: &mut dyn Write) -> Result<()> {
    let tool = format!("dl4j {}", env!("CARGO_PKG_VERSION"));
    let flat = named::flatten(archive, &tool)?;
    let mut zip = zip::ZipWriter::new_stream(out);
    let mut bf16 = Vec::new();
    let mut names = HashSet::new();
    for t in &flat.tensors {
        let member = format!("{}.npy", t.name);
        if member == METADATA_MEMBER || !names.insert(member) {
            return Err(bad(format!("tensor name {:?} cannot be stored", t.name)));
        }
        if t.dtype == DType::BF16 {
            bf16.push(t.name.clone());
        }
    }
    for t in &flat.tensors {
        let member = format!("{}.npy", t.name);
        let header = npy::header(npy::descr(t.dtype), &t.shape);
        start(&mut zip, &member, header.len() as u64 + t.byte_len() as u64)?;
        let failed = |e: std::io::Error| bad(format!("writing {member}: {e}"));
        zip.write_all(&header).map_err(failed)?;
        t.stream(&mut |b| zip.write_all(b).map_err(failed))?;
    }
    let mut meta = serde_json::Map::new();
    for (k, v) in &flat.metadata {
        meta.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    if !bf16.is_empty() {
        let list = serde_json::to_string(&bf16).map_err(bad)?;
        meta.insert(BF16_KEY.into(), serde_json::Value::String(list));
    }
    let json = serde_json::Value::Object(meta).to_string();
    let member = npy::encode_string(&json);
    start(&mut zip, METADATA_MEMBER, member.len() as u64)?;
    zip.write_all(&member)
        .map_err(|e| bad(format!("writing {METADATA_MEMBER}: {e}")))?;
    zip.finish()
        .map_err(|e| bad(format!("writing the central directory: {e}")))?;
    Ok(())
}

fn start<W: Write>(
    zip: &mut zip::ZipWriter<zip::write::StreamWriter<W>>,
    name: &str,
    size: u64,
) -> Result<()> {
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(size >= u32::MAX as u64);
    zip.start_file(name, opts)
        .map_err(|e| bad(format!("writing {name}: {e}")))
}

/// The archive as `.npz` bytes.
pub fn to_bytes(archive: &Archive) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write(archive, &mut out)?;
    Ok(out)
}

/// Reads an `.npz` written from a DL4J model (by us, or re-saved with NumPy).
pub fn from_bytes(bytes: &[u8]) -> Result<Archive> {
    let file = NpzFile::parse(bytes)?;
    if file.metadata.is_empty() && !file.has_metadata {
        return Err(bad(format!(
            "an .npz not written from a DL4J model; it has no {METADATA_MEMBER} member (its arrays: {})",
            file.names()
        )));
    }
    if !named::is_dl4j(&file) {
        return Err(bad(format!(
            "an .npz not written from a DL4J model; its {METADATA_MEMBER} lacks \"format\": \"dl4j\""
        )));
    }
    named::rebuild(&file, FORMAT_ID)
}

/// A parsed `.npz`: its arrays by name (member name without `.npy`) and the metadata pairs.
#[derive(Debug)]
pub struct NpzFile {
    pub arrays: Vec<(String, npy::Array)>,
    pub metadata: Vec<(String, String)>,
    has_metadata: bool,
    bf16: HashSet<String>,
    index: HashMap<String, usize>,
}

impl NpzFile {
    /// Parses every member; members must be `.npy` arrays.
    pub fn parse(bytes: &[u8]) -> Result<NpzFile> {
        if !bytes.starts_with(ZIP_MAGIC) && !bytes.starts_with(b"PK\x05\x06") {
            return Err(bad("not a zip archive (no PK signature)"));
        }
        let entries = dl4j_core::serializer::read_entries(bytes).map_err(bad)?;
        let mut arrays = Vec::with_capacity(entries.len());
        let mut meta = None;
        for (member, data) in entries {
            let Some(name) = member.strip_suffix(".npy") else {
                return Err(bad(format!("member {member:?} is not a .npy array")));
            };
            let array = npy::parse(data).map_err(|e| bad(format!("member {member:?}: {e}")))?;
            if member == METADATA_MEMBER {
                meta = Some(array);
            } else {
                arrays.push((name.to_string(), array));
            }
        }
        let has_metadata = meta.is_some();
        let mut metadata = Vec::new();
        if let Some(m) = meta {
            let text = m
                .as_string()
                .map_err(|e| bad(format!("{METADATA_MEMBER}: {e}")))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| bad(format!("{METADATA_MEMBER} is not JSON: {e}")))?;
            let serde_json::Value::Object(map) = value else {
                return Err(bad(format!("{METADATA_MEMBER} is not a JSON object")));
            };
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) => metadata.push((k, s)),
                    v => {
                        return Err(bad(format!(
                            "{METADATA_MEMBER}: value of {k:?} is not a string: {v}"
                        )))
                    }
                }
            }
        }
        let mut bf16 = HashSet::new();
        if let Some((_, list)) = metadata.iter().find(|(k, _)| k == BF16_KEY) {
            let names: Vec<String> =
                serde_json::from_str(list).map_err(|e| bad(format!("metadata {BF16_KEY}: {e}")))?;
            bf16.extend(names);
        }
        let index = arrays
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (n.clone(), i))
            .collect();
        Ok(NpzFile {
            index,
            arrays,
            metadata,
            has_metadata,
            bf16,
        })
    }

    fn names(&self) -> String {
        const SHOWN: usize = 8;
        let mut s: Vec<&str> = self
            .arrays
            .iter()
            .take(SHOWN)
            .map(|(n, _)| n.as_str())
            .collect();
        if self.arrays.len() > SHOWN {
            s.push("...");
        }
        if s.is_empty() {
            "none".into()
        } else {
            s.join(", ")
        }
    }
}

impl TensorSource for NpzFile {
    fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        let (name, a) = self.arrays.get(*self.index.get(name)?)?;
        let dtype = match a.kind {
            npy::Kind::Num(DType::U16) if self.bf16.contains(name) => Some(DType::BF16),
            npy::Kind::Num(d) => Some(d),
            _ => None,
        };
        Some(TensorView {
            name,
            dtype,
            shape: &a.shape,
            data: a.data(),
        })
    }

    fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests;
