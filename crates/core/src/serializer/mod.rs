//! DL4J's `ModelSerializer`, in Rust: the model zip of every release from 0.5.0 to 1.0.0-M2.1 and
//! the operations Java users know (`writeModel`, `restoreMultiLayerNetwork`,
//! `restoreComputationGraph`, `restoreNormalizerFromFile`, `addNormalizerToModel`,
//! `addObjectToFile`, `getObjectFromFile`, `listObjectsInFile`, `taskByModel`), plus what DL4J
//! lacks (removing objects and normalizers).
//!
//! Inputs are paths, byte slices or `Read` streams (read fully, as DL4J does). In-place edits
//! are atomic and copy every other entry byte for byte.

pub mod codec;
pub mod container;
pub mod deflate;
pub mod names;
mod task;
mod zip_out;

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::archive::Archive;
use crate::config::ModelKind;
use crate::error::{Error, Result, ResultExt};
use crate::nd4j::Encoding;
use crate::normalizer::Normalizer;
use crate::plugin::Compression;
use crate::progress::Progress;
pub use codec::{archive_from_entries, archive_to_entries};
pub use container::{read_entries, write_entries, Entry, Payload};
use names::*;
pub use task::{task_by_model, ArchitectureType, NetworkType, Task};

/// Format id of the DL4J zip in the plugin registry.
pub const FORMAT_ID: &str = "dl4j";

/// Where a model comes from: a file, bytes in memory, or a stream (read to the end).
pub enum Source<'a> {
    Path(&'a Path),
    Bytes(&'a [u8]),
    Reader(Box<dyn Read + 'a>),
}

impl<'a> Source<'a> {
    pub fn reader(r: impl Read + 'a) -> Source<'a> {
        Source::Reader(Box::new(r))
    }

    /// The bytes, and the file they came from (for error messages).
    fn load(self) -> Result<(Cow<'a, [u8]>, Option<PathBuf>)> {
        match self {
            Source::Path(p) => {
                let b = std::fs::read(p).map_err(|e| Error::io(p, e))?;
                Ok((Cow::Owned(b), Some(p.to_path_buf())))
            }
            Source::Bytes(b) => Ok((Cow::Borrowed(b), None)),
            Source::Reader(mut r) => {
                let mut b = Vec::new();
                r.read_to_end(&mut b)
                    .map_err(|e| Error::Format(format!("reading the model stream: {e}")))?;
                if b.is_empty() {
                    return Err(Error::Format("the model stream is empty".into()));
                }
                Ok((Cow::Owned(b), None))
            }
        }
    }
}

impl<'a> From<&'a Path> for Source<'a> {
    fn from(p: &'a Path) -> Self {
        Source::Path(p)
    }
}
impl<'a> From<&'a PathBuf> for Source<'a> {
    fn from(p: &'a PathBuf) -> Self {
        Source::Path(p)
    }
}
impl<'a> From<&'a [u8]> for Source<'a> {
    fn from(b: &'a [u8]) -> Self {
        Source::Bytes(b)
    }
}
impl<'a> From<&'a Vec<u8>> for Source<'a> {
    fn from(b: &'a Vec<u8>) -> Self {
        Source::Bytes(b)
    }
}

/// Runs `f` on the source's bytes, naming the file in any error.
fn with_source<'a, T>(src: impl Into<Source<'a>>, f: impl FnOnce(&[u8]) -> Result<T>) -> Result<T> {
    let (bytes, path) = src.into().load()?;
    f(&bytes).map_err(|e| match path {
        Some(p) => e.in_file(p),
        None => e,
    })
}

/// Reads a whole model zip; parameters and updater state are decoded while they inflate.
pub fn read_archive(bytes: &[u8]) -> Result<Archive> {
    read_archive_with(bytes, &Progress::none(), crate::plugin::DEFAULT_MAX_SIZE)
}

/// `read_archive`, reporting inflated bytes to `progress`; the parameters and the updater state
/// inflate in parallel. Entries declaring more than `max_size` bytes in all are refused.
pub fn read_archive_with(bytes: &[u8], progress: &Progress, max_size: u64) -> Result<Archive> {
    let (entries, arrays) =
        container::read_entries_with(bytes, &[COEFFICIENTS, UPDATER_STATE], progress, max_size)?;
    codec::archive_from_parts(entries, arrays)
}

/// `read_archive_with`, reading an open model file with positional reads rather than from
/// memory (see [`container::read_file_entries_with`]).
pub fn read_archive_file(
    file: &std::fs::File,
    progress: &Progress,
    max_size: u64,
) -> Result<Archive> {
    let len = file
        .metadata()
        .map_err(|e| Error::Format(format!("cannot read the file's size: {e}")))?
        .len();
    let (entries, arrays) = container::read_file_entries_with(
        file,
        len,
        &[COEFFICIENTS, UPDATER_STATE],
        progress,
        max_size,
    )?;
    codec::archive_from_parts(entries, arrays)
}

/// The archive with its configuration, normalizer, objects and other entries, but the
/// parameters and updater state read from their headers only: right shapes, types and
/// encodings, zeros for values. For reports (`inspect`) on models of any size; never write it.
/// The other entries count against `max_size`.
pub fn read_archive_skeleton(bytes: &[u8], max_size: u64) -> Result<Archive> {
    let (entries, arrays) =
        container::read_entries_skeleton(bytes, &[COEFFICIENTS, UPDATER_STATE], max_size)?;
    codec::archive_from_parts(entries, arrays)
}

/// Writes a whole model zip as DL4J does (DEFLATE level 6); `target` re-encodes every ND4J
/// array (`None` keeps each one's).
pub fn write_archive(
    archive: &Archive,
    out: &mut dyn Write,
    target: Option<Encoding>,
) -> Result<()> {
    write_archive_with(
        archive,
        out,
        target,
        Compression::Default,
        &Progress::none(),
    )
}

/// `write_archive` with a choice of compression, reporting progress; arrays are encoded as
/// they are compressed, never held whole.
pub fn write_archive_with(
    archive: &Archive,
    out: &mut dyn Write,
    target: Option<Encoding>,
    compression: Compression,
    progress: &Progress,
) -> Result<()> {
    let entries = codec::archive_payloads(archive, target)?;
    container::write_payloads(&entries, out, compression, progress)
}

/// `ModelSerializer.writeModel(model, stream, saveUpdater, normalizer)`: without `save_updater`
/// the updater state is left out; a given normalizer replaces the archive's own.
pub fn write_model(
    archive: &Archive,
    out: &mut dyn Write,
    save_updater: bool,
    normalizer: Option<&Normalizer>,
) -> Result<()> {
    let mut entries = codec::archive_payloads(archive, None)?;
    if !save_updater {
        entries.retain(|(n, _)| n != UPDATER_STATE);
    }
    if let Some(n) = normalizer {
        let bytes = n.to_bytes()?;
        match entries.iter_mut().find(|(name, _)| name == NORMALIZER) {
            Some(e) => e.1 = container::Payload::Bytes(bytes.into()),
            None => {
                let at = entries
                    .iter()
                    .rposition(|(n, _)| {
                        [COEFFICIENTS, NO_PARAMS_MARKER, UPDATER_STATE].contains(&n.as_str())
                    })
                    .map_or(entries.len(), |i| i + 1);
                entries.insert(
                    at,
                    (
                        NORMALIZER.to_string(),
                        container::Payload::Bytes(bytes.into()),
                    ),
                );
            }
        }
    }
    container::write_payloads(&entries, out, Compression::Default, &Progress::none())
}

/// `writeModel` to a file, atomically; an existing file is replaced (as DL4J does).
pub fn write_model_file(
    archive: &Archive,
    path: &Path,
    save_updater: bool,
    normalizer: Option<&Normalizer>,
) -> Result<()> {
    crate::atomic::write_file(path, true, |w| {
        write_model(archive, w, save_updater, normalizer)
    })
}

/// Restores a model of either kind; without `load_updater` the updater state is dropped.
pub fn restore_model<'a>(src: impl Into<Source<'a>>, load_updater: bool) -> Result<Archive> {
    with_source(src, |b| {
        let mut a = read_archive(b)?;
        if !load_updater {
            a.updater_state = None;
        }
        Ok(a)
    })
}

fn restore_kind<'a>(
    src: impl Into<Source<'a>>,
    load_updater: bool,
    kind: ModelKind,
) -> Result<Archive> {
    with_source(src, |b| {
        let a = restore_model(b, load_updater)?;
        if a.kind() != kind {
            let (want, use_) = match kind {
                ModelKind::MultiLayerNetwork => ("MultiLayerNetwork", "restore_computation_graph"),
                ModelKind::ComputationGraph => ("ComputationGraph", "restore_multi_layer_network"),
            };
            return Err(Error::Format(format!(
                "the file holds a {}, not a {want}; restore it with {use_}",
                a.kind().name()
            )));
        }
        Ok(a)
    })
}

/// `restoreMultiLayerNetwork`: a ComputationGraph file is an error that says so.
pub fn restore_multi_layer_network<'a>(
    src: impl Into<Source<'a>>,
    load_updater: bool,
) -> Result<Archive> {
    restore_kind(src, load_updater, ModelKind::MultiLayerNetwork)
}

/// `restoreComputationGraph`: a MultiLayerNetwork file is an error that says so.
pub fn restore_computation_graph<'a>(
    src: impl Into<Source<'a>>,
    load_updater: bool,
) -> Result<Archive> {
    restore_kind(src, load_updater, ModelKind::ComputationGraph)
}

/// `restoreNormalizerFromFile`: the normalizer alone (`None` if the model has none). Every
/// form is read, the 0.7.2 Java-serialized one included (kept raw).
pub fn restore_normalizer<'a>(src: impl Into<Source<'a>>) -> Result<Option<Normalizer>> {
    with_source(src, |b| {
        let entries = model_entries(b)?;
        match entries.iter().find(|(n, _)| n == NORMALIZER) {
            Some((_, data)) => Normalizer::from_bytes(data).in_entry(NORMALIZER).map(Some),
            None => Ok(None),
        }
    })
}

/// `addNormalizerToModel`: adds or replaces `normalizer.bin`, in place.
pub fn add_normalizer_to_model(path: &Path, normalizer: &Normalizer) -> Result<()> {
    let bytes = normalizer.to_bytes()?;
    edit_model_file(path, |entries| {
        set_normalizer_entry(entries, bytes);
        Ok(true)
    })
    .map(|_| ())
}

/// Removes `normalizer.bin` in place; `false` if there was none (the file is then untouched).
pub fn remove_normalizer_from_model(path: &Path) -> Result<bool> {
    edit_model_file(path, |entries| {
        let before = entries.len();
        entries.retain(|(n, _)| !n.eq_ignore_ascii_case(NORMALIZER));
        Ok(entries.len() != before)
    })
}

/// Checks an object key as `addObjectToFile` does, plus what makes no entry name.
pub fn check_object_key(key: &str) -> Result<()> {
    if key.is_empty() || key.ends_with('/') {
        return Err(Error::Refused(format!("invalid object key {key:?}")));
    }
    if RESERVED_OBJECT_KEYS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(key))
    {
        return Err(Error::Refused(format!(
            "object key {key:?} is reserved for DL4J's own entries"
        )));
    }
    Ok(())
}

/// `addObjectToFile`: stores `bytes` (a Java serialization stream) as `objects/<key>`, in place.
/// An existing key is an error unless `replace`, which keeps the entry where it was.
pub fn add_object_to_file(path: &Path, key: &str, bytes: &[u8], replace: bool) -> Result<()> {
    check_object_key(key)?;
    let name = format!("{OBJECTS_PREFIX}{key}");
    edit_model_file(path, |entries| {
        if let Some(e) = entries.iter_mut().find(|(n, _)| *n == name) {
            if !replace {
                return Err(Error::Refused(format!(
                    "an object with key {key:?} exists; replace it explicitly (--replace)"
                )));
            }
            e.1 = bytes.to_vec();
            return Ok(true);
        }
        // After the last object, else after the model entries (before foreign entries).
        let at = entries
            .iter()
            .rposition(|(n, _)| n.starts_with(OBJECTS_PREFIX))
            .or_else(|| last_model_entry(entries))
            .map_or(entries.len(), |i| i + 1);
        entries.insert(at, (name, bytes.to_vec()));
        Ok(true)
    })
    .map(|_| ())
}

/// `getObjectFromFile`: the raw serialization bytes of `objects/<key>`.
pub fn get_object_from_file<'a>(src: impl Into<Source<'a>>, key: &str) -> Result<Vec<u8>> {
    with_source(src, |b| {
        let name = format!("{OBJECTS_PREFIX}{key}");
        model_entries(b)?
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d)
            .ok_or_else(|| Error::Format(format!("no object with key {key:?}")))
    })
}

/// `listObjectsInFile`: object keys in archive order.
pub fn list_objects_in_file<'a>(src: impl Into<Source<'a>>) -> Result<Vec<String>> {
    Ok(objects_in_file(src)?.into_iter().map(|(k, _)| k).collect())
}

/// Every object: key and bytes, in archive order.
pub fn objects_in_file<'a>(src: impl Into<Source<'a>>) -> Result<Vec<(String, Vec<u8>)>> {
    with_source(src, |b| {
        Ok(model_entries(b)?
            .into_iter()
            .filter_map(|(n, d)| {
                n.strip_prefix(OBJECTS_PREFIX)
                    .filter(|k| !k.is_empty())
                    .map(|k| (k.to_string(), d))
            })
            .collect())
    })
}

/// Removes `objects/<key>` in place (DL4J has no such call); a missing key is an error.
pub fn remove_object_from_file(path: &Path, key: &str) -> Result<()> {
    let name = format!("{OBJECTS_PREFIX}{key}");
    edit_model_file(path, |entries| {
        let before = entries.len();
        entries.retain(|(n, _)| *n != name);
        if entries.len() == before {
            return Err(Error::Format(format!("no object with key {key:?}")));
        }
        Ok(true)
    })
    .map(|_| ())
}

/// The ND4J encoding the model's parameters use (for arrays added to it later).
pub fn model_encoding(entries: &[Entry]) -> Option<Encoding> {
    let (_, coeff) = entries.iter().find(|(n, _)| n == COEFFICIENTS)?;
    let n = u16::from_be_bytes([*coeff.first()?, *coeff.get(1)?]) as usize;
    let mode = std::str::from_utf8(coeff.get(2..2 + n)?).ok()?;
    crate::nd4j::AllocMode::from_name(mode).map(|m| m.encoding())
}

/// The raw entries of a zip that is a DL4J model (has `configuration.json`).
fn model_entries(bytes: &[u8]) -> Result<Vec<Entry>> {
    let entries = read_entries(bytes)?;
    if !entries.iter().any(|(n, _)| n == CONFIGURATION) {
        return Err(Error::Format(format!(
            "no {CONFIGURATION} entry: not a DL4J model archive"
        )));
    }
    Ok(entries)
}

fn last_model_entry(entries: &[Entry]) -> Option<usize> {
    entries.iter().rposition(|(n, _)| {
        [
            CONFIGURATION,
            COEFFICIENTS,
            NO_PARAMS_MARKER,
            UPDATER_STATE,
            NORMALIZER,
        ]
        .contains(&n.as_str())
    })
}

/// Replaces `normalizer.bin` where it is (any case, as DL4J skips it case-insensitively), or
/// puts it after the model entries.
fn set_normalizer_entry(entries: &mut Vec<Entry>, bytes: Vec<u8>) {
    match entries
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(NORMALIZER))
    {
        Some(entry) => {
            *entry = (NORMALIZER.to_string(), bytes);
            let mut seen = false;
            entries.retain(|(n, _)| {
                let dup = n.eq_ignore_ascii_case(NORMALIZER) && seen;
                seen |= n.eq_ignore_ascii_case(NORMALIZER);
                !dup
            });
        }
        None => {
            let at = last_model_entry(entries).map_or(entries.len(), |i| i + 1);
            entries.insert(at, (NORMALIZER.to_string(), bytes));
        }
    }
}

/// Reads a model file's entries, lets `edit` change them, and writes the file back atomically
/// when it reports a change (its return value, passed on). Entries `edit` leaves alone are
/// copied byte for byte.
pub fn edit_model_file(
    path: &Path,
    edit: impl FnOnce(&mut Vec<Entry>) -> Result<bool>,
) -> Result<bool> {
    let (bytes, _) = Source::Path(path).load()?;
    let mut entries = model_entries(&bytes).map_err(|e| e.in_file(path))?;
    if !edit(&mut entries).map_err(|e| e.in_file(path))? {
        return Ok(false);
    }
    crate::atomic::write_file(path, true, |w| write_entries(&entries, w))?;
    Ok(true)
}
