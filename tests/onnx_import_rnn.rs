//! ONNX -> DL4J of recurrent nodes: `LSTM` (LSTM / GravesLSTM), `RNN` (SimpleRnn), their
//! `Y_h` (LastTimeStep / LastTimeStepVertex) and `Gather` of the last time step. The imported
//! network is exported back to ONNX, run with tract on the input with DL4J's axis order
//! `[batch, features, time]`, and compared with an independent f64 implementation of the ONNX
//! operators' formulas (and, where tract runs them, with the original graph).

mod common;

use std::path::Path;

use common::fixtures;
use common::onnx_build::*;
use ndarray::{s, Array1, Array2, Array3, ArrayD, Axis, IxDyn};
use onnx_protobuf::{Message, NodeProto, TensorProto};

// ---- ONNX node test fixtures ------------------------------------------------------------------

fn node_dir(name: &str) -> std::path::PathBuf {
    let d = fixtures()
        .join("onnx/onnx-backend-test-data/node")
        .join(name);
    assert!(d.exists(), "fixture missing: {}", d.display());
    d
}

/// `--freeze` pairs for a node test whose inputs 1, 2, ... are the weights `frozen`.
fn frozen_inputs<'a>(frozen: &[&'a str]) -> Vec<(&'a str, usize)> {
    frozen
        .iter()
        .enumerate()
        .map(|(k, &w)| (w, k + 1))
        .collect()
}

/// Imports a node test with its weights frozen, exports it back; returns the ONNX path.
fn import_node_test(name: &str, frozen: &[&str], dir: &Path) -> std::path::PathBuf {
    let d = node_dir(name);
    let zip = dir.join(format!("{name}.zip"));
    let o = convert_frozen(&d, &zip, &frozen_inputs(frozen), &[]);
    assert!(o.status.success(), "{name}: import: {}", text(&o));
    let back = dir.join(format!("{name}.onnx"));
    let o = convert(&zip, &back, &[]);
    assert!(o.status.success(), "{name}: export: {}", text(&o));
    back
}

/// `dl4j verify` of the exported model, and (`--onnx-layout`) of the imported DL4J model
/// (exported to ONNX in memory) on the ONNX test data as it is, reordered into DL4J's layout as
/// the import recorded. Returns the messages of the second.
fn verify_both(name: &str, back: &Path, input: &Path, dir: &Path) -> String {
    let d = node_dir(name).join("test_data_set_0");
    let expected = [d.join("output_0.pb")];
    let o = verify(back, &[input], &expected, TOLERANCE);
    assert!(o.status.success(), "{name}: verify: {}", text(&o));
    let zip = dir.join(format!("{name}.zip"));
    let o = verify(&zip, &[d.join("input_0.pb")], &expected, &["--onnx-layout"]);
    let t = text(&o);
    assert!(o.status.success(), "{name}: verify --onnx-layout: {t}");
    t
}

fn node_test(name: &str, frozen: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let back = import_node_test(name, frozen, tmp.path());
    let d = node_dir(name).join("test_data_set_0");
    verify_both(name, &back, &d.join("input_0.pb"), tmp.path());
}

#[test]
fn node_lstm_defaults() {
    node_test("test_lstm_defaults", &["W", "R"]);
}

#[test]
fn node_simple_rnn_defaults() {
    node_test("test_simple_rnn_defaults", &["W", "R"]);
}

/// X is `[T=1, N=3, F=3]`: fed as it is, verify would take it for DL4J's `[N, F, T]` (batch 1,
/// three steps), since the exported model declares batch and time symbolic. `--onnx-layout`
/// reorders it as the import recorded; the same values in DL4J's order, `[3, 3, 1]`, as a .npy
/// give the same result.
#[test]
fn node_lstm_with_initial_bias() {
    let name = "test_lstm_with_initial_bias";
    let tmp = tempfile::tempdir().unwrap();
    let back = import_node_test(name, &["W", "R", "B"], tmp.path());
    let d = node_dir(name).join("test_data_set_0");
    let x = read_pb(&d.join("input_0.pb"));
    assert_eq!(x.shape(), &[1, 3, 3]);
    let ncw = x.permuted_axes(IxDyn(&[1, 2, 0]));
    let npy = tmp.path().join("x.npy");
    write_npy(&npy, ncw.shape(), ncw.iter().copied());
    let t = verify_both(name, &back, &npy, tmp.path());
    assert!(t.contains("[1, 3, 3] reordered to DL4J's [3, 3, 1]"), "{t}");
}

#[test]
fn node_gru_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = node_dir("test_gru_defaults");
    let out = tmp.path().join("gru.zip");
    let o = convert_frozen(&d, &out, &frozen_inputs(&["W", "R"]), &[]);
    assert!(!o.status.success());
    assert!(!out.exists());
    assert!(text(&o).contains("GRU"), "{}", text(&o));
}

fn read_pb(path: &Path) -> ArrayD<f32> {
    let t = TensorProto::parse_from_bytes(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(t.data_type, 1);
    let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let v: Vec<f32> = if t.raw_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data
            .chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap()
}

// ---- graphs built here -------------------------------------------------------------------------

/// A named constant with random values in [-0.7, 0.7), and the same values as f64.
fn init(name: &str, dims: &[usize], seed: u64) -> Param {
    param(name, dims, seed, 0.7)
}

/// A PyTorch-like model at opset 14 with one input and one output.
fn model14(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    input: onnx_protobuf::ValueInfoProto,
    output: onnx_protobuf::ValueInfoProto,
) -> Vec<u8> {
    model_with(nodes, inits, vec![input], vec![output], 14)
}

/// Imports `bytes`, exports the archive back to ONNX and runs it on `x_dl4j` (DL4J's axis order).
/// Returns the output, the DL4J configuration and the import's messages.
fn import_run(bytes: &[u8], x_dl4j: &ArrayD<f64>) -> (ArrayD<f64>, serde_json::Value, String) {
    let (_tmp, _, zip, back, messages) = import_export(bytes, &[]);
    let got = tract_f64(&std::fs::read(&back).unwrap(), x_dl4j);
    let (archive, _) = dl4j::open(&zip, None).unwrap();
    (got, archive.config.value().clone(), messages)
}

/// Every layer class of the configuration (MultiLayerNetwork or ComputationGraph), and the
/// classes they wrap, as simple names; graph vertices too.
fn classes(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(c) = m.get("@class").and_then(|c| c.as_str()) {
                    let s = c.rsplit('.').next().unwrap();
                    if !s.starts_with("Activation") && !s.starts_with("Loss") && s != "Adam" {
                        out.push(s.to_string());
                    }
                }
                for (k, x) in m {
                    if k != "iupdater" && k != "weightInitFn" {
                        walk(x, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    let mut max = 0.0f64;
    for (g, w) in got.iter().zip(want.iter()) {
        assert!(
            (g - w).abs() <= 1e-5 + 1e-4 * w.abs(),
            "{what}: got {g}, want {w}"
        );
        max = max.max((g - w).abs());
    }
    eprintln!("{what}: max abs diff {max:.3e}");
}

/// The comparison would catch a mapping error of this size.
fn assert_differs(got: &ArrayD<f64>, wrong: &ArrayD<f64>, what: &str) {
    let max = got
        .iter()
        .zip(wrong.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        max > 1e-3,
        "{what}: a wrong mapping gives the same numbers ({max:e})"
    );
}

// ---- the ONNX formulas, in f64 ----------------------------------------------------------------

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// ONNX `LSTM` (one direction, forward, zero initial state): `x [T, N, F]`, `w [4h, F]`,
/// `r [4h, h]` (gate blocks i, o, f, c), `b [8h]`, `p [3h]` (i, o, f). Returns `Y [T, N, h]`.
fn onnx_lstm(
    x: &Array3<f64>,
    w: &Array2<f64>,
    r: &Array2<f64>,
    b: Option<&Array1<f64>>,
    p: Option<&Array1<f64>>,
) -> Array3<f64> {
    let (t_len, n) = (x.shape()[0], x.shape()[1]);
    let h = r.shape()[1];
    let bias: Array1<f64> = match b {
        Some(b) => &b.slice(s![..4 * h]) + &b.slice(s![4 * h..]),
        None => Array1::zeros(4 * h),
    };
    let p = p.cloned().unwrap_or_else(|| Array1::zeros(3 * h));
    let (pi, po, pf) = (
        p.slice(s![..h]).to_owned(),
        p.slice(s![h..2 * h]).to_owned(),
        p.slice(s![2 * h..]).to_owned(),
    );
    let mut ht = Array2::<f64>::zeros((n, h));
    let mut ct = Array2::<f64>::zeros((n, h));
    let mut y = Array3::zeros((t_len, n, h));
    for t in 0..t_len {
        let z = x.index_axis(Axis(0), t).dot(&w.t()) + ht.dot(&r.t()) + &bias;
        let blk = |k: usize| z.slice(s![.., k * h..(k + 1) * h]).to_owned();
        let i = (blk(0) + &ct * &pi).mapv(sigmoid);
        let f = (blk(2) + &ct * &pf).mapv(sigmoid);
        let c = blk(3).mapv(f64::tanh);
        ct = &f * &ct + &i * &c;
        let o = (blk(1) + &ct * &po).mapv(sigmoid);
        ht = &o * &ct.mapv(f64::tanh);
        y.index_axis_mut(Axis(0), t).assign(&ht);
    }
    y
}

/// ONNX `RNN` (one direction, forward, zero initial state) with activation `act`.
fn onnx_rnn(
    x: &Array3<f64>,
    w: &Array2<f64>,
    r: &Array2<f64>,
    b: &Array1<f64>,
    act: fn(f64) -> f64,
) -> Array3<f64> {
    let (t_len, n) = (x.shape()[0], x.shape()[1]);
    let h = r.shape()[1];
    let bias = &b.slice(s![..h]) + &b.slice(s![h..]);
    let mut ht = Array2::<f64>::zeros((n, h));
    let mut y = Array3::zeros((t_len, n, h));
    for t in 0..t_len {
        ht = (x.index_axis(Axis(0), t).dot(&w.t()) + ht.dot(&r.t()) + &bias).mapv(act);
        y.index_axis_mut(Axis(0), t).assign(&ht);
    }
    y
}

/// `Gemm(a, w, b, transB = 1)`.
fn linear(a: &Array2<f64>, w: &ArrayD<f64>, b: &ArrayD<f64>) -> Array2<f64> {
    let w = w.view().into_dimensionality::<ndarray::Ix2>().unwrap();
    let b = b.view().into_dimensionality::<ndarray::Ix1>().unwrap();
    a.dot(&w.t()) + b
}

fn mat(a: &ArrayD<f64>, d: usize) -> Array2<f64> {
    a.index_axis(Axis(0), d)
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .to_owned()
}

fn row(a: &ArrayD<f64>) -> Array1<f64> {
    a.index_axis(Axis(0), 0)
        .into_dimensionality::<ndarray::Ix1>()
        .unwrap()
        .to_owned()
}

/// The same gate blocks in another order (a deliberately wrong mapping).
fn swap_blocks(m: &Array2<f64>, order: [usize; 4]) -> Array2<f64> {
    let h = m.shape()[0] / 4;
    let mut out = m.clone();
    for (dst, &src) in order.iter().enumerate() {
        out.slice_mut(s![dst * h..(dst + 1) * h, ..])
            .assign(&m.slice(s![src * h..(src + 1) * h, ..]));
    }
    out
}

fn last(y: &Array3<f64>) -> Array2<f64> {
    y.index_axis(Axis(0), y.shape()[0] - 1).to_owned()
}

fn data(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let v = scaled_values(shape.iter().product(), seed, 1.5);
    ArrayD::from_shape_vec(IxDyn(shape), v.iter().map(|&x| x as f64).collect()).unwrap()
}

// ---- tests -------------------------------------------------------------------------------------

/// PyTorch 2.x `nn.LSTM(4, 6)` + `nn.Linear(6, 2)` on `h_n`: `LSTM -> Y_h -> Squeeze -> Gemm`.
#[test]
fn torch_lstm_last_hidden_linear() {
    let (t, n, f, h, k) = (5, 3, 4, 6, 2);
    let w = init("onnx::LSTM_w", &[1, 4 * h, f], 11);
    let r = init("onnx::LSTM_r", &[1, 4 * h, h], 12);
    let b = init("onnx::LSTM_b", &[1, 8 * h], 13);
    let fw = init("fc.weight", &[k, h], 14);
    let fb = init("fc.bias", &[k], 15);
    let nodes = vec![
        out_node(
            "LSTM",
            &["input", "onnx::LSTM_w", "onnx::LSTM_r", "onnx::LSTM_b", ""],
            &["lstm_y", "lstm_h", "lstm_c"],
            vec![attr_i("hidden_size", h as i64)],
        ),
        out_node("Squeeze", &["lstm_h", "axes0"], &["h_sq"], vec![]),
        out_node(
            "Gemm",
            &["h_sq", "fc.weight", "fc.bias"],
            &["output"],
            vec![attr_i("transB", 1)],
        ),
    ];
    let inits = vec![
        w.proto.clone(),
        r.proto.clone(),
        b.proto.clone(),
        fw.proto.clone(),
        fb.proto.clone(),
        ints_init("axes0", &[0]),
    ];
    let bytes = model14(
        nodes,
        inits,
        value("input", &[Some(t as i64), None, Some(f as i64)]),
        value("output", &[None, Some(k as i64)]),
    );
    let x = data(&[t, n, f], 21);
    let x3 = x.clone().into_dimensionality::<ndarray::Ix3>().unwrap();
    let (got, config, _) = import_run(&bytes, &x.clone().permuted_axes(IxDyn(&[1, 2, 0])));
    let cls = classes(&config);
    assert!(cls.contains(&"LastTimeStep".to_string()), "{cls:?}");
    assert!(cls.contains(&"LSTM".to_string()), "{cls:?}");
    assert!(config.get("confs").is_some(), "a MultiLayerNetwork");

    let (wm, rm, bv) = (mat(&w.value, 0), mat(&r.value, 0), row(&b.value));
    let y = onnx_lstm(&x3, &wm, &rm, Some(&bv), None);
    let want = linear(&last(&y), &fw.value, &fb.value).into_dyn();
    assert_close(&got, &want, "LSTM -> Y_h -> Gemm");
    // tract on the original graph agrees too.
    assert_close(&tract_f64(&bytes, &x), &want, "original graph in tract");
    // Swapped forget / output gates, or the biases not summed, would be caught.
    let wrong_w = swap_blocks(&wm, [0, 2, 1, 3]);
    let wrong_r = swap_blocks(&rm, [0, 2, 1, 3]);
    let wrong = onnx_lstm(&x3, &wrong_w, &wrong_r, Some(&bv), None);
    assert_differs(
        &got,
        &linear(&last(&wrong), &fw.value, &fb.value).into_dyn(),
        "swapped gates",
    );
    let mut half = bv.clone();
    half.slice_mut(s![4 * h..]).fill(0.0);
    let wrong = onnx_lstm(&x3, &wm, &rm, Some(&half), None);
    assert_differs(
        &got,
        &linear(&last(&wrong), &fw.value, &fb.value).into_dyn(),
        "Rb dropped",
    );
}

/// Two stacked LSTMs (the second with peepholes -> GravesLSTM): the first one's `Y`, squeezed,
/// feeds the second; its `Y_h` goes through a Linear.
#[test]
fn stacked_lstm_with_peepholes() {
    let (t, n, f, h1, h2, k) = (4, 2, 3, 5, 4, 3);
    let w1 = init("w1", &[1, 4 * h1, f], 31);
    let r1 = init("r1", &[1, 4 * h1, h1], 32);
    let b1 = init("b1", &[1, 8 * h1], 33);
    let w2 = init("w2", &[1, 4 * h2, h1], 34);
    let r2 = init("r2", &[1, 4 * h2, h2], 35);
    let b2 = init("b2", &[1, 8 * h2], 36);
    let p2 = init("p2", &[1, 3 * h2], 37);
    let fw = init("fc.weight", &[k, h2], 38);
    let fb = init("fc.bias", &[k], 39);
    let nodes = vec![
        out_node(
            "LSTM",
            &["input", "w1", "r1", "b1"],
            &["y1", "h1", "c1"],
            vec![attr_i("hidden_size", h1 as i64)],
        ),
        out_node("Squeeze", &["y1", "axes1"], &["y1_sq"], vec![]),
        out_node(
            "LSTM",
            &["y1_sq", "w2", "r2", "b2", "", "", "", "p2"],
            &["", "h2"],
            vec![attr_i("hidden_size", h2 as i64)],
        ),
        out_node("Squeeze", &["h2", "axes0"], &["h2_sq"], vec![]),
        out_node(
            "Gemm",
            &["h2_sq", "fc.weight", "fc.bias"],
            &["output"],
            vec![attr_i("transB", 1)],
        ),
    ];
    let inits = vec![
        w1.proto.clone(),
        r1.proto.clone(),
        b1.proto.clone(),
        w2.proto.clone(),
        r2.proto.clone(),
        b2.proto.clone(),
        p2.proto.clone(),
        fw.proto.clone(),
        fb.proto.clone(),
        ints_init("axes0", &[0]),
        ints_init("axes1", &[1]),
    ];
    let bytes = model14(
        nodes,
        inits,
        value("input", &[Some(t as i64), None, Some(f as i64)]),
        value("output", &[None, Some(k as i64)]),
    );
    let x = data(&[t, n, f], 41);
    let x3 = x.clone().into_dimensionality::<ndarray::Ix3>().unwrap();
    let (got, config, _) = import_run(&bytes, &x.clone().permuted_axes(IxDyn(&[1, 2, 0])));
    let cls = classes(&config);
    assert!(cls.contains(&"GravesLSTM".to_string()), "{cls:?}");
    let y1 = onnx_lstm(
        &x3,
        &mat(&w1.value, 0),
        &mat(&r1.value, 0),
        Some(&row(&b1.value)),
        None,
    );
    let pv = row(&p2.value);
    let (w2m, r2m, b2v) = (mat(&w2.value, 0), mat(&r2.value, 0), row(&b2.value));
    let y2 = onnx_lstm(&y1, &w2m, &r2m, Some(&b2v), Some(&pv));
    let want = linear(&last(&y2), &fw.value, &fb.value).into_dyn();
    assert_close(&got, &want, "stacked LSTM with peepholes");
    // Peepholes in another order would be caught.
    let mut wrong_p = pv.clone();
    wrong_p.slice_mut(s![..h2]).assign(&pv.slice(s![2 * h2..]));
    wrong_p.slice_mut(s![2 * h2..]).assign(&pv.slice(s![..h2]));
    let wrong = onnx_lstm(&y1, &w2m, &r2m, Some(&b2v), Some(&wrong_p));
    assert_differs(
        &got,
        &linear(&last(&wrong), &fw.value, &fb.value).into_dyn(),
        "swapped peepholes",
    );
}

/// `batch_first` RNN with ReLU (`layout = 1`, `activations = ["Relu"]`): `Y [N, T, 1, h]` ->
/// Squeeze -> `Gather(axis 1, -1)` (PyTorch's `out[:, -1]`) -> Gemm.
#[test]
fn batch_first_relu_rnn_gather_last_step() {
    let (t, n, f, h, k) = (6, 3, 4, 5, 2);
    let w = init("w", &[1, h, f], 51);
    let r = init("r", &[1, h, h], 52);
    let b = init("b", &[1, 2 * h], 53);
    let fw = init("fc.weight", &[k, h], 54);
    let fb = init("fc.bias", &[k], 55);
    let nodes = vec![
        out_node(
            "RNN",
            &["input", "w", "r", "b"],
            &["y", "y_h"],
            vec![
                attr_i("hidden_size", h as i64),
                attr_i("layout", 1),
                attr_strs("activations", &["Relu"]),
            ],
        ),
        out_node("Squeeze", &["y", "axes2"], &["y_sq"], vec![]),
        out_node(
            "Gather",
            &["y_sq", "minus1"],
            &["y_last"],
            vec![attr_i("axis", 1)],
        ),
        out_node(
            "Gemm",
            &["y_last", "fc.weight", "fc.bias"],
            &["output"],
            vec![attr_i("transB", 1)],
        ),
    ];
    let inits = vec![
        w.proto.clone(),
        r.proto.clone(),
        b.proto.clone(),
        fw.proto.clone(),
        fb.proto.clone(),
        ints_init("axes2", &[2]),
        int_scalar("minus1", -1),
    ];
    let bytes = model14(
        nodes,
        inits,
        value("input", &[None, Some(t as i64), Some(f as i64)]),
        value("output", &[None, Some(k as i64)]),
    );
    let x = data(&[n, t, f], 61);
    let (got, config, _) = import_run(&bytes, &x.clone().permuted_axes(IxDyn(&[0, 2, 1])));
    let cls = classes(&config);
    assert!(cls.contains(&"LastTimeStep".to_string()), "{cls:?}");
    assert!(cls.contains(&"SimpleRnn".to_string()), "{cls:?}");
    let x_tnf = x
        .permuted_axes(IxDyn(&[1, 0, 2]))
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap()
        .to_owned();
    let (wm, rm, bv) = (mat(&w.value, 0), mat(&r.value, 0), row(&b.value));
    let relu = |v: f64| v.max(0.0);
    let y = onnx_rnn(&x_tnf, &wm, &rm, &bv, relu);
    let want = linear(&last(&y), &fw.value, &fb.value).into_dyn();
    assert_close(&got, &want, "batch-first ReLU RNN");
    // Tanh (the activation ignored) or the first step instead of the last would be caught.
    let y_tanh = onnx_rnn(&x_tnf, &wm, &rm, &bv, f64::tanh);
    assert_differs(
        &got,
        &linear(&last(&y_tanh), &fw.value, &fb.value).into_dyn(),
        "tanh",
    );
    let first = y.index_axis(Axis(0), 0).to_owned();
    assert_differs(
        &got,
        &linear(&first, &fw.value, &fb.value).into_dyn(),
        "first step",
    );
}

/// `Y` and `Y_h` both read: the sequence feeds a second LSTM, the last hidden state a
/// LastTimeStepVertex; the two heads are added.
#[test]
fn lstm_sequence_and_last_state_both_used() {
    let (t, n, f, h, k) = (3, 2, 3, 4, 2);
    let w1 = init("w1", &[1, 4 * h, f], 71);
    let r1 = init("r1", &[1, 4 * h, h], 72);
    let w2 = init("w2", &[1, 4 * h, h], 73);
    let r2 = init("r2", &[1, 4 * h, h], 74);
    let fa = init("fa", &[k, h], 75);
    let fab = init("fab", &[k], 76);
    let fc = init("fc", &[k, h], 77);
    let fcb = init("fcb", &[k], 78);
    let nodes = vec![
        out_node(
            "LSTM",
            &["input", "w1", "r1"],
            &["y1", "h1"],
            vec![attr_i("hidden_size", h as i64)],
        ),
        out_node("Squeeze", &["h1", "axes0"], &["h1_sq"], vec![]),
        out_node(
            "Gemm",
            &["h1_sq", "fa", "fab"],
            &["head_a"],
            vec![attr_i("transB", 1)],
        ),
        out_node("Squeeze", &["y1", "axes1"], &["y1_sq"], vec![]),
        out_node(
            "LSTM",
            &["y1_sq", "w2", "r2"],
            &["", "h2"],
            vec![attr_i("hidden_size", h as i64)],
        ),
        out_node("Squeeze", &["h2", "axes0"], &["h2_sq"], vec![]),
        out_node(
            "Gemm",
            &["h2_sq", "fc", "fcb"],
            &["head_b"],
            vec![attr_i("transB", 1)],
        ),
        out_node("Add", &["head_a", "head_b"], &["output"], vec![]),
    ];
    let inits = [&w1, &r1, &w2, &r2, &fa, &fab, &fc, &fcb]
        .iter()
        .map(|i| i.proto.clone())
        .chain([ints_init("axes0", &[0]), ints_init("axes1", &[1])])
        .collect();
    let bytes = model14(
        nodes,
        inits,
        value("input", &[Some(t as i64), None, Some(f as i64)]),
        value("output", &[None, Some(k as i64)]),
    );
    let x = data(&[t, n, f], 81);
    let x3 = x.clone().into_dimensionality::<ndarray::Ix3>().unwrap();
    let (got, config, _) = import_run(&bytes, &x.clone().permuted_axes(IxDyn(&[1, 2, 0])));
    let cls = classes(&config);
    assert!(cls.contains(&"LastTimeStepVertex".to_string()), "{cls:?}");
    let y1 = onnx_lstm(&x3, &mat(&w1.value, 0), &mat(&r1.value, 0), None, None);
    let y2 = onnx_lstm(&y1, &mat(&w2.value, 0), &mat(&r2.value, 0), None, None);
    let want = (linear(&last(&y1), &fa.value, &fab.value)
        + linear(&last(&y2), &fc.value, &fcb.value))
    .into_dyn();
    assert_close(&got, &want, "Y and Y_h both used");
    assert_close(&tract_f64(&bytes, &x), &want, "original graph in tract");
}

/// What DL4J cannot express is refused with the reason.
#[test]
fn unsupported_recurrent_nodes_are_refused() {
    let (t, f, h) = (3, 2, 3);
    let w = init("w", &[1, 4 * h, f], 91);
    let r = init("r", &[1, 4 * h, h], 92);
    let w2 = init("w2", &[2, 4 * h, f], 93);
    let r2 = init("r2", &[2, 4 * h, h], 94);
    let h0 = init("h0", &[1, 2, h], 95);
    let cases: Vec<(Vec<NodeProto>, Vec<TensorProto>, &str)> = vec![
        (
            vec![out_node(
                "LSTM",
                &["input", "w", "r"],
                &["", "", "c"],
                vec![],
            )],
            vec![w.proto.clone(), r.proto.clone()],
            "Y_c",
        ),
        (
            vec![out_node(
                "LSTM",
                &["input", "w", "r", "", "", "h0"],
                &["", "c"],
                vec![],
            )],
            vec![w.proto.clone(), r.proto.clone(), h0.proto.clone()],
            "initial_h",
        ),
        (
            vec![out_node(
                "LSTM",
                &["input", "w2", "r2"],
                &["", "c"],
                vec![attr_s("direction", "reverse")],
            )],
            vec![w2.proto.clone(), r2.proto.clone()],
            "reverse",
        ),
        (
            vec![out_node(
                "LSTM",
                &["input", "w", "r"],
                &["", "c"],
                vec![attr_strs("activations", &["Sigmoid", "Tanh", "Relu"])],
            )],
            vec![w.proto.clone(), r.proto.clone()],
            "differ",
        ),
    ];
    for (nodes, inits, why) in cases {
        let bytes = model14(
            nodes,
            inits,
            value("input", &[Some(t as i64), None, Some(f as i64)]),
            value("c", &[Some(1), None, Some(h as i64)]),
        );
        let (_tmp, _, out, o) = import_bytes(&bytes, &[]);
        assert!(!o.status.success(), "{why}: {}", text(&o));
        assert!(!out.exists());
        assert!(text(&o).contains(why), "{why}: {}", text(&o));
    }
}

/// PyTorch 2.x's bidirectional `nn.LSTM` followed by a classifier on the last step:
/// `LSTM(bidirectional)` -> `Y [T, 2, N, h]` -> `Transpose(0, 2, 1, 3)` -> `Reshape [0, 0, -1]`
/// -> `Gather(axis 0, -1)` -> `Gemm`. DL4J: LastTimeStep(Bidirectional(LSTM, CONCAT)).
#[test]
fn torch_bidirectional_lstm_last_step() {
    let (t, n, f, h, k) = (4, 3, 3, 5, 2);
    let w = init("w", &[2, 4 * h, f], 71);
    let r = init("r", &[2, 4 * h, h], 72);
    let b = init("b", &[2, 8 * h], 73);
    let fw = init("fc.weight", &[k, 2 * h], 74);
    let fb = init("fc.bias", &[k], 75);
    let bidir = attr_s("direction", "bidirectional");
    let perm = attr_is("perm", &[0, 2, 1, 3]);
    let nodes = vec![
        out_node(
            "LSTM",
            &["input", "w", "r", "b"],
            &["y", "y_h", "y_c"],
            vec![attr_i("hidden_size", h as i64), bidir],
        ),
        out_node("Transpose", &["y"], &["yt"], vec![perm]),
        out_node("Reshape", &["yt", "shape"], &["seq"], vec![]),
        out_node(
            "Gather",
            &["seq", "last"],
            &["last_step"],
            vec![attr_i("axis", 0)],
        ),
        out_node(
            "Gemm",
            &["last_step", "fc.weight", "fc.bias"],
            &["output"],
            vec![attr_i("transB", 1)],
        ),
    ];
    let inits = vec![
        w.proto.clone(),
        r.proto.clone(),
        b.proto.clone(),
        fw.proto.clone(),
        fb.proto.clone(),
        ints_init("shape", &[0, 0, -1]),
        int_scalar("last", -1),
    ];
    let bytes = model14(
        nodes,
        inits,
        value("input", &[Some(t as i64), None, Some(f as i64)]),
        value("output", &[None, Some(k as i64)]),
    );
    let x = data(&[t, n, f], 76);
    let x3 = x.clone().into_dimensionality::<ndarray::Ix3>().unwrap();
    let (got, config, _) = import_run(&bytes, &x.clone().permuted_axes(IxDyn(&[1, 2, 0])));
    let cls = classes(&config);
    for c in ["LastTimeStep", "Bidirectional", "LSTM"] {
        assert!(cls.contains(&c.to_string()), "{cls:?}");
    }
    // Forward pass, and the backward pass over the reversed sequence.
    let fwd = onnx_lstm(
        &x3,
        &mat(&w.value, 0),
        &mat(&r.value, 0),
        Some(&row_of(&b.value, 0)),
        None,
    );
    let mut xr = x3.clone();
    xr.invert_axis(Axis(0));
    let bwd = onnx_lstm(
        &xr,
        &mat(&w.value, 1),
        &mat(&r.value, 1),
        Some(&row_of(&b.value, 1)),
        None,
    );
    // At the last time step: the forward state after all steps, the backward pass's first output.
    let mut feat = Array2::<f64>::zeros((n, 2 * h));
    feat.slice_mut(s![.., ..h])
        .assign(&fwd.index_axis(Axis(0), t - 1));
    feat.slice_mut(s![.., h..])
        .assign(&bwd.index_axis(Axis(0), 0));
    let want = linear(&feat, &fw.value, &fb.value).into_dyn();
    assert_close(&got, &want, "bidirectional LSTM last step");
    assert_close(&tract_f64(&bytes, &x), &want, "original graph in tract");
    // Directions swapped in the concatenation would be caught.
    let mut swapped = Array2::<f64>::zeros((n, 2 * h));
    swapped
        .slice_mut(s![.., ..h])
        .assign(&bwd.index_axis(Axis(0), 0));
    swapped
        .slice_mut(s![.., h..])
        .assign(&fwd.index_axis(Axis(0), t - 1));
    assert_differs(
        &got,
        &linear(&swapped, &fw.value, &fb.value).into_dyn(),
        "directions swapped",
    );
}

/// Row `d` of a `[dirs, n]` constant.
fn row_of(a: &ArrayD<f64>, d: usize) -> Array1<f64> {
    a.index_axis(Axis(0), d)
        .to_owned()
        .into_dimensionality()
        .unwrap()
}
