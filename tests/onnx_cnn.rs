//! Convolutional-family layers exported to ONNX, run with tract and compared with DL4J's own
//! output (SyntheticCNN) and with direct f64 implementations of the spec's formulas
//! (`tests/common/cnn_reference.rs`) on pseudo-random data, including the edge cases of §13.

mod common;

use common::cnn_reference::{self as r, Mode, Pool, Win};
use common::onnx_run::{assert_close, run};
use common::reference::{read_array, read_array_typed};
use common::synthetic::{layer, mln, uniform};
use dl4j::{Archive, DType};
use ndarray::{Array1, Array2, Array3, Array4, ArrayD, Axis};
use serde_json::{json, Value};

// The test networks are f64. Conv, ConvTranspose, AveragePool, LRN and Resize run in f32
// between Casts there (ONNX Runtime has no f64 kernels for them), so agreement is ~1e-6, not
// f64's 1e-15; a layout or padding mistake is off by O(1).
const RTOL: f64 = 1e-5;
const ATOL: f64 = 1e-5;

fn rand4(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f64> {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    Array4::from_shape_vec(shape, random(n, seed)).unwrap()
}

fn identity() -> Value {
    json!({"@class": "org.nd4j.linalg.activations.impl.ActivationIdentity"})
}

/// One parameterless layer on `x`.
fn run_one(l: Value, x: &ArrayD<f64>) -> ArrayD<f64> {
    run_model(&model(vec![(l, vec![])], vec![]), x)
}

fn run_model(a: &Archive, x: &ArrayD<f64>) -> ArrayD<f64> {
    let onnx = dl4j::dl4j_onnx::to_onnx(a, 17).unwrap_or_else(|e| panic!("export: {e}"));
    run(&onnx, DType::F64, x)
}

/// [`run_model`] at opsets 13, 18 and 21 (axes and pads move between attributes and inputs);
/// the three must agree exactly.
fn run_opsets(a: &Archive, x: &ArrayD<f64>) -> ArrayD<f64> {
    let outs: Vec<ArrayD<f64>> = [13, 18, 21]
        .iter()
        .map(|&o| {
            let onnx = dl4j::dl4j_onnx::to_onnx(a, o).unwrap_or_else(|e| panic!("export: {e}"));
            run(&onnx, DType::F64, x)
        })
        .collect();
    assert_eq!(outs[0], outs[1], "opset 13 vs 18");
    assert_eq!(outs[1], outs[2], "opset 18 vs 21");
    outs[2].clone()
}

fn check(got: &ArrayD<f64>, want: &Array4<f64>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_close(got, &want.clone().into_dyn(), RTOL, ATOL, what);
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Truncate => "Truncate",
        Mode::Same => "Same",
        Mode::Causal => "Causal",
    }
}

fn win_json(w: &Win) -> Value {
    json!({
        "kernelSize": w.k, "stride": w.s, "padding": w.p, "dilation": w.d,
        "convolutionMode": mode_name(w.mode),
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    a.as_object_mut()
        .unwrap()
        .extend(b.as_object().unwrap().clone());
    a
}

fn nhwc(x: &Array4<f64>) -> ArrayD<f64> {
    r::nchw_to_nhwc(x).into_dyn()
}

#[test]
fn synthetic_cnn_matches_dl4j_output() {
    let rel = "dl4j/1.0.0-beta4/SyntheticCNN_100b4.bin";
    let a = dl4j::open(common::fixture(rel), None).unwrap().0;
    let onnx = dl4j::dl4j_onnx::to_onnx(&a, 17).unwrap_or_else(|e| panic!("{e}"));
    let (dtype, x) = read_array_typed("dl4j/1.0.0-beta4/SyntheticCNN_Input_100b4.bin");
    assert_eq!(dtype, a.dtype());
    let want = read_array("dl4j/1.0.0-beta4/SyntheticCNN_Output_100b4.bin");
    let got = run(&onnx, a.dtype(), &x);
    assert_eq!(got.shape(), want.shape());
    assert_close(&got, &want, 1e-4, 1e-5, rel);
    // Every opset the exporter writes (reduce/pad input forms differ).
    for opset in [13, 18, 21] {
        let onnx = dl4j::dl4j_onnx::to_onnx(&a, opset).unwrap();
        let got = run(&onnx, a.dtype(), &x);
        assert_close(&got, &want, 1e-4, 1e-5, &format!("{rel} opset {opset}"));
    }
}

/// ConvolutionLayer with params `b` then c-order `W [nOut, nIn, kH, kW]`.
fn conv_case(win: Win, nhwc_format: bool, input: (usize, usize, usize, usize), n_out: usize) {
    let (mb, c, h, w) = input;
    let wt = Array4::from_shape_vec(
        (n_out, c, win.k[0], win.k[1]),
        random(n_out * c * win.k[0] * win.k[1], 11),
    )
    .unwrap();
    let bias = Array1::from(random(n_out, 12));
    let mut params = bias.to_vec();
    params.extend(wt.iter());
    let fields = merge(
        win_json(&win),
        json!({"nin": c, "nout": n_out, "activationFn": identity(),
               "cnn2dDataFormat": if nhwc_format {"NHWC"} else {"NCHW"}}),
    );
    let a = model(
        vec![(layer("ConvolutionLayer", fields), vec!["W", "b"])],
        params,
    );
    let x = rand4((mb, c, h, w), 13);
    let want = r::conv2d(&x, wt.view(), Some(&bias), &win, 1);
    let what = format!("conv {win:?} nhwc={nhwc_format}");
    if nhwc_format {
        check(&run_model(&a, &nhwc(&x)), &r::nchw_to_nhwc(&want), &what);
    } else {
        check(&run_model(&a, &x.into_dyn()), &want, &what);
    }
}

#[test]
fn convolution_truncate_same_dilation_stride_nhwc() {
    // Truncate with symmetric padding, stride and dilation; floor division drops a remainder.
    conv_case(
        Win::new([3, 2], [2, 1], [1, 2], [2, 1], Mode::Truncate),
        false,
        (2, 3, 9, 6),
        4,
    );
    // Same, odd input with stride 2: odd total padding, the extra at the bottom/right.
    conv_case(
        Win::new([4, 3], [2, 2], [0, 0], [1, 1], Mode::Same),
        false,
        (2, 2, 7, 8),
        3,
    );
    conv_case(
        Win::new([3, 3], [1, 2], [5, 5], [2, 3], Mode::Same),
        false,
        (1, 2, 9, 11),
        2,
    );
    conv_case(
        Win::new([2, 3], [2, 1], [0, 0], [1, 1], Mode::Same),
        true,
        (2, 3, 7, 5),
        4,
    );
    conv_case(
        Win::new([3, 3], [1, 1], [1, 0], [1, 1], Mode::Truncate),
        true,
        (1, 2, 5, 6),
        3,
    );
}

#[test]
fn depthwise_convolution_channel_order() {
    let (n_in, m, kh, kw) = (3, 2, 3, 2);
    let win = Win::new([kh, kw], [1, 2], [0, 0], [2, 1], Mode::Same);
    // DL4J W [kH, kW, nIn, m]; channel c·m + j uses W[:, :, c, j].
    let wd = Array4::from_shape_vec((kh, kw, n_in, m), random(kh * kw * n_in * m, 21)).unwrap();
    let bias = Array1::from(random(n_in * m, 22));
    let mut params = bias.to_vec();
    params.extend(wd.iter());
    let fields = merge(
        win_json(&win),
        json!({"nin": n_in, "nout": n_in * m, "depthMultiplier": m, "activationFn": identity()}),
    );
    let a = model(
        vec![(layer("DepthwiseConvolution2D", fields), vec!["W", "b"])],
        params,
    );
    let wg = wd
        .view()
        .permuted_axes([2, 3, 0, 1])
        .as_standard_layout()
        .to_owned()
        .into_shape_with_order((n_in * m, 1, kh, kw))
        .unwrap();
    let x = rand4((2, n_in, 7, 6), 23);
    let want = r::conv2d(&x, wg.view(), Some(&bias), &win, n_in);
    check(&run_model(&a, &x.into_dyn()), &want, "depthwise");
}

#[test]
fn separable_convolution_with_depth_multiplier() {
    let (n_in, m, n_out, kh, kw) = (3, 2, 4, 2, 3);
    let win = Win::new([kh, kw], [2, 1], [1, 1], [1, 2], Mode::Truncate);
    let wd = Array4::from_shape_vec((m, n_in, kh, kw), random(m * n_in * kh * kw, 31)).unwrap();
    let pw = Array4::from_shape_vec((n_out, n_in * m, 1, 1), random(n_out * n_in * m, 32)).unwrap();
    let bias = Array1::from(random(n_out, 33));
    let mut params = bias.to_vec();
    params.extend(wd.iter());
    params.extend(pw.iter());
    let fields = merge(
        win_json(&win),
        json!({"nin": n_in, "nout": n_out, "depthMultiplier": m, "activationFn": identity()}),
    );
    let a = model(
        vec![(
            layer("SeparableConvolution2D", fields),
            vec!["W", "pW", "b"],
        )],
        params,
    );
    // Intermediate channel c·m + j uses W[j, c].
    let wg = wd
        .view()
        .permuted_axes([1, 0, 2, 3])
        .as_standard_layout()
        .to_owned()
        .into_shape_with_order((n_in * m, 1, kh, kw))
        .unwrap();
    let x = rand4((2, n_in, 8, 9), 34);
    let mid = r::conv2d(&x, wg.view(), None, &win, n_in);
    let point = Win::new([1, 1], [1, 1], [0, 0], [1, 1], Mode::Truncate);
    let want = r::conv2d(&mid, pw.view(), Some(&bias), &point, 1);
    check(&run_model(&a, &x.into_dyn()), &want, "separable");
}

fn pool_json(kind: Pool) -> Value {
    match kind {
        Pool::Max => json!({"poolingType": "MAX"}),
        Pool::Avg { include_pad } => {
            json!({"poolingType": "AVG", "avgPoolIncludePadInDivisor": include_pad})
        }
        Pool::Pnorm(p) => json!({"poolingType": "PNORM", "pnorm": p as i64}),
    }
}

#[test]
fn subsampling_max_avg_pnorm_with_padding_modes() {
    let cases = [
        (
            Win::new([3, 2], [2, 1], [1, 1], [1, 1], Mode::Truncate),
            false,
        ),
        (Win::new([3, 3], [2, 2], [0, 0], [1, 1], Mode::Same), false),
        (Win::new([2, 3], [1, 2], [0, 0], [1, 1], Mode::Same), true),
        (
            Win::new([2, 2], [2, 2], [0, 1], [1, 1], Mode::Truncate),
            true,
        ),
    ];
    let kinds = [
        Pool::Max,
        Pool::Avg { include_pad: true },
        Pool::Avg { include_pad: false },
        Pool::Pnorm(2.0),
        Pool::Pnorm(3.0),
    ];
    for (win, channels_last) in cases {
        for kind in kinds {
            let fields = merge(
                merge(win_json(&win), pool_json(kind)),
                json!({"cnn2dDataFormat": if channels_last {"NHWC"} else {"NCHW"}}),
            );
            let x = rand4((2, 3, 7, 9), 41);
            let want = r::pool2d(&x, &win, kind);
            let what = format!("{kind:?} {win:?} nhwc={channels_last}");
            if channels_last {
                let got = run_one(layer("SubsamplingLayer", fields), &nhwc(&x));
                check(&got, &r::nchw_to_nhwc(&want), &what);
            } else {
                let got = run_one(layer("SubsamplingLayer", fields), &x.into_dyn());
                check(&got, &want, &what);
            }
        }
    }
}

#[test]
fn subsampling_dilated_truncate_and_same() {
    let kinds = [
        Pool::Max,
        Pool::Avg { include_pad: true },
        Pool::Avg { include_pad: false },
        Pool::Pnorm(3.0),
    ];
    for (win, channels_last) in [
        (
            Win::new([3, 2], [2, 1], [2, 1], [2, 3], Mode::Truncate),
            false,
        ),
        (
            Win::new([2, 2], [1, 2], [1, 0], [3, 2], Mode::Truncate),
            true,
        ),
        (
            Win::new([2, 3], [1, 1], [0, 0], [1, 2], Mode::Truncate),
            false,
        ),
        // Same: H total 2, W stride above the dilated kernel (total clamped to 0).
        (Win::new([2, 2], [2, 4], [0, 0], [2, 1], Mode::Same), false),
        // Same: W total 1, odd, the extra at the end.
        (Win::new([3, 2], [1, 2], [0, 0], [2, 2], Mode::Same), true),
    ] {
        for kind in kinds {
            let fields = merge(
                merge(win_json(&win), pool_json(kind)),
                json!({"cnn2dDataFormat": if channels_last {"NHWC"} else {"NCHW"}}),
            );
            let x = rand4((2, 3, 9, 8), 171);
            let want = r::pool2d(&x, &win, kind);
            let what = format!("dilated {kind:?} {win:?} nhwc={channels_last}");
            let a = model(vec![(layer("SubsamplingLayer", fields), vec![])], vec![]);
            if channels_last {
                check(&run_opsets(&a, &nhwc(&x)), &r::nchw_to_nhwc(&want), &what);
            } else {
                check(&run_opsets(&a, &x.into_dyn()), &want, &what);
            }
        }
    }
    // 1-D, dilation 2.
    let x = rand3((2, 3, 11), 172);
    let fields = merge(win1_json(3, 2, 1, 2, Mode::Truncate), pool_json(Pool::Max));
    let got = run_one(layer("Subsampling1DLayer", fields), &x.clone().into_dyn());
    let win = Win::new([3, 1], [2, 1], [1, 0], [2, 1], Mode::Truncate);
    check3(
        &got,
        &r::pool2d(&as4(&x), &win, Pool::Max),
        "dilated pool1d",
    );
}

#[test]
fn zero_padding_cropping_upsampling_2d() {
    let x = rand4((2, 3, 5, 6), 51);
    for channels_last in [false, true] {
        let fmt = if channels_last { "NHWC" } else { "NCHW" };
        let input = if channels_last {
            nhwc(&x)
        } else {
            x.clone().into_dyn()
        };
        let back = |w: Array4<f64>| {
            if channels_last {
                r::nchw_to_nhwc(&w)
            } else {
                w
            }
        };
        let got = run_one(
            layer(
                "ZeroPaddingLayer",
                json!({"padding": [1, 2, 0, 3], "dataFormat": fmt}),
            ),
            &input,
        );
        check(&got, &back(r::zero_pad(&x, [1, 2, 0, 3])), "zero padding");
        for crop in [[1, 2, 0, 3], [0, 0, 2, 0]] {
            let got = run_one(
                layer("Cropping2D", json!({"cropping": crop, "dataFormat": fmt})),
                &input,
            );
            check(
                &got,
                &back(r::crop(&x, crop)),
                &format!("cropping {crop:?}"),
            );
        }
        let got = run_one(
            layer("Upsampling2D", json!({"size": [2, 3], "format": fmt})),
            &input,
        );
        check(&got, &back(r::upsample(&x, [2, 3])), "upsampling");
    }
    // 1.0.0-alpha wrote one int for both axes.
    let got = run_one(
        layer("Upsampling2D", json!({"size": 2})),
        &x.clone().into_dyn(),
    );
    check(&got, &r::upsample(&x, [2, 2]), "upsampling single size");
}

#[test]
fn space_to_depth_dcr_order() {
    let x = rand4((2, 3, 4, 6), 61);
    let got = run_one(
        layer(
            "SpaceToDepthLayer",
            json!({"blockSize": 2, "dataFormat": "NCHW"}),
        ),
        &x.clone().into_dyn(),
    );
    check(&got, &r::space_to_depth(&x, 2), "space to depth");
    let got = run_one(
        layer(
            "SpaceToDepthLayer",
            json!({"blockSize": 2, "dataFormat": "NHWC"}),
        ),
        &nhwc(&x),
    );
    check(
        &got,
        &r::nchw_to_nhwc(&r::space_to_depth(&x, 2)),
        "space to depth NHWC",
    );
}

#[test]
fn local_response_normalization_alpha_not_divided() {
    let x = rand4((2, 7, 3, 4), 71);
    for (n, k, alpha, beta) in [
        (5.0, 2.0, 1e-4, 0.75),
        (3.0, 1.0, 0.5, 0.6),
        (4.0, 0.5, 0.2, 1.0),
    ] {
        let fields = json!({"n": n, "k": k, "alpha": alpha, "beta": beta});
        let got = run_one(
            layer("LocalResponseNormalization", fields),
            &x.clone().into_dyn(),
        );
        // ONNX LRN attributes are float32: alpha·size and beta are rounded to f32.
        let want = r::lrn(&x, n, k, alpha, beta);
        assert_eq!(got.shape(), want.shape());
        assert_close(&got, &want.into_dyn(), RTOL, ATOL, &format!("lrn n={n}"));
    }
}

#[test]
fn cnn_loss_layer_softmax_over_channels() {
    let x = rand4((2, 4, 3, 5), 81);
    let act = json!({"@class": "org.nd4j.linalg.activations.impl.ActivationSoftmax"});
    let got = run_one(
        layer(
            "CnnLossLayer",
            json!({"activationFn": act, "format": "NCHW"}),
        ),
        &x.clone().into_dyn(),
    );
    let e = x.mapv(f64::exp);
    let want = &e / &e.sum_axis(Axis(1)).insert_axis(Axis(1));
    check(&got, &want, "cnn loss softmax");
}

/// BatchNormalization in DL4J's flat order: gamma, beta (unless locked), mean, var|log10stdev.
fn bn_model(c: usize, log_std: bool, lock: Option<(f64, f64)>) -> (Archive, Vec<[Vec<f64>; 4]>) {
    let (gamma, beta) = (random(c, 91), random(c, 92));
    let mean = random(c, 93);
    let var: Vec<f64> = random(c, 94).iter().map(|v| v * v + 0.1).collect();
    let mut params = Vec::new();
    let mut vars = Vec::new();
    if lock.is_none() {
        params.extend(&gamma);
        params.extend(&beta);
        vars.extend(["gamma", "beta"]);
    }
    params.extend(&mean);
    if log_std {
        params.extend(var.iter().map(|v| v.sqrt().log10()));
        vars.extend(["mean", "log10stdev"]);
    } else {
        params.extend(&var);
        vars.extend(["mean", "var"]);
    }
    let mut fields = json!({"nin": c, "nout": c, "eps": 1e-3, "activationFn":
        {"@class": "org.nd4j.linalg.activations.impl.ActivationReLU"}});
    if let Some((g, b)) = lock {
        fields = merge(
            fields,
            json!({"lockGammaBeta": true, "gamma": g, "beta": b}),
        );
    }
    let (g, b) = match lock {
        // DL4J applies locked constants only when gamma != 1 and beta != 0.
        Some((g, b)) if g != 1.0 && b != 0.0 => (vec![g; c], vec![b; c]),
        Some(_) => (vec![1.0; c], vec![0.0; c]),
        None => (gamma, beta),
    };
    (
        model(vec![(layer("BatchNormalization", fields), vars)], params),
        vec![[g, b, mean, var]],
    )
}

fn bn_ref(v: f64, c: usize, p: &[Vec<f64>; 4]) -> f64 {
    let [g, b, m, var] = p;
    g[c] * (v - m[c]) / (var[c] + 1e-3).sqrt() + b[c]
}

/// `bn` behind a parameterless first layer that fixes the input layout (a first
/// BatchNormalization alone reads `[batch, nIn]`).
fn behind(bn: &Archive, first: Value) -> Archive {
    let bn_layer = bn.config.value()["confs"][0].clone();
    let confs = json!({"confs": [{"layer": first, "variables": []}, bn_layer]});
    Archive {
        config: dl4j::Configuration::parse(serde_json::to_string(&confs).unwrap()).unwrap(),
        ..bn.clone()
    }
}

#[test]
fn batch_normalization_var_logstd_layouts_and_lock() {
    let c = 3;
    let nchw = layer("ZeroPaddingLayer", json!({"padding": [0, 0, 0, 0]}));
    for (log_std, lock) in [
        (false, None),
        (true, None),
        (false, Some((2.0, 0.5))),
        (true, Some((2.0, 0.0))),
    ] {
        let (bn, p) = bn_model(c, log_std, lock);
        let p = &p[0];
        let what = format!("bn log_std={log_std} lock={lock:?}");
        // No activation even though the layer names ReLU.
        let x = rand4((2, c, 3, 4), 95);
        let got = run_model(&behind(&bn, nchw.clone()), &x.clone().into_dyn());
        let want = Array4::from_shape_fn(x.dim(), |(n, ch, i, j)| bn_ref(x[[n, ch, i, j]], ch, p));
        check(&got, &want, &what);
    }
    // Feed-forward (BN first), NHWC and RNN inputs.
    let (bn, p) = bn_model(c, true, None);
    let p = &p[0];
    let x = rand4((2, c, 3, 4), 96);
    let a = behind(
        &bn,
        layer(
            "ZeroPaddingLayer",
            json!({"padding": [0, 0, 0, 0], "dataFormat": "NHWC"}),
        ),
    );
    let xl = r::nchw_to_nhwc(&x);
    let want = Array4::from_shape_fn(xl.dim(), |(n, i, j, ch)| bn_ref(xl[[n, i, j, ch]], ch, p));
    check(&run_model(&a, &xl.into_dyn()), &want, "bn NHWC");
    let a = behind(&bn, layer("Cropping1D", json!({"cropping": [0, 0]})));
    let x3 = Array3::from_shape_vec((2, c, 5), random(2 * c * 5, 97)).unwrap();
    let want = Array3::from_shape_fn(x3.dim(), |(n, ch, t)| bn_ref(x3[[n, ch, t]], ch, p));
    let got = run_model(&a, &x3.into_dyn());
    assert_close(&got, &want.into_dyn(), RTOL, ATOL, "bn RNN");
    let x2 = Array2::from_shape_vec((4, c), random(4 * c, 98)).unwrap();
    let want = Array2::from_shape_fn(x2.dim(), |(n, ch)| bn_ref(x2[[n, ch]], ch, p));
    let got = run_model(&bn, &x2.into_dyn());
    assert_close(&got, &want.into_dyn(), RTOL, ATOL, "bn FF");
}

/// `x` `[b, C, T]` as `[b, C, T, 1]` and back: 1-D layers are the 2-D math on a width of 1.
fn as4(x: &Array3<f64>) -> Array4<f64> {
    x.clone().insert_axis(Axis(3))
}

fn rand3(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    Array3::from_shape_vec(shape, random(shape.0 * shape.1 * shape.2, seed)).unwrap()
}

fn check3(got: &ArrayD<f64>, want4: &Array4<f64>, what: &str) {
    let want = want4.index_axis(Axis(3), 0).to_owned().into_dyn();
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_close(got, &want, RTOL, ATOL, what);
}

/// DL4J 1-D arrays: `[k, 1]` style, the second entry acting on a dummy axis.
fn win1_json(k: usize, s: usize, p: usize, d: usize, mode: Mode) -> Value {
    json!({"kernelSize": [k, 1], "stride": [s, 1], "padding": [p, 0], "dilation": [d, 1],
           "convolutionMode": mode_name(mode)})
}

#[test]
fn convolution_1d_truncate_same_causal() {
    let (c, n_out, t) = (3, 4, 10);
    for (k, s, p, d, mode) in [
        (3, 2, 1, 1, Mode::Truncate),
        (4, 3, 0, 1, Mode::Same),
        (3, 1, 0, 2, Mode::Causal),
        (2, 2, 0, 3, Mode::Causal),
    ] {
        let wt = Array4::from_shape_vec((n_out, c, k, 1), random(n_out * c * k, 101)).unwrap();
        let bias = Array1::from(random(n_out, 102));
        let mut params = bias.to_vec();
        params.extend(wt.iter());
        let fields = merge(
            win1_json(k, s, p, d, mode),
            json!({"nin": c, "nout": n_out, "activationFn": identity()}),
        );
        let a = model(
            vec![(layer("Convolution1DLayer", fields), vec!["W", "b"])],
            params,
        );
        let x = rand3((2, c, t), 103);
        let win = Win::new([k, 1], [s, 1], [p, 0], [d, 1], mode);
        let want = r::conv2d(&as4(&x), wt.view(), Some(&bias), &win, 1);
        check3(
            &run_model(&a, &x.into_dyn()),
            &want,
            &format!("conv1d {mode:?} k={k} s={s} d={d}"),
        );
    }
}

#[test]
fn subsampling_upsampling_padding_cropping_1d() {
    let x = rand3((2, 3, 9), 111);
    let x4 = as4(&x);
    for (k, s, p, mode) in [(3, 2, 1, Mode::Truncate), (2, 2, 0, Mode::Same)] {
        for kind in [
            Pool::Max,
            Pool::Avg { include_pad: false },
            Pool::Pnorm(2.0),
        ] {
            let fields = merge(win1_json(k, s, p, 1, mode), pool_json(kind));
            let got = run_one(layer("Subsampling1DLayer", fields), &x.clone().into_dyn());
            let win = Win::new([k, 1], [s, 1], [p, 0], [1, 1], mode);
            check3(
                &got,
                &r::pool2d(&x4, &win, kind),
                &format!("pool1d {kind:?} {mode:?}"),
            );
        }
    }
    let got = run_one(
        layer("Upsampling1D", json!({"size": [3]})),
        &x.clone().into_dyn(),
    );
    check3(&got, &r::upsample(&x4, [3, 1]), "upsampling1d");
    let got = run_one(
        layer("ZeroPadding1DLayer", json!({"padding": [2, 1]})),
        &x.clone().into_dyn(),
    );
    check3(&got, &r::zero_pad(&x4, [2, 1, 0, 0]), "zero padding 1d");
    let got = run_one(
        layer("Cropping1D", json!({"cropping": [1, 3]})),
        &x.clone().into_dyn(),
    );
    check3(&got, &r::crop(&x4, [1, 3, 0, 0]), "cropping 1d");
}

#[test]
fn deconvolution_2d_truncate_and_same() {
    let (c, n_out) = (3, 2);
    for win in [
        Win::new([3, 2], [2, 1], [1, 0], [1, 1], Mode::Truncate),
        Win::new([3, 4], [2, 2], [0, 0], [1, 1], Mode::Same),
        Win::new([2, 3], [1, 2], [0, 0], [2, 1], Mode::Same),
    ] {
        let (kh, kw) = (win.k[0], win.k[1]);
        // DL4J W [nIn, nOut, kH, kW].
        let wt =
            Array4::from_shape_vec((c, n_out, kh, kw), random(c * n_out * kh * kw, 121)).unwrap();
        let bias = Array1::from(random(n_out, 122));
        let mut params = bias.to_vec();
        params.extend(wt.iter());
        let fields = merge(
            win_json(&win),
            json!({"nin": c, "nout": n_out, "activationFn": identity()}),
        );
        let a = model(
            vec![(layer("Deconvolution2D", fields), vec!["W", "b"])],
            params,
        );
        let (h, w) = (5, 4);
        let x = rand4((2, c, h, w), 123);
        // Output size and begin crop (spec §9.20).
        let geo = |a: usize, n: usize| {
            let ek = win.k[a] + (win.k[a] - 1) * (win.d[a] - 1);
            match win.mode {
                Mode::Same => (win.s[a] * n, (ek - win.s[a]) / 2),
                _ => (win.s[a] * (n - 1) + ek - 2 * win.p[a], win.p[a]),
            }
        };
        let ((oh, pt), (ow, pl)) = (geo(0, h), geo(1, w));
        let want = r::deconv2d(&x, &wt, &bias, &win, (pt, pl), (oh, ow));
        check(
            &run_model(&a, &x.into_dyn()),
            &want,
            &format!("deconv {win:?}"),
        );
    }
}

#[test]
fn global_pooling_types_axes_and_collapse() {
    let x = rand4((2, 3, 4, 5), 131);
    let pool = |v: &[f64], kind: &str, p: f64| -> f64 {
        match kind {
            "MAX" => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            "AVG" => v.iter().sum::<f64>() / v.len() as f64,
            "SUM" => v.iter().sum(),
            _ => v.iter().map(|x| x.abs().powf(p)).sum::<f64>().powf(1.0 / p),
        }
    };
    for (kind, p) in [("MAX", 2.0), ("AVG", 2.0), ("SUM", 2.0), ("PNORM", 3.0)] {
        let want2 = Array2::from_shape_fn((2, 3), |(n, c)| {
            let v: Vec<f64> = x.slice(ndarray::s![n, c, .., ..]).iter().copied().collect();
            pool(&v, kind, p)
        });
        for collapse in [true, false] {
            let fields = json!({"poolingType": kind, "pnorm": p as i64,
                                "collapseDimensions": collapse});
            // CNN NCHW (behind a layout-fixing layer), default axes [2, 3].
            let first = layer("ZeroPaddingLayer", json!({"padding": [0, 0, 0, 0]}));
            let a = model(
                vec![
                    (first, vec![]),
                    (layer("GlobalPoolingLayer", fields.clone()), vec![]),
                ],
                vec![],
            );
            let got = run_opsets(&a, &x.clone().into_dyn());
            let want = if collapse {
                want2.clone().into_dyn()
            } else {
                want2
                    .clone()
                    .into_shape_with_order((2, 3, 1, 1))
                    .unwrap()
                    .into_dyn()
            };
            assert_close(
                &got,
                &want,
                RTOL,
                ATOL,
                &format!("global {kind} NCHW {collapse}"),
            );
            assert_eq!(got.shape(), want.shape());
            // NHWC with explicit dims [1, 2].
            let first = layer(
                "ZeroPaddingLayer",
                json!({"padding": [0, 0, 0, 0], "dataFormat": "NHWC"}),
            );
            let f = merge(fields.clone(), json!({"poolingDimensions": [1, 2]}));
            let a = model(
                vec![(first, vec![]), (layer("GlobalPoolingLayer", f), vec![])],
                vec![],
            );
            let got = run_opsets(&a, &nhwc(&x));
            let want = if collapse {
                want2.clone().into_dyn()
            } else {
                want2
                    .clone()
                    .into_shape_with_order((2, 1, 1, 3))
                    .unwrap()
                    .into_dyn()
            };
            assert_close(
                &got,
                &want,
                RTOL,
                ATOL,
                &format!("global {kind} NHWC {collapse}"),
            );
            // RNN [b, C, T]: over time (axis 2).
            let x3 = x.index_axis(Axis(3), 0).to_owned();
            let first = layer("Cropping1D", json!({"cropping": [0, 0]}));
            let a = model(
                vec![
                    (first, vec![]),
                    (layer("GlobalPoolingLayer", fields), vec![]),
                ],
                vec![],
            );
            let got = run_opsets(&a, &x3.clone().into_dyn());
            let w = Array2::from_shape_fn((2, 3), |(n, c)| {
                let v: Vec<f64> = x3.slice(ndarray::s![n, c, ..]).iter().copied().collect();
                pool(&v, kind, p)
            });
            let want = if collapse {
                w.into_dyn()
            } else {
                w.insert_axis(Axis(2)).into_dyn()
            };
            assert_close(
                &got,
                &want,
                RTOL,
                ATOL,
                &format!("global {kind} RNN {collapse}"),
            );
        }
    }
}

#[test]
fn convolution_3d_subsampling_3d_max_and_cnn3d_loss() {
    use ndarray::Array5;
    let (c, n_out) = (2, 3);
    let x = Array5::from_shape_vec((2, c, 5, 4, 7), random(2 * c * 5 * 4 * 7, 141)).unwrap();
    let to_last = |a: &Array5<f64>| {
        a.view()
            .permuted_axes([0, 2, 3, 4, 1])
            .to_owned()
            .into_dyn()
    };
    for (k, s, p, same, last) in [
        ([3, 2, 3], [2, 1, 2], [1, 0, 1], false, false),
        ([2, 3, 2], [2, 2, 3], [0, 0, 0], true, false),
        ([3, 3, 2], [2, 1, 2], [0, 0, 0], true, true),
    ] {
        let mode = if same { "Same" } else { "Truncate" };
        let fmt = if last { "NDHWC" } else { "NCDHW" };
        let wn = n_out * c * k.iter().product::<usize>();
        let wt = Array5::from_shape_vec((n_out, c, k[0], k[1], k[2]), random(wn, 142)).unwrap();
        let bias = Array1::from(random(n_out, 143));
        let mut params = bias.to_vec();
        params.extend(wt.iter());
        let win = json!({"kernelSize": k, "stride": s, "padding": p, "dilation": [1, 1, 1],
                         "convolutionMode": mode, "dataFormat": fmt});
        let conv = merge(
            win.clone(),
            json!({"nin": c, "nout": n_out, "activationFn": identity()}),
        );
        let a = model(vec![(layer("Convolution3D", conv), vec!["W", "b"])], params);
        let want = r::conv_or_max3d(&x, Some((&wt, &bias)), k, s, p, same);
        let (input, want) = if last {
            (to_last(&x), to_last(&want))
        } else {
            (x.clone().into_dyn(), want.into_dyn())
        };
        let got = run_opsets(&a, &input);
        assert_eq!(got.shape(), want.shape());
        assert_close(
            &got,
            &want,
            RTOL,
            ATOL,
            &format!("conv3d {k:?} {mode} {fmt}"),
        );
        let pool = merge(win, json!({"poolingType": "MAX"}));
        let got = run_one(layer("Subsampling3DLayer", pool), &input);
        let want = r::conv_or_max3d(&x, None, k, s, p, same);
        let want = if last {
            to_last(&want)
        } else {
            want.into_dyn()
        };
        assert_eq!(got.shape(), want.shape());
        assert_close(
            &got,
            &want,
            RTOL,
            ATOL,
            &format!("maxpool3d {k:?} {mode} {fmt}"),
        );
    }
    // PNORM is not a 3-D pooling type in DL4J: refused.
    let pool = json!({"kernelSize": [2, 2, 2], "stride": [1, 1, 1], "poolingType": "PNORM",
                      "pnorm": 2});
    let a = model(vec![(layer("Subsampling3DLayer", pool), vec![])], vec![]);
    let e = dl4j::dl4j_onnx::to_onnx(&a, 17).unwrap_err().to_string();
    assert!(e.contains("only MAX and AVG"), "{e}");
    // Cnn3DLossLayer: softmax over channels.
    let act = json!({"@class": "org.nd4j.linalg.activations.impl.ActivationSoftmax"});
    let got = run_one(
        layer(
            "Cnn3DLossLayer",
            json!({"activationFn": act, "dataFormat": "NCDHW"}),
        ),
        &x.clone().into_dyn(),
    );
    let e = x.mapv(f64::exp);
    let want = &e / &e.sum_axis(Axis(1)).insert_axis(Axis(1));
    assert_close(&got, &want.into_dyn(), RTOL, ATOL, "cnn3d loss softmax");
}

#[test]
fn convolution_without_bias_applies_activation() {
    let (c, n_out) = (2, 3);
    let win = Win::new([2, 2], [1, 1], [0, 0], [1, 1], Mode::Truncate);
    let wt = Array4::from_shape_vec((n_out, c, 2, 2), random(n_out * c * 4, 151)).unwrap();
    let fields = merge(
        win_json(&win),
        json!({"nin": c, "nout": n_out, "hasBias": false, "activationFn":
               {"@class": "org.nd4j.linalg.activations.impl.ActivationTanH"}}),
    );
    let a = model(
        vec![(layer("ConvolutionLayer", fields), vec!["W"])],
        wt.iter().copied().collect(),
    );
    let x = rand4((2, c, 4, 5), 152);
    let want = r::conv2d(&x, wt.view(), None, &win, 1).mapv(f64::tanh);
    check(&run_model(&a, &x.into_dyn()), &want, "conv no bias tanh");
}

#[test]
fn deconvolution_2d_nhwc() {
    let (c, n_out) = (2, 3);
    let win = Win::new([3, 3], [2, 2], [0, 0], [1, 1], Mode::Same);
    let wt = Array4::from_shape_vec((c, n_out, 3, 3), random(c * n_out * 9, 161)).unwrap();
    let bias = Array1::from(random(n_out, 162));
    let mut params = bias.to_vec();
    params.extend(wt.iter());
    let fields = merge(
        win_json(&win),
        json!({"nin": c, "nout": n_out, "activationFn": identity(), "cnn2dDataFormat": "NHWC"}),
    );
    let a = model(
        vec![(layer("Deconvolution2D", fields), vec!["W", "b"])],
        params,
    );
    let x = rand4((1, c, 3, 4), 163);
    // Same: output s·in, begin crop ⌊(k - s)/2⌋ = 0, the odd one at the end.
    let want = r::deconv2d(&x, &wt, &bias, &win, (0, 0), (6, 8));
    check(
        &run_model(&a, &nhwc(&x)),
        &r::nchw_to_nhwc(&want),
        "deconv NHWC",
    );
}

#[test]
fn subsampling_3d_avg_excludes_padding_same_and_dilated() {
    use ndarray::Array5;
    let x = Array5::from_shape_vec((2, 2, 5, 6, 7), random(2 * 2 * 5 * 6 * 7, 171)).unwrap();
    let to_last = |a: &Array5<f64>| {
        a.view()
            .permuted_axes([0, 2, 3, 4, 1])
            .to_owned()
            .into_dyn()
    };
    type Case = (
        &'static str,
        [usize; 3],
        [usize; 3],
        [usize; 3],
        [usize; 3],
        bool,
        bool,
    );
    let cases: [Case; 9] = [
        // (kind, kernel, stride, padding, dilation, Same, NDHWC)
        (
            "AVG",
            [3, 2, 3],
            [2, 1, 2],
            [1, 1, 1],
            [1, 1, 1],
            false,
            false,
        ),
        (
            "AVG",
            [3, 2, 3],
            [2, 1, 2],
            [1, 1, 1],
            [1, 1, 1],
            false,
            true,
        ),
        // Same with odd totals on every axis (1, 1, 1) and (2, 1, 1).
        (
            "AVG",
            [2, 3, 2],
            [1, 2, 3],
            [0, 0, 0],
            [1, 1, 1],
            true,
            true,
        ),
        (
            "AVG",
            [3, 3, 2],
            [2, 2, 1],
            [0, 0, 0],
            [1, 1, 1],
            true,
            false,
        ),
        // Dilated: Truncate with padding, Same (totals 2, 4, 1).
        (
            "AVG",
            [2, 2, 2],
            [1, 2, 1],
            [1, 0, 1],
            [2, 1, 2],
            false,
            false,
        ),
        (
            "AVG",
            [2, 3, 2],
            [2, 1, 2],
            [0, 0, 0],
            [2, 2, 1],
            true,
            true,
        ),
        (
            "MAX",
            [2, 2, 2],
            [1, 1, 2],
            [0, 0, 0],
            [2, 1, 3],
            true,
            false,
        ),
        // Same with eK < s: totals -4, -2, 1, so libnd4j's truncated begin pads are -2, -1, 0
        // (windows start past o·s), where ONNX auto_pad would clamp to 0.
        (
            "AVG",
            [1, 1, 2],
            [5, 3, 3],
            [0, 0, 0],
            [1, 1, 1],
            true,
            false,
        ),
        (
            "MAX",
            [1, 1, 2],
            [5, 3, 3],
            [0, 0, 0],
            [1, 1, 1],
            true,
            true,
        ),
    ];
    for (kind, k, s, p, d, same, last) in cases {
        let mode = if same { "Same" } else { "Truncate" };
        let fmt = if last { "NDHWC" } else { "NCDHW" };
        let pool = json!({"kernelSize": k, "stride": s, "padding": p, "dilation": d,
                          "convolutionMode": mode, "dataFormat": fmt, "poolingType": kind});
        let a = model(vec![(layer("Subsampling3DLayer", pool), vec![])], vec![]);
        let want = r::pool3d(&x, kind == "AVG", k, s, p, d, same);
        let (input, want_d) = if last {
            (to_last(&x), to_last(&want))
        } else {
            (x.clone().into_dyn(), want.clone().into_dyn())
        };
        let got = run_opsets(&a, &input);
        let what = format!("{kind} pool3d k{k:?} s{s:?} p{p:?} d{d:?} {mode} {fmt}");
        assert_eq!(got.shape(), want_d.shape(), "{what}: shape");
        assert_close(&got, &want_d, RTOL, ATOL, &what);
        if kind == "AVG" && !same && d == [1, 1, 1] {
            // Corner window: depth rows {0, 1}, height row 0, width columns {0, 1} in bounds
            // (4 of 18 taps); DL4J divides by 4, not 18.
            let mut sum = 0.0;
            for i in 0..2 {
                for l in 0..2 {
                    sum += x[[0, 1, i, 0, l]];
                }
            }
            let corner = if last {
                got[[0, 0, 0, 0, 1]]
            } else {
                got[[0, 1, 0, 0, 0]]
            };
            assert!((corner - sum / 4.0).abs() < ATOL, "{what}: corner {corner}");
        }
    }
}

#[test]
fn deconvolution_2d_same_stride_above_kernel() {
    let (c, n_out) = (2, 3);
    // (kernel, stride, dilation, NHWC): t = eK - s per axis is -2/-1, -2/0, -2/-2, 1/-3, 1/1.
    let cases = [
        ([1, 2], [3, 3], [1, 1], false),
        ([2, 2], [4, 2], [1, 1], true),
        ([2, 1], [5, 3], [2, 1], false),
        ([3, 1], [2, 4], [1, 1], false),
        ([3, 3], [2, 2], [1, 1], false),
    ];
    for (k, s, d, last) in cases {
        let win = Win::new(k, s, [0, 0], d, Mode::Same);
        let wt =
            Array4::from_shape_vec((c, n_out, k[0], k[1]), random(c * n_out * k[0] * k[1], 181))
                .unwrap();
        let bias = Array1::from(random(n_out, 182));
        let mut params = bias.to_vec();
        params.extend(wt.iter());
        let mut fields = merge(
            win_json(&win),
            json!({"nin": c, "nout": n_out, "activationFn": identity()}),
        );
        if last {
            fields = merge(fields, json!({"cnn2dDataFormat": "NHWC"}));
        }
        let a = model(
            vec![(layer("Deconvolution2D", fields), vec!["W", "b"])],
            params,
        );
        let (h, w) = (3, 4);
        let x = rand4((2, c, h, w), 183);
        let want = r::deconv2d_same(&x, &wt, &bias, &win);
        assert_eq!(want.dim(), (2, n_out, s[0] * h, s[1] * w));
        let what = format!("deconv Same k{k:?} s{s:?} d{d:?} nhwc={last}");
        let (input, want) = if last {
            (nhwc(&x), r::nchw_to_nhwc(&want))
        } else {
            (x.clone().into_dyn(), want)
        };
        let got = run_opsets(&a, &input);
        check(&got, &want, &what);
        if !last && k == [1, 2] {
            // t = -2 on the height: libnd4j shifts the taps down by one, so row 0 is the bias
            // only and input row i lands on row 3·i + 1.
            for o in 0..n_out {
                assert!((got[[0, o, 0, 0]] - bias[o]).abs() < ATOL);
            }
        }
    }
}

/// DL4J's Same-mode geometry along one axis: `out = ⌈n/s⌉` and the begin pad
/// `((out-1)·s + eK - n) / 2` with Java / C++ integer division (truncation toward zero), not
/// clamped: negative means the windows start that far past `o·s`. Rust's `/` on `i64` truncates
/// the same way.
fn dl4j_same(n: usize, k: usize, s: usize, d: usize) -> (usize, i64) {
    let out = n.div_ceil(s);
    let ek = (k + (k - 1) * (d - 1)) as i64;
    let total = (out as i64 - 1) * s as i64 + ek - n as i64;
    (out, total / 2)
}

/// In-bounds taps `(r, c, u, v)` of output `(i, j)` under DL4J's Same windows (begin pads may be
/// negative).
fn dl4j_taps(
    (h, w): (usize, usize),
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
    (pt, pl): (i64, i64),
    (i, j): (usize, usize),
) -> Vec<(usize, usize, usize, usize)> {
    let mut v = Vec::new();
    for u in 0..k[0] {
        for q in 0..k[1] {
            let r = (i * s[0] + u * d[0]) as i64 - pt;
            let c = (j * s[1] + q * d[1]) as i64 - pl;
            if r >= 0 && c >= 0 && (r as usize) < h && (c as usize) < w {
                v.push((r as usize, c as usize, u, q));
            }
        }
    }
    v
}

/// DL4J Same-mode grouped convolution (w `[O, C/g, kH, kW]`) with the unclamped begin pads.
fn dl4j_same_conv(
    x: &Array4<f64>,
    w: &Array4<f64>,
    b: &Array1<f64>,
    k: [usize; 2],
    s: [usize; 2],
    groups: usize,
) -> Array4<f64> {
    let (mb, ch, h, wd) = x.dim();
    let o_n = w.dim().0;
    let (oh, pt) = dl4j_same(h, k[0], s[0], 1);
    let (ow, pl) = dl4j_same(wd, k[1], s[1], 1);
    let (og, cg) = (o_n / groups, ch / groups);
    Array4::from_shape_fn((mb, o_n, oh, ow), |(n, o, i, j)| {
        let g = o / og;
        let mut acc = b[o];
        for (r, c, u, v) in dl4j_taps((h, wd), k, s, [1, 1], (pt, pl), (i, j)) {
            for ci in 0..cg {
                acc += w[[o, ci, u, v]] * x[[n, g * cg + ci, r, c]];
            }
        }
        acc
    })
}

/// DL4J Same-mode pooling with the unclamped begin pads (AVG divides by `kH·kW` or the in-bounds
/// count).
fn dl4j_same_pool(x: &Array4<f64>, k: [usize; 2], s: [usize; 2], kind: Pool) -> Array4<f64> {
    let (mb, ch, h, w) = x.dim();
    let (oh, pt) = dl4j_same(h, k[0], s[0], 1);
    let (ow, pl) = dl4j_same(w, k[1], s[1], 1);
    Array4::from_shape_fn((mb, ch, oh, ow), |(n, c, i, j)| {
        let vals: Vec<f64> = dl4j_taps((h, w), k, s, [1, 1], (pt, pl), (i, j))
            .into_iter()
            .map(|(r, q, _, _)| x[[n, c, r, q]])
            .collect();
        match kind {
            Pool::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Pool::Avg { include_pad } => {
                let div = if include_pad {
                    (k[0] * k[1]) as f64
                } else {
                    vals.len() as f64
                };
                vals.iter().sum::<f64>() / div
            }
            Pool::Pnorm(p) => vals
                .iter()
                .map(|v| v.abs().powf(p))
                .sum::<f64>()
                .powf(1.0 / p),
        }
    })
}

fn max_err(got: &ArrayD<f64>, want: &ArrayD<f64>) -> f64 {
    got.iter()
        .zip(want.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// 2-D Same mode with the kernel below the stride (k 1 or 2, stride 3), odd input sizes whose
/// totals are 1 (odd: the extra at the end), 0 and -1 (truncated begin pad 0). Totals of -2 or
/// less make DL4J's `ConvolutionUtils.getSameModeTopLeftPadding` throw ("Invalid padding values
/// calculated") for ConvolutionLayer, Depthwise, Separable and SubsamplingLayer, so only sizes
/// DL4J accepts are exported here; the begin pads are checked to be DL4J-valid.
#[test]
fn same_mode_kernel_below_stride_2d_matches_dl4j() {
    let mut worst = 0.0f64;
    // (kernel, input h, w): H totals 1 / 0, W totals -1 / 1 / 0.
    let cases = [
        ([2, 1], (7, 8)),
        ([1, 2], (7, 9)),
        ([2, 2], (9, 7)),
        ([2, 2], (11, 8)),
    ];
    let s = [3, 3];
    for (k, (h, w)) in cases {
        for axis in [(h, k[0]), (w, k[1])] {
            let (_, begin) = dl4j_same(axis.0, axis.1, 3, 1);
            assert!(begin >= 0, "case k={k:?} in=({h},{w}) is rejected by DL4J");
        }
        let win = Win::new(k, s, [0, 0], [1, 1], Mode::Same);
        for channels_last in [false, true] {
            let fmt = json!({"cnn2dDataFormat": if channels_last {"NHWC"} else {"NCHW"}});
            let x = rand4((2, 3, h, w), 201 + h as u64 * 31 + w as u64);
            let input = if channels_last {
                nhwc(&x)
            } else {
                x.clone().into_dyn()
            };
            let mut compare = |got: ArrayD<f64>, want: Array4<f64>, what: String| {
                let want = if channels_last {
                    r::nchw_to_nhwc(&want)
                } else {
                    want
                };
                let want = want.into_dyn();
                assert_eq!(got.shape(), want.shape(), "{what}: shape");
                assert_close(&got, &want, RTOL, ATOL, &what);
                worst = worst.max(max_err(&got, &want));
            };
            // Pooling.
            for kind in [
                Pool::Max,
                Pool::Avg { include_pad: true },
                Pool::Avg { include_pad: false },
                Pool::Pnorm(2.0),
            ] {
                let fields = merge(merge(win_json(&win), pool_json(kind)), fmt.clone());
                let got = run_one(layer("SubsamplingLayer", fields), &input);
                let what = format!("pool {kind:?} k={k:?} in=({h},{w}) nhwc={channels_last}");
                compare(got, dl4j_same_pool(&x, k, s, kind), what);
            }
            // ConvolutionLayer.
            let (c, n_out) = (3, 2);
            let wt = Array4::from_shape_vec(
                (n_out, c, k[0], k[1]),
                random(n_out * c * k[0] * k[1], 202),
            )
            .unwrap();
            let bias = Array1::from(random(n_out, 203));
            let mut params = bias.to_vec();
            params.extend(wt.iter());
            let fields = merge(
                merge(win_json(&win), fmt.clone()),
                json!({"nin": c, "nout": n_out, "activationFn": identity()}),
            );
            let a = model(
                vec![(layer("ConvolutionLayer", fields), vec!["W", "b"])],
                params,
            );
            let what = format!("conv k={k:?} in=({h},{w}) nhwc={channels_last}");
            compare(
                run_model(&a, &input),
                dl4j_same_conv(&x, &wt, &bias, k, s, 1),
                what,
            );
            // DepthwiseConvolution2D, W [kH, kW, nIn, m].
            let m = 2;
            let wd = Array4::from_shape_vec((k[0], k[1], c, m), random(k[0] * k[1] * c * m, 204))
                .unwrap();
            let bias = Array1::from(random(c * m, 205));
            let mut params = bias.to_vec();
            params.extend(wd.iter());
            let fields = merge(
                merge(win_json(&win), fmt.clone()),
                json!({"nin": c, "nout": c * m, "depthMultiplier": m,
                       "activationFn": identity()}),
            );
            let a = model(
                vec![(layer("DepthwiseConvolution2D", fields), vec!["W", "b"])],
                params,
            );
            let wg = wd
                .view()
                .permuted_axes([2, 3, 0, 1])
                .as_standard_layout()
                .to_owned()
                .into_shape_with_order((c * m, 1, k[0], k[1]))
                .unwrap();
            let what = format!("depthwise k={k:?} in=({h},{w}) nhwc={channels_last}");
            compare(
                run_model(&a, &input),
                dl4j_same_conv(&x, &wg, &bias, k, s, c),
                what,
            );
            // SeparableConvolution2D: depthwise W [m, nIn, kH, kW] without bias, then 1×1 pW.
            let ws = Array4::from_shape_vec((m, c, k[0], k[1]), random(m * c * k[0] * k[1], 206))
                .unwrap();
            let pw =
                Array4::from_shape_vec((n_out, c * m, 1, 1), random(n_out * c * m, 207)).unwrap();
            let bias = Array1::from(random(n_out, 208));
            let mut params = bias.to_vec();
            params.extend(ws.iter());
            params.extend(pw.iter());
            let fields = merge(
                merge(win_json(&win), fmt.clone()),
                json!({"nin": c, "nout": n_out, "depthMultiplier": m,
                       "activationFn": identity()}),
            );
            let a = model(
                vec![(
                    layer("SeparableConvolution2D", fields),
                    vec!["W", "pW", "b"],
                )],
                params,
            );
            let wg = ws
                .view()
                .permuted_axes([1, 0, 2, 3])
                .as_standard_layout()
                .to_owned()
                .into_shape_with_order((c * m, 1, k[0], k[1]))
                .unwrap();
            let mid = dl4j_same_conv(&x, &wg, &Array1::zeros(c * m), k, s, c);
            let point = Win::new([1, 1], [1, 1], [0, 0], [1, 1], Mode::Truncate);
            let want = r::conv2d(&mid, pw.view(), Some(&bias), &point, 1);
            let what = format!("separable k={k:?} in=({h},{w}) nhwc={channels_last}");
            compare(run_model(&a, &input), want, what);
        }
    }
    eprintln!("same_mode_kernel_below_stride_2d_matches_dl4j: max abs error {worst:e}");
}

/// Convolution1DLayer runs libnd4j `conv1d` in Same mode (no Java padding check), whose begin
/// pad is not clamped: k 1 with stride 3 and T 9 has total -2, begin -1, so output `o` reads
/// input `3·o + 1`; stride 4 and T 16 has total -3, begin -1 (truncated toward zero), the other
/// 2 at the end. Also totals -1, 0 and 1 with k 2. NCW and NWC.
#[test]
fn convolution_1d_same_kernel_below_stride_matches_dl4j() {
    let (c, n_out) = (3, 2);
    let mut worst = 0.0f64;
    for (k, s, t) in [
        (1, 3, 9),
        (1, 3, 10),
        (1, 3, 11),
        (1, 4, 16),
        (1, 4, 15),
        (2, 3, 9),
        (2, 3, 7),
        (2, 3, 11),
    ] {
        let wt = Array4::from_shape_vec((n_out, c, k, 1), random(n_out * c * k, 211)).unwrap();
        let bias = Array1::from(random(n_out, 212));
        let mut params = bias.to_vec();
        params.extend(wt.iter());
        for channels_last in [false, true] {
            let fields = merge(
                win1_json(k, s, 0, 1, Mode::Same),
                json!({"nin": c, "nout": n_out, "activationFn": identity(),
                       "rnnDataFormat": if channels_last {"NWC"} else {"NCW"}}),
            );
            let a = model(
                vec![(layer("Convolution1DLayer", fields), vec!["W", "b"])],
                params.clone(),
            );
            let x = rand3((2, c, t), 213 + t as u64);
            // As 2-D on [b, C, T, 1] with a 1-wide dummy axis.
            let want4 = dl4j_same_conv(&as4(&x), &wt, &bias, [k, 1], [s, 1], 1);
            let want = want4.index_axis(Axis(3), 0).to_owned();
            let (input, want) = if channels_last {
                (
                    x.view().permuted_axes([0, 2, 1]).to_owned().into_dyn(),
                    want.view().permuted_axes([0, 2, 1]).to_owned().into_dyn(),
                )
            } else {
                (x.clone().into_dyn(), want.into_dyn())
            };
            let what = format!("conv1d Same k={k} s={s} T={t} nwc={channels_last}");
            let got = run_opsets(&a, &input);
            assert_eq!(got.shape(), want.shape(), "{what}: shape");
            assert_close(&got, &want, RTOL, ATOL, &what);
            worst = worst.max(max_err(&got, &want));
        }
    }
    eprintln!("convolution_1d_same_kernel_below_stride_matches_dl4j: max abs error {worst:e}");
}

/// Values in [-2, 2).
fn random(n: usize, seed: u64) -> Vec<f64> {
    uniform(n, seed, -2.0, 2.0)
}

/// An f64 MultiLayerNetwork.
fn model(layers: Vec<(Value, Vec<&str>)>, params: Vec<f64>) -> Archive {
    mln(layers, params, DType::F64)
}
