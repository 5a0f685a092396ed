//! Forward passes over the parameter views, compared with the outputs DL4J itself saved.
//!
//! The math follows spec `dl4j-config-and-layers.md` §9 (Dense, Output, LSTM, GravesLSTM,
//! RnnOutputLayer, VariationalAutoencoder inference) and §10 (activations). Everything is computed in
//! f64 from the f32 parameters, so the differences measure DL4J's own f32 rounding (observed 1e-8 to
//! 5e-7) plus any layout error. Each test also runs deliberately wrong variants (weights read in c
//! order, gate blocks or peephole columns swapped) and asserts that they miss by far more than the
//! tolerance, so a pass really pins the layout down.

mod common;

use common::reference::{
    activation, affine, apply, assert_ncw, diffs, int, misread_c_order, moon_features, read_array,
    Act, Model, MOON,
};
use ndarray::{s, Array1, Array2, Array3, Axis, Ix2, Ix3};
use serde_json::Value;

/// Layer `i` of a MultiLayerNetwork: lower-cased type name (`denselayer` or the legacy `dense`)
/// and the layer's JSON body.
fn layer(m: &Model, i: usize) -> (String, &Value) {
    let (name, body) = m.layer(i);
    (name.to_ascii_lowercase(), body)
}

/// A deliberate error in the forward pass, to check that the tolerance discriminates.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Control {
    /// The real computation.
    Exact,
    /// Input weights read in c order instead of f order.
    COrderW,
    /// Forget and output gate blocks swapped.
    SwapForgetOutput,
    /// Block input (block 0) and input-modulation gate (block 3) swapped.
    SwapInputBlocks,
    /// GravesLSTM peepholes ignored.
    NoPeepholes,
    /// GravesLSTM forget and input-modulation peephole columns (4h, 4h+2) swapped.
    SwapPeepholes,
    /// GravesLSTM output peephole applied to c_{t-1} instead of c_t.
    OutputPeepholeOnPrevCell,
}

// ---------------------------------------------------------------------------------------------
// 1. MLPMoon: Dense(2->20, ReLU) -> Output(20->2, softmax)
// ---------------------------------------------------------------------------------------------

#[test]
fn mlp_moon_matches_dl4j_predictions() {
    let m = Model::open(&format!("{MOON}/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip"));
    assert_eq!(m.num_layers(), 2);

    let (t0, l0) = layer(&m, 0);
    let (t1, l1) = layer(&m, 1);
    assert!(t0 == "denselayer" || t0 == "dense", "{t0}");
    assert!(t1 == "outputlayer" || t1 == "output", "{t1}");
    let (n_in, n_hidden, n_out) = (int(l0, "nin"), int(l0, "nout"), int(l1, "nout"));
    assert_eq!((n_in, n_hidden, n_out), (2, 20, 2));
    assert_eq!(int(l1, "nin"), n_hidden);
    let act0 = activation(l0.get("activationFn"));
    let act1 = activation(l1.get("activationFn"));
    assert_eq!((act0, act1), (Act::Relu, Act::Softmax));
    assert_eq!(l0.get("hasLayerNorm").and_then(Value::as_bool), Some(false));

    let w0 = m.mat("0_W", n_in, n_hidden);
    let b0 = m.bias("0_b", n_hidden);
    let w1 = m.mat("1_W", n_hidden, n_out);
    let b1 = m.bias("1_b", n_out);

    let forward =
        |x: &Array2<f64>, w0: &Array2<f64>| affine(&affine(x, w0, &b0, act0), &w1, &b1, act1);

    for (file, rows) in [("output_0_0.bin", 1), ("output_1_0.bin", 10)] {
        let want = read_array(&format!("{MOON}/MLPMoon/predictions/{file}"))
            .into_dimensionality::<Ix2>()
            .unwrap();
        assert_eq!(want.shape(), [rows, n_out], "{file}");
        let x = moon_features(rows);
        let got = forward(&x, &w0);
        let (abs, _) = diffs(&got, &want);
        // Negative control: the first weight matrix read in c order must clearly fail.
        let (control, _) = diffs(&forward(&x, &misread_c_order(&w0)), &want);
        eprintln!("MLPMoon {file}: max abs diff {abs:.3e} (c-order control {control:.3e})");
        assert!(
            abs <= 1e-5,
            "{file}: max abs diff {abs:e}\ngot\n{got}\nwant\n{want}"
        );
        assert!(
            control > 1e-3,
            "{file}: c-order control ({control:e}) is not discriminated"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. VariationalAutoencoder: output() = pzxActivation(encoder(x) · pZXMeanW + pZXMeanb)
// ---------------------------------------------------------------------------------------------

fn check_vae(model: &str, input: &str, output: &str) {
    let m = Model::open(model);
    assert_eq!(m.num_layers(), 1);
    let (t, l) = layer(&m, 0);
    assert_eq!(t, "variationalautoencoder");
    let n_in = int(l, "nin");
    let n_out = int(l, "nout");
    let enc: Vec<usize> = l["encoderLayerSizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as usize)
        .collect();
    let act = activation(l.get("activationFn"));
    let pzx_act = activation(l.get("pzxActivationFn"));
    assert!(matches!(act, Act::LeakyRelu(a) if a == 0.01), "{act:?}");
    assert_eq!(pzx_act, Act::Identity);

    let x = read_array(input).into_dimensionality::<Ix2>().unwrap();
    assert_eq!(x.ncols(), n_in);
    let want = read_array(output).into_dimensionality::<Ix2>().unwrap();
    assert_eq!(want.shape(), [x.nrows(), n_out]);

    let forward = |control: Control| {
        let mut h = x.clone();
        let mut prev = n_in;
        for (i, &size) in enc.iter().enumerate() {
            let mut w = m.mat(&format!("0_e{i}W"), prev, size);
            if i == 0 && control == Control::COrderW {
                w = misread_c_order(&w);
            }
            let b = m.bias(&format!("0_e{i}b"), size);
            h = affine(&h, &w, &b, act);
            prev = size;
        }
        let w = m.mat("0_pZXMeanW", prev, n_out);
        let b = m.bias("0_pZXMeanb", n_out);
        affine(&h, &w, &b, pzx_act)
    };
    let got = forward(Control::Exact);

    let (abs, rel) = diffs(&got, &want);
    // Negative control: e0W read in c order must clearly fail.
    let (_, control) = diffs(&forward(Control::COrderW), &want);
    eprintln!(
        "{model}: max abs diff {abs:.3e}, max rel diff {rel:.3e} (c-order control {control:.3e})"
    );
    assert!(
        control > 1e-2,
        "{model}: c-order control ({control:e}) is not discriminated"
    );
    assert!(
        rel <= 1e-4,
        "{model}: max diff {abs:e} (relative {rel:e})\ngot row 0: {}\nwant row 0: {}",
        got.row(0),
        want.row(0)
    );
}

#[test]
fn vae_mean_matches_dl4j_output_b4() {
    check_vae(
        "dl4j/1.0.0-beta4/VaeMNISTAnomaly_100b4.bin",
        "dl4j/1.0.0-beta4/VaeMNISTAnomaly_Input_100b4.bin",
        "dl4j/1.0.0-beta4/VaeMNISTAnomaly_Output_100b4.bin",
    );
}

#[test]
fn vae_mean_matches_dl4j_output_b3() {
    check_vae(
        "dl4j/1.0.0-beta3/VaeMNISTAnomaly_100b3.bin",
        "dl4j/1.0.0-beta3/VaeMNISTAnomaly_Input_100b3.bin",
        "dl4j/1.0.0-beta3/VaeMNISTAnomaly_Output_100b3.bin",
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Character models: (Graves)LSTM -> (Graves)LSTM -> RnnOutputLayer(softmax), NCW [mb, f, T]
// ---------------------------------------------------------------------------------------------

/// One LSTM layer over `x` `[mb, nIn, T]` → `[mb, h, T]` (spec §9.13 / §9.14).
fn lstm_layer(
    m: &Model,
    idx: usize,
    x: &Array3<f64>,
    peepholes: bool,
    control: Control,
) -> Array3<f64> {
    let (_, l) = layer(m, idx);
    let (n_in, h) = (int(l, "nin"), int(l, "nout"));
    assert_eq!(x.shape()[1], n_in, "layer {idx} nIn");
    let act = activation(l.get("activationFn"));
    // gateActivationFn missing means Sigmoid (spec §9.13).
    let gate = l
        .get("gateActivationFn")
        .map_or(Act::Sigmoid, |g| activation(Some(g)));
    assert_eq!((act, gate), (Act::Tanh, Act::Sigmoid), "layer {idx}");
    assert_ncw(l, &format!("layer {idx}"));

    let mut w = m.mat(&format!("{idx}_W"), n_in, 4 * h);
    if control == Control::COrderW {
        w = misread_c_order(&w);
    }
    let rw_cols = if peepholes { 4 * h + 3 } else { 4 * h };
    let rw_all = m.mat(&format!("{idx}_RW"), h, rw_cols);
    let b = m.bias(&format!("{idx}_b"), 4 * h);
    let rw = rw_all.slice(s![.., 0..4 * h]).to_owned();
    // Peephole weights: RW columns 4h (forget, c_{t-1}), 4h+1 (output, c_t), 4h+2 (input-mod, c_{t-1}).
    let (mut w_ff, w_oo, mut w_gg) = if peepholes && control != Control::NoPeepholes {
        (
            rw_all.column(4 * h).to_owned(),
            rw_all.column(4 * h + 1).to_owned(),
            rw_all.column(4 * h + 2).to_owned(),
        )
    } else {
        let z = Array1::zeros(h);
        (z.clone(), z.clone(), z)
    };

    if control == Control::SwapPeepholes {
        std::mem::swap(&mut w_ff, &mut w_gg);
    }

    let (mb, _, steps) = x.dim();
    let mut out = Array3::zeros((mb, h, steps));
    let mut h_prev = Array2::<f64>::zeros((mb, h));
    let mut c_prev = Array2::<f64>::zeros((mb, h));
    for t in 0..steps {
        let xt = x.slice(s![.., .., t]);
        let z = xt.dot(&w) + h_prev.dot(&rw) + &b; // [mb, 4h]
        let [a_block, f_block, o_block, i_block] = match control {
            Control::SwapForgetOutput => [0, 2, 1, 3],
            Control::SwapInputBlocks => [3, 1, 2, 0],
            _ => [0, 1, 2, 3],
        }
        .map(|k| k * h..(k + 1) * h);
        let a = apply(act, z.slice(s![.., a_block]).to_owned());
        let f = apply(gate, &z.slice(s![.., f_block]) + &(&c_prev * &w_ff));
        let i = apply(gate, &z.slice(s![.., i_block]) + &(&c_prev * &w_gg));
        let c = &f * &c_prev + &i * &a;
        let o_peep = if control == Control::OutputPeepholeOnPrevCell {
            &c_prev * &w_oo
        } else {
            &c * &w_oo
        };
        let o = apply(gate, &z.slice(s![.., o_block]) + &o_peep);
        let ht = o * &apply(act, c.clone());
        out.slice_mut(s![.., .., t]).assign(&ht);
        h_prev = ht;
        c_prev = c;
    }
    out
}

/// RnnOutputLayer over `[mb, nIn, T]` → `[mb, nOut, T]` (spec §9.18).
fn rnn_output_layer(m: &Model, idx: usize, x: &Array3<f64>) -> Array3<f64> {
    let (t, l) = layer(m, idx);
    assert!(t == "rnnoutputlayer" || t == "rnnoutput", "{t}");
    let (n_in, n_out) = (int(l, "nin"), int(l, "nout"));
    let act = activation(l.get("activationFn"));
    assert_eq!(act, Act::Softmax);
    assert_ncw(l, &format!("layer {idx}"));
    let w = m.mat(&format!("{idx}_W"), n_in, n_out);
    let b = m.bias(&format!("{idx}_b"), n_out);
    let (mb, _, steps) = x.dim();
    let mut out = Array3::zeros((mb, n_out, steps));
    for t in 0..steps {
        let y = affine(&x.slice(s![.., .., t]).to_owned(), &w, &b, act);
        out.slice_mut(s![.., .., t]).assign(&y);
    }
    out
}

/// Tolerance (max abs diff) for the char models. The softmax outputs of these barely trained
/// nets are all close to 1/77 (about 0.013, never further than 0.009 from it), so 1e-4 would be
/// almost 1% of a value and would not catch swapped forget/input-modulation peephole columns (off
/// by about 4e-5 on the 1.0.0-alpha model) or an output peephole applied to c_{t-1} (about 2e-5).
/// The observed difference is about 1e-8, so 1e-6 keeps a 20x-100x margin on both sides.
const TOL: f64 = 1e-6;

fn check_char_model(dir: &str, tag: &str, lstm_type: &str) {
    let model = format!("{dir}/GravesLSTMCharModelingExample_{tag}.bin");
    let m = Model::open(&model);
    assert_eq!(m.num_layers(), 3);
    let x = read_array(&format!(
        "{dir}/GravesLSTMCharModelingExample_Input_{tag}.bin"
    ))
    .into_dimensionality::<Ix3>()
    .unwrap();
    let want = read_array(&format!(
        "{dir}/GravesLSTMCharModelingExample_Output_{tag}.bin"
    ))
    .into_dimensionality::<Ix3>()
    .unwrap();
    let peepholes = lstm_type == "graveslstm";
    for idx in 0..2 {
        let (t, _) = layer(&m, idx);
        assert_eq!(t, lstm_type, "layer {idx}");
    }
    let forward = |control: Control| {
        let mut h = x.clone();
        for idx in 0..2 {
            h = lstm_layer(&m, idx, &h, peepholes, control);
        }
        rnn_output_layer(&m, 2, &h)
    };
    let got = forward(Control::Exact);

    let (abs, _) = diffs(&got, &want);
    eprintln!("{model}: max abs diff {abs:.3e}");
    if abs > TOL {
        let d = (&got - &want).mapv(f64::abs);
        for t in 0..got.dim().2 {
            let dt = d.index_axis(Axis(2), t).fold(0.0f64, |a, &b| a.max(b));
            eprintln!("  t={t}: max abs diff {dt:.3e}");
        }
    }
    assert!(abs <= TOL, "{model}: max abs diff {abs:e}");

    // The expected outputs are not uniform, and each deliberate error misses by far more than the
    // tolerance: the comparison really checks reshape order, gate order and peephole columns.
    let uniform = 1.0 / want.dim().1 as f64;
    let spread = want.fold(0.0f64, |a, &v| a.max((v - uniform).abs()));
    eprintln!("  max |expected - 1/nOut| = {spread:.3e}");
    assert!(spread > 1e-3, "{model}: expected output is nearly uniform");
    let mut controls = vec![
        Control::COrderW,
        Control::SwapForgetOutput,
        Control::SwapInputBlocks,
    ];
    if peepholes {
        controls.extend([
            Control::NoPeepholes,
            Control::SwapPeepholes,
            Control::OutputPeepholeOnPrevCell,
        ]);
    }
    for control in controls {
        let (d, _) = diffs(&forward(control), &want);
        eprintln!("  control {control:?}: max abs diff {d:.3e}");
        assert!(
            d > 10.0 * TOL,
            "{model}: control {control:?} not discriminated ({d:e})"
        );
    }
}

#[test]
fn graves_lstm_char_model_matches_dl4j_output_100a() {
    check_char_model("dl4j/1.0.0-alpha", "100a", "graveslstm");
}

#[test]
fn lstm_char_model_matches_dl4j_output_100b6() {
    check_char_model("dl4j/1.0.0-beta6", "100b6", "lstm");
}
