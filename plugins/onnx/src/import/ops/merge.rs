//! Graph vertices (spec config §12, §13b): `Add`/`Sub`/`Mul`/`Max`/`Mean`/`Sum` of network values
//! of one shape -> ElementWiseVertex; a value and a scalar constant -> ShiftVertex / ScaleVertex;
//! `Add` of a per-output vector to a bias-less dense or convolution layer -> that layer's bias
//! (the `MatMul` + `Add` pattern); `Concat` on axis 1 -> MergeVertex; `Slice` of a range of axis
//! 1 -> SubsetVertex (inclusive `to`).
//!
//! DL4J's vertices do not broadcast the way ONNX does, so operands of different shapes are
//! refused rather than guessed.

use ndarray::ArrayD;
use serde_json::json;

use super::super::json as dj;
use super::super::net::Sym;
use super::super::{
    attr_int, attr_ints, axis, first_output, input, present_inputs, show, Cx, Done,
};
use super::activation::hint;
use crate::proto::ForeignNode;

/// Layer classes whose bias an `Add` of a per-output vector may become.
const BIAS_CLASSES: &[&str] = &[
    "DenseLayer",
    "ConvolutionLayer",
    "Convolution1DLayer",
    "DepthwiseConvolution2D",
];

/// Two shapes that agree wherever both are known; the merged shape.
fn same_shape(a: &[Option<usize>], b: &[Option<usize>]) -> Option<Vec<Option<usize>>> {
    if a.len() != b.len() {
        return None;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| match (x, y) {
            (Some(p), Some(q)) if p != q => None,
            (Some(p), _) | (_, Some(p)) => Some(Some(*p)),
            (None, None) => Some(None),
        })
        .collect()
}

fn fmt_shape(c: &ArrayD<f64>) -> String {
    format!("{:?}", c.shape())
}

pub fn elementwise(cx: &mut Cx, n: &ForeignNode) -> Done {
    let names = present_inputs(n);
    if names.is_empty() {
        return Err("no inputs".into());
    }
    let y = first_output(n)?.to_string();
    let mut data: Vec<(&str, Sym)> = Vec::new();
    let mut consts: Vec<(usize, ArrayD<f64>)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match cx.konst(name) {
            Some(c) => consts.push((i, c.clone())),
            None => data.push((name, cx.sym(name)?)),
        }
    }
    if consts.is_empty() {
        return vertex_op(cx, n, &y, &data);
    }
    let ([(x_name, x)], [(ci, c)]) = (data.as_slice(), consts.as_slice()) else {
        return Err(format!(
            "{} of {} network value(s) and {} constant(s): DL4J combines network values with each other, or one value with one scalar constant",
            n.op,
            data.len(),
            consts.len()
        ));
    };
    with_constant(cx, n, &y, x_name, x, c, *ci == 0)
}

/// An ElementWiseVertex over network values of identical shapes.
fn vertex_op(cx: &mut Cx, n: &ForeignNode, y: &str, data: &[(&str, Sym)]) -> Done {
    let op = match n.op.as_str() {
        "Add" | "Sum" => "Add",
        "Sub" => "Subtract",
        "Mul" => "Product",
        "Max" => "Max",
        "Mean" => "Average",
        "Div" => {
            return Err(
                "division of two network values: DL4J's ElementWiseVertex has no divide".into(),
            )
        }
        other => return Err(format!("{other} is not an elementwise op")),
    };
    let Some(((first_name, first), rest)) = data.split_first() else {
        return Err("no network value among the inputs".into());
    };
    if rest.is_empty() {
        // Sum / Max / Mean of one value is the value.
        cx.set(y, first.clone());
        return Ok(());
    }
    if op == "Subtract" && data.len() != 2 {
        return Err(format!("Sub of {} values", data.len()));
    }
    let mut shape = first.shape.clone();
    for (name, s) in rest {
        let merged = same_shape(&shape, &s.shape)
            .filter(|_| s.perm == first.perm && s.squeezed == first.squeezed);
        match merged {
            Some(m) => shape = m,
            None => {
                return Err(format!(
                    "operands {first_name:?} {} and {name:?} {} differ in shape or layout; DL4J's ElementWiseVertex combines only values of one shape (no ONNX broadcasting)",
                    show(&first.shape),
                    show(&s.shape)
                ))
            }
        }
    }
    let body = dj::vertex("ElementWiseVertex", &[("op", json!(op))]);
    let syms: Vec<&Sym> = data.iter().map(|(_, s)| s).collect();
    let v = cx.net.add_vertex(hint(n, "elementwise"), &syms, body);
    let mut out = first.clone();
    out.src = v;
    out.pre = None;
    out.shape = shape;
    cx.set(y, out);
    Ok(())
}

/// The length of axis 1 of `x` (the output channels or features) if the constant is one value
/// per entry of that axis, or one value for all, broadcast over every other axis. The values are
/// made only once a layer takes them ([`fold_bias`]): a value known to be one of many channels
/// must not turn into that many values before anything checks the count.
fn channel_count(c: &ArrayD<f64>, x: &Sym) -> Option<usize> {
    let r = x.rank();
    if r < 2 || c.ndim() > r {
        return None;
    }
    let mut padded = vec![1usize; r - c.ndim()];
    padded.extend_from_slice(c.shape());
    if padded.iter().enumerate().any(|(k, &d)| k != 1 && d != 1) {
        return None;
    }
    let ch = x.shape.get(1).copied().flatten()?;
    match padded.get(1)? {
        &d if d == 1 || d == ch => Some(ch),
        _ => None,
    }
}

/// Adds `sign · c` (of [`channel_count`] `ch` entries) to the bias of the layer producing `x`;
/// an error says why it cannot.
fn fold_bias(cx: &mut Cx, x_name: &str, x: &Sym, c: &ArrayD<f64>, ch: usize, sign: f64) -> Done {
    let Some(layer) = cx.private_layer(x_name, x) else {
        return Err(format!(
            "{x_name:?} is not the output of a layer read only here, so the constant cannot become a layer's bias"
        ));
    };
    if !BIAS_CLASSES.contains(&layer.class) {
        return Err(format!(
            "{x_name:?} comes from a {}, which has no bias to take the constant",
            layer.class
        ));
    }
    if layer
        .activation
        .as_ref()
        .is_some_and(|a| dj::activation_class(a) != "ActivationIdentity")
    {
        return Err(format!(
            "the layer producing {x_name:?} already applies an activation, so the constant comes after it, not in its bias"
        ));
    }
    let n_out = layer
        .fields
        .get("nout")
        .and_then(serde_json::Value::as_u64)
        .map(|v| v as usize);
    if n_out != Some(ch) {
        return Err(format!(
            "a constant of {ch} values for a layer of {n_out:?} outputs"
        ));
    }
    // One value for all channels, or one per channel.
    let v: Vec<f64> = match c.iter().next() {
        Some(&b) if c.len() == 1 => vec![sign * b; ch],
        _ => c.iter().map(|b| sign * b).collect(),
    };
    let add = ArrayD::from_shape_vec(ndarray::IxDyn(&[v.len()]), v).map_err(|e| e.to_string())?;
    match layer.params.iter_mut().find(|(k, _)| k == "b") {
        Some((_, b)) => {
            if b.shape() != add.shape() {
                return Err(format!(
                    "the layer's bias has shape {:?}, the constant {:?}",
                    b.shape(),
                    add.shape()
                ));
            }
            *b = &*b + &add;
        }
        None => {
            layer.params.push(("b".into(), add));
            layer.fields.insert("hasBias".into(), json!(true));
        }
    }
    Ok(())
}

fn scale_shift(cx: &mut Cx, n: &ForeignNode, x: &Sym, class: &str, field: &str, s: f64) -> Sym {
    let body = dj::vertex(class, &[(field, json!(s))]);
    let v = cx.net.add_vertex(hint(n, "vertex"), &[x], body);
    let mut y = x.clone();
    y.src = v;
    y.pre = None;
    y
}

fn with_constant(
    cx: &mut Cx,
    n: &ForeignNode,
    y: &str,
    x_name: &str,
    x: &Sym,
    c: &ArrayD<f64>,
    const_first: bool,
) -> Done {
    let op = n.op.as_str();
    // A per-output vector added to a bias-less (or biased) linear layer: its bias.
    let mut why = None;
    if op == "Add" || (op == "Sub" && !const_first) {
        if let Some(ch) = channel_count(c, x) {
            let sign = if op == "Sub" { -1.0 } else { 1.0 };
            match fold_bias(cx, x_name, x, c, ch, sign) {
                Ok(()) => {
                    cx.set(y, x.clone());
                    return Ok(());
                }
                Err(e) => why = Some(e),
            }
        }
    }
    let scalar = c
        .iter()
        .next()
        .filter(|_| c.len() == 1 && c.ndim() <= x.rank());
    let Some(&s) = scalar else {
        return Err(match why {
            Some(e) => format!(
                "{op} of a per-channel constant of shape {}: {e}",
                fmt_shape(c)
            ),
            None => format!(
                "{op} of {x_name:?} {} and a constant of shape {}: DL4J applies only scalar constants to network values (ScaleVertex, ShiftVertex) or per-output vectors as a layer's bias",
                show(&x.shape),
                fmt_shape(c)
            ),
        });
    };
    let out = match (op, const_first) {
        ("Add", _) if s == 0.0 => x.clone(),
        ("Sub", false) if s == 0.0 => x.clone(),
        ("Mul", _) | ("Div", false) if s == 1.0 => x.clone(),
        ("Add", _) => scale_shift(cx, n, x, "ShiftVertex", "shiftFactor", s),
        ("Sub", false) => scale_shift(cx, n, x, "ShiftVertex", "shiftFactor", -s),
        ("Sub", true) => {
            // c - x = (-1)·x + c
            let neg = scale_shift(cx, n, x, "ScaleVertex", "scaleFactor", -1.0);
            if s == 0.0 {
                neg
            } else {
                scale_shift(cx, n, &neg, "ShiftVertex", "shiftFactor", s)
            }
        }
        ("Mul", _) => scale_shift(cx, n, x, "ScaleVertex", "scaleFactor", s),
        ("Div", false) => {
            if s == 0.0 {
                return Err("division by a constant zero".into());
            }
            scale_shift(cx, n, x, "ScaleVertex", "scaleFactor", 1.0 / s)
        }
        ("Div", true) => {
            return Err("a constant divided by a network value: DL4J has no reciprocal vertex".into())
        }
        (other, _) => {
            return Err(format!(
                "{other} of a network value and a constant: DL4J's ElementWiseVertex takes network values only"
            ))
        }
    };
    cx.set(y, out);
    Ok(())
}

pub fn concat(cx: &mut Cx, n: &ForeignNode) -> Done {
    let names = present_inputs(n);
    let first_name = *names.first().ok_or("no inputs")?;
    let mut syms: Vec<Sym> = Vec::new();
    for name in &names {
        if cx.konst(name).is_some() {
            return Err(format!(
                "input {name:?} is a constant; DL4J's MergeVertex joins network values only"
            ));
        }
        syms.push(cx.sym(name)?);
    }
    let y = first_output(n)?.to_string();
    let first = match syms.as_slice() {
        [only] => {
            cx.set(&y, only.clone());
            return Ok(());
        }
        [first, ..] => first.clone(),
        [] => return Err("no inputs".into()),
    };
    let rank = first.rank();
    // Opset 1-3 default the axis to 1; later opsets require it.
    let axis = axis(attr_int(n, "axis", 1), rank)?;
    if axis != 1 {
        return Err(format!(
            "concatenation along axis {axis}: DL4J's MergeVertex joins along axis 1 (channels / features) only"
        ));
    }
    let mut shape = first.shape.clone();
    let mut total = Some(0usize);
    for (name, s) in names.iter().zip(&syms) {
        if !s.is_unpermuted() || !s.squeezed.is_empty() {
            return Err(format!(
                "input {name:?} is a transposed or size-1-squeezed view of a DL4J array; the merge would run along a different axis"
            ));
        }
        if s.rank() != rank {
            return Err(format!(
                "inputs {first_name:?} {} and {name:?} {} differ in rank",
                show(&first.shape),
                show(&s.shape)
            ));
        }
        // Axis 1 (the concatenation axis; the rank is at least 2) is summed, the others agree.
        let mut a = s.shape.clone();
        let mut b = shape.clone();
        let (Some(a1), Some(b1)) = (a.get_mut(1), b.get_mut(1)) else {
            return Err(format!(
                "input {name:?} {} has no axis 1 to concatenate along",
                show(&s.shape)
            ));
        };
        let d = a1.take();
        *b1 = None;
        total =
            match (total, d) {
                (Some(t), Some(d)) => Some(t.checked_add(d).ok_or_else(|| {
                    format!("the concatenated axis 1 overflows at input {name:?}")
                })?),
                _ => None,
            };
        let merged = same_shape(&a, &b);
        shape = merged.ok_or_else(|| {
            format!(
                "inputs {first_name:?} {} and {name:?} {} differ outside the concatenation axis",
                show(&first.shape),
                show(&s.shape)
            )
        })?;
    }
    if let Some(d) = shape.get_mut(1) {
        *d = total;
    }
    let body = dj::vertex(
        "MergeVertex",
        &[("mergeAxis", json!(1)), ("modified", json!(false))],
    );
    let refs: Vec<&Sym> = syms.iter().collect();
    let v = cx.net.add_vertex(hint(n, "merge"), &refs, body);
    cx.set(&y, Sym::plain(&v, shape));
    Ok(())
}

fn const_ints(cx: &Cx, n: &ForeignNode, i: usize, what: &str) -> Result<Option<Vec<i64>>, String> {
    let Some(name) = input(n, i) else {
        return Ok(None);
    };
    let c = cx
        .konst(name)
        .ok_or_else(|| format!("the slice {what} {name:?} are not known at conversion time"))?;
    c.iter()
        .map(|&v| {
            if v.is_finite() && v.fract() == 0.0 {
                Ok(v as i64)
            } else if v.is_infinite() {
                Ok(if v > 0.0 { i64::MAX } else { i64::MIN })
            } else {
                Err(format!("slice {what} hold {v}"))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub fn slice(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x_name = input(n, 0).ok_or("no input")?;
    let x = cx.sym(x_name)?;
    let (starts, ends, axes, steps) = if cx.opset < 10 {
        (
            attr_ints(n, "starts").ok_or("no starts")?,
            attr_ints(n, "ends").ok_or("no ends")?,
            attr_ints(n, "axes"),
            None,
        )
    } else {
        (
            const_ints(cx, n, 1, "starts")?.ok_or("no starts")?,
            const_ints(cx, n, 2, "ends")?.ok_or("no ends")?,
            const_ints(cx, n, 3, "axes")?,
            const_ints(cx, n, 4, "steps")?,
        )
    };
    if starts.len() != ends.len() {
        return Err("starts and ends differ in length".into());
    }
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let mut range: Option<(usize, usize)> = None;
    let mut shape = x.shape.clone();
    for (k, &a) in axes.iter().enumerate() {
        let ax = axis(a, x.rank())?;
        let step = steps.as_ref().and_then(|s| s.get(k)).copied().unwrap_or(1);
        if step != 1 {
            return Err(format!(
                "slice step {step}: DL4J's SubsetVertex takes contiguous ranges"
            ));
        }
        let (s, e) = (
            *starts.get(k).ok_or("too few starts")?,
            *ends.get(k).ok_or("too few ends")?,
        );
        let Some(len) = x.shape.get(ax).copied().flatten() else {
            if s == 0 && e >= i32::MAX as i64 {
                continue; // the whole axis
            }
            return Err(format!(
                "slicing axis {ax}, whose size is known only at run time"
            ));
        };
        let clamp = |v: i64| -> usize {
            let l = len as i64;
            let v = if v < 0 { v.saturating_add(l) } else { v };
            v.clamp(0, l) as usize
        };
        let (s, e) = (clamp(s), clamp(e));
        if s == 0 && e == len {
            continue;
        }
        if ax != 1 {
            return Err(format!(
                "slicing axis {ax}: DL4J's SubsetVertex takes a range of axis 1 (channels / features) only"
            ));
        }
        if e <= s {
            return Err(format!("empty slice [{s}, {e}) of axis 1"));
        }
        range = Some((s, e));
        if let Some(d) = shape.get_mut(ax) {
            *d = Some(e - s);
        }
    }
    let y = first_output(n)?.to_string();
    let Some((s, e)) = range else {
        cx.set(&y, x);
        return Ok(());
    };
    if !x.is_unpermuted() || !x.squeezed.is_empty() {
        return Err(format!(
            "{x_name:?} is a transposed or size-1-squeezed view of a DL4J array; a subset would take a different axis"
        ));
    }
    if !(2..=4).contains(&x.rank()) {
        return Err(format!(
            "slice of a rank-{} value {}: DL4J's SubsetVertex takes rank 2 to 4",
            x.rank(),
            show(&x.shape)
        ));
    }
    let body = dj::vertex("SubsetVertex", &[("from", json!(s)), ("to", json!(e - 1))]);
    let v = cx.net.add_vertex(hint(n, "subset"), &[&x], body);
    cx.set(&y, Sym::plain(&v, shape));
    Ok(())
}
