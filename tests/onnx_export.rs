//! DL4J -> ONNX: exported graphs run with tract and match DL4J's own saved outputs; ONNX -> DL4J
//! rebuilds the identical archive; untranslatable (custom) layers fail with one error naming
//! them all and leave no output file.

mod common;

use common::onnx_run::{assert_close, run};
use common::reference::{moon_features, read_array, read_array_typed, MOON};
use common::{fixture, zip_entries};
use dl4j::Archive;

fn open(rel: &str) -> Archive {
    dl4j::open(fixture(rel), None)
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .0
}

fn export(a: &Archive, rel: &str) -> Vec<u8> {
    dl4j::dl4j_onnx::to_onnx(a, dl4j::dl4j_onnx::DEFAULT_OPSET)
        .unwrap_or_else(|e| panic!("{rel}: export: {e}"))
}

#[test]
fn mlp_moon_runs_in_tract_with_dl4j_predictions() {
    let rel = format!("{MOON}/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip");
    let a = open(&rel);
    let onnx = export(&a, &rel);
    for (file, rows) in [("output_0_0.bin", 1), ("output_1_0.bin", 10)] {
        let want = read_array(&format!("{MOON}/MLPMoon/predictions/{file}"));
        let got = run(&onnx, a.dtype(), &moon_features(rows).into_dyn());
        assert_close(&got, &want, 1e-4, 1e-5, &format!("MLPMoon {file}"));
    }
}

fn check_regression(model: &str, input: &str, output: &str) {
    let a = open(model);
    let onnx = export(&a, model);
    let (in_dtype, x) = read_array_typed(input);
    assert_eq!(in_dtype, a.dtype(), "{input}");
    let want = read_array(output);
    let got = run(&onnx, a.dtype(), &x);
    assert_close(&got, &want, 1e-4, 1e-5, model);
}

#[test]
fn vae_b3_runs_in_tract_with_dl4j_output() {
    check_regression(
        "dl4j/1.0.0-beta3/VaeMNISTAnomaly_100b3.bin",
        "dl4j/1.0.0-beta3/VaeMNISTAnomaly_Input_100b3.bin",
        "dl4j/1.0.0-beta3/VaeMNISTAnomaly_Output_100b3.bin",
    );
}

#[test]
fn vae_b4_runs_in_tract_with_dl4j_output() {
    check_regression(
        "dl4j/1.0.0-beta4/VaeMNISTAnomaly_100b4.bin",
        "dl4j/1.0.0-beta4/VaeMNISTAnomaly_Input_100b4.bin",
        "dl4j/1.0.0-beta4/VaeMNISTAnomaly_Output_100b4.bin",
    );
}

#[test]
fn custom_layers_fail_export_naming_layer_and_class_without_output() {
    for rel in [
        "dl4j/1.0.0-alpha/CustomLayerExample_100a.bin",
        "dl4j/1.0.0-beta3/CustomLayerExample_100b3_float.bin",
        "dl4j/1.0.0-beta4/CustomLayerExample_100b4_double.bin",
        "dl4j/1.0.0-beta4/CustomLayerExample_100b4_half.bin",
        "dl4j/1.0.0-beta6/CustomLayerExample_100b6_float.bin",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.onnx");
        let e = match dl4j::convert(fixture(rel), &out, &Default::default()) {
            Ok(_) => panic!("{rel}: exported a custom layer"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("layer 1 (") && e.contains("CustomLayer)") && e.contains("custom layer"),
            "{rel}: {e}"
        );
        assert!(!out.exists(), "{rel}: a partial output was left");
    }
}

/// Fixtures that must not export: custom layer classes, and a 0.5.0 network whose dense layer
/// reads convolutional output with no preprocessor (no defined DL4J result to reproduce).
fn must_not_export(rel: &str) -> bool {
    rel.contains("CustomLayerExample") || rel.contains("050_ModelSerializer_Regression_CNN_1")
}

#[test]
fn dl4j_onnx_dl4j_is_identical_for_every_fixture() {
    let mut exported = 0;
    for (rel, _) in common::MODELS {
        let dir = tempfile::tempdir().unwrap();
        let onnx = dir.path().join("m.onnx");
        let back = dir.path().join("back.zip");
        let opts = dl4j::ConvertOptions::default();
        let done = dl4j::convert(fixture(rel), &onnx, &opts);
        if must_not_export(rel) {
            let e = done
                .err()
                .unwrap_or_else(|| panic!("{rel}: exported"))
                .to_string();
            assert!(e.contains("no ONNX translation"), "{rel}: {e}");
            assert!(!onnx.exists(), "{rel}: partial output");
            continue;
        }
        done.unwrap_or_else(|e| panic!("{rel}: {e}"));
        dl4j::convert(&onnx, &back, &opts).unwrap_or_else(|e| panic!("{rel}: back: {e}"));
        let a = open(rel);
        let b = dl4j::open(&back, None).unwrap().0;
        a.same_as(&b).unwrap_or_else(|e| panic!("{rel}: {e}"));
        // Byte-identical entries, not just equal values.
        assert_eq!(
            zip_entries(&fixture(rel)),
            zip_entries(&back),
            "{rel}: entries differ"
        );
        exported += 1;
    }
    assert_eq!(exported, common::MODELS.len() - 6);
}

#[test]
fn opsets_outside_13_to_21_are_refused() {
    let rel = format!("{MOON}/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip");
    let a = open(&rel);
    for bad in [12, 22] {
        let e = dl4j::dl4j_onnx::to_onnx(&a, bad).unwrap_err().to_string();
        assert!(e.contains(&format!("opset {bad}")), "{e}");
    }
    // Every accepted opset gives a graph tract runs with the same numbers.
    let x = moon_features(10).into_dyn();
    let want = read_array(&format!("{MOON}/MLPMoon/predictions/output_1_0.bin"));
    for opset in 13..=21 {
        let onnx = dl4j::dl4j_onnx::to_onnx(&a, opset).unwrap();
        let got = run(&onnx, a.dtype(), &x);
        assert_close(&got, &want, 1e-4, 1e-5, &format!("opset {opset}"));
    }
}

#[test]
fn damaged_onnx_files_are_clear_errors() {
    let rel = format!("{MOON}/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip");
    let onnx = export(&open(&rel), &rel);
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.onnx", onnx[..onnx.len() / 2].to_vec()),
        (
            "garbage.onnx",
            b"not a protobuf at all \xff\xff\xff".to_vec(),
        ),
        ("empty.onnx", Vec::new()),
    ];
    for (name, bytes) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes).unwrap();
        let out = dir.path().join(format!("{name}.zip"));
        let e = match dl4j::convert(&p, &out, &Default::default()) {
            Ok(_) => panic!("{name}: converted"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains(name),
            "{name}: error does not name the file: {e}"
        );
        assert!(
            e.contains("ONNX") || e.contains("DL4J"),
            "{name}: unclear error: {e}"
        );
        assert!(!out.exists(), "{name}: partial output");
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "{name}: input touched");
    }
}

/// The fixture with its parameters rounded to f16 (optimizer state dropped).
fn as_f16(mut a: Archive) -> Archive {
    let v: Vec<half::f16> = a
        .params
        .tensor
        .to_f64_vec()
        .into_iter()
        .map(half::f16::from_f64)
        .collect();
    let shape = a.params.tensor.shape().to_vec();
    a.params.tensor = dl4j::Tensor::new(shape, dl4j::TensorData::F16(v)).unwrap();
    a.updater_state = None;
    a
}

#[test]
fn half_precision_recurrent_and_convolutional_exports_run() {
    // Recurrent layers of f16 networks compute in f32 between Casts; the rest stays f16.
    for (model, input, output) in [
        (
            "dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_100b6.bin",
            "dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_Input_100b6.bin",
            "dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_Output_100b6.bin",
        ),
        (
            "dl4j/1.0.0-beta4/SyntheticCNN_100b4.bin",
            "dl4j/1.0.0-beta4/SyntheticCNN_Input_100b4.bin",
            "dl4j/1.0.0-beta4/SyntheticCNN_Output_100b4.bin",
        ),
    ] {
        let a = as_f16(open(model));
        let onnx = export(&a, model);
        let x = read_array(input).mapv(|v| half::f16::from_f64(v).to_f64());
        let got = run(&onnx, dl4j::DType::F16, &x);
        assert_close(
            &got,
            &read_array(output),
            1e-2,
            1e-2,
            &format!("{model} in f16"),
        );
    }
}
