//! Bad input gets a clear one-line error naming the file and the problem: no panic, no output
//! file, and the input is never touched.

mod common;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{dl4j, fixture, zip_entries};

fn write_zip(path: &Path, entries: &[(String, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    for (name, data) in entries {
        z.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

/// A copy of a fixture with one entry replaced by `edit`.
fn mutated(
    dir: &Path,
    name: &str,
    src: &str,
    entry: &str,
    edit: impl Fn(&[u8]) -> Vec<u8>,
) -> PathBuf {
    let mut entries = zip_entries(&fixture(src));
    let e = entries.iter_mut().find(|(n, _)| n == entry).unwrap();
    e.1 = edit(&e.1);
    let p = dir.join(name);
    write_zip(&p, &entries);
    p
}

/// Runs `inspect` and `convert` on a bad file and checks both fail cleanly.
fn assert_rejected(input: &Path, needles: &[&str]) {
    let before = std::fs::read(input).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let output = out_dir.path().join("out.zip");
    for args in [
        vec![OsStr::new("inspect"), input.as_os_str()],
        vec![OsStr::new("convert"), input.as_os_str(), output.as_os_str()],
    ] {
        let r = dl4j(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{args:?} succeeded on bad input");
        assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        let name = input.file_name().unwrap().to_string_lossy();
        assert!(err.contains(name.as_ref()), "error names the file: {err}");
        for n in needles {
            assert!(err.contains(n), "error mentions {n:?}: {err}");
        }
    }
    assert!(!output.exists(), "no output file after a failed conversion");
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        0,
        "no temporary left behind"
    );
    assert_eq!(std::fs::read(input).unwrap(), before, "input untouched");
}

#[test]
fn truncated_zip() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture(
        "dl4j/0.8.0/080_ModelSerializer_Regression_LSTM_1.zip",
    ))
    .unwrap();
    for cut in [bytes.len() / 2, bytes.len() - 10, 30] {
        let p = dir.path().join(format!("truncated_{cut}.zip"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        assert_rejected(&p, &[]);
    }
}

#[test]
fn truncated_coefficients() {
    let dir = tempfile::tempdir().unwrap();
    let p = mutated(
        dir.path(),
        "short_coefficients.zip",
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
        "coefficients.bin",
        |b| b[..b.len() - 17].to_vec(),
    );
    assert_rejected(&p, &["coefficients.bin", "truncated"]);
}

#[test]
fn length_field_claiming_2_pow_40_and_2_pow_60_elements() {
    let dir = tempfile::tempdir().unwrap();
    // Modern encoding: the data buffer's int64 length follows its "MIXED_DATA_TYPES" mode string.
    // Both fail on the length check, before anything of that size is allocated.
    for bits in [40u32, 60] {
        let p = mutated(
            dir.path(),
            &format!("huge_length_{bits}.zip"),
            "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
            "coefficients.bin",
            |b| {
                let mode = b"\x00\x10MIXED_DATA_TYPES";
                let second = b
                    .windows(mode.len())
                    .enumerate()
                    .filter(|(_, w)| *w == mode)
                    .nth(1)
                    .unwrap()
                    .0;
                let mut v = b.to_vec();
                let at = second + mode.len();
                v[at..at + 8].copy_from_slice(&(1u64 << bits).to_be_bytes());
                v
            },
        );
        assert_rejected(&p, &["coefficients.bin", &(1u64 << bits).to_string()]);
    }

    // Legacy encoding: int32 lengths, and a shape whose product overflows.
    let p = mutated(
        dir.path(),
        "huge_shape.zip",
        "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
        "coefficients.bin",
        |b| {
            let mut v = b.to_vec();
            // shape info starts after "\0\x07JAVACPP" + i32 len + "\0\x03INT" = 18 bytes; [rank, d0, d1, ...]
            v[18 + 4..18 + 8].copy_from_slice(&i32::MAX.to_be_bytes());
            v[18 + 8..18 + 12].copy_from_slice(&i32::MAX.to_be_bytes());
            v
        },
    );
    assert_rejected(&p, &["coefficients.bin"]);
}

#[test]
fn not_a_zip() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.zip");
    std::fs::write(&p, b"this is a text file, not a model\n").unwrap();
    assert_rejected(&p, &["zip"]);
    let p = dir.path().join("model.weird");
    std::fs::write(&p, b"\x00\x01\x02").unwrap();
    assert_rejected(&p, &["not a recognised model file"]);
    // A loose ND4J array is not a model either.
    let p = dir.path().join("array.zip");
    std::fs::copy(
        fixture("dl4j/nd4j-arrays/legacy/NDArray_longshape_float.bin"),
        &p,
    )
    .unwrap();
    assert_rejected(&p, &[]);
}

#[test]
fn zip_without_dl4j_entries() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("other.zip");
    write_zip(&p, &[("readme.txt".into(), b"hello".to_vec())]);
    assert_rejected(&p, &["configuration.json"]);
}

#[test]
fn computation_graph_with_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let p = mutated(
        dir.path(),
        "cycle.zip",
        "dl4j/0.7.1/071_ModelSerializer_Regression_CG_LSTM_1.zip",
        "configuration.json",
        |b| {
            let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
            v["vertexInputs"]["0"] = serde_json::json!(["in", "2"]);
            serde_json::to_vec_pretty(&v).unwrap()
        },
    );
    assert_rejected(&p, &["cycle"]);
}

#[test]
fn bad_configuration_json() {
    let dir = tempfile::tempdir().unwrap();
    let p = mutated(
        dir.path(),
        "badjson.zip",
        "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
        "configuration.json",
        |b| b[..b.len() / 2].to_vec(),
    );
    assert_rejected(&p, &["configuration.json", "JSON"]);
}

#[test]
fn parameter_count_mismatch_is_reported_not_fatal_for_inspect() {
    // One element short: the configuration needs 41.
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip");
    let (mut a, _) = dl4j::open(&src, None).unwrap();
    let short = a.params.tensor.data().slice(0..40);
    a.params.tensor = dl4j::Tensor::new(vec![1, 40], short).unwrap();
    let p = dir.path().join("short.zip");
    dl4j::save(&a, &p, None, &Default::default(), false).unwrap();
    let r = dl4j(&[OsStr::new("inspect"), OsStr::new("--json"), p.as_os_str()]);
    assert!(r.status.success());
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let e = v["layout_error"].as_str().unwrap();
    assert!(e.contains("41") && e.contains("40"), "{e}");
}

#[test]
fn output_rules() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip");
    let input = dir.path().join("in.zip");
    std::fs::copy(&src, &input).unwrap();
    let out = dir.path().join("out.zip");

    // OUT == IN is refused, also when spelled differently.
    let same = dir.path().join(".").join("in.zip");
    let r = dl4j(&[
        OsStr::new("convert"),
        input.as_os_str(),
        same.as_os_str(),
        OsStr::new("--force"),
    ]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("same file"));
    assert_eq!(std::fs::read(&input).unwrap(), std::fs::read(&src).unwrap());

    // An existing OUT needs --force.
    std::fs::write(&out, b"keep me").unwrap();
    let r = dl4j(&[OsStr::new("convert"), input.as_os_str(), out.as_os_str()]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let r = dl4j(&[
        OsStr::new("convert"),
        input.as_os_str(),
        out.as_os_str(),
        OsStr::new("--force"),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (a, _) = dl4j::open(&input, None).unwrap();
    let (b, _) = dl4j::open(&out, None).unwrap();
    a.same_as(&b).unwrap();

    // An extension no format claims keeps the input's format (DL4J's own `.bin` model files).
    let bin = dir.path().join("out.bin");
    let r = dl4j(&[OsStr::new("convert"), input.as_os_str(), bin.as_os_str()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    a.same_as(&dl4j::open(&bin, None).unwrap().0).unwrap();

    // A format id nobody registered is refused before anything is written.
    let odd = dir.path().join("out.zip2");
    let r = dl4j(&[
        OsStr::new("convert"),
        input.as_os_str(),
        odd.as_os_str(),
        OsStr::new("--to"),
        OsStr::new("nosuchformat"),
    ]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("unknown format"));
    assert!(!odd.exists());
}

#[test]
fn plugins_lists_the_native_format() {
    let r = dl4j(&[OsStr::new("plugins")]);
    assert!(r.status.success());
    let text = String::from_utf8(r.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("dl4j "))
        .expect("dl4j format listed");
    assert!(line.contains("yes") && line.contains("zip"), "{line}");
}

#[test]
fn huge_layer_sizes_in_the_configuration() {
    // nIn/nOut beyond Java's int range, or whose products overflow, are errors in the layout,
    // never an arithmetic overflow; the archive itself still reads and converts losslessly.
    let dir = tempfile::tempdir().unwrap();
    for (i, nin) in ["4611686018427387904", "2147483647", "1099511627776"]
        .iter()
        .enumerate()
    {
        let p = mutated(
            dir.path(),
            &format!("huge{i}.zip"),
            "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
            "configuration.json",
            |b| {
                let t = String::from_utf8(b.to_vec()).unwrap();
                t.replacen("\"nin\" : 2,", &format!("\"nin\" : {nin},"), 1)
                    .into_bytes()
            },
        );
        let r = dl4j(&[OsStr::new("inspect"), OsStr::new("--json"), p.as_os_str()]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        assert!(
            v["layout_error"].is_string(),
            "{nin}: {}",
            v["layout_error"]
        );
        let out = dir.path().join(format!("huge{i}.safetensors"));
        let r = dl4j(&[OsStr::new("convert"), p.as_os_str(), out.as_os_str()]);
        assert!(
            r.status.success(),
            "lossless export with params.flat: {}",
            String::from_utf8_lossy(&r.stderr)
        );
    }
}

/// A zip bomb: coefficients.bin declares 20 GiB (zip64 sizes, in the local header and the
/// central directory) over a short DEFLATE stream. convert refuses it from the declared sizes
/// before anything inflates, also in a process limited to 1 GiB of address space.
#[test]
fn zip_bomb_declaring_20_gib_is_refused_before_inflating() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
    );
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in zip_entries(&src) {
        let options = zip::write::SimpleFileOptions::default().large_file(true);
        z.start_file(name.as_str(), options).unwrap();
        z.write_all(&data).unwrap();
    }
    let mut bytes = z.finish().unwrap().into_inner();
    let name = b"coefficients.bin";
    let claim = 20u64 << 30; // 20.0 GiB
    let at: Vec<usize> = bytes
        .windows(name.len())
        .enumerate()
        .filter(|(_, w)| *w == name)
        .map(|(i, _)| i + name.len())
        .collect();
    assert_eq!(at.len(), 2, "local header and central directory");
    for a in at {
        // The zip64 extra field: id 0x0001, 16 bytes: uncompressed size, compressed size.
        assert_eq!(&bytes[a..a + 4], &[1, 0, 16, 0]);
        bytes[a + 4..a + 12].copy_from_slice(&claim.to_le_bytes());
    }
    let p = dir.path().join("bomb.zip");
    std::fs::write(&p, &bytes).unwrap();
    // convert stops at the declared total, inspect at the entry's impossible size; see below.
    assert_rejected(&p, &[]);

    for cmd in ["inspect", "convert"] {
        let out = dir.path().join("out.safetensors");
        let r = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_dl4j"))
            .arg(cmd)
            .arg(&p)
            .args((cmd == "convert").then_some(&out))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{cmd}: {err}");
        assert!(!err.contains("panicked"), "{cmd}: {err}");
        let needles = if cmd == "convert" {
            ["bomb.zip", "\"coefficients.bin\": 20.0 GiB", "--max-size"]
        } else {
            // inspect does not inflate arrays, but the declared size is beyond what the
            // entry's DEFLATE bytes can give.
            ["bomb.zip", "coefficients.bin", "stored bytes can give"]
        };
        for needle in needles {
            assert!(err.contains(needle), "{needle:?} in {err}");
        }
        assert!(!out.exists());
    }
}

/// `--max-size` is the ceiling: a real model over it is refused with the figures, under it
/// converts.
#[test]
fn max_size_flag_sets_the_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture(
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
    );
    let out = dir.path().join("out.zip");
    let r = dl4j(&[
        OsStr::new("convert"),
        src.as_os_str(),
        out.as_os_str(),
        OsStr::new("--max-size"),
        OsStr::new("1K"),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("1024-byte"), "{err}");
    assert!(!out.exists());
    let r = dl4j(&[
        OsStr::new("convert"),
        src.as_os_str(),
        out.as_os_str(),
        OsStr::new("--max-size"),
        OsStr::new("1G"),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let r = dl4j(&[
        OsStr::new("inspect"),
        src.as_os_str(),
        OsStr::new("--max-size"),
        OsStr::new("lots"),
    ]);
    assert_eq!(r.status.code(), Some(2), "a bad size is a usage error");
}

#[test]
fn files_of_another_kind_than_their_name() {
    let dir = tempfile::tempdir().unwrap();
    // An ONNX model named .zip is read by its content, and the conversion says so.
    let onnx = dir.path().join("model.onnx");
    let src = fixture("dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip");
    let r = dl4j(&[
        OsStr::new("convert"),
        src.as_os_str(),
        onnx.as_os_str(),
        OsStr::new("--quiet"),
    ]);
    assert!(r.status.success());
    let misnamed = dir.path().join("model.zip");
    std::fs::copy(&onnx, &misnamed).unwrap();
    let back = dir.path().join("back.safetensors");
    let r = dl4j(&[
        OsStr::new("convert"),
        misnamed.as_os_str(),
        back.as_os_str(),
        OsStr::new("--quiet"),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("holds onnx content"), "{err}");
    let (a, _) = dl4j::open(&back, None).unwrap();
    let (b, _) = dl4j::open(&src, None).unwrap();
    assert_eq!(a.params.tensor.to_f64_vec(), b.params.tensor.to_f64_vec());

    // Text named .zip: the error says the format was only guessed from the name.
    let text = dir.path().join("notes.zip");
    std::fs::write(&text, b"just some notes\n").unwrap();
    assert_rejected(&text, &["by its extension only"]);
    // A truncated ONNX model is still recognised as ONNX and reported as broken.
    let bytes = std::fs::read(&onnx).unwrap();
    let cut = dir.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_rejected(&cut, &["ONNX"]);
}

#[test]
fn hazardous_entry_names_are_reported_and_kept_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = zip_entries(&fixture("dl4j/augmented/iris_standardize_0.9.1.zip"));
    entries.push(("../escape.txt".into(), b"x".to_vec()));
    entries.push(("objects\\key".into(), b"y".to_vec()));
    entries.push(("/abs".into(), b"z".to_vec()));
    let input = dir.path().join("names.zip");
    write_zip(&input, &entries);

    let r = dl4j(&[
        OsStr::new("inspect"),
        OsStr::new("--json"),
        input.as_os_str(),
    ]);
    assert!(r.status.success());
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings
        .iter()
        .any(|w| w.contains("../escape.txt") && w.contains("\"..\"")));
    assert!(warnings.iter().any(|w| w.contains("backslash")));
    assert!(warnings.iter().any(|w| w.contains("absolute")));

    // Converting keeps them (lossless) and says so; nothing is created outside the output.
    let out = dir.path().join("sub").join("out.zip");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let r = dl4j(&[OsStr::new("convert"), input.as_os_str(), out.as_os_str()]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert_eq!(err.matches("never used as a file path").count(), 3, "{err}");
    let names: Vec<String> = zip_entries(&out).into_iter().map(|(n, _)| n).collect();
    for n in ["../escape.txt", "objects\\key", "/abs"] {
        assert!(names.iter().any(|m| m == n), "{n} kept: {names:?}");
    }
    assert!(!dir.path().join("escape.txt").exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn dangling_graph_input() {
    let dir = tempfile::tempdir().unwrap();
    let p = mutated(
        dir.path(),
        "dangling.zip",
        "dl4j/0.7.1/071_ModelSerializer_Regression_CG_LSTM_1.zip",
        "configuration.json",
        |b| {
            let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
            v["vertexInputs"]["1"] = serde_json::json!(["nowhere"]);
            serde_json::to_vec_pretty(&v).unwrap()
        },
    );
    assert_rejected(&p, &["\"nowhere\"", "does not exist"]);
}

#[test]
fn normalizer_statistics_of_different_sizes() {
    // The iris standardizer: mean and std of 4 features. Give std a fifth value by rewriting
    // its ND4J header and appending one float.
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("dl4j/augmented/iris_standardize_0.9.1.zip");
    let (a, _) = dl4j::open(&src, None).unwrap();
    let Some(dl4j::Normalizer::Standardize { features, .. }) = &a.normalizer else {
        panic!("fixture has a standardizer")
    };
    assert_eq!(features.first.tensor.len(), 4);
    let mut bad = a.clone();
    if let Some(dl4j::Normalizer::Standardize { features, .. }) = &mut bad.normalizer {
        let five = dl4j::Tensor::new(vec![1, 5], dl4j::TensorData::F32(vec![1.0; 5])).unwrap();
        features.second.tensor = five;
    }
    let p = dir.path().join("norm.zip");
    dl4j::save(&bad, &p, None, &Default::default(), false).unwrap();
    assert_rejected(&p, &["normalizer.bin", "4 values", "5"]);
}

#[test]
fn updater_state_of_the_wrong_length() {
    // The graph LSTM's updater state, one value short of what its updater layout needs.
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("dl4j/0.7.1/071_ModelSerializer_Regression_CG_LSTM_1.zip");
    let (mut a, _) = dl4j::open(&src, None).unwrap();
    let u = a.updater_state.as_mut().unwrap();
    let n = u.tensor.len();
    let short = u.tensor.data().slice(0..n - 1);
    u.tensor = dl4j::Tensor::new(vec![1, n - 1], short).unwrap();
    let p = dir.path().join("updater.zip");
    dl4j::save(&a, &p, None, &Default::default(), false).unwrap();
    // inspect names both counts; convert keeps the state losslessly as one flat tensor and
    // says why it could not be split per parameter.
    let r = dl4j(&[OsStr::new("inspect"), OsStr::new("--json"), p.as_os_str()]);
    assert!(r.status.success());
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let e = v["updater"]["error"].as_str().unwrap();
    assert!(
        e.contains("476") && e.contains("477") && e.contains("RmsProp"),
        "{e}"
    );
    let out = dir.path().join("out.safetensors");
    let r = dl4j(&[OsStr::new("convert"), p.as_os_str(), out.as_os_str()]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("476 values") && err.contains("updater.flat"),
        "{err}"
    );
    let (back, _) = dl4j::open(&out, None).unwrap();
    assert_eq!(
        back.updater_state.unwrap().tensor.to_f64_vec(),
        a.updater_state.unwrap().tensor.to_f64_vec()
    );
}

#[test]
fn deeply_nested_onnx_is_refused_without_overflowing_the_stack() {
    // ModelProto.graph -> (GraphProto.node -> NodeProto.attribute -> AttributeProto.g)^N: a
    // few bytes per level, 20,000 levels deep.
    fn field(number: u8, body: Vec<u8>) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2];
        let mut n = body.len();
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend(body);
        out
    }
    let mut graph = Vec::new();
    for _ in 0..20_000 {
        graph = field(1, field(5, field(6, graph)));
    }
    let mut model = vec![0x08, 0x08]; // ir_version 8
    model.extend(field(7, graph));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("deep.onnx");
    std::fs::write(&p, &model).unwrap();
    assert_rejected(&p, &["ONNX"]);
}

/// An ONNX model of `n` chained Relu nodes over a [1, 4] input, encoded by hand.
fn relu_chain(n: usize) -> Vec<u8> {
    fn varint(mut n: usize, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    fn field(number: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2];
        varint(body.len(), &mut out);
        out.extend_from_slice(body);
        out
    }
    let int = |number: u8, v: usize| {
        let mut out = vec![number << 3];
        varint(v, &mut out);
        out
    };
    let mut graph = Vec::new();
    for k in 0..n {
        let node = [
            field(1, format!("t{k}").as_bytes()),
            field(2, format!("t{}", k + 1).as_bytes()),
            field(3, format!("n{k}").as_bytes()),
            field(4, b"Relu"),
        ]
        .concat();
        graph.extend(field(1, &node));
    }
    let dim = |v: usize| field(1, &int(1, v));
    let tensor_type = field(
        1,
        &[int(1, 1), field(2, &[dim(1), dim(4)].concat())].concat(),
    );
    let value = |name: &str| {
        field(1, name.as_bytes())
            .into_iter()
            .chain(field(2, &tensor_type))
            .collect::<Vec<u8>>()
    };
    graph.extend(field(2, b"g"));
    graph.extend(field(11, &value("t0")));
    graph.extend(field(12, &value(&format!("t{n}"))));
    let opset = [field(1, b""), int(2, 17)].concat();
    [int(1, 8), field(7, &graph), field(8, &opset)].concat()
}

#[test]
fn onnx_graph_size_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // A small chain imports: one DL4J layer per node.
    let ok = dir.path().join("chain.onnx");
    std::fs::write(&ok, relu_chain(50)).unwrap();
    let (a, _) = dl4j::open(&ok, None).unwrap();
    let v: serde_json::Value = serde_json::from_str(a.config.text()).unwrap();
    let layers = v["confs"].as_array().map_or(0, |c| c.len())
        + v["vertices"].as_object().map_or(0, |c| c.len());
    assert_eq!(layers, 50);
    // 70,000 nodes (a 2 MB file) are refused before any translation.
    let big = dir.path().join("huge.onnx");
    std::fs::write(&big, relu_chain(70_000)).unwrap();
    assert_rejected(&big, &["70000 nodes", "65536"]);
}
