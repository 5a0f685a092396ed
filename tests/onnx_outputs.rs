//! Yolo2OutputLayer, OCNNOutputLayer and SpaceToBatchLayer exported to ONNX, run with tract and
//! compared with direct ndarray implementations of DL4J's inference formulas (`YoloUtils.activate`,
//! `OCNNOutputLayer.doOutput`, libnd4j `space_to_batch_nd` on the NHWC view) on pseudo-random data.

mod common;

use common::onnx_run::{assert_close, run};
use common::synthetic::{layer, mln, uniform};
use dl4j::{Archive, DType};
use ndarray::{Array2, Array4, ArrayD, Ix4};
use serde_json::{json, Value};

fn export_run(a: &Archive, x: &ArrayD<f64>, opset: i64) -> ArrayD<f64> {
    let onnx = dl4j::dl4j_onnx::to_onnx(a, opset).unwrap();
    run(&onnx, DType::F64, x)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `YoloUtils.activate` written out per element on `[mb, B·(5+C), H, W]`.
fn yolo_reference(x: &Array4<f64>, priors: &[[f64; 2]]) -> Array4<f64> {
    let (mb, ch, h, w) = x.dim();
    let nb = priors.len();
    let d = ch / nb;
    let c = d - 5;
    let mut y = x.clone();
    for n in 0..mb {
        for (bx, p) in priors.iter().enumerate() {
            let o = bx * d;
            for i in 0..h {
                for j in 0..w {
                    y[[n, o, i, j]] = sigmoid(x[[n, o, i, j]]);
                    y[[n, o + 1, i, j]] = sigmoid(x[[n, o + 1, i, j]]);
                    y[[n, o + 2, i, j]] = p[0] * x[[n, o + 2, i, j]].exp();
                    y[[n, o + 3, i, j]] = p[1] * x[[n, o + 3, i, j]].exp();
                    y[[n, o + 4, i, j]] = sigmoid(x[[n, o + 4, i, j]]);
                    let e: Vec<f64> = (0..c).map(|k| x[[n, o + 5 + k, i, j]].exp()).collect();
                    let s: f64 = e.iter().sum();
                    for (k, ek) in e.iter().enumerate() {
                        y[[n, o + 5 + k, i, j]] = ek / s;
                    }
                }
            }
        }
    }
    y
}

#[test]
fn yolo2_output_matches_yolo_utils_activate() {
    let priors = [[1.5, 2.0], [0.5, 0.75], [3.0, 1.25]];
    let (mb, nb, c, h, w) = (2, priors.len(), 4, 3, 5);
    let x = Array4::from_shape_vec(
        (mb, nb * (5 + c), h, w),
        random(mb * nb * (5 + c) * h * w, 11),
    )
    .unwrap();
    let want = yolo_reference(&x, &priors).into_dyn();
    let flat: Vec<f64> = priors.iter().flat_map(|p| [p[0], p[1]]).collect();
    // The NDArrayTextSerializer form (1.0.0-beta7 and later) ...
    let modern = json!({"dataType": "DOUBLE", "shape": [nb, 2], "data": flat});
    // ... and the INDArray bean of older versions, here f-ordered to exercise the strides.
    let fdata: Vec<f64> = (0..2)
        .flat_map(|j| priors.iter().map(move |p| p[j]))
        .collect();
    let legacy = json!({
        "dataBuffer": fdata, "rankField": 2, "numElements": nb * 2, "offsetField": 0,
        "shapeField": [nb, 2], "strideField": [1, nb], "orderingField": "f"
    });
    for (bb, opset) in [(modern.clone(), 17), (legacy, 17), (modern, 13)] {
        let l = layer(
            "org.deeplearning4j.nn.conf.layers.objdetect.Yolo2OutputLayer",
            json!({"boundingBoxes": bb, "lambdaCoord": 5.0, "lambdaNoObj": 0.5}),
        );
        let got = export_run(&model(l, vec![], vec![]), &x.clone().into_dyn(), opset);
        assert_close(&got, &want, 1e-12, 1e-12, &format!("yolo2 opset {opset}"));
    }
}

#[test]
fn ocnn_output_is_activated_projection_times_w() {
    let (mb, nin, k) = (5, 4, 3);
    let wv = random(k, 21);
    let v = Array2::from_shape_vec((nin, k), random(nin * k, 22)).unwrap();
    let r = 0.3;
    // Flat vector: w [1, K] (c), v [nIn, K] (f order), r.
    let mut flat = wv.clone();
    flat.extend(v.t().iter().copied());
    flat.push(r);
    let x = Array2::from_shape_vec((mb, nin), random(mb * nin, 23)).unwrap();
    for (name, f) in [
        ("Sigmoid", sigmoid as fn(f64) -> f64),
        ("ReLU", |z: f64| z.max(0.0)),
    ] {
        let l = layer(
            "org.deeplearning4j.nn.conf.ocnn.OCNNOutputLayer",
            json!({
                "nin": nin, "nout": 1, "hiddenSize": k, "nu": 0.04, "windowSize": 10000,
                "activationFn": {"@class": format!("org.nd4j.linalg.activations.impl.Activation{name}")}
            }),
        );
        let a = model(l, vec!["w", "v", "r"], flat.clone());
        let hidden = x.dot(&v).mapv(f);
        let want = hidden.dot(&ndarray::Array1::from(wv.clone())).into_dyn();
        let got = export_run(&a, &x.clone().into_dyn(), 17);
        assert_close(&got, &want, 1e-12, 1e-12, &format!("ocnn {name}"));
    }
}

/// TensorFlow's `space_to_batch_nd` on NCHW data (as DL4J runs it on the NHWC view):
/// `out[(by·bw + bx)·N + n, c, oh, ow] = padded[n, c, oh·bh + by, ow·bw + bx]`.
fn space_to_batch_reference(x: &Array4<f64>, bl: [usize; 2], pad: [[usize; 2]; 2]) -> Array4<f64> {
    let (n, c, h, w) = x.dim();
    let (hp, wp) = (h + pad[0][0] + pad[0][1], w + pad[1][0] + pad[1][1]);
    let (oh, ow) = (hp / bl[0], wp / bl[1]);
    let mut y = Array4::zeros((n * bl[0] * bl[1], c, oh, ow));
    for by in 0..bl[0] {
        for bx in 0..bl[1] {
            for b in 0..n {
                for ch in 0..c {
                    for i in 0..oh {
                        for j in 0..ow {
                            let (pi, pj) = (i * bl[0] + by, j * bl[1] + bx);
                            let inside = pi >= pad[0][0]
                                && pi < pad[0][0] + h
                                && pj >= pad[1][0]
                                && pj < pad[1][0] + w;
                            if inside {
                                y[[(by * bl[1] + bx) * n + b, ch, i, j]] =
                                    x[[b, ch, pi - pad[0][0], pj - pad[1][0]]];
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

#[test]
fn space_to_batch_follows_tensorflow_batch_order() {
    let (n, c, h, w) = (2, 3, 4, 3);
    let x = Array4::from_shape_vec((n, c, h, w), random(n * c * h * w, 31)).unwrap();
    for (bl, pad) in [
        ([2usize, 2usize], [[0usize, 0usize], [1usize, 0usize]]),
        ([2, 3], [[1, 1], [2, 1]]),
        ([1, 2], [[0, 0], [0, 1]]),
    ] {
        let want = space_to_batch_reference(&x, bl, pad);
        for format in ["NCHW", "NHWC"] {
            let l = layer(
                "org.deeplearning4j.nn.conf.layers.SpaceToBatchLayer",
                json!({"blocks": bl, "padding": pad, "format": format}),
            );
            let a = model(l, vec![], vec![]);
            let (xin, want) = if format == "NHWC" {
                (
                    x.view().permuted_axes([0, 2, 3, 1]).to_owned(),
                    want.view().permuted_axes([0, 2, 3, 1]).to_owned(),
                )
            } else {
                (x.clone(), want.clone())
            };
            let xin = xin.as_standard_layout().to_owned().into_dyn();
            let got = export_run(&a, &xin, 17);
            let got = got.into_dimensionality::<Ix4>().unwrap().into_dyn();
            assert_close(
                &got,
                &want.into_dyn(),
                0.0,
                0.0,
                &format!("space_to_batch {bl:?} {pad:?} {format}"),
            );
        }
    }
}

/// Values in [-4, 4).
fn random(n: usize, seed: u64) -> Vec<f64> {
    uniform(n, seed, -4.0, 4.0)
}

/// An f64 MultiLayerNetwork of one layer.
fn model(l: Value, vars: Vec<&str>, params: Vec<f64>) -> Archive {
    mln(vec![(l, vars)], params, DType::F64)
}
