//! `dl4j verify` on the ONNX backend test data: `.pb` TensorProto arrays, several inputs, and
//! shapes that differ only in size-1 dimensions.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::fixture;
use common::onnx_build::{text, verify, write_npy};

/// `<fixtures>/onnx/onnx-backend-test-data/node/<test>`.
fn node(test: &str) -> PathBuf {
    fixture(&format!("onnx/onnx-backend-test-data/node/{test}"))
}

fn model(test: &str) -> PathBuf {
    node(test).join("model.onnx")
}

/// `test_data_set_0/<file>` of a node test.
fn data(test: &str, file: &str) -> PathBuf {
    let p = node(test).join("test_data_set_0").join(file);
    assert!(p.exists(), "fixture missing: {}", p.display());
    p
}

/// Every figure printed after `label` (one per output block).
fn figures(o: &Output, label: &str) -> Vec<f64> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(label))
        .map(|v| v.trim().parse().unwrap())
        .collect()
}

/// The shape and values of a `.pb` TensorProto, read with the library.
fn pb(path: &Path) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, t) = dl4j::dl4j_onnx::read_tensor_proto(&bytes).unwrap();
    (t.shape().to_vec(), t.to_f64_vec())
}

/// `dl4j verify` of node test `test` on its own `inputs` and `expected` data files.
fn verify_node(test: &str, inputs: &[&str], expected: &[&str]) -> Output {
    let files = |names: &[&str]| -> Vec<PathBuf> { names.iter().map(|f| data(test, f)).collect() };
    verify(&model(test), &files(inputs), &files(expected), &[])
}

fn assert_passes(o: &Output) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("OK: all values within"), "{t}");
    assert!(!t.contains("FAIL"), "{t}");
    let abs = figures(o, "max abs error");
    assert!(!abs.is_empty() && abs.iter().all(|&a| a <= 1e-5), "{t}");
}

#[test]
fn relu_one_pb_input() {
    let o = verify_node("test_relu", &["input_0.pb"], &["output_0.pb"]);
    assert_passes(&o);
    let t = text(&o);
    assert!(t.contains("output 0 \"y\""), "{t}");
    assert!(t.contains("output shape [3, 4, 5], 60 values"), "{t}");
}

#[test]
fn add_two_pb_inputs() {
    let o = verify_node("test_add", &["input_0.pb", "input_1.pb"], &["output_0.pb"]);
    assert_passes(&o);
    assert!(!text(&o).contains("note:"), "{}", text(&o));
}

#[test]
fn add_with_swapped_inputs_notes_the_names() {
    // Add commutes, so the result still matches; the names in the .pb files do not.
    let o = verify_node("test_add", &["input_1.pb", "input_0.pb"], &["output_0.pb"]);
    assert_passes(&o);
    let t = text(&o);
    assert!(
        t.contains("note: input 0") && t.contains("note: input 1"),
        "{t}"
    );
}

#[test]
fn gemm_three_pb_inputs() {
    let t = "test_gemm_default_vector_bias";
    let o = verify_node(
        t,
        &["input_0.pb", "input_1.pb", "input_2.pb"],
        &["output_0.pb"],
    );
    assert_passes(&o);
}

#[test]
fn wrong_expected_pb_fails_with_exit_1() {
    let o = verify(
        &model("test_relu"),
        &[data("test_relu", "input_0.pb")],
        &[data("test_sigmoid", "output_0.pb")],
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("FAIL:") && t.contains("worst at ["), "{t}");
    assert!(t.contains("got ") && t.contains("expected "), "{t}");
    assert!(figures(&o, "max abs error")[0] > 0.1, "{t}");
}

#[test]
fn input_count_mismatch_is_exit_2() {
    let o = verify_node("test_add", &["input_0.pb"], &["output_0.pb"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("2 inputs") && t.contains("1 --input was given"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
    // Too many inputs, and too many expected arrays, as well.
    let o = verify_node("test_relu", &["input_0.pb", "input_0.pb"], &["output_0.pb"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("1 input (\"x\")"), "{t}");
    let o = verify_node(
        "test_relu",
        &["input_0.pb"],
        &["output_0.pb", "output_0.pb"],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("2 --expected were given"), "{t}");
}

#[test]
fn truncated_pb_is_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(data("test_relu", "input_0.pb")).unwrap();
    for (name, keep) in [
        ("cut_half.pb", bytes.len() / 2),
        ("cut_tail.pb", bytes.len() - 4),
    ] {
        let cut = dir.path().join(name);
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let o = verify(
            &model("test_relu"),
            &[cut],
            &[data("test_relu", "output_0.pb")],
            &[],
        );
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(t.contains(name), "{t}");
        assert!(!t.contains("panicked"), "{t}");
    }
}

#[test]
fn size_1_dimensions_are_reshaped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let (xs, x) = pb(&data("test_relu", "input_0.pb"));
    let (ys, y) = pb(&data("test_relu", "output_0.pb"));
    assert_eq!(
        (xs.as_slice(), ys.as_slice()),
        (&[3, 4, 5][..], &[3, 4, 5][..])
    );
    // Rank 4 against the model's declared [3, 4, 5], and an expected array of another rank.
    let x4 = dir.path().join("x.npy");
    write_npy(&x4, &[1, 3, 4, 5], x.iter().map(|&v| v as f32));
    let y4 = dir.path().join("y.npy");
    write_npy(&y4, &[3, 1, 4, 5, 1], y.iter().map(|&v| v as f32));
    let o = verify(
        &model("test_relu"),
        std::slice::from_ref(&x4),
        std::slice::from_ref(&y4),
        &[],
    );
    assert_passes(&o);
    let t = text(&o);
    assert!(
        t.contains(
            "input 0: [1, 3, 4, 5] reshaped to [3, 4, 5] (differs only in size-1 dimensions)"
        ),
        "{t}"
    );
    assert!(
        t.contains(
            "output 0: [3, 4, 5] reshaped to [3, 1, 4, 5, 1] (differs only in size-1 dimensions)"
        ),
        "{t}"
    );
    // The same arrays as .pb expected: no note when shapes agree.
    let o = verify(
        &model("test_relu"),
        &[x4],
        &[data("test_relu", "output_0.pb")],
        &[],
    );
    assert_passes(&o);
    assert!(!text(&o).contains("output 0: ["), "{}", text(&o));
}

#[test]
fn other_shape_differences_stay_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_, x) = pb(&data("test_relu", "input_0.pb"));
    let (_, y) = pb(&data("test_relu", "output_0.pb"));
    // Same values, other non-1 dimensions: not a size-1 difference.
    let x2 = dir.path().join("x.npy");
    write_npy(&x2, &[12, 5], x.iter().map(|&v| v as f32));
    let o = verify(
        &model("test_relu"),
        &[x2],
        &[data("test_relu", "output_0.pb")],
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("[12, 5]") && t.contains("[3, 4, 5]"), "{t}");
    assert!(t.contains("x.npy"), "{t}");
    let y2 = dir.path().join("y.npy");
    write_npy(&y2, &[60], y.iter().map(|&v| v as f32));
    let o = verify(
        &model("test_relu"),
        &[data("test_relu", "input_0.pb")],
        &[y2],
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("[3, 4, 5]") && t.contains("[60]"), "{t}");
    assert!(t.contains("y.npy"), "{t}");
}
