//! SubsamplingLayer / Subsampling1DLayer (§9.7), Subsampling3DLayer (MAX, AVG) and GlobalPoolingLayer (§9.10).

use super::super::{batch, Builder, Kind, LayerCtx, Translated, Value};
use super::{Mode, Window};
use crate::proto::{Attr, Dim};

/// The number of taps in a window, `Πk` (as a float: it only ever scales values).
fn window_size(win: &Window) -> f64 {
    win.k.iter().map(|&k| k as f64).product()
}

/// Most taps [`dilated`] unrolls into separate `Slice`s (each tap is a node and three constants).
const MAX_UNROLLED_TAPS: i64 = 1 << 16;

/// `(Σ|x|^p)^(1/p)`: ONNX LpPool would do, but common runtimes lack it (tract), so `|x|^p` is
/// summed as `AveragePool(count_include_pad = 1) · window size` (padding adds zeros).
fn pnorm_pool(b: &mut Builder, x: &str, win: &Window, p: f64) -> String {
    let a = b.op("Abs", &[x], vec![]);
    let pe = b.scalar(p);
    let pw = b.op("Pow", &[&a, &pe], vec![]);
    let mut attrs = win.attrs(false);
    attrs.push(("count_include_pad", Attr::Int(1)));
    let avg = b.op("AveragePool", &[&pw], attrs);
    let n = b.scalar(window_size(win));
    let sum = b.op("Mul", &[&avg, &n], vec![]);
    let inv = b.scalar(1.0 / p);
    b.op("Pow", &[&sum, &inv], vec![])
}

/// Windows as convolution (§13); MAX skips padding (ONNX MaxPool pads are -inf), AVG divides
/// by the window size exactly when `avgPoolIncludePadInDivisor` (missing ⇒ true).
pub(super) fn subsampling(
    b: &mut Builder,
    ctx: &LayerCtx,
    x: &str,
    spatial: usize,
) -> Result<String, String> {
    let layer = ctx.layer;
    let win = Window::of(layer, spatial)?;
    let kind = layer.str("poolingType").unwrap_or("MAX");
    let pnorm = || {
        layer
            .get("pnorm")
            .and_then(serde_json::Value::as_f64)
            .filter(|&p| p > 0.0)
            .ok_or("PNORM pooling without a positive pnorm")
    };
    if spatial == 3 {
        return subsampling_3d(b, x, &win, kind);
    }
    let include = layer.bool("avgPoolIncludePadInDivisor").unwrap_or(true);
    if win.dilated() {
        let p = if kind == "PNORM" { pnorm()? } else { 0.0 };
        return dilated(b, x, &win, kind, include, p, false);
    }
    match kind {
        "MAX" => Ok(b.op("MaxPool", &[x], win.attrs(false))),
        "AVG" => {
            let mut attrs = win.attrs(false);
            attrs.push(("count_include_pad", Attr::Int(include as i64)));
            Ok(b.op("AveragePool", &[x], attrs))
        }
        "PNORM" => Ok(pnorm_pool(b, x, &win, pnorm()?)),
        other => Err(format!(
            "poolingType {other} is not supported by SubsamplingLayer"
        )),
    }
}

/// Subsampling3DLayer: DL4J runs libnd4j `maxpool3dnew` for MAX and `avgpool3dnew` for every
/// other type, always with extra parameter 0, i.e. the AVG divisor is the number of in-bounds
/// (dilated) taps: padding never counts, and the layer has no `avgPoolIncludePadInDivisor`.
/// Windows are those of §13; Same mode takes libnd4j `calcPadding3D`'s begin pad
/// `((out-1)·s + eK - in) / 2`, which C++ truncates toward zero and does not clamp: when
/// `eK < s` the total can be -2 or less and the windows then start `|begin|` past `o·s`.
fn subsampling_3d(b: &mut Builder, x: &str, win: &Window, kind: &str) -> Result<String, String> {
    match kind {
        // Strided windows also when a Same-mode total can go negative (eK < s): ONNX auto_pad
        // clamps it at 0, libnd4j does not.
        "MAX" | "AVG" if win.dilated() || shifts(win) => dilated(b, x, win, kind, false, 0.0, true),
        "MAX" => Ok(b.op("MaxPool", &[x], win.attrs(false))),
        "AVG" => {
            let mut attrs = win.attrs(false);
            attrs.push(("count_include_pad", Attr::Int(0)));
            Ok(b.op("AveragePool", &[x], attrs))
        }
        // Subsampling3DLayer.PoolingType has MAX and AVG only; a PNORM set through the generic
        // PoolingType is not a p-norm in DL4J (its forward pass runs avgpool3dnew, a plain
        // average, and ignores pnorm), so it is refused rather than guessed.
        "PNORM" => Err(
            "Subsampling3DLayer supports only MAX and AVG pooling in DL4J \
             (PNORM is not a 3-D pooling type: DL4J would silently run average pooling)"
                .into(),
        ),
        other => Err(format!(
            "poolingType {other} is not supported by Subsampling3DLayer (MAX or AVG)"
        )),
    }
}

/// Dilated windows, which runtimes handle unevenly (tract ignores pooling dilations and
/// AveragePool has them only from opset 19): the input padded explicitly (-inf for MAX, 0
/// otherwise), every tap a strided `Slice` of it, combined with `Max` / `Sum`. A tap `u` starts at
/// `u·d` and ends `eK - 1 - u·d` before the end, so every slice has the output's size. Same
/// mode computes its pads from the input's runtime shape.
/// With `trunc_same`, Same mode follows libnd4j's unclamped truncated begin pad (see
/// [`same_crop_pads`]).
fn dilated(
    b: &mut Builder,
    x: &str,
    win: &Window,
    kind: &str,
    include_pad: bool,
    p: f64,
    trunc_same: bool,
) -> Result<String, String> {
    let n = win.k.len();
    let tap_count = win
        .k
        .iter()
        .try_fold(1i64, |acc, &k| acc.checked_mul(k))
        .filter(|&t| t <= MAX_UNROLLED_TAPS);
    if tap_count.is_none() {
        return Err(format!(
            "dilated pooling window {:?} has more than {MAX_UNROLLED_TAPS} taps to unroll",
            win.k
        ));
    }
    let cropped;
    let mut x = x;
    let pads = match win.mode {
        Mode::Same if trunc_same => {
            let (c, pads) = same_crop_pads(b, x, win);
            cropped = c;
            x = &cropped;
            pads
        }
        Mode::Same => same_pads(b, x, win),
        Mode::Truncate | Mode::Strict => {
            let mut pads = vec![0, 0];
            pads.extend(&win.p);
            pads.extend([0, 0]);
            pads.extend(&win.p);
            b.ints(&pads)
        }
        Mode::Causal => return Err("Causal mode is for 1-D convolutions only".into()),
    };
    let axes = b.ints(&(2..2 + n as i64).collect::<Vec<_>>());
    let steps = b.ints(&win.s);
    let eks = win.effective();
    // Every tap offset (u, v, ...) of the kernel.
    let mut taps: Vec<Vec<i64>> = vec![vec![]];
    for &k in &win.k {
        taps = taps
            .into_iter()
            .flat_map(|t| {
                (0..k).map(move |u| {
                    let mut t = t.clone();
                    t.push(u);
                    t
                })
            })
            .collect();
    }
    let windows = |b: &mut Builder, src: &str, fill: f64, combine: &str| -> String {
        let fill = b.scalar(fill);
        let padded = b.op(
            "Pad",
            &[src, &pads, &fill],
            vec![("mode", Attr::Str("constant".into()))],
        );
        let slices: Vec<String> = taps
            .iter()
            .map(|t| {
                let starts: Vec<i64> = t.iter().zip(&win.d).map(|(u, d)| u * d).collect();
                let ends: Vec<i64> = starts
                    .iter()
                    .zip(&eks)
                    .map(|(start, ek)| {
                        let rest = ek - 1 - start;
                        if rest == 0 {
                            i64::MAX
                        } else {
                            -rest
                        }
                    })
                    .collect();
                let (st, en) = (b.ints(&starts), b.ints(&ends));
                b.op("Slice", &[&padded, &st, &en, &axes, &steps], vec![])
            })
            .collect();
        let refs: Vec<&str> = slices.iter().map(String::as_str).collect();
        b.op(combine, &refs, vec![])
    };
    match kind {
        "MAX" => Ok(windows(b, x, f64::NEG_INFINITY, "Max")),
        "AVG" => {
            let sum = windows(b, x, 0.0, "Sum");
            let div = if include_pad {
                b.scalar(window_size(win))
            } else {
                // In-bounds count: the same windows over ones.
                let one = b.scalar(1.0);
                let shape = b.op("Shape", &[x], vec![]);
                let ones = b.op("Expand", &[&one, &shape], vec![]);
                windows(b, &ones, 0.0, "Sum")
            };
            Ok(b.op("Div", &[&sum, &div], vec![]))
        }
        "PNORM" => {
            let a = b.op("Abs", &[x], vec![]);
            let pe = b.scalar(p);
            let pw = b.op("Pow", &[&a, &pe], vec![]);
            let sum = windows(b, &pw, 0.0, "Sum");
            let inv = b.scalar(1.0 / p);
            Ok(b.op("Pow", &[&sum, &inv], vec![]))
        }
        other => Err(format!(
            "poolingType {other} is not supported by SubsamplingLayer"
        )),
    }
}

/// Per spatial axis, from the runtime input size: the unclamped Same-mode total
/// `(⌈in/s⌉ - 1)·s + eK - in`, and the sizes.
fn same_total(b: &mut Builder, x: &str, win: &Window) -> (String, String) {
    let n = win.k.len();
    let shape = b.op("Shape", &[x], vec![]);
    let (start, end) = (b.ints(&[2]), b.ints(&[2 + n as i64]));
    let size = b.op("Slice", &[&shape, &start, &end], vec![]);
    let stride = b.ints(&win.s);
    let ek = b.ints(&win.effective());
    let one = b.ints(&[1]);
    // ⌈in/s⌉ - 1 = ⌊(in - 1)/s⌋ (sizes are positive, integer Div truncates).
    let m1 = b.op("Sub", &[&size, &one], vec![]);
    let last = b.op("Div", &[&m1, &stride], vec![]);
    let span = b.op("Mul", &[&last, &stride], vec![]);
    let span = b.op("Add", &[&span, &ek], vec![]);
    (b.op("Sub", &[&span, &size], vec![]), size)
}

/// Same-mode pads of §13 computed from the runtime input size: per spatial axis
/// `out = ⌈in/s⌉`, total `max(0, (out-1)·s + eK - in)`, `⌊total/2⌋` first, the rest last.
fn same_pads(b: &mut Builder, x: &str, win: &Window) -> String {
    let (total, _) = same_total(b, x, win);
    let zero = b.ints(&[0]);
    let two = b.ints(&[2]);
    let total = b.op("Max", &[&total, &zero], vec![]);
    let begin = b.op("Div", &[&total, &two], vec![]);
    let end = b.op("Sub", &[&total, &begin], vec![]);
    let batch_channel = b.ints(&[0, 0]);
    b.op(
        "Concat",
        &[&batch_channel, &begin, &batch_channel, &end],
        vec![("axis", Attr::Int(0))],
    )
}

/// A Same-mode axis whose total `(out-1)·s + eK - in` can be -2 or less for some input size
/// (only when `eK < s`).
pub(super) fn shifts(win: &Window) -> bool {
    win.mode == Mode::Same && win.effective().iter().zip(&win.s).any(|(ek, s)| ek < s)
}

/// libnd4j's Same-mode windows from the runtime input size: total `t = (⌈in/s⌉-1)·s + eK - in`,
/// begin pad `t/2` truncated toward zero, end `t - begin`, neither clamped. Negative parts become
/// a crop of the input (`Slice`), positive ones the returned pads; integer `Div` only ever sees
/// non-negative operands.
pub(super) fn same_crop_pads(b: &mut Builder, x: &str, win: &Window) -> (String, String) {
    let n = win.k.len();
    let (total, size) = same_total(b, x, win);
    let zero = b.ints(&[0]);
    let two = b.ints(&[2]);
    let pos = b.op("Max", &[&total, &zero], vec![]);
    let neg_total = b.op("Sub", &[&zero, &total], vec![]);
    let neg = b.op("Max", &[&neg_total, &zero], vec![]);
    let pad_begin = b.op("Div", &[&pos, &two], vec![]);
    let pad_end = b.op("Sub", &[&pos, &pad_begin], vec![]);
    let crop_begin = b.op("Div", &[&neg, &two], vec![]);
    let crop_end = b.op("Sub", &[&neg, &crop_begin], vec![]);
    let stop = b.op("Sub", &[&size, &crop_end], vec![]);
    let axes = b.ints(&(2..2 + n as i64).collect::<Vec<_>>());
    let cropped = b.op("Slice", &[x, &crop_begin, &stop, &axes], vec![]);
    let batch_channel = b.ints(&[0, 0]);
    let pads = b.op(
        "Concat",
        &[&batch_channel, &pad_begin, &batch_channel, &pad_end],
        vec![("axis", Attr::Int(0))],
    );
    (cropped, pads)
}

/// Reduce over `axes`; ReduceSum takes axes as an input from opset 13, ReduceMax/ReduceMean
/// from opset 18.
fn reduce(b: &mut Builder, op: &str, x: &str, axes: &[i64], keep: bool) -> String {
    let keepdims = ("keepdims", Attr::Int(keep as i64));
    if op == "ReduceSum" || b.opset >= 18 {
        let a = b.ints(axes);
        b.op(op, &[x, &a], vec![keepdims])
    } else {
        b.op(
            op,
            &[x],
            vec![("axes", Attr::Ints(axes.to_vec())), keepdims],
        )
    }
}

/// MAX / AVG / SUM / PNORM over `poolingDimensions`, else the spatial (time) axes of the input's
/// layout; `collapseDimensions` (true) drops them. PNORM has no 1/N.
pub(super) fn global(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let layer = ctx.layer;
    let (rank, channel_axis, default_axes): (usize, usize, Vec<i64>) = match x.kind {
        Kind::Cnn { nhwc: false } => (4, 1, vec![2, 3]),
        Kind::Cnn { nhwc: true } => (4, 3, vec![1, 2]),
        Kind::Rnn { nwc: false } => (3, 1, vec![2]),
        Kind::Rnn { nwc: true } => (3, 2, vec![1]),
        Kind::Cnn3d { ndhwc: false } => (5, 1, vec![2, 3, 4]),
        Kind::Cnn3d { ndhwc: true } => (5, 4, vec![1, 2, 3]),
        k => return Err(format!("global pooling of a {k:?} input is not translated")),
    };
    let axes = layer.ints("poolingDimensions").unwrap_or(default_axes);
    if axes.iter().any(|&a| a < 1 || a as usize >= rank) {
        return Err(format!(
            "poolingDimensions {axes:?} for a rank-{rank} input"
        ));
    }
    let keep = !layer.bool("collapseDimensions").unwrap_or(true);
    let y = match layer.str("poolingType").unwrap_or("MAX") {
        "MAX" => reduce(b, "ReduceMax", &x.name, &axes, keep),
        "AVG" => reduce(b, "ReduceMean", &x.name, &axes, keep),
        "SUM" => reduce(b, "ReduceSum", &x.name, &axes, keep),
        "PNORM" => {
            let p = layer.int("pnorm").unwrap_or(2) as f64;
            if p <= 0.0 {
                return Err(format!("pnorm {p}"));
            }
            let a = b.op("Abs", &[&x.name], vec![]);
            let pe = b.scalar(p);
            let pw = b.op("Pow", &[&a, &pe], vec![]);
            let s = reduce(b, "ReduceSum", &pw, &axes, keep);
            let inv = b.scalar(1.0 / p);
            b.op("Pow", &[&s, &inv], vec![])
        }
        other => return Err(format!("poolingType {other} is not supported")),
    };
    let dim = |i: usize| x.dims.get(i).cloned().unwrap_or(Dim::Unknown);
    if keep {
        let dims = (0..rank)
            .map(|i| {
                if axes.contains(&(i as i64)) {
                    Dim::Fixed(1)
                } else {
                    dim(i)
                }
            })
            .collect();
        return Ok(Value::new(y, x.kind, dims));
    }
    let rest: Vec<Dim> = (1..rank)
        .filter(|i| !axes.contains(&(*i as i64)))
        .map(dim)
        .collect();
    if let [only] = rest.as_slice() {
        if !axes.contains(&(channel_axis as i64)) {
            return Ok(Value::new(
                y,
                Kind::FeedForward,
                vec![batch(), only.clone()],
            ));
        }
    }
    let mut dims = vec![batch()];
    dims.extend(rest);
    Ok(Value::new(y, Kind::Any, dims))
}
