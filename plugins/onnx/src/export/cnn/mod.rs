//! Convolutional layers (spec §9.5-§9.12, §9.20-§9.23, Convolution3D / Subsampling3DLayer /
//! Cnn3DLossLayer), channels first or last. One submodule per family;
//! this module holds what they share: data formats, the window geometry of §13 and the
//! channels-first transposes (ONNX convolution and pooling ops are channels-first only).

mod convolution;
mod normalization;
mod padding;
mod pooling;
mod upsampling;

use dl4j_core::config::LayerConf;

use super::activation::Activation;
use super::{batch, Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::{Attr, Dim};

/// Layer types taking `[batch, C, H, W]` (or NHWC) input.
/// Layers translated elsewhere that read `[batch, C, H, W]` (or NHWC) data too.
const READ_2D: &[&str] = &["Yolo2OutputLayer", "SpaceToBatchLayer"];

const TYPES_2D: &[&str] = &[
    "ConvolutionLayer",
    "Deconvolution2D",
    "DepthwiseConvolution2D",
    "SeparableConvolution2D",
    "SubsamplingLayer",
    "ZeroPaddingLayer",
    "Cropping2D",
    "Upsampling2D",
    "SpaceToDepthLayer",
    "LocalResponseNormalization",
    "CnnLossLayer",
];

/// Layer types taking `[batch, C, T]` (or NWC) input.
const TYPES_1D: &[&str] = &[
    "Convolution1DLayer",
    "Subsampling1DLayer",
    "Upsampling1D",
    "ZeroPadding1DLayer",
    "Cropping1D",
];

/// Layer types taking `[batch, C, D, H, W]` (or NDHWC) input.
const TYPES_3D: &[&str] = &["Convolution3D", "Subsampling3DLayer", "Cnn3DLossLayer"];

/// Layer types that work on whatever layout they are given.
const TYPES_ANY: &[&str] = &["BatchNormalization", "GlobalPoolingLayer"];

pub fn handles(type_name: &str) -> bool {
    [TYPES_2D, TYPES_1D, TYPES_3D, TYPES_ANY]
        .iter()
        .any(|t| t.contains(&type_name))
}

/// The network input a convolutional first layer expects, `None` for other layers.
pub fn input_for(name: &str, layer: &LayerConf) -> Option<Value> {
    let t = layer.type_name.as_str();
    let channels = layer
        .n_in()
        .filter(|&n| n > 0)
        .map_or(Dim::Unknown, |n| Dim::Fixed(n as usize));
    let name = name.to_string();
    if TYPES_2D.contains(&t) || READ_2D.contains(&t) {
        let nhwc = channels_last(layer);
        let (h, w) = (Dim::Named("height".into()), Dim::Named("width".into()));
        let dims = if nhwc {
            vec![batch(), h, w, channels]
        } else {
            vec![batch(), channels, h, w]
        };
        Some(Value::new(name, Kind::Cnn { nhwc }, dims))
    } else if TYPES_1D.contains(&t) {
        let nwc = channels_last(layer);
        let time = Dim::Named("time".into());
        let dims = if nwc {
            vec![batch(), time, channels]
        } else {
            vec![batch(), channels, time]
        };
        Some(Value::new(name, Kind::Rnn { nwc }, dims))
    } else if TYPES_3D.contains(&t) {
        let ndhwc = channels_last(layer);
        let mut dims = vec![batch()];
        let space = ["depth", "height", "width"].map(|n| Dim::Named(n.into()));
        if ndhwc {
            dims.extend(space);
            dims.push(channels);
        } else {
            dims.push(channels);
            dims.extend(space);
        }
        Some(Value::new(name, Kind::Cnn3d { ndhwc }, dims))
    } else {
        None
    }
}

pub fn layer(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let t = ctx.layer.type_name.as_str();
    match t {
        "BatchNormalization" => return normalization::batch_norm(b, ctx, x),
        "GlobalPoolingLayer" => return pooling::global(b, ctx, x),
        _ => {}
    }
    let spatial = if TYPES_1D.contains(&t) {
        1
    } else if TYPES_3D.contains(&t) {
        3
    } else {
        2
    };
    let rank = spatial + 2;
    if !x.dims.is_empty() && x.dims.len() != rank {
        return Err(format!(
            "input has rank {}, {t} needs rank {rank} (missing preprocessor?)",
            x.dims.len()
        ));
    }
    let last = channels_last(ctx.layer);
    // Everything below works channels-first; NHWC / NWC is transposed in and back out.
    let xin = to_channels_first(b, &x.name, rank, last);
    let (y, channels) = match t {
        "ConvolutionLayer" | "Convolution1DLayer" | "Convolution3D" => {
            convolution::conv(b, ctx, &xin, spatial)?
        }
        "Deconvolution2D" => convolution::deconv(b, ctx, &xin)?,
        "DepthwiseConvolution2D" => convolution::depthwise(b, ctx, &xin)?,
        "SeparableConvolution2D" => convolution::separable(b, ctx, &xin)?,
        "SubsamplingLayer" | "Subsampling1DLayer" | "Subsampling3DLayer" => {
            (pooling::subsampling(b, ctx, &xin, spatial)?, None)
        }
        "ZeroPaddingLayer" | "ZeroPadding1DLayer" => {
            (padding::zero_padding(b, ctx, &xin, spatial)?, None)
        }
        "Cropping2D" | "Cropping1D" => (padding::cropping(b, ctx, &xin, spatial)?, None),
        "Upsampling2D" | "Upsampling1D" => (upsampling::upsampling(b, ctx, &xin, spatial)?, None),
        "SpaceToDepthLayer" => upsampling::space_to_depth(b, ctx, &xin, x)?,
        "LocalResponseNormalization" => (normalization::lrn(b, ctx, &xin)?, None),
        "CnnLossLayer" | "Cnn3DLossLayer" => (loss(b, ctx, &xin)?, None),
        other => return Err(format!("{other} is not translated to ONNX yet")),
    };
    let y = from_channels_first(b, &y, rank, last);
    // Channels are known when the layer sets them or passes them through; spatial sizes are not
    // tracked (they depend on the input's).
    let c_axis = if last { rank - 1 } else { 1 };
    let channels = channels
        .or_else(|| x.dims.get(c_axis).cloned())
        .unwrap_or(Dim::Unknown);
    let dims = (0..rank)
        .map(|i| match i {
            0 => batch(),
            i if i == c_axis => channels.clone(),
            _ => Dim::Unknown,
        })
        .collect();
    let kind = match spatial {
        1 => Kind::Rnn { nwc: last },
        3 => Kind::Cnn3d { ndhwc: last },
        _ => Kind::Cnn { nhwc: last },
    };
    Ok(Value::new(y, kind, dims))
}

/// The layer's data format says channels last (`NHWC`, `NWC`); the field name varies by layer
/// and version, missing means channels first.
fn channels_last(layer: &LayerConf) -> bool {
    [
        "cnn2dDataFormat",
        "dataFormat",
        "format",
        "cnn2DFormat",
        "rnnDataFormat",
    ]
    .iter()
    .filter_map(|k| layer.str(k))
    .any(|f| f == "NHWC" || f == "NWC" || f == "NDHWC")
}

/// `Transpose` channels-last `[b, ..., C]` to `[b, C, ...]` when `last`.
fn to_channels_first(b: &mut Builder, x: &str, rank: usize, last: bool) -> String {
    if !last {
        return x.to_string();
    }
    let mut perm = vec![0, rank as i64 - 1];
    perm.extend(1..rank as i64 - 1);
    b.op("Transpose", &[x], vec![("perm", Attr::Ints(perm))])
}

/// The inverse of [`to_channels_first`].
fn from_channels_first(b: &mut Builder, x: &str, rank: usize, last: bool) -> String {
    if !last {
        return x.to_string();
    }
    let mut perm = vec![0];
    perm.extend(2..rank as i64);
    perm.push(1);
    b.op("Transpose", &[x], vec![("perm", Attr::Ints(perm))])
}

/// ConvolutionMode (spec §13).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Truncate,
    Strict,
    Same,
    Causal,
}

/// Kernel, stride, padding and dilation of the first `n` spatial axes (1-D layers store
/// `[k, 1]` style arrays whose second entry acts on a dummy axis).
struct Window {
    k: Vec<i64>,
    s: Vec<i64>,
    p: Vec<i64>,
    d: Vec<i64>,
    mode: Mode,
}

impl Window {
    fn of(layer: &LayerConf, n: usize) -> Result<Window, String> {
        let take = |v: Option<Vec<i64>>, default: i64, what: &str| -> Result<Vec<i64>, String> {
            let Some(v) = v else {
                return Ok(vec![default; n]);
            };
            match (v.get(..n), v.as_slice()) {
                (Some(first), _) => Ok(first.to_vec()),
                // A single number applies to every axis.
                (None, &[one]) => Ok(vec![one; n]),
                (None, _) => Err(format!("{what} {v:?} has fewer than {n} entries")),
            }
        };
        let k = match layer.kernel_size() {
            Some(k) => take(Some(k), 1, "kernelSize")?,
            None => return Err("no kernelSize".into()),
        };
        let mode = match layer.convolution_mode() {
            None | Some("Truncate") => Mode::Truncate,
            Some("Strict") => Mode::Strict,
            Some("Same") => Mode::Same,
            Some("Causal") if n == 1 => Mode::Causal,
            Some(m) => return Err(format!("convolutionMode {m} is not translated")),
        };
        let w = Window {
            k,
            s: take(layer.stride(), 1, "stride")?,
            p: take(layer.padding(), 0, "padding")?,
            d: take(layer.dilation(), 1, "dilation")?,
            mode,
        };
        // DL4J stores these as Java ints; the bound also keeps the window arithmetic below
        // (effective kernel sizes, pads, tap offsets) far from i64 overflow.
        let max = i64::from(i32::MAX);
        if w.k
            .iter()
            .chain(&w.s)
            .chain(&w.d)
            .any(|&v| !(1..=max).contains(&v))
            || w.p.iter().any(|&v| !(0..=max).contains(&v))
        {
            return Err(format!(
                "invalid window: kernel {:?}, stride {:?}, padding {:?}, dilation {:?}",
                w.k, w.s, w.p, w.d
            ));
        }
        Ok(w)
    }

    fn dilated(&self) -> bool {
        self.d.iter().any(|&d| d != 1)
    }

    /// The effective (dilated) kernel size `eK = k + (k-1)·(d-1)` per axis.
    fn effective(&self) -> Vec<i64> {
        self.k
            .iter()
            .zip(&self.d)
            .map(|(&k, &d)| k + (k - 1) * (d - 1))
            .collect()
    }

    /// `kernel_shape`, `strides` and the padding of §13. Same mode is `auto_pad = SAME_UPPER`:
    /// total `(out-1)·s + eK - in` with the odd extra at the end, exactly DL4J's split, and it
    /// needs no static input size. A total of -1 (`eK < s`) truncates to begin pad 0 in DL4J
    /// too; -2 or less makes DL4J's 2-D layers throw (`getSameModeTopLeftPadding`), while
    /// Convolution1D / 3-D pooling shift the windows instead (see `conv1d_shifted`,
    /// `subsampling_3d`).
    fn attrs(&self, dilations: bool) -> Vec<(&'static str, Attr)> {
        let mut a = vec![
            ("kernel_shape", Attr::Ints(self.k.clone())),
            ("strides", Attr::Ints(self.s.clone())),
        ];
        if dilations {
            a.push(("dilations", Attr::Ints(self.d.clone())));
        }
        match self.mode {
            Mode::Same => a.push(("auto_pad", Attr::Str("SAME_UPPER".into()))),
            Mode::Causal => {
                // Left padding (k-1)·d only, so no output looks ahead.
                let mut pads: Vec<i64> = self
                    .k
                    .iter()
                    .zip(&self.d)
                    .map(|(k, d)| (k - 1) * d)
                    .collect();
                pads.extend(vec![0; self.k.len()]);
                a.push(("pads", Attr::Ints(pads)));
            }
            Mode::Truncate | Mode::Strict => {
                let mut pads = self.p.clone();
                pads.extend(self.p.iter().copied());
                a.push(("pads", Attr::Ints(pads)));
            }
        }
        a
    }
}

/// CnnLossLayer / Cnn3DLossLayer (§9.2): the activation only. DL4J applies it to `[b·h·w, C]` rows, so softmax
/// runs over the channel axis (axis 1 once channels-first), not the last axis.
fn loss(b: &mut Builder, ctx: &LayerCtx, x: &str) -> Result<String, String> {
    let act = Activation::of_layer(ctx.layer)?;
    if act == Activation::Softmax {
        Ok(b.op("Softmax", &[x], vec![("axis", Attr::Int(1))]))
    } else {
        act.apply(b, x)
    }
}
