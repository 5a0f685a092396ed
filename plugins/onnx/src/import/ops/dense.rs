//! `Gemm` and `MatMul` (+ a later bias `Add`) -> DenseLayer (spec config §9.1, §13b). DL4J's
//! `W` is `[nIn, nOut]`, so `transB = 1` stores `Bᵀ`; `alpha` and `beta` are folded into `W`
//! and `b`. `transA = 1` would transpose the batch axis, which no DL4J layer does.

use ndarray::{Array2, ArrayD, Ix2, IxDyn};
use serde_json::json;

use super::super::json::{self, Family};
use super::super::net::Layer;
use super::super::{attr_float, attr_int, input, show, Cx, Done};
use super::activation::hint;
use crate::proto::ForeignNode;

/// A constant weight matrix as DL4J's `[nIn, nOut]`.
fn weight(b: &ArrayD<f64>, trans: bool, alpha: f64) -> Result<Array2<f64>, String> {
    let m = b
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| format!("weight of shape {:?} is not a matrix", b.shape()))?;
    // DL4J has no layer without inputs or outputs; an empty weight would also let its other
    // dimension (the size of the bias made for it) be anything.
    if m.is_empty() {
        return Err(format!("weight of shape {:?} holds no values", b.shape()));
    }
    let m = if trans { m.t() } else { m };
    Ok(m.mapv(|v| v * alpha))
}

/// A bias that broadcasts over rows as a `[n]` vector, or `None` if it varies per row.
pub fn bias_vector(c: &ArrayD<f64>, n: usize) -> Option<ArrayD<f64>> {
    let v: Vec<f64> = match c.shape() {
        [] | [1] | [1, 1] => vec![*c.iter().next()?; n],
        [k] | [1, k] if *k == n => c.iter().copied().collect(),
        _ => return None,
    };
    ArrayD::from_shape_vec(IxDyn(&[n]), v).ok()
}

pub fn dense_layer(w: Array2<f64>, b: Option<ArrayD<f64>>) -> Layer {
    let (n_in, n_out) = w.dim();
    let fields = json::fields(&[
        ("nin", json!(n_in)),
        ("nout", json!(n_out)),
        ("hasBias", json!(b.is_some())),
        ("hasLayerNorm", json!(false)),
    ]);
    let mut layer = Layer::new("DenseLayer", Family::FeedForward, fields)
        .param("W", w.into_dyn())
        .fusable();
    if let Some(b) = b {
        layer = layer.param("b", b);
    }
    layer
}

fn check_input(cx: &Cx, name: &str, n_in: usize) -> Result<super::super::net::Sym, String> {
    let x = cx.sym(name)?;
    if x.rank() != 2 {
        return Err(format!(
            "input of shape {} is not [batch, features] (DL4J's dense layers take rank-2 input)",
            show(&x.shape)
        ));
    }
    if !x.is_unpermuted() {
        return Err("input is a transposed view".into());
    }
    if let [_, Some(f)] = x.shape[..] {
        if f != n_in {
            return Err(format!(
                "input has {f} features but the weight expects {n_in}"
            ));
        }
    }
    Ok(x)
}

pub fn gemm(cx: &mut Cx, n: &ForeignNode) -> Done {
    let a = input(n, 0).ok_or("no input A")?;
    let b_name = input(n, 1).ok_or("no input B")?;
    if attr_int(n, "transA", 0) != 0 {
        return Err("transA = 1 transposes the batch axis; no DL4J layer does that".into());
    }
    let b = cx.konst(b_name).ok_or_else(|| {
        format!(
            "weight {b_name:?} is not a constant (freeze it with --freeze if it is a graph input)"
        )
    })?;
    let alpha = attr_float(n, "alpha", 1.0) as f64;
    let beta = attr_float(n, "beta", 1.0) as f64;
    let w = weight(b, attr_int(n, "transB", 0) != 0, alpha)?;
    let (n_in, n_out) = w.dim();
    let bias = match input(n, 2) {
        None => None,
        Some(c) => {
            let c = cx
                .konst(c)
                .ok_or_else(|| format!("bias {c:?} is not a constant"))?;
            let v = bias_vector(c, n_out).ok_or_else(|| {
                format!(
                    "bias of shape {:?} differs per row; DL4J's bias is one vector",
                    c.shape()
                )
            })?;
            Some(v.mapv(|x| x * beta))
        }
    };
    let x = check_input(cx, a, n_in)?;
    let layer = dense_layer(w, bias);
    let v = cx.net.add_layer(hint(n, "dense"), &x, layer);
    let batch = x.shape.first().copied().flatten();
    let y = super::super::net::Sym::plain(&v, vec![batch, Some(n_out)]);
    cx.set(n.outputs.first().ok_or("no output")?, y);
    Ok(())
}

pub fn matmul(cx: &mut Cx, n: &ForeignNode) -> Done {
    let a = input(n, 0).ok_or("no input A")?;
    let b_name = input(n, 1).ok_or("no input B")?;
    let b = cx.konst(b_name).ok_or_else(|| {
        format!("right operand {b_name:?} is not a constant; DL4J multiplies data only by weights (freeze it with --freeze if it is a graph input)")
    })?;
    let w = weight(b, false, 1.0)?;
    let (n_in, n_out) = w.dim();
    let x = check_input(cx, a, n_in)?;
    let v = cx.net.add_layer(hint(n, "dense"), &x, dense_layer(w, None));
    let batch = x.shape.first().copied().flatten();
    let y = super::super::net::Sym::plain(&v, vec![batch, Some(n_out)]);
    cx.set(n.outputs.first().ok_or("no output")?, y);
    Ok(())
}
