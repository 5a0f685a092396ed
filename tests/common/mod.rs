//! Shared helpers for the integration tests: where the fixtures live and the model files in them.
#![allow(dead_code)]

pub mod cnn_reference;
pub mod onnx_build;
pub mod onnx_run;
pub mod reference;
pub mod rnn_reference;
pub mod synthetic;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `$DL4J_FIXTURES`, else `../shared/fixtures` next to the repository.
pub fn fixtures() -> PathBuf {
    match std::env::var_os("DL4J_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"),
    }
}

pub fn fixture(rel: &str) -> PathBuf {
    let p = fixtures().join(rel);
    assert!(p.exists(), "fixture missing: {}", p.display());
    p
}

/// Every DL4J model file (zips, and the `.bin` model zips of the regression resources) with the
/// parameter count PROVENANCE.md gives for it.
pub const MODELS: &[(&str, usize)] = &[
    ("dl4j/0.5.0/050_ModelSerializer_Regression_CNN_1.zip", 10184),
    ("dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip", 41),
    ("dl4j/0.6.0/060_ModelSerializer_Regression_LSTM_1.zip", 477),
    ("dl4j/0.6.0/060_ModelSerializer_Regression_MLP_2.zip", 41),
    ("dl4j/0.7.1/071_ModelSerializer_Regression_CG_LSTM_1.zip", 477),
    ("dl4j/0.7.1/071_ModelSerializer_Regression_CNN_1.zip", 10184),
    ("dl4j/0.7.1/071_ModelSerializer_Regression_MLP_1.zip", 41),
    ("dl4j/0.8.0/080_ModelSerializer_Regression_LSTM_1.zip", 477),
    ("dl4j/0.8.0/080_ModelSerializer_Regression_MLP_2.zip", 41),
    ("dl4j/0.9.1/trained_iris_model.zip", 39),
    ("dl4j/1.0.0-alpha/CustomLayerExample_100a.bin", 149),
    ("dl4j/1.0.0-alpha/GravesLSTMCharModelingExample_100a.bin", 559877),
    ("dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/Cnn3dSynthetic/Model_RANDOM_INIT_UNTRAINED.zip", 1306),
    ("dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/MLPMnist/Model_RANDOM_INIT_UNTRAINED.zip", 50890),
    ("dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/RnnCsvSequenceClassification1/Model_RANDOM_INIT_UNTRAINED.zip", 546),
    ("dl4j/1.0.0-beta3/CustomLayerExample_100b3_float.bin", 149),
    ("dl4j/1.0.0-beta3/VaeMNISTAnomaly_100b3.bin", 558928),
    ("dl4j/1.0.0-beta4/CustomLayerExample_100b4_double.bin", 149),
    ("dl4j/1.0.0-beta4/CustomLayerExample_100b4_half.bin", 149),
    ("dl4j/1.0.0-beta4/SyntheticCNN_100b4.bin", 1304),
    ("dl4j/1.0.0-beta4/VaeMNISTAnomaly_100b4.bin", 558928),
    ("dl4j/1.0.0-beta5-era/mnist-model.zip", 431080),
    ("dl4j/1.0.0-beta6/CustomLayerExample_100b6_float.bin", 149),
    ("dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_100b6.bin", 558677),
    ("dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin", 4515),
    ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/CNN1dCharacterTestCase/Model_RANDOM_INIT_UNTRAINED.zip", 9965),
    ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/LenetMnist/Model_RANDOM_INIT_UNTRAINED.zip", 431080),
    ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip", 102),
    ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/RnnCsvSequenceClassification2/Model_RANDOM_INIT_UNTRAINED.zip", 1086),
    ("dl4j/augmented/iris_standardize_0.9.1.zip", 39),
    ("dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip", 41),
    ("dl4j/augmented/mnist_imageminmax_objects.zip", 431080),
    ("dl4j/augmented/syntheticcnn_custom_norm_objects_100b4.zip", 1304),
];

/// Runs the `dl4j` binary.
pub fn dl4j(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dl4j"))
        .args(args)
        .output()
        .expect("run dl4j")
}

/// The raw bytes of every entry of a zip, in central-directory order (read with the `zip` crate,
/// independently of our reader).
pub fn zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let f = std::fs::File::open(path).unwrap();
    let mut z = zip::ZipArchive::new(f).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            (e.name().unwrap().to_string(), v)
        })
        .collect()
}

/// `$JAVA_HOME/bin/<tool>` if there is one, else `<tool>` from `PATH`.
pub fn jdk_tool(tool: &str) -> PathBuf {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let p = Path::new(&home).join("bin").join(tool);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(tool)
}

/// CRC-32 the textbook way, independent of any zip writer's.
pub fn crc32(b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &x in b {
        crc ^= u32::from(x);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The file names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
