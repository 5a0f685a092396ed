//! `dl4j verify`: a model run with tract on DL4J's saved input against DL4J's saved output.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{dl4j, fixture};

const VAE: &str = "dl4j/1.0.0-beta4/VaeMNISTAnomaly_100b4.bin";
const VAE_IN: &str = "dl4j/1.0.0-beta4/VaeMNISTAnomaly_Input_100b4.bin";
const VAE_OUT: &str = "dl4j/1.0.0-beta4/VaeMNISTAnomaly_Output_100b4.bin";

fn verify(model: &Path, input: &Path, expected: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("verify"),
        model.as_os_str(),
        OsStr::new("--input"),
        input.as_os_str(),
        OsStr::new("--expected"),
        expected.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    dl4j(&args)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The figure printed after `label` (e.g. "max abs error").
fn figure(o: &Output, label: &str) -> f64 {
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {out}"));
    line.trim().parse().unwrap()
}

/// A `.npy` (format 1.0, little-endian f4 or f8, C order).
fn write_npy(path: &Path, shape: &[usize], values: &[f64], f8: bool) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if shape.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let descr = if f8 { "<f8" } else { "<f4" };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h.as_bytes());
    for &v in values {
        if f8 {
            b.extend(v.to_le_bytes());
        } else {
            b.extend((v as f32).to_le_bytes());
        }
    }
    std::fs::write(path, b).unwrap();
}

fn nd4j(rel: &str) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(fixture(rel)).unwrap();
    let a = dl4j::nd4j::read_array_exact(&bytes).unwrap();
    (a.tensor.shape().to_vec(), a.tensor.to_f64_vec())
}

#[test]
fn vae_dl4j_model_matches_saved_output() {
    let o = verify(&fixture(VAE), &fixture(VAE_IN), &fixture(VAE_OUT), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let abs = figure(&o, "max abs error");
    let rel = figure(&o, "max rel error");
    eprintln!("VAE beta4: max abs {abs:e}, max rel {rel:e}");
    assert!(abs < 1e-5 && rel < 1e-4, "{}", text(&o));
    assert!(text(&o).contains("output shape [3, 32]"), "{}", text(&o));
}

#[test]
fn wrong_expected_output_fails_with_exit_1() {
    let wrong = fixture("dl4j/1.0.0-beta3/VaeMNISTAnomaly_Output_100b3.bin");
    let o = verify(&fixture(VAE), &fixture(VAE_IN), &wrong, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("FAIL:"), "{}", text(&o));
    assert!(figure(&o, "max abs error") > 1e-2);
}

#[test]
fn perturbed_npy_expected_fails_unless_tolerance_allows() {
    let dir = tempfile::tempdir().unwrap();
    let (shape, mut want) = nd4j(VAE_OUT);
    want[17] += 1e-3;
    let p = dir.path().join("want.npy");
    write_npy(&p, &shape, &want, true);
    let o = verify(&fixture(VAE), &fixture(VAE_IN), &p, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("1 of 96 values"), "{}", text(&o));
    let o = verify(&fixture(VAE), &fixture(VAE_IN), &p, &["--atol", "2e-3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn onnx_file_and_npy_input() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("vae.onnx");
    let vae = fixture(VAE);
    let o = dl4j(&[OsStr::new("convert"), vae.as_os_str(), onnx.as_os_str()]);
    assert!(o.status.success(), "{}", text(&o));
    let (shape, x) = nd4j(VAE_IN);
    let npy_in: PathBuf = dir.path().join("x.npy");
    write_npy(&npy_in, &shape, &x, false);
    let (oshape, y) = nd4j(VAE_OUT);
    let npy_out = dir.path().join("y.npy");
    write_npy(&npy_out, &oshape, &y, true);
    for (input, expected) in [
        (&npy_in, fixture(VAE_OUT)),
        (&fixture(VAE_IN), npy_out.clone()),
        (&npy_in, npy_out.clone()),
    ] {
        let o = verify(&onnx, input, &expected, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(figure(&o, "max abs error") < 1e-5);
    }
}

#[test]
fn truncated_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture(VAE_IN)).unwrap();
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = verify(&fixture(VAE), &cut, &fixture(VAE_OUT), &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("cut.bin"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    // A truncated .npy as well.
    let (shape, x) = nd4j(VAE_IN);
    let npy = dir.path().join("cut.npy");
    write_npy(&npy, &shape, &x, false);
    let b = std::fs::read(&npy).unwrap();
    std::fs::write(&npy, &b[..b.len() - 3]).unwrap();
    let o = verify(&fixture(VAE), &npy, &fixture(VAE_OUT), &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("data bytes") && !t.contains("panicked"), "{t}");
}

#[test]
fn shape_mismatch_names_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, y) = nd4j(VAE_OUT);
    let p = dir.path().join("flat.npy");
    write_npy(&p, &[96], &y, false);
    let o = verify(&fixture(VAE), &fixture(VAE_IN), &p, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("[3, 32]") && t.contains("[96]"), "{t}");
}

#[test]
fn custom_layer_model_error_names_the_layer() {
    let o = verify(
        &fixture("dl4j/1.0.0-beta6/CustomLayerExample_100b6_float.bin"),
        &fixture(VAE_IN),
        &fixture(VAE_OUT),
        &[],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("CustomLayer") && t.contains("layer 1"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn onnx_file_with_external_data_runs_from_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("vae.onnx");
    let vae = fixture(VAE);
    let o = dl4j(&[
        OsStr::new("convert"),
        vae.as_os_str(),
        onnx.as_os_str(),
        OsStr::new("--external-data"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(dir.path().join("vae.onnx.data").exists());
    let o = verify(&onnx, &fixture(VAE_IN), &fixture(VAE_OUT), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(figure(&o, "max abs error") < 1e-5);
    // Without its data file the model cannot run: a clear error, exit 2.
    std::fs::remove_file(dir.path().join("vae.onnx.data")).unwrap();
    let o = verify(&onnx, &fixture(VAE_IN), &fixture(VAE_OUT), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
