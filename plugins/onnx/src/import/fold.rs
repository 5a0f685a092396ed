//! Constant folding: nodes whose inputs are all known at conversion time are evaluated here, so
//! what reaches the layer matchers is weights and shapes, not the arithmetic exporters emit
//! around them (PyTorch's `Shape -> Gather -> Unsqueeze -> Concat -> Reshape` flatten, skl2onnx's
//! casts, `Constant` nodes, `ConstantOfShape` fills).
//!
//! `Shape` of network data folds too: a dimension known only at run time (the batch size)
//! becomes NaN and travels through `Gather`, `Concat` and the like as NaN; `Reshape` reads a NaN
//! entry as "this dimension of the input".

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use super::{attr_int, attr_ints, input, permutation, to_array, unsqueeze_axes, Cx};
use crate::proto::{Attr, ForeignNode};

fn axis(a: i64, rank: usize) -> Option<usize> {
    super::axis(a, rank).ok()
}

fn ints(a: &ArrayD<f64>) -> Option<Vec<i64>> {
    a.iter()
        .map(|&v| (v.is_finite() && v.fract() == 0.0).then_some(v as i64))
        .collect()
}

/// Axes of Squeeze/Unsqueeze/ReduceX: an attribute before opset 13, the second input after.
fn axes_of(cx: &Cx, n: &ForeignNode) -> Option<Option<Vec<i64>>> {
    if let Some(a) = attr_ints(n, "axes") {
        return Some(Some(a));
    }
    match input(n, 1) {
        Some(name) => cx.konst(name).and_then(ints).map(Some),
        None => Some(None),
    }
}

/// Largest constant (in elements) folding may create.
const MAX_FOLDED: usize = 1 << 26;

/// Evaluates `n` if every input is a constant (or a shape read from the network); returns
/// whether it did, or why its constant input is invalid for it.
pub fn try_fold(cx: &mut Cx, n: &ForeignNode) -> Result<bool, String> {
    check(cx, n)?;
    Ok(match fold(cx, n) {
        Some(values) if values.len() == n.outputs.len() => {
            for (name, v) in n.outputs.iter().zip(values) {
                cx.consts.insert(name.clone(), v);
            }
            true
        }
        _ => false,
    })
}

/// Axes attributes that are invalid for the constant they apply to (and would otherwise leave
/// the node unfolded, to fail as "a constant where DL4J needs the network's data").
fn check(cx: &Cx, n: &ForeignNode) -> Result<(), String> {
    if !(n.domain.is_empty() || n.domain == "ai.onnx") || !all_const(cx, n) {
        return Ok(());
    }
    let Some(x) = input(n, 0).and_then(|s| cx.konst(s)) else {
        return Ok(());
    };
    match n.op.as_str() {
        "Transpose" => {
            if let Some(p) = attr_ints(n, "perm") {
                permutation(&p, x.ndim())?;
            }
        }
        "Unsqueeze" => {
            if let Some(Some(axes)) = axes_of(cx, n) {
                unsqueeze_axes(&axes, x.ndim())?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn all_const(cx: &Cx, n: &ForeignNode) -> bool {
    n.inputs
        .iter()
        .filter(|s| !s.is_empty())
        .all(|s| cx.consts.contains_key(s))
}

fn fold(cx: &Cx, n: &ForeignNode) -> Option<Vec<ArrayD<f64>>> {
    if !(n.domain.is_empty() || n.domain == "ai.onnx") {
        return None;
    }
    if n.op == "Shape" {
        let sym = cx.net.sym(input(n, 0)?)?;
        let dims: Vec<f64> = sym
            .shape
            .iter()
            .map(|d| d.map_or(f64::NAN, |v| v as f64))
            .collect();
        let rank = dims.len() as i64;
        let start = axis_clamp(attr_int(n, "start", 0), rank);
        let end = axis_clamp(attr_int(n, "end", rank), rank);
        let dims = dims.get(start..end.max(start))?.to_vec();
        return Some(vec![
            ArrayD::from_shape_vec(IxDyn(&[dims.len()]), dims).ok()?
        ]);
    }
    if n.op == "Constant" {
        return match n.attrs.first().map(|(k, a)| (k.as_str(), a)) {
            Some(("value", Attr::Tensor(t))) => Some(vec![to_array(t).ok()?]),
            Some(("value_float", Attr::Float(v))) => Some(vec![scalar(*v as f64)]),
            Some(("value_int", Attr::Int(v))) => Some(vec![scalar(*v as f64)]),
            Some(("value_floats", Attr::Floats(v))) => {
                Some(vec![vector(v.iter().map(|&x| x as f64).collect())])
            }
            Some(("value_ints", Attr::Ints(v))) => {
                Some(vec![vector(v.iter().map(|&x| x as f64).collect())])
            }
            _ => None,
        };
    }
    if !all_const(cx, n) {
        return None;
    }
    let get = |i: usize| input(n, i).and_then(|s| cx.konst(s));
    let x = get(0);
    match n.op.as_str() {
        "Identity" | "Cast" | "CastLike" => Some(vec![x?.clone()]),
        "Dropout" => {
            let x = x?.clone();
            let mask = x.mapv(|_| 1.0);
            Some(if n.outputs.len() > 1 {
                vec![x, mask]
            } else {
                vec![x]
            })
        }
        "ConstantOfShape" => {
            let shape: Vec<usize> = ints(x?)?
                .into_iter()
                .map(usize::try_from)
                .collect::<Result<_, _>>()
                .ok()?;
            // A fill is only as large as the file allows weights to be; a hostile shape is
            // left unfolded (and then reported as a node without a DL4J equivalent).
            // Zero-length axes make the element count 0 but not the other axes harmless:
            // ndarray refuses shapes whose non-zero axes overflow, so bound those too.
            let nonzero = shape
                .iter()
                .filter(|&&d| d != 0)
                .try_fold(1usize, |a, &d| a.checked_mul(d))?;
            if nonzero > MAX_FOLDED {
                return None;
            }
            let fill = match n.attr("value") {
                Some(Attr::Tensor(t)) => t.to_f64_vec().first().copied().unwrap_or(0.0),
                _ => 0.0,
            };
            Some(vec![ArrayD::from_elem(IxDyn(&shape), fill)])
        }
        "Unsqueeze" => {
            let x = x?;
            let axes = unsqueeze_axes(&axes_of(cx, n)??, x.ndim()).ok()?;
            let mut shape: Vec<usize> = x.shape().to_vec();
            for a in axes {
                shape.insert(a, 1);
            }
            Some(vec![x.clone().into_shape_with_order(IxDyn(&shape)).ok()?])
        }
        "Squeeze" => {
            let x = x?;
            let axes = axes_of(cx, n)?;
            let shape: Vec<usize> = match axes {
                None => x.shape().iter().copied().filter(|&d| d != 1).collect(),
                Some(axes) => {
                    let axes: Vec<usize> = axes
                        .iter()
                        .map(|&a| axis(a, x.ndim()))
                        .collect::<Option<_>>()?;
                    x.shape()
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !axes.contains(i))
                        .map(|(_, &d)| d)
                        .collect()
                }
            };
            Some(vec![x.clone().into_shape_with_order(IxDyn(&shape)).ok()?])
        }
        "Concat" => {
            let parts: Vec<&ArrayD<f64>> = n
                .inputs
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| cx.konst(s))
                .collect::<Option<_>>()?;
            let rank = parts.first()?.ndim();
            let ax = axis(attr_int(n, "axis", 0), rank)?;
            let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
            Some(vec![ndarray::concatenate(Axis(ax), &views).ok()?])
        }
        "Gather" => {
            let (data, idx) = (x?, get(1)?);
            let ax = axis(attr_int(n, "axis", 0), data.ndim())?;
            let len = *data.shape().get(ax)? as i64;
            let picks: Vec<usize> = ints(idx)?
                .into_iter()
                .map(|i| usize::try_from(if i < 0 { i + len } else { i }).ok())
                .collect::<Option<_>>()?;
            if picks.iter().any(|&p| p >= len as usize) {
                return None;
            }
            // Each pick copies a slice of `data`: bound what many picks of one slice make.
            // (An empty axis: `data` is empty and so is every slice.)
            let slice = data.len().checked_div(len as usize).unwrap_or(0);
            if slice.checked_mul(picks.len())? > MAX_FOLDED {
                return None;
            }
            let taken = data.select(Axis(ax), &picks);
            // The result's shape: data.shape[..ax] + idx.shape + data.shape[ax+1..].
            let (before, from_ax) = data.shape().split_at_checked(ax)?;
            let mut shape: Vec<usize> = before.to_vec();
            shape.extend_from_slice(idx.shape());
            shape.extend_from_slice(from_ax.get(1..)?);
            Some(vec![taken
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&shape))
                .ok()?])
        }
        "Reshape" => {
            let (data, shape) = (x?, get(1)?);
            let target = super::ops::shape::resolve_reshape(
                &data.shape().iter().map(|&d| Some(d)).collect::<Vec<_>>(),
                &ints_or_nan(shape)?,
                attr_int(n, "allowzero", 0) != 0,
            )
            .ok()?;
            let target: Vec<usize> = target.into_iter().collect::<Option<_>>()?;
            Some(vec![data
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&target))
                .ok()?])
        }
        "Transpose" => {
            let x = x?;
            // ndarray panics on anything but a permutation of every axis.
            let perm: Vec<usize> = match attr_ints(n, "perm") {
                Some(p) => permutation(&p, x.ndim()).ok()?,
                None => (0..x.ndim()).rev().collect(),
            };
            Some(vec![x
                .clone()
                .permuted_axes(IxDyn(&perm))
                .as_standard_layout()
                .into_owned()])
        }
        "Slice" => {
            let x = x?;
            let (starts, ends, axes, steps) = if cx.opset < 10 {
                (
                    attr_ints(n, "starts")?,
                    attr_ints(n, "ends")?,
                    attr_ints(n, "axes"),
                    None,
                )
            } else {
                (
                    ints(get(1)?)?,
                    ints(get(2)?)?,
                    get(3).and_then(ints),
                    get(4).and_then(ints),
                )
            };
            let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
            let mut out = x.view();
            for (k, &a) in axes.iter().enumerate() {
                let ax = axis(a, x.ndim())?;
                let len = *x.shape().get(ax)? as i64;
                let step = match &steps {
                    Some(s) => *s.get(k)?,
                    None => 1,
                };
                if step != 1 {
                    return None;
                }
                let clamp = |v: i64| -> isize {
                    let v = if v < 0 { v + len } else { v };
                    v.clamp(0, len) as isize
                };
                let (s, e) = (clamp(*starts.get(k)?), clamp(*ends.get(k)?));
                out.slice_axis_inplace(Axis(ax), Slice::from(s..e.max(s)));
            }
            Some(vec![out.to_owned()])
        }
        "Add" | "Sub" | "Mul" | "Div" => {
            let (a, b) = (x?, get(1)?);
            // Same shapes or a single value on either side (ndarray panics on other mismatches).
            if !(a.shape() == b.shape() || a.len() == 1 || b.len() == 1) {
                return None;
            }
            let (a, b) = (a.clone(), b.clone());
            let r = if a.len() == 1 && b.len() != 1 {
                let v = *a.iter().next()?;
                b.mapv(|y| arith(&n.op, v, y))
            } else if b.len() == 1 {
                let v = *b.iter().next()?;
                a.mapv(|y| arith(&n.op, y, v))
            } else {
                ndarray::Zip::from(&a)
                    .and(&b)
                    .map_collect(|&p, &q| arith(&n.op, p, q))
            };
            Some(vec![r])
        }
        "Neg" => Some(vec![x?.mapv(|v| -v)]),
        "Sqrt" => Some(vec![x?.mapv(f64::sqrt)]),
        _ => None,
    }
}

fn arith(op: &str, a: f64, b: f64) -> f64 {
    match op {
        "Add" => a + b,
        "Sub" => a - b,
        "Mul" => a * b,
        _ => a / b,
    }
}

fn axis_clamp(a: i64, rank: i64) -> usize {
    let a = if a < 0 { a + rank } else { a };
    a.clamp(0, rank) as usize
}

fn scalar(v: f64) -> ArrayD<f64> {
    ArrayD::from_elem(IxDyn(&[]), v)
}

fn vector(v: Vec<f64>) -> ArrayD<f64> {
    ndarray::Array1::from(v).into_dyn()
}

/// A shape tensor's entries; NaN (a run-time dimension) becomes `None`.
pub fn ints_or_nan(a: &ArrayD<f64>) -> Option<Vec<Option<i64>>> {
    a.iter()
        .map(|&v| {
            if v.is_nan() {
                Some(None)
            } else if v.fract() == 0.0 {
                Some(Some(v as i64))
            } else {
                None
            }
        })
        .collect()
}
