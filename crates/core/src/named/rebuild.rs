//! Named tensors plus metadata written by `flatten` -> the exact DL4J archive.
//!
//! The metadata names every stretch of the flat parameter vector (`dl4j.param_order`), so the
//! parameters are put back without re-deriving anything; updater pieces are scattered back
//! through the updater layout the configuration implies, and every position must be filled
//! exactly once.

use std::ops::Range;

use serde_json::Value;

use super::le::decode_le;
use super::{meta, TensorSource, TensorView};
use crate::archive::{Archive, Origin, ParamsStorage};
use crate::config::{Charset, Configuration};
use crate::error::{Error, Result};
use crate::layout::{insert_segment, ParamLayout};
use crate::nd4j::{AllocMode, Encoding, Nd4jArray};
use crate::normalizer::{HybridStats, HybridStrategy, Normalizer, StatsPair};
use crate::tensor::{DType, Order, Tensor, TensorData};
use crate::updater::UpdaterLayout;

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Format(format!("file written from a DL4J model: {msg}"))
}

fn json(file: &dyn TensorSource, key: &str) -> Result<Value> {
    let text = file
        .metadata(key)
        .ok_or_else(|| bad(format!("metadata lacks {key}")))?;
    serde_json::from_str(text).map_err(|e| bad(format!("metadata {key}: {e}")))
}

fn tensor<'f>(file: &'f dyn TensorSource, name: &str) -> Result<TensorView<'f>> {
    file.tensor(name)
        .ok_or_else(|| bad(format!("tensor {name:?} is missing")))
}

/// `v[i]` as `serde_json`'s `Index` reads it: a missing key or index, or a value of another
/// kind, is `null`.
fn at<I: serde_json::value::Index>(v: &Value, i: I) -> &Value {
    v.get(i).unwrap_or(&Value::Null)
}

fn usizes(v: &Value, what: &str) -> Result<Vec<usize>> {
    v.as_array()
        .ok_or_else(|| bad(format!("{what} is not a list")))?
        .iter()
        .map(|x| {
            x.as_u64()
                .and_then(|x| usize::try_from(x).ok())
                .ok_or_else(|| bad(format!("{what} holds {x}")))
        })
        .collect()
}

/// Number of elements of `shape`, refusing one that overflows.
fn element_count(shape: &[usize], what: &str) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("{what} {shape:?} is too large")))
}

/// One `dl4j.param_order` entry: a stretch of the flat parameter vector stored as one tensor.
struct ParamSegment<'m> {
    name: &'m str,
    shape: Vec<usize>,
    offset: usize,
    /// Elements of `shape`.
    len: usize,
    order: Order,
}

fn param_segment(seg: &Value) -> Result<ParamSegment<'_>> {
    let name = at(seg, "name")
        .as_str()
        .ok_or_else(|| bad("param_order entry without name"))?;
    let shape = usizes(at(seg, "shape"), "parameter shape")?;
    let offset = at(seg, "offset")
        .as_u64()
        .and_then(|o| usize::try_from(o).ok())
        .ok_or_else(|| bad(format!("param_order offset of {name:?}")))?;
    let len = element_count(&shape, &format!("shape of tensor {name:?}"))?;
    Ok(ParamSegment {
        name,
        shape,
        offset,
        len,
        order: order(at(seg, "order"))?,
    })
}

fn order(v: &Value) -> Result<Order> {
    match v.as_str() {
        Some("c") => Ok(Order::C),
        Some("f") => Ok(Order::F),
        _ => Err(bad(format!("order {v}"))),
    }
}

fn num(v: &Value) -> Result<f64> {
    match v {
        Value::String(s) => s.parse::<f64>().map_err(|_| bad(format!("number {s:?}"))),
        v => v.as_f64().ok_or_else(|| bad(format!("number {v}"))),
    }
}

/// An ND4J array: values from a tensor, layout flags from its metadata.
fn nd4j_array(t: Tensor, meta: &Value) -> Result<Nd4jArray> {
    let shape = usizes(at(meta, "shape"), "array shape")?;
    let alloc = at(meta, "alloc")
        .as_str()
        .and_then(AllocMode::from_name)
        .ok_or_else(|| bad(format!("allocation mode {}", at(meta, "alloc"))))?;
    Ok(Nd4jArray {
        tensor: t.reshaped(shape)?,
        order: order(at(meta, "order"))?,
        alloc,
        shape_only: at(meta, "shape_only").as_bool().unwrap_or(false),
    })
}

fn check(t: &TensorView, dtype: DType, shape: &[usize]) -> Result<()> {
    if t.dtype != Some(dtype) || t.shape != shape {
        return Err(bad(format!(
            "tensor {:?} is {:?} {:?}, expected {} {:?}",
            t.name, t.dtype, t.shape, dtype, shape
        )));
    }
    Ok(())
}

/// Rebuilds the archive `flatten` described; `format` names the source format in its origin.
pub fn rebuild(file: &dyn TensorSource, format: &str) -> Result<Archive> {
    let text = file
        .metadata(meta::CONFIGURATION)
        .ok_or_else(|| bad("metadata lacks the configuration"))?;
    let config = match file.metadata(meta::CHARSET) {
        Some("ISO-8859-1") => {
            let bytes: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
            let c = Configuration::from_bytes(&bytes)?;
            if c.charset() != Charset::Latin1 {
                return Err(bad("configuration charset does not match its text"));
            }
            c
        }
        _ => Configuration::parse(text)?,
    };
    let dtype = file
        .metadata(meta::DTYPE)
        .and_then(|d| DType::ALL.into_iter().find(|x| x.short_name() == d))
        .ok_or_else(|| bad("metadata lacks the dtype"))?;
    let encoding = file
        .metadata(meta::ENCODING)
        .and_then(Encoding::from_name)
        .ok_or_else(|| bad("metadata lacks the ND4J encoding"))?;

    // Parameters.
    let pmeta = json(file, meta::PARAMS)?;
    let storage = match at(&pmeta, "storage").as_str() {
        Some("array") => ParamsStorage::Array,
        Some("empty") => ParamsStorage::Empty { marker: false },
        Some("empty+marker") => ParamsStorage::Empty { marker: true },
        other => return Err(bad(format!("parameter storage {other:?}"))),
    };
    let n = element_count(
        &usizes(at(at(&pmeta, "array"), "shape"), "parameter shape")?,
        "parameter shape",
    )?;
    let order_list = json(file, meta::PARAM_ORDER)?;
    let segments = order_list
        .as_array()
        .ok_or_else(|| bad("param_order is not a list"))?
        .iter()
        .map(param_segment)
        .collect::<Result<Vec<_>>>()?;
    // Every tensor is there as described, and together they hold exactly the n parameters
    // (so nothing is allocated for a count the file does not back with data).
    let tensors = segments
        .iter()
        .map(|seg| {
            let t = tensor(file, seg.name)?;
            check(&t, dtype, &seg.shape)?;
            Ok(t)
        })
        .collect::<Result<Vec<_>>>()?;
    let covered = segments
        .iter()
        .try_fold(0usize, |acc, seg| acc.checked_add(seg.len))
        .ok_or_else(|| bad("param_order lists too many parameters"))?;
    if covered != n {
        return Err(bad(format!(
            "the tensors of param_order hold {covered} values for {n} parameters"
        )));
    }
    // Each tensor is decoded on its own and placed; only the flat vector is whole.
    let mut flat = TensorData::zeros(dtype, n);
    let mut filled = vec![false; n];
    for (seg, t) in segments.iter().zip(&tensors) {
        let misplaced = || {
            bad(format!(
                "tensor {:?} overlaps another or lies outside the {n} parameters",
                seg.name
            ))
        };
        let end = seg.offset.checked_add(seg.len).ok_or_else(misplaced)?;
        filled
            .get_mut(seg.offset..end)
            .filter(|slots| !slots.contains(&true))
            .ok_or_else(misplaced)?
            .fill(true);
        let src = decode_le(dtype, t.data);
        insert_segment(
            &mut flat,
            std::slice::from_ref(&(seg.offset..end)),
            &seg.shape,
            seg.order,
            &src,
        )?;
    }
    if let Some(hole) = filled.iter().position(|f| !f) {
        return Err(bad(format!("parameter {hole} is in no tensor")));
    }
    drop(filled);
    let params = nd4j_array(Tensor::vector(flat), at(&pmeta, "array"))?;

    // Updater state.
    let umeta = json(file, meta::UPDATER)?;
    let updater_state = if umeta.is_null() {
        None
    } else {
        let udtype = at(&umeta, "dtype")
            .as_str()
            .and_then(|d| DType::ALL.into_iter().find(|x| x.short_name() == d))
            .ok_or_else(|| bad("updater dtype"))?;
        let len = at(&umeta, "state_len")
            .as_u64()
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| bad("updater state_len"))?;
        let data = match at(&umeta, "tensors").as_str() {
            Some("flat") => {
                let t = tensor(file, "updater.flat")?;
                check(&t, udtype, &[len])?;
                decode_le(udtype, t.data)
            }
            Some("pieces") => scatter_state(file, &config, &params, &segments, udtype, len)?,
            other => return Err(bad(format!("updater tensors {other:?}"))),
        };
        Some(nd4j_array(Tensor::vector(data), at(&umeta, "array"))?)
    };

    // Normalizer.
    let nmeta = json(file, meta::NORMALIZER)?;
    let normalizer = if nmeta.is_null() {
        None
    } else {
        Some(normalizer(file, &nmeta)?)
    };

    let raw = |prefix: &str, key: &str| -> Result<Vec<(String, Vec<u8>)>> {
        let names = json(file, key)?;
        names
            .as_array()
            .ok_or_else(|| bad(format!("{key} is not a list")))?
            .iter()
            .map(|k| {
                let k = k
                    .as_str()
                    .ok_or_else(|| bad(format!("{key} holds a non-string")))?;
                let t = tensor(file, &format!("{prefix}{k}"))?;
                check(&t, DType::U8, &[t.data.len()])?;
                Ok((k.to_string(), t.data.to_vec()))
            })
            .collect()
    };
    let objects = raw("objects.", meta::OBJECTS)?;
    let unknown_entries = raw("entries.", meta::ENTRIES)?;

    Ok(Archive {
        config,
        params,
        params_storage: storage,
        updater_state,
        normalizer,
        objects,
        unknown_entries,
        origin: Origin {
            format: format.into(),
            encoding: Some(encoding),
            dtype,
        },
    })
}

/// Puts `updater.<segment>.<piece>` tensors back where the updater layout says they live.
fn scatter_state(
    file: &dyn TensorSource,
    config: &Configuration,
    params: &Nd4jArray,
    segments: &[ParamSegment],
    dtype: DType,
    len: usize,
) -> Result<TensorData> {
    let layout = ParamLayout::build(config, params.tensor.len())?;
    let ul = UpdaterLayout::build(config, &layout, len)?;
    let mut state = TensorData::zeros(dtype, len);
    let mut filled = vec![false; len];
    let mut put = |name: &str, shape: &[usize], ord: Order, runs: &[Range<usize>]| -> Result<()> {
        let t = tensor(file, name)?;
        check(&t, dtype, shape)?;
        for r in runs {
            let slots = filled
                .get_mut(r.clone())
                .filter(|slots| !slots.contains(&true))
                .ok_or_else(|| {
                    bad(format!(
                        "updater tensor {name:?} overlaps another or lies outside the {len} state values"
                    ))
                })?;
            slots.fill(true);
        }
        insert_segment(&mut state, runs, shape, ord, &decode_le(dtype, t.data))
    };
    // The segments were checked to lie within the parameters.
    for seg in segments {
        for (piece, runs) in ul.piece_runs(seg.offset, seg.len)? {
            put(
                &format!("updater.{}.{piece}", seg.name),
                &seg.shape,
                seg.order,
                &runs,
            )?;
        }
    }
    for (b, name) in ul
        .blocks
        .iter()
        .filter_map(|b| b.detached.as_ref().map(|name| (b, name)))
    {
        for (k, piece) in b.pieces.iter().enumerate() {
            let start = b.state_start + k * b.param_len;
            put(
                &format!("updater.{name}.{piece}"),
                &[b.param_len],
                Order::C,
                std::slice::from_ref(&(start..start + b.param_len)),
            )?;
        }
    }
    if let Some(hole) = filled.iter().position(|f| !f) {
        return Err(bad(format!("updater state value {hole} is in no tensor")));
    }
    Ok(state)
}

fn normalizer(file: &dyn TensorSource, m: &Value) -> Result<Normalizer> {
    let ty = at(m, "type")
        .as_str()
        .ok_or_else(|| bad("normalizer type"))?;
    let array = |name: &str| -> Result<Nd4jArray> {
        let v = tensor(file, &format!("normalizer.{name}"))?;
        let dtype = v
            .dtype
            .ok_or_else(|| bad(format!("normalizer.{name} has an unsupported dtype")))?;
        let t = Tensor::new(v.shape.to_vec(), decode_le(dtype, v.data))?;
        nd4j_array(t, at(at(m, "arrays"), name))
    };
    let pair = |prefix: &str, a: &str, b: &str| -> Result<StatsPair> {
        Ok(StatsPair {
            first: array(&format!("{prefix}{a}"))?,
            second: array(&format!("{prefix}{b}"))?,
        })
    };
    let fit_label = at(m, "fit_label").as_bool().unwrap_or(false);
    let raw = || -> Result<Vec<u8>> { Ok(tensor(file, "normalizer.raw")?.data.to_vec()) };
    let count = |v: &Value| -> Result<Option<usize>> {
        match v {
            Value::Null => Ok(None),
            v => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| bad(format!("count {v}"))),
        }
    };
    let pairs = |side: &str, n: usize, a: &str, b: &str| -> Result<Vec<StatsPair>> {
        (0..n).map(|i| pair(&format!("{side}{i}."), a, b)).collect()
    };
    let strategy = |v: &Value| -> Result<HybridStrategy> {
        match v {
            Value::String(s) if s == "NONE" => Ok(HybridStrategy::None),
            Value::String(s) if s == "STANDARDIZE" => Ok(HybridStrategy::Standardize),
            Value::Object(o) => {
                let r = o
                    .get("MIN_MAX")
                    .ok_or_else(|| bad(format!("strategy {v}")))?;
                Ok(HybridStrategy::MinMax {
                    min_range: num(at(r, 0))?,
                    max_range: num(at(r, 1))?,
                })
            }
            v => Err(bad(format!("strategy {v}"))),
        }
    };
    Ok(match ty {
        "STANDARDIZE" => Normalizer::Standardize {
            features: pair("feature_", "mean", "std")?,
            labels: fit_label
                .then(|| pair("label_", "mean", "std"))
                .transpose()?,
        },
        "MIN_MAX" => Normalizer::MinMax {
            target_min: num(at(m, "target_min"))?,
            target_max: num(at(m, "target_max"))?,
            features: pair("feature_", "min", "max")?,
            labels: fit_label
                .then(|| pair("label_", "min", "max"))
                .transpose()?,
        },
        "IMAGE_MIN_MAX" => Normalizer::ImageMinMax {
            min_range: num(at(m, "min_range"))?,
            max_range: num(at(m, "max_range"))?,
            max_pixel_val: num(at(m, "max_pixel_val"))?,
        },
        "MULTI_STANDARDIZE" => Normalizer::MultiStandardize {
            inputs: pairs("input", count(at(m, "inputs"))?.unwrap_or(0), "mean", "std")?,
            outputs: count(at(m, "outputs"))?
                .map(|n| pairs("output", n, "mean", "std"))
                .transpose()?,
        },
        "MULTI_MIN_MAX" => Normalizer::MultiMinMax {
            target_min: num(at(m, "target_min"))?,
            target_max: num(at(m, "target_max"))?,
            inputs: pairs("input", count(at(m, "inputs"))?.unwrap_or(0), "min", "max")?,
            outputs: count(at(m, "outputs"))?
                .map(|n| pairs("output", n, "min", "max"))
                .transpose()?,
        },
        "MULTI_HYBRID" => {
            let stats = |side: &str, v: &Value| -> Result<Vec<(i32, HybridStats)>> {
                v.as_array()
                    .ok_or_else(|| bad("hybrid stats"))?
                    .iter()
                    .map(|e| {
                        let i = at(e, 0)
                            .as_i64()
                            .and_then(|i| i32::try_from(i).ok())
                            .ok_or_else(|| bad("hybrid index"))?;
                        let prefix = format!("{side}{i}.");
                        let s = match at(e, 1).as_str() {
                            Some("STANDARDIZE") => HybridStats::Standardize {
                                mean: array(&format!("{prefix}mean"))?,
                                std: array(&format!("{prefix}std"))?,
                            },
                            Some("MIN_MAX") => HybridStats::MinMax {
                                lower: array(&format!("{prefix}min"))?,
                                upper: array(&format!("{prefix}max"))?,
                            },
                            _ => return Err(bad(format!("hybrid stats {e}"))),
                        };
                        Ok((i, s))
                    })
                    .collect()
            };
            let per = |v: &Value| -> Result<Vec<(i32, HybridStrategy)>> {
                v.as_array()
                    .ok_or_else(|| bad("hybrid strategies"))?
                    .iter()
                    .map(|e| {
                        Ok((
                            at(e, 0)
                                .as_i64()
                                .and_then(|i| i32::try_from(i).ok())
                                .ok_or_else(|| bad("hybrid index"))?,
                            strategy(at(e, 1))?,
                        ))
                    })
                    .collect()
            };
            Normalizer::MultiHybrid {
                input_stats: stats("input", at(m, "input_stats"))?,
                output_stats: stats("output", at(m, "output_stats"))?,
                global_input: strategy(at(m, "global_input"))?,
                global_output: strategy(at(m, "global_output"))?,
                per_input: per(at(m, "per_input"))?,
                per_output: per(at(m, "per_output"))?,
            }
        }
        "CUSTOM" => Normalizer::Custom {
            strategy_class: at(m, "strategy_class")
                .as_str()
                .ok_or_else(|| bad("custom strategy class"))?
                .to_string(),
            payload: raw()?,
        },
        "JAVA_SERIALIZED" => Normalizer::JavaSerialized { bytes: raw()? },
        other => Normalizer::Other {
            type_name: other.to_string(),
            payload: raw()?,
        },
    })
}

#[cfg(test)]
mod hostile_tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    /// Tensors (all f32) and metadata as a hostile file could declare them.
    struct Source {
        tensors: HashMap<String, (Vec<usize>, Vec<u8>)>,
        metadata: HashMap<String, String>,
    }

    impl TensorSource for Source {
        fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
            let (key, (shape, data)) = self.tensors.get_key_value(name)?;
            Some(TensorView {
                name: key,
                dtype: Some(DType::F32),
                shape,
                data,
            })
        }
        fn metadata(&self, key: &str) -> Option<&str> {
            self.metadata.get(key).map(String::as_str)
        }
    }

    fn source(param_shape: Value, param_order: Value) -> Source {
        let metadata = [
            (meta::CONFIGURATION, json!({ "confs": [] }).to_string()),
            (meta::DTYPE, "f32".into()),
            (meta::ENCODING, "modern".into()),
            (
                meta::PARAMS,
                json!({"storage": "array",
                       "array": {"shape": param_shape, "alloc": "MIXED_DATA_TYPES", "order": "c"}})
                .to_string(),
            ),
            (meta::PARAM_ORDER, param_order.to_string()),
        ];
        Source {
            tensors: HashMap::from([("x".to_string(), (vec![1], vec![0; 4]))]),
            metadata: metadata
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    fn error(file: &Source) -> String {
        match rebuild(file, "test") {
            Ok(_) => panic!("rebuilt a hostile file"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_offset_at_the_end_of_usize_is_an_error() {
        let order = json!([{"name": "x", "shape": [1], "offset": u64::MAX, "order": "c"}]);
        let e = error(&source(json!([1, 1]), order));
        assert!(e.contains("lies outside the 1 parameters"), "{e}");
    }

    #[test]
    fn a_parameter_count_no_tensor_backs_is_not_allocated() {
        let e = error(&source(json!([1u64 << 61]), json!([])));
        assert!(e.contains("hold 0 values for"), "{e}");
    }

    #[test]
    fn an_overflowing_tensor_shape_is_an_error() {
        let order =
            json!([{"name": "x", "shape": [1u64 << 32, 1u64 << 32, 2], "offset": 0, "order": "c"}]);
        let e = error(&source(json!([1, 1]), order));
        assert!(e.contains("is too large"), "{e}");
    }
}
