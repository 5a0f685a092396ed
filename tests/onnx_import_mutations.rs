//! Damaged and hostile ONNX files given to the importer: every truncation and a spread of byte
//! flips of real files (PyTorch's MNIST CNN, SqueezeNet, a PyTorch-converted conv) must give an
//! error or a model, never a panic; constant folding must not build huge arrays from a shape.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::fixture;
use common::onnx_build::*;
use dl4j::dl4j_onnx::import::{import, ImportOptions};

fn no_panic(bytes: &[u8], what: &str) {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = import(bytes, &ImportOptions::default());
        let _ = import(
            bytes,
            &ImportOptions {
                allow_partial: true,
                ..ImportOptions::default()
            },
        );
    }));
    assert!(r.is_ok(), "import panicked on {what}");
}

#[test]
fn truncated_and_flipped_files_never_panic() {
    // (file, cuts, byte flips per mask): SqueezeNet folds 1.2 M weights per import, so fewer.
    for (rel, cuts, flips) in [
        (
            "onnx/dl4j-test-resources/onnx_graphs/output_cnn_mnist.onnx",
            48,
            200,
        ),
        (
            "onnx/onnx-backend-test-data/pytorch-converted/test_Conv2d/model.onnx",
            48,
            200,
        ),
        (
            "onnx/onnx-backend-test-data/node/test_lstm_defaults/model.onnx",
            48,
            150,
        ),
        (
            "onnx/onnx-backend-test-data/light/light_squeezenet.onnx",
            8,
            10,
        ),
    ] {
        let bytes = std::fs::read(fixture(rel)).unwrap();
        // The intact file imports (or is refused) cleanly.
        no_panic(&bytes, rel);
        // Truncations: dense near the start (headers), then spread over the file.
        let n = bytes.len();
        let cuts: Vec<usize> = (0..cuts.min(n))
            .chain((0..cuts).map(|k| k * n / cuts))
            .collect();
        for cut in cuts {
            no_panic(&bytes[..cut], &format!("{rel} cut at {cut}"));
        }
        // Byte flips spread over the file (every node, attribute and tensor header gets hit
        // somewhere across the files).
        let step = (n / flips).max(1);
        for at in (0..n).step_by(step) {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut m = bytes.clone();
                m[at] ^= mask;
                no_panic(&m, &format!("{rel} byte {at} ^ {mask:#x}"));
            }
        }
    }
}

/// A `ConstantOfShape` claiming 2^62 elements (or none, with huge axes beside a zero one) is not
/// folded (the node is reported instead), and a shape product that overflows does not wrap
/// around.
#[test]
fn hostile_shapes_fail_fast() {
    let nodes = vec![
        node("ConstantOfShape", "huge", &["shape"], &["fill"], vec![]),
        node("Add", "add", &["x", "fill"], &["y"], vec![]),
    ];
    let bytes = model(
        nodes,
        vec![ints_init("shape", &[1 << 31, 1 << 31])],
        value("x", &[None, Some(3)]),
        value("y", &[None, Some(3)]),
    );
    // The error comes from the size check, before anything of that size is built.
    let e = import(&bytes, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("ConstantOfShape \"huge\""), "{e}");

    // A zero-length axis beside huge ones: no elements, but no array either (found by the onnx
    // fuzz target: ndarray panicked on the shape).
    let nodes = vec![
        node("ConstantOfShape", "huge", &["shape"], &["fill"], vec![]),
        node("Add", "add", &["x", "fill"], &["y"], vec![]),
    ];
    let bytes = model(
        nodes,
        vec![ints_init("shape", &[0, 1 << 62, 1 << 62])],
        value("x", &[None, Some(3)]),
        value("y", &[None, Some(3)]),
    );
    let e = import(&bytes, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("ConstantOfShape \"huge\""), "{e}");

    let nodes = vec![node("Reshape", "r", &["x", "shape"], &["y"], vec![])];
    let bytes = model(
        nodes,
        vec![ints_init("shape", &[-1, i64::MAX / 2, 4])],
        value("x", &[None, Some(3)]),
        value("y", &[None, Some(3)]),
    );
    let e = import(&bytes, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("Reshape \"r\""), "{e}");
}
