//! `Conv` -> ConvolutionLayer / Convolution1DLayer / DepthwiseConvolution2D, `ConvTranspose`
//! -> Deconvolution2D, `Pad` -> ZeroPaddingLayer (spec config §9.5, §9.6, §9.9, §9.20, §9.21,
//! §13, §13b).
//!
//! Padding: equal pads on both sides are DL4J's Truncate mode with `padding`; ONNX's
//! `SAME_UPPER` split (extra at the end) is DL4J's Same mode; any other split gets a
//! ZeroPaddingLayer in front of an unpadded convolution.

use ndarray::{ArrayD, IxDyn};
use serde_json::{json, Value};

use super::super::json::{self, Family};
use super::super::net::{Layer, Sym};
use super::super::{attr_int, attr_ints, attr_str, input, show, Cx, Done};
use super::activation::hint;
use crate::proto::ForeignNode;

/// Begin and end padding per spatial axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pads {
    pub begin: Vec<usize>,
    pub end: Vec<usize>,
}

/// Window geometry shared by convolution and pooling.
#[derive(Debug, Clone)]
pub struct Window {
    pub kernel: Vec<usize>,
    pub stride: Vec<usize>,
    pub dilation: Vec<usize>,
    pub pads: Pads,
    /// The pads are ONNX's SAME_UPPER split for the input size.
    pub same_upper: bool,
}

/// Largest kernel size, stride, dilation or pad DL4J takes (its fields are Java `int`s).
const MAX_WINDOW: usize = i32::MAX as usize;

fn usizes(v: Option<Vec<i64>>, n: usize, default: usize, what: &str) -> Result<Vec<usize>, String> {
    match v {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == n => v
            .iter()
            .map(|&x| usize::try_from(x).ok().filter(|&x| x <= MAX_WINDOW))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{what} {v:?}: negative or beyond DL4J's int range")),
        Some(v) => Err(format!("{what} {v:?} for {n} spatial axes")),
    }
}

/// Extent of a dilated kernel, `(k - 1)·d + 1` (`None` for a zero kernel or on overflow).
fn extent(k: usize, d: usize) -> Option<usize> {
    k.checked_sub(1)?.checked_mul(d)?.checked_add(1)
}

/// Total SAME padding and its SAME_UPPER split for one axis (`None` for a zero stride or kernel,
/// or sizes that overflow).
fn same_split(input: usize, k: usize, s: usize, d: usize) -> Option<(usize, usize)> {
    if s == 0 {
        return None;
    }
    let ek = extent(k, d)?;
    let out = input.div_ceil(s);
    let total = out
        .saturating_sub(1)
        .checked_mul(s)?
        .checked_add(ek)?
        .saturating_sub(input);
    Some((total / 2, total - total / 2))
}

/// Reads kernel, strides, dilations and pads of a Conv/Pool node for `x` (NC + spatial).
pub fn window(n: &ForeignNode, x: &Sym, kernel: Vec<usize>) -> Result<Window, String> {
    let sp = kernel.len();
    let stride = usizes(attr_ints(n, "strides"), sp, 1, "strides")?;
    let dilation = usizes(attr_ints(n, "dilations"), sp, 1, "dilations")?;
    if stride.contains(&0) || dilation.contains(&0) || kernel.contains(&0) {
        return Err("zero kernel, stride or dilation".into());
    }
    if kernel.iter().any(|&k| k > MAX_WINDOW) {
        return Err(format!("kernel {kernel:?} beyond DL4J's int range"));
    }
    let spatial = |i: usize| x.dim(2 + i, "spatial size");
    let auto = attr_str(n, "auto_pad").unwrap_or("NOTSET");
    let pads = match auto {
        "NOTSET" | "" => {
            let p = usizes(attr_ints(n, "pads"), 2 * sp, 0, "pads")?;
            let (begin, end) = p
                .split_at_checked(sp)
                .ok_or_else(|| format!("pads {p:?} for {sp} spatial axes"))?;
            Pads {
                begin: begin.to_vec(),
                end: end.to_vec(),
            }
        }
        "VALID" => Pads {
            begin: vec![0; sp],
            end: vec![0; sp],
        },
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut begin = Vec::new();
            let mut end = Vec::new();
            for (i, ((&k, &s), &d)) in kernel.iter().zip(&stride).zip(&dilation).enumerate() {
                let size = spatial(i)?;
                let (lo, hi) = same_split(size, k, s, d).ok_or_else(|| {
                    format!(
                        "SAME padding of a size-{size} axis for kernel {k}, stride {s}, dilation {d} overflows"
                    )
                })?;
                if auto == "SAME_UPPER" {
                    begin.push(lo);
                    end.push(hi);
                } else {
                    begin.push(hi);
                    end.push(lo);
                }
            }
            Pads { begin, end }
        }
        other => return Err(format!("auto_pad {other:?}")),
    };
    let mut win = Window {
        kernel,
        stride,
        dilation,
        same_upper: pads.begin != pads.end,
        pads,
    };
    let mut same_upper = win.same_upper;
    for (i, ax) in win.axes().enumerate() {
        match spatial(i)
            .ok()
            .and_then(|size| same_split(size, ax.kernel, ax.stride, ax.dilation))
        {
            Some((lo, hi)) => same_upper &= ax.begin == lo && ax.end == hi,
            None => same_upper = false,
        }
    }
    win.same_upper = same_upper;
    Ok(win)
}

/// One spatial axis of a [`Window`].
#[derive(Debug, Clone, Copy)]
pub struct WindowAxis {
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub begin: usize,
    pub end: usize,
}

impl Window {
    /// The spatial axes, in order.
    pub fn axes(&self) -> impl Iterator<Item = WindowAxis> + '_ {
        self.kernel
            .iter()
            .zip(&self.stride)
            .zip(&self.dilation)
            .zip(self.pads.begin.iter().zip(&self.pads.end))
            .map(
                |(((&kernel, &stride), &dilation), (&begin, &end))| WindowAxis {
                    kernel,
                    stride,
                    dilation,
                    begin,
                    end,
                },
            )
    }
}

impl WindowAxis {
    /// The extent of the dilated kernel (`None` on overflow).
    pub fn extent(&self) -> Option<usize> {
        extent(self.kernel, self.dilation)
    }

    /// The input size with both pads (`None` on overflow).
    pub fn padded(&self, size: usize) -> Option<usize> {
        size.checked_add(self.begin)?.checked_add(self.end)
    }
}

/// Output spatial sizes (floor mode), when the input's are known.
pub fn out_sizes(x: &Sym, w: &Window) -> Vec<Option<usize>> {
    w.axes()
        .enumerate()
        .map(|(i, ax)| {
            let size = x.shape.get(2 + i).copied().flatten()?;
            let room = ax.padded(size)?.checked_sub(ax.extent()?)?;
            Some(room.checked_div(ax.stride)? + 1)
        })
        .collect()
}

/// How a window's padding maps onto DL4J: (mode, symmetric padding, explicit zero padding).
pub fn dl4j_padding(w: &Window) -> (&'static str, Vec<usize>, Option<Pads>) {
    let sp = w.kernel.len();
    if w.pads.begin == w.pads.end {
        ("Truncate", w.pads.begin.clone(), None)
    } else if w.same_upper {
        ("Same", vec![0; sp], None)
    } else {
        ("Truncate", vec![0; sp], Some(w.pads.clone()))
    }
}

pub fn zero_padding(cx: &mut Cx, n: &ForeignNode, x: &Sym, p: &Pads) -> Result<Sym, String> {
    let format = if x.channels_last() == Some(true) {
        "NHWC"
    } else {
        "NCHW"
    };
    let (class, padding) = match (p.begin.as_slice(), p.end.as_slice()) {
        ([b0, b1], [e0, e1]) => ("ZeroPaddingLayer", json!([b0, e0, b1, e1])),
        ([b0], [e0]) => ("ZeroPadding1DLayer", json!([b0, e0])),
        _ => {
            return Err(format!(
                "zero padding {:?} / {:?}: DL4J pads 1 or 2 spatial axes",
                p.begin, p.end
            ))
        }
    };
    let mut shape = x.shape.clone();
    for (dim, (&b, &e)) in shape.iter_mut().skip(2).zip(p.begin.iter().zip(&p.end)) {
        if let Some(s) = *dim {
            let padded = s
                .checked_add(b)
                .and_then(|v| v.checked_add(e))
                .ok_or_else(|| format!("padding a size-{s} axis by {b} + {e} overflows"))?;
            *dim = Some(padded);
        }
    }
    let mut fields = json::fields(&[("padding", padding)]);
    if class == "ZeroPaddingLayer" {
        fields.insert("dataFormat".into(), json!(format));
    }
    let layer = Layer::new(class, Family::NoParams, fields);
    let name = format!("{}_pad", hint(n, "conv"));
    let v = cx.net.add_layer(&name, x, layer);
    Ok(x.same_layout(&v, shape))
}

/// A DL4J `int[2]` field from one or two spatial values (`fill` for a missing second).
pub fn pair(v: &[usize], fill: usize) -> Value {
    match v {
        [a, b] => json!([a, b]),
        [a, ..] => json!([a, fill]),
        [] => json!([fill, fill]),
    }
}

/// The fields every ConvolutionLayer subclass writes.
fn conv_layer_fields(
    x: &Sym,
    w: &Window,
    mode: &str,
    padding: &[usize],
    n_in: usize,
    n_out: usize,
    has_bias: bool,
) -> serde_json::Map<String, Value> {
    let mut f = json::cudnn_fields();
    f.extend(json::fields(&[
        ("kernelSize", pair(&w.kernel, 1)),
        ("stride", pair(&w.stride, 1)),
        ("padding", pair(padding, 0)),
        ("dilation", pair(&w.dilation, 1)),
        ("convolutionMode", json!(mode)),
        ("cudnnAllowFallback", json!(true)),
        ("hasBias", json!(has_bias)),
        (
            "cnn2dDataFormat",
            json!(if x.channels_last() == Some(true) {
                "NHWC"
            } else {
                "NCHW"
            }),
        ),
        ("nin", json!(n_in)),
        ("nout", json!(n_out)),
    ]));
    if w.kernel.len() == 1 {
        f.insert("rnnDataFormat".into(), json!("NCW"));
    }
    f
}

/// Whether `x` is spatial data a DL4J convolution or pooling layer reads: `[batch, channels,
/// (height,) width]` (`Ok(false)`) or its channels-last form (`Ok(true)`).
pub fn spatial_layout(x: &Sym) -> Result<bool, String> {
    match x.channels_last() {
        Some(false) if x.rank() == 3 || x.rank() == 4 => Ok(false),
        Some(true) if x.rank() == 4 => Ok(true),
        _ => Err(format!(
            "input {} is not [batch, channels, (height,) width] data (or its channels-last form)",
            show(&x.shape)
        )),
    }
}

fn data_input(cx: &Cx, n: &ForeignNode) -> Result<Sym, String> {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    spatial_layout(&x)?;
    Ok(x)
}

fn weights<'c>(cx: &'c Cx, n: &ForeignNode, rank: usize) -> Result<&'c ArrayD<f64>, String> {
    let name = input(n, 1).ok_or("no weight input")?;
    let w = cx.konst(name).ok_or_else(|| {
        format!(
            "weight {name:?} is not a constant (freeze it with --freeze if it is a graph input)"
        )
    })?;
    if w.ndim() != rank {
        return Err(format!("weight of shape {:?}", w.shape()));
    }
    // DL4J has no layer without inputs or outputs; an empty weight would also let its other
    // dimensions (the size of the bias made for it) be anything.
    if w.is_empty() {
        return Err(format!(
            "weight {name:?} of shape {:?} holds no values",
            w.shape()
        ));
    }
    Ok(w)
}

fn bias(cx: &Cx, n: &ForeignNode, n_out: usize) -> Result<Option<ArrayD<f64>>, String> {
    match input(n, 2) {
        None => Ok(None),
        Some(b) => {
            let b = cx
                .konst(b)
                .ok_or_else(|| format!("bias {b:?} is not a constant"))?;
            if b.len() != n_out {
                return Err(format!("bias of {} values for {n_out} outputs", b.len()));
            }
            Ok(Some(
                b.clone()
                    .into_shape_with_order(IxDyn(&[n_out]))
                    .map_err(|e| e.to_string())?,
            ))
        }
    }
}

pub fn conv(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = data_input(cx, n)?;
    let sp = x.rank().saturating_sub(2);
    let w_onnx = weights(cx, n, sp + 2)?.clone();
    let (m, cg, kernel) = match w_onnx.shape() {
        [m, cg, kernel @ ..] => (*m, *cg, kernel.to_vec()),
        other => return Err(format!("weight of shape {other:?}")),
    };
    if let Some(k) = attr_ints(n, "kernel_shape") {
        if k.iter().map(|&v| v as usize).collect::<Vec<_>>() != kernel {
            return Err(format!(
                "kernel_shape {k:?} differs from the weight's {kernel:?}"
            ));
        }
    }
    let group = attr_int(n, "group", 1).max(1);
    let group = usize::try_from(group).map_err(|_| format!("group {group}"))?;
    let weight_channels = cg
        .checked_mul(group)
        .ok_or_else(|| format!("{group} groups of {cg} input channels overflow"))?;
    let c_in = x.dim(1, "channel count").unwrap_or(weight_channels);
    if weight_channels != c_in {
        return Err(format!(
            "weight expects {weight_channels} input channels, the input has {c_in}"
        ));
    }
    let b = bias(cx, n, m)?;
    let win = window(n, &x, kernel)?;
    let (mode, padding, explicit) = dl4j_padding(&win);
    let x = match &explicit {
        Some(p) => zero_padding(cx, n, &x, p)?,
        None => x,
    };
    let mut eff = win.clone();
    if explicit.is_some() {
        eff.pads = Pads {
            begin: vec![0; sp],
            end: vec![0; sp],
        };
    }
    let out_sp = out_sizes(&x, &eff);
    let has_bias = b.is_some();
    let bias_arr = b.unwrap_or_else(|| ArrayD::zeros(IxDyn(&[m])));
    let layer = if group == 1 {
        let fields = conv_layer_fields(&x, &win, mode, &padding, c_in, m, has_bias);
        let w = if sp == 1 {
            // [m, c_in, k] -> [m, c_in, k, 1]
            let mut shape = w_onnx.shape().to_vec();
            shape.push(1);
            w_onnx
                .into_shape_clone(IxDyn(&shape))
                .map_err(|e| e.to_string())?
        } else {
            w_onnx
        };
        let class = if sp == 1 {
            "Convolution1DLayer"
        } else {
            "ConvolutionLayer"
        };
        let mut l = Layer::new(class, Family::FeedForward, fields).param("W", w);
        if has_bias {
            l = l.param("b", bias_arr);
        }
        l.fusable()
    } else if group == c_in && cg == 1 && m % c_in == 0 && sp == 2 {
        let mult = m / c_in;
        let [kh, kw] = win.kernel[..] else {
            return Err(format!("depthwise kernel {:?} is not 2-D", win.kernel));
        };
        // W_onnx[c·mult + j, 0, u, v] -> DL4J [u, v, c, j] (spec §9.21): ONNX's output
        // channels split into [c, j], then the kernel axes moved first.
        let w = w_onnx
            .into_shape_clone(IxDyn(&[c_in, mult, kh, kw]))
            .map_err(|e| e.to_string())?
            .permuted_axes(IxDyn(&[2, 3, 0, 1]))
            .as_standard_layout()
            .into_owned();
        let mut fields = conv_layer_fields(&x, &win, mode, &padding, c_in, m, has_bias);
        fields.insert("depthMultiplier".into(), json!(mult));
        let mut l = Layer::new("DepthwiseConvolution2D", Family::FeedForward, fields).param("W", w);
        if has_bias {
            l = l.param("b", bias_arr);
        }
        l.fusable()
    } else {
        return Err(format!(
            "grouped convolution with {group} groups over {c_in} channels (DL4J has only depthwise grouping, one group per channel)"
        ));
    };
    let v = cx.net.add_layer(hint(n, "conv"), &x, layer);
    let mut shape = vec![x.shape.first().copied().flatten(), Some(m)];
    shape.extend(out_sp);
    cx.set(
        n.outputs.first().ok_or("no output")?,
        x.same_layout(&v, shape),
    );
    Ok(())
}

pub fn deconv(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = data_input(cx, n)?;
    if x.rank() != 4 {
        return Err("1-D transposed convolution (DL4J has Deconvolution2D only)".into());
    }
    let w = weights(cx, n, 4)?.clone();
    let (c_in, m, kernel) = match w.shape() {
        [c_in, m, kernel @ ..] => (*c_in, *m, kernel.to_vec()),
        other => return Err(format!("weight of shape {other:?}")),
    };
    if let Ok(c) = x.dim(1, "channel count") {
        if c != c_in {
            return Err(format!(
                "weight expects {c_in} input channels, the input has {c}"
            ));
        }
    }
    if attr_int(n, "group", 1) != 1 {
        return Err("grouped transposed convolution".into());
    }
    if attr_ints(n, "output_padding").is_some_and(|p| p.iter().any(|&v| v != 0))
        || attr_ints(n, "output_shape").is_some()
    {
        return Err("output_padding / output_shape have no DL4J equivalent".into());
    }
    if attr_str(n, "auto_pad").is_some_and(|a| a != "NOTSET" && a != "VALID") {
        return Err("auto_pad SAME on ConvTranspose (write explicit pads)".into());
    }
    let win = window(n, &x, kernel)?;
    if win.pads.begin != win.pads.end {
        return Err(format!("asymmetric pads {:?}", win.pads));
    }
    let b = bias(cx, n, m)?;
    let has_bias = b.is_some();
    let fields = conv_layer_fields(&x, &win, "Truncate", &win.pads.begin, c_in, m, has_bias);
    let mut l = Layer::new("Deconvolution2D", Family::FeedForward, fields).param("W", w);
    if let Some(b) = b {
        l = l.param("b", b);
    }
    // stride·(size - 1) + extent - 2·pad per spatial axis.
    let out: Vec<Option<usize>> = win
        .axes()
        .enumerate()
        .map(|(i, ax)| {
            let s = x.shape.get(2 + i).copied().flatten()?;
            ax.stride
                .checked_mul(s.checked_sub(1)?)?
                .checked_add(ax.extent()?)?
                .checked_sub(ax.begin.checked_mul(2)?)
        })
        .collect();
    let v = cx.net.add_layer(hint(n, "deconv"), &x, l.fusable());
    let mut shape = vec![x.shape.first().copied().flatten(), Some(m)];
    shape.extend(out);
    cx.set(
        n.outputs.first().ok_or("no output")?,
        x.same_layout(&v, shape),
    );
    Ok(())
}

pub fn pad(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = data_input(cx, n)?;
    let mode = attr_str(n, "mode").unwrap_or("constant");
    if mode != "constant" {
        return Err(format!("{mode} padding (DL4J pads with zeros only)"));
    }
    let pads: Vec<i64> = match attr_ints(n, "pads") {
        Some(p) => p,
        None => {
            let name = input(n, 1).ok_or("no pads")?;
            cx.konst(name)
                .ok_or("pads are not constant")?
                .iter()
                .map(|&v| v as i64)
                .collect()
        }
    };
    let value = match input(n, 2) {
        Some(v) => cx
            .konst(v)
            .and_then(|a| a.iter().next().copied())
            .ok_or("pad value is not constant")?,
        None => n
            .attr("value")
            .and_then(|a| match a {
                crate::proto::Attr::Float(f) => Some(*f as f64),
                _ => None,
            })
            .unwrap_or(0.0),
    };
    if value != 0.0 {
        return Err(format!("padding with {value} (DL4J pads with zeros)"));
    }
    if input(n, 3).is_some() {
        return Err("Pad with axes".into());
    }
    let r = x.rank();
    let as_window = |p: &i64| usize::try_from(*p).ok().filter(|&p| p <= MAX_WINDOW);
    if pads.len() != 2 * r || !pads.iter().all(|p| as_window(p).is_some()) {
        return Err(format!(
            "pads {pads:?} for a rank-{r} input (2 non-negative values per axis, within DL4J's int range)"
        ));
    }
    let (begin, end) = pads
        .split_at_checked(r)
        .ok_or_else(|| format!("pads {pads:?} for a rank-{r} input"))?;
    let ([0, 0, begin @ ..], [0, 0, end @ ..]) = (begin, end) else {
        return Err("padding the batch or channel axis".into());
    };
    let p = Pads {
        begin: begin.iter().filter_map(as_window).collect(),
        end: end.iter().filter_map(as_window).collect(),
    };
    let y = zero_padding(cx, n, &x, &p)?;
    cx.set(n.outputs.first().ok_or("no output")?, y);
    Ok(())
}
