//! Baking the archive's data normalizer into an exported graph (`--bake-normalizer`).
//!
//! The translated graph's input `X` is renamed: every node that read `X` now reads
//! `X__normalized`, and new first nodes compute `X__normalized` from the raw `X` exactly as DL4J's
//! `preProcess` does (same operations, same order):
//!
//! * `NormalizerStandardize`: `(x - mean) / max(std, 1e-5)` (`DistributionStats` clamps the
//!   standard deviation to `Nd4j.EPS_THRESHOLD` when it is built, also when restored from a file);
//! * `NormalizerMinMaxScaler`: `(x - min) / max(max - min, 1e-5) * (maxRange - minRange) +
//!   minRange` (`MinMaxStats` pads a zero range to `EPS_THRESHOLD`);
//! * `ImagePreProcessingScaler`: `x / maxPixelVal`, then `* (maxRange - minRange)` when that is not
//!   1, then `+ minRange` when that is not 0;
//! * `VGG16ImagePreProcessor`: `x - [123.68, 116.779, 103.939]` per channel (NCHW);
//! * the `MultiNormalizer*` forms: the same per network input, for graphs whose inputs match.
//!
//! Per-feature statistics broadcast along axis 1 (features, channels of NCHW images, features of
//! `[batch, features, time]` sequences), as DL4J's broadcast ops do. Only features are normalized:
//! label statistics (`fitLabel`) are ignored, since DL4J reverts label normalization only when asked.

use dl4j_core::normalizer::{HybridStats, HybridStrategy, StatsPair};
use dl4j_core::tensor::DType;
use dl4j_core::{Archive, Error, Nd4jArray, Normalizer, Result};
use half::{bf16, f16};

use crate::export::Graph;
use crate::proto::{Constant, Dim, Node};

/// ND4J's `Nd4j.EPS_THRESHOLD`.
pub const EPS_THRESHOLD: f64 = 1e-5;

/// DL4J's `VGG16ImagePreProcessor.VGG_MEAN_OFFSET_BGR`.
pub const VGG_MEAN_OFFSET: [f64; 3] = [123.68, 116.779, 103.939];

/// One elementwise operation applied to the features.
#[derive(Debug, Clone)]
enum Step {
    /// Subtract per-feature (axis 1) values.
    Sub(Vec<f64>),
    /// Divide by per-feature values.
    Div(Vec<f64>),
    /// Divide by a scalar.
    DivScalar(f64),
    /// Multiply by a scalar.
    Mul(f64),
    /// Add a scalar.
    Add(f64),
}

fn values(a: &Nd4jArray) -> Vec<f64> {
    a.tensor.to_f64_vec()
}

fn standardize(s: &StatsPair) -> Vec<Step> {
    let std = values(&s.second)
        .into_iter()
        .map(|v| v.max(EPS_THRESHOLD))
        .collect();
    vec![Step::Sub(values(&s.first)), Step::Div(std)]
}

fn min_max(lower: &Nd4jArray, upper: &Nd4jArray, min_range: f64, max_range: f64) -> Vec<Step> {
    let lo = values(lower);
    let range = lo
        .iter()
        .zip(values(upper))
        .map(|(l, u)| (u - l).max(EPS_THRESHOLD))
        .collect();
    vec![
        Step::Sub(lo),
        Step::Div(range),
        Step::Mul(max_range - min_range),
        Step::Add(min_range),
    ]
}

/// The steps for each network input, in graph-input order.
fn plan(normalizer: &Normalizer, inputs: usize) -> Result<Vec<Vec<Step>>> {
    let single = |steps: Vec<Step>| -> Result<Vec<Vec<Step>>> {
        if inputs == 1 {
            Ok(vec![steps])
        } else {
            Err(Error::Format(format!(
                "cannot bake the {} normalizer: it normalizes one input but the network has {inputs}",
                normalizer.type_name()
            )))
        }
    };
    let per_input = |n: usize| -> Result<()> {
        if n == inputs {
            Ok(())
        } else {
            Err(Error::Format(format!(
                "cannot bake the {} normalizer: it has statistics for {n} input(s) but the network has {inputs}",
                normalizer.type_name()
            )))
        }
    };
    match normalizer {
        Normalizer::Standardize { features, .. } => single(standardize(features)),
        Normalizer::MinMax {
            target_min,
            target_max,
            features,
            ..
        } => single(min_max(
            &features.first,
            &features.second,
            *target_min,
            *target_max,
        )),
        Normalizer::ImageMinMax {
            min_range,
            max_range,
            max_pixel_val,
        } => {
            let mut steps = vec![Step::DivScalar(*max_pixel_val)];
            if max_range - min_range != 1.0 {
                steps.push(Step::Mul(max_range - min_range));
            }
            if *min_range != 0.0 {
                steps.push(Step::Add(*min_range));
            }
            single(steps)
        }
        Normalizer::Other { type_name, .. } if type_name == "IMAGE_VGG16" => {
            single(vec![Step::Sub(VGG_MEAN_OFFSET.to_vec())])
        }
        Normalizer::MultiStandardize { inputs: stats, .. } => {
            per_input(stats.len())?;
            Ok(stats.iter().map(standardize).collect())
        }
        Normalizer::MultiMinMax {
            target_min,
            target_max,
            inputs: stats,
            ..
        } => {
            per_input(stats.len())?;
            Ok(stats
                .iter()
                .map(|s| min_max(&s.first, &s.second, *target_min, *target_max))
                .collect())
        }
        Normalizer::MultiHybrid {
            input_stats,
            global_input,
            per_input: strategies,
            ..
        } => (0..inputs as i32)
            .map(|i| {
                let strategy = strategies
                    .iter()
                    .find(|(k, _)| *k == i)
                    .map(|(_, s)| s)
                    .unwrap_or(global_input);
                let stats = input_stats.iter().find(|(k, _)| *k == i).map(|(_, s)| s);
                let missing = || {
                    Error::Format(format!(
                        "cannot bake the MULTI_HYBRID normalizer: input {i} has no matching statistics"
                    ))
                };
                match strategy {
                    HybridStrategy::None => Ok(Vec::new()),
                    HybridStrategy::Standardize => match stats {
                        Some(HybridStats::Standardize { mean, std }) => {
                            Ok(standardize(&StatsPair {
                                first: mean.clone(),
                                second: std.clone(),
                            }))
                        }
                        _ => Err(missing()),
                    },
                    HybridStrategy::MinMax {
                        min_range,
                        max_range,
                    } => match stats {
                        Some(HybridStats::MinMax { lower, upper }) => {
                            Ok(min_max(lower, upper, *min_range, *max_range))
                        }
                        _ => Err(missing()),
                    },
                }
            })
            .collect(),
        Normalizer::Custom { strategy_class, .. } => Err(Error::Format(format!(
            "cannot bake the normalizer: custom normalizer strategy {strategy_class} has unknown semantics"
        ))),
        Normalizer::Other { type_name, .. } => Err(Error::Format(format!(
            "cannot bake the normalizer: type {type_name} is not supported"
        ))),
        Normalizer::JavaSerialized { .. } => Err(Error::Format(
            "cannot bake the normalizer: it is a Java-serialized (DL4J 0.7) normalizer whose statistics are not decoded".into(),
        )),
    }
}

fn encode(dtype: DType, values: &[f64]) -> Vec<u8> {
    let mut data = Vec::with_capacity(values.len() * dtype.size());
    for &v in values {
        match dtype {
            DType::F64 => data.extend(v.to_le_bytes()),
            DType::F16 => data.extend(f16::from_f64(v).to_le_bytes()),
            DType::BF16 => data.extend(bf16::from_f64(v).to_le_bytes()),
            _ => data.extend((v as f32).to_le_bytes()),
        }
    }
    data
}

/// Prepends the archive's normalizer to `graph`, which must be [`crate::export::translate`]'s
/// output for `archive`.
pub fn bake(archive: &Archive, graph: &mut Graph) -> Result<()> {
    let normalizer = archive.normalizer.as_ref().ok_or_else(|| {
        Error::Format("cannot bake the normalizer: the model has no normalizer".into())
    })?;
    let plans = plan(normalizer, graph.inputs.len())?;
    let mut front = Vec::new();
    for (index, ((input, dtype, dims), steps)) in graph.inputs.iter().zip(&plans).enumerate() {
        if steps.is_empty() {
            continue;
        }
        let rank = dims.as_ref().map(Vec::len);
        let width = dims.as_ref().and_then(|d| match d.get(1) {
            Some(Dim::Fixed(n)) => Some(*n),
            _ => None,
        });
        let normalized = format!("{input}__normalized");
        for node in graph.nodes.iter_mut() {
            for i in node.inputs.iter_mut() {
                if i == input {
                    *i = normalized.clone();
                }
            }
        }
        let mut x = input.clone();
        let last = steps.len() - 1;
        for (k, step) in steps.iter().enumerate() {
            let (op, vals, per_feature) = match step {
                Step::Sub(v) => ("Sub", v.clone(), true),
                Step::Div(v) => ("Div", v.clone(), true),
                Step::DivScalar(s) => ("Div", vec![*s], false),
                Step::Mul(s) => ("Mul", vec![*s], false),
                Step::Add(s) => ("Add", vec![*s], false),
            };
            let shape = if per_feature {
                if let Some(w) = width {
                    if w != vals.len() {
                        return Err(Error::Format(format!(
                            "cannot bake the {} normalizer: it has {} feature statistics but network input {input} has {w} features",
                            normalizer.type_name(),
                            vals.len()
                        )));
                    }
                }
                match rank {
                    Some(r) if r > 2 => {
                        let mut s = vec![vals.len()];
                        s.resize(r - 1, 1);
                        s
                    }
                    _ => vec![vals.len()],
                }
            } else {
                Vec::new()
            };
            let name = format!("normalizer_{index}_{k}_{}", op.to_ascii_lowercase());
            graph.constants.push(Constant {
                name: format!("{name}_value"),
                dtype: *dtype,
                shape,
                data: encode(*dtype, &vals),
            });
            let out = if k == last {
                normalized.clone()
            } else {
                name.clone()
            };
            front.push(Node {
                op: op.into(),
                name: format!("{name}_node"),
                inputs: vec![x, format!("{name}_value")],
                outputs: vec![out.clone()],
                attrs: Vec::new(),
            });
            x = out;
        }
    }
    front.append(&mut graph.nodes);
    graph.nodes = front;
    Ok(())
}
