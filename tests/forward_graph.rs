//! A ComputationGraph forward pass over the parameter views, compared with the output DL4J itself
//! saved: 1.0.0-beta6 `SyntheticBidirectionalRNNGraph`.
//!
//! The graph (everything is read from `configuration.json`, not assumed):
//! `input -> rnn1 = Bidirectional(LSTM)`, `input -> rnn2 = Bidirectional(SimpleRnn)`,
//! `concat = MergeVertex(rnn1, rnn2)`, `pooling = GlobalPoolingLayer`, `out = OutputLayer(softmax)`.
//! The math follows spec `dl4j-config-and-layers.md` §7.3 (CG flattening in topological order),
//! §9.2, §9.10, §9.13 (LSTM), §9.16 (SimpleRnn), §9.17 (Bidirectional), §10 (activations) and
//! §12 (MergeVertex). Everything is computed in f64 from the f32 parameters, so the difference
//! measures DL4J's own f32 rounding plus any layout error.
//!
//! Besides the forward pass itself, the test
//! * re-derives every parameter's offset and shape from the JSON alone (topological order, the
//!   Bidirectional `f` half before the `b` half, W/RW/b per layer type) and checks that the library's
//!   layout agrees with it, and
//! * runs deliberately wrong variants (the flat vector cut in the wrong vertex order, the `f`/`b`
//!   halves of a Bidirectional swapped, the merge inputs concatenated in the wrong order, the
//!   backward RNN fed the unreversed sequence, LSTM weights read in c order or with gate blocks
//!   swapped) and asserts that each misses by far more than the tolerance, so a pass really pins
//!   the layout down.
//!
//! The MultiLayerNetwork `RnnCsvSequenceClassification2` integration model is not checked here: its
//! saved prediction exists, but the input it was computed from (UCI synthetic control data) is not
//! stored with the fixtures.

mod common;

use std::collections::HashMap;

use common::reference::{
    activation, affine, apply, assert_ncw, int, max_abs_diff, misread_c_order, read_array_typed,
    simple_class, Act, Model,
};
use dl4j::{Archive, DType, Order, ParamLayout};
use ndarray::{concatenate, s, Array1, Array2, Array3, ArrayD, Axis, IxDyn, ShapeBuilder};
use serde_json::Value;

const MODEL: &str = "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin";
const INPUT: &str = "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_Input_100b6.bin";
const OUTPUT: &str = "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_Output_100b6.bin";

/// Tolerance (max abs diff) on the softmax outputs (values in (0, 1)). DL4J computes in f32
/// (relative rounding 6e-8 per operation); through 10 recurrent steps, the 64-wide output layer and
/// the softmax this accumulates to about 1e-7 (observed 7.8e-8, see the test's stderr). 1e-6 keeps
/// a 10x margin above that, while the closest deliberate error (LSTM forget/output gates swapped)
/// misses by 1.7e-2; the controls are required to miss by more than 100 x TOL.
const TOL: f64 = 1e-6;

// ---------------------------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------------------------

/// The simple class name of a `{"@class": "..."}` object.
fn class(v: &Value) -> &str {
    simple_class(v).unwrap_or_else(|| panic!("no @class in {v}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("not a string: {s}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The parameter layout, re-derived from the JSON alone (spec §7.3, §9.13, §9.16, §9.17, §9.2)
// ---------------------------------------------------------------------------------------------

/// The parameters of one layer in flat order: (key, logical shape). Biases are `[n]`.
fn layer_params(layer: &Value) -> Vec<(String, Vec<usize>)> {
    match class(layer) {
        "Bidirectional" => {
            // Forward layer's parameters with prefix `f`, then the backward layer's with `b`.
            let mut v: Vec<_> = layer_params(&layer["fwd"])
                .into_iter()
                .map(|(k, s)| (format!("f{k}"), s))
                .collect();
            v.extend(
                layer_params(&layer["bwd"])
                    .into_iter()
                    .map(|(k, s)| (format!("b{k}"), s)),
            );
            v
        }
        "LSTM" => {
            let (n_in, h) = (int(layer, "nin"), int(layer, "nout"));
            vec![
                ("W".into(), vec![n_in, 4 * h]),
                ("RW".into(), vec![h, 4 * h]),
                ("b".into(), vec![4 * h]),
            ]
        }
        "SimpleRnn" => {
            assert_eq!(
                layer.get("hasLayerNorm").and_then(Value::as_bool),
                Some(false)
            );
            let (n_in, h) = (int(layer, "nin"), int(layer, "nout"));
            vec![
                ("W".into(), vec![n_in, h]),
                ("RW".into(), vec![h, h]),
                ("b".into(), vec![h]),
            ]
        }
        "OutputLayer" | "DenseLayer" => {
            assert_eq!(layer.get("hasBias").and_then(Value::as_bool), Some(true));
            let (n_in, n_out) = (int(layer, "nin"), int(layer, "nout"));
            vec![("W".into(), vec![n_in, n_out]), ("b".into(), vec![n_out])]
        }
        "GlobalPoolingLayer" => vec![],
        other => panic!("layer {other} not implemented in this test"),
    }
}

/// Name -> (offset, shape) when the vertices' parameters are concatenated in `order`.
fn derived_layout(cfg: &Value, order: &[&str]) -> (HashMap<String, (usize, Vec<usize>)>, usize) {
    let mut map = HashMap::new();
    let mut offset = 0;
    for &name in order {
        let Some(vertex) = cfg["vertices"].get(name) else {
            continue; // a network input
        };
        if class(vertex) != "LayerVertex" {
            assert_eq!(class(vertex), "MergeVertex", "{name}");
            continue;
        }
        for (key, shape) in layer_params(&vertex["layerConf"]["layer"]) {
            let len: usize = shape.iter().product();
            map.insert(format!("{name}_{key}"), (offset, shape));
            offset += len;
        }
    }
    (map, offset)
}

// ---------------------------------------------------------------------------------------------
// Parameter sets
// ---------------------------------------------------------------------------------------------

/// Parameters by full name (`rnn1_fW`), widened to f64.
struct Params(HashMap<String, ArrayD<f64>>);

impl Params {
    /// Through the library's layout views (the code under test).
    fn from_layout(archive: &Archive, layout: &ParamLayout) -> Params {
        assert_eq!(archive.dtype(), DType::F32);
        let flat = &archive.params.tensor;
        let map = layout
            .params()
            .map(|p| {
                let v = layout.view::<f32>(p, flat).unwrap().mapv(f64::from);
                assert_eq!(v.shape(), p.shape.as_slice(), "{}", p.name);
                (p.name.clone(), v)
            })
            .collect();
        Params(map)
    }

    /// Cut directly from the flat vector at the given offsets, every segment read in f order.
    fn from_flat(flat: &[f64], layout: &HashMap<String, (usize, Vec<usize>)>) -> Params {
        let map = layout
            .iter()
            .map(|(name, (off, shape))| {
                let len: usize = shape.iter().product();
                let a = ArrayD::from_shape_vec(IxDyn(shape).f(), flat[*off..off + len].to_vec())
                    .unwrap();
                (name.clone(), a)
            })
            .collect();
        Params(map)
    }

    fn get(&self, name: &str) -> &ArrayD<f64> {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
    }

    fn mat(&self, name: &str, rows: usize, cols: usize) -> Array2<f64> {
        let a = self.get(name);
        assert_eq!(a.shape(), [rows, cols], "shape of {name}");
        a.clone().into_dimensionality().unwrap()
    }

    /// Biases: `[n]`, or `[1, n]` as some releases shape them.
    fn vec(&self, name: &str, n: usize) -> Array1<f64> {
        let a = self.get(name);
        assert!(
            a.shape() == [n] || a.shape() == [1, n],
            "shape of {name}: {:?}",
            a.shape()
        );
        Array1::from_iter(a.iter().copied())
    }
}

// ---------------------------------------------------------------------------------------------
// Forward pass
// ---------------------------------------------------------------------------------------------

/// A deliberate error in the forward pass, to check that the tolerance discriminates.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Control {
    /// The real computation.
    Exact,
    /// The `f` and `b` parameter halves of this Bidirectional vertex swapped.
    SwapHalves(&'static str),
    /// MergeVertex inputs concatenated in reverse `vertexInputs` order.
    MergeReversed,
    /// The backward RNN fed the sequence in forward time order. (Forgetting to reverse the
    /// backward output back is invisible here: MAX pooling over time ignores the time order.)
    BwdInputNotReversed,
    /// LSTM input weights read in c order instead of f order.
    LstmCOrderW,
    /// LSTM forget (block 1) and output (block 2) gates swapped.
    LstmSwapForgetOutput,
}

/// One LSTM over `x` `[mb, nIn, T]` -> `[mb, h, T]` (spec §9.13), parameters `{prefix}W` etc.
fn lstm(layer: &Value, p: &Params, prefix: &str, x: &Array3<f64>, control: Control) -> Array3<f64> {
    let (n_in, h) = (int(layer, "nin"), int(layer, "nout"));
    assert_eq!(x.dim().1, n_in, "{prefix}: nIn");
    assert_ncw(layer, prefix);
    let act = activation(layer.get("activationFn"));
    let gate = layer
        .get("gateActivationFn")
        .map_or(Act::Sigmoid, |g| activation(Some(g)));
    let mut w = p.mat(&format!("{prefix}W"), n_in, 4 * h);
    if control == Control::LstmCOrderW {
        w = misread_c_order(&w);
    }
    let rw = p.mat(&format!("{prefix}RW"), h, 4 * h);
    let b = p.vec(&format!("{prefix}b"), 4 * h);
    let [a_blk, f_blk, o_blk, i_blk] = match control {
        Control::LstmSwapForgetOutput => [0, 2, 1, 3],
        _ => [0, 1, 2, 3],
    }
    .map(|k| k * h..(k + 1) * h);

    let (mb, _, steps) = x.dim();
    let mut out = Array3::zeros((mb, h, steps));
    let mut h_prev = Array2::<f64>::zeros((mb, h));
    let mut c_prev = Array2::<f64>::zeros((mb, h));
    for t in 0..steps {
        let z = x.slice(s![.., .., t]).dot(&w) + h_prev.dot(&rw) + &b; // [mb, 4h]
        let a = apply(act, z.slice(s![.., a_blk.clone()]).to_owned());
        let f = apply(gate, z.slice(s![.., f_blk.clone()]).to_owned());
        let o = apply(gate, z.slice(s![.., o_blk.clone()]).to_owned());
        let i = apply(gate, z.slice(s![.., i_blk.clone()]).to_owned());
        let c = &f * &c_prev + &i * &a;
        let ht = o * &apply(act, c.clone());
        out.slice_mut(s![.., .., t]).assign(&ht);
        h_prev = ht;
        c_prev = c;
    }
    out
}

/// One SimpleRnn over `x` `[mb, nIn, T]` -> `[mb, h, T]` (spec §9.16).
fn simple_rnn(layer: &Value, p: &Params, prefix: &str, x: &Array3<f64>) -> Array3<f64> {
    let (n_in, h) = (int(layer, "nin"), int(layer, "nout"));
    assert_eq!(x.dim().1, n_in, "{prefix}: nIn");
    assert_ncw(layer, prefix);
    let act = activation(layer.get("activationFn"));
    let w = p.mat(&format!("{prefix}W"), n_in, h);
    let rw = p.mat(&format!("{prefix}RW"), h, h);
    let b = p.vec(&format!("{prefix}b"), h);
    let (mb, _, steps) = x.dim();
    let mut out = Array3::zeros((mb, h, steps));
    let mut h_prev = Array2::<f64>::zeros((mb, h));
    for t in 0..steps {
        let ht = apply(act, x.slice(s![.., .., t]).dot(&w) + h_prev.dot(&rw) + &b);
        out.slice_mut(s![.., .., t]).assign(&ht);
        h_prev = ht;
    }
    out
}

fn recurrent(layer: &Value, p: &Params, prefix: &str, x: &Array3<f64>, c: Control) -> Array3<f64> {
    match class(layer) {
        "LSTM" => lstm(layer, p, prefix, x, c),
        "SimpleRnn" => simple_rnn(layer, p, prefix, x),
        other => panic!("recurrent layer {other} not implemented in this test"),
    }
}

fn reverse_time(x: &Array3<f64>) -> Array3<f64> {
    x.slice(s![.., .., ..;-1]).to_owned()
}

/// Bidirectional wrapper (spec §9.17) of vertex `name`.
fn bidirectional(
    name: &str,
    layer: &Value,
    p: &Params,
    x: &Array3<f64>,
    control: Control,
) -> Array3<f64> {
    assert_ncw(layer, name);
    let (fp, bp) = if matches!(control, Control::SwapHalves(n) if n == name) {
        ("b", "f")
    } else {
        ("f", "b")
    };
    let fwd = recurrent(&layer["fwd"], p, &format!("{name}_{fp}"), x, control);
    let x_bwd = if control == Control::BwdInputNotReversed {
        x.clone()
    } else {
        reverse_time(x)
    };
    let bwd = reverse_time(&recurrent(
        &layer["bwd"],
        p,
        &format!("{name}_{bp}"),
        &x_bwd,
        control,
    ));
    match layer["mode"].as_str() {
        Some("CONCAT") => concatenate(Axis(1), &[fwd.view(), bwd.view()]).unwrap(),
        Some("ADD") => fwd + bwd,
        Some("MUL") => fwd * bwd,
        Some("AVERAGE") => (fwd + bwd) / 2.0,
        m => panic!("{name}: Bidirectional mode {m:?}"),
    }
}

/// GlobalPoolingLayer (spec §9.10) over `[mb, C, T]`.
fn global_pooling(layer: &Value, x: &ArrayD<f64>) -> ArrayD<f64> {
    assert_eq!(x.ndim(), 3, "global pooling input rank");
    let dims: Vec<u64> = match layer.get("poolingDimensions") {
        None | Some(Value::Null) => vec![2],
        Some(d) => d
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect(),
    };
    assert_eq!(dims, [2], "poolingDimensions");
    assert_eq!(
        layer.get("collapseDimensions").and_then(Value::as_bool),
        Some(true),
        "collapseDimensions"
    );
    let ax = Axis(2);
    let ty = layer
        .get("poolingType")
        .and_then(Value::as_str)
        .unwrap_or("MAX");
    match ty {
        "MAX" => x.map_axis(ax, |l| l.fold(f64::NEG_INFINITY, |a, &b| a.max(b))),
        "AVG" => x.mean_axis(ax).unwrap(),
        "SUM" => x.sum_axis(ax),
        "PNORM" => {
            let pn = layer.get("pnorm").and_then(Value::as_f64).unwrap_or(2.0);
            x.map_axis(ax, |l| {
                l.fold(0.0, |a, &b| a + b.abs().powf(pn)).powf(1.0 / pn)
            })
        }
        other => panic!("poolingType {other}"),
    }
}

/// Runs the graph over `x` in `topologicalOrderStr` and returns the (single) network output.
fn forward(cfg: &Value, p: &Params, x: &Array3<f64>, control: Control) -> Array2<f64> {
    let inputs = strings(&cfg["networkInputs"]);
    assert_eq!(inputs.len(), 1);
    let mut acts: HashMap<&str, ArrayD<f64>> = HashMap::new();
    acts.insert(inputs[0], x.clone().into_dyn());
    for name in strings(&cfg["topologicalOrderStr"]) {
        if inputs.contains(&name) {
            continue;
        }
        let vertex = &cfg["vertices"][name];
        let mut ins: Vec<&ArrayD<f64>> = strings(&cfg["vertexInputs"][name])
            .into_iter()
            .map(|i| {
                acts.get(i)
                    .unwrap_or_else(|| panic!("{name}: {i} not computed yet"))
            })
            .collect();
        let y = match class(vertex) {
            "MergeVertex" => {
                let axis = vertex.get("mergeAxis").and_then(Value::as_u64).unwrap_or(1);
                if control == Control::MergeReversed {
                    ins.reverse();
                }
                let views: Vec<_> = ins.iter().map(|a| a.view()).collect();
                concatenate(Axis(axis as usize), &views).unwrap()
            }
            "LayerVertex" => {
                assert!(vertex["preProcessor"].is_null(), "{name}: preprocessor");
                assert_eq!(ins.len(), 1, "{name}: inputs");
                let x = ins[0];
                let layer = &vertex["layerConf"]["layer"];
                match class(layer) {
                    "Bidirectional" => {
                        let x3 = x.clone().into_dimensionality().unwrap();
                        bidirectional(name, layer, p, &x3, control).into_dyn()
                    }
                    "GlobalPoolingLayer" => global_pooling(layer, x),
                    "OutputLayer" => {
                        let (n_in, n_out) = (int(layer, "nin"), int(layer, "nout"));
                        let x2: Array2<f64> = x.clone().into_dimensionality().unwrap();
                        let w = p.mat(&format!("{name}_W"), n_in, n_out);
                        let b = p.vec(&format!("{name}_b"), n_out);
                        let act = activation(layer.get("activationFn"));
                        affine(&x2, &w, &b, act).into_dyn()
                    }
                    other => panic!("{name}: layer {other} not implemented in this test"),
                }
            }
            other => panic!("{name}: vertex {other} not implemented in this test"),
        };
        acts.insert(name, y);
    }
    let outputs = strings(&cfg["networkOutputs"]);
    assert_eq!(outputs.len(), 1);
    acts.remove(outputs[0])
        .unwrap()
        .into_dimensionality()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Arrays and comparison
// ---------------------------------------------------------------------------------------------

/// A loose ND4J array fixture, which must be stored as f32, widened to f64.
fn read_array(rel: &str) -> ArrayD<f64> {
    let (dtype, a) = read_array_typed(rel);
    assert_eq!(dtype, DType::F32, "{rel}");
    a
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[test]
fn bidirectional_rnn_graph_matches_dl4j_output_100b6() {
    let m = Model::open(MODEL);
    let (archive, layout) = (&m.archive, &m.layout);
    let cfg = m.config();

    // The graph is the one this test implements.
    let topo = strings(&cfg["topologicalOrderStr"]);
    assert_eq!(topo, ["input", "rnn1", "rnn2", "concat", "pooling", "out"]);
    assert_eq!(strings(&cfg["vertexInputs"]["concat"]), ["rnn1", "rnn2"]);
    // topologicalOrder indexes networkInputs then vertices in JSON order (spec §7.2).
    let index_names: Vec<&str> = strings(&cfg["networkInputs"])
        .into_iter()
        .chain(
            cfg["vertices"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str),
        )
        .collect();
    let topo_idx: Vec<&str> = cfg["topologicalOrder"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| index_names[i.as_u64().unwrap() as usize])
        .collect();
    assert_eq!(topo_idx, topo, "topologicalOrder vs topologicalOrderStr");
    for (name, inner) in [("rnn1", "LSTM"), ("rnn2", "SimpleRnn")] {
        let l = &cfg["vertices"][name]["layerConf"]["layer"];
        assert_eq!(class(l), "Bidirectional", "{name}");
        assert_eq!(l["mode"].as_str(), Some("CONCAT"), "{name}: mode");
        for half in ["fwd", "bwd"] {
            assert_eq!(class(&l[half]), inner, "{name}.{half}");
            assert_eq!(activation(l[half].get("activationFn")), Act::Relu);
            assert_eq!((int(&l[half], "nin"), int(&l[half], "nout")), (10, 16));
        }
    }
    let lstm_gate = &cfg["vertices"]["rnn1"]["layerConf"]["layer"]["fwd"]["gateActivationFn"];
    assert_eq!(activation(Some(lstm_gate)), Act::Sigmoid);

    // 1. The library's layout equals the one derived from the JSON in topological order.
    let (derived, total) = derived_layout(cfg, &topo);
    assert_eq!(total, archive.num_params(), "derived parameter count");
    assert_eq!(layout.params().count(), derived.len());
    for p in layout.params() {
        let (off, shape) = derived
            .get(&p.name)
            .unwrap_or_else(|| panic!("unexpected parameter {}", p.name));
        assert_eq!(p.offset, *off, "{}: offset", p.name);
        assert_eq!(
            p.len(),
            shape.iter().product::<usize>(),
            "{}: length",
            p.name
        );
        if shape.len() == 2 {
            assert_eq!(&p.shape, shape, "{}: shape", p.name);
            assert_eq!(p.order, Order::F, "{}: order", p.name);
        }
    }
    let exact = Params::from_layout(archive, layout);
    let flat = &m.flat;
    let reference = Params::from_flat(flat, &derived);
    for (name, a) in &reference.0 {
        let v = exact.get(name);
        assert!(
            v.iter().eq(a.iter()) && v.len() == a.len(),
            "{name}: library view differs from the segment cut by hand"
        );
    }

    // 2. The forward pass over the library's views matches DL4J's output.
    let x: Array3<f64> = read_array(INPUT).into_dimensionality().unwrap();
    assert_eq!(x.shape(), [4, 10, 10], "input [mb, nIn, T]");
    let want: Array2<f64> = read_array(OUTPUT).into_dimensionality().unwrap();
    assert_eq!(want.shape(), [4, 3]);
    let got = forward(cfg, &exact, &x, Control::Exact);
    let abs = max_abs_diff(&got, &want);
    eprintln!("{MODEL}: max abs diff {abs:.3e}");
    assert!(abs <= TOL, "max abs diff {abs:e}\ngot\n{got}\nwant\n{want}");

    // 3. The expected output is not uniform, and every deliberate error misses by far more than
    //    the tolerance.
    let spread = want.fold(0.0f64, |a, &v| a.max((v - 1.0 / 3.0).abs()));
    eprintln!("  max |expected - 1/3| = {spread:.3e}");
    assert!(spread > 1e-2, "expected output is nearly uniform");

    // Flat vector cut as if rnn2 came before rnn1 (vertex order differing from the topological
    // order stored in the JSON).
    let swapped_order = ["input", "rnn2", "rnn1", "concat", "pooling", "out"];
    let (swapped, _) = derived_layout(cfg, &swapped_order);
    let mut cases: Vec<(String, f64)> = vec![(
        "flat order rnn2 before rnn1".into(),
        max_abs_diff(
            &forward(cfg, &Params::from_flat(flat, &swapped), &x, Control::Exact),
            &want,
        ),
    )];
    for control in [
        Control::SwapHalves("rnn1"),
        Control::SwapHalves("rnn2"),
        Control::MergeReversed,
        Control::BwdInputNotReversed,
        Control::LstmCOrderW,
        Control::LstmSwapForgetOutput,
    ] {
        let d = max_abs_diff(&forward(cfg, &exact, &x, control), &want);
        cases.push((format!("{control:?}"), d));
    }
    for (what, d) in &cases {
        eprintln!("  control {what}: max abs diff {d:.3e}");
    }
    for (what, d) in cases {
        assert!(d > 100.0 * TOL, "control {what} not discriminated ({d:e})");
    }
}
