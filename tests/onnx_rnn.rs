//! Recurrent layers exported to ONNX, run with tract and compared with DL4J's saved outputs
//! (char-modelling fixtures) and with a direct f64 implementation of DL4J's formulas
//! (`common::rnn_reference`) on pseudo-random data.

mod common;

use common::fixture;
use common::onnx_run::{assert_close, run};
use common::reference::{max_abs_diff, read_array, read_array_typed};
use common::rnn_reference::{self as reference, combine, reverse_time, sigmoid, swap_nwc};
use common::synthetic::{layer, mln as model_typed, uniform};
use dl4j::{Archive, DType};
use ndarray::{Array1, Array2, Array3};
use serde_json::{json, Value};

// ---- fixtures --------------------------------------------------------------------------------

fn open(rel: &str) -> Archive {
    dl4j::open(fixture(rel), None)
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .0
}

fn check_fixture(model: &str, input: &str, output: &str) {
    let a = open(model);
    let onnx = dl4j::dl4j_onnx::to_onnx(&a, 17).unwrap_or_else(|e| panic!("{model}: {e}"));
    let (in_dtype, x) = read_array_typed(input);
    assert_eq!(in_dtype, a.dtype(), "{input}");
    let want = read_array(output);
    let got = run(&onnx, a.dtype(), &x);
    assert_eq!(got.shape(), want.shape(), "{model}");
    assert_close(&got, &want, 1e-4, 1e-5, model);
    // The char models' softmax outputs all sit near 1/77: 1e-4 would miss swapped peephole
    // columns (~4e-5 off) or an output peephole on c_{t-1} (~2e-5); f32 agreement is ~1e-8.
    let diff = max_abs_diff(&got, &want);
    assert!(diff <= 1e-6, "{model}: max abs diff {diff:e}");
}

#[test]
fn graves_lstm_char_model_runs_in_tract_with_dl4j_output_100a() {
    check_fixture(
        "dl4j/1.0.0-alpha/GravesLSTMCharModelingExample_100a.bin",
        "dl4j/1.0.0-alpha/GravesLSTMCharModelingExample_Input_100a.bin",
        "dl4j/1.0.0-alpha/GravesLSTMCharModelingExample_Output_100a.bin",
    );
}

#[test]
fn lstm_char_model_runs_in_tract_with_dl4j_output_100b6() {
    check_fixture(
        "dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_100b6.bin",
        "dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_Input_100b6.bin",
        "dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_Output_100b6.bin",
    );
}

#[test]
fn bidirectional_graph_runs_in_tract_with_dl4j_output_100b6() {
    check_fixture(
        "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin",
        "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_Input_100b6.bin",
        "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_Output_100b6.bin",
    );
}

// ---- small networks built in code ------------------------------------------------------------

fn mat(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    Array2::from_shape_vec((rows, cols), random(rows * cols, seed, 1.0)).unwrap()
}

fn vec1(n: usize, seed: u64) -> Array1<f64> {
    Array1::from(random(n, seed, 1.0))
}

/// NCW input `[batch, nIn, T]` in [-2, 2).
fn input(mb: usize, n_in: usize, t: usize, seed: u64) -> Array3<f64> {
    Array3::from_shape_vec((mb, n_in, t), random(mb * n_in * t, seed, 2.0)).unwrap()
}

/// DL4J's flat parameter order for a matrix: f-order (column-major).
fn f_order(m: &Array2<f64>) -> Vec<f64> {
    m.t().iter().copied().collect()
}

fn act(name: &str) -> Value {
    json!({"@class": format!("org.nd4j.linalg.activations.impl.Activation{name}")})
}

/// A float32 MultiLayerNetwork archive with these layers and flat parameters.
fn model(layers: Vec<(Value, Vec<&str>)>, params: Vec<f64>) -> Archive {
    model_typed(layers, params, DType::F32)
}

fn export_run(a: &Archive, x: &Array3<f64>) -> ndarray::ArrayD<f64> {
    let onnx = dl4j::dl4j_onnx::to_onnx(a, 17).unwrap();
    run(&onnx, DType::F32, &x.clone().into_dyn())
}

fn check(a: &Archive, x: &Array3<f64>, want: ndarray::ArrayD<f64>, what: &str) {
    let got = export_run(a, x);
    assert_eq!(got.shape(), want.shape(), "{what}");
    assert_close(&got, &want, 1e-4, 1e-5, what);
}

/// One LSTM parameter set: `W [nIn, 4h]`, `RW [h, 4h(+3)]`, `b [4h]`, and its flat form.
struct Lstm {
    w: Array2<f64>,
    rw: Array2<f64>,
    b: Array1<f64>,
}

impl Lstm {
    fn new(n_in: usize, h: usize, peepholes: bool, seed: u64) -> Lstm {
        Lstm {
            w: mat(n_in, 4 * h, seed),
            rw: mat(h, 4 * h + if peepholes { 3 } else { 0 }, seed + 1),
            b: vec1(4 * h, seed + 2),
        }
    }
    fn flat(&self) -> Vec<f64> {
        let mut v = f_order(&self.w);
        v.extend(f_order(&self.rw));
        v.extend(self.b.iter());
        v
    }
    fn forward(&self, x: &Array3<f64>, peepholes: bool) -> Array3<f64> {
        reference::lstm(
            x,
            &self.w,
            &self.rw,
            &self.b,
            &f64::tanh,
            &sigmoid,
            peepholes,
        )
    }
}

fn lstm_conf(class: &str, n_in: usize, h: usize, extra: Value) -> Value {
    let mut v = layer(
        class,
        json!({"nin": n_in, "nout": h, "activationFn": act("TanH"),
               "gateActivationFn": act("Sigmoid")}),
    );
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

const LSTM_VARS: [&str; 3] = ["W", "RW", "b"];

#[test]
fn lstm_matches_dl4j_formula() {
    let (n_in, h) = (3, 4);
    let p = Lstm::new(n_in, h, false, 11);
    let a = model(
        vec![(lstm_conf("LSTM", n_in, h, json!({})), LSTM_VARS.to_vec())],
        p.flat(),
    );
    let x = input(2, n_in, 5, 1);
    check(&a, &x, p.forward(&x, false).into_dyn(), "LSTM");
}

/// Each DL4J block drives one distinct gate: the block-input bias is 1, the forget gate is shut,
/// output and input gates are wide open. A gate permutation error changes every value.
#[test]
fn lstm_gate_order_edge_case() {
    let (n_in, h) = (2, 3);
    let mut b = vec![1.0; h];
    b.extend(vec![-30.0; h]); // forget
    b.extend(vec![30.0; h]); // output
    b.extend(vec![30.0; h]); // input gate
    let p = Lstm {
        w: Array2::zeros((n_in, 4 * h)),
        rw: Array2::zeros((h, 4 * h)),
        b: Array1::from(b),
    };
    let a = model(
        vec![(lstm_conf("LSTM", n_in, h, json!({})), LSTM_VARS.to_vec())],
        p.flat(),
    );
    let x = input(1, n_in, 3, 2);
    let want = p.forward(&x, false);
    // c_t = tanh(1) at every step (forget shut), h_t = tanh(tanh(1)).
    let expect = 1f64.tanh().tanh();
    assert!(want.iter().all(|&v| (v - expect).abs() < 1e-9));
    check(&a, &x, want.into_dyn(), "LSTM gate order");
}

#[test]
fn graves_lstm_with_peepholes_matches_dl4j_formula() {
    let (n_in, h) = (3, 4);
    let mut p = Lstm::new(n_in, h, true, 21);
    // Strong peepholes so a wrong column mapping (or c_{t-1} vs c_t) shows.
    for j in 0..h {
        for k in 0..3 {
            p.rw[[j, 4 * h + k]] *= 3.0;
        }
    }
    let a = model(
        vec![(
            lstm_conf("GravesLSTM", n_in, h, json!({})),
            LSTM_VARS.to_vec(),
        )],
        p.flat(),
    );
    let x = input(2, n_in, 6, 3);
    check(&a, &x, p.forward(&x, true).into_dyn(), "GravesLSTM");
}

#[test]
fn graves_bidirectional_lstm_sums_both_directions() {
    let (n_in, h) = (3, 4);
    let f = Lstm::new(n_in, h, true, 31);
    let r = Lstm::new(n_in, h, true, 41);
    let mut params = f.flat();
    params.extend(r.flat());
    let a = model(
        vec![(
            lstm_conf("GravesBidirectionalLSTM", n_in, h, json!({})),
            vec!["WF", "RWF", "bF", "WB", "RWB", "bB"],
        )],
        params,
    );
    let x = input(2, n_in, 5, 4);
    let want = f.forward(&x, true) + reverse_time(&r.forward(&reverse_time(&x), true));
    check(&a, &x, want.into_dyn(), "GravesBidirectionalLSTM");
}

struct Rnn {
    w: Array2<f64>,
    rw: Array2<f64>,
    b: Array1<f64>,
}

impl Rnn {
    fn new(n_in: usize, h: usize, seed: u64) -> Rnn {
        Rnn {
            w: mat(n_in, h, seed),
            rw: mat(h, h, seed + 1),
            b: vec1(h, seed + 2),
        }
    }
    fn flat(&self) -> Vec<f64> {
        let mut v = f_order(&self.w);
        v.extend(f_order(&self.rw));
        v.extend(self.b.iter());
        v
    }
    fn forward(&self, x: &Array3<f64>) -> Array3<f64> {
        reference::simple_rnn(x, &self.w, &self.rw, &self.b, &f64::tanh)
    }
}

fn rnn_conf(n_in: usize, h: usize) -> Value {
    layer(
        "recurrent.SimpleRnn",
        json!({"nin": n_in, "nout": h, "activationFn": act("TanH")}),
    )
}

#[test]
fn simple_rnn_matches_dl4j_formula() {
    let (n_in, h) = (3, 5);
    let p = Rnn::new(n_in, h, 51);
    let a = model(vec![(rnn_conf(n_in, h), LSTM_VARS.to_vec())], p.flat());
    let x = input(2, n_in, 6, 5);
    check(&a, &x, p.forward(&x).into_dyn(), "SimpleRnn");
}

fn bidirectional_conf(inner: Value, mode: &str) -> Value {
    layer(
        "recurrent.Bidirectional",
        json!({"fwd": inner.clone(), "bwd": inner, "mode": mode}),
    )
}

const BIDI_VARS: [&str; 6] = ["fW", "fRW", "fb", "bW", "bRW", "bb"];

#[test]
fn bidirectional_lstm_in_each_mode() {
    let (n_in, h) = (3, 4);
    let f = Lstm::new(n_in, h, false, 61);
    let r = Lstm::new(n_in, h, false, 71);
    let mut params = f.flat();
    params.extend(r.flat());
    let x = input(2, n_in, 5, 6);
    let fo = f.forward(&x, false);
    let ro = reverse_time(&r.forward(&reverse_time(&x), false));
    for mode in ["ADD", "MUL", "AVERAGE", "CONCAT"] {
        let conf = bidirectional_conf(lstm_conf("LSTM", n_in, h, json!({})), mode);
        let a = model(vec![(conf, BIDI_VARS.to_vec())], params.clone());
        let want = combine(&fo, &ro, mode);
        check(
            &a,
            &x,
            want.into_dyn(),
            &format!("Bidirectional(LSTM) {mode}"),
        );
    }
}

#[test]
fn bidirectional_simple_rnn_concat() {
    let (n_in, h) = (3, 4);
    let f = Rnn::new(n_in, h, 81);
    let r = Rnn::new(n_in, h, 91);
    let mut params = f.flat();
    params.extend(r.flat());
    let a = model(
        vec![(
            bidirectional_conf(rnn_conf(n_in, h), "CONCAT"),
            BIDI_VARS.to_vec(),
        )],
        params,
    );
    let x = input(2, n_in, 5, 7);
    let want = combine(
        &f.forward(&x),
        &reverse_time(&r.forward(&reverse_time(&x))),
        "CONCAT",
    );
    check(&a, &x, want.into_dyn(), "Bidirectional(SimpleRnn) CONCAT");
}

#[test]
fn lstm_then_rnn_output_layer_softmax() {
    let (n_in, h, n_out) = (3, 4, 5);
    let p = Lstm::new(n_in, h, false, 101);
    let w = mat(h, n_out, 111);
    let bo = vec1(n_out, 112);
    let mut params = p.flat();
    params.extend(f_order(&w));
    params.extend(bo.iter());
    let out = layer(
        "RnnOutputLayer",
        json!({"nin": h, "nout": n_out, "activationFn": act("Softmax")}),
    );
    let a = model(
        vec![
            (lstm_conf("LSTM", n_in, h, json!({})), LSTM_VARS.to_vec()),
            (out, vec!["W", "b"]),
        ],
        params,
    );
    let x = input(2, n_in, 4, 8);
    let want = reference::rnn_output(&p.forward(&x, false), &w, &bo, None);
    // Softmax over features: every (example, step) column sums to 1.
    for s in want.sum_axis(ndarray::Axis(1)).iter() {
        assert!((s - 1.0).abs() < 1e-12);
    }
    check(&a, &x, want.into_dyn(), "LSTM + RnnOutputLayer(softmax)");
}

#[test]
fn rnn_output_layer_first_with_tanh() {
    let (n_in, n_out) = (3, 4);
    let w = mat(n_in, n_out, 121);
    let bo = vec1(n_out, 122);
    let mut params = f_order(&w);
    params.extend(bo.iter());
    let out = layer(
        "RnnOutputLayer",
        json!({"nin": n_in, "nout": n_out, "activationFn": act("TanH")}),
    );
    let a = model(vec![(out, vec!["W", "b"])], params);
    let x = input(2, n_in, 5, 9);
    let want = reference::rnn_output(&x, &w, &bo, Some(&f64::tanh));
    check(&a, &x, want.into_dyn(), "RnnOutputLayer(tanh)");
}

#[test]
fn rnn_loss_layer_softmax_over_features() {
    let (n_in, h) = (3, 4);
    let p = Rnn::new(n_in, h, 131);
    let loss = layer("RnnLossLayer", json!({"activationFn": act("Softmax")}));
    let a = model(
        vec![(rnn_conf(n_in, h), LSTM_VARS.to_vec()), (loss, vec![])],
        p.flat(),
    );
    let x = input(2, n_in, 5, 10);
    let y = p.forward(&x);
    let mut want = y.clone();
    for t in 0..y.dim().2 {
        let z = y.slice(ndarray::s![.., .., t]).to_owned();
        want.slice_mut(ndarray::s![.., .., t])
            .assign(&reference::features_act(z, None));
    }
    check(&a, &x, want.into_dyn(), "SimpleRnn + RnnLossLayer(softmax)");
}

#[test]
fn last_time_step_of_lstm() {
    let (n_in, h) = (3, 4);
    let p = Lstm::new(n_in, h, false, 141);
    let conf = layer(
        "recurrent.LastTimeStep",
        json!({"underlying": lstm_conf("LSTM", n_in, h, json!({}))}),
    );
    let a = model(vec![(conf, LSTM_VARS.to_vec())], p.flat());
    let x = input(3, n_in, 6, 11);
    let y = p.forward(&x, false);
    let want = y.slice(ndarray::s![.., .., 5]).to_owned();
    check(&a, &x, want.into_dyn(), "LastTimeStep(LSTM)");
}

#[test]
fn nwc_lstm_and_rnn_output_layer() {
    let (n_in, h, n_out) = (3, 4, 2);
    let p = Lstm::new(n_in, h, false, 151);
    let w = mat(h, n_out, 161);
    let bo = vec1(n_out, 162);
    let mut params = p.flat();
    params.extend(f_order(&w));
    params.extend(bo.iter());
    let nwc = json!({"rnnDataFormat": "NWC"});
    let mut out = layer(
        "RnnOutputLayer",
        json!({"nin": h, "nout": n_out, "activationFn": act("Softmax")}),
    );
    out.as_object_mut()
        .unwrap()
        .extend(nwc.as_object().unwrap().clone());
    let a = model(
        vec![
            (lstm_conf("LSTM", n_in, h, nwc.clone()), LSTM_VARS.to_vec()),
            (out, vec!["W", "b"]),
        ],
        params,
    );
    let x = input(2, n_in, 5, 12);
    let want = reference::rnn_output(&p.forward(&x, false), &w, &bo, None);
    // The network reads and writes [batch, time, features].
    let got = export_run(&a, &swap_nwc(&x));
    let want = swap_nwc(&want).into_dyn();
    assert_eq!(got.shape(), want.shape());
    assert_close(&got, &want, 1e-4, 1e-5, "NWC LSTM + RnnOutputLayer");
}

// ---- non-default activations: explicit Scan bodies ------------------------------------------

fn relu(x: f64) -> f64 {
    x.max(0.0)
}

fn hard_sigmoid(x: f64) -> f64 {
    (0.2 * x + 0.5).clamp(0.0, 1.0)
}

fn softsign(x: f64) -> f64 {
    x / (1.0 + x.abs())
}

#[test]
fn lstm_with_relu_activation() {
    let (n_in, h) = (3, 4);
    let p = Lstm::new(n_in, h, false, 171);
    let conf = lstm_conf("LSTM", n_in, h, json!({"activationFn": act("ReLU")}));
    let a = model(vec![(conf, LSTM_VARS.to_vec())], p.flat());
    let x = input(2, n_in, 6, 13);
    let want = reference::lstm(&x, &p.w, &p.rw, &p.b, &relu, &sigmoid, false);
    // The cell is unbounded under ReLU: tanh in its place would differ.
    assert!(
        want.iter().any(|&v| v > 1.0),
        "test data must exceed tanh's range"
    );
    check(&a, &x, want.into_dyn(), "LSTM(ReLU)");
}

#[test]
fn graves_lstm_with_softsign_and_hard_sigmoid_gates() {
    let (n_in, h) = (3, 4);
    let p = Lstm::new(n_in, h, true, 181);
    let conf = lstm_conf(
        "GravesLSTM",
        n_in,
        h,
        json!({"activationFn": act("SoftSign"), "gateActivationFn": act("HardSigmoid")}),
    );
    let a = model(vec![(conf, LSTM_VARS.to_vec())], p.flat());
    let x = input(2, n_in, 6, 14);
    let want = reference::lstm(&x, &p.w, &p.rw, &p.b, &softsign, &hard_sigmoid, true);
    check(&a, &x, want.into_dyn(), "GravesLSTM(softsign, hardsigmoid)");
}

#[test]
fn simple_rnn_with_relu_activation() {
    let (n_in, h) = (3, 5);
    let p = Rnn::new(n_in, h, 191);
    let conf = layer(
        "recurrent.SimpleRnn",
        json!({"nin": n_in, "nout": h, "activationFn": act("ReLU")}),
    );
    let a = model(vec![(conf, LSTM_VARS.to_vec())], p.flat());
    let x = input(2, n_in, 6, 15);
    let want = reference::simple_rnn(&x, &p.w, &p.rw, &p.b, &relu);
    check(&a, &x, want.into_dyn(), "SimpleRnn(ReLU)");
}

/// The fixture graph's recurrent part: Bidirectional(LSTM, ReLU) reversed explicitly.
#[test]
fn bidirectional_relu_lstm_concat() {
    let (n_in, h) = (3, 4);
    let f = Lstm::new(n_in, h, false, 201);
    let r = Lstm::new(n_in, h, false, 211);
    let mut params = f.flat();
    params.extend(r.flat());
    let inner = lstm_conf("LSTM", n_in, h, json!({"activationFn": act("ReLU")}));
    let a = model(
        vec![(bidirectional_conf(inner, "CONCAT"), BIDI_VARS.to_vec())],
        params,
    );
    let x = input(2, n_in, 5, 16);
    let fwd =
        |p: &Lstm, x: &Array3<f64>| reference::lstm(x, &p.w, &p.rw, &p.b, &relu, &sigmoid, false);
    let want = combine(
        &fwd(&f, &x),
        &reverse_time(&fwd(&r, &reverse_time(&x))),
        "CONCAT",
    );
    check(&a, &x, want.into_dyn(), "Bidirectional(LSTM ReLU) CONCAT");
}

/// Double-precision networks: the recurrent ops and the Scan bodies in f64, compared tightly.
#[test]
fn f64_lstm_and_relu_simple_rnn() {
    let (n_in, h) = (3, 4);
    let p = Lstm::new(n_in, h, true, 221);
    let r = Rnn::new(h, h, 231);
    let mut params = p.flat();
    params.extend(r.flat());
    let rnn = layer(
        "recurrent.SimpleRnn",
        json!({"nin": h, "nout": h, "activationFn": act("ReLU")}),
    );
    let a = model_typed(
        vec![
            (
                lstm_conf("GravesLSTM", n_in, h, json!({})),
                LSTM_VARS.to_vec(),
            ),
            (rnn, LSTM_VARS.to_vec()),
        ],
        params,
        DType::F64,
    );
    let x = input(2, n_in, 5, 17);
    let want = reference::simple_rnn(&p.forward(&x, true), &r.w, &r.rw, &r.b, &relu).into_dyn();
    let onnx = dl4j::dl4j_onnx::to_onnx(&a, 17).unwrap();
    let got = run(&onnx, DType::F64, &x.into_dyn());
    assert_eq!(got.shape(), want.shape());
    assert_close(&got, &want, 1e-9, 1e-11, "f64 GravesLSTM + SimpleRnn(ReLU)");
}

/// ONNX LSTM, RNN and Scan bodies at both ends of the supported opset range.
#[test]
fn recurrent_layers_export_at_opsets_13_and_21() {
    let (n_in, h) = (3, 4);
    let p1 = Lstm::new(n_in, h, false, 241);
    let p2 = Rnn::new(h, h, 251);
    let p3 = Lstm::new(h, h, false, 261);
    let mut params = p1.flat();
    params.extend(p2.flat());
    params.extend(p3.flat());
    let relu_lstm = lstm_conf("LSTM", h, h, json!({"activationFn": act("ReLU")}));
    let a = model(
        vec![
            (lstm_conf("LSTM", n_in, h, json!({})), LSTM_VARS.to_vec()),
            (rnn_conf(h, h), LSTM_VARS.to_vec()),
            (relu_lstm, LSTM_VARS.to_vec()),
        ],
        params,
    );
    let x = input(2, n_in, 5, 18);
    let y = p2.forward(&p1.forward(&x, false));
    let want = reference::lstm(&y, &p3.w, &p3.rw, &p3.b, &relu, &sigmoid, false).into_dyn();
    for opset in [13, 21] {
        let onnx = dl4j::dl4j_onnx::to_onnx(&a, opset).unwrap();
        let got = run(&onnx, DType::F32, &x.clone().into_dyn());
        assert_eq!(got.shape(), want.shape(), "opset {opset}");
        assert_close(
            &got,
            &want,
            1e-4,
            1e-5,
            &format!("LSTM, SimpleRnn, LSTM(ReLU) at opset {opset}"),
        );
    }
}

// ---- wrappers: TimeDistributed, RepeatVector, LastTimeStep(Bidirectional), MaskZeroLayer -----

fn dense_conf(n_in: usize, n_out: usize, activation: &str) -> Value {
    layer(
        "DenseLayer",
        json!({"nin": n_in, "nout": n_out, "activationFn": act(activation)}),
    )
}

fn wrapper_conf(class: &str, inner: Value, extra: Value) -> Value {
    let mut v = layer(class, json!({ "underlying": inner }));
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

#[test]
fn time_distributed_dense_after_lstm() {
    let (n_in, h, n_out) = (3, 4, 5);
    let p = Lstm::new(n_in, h, false, 301);
    let w = mat(h, n_out, 311);
    let bo = vec1(n_out, 312);
    let mut params = p.flat();
    params.extend(f_order(&w));
    params.extend(bo.iter());
    let td = wrapper_conf(
        "recurrent.TimeDistributed",
        dense_conf(h, n_out, "Sigmoid"),
        json!({"rnnDataFormat": "NCW"}),
    );
    let a = model(
        vec![
            (lstm_conf("LSTM", n_in, h, json!({})), LSTM_VARS.to_vec()),
            (td, vec!["W", "b"]),
        ],
        params,
    );
    let x = input(3, n_in, 4, 302);
    let want = reference::rnn_output(&p.forward(&x, false), &w, &bo, Some(&sigmoid));
    check(
        &a,
        &x,
        want.into_dyn(),
        "LSTM + TimeDistributed(Dense sigmoid)",
    );
}

/// NWC input read directly by the wrapper (first layer); batch, time and features all differ
/// so a wrong transpose or reshape order shows.
#[test]
fn time_distributed_dense_nwc_first_layer() {
    let (n_in, n_out) = (3, 2);
    let w = mat(n_in, n_out, 321);
    let bo = vec1(n_out, 322);
    let mut params = f_order(&w);
    params.extend(bo.iter());
    let td = wrapper_conf(
        "recurrent.TimeDistributed",
        dense_conf(n_in, n_out, "TanH"),
        json!({"rnnDataFormat": "NWC"}),
    );
    let a = model(vec![(td, vec!["W", "b"])], params);
    let x = input(2, n_in, 5, 323);
    let want = swap_nwc(&reference::rnn_output(&x, &w, &bo, Some(&f64::tanh))).into_dyn();
    let got = export_run(&a, &swap_nwc(&x));
    assert_eq!(got.shape(), &[2, 5, n_out]);
    assert_close(&got, &want, 1e-4, 1e-5, "TimeDistributed(Dense tanh) NWC");
}

/// Dense -> RepeatVector(n) -> SimpleRnn (NCW), and RepeatVector NWC as the network output.
#[test]
fn repeat_vector_ncw_into_simple_rnn_and_nwc() {
    let (n_in, c, h, n) = (3, 4, 5, 6);
    let w = mat(n_in, c, 331);
    let bd = vec1(c, 332);
    let r = Rnn::new(c, h, 333);
    let mut dense_params = f_order(&w);
    dense_params.extend(bd.iter());
    let mb = 2;
    let x = Array2::from_shape_vec((mb, n_in), random(mb * n_in, 334, 2.0)).unwrap();
    let d = (x.dot(&w) + &bd).mapv(f64::tanh);
    // [mb, C] -> [mb, C, n]: every step the same vector.
    let mut rep = Array3::zeros((mb, c, n));
    for t in 0..n {
        rep.slice_mut(ndarray::s![.., .., t]).assign(&d);
    }
    let run2 = |a: &Archive| {
        let onnx = dl4j::dl4j_onnx::to_onnx(a, 17).unwrap();
        run(&onnx, DType::F32, &x.clone().into_dyn())
    };

    let mut params = dense_params.clone();
    params.extend(r.flat());
    let a = model(
        vec![
            (dense_conf(n_in, c, "TanH"), vec!["W", "b"]),
            (
                layer("misc.RepeatVector", json!({"n": n, "dataFormat": "NCW"})),
                vec![],
            ),
            (rnn_conf(c, h), LSTM_VARS.to_vec()),
        ],
        params,
    );
    let want = r.forward(&rep).into_dyn();
    let got = run2(&a);
    assert_eq!(got.shape(), want.shape());
    assert_close(
        &got,
        &want,
        1e-4,
        1e-5,
        "Dense + RepeatVector NCW + SimpleRnn",
    );

    let a = model(
        vec![
            (dense_conf(n_in, c, "TanH"), vec!["W", "b"]),
            (
                layer("misc.RepeatVector", json!({"n": n, "dataFormat": "NWC"})),
                vec![],
            ),
        ],
        dense_params,
    );
    let want = swap_nwc(&rep).into_dyn();
    let got = run2(&a);
    assert_eq!(got.shape(), &[mb, n, c]);
    assert_close(&got, &want, 1e-4, 1e-5, "Dense + RepeatVector NWC");
}

#[test]
fn last_time_step_of_bidirectional_lstm() {
    let (n_in, h, t) = (3, 4, 5);
    let f = Lstm::new(n_in, h, false, 341);
    let r = Lstm::new(n_in, h, false, 351);
    let mut params = f.flat();
    params.extend(r.flat());
    let x = input(3, n_in, t, 342);
    let fo = f.forward(&x, false);
    let ro = reverse_time(&r.forward(&reverse_time(&x), false));
    for mode in ["CONCAT", "ADD"] {
        let conf = wrapper_conf(
            "recurrent.LastTimeStep",
            bidirectional_conf(lstm_conf("LSTM", n_in, h, json!({})), mode),
            json!({}),
        );
        let a = model(vec![(conf, BIDI_VARS.to_vec())], params.clone());
        // The backward half at t = T-1 has seen only the last step.
        let want = combine(&fo, &ro, mode)
            .slice(ndarray::s![.., .., t - 1])
            .to_owned();
        check(
            &a,
            &x,
            want.into_dyn(),
            &format!("LastTimeStep(Bidirectional(LSTM) {mode})"),
        );
    }
}

#[test]
fn simple_rnn_with_layer_norm() {
    let (n_in, h) = (3, 5);
    let p = Rnn::new(n_in, h, 361);
    let g = Array1::from(random(2 * h, 362, 1.0)) + 1.0;
    let mut params = p.flat();
    params.extend(g.iter());
    let conf = layer(
        "recurrent.SimpleRnn",
        json!({"nin": n_in, "nout": h, "activationFn": act("TanH"), "hasLayerNorm": true}),
    );
    let a = model(vec![(conf, vec!["W", "RW", "b", "g"])], params);
    let x = input(2, n_in, 6, 363);
    let want = reference::simple_rnn_layer_norm(&x, &p.w, &p.rw, &p.b, &g, &f64::tanh);
    // Layer norm must matter for the comparison to mean anything.
    let plain = p.forward(&x);
    let gap = (&want - &plain)
        .mapv(f64::abs)
        .fold(0.0f64, |m, &v| m.max(v));
    assert!(gap > 0.1, "layer norm changes little: {gap}");
    for opset in [13, 17, 21] {
        let onnx = dl4j::dl4j_onnx::to_onnx(&a, opset).unwrap();
        let got = run(&onnx, DType::F32, &x.clone().into_dyn());
        assert_eq!(got.shape(), want.shape());
        assert_close(
            &got,
            &want.clone().into_dyn(),
            1e-4,
            1e-5,
            &format!("SimpleRnn(layer norm) opset {opset}"),
        );
    }
}

/// `x` with some time steps set entirely to `value` (different steps per example, and a
/// partially matching step that must stay unmasked); returns the DL4J mask `[mb, T]`.
fn mask_steps(x: &mut Array3<f64>, value: f64) -> Array2<f64> {
    let (mb, _, t_len) = x.dim();
    let mut mask = Array2::ones((mb, t_len));
    for (n, t) in [(0, 1), (0, 2), (1, 0), (1, 4), (2, 5)] {
        x.slice_mut(ndarray::s![n, .., t]).fill(value);
        mask[[n, t]] = 0.0;
    }
    // One feature equal to the masking value is not enough.
    x[[0, 0, 3]] = value;
    mask
}

#[test]
fn mask_zero_lstm_and_graves_lstm() {
    let (n_in, h) = (3, 4);
    for (class, peep, value, seed) in [("LSTM", false, 0.0, 371), ("GravesLSTM", true, 0.5, 381)] {
        let p = Lstm::new(n_in, h, peep, seed);
        let conf = wrapper_conf(
            "util.MaskZeroLayer",
            lstm_conf(class, n_in, h, json!({})),
            json!({"maskingValue": value}),
        );
        let a = model(vec![(conf, LSTM_VARS.to_vec())], p.flat());
        let mut x = input(3, n_in, 6, seed + 1);
        let mask = mask_steps(&mut x, value);
        let want = reference::lstm_masked(
            &x,
            &p.w,
            &p.rw,
            &p.b,
            &f64::tanh,
            &sigmoid,
            peep,
            Some(&mask),
        );
        // Masked steps are zero, and the state reset changes later steps.
        assert!(want.slice(ndarray::s![0, .., 1]).iter().all(|&v| v == 0.0));
        let plain = p.forward(&x, peep);
        let later = (want[[0, 0, 3]] - plain[[0, 0, 3]]).abs();
        assert!(
            later > 1e-3,
            "state reset must show at later steps: {later}"
        );
        check(&a, &x, want.into_dyn(), &format!("MaskZeroLayer({class})"));
    }
}

#[test]
fn mask_zero_simple_rnn_is_refused_with_reason() {
    let (n_in, h) = (3, 4);
    let p = Rnn::new(n_in, h, 391);
    let conf = wrapper_conf(
        "util.MaskZeroLayer",
        rnn_conf(n_in, h),
        json!({"maskingValue": 0.0}),
    );
    let a = model(vec![(conf, LSTM_VARS.to_vec())], p.flat());
    let err = dl4j::dl4j_onnx::to_onnx(&a, 17).unwrap_err().to_string();
    assert!(
        err.contains("MaskZeroLayer over SimpleRnn is not translated"),
        "{err}"
    );
}

/// LastTimeStep over the other recurrent layers: GravesBidirectionalLSTM, NWC SimpleRnn, and
/// MaskZeroLayer(LSTM) (DL4J takes step T-1 whatever the derived mask: it is the underlying
/// layer's, not the wrapper's, so a masked last step gives zeros).
#[test]
fn last_time_step_of_graves_bidirectional_nwc_simple_rnn_and_mask_zero() {
    let (n_in, h, t) = (3, 4, 5);
    let last = |y: &Array3<f64>| y.slice(ndarray::s![.., .., t - 1]).to_owned().into_dyn();
    let lts = |inner: Value| wrapper_conf("recurrent.LastTimeStep", inner, json!({}));

    let f = Lstm::new(n_in, h, true, 401);
    let r = Lstm::new(n_in, h, true, 411);
    let mut params = f.flat();
    params.extend(r.flat());
    let a = model(
        vec![(
            lts(lstm_conf("GravesBidirectionalLSTM", n_in, h, json!({}))),
            vec!["WF", "RWF", "bF", "WB", "RWB", "bB"],
        )],
        params,
    );
    let x = input(2, n_in, t, 402);
    let want = f.forward(&x, true) + reverse_time(&r.forward(&reverse_time(&x), true));
    check(&a, &x, last(&want), "LastTimeStep(GravesBidirectionalLSTM)");

    let p = Rnn::new(n_in, h, 421);
    let mut conf = rnn_conf(n_in, h);
    conf["rnnDataFormat"] = json!("NWC");
    let a = model(vec![(lts(conf), LSTM_VARS.to_vec())], p.flat());
    let got = export_run(&a, &swap_nwc(&x));
    assert_close(
        &got,
        &last(&p.forward(&x)),
        1e-4,
        1e-5,
        "LastTimeStep(SimpleRnn NWC)",
    );

    let p = Lstm::new(n_in, h, false, 431);
    let mz = wrapper_conf(
        "util.MaskZeroLayer",
        lstm_conf("LSTM", n_in, h, json!({})),
        json!({"maskingValue": 0.0}),
    );
    let a = model(vec![(lts(mz), LSTM_VARS.to_vec())], p.flat());
    let mut x = input(3, n_in, t, 432);
    let mut mask = Array2::ones((3, t));
    for (n, s) in [(0, 1), (1, t - 1)] {
        x.slice_mut(ndarray::s![n, .., s]).fill(0.0);
        mask[[n, s]] = 0.0;
    }
    let y = reference::lstm_masked(
        &x,
        &p.w,
        &p.rw,
        &p.b,
        &f64::tanh,
        &sigmoid,
        false,
        Some(&mask),
    );
    let want = last(&y);
    assert!(want.slice(ndarray::s![1, ..]).iter().all(|&v| v == 0.0));
    check(&a, &x, want, "LastTimeStep(MaskZeroLayer(LSTM))");
}

/// Values in [-scale, scale), rounded to f32 so f32 and f64 networks see the same numbers.
fn random(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    uniform(n, seed, -scale, scale)
        .into_iter()
        .map(|v| v as f32 as f64)
        .collect()
}
