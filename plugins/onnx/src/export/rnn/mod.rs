//! Recurrent layers (spec §9.13-§9.19), NCW and NWC.
//!
//! Every recurrence works on a time-major sequence `[T, batch, features]` (ONNX `layout = 0`);
//! [`to_seq`] / [`from_seq`] convert from and to DL4J's NCW / NWC around it. Backward passes
//! reverse time explicitly ([`reverse_time`]) instead of `direction = "reverse"`, which tract
//! does not read.

mod bidirectional;
mod last_time_step;
mod lstm;
mod output;
mod scan;
mod simple_rnn;
mod wrappers;

use dl4j_core::config::LayerConf;

use super::{batch, Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::{Attr, Dim};

/// One recurrent cell's configuration and weights: DL4J's `W`, `RW` (with GravesLSTM's peephole
/// columns), `b`, and the hidden size.
#[derive(Clone, Copy)]
pub(super) struct Cell<'a> {
    pub layer: &'a LayerConf<'a>,
    pub w: &'a str,
    pub rw: &'a str,
    pub bias: &'a str,
    pub h: usize,
}

/// Layer types this module translates.
const TYPES: &[&str] = &[
    "LSTM",
    "GravesLSTM",
    "GravesBidirectionalLSTM",
    "SimpleRnn",
    "Bidirectional",
    "RnnOutputLayer",
    "RnnLossLayer",
    "LastTimeStep",
    "TimeDistributed",
    "RepeatVector",
    "MaskZeroLayer",
];

pub fn handles(type_name: &str) -> bool {
    TYPES.contains(&type_name)
}

/// Whether the layer (or the layer it wraps) reads and writes `[batch, time, features]`.
fn nwc(layer: &LayerConf) -> bool {
    if let Some(f) = layer.str("rnnDataFormat") {
        return f == "NWC";
    }
    // TimeDistributed before 1.0.0-beta7: the time axis itself (2 = NCW, 1 = NWC).
    if let Some(axis) = layer.int("timeAxis") {
        return axis == 1;
    }
    ["fwd", "underlying"]
        .iter()
        .find_map(|k| layer.inner(k))
        .is_some_and(|inner| nwc(&inner))
}

/// `nIn` of the layer or of the layer it wraps.
fn n_in(layer: &LayerConf) -> Option<i64> {
    layer.n_in().filter(|&n| n > 0).or_else(|| {
        ["fwd", "underlying"]
            .iter()
            .find_map(|k| layer.inner(k))
            .and_then(|inner| n_in(&inner))
    })
}

/// The network input a recurrent first layer expects, `None` for other layers.
pub fn input_for(name: &str, layer: &LayerConf) -> Option<Value> {
    if !handles(&layer.type_name) {
        return None;
    }
    let width = n_in(layer).map_or(Dim::Unknown, |n| Dim::Fixed(n as usize));
    if layer.type_name == "RepeatVector" {
        return Some(Value::new(
            name.to_string(),
            Kind::FeedForward,
            vec![batch(), width],
        ));
    }
    let time = Dim::Named("time".into());
    let nwc = nwc(layer);
    let dims = if nwc {
        vec![batch(), time, width]
    } else {
        vec![batch(), width, time]
    };
    Some(Value::new(name.to_string(), Kind::Rnn { nwc }, dims))
}

pub fn layer(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    if ctx.layer.type_name == "RepeatVector" {
        return wrappers::repeat_vector(b, ctx, x);
    }
    match x.kind {
        Kind::Rnn { .. } | Kind::Any => {}
        k => {
            return Err(format!(
                "input is {k:?}, a recurrent layer needs [batch, features, time] (missing preprocessor?)"
            ))
        }
    }
    match ctx.layer.type_name.as_str() {
        "LSTM" | "GravesLSTM" | "SimpleRnn" => {
            let (seq, time) = to_seq(b, ctx.layer, x);
            let (y, h) = recurrence(b, ctx.layer, ctx.prefix, "", &seq, false)?;
            Ok(from_seq(b, ctx.layer, &y, h, time))
        }
        "GravesBidirectionalLSTM" => bidirectional::graves(b, ctx, x),
        "Bidirectional" => bidirectional::wrapper(b, ctx, x),
        "RnnOutputLayer" | "RnnLossLayer" => output::layer(b, ctx, x),
        "LastTimeStep" => last_time_step::layer(b, ctx, x),
        "TimeDistributed" => wrappers::time_distributed(b, ctx, x),
        "MaskZeroLayer" => wrappers::mask_zero(b, ctx, x),
        other => Err(format!("{other} is not translated to ONNX yet")),
    }
}

/// One recurrent pass of `layer` (LSTM, GravesLSTM or SimpleRnn) over time-major `seq`, with
/// parameters `<prefix>_<key_prefix><key>`; `reverse` runs it from the last step to the first
/// and writes outputs at their original time index. Returns `[T, batch, h]` and `h`.
fn recurrence(
    b: &mut Builder,
    layer: &LayerConf,
    prefix: &str,
    key_prefix: &str,
    seq: &str,
    reverse: bool,
) -> Result<(String, Option<usize>), String> {
    let key = |k: &str| b.param(&format!("{prefix}_{key_prefix}{k}"));
    let (w, rw, bias) = (key("W")?, key("RW")?, key("b")?);
    let gain = if layer.bool("hasLayerNorm").unwrap_or(false) {
        Some(key("g")?)
    } else {
        None
    };
    let h = hidden_size(layer, "recurrent layer")?;
    let input = if reverse {
        reverse_time(b, seq)
    } else {
        seq.to_string()
    };
    let cell = Cell {
        layer,
        w: &w,
        rw: &rw,
        bias: &bias,
        h,
    };
    let y = match layer.type_name.as_str() {
        "LSTM" => lstm::lstm(b, &cell, &input, false)?,
        "GravesLSTM" => lstm::lstm(b, &cell, &input, true)?,
        "SimpleRnn" => simple_rnn::simple_rnn(b, &cell, &input, gain.as_deref())?,
        other => {
            return Err(format!(
                "{other} inside a recurrent wrapper is not translated yet"
            ))
        }
    };
    let y = if reverse { reverse_time(b, &y) } else { y };
    Ok((y, Some(h)))
}

/// The hidden size `h` (`nOut`) of a recurrent cell. Positive, and at most `i32::MAX` (no real
/// layer comes near: `RW` alone holds `4h²` values), which keeps the gate column arithmetic
/// (`4h + 2`, `(k + 1)·h`, `h as i64`) in range.
fn hidden_size(layer: &LayerConf, what: &str) -> Result<usize, String> {
    let n = layer
        .n_out()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{what} without nOut"))?;
    if n > i64::from(i32::MAX) {
        return Err(format!("{what} nOut {n} is too large"));
    }
    Ok(n as usize)
}

/// DL4J layout -> `[T, batch, features]`; also returns the time dimension as far as known.
fn to_seq(b: &mut Builder, layer: &LayerConf, x: &Value) -> (String, Dim) {
    let nwc = nwc(layer);
    let (perm, t) = if nwc {
        (vec![1, 0, 2], 1)
    } else {
        (vec![2, 0, 1], 2)
    };
    let time = x.dims.get(t).cloned().unwrap_or(Dim::Named("time".into()));
    (
        b.op("Transpose", &[&x.name], vec![("perm", Attr::Ints(perm))]),
        time,
    )
}

/// `[T, batch, h]` -> the layer's DL4J layout.
fn from_seq(b: &mut Builder, layer: &LayerConf, y: &str, h: Option<usize>, time: Dim) -> Value {
    let nwc = nwc(layer);
    let h = h.map_or(Dim::Unknown, Dim::Fixed);
    let (perm, dims) = if nwc {
        (vec![1, 0, 2], vec![batch(), time, h])
    } else {
        (vec![1, 2, 0], vec![batch(), h, time])
    };
    let name = b.op("Transpose", &[y], vec![("perm", Attr::Ints(perm))]);
    Value::new(name, Kind::Rnn { nwc }, dims)
}

/// Reverses axis 0 (time) with a step -1 `Slice` over the full length.
fn reverse_time(b: &mut Builder, x: &str) -> String {
    let starts = b.ints(&[-1]);
    let ends = b.ints(&[i64::MIN]);
    let axes = b.ints(&[0]);
    let steps = b.ints(&[-1]);
    b.op("Slice", &[x, &starts, &ends, &axes, &steps], Vec::new())
}

/// `Squeeze`/`Unsqueeze` with the axes as an input (opset >= 13, the exporter's minimum).
fn axes_op(b: &mut Builder, op: &str, x: &str, axes: &[i64]) -> String {
    let a = b.ints(axes);
    b.op(op, &[x, &a], Vec::new())
}

/// Whether the activation is exactly `want` (ONNX recurrent ops hard-wire it in tract).
fn is_default(obj: Option<&serde_json::Value>, legacy: Option<&str>, want: &str) -> bool {
    use super::activation::Activation;
    let want = Activation::parse(None, Some(want)).ok();
    Activation::parse(obj, legacy).ok() == want
}
