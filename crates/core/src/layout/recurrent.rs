//! Recurrent layers. LSTM gate columns come in blocks of `nOut`: block input, forget, output,
//! input-modulation; GravesLSTM adds 3 peephole columns to `RW` (forget, output, input-mod).

use super::spec::{in_order, Ctx, LayerParams, R};
use crate::tensor::Order;

/// LSTM and GravesLSTM: `W [nIn, 4h]`, `RW [h, 4h]` (`[h, 4h+3]` with peepholes), `b [4h]`.
pub(super) fn lstm(c: &Ctx) -> R<LayerParams> {
    let (nin, h) = (c.dim("nin")?, c.dim("nout")?);
    let peepholes = if c.l.type_name == "GravesLSTM" { 3 } else { 0 };
    Ok(in_order(vec![
        c.w("W", vec![nin, 4 * h], Order::F),
        c.w("RW", vec![h, 4 * h + peepholes], Order::F),
        c.b("b", 4 * h),
    ]))
}

/// GravesBidirectionalLSTM: a forward GravesLSTM (`WF, RWF, bF`) then a backward one.
pub(super) fn graves_bidirectional(c: &Ctx) -> R<LayerParams> {
    let (nin, h) = (c.dim("nin")?, c.dim("nout")?);
    Ok(in_order(vec![
        c.w("WF", vec![nin, 4 * h], Order::F),
        c.w("RWF", vec![h, 4 * h + 3], Order::F),
        c.b("bF", 4 * h),
        c.w("WB", vec![nin, 4 * h], Order::F),
        c.w("RWB", vec![h, 4 * h + 3], Order::F),
        c.b("bB", 4 * h),
    ]))
}

/// SimpleRnn: `W [nIn, h]`, `RW [h, h]`, `b [h]`, and with layer norm the gains `g [2h]`
/// (input path, then recurrent path).
pub(super) fn simple_rnn(c: &Ctx) -> R<LayerParams> {
    let (nin, h) = (c.dim("nin")?, c.dim("nout")?);
    let mut v = vec![
        c.w("W", vec![nin, h], Order::F),
        c.w("RW", vec![h, h], Order::F),
        c.b("b", h),
    ];
    if c.l.bool("hasLayerNorm").unwrap_or(false) {
        v.push(c.p("g", vec![2 * h], Order::C, false));
    }
    Ok(in_order(v))
}
