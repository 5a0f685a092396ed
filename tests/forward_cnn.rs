//! Forward pass of DL4J 1.0.0-beta4's `SyntheticCNN` network over our parameter views, compared
//! with the output DL4J itself saved for the same input.
//!
//! The network (MultiLayerNetwork, NCHW, input `[4, 1, 28, 28]`, output `[4, 4, 11, 22]`):
//! ConvolutionLayer -> SeparableConvolution2D -> SubsamplingLayer -> ZeroPaddingLayer ->
//! Upsampling2D -> DepthwiseConvolution2D -> SubsamplingLayer -> Cropping2D -> ConvolutionLayer ->
//! CnnLossLayer. Every hyper-parameter is read from the configuration JSON.
//!
//! The math follows spec `dl4j-config-and-layers.md` §9.5 (convolution), §9.7 (subsampling),
//! §9.8 (upsampling), §9.9 (zero padding, cropping), §9.21 (depthwise), §9.22 (separable), §9.2
//! (CnnLossLayer), §10 (activations) and §13 (convolution modes, padding, output size). It is computed
//! in f64 from the f32 parameters, so the difference measures DL4J's own f32 rounding plus any layout
//! error. Deliberately wrong readings of the parameters (segment order, c/f order, axis order of the
//! kernels, kernel flip, channel numbering) are run too and must miss by far more than the tolerance,
//! so a pass really pins the convolution-family layouts down. Two of them cannot be told apart on this
//! fixture because an axis has size 1 (layer 0 has nIn = 1; the separable layer has
//! depthMultiplier = 1, so its `[m, nIn, kH, kW]` vs `[nIn, m, kH, kW]` question stays open); the
//! test checks that those readings really coincide and reports them.

mod common;

use common::reference::{activation, apply, int, max_abs_diff, read_array, Model};
use dl4j::DType;
use ndarray::{s, Array1, Array4, ArrayView2, ArrayView4, ArrayViewMut2, Ix4, ShapeBuilder};
use serde_json::Value;

const DIR: &str = "dl4j/1.0.0-beta4";
const MODEL: &str = "SyntheticCNN_100b4.bin";
const INPUT: &str = "SyntheticCNN_Input_100b4.bin";
const OUTPUT: &str = "SyntheticCNN_Output_100b4.bin";

/// Max abs diff allowed against DL4J's output. The outputs are sigmoids in [0.46, 0.56], where one
/// f32 ulp is 6e-8; the observed difference is 7e-8 (about one ulp of DL4J's f32 result), so 1e-6
/// keeps a 14x margin, while every wrong layout below misses by more than 3e-2.
const TOL: f64 = 1e-6;

// ---------------------------------------------------------------------------------------------
// Model access
// ---------------------------------------------------------------------------------------------

/// Model access only this test needs, on top of the shared [`Model`].
impl Model {
    fn param4(&self, name: &str, shape: [usize; 4]) -> Array4<f64> {
        self.param(name, &shape)
            .into_dimensionality::<Ix4>()
            .unwrap()
    }

    /// The raw memory of one parameter (flat order), independent of the layout's shape/order.
    fn raw(&self, name: &str) -> Vec<f64> {
        let p = self
            .layout
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        self.flat[p.range()].to_vec()
    }

    /// The contiguous memory of all parameters of layer `i`; `expected_len` is checked.
    fn segment(&self, i: usize, expected_len: usize) -> Vec<f64> {
        let prefix = format!("{i}_");
        let ranges: Vec<_> = self
            .layout
            .params()
            .filter(|p| p.name.starts_with(&prefix))
            .map(|p| p.range())
            .collect();
        let start = ranges.iter().map(|r| r.start).min().expect("no params");
        let end = ranges.iter().map(|r| r.end).max().unwrap();
        let len: usize = ranges.iter().map(|r| r.len()).sum();
        assert_eq!(end - start, len, "layer {i}: parameters not contiguous");
        assert_eq!(len, expected_len, "layer {i}: parameter count");
        self.flat[start..end].to_vec()
    }
}

/// `data` (row-major / c order) as a 4-D array.
fn c4(data: &[f64], shape: [usize; 4]) -> Array4<f64> {
    Array4::from_shape_vec(shape, data.to_vec()).unwrap()
}

/// `data` (column-major / f order) as a 4-D array.
fn f4(data: &[f64], shape: [usize; 4]) -> Array4<f64> {
    Array4::from_shape_vec(shape.f(), data.to_vec()).unwrap()
}

/// A 2-element integer array such as `kernelSize`, or `default` when the key is missing/null.
fn pair(body: &Value, key: &str, default: Option<[usize; 2]>) -> [usize; 2] {
    match body.get(key).filter(|v| !v.is_null()) {
        None => default.unwrap_or_else(|| panic!("missing {key} in {body}")),
        Some(v) => {
            let a = ints(v);
            assert_eq!(a.len(), 2, "{key}: {v}");
            [a[0], a[1]]
        }
    }
}

fn ints(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap() as usize)
        .collect()
}

/// Every data-format field the layer carries (`cnn2dDataFormat`, `dataFormat`, `format`) must be
/// missing (⇒ NCHW) or `NCHW`.
fn assert_nchw(i: usize, body: &Value) {
    for key in ["cnn2dDataFormat", "dataFormat", "format"] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            assert_eq!(v.as_str(), Some("NCHW"), "layer {i}: {key} = {v}");
        }
    }
}

fn has_bias(body: &Value) -> bool {
    body.get("hasBias").and_then(Value::as_bool).unwrap_or(true)
}

// ---------------------------------------------------------------------------------------------
// Windows: ConvolutionMode, padding, output size (spec §13)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Truncate,
    Strict,
    Same,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
    mode: Mode,
}

impl Window {
    fn from_json(body: &Value) -> Window {
        let mode = match body.get("convolutionMode").and_then(Value::as_str) {
            None | Some("Truncate") => Mode::Truncate,
            Some("Strict") => Mode::Strict,
            Some("Same") => Mode::Same,
            Some(other) => panic!("convolutionMode {other} not implemented"),
        };
        Window {
            k: pair(body, "kernelSize", None),
            s: pair(body, "stride", None),
            p: pair(body, "padding", Some([0, 0])),
            d: pair(body, "dilation", Some([1, 1])),
            mode,
        }
    }

    /// 1×1, stride 1, no padding (the pointwise step of a separable convolution).
    fn pointwise() -> Window {
        Window {
            k: [1, 1],
            s: [1, 1],
            p: [0, 0],
            d: [1, 1],
            mode: Mode::Truncate,
        }
    }

    /// Output size and begin padding along axis `a` (0 = H, 1 = W) for input size `n`. Padding at
    /// the end needs no bookkeeping: positions past the input are out of bounds either way.
    fn axis(&self, a: usize, n: usize) -> (usize, usize) {
        let (k, s, p, d) = (self.k[a], self.s[a], self.p[a], self.d[a]);
        let ek = k + (k - 1) * (d - 1);
        match self.mode {
            Mode::Same => {
                let out = n.div_ceil(s);
                let total = ((out - 1) * s + ek).saturating_sub(n);
                (out, total / 2)
            }
            Mode::Truncate | Mode::Strict => {
                let span = (n + 2 * p)
                    .checked_sub(ek)
                    .unwrap_or_else(|| panic!("input {n} smaller than kernel {ek}"));
                if self.mode == Mode::Strict {
                    assert_eq!(span % s, 0, "Strict mode: input {n} does not fit");
                }
                (span / s + 1, p)
            }
        }
    }

    /// (out_h, out_w, pad_top, pad_left).
    fn geometry(&self, h: usize, w: usize) -> (usize, usize, usize, usize) {
        let (oh, pt) = self.axis(0, h);
        let (ow, pl) = self.axis(1, w);
        (oh, ow, pt, pl)
    }

    /// In-bounds input positions `(r, c, u, v)` of the window for output `(i, j)`.
    fn taps(
        &self,
        (h, w): (usize, usize),
        (pt, pl): (usize, usize),
        (i, j): (usize, usize),
    ) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        let row = move |u: usize| {
            (i * self.s[0] + u * self.d[0])
                .checked_sub(pt)
                .filter(|&r| r < h)
        };
        let col = move |v: usize| {
            (j * self.s[1] + v * self.d[1])
                .checked_sub(pl)
                .filter(|&c| c < w)
        };
        (0..self.k[0])
            .flat_map(move |u| (0..self.k[1]).filter_map(move |v| Some((row(u)?, col(v)?, u, v))))
    }
}

/// `out += x ⋆ k` (cross-correlation with zero padding, spec §9.5) for one channel pair.
fn correlate_add(
    x: ArrayView2<f64>,
    k: ArrayView2<f64>,
    win: &Window,
    mut out: ArrayViewMut2<f64>,
) {
    let (h, w) = x.dim();
    assert_eq!(k.dim(), (win.k[0], win.k[1]), "kernel shape");
    let (oh, ow, pt, pl) = win.geometry(h, w);
    assert_eq!(out.dim(), (oh, ow));
    for i in 0..oh {
        for j in 0..ow {
            let acc: f64 = win
                .taps((h, w), (pt, pl), (i, j))
                .map(|(r, c, u, v)| k[[u, v]] * x[[r, c]])
                .sum();
            out[[i, j]] += acc;
        }
    }
}

fn out_array(x: &Array4<f64>, channels: usize, win: &Window) -> Array4<f64> {
    let (mb, _, h, w) = x.dim();
    let (oh, ow, _, _) = win.geometry(h, w);
    Array4::zeros((mb, channels, oh, ow))
}

/// Dense convolution: `w` `[nOut, nIn, kH, kW]`, `y[n,o] = b[o] + Σ_c x[n,c] ⋆ w[o,c]`.
fn conv2d(
    x: &Array4<f64>,
    w: ArrayView4<f64>,
    b: Option<&Array1<f64>>,
    win: &Window,
) -> Array4<f64> {
    let (n_out, n_in, _, _) = w.dim();
    assert_eq!(x.dim().1, n_in, "conv input channels");
    let mut y = out_array(x, n_out, win);
    for n in 0..x.dim().0 {
        for o in 0..n_out {
            for c in 0..n_in {
                correlate_add(
                    x.slice(s![n, c, .., ..]),
                    w.slice(s![o, c, .., ..]),
                    win,
                    y.slice_mut(s![n, o, .., ..]),
                );
            }
        }
    }
    if let Some(b) = b {
        assert_eq!(b.len(), n_out);
        for o in 0..n_out {
            y.slice_mut(s![.., o, .., ..]).mapv_inplace(|v| v + b[o]);
        }
    }
    y
}

/// Depthwise convolution: `w` `[kH, kW, nIn, m]`; output channel `channel(c, j)` is input channel
/// `c` correlated with `w[:, :, c, j]`, plus `b[channel(c, j)]` (spec §9.21: `channel = c·m + j`).
fn depthwise(
    x: &Array4<f64>,
    w: ArrayView4<f64>,
    b: Option<&Array1<f64>>,
    win: &Window,
    channel: impl Fn(usize, usize) -> usize,
) -> Array4<f64> {
    let (_, _, n_in, m) = w.dim();
    assert_eq!(x.dim().1, n_in, "depthwise input channels");
    let mut y = out_array(x, n_in * m, win);
    for n in 0..x.dim().0 {
        for c in 0..n_in {
            for j in 0..m {
                let o = channel(c, j);
                correlate_add(
                    x.slice(s![n, c, .., ..]),
                    w.slice(s![.., .., c, j]),
                    win,
                    y.slice_mut(s![n, o, .., ..]),
                );
                if let Some(b) = b {
                    y.slice_mut(s![n, o, .., ..]).mapv_inplace(|v| v + b[o]);
                }
            }
        }
    }
    y
}

// ---------------------------------------------------------------------------------------------
// Parameter-free layers (spec §9.7 – §9.9)
// ---------------------------------------------------------------------------------------------

fn subsampling(i: usize, l: &Value, x: &Array4<f64>) -> Array4<f64> {
    let win = Window::from_json(l);
    let kind = l["poolingType"].as_str().expect("poolingType");
    let include_pad = l
        .get("avgPoolIncludePadInDivisor")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let p = l.get("pnorm").and_then(Value::as_f64).unwrap_or(0.0);
    let (mb, ch, h, w) = x.dim();
    let (oh, ow, pt, pl) = win.geometry(h, w);
    let mut y = Array4::zeros((mb, ch, oh, ow));
    for n in 0..mb {
        for c in 0..ch {
            let xc = x.slice(s![n, c, .., ..]);
            for oi in 0..oh {
                for oj in 0..ow {
                    let vals = win
                        .taps((h, w), (pt, pl), (oi, oj))
                        .map(|(r, q, _, _)| xc[[r, q]]);
                    y[[n, c, oi, oj]] = match kind {
                        // Padded positions are skipped.
                        "MAX" => vals.fold(f64::NEG_INFINITY, f64::max),
                        "AVG" => {
                            let (sum, count) = vals.fold((0.0, 0usize), |(s, k), v| (s + v, k + 1));
                            let div = if include_pad {
                                (win.k[0] * win.k[1]) as f64
                            } else {
                                count as f64
                            };
                            sum / div
                        }
                        "PNORM" => {
                            assert!(p > 0.0, "layer {i}: pnorm {p}");
                            vals.map(|v| v.abs().powf(p)).sum::<f64>().powf(1.0 / p)
                        }
                        other => panic!("layer {i}: poolingType {other} not implemented"),
                    };
                }
            }
        }
    }
    y
}

/// `[top, bottom, left, right]`.
fn four(i: usize, l: &Value, key: &str) -> [usize; 4] {
    let a = ints(&l[key]);
    assert_eq!(a.len(), 4, "layer {i}: {key} = {}", l[key]);
    [a[0], a[1], a[2], a[3]]
}

fn zero_padding(i: usize, l: &Value, x: &Array4<f64>) -> Array4<f64> {
    let [top, bottom, left, right] = four(i, l, "padding");
    let (mb, ch, h, w) = x.dim();
    let mut y = Array4::zeros((mb, ch, top + h + bottom, left + w + right));
    y.slice_mut(s![.., .., top..top + h, left..left + w])
        .assign(x);
    y
}

fn cropping(i: usize, l: &Value, x: &Array4<f64>) -> Array4<f64> {
    let [top, bottom, left, right] = four(i, l, "cropping");
    let (_, _, h, w) = x.dim();
    x.slice(s![.., .., top..h - bottom, left..w - right])
        .to_owned()
}

fn upsampling(l: &Value, x: &Array4<f64>) -> Array4<f64> {
    let [sh, sw] = match &l["size"] {
        Value::Array(_) => pair(l, "size", None),
        v => {
            let n = v.as_f64().expect("size") as usize;
            [n, n]
        }
    };
    let (mb, ch, h, w) = x.dim();
    Array4::from_shape_fn((mb, ch, h * sh, w * sw), |(n, c, r, q)| {
        x[[n, c, r / sh, q / sw]]
    })
}

// ---------------------------------------------------------------------------------------------
// Parameterized layers, with deliberate layout errors
// ---------------------------------------------------------------------------------------------

/// A deliberate misreading of one layer's parameters, to check that the tolerance discriminates.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Wrong {
    /// ConvolutionLayer segment read as `W` then `b` (bias last) instead of `b` then `W`.
    ConvBiasLast,
    /// ConvolutionLayer `W` `[nOut, nIn, kH, kW]` read in f order instead of c order.
    ConvWFOrder,
    /// ConvolutionLayer `W` read as `[nIn, nOut, kH, kW]` (the Deconvolution2D layout).
    ConvWInOutSwapped,
    /// Kernels flipped: true convolution instead of cross-correlation.
    ConvFlipped,
    /// Separable depthwise `W` read as `[nIn, m, kH, kW]` instead of `[m, nIn, kH, kW]`.
    SepWNinFirst,
    /// Separable depthwise kernels with the spatial axes swapped (`[m, nIn, kW, kH]`).
    SepKernelTransposed,
    /// Separable `pW` read as `[nIn·m, nOut]` (transposed) instead of `[nOut, nIn·m, 1, 1]`.
    SepPwTransposed,
    /// Separable segment read in the parameter-table order `W, pW, b` instead of `b, W, pW`.
    SepTableOrder,
    /// Depthwise `W` read as `[nIn, m, kH, kW]` instead of `[kH, kW, nIn, m]`.
    DwWNinMFirst,
    /// Depthwise `W` read as `[m, nIn, kH, kW]` (the separable layout).
    DwWAsSeparable,
    /// Depthwise output channel `j·nIn + c` instead of `c·m + j`.
    DwChannelJMajor,
    /// Depthwise segment read as `W` then `b` instead of `b` then `W`.
    DwBiasLast,
}

/// Which misreading applies to which layer (`None`: the real computation).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Control {
    layer: usize,
    wrong: Wrong,
}

fn wrong_at(control: Option<Control>, i: usize) -> Option<Wrong> {
    control.filter(|c| c.layer == i).map(|c| c.wrong)
}

fn convolution(
    m: &Model,
    i: usize,
    l: &Value,
    x: &Array4<f64>,
    wrong: Option<Wrong>,
) -> Array4<f64> {
    let win = Window::from_json(l);
    let (n_in, n_out) = (int(l, "nin"), int(l, "nout"));
    let [kh, kw] = win.k;
    let shape = [n_out, n_in, kh, kw];
    let n_w = n_out * n_in * kh * kw;
    let act = activation(l.get("activationFn"));
    assert!(has_bias(l), "layer {i}: hasBias false not exercised here");
    let (mut w, b) = match wrong {
        Some(Wrong::ConvBiasLast) => {
            let seg = m.segment(i, n_out + n_w);
            (c4(&seg[..n_w], shape), Array1::from(seg[n_w..].to_vec()))
        }
        _ => (
            m.param4(&format!("{i}_W"), shape),
            m.bias(&format!("{i}_b"), n_out),
        ),
    };
    match wrong {
        Some(Wrong::ConvWFOrder) => w = f4(&m.raw(&format!("{i}_W")), shape),
        Some(Wrong::ConvWInOutSwapped) => {
            w = c4(&m.raw(&format!("{i}_W")), [n_in, n_out, kh, kw])
                .permuted_axes([1, 0, 2, 3])
                .to_owned()
        }
        Some(Wrong::ConvFlipped) => w = w.slice(s![.., .., ..;-1, ..;-1]).to_owned(),
        _ => {}
    }
    apply(act, conv2d(x, w.view(), Some(&b), &win))
}

fn separable(m: &Model, i: usize, l: &Value, x: &Array4<f64>, wrong: Option<Wrong>) -> Array4<f64> {
    let win = Window::from_json(l);
    let (n_in, n_out) = (int(l, "nin"), int(l, "nout"));
    let mult = int(l, "depthMultiplier");
    let [kh, kw] = win.k;
    let act = activation(l.get("activationFn"));
    assert!(has_bias(l), "layer {i}: hasBias false not exercised here");
    let (w_shape, pw_shape) = ([mult, n_in, kh, kw], [n_out, n_in * mult, 1, 1]);
    let (n_w, n_pw) = (mult * n_in * kh * kw, n_out * n_in * mult);

    let (mut w, mut pw, b) = match wrong {
        Some(Wrong::SepTableOrder) => {
            let seg = m.segment(i, n_out + n_w + n_pw);
            (
                c4(&seg[..n_w], w_shape),
                c4(&seg[n_w..n_w + n_pw], pw_shape),
                Array1::from(seg[n_w + n_pw..].to_vec()),
            )
        }
        _ => (
            m.param4(&format!("{i}_W"), w_shape),
            m.param4(&format!("{i}_pW"), pw_shape),
            m.bias(&format!("{i}_b"), n_out),
        ),
    };
    match wrong {
        Some(Wrong::SepWNinFirst) => {
            w = c4(&m.raw(&format!("{i}_W")), [n_in, mult, kh, kw])
                .permuted_axes([1, 0, 2, 3])
                .to_owned()
        }
        Some(Wrong::SepKernelTransposed) => {
            assert_eq!(kh, kw, "square kernels only for this control");
            w = w.permuted_axes([0, 1, 3, 2]).to_owned()
        }
        Some(Wrong::SepPwTransposed) => {
            let t = c4(&m.raw(&format!("{i}_pW")), [n_in * mult, n_out, 1, 1]);
            pw = t.permuted_axes([1, 0, 2, 3]).to_owned()
        }
        _ => {}
    }
    // Depthwise step: intermediate channel c·m + j uses W[j, c] (spec §9.22); as a [kH, kW, nIn, m]
    // kernel for `depthwise`. No bias here: it comes after the pointwise step.
    let mid = depthwise(
        x,
        w.view().permuted_axes([2, 3, 1, 0]),
        None,
        &win,
        |c, j| c * mult + j,
    );
    apply(act, conv2d(&mid, pw.view(), Some(&b), &Window::pointwise()))
}

fn depthwise_layer(
    m: &Model,
    i: usize,
    l: &Value,
    x: &Array4<f64>,
    wrong: Option<Wrong>,
) -> Array4<f64> {
    let win = Window::from_json(l);
    let n_in = int(l, "nin");
    let mult = int(l, "depthMultiplier");
    assert_eq!(int(l, "nout"), n_in * mult, "layer {i}: nOut = nIn·m");
    let [kh, kw] = win.k;
    let act = activation(l.get("activationFn"));
    assert!(has_bias(l), "layer {i}: hasBias false not exercised here");
    let shape = [kh, kw, n_in, mult];
    let n_w = kh * kw * n_in * mult;

    let (mut w, b) = match wrong {
        Some(Wrong::DwBiasLast) => {
            let seg = m.segment(i, n_in * mult + n_w);
            (c4(&seg[..n_w], shape), Array1::from(seg[n_w..].to_vec()))
        }
        _ => (
            m.param4(&format!("{i}_W"), shape),
            m.bias(&format!("{i}_b"), n_in * mult),
        ),
    };
    match wrong {
        Some(Wrong::DwWNinMFirst) => {
            w = c4(&m.raw(&format!("{i}_W")), [n_in, mult, kh, kw])
                .permuted_axes([2, 3, 0, 1])
                .to_owned()
        }
        Some(Wrong::DwWAsSeparable) => {
            w = c4(&m.raw(&format!("{i}_W")), [mult, n_in, kh, kw])
                .permuted_axes([2, 3, 1, 0])
                .to_owned()
        }
        _ => {}
    }
    let y = if wrong == Some(Wrong::DwChannelJMajor) {
        depthwise(x, w.view(), Some(&b), &win, |c, j| j * n_in + c)
    } else {
        depthwise(x, w.view(), Some(&b), &win, |c, j| c * mult + j)
    };
    apply(act, y)
}

// ---------------------------------------------------------------------------------------------
// The network
// ---------------------------------------------------------------------------------------------

const LAYERS: [&str; 10] = [
    "ConvolutionLayer",
    "SeparableConvolution2D",
    "SubsamplingLayer",
    "ZeroPaddingLayer",
    "Upsampling2D",
    "DepthwiseConvolution2D",
    "SubsamplingLayer",
    "Cropping2D",
    "ConvolutionLayer",
    "CnnLossLayer",
];

fn forward(m: &Model, x: &Array4<f64>, control: Option<Control>) -> Array4<f64> {
    let mut h = x.clone();
    for i in 0..m.num_layers() {
        let (t, l) = m.layer(i);
        assert_nchw(i, l);
        let wrong = wrong_at(control, i);
        h = match t.as_str() {
            "ConvolutionLayer" => convolution(m, i, l, &h, wrong),
            "SeparableConvolution2D" => separable(m, i, l, &h, wrong),
            "DepthwiseConvolution2D" => depthwise_layer(m, i, l, &h, wrong),
            "SubsamplingLayer" => subsampling(i, l, &h),
            "ZeroPaddingLayer" => zero_padding(i, l, &h),
            "Upsampling2D" => upsampling(l, &h),
            "Cropping2D" => cropping(i, l, &h),
            // No params; activation elementwise (spec §9.2).
            "CnnLossLayer" => apply(activation(l.get("activationFn")), h),
            other => panic!("layer {i}: {other} not implemented in this test"),
        };
    }
    h
}

/// Why `control` reads the very same numbers as the real layout on this model (an axis of size 1
/// makes the two orders coincide), or `None` when it really is a different reading.
fn degenerate(m: &Model, control: Control) -> Option<&'static str> {
    let (_, l) = m.layer(control.layer);
    match control.wrong {
        Wrong::ConvWInOutSwapped if int(l, "nin") == 1 || int(l, "nout") == 1 => {
            Some("nIn or nOut is 1, so [nOut, nIn, ..] and [nIn, nOut, ..] are the same memory")
        }
        Wrong::SepWNinFirst if int(l, "depthMultiplier") == 1 || int(l, "nin") == 1 => Some(
            "depthMultiplier or nIn is 1, so [m, nIn, ..] and [nIn, m, ..] are the same memory",
        ),
        Wrong::DwChannelJMajor if int(l, "depthMultiplier") == 1 || int(l, "nin") == 1 => {
            Some("depthMultiplier or nIn is 1, so c·m + j and j·nIn + c are the same channel")
        }
        _ => None,
    }
}

#[test]
fn synthetic_cnn_matches_dl4j_output_100b4() {
    let m = Model::open(&format!("{DIR}/{MODEL}"));
    let classes: Vec<String> = (0..m.num_layers()).map(|i| m.layer(i).0).collect();
    assert_eq!(classes, LAYERS, "layer sequence");
    assert_eq!(m.archive.dtype(), DType::F32);
    let preprocessors = &m.archive.config.value()["inputPreProcessors"];
    assert!(
        preprocessors.as_object().is_none_or(|o| o.is_empty()),
        "unexpected preprocessors: {preprocessors}"
    );

    let x = read_array(&format!("{DIR}/{INPUT}"))
        .into_dimensionality::<Ix4>()
        .unwrap();
    let want = read_array(&format!("{DIR}/{OUTPUT}"))
        .into_dimensionality::<Ix4>()
        .unwrap();
    assert_eq!(x.shape(), [4, 1, 28, 28], "input shape");
    assert_eq!(want.shape(), [4, 4, 11, 22], "output shape");

    let got = forward(&m, &x, None);
    let diff = max_abs_diff(&got, &want);
    eprintln!("{MODEL}: max abs diff {diff:.3e}");
    if diff > TOL {
        for c in 0..got.dim().1 {
            let d = (&got.slice(s![.., c, .., ..]) - &want.slice(s![.., c, .., ..]))
                .mapv(f64::abs)
                .fold(0.0f64, |a, &b| a.max(b));
            eprintln!("  channel {c}: max abs diff {d:.3e}");
        }
    }
    assert!(diff <= TOL, "max abs diff {diff:e}");

    // The expected output is not trivially constant (sigmoid of 0 everywhere would be 0.5).
    let spread = want.fold(0.0f64, |a, &v| a.max((v - 0.5).abs()));
    let (lo, hi) = want.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    eprintln!("  expected output range [{lo:.4}, {hi:.4}], max |y - 0.5| = {spread:.3e}");
    assert!(hi - lo > 1e-2, "expected output is nearly constant");

    // Every deliberate misreading misses by far more than the tolerance, except readings that are
    // the same memory because an axis has size 1 (then they must agree, and are reported).
    let mut controls = Vec::new();
    for layer in [0, 8] {
        for wrong in [
            Wrong::ConvBiasLast,
            Wrong::ConvWFOrder,
            Wrong::ConvWInOutSwapped,
            Wrong::ConvFlipped,
        ] {
            controls.push(Control { layer, wrong });
        }
    }
    for wrong in [
        Wrong::SepWNinFirst,
        Wrong::SepKernelTransposed,
        Wrong::SepPwTransposed,
        Wrong::SepTableOrder,
    ] {
        controls.push(Control { layer: 1, wrong });
    }
    for wrong in [
        Wrong::DwWNinMFirst,
        Wrong::DwWAsSeparable,
        Wrong::DwChannelJMajor,
        Wrong::DwBiasLast,
    ] {
        controls.push(Control { layer: 5, wrong });
    }
    for control in controls {
        let d = max_abs_diff(&forward(&m, &x, Some(control)), &want);
        eprintln!("  control {control:?}: max abs diff {d:.3e}");
        if let Some(why) = degenerate(&m, control) {
            eprintln!("    (not discriminable on this fixture: {why})");
            assert!(
                d <= TOL,
                "{control:?} should be identical ({why}), yet differs: {d:e}"
            );
            continue;
        }
        assert!(
            d > 100.0 * TOL,
            "control {control:?} not discriminated ({d:e})"
        );
    }
}

#[test]
fn parameter_layout_matches_spec_order() {
    // The flat order the forward pass relies on, stated directly: conv b then W; separable b, W,
    // pW; depthwise b then W (spec §9.5, §9.21, §9.22), with the shapes of the views.
    let m = Model::open(&format!("{DIR}/{MODEL}"));
    let expect: &[(&str, &[usize])] = &[
        ("0_b", &[4]),
        ("0_W", &[4, 1, 3, 3]),
        ("1_b", &[8]),
        ("1_W", &[1, 4, 3, 3]),
        ("1_pW", &[8, 4, 1, 1]),
        ("5_b", &[16]),
        ("5_W", &[3, 3, 8, 2]),
        ("8_b", &[4]),
        ("8_W", &[4, 16, 4, 4]),
    ];
    let got: Vec<(String, Vec<usize>)> = m
        .layout
        .params()
        .map(|p| (p.name.clone(), p.shape.clone()))
        .collect();
    let got_bias_normalized: Vec<(String, Vec<usize>)> = got
        .into_iter()
        .map(|(n, s)| match s.as_slice() {
            [1, k] if n.ends_with("_b") => (n, vec![*k]),
            _ => (n, s),
        })
        .collect();
    let want: Vec<(String, Vec<usize>)> = expect
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_vec()))
        .collect();
    assert_eq!(got_bias_normalized, want);
    // Contiguous, in that order, covering the whole vector.
    let mut offset = 0;
    for p in m.layout.params() {
        assert_eq!(p.offset, offset, "{}", p.name);
        offset += p.len();
    }
    assert_eq!(offset, m.flat.len());
}
