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

fn usizes(v: Option<Vec<i64>>, n: usize, default: usize, what: &str) -> Result<Vec<usize>, String> {
    match v {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == n && v.iter().all(|&x| x >= 0) => {
            Ok(v.iter().map(|&x| x as usize).collect())
        }
        Some(v) => Err(format!("{what} {v:?} for {n} spatial axes")),
    }
}

/// Total SAME padding and its SAME_UPPER split for one axis.
fn same_split(input: usize, k: usize, s: usize, d: usize) -> (usize, usize) {
    let ek = (k - 1) * d + 1;
    let out = input.div_ceil(s);
    let total = ((out.saturating_sub(1)) * s + ek).saturating_sub(input);
    (total / 2, total - total / 2)
}

/// Reads kernel, strides, dilations and pads of a Conv/Pool node for `x` (NC + spatial).
pub fn window(n: &ForeignNode, x: &Sym, kernel: Vec<usize>) -> Result<Window, String> {
    let sp = kernel.len();
    let stride = usizes(attr_ints(n, "strides"), sp, 1, "strides")?;
    let dilation = usizes(attr_ints(n, "dilations"), sp, 1, "dilations")?;
    if stride.contains(&0) || dilation.contains(&0) || kernel.contains(&0) {
        return Err("zero kernel, stride or dilation".into());
    }
    let spatial = |i: usize| x.dim(2 + i, "spatial size");
    let auto = attr_str(n, "auto_pad").unwrap_or("NOTSET");
    let pads = match auto {
        "NOTSET" | "" => {
            let p = usizes(attr_ints(n, "pads"), 2 * sp, 0, "pads")?;
            Pads {
                begin: p[..sp].to_vec(),
                end: p[sp..].to_vec(),
            }
        }
        "VALID" => Pads {
            begin: vec![0; sp],
            end: vec![0; sp],
        },
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut begin = Vec::new();
            let mut end = Vec::new();
            for i in 0..sp {
                let (lo, hi) = same_split(spatial(i)?, kernel[i], stride[i], dilation[i]);
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
    let mut same_upper = pads.begin != pads.end;
    for i in 0..sp {
        match spatial(i) {
            Ok(size) => {
                let (lo, hi) = same_split(size, kernel[i], stride[i], dilation[i]);
                same_upper &= pads.begin[i] == lo && pads.end[i] == hi;
            }
            Err(_) => same_upper = false,
        }
    }
    Ok(Window {
        kernel,
        stride,
        dilation,
        pads,
        same_upper,
    })
}

/// Output spatial sizes (floor mode), when the input's are known.
pub fn out_sizes(x: &Sym, w: &Window) -> Vec<Option<usize>> {
    (0..w.kernel.len())
        .map(|i| {
            let size = x.shape.get(2 + i).copied().flatten()?;
            let ek = (w.kernel[i] - 1) * w.dilation[i] + 1;
            let padded = size + w.pads.begin[i] + w.pads.end[i];
            (padded >= ek).then(|| (padded - ek) / w.stride[i] + 1)
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

pub fn zero_padding(cx: &mut Cx, n: &ForeignNode, x: &Sym, p: &Pads) -> Sym {
    let format = if x.channels_last() == Some(true) {
        "NHWC"
    } else {
        "NCHW"
    };
    let (class, padding) = if p.begin.len() == 2 {
        (
            "ZeroPaddingLayer",
            json!([p.begin[0], p.end[0], p.begin[1], p.end[1]]),
        )
    } else {
        ("ZeroPadding1DLayer", json!([p.begin[0], p.end[0]]))
    };
    let mut fields = json::fields(&[("padding", padding)]);
    if class == "ZeroPaddingLayer" {
        fields.insert("dataFormat".into(), json!(format));
    }
    let layer = Layer::new(class, Family::NoParams, fields);
    let name = format!("{}_pad", hint(n, "conv"));
    let v = cx.net.add_layer(&name, x, layer);
    let mut shape = x.shape.clone();
    for i in 0..p.begin.len() {
        shape[2 + i] = shape[2 + i].map(|s| s + p.begin[i] + p.end[i]);
    }
    x.same_layout(&v, shape)
}

fn pair(v: &[usize], fill: usize) -> Value {
    if v.len() == 2 {
        json!([v[0], v[1]])
    } else {
        json!([v[0], fill])
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
        Some(true) => Ok(true),
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
    let sp = x.rank() - 2;
    let w_onnx = weights(cx, n, sp + 2)?.clone();
    let (m, cg) = (w_onnx.shape()[0], w_onnx.shape()[1]);
    let kernel: Vec<usize> = w_onnx.shape()[2..].to_vec();
    if let Some(k) = attr_ints(n, "kernel_shape") {
        if k.iter().map(|&v| v as usize).collect::<Vec<_>>() != kernel {
            return Err(format!(
                "kernel_shape {k:?} differs from the weight's {kernel:?}"
            ));
        }
    }
    let group = attr_int(n, "group", 1).max(1) as usize;
    let c_in = x.dim(1, "channel count").unwrap_or(cg * group);
    if cg * group != c_in {
        return Err(format!(
            "weight expects {} input channels, the input has {c_in}",
            cg * group
        ));
    }
    let b = bias(cx, n, m)?;
    let win = window(n, &x, kernel)?;
    let (mode, padding, explicit) = dl4j_padding(&win);
    let x = match &explicit {
        Some(p) => zero_padding(cx, n, &x, p),
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
            w_onnx
                .into_shape_with_order(IxDyn(&[m, c_in, win.kernel[0], 1]))
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
        // W_onnx[c·m + j, 0, u, v] -> DL4J [u, v, c, j] (spec §9.21).
        let (kh, kw) = (win.kernel[0], win.kernel[1]);
        let w = ArrayD::from_shape_fn(IxDyn(&[kh, kw, c_in, mult]), |ix| {
            w_onnx[[ix[2] * mult + ix[3], 0, ix[0], ix[1]]]
        });
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
    let mut shape = vec![x.shape[0], Some(m)];
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
    let (c_in, m) = (w.shape()[0], w.shape()[1]);
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
    let kernel = w.shape()[2..].to_vec();
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
    let out: Vec<Option<usize>> = (0..2)
        .map(|i| {
            let s = x.shape[2 + i]?;
            let ek = (win.kernel[i] - 1) * win.dilation[i] + 1;
            (win.stride[i] * s.checked_sub(1)? + ek).checked_sub(2 * win.pads.begin[i])
        })
        .collect();
    let v = cx.net.add_layer(hint(n, "deconv"), &x, l.fusable());
    let mut shape = vec![x.shape[0], Some(m)];
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
    if pads.len() != 2 * r || pads.iter().any(|&p| p < 0) {
        return Err(format!("pads {pads:?}"));
    }
    if pads[0] != 0 || pads[1] != 0 || pads[r] != 0 || pads[r + 1] != 0 {
        return Err("padding the batch or channel axis".into());
    }
    let p = Pads {
        begin: pads[2..r].iter().map(|&v| v as usize).collect(),
        end: pads[r + 2..].iter().map(|&v| v as usize).collect(),
    };
    let y = zero_padding(cx, n, &x, &p);
    cx.set(n.outputs.first().ok_or("no output")?, y);
    Ok(())
}
