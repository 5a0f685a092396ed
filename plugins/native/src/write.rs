//! `Archive` -> zip, the way `ModelSerializer` writes it: every entry DEFLATED (level 6), sizes in
//! trailing data descriptors, no directory entries, and the entry order
//! configuration.json, coefficients.bin, [noParams.marker], [updaterState.bin], [normalizer.bin],
//! objects/..., then any unknown entries.

use std::io::Write;

use dl4j_core::error::{Error, Result, ResultExt};
use dl4j_core::nd4j::{array_to_bytes, Encoding, Nd4jArray};
use dl4j_core::normalizer::{HybridStats, Normalizer, StatsPair};
use dl4j_core::{Archive, ParamsStorage, WriteOptions};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use crate::{
    COEFFICIENTS, CONFIGURATION, NORMALIZER, NO_PARAMS_MARKER, OBJECTS_PREFIX, UPDATER_STATE,
};

/// Entry names an object key or unknown entry must not shadow.
const RESERVED: [&str; 5] = [
    CONFIGURATION,
    COEFFICIENTS,
    NO_PARAMS_MARKER,
    UPDATER_STATE,
    NORMALIZER,
];

/// Writes the archive as a DL4J model zip.
pub fn write_zip(archive: &Archive, out: &mut dyn Write, options: &WriteOptions) -> Result<()> {
    let entries = entries(archive, options.dl4j_encoding)?;

    let mut zip = zip::ZipWriter::new_stream(out);
    for (name, data) in &entries {
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

fn encode(a: &Nd4jArray, target: Option<Encoding>, entry: &str) -> Result<Vec<u8>> {
    array_to_bytes(&retarget(a, target)).in_entry(entry)
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

/// All entries in DL4J's order.
fn entries(archive: &Archive, target: Option<Encoding>) -> Result<Vec<(String, Vec<u8>)>> {
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();
    v.push((CONFIGURATION.into(), archive.config.to_bytes()));
    match archive.params_storage {
        ParamsStorage::Array => {
            v.push((
                COEFFICIENTS.into(),
                encode(&archive.params, target, COEFFICIENTS)?,
            ));
        }
        ParamsStorage::Empty { marker } => {
            v.push((COEFFICIENTS.into(), Vec::new()));
            if marker {
                v.push((NO_PARAMS_MARKER.into(), Vec::new()));
            }
        }
    }
    if let Some(s) = &archive.updater_state {
        v.push((UPDATER_STATE.into(), encode(s, target, UPDATER_STATE)?));
    }
    if let Some(n) = &archive.normalizer {
        v.push((
            NORMALIZER.into(),
            normalizer_bytes(n, target).in_entry(NORMALIZER)?,
        ));
    }
    for (key, data) in &archive.objects {
        if key.is_empty() {
            return Err(Error::Refused("an object key must not be empty".into()));
        }
        v.push((format!("{OBJECTS_PREFIX}{key}"), data.clone()));
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
        v.push((name.clone(), data.clone()));
    }
    for i in 1..v.len() {
        if v[..i].iter().any(|(n, _)| *n == v[i].0) {
            return Err(Error::Refused(format!("two entries named {:?}", v[i].0)));
        }
    }
    Ok(v)
}
