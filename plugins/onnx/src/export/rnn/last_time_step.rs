//! LastTimeStep (spec §9.19): the wrapped recurrent layer's output at t = T-1 (no mask at
//! inference from a plain input), `[batch, h]`.

use super::{axes_op, Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::Dim;

pub(super) fn layer(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let inner = ctx
        .layer
        .inner("underlying")
        .ok_or("LastTimeStep without \"underlying\"")?;
    // The wrapper adds no parameters: the underlying layer's keys are the wrapper's.
    let y = super::layer(
        b,
        &LayerCtx {
            prefix: ctx.prefix,
            layer: &inner,
        },
        x,
    )?;
    let Kind::Rnn { nwc } = y.kind else {
        return Err(format!("LastTimeStep over a {:?} output", y.kind));
    };
    let t_axis: i64 = if nwc { 1 } else { 2 };
    // Slice [-1, end) rather than Gather(-1): plain non-negative-index semantics everywhere.
    let starts = b.ints(&[-1]);
    let ends = b.ints(&[i64::MAX]);
    let axes = b.ints(&[t_axis]);
    let last = b.op("Slice", &[&y.name, &starts, &ends, &axes], Vec::new());
    let out = axes_op(b, "Squeeze", &last, &[t_axis]);
    let width = y
        .dims
        .get(if nwc { 2 } else { 1 })
        .cloned()
        .unwrap_or(Dim::Unknown);
    Ok(Value::new(
        out,
        Kind::FeedForward,
        vec![super::batch(), width],
    ))
}
