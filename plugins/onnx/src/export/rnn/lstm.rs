//! LSTM (spec §9.13) and GravesLSTM (§9.14, peepholes) as one ONNX `LSTM` node.
//!
//! DL4J's 4h columns are blocks [block input, forget, output, input gate]; ONNX wants
//! [input, output, forget, cell] — a column `Gather` reorders W, RW and b at load time.

use dl4j_core::tensor::DType;

use super::{axes_op, is_default, Builder, Cell};
use crate::proto::Attr;

/// ONNX gate g (i, o, f, c) <- DL4J block k.
const DL4J_BLOCK: [usize; 4] = [3, 2, 1, 0];

/// `[T, batch, nIn]` -> `[T, batch, h]` with DL4J's `W [nIn, 4h]`, `RW [h, 4h(+3)]`, `b [4h]`.
pub(super) fn lstm(
    b: &mut Builder,
    cell: &Cell,
    seq: &str,
    peepholes: bool,
) -> Result<String, String> {
    let Cell {
        layer,
        w,
        rw,
        bias,
        h,
    } = *cell;
    // tract ignores the `activations` attribute, and runtimes lack f64 / bf16 kernels for the
    // recurrent ops (tract: no f64 sigmoid): anything but f32 with DL4J's default activations
    // gets an explicit Scan body.
    let gate_ok = layer.get("gateActivationFn").is_none_or(|g| g.is_null())
        || is_default(layer.get("gateActivationFn"), None, "sigmoid");
    let act_ok = is_default(
        layer.get("activationFn"),
        layer.str("activationFunction"),
        "tanh",
    );
    if !gate_ok || !act_ok || b.dtype != DType::F32 {
        return super::scan::lstm(b, cell, seq, peepholes, None);
    }
    let idx: Vec<i64> = DL4J_BLOCK
        .iter()
        .flat_map(|&k| (k * h..(k + 1) * h).map(|c| c as i64))
        .collect();
    let idx = b.ints(&idx);
    // [nIn, 4h] -> [1, 4h, nIn] in ONNX gate order; same for RW (peephole columns dropped).
    let to_onnx = |b: &mut Builder, m: &str| {
        let g = b.op("Gather", &[m, &idx], vec![("axis", Attr::Int(1))]);
        let t = b.op("Transpose", &[&g], vec![("perm", Attr::Ints(vec![1, 0]))]);
        axes_op(b, "Unsqueeze", &t, &[0])
    };
    let w_onnx = to_onnx(b, w);
    let r_onnx = to_onnx(b, rw);
    // B = [Wb (reordered), Rb = 0], shape [1, 8h].
    let flat_shape = b.ints(&[-1]);
    let flat = b.op("Reshape", &[bias, &flat_shape], Vec::new());
    let wb = b.op("Gather", &[&flat, &idx], vec![("axis", Attr::Int(0))]);
    let zeros = b.tensor(&[4 * h], &vec![0.0; 4 * h]);
    let bb = b.op("Concat", &[&wb, &zeros], vec![("axis", Attr::Int(0))]);
    let bb = axes_op(b, "Unsqueeze", &bb, &[0]);
    let mut inputs = vec![seq.to_string(), w_onnx, r_onnx, bb];
    if peepholes {
        // RW columns 4h, 4h+1, 4h+2 = forget, output, input peepholes; ONNX P = [i, o, f].
        let cols = [4 * h + 2, 4 * h + 1, 4 * h].map(|c| c as i64);
        let pidx = b.ints(&cols);
        let p = b.op("Gather", &[rw, &pidx], vec![("axis", Attr::Int(1))]);
        let pt = b.op("Transpose", &[&p], vec![("perm", Attr::Ints(vec![1, 0]))]);
        let shape = b.ints(&[1, 3 * h as i64]);
        let p = b.op("Reshape", &[&pt, &shape], Vec::new());
        inputs.extend([String::new(), String::new(), String::new(), p]);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    // One output, Y (what `op_n` with one output builds, named the same).
    let y = b.op("LSTM", &refs, vec![("hidden_size", Attr::Int(h as i64))]);
    // Y [T, 1, batch, h] -> [T, batch, h].
    Ok(axes_op(b, "Squeeze", &y, &[1]))
}
