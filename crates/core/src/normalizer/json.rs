//! A JSON description of the common normalizers, for people and scripts:
//!
//! ```json
//! {"type": "STANDARDIZE", "mean": [0.5, 1.0], "std": [1.5, 2.0]}
//! {"type": "STANDARDIZE", "mean": [..], "std": [..], "label_mean": [..], "label_std": [..]}
//! {"type": "MIN_MAX", "min": [..], "max": [..], "target_min": 0.0, "target_max": 1.0}
//! {"type": "MIN_MAX", ..., "label_min": [..], "label_max": [..]}
//! {"type": "IMAGE_MIN_MAX", "min_range": 0.0, "max_range": 1.0, "max_pixel_val": 255.0}
//! ```
//!
//! Arrays are per-feature rows, stored as `[1, n]` arrays as DL4J does; `"dtype": "double"`
//! stores them as doubles (default `"float"`). `target_min`/`target_max` default to 0 and 1,
//! `min_range`/`max_range`/`max_pixel_val` to 0, 1 and 255 (DL4J's defaults).

use serde_json::{json, Map, Value};

use super::{Normalizer, StatsPair};
use crate::error::{Error, Result};
use crate::nd4j::{Encoding, Nd4jArray};
use crate::tensor::{Tensor, TensorData};

fn err(msg: impl Into<String>) -> Error {
    Error::Format(format!("normalizer JSON: {}", msg.into()))
}

fn array(
    obj: &Map<String, Value>,
    key: &str,
    double: bool,
    enc: Encoding,
) -> Result<Option<Nd4jArray>> {
    let Some(v) = obj.get(key) else {
        return Ok(None);
    };
    let vals = v
        .as_array()
        .ok_or_else(|| err(format!("\"{key}\" must be a list of numbers")))?
        .iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| err(format!("\"{key}\" holds a non-number: {x}")))
        })
        .collect::<Result<Vec<f64>>>()?;
    let n = vals.len();
    let data = if double {
        TensorData::F64(vals)
    } else {
        TensorData::F32(vals.into_iter().map(|x| x as f32).collect())
    };
    Ok(Some(Nd4jArray::new(Tensor::new(vec![1, n], data)?, enc)))
}

fn number(obj: &Map<String, Value>, key: &str, default: f64) -> Result<f64> {
    match obj.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| err(format!("\"{key}\" must be a number"))),
    }
}

/// Both arrays of a pair, or `None` when both are absent.
fn pair(
    obj: &Map<String, Value>,
    keys: (&str, &str),
    double: bool,
    enc: Encoding,
) -> Result<Option<StatsPair>> {
    match (
        array(obj, keys.0, double, enc)?,
        array(obj, keys.1, double, enc)?,
    ) {
        (Some(first), Some(second)) => {
            if first.tensor.len() != second.tensor.len() {
                return Err(err(format!(
                    "\"{}\" has {} values but \"{}\" has {}",
                    keys.0,
                    first.tensor.len(),
                    keys.1,
                    second.tensor.len()
                )));
            }
            Ok(Some(StatsPair { first, second }))
        }
        (None, None) => Ok(None),
        _ => Err(needs_both(keys)),
    }
}

/// Both arrays of a pair that must be there.
fn required_pair(
    obj: &Map<String, Value>,
    keys: (&str, &str),
    double: bool,
    enc: Encoding,
) -> Result<StatsPair> {
    pair(obj, keys, double, enc)?.ok_or_else(|| needs_both(keys))
}

fn needs_both(keys: (&str, &str)) -> Error {
    err(format!("needs both \"{}\" and \"{}\"", keys.0, keys.1))
}

impl Normalizer {
    /// Builds a normalizer from its JSON description; arrays use the given ND4J encoding.
    pub fn from_json(v: &Value, encoding: Encoding) -> Result<Normalizer> {
        let obj = v.as_object().ok_or_else(|| err("expected a JSON object"))?;
        let double = match obj.get("dtype").and_then(Value::as_str) {
            None | Some("float") => false,
            Some("double") => true,
            Some(d) => {
                return Err(err(format!(
                    "dtype {d:?} is neither \"float\" nor \"double\""
                )))
            }
        };
        let known = [
            "type",
            "dtype",
            "mean",
            "std",
            "label_mean",
            "label_std",
            "min",
            "max",
            "label_min",
            "label_max",
            "target_min",
            "target_max",
            "min_range",
            "max_range",
            "max_pixel_val",
        ];
        if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(err(format!("unknown key \"{k}\"")));
        }
        let ty = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| err("missing \"type\""))?;
        let n = match ty {
            "STANDARDIZE" => Normalizer::Standardize {
                features: required_pair(obj, ("mean", "std"), double, encoding)?,
                labels: pair(obj, ("label_mean", "label_std"), double, encoding)?,
            },
            "MIN_MAX" => Normalizer::MinMax {
                target_min: number(obj, "target_min", 0.0)?,
                target_max: number(obj, "target_max", 1.0)?,
                features: required_pair(obj, ("min", "max"), double, encoding)?,
                labels: pair(obj, ("label_min", "label_max"), double, encoding)?,
            },
            "IMAGE_MIN_MAX" => Normalizer::ImageMinMax {
                min_range: number(obj, "min_range", 0.0)?,
                max_range: number(obj, "max_range", 1.0)?,
                max_pixel_val: number(obj, "max_pixel_val", 255.0)?,
            },
            other => {
                return Err(err(format!(
                    "type {other:?}: only STANDARDIZE, MIN_MAX and IMAGE_MIN_MAX can be described in JSON; pass a normalizer.bin for others"
                )))
            }
        };
        Ok(n)
    }

    /// The JSON description (the format `from_json` reads) for STANDARDIZE, MIN_MAX and
    /// IMAGE_MIN_MAX; other kinds give their type, class and arrays by name.
    pub fn to_json(&self) -> Value {
        let values = |a: &Nd4jArray| Value::from(a.tensor.to_f64_vec());
        let dtype = |a: &Nd4jArray| match a.tensor.dtype() {
            crate::tensor::DType::F64 => "double",
            _ => "float",
        };
        match self {
            Normalizer::Standardize { features, labels } => {
                let mut m = json!({
                    "type": "STANDARDIZE",
                    "dtype": dtype(&features.first),
                    "mean": values(&features.first),
                    "std": values(&features.second),
                });
                // `m` is the object just built.
                if let (Some(l), Some(o)) = (labels, m.as_object_mut()) {
                    o.insert("label_mean".into(), values(&l.first));
                    o.insert("label_std".into(), values(&l.second));
                }
                m
            }
            Normalizer::MinMax {
                target_min,
                target_max,
                features,
                labels,
            } => {
                let mut m = json!({
                    "type": "MIN_MAX",
                    "dtype": dtype(&features.first),
                    "min": values(&features.first),
                    "max": values(&features.second),
                    "target_min": target_min,
                    "target_max": target_max,
                });
                // `m` is the object just built.
                if let (Some(l), Some(o)) = (labels, m.as_object_mut()) {
                    o.insert("label_min".into(), values(&l.first));
                    o.insert("label_max".into(), values(&l.second));
                }
                m
            }
            Normalizer::ImageMinMax {
                min_range,
                max_range,
                max_pixel_val,
            } => json!({
                "type": "IMAGE_MIN_MAX",
                "min_range": min_range,
                "max_range": max_range,
                "max_pixel_val": max_pixel_val,
            }),
            other => {
                let arrays: Map<String, Value> = other
                    .arrays()
                    .into_iter()
                    .map(|(name, a)| (name, values(a)))
                    .collect();
                json!({
                    "type": other.type_name(),
                    "class": other.class_name(),
                    "arrays": arrays,
                })
            }
        }
    }
}
