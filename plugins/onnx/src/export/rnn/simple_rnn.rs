//! SimpleRnn (spec §9.16) as one ONNX `RNN` node: `h_t = tanh(x_t·W + h_{t-1}·RW + b)`; layer
//! norm, other activations and non-f32 go to an explicit `Scan` body.

use dl4j_core::tensor::DType;

use super::{axes_op, is_default, Builder, Cell};
use crate::proto::Attr;

/// `[T, batch, nIn]` -> `[T, batch, h]` with DL4J's `W [nIn, h]`, `RW [h, h]`, `b [h]` and
/// the layer-norm gains `g [2h]` when `hasLayerNorm`.
pub(super) fn simple_rnn(
    b: &mut Builder,
    cell: &Cell,
    seq: &str,
    gain: Option<&str>,
) -> Result<String, String> {
    let Cell {
        layer,
        w,
        rw,
        bias,
        h,
    } = *cell;
    // tract ignores the `activations` attribute (always tanh); non-f32 as for LSTM; layer norm
    // has no ONNX `RNN` form.
    if gain.is_some()
        || b.dtype != DType::F32
        || !is_default(
            layer.get("activationFn"),
            layer.str("activationFunction"),
            "tanh",
        )
    {
        return super::scan::simple_rnn(b, cell, seq, gain);
    }
    let to_onnx = |b: &mut Builder, m: &str| {
        let t = b.op("Transpose", &[m], vec![("perm", Attr::Ints(vec![1, 0]))]);
        axes_op(b, "Unsqueeze", &t, &[0])
    };
    let w_onnx = to_onnx(b, w);
    let r_onnx = to_onnx(b, rw);
    let flat_shape = b.ints(&[-1]);
    let flat = b.op("Reshape", &[bias, &flat_shape], Vec::new());
    let zeros = b.tensor(&[h], &vec![0.0; h]);
    let bb = b.op("Concat", &[&flat, &zeros], vec![("axis", Attr::Int(0))]);
    let bb = axes_op(b, "Unsqueeze", &bb, &[0]);
    // One output, Y (what `op_n` with one output builds, named the same).
    let y = b.op(
        "RNN",
        &[seq, &w_onnx, &r_onnx, &bb],
        vec![("hidden_size", Attr::Int(h as i64))],
    );
    Ok(axes_op(b, "Squeeze", &y, &[1]))
}
