//! Convolution family: bias first, then weights in `c` order (ConvolutionParamInitializer and
//! friends); depthwise and separable layers list `W` before `b` in their param tables.

use super::spec::{in_order, with_table, Ctx, LayerParams, R};
use crate::tensor::Order;

/// Convolution1D/2D, Deconvolution2D, Convolution3D, Deconvolution3D.
pub(super) fn convolution(c: &Ctx) -> R<LayerParams> {
    let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
    let k = c.ints("kernelSize")?;
    let w_shape = match c.l.type_name.as_str() {
        "ConvolutionLayer" => {
            let [h, w] = two(c, &k)?;
            vec![nout, nin, h, w]
        }
        // 1-D kernels are [k, 1] 2-D kernels; M2+ configs write `kernelSize [k, k]` but only
        // the first entry counts.
        "Convolution1DLayer" => vec![nout, nin, first(c, &k)?, 1],
        "Deconvolution2D" => {
            let [h, w] = two(c, &k)?;
            vec![nin, nout, h, w]
        }
        "Convolution3D" => {
            let [d, h, w] = three(c, &k)?;
            vec![nout, nin, d, h, w]
        }
        _ => {
            let [d, h, w] = three(c, &k)?;
            vec![d, h, w, nout, nin]
        }
    };
    let mut v = Vec::new();
    if c.has_bias(true) {
        v.push(c.b("b", nout));
    }
    v.push(c.w("W", w_shape, Order::C));
    Ok(in_order(v))
}

/// DepthwiseConvolution2D: memory `b, W`, table `W, b`; W is `[kH, kW, nIn, depthMultiplier]`.
pub(super) fn depthwise(c: &Ctx) -> R<LayerParams> {
    let nin = c.dim("nin")?;
    let m = c.dim("depthMultiplier")?;
    let [h, w] = two(c, &c.ints("kernelSize")?)?;
    let mut v = Vec::new();
    let has_bias = c.has_bias(true);
    if has_bias {
        v.push(c.b("b", nin * m));
    }
    v.push(c.w("W", vec![h, w, nin, m], Order::C));
    let table: &[&str] = if has_bias { &["W", "b"] } else { &["W"] };
    Ok(with_table(v, table))
}

/// SeparableConvolution2D: memory `b, W, pW`, table `W, pW, b`.
pub(super) fn separable(c: &Ctx) -> R<LayerParams> {
    let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
    let m = c.dim("depthMultiplier")?;
    let [h, w] = two(c, &c.ints("kernelSize")?)?;
    let mut v = Vec::new();
    let has_bias = c.has_bias(true);
    if has_bias {
        v.push(c.b("b", nout));
    }
    v.push(c.w("W", vec![m, nin, h, w], Order::C));
    v.push(c.w("pW", vec![nout, nin * m, 1, 1], Order::C));
    let table: &[&str] = if has_bias {
        &["W", "pW", "b"]
    } else {
        &["W", "pW"]
    };
    Ok(with_table(v, table))
}

/// LocallyConnected1D/2D (SameDiff layers: weights then bias, c order).
pub(super) fn locally_connected(c: &Ctx) -> R<LayerParams> {
    let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
    let co = Order::C;
    let k = c.ints("kernel")?;
    let mut v = Vec::new();
    if c.l.type_name == "LocallyConnected1D" {
        let out = c.dim("outputSize")?;
        v.push(c.w("W", vec![out, first(c, &k)? * nin, nout], co));
    } else {
        let out = c.ints("outputSize")?;
        let (oh, ow) = match out[..] {
            [a, b, ..] => (a, b),
            _ => return Err("LocallyConnected2D: outputSize needs 2 entries".into()),
        };
        let [kh, kw] = two(c, &k)?;
        let window = super::spec::checked_len(&[kh, kw, nin])?;
        v.push(c.w("W", vec![oh * ow, window, nout], co));
    }
    // Field default: no bias unless the JSON says so.
    if c.has_bias(false) {
        v.push(c.b("b", nout));
    }
    Ok(in_order(v))
}

fn first(c: &Ctx, k: &[usize]) -> R<usize> {
    k.first()
        .copied()
        .ok_or_else(|| format!("{}: empty kernelSize", c.l.type_name))
}

fn two(c: &Ctx, k: &[usize]) -> R<[usize; 2]> {
    match k {
        [a, b, ..] => Ok([*a, *b]),
        [a] => Ok([*a, *a]),
        [] => Err(format!("{}: empty kernelSize", c.l.type_name)),
    }
}

fn three(c: &Ctx, k: &[usize]) -> R<[usize; 3]> {
    match k {
        [a, b, d, ..] => Ok([*a, *b, *d]),
        [a] => Ok([*a, *a, *a]),
        _ => Err(format!("{}: kernelSize needs 3 entries", c.l.type_name)),
    }
}
