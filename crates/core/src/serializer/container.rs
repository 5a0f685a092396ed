//! The zip container: raw entries in, raw entries out. Nothing here knows what the entries mean.

use std::borrow::Cow;
use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use crate::error::{Error, Result, ResultExt};
use crate::nd4j::{write_array_to, AllocMode, Nd4jArray};

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
    let mut decoded = Vec::new();
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
        if arrays.contains(&name.as_str()) && declared > 0 {
            let a = crate::nd4j::read_array_from(&mut f, declared).in_entry(&name)?;
            decoded.push((name.clone(), a));
            entries.push((name, Vec::new()));
            continue;
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
    Ok((entries, decoded))
}

/// Writes entries as `java.util.zip.ZipOutputStream` does for ModelSerializer: every entry
/// DEFLATED at level 6, sizes in trailing data descriptors, no directory entries.
pub fn write_entries(entries: &[Entry], out: &mut dyn Write) -> Result<()> {
    let payloads: Vec<(String, Payload)> = entries
        .iter()
        .map(|(n, d)| (n.clone(), Payload::Bytes(d.as_slice().into())))
        .collect();
    write_payloads(&payloads, out)
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

/// Writes entries as `writeModel` does (see `write_entries`), encoding arrays on the fly.
pub fn write_payloads(entries: &[(String, Payload)], out: &mut dyn Write) -> Result<()> {
    let mut zip = zip::ZipWriter::new_stream(out);
    for (name, payload) in entries {
        let opts = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(6))
            .large_file(payload.size_hint() >= u32::MAX as u64);
        zip.start_file(name.as_str(), opts)
            .map_err(|e| zip_error(name, e))?;
        payload.write_to(&mut zip).in_entry(name)?;
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
