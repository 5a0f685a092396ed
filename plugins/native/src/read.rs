//! Zip -> `Archive`.

use std::io::{Cursor, Read};

use dl4j_core::error::{Error, Result, ResultExt};
use dl4j_core::nd4j::{read_array_exact, Encoding, Nd4jArray};
use dl4j_core::{
    Archive, Configuration, DType, Normalizer, Origin, ParamsStorage, Tensor, TensorData,
};

use crate::{
    COEFFICIENTS, CONFIGURATION, NORMALIZER, NO_PARAMS_MARKER, OBJECTS_PREFIX, UPDATER_STATE,
};

/// Largest entry we inflate (DL4J itself rejects entries >= 2^31 bytes from beta7 on).
const MAX_ENTRY: u64 = 1 << 36;

/// Reads a DL4J model zip.
pub fn read_zip(bytes: &[u8]) -> Result<Archive> {
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
    from_entries(entries)
}

fn take(entries: &mut Vec<(String, Vec<u8>)>, name: &str) -> Option<Vec<u8>> {
    let i = entries.iter().position(|(n, _)| n == name)?;
    Some(entries.remove(i).1)
}

/// Sorts named entries into an `Archive`.
fn from_entries(mut entries: Vec<(String, Vec<u8>)>) -> Result<Archive> {
    let config_bytes = take(&mut entries, CONFIGURATION).ok_or_else(|| {
        Error::Format(format!(
            "no {CONFIGURATION} entry: not a DL4J model archive"
        ))
    })?;
    let config = Configuration::from_bytes(&config_bytes).in_entry(CONFIGURATION)?;

    let coeff = take(&mut entries, COEFFICIENTS).ok_or_else(|| {
        Error::Format(format!("no {COEFFICIENTS} entry: not a DL4J model archive"))
    })?;
    let marker = take(&mut entries, NO_PARAMS_MARKER).is_some();
    let (params, params_storage) = if coeff.is_empty() {
        let dtype = config
            .data_type()
            .and_then(DType::from_nd4j_name)
            .unwrap_or(DType::F32);
        let empty = Tensor::new(vec![1, 0], TensorData::with_capacity(dtype, 0))?;
        (
            Nd4jArray::new(empty, Encoding::Modern),
            ParamsStorage::Empty { marker },
        )
    } else {
        if marker {
            // Keep the stray marker rather than drop data.
            entries.insert(0, (NO_PARAMS_MARKER.to_string(), Vec::new()));
        }
        let a = read_array_exact(&coeff).in_entry(COEFFICIENTS)?;
        check_vector(&a).in_entry(COEFFICIENTS)?;
        (a, ParamsStorage::Array)
    };

    let updater_state = match take(&mut entries, UPDATER_STATE) {
        Some(b) => {
            let a = read_array_exact(&b).in_entry(UPDATER_STATE)?;
            check_vector(&a).in_entry(UPDATER_STATE)?;
            Some(a)
        }
        None => None,
    };
    let normalizer = match take(&mut entries, NORMALIZER) {
        Some(b) => Some(Normalizer::from_bytes(&b).in_entry(NORMALIZER)?),
        None => None,
    };
    let mut objects = Vec::new();
    let mut unknown_entries = Vec::new();
    for (name, data) in entries {
        match name.strip_prefix(OBJECTS_PREFIX) {
            Some(key) if !key.is_empty() => objects.push((key.to_string(), data)),
            _ => unknown_entries.push((name, data)),
        }
    }
    let encoding = match params_storage {
        ParamsStorage::Array => Some(params.encoding()),
        ParamsStorage::Empty { .. } => updater_state.as_ref().map(|u| u.encoding()),
    };
    let dtype = params.tensor.dtype();
    Ok(Archive {
        config,
        params,
        params_storage,
        updater_state,
        normalizer,
        objects,
        unknown_entries,
        origin: Origin {
            format: crate::FORMAT_ID.to_string(),
            encoding,
            dtype,
        },
    })
}

/// Flat vectors are `[1, N]` (<= M2) or `[N]` (M2.1); anything else is not a DL4J vector.
fn check_vector(a: &Nd4jArray) -> Result<()> {
    match a.tensor.shape() {
        [_] | [1, _] => Ok(()),
        [n, 1] if *n > 0 => Ok(()),
        s => Err(Error::malformed_here(format!(
            "expected a [1, N] row vector, found shape {s:?}"
        ))),
    }
}
