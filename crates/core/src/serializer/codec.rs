//! `Archive` <-> the entries of a ModelSerializer zip.

use crate::archive::{Archive, Origin, ParamsStorage};
use crate::config::Configuration;
use crate::error::{Error, Result, ResultExt};
use crate::nd4j::{read_array_exact, Encoding, Nd4jArray};
use crate::normalizer::{HybridStats, Normalizer, StatsPair};
use crate::tensor::{DType, Tensor, TensorData};

use super::container::{Entry, Payload};
use super::names::{
    COEFFICIENTS, CONFIGURATION, NORMALIZER, NO_PARAMS_MARKER, OBJECTS_PREFIX, RESERVED,
    UPDATER_STATE,
};

fn take(entries: &mut Vec<(String, Vec<u8>)>, name: &str) -> Option<Vec<u8>> {
    let i = entries.iter().position(|(n, _)| n == name)?;
    Some(entries.remove(i).1)
}

/// Sorts named entries into an `Archive`.
pub fn archive_from_entries(entries: Vec<(String, Vec<u8>)>) -> Result<Archive> {
    archive_from_parts(entries, Vec::new())
}

/// An array decoded straight from its entry, or its raw bytes.
fn array_entry(
    entries: &mut Vec<Entry>,
    decoded: &mut Vec<(String, Nd4jArray)>,
    name: &str,
) -> Result<Option<Nd4jArray>> {
    if let Some(i) = decoded.iter().position(|(n, _)| n == name) {
        take(entries, name);
        return Ok(Some(decoded.remove(i).1));
    }
    match take(entries, name) {
        Some(b) if !b.is_empty() => read_array_exact(&b).in_entry(name).map(Some),
        Some(_) if name == COEFFICIENTS => Ok(None),
        Some(_) => Err(Error::malformed_here("empty entry").in_entry(name)),
        None => Ok(None),
    }
}

/// `archive_from_entries`, with some arrays already decoded while inflating (their raw entry
/// is present with no bytes).
pub fn archive_from_parts(
    mut entries: Vec<Entry>,
    mut decoded: Vec<(String, Nd4jArray)>,
) -> Result<Archive> {
    let config_bytes = take(&mut entries, CONFIGURATION).ok_or_else(|| {
        Error::Format(format!(
            "no {CONFIGURATION} entry: not a DL4J model archive"
        ))
    })?;
    let config = Configuration::from_bytes(&config_bytes).in_entry(CONFIGURATION)?;

    if !entries.iter().any(|(n, _)| n == COEFFICIENTS) {
        return Err(Error::Format(format!(
            "no {COEFFICIENTS} entry: not a DL4J model archive"
        )));
    }
    let coeff = array_entry(&mut entries, &mut decoded, COEFFICIENTS)?;
    let marker = take(&mut entries, NO_PARAMS_MARKER).is_some();
    let (params, params_storage) = if let Some(a) = coeff {
        if marker {
            // Keep the stray marker rather than drop data.
            entries.insert(0, (NO_PARAMS_MARKER.to_string(), Vec::new()));
        }
        check_vector(&a).in_entry(COEFFICIENTS)?;
        (a, ParamsStorage::Array)
    } else {
        let dtype = config
            .data_type()
            .and_then(DType::from_nd4j_name)
            .unwrap_or(DType::F32);
        let empty = Tensor::new(vec![1, 0], TensorData::with_capacity(dtype, 0))?;
        (
            Nd4jArray::new(empty, Encoding::Modern),
            ParamsStorage::Empty { marker },
        )
    };

    let updater_state = match array_entry(&mut entries, &mut decoded, UPDATER_STATE)? {
        Some(a) => {
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
            format: super::FORMAT_ID.to_string(),
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

/// The array in the requested encoding; without a request every array keeps its own.
fn retarget(a: &Nd4jArray, target: Option<Encoding>) -> Nd4jArray {
    let mut a = a.clone();
    if let Some(e) = target.filter(|e| *e != a.encoding()) {
        a.alloc = e.alloc_mode();
        // Shape-only arrays exist only in the modern (M2.1) encoding.
        a.shape_only &= e == Encoding::Modern;
    }
    a
}

/// Normalizer arrays follow the same rule as parameters.
fn normalizer_bytes(n: &Normalizer, target: Option<Encoding>) -> Result<Vec<u8>> {
    if target.is_none() {
        return n.to_bytes();
    }
    let mut n = n.clone();
    let fix = |a: &mut Nd4jArray| *a = retarget(a, target);
    let fix_pair = |p: &mut StatsPair| {
        fix(&mut p.first);
        fix(&mut p.second);
    };
    match &mut n {
        Normalizer::Standardize { features, labels }
        | Normalizer::MinMax {
            features, labels, ..
        } => {
            fix_pair(features);
            labels.iter_mut().for_each(fix_pair);
        }
        Normalizer::MultiStandardize { inputs, outputs }
        | Normalizer::MultiMinMax {
            inputs, outputs, ..
        } => {
            inputs.iter_mut().for_each(fix_pair);
            outputs.iter_mut().flatten().for_each(fix_pair);
        }
        Normalizer::MultiHybrid {
            input_stats,
            output_stats,
            ..
        } => {
            for (_, s) in input_stats.iter_mut().chain(output_stats.iter_mut()) {
                match s {
                    HybridStats::Standardize { mean, std } => {
                        fix(mean);
                        fix(std);
                    }
                    HybridStats::MinMax { lower, upper } => {
                        fix(lower);
                        fix(upper);
                    }
                }
            }
        }
        _ => {}
    }
    n.to_bytes()
}

/// All entries in DL4J's order: configuration.json, coefficients.bin, [noParams.marker],
/// [updaterState.bin], [normalizer.bin], objects/..., then unknown entries.
pub fn archive_to_entries(archive: &Archive, target: Option<Encoding>) -> Result<Vec<Entry>> {
    archive_payloads(archive, target)?
        .into_iter()
        .map(|(name, p)| {
            let b = p.into_bytes().in_entry(&name)?;
            Ok((name, b))
        })
        .collect()
}

/// Like `archive_to_entries`, with the large arrays left to be encoded while they are written.
pub fn archive_payloads<'a>(
    archive: &'a Archive,
    target: Option<Encoding>,
) -> Result<Vec<(String, Payload<'a>)>> {
    let array = |a: &'a Nd4jArray| -> Payload<'a> {
        match target.filter(|e| *e != a.encoding()) {
            // Shape-only arrays exist only in the modern (M2.1) encoding.
            Some(e) => Payload::Array {
                array: a,
                alloc: e.alloc_mode(),
                shape_only: a.shape_only && e == Encoding::Modern,
            },
            None => Payload::Array {
                array: a,
                alloc: a.alloc,
                shape_only: a.shape_only,
            },
        }
    };
    let bytes = |b: &[u8]| Payload::Bytes(std::borrow::Cow::Owned(b.to_vec()));
    let mut v: Vec<(String, Payload)> = Vec::new();
    v.push((
        CONFIGURATION.into(),
        Payload::Bytes(archive.config.to_bytes().into()),
    ));
    match archive.params_storage {
        ParamsStorage::Array => v.push((COEFFICIENTS.into(), array(&archive.params))),
        ParamsStorage::Empty { marker } => {
            v.push((COEFFICIENTS.into(), bytes(&[])));
            if marker {
                v.push((NO_PARAMS_MARKER.into(), bytes(&[])));
            }
        }
    }
    if let Some(s) = &archive.updater_state {
        v.push((UPDATER_STATE.into(), array(s)));
    }
    if let Some(n) = &archive.normalizer {
        let b = normalizer_bytes(n, target).in_entry(NORMALIZER)?;
        v.push((NORMALIZER.into(), Payload::Bytes(b.into())));
    }
    for (key, data) in &archive.objects {
        if key.is_empty() {
            return Err(Error::Refused("an object key must not be empty".into()));
        }
        v.push((
            format!("{OBJECTS_PREFIX}{key}"),
            Payload::Bytes(data.as_slice().into()),
        ));
    }
    for (name, data) in &archive.unknown_entries {
        // A stray marker next to real coefficients is kept as it was found (DL4J ignores it).
        let stray_marker =
            name == NO_PARAMS_MARKER && archive.params_storage == ParamsStorage::Array;
        let reserved = RESERVED.contains(&name.as_str()) && !stray_marker;
        if reserved || name.starts_with(OBJECTS_PREFIX) || name.ends_with('/') {
            return Err(Error::Refused(format!(
                "unknown entry {name:?} would clash with a DL4J entry name"
            )));
        }
        v.push((name.clone(), Payload::Bytes(data.as_slice().into())));
    }
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &v {
        if !seen.insert(name.as_str()) {
            return Err(Error::Refused(format!("two entries named {name:?}")));
        }
    }
    Ok(v)
}
