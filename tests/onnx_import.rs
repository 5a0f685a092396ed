//! ONNX -> DL4J of ONNX files written by other tools (PyTorch, the ONNX backend tests): each
//! fixture whose operators have a DL4J equivalent is imported, exported back to ONNX and run
//! with `dl4j verify` against the fixture's own `test_data_set_0` outputs; fixtures whose nodes
//! have no equivalent fail with every such node listed and no file written.

mod common;

use std::path::PathBuf;

use common::fixture;
use common::onnx_build::{convert, convert_frozen as import, text, tract_run, verify, TOLERANCE};
use ndarray::{ArrayD, Axis, IxDyn};

const NODE: &str = "onnx/onnx-backend-test-data/node";
const TORCH: &str = "onnx/onnx-backend-test-data/pytorch-converted";

/// Imports a test folder, exports the DL4J archive back to ONNX and verifies it against the
/// folder's expected output; `data` are the input indices that stay network inputs.
fn round_trip(folder: &str, freeze: &[(&str, usize)], data: &[usize]) -> String {
    let dir = fixture(folder);
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("model.zip");
    let onnx = tmp.path().join("back.onnx");
    let o = import(&dir, &zip, freeze, &[]);
    assert!(o.status.success(), "{folder}: import failed:\n{}", text(&o));
    // The DL4J archive reads back with the native reader and its layout is complete.
    let (archive, format) = dl4j::open(&zip, None).unwrap();
    assert_eq!(format.id, "dl4j");
    let layout = archive.layout().unwrap();
    assert!(layout.unknown.is_none(), "{folder}: unknown layers");
    assert_eq!(layout.total, archive.num_params(), "{folder}");
    let o = convert(&zip, &onnx, &[]);
    assert!(o.status.success(), "{folder}: export failed:\n{}", text(&o));
    let inputs: Vec<PathBuf> = data
        .iter()
        .map(|k| dir.join(format!("test_data_set_0/input_{k}.pb")))
        .collect();
    let expected = dir.join("test_data_set_0/output_0.pb");
    let o = verify(&onnx, &inputs, &[expected], TOLERANCE);
    let t = text(&o);
    assert!(
        o.status.success() && t.contains("OK: all values"),
        "{folder}: verify failed:\n{t}"
    );
    t
}

/// Import must fail, write nothing, and name `op` and `why`.
fn refused(folder: &str, freeze: &[(&str, usize)], op: &str, why: &str) {
    let dir = fixture(folder);
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("model.zip");
    let o = import(&dir, &zip, freeze, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{folder}: {t}");
    assert!(!zip.exists(), "{folder}: a file was written");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "temp left"
    );
    assert!(t.contains(op) && t.contains(why), "{folder}: {t}");
}

#[test]
fn pytorch_converted_models() {
    for t in ["test_Linear", "test_Conv2d", "test_Conv1d"] {
        round_trip(&format!("{TORCH}/{t}"), &[], &[0]);
    }
    for t in ["test_MaxPool2d", "test_AvgPool2d", "test_BatchNorm2d_eval"] {
        round_trip(&format!("{TORCH}/{t}"), &[], &[0]);
    }
}

#[test]
fn gemm_and_matmul_nodes() {
    round_trip(
        &format!("{NODE}/test_gemm_default_vector_bias"),
        &[("b", 1), ("c", 2)],
        &[0],
    );
    round_trip(
        &format!("{NODE}/test_gemm_transposeB"),
        &[("b", 1), ("c", 2)],
        &[0],
    );
    round_trip(&format!("{NODE}/test_matmul_2d"), &[("b", 1)], &[0]);
    // alpha and beta fold into W and b, but transA transposes the batch axis.
    refused(
        &format!("{NODE}/test_gemm_all_attributes"),
        &[("b", 1), ("c", 2)],
        "Gemm",
        "transA = 1",
    );
}

#[test]
fn convolution_nodes() {
    for t in [
        "test_basic_conv_with_padding",
        "test_conv_with_strides_padding",
        // SAME_LOWER with an even total pad: symmetric, so Truncate with padding 1.
        "test_conv_with_autopad_same",
    ] {
        round_trip(&format!("{NODE}/{t}"), &[("W", 1)], &[0]);
    }
}

#[test]
fn pooling_and_normalization_nodes() {
    for t in [
        "test_maxpool_2d_precomputed_pads",
        "test_maxpool_2d_precomputed_strides",
        "test_averagepool_2d_precomputed_pads",
        "test_averagepool_2d_precomputed_pads_count_include_pad",
    ] {
        round_trip(&format!("{NODE}/{t}"), &[], &[0]);
    }
    let t = round_trip(&format!("{NODE}/test_globalaveragepool"), &[], &[0]);
    // DL4J's global pooling drops the pooled axes; verify reshapes [1,3] to [1,3,1,1].
    assert!(t.contains("size-1"), "{t}");
    for t in ["test_batchnorm_example", "test_batchnorm_epsilon"] {
        round_trip(
            &format!("{NODE}/{t}"),
            &[("s", 1), ("bias", 2), ("mean", 3), ("var", 4)],
            &[0],
        );
    }
}

#[test]
fn activation_and_layout_nodes() {
    for t in [
        "test_relu",
        "test_sigmoid",
        "test_tanh",
        "test_leakyrelu",
        "test_elu",
        // Softmax over axis 1 of [3,4,5]: RnnToFeedForward, softmax, FeedForwardToRnn.
        "test_softmax_axis_1",
        "test_flatten_axis1",
        "test_identity",
    ] {
        round_trip(&format!("{NODE}/{t}"), &[], &[0]);
    }
    refused(
        &format!("{NODE}/test_reshape_reordered_all_dims"),
        &[("shape", 1)],
        "Reshape",
        "changes the batch axis",
    );
    let dir = fixture(&format!("{NODE}/test_transpose_default"));
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("t.zip");
    let o = import(&dir, &zip, &[], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no transpose layer"), "{}", text(&o));
    assert!(!zip.exists());
}

#[test]
fn freeze_names_must_be_graph_inputs() {
    let dir = fixture(&format!("{NODE}/test_matmul_2d"));
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("m.zip");
    let o = import(&dir, &zip, &[("nope", 1)], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("\"nope\""), "{}", text(&o));
    // Without the weight frozen, the right operand is data: no DL4J layer multiplies by data.
    let o = import(&dir, &zip, &[], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--freeze"), "{}", text(&o));
    assert!(!zip.exists());
}

/// PyTorch 1.12's MNIST CNN from DL4J's own ONNX test resources ends in LogSoftmax over the
/// batch axis, which DL4J has no layer for: the import fails naming it; `--allow-partial`
/// writes the rest, whose outputs reproduce the original graph's.
#[test]
fn pytorch_mnist_cnn_partial() {
    let model = fixture("onnx/dl4j-test-resources/onnx_graphs/output_cnn_mnist.onnx");
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("mnist.zip");
    let o = convert(&model, &zip, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("LogSoftmax \"LogSoftmax_15\"") && t.contains("--allow-partial"),
        "{t}"
    );
    assert!(!zip.exists());

    let o = convert(&model, &zip, &["--allow-partial"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("stopped at LogSoftmax \"LogSoftmax_15\""), "{t}");
    let back = tmp.path().join("back.onnx");
    let o = convert(&zip, &back, &[]);
    assert!(o.status.success(), "{}", text(&o));

    // A deterministic input in [0, 1).
    let x = ArrayD::from_shape_fn(IxDyn(&[10, 1, 28, 28]), |ix| {
        let k = (ix[0] * 784 + ix[2] * 28 + ix[3]) as u64;
        ((k.wrapping_mul(2_654_435_761) % 1000) as f32) / 1000.0
    });
    // ["22" (log-softmax), "onnx::Gemm_20" (features)]
    let want = tract_run(&model, std::slice::from_ref(&x), true);
    // ["onnx::Gemm_20", "output" (Gemm)]
    let got = tract_run(&back, std::slice::from_ref(&x), true);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].shape(), want[1].shape());
    let max = |a: &ArrayD<f32>, b: &ArrayD<f32>| {
        a.iter()
            .zip(b.iter())
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(max(&got[0], &want[1]) < 1e-5, "features differ");
    // The original's last step applied to our Gemm output gives the original's output.
    let g = &got[1];
    // log-softmax over axis 0 (the batch), per column.
    let lse: Vec<f32> = g
        .axis_iter(Axis(1))
        .map(|c| {
            let mx = c.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            mx + c.iter().map(|v| (v - mx).exp()).sum::<f32>().ln()
        })
        .collect();
    let logsm = ArrayD::from_shape_fn(g.raw_dim(), |ix| g[&ix] - lse[ix[1]]);
    assert!(max(&logsm, &want[0]) < 1e-4, "{}", max(&logsm, &want[0]));
}
