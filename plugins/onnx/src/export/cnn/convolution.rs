//! ConvolutionLayer, Convolution1DLayer (§9.5-§9.6), Convolution3D (W `[nOut, nIn, kD, kH, kW]`), Deconvolution2D (§9.20),
//! DepthwiseConvolution2D (§9.21), SeparableConvolution2D (§9.22). Input is channels-first;
//! each returns the pre-transpose output and its channel count.

use super::super::activation::Activation;
use super::super::{Builder, LayerCtx};
use super::{pooling, Mode, Window};
use crate::proto::{Attr, Dim};

type Out = Result<(String, Option<Dim>), String>;

fn n_out(ctx: &LayerCtx) -> Option<Dim> {
    ctx.layer
        .n_out()
        .filter(|&n| n > 0)
        .map(|n| Dim::Fixed(n as usize))
}

fn bias(b: &Builder, ctx: &LayerCtx) -> Result<Option<String>, String> {
    if ctx.layer.bool("hasBias").unwrap_or(true) {
        Ok(Some(ctx.param(b, "b")?))
    } else {
        Ok(None)
    }
}

fn conv_node(
    b: &mut Builder,
    op: &str,
    x: &str,
    w: &str,
    bias: Option<&str>,
    mut attrs: Vec<(&'static str, Attr)>,
    group: Option<i64>,
) -> String {
    if let Some(g) = group {
        attrs.push(("group", Attr::Int(g)));
    }
    let mut ins = vec![x, w];
    ins.extend(bias);
    b.op(op, &ins, attrs)
}

/// `Conv(x, W, b)`; W is already ONNX's `[M, C, k...]`. Convolution1D's `[nOut, nIn, k, 1]`
/// loses its dummy axis (only index 0 of each window array acts on time).
pub(super) fn conv(b: &mut Builder, ctx: &LayerCtx, x: &str, spatial: usize) -> Out {
    let win = Window::of(ctx.layer, spatial)?;
    let act = Activation::of_layer(ctx.layer)?;
    let mut w = ctx.param(b, "W")?;
    if spatial == 1 {
        let shape = b.ints(&[0, 0, -1]);
        w = b.op("Reshape", &[&w, &shape], vec![]);
    }
    let bias = bias(b, ctx)?;
    if spatial == 1 && pooling::shifts(&win) {
        return conv1d_shifted(b, ctx, x, &w, bias.as_deref(), &win, act);
    }
    let y = conv_node(b, "Conv", x, &w, bias.as_deref(), win.attrs(true), None);
    Ok((act.apply(b, &y)?, n_out(ctx)))
}

/// Convolution1DLayer in Same mode with `eK < s`: DL4J runs libnd4j `conv1d`, whose
/// `calcPadding2D` begin pad `t/2` (C++ truncation, `t = (⌈in/s⌉-1)·s + eK - in`) is not clamped,
/// so for `t ≤ -2` the windows start `|t/2|` past `o·s`, where ONNX `auto_pad` would clamp it to
/// 0. The input is cropped / zero-padded from its runtime size (as for 3-D pooling) and convolved
/// without padding. (The 2-D layers and Subsampling1D reject `t ≤ -2`: DL4J's
/// `getSameModeTopLeftPadding` throws, and for `t ≥ -1` `SAME_UPPER` is exact.)
fn conv1d_shifted(
    b: &mut Builder,
    ctx: &LayerCtx,
    x: &str,
    w: &str,
    bias: Option<&str>,
    win: &Window,
    act: Activation,
) -> Out {
    let (cropped, pads) = pooling::same_crop_pads(b, x, win);
    let zero = b.scalar(0.0);
    let padded = b.op(
        "Pad",
        &[&cropped, &pads, &zero],
        vec![("mode", Attr::Str("constant".into()))],
    );
    let attrs = vec![
        ("kernel_shape", Attr::Ints(win.k.clone())),
        ("strides", Attr::Ints(win.s.clone())),
        ("dilations", Attr::Ints(win.d.clone())),
        ("pads", Attr::Ints(vec![0; 2 * win.k.len()])),
    ];
    let y = conv_node(b, "Conv", &padded, w, bias, attrs, None);
    Ok((act.apply(b, &y)?, n_out(ctx)))
}

/// `ConvTranspose(x, W, b)`: DL4J's `[nIn, nOut, kH, kW]` is ONNX's layout. Same mode: output
/// `s·in`, and libnd4j `deconv2d` (`calcPadding2D` with input and output swapped) takes the
/// begin crop `p = t/2` with `t = eK - s`, C++ integer division truncating toward zero, the rest
/// `t - p` at the end; written as explicit pads because ONNX versions disagree on which side
/// `auto_pad = SAME_UPPER` favours for ConvTranspose. When `eK < s`, `t` is negative: libnd4j's
/// col2im then places tap `u` of input `i` at `i·s + u·d - p` with `p ≤ 0`, i.e. the
/// uncropped `(in-1)·s + eK` result shifted by `-p`, zero-filled to `s·in`, and the bias added
/// everywhere (it is added after col2im); so the ONNX pads are clamped at 0, the result `Pad`ded
/// by the negative parts and the bias added afterwards.
pub(super) fn deconv(b: &mut Builder, ctx: &LayerCtx, x: &str) -> Out {
    let win = Window::of(ctx.layer, 2)?;
    let act = Activation::of_layer(ctx.layer)?;
    let w = ctx.param(b, "W")?;
    let bias = bias(b, ctx)?;
    // Begin and end crop per axis (negative: padding of the output).
    let (begin, end): (Vec<i64>, Vec<i64>) = match win.mode {
        Mode::Same => win
            .effective()
            .iter()
            .zip(&win.s)
            .map(|(ek, s)| {
                let t = ek - s;
                (t / 2, t - t / 2)
            })
            .unzip(),
        _ => (win.p.clone(), win.p.clone()),
    };
    let mut pads: Vec<i64> = begin.iter().map(|&p| p.max(0)).collect();
    pads.extend(end.iter().map(|&p| p.max(0)));
    let attrs = vec![
        ("kernel_shape", Attr::Ints(win.k.clone())),
        ("strides", Attr::Ints(win.s.clone())),
        ("dilations", Attr::Ints(win.d.clone())),
        ("pads", Attr::Ints(pads)),
    ];
    if begin.iter().chain(&end).all(|&p| p >= 0) {
        let y = conv_node(b, "ConvTranspose", x, &w, bias.as_deref(), attrs, None);
        return Ok((act.apply(b, &y)?, n_out(ctx)));
    }
    let y = conv_node(b, "ConvTranspose", x, &w, None, attrs, None);
    let mut out_pads = vec![0, 0];
    out_pads.extend(begin.iter().map(|&p| (-p).max(0)));
    out_pads.extend([0, 0]);
    out_pads.extend(end.iter().map(|&p| (-p).max(0)));
    let out_pads = b.ints(&out_pads);
    let zero = b.scalar(0.0);
    let mut y = b.op(
        "Pad",
        &[&y, &out_pads, &zero],
        vec![("mode", Attr::Str("constant".into()))],
    );
    if let Some(bias) = bias {
        let shape = b.ints(&[1, -1, 1, 1]);
        let bias = b.op("Reshape", &[&bias, &shape], vec![]);
        y = b.op("Add", &[&y, &bias], vec![]);
    }
    Ok((act.apply(b, &y)?, n_out(ctx)))
}

/// `[a, m, kH, kW]` after `perm` -> grouped Conv weight `[a·m, 1, kH, kW]`.
fn grouped_weight(b: &mut Builder, w: &str, perm: &[i64], win: &Window) -> Result<String, String> {
    let &[kh, kw] = win.k.as_slice() else {
        return Err(format!(
            "kernelSize {:?} must have 2 entries for a 2-D convolution",
            win.k
        ));
    };
    let t = b.op("Transpose", &[w], vec![("perm", Attr::Ints(perm.to_vec()))]);
    let shape = b.ints(&[-1, 1, kh, kw]);
    Ok(b.op("Reshape", &[&t, &shape], vec![]))
}

fn n_in(ctx: &LayerCtx) -> Result<i64, String> {
    ctx.layer
        .n_in()
        .filter(|&n| n > 0)
        .ok_or_else(|| "nIn unknown: needed as the group count".to_string())
}

/// Output channel `c·m + j` is input channel `c` with `W[:, :, c, j]`: W `[kH, kW, nIn, m]`
/// transposed to `[nIn, m, kH, kW]` is exactly the grouped Conv weight, `group = nIn`.
pub(super) fn depthwise(b: &mut Builder, ctx: &LayerCtx, x: &str) -> Out {
    let win = Window::of(ctx.layer, 2)?;
    let act = Activation::of_layer(ctx.layer)?;
    let group = n_in(ctx)?;
    let w = ctx.param(b, "W")?;
    let w = grouped_weight(b, &w, &[2, 3, 0, 1], &win)?;
    let bias = bias(b, ctx)?;
    let y = conv_node(
        b,
        "Conv",
        x,
        &w,
        bias.as_deref(),
        win.attrs(true),
        Some(group),
    );
    Ok((act.apply(b, &y)?, n_out(ctx)))
}

/// Depthwise step with W `[m, nIn, kH, kW]` (channel `c·m + j` uses `W[j, c]`, hence the
/// `[1, 0, 2, 3]` transpose), no bias; then the 1×1 `pW` convolution with the bias.
pub(super) fn separable(b: &mut Builder, ctx: &LayerCtx, x: &str) -> Out {
    let win = Window::of(ctx.layer, 2)?;
    let act = Activation::of_layer(ctx.layer)?;
    let group = n_in(ctx)?;
    let w = ctx.param(b, "W")?;
    let w = grouped_weight(b, &w, &[1, 0, 2, 3], &win)?;
    let mid = conv_node(b, "Conv", x, &w, None, win.attrs(true), Some(group));
    let pw = ctx.param(b, "pW")?;
    let bias = bias(b, ctx)?;
    let y = conv_node(b, "Conv", &mid, &pw, bias.as_deref(), vec![], None);
    Ok((act.apply(b, &y)?, n_out(ctx)))
}
