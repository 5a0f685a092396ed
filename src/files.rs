//! Reading and writing model files safely: inputs are only ever opened for reading, outputs are
//! written to a temporary file in the target folder and renamed into place on success.

use std::fs;
use std::path::{Path, PathBuf};

use dl4j_core::error::{Error, Result};
use dl4j_core::plugin::{self, Format};
use dl4j_core::{Archive, ReadOptions, WriteOptions};

/// Reads a model file; `from` names the format, otherwise it is detected.
pub fn open(path: impl AsRef<Path>, from: Option<&str>) -> Result<(Archive, &'static Format)> {
    open_with(path, from, &ReadOptions::default())
}

/// `open` with reader options (a DL4J configuration and tensor map for foreign weights).
pub fn open_with(
    path: impl AsRef<Path>,
    from: Option<&str>,
    options: &ReadOptions,
) -> Result<(Archive, &'static Format)> {
    open_noted(path, from, options).map(|(a, f, _)| (a, f))
}

/// `open_with`, plus the reader's notes on what the conversion changed or left out.
pub fn open_noted(
    path: impl AsRef<Path>,
    from: Option<&str>,
    options: &ReadOptions,
) -> Result<(Archive, &'static Format, Vec<String>)> {
    let path = path.as_ref();
    crate::formats();
    let file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // Mapped read-only: readers slice tensors out of the file without copying it first.
    // SAFETY: the map is only read while this function runs; a file changed underneath by
    // another process can only give wrong bytes, which every reader checks.
    let empty = file.metadata().map_err(|e| Error::io(path, e))?.len() == 0;
    let map = if empty {
        None
    } else {
        Some(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?)
    };
    let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
    let format = match from {
        Some(id) => plugin::by_id(id),
        None => plugin::detect(bytes, path),
    }
    .map_err(|e| e.in_file(path))?;
    let reader = format.reader.ok_or_else(|| {
        Error::Format(format!("the {} format cannot be read", format.id)).in_file(path)
    })?;
    let mut options = options.clone();
    options.source_path = Some(path.to_path_buf());
    let (archive, mut notes) = reader
        .read_noted(bytes, &options)
        .map_err(|e| kind_context(e, format, bytes, from.is_some()).in_file(path))?;
    notes.extend(kind_note(format, path, from.is_some()));
    Ok((archive, format, notes))
}

/// A file whose content is of another kind than its name says (an ONNX model named `.zip`) is
/// read by its content; say so.
fn kind_note(format: &Format, path: &Path, named: bool) -> Option<String> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if named || format.extensions.contains(&ext.as_str()) {
        return None;
    }
    let other = plugin::formats()
        .into_iter()
        .find(|f| f.extensions.contains(&ext.as_str()))?;
    Some(format!(
        "{} is named like a {} file but holds {} content; read as {}",
        path.display(),
        other.id,
        format.id,
        format.id
    ))
}

/// When a read fails and the format was only guessed from the file name (the content matched
/// no format), the error says so: "not a readable zip archive" alone would hide that the file
/// may be something else entirely.
fn kind_context(e: Error, format: &Format, bytes: &[u8], named: bool) -> Error {
    if named || plugin::looks_like(format, bytes) {
        return e;
    }
    Error::Format(format!(
        "{e} (taken for {} by its extension only: the content matches no known format)",
        format.id
    ))
}

/// Reads what `inspect` reports: like `open`, but a DL4J zip's parameters and updater state are
/// read from their headers only (right shapes and types, zeros for values; see
/// [`dl4j_core::serializer::read_archive_skeleton`]), so a model of any size opens at once. The
/// result is for reports only: never write it. `max_size` is the ceiling on inflated bytes
/// (`None`: [`dl4j_core::plugin::DEFAULT_MAX_SIZE`]).
pub fn open_for_report(
    path: impl AsRef<Path>,
    from: Option<&str>,
    max_size: Option<u64>,
) -> Result<(Archive, &'static Format)> {
    let path = path.as_ref();
    crate::formats();
    let file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let empty = file.metadata().map_err(|e| Error::io(path, e))?.len() == 0;
    let map = if empty {
        None
    } else {
        // SAFETY: as in `open_noted`.
        Some(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?)
    };
    let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
    let format = match from {
        Some(id) => plugin::by_id(id),
        None => plugin::detect(bytes, path),
    }
    .map_err(|e| e.in_file(path))?;
    if format.id == dl4j_native::FORMAT_ID {
        let archive = dl4j_core::serializer::read_archive_skeleton(
            bytes,
            max_size.unwrap_or(dl4j_core::plugin::DEFAULT_MAX_SIZE),
        )
        .map_err(|e| kind_context(e, format, bytes, from.is_some()).in_file(path))?;
        return Ok((archive, format));
    }
    drop(map);
    let options = ReadOptions {
        max_size,
        ..ReadOptions::default()
    };
    open_with(path, from, &options)
}

/// Writes `archive` to `path` atomically; `to` names the format, otherwise the extension does.
/// Without `force` an existing file is never replaced.
pub fn save(
    archive: &Archive,
    path: impl AsRef<Path>,
    to: Option<&str>,
    options: &WriteOptions,
    force: bool,
) -> Result<&'static Format> {
    let path = path.as_ref();
    crate::formats();
    let format = match to {
        Some(id) => plugin::by_id(id),
        None => plugin::for_output(path),
    }
    .map_err(|e| e.in_file(path))?;
    let writer = format.writer.ok_or_else(|| {
        Error::Format(format!("the {} format cannot be written", format.id)).in_file(path)
    })?;
    let mut options = options.clone();
    options.output_path = Some(path.to_path_buf());
    options.replace = force;
    dl4j_core::write_file_atomically(path, force, |w| writer.write(archive, w, &options))?;
    Ok(format)
}

/// Options of `dl4j convert`.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    pub from: Option<String>,
    pub to: Option<String>,
    pub force: bool,
    pub read: ReadOptions,
    /// Leave out the updater state (DL4J's `saveUpdater = false`).
    pub drop_updater: bool,
    pub write: WriteOptions,
    /// Show progress bars on stderr when it is a terminal and the work takes a while.
    pub progress: bool,
}

/// What a conversion did.
pub struct Converted {
    pub archive: Archive,
    pub from: &'static Format,
    pub to: &'static Format,
    /// What the reader changed or left out (foreign models).
    pub notes: Vec<String>,
}

/// Converts `input` to `output`. Refuses `output == input` and, without `force`, an existing
/// output; a failed run leaves no output and never touches the input.
pub fn convert(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    opts: &ConvertOptions,
) -> Result<Converted> {
    let (input, output) = (input.as_ref(), output.as_ref());
    if same_file(input, output) {
        return Err(Error::Refused("input and output are the same file".into()).in_file(output));
    }
    if !opts.force && output.exists() {
        return Err(Error::Refused("exists; pass --force to replace it".into()).in_file(output));
    }
    let mut read = opts.read.clone();
    read.progress = crate::progress_bar::phase("reading", opts.progress);
    let (mut archive, from, mut notes) = open_noted(input, opts.from.as_deref(), &read)?;
    drop(read);
    notes.extend(archive.entry_name_warnings());
    if opts.drop_updater {
        archive.updater_state = None;
    }
    // An output extension no format claims (`model.bin`) keeps the input's format.
    let to = match (&opts.to, plugin::for_output(output)) {
        (Some(id), _) => Some(id.as_str()),
        (None, Ok(_)) => None,
        (None, Err(_)) if from.writer.is_some() => Some(from.id),
        (None, Err(e)) => return Err(e.in_file(output)),
    };
    let mut write = opts.write.clone();
    write.progress = crate::progress_bar::phase("writing", opts.progress);
    let to = save(&archive, output, to, &write, opts.force)?;
    Ok(Converted {
        archive,
        from,
        to,
        notes,
    })
}

/// Whether two paths name the same file (the second may not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = p.canonicalize() {
            return Some(c);
        }
        let parent = match p.parent() {
            Some(x) if !x.as_os_str().is_empty() => x.canonicalize().ok()?,
            _ => std::env::current_dir().ok()?,
        };
        Some(parent.join(p.file_name()?))
    };
    match (canon(a), canon(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}
