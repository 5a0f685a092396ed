//! TimeDistributed, RepeatVector and MaskZeroLayer (spec §9.19).

use super::super::{layer_op, Kind, LayerCtx, Translated, Value};
use super::{axes_op, batch, from_seq, hidden_size, nwc, to_seq, Builder, Cell};
use crate::proto::{Attr, Dim};

/// TimeDistributed: the wrapped feed-forward layer on every time step, as DL4J does it —
/// `[mb, C, T]` (NCW) or `[mb, T, C]` (NWC) -> `[mb·T, C]` -> layer -> `[mb, T, out]` -> back.
/// The wrapper adds no parameters: the underlying layer's keys are the wrapper's.
pub(super) fn time_distributed(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let inner = ctx
        .layer
        .inner("underlying")
        .ok_or("TimeDistributed without \"underlying\"")?;
    let nwc = nwc(ctx.layer);
    let (t_axis, c_axis) = if nwc { (1, 2) } else { (2, 1) };
    let swap = |b: &mut Builder, v: &str| {
        b.op("Transpose", &[v], vec![("perm", Attr::Ints(vec![0, 2, 1]))])
    };
    // [mb, T, C] (row-major), then batch and time merged: row n·T + t.
    let btc = if nwc {
        x.name.clone()
    } else {
        swap(b, &x.name)
    };
    let c = b.shape_slice(&btc, 2, 3);
    let minus1 = b.ints(&[-1]);
    let flat_shape = b.op("Concat", &[&minus1, &c], vec![("axis", Attr::Int(0))]);
    let flat = b.op("Reshape", &[&btc, &flat_shape], Vec::new());
    let width = x.dims.get(c_axis).cloned().unwrap_or(Dim::Unknown);
    let y = layer_op(
        b,
        &LayerCtx {
            prefix: ctx.prefix,
            layer: &inner,
        },
        &Value::new(flat, Kind::FeedForward, vec![batch(), width]),
    )?;
    if y.kind != Kind::FeedForward {
        return Err(format!(
            "TimeDistributed over {} (output {:?}): only feed-forward layers are translated",
            inner.type_name, y.kind
        ));
    }
    let bt = b.shape_slice(&btc, 0, 2);
    let out = b.shape_slice(&y.name, 1, 2);
    let shape = b.op("Concat", &[&bt, &out], vec![("axis", Attr::Int(0))]);
    let ytc = b.op("Reshape", &[&y.name, &shape], Vec::new());
    let out_width = y.dims.get(1).cloned().unwrap_or(Dim::Unknown);
    let time = x
        .dims
        .get(t_axis)
        .cloned()
        .unwrap_or(Dim::Named("time".into()));
    if nwc {
        Ok(Value::new(
            ytc,
            Kind::Rnn { nwc },
            vec![batch(), time, out_width],
        ))
    } else {
        Ok(Value::new(
            swap(b, &ytc),
            Kind::Rnn { nwc },
            vec![batch(), out_width, time],
        ))
    }
}

/// Most copies [`repeat_vector`] concatenates.
const MAX_REPEAT: i64 = 1 << 20;

/// RepeatVector: `[mb, C]` -> `[mb, C, n]` (NCW) or `[mb, n, C]` (NWC).
pub(super) fn repeat_vector(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    match x.kind {
        Kind::FeedForward | Kind::Any => {}
        k => {
            return Err(format!(
                "input is {k:?}, RepeatVector needs [batch, features]"
            ))
        }
    }
    let n = ctx
        .layer
        .int("n")
        .filter(|&n| n > 0)
        .ok_or("RepeatVector without a positive \"n\"")?;
    // Every copy is one input of a single Concat node.
    if n > MAX_REPEAT {
        return Err(format!(
            "RepeatVector n = {n} is more than the {MAX_REPEAT} copies that are unrolled"
        ));
    }
    let nwc = match ctx.layer.str("dataFormat") {
        None | Some("NCW") => false,
        Some("NWC") => true,
        Some(other) => return Err(format!("RepeatVector dataFormat {other} is unknown")),
    };
    let width = x.dims.get(1).cloned().unwrap_or(Dim::Unknown);
    let time = Dim::Fixed(n as usize);
    let (axis, dims) = if nwc {
        (1, vec![batch(), time, width])
    } else {
        (2, vec![batch(), width, time])
    };
    let u = axes_op(b, "Unsqueeze", &x.name, &[axis]);
    // `n` copies concatenated, not `Expand` / `Tile`: tract 0.23 sees through those as a
    // broadcast along time and then fails to optimize a following ONNX `RNN` / `LSTM`.
    let copies = vec![u.as_str(); n as usize];
    let y = b.op("Concat", &copies, vec![("axis", Attr::Int(axis))]);
    Ok(Value::new(y, Kind::Rnn { nwc }, dims))
}

/// MaskZeroLayer: a mask from the input (a step is masked when every feature equals
/// `maskingValue`), applied by the underlying recurrent layer. Translated for LSTM / GravesLSTM,
/// whose masked steps zero both the output and the carried state `(h, c)` in every DL4J version.
pub(super) fn mask_zero(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let inner = ctx
        .layer
        .inner("underlying")
        .ok_or("MaskZeroLayer without \"underlying\"")?;
    let peepholes = match inner.type_name.as_str() {
        "LSTM" => false,
        "GravesLSTM" => true,
        "SimpleRnn" => {
            return Err(
                "MaskZeroLayer over SimpleRnn is not translated: DL4J versions differ on \
                        masked steps (older ones zero only the output after the loop and carry \
                        the unmasked state on; newer ones also reset the carried state)"
                    .into(),
            )
        }
        other => {
            return Err(format!(
                "MaskZeroLayer over {other} is not translated yet (only LSTM / GravesLSTM)"
            ))
        }
    };
    if x.kind == (Kind::Rnn { nwc: true }) || nwc(&inner) {
        // DL4J sums the equality over axis 1 whatever the format: in NWC that is time.
        return Err(
            "MaskZeroLayer on NWC input is not translated: DL4J derives the mask over \
                    axis 1, which is time in NWC"
                .into(),
        );
    }
    let masking = ctx
        .layer
        .get("maskingValue")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    let key = |k: &str| ctx.param(b, k);
    let (w, rw, bias) = (key("W")?, key("RW")?, key("b")?);
    let h = hidden_size(&inner, "recurrent layer")?;
    // mask[n, t] = 1 unless every feature of x[n, :, t] equals the masking value.
    let v = b.scalar(masking);
    let eq = b.op("Equal", &[&x.name, &v], Vec::new());
    let (zero, one) = (b.scalar(0.0), b.scalar(1.0));
    let differs = b.op("Where", &[&eq, &zero, &one], Vec::new());
    let keep = b.reduce("ReduceMax", &differs, &[1], false);
    // [mb, T] -> time-major [T, mb, 1].
    let keep = b.op(
        "Transpose",
        &[&keep],
        vec![("perm", Attr::Ints(vec![1, 0]))],
    );
    let keep = axes_op(b, "Unsqueeze", &keep, &[2]);
    let (seq, time) = to_seq(b, &inner, x);
    let cell = Cell {
        layer: &inner,
        w: &w,
        rw: &rw,
        bias: &bias,
        h,
    };
    let y = super::scan::lstm(b, &cell, &seq, peepholes, Some(&keep))?;
    Ok(from_seq(b, &inner, &y, Some(h), time))
}
