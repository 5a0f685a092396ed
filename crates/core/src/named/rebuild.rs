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

fn usizes(v: &Value, what: &str) -> Result<Vec<usize>> {
    v.as_array()
        .ok_or_else(|| bad(format!("{what} is not a list")))?
        .iter()
        .map(|x| {
            x.as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| bad(format!("{what} holds {x}")))
        })
        .collect()
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
    let shape = usizes(&meta["shape"], "array shape")?;
    let alloc = meta["alloc"]
        .as_str()
        .and_then(AllocMode::from_name)
        .ok_or_else(|| bad(format!("allocation mode {}", meta["alloc"])))?;
    Ok(Nd4jArray {
        tensor: t.reshaped(shape)?,
        order: order(&meta["order"])?,
        alloc,
        shape_only: meta["shape_only"].as_bool().unwrap_or(false),
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
    let storage = match pmeta["storage"].as_str() {
        Some("array") => ParamsStorage::Array,
        Some("empty") => ParamsStorage::Empty { marker: false },
        Some("empty+marker") => ParamsStorage::Empty { marker: true },
        other => return Err(bad(format!("parameter storage {other:?}"))),
    };
    let n: usize = usizes(&pmeta["array"]["shape"], "parameter shape")?
        .iter()
        .product();
    // Each tensor is decoded on its own and placed; only the flat vector is whole.
    let mut flat = TensorData::zeros(dtype, n);
    let mut filled = vec![false; n];
    let order_list = json(file, meta::PARAM_ORDER)?;
    for seg in order_list
        .as_array()
        .ok_or_else(|| bad("param_order is not a list"))?
    {
        let name = seg["name"]
            .as_str()
            .ok_or_else(|| bad("param_order entry without name"))?;
        let shape = usizes(&seg["shape"], "parameter shape")?;
        let offset = seg["offset"]
            .as_u64()
            .ok_or_else(|| bad("param_order offset"))? as usize;
        let len: usize = shape.iter().product();
        let t = tensor(file, name)?;
        check(&t, dtype, &shape)?;
        if offset + len > n || filled[offset..offset + len].iter().any(|&f| f) {
            return Err(bad(format!(
                "tensor {name:?} overlaps another or lies outside the {n} parameters"
            )));
        }
        filled[offset..offset + len]
            .iter_mut()
            .for_each(|f| *f = true);
        let src = decode_le(dtype, t.data);
        insert_segment(
            &mut flat,
            std::slice::from_ref(&(offset..offset + len)),
            &shape,
            order(&seg["order"])?,
            &src,
        )?;
    }
    if let Some(hole) = filled.iter().position(|f| !f) {
        return Err(bad(format!("parameter {hole} is in no tensor")));
    }
    drop(filled);
    let params = nd4j_array(Tensor::vector(flat), &pmeta["array"])?;

    // Updater state.
    let umeta = json(file, meta::UPDATER)?;
    let updater_state = if umeta.is_null() {
        None
    } else {
        let udtype = umeta["dtype"]
            .as_str()
            .and_then(|d| DType::ALL.into_iter().find(|x| x.short_name() == d))
            .ok_or_else(|| bad("updater dtype"))?;
        let len = umeta["state_len"]
            .as_u64()
            .ok_or_else(|| bad("updater state_len"))? as usize;
        let data = match umeta["tensors"].as_str() {
            Some("flat") => {
                let t = tensor(file, "updater.flat")?;
                check(&t, udtype, &[len])?;
                decode_le(udtype, t.data)
            }
            Some("pieces") => scatter_state(file, &config, &params, &order_list, udtype, len)?,
            other => return Err(bad(format!("updater tensors {other:?}"))),
        };
        Some(nd4j_array(Tensor::vector(data), &umeta["array"])?)
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
    order_list: &Value,
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
            if r.end > len || filled[r.clone()].iter().any(|&f| f) {
                return Err(bad(format!("updater tensor {name:?} overlaps another")));
            }
            filled[r.clone()].iter_mut().for_each(|f| *f = true);
        }
        insert_segment(&mut state, runs, shape, ord, &decode_le(dtype, t.data))
    };
    for seg in order_list.as_array().into_iter().flatten() {
        let name = seg["name"].as_str().unwrap_or_default();
        let shape = usizes(&seg["shape"], "parameter shape")?;
        let offset = seg["offset"].as_u64().unwrap_or_default() as usize;
        let n: usize = shape.iter().product();
        for (piece, runs) in ul.piece_runs(offset, n)? {
            put(
                &format!("updater.{name}.{piece}"),
                &shape,
                order(&seg["order"])?,
                &runs,
            )?;
        }
    }
    for b in ul.blocks.iter().filter(|b| b.detached.is_some()) {
        let name = b.detached.as_ref().expect("filtered");
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
    let ty = m["type"].as_str().ok_or_else(|| bad("normalizer type"))?;
    let array = |name: &str| -> Result<Nd4jArray> {
        let v = tensor(file, &format!("normalizer.{name}"))?;
        let dtype = v
            .dtype
            .ok_or_else(|| bad(format!("normalizer.{name} has an unsupported dtype")))?;
        let t = Tensor::new(v.shape.to_vec(), decode_le(dtype, v.data))?;
        nd4j_array(t, &m["arrays"][name])
    };
    let pair = |prefix: &str, a: &str, b: &str| -> Result<StatsPair> {
        Ok(StatsPair {
            first: array(&format!("{prefix}{a}"))?,
            second: array(&format!("{prefix}{b}"))?,
        })
    };
    let fit_label = m["fit_label"].as_bool().unwrap_or(false);
    let raw = || -> Result<Vec<u8>> { Ok(tensor(file, "normalizer.raw")?.data.to_vec()) };
    let count = |v: &Value| -> Result<Option<usize>> {
        match v {
            Value::Null => Ok(None),
            v => v
                .as_u64()
                .map(|n| Some(n as usize))
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
                    min_range: num(&r[0])?,
                    max_range: num(&r[1])?,
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
            target_min: num(&m["target_min"])?,
            target_max: num(&m["target_max"])?,
            features: pair("feature_", "min", "max")?,
            labels: fit_label
                .then(|| pair("label_", "min", "max"))
                .transpose()?,
        },
        "IMAGE_MIN_MAX" => Normalizer::ImageMinMax {
            min_range: num(&m["min_range"])?,
            max_range: num(&m["max_range"])?,
            max_pixel_val: num(&m["max_pixel_val"])?,
        },
        "MULTI_STANDARDIZE" => Normalizer::MultiStandardize {
            inputs: pairs("input", count(&m["inputs"])?.unwrap_or(0), "mean", "std")?,
            outputs: count(&m["outputs"])?
                .map(|n| pairs("output", n, "mean", "std"))
                .transpose()?,
        },
        "MULTI_MIN_MAX" => Normalizer::MultiMinMax {
            target_min: num(&m["target_min"])?,
            target_max: num(&m["target_max"])?,
            inputs: pairs("input", count(&m["inputs"])?.unwrap_or(0), "min", "max")?,
            outputs: count(&m["outputs"])?
                .map(|n| pairs("output", n, "min", "max"))
                .transpose()?,
        },
        "MULTI_HYBRID" => {
            let stats = |side: &str, v: &Value| -> Result<Vec<(i32, HybridStats)>> {
                v.as_array()
                    .ok_or_else(|| bad("hybrid stats"))?
                    .iter()
                    .map(|e| {
                        let i = e[0].as_i64().ok_or_else(|| bad("hybrid index"))? as i32;
                        let prefix = format!("{side}{i}.");
                        let s = match e[1].as_str() {
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
                            e[0].as_i64().ok_or_else(|| bad("hybrid index"))? as i32,
                            strategy(&e[1])?,
                        ))
                    })
                    .collect()
            };
            Normalizer::MultiHybrid {
                input_stats: stats("input", &m["input_stats"])?,
                output_stats: stats("output", &m["output_stats"])?,
                global_input: strategy(&m["global_input"])?,
                global_output: strategy(&m["global_output"])?,
                per_input: per(&m["per_input"])?,
                per_output: per(&m["per_output"])?,
            }
        }
        "CUSTOM" => Normalizer::Custom {
            strategy_class: m["strategy_class"]
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
