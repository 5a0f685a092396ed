//! `BatchNormalization` (inference) -> BatchNormalization and `LRN` ->
//! LocalResponseNormalization (spec config §9.11, §9.12). The variance is stored as `var` and
//! the layer's `variables` name it, which is what makes DL4J read it as a variance rather than
//! a log10 standard deviation; DL4J's LRN alpha is not divided by the window size, ONNX's is.

use ndarray::{ArrayD, IxDyn};
use serde_json::json;

use super::super::json::{self, Family};
use super::super::net::Layer;
use super::super::{attr_float, attr_int, input, show, Cx, Done};
use super::activation::hint;
use crate::proto::ForeignNode;

pub fn batch_norm(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    let nhwc = x.channels_last() == Some(true);
    if !(nhwc || x.is_plain() && (x.rank() == 2 || x.rank() == 4)) {
        return Err(format!(
            "input {} is neither [batch, features] nor [batch, channels, height, width]",
            show(&x.shape)
        ));
    }
    if attr_int(n, "training_mode", 0) != 0
        || n.outputs
            .iter()
            .skip(1)
            .any(|o| !o.is_empty() && cx.uses(o) > 0)
    {
        return Err("training-mode batch normalization (running statistics outputs)".into());
    }
    if cx.opset < 9 && attr_int(n, "spatial", 1) != 1 {
        return Err("per-activation (spatial = 0) statistics".into());
    }
    let mut params = Vec::new();
    for (i, key) in [(1, "gamma"), (2, "beta"), (3, "mean"), (4, "var")] {
        let name = input(n, i).ok_or_else(|| format!("no {key} input"))?;
        let v = cx.konst(name).ok_or_else(|| {
            format!(
                "{key} {name:?} is not a constant (freeze it with --freeze if it is a graph input)"
            )
        })?;
        params.push((key, v.clone()));
    }
    let lengths: Vec<usize> = params.iter().map(|(_, v)| v.len()).collect();
    let c = lengths.first().copied().unwrap_or(0);
    if lengths.iter().any(|&l| l != c) {
        return Err(format!(
            "scale, bias, mean and variance differ in length ({lengths:?})"
        ));
    }
    if let Some(d) = x.shape.get(1).copied().flatten().filter(|&d| d != c) {
        return Err(format!("{c} statistics for {d} channels"));
    }
    let eps = attr_float(n, "epsilon", 1e-5) as f64;
    let fields = json::fields(&[
        ("nin", json!(c)),
        ("nout", json!(c)),
        ("decay", json!(0.9)),
        ("eps", json!(eps)),
        ("minibatch", json!(true)),
        ("gamma", json!(1.0)),
        ("beta", json!(0.0)),
        ("lockGammaBeta", json!(false)),
        ("useLogStd", json!(false)),
        ("cnn2DFormat", json!(if nhwc { "NHWC" } else { "NCHW" })),
        ("cudnnAllowFallback", json!(true)),
    ]);
    let mut layer = Layer::new("BatchNormalization", Family::FeedForward, fields);
    for (key, v) in params {
        let v: ArrayD<f64> = v
            .into_shape_with_order(IxDyn(&[c]))
            .map_err(|e| e.to_string())?;
        layer = layer.param(key, v);
    }
    let v = cx.net.add_layer(hint(n, "batchnorm"), &x, layer);
    cx.set(
        n.outputs.first().ok_or("no output")?,
        x.same_layout(&v, x.shape.clone()),
    );
    Ok(())
}

pub fn lrn(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    let nhwc = x.channels_last() == Some(true);
    if !(nhwc || x.is_plain() && x.rank() == 4) {
        return Err(format!("input {} is not NCHW data", show(&x.shape)));
    }
    let size = attr_int(n, "size", 0);
    if size <= 0 || size % 2 == 0 {
        return Err(format!(
            "window size {size}: ONNX's even windows are lopsided, DL4J's are centred"
        ));
    }
    let alpha = attr_float(n, "alpha", 1e-4) as f64;
    let fields = json::fields(&[
        ("n", json!(size as f64)),
        ("k", json!(attr_float(n, "bias", 1.0) as f64)),
        ("alpha", json!(alpha / size as f64)),
        ("beta", json!(attr_float(n, "beta", 0.75) as f64)),
        ("dataFormat", json!(if nhwc { "NHWC" } else { "NCHW" })),
        ("cudnnAllowFallback", json!(true)),
    ]);
    let v = cx.net.add_layer(
        hint(n, "lrn"),
        &x,
        Layer::new("LocalResponseNormalization", Family::NoParams, fields),
    );
    cx.set(
        n.outputs.first().ok_or("no output")?,
        x.same_layout(&v, x.shape.clone()),
    );
    Ok(())
}
