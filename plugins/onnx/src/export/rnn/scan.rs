//! Recurrences with activations other than DL4J's defaults, as ONNX `Scan` with an explicit
//! body: runtimes such as tract ignore the `activations` attribute of `LSTM` / `RNN`, so those
//! ops are only used for sigmoid gates and tanh. The body implements DL4J's formula directly
//! (DL4J gate order, no reordering) and reads the weights from the enclosing graph.

use super::super::activation::Activation;
use super::{Builder, Cell};
use crate::proto::{Attr, Dim, Subgraph};

/// `Scan` over time-major `seqs` (the input `[T, batch, nIn]`, optionally a mask
/// `[T, batch, 1]`) with `states` zero-initialised `[batch, h]` states; `step` gets the body
/// builder, the state inputs and the per-step slices (`x_t [batch, nIn]`, `m_t [batch, 1]`),
/// and returns the new states and the step output `[batch, h]`. Returns the stacked outputs
/// `[T, batch, h]`.
fn scan(
    b: &mut Builder,
    seqs: &[&str],
    h: usize,
    states: usize,
    step: impl FnOnce(&mut Builder, &[String], &[String]) -> Result<(Vec<String>, String), String>,
) -> Result<String, String> {
    let &seq = seqs.first().ok_or("Scan without an input sequence")?;
    // Zero states shaped [batch, h] from the input's batch dimension.
    let shape = b.op("Shape", &[seq], Vec::new());
    let (s1, e1, a0) = (b.ints(&[1]), b.ints(&[2]), b.ints(&[0]));
    let mb = b.op("Slice", &[&shape, &s1, &e1, &a0], Vec::new());
    let hc = b.ints(&[h as i64]);
    let state_shape = b.op("Concat", &[&mb, &hc], vec![("axis", Attr::Int(0))]);
    let zero = b.tensor(&[1, h], &vec![0.0; h]);
    let init = b.op("Expand", &[&zero, &state_shape], Vec::new());

    // The body shares the outer counter, so every name in the model stays unique (ONNX forbids
    // a subgraph from redefining an outer name).
    let mut body = Builder::new(b.dtype, b.opset, b.params);
    body.next = b.next;
    body.renames = b.renames.clone();
    let state_in: Vec<String> = (0..states).map(|_| body.fresh("state")).collect();
    let xs: Vec<String> = (0..seqs.len()).map(|_| body.fresh("x_t")).collect();
    let graph_name = format!("{}_body", xs.first().map_or(seq, String::as_str));
    let (new_states, y) = step(&mut body, &state_in, &xs)?;
    let y_out = body.op("Identity", &[&y], Vec::new());
    b.next = body.next;

    let dtype = b.dtype;
    let row = |n: &String, width: Dim| (n.clone(), dtype, Some(vec![Dim::Unknown, width]));
    let mut inputs: Vec<_> = state_in.iter().map(|s| row(s, Dim::Fixed(h))).collect();
    inputs.extend(xs.iter().map(|x| row(x, Dim::Unknown)));
    let mut outputs: Vec<_> = new_states.iter().map(|s| row(s, Dim::Fixed(h))).collect();
    outputs.push(row(&y_out, Dim::Fixed(h)));
    let graph = Subgraph {
        name: graph_name,
        nodes: body.nodes,
        inputs,
        outputs,
        constants: body.constants,
    };
    let mut ins: Vec<&str> = vec![&init; states];
    ins.extend(seqs);
    let mut outs = b.op_n(
        "Scan",
        &ins,
        states + 1,
        vec![
            ("body", Attr::Graph(Box::new(graph))),
            ("num_scan_inputs", Attr::Int(seqs.len() as i64)),
        ],
    );
    // The last of the `states + 1` outputs: the stacked step outputs.
    outs.pop().ok_or_else(|| "Scan without outputs".to_string())
}

/// Columns `[from, to)` of a `[rows, cols]` value.
fn cols(b: &mut Builder, m: &str, from: usize, to: usize) -> String {
    let (s, e, a) = (b.ints(&[from as i64]), b.ints(&[to as i64]), b.ints(&[1]));
    b.op("Slice", &[m, &s, &e, &a], Vec::new())
}

/// Column `c` of `[rows, cols]` as a vector `[rows]`.
fn column(b: &mut Builder, m: &str, c: usize) -> String {
    let one = cols(b, m, c, c + 1);
    let shape = b.ints(&[-1]);
    b.op("Reshape", &[&one, &shape], Vec::new())
}

/// The bias `[4h]` or `[1, 4h]` as a vector.
fn flat(b: &mut Builder, v: &str) -> String {
    let shape = b.ints(&[-1]);
    b.op("Reshape", &[v, &shape], Vec::new())
}

/// `v ⊙ m` for a `[batch, 1]` step mask.
fn masked(b: &mut Builder, v: &str, mask: Option<&String>) -> String {
    match mask {
        Some(m) => b.op("Mul", &[v, m], Vec::new()),
        None => v.to_string(),
    }
}

/// LSTM / GravesLSTM (spec §9.13-§9.14) with any activations. With `mask` (time-major
/// `[T, batch, 1]`, 1 = keep) DL4J's masked semantics: at a masked step both `h_t` and `c_t`
/// are zeroed, so the output is 0 and the next step starts from zero state.
pub(super) fn lstm(
    b: &mut Builder,
    cell: &Cell,
    seq: &str,
    peepholes: bool,
    mask: Option<&str>,
) -> Result<String, String> {
    let Cell {
        layer,
        w,
        rw,
        bias,
        h,
    } = *cell;
    let act = Activation::of_layer(layer)?;
    let gate = match layer.get("gateActivationFn").filter(|g| !g.is_null()) {
        Some(g) => Activation::parse(Some(g), None)?,
        None => Activation::Sigmoid,
    };
    // Outer-graph values the body reads.
    let rw4 = cols(b, rw, 0, 4 * h);
    let bias = flat(b, bias);
    let peep = if peepholes {
        Some([4 * h, 4 * h + 1, 4 * h + 2].map(|c| column(b, rw, c)))
    } else {
        None
    };
    let mut seqs = vec![seq];
    seqs.extend(mask);
    scan(b, &seqs, h, 2, |b, s, xs| {
        let ([h_prev, c_prev], [x, mask @ ..]) = (s, xs) else {
            return Err("LSTM Scan body without its two states and input".into());
        };
        let zx = b.op("MatMul", &[x, w], Vec::new());
        let zr = b.op("MatMul", &[h_prev, &rw4], Vec::new());
        let z = b.op("Add", &[&zx, &zr], Vec::new());
        let z = b.op("Add", &[&z, &bias], Vec::new());
        // DL4J blocks: [block input, forget, output, input gate].
        let [block_in, forget, output, input] =
            [0, 1, 2, 3].map(|k| cols(b, &z, k * h, (k + 1) * h));
        let with_peep = |b: &mut Builder, z: &str, p: Option<&String>, c: &str| match p {
            Some(p) => {
                let pc = b.op("Mul", &[c, p], Vec::new());
                b.op("Add", &[z, &pc], Vec::new())
            }
            None => z.to_string(),
        };
        let a = act.apply(b, &block_in)?;
        let zf = with_peep(b, &forget, peep.as_ref().map(|p| &p[0]), c_prev);
        let f = gate.apply(b, &zf)?;
        let zi = with_peep(b, &input, peep.as_ref().map(|p| &p[2]), c_prev);
        let i = gate.apply(b, &zi)?;
        let fc = b.op("Mul", &[&f, c_prev], Vec::new());
        let ia = b.op("Mul", &[&i, &a], Vec::new());
        let c = b.op("Add", &[&fc, &ia], Vec::new());
        // The output-gate peephole reads the current (unmasked) cell c_t.
        let zo = with_peep(b, &output, peep.as_ref().map(|p| &p[1]), &c);
        let o = gate.apply(b, &zo)?;
        let ac = act.apply(b, &c)?;
        let h_t = b.op("Mul", &[&o, &ac], Vec::new());
        let h_t = masked(b, &h_t, mask.first());
        let c = masked(b, &c, mask.first());
        Ok((vec![h_t.clone(), c], h_t))
    })
}

/// SimpleRnn (spec §9.16) with any activation: `h_t = act(x_t·W + h_{t-1}·RW + b)`; with the
/// layer-norm gains `g [2h]` (input half, recurrent half) DL4J's
/// `h_t = act(gx ⊙ std(x_t·W) + b + gr ⊙ std(h_{t-1}·RW))` (the recurrent term at t = 0 is
/// `std(0) = 0`, as DL4J skipping it).
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
    let act = Activation::of_layer(layer)?;
    let bias = flat(b, bias);
    let gains = gain.map(|g| {
        let g = flat(b, g);
        let (s0, sh, s2, a0) = (
            b.ints(&[0]),
            b.ints(&[h as i64]),
            b.ints(&[2 * h as i64]),
            b.ints(&[0]),
        );
        let gx = b.op("Slice", &[&g, &s0, &sh, &a0], Vec::new());
        let gr = b.op("Slice", &[&g, &sh, &s2, &a0], Vec::new());
        (gx, gr)
    });
    scan(b, &[seq], h, 1, |b, s, xs| {
        let ([h_prev], [x]) = (s, xs) else {
            return Err("SimpleRnn Scan body without its state and input".into());
        };
        let mut zx = b.op("MatMul", &[x, w], Vec::new());
        let mut zr = b.op("MatMul", &[h_prev, rw], Vec::new());
        if let Some((gx, gr)) = &gains {
            let nx = b.standardize_rows(&zx);
            zx = b.op("Mul", &[&nx, gx], Vec::new());
            let nr = b.standardize_rows(&zr);
            zr = b.op("Mul", &[&nr, gr], Vec::new());
        }
        let z = b.op("Add", &[&zx, &bias], Vec::new());
        let z = b.op("Add", &[&z, &zr], Vec::new());
        let h_t = act.apply(b, &z)?;
        Ok((vec![h_t.clone()], h_t))
    })
}
