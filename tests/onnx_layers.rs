//! Each translated layer and activation, exported from a small DL4J configuration, run with tract
//! and compared with a direct f64 implementation of DL4J's formula (spec
//! `dl4j-config-and-layers.md` §9-§10) on pseudo-random data plus the edge values the spec's
//! pitfalls name.

mod common;

use common::onnx_run::{assert_close, run};
use common::synthetic::{layer, mln as model_typed, uniform};
use dl4j::{Archive, DType};
use ndarray::{Array2, ArrayD, Ix2};
use serde_json::{json, Value};

fn export_run(a: &Archive, x: &ArrayD<f64>) -> ArrayD<f64> {
    let onnx = dl4j::dl4j_onnx::to_onnx(a, 17).unwrap();
    run(&onnx, DType::F64, x)
}

/// Input: random values plus the thresholds and extremes activations treat specially.
fn activation_input() -> Array2<f64> {
    let mut v = random(6 * 40, 7);
    v.extend([
        0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 6.0, 6.5, 1e-7, -1e-7, 10.0, -10.0, 0.5, -0.5, 3.0, -3.0,
        20.0, -20.0, 1.5, -1.5, 0.25, -0.25, 4.0, -4.0,
    ]);
    Array2::from_shape_vec((v.len() / 6, 6), v).unwrap()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Exports an ActivationLayer with `act` in f64 (composed ops) and f32 (ONNX's own ops where
/// they match DL4J) and compares with `f` elementwise; f32 uses rtol 1e-4 / atol 1e-5 (tract's f32
/// Sigmoid is a fast approximation, ~1e-6 absolute).
fn check_activation(act: Value, f: impl Fn(f64) -> f64) {
    let x = activation_input();
    let want = x.mapv(&f).into_dyn();
    for (dtype, rtol, atol) in [(DType::F64, 1e-10, 1e-12), (DType::F32, 1e-4, 1e-5)] {
        let a = model_typed(
            vec![(
                layer("ActivationLayer", json!({"activationFn": act})),
                vec![],
            )],
            vec![],
            dtype,
        );
        let onnx = dl4j::dl4j_onnx::to_onnx(&a, 17).unwrap();
        // f32 inputs are the f64 values rounded; the reference sees the same rounded inputs.
        let xr = if dtype == DType::F32 {
            x.mapv(|v| v as f32 as f64)
        } else {
            x.clone()
        };
        let want = if dtype == DType::F32 {
            xr.mapv(&f).into_dyn()
        } else {
            want.clone()
        };
        let got = run(&onnx, dtype, &xr.into_dyn());
        assert_close(&got, &want, rtol, atol, &format!("{act} {dtype:?}"));
    }
}

fn act(class: &str, fields: Value) -> Value {
    let mut v = json!({"@class": format!("org.nd4j.linalg.activations.impl.Activation{class}")});
    v.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    v
}

#[test]
fn elementwise_activations_follow_dl4j_formulas() {
    let selu_a = 1.673_263_242_354_377_2;
    let selu_l = 1.050_700_987_355_480_5;
    check_activation(act("Identity", json!({})), |x| x);
    check_activation(act("ReLU", json!({})), |x| x.max(0.0));
    check_activation(act("ReLU6", json!({})), |x| x.clamp(0.0, 6.0));
    check_activation(act("LReLU", json!({"alpha": 0.3})), |x| {
        if x < 0.0 {
            0.3 * x
        } else {
            x
        }
    });
    check_activation(act("ELU", json!({"alpha": 0.7})), |x| {
        if x >= 0.0 {
            x
        } else {
            0.7 * (x.exp() - 1.0)
        }
    });
    check_activation(act("SELU", json!({})), move |x| {
        if x > 0.0 {
            selu_l * x
        } else {
            selu_l * (selu_a * x.exp() - selu_a)
        }
    });
    check_activation(act("Sigmoid", json!({})), sigmoid);
    // HardSigmoid's DL4J constants are 0.2 and 0.5 (not Keras' 1/6).
    check_activation(act("HardSigmoid", json!({})), |x| {
        (0.2 * x + 0.5).clamp(0.0, 1.0)
    });
    check_activation(act("TanH", json!({})), f64::tanh);
    check_activation(act("HardTanH", json!({})), |x| x.clamp(-1.0, 1.0));
    check_activation(act("SoftPlus", json!({})), |x| (1.0 + x.exp()).ln());
    check_activation(act("SoftSign", json!({})), |x| x / (1.0 + x.abs()));
    check_activation(act("Cube", json!({})), |x| x * x * x);
    check_activation(act("Swish", json!({})), |x| x * sigmoid(x));
    check_activation(act("Mish", json!({})), |x| x * (1.0 + x.exp()).ln().tanh());
    check_activation(act("RectifiedTanh", json!({})), |x| x.tanh().max(0.0));
    check_activation(act("ThresholdedReLU", json!({"theta": 1.5})), |x| {
        if x > 1.5 {
            x
        } else {
            0.0
        }
    });
    // RReLU at inference is DL4J's scalar relu with cutoff (l+u)/2, not a leaky slope.
    check_activation(act("RReLU", json!({"l": 0.125, "u": 0.375})), |x| {
        x.max(0.25)
    });
}

#[test]
fn gelu_forms_follow_dl4j_not_onnx() {
    check_activation(act("GELU", json!({"precise": false})), |x| {
        x * sigmoid(1.702 * x)
    });
    // The cube applies to 0.044715 x, as libnd4j implements it.
    check_activation(act("GELU", json!({"precise": true})), |x| {
        let k = (2.0 / std::f64::consts::PI).sqrt();
        0.5 * x * (1.0 + (k * (x + (0.044715 * x).powi(3))).tanh())
    });
}

#[test]
fn rational_tanh_follows_dl4j() {
    check_activation(act("RationalTanh", json!({})), |x| {
        let d = 2.0 * x / 3.0;
        let s = if d > 0.0 {
            1.0
        } else if d < 0.0 {
            -1.0
        } else {
            0.0
        };
        1.7159 * s * (1.0 - 1.0 / (1.0 + d.abs() + d * d + 1.41645 * d.powi(4)))
    });
}

#[test]
fn relu_with_threshold_slope_and_max() {
    check_activation(
        act(
            "ReLU",
            json!({"threshold": 1.0, "negativeSlope": 0.1, "max": 3.0}),
        ),
        |x| (if x >= 1.0 { x } else { 0.1 * (x - 1.0) }).min(3.0),
    );
    check_activation(act("ReLU", json!({"negativeSlope": 0.2})), |x| {
        if x < 0.0 {
            0.2 * x
        } else {
            x
        }
    });
}

#[test]
fn legacy_activation_spellings_parse() {
    // <= 1.0.0-alpha wrapper objects and 0.5-0.7 strings.
    check_activation(json!({"LReLU": {"alpha": 0.05}}), |x| {
        if x < 0.0 {
            0.05 * x
        } else {
            x
        }
    });
    let a = model(
        vec![(
            json!({"activation": {"activationFunction": "hardtanh"}}),
            vec![],
        )],
        vec![],
    );
    let x = activation_input();
    let got = export_run(&a, &x.clone().into_dyn());
    assert_close(
        &got,
        &x.mapv(|v| v.clamp(-1.0, 1.0)).into_dyn(),
        0.0,
        0.0,
        "legacy hardtanh",
    );
}

#[test]
fn softmax_runs_over_the_last_axis() {
    let a = model(
        vec![(
            layer(
                "LossLayer",
                json!({"activationFn": act("Softmax", json!({}))}),
            ),
            vec![],
        )],
        vec![],
    );
    let x = activation_input();
    let mut want = x.clone();
    for mut row in want.rows_mut() {
        let m = row.fold(f64::MIN, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    let got = export_run(&a, &x.into_dyn());
    assert_close(&got, &want.into_dyn(), 1e-12, 1e-14, "softmax");
}

/// Column-major `[rows, cols]` from a flat slice (DL4J's "f" order).
fn f_order(v: &[f64], rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| v[i + rows * j])
}

#[test]
fn dense_with_f_order_weights_bias_and_dropout() {
    let (n_in, n_out) = (5, 3);
    let p = random(n_in * n_out + n_out, 11);
    let a = model(
        vec![
            (
                layer(
                    "DropoutLayer",
                    json!({"idropout": {"@class": "org.deeplearning4j.nn.conf.dropout.Dropout", "p": 0.5}}),
                ),
                vec![],
            ),
            (
                layer(
                    "DenseLayer",
                    json!({"nin": n_in, "nout": n_out, "hasBias": true, "activationFn": act("TanH", json!({}))}),
                ),
                vec!["W", "b"],
            ),
        ],
        p.clone(),
    );
    let w = f_order(&p, n_in, n_out);
    let b = ndarray::Array1::from(p[n_in * n_out..].to_vec());
    let x = Array2::from_shape_vec((7, n_in), random(7 * n_in, 3)).unwrap();
    let want = (x.dot(&w) + &b).mapv(f64::tanh);
    let got = export_run(&a, &x.into_dyn());
    assert_close(&got, &want.into_dyn(), 1e-12, 1e-12, "dense");
}

#[test]
fn dense_layer_norm_has_no_epsilon_and_zeroes_constant_rows() {
    let (n_in, n_out) = (4, 6);
    let p = random(n_in * n_out + 2 * n_out, 5);
    let a = model(
        vec![(
            layer(
                "DenseLayer",
                json!({"nin": n_in, "nout": n_out, "hasLayerNorm": true, "activationFn": act("Identity", json!({}))}),
            ),
            vec!["W", "b", "g"],
        )],
        p.clone(),
    );
    let w = f_order(&p, n_in, n_out);
    let b = ndarray::Array1::from(p[n_in * n_out..n_in * n_out + n_out].to_vec());
    let g = ndarray::Array1::from(p[n_in * n_out + n_out..].to_vec());
    let mut xv = random(5 * n_in, 9);
    xv.extend([0.0; 4]); // a zero row: z is constant, 0/0 -> 0, output is b
    let x = Array2::from_shape_vec((6, n_in), xv).unwrap();
    let z = x.dot(&w);
    let mut s = z.clone();
    for mut row in s.rows_mut() {
        let mean = row.mean().unwrap();
        let std = (row.mapv(|v| (v - mean).powi(2)).sum() / n_out as f64).sqrt();
        row.mapv_inplace(|v| {
            let r = (v - mean) / std;
            if r.is_nan() {
                0.0
            } else {
                r
            }
        });
    }
    let want = s * &g + &b;
    let got = export_run(&a, &x.into_dyn());
    // ONNX Runtime reproduces this f64 formula exactly; tract's f64 path is only ~3e-8 relative.
    assert_close(&got, &want.clone().into_dyn(), 1e-6, 1e-12, "layer norm");
    let last = got.into_dimensionality::<Ix2>().unwrap();
    assert_eq!(
        last.row(5).to_vec(),
        b.to_vec(),
        "constant row gives the bias"
    );
}

#[test]
fn dense_without_bias_and_frozen_wrapper() {
    let (n_in, n_out) = (3, 2);
    let p = random(n_in * n_out, 13);
    let inner = layer(
        "DenseLayer",
        json!({"nin": n_in, "nout": n_out, "hasBias": false, "activationFn": act("Sigmoid", json!({}))}),
    );
    let a = model(
        vec![(
            json!({"@class": "org.deeplearning4j.nn.conf.layers.misc.FrozenLayer", "layer": inner}),
            vec!["W"],
        )],
        p.clone(),
    );
    let x = Array2::from_shape_vec((4, n_in), random(4 * n_in, 17)).unwrap();
    let want = x.dot(&f_order(&p, n_in, n_out)).mapv(sigmoid);
    let got = export_run(&a, &x.into_dyn());
    assert_close(
        &got,
        &want.into_dyn(),
        1e-12,
        1e-12,
        "frozen dense without bias",
    );
}

#[test]
fn untranslatable_layers_are_all_reported_together() {
    let a = model(
        vec![
            (
                json!({"@class": "com.example.MyLayer", "nin": 2, "nout": 2}),
                vec![],
            ),
            (
                layer(
                    "ActivationLayer",
                    json!({"activationFn": act("TanH", json!({}))}),
                ),
                vec![],
            ),
            (json!({"@class": "com.example.OtherLayer"}), vec![]),
        ],
        vec![],
    );
    let e = dl4j::dl4j_onnx::to_onnx(&a, 17).unwrap_err().to_string();
    assert!(e.contains("2 part(s)"), "{e}");
    assert!(e.contains("layer 0 (com.example.MyLayer)"), "{e}");
    assert!(e.contains("layer 2 (com.example.OtherLayer)"), "{e}");
}

#[test]
fn half_precision_networks_export_in_f16() {
    // Dense (ReLU) -> Output (softmax), parameters stored as f16: the graph computes in f16.
    let (n_in, hidden, n_out) = (4, 6, 3);
    let n = n_in * hidden + hidden + hidden * n_out + n_out;
    let p: Vec<f64> = random(n, 21)
        .iter()
        .map(|&v| half::f16::from_f64(v / 4.0).to_f64())
        .collect();
    let a = model_typed(
        vec![
            (
                layer(
                    "DenseLayer",
                    json!({"nin": n_in, "nout": hidden, "activationFn": act("ReLU", json!({}))}),
                ),
                vec!["W", "b"],
            ),
            (
                layer(
                    "OutputLayer",
                    json!({"nin": hidden, "nout": n_out, "activationFn": act("Softmax", json!({}))}),
                ),
                vec!["W", "b"],
            ),
        ],
        p.clone(),
        DType::F16,
    );
    let x = Array2::from_shape_vec((5, n_in), random(5 * n_in, 22)).unwrap();
    let x = x.mapv(|v| half::f16::from_f64(v).to_f64());
    let (w0, rest) = p.split_at(n_in * hidden);
    let (b0, rest) = rest.split_at(hidden);
    let (w1, b1) = rest.split_at(hidden * n_out);
    let h = (x.dot(&f_order(w0, n_in, hidden)) + &ndarray::Array1::from(b0.to_vec()))
        .mapv(|v| v.max(0.0));
    let mut want = h.dot(&f_order(w1, hidden, n_out)) + &ndarray::Array1::from(b1.to_vec());
    for mut row in want.rows_mut() {
        let m = row.fold(f64::MIN, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    let onnx = dl4j::dl4j_onnx::to_onnx(&a, 17).unwrap();
    let got = run(&onnx, DType::F16, &x.into_dyn());
    assert_close(&got, &want.into_dyn(), 1e-2, 1e-2, "f16 dense + softmax");
}

/// Values in [-4, 4).
fn random(n: usize, seed: u64) -> Vec<f64> {
    uniform(n, seed, -4.0, 4.0)
}

/// An f64 MultiLayerNetwork.
fn model(layers: Vec<(Value, Vec<&str>)>, params: Vec<f64>) -> Archive {
    model_typed(layers, params, DType::F64)
}
