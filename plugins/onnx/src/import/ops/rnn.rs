//! Recurrent nodes (spec config §9.13–§9.19, §13b): `LSTM` -> LSTM (GravesLSTM with
//! peepholes), `RNN` -> SimpleRnn, and `Gather` of the last time step of a recurrent output ->
//! LastTimeStep.
//!
//! DL4J's recurrent data is `[batch, features, time]` (NCW). The ONNX input `X` (`[T, N, F]` for
//! `layout = 0`, `[N, T, F]` for `layout = 1`) must be that array with its axes permuted; a
//! network input is simply taken with its axes reordered. The outputs are described the same way:
//! `Y` (`[T, 1, N, h]` / `[N, T, 1, h]`) is DL4J's `[N, h, T]` permuted with the direction axis
//! left out; `Y_h` (`[1, N, h]`) is the last time step: the layer wrapped in LastTimeStep when
//! `Y` is not read, else a LastTimeStepVertex behind it. DL4J does not expose the cell state
//! (`Y_c`), has no initial state, no clipping, no coupled input-forget gate and no per-example
//! sequence lengths.
//!
//! Weights: ONNX LSTM gate blocks are i, o, f, c; DL4J's columns are blocks c, f, o, i (block
//! k holds ONNX gate 3 - k), transposed (`W [nIn, 4h]`, `RW [h, 4h]`), and both ONNX biases
//! summed into `b`. GravesLSTM's `RW` carries three more columns: the forget, output and input
//! peepholes (ONNX `P = [p_i, p_o, p_f]`).

use ndarray::{ArrayD, IxDyn};
use serde_json::{json, Value};

use super::super::json::{self, Family};
use super::super::net::{Body, Layer, Sym, Vertex};
use super::super::{attr_int, attr_str, input, show, Cx, Done};
use super::activation::hint;
use crate::proto::{Attr, ForeignNode};

/// Layer classes (as written in `Layer::class`) whose output is a `[N, h, T]` sequence.
const RECURRENT: &[&str] = &[
    "LSTM",
    "GravesLSTM",
    "recurrent.SimpleRnn",
    "recurrent.Bidirectional",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lstm,
    Rnn,
}

impl Kind {
    fn gates(self) -> usize {
        match self {
            Kind::Lstm => 4,
            Kind::Rnn => 1,
        }
    }
}

/// `name` if it is an ONNX value that some node or the graph output reads.
fn used<'n>(cx: &Cx, name: Option<&'n String>) -> Option<&'n String> {
    name.filter(|n| !n.is_empty() && (cx.uses(n) > 0 || cx.is_output(n)))
}

fn konst<'c>(
    cx: &'c Cx,
    n: &ForeignNode,
    i: usize,
    what: &str,
) -> Result<Option<&'c ArrayD<f64>>, String> {
    match input(n, i) {
        None => Ok(None),
        Some(name) => cx.konst(name).map(Some).ok_or_else(|| {
            format!("{what} {name:?} is not a constant (freeze it with --freeze if it is a graph input)")
        }),
    }
}

/// The DL4J activation object for an ONNX recurrent activation name; `alpha` / `beta` are taken
/// from the `activation_alpha` / `activation_beta` lists, in order, by the functions that use
/// them (as onnxruntime does).
fn activation(
    name: &str,
    alphas: &mut impl Iterator<Item = f32>,
    betas: &mut impl Iterator<Item = f32>,
) -> Result<Value, String> {
    let close = |a: f32, b: f32| (a - b).abs() <= 1e-6;
    let a = |class: &str| json::activation(class, &[]);
    Ok(match name.to_ascii_lowercase().as_str() {
        "sigmoid" => a("ActivationSigmoid"),
        "tanh" => a("ActivationTanH"),
        "relu" => json::activation(
            "ActivationReLU",
            &[
                ("max", Value::Null),
                ("negativeSlope", Value::Null),
                ("threshold", Value::Null),
            ],
        ),
        "softsign" => a("ActivationSoftSign"),
        "softplus" => a("ActivationSoftPlus"),
        "hardsigmoid" => {
            let (al, be) = (alphas.next().unwrap_or(0.2), betas.next().unwrap_or(0.5));
            if !(close(al, 0.2) && close(be, 0.5)) {
                return Err(format!(
                    "HardSigmoid with alpha {al} and beta {be}: DL4J computes only 0.2x + 0.5"
                ));
            }
            a("ActivationHardSigmoid")
        }
        "elu" => json::activation(
            "ActivationELU",
            &[("alpha", json!(alphas.next().unwrap_or(1.0) as f64))],
        ),
        "leakyrelu" => json::activation(
            "ActivationLReLU",
            &[("alpha", json!(alphas.next().unwrap_or(0.01) as f64))],
        ),
        "thresholdedrelu" => json::activation(
            "ActivationThresholdedReLU",
            &[("theta", json!(alphas.next().unwrap_or(1.0) as f64))],
        ),
        other => return Err(format!("activation {other:?} has no DL4J equivalent")),
    })
}

/// Per direction: (gate activation, cell/hidden activation) for LSTM, (-, activation) for RNN.
fn activations(n: &ForeignNode, kind: Kind, dirs: usize) -> Result<Vec<(Value, Value)>, String> {
    let per = match kind {
        Kind::Lstm => 3,
        Kind::Rnn => 1,
    };
    let names: Vec<String> = match n.attr("activations") {
        None => {
            let d: &[&str] = match kind {
                Kind::Lstm => &["Sigmoid", "Tanh", "Tanh"],
                Kind::Rnn => &["Tanh"],
            };
            d.iter()
                .cycle()
                .take(per * dirs)
                .map(|s| s.to_string())
                .collect()
        }
        Some(Attr::Strs(v)) => v.clone(),
        Some(_) => return Err("the activations attribute is not a list of strings".into()),
    };
    if names.len() != per * dirs {
        return Err(format!(
            "{} activations for {dirs} direction(s); expected {}",
            names.len(),
            per * dirs
        ));
    }
    let floats = |key: &str| match n.attr(key) {
        Some(Attr::Floats(v)) => v.clone(),
        _ => Vec::new(),
    };
    let (alpha, beta) = (floats("activation_alpha"), floats("activation_beta"));
    let (mut alphas, mut betas) = (alpha.into_iter(), beta.into_iter());
    let acts: Vec<Value> = names
        .iter()
        .map(|s| activation(s, &mut alphas, &mut betas))
        .collect::<Result<_, _>>()?;
    acts.chunks_exact(per)
        .map(|c| match (kind, c) {
            (Kind::Rnn, [act]) => Ok((Value::Null, act.clone())),
            (Kind::Lstm, [gate, cell, hidden]) => {
                if cell != hidden {
                    return Err(format!(
                        "cell activation {} and hidden activation {} differ; DL4J uses one activation for both",
                        json::activation_class(cell),
                        json::activation_class(hidden)
                    ));
                }
                Ok((gate.clone(), cell.clone()))
            }
            _ => Err(format!("{} activations per direction", c.len())),
        })
        .collect()
}

/// `X` as DL4J's NCW array: its Sym must be `dl4j.permute(want)`; a network input not read by
/// anything yet is taken with its axes reordered.
fn sequence_input(cx: &mut Cx, name: &str, want: &[usize]) -> Result<Sym, String> {
    let x = cx.sym(name)?;
    if x.rank() != 3 {
        return Err(format!(
            "input of shape {} is not a rank-3 sequence",
            show(&x.shape)
        ));
    }
    if x.pre.is_none() && x.squeezed.is_empty() && x.perm == want {
        return Ok(x);
    }
    let fresh_input = x.is_plain()
        && x.src == name
        && cx.net.is_input(name)
        && cx.net.consumers(name) == 0
        && !cx.net.views_of(name).any(|k| k != name);
    if fresh_input {
        let s = cx
            .net
            .sym_mut(name)
            .ok_or_else(|| format!("input {name:?} is not available"))?;
        s.perm = want.to_vec();
        return Ok(s.clone());
    }
    Err(format!(
        "input {name:?} ({}) is not DL4J sequence data [batch, features, time] seen as {}",
        show(&x.shape),
        if want == [2, 0, 1] {
            "[time, batch, features]"
        } else {
            "[batch, time, features]"
        }
    ))
}

/// ONNX's W, R and optional B and P of a recurrent node, and the sizes their shapes give:
/// `W [dirs, g·h, nIn]`, `R [dirs, g·h, h]`, `B [dirs, 2·g·h]` and `P [dirs, 3h]`.
struct Weights<'a> {
    w: &'a ArrayD<f64>,
    r: &'a ArrayD<f64>,
    b: Option<&'a ArrayD<f64>>,
    p: Option<&'a ArrayD<f64>>,
    h: usize,
    n_in: usize,
}

/// One direction's DL4J parameters from the ONNX weights.
fn params(kind: Kind, d: usize, wts: &Weights) -> Result<Vec<(String, ArrayD<f64>)>, String> {
    let Weights {
        w,
        r,
        b,
        p,
        h,
        n_in,
    } = *wts;
    let g = kind.gates();
    let gh = g
        .checked_mul(h)
        .ok_or_else(|| format!("{g} gate blocks of hidden size {h} overflow"))?;
    // The indexing below stays inside these shapes, checked here for direction `d`.
    let fits = |a: &ArrayD<f64>, dims: &[usize]| {
        a.shape()
            .split_first()
            .is_some_and(|(&dirs, rest)| d < dirs && rest == dims)
    };
    if !fits(w, &[gh, n_in])
        || !fits(r, &[gh, h])
        || b.is_some_and(|b| gh.checked_mul(2).is_none_or(|len| !fits(b, &[len])))
        || p.is_some_and(|p| h.checked_mul(3).is_none_or(|len| !fits(p, &[len])))
    {
        return Err(format!(
            "direction {d}: W {:?}, R {:?}, B {:?}, P {:?} do not fit {g} gate block(s) of hidden size {h} over {n_in} inputs",
            w.shape(),
            r.shape(),
            b.map(|b| b.shape()),
            p.map(|p| p.shape())
        ));
    }
    // DL4J column -> ONNX row: block k holds ONNX gate 3 - k (LSTM), the only block (RNN).
    let row = |col: usize| {
        let (k, j) = (col / h, col % h);
        let gate = if g == 4 { 3 - k } else { 0 };
        gate * h + j
    };
    let w_dl = ArrayD::from_shape_fn(IxDyn(&[n_in, gh]), |ix| w[[d, row(ix[1]), ix[0]]]);
    let extra = if p.is_some() { 3 } else { 0 };
    let rw_dl = ArrayD::from_shape_fn(IxDyn(&[h, gh + extra]), |ix| {
        let (i, col) = (ix[0], ix[1]);
        match (col.checked_sub(gh), p) {
            // Columns 4h, 4h+1, 4h+2: forget, output, input peepholes; P = [p_i, p_o, p_f].
            (Some(e), Some(p)) => p[[d, (2 - e) * h + i]],
            _ => r[[d, row(col), i]],
        }
    });
    let b_dl = ArrayD::from_shape_fn(IxDyn(&[gh]), |ix| {
        b.map_or(0.0, |b| b[[d, row(ix[0])]] + b[[d, gh + row(ix[0])]])
    });
    Ok(vec![
        ("W".into(), w_dl),
        ("RW".into(), rw_dl),
        ("b".into(), b_dl),
    ])
}

/// The layer for one direction.
fn cell_layer(
    kind: Kind,
    peepholes: bool,
    n_in: usize,
    h: usize,
    acts: &(Value, Value),
    params: Vec<(String, ArrayD<f64>)>,
) -> Layer {
    let mut fields = json::fields(&[
        ("nin", json!(n_in)),
        ("nout", json!(h)),
        ("rnnDataFormat", json!("NCW")),
        ("weightInitFnRecurrent", Value::Null),
    ]);
    let class = match kind {
        Kind::Lstm => {
            fields.extend(json::fields(&[
                ("gateActivationFn", acts.0.clone()),
                ("forgetGateBiasInit", json!(1.0)),
                ("helperAllowFallback", json!(true)),
            ]));
            if peepholes {
                "GravesLSTM"
            } else {
                "LSTM"
            }
        }
        Kind::Rnn => {
            fields.insert("hasLayerNorm".into(), json!(false));
            "recurrent.SimpleRnn"
        }
    };
    let mut layer = Layer::new(class, Family::FeedForward, fields);
    layer.activation = Some(acts.1.clone());
    layer.params = params;
    layer
}

/// `layer` wrapped in LastTimeStep (same parameters, same keys), for vertex `name`.
fn last_time_step(layer: Layer, name: &str) -> Layer {
    let inner = layer.to_json(name);
    let mut wrapper = Layer::new(
        "recurrent.LastTimeStep",
        Family::NoParams,
        json::fields(&[("underlying", inner)]),
    );
    wrapper.params = layer.params;
    wrapper
}

/// Adds `layer` reading `x` under a fresh name from `hint`; `wrap` puts it in LastTimeStep.
fn add(cx: &mut Cx, hint: &str, x: &Sym, layer: Layer, wrap: bool) -> String {
    let name = cx.net.unique_name(hint);
    let layer = if wrap {
        last_time_step(layer, &name)
    } else {
        layer
    };
    cx.net.push(Vertex {
        name: name.clone(),
        body: Body::Layer(layer),
        inputs: vec![x.src.clone()],
        pre: x.pre.clone(),
    });
    name
}

fn recurrent(cx: &mut Cx, n: &ForeignNode, kind: Kind) -> Done {
    let op = match kind {
        Kind::Lstm => "LSTM",
        Kind::Rnn => "RNN",
    };
    let dirs = match attr_str(n, "direction").unwrap_or("forward") {
        "forward" => 1,
        "bidirectional" => 2,
        "reverse" => {
            return Err(format!(
                "{op} with direction \"reverse\": DL4J runs recurrent layers forward only (outside Bidirectional)"
            ))
        }
        other => return Err(format!("{op} direction {other:?}")),
    };
    if n.attr("clip").is_some() {
        return Err(format!("{op} with clip: DL4J does not clip the cell input"));
    }
    if kind == Kind::Lstm && attr_int(n, "input_forget", 0) != 0 {
        return Err("LSTM with input_forget = 1: DL4J has no coupled input-forget gate".into());
    }
    let layout = attr_int(n, "layout", 0);
    let want: &[usize] = match layout {
        0 => &[2, 0, 1],
        1 => &[0, 2, 1],
        other => return Err(format!("layout {other}")),
    };
    let g = kind.gates();
    let w = konst(cx, n, 1, "weight W")?
        .ok_or("no weight input W")?
        .clone();
    let r = konst(cx, n, 2, "recurrence weight R")?
        .ok_or("no recurrence weight input R")?
        .clone();
    let b = konst(cx, n, 3, "bias B")?.cloned();
    let (wd, rd) = (w.shape(), r.shape());
    let (&[w_dirs, w_rows, n_in], &[r_dirs, r_rows, h]) = (wd, rd) else {
        return Err(format!(
            "W of shape {wd:?} and R of shape {rd:?} for {dirs} direction(s)"
        ));
    };
    if w_dirs != dirs || r_dirs != dirs {
        return Err(format!(
            "W of shape {wd:?} and R of shape {rd:?} for {dirs} direction(s)"
        ));
    }
    let gh = g
        .checked_mul(h)
        .filter(|&gh| gh == w_rows && gh == r_rows)
        .ok_or_else(|| {
            format!("W of shape {wd:?} and R of shape {rd:?} do not fit {g} gate block(s)")
        })?;
    let hs = attr_int(n, "hidden_size", h as i64);
    if hs != h as i64 {
        return Err(format!("hidden_size {hs} but R has {h} columns"));
    }
    if let Some(b) = &b {
        if gh.checked_mul(2).is_none_or(|len| b.shape() != [dirs, len]) {
            return Err(format!(
                "B of shape {:?}; expected [{dirs}, 2·{gh}]",
                b.shape()
            ));
        }
    }
    let p = match kind {
        Kind::Lstm => konst(cx, n, 7, "peephole weight P")?.cloned(),
        Kind::Rnn => None,
    };
    if let Some(p) = &p {
        if h.checked_mul(3).is_none_or(|len| p.shape() != [dirs, len]) {
            return Err(format!(
                "P of shape {:?}; expected [{dirs}, 3·{h}]",
                p.shape()
            ));
        }
    }
    let p = p.filter(|p| p.iter().any(|&v| v != 0.0));
    let states: &[(usize, &str)] = match kind {
        Kind::Lstm => &[(5, "initial_h"), (6, "initial_c")],
        Kind::Rnn => &[(5, "initial_h")],
    };
    for &(i, what) in states {
        if let Some(s) = konst(cx, n, i, what)? {
            if s.iter().any(|&v| v != 0.0) {
                return Err(format!(
                    "{what} is not zero; DL4J's recurrent layers start from a zero state"
                ));
            }
        }
    }
    let acts = activations(n, kind, dirs)?;

    let x_name = input(n, 0).ok_or("no input X")?;
    let x = cx.sym(x_name)?;
    let [s0, s1, f] = x.shape[..] else {
        return Err(format!(
            "input of shape {} is not a rank-3 sequence",
            show(&x.shape)
        ));
    };
    let (t, batch) = if layout == 0 { (s0, s1) } else { (s1, s0) };
    if let Some(f) = f {
        if f != n_in {
            return Err(format!("input has {f} features but W expects {n_in}"));
        }
    }
    if let Some(lens) = konst(cx, n, 4, "sequence_lens")? {
        let t = t.ok_or("sequence_lens with a time length not known statically")?;
        if lens.iter().any(|&l| l != t as f64) {
            return Err(format!(
                "sequence_lens differ from the full length {t}; DL4J would need a mask"
            ));
        }
    }

    let (y, y_h, y_c) = (n.outputs.first(), n.outputs.get(1), n.outputs.get(2));
    if kind == Kind::Lstm && used(cx, y_c).is_some() {
        return Err("the cell state Y_c is used; DL4J does not expose it".into());
    }
    let (use_y, use_h) = (used(cx, y), used(cx, y_h));
    if use_y.is_none() && use_h.is_none() {
        return Err(format!("no output of the {op} is used"));
    }
    let weights = Weights {
        w: &w,
        r: &r,
        b: b.as_ref(),
        p: p.as_ref(),
        h,
        n_in,
    };
    if dirs == 2 {
        return bidirectional(cx, n, kind, &weights, &acts, layout);
    }
    let x = sequence_input(cx, x_name, want)?;
    let layer = cell_layer(
        kind,
        p.is_some(),
        n_in,
        h,
        acts.first().ok_or("no activations")?,
        params(kind, 0, &weights)?,
    );
    let hint = hint(n, &op.to_ascii_lowercase()).to_string();
    let v = add(cx, &hint, &x, layer, use_y.is_none());
    let h_src = match use_y {
        Some(y) => {
            let (shape, squeezed) = if layout == 0 {
                (vec![t, Some(1), batch, Some(h)], vec![1])
            } else {
                (vec![batch, t, Some(1), Some(h)], vec![2])
            };
            cx.set(
                y,
                Sym {
                    src: v.clone(),
                    shape,
                    perm: want.to_vec(),
                    pre: None,
                    squeezed,
                    split: None,
                },
            );
            if use_h.is_some() {
                let seq = Sym::plain(&v, vec![batch, Some(h), t]);
                let body = json::vertex(
                    "rnn.LastTimeStepVertex",
                    &[("maskArrayInputName", Value::Null)],
                );
                cx.net.add_vertex(&format!("{hint}_last"), &[&seq], body)
            } else {
                v
            }
        }
        None => v,
    };
    if let Some(y_h) = use_h {
        cx.set(
            y_h,
            Sym {
                src: h_src,
                shape: vec![Some(1), batch, Some(h)],
                perm: vec![0, 1],
                pre: None,
                squeezed: vec![0],
                split: None,
            },
        );
    }
    Ok(())
}

/// A bidirectional LSTM/RNN -> DL4J `Bidirectional` (CONCAT) around the cell layer. DL4J's
/// output `[N, 2h, T]` holds the forward features first, as ONNX's `Y [T, 2, N, h]` does once
/// exporters move the direction axis next to the features and join them (PyTorch:
/// `Transpose(0, 2, 1, 3)` + `Reshape [T, N, 2h]`); `Y` gets a Sym whose DL4J feature axis is
/// split into `[2, h]`, which that reshape rejoins. `Y_h` has no DL4J counterpart: its backward
/// half is the backward pass's output at t = 0.
fn bidirectional(
    cx: &mut Cx,
    n: &ForeignNode,
    kind: Kind,
    weights: &Weights,
    acts: &[(Value, Value)],
    layout: i64,
) -> Done {
    let op = match kind {
        Kind::Lstm => "LSTM",
        Kind::Rnn => "RNN",
    };
    let (y, y_h) = (n.outputs.first(), n.outputs.get(1));
    if used(cx, y_h).is_some() {
        return Err(format!(
            "bidirectional {op} with Y_h used: its backward half is the backward pass's output at t = 0, which no DL4J layer gives (use Y's last step instead)"
        ));
    }
    let [acts, bwd_acts] = acts else {
        return Err(format!(
            "bidirectional {op} with {} activation sets (one per direction expected)",
            acts.len()
        ));
    };
    if acts != bwd_acts {
        return Err(format!(
            "bidirectional {op} with different activations per direction (DL4J's Bidirectional copies one layer)"
        ));
    }
    let want: &[usize] = if layout == 0 { &[2, 0, 1] } else { &[0, 2, 1] };
    let x_name = input(n, 0).ok_or("no input X")?;
    let x = sequence_input(cx, x_name, want)?;
    let [s0, s1, _] = x.shape[..] else {
        return Err(format!(
            "input of shape {} is not a rank-3 sequence",
            show(&x.shape)
        ));
    };
    let (t, batch) = if layout == 0 { (s0, s1) } else { (s1, s0) };
    let (h, n_in) = (weights.h, weights.n_in);
    let hint = hint(n, &op.to_ascii_lowercase()).to_string();
    let name = cx.net.unique_name(&hint);
    let side = |d: usize| -> Result<Layer, String> {
        Ok(cell_layer(
            kind,
            weights.p.is_some(),
            n_in,
            h,
            acts,
            params(kind, d, weights)?,
        ))
    };
    let (fwd, bwd) = (side(0)?, side(1)?);
    let mut params_all = Vec::new();
    for (prefix, l) in [("f", &fwd), ("b", &bwd)] {
        for (k, v) in &l.params {
            params_all.push((format!("{prefix}{k}"), v.clone()));
        }
    }
    let fields = json::fields(&[
        ("fwd", fwd.to_json(&name)),
        ("bwd", bwd.to_json(&name)),
        ("mode", json!("CONCAT")),
        ("nin", json!(n_in)),
        ("nout", json!(2 * h)),
        ("rnndataFormat", json!("NCW")),
    ]);
    let mut layer = Layer::new("recurrent.Bidirectional", Family::NoParams, fields);
    layer.params = params_all;
    cx.net.push(Vertex {
        name: name.clone(),
        body: Body::Layer(layer),
        inputs: vec![x.src.clone()],
        pre: x.pre.clone(),
    });
    // DL4J [N, 2h, T] seen as [N, 2, h, T]; ONNX Y is [T, 2, N, h] (layout 0) or [N, T, 2, h].
    let (shape, perm) = if layout == 0 {
        (vec![t, Some(2), batch, Some(h)], vec![3, 1, 0, 2])
    } else {
        (vec![batch, t, Some(2), Some(h)], vec![0, 3, 1, 2])
    };
    cx.set(
        y.ok_or("no output Y")?,
        Sym {
            src: name,
            shape,
            perm,
            pre: None,
            squeezed: Vec::new(),
            split: Some((1, 2)),
        },
    );
    Ok(())
}

pub fn lstm(cx: &mut Cx, n: &ForeignNode) -> Done {
    recurrent(cx, n, Kind::Lstm)
}

pub fn rnn(cx: &mut Cx, n: &ForeignNode) -> Done {
    recurrent(cx, n, Kind::Rnn)
}

/// `Gather` of the last time step of a recurrent layer's output: LastTimeStep around the layer
/// when nothing else reads the layer's output, else a LastTimeStepVertex behind it.
pub fn gather(cx: &mut Cx, n: &ForeignNode) -> Done {
    const NONE: &str = "Gather on network data has no DL4J equivalent";
    let data = input(n, 0).ok_or("no data input")?;
    let x = cx.sym(data)?;
    let idx_name = input(n, 1).ok_or("no indices input")?;
    let idx = cx.konst(idx_name).ok_or(NONE)?;
    if idx.len() != 1 || idx.ndim() > 1 || x.pre.is_some() || x.split.is_some() {
        return Err(NONE.into());
    }
    let r = x.rank() as i64;
    let axis = attr_int(n, "axis", 0);
    let axis = if axis < 0 { axis + r } else { axis };
    if !(0..r).contains(&axis) {
        return Err(format!("axis {axis} outside rank {r}"));
    }
    let axis = axis as usize;
    if x.squeezed.contains(&axis) {
        return Err(NONE.into());
    }
    let core_axis = axis - x.squeezed.iter().filter(|&&s| s < axis).count();
    let recurrent_src = matches!(
        cx.net.vertex(&x.src).map(|v| &v.body),
        Some(Body::Layer(l)) if RECURRENT.contains(&l.class)
    );
    if !recurrent_src || x.perm.len() != 3 || x.perm.get(core_axis) != Some(&2) {
        return Err(format!(
            "{NONE} (only the last step along the time axis of a recurrent layer's output is supported)"
        ));
    }
    let k = *idx.iter().next().ok_or(NONE)? as i64;
    let last = match x.shape.get(axis).copied().flatten() {
        Some(t) => k == -1 || usize::try_from(k).is_ok_and(|k| k.checked_add(1) == Some(t)),
        None => k == -1,
    };
    if !last {
        return Err(format!(
            "{NONE} (only the last time step is: index {k} of {})",
            show(&x.shape)
        ));
    }
    // The output: the time axis dropped (scalar index) or kept as a size-1 axis.
    let mut y = x.clone();
    y.perm = x.perm.iter().filter(|&&p| p != 2).copied().collect();
    if idx.ndim() == 0 {
        y.shape.remove(axis);
        y.squeezed = x
            .squeezed
            .iter()
            .map(|&s| if s > axis { s - 1 } else { s })
            .collect();
    } else {
        if let Some(d) = y.shape.get_mut(axis) {
            *d = Some(1);
        }
        y.squeezed.push(axis);
        y.squeezed.sort_unstable();
    }
    // Wrap the layer when every ONNX view of its output is read exactly along one chain ending
    // in this node: the views' reads are then the chain's links plus this one.
    let views: Vec<&str> = cx.net.views_of(&x.src).collect();
    let reads: usize = views.iter().map(|v| cx.uses(v)).sum();
    let private = reads == views.len()
        && !views.iter().any(|v| cx.is_output(v))
        && cx.net.consumers(&x.src) == 0;
    if private {
        let vertex = cx
            .net
            .vertex_mut(&x.src)
            .ok_or_else(|| format!("the layer {:?} is not available", x.src))?;
        // A recurrent layer (checked above): wrapped in place.
        vertex.body = match std::mem::replace(&mut vertex.body, Body::Vertex(Value::Null)) {
            Body::Layer(layer) => Body::Layer(last_time_step(layer, &x.src)),
            other => other,
        };
    } else {
        let seq = Sym::plain(&x.src, x.dl4j_shape());
        let body = json::vertex(
            "rnn.LastTimeStepVertex",
            &[("maskArrayInputName", Value::Null)],
        );
        y.src = cx
            .net
            .add_vertex(&format!("{}_last", hint(n, "gather")), &[&seq], body);
    }
    cx.set(n.outputs.first().ok_or("no output")?, y);
    Ok(())
}
