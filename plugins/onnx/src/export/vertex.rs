//! ComputationGraph vertices (spec §12). Masks do not exist in the exported graph, so the
//! mask-aware vertices (LastTimeStep, ReverseTimeSeries) take the unmasked path: the last step,
//! the whole sequence reversed.

use std::collections::HashMap;

use dl4j_core::config::Node as NetNode;
use serde_json::Value as Json;

use super::{batch, layer_op, preprocess, Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::{Attr, Dim};

pub fn apply(
    b: &mut Builder,
    node: &NetNode,
    ins: &[Value],
    values: &HashMap<String, Value>,
) -> Translated {
    let vt = node.vertex_type.as_deref().unwrap_or("?");
    let body = node.body;
    let one = || -> Result<&Value, String> {
        match ins {
            [x] => Ok(x),
            _ => Err(format!("{vt} takes one input, not {}", ins.len())),
        }
    };
    let num = |key: &str| body.get(key).and_then(Json::as_f64);
    let int = |key: &str| body.get(key).and_then(Json::as_i64);
    match vt {
        // Frozen only matters for training: a FrozenVertex computes what it wraps.
        "FrozenVertex" if node.layer.is_none() => {
            let inner = body
                .get("underlying")
                .ok_or("FrozenVertex without underlying")?;
            let inner = NetNode::vertex(&node.name, inner)?;
            apply(b, &inner, ins, values)
        }
        "LayerVertex" | "FrozenVertex" => {
            let layer = node
                .layer
                .as_ref()
                .ok_or_else(|| format!("{vt} without a layer"))?;
            let mut x = one()?.clone();
            if let Some(p) = body.get("preProcessor").filter(|p| !p.is_null()) {
                x = preprocess::apply(b, p, &x)?;
            }
            layer_op(
                b,
                &LayerCtx {
                    prefix: &node.name,
                    layer,
                },
                &x,
            )
        }
        "PreprocessorVertex" => {
            let p = body
                .get("preProcessor")
                .filter(|p| !p.is_null())
                .ok_or("PreprocessorVertex without preProcessor")?;
            preprocess::apply(b, p, one()?)
        }
        "MergeVertex" => merge(b, ins, int("mergeAxis")),
        "ElementWiseVertex" => elementwise(b, ins, body.get("op").and_then(Json::as_str)),
        "SubsetVertex" => {
            let x = one()?;
            let (from, to) = (
                int("from").ok_or("SubsetVertex without from")?,
                int("to").ok_or("SubsetVertex without to")?,
            );
            // An inclusive, non-empty range of feature indices; `end` exclusive.
            let end = to
                .checked_add(1)
                .filter(|_| from >= 0 && to >= from)
                .ok_or_else(|| format!("SubsetVertex range from {from} to {to} is not valid"))?;
            let width = (end - from) as usize;
            let st = b.ints(&[from]);
            let en = b.ints(&[end]);
            let ax = b.ints(&[1]);
            let y = b.op("Slice", &[&x.name, &st, &en, &ax], Vec::new());
            let mut dims = x.dims.clone();
            if let Some(d) = dims.get_mut(1) {
                *d = Dim::Fixed(width);
            }
            Ok(Value::new(y, x.kind, dims))
        }
        "StackVertex" => {
            // Concatenation along the batch axis (equal time lengths: no zero padding needed).
            let first = ins.first().ok_or("StackVertex without inputs")?;
            let names: Vec<&str> = ins.iter().map(|v| v.name.as_str()).collect();
            let y = b.op("Concat", &names, vec![("axis", Attr::Int(0))]);
            let mut dims = first.dims.clone();
            if let Some(d) = dims.first_mut() {
                *d = Dim::Unknown;
            }
            Ok(Value::new(y, first.kind, dims))
        }
        "UnstackVertex" => {
            let x = one()?;
            let from = int("from").ok_or("UnstackVertex without from")?;
            let size = int("stackSize")
                .filter(|&s| s > 0)
                .ok_or("UnstackVertex without stackSize")?;
            if !(0..size).contains(&from) {
                return Err(format!(
                    "UnstackVertex from {from} is outside the stack of {size}"
                ));
            }
            // step = mb / stackSize; rows [from·step, (from+1)·step).
            let mb = b.shape_slice(&x.name, 0, 1);
            let sz = b.ints(&[size]);
            let step = b.op("Div", &[&mb, &sz], Vec::new());
            let f = b.ints(&[from]);
            let f1 = b.ints(&[from + 1]);
            let st = b.op("Mul", &[&step, &f], Vec::new());
            let en = b.op("Mul", &[&step, &f1], Vec::new());
            let ax = b.ints(&[0]);
            let y = b.op("Slice", &[&x.name, &st, &en, &ax], Vec::new());
            let mut dims = x.dims.clone();
            if let Some(d) = dims.first_mut() {
                *d = Dim::Unknown;
            }
            Ok(Value::new(y, x.kind, dims))
        }
        "ReshapeVertex" => reshape(b, one()?, body),
        "ScaleVertex" => {
            let x = one()?;
            let s = b.scalar(num("scaleFactor").ok_or("ScaleVertex without scaleFactor")?);
            Ok(Value::new(
                b.op("Mul", &[&x.name, &s], Vec::new()),
                x.kind,
                x.dims.clone(),
            ))
        }
        "ShiftVertex" => {
            let x = one()?;
            let s = b.scalar(num("shiftFactor").ok_or("ShiftVertex without shiftFactor")?);
            Ok(Value::new(
                b.op("Add", &[&x.name, &s], Vec::new()),
                x.kind,
                x.dims.clone(),
            ))
        }
        "L2Vertex" => {
            let [a, c] = ins else {
                return Err(format!("L2Vertex takes two inputs, not {}", ins.len()));
            };
            // ||a - b||2 over every axis but the batch: [mb, 1].
            let d = b.op("Sub", &[&a.name, &c.name], Vec::new());
            let flat = b.op("Flatten", &[&d], vec![("axis", Attr::Int(1))]);
            let sq = b.op("Mul", &[&flat, &flat], Vec::new());
            let s = b.reduce("ReduceSum", &sq, &[1], true);
            let y = b.op("Sqrt", &[&s], Vec::new());
            Ok(Value::new(
                y,
                Kind::FeedForward,
                vec![batch(), Dim::Fixed(1)],
            ))
        }
        "L2NormalizeVertex" => {
            let x = one()?;
            let rank = x.dims.len() as i64;
            if x.kind == Kind::Any || rank < 2 {
                return Err("L2NormalizeVertex needs an input of known rank".into());
            }
            let axes: Vec<i64> = match body.get("dimension").and_then(Json::as_array) {
                Some(a) if !a.is_empty() => a.iter().filter_map(Json::as_i64).collect(),
                _ => (1..rank).collect(),
            };
            let eps = num("eps").unwrap_or(1e-8);
            // x / max(||x||2, eps)
            let sq = b.op("Mul", &[&x.name, &x.name], Vec::new());
            let s = b.reduce("ReduceSum", &sq, &axes, true);
            let n = b.op("Sqrt", &[&s], Vec::new());
            let e = b.scalar(eps);
            let den = b.op("Max", &[&n, &e], Vec::new());
            let y = b.op("Div", &[&x.name, &den], Vec::new());
            Ok(Value::new(y, x.kind, x.dims.clone()))
        }
        "PoolHelperVertex" => {
            // Drops the first row and column: x[:, :, 1:, 1:].
            let x = one()?;
            let st = b.ints(&[1, 1]);
            let en = b.ints(&[i64::MAX, i64::MAX]);
            let ax = b.ints(&[2, 3]);
            let y = b.op("Slice", &[&x.name, &st, &en, &ax], Vec::new());
            let mut dims = x.dims.clone();
            for d in dims.iter_mut().skip(2) {
                if let Dim::Fixed(n) = d {
                    *d = Dim::Fixed(n.saturating_sub(1));
                }
            }
            Ok(Value::new(y, x.kind, dims))
        }
        "DuplicateToTimeSeriesVertex" => {
            let x = one()?;
            let src_name = body
                .get("inputName")
                .and_then(Json::as_str)
                .ok_or("DuplicateToTimeSeriesVertex without inputName")?;
            let src = values
                .get(src_name)
                .ok_or_else(|| format!("DuplicateToTimeSeriesVertex: no input {src_name:?}"))?;
            let t_axis = if matches!(src.kind, Kind::Rnn { nwc: true }) {
                1
            } else {
                2
            };
            // [mb, C] -> [mb, C, 1] -> broadcast to [mb, C, T].
            let ax = b.ints(&[2]);
            let u = b.op("Unsqueeze", &[&x.name, &ax], Vec::new());
            let t = b.shape_slice(&src.name, t_axis, t_axis + 1);
            let ones = b.ints(&[1, 1]);
            let shape = b.op("Concat", &[&ones, &t], vec![("axis", Attr::Int(0))]);
            let y = b.op("Expand", &[&u, &shape], Vec::new());
            let c = x.dims.get(1).cloned().unwrap_or(Dim::Unknown);
            Ok(Value::new(
                y,
                Kind::Rnn { nwc: false },
                vec![batch(), c, Dim::Named("time".into())],
            ))
        }
        "LastTimeStepVertex" => {
            let x = one()?;
            let nwc = matches!(x.kind, Kind::Rnn { nwc: true });
            let idx = b.ints(&[-1]);
            let g = b.op(
                "Gather",
                &[&x.name, &idx],
                vec![("axis", Attr::Int(if nwc { 1 } else { 2 }))],
            );
            let y = b.op("Flatten", &[&g], vec![("axis", Attr::Int(1))]);
            let c = x
                .dims
                .get(if nwc { 2 } else { 1 })
                .cloned()
                .unwrap_or(Dim::Unknown);
            Ok(Value::new(y, Kind::FeedForward, vec![batch(), c]))
        }
        "ReverseTimeSeriesVertex" => {
            let x = one()?;
            let axis = if matches!(x.kind, Kind::Rnn { nwc: true }) {
                1
            } else {
                2
            };
            let st = b.ints(&[-1]);
            let en = b.ints(&[i64::MIN]);
            let ax = b.ints(&[axis]);
            let step = b.ints(&[-1]);
            let y = b.op("Slice", &[&x.name, &st, &en, &ax, &step], Vec::new());
            Ok(Value::new(y, x.kind, x.dims.clone()))
        }
        _ => Err(format!("{vt} is not translated to ONNX yet")),
    }
}

/// Concatenation along `mergeAxis` (1 unless DL4J set it for NHWC / NWC inputs).
fn merge(b: &mut Builder, ins: &[Value], axis: Option<i64>) -> Translated {
    if let [x] = ins {
        return Ok(x.clone());
    }
    let first = ins.first().ok_or("MergeVertex without inputs")?;
    let axis = axis.unwrap_or(1);
    let names: Vec<&str> = ins.iter().map(|v| v.name.as_str()).collect();
    let y = b.op("Concat", &names, vec![("axis", Attr::Int(axis))]);
    let mut dims = first.dims.clone();
    if let Some(d) = dims.get_mut(axis as usize) {
        // Unknown unless every input's size is known (and the sum is representable).
        let total: Option<usize> =
            ins.iter()
                .try_fold(0usize, |acc, v| match v.dims.get(axis as usize) {
                    Some(Dim::Fixed(n)) => acc.checked_add(*n),
                    _ => None,
                });
        *d = total.map_or(Dim::Unknown, Dim::Fixed);
    }
    Ok(Value::new(y, first.kind, dims))
}

/// Add, Subtract, Product, Average, Max over the inputs (ONNX broadcasting, as DL4J's).
fn elementwise(b: &mut Builder, ins: &[Value], op: Option<&str>) -> Translated {
    let (first, rest) = ins
        .split_first()
        .ok_or("ElementWiseVertex without inputs")?;
    let op = op.unwrap_or("Add");
    let binary = match op {
        "Add" | "Average" => "Add",
        "Product" => "Mul",
        "Max" => "Max",
        "Subtract" => {
            let [a, c] = ins else {
                return Err(format!("Subtract takes two inputs, not {}", ins.len()));
            };
            let y = b.op("Sub", &[&a.name, &c.name], Vec::new());
            return Ok(Value::new(y, a.kind, a.dims.clone()));
        }
        other => return Err(format!("ElementWiseVertex op {other} is not translated")),
    };
    // Chained binary ops: the variadic forms lack f64 kernels in some runtimes.
    let mut acc = first.name.clone();
    for v in rest {
        acc = b.op(binary, &[&acc, &v.name], Vec::new());
    }
    if op == "Average" && ins.len() > 1 {
        let n = b.scalar(ins.len() as f64);
        acc = b.op("Div", &[&acc, &n], Vec::new());
    }
    Ok(Value::new(acc, first.kind, first.dims.clone()))
}

/// ReshapeVertex: `newShape` (batch included) in `'c'` or `'f'` order.
fn reshape(b: &mut Builder, x: &Value, body: &Json) -> Translated {
    let shape: Vec<i64> = body
        .get("newShape")
        .and_then(Json::as_array)
        .ok_or("ReshapeVertex without newShape")?
        .iter()
        .map(|v| v.as_i64().ok_or("ReshapeVertex: non-integer newShape"))
        .collect::<Result<_, _>>()?;
    let order = body
        .get("reshapeOrder")
        .and_then(Json::as_str)
        .unwrap_or("c");
    let y = if order.eq_ignore_ascii_case("f") {
        // f-order reshape = reverse axes, c-order reshape to the reversed shape, reverse back.
        let rank_in = x.dims.len();
        if x.kind == Kind::Any || rank_in == 0 {
            return Err("an f-order ReshapeVertex needs an input of known rank".into());
        }
        let rev_in: Vec<i64> = (0..rank_in as i64).rev().collect();
        let t = b.op("Transpose", &[&x.name], vec![("perm", Attr::Ints(rev_in))]);
        let rs: Vec<i64> = shape.iter().rev().copied().collect();
        let s = b.ints(&rs);
        let r = b.op("Reshape", &[&t, &s], Vec::new());
        let rev_out: Vec<i64> = (0..shape.len() as i64).rev().collect();
        b.op("Transpose", &[&r], vec![("perm", Attr::Ints(rev_out))])
    } else {
        let s = b.ints(&shape);
        b.op("Reshape", &[&x.name, &s], Vec::new())
    };
    let kind = match shape.len() {
        2 => Kind::FeedForward,
        3 => Kind::Rnn { nwc: false },
        4 => Kind::Cnn { nhwc: false },
        5 => Kind::Cnn3d { ndhwc: false },
        _ => Kind::Any,
    };
    let dims = shape
        .iter()
        .map(|&d| {
            if d > 0 {
                Dim::Fixed(d as usize)
            } else {
                Dim::Unknown
            }
        })
        .collect();
    Ok(Value::new(y, kind, dims))
}
