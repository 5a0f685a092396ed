//! DL4J -> safetensors -> DL4J is lossless for every fixture, the tensors follow the naming and
//! layout rules, and the output is usable with the `safetensors` crate alone.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::{dl4j, fixture, MODELS};
use safetensors::SafeTensors;

fn convert(input: &Path, output: &Path) {
    let r = dl4j(&[OsStr::new("convert"), input.as_os_str(), output.as_os_str()]);
    assert!(
        r.status.success(),
        "{} -> {}: {}",
        input.display(),
        output.display(),
        String::from_utf8_lossy(&r.stderr)
    );
}

fn export(dir: &Path, rel: &str) -> PathBuf {
    let out = dir.join(format!(
        "{}.safetensors",
        Path::new(rel).file_stem().unwrap().to_string_lossy()
    ));
    convert(&fixture(rel), &out);
    out
}

/// Tensor name -> (dtype, shape).
type Tensors = BTreeMap<String, (String, Vec<usize>)>;

/// Tensors and metadata, read with the `safetensors` crate.
fn header(path: &Path) -> (Tensors, std::collections::HashMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, (format!("{:?}", v.dtype()), v.shape().to_vec())))
        .collect();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    (tensors, meta.metadata().clone().unwrap_or_default())
}

#[test]
fn every_fixture_round_trips_through_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (rel, _)) in MODELS.iter().enumerate() {
        let st = dir.path().join(format!("m{i}.safetensors"));
        let back = dir.path().join(format!("m{i}.zip"));
        convert(&fixture(rel), &st);
        convert(&st, &back);
        let (a, _) = dl4j::open(fixture(rel), None).unwrap();
        let (b, _) = dl4j::open(&back, None).unwrap();
        a.same_as(&b).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            a.origin.encoding, b.origin.encoding,
            "{rel}: source encoding kept"
        );
        // Independently of our reader: every entry of the rebuilt zip is byte-identical.
        let src = common::zip_entries(&fixture(rel));
        let dst = common::zip_entries(&back);
        for (name, data) in &src {
            let copy = &dst
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{rel}: {name} lost"))
                .1;
            assert!(
                copy == data,
                "{rel}: {name} differs after DL4J -> safetensors -> DL4J"
            );
        }
        std::fs::remove_file(&st).unwrap();
        std::fs::remove_file(&back).unwrap();
    }
}

#[test]
fn mlp_tensors_follow_the_naming_rules() {
    let dir = tempfile::tempdir().unwrap();
    let p = export(
        dir.path(),
        "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
    );
    let (t, meta) = header(&p);
    let want: BTreeMap<String, (String, Vec<usize>)> = [
        ("0_W", vec![3, 4]),
        ("0_b", vec![4]),
        ("1_W", vec![4, 5]),
        ("1_b", vec![5]),
        ("updater.0_W.v", vec![3, 4]),
        ("updater.0_b.v", vec![4]),
        ("updater.1_W.v", vec![4, 5]),
        ("updater.1_b.v", vec![5]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), ("F32".to_string(), s)))
    .collect();
    assert_eq!(t, want);
    assert_eq!(meta["format"], "dl4j");
    assert_eq!(meta["dl4j.kind"], "MultiLayerNetwork");
    assert_eq!(meta["dl4j.nd4j_encoding"], "legacy");
    let config = std::fs::read(fixture(
        "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
    ))
    .unwrap();
    let _ = config;
    let text = common::zip_entries(&fixture(
        "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
    ))
    .into_iter()
    .find(|(n, _)| n == "configuration.json")
    .unwrap()
    .1;
    assert_eq!(
        meta["dl4j.configuration"].as_bytes(),
        text.as_slice(),
        "exact configuration text"
    );

    // Values: params were 1..41; W is [nIn, nOut] row-major with W[i][j] from DL4J's f-order
    // offset i + 3j, so the first row is 1, 4, 7, 10.
    let bytes = std::fs::read(&p).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let w: Vec<f32> = st
        .tensor("0_W")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(&w[..4], &[1.0, 4.0, 7.0, 10.0]);
    assert_eq!(w[4], 2.0);
    let b: Vec<f32> = st
        .tensor("0_b")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(b, [13.0, 14.0, 15.0, 16.0]);
}

#[test]
fn cnn_lstm_and_graph_tensors_follow_the_layout_rules() {
    let dir = tempfile::tempdir().unwrap();
    // Bias-first conv: b [3], W [nOut, nIn, kH, kW] = [3, 3, 2, 2]; RmsProp state per parameter.
    let (t, _) = header(&export(
        dir.path(),
        "dl4j/0.7.1/071_ModelSerializer_Regression_CNN_1.zip",
    ));
    assert_eq!(t["0_b"], ("F32".to_string(), vec![3]));
    assert_eq!(t["0_W"], ("F32".to_string(), vec![3, 3, 2, 2]));
    assert_eq!(t["2_W"], ("F32".to_string(), vec![2028, 5]));
    assert_eq!(
        t["updater.0_W.lastGradient"],
        ("F32".to_string(), vec![3, 3, 2, 2])
    );
    assert_eq!(t.len(), 8);

    // GravesLSTM: W [nIn, 4h], RW [h, 4h+3] (peepholes), b [4h]; bidirectional halves.
    let (t, _) = header(&export(
        dir.path(),
        "dl4j/0.8.0/080_ModelSerializer_Regression_LSTM_1.zip",
    ));
    assert_eq!(t["0_W"].1, vec![3, 16]);
    assert_eq!(t["0_RW"].1, vec![4, 19]);
    assert_eq!(t["0_b"].1, vec![16]);
    assert_eq!(t["1_RWB"].1, vec![4, 19]);
    assert_eq!(t["2_W"].1, vec![4, 5]);

    // ComputationGraph: <vertex>_<key>, Adam pieces m and v, f32 kept.
    let (t, meta) = header(&export(
        dir.path(),
        "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin",
    ));
    assert_eq!(t["rnn1_fW"], ("F32".to_string(), vec![10, 64]));
    assert_eq!(t["rnn1_bRW"].1, vec![16, 64]);
    assert_eq!(t["rnn2_fW"].1, vec![10, 16]);
    assert_eq!(t["out_W"].1, vec![64, 3]);
    assert_eq!(t["updater.out_W.m"].1, vec![64, 3]);
    assert_eq!(t["updater.out_W.v"].1, vec![64, 3]);
    assert_eq!(meta["dl4j.kind"], "ComputationGraph");
    let order: serde_json::Value = serde_json::from_str(&meta["dl4j.param_order"]).unwrap();
    let names: Vec<&str> = order
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"rnn1_fW"));
    assert_eq!(names.last(), Some(&"out_b"));
    let updater: serde_json::Value = serde_json::from_str(&meta["dl4j.updater"]).unwrap();
    assert_eq!(updater["type"], "Adam");
    assert_eq!(updater["state_len"], 9030);

    // Half precision stays F16; a custom layer becomes one flat tensor.
    let (t, _) = header(&export(
        dir.path(),
        "dl4j/1.0.0-beta4/CustomLayerExample_100b4_half.bin",
    ));
    assert_eq!(t["0_W"], ("F16".to_string(), vec![5, 6]));
    assert_eq!(t["1.flat"], ("F16".to_string(), vec![49]));
    assert_eq!(
        t["updater.1.flat.lastGradient"],
        ("F16".to_string(), vec![49])
    );
}

#[test]
fn normalizers_objects_and_entries_are_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let (t, meta) = header(&export(
        dir.path(),
        "dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip",
    ));
    assert_eq!(t["normalizer.feature_min"], ("F32".to_string(), vec![1, 3]));
    assert_eq!(t["normalizer.label_max"], ("F32".to_string(), vec![1, 5]));
    let n: serde_json::Value = serde_json::from_str(&meta["dl4j.normalizer"]).unwrap();
    assert_eq!(n["type"], "MIN_MAX");
    assert_eq!(n["target_min"], -1.0);

    let (t, meta) = header(&export(
        dir.path(),
        "dl4j/augmented/syntheticcnn_custom_norm_objects_100b4.zip",
    ));
    assert_eq!(t["normalizer.raw"], ("U8".to_string(), vec![19]));
    assert_eq!(t["objects.shape"], ("U8".to_string(), vec![39]));
    assert_eq!(t["objects.note"].0, "U8");
    let n: serde_json::Value = serde_json::from_str(&meta["dl4j.normalizer"]).unwrap();
    assert_eq!(
        n["strategy_class"],
        "com.example.preprocessing.LogScaleNormalizerStrategy"
    );
    assert_eq!(meta["dl4j.objects"], r#"["shape","note"]"#);
}

/// The expected `[rows, 2]` float output from a MIXED_DATA_TYPES ND4J file, decoded by hand:
/// the data buffer is the file's last `rows * 2` big-endian floats.
fn dl4j_output(rel: &str, rows: usize) -> Vec<f32> {
    let b = std::fs::read(fixture(rel)).unwrap();
    b[b.len() - rows * 2 * 4..]
        .chunks_exact(4)
        .map(|c| f32::from_be_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn mlp_moon_predictions_from_the_safetensors_crate_alone() {
    let dir = tempfile::tempdir().unwrap();
    let p = export(
        dir.path(),
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
    );
    // From here on only the safetensors crate and plain Rust.
    let bytes = std::fs::read(&p).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let get = |name: &str| -> (Vec<usize>, Vec<f32>) {
        let v = st.tensor(name).unwrap();
        (
            v.shape().to_vec(),
            v.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        )
    };
    let (w0s, w0) = get("0_W");
    let (_, b0) = get("0_b");
    let (w1s, w1) = get("1_W");
    let (_, b1) = get("1_b");
    assert_eq!((w0s.clone(), w1s.clone()), (vec![2, 20], vec![20, 2]));
    let csv = std::fs::read_to_string(fixture(
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/data/moon_data_eval.csv",
    ))
    .unwrap();
    let expected = dl4j_output(
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/predictions/output_1_0.bin",
        10,
    );
    for (row, line) in csv.lines().take(10).enumerate() {
        let x: Vec<f64> = line
            .split(',')
            .skip(1)
            .map(|v| v.trim().parse().unwrap())
            .collect();
        // Dense(2 -> 20, ReLU): h_j = relu(sum_i x_i W[i][j] + b_j), W row-major [2, 20].
        let h: Vec<f64> = (0..20)
            .map(|j| (x[0] * w0[j] as f64 + x[1] * w0[20 + j] as f64 + b0[j] as f64).max(0.0))
            .collect();
        // Output(20 -> 2, softmax).
        let z: Vec<f64> = (0..2)
            .map(|k| (0..20).map(|j| h[j] * w1[j * 2 + k] as f64).sum::<f64>() + b1[k] as f64)
            .collect();
        let m = z[0].max(z[1]);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        for k in 0..2 {
            let p = e[k] / (e[0] + e[1]);
            let want = expected[row * 2 + k] as f64;
            assert!(
                (p - want).abs() < 1e-6,
                "row {row} class {k}: {p} vs DL4J {want}"
            );
        }
    }
}

#[test]
fn foreign_files_without_config_get_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.zip");
    let src = fixture("safetensors/burn/safetensors-tests/linear/linear_with_bias.safetensors");
    let r = dl4j(&[OsStr::new("convert"), src.as_os_str(), out.as_os_str()]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("--config") && err.contains("linear_with_bias.safetensors"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn unknown_layers_are_exported_flat_with_a_warning_naming_the_class() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("custom.safetensors");
    let src = fixture("dl4j/1.0.0-beta3/CustomLayerExample_100b3_float.bin");
    let r = dl4j(&[OsStr::new("convert"), src.as_os_str(), out.as_os_str()]);
    assert!(r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("warning")
            && err.contains("org.deeplearning4j.regressiontest.customlayer100a.CustomLayer")
            && err.contains("1.flat"),
        "{err}"
    );
    let (t, _) = header(&out);
    assert_eq!(t["1.flat"], ("F32".to_string(), vec![49]));
    assert_eq!(t["0_W"].1, vec![5, 6]);
    assert_eq!(t["2_W"].1, vec![7, 8]);
    // And back: the custom layer's parameters come back in place.
    let back = dir.path().join("back.zip");
    convert(&out, &back);
    let (a, _) = dl4j::open(&src, None).unwrap();
    let (b, _) = dl4j::open(&back, None).unwrap();
    a.same_as(&b).unwrap();
}

#[test]
fn inspect_reads_our_safetensors_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = export(
        dir.path(),
        "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin",
    );
    let r = dl4j(&[OsStr::new("inspect"), OsStr::new("--json"), p.as_os_str()]);
    assert!(r.status.success());
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["format"], "safetensors");
    assert_eq!(v["kind"], "ComputationGraph");
    assert_eq!(v["num_params"], 4515);
    assert_eq!(v["updater"]["type"], "Adam");
}
