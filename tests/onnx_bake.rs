//! `dl4j convert --bake-normalizer`: the normalizer becomes the graph's first nodes. The baked
//! model on raw features must equal the plain export on features normalized the way DL4J does,
//! computed here in f64 from the normalizer's own arrays.

mod common;

use std::ffi::OsStr;

use common::onnx_run::{assert_close, run};
use common::{dl4j, fixture};
use dl4j::dl4j_onnx::{to_onnx, to_onnx_with, OnnxOptions, DEFAULT_OPSET};
use dl4j::{Archive, Normalizer};
use ndarray::{Array1, Array2, ArrayD, Axis};

/// ND4J's `Nd4j.EPS_THRESHOLD`, the floor DL4J puts under std and max - min.
const EPS: f64 = 1e-5;

fn open(rel: &str) -> Archive {
    dl4j::open(fixture(rel), None)
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .0
}

fn row(a: &dl4j::Nd4jArray) -> Array1<f64> {
    Array1::from(a.tensor.to_f64_vec())
}

/// Raw features well outside the normalized range: `rows x cols`, deterministic.
fn raw(rows: usize, cols: usize, scale: f64) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        let t = (r * cols + c) as f64;
        scale * ((t * 0.37).sin() * 2.0 + 0.1 * c as f64)
    })
}

/// DL4J's preProcess of 2-d features, in f64.
fn normalize(n: &Normalizer, x: &Array2<f64>) -> Array2<f64> {
    match n {
        Normalizer::Standardize { features, .. } => {
            let mean = row(&features.first);
            let std = row(&features.second).mapv(|s| s.max(EPS));
            (x - &mean.insert_axis(Axis(0))) / &std.insert_axis(Axis(0))
        }
        Normalizer::MinMax {
            target_min,
            target_max,
            features,
            ..
        } => {
            let lo = row(&features.first);
            let range = (&row(&features.second) - &lo).mapv(|r| r.max(EPS));
            (x - &lo.insert_axis(Axis(0))) / &range.insert_axis(Axis(0)) * (target_max - target_min)
                + *target_min
        }
        Normalizer::ImageMinMax {
            min_range,
            max_range,
            max_pixel_val,
        } => x / *max_pixel_val * (max_range - min_range) + *min_range,
        other => panic!("no reference for {}", other.type_name()),
    }
}

fn check(rel: &str, cols: usize, scale: f64) {
    let a = open(rel);
    let n = a.normalizer.as_ref().expect("fixture has a normalizer");
    let plain = to_onnx(&a, DEFAULT_OPSET).unwrap();
    let baked = to_onnx_with(
        &a,
        &OnnxOptions {
            opset: DEFAULT_OPSET,
            bake_normalizer: true,
        },
    )
    .unwrap_or_else(|e| panic!("{rel}: bake: {e}"));
    let x = raw(7, cols, scale);
    let xn = normalize(n, &x);
    // The baked graph really normalizes: the plain graph on raw features differs.
    let on_raw = run(&plain, a.dtype(), &x.clone().into_dyn());
    let got: ArrayD<f64> = run(&baked, a.dtype(), &x.into_dyn());
    let want = run(&plain, a.dtype(), &xn.into_dyn());
    assert_close(&got, &want, 1e-4, 1e-5, rel);
    let moved = (&on_raw - &want)
        .mapv(f64::abs)
        .fold(0.0f64, |m, &v| m.max(v));
    assert!(moved > 1e-3, "{rel}: normalizing changes nothing ({moved})");
    for opset in [13, 18, 21] {
        let b = to_onnx_with(
            &a,
            &OnnxOptions {
                opset,
                bake_normalizer: true,
            },
        )
        .unwrap();
        let x = raw(7, cols, scale);
        assert_close(&run(&b, a.dtype(), &x.into_dyn()), &want, 1e-4, 1e-5, rel);
    }
}

#[test]
fn iris_standardize_baked_equals_dl4j_normalized() {
    check("dl4j/augmented/iris_standardize_0.9.1.zip", 4, 3.0);
}

#[test]
fn mlp_minmax_fitlabel_baked_equals_dl4j_normalized() {
    // fitLabel: label statistics are in the file, but only features are normalized (outputs are
    // what DL4J's output() gives before any revertLabels).
    check("dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip", 3, 4.0);
}

#[test]
fn mnist_image_minmax_baked_equals_dl4j_scaled() {
    check("dl4j/augmented/mnist_imageminmax_objects.zip", 784, 120.0);
}

#[test]
fn cli_bake_writes_onnx_that_reimports() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("dl4j/augmented/iris_standardize_0.9.1.zip");
    let out = dir.path().join("iris.onnx");
    let o = dl4j(&[
        OsStr::new("convert"),
        src.as_os_str(),
        out.as_os_str(),
        OsStr::new("--bake-normalizer"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // ONNX -> DL4J still rebuilds the archive (normalizer included).
    let back = dir.path().join("back.zip");
    let o = dl4j(&[OsStr::new("convert"), out.as_os_str(), back.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = open("dl4j/augmented/iris_standardize_0.9.1.zip");
    let b = dl4j::open(&back, None).unwrap().0;
    assert!(b
        .normalizer
        .as_ref()
        .unwrap()
        .same_as(a.normalizer.as_ref().unwrap()));
}

fn refused(model: &str, out_name: &str, extra: &[&str], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(model);
    let out = dir.path().join(out_name);
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("convert"),
        src.as_os_str(),
        out.as_os_str(),
        OsStr::new("--bake-normalizer"),
    ];
    args.extend(extra.iter().map(OsStr::new));
    let o = dl4j(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{model}: should fail");
    assert!(err.contains(needle), "{model}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "{model}: no output file on error");
}

#[test]
fn model_without_normalizer_is_a_clear_error() {
    refused(
        "dl4j/0.9.1/trained_iris_model.zip",
        "x.onnx",
        &[],
        "the model has no normalizer",
    );
}

#[test]
fn custom_normalizer_is_a_clear_error() {
    refused(
        "dl4j/augmented/syntheticcnn_custom_norm_objects_100b4.zip",
        "x.onnx",
        &[],
        "custom normalizer strategy",
    );
}

#[test]
fn bake_only_for_onnx_output() {
    refused(
        "dl4j/augmented/iris_standardize_0.9.1.zip",
        "x.zip",
        &[],
        "ONNX output only",
    );
}

fn stats(values: &[f32]) -> dl4j::Nd4jArray {
    let t = dl4j::Tensor::new(
        vec![1, values.len()],
        dl4j::TensorData::F32(values.to_vec()),
    )
    .unwrap();
    dl4j::Nd4jArray::new(t, dl4j::Encoding::Modern)
}

#[test]
fn cnn_standardize_broadcasts_over_channels() {
    // NCHW input [4, 1, 28, 28]: statistics apply per channel (axis 1), as DL4J's broadcast does.
    let mut a = open("dl4j/1.0.0-beta4/SyntheticCNN_100b4.bin");
    a.normalizer = Some(Normalizer::Standardize {
        features: dl4j::normalizer::StatsPair {
            first: stats(&[0.25]),
            second: stats(&[2.0]),
        },
        labels: None,
    });
    let bytes = std::fs::read(fixture("dl4j/1.0.0-beta4/SyntheticCNN_Input_100b4.bin")).unwrap();
    let x = dl4j::nd4j::read_array_exact(&bytes).unwrap();
    let x = ArrayD::from_shape_vec(x.tensor.shape().to_vec(), x.tensor.to_f64_vec()).unwrap();
    let xn = x.mapv(|v| (v - 0.25) / 2.0);
    let plain = to_onnx(&a, DEFAULT_OPSET).unwrap();
    let opts = OnnxOptions {
        opset: DEFAULT_OPSET,
        bake_normalizer: true,
    };
    let baked = to_onnx_with(&a, &opts).unwrap();
    let want = run(&plain, a.dtype(), &xn);
    assert_close(
        &run(&baked, a.dtype(), &x),
        &want,
        1e-4,
        1e-5,
        "SyntheticCNN",
    );
    let on_raw = run(&plain, a.dtype(), &x);
    let moved = (&on_raw - &want)
        .mapv(f64::abs)
        .fold(0.0f64, |m, &v| m.max(v));
    assert!(moved > 1e-4, "normalizing changes nothing ({moved})");

    // VGG16 subtracts three channel means: a one-channel network is refused, clearly.
    a.normalizer = Some(Normalizer::Other {
        type_name: "IMAGE_VGG16".into(),
        payload: Vec::new(),
    });
    let e = to_onnx_with(&a, &opts).unwrap_err().to_string();
    assert!(
        e.contains("3 feature statistics") && e.contains("1 features"),
        "{e}"
    );
}
