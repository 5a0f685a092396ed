//! Layout-only nodes: `Flatten` / `Reshape` between convolutional and dense parts become
//! DL4J's CnnToFeedForward / FeedForwardToCnn preprocessors (same c-order element order, spec
//! config §11); `Transpose` only relabels axes (folded into the value's permutation, so pairs
//! cancel); `Squeeze` / `Unsqueeze` of size-1 axes, `Identity` and inference-mode `Dropout` are
//! no-ops. Anything that would move data across the batch axis has no DL4J equivalent.

use serde_json::json;

use super::super::fold::ints_or_nan;
use super::super::json as dj;
use super::super::net::Sym;
use super::super::{
    attr_int, attr_ints, axis, first_output, input, permutation, show, unsqueeze_axes, Cx, Done,
};
use crate::proto::ForeignNode;

/// The output shape of `Reshape(input, target)`; `None` entries of `target` stand for a
/// dimension known only at run time (as NaN from a folded `Shape`), matched with the input's.
pub fn resolve_reshape(
    input: &[Option<usize>],
    target: &[Option<i64>],
    allowzero: bool,
) -> Result<Vec<Option<usize>>, String> {
    let mut out: Vec<Option<usize>> = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, t) in target.iter().enumerate() {
        match t {
            None => out.push(None),
            Some(-1) if infer.is_none() => {
                infer = Some(i);
                out.push(None);
            }
            Some(0) if !allowzero => out.push(*input.get(i).ok_or("0 beyond the input rank")?),
            Some(k) if *k >= 0 => out.push(Some(*k as usize)),
            Some(k) => return Err(format!("reshape target holds {k}")),
        }
    }
    if let Some(i) = infer {
        let known = |s: &[Option<usize>]| -> (usize, usize) {
            s.iter().fold((1, 0), |(p, u), d| match d {
                Some(v) => (p.saturating_mul(*v), u),
                None => (p, u + 1),
            })
        };
        let (pi, ui) = known(input);
        let mut others = out.clone();
        others.remove(i);
        let (po, uo) = known(&others);
        // `[-1, 64]` of `[?, 4, 4, 4]`: the -1 stands for the run-time dimension itself.
        if ui == uo + 1 && pi == po {
            return Ok(out);
        }
        if ui != uo || po == 0 || pi % po != 0 {
            return Err(format!(
                "cannot infer the -1 of reshape {} from input {}",
                show_i(target),
                show(input)
            ));
        }
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(pi / po);
        }
    }
    Ok(out)
}

fn show_i(t: &[Option<i64>]) -> String {
    let v: Vec<String> = t
        .iter()
        .map(|d| d.map_or("?".into(), |v| v.to_string()))
        .collect();
    format!("[{}]", v.join(", "))
}

pub fn cnn_to_ff(c: usize, h: usize, w: usize) -> serde_json::Value {
    dj::preprocessor(
        "CnnToFeedForwardPreProcessor",
        &[
            ("format", json!("NCHW")),
            ("inputHeight", json!(h)),
            ("inputWidth", json!(w)),
            ("numChannels", json!(c)),
        ],
    )
}

pub fn ff_to_cnn(c: usize, h: usize, w: usize) -> serde_json::Value {
    dj::preprocessor(
        "FeedForwardToCnnPreProcessor",
        &[
            ("inputHeight", json!(h)),
            ("inputWidth", json!(w)),
            ("numChannels", json!(c)),
        ],
    )
}

fn is_class(v: &Option<serde_json::Value>, class: &str) -> bool {
    v.as_ref()
        .and_then(|p| p.get("@class"))
        .and_then(|c| c.as_str())
        .is_some_and(|c| c.ends_with(class))
}

/// `[batch, features]` from `x` (rank 4 NCHW, or a value whose other axes are all size 1).
/// Whether vertex `src` writes channels-last data (a layer configured NHWC).
fn nhwc_source(cx: &Cx, src: &str) -> bool {
    match cx.net.vertex(src).map(|v| &v.body) {
        Some(super::super::net::Body::Layer(l)) => ["cnn2dDataFormat", "cnn2DFormat", "dataFormat"]
            .iter()
            .any(|k| l.fields.get(*k).and_then(|v| v.as_str()) == Some("NHWC")),
        _ => false,
    }
}

fn to_features(cx: &Cx, x: &Sym, what: &str) -> Result<Sym, String> {
    let core = x.core_shape();
    if x.pre.is_none() && x.is_unpermuted() && core.len() == 2 {
        return Ok(x.with_shape(core));
    }
    if x.is_plain() && x.rank() == 4 {
        let (d1, d2, d3) = (x.dim(1, "size")?, x.dim(2, "size")?, x.dim(3, "size")?);
        let features = d1
            .checked_mul(d2)
            .and_then(|v| v.checked_mul(d3))
            .ok_or_else(|| format!("{what} {} overflows", show(&x.shape)))?;
        let batch = x.shape.first().copied().flatten();
        let mut y = x.with_shape(vec![batch, Some(features)]);
        // Both flatten the array as it is laid out (c order); the format names its axes.
        y.pre = Some(if nhwc_source(cx, &x.src) {
            dj::preprocessor(
                "CnnToFeedForwardPreProcessor",
                &[
                    ("format", json!("NHWC")),
                    ("inputHeight", json!(d1)),
                    ("inputWidth", json!(d2)),
                    ("numChannels", json!(d3)),
                ],
            )
        } else {
            cnn_to_ff(d1, d2, d3)
        });
        return Ok(y);
    }
    if x.is_plain() && x.rank() == 2 {
        return Ok(x.clone());
    }
    Err(format!(
        "{what} of a {} value has no DL4J equivalent (DL4J flattens only [batch, channels, height, width])",
        show(&x.shape)
    ))
}

pub fn flatten(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    if attr_int(n, "axis", 1) != 1 {
        return Err("Flatten with axis other than 1 merges the batch axis".into());
    }
    let y = to_features(cx, &x, "flattening")?;
    cx.set(first_output(n)?, y);
    Ok(())
}

pub fn reshape(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    let shape_name = input(n, 1).ok_or("no shape input (opset < 5 Reshape)")?;
    let target = cx
        .konst(shape_name)
        .and_then(ints_or_nan)
        .ok_or_else(|| format!("target shape {shape_name:?} is not known at conversion time"))?;
    let t = resolve_reshape(&x.shape, &target, attr_int(n, "allowzero", 0) != 0)?;
    let batch_kept = match (t.first(), x.shape.first()) {
        (Some(a), Some(b)) => a == b || a.is_none() || b.is_none(),
        _ => false,
    };
    if !batch_kept {
        return Err(format!(
            "reshape from {} to {} changes the batch axis",
            show(&x.shape),
            show(&t)
        ));
    }
    if t == x.shape {
        cx.set(first_output(n)?, x);
        return Ok(());
    }
    if let Some((axis, outer)) = x.split {
        let y = merge_split(&x, axis, outer, &t)?;
        cx.set(first_output(n)?, y);
        return Ok(());
    }
    let y = match t[..] {
        [_, _] => to_features(cx, &x, "reshaping")?,
        [_, c, h, w] if x.core_shape().len() == 2 && x.is_unpermuted() => {
            let (c, h, w) = (
                c.ok_or("unknown channels")?,
                h.ok_or("unknown height")?,
                w.ok_or("unknown width")?,
            );
            let mut y = x.with_shape(t.clone());
            if is_class(&x.pre, "CnnToFeedForwardPreProcessor")
                && x.pre.as_ref().map(|p| (p["numChannels"].clone(), p["inputHeight"].clone(), p["inputWidth"].clone()))
                    == Some((json!(c), json!(h), json!(w)))
            {
                // Flatten then reshape back: nothing happened.
                y.pre = None;
            } else if x.pre.is_some() {
                return Err("reshape of an already reshaped value".into());
            } else {
                y.pre = Some(ff_to_cnn(c, h, w));
            }
            y
        }
        _ => {
            return Err(format!(
                "reshape from {} to {} has no DL4J equivalent (DL4J reshapes only between [batch, features] and [batch, channels, height, width])",
                show(&x.shape),
                show(&t)
            ))
        }
    };
    if y.shape != t {
        return Err(format!(
            "reshape from {} to {} has no DL4J equivalent",
            show(&x.shape),
            show(&t)
        ));
    }
    cx.set(first_output(n)?, y);
    Ok(())
}

/// A reshape that joins the two ONNX axes a split DL4J axis appears as (adjacent, outer first)
/// back into one: then the value is a plain permutation of the DL4J array again.
fn merge_split(x: &Sym, axis: usize, outer: usize, t: &[Option<usize>]) -> Result<Sym, String> {
    let refuse = || {
        format!(
            "reshape from {} to {} does not rejoin the directions' features as DL4J concatenates them",
            show(&x.shape),
            show(t)
        )
    };
    if x.pre.is_some() || !x.squeezed.is_empty() {
        return Err(refuse());
    }
    // Virtual axes `axis` (the `outer` part) and `axis + 1` must be adjacent and in order.
    let i = x
        .perm
        .iter()
        .position(|&v| v == axis)
        .filter(|&i| x.perm.get(i + 1) == Some(&(axis + 1)))
        .ok_or_else(refuse)?;
    let (Some(&Some(d_outer)), Some(&Some(inner))) = (x.shape.get(i), x.shape.get(i + 1)) else {
        return Err(refuse());
    };
    if d_outer != outer {
        return Err(refuse());
    }
    let joined = outer.checked_mul(inner).ok_or_else(refuse)?;
    let mut merged = x.shape.clone();
    merged.remove(i + 1);
    if let Some(d) = merged.get_mut(i) {
        *d = Some(joined);
    }
    let matches = merged.len() == t.len()
        && merged
            .iter()
            .zip(t)
            .all(|(a, b)| a == b || a.is_none() || b.is_none());
    if !matches {
        return Err(refuse());
    }
    let perm: Vec<usize> = x
        .perm
        .iter()
        .filter(|&&v| v != axis + 1)
        .map(|&v| if v > axis + 1 { v - 1 } else { v })
        .collect();
    let mut y = x.clone();
    y.shape = merged;
    y.perm = perm;
    y.split = None;
    Ok(y)
}

pub fn transpose(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    if x.pre.is_some() || !x.squeezed.is_empty() {
        return Err("transpose of a reshaped value".into());
    }
    let r = x.rank();
    let p: Vec<usize> = match attr_ints(n, "perm") {
        Some(p) => permutation(&p, r)?,
        None => (0..r).rev().collect(),
    };
    fn pick<T: Copy>(v: &[T], p: &[usize]) -> Option<Vec<T>> {
        p.iter().map(|&i| v.get(i).copied()).collect()
    }
    let mut y = x.clone();
    match (pick(&x.shape, &p), pick(&x.perm, &p)) {
        (Some(shape), Some(perm)) => {
            y.shape = shape;
            y.perm = perm;
        }
        _ => {
            return Err(format!(
                "perm {p:?} does not match the value's layout {:?}",
                x.perm
            ))
        }
    }
    cx.set(first_output(n)?, y);
    Ok(())
}

fn axes(cx: &Cx, n: &ForeignNode) -> Result<Option<Vec<i64>>, String> {
    if let Some(a) = attr_ints(n, "axes") {
        return Ok(Some(a));
    }
    match input(n, 1) {
        None => Ok(None),
        Some(name) => cx
            .konst(name)
            .map(|a| Some(a.iter().map(|&v| v as i64).collect()))
            .ok_or_else(|| format!("axes {name:?} are not constant")),
    }
}

pub fn squeeze(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    let r = x.rank();
    let drop: Vec<usize> = match axes(cx, n)? {
        Some(a) => a.iter().map(|&v| axis(v, r)).collect::<Result<_, _>>()?,
        None => (0..r)
            .filter(|&i| x.shape.get(i) == Some(&Some(1)))
            .collect(),
    };
    for &a in &drop {
        if x.shape.get(a) != Some(&Some(1)) {
            return Err(format!("squeezing axis {a} of {}", show(&x.shape)));
        }
    }
    if drop.iter().all(|a| x.squeezed.contains(a)) {
        // Axes DL4J's array does not have anyway.
        let mut y = x.clone();
        y.shape = kept_axes(&x.shape, &drop);
        y.squeezed = x
            .squeezed
            .iter()
            .filter(|a| !drop.contains(a))
            .map(|&a| a - drop.iter().filter(|&&d| d < a).count())
            .collect();
        cx.set(first_output(n)?, y);
        return Ok(());
    }
    let kept = kept_axes(&x.shape, &drop);
    if x.is_plain() && r == 4 && kept.len() == 2 && !drop.contains(&0) && !drop.contains(&1) {
        let y = to_features(cx, &x, "squeezing")?;
        cx.set(first_output(n)?, y);
        return Ok(());
    }
    if x.is_plain() && r == 3 && drop == [2] {
        // [batch, features, 1]: one time step; RnnToFeedForward's rows are then the batch.
        let mut y = x.with_shape(kept);
        y.pre = Some(dj::preprocessor(
            "RnnToFeedForwardPreProcessor",
            &[("rnnDataFormat", json!("NCW"))],
        ));
        cx.set(first_output(n)?, y);
        return Ok(());
    }
    Err(format!(
        "squeezing axes {drop:?} of {} has no DL4J equivalent",
        show(&x.shape)
    ))
}

/// `shape` without the axes in `drop`.
fn kept_axes(shape: &[Option<usize>], drop: &[usize]) -> Vec<Option<usize>> {
    shape
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, &d)| d)
        .collect()
}

pub fn unsqueeze(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    let add = axes(cx, n)?.ok_or("Unsqueeze without axes")?;
    let add = unsqueeze_axes(&add, x.rank())?;
    let mut shape = x.shape.clone();
    // Old squeezed positions move right past each inserted axis.
    let mut squeezed: Vec<usize> = x.squeezed.clone();
    for &a in &add {
        shape.insert(a, Some(1));
        for s in squeezed.iter_mut() {
            if *s >= a {
                *s += 1;
            }
        }
        squeezed.push(a);
    }
    let mut y = x.clone();
    y.shape = shape;
    squeezed.sort_unstable();
    y.squeezed = squeezed;
    cx.set(first_output(n)?, y);
    Ok(())
}

pub fn identity(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    if n.op == "Dropout" {
        if let Some(mask) = n.outputs.get(1).filter(|m| !m.is_empty()) {
            if cx.uses(mask) > 0 {
                return Err("the dropout mask is used; DL4J networks do not expose it".into());
            }
        }
        // Opset 12+: a `training_mode` input that is true would make it random.
        if let Some(t) = input(n, 2) {
            if cx.konst(t).is_none_or(|v| v.iter().any(|&b| b != 0.0)) {
                return Err("dropout in training mode".into());
            }
        }
    }
    cx.set(first_output(n)?, x);
    Ok(())
}
