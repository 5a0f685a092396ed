//! The zip container: raw entries in, raw entries out. Nothing here knows what the entries mean.

use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use crate::error::{Error, Result};

/// A zip entry: name and uncompressed bytes.
pub type Entry = (String, Vec<u8>);

/// Largest entry we inflate (DL4J itself rejects entries >= 2^31 bytes from beta7 on).
const MAX_ENTRY: u64 = 1 << 36;

/// Every file entry of a zip, in central-directory order, inflated and checked.
pub fn read_entries(bytes: &[u8]) -> Result<Vec<Entry>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| Error::Format(format!("not a readable zip archive: {e}")))?;
    let mut entries: Vec<(String, Vec<u8>)> = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let mut f = zip
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
        if entries.iter().any(|(n, _)| *n == name) {
            return Err(Error::Format(format!("duplicate zip entry {name:?}")));
        }
        let declared = f.size();
        if declared > MAX_ENTRY {
            return Err(Error::Format(format!(
                "zip entry {name:?} declares {declared} bytes, more than the {MAX_ENTRY}-byte limit"
            )));
        }
        // Never trust the declared size for more than a capacity hint bounded by the input.
        let mut data = Vec::with_capacity(declared.min(bytes.len() as u64 * 4) as usize);
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
    Ok(entries)
}

/// Writes entries as `java.util.zip.ZipOutputStream` does for ModelSerializer: every entry
/// DEFLATED at level 6, sizes in trailing data descriptors, no directory entries.
pub fn write_entries(entries: &[Entry], out: &mut dyn Write) -> Result<()> {
    let mut zip = zip::ZipWriter::new_stream(out);
    for (name, data) in entries {
        let opts = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(6))
            .large_file(data.len() as u64 >= u32::MAX as u64);
        zip.start_file(name.as_str(), opts)
            .and_then(|_| zip.write_all(data).map_err(Into::into))
            .map_err(|e| zip_error(name, e))?;
    }
    zip.finish()
        .map_err(|e| zip_error("central directory", e))?;
    Ok(())
}

fn zip_error(entry: &str, e: zip::result::ZipError) -> Error {
    match e {
        zip::result::ZipError::Io(io) => Error::Format(format!("writing {entry}: {io}")),
        e => Error::Format(format!("writing {entry}: {e}")),
    }
}
