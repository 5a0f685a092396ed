//! `normalizer.bin`: DL4J's `NormalizerSerializer` stream (>= 0.8.0), or a Java-serialized
//! normalizer object (0.7.2). Every form is written back exactly.

mod json;

use crate::bytes::{ByteReader, ByteWriter};
use crate::error::{Error, Result};
use crate::java_serial;
use crate::nd4j::{read_array, write_array, Nd4jArray};

const HEADER: &str = "NORMALIZER";
const VERSION: i32 = 1;

/// A pair of per-feature statistics arrays (mean/std or min/max).
#[derive(Debug, Clone)]
pub struct StatsPair {
    pub first: Nd4jArray,
    pub second: Nd4jArray,
}

/// Per-input statistics of `MULTI_HYBRID`.
#[derive(Debug, Clone)]
pub enum HybridStats {
    Standardize { mean: Nd4jArray, std: Nd4jArray },
    MinMax { lower: Nd4jArray, upper: Nd4jArray },
}

/// Normalisation strategy of `MULTI_HYBRID` (private Java enum written by ordinal).
#[derive(Debug, Clone, PartialEq)]
pub enum HybridStrategy {
    None,
    Standardize,
    MinMax { min_range: f64, max_range: f64 },
}

/// Every normalizer DL4J can store.
#[derive(Debug, Clone)]
pub enum Normalizer {
    /// `NormalizerStandardize`.
    Standardize {
        features: StatsPair,
        labels: Option<StatsPair>,
    },
    /// `NormalizerMinMaxScaler`.
    MinMax {
        target_min: f64,
        target_max: f64,
        features: StatsPair,
        labels: Option<StatsPair>,
    },
    /// `ImagePreProcessingScaler` (>= 1.0.0-beta2).
    ImageMinMax {
        min_range: f64,
        max_range: f64,
        max_pixel_val: f64,
    },
    /// `MultiNormalizerStandardize`: one pair per network input / output.
    MultiStandardize {
        inputs: Vec<StatsPair>,
        outputs: Option<Vec<StatsPair>>,
    },
    /// `MultiNormalizerMinMaxScaler`.
    MultiMinMax {
        target_min: f64,
        target_max: f64,
        inputs: Vec<StatsPair>,
        outputs: Option<Vec<StatsPair>>,
    },
    /// `MultiNormalizerHybrid`; maps keep the file's order.
    MultiHybrid {
        input_stats: Vec<(i32, HybridStats)>,
        output_stats: Vec<(i32, HybridStats)>,
        global_input: HybridStrategy,
        global_output: HybridStrategy,
        per_input: Vec<(i32, HybridStrategy)>,
        per_output: Vec<(i32, HybridStrategy)>,
    },
    /// A user `CustomSerializerStrategy`: its class and the bytes it wrote.
    Custom {
        strategy_class: String,
        payload: Vec<u8>,
    },
    /// A NormalizerSerializer type without a known strategy (e.g. `IMAGE_VGG16`), kept raw.
    Other { type_name: String, payload: Vec<u8> },
    /// A 0.7.2 normalizer stored with Java serialization; kept as raw bytes.
    JavaSerialized { bytes: Vec<u8> },
}

impl Normalizer {
    /// The `NormalizerType` name (or `JAVA_SERIALIZED` for the 0.7.2 form).
    pub fn type_name(&self) -> &str {
        match self {
            Normalizer::Standardize { .. } => "STANDARDIZE",
            Normalizer::MinMax { .. } => "MIN_MAX",
            Normalizer::ImageMinMax { .. } => "IMAGE_MIN_MAX",
            Normalizer::MultiStandardize { .. } => "MULTI_STANDARDIZE",
            Normalizer::MultiMinMax { .. } => "MULTI_MIN_MAX",
            Normalizer::MultiHybrid { .. } => "MULTI_HYBRID",
            Normalizer::Custom { .. } => "CUSTOM",
            Normalizer::Other { type_name, .. } => type_name,
            Normalizer::JavaSerialized { .. } => "JAVA_SERIALIZED",
        }
    }

    /// The Java class behind it, where one is known.
    pub fn class_name(&self) -> Option<String> {
        Some(match self {
            Normalizer::Standardize { .. } => {
                "org.nd4j.linalg.dataset.api.preprocessor.NormalizerStandardize".into()
            }
            Normalizer::MinMax { .. } => {
                "org.nd4j.linalg.dataset.api.preprocessor.NormalizerMinMaxScaler".into()
            }
            Normalizer::ImageMinMax { .. } => {
                "org.nd4j.linalg.dataset.api.preprocessor.ImagePreProcessingScaler".into()
            }
            Normalizer::MultiStandardize { .. } => {
                "org.nd4j.linalg.dataset.api.preprocessor.MultiNormalizerStandardize".into()
            }
            Normalizer::MultiMinMax { .. } => {
                "org.nd4j.linalg.dataset.api.preprocessor.MultiNormalizerMinMaxScaler".into()
            }
            Normalizer::MultiHybrid { .. } => {
                "org.nd4j.linalg.dataset.api.preprocessor.MultiNormalizerHybrid".into()
            }
            Normalizer::Custom { strategy_class, .. } => strategy_class.clone(),
            Normalizer::Other { .. } => return None,
            Normalizer::JavaSerialized { bytes } => java_serial::class_name(bytes)?,
        })
    }

    /// Decodes a `normalizer.bin` entry.
    pub fn from_bytes(bytes: &[u8]) -> Result<Normalizer> {
        if bytes.starts_with(&java_serial::MAGIC) {
            return Ok(Normalizer::JavaSerialized {
                bytes: bytes.to_vec(),
            });
        }
        let mut r = ByteReader::new(bytes);
        let header = r.utf("normalizer header")?;
        if header != HEADER {
            return Err(Error::malformed(
                0,
                format!("expected the NORMALIZER header or a Java serialization stream, found {header:?}"),
            ));
        }
        let version = r.i32("normalizer version")?;
        if version != VERSION {
            return Err(r.err(format!(
                "normalizer format version {version}, only 1 exists"
            )));
        }
        let type_name = r.utf("normalizer type")?;
        let n = match type_name.as_str() {
            "STANDARDIZE" => {
                let fit_label = r.bool("fitLabel")?;
                let features = pair(&mut r)?;
                let labels = fit_label.then(|| pair(&mut r)).transpose()?;
                Normalizer::Standardize { features, labels }
            }
            "MIN_MAX" => {
                let fit_label = r.bool("fitLabel")?;
                let target_min = r.f64("targetMin")?;
                let target_max = r.f64("targetMax")?;
                let features = pair(&mut r)?;
                let labels = fit_label.then(|| pair(&mut r)).transpose()?;
                Normalizer::MinMax {
                    target_min,
                    target_max,
                    features,
                    labels,
                }
            }
            "IMAGE_MIN_MAX" => Normalizer::ImageMinMax {
                min_range: r.f64("minRange")?,
                max_range: r.f64("maxRange")?,
                max_pixel_val: r.f64("maxPixelVal")?,
            },
            "MULTI_STANDARDIZE" => {
                let fit_label = r.bool("fitLabel")?;
                let n_in = count(&mut r, "numInputs")?;
                let n_out = r.i32("numOutputs")?;
                let inputs = pairs(&mut r, n_in)?;
                let outputs = if fit_label {
                    let n_out = as_count(&r, n_out, "numOutputs")?;
                    Some(pairs(&mut r, n_out)?)
                } else {
                    None
                };
                Normalizer::MultiStandardize { inputs, outputs }
            }
            "MULTI_MIN_MAX" => {
                let fit_label = r.bool("fitLabel")?;
                let n_in = count(&mut r, "numInputs")?;
                let n_out = r.i32("numOutputs")?;
                let target_min = r.f64("targetMin")?;
                let target_max = r.f64("targetMax")?;
                let inputs = pairs(&mut r, n_in)?;
                let outputs = if fit_label {
                    let n_out = as_count(&r, n_out, "numOutputs")?;
                    Some(pairs(&mut r, n_out)?)
                } else {
                    None
                };
                Normalizer::MultiMinMax {
                    target_min,
                    target_max,
                    inputs,
                    outputs,
                }
            }
            "MULTI_HYBRID" => Normalizer::MultiHybrid {
                input_stats: stats_map(&mut r)?,
                output_stats: stats_map(&mut r)?,
                global_input: strategy(&mut r)?,
                global_output: strategy(&mut r)?,
                per_input: strategy_map(&mut r)?,
                per_output: strategy_map(&mut r)?,
            },
            "CUSTOM" => {
                let strategy_class = r.utf("custom strategy class")?;
                Normalizer::Custom {
                    strategy_class,
                    payload: r.rest().to_vec(),
                }
            }
            _ => Normalizer::Other {
                type_name,
                payload: r.rest().to_vec(),
            },
        };
        if matches!(n, Normalizer::Custom { .. } | Normalizer::Other { .. }) {
            return Ok(n);
        }
        if !r.is_at_end() {
            return Err(r.err(format!(
                "{} unexpected bytes after the {} normalizer",
                r.remaining(),
                n.type_name()
            )));
        }
        Ok(n)
    }

    /// Encodes as `NormalizerSerializer.write` does (or returns the stored Java bytes).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        if let Normalizer::JavaSerialized { bytes } = self {
            return Ok(bytes.clone());
        }
        out.put_utf(HEADER)?;
        out.put_i32(VERSION);
        out.put_utf(self.type_name())?;
        match self {
            Normalizer::Standardize { features, labels } => {
                out.put_bool(labels.is_some());
                put_features_labels(&mut out, features, labels)?;
            }
            Normalizer::MinMax {
                target_min,
                target_max,
                features,
                labels,
            } => {
                out.put_bool(labels.is_some());
                out.put_f64(*target_min);
                out.put_f64(*target_max);
                put_features_labels(&mut out, features, labels)?;
            }
            Normalizer::ImageMinMax {
                min_range,
                max_range,
                max_pixel_val,
            } => {
                out.put_f64(*min_range);
                out.put_f64(*max_range);
                out.put_f64(*max_pixel_val);
            }
            Normalizer::MultiStandardize { inputs, outputs } => {
                put_multi_counts(&mut out, inputs, outputs)?;
                put_multi_pairs(&mut out, inputs, outputs)?;
            }
            Normalizer::MultiMinMax {
                target_min,
                target_max,
                inputs,
                outputs,
            } => {
                put_multi_counts(&mut out, inputs, outputs)?;
                out.put_f64(*target_min);
                out.put_f64(*target_max);
                put_multi_pairs(&mut out, inputs, outputs)?;
            }
            Normalizer::MultiHybrid {
                input_stats,
                output_stats,
                global_input,
                global_output,
                per_input,
                per_output,
            } => {
                for map in [input_stats, output_stats] {
                    out.put_i32(len_i32(map.len())?);
                    for (idx, s) in map {
                        out.put_i32(*idx);
                        match s {
                            HybridStats::Standardize { mean, std } => {
                                out.put_i32(1);
                                write_array(mean, &mut out)?;
                                write_array(std, &mut out)?;
                            }
                            HybridStats::MinMax { lower, upper } => {
                                out.put_i32(2);
                                write_array(lower, &mut out)?;
                                write_array(upper, &mut out)?;
                            }
                        }
                    }
                }
                put_strategy(&mut out, global_input);
                put_strategy(&mut out, global_output);
                for map in [per_input, per_output] {
                    out.put_i32(len_i32(map.len())?);
                    for (idx, s) in map {
                        out.put_i32(*idx);
                        put_strategy(&mut out, s);
                    }
                }
            }
            Normalizer::Custom {
                strategy_class,
                payload,
            } => {
                out.put_utf(strategy_class)?;
                out.put_bytes(payload);
            }
            Normalizer::Other { payload, .. } => out.put_bytes(payload),
            Normalizer::JavaSerialized { .. } => unreachable!("handled above"),
        }
        Ok(out)
    }

    /// Every array with a descriptive name (`feature_mean`, `input0.std`, ...), in file order.
    pub fn arrays(&self) -> Vec<(String, &Nd4jArray)> {
        let mut v = Vec::new();
        match self {
            Normalizer::Standardize { features, labels } => {
                add_pair(&mut v, "feature_", ("mean", "std"), features);
                if let Some(l) = labels {
                    add_pair(&mut v, "label_", ("mean", "std"), l);
                }
            }
            Normalizer::MinMax {
                features, labels, ..
            } => {
                add_pair(&mut v, "feature_", ("min", "max"), features);
                if let Some(l) = labels {
                    add_pair(&mut v, "label_", ("min", "max"), l);
                }
            }
            Normalizer::MultiStandardize { inputs, outputs } => {
                for (i, p) in inputs.iter().enumerate() {
                    add_pair(&mut v, &format!("input{i}."), ("mean", "std"), p);
                }
                for (i, p) in outputs.iter().flatten().enumerate() {
                    add_pair(&mut v, &format!("output{i}."), ("mean", "std"), p);
                }
            }
            Normalizer::MultiMinMax {
                inputs, outputs, ..
            } => {
                for (i, p) in inputs.iter().enumerate() {
                    add_pair(&mut v, &format!("input{i}."), ("min", "max"), p);
                }
                for (i, p) in outputs.iter().flatten().enumerate() {
                    add_pair(&mut v, &format!("output{i}."), ("min", "max"), p);
                }
            }
            Normalizer::MultiHybrid {
                input_stats,
                output_stats,
                ..
            } => {
                for (side, map) in [("input", input_stats), ("output", output_stats)] {
                    for (idx, s) in map {
                        match s {
                            HybridStats::Standardize { mean, std } => {
                                v.push((format!("{side}{idx}.mean"), mean));
                                v.push((format!("{side}{idx}.std"), std));
                            }
                            HybridStats::MinMax { lower, upper } => {
                                v.push((format!("{side}{idx}.min"), lower));
                                v.push((format!("{side}{idx}.max"), upper));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        v
    }

    /// Same normalizer: same kind, scalars and arrays bit for bit, raw payloads byte for byte.
    pub fn same_as(&self, other: &Normalizer) -> bool {
        if self.type_name() != other.type_name() {
            return false;
        }
        let a = self.arrays();
        let b = other.arrays();
        if a.len() != b.len()
            || a.iter()
                .zip(&b)
                .any(|(x, y)| x.0 != y.0 || !x.1.bit_eq(y.1))
        {
            return false;
        }
        // Scalars and raw parts: compare the encodings with arrays blanked out.
        match (self.to_bytes(), other.to_bytes()) {
            (Ok(x), Ok(y)) => x == y || self.scalars_eq(other),
            _ => false,
        }
    }

    fn scalars_eq(&self, other: &Normalizer) -> bool {
        use Normalizer::*;
        match (self, other) {
            (Standardize { labels: a, .. }, Standardize { labels: b, .. }) => {
                a.is_some() == b.is_some()
            }
            (
                MinMax {
                    target_min: a0,
                    target_max: a1,
                    labels: la,
                    ..
                },
                MinMax {
                    target_min: b0,
                    target_max: b1,
                    labels: lb,
                    ..
                },
            ) => {
                a0.to_bits() == b0.to_bits()
                    && a1.to_bits() == b1.to_bits()
                    && la.is_some() == lb.is_some()
            }
            (MultiStandardize { outputs: a, .. }, MultiStandardize { outputs: b, .. }) => {
                a.is_some() == b.is_some()
            }
            (
                MultiMinMax {
                    target_min: a0,
                    target_max: a1,
                    outputs: oa,
                    ..
                },
                MultiMinMax {
                    target_min: b0,
                    target_max: b1,
                    outputs: ob,
                    ..
                },
            ) => {
                a0.to_bits() == b0.to_bits()
                    && a1.to_bits() == b1.to_bits()
                    && oa.is_some() == ob.is_some()
            }
            (
                MultiHybrid {
                    global_input: a0,
                    global_output: a1,
                    per_input: a2,
                    per_output: a3,
                    ..
                },
                MultiHybrid {
                    global_input: b0,
                    global_output: b1,
                    per_input: b2,
                    per_output: b3,
                    ..
                },
            ) => a0 == b0 && a1 == b1 && a2 == b2 && a3 == b3,
            _ => false,
        }
    }
}

fn pair(r: &mut ByteReader) -> Result<StatsPair> {
    let first = read_array(r)?;
    let second = read_array(r)?;
    same_size(r, &first, &second)?;
    Ok(StatsPair { first, second })
}

/// The two arrays of a statistics pair (mean and std, min and max) describe the same features:
/// DL4J computes them together, so different sizes mean a damaged file.
fn same_size(r: &ByteReader, first: &Nd4jArray, second: &Nd4jArray) -> Result<()> {
    let (a, b) = (first.tensor.len(), second.tensor.len());
    if a != b {
        return Err(r.err(format!(
            "a statistics pair disagrees: the first array (mean or min) has {a} values, the second (std or max) {b}"
        )));
    }
    Ok(())
}

fn count(r: &mut ByteReader, what: &str) -> Result<usize> {
    let n = r.i32(what)?;
    as_count(r, n, what)
}

/// A count must be non-negative and plausible for the bytes left (each array is >= 20 bytes).
fn as_count(r: &ByteReader, n: i32, what: &str) -> Result<usize> {
    let n = usize::try_from(n).map_err(|_| r.err(format!("negative {what} {n}")))?;
    if n > r.remaining() / 4 {
        return Err(r.err(format!("{what} {n} is larger than the data that follows")));
    }
    Ok(n)
}

fn pairs(r: &mut ByteReader, n: usize) -> Result<Vec<StatsPair>> {
    (0..n).map(|_| pair(r)).collect()
}

fn stats_map(r: &mut ByteReader) -> Result<Vec<(i32, HybridStats)>> {
    let n = count(r, "stats map size")?;
    (0..n)
        .map(|_| {
            let idx = r.i32("stats index")?;
            let s = match r.i32("stats kind")? {
                1 => {
                    let StatsPair { first, second } = pair(r)?;
                    HybridStats::Standardize {
                        mean: first,
                        std: second,
                    }
                }
                2 => {
                    let StatsPair { first, second } = pair(r)?;
                    HybridStats::MinMax {
                        lower: first,
                        upper: second,
                    }
                }
                k => return Err(r.err(format!("unknown MULTI_HYBRID stats kind {k}"))),
            };
            Ok((idx, s))
        })
        .collect()
}

fn strategy(r: &mut ByteReader) -> Result<HybridStrategy> {
    Ok(match r.i32("strategy")? {
        0 => HybridStrategy::None,
        1 => HybridStrategy::Standardize,
        2 => HybridStrategy::MinMax {
            min_range: r.f64("minRange")?,
            max_range: r.f64("maxRange")?,
        },
        k => return Err(r.err(format!("unknown MULTI_HYBRID strategy {k}"))),
    })
}

fn strategy_map(r: &mut ByteReader) -> Result<Vec<(i32, HybridStrategy)>> {
    let n = count(r, "strategy map size")?;
    (0..n)
        .map(|_| Ok((r.i32("strategy index")?, strategy(r)?)))
        .collect()
}

fn len_i32(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| Error::Unsupported(format!("{n} entries exceed an int32 count")))
}

fn put_pair(out: &mut Vec<u8>, p: &StatsPair) -> Result<()> {
    write_array(&p.first, out)?;
    write_array(&p.second, out)
}

fn put_features_labels(
    out: &mut Vec<u8>,
    features: &StatsPair,
    labels: &Option<StatsPair>,
) -> Result<()> {
    put_pair(out, features)?;
    labels.iter().try_for_each(|l| put_pair(out, l))
}

fn put_multi_counts(
    out: &mut Vec<u8>,
    inputs: &[StatsPair],
    outputs: &Option<Vec<StatsPair>>,
) -> Result<()> {
    out.put_bool(outputs.is_some());
    out.put_i32(len_i32(inputs.len())?);
    out.put_i32(match outputs {
        Some(o) => len_i32(o.len())?,
        None => -1,
    });
    Ok(())
}

fn put_multi_pairs(
    out: &mut Vec<u8>,
    inputs: &[StatsPair],
    outputs: &Option<Vec<StatsPair>>,
) -> Result<()> {
    for p in inputs.iter().chain(outputs.iter().flatten()) {
        put_pair(out, p)?;
    }
    Ok(())
}

fn put_strategy(out: &mut Vec<u8>, s: &HybridStrategy) {
    match s {
        HybridStrategy::None => out.put_i32(0),
        HybridStrategy::Standardize => out.put_i32(1),
        HybridStrategy::MinMax {
            min_range,
            max_range,
        } => {
            out.put_i32(2);
            out.put_f64(*min_range);
            out.put_f64(*max_range);
        }
    }
}

fn add_pair<'a>(
    v: &mut Vec<(String, &'a Nd4jArray)>,
    prefix: &str,
    names: (&str, &str),
    p: &'a StatsPair,
) {
    v.push((format!("{prefix}{}", names.0), &p.first));
    v.push((format!("{prefix}{}", names.1), &p.second));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nd4j::Encoding;
    use crate::tensor::{Tensor, TensorData};

    fn row(v: &[f32], enc: Encoding) -> Nd4jArray {
        Nd4jArray::new(
            Tensor::new(vec![1, v.len()], TensorData::F32(v.to_vec())).unwrap(),
            enc,
        )
    }

    fn pair(a: f32, enc: Encoding) -> StatsPair {
        StatsPair {
            first: row(&[a, a + 1.0], enc),
            second: row(&[a * 2.0, a * 3.0], enc),
        }
    }

    fn round_trip(n: &Normalizer) {
        let bytes = n.to_bytes().unwrap();
        let back = Normalizer::from_bytes(&bytes).unwrap();
        assert!(back.same_as(n), "{}", n.type_name());
        assert_eq!(back.to_bytes().unwrap(), bytes, "{}", n.type_name());
    }

    #[test]
    fn multi_strategies_round_trip() {
        for enc in [Encoding::Legacy, Encoding::LongShape, Encoding::Modern] {
            round_trip(&Normalizer::MultiStandardize {
                inputs: vec![pair(1.0, enc), pair(2.0, enc)],
                outputs: Some(vec![pair(3.0, enc)]),
            });
            round_trip(&Normalizer::MultiStandardize {
                inputs: vec![pair(1.0, enc)],
                outputs: None,
            });
            round_trip(&Normalizer::MultiMinMax {
                target_min: -1.0,
                target_max: 1.0,
                inputs: vec![pair(1.0, enc)],
                outputs: Some(vec![pair(2.0, enc), pair(5.0, enc)]),
            });
            round_trip(&Normalizer::MultiHybrid {
                input_stats: vec![
                    (
                        0,
                        HybridStats::Standardize {
                            mean: row(&[1.0], enc),
                            std: row(&[2.0], enc),
                        },
                    ),
                    (
                        1,
                        HybridStats::MinMax {
                            lower: row(&[0.0], enc),
                            upper: row(&[9.0], enc),
                        },
                    ),
                ],
                output_stats: vec![],
                global_input: HybridStrategy::Standardize,
                global_output: HybridStrategy::None,
                per_input: vec![(
                    1,
                    HybridStrategy::MinMax {
                        min_range: 0.0,
                        max_range: 1.0,
                    },
                )],
                per_output: vec![],
            });
        }
    }

    #[test]
    fn multi_standardize_without_labels_writes_minus_one_outputs() {
        let n = Normalizer::MultiStandardize {
            inputs: vec![pair(1.0, Encoding::Modern)],
            outputs: None,
        };
        let b = n.to_bytes().unwrap();
        // header: UTF NORMALIZER (12) + version (4) + UTF MULTI_STANDARDIZE (19); then
        // fitLabel, numInputs, numOutputs.
        let at = 12 + 4 + 19;
        assert_eq!(b[at], 0);
        assert_eq!(&b[at + 1..at + 5], &1i32.to_be_bytes());
        assert_eq!(&b[at + 5..at + 9], &(-1i32).to_be_bytes());
    }

    #[test]
    fn java_serialized_and_unknown_types_are_kept_raw() {
        let java = [
            0xAC, 0xED, 0, 5, 0x73, 0x72, 0, 3, b'a', b'.', b'B', 1, 2, 3,
        ];
        let n = Normalizer::from_bytes(&java).unwrap();
        assert_eq!(n.type_name(), "JAVA_SERIALIZED");
        assert_eq!(n.class_name().as_deref(), Some("a.B"));
        assert_eq!(n.to_bytes().unwrap(), java);

        let mut other = Vec::new();
        other.put_utf("NORMALIZER").unwrap();
        other.put_i32(1);
        other.put_utf("IMAGE_VGG16").unwrap();
        other.extend([9, 9]);
        let n = Normalizer::from_bytes(&other).unwrap();
        assert_eq!(n.type_name(), "IMAGE_VGG16");
        assert_eq!(n.to_bytes().unwrap(), other);
    }

    #[test]
    fn bad_normalizers_are_rejected() {
        let mut b = Vec::new();
        b.put_utf("NORMALIZER").unwrap();
        b.put_i32(2);
        assert!(Normalizer::from_bytes(&b)
            .unwrap_err()
            .to_string()
            .contains("version 2"));
        let mut b = Vec::new();
        b.put_utf("NORMALIZER").unwrap();
        b.put_i32(1);
        b.put_utf("MULTI_STANDARDIZE").unwrap();
        b.put_bool(false);
        b.put_i32(i32::MAX);
        b.put_i32(-1);
        let e = Normalizer::from_bytes(&b).unwrap_err().to_string();
        assert!(e.contains("numInputs"), "{e}");
        assert!(Normalizer::from_bytes(b"garbage").is_err());
    }
}
