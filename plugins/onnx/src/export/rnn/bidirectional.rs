//! Bidirectional wrapper (spec §9.17) and GravesBidirectionalLSTM (§9.15).
//!
//! The backward pass runs the layer on the full-length time reversal and reverses its output
//! back; the halves are combined in the time-major domain (features are axis 2 there).

use super::{
    from_seq, hidden_size, lstm, recurrence, reverse_time, to_seq, Builder, Cell, LayerCtx,
    Translated,
};
use crate::proto::Attr;

pub(super) fn wrapper(b: &mut Builder, ctx: &LayerCtx, x: &super::Value) -> Translated {
    let layer = ctx.layer;
    let fwd = layer.inner("fwd").ok_or("Bidirectional without \"fwd\"")?;
    let bwd = layer.inner("bwd").unwrap_or_else(|| fwd.clone());
    let mode = layer.str("mode").unwrap_or("CONCAT");
    let (seq, time) = to_seq(b, &fwd, x);
    let (f, h) = recurrence(b, &fwd, ctx.prefix, "f", &seq, false)?;
    let (r, _) = recurrence(b, &bwd, ctx.prefix, "b", &seq, true)?;
    let (y, width) = match mode {
        "ADD" => (b.op("Add", &[&f, &r], Vec::new()), h),
        "MUL" => (b.op("Mul", &[&f, &r], Vec::new()), h),
        "AVERAGE" => {
            let s = b.op("Add", &[&f, &r], Vec::new());
            let half = b.scalar(0.5);
            (b.op("Mul", &[&s, &half], Vec::new()), h)
        }
        "CONCAT" => (
            b.op("Concat", &[&f, &r], vec![("axis", Attr::Int(2))]),
            h.map(|h| 2 * h),
        ),
        other => return Err(format!("Bidirectional mode {other} is unknown")),
    };
    Ok(from_seq(b, &fwd, &y, width, time))
}

/// Forward GravesLSTM (`WF, RWF, bF`) plus backward one (`WB, RWB, bB`), summed.
pub(super) fn graves(b: &mut Builder, ctx: &LayerCtx, x: &super::Value) -> Translated {
    let layer = ctx.layer;
    let h = hidden_size(layer, "GravesBidirectionalLSTM")?;
    let (seq, time) = to_seq(b, layer, x);
    let half = |b: &mut Builder, dir: &str, reverse: bool| -> Result<String, String> {
        let key = |k: &str| ctx.param(b, &format!("{k}{dir}"));
        let (w, rw, bias) = (key("W")?, key("RW")?, key("b")?);
        let input = if reverse {
            reverse_time(b, &seq)
        } else {
            seq.clone()
        };
        let cell = Cell {
            layer,
            w: &w,
            rw: &rw,
            bias: &bias,
            h,
        };
        let y = lstm::lstm(b, &cell, &input, true)?;
        Ok(if reverse { reverse_time(b, &y) } else { y })
    };
    let forward = half(b, "F", false)?;
    let backward = half(b, "B", true)?;
    let y = b.op("Add", &[&forward, &backward], Vec::new());
    Ok(from_seq(b, layer, &y, Some(h), time))
}
