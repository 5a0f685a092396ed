//! The zip container: raw entries in, raw entries out. Nothing here knows what the entries mean.

use std::borrow::Cow;
use std::io::{Cursor, Read, Write};

use super::zip_out::{Method, ZipOut};
use crate::error::{Error, Result, ResultExt};
use crate::nd4j::{write_array_to, AllocMode, Nd4jArray};
use crate::plugin::{Compression, DEFAULT_MAX_SIZE};
use crate::progress::Progress;

/// A zip entry: name and uncompressed bytes.
pub type Entry = (String, Vec<u8>);

/// Entries decoded as ND4J arrays while they inflated: name and array.
pub type Decoded = Vec<(String, Nd4jArray)>;

/// Largest entry we inflate (DL4J itself rejects entries >= 2^31 bytes from beta7 on).
const MAX_ENTRY: u64 = 1 << 36;

/// Every file entry of a zip, in central-directory order, inflated and checked.
pub fn read_entries(bytes: &[u8]) -> Result<Vec<Entry>> {
    Ok(read_entries_decoding(bytes, &[])?.0)
}

/// Like `read_entries`, but the named entries are decoded as ND4J arrays while they inflate,
/// without holding their bytes; they appear in the entry list with no bytes.
pub fn read_entries_decoding(bytes: &[u8], arrays: &[&str]) -> Result<(Vec<Entry>, Decoded)> {
    read_entries_with(bytes, arrays, &Progress::none(), DEFAULT_MAX_SIZE)
}

/// `read_entries_decoding`, reporting inflated bytes to `progress`. The array entries
/// (parameters and updater state: independent DEFLATE streams) inflate on separate threads.
/// Entries declaring more than `max_size` bytes in all are refused before anything inflates.
pub fn read_entries_with(
    bytes: &[u8],
    arrays: &[&str],
    progress: &Progress,
    max_size: u64,
) -> Result<(Vec<Entry>, Decoded)> {
    read_entries_impl(bytes, arrays, progress, false, max_size)
}

/// `read_entries_decoding` with the arrays read as skeletons (`nd4j::read_array_skeleton`):
/// only their headers inflate, so only the other entries count against `max_size`.
pub fn read_entries_skeleton(
    bytes: &[u8],
    arrays: &[&str],
    max_size: u64,
) -> Result<(Vec<Entry>, Decoded)> {
    read_entries_impl(bytes, arrays, &Progress::none(), true, max_size)
}

/// `read_entries_with`, reading the zip from an open file with positional reads instead of from
/// memory: pages of a mapped input count against the process's memory as they are touched,
/// file reads go through the page cache only. `len` is the file's size.
pub fn read_file_entries_with(
    file: &std::fs::File,
    len: u64,
    arrays: &[&str],
    progress: &Progress,
    max_size: u64,
) -> Result<(Vec<Entry>, Decoded)> {
    let at =
        FileAt {
            file: std::sync::Arc::new(file.try_clone().map_err(|e| {
                Error::Format(format!("cannot share the file between threads: {e}"))
            })?),
            pos: 0,
            len,
        };
    read_entries_from(at, len, arrays, progress, false, max_size)
}

fn read_entries_impl(
    bytes: &[u8],
    arrays: &[&str],
    progress: &Progress,
    skeleton: bool,
    max_size: u64,
) -> Result<(Vec<Entry>, Decoded)> {
    read_entries_from(
        Cursor::new(bytes),
        bytes.len() as u64,
        arrays,
        progress,
        skeleton,
        max_size,
    )
}

/// Refuses a zip whose entries declare more bytes in all than `max_size`, from the central
/// directory alone: a zip bomb stops before anything inflates. Skeleton reads inflate only the
/// headers of the array entries, so those do not count.
fn check_declared_total<R: Read + std::io::Seek + Clone>(
    zip: &zip::ZipArchive<R>,
    arrays: &[&str],
    skeleton: bool,
    max_size: u64,
) -> Result<()> {
    let mut z = zip.clone();
    let mut total = 0u64;
    let mut largest = (String::new(), 0u64);
    for i in 0..z.len() {
        // Raw access reads the entry's headers only; errors surface in the reading loop.
        let Ok(f) = z.by_index_raw(i) else {
            continue;
        };
        let name = f.name().map(|n| n.to_string()).unwrap_or_default();
        if skeleton && arrays.contains(&name.as_str()) {
            continue;
        }
        total = total.saturating_add(f.size());
        if f.size() > largest.1 {
            largest = (name, f.size());
        }
    }
    if total > max_size {
        return Err(Error::Format(format!(
            "the zip's entries declare {total} bytes ({}) in all ({:?}: {}), more than the {max_size}-byte ({}) limit; pass --max-size to raise it",
            human(total),
            largest.0,
            human(largest.1),
            human(max_size)
        )));
    }
    Ok(())
}

/// Bytes in GiB/MiB for messages.
fn human(n: u64) -> String {
    if n >= 1 << 30 {
        format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    }
}

/// A file read at its own position with `pread`, so clones read independently on any thread.
#[derive(Clone)]
struct FileAt {
    file: std::sync::Arc<std::fs::File>,
    pos: u64,
    len: u64,
}

impl Read for FileAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for FileAt {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            std::io::SeekFrom::Start(p) => Some(p),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = base.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

fn read_entries_from<R: Read + std::io::Seek + Clone + Send + Sync>(
    input: R,
    input_len: u64,
    arrays: &[&str],
    progress: &Progress,
    skeleton: bool,
    max_size: u64,
) -> Result<(Vec<Entry>, Decoded)> {
    let zip = zip::ZipArchive::new(input)
        .map_err(|e| Error::Format(format!("not a readable zip archive: {e}")))?;
    check_declared_total(&zip, arrays, skeleton, max_size)?;
    let mut entries: Vec<(String, Vec<u8>)> = Vec::with_capacity(zip.len());
    // Array entries to decode: index in the zip, position in `entries`, name, declared size.
    let mut jobs: Vec<(usize, String, u64)> = Vec::new();
    let mut total = 0u64;
    let mut small = zip.clone();
    let mut seen = std::collections::HashSet::with_capacity(zip.len().min(1 << 16));
    for i in 0..zip.len() {
        let mut f = small
            .by_index(i)
            .map_err(|e| Error::Format(format!("zip entry #{i}: {e}")))?;
        let name = f
            .name()
            .map_err(|e| Error::Format(format!("zip entry #{i} has an unreadable name: {e}")))?
            .to_string();
        if f.is_dir() {
            // Directory entries carry no data (and DL4J >= beta7 refuses them).
            continue;
        }
        // A set, not a scan of `entries`: a hostile zip may hold millions of tiny entries.
        if !seen.insert(name.clone()) {
            return Err(Error::Format(format!("duplicate zip entry {name:?}")));
        }
        let declared = f.size();
        // What the stored bytes can give at most: DEFLATE expands at most 1032:1 (a 258-byte
        // match in under 2 bits), a stored entry not at all. A size beyond that is a lie, and
        // nothing is allocated from it.
        let compressed = f.compressed_size();
        let possible = match f.compression() {
            zip::CompressionMethod::Stored => compressed,
            zip::CompressionMethod::Deflated => {
                compressed.saturating_mul(1032).saturating_add(1024)
            }
            _ => u64::MAX,
        };
        if declared > possible {
            return Err(Error::Format(format!(
                "zip entry {name:?} declares {declared} bytes, more than its {compressed} stored bytes can give"
            )));
        }
        if declared > MAX_ENTRY {
            return Err(Error::Format(format!(
                "zip entry {name:?} declares {declared} bytes, more than the {MAX_ENTRY}-byte limit"
            )));
        }
        if arrays.contains(&name.as_str()) && declared > 0 {
            total += declared;
            jobs.push((i, name.clone(), declared));
            entries.push((name, Vec::new()));
            continue;
        }
        // Never trust the declared size for more than a capacity hint bounded by the input.
        let mut data = Vec::with_capacity(declared.min(input_len.saturating_mul(4)) as usize);
        (&mut f)
            .take(declared + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::Format(format!("zip entry {name:?}: {e}")))?;
        if data.len() as u64 != declared {
            return Err(Error::Format(format!(
                "zip entry {name:?} inflates to {} bytes, not the {declared} it declares",
                data.len()
            )));
        }
        entries.push((name, data));
    }
    progress.start(total);
    let decode = |(i, name, declared): &(usize, String, u64)| -> Result<(String, Nd4jArray)> {
        let mut zip = zip.clone();
        let f = zip
            .by_index(*i)
            .map_err(|e| Error::Format(format!("zip entry #{i}: {e}")))?;
        let reading = ProgressRead { inner: f, progress };
        let a = if skeleton {
            crate::nd4j::read_array_skeleton(reading, *declared)
        } else {
            crate::nd4j::read_array_from(reading, *declared)
        }
        .in_entry(name)?;
        Ok((name.clone(), a))
    };
    let decoded: Vec<Result<(String, Nd4jArray)>> = if jobs.len() < 2 {
        jobs.iter().map(decode).collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = jobs.iter().map(|j| s.spawn(|| decode(j))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    let decoded = decoded.into_iter().collect::<Result<Decoded>>()?;
    Ok((entries, decoded))
}

/// Reports bytes as they are read.
struct ProgressRead<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<R: Read> Read for ProgressRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// Writes entries as `java.util.zip.ZipOutputStream` does for ModelSerializer: every entry
/// DEFLATED at level 6, sizes in trailing data descriptors, no directory entries.
pub fn write_entries(entries: &[Entry], out: &mut dyn Write) -> Result<()> {
    let payloads: Vec<(String, Payload)> = entries
        .iter()
        .map(|(n, d)| (n.clone(), Payload::Bytes(d.as_slice().into())))
        .collect();
    write_payloads(&payloads, out, Compression::Default, &Progress::none())
}

/// What an entry holds: bytes, or an ND4J array encoded (in allocation mode `alloc`) straight
/// into the zip as it is written.
pub enum Payload<'a> {
    Bytes(Cow<'a, [u8]>),
    Array {
        array: &'a Nd4jArray,
        alloc: AllocMode,
        shape_only: bool,
    },
}

impl Payload<'_> {
    pub fn into_bytes(self) -> Result<Vec<u8>> {
        match self {
            Payload::Bytes(b) => Ok(b.into_owned()),
            p => {
                let mut v = Vec::new();
                p.write_to(&mut v)?;
                Ok(v)
            }
        }
    }

    fn write_to(&self, out: &mut dyn Write) -> Result<()> {
        match self {
            Payload::Bytes(b) => out
                .write_all(b)
                .map_err(|e| Error::Format(format!("writing: {e}"))),
            Payload::Array {
                array,
                alloc,
                shape_only,
            } => write_array_to(array, *alloc, *shape_only, out),
        }
    }

    /// Upper bound of the entry's size, for the zip64 decision.
    fn size_hint(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::Array { array, .. } => {
                (array.tensor.len() * array.tensor.dtype().size()) as u64 + 1024
            }
        }
    }
}

/// Writes entries as `writeModel` does (see `write_entries`), encoding arrays on the fly, with
/// the given compression (`Default` is DL4J's own: DEFLATE level 6).
pub fn write_payloads(
    entries: &[(String, Payload)],
    out: &mut dyn Write,
    compression: Compression,
    progress: &Progress,
) -> Result<()> {
    progress.start(entries.iter().map(|(_, p)| p.size_hint()).sum());
    let mut zip = ZipOut::new(out).with_progress(progress.clone());
    let method = match compression.level() {
        None => Method::Stored,
        Some(level) => Method::Deflated(level),
    };
    for (name, payload) in entries {
        // Keep the payload's own error (with its detail) rather than an io::Error wrapping it.
        let mut failure: Option<Error> = None;
        let mut produce = |w: &mut dyn Write| -> std::io::Result<()> {
            payload.write_to(w).map_err(|e| {
                let text = e.to_string();
                failure.get_or_insert(e);
                std::io::Error::other(text)
            })
        };
        if let Err(e) = zip.add(name, method, payload.size_hint(), &mut produce) {
            return Err(match failure {
                Some(f) => f.in_entry(name),
                None => zip_error(name, e),
            });
        }
    }
    zip.finish()
        .map_err(|e| zip_error("central directory", e))?;
    Ok(())
}

fn zip_error(entry: &str, e: std::io::Error) -> Error {
    Error::Format(format!("writing {entry}: {e}"))
}
