//! ONNX external data: `--external-data` puts every initializer's bytes in `<model>.data`
//! beside the model; tract runs it like the inline export; reading it back (our own exports and
//! foreign models) gives the same archive; hostile locations and ranges are clear errors. The
//! streamed export is byte-identical to protobuf's own encoding of the same model.

mod common;

use std::path::{Path, PathBuf};

use common::fixture;
use common::onnx_build::{self, tract_run};
use dl4j::{Archive, WriteOptions};
use ndarray::ArrayD;
use onnx_protobuf::{
    tensor_proto::DataLocation, type_proto, Message, ModelProto, StringStringEntryProto,
    TensorProto,
};

/// A CNN with updater state and objects (its normalizer has no arrays).
const CNN: &str = "dl4j/augmented/mnist_imageminmax_objects.zip";
/// A normalizer with arrays.
const IRIS: &str = "dl4j/augmented/iris_standardize_0.9.1.zip";
const MLP: &str =
    "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip";

fn open(rel: &str) -> Archive {
    dl4j::open(fixture(rel), None)
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .0
}

fn parse(path: &Path) -> ModelProto {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ModelProto::parse_from_bytes(&bytes).unwrap()
}

fn text(o: &std::process::Output) -> String {
    onnx_build::text(o)
}

/// `dl4j convert` of a fixture to `dir/name` (inline) and `dir/ext/name` (external data).
fn export_both(rel: &str, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let inline = dir.join(name);
    let ext_dir = dir.join("ext");
    std::fs::create_dir_all(&ext_dir).unwrap();
    let external = ext_dir.join(name);
    let o = onnx_build::convert(&fixture(rel), &inline, &[]);
    assert!(o.status.success(), "{rel}: {}", text(&o));
    let o = onnx_build::convert(&fixture(rel), &external, &["--external-data"]);
    assert!(o.status.success(), "{rel} --external-data: {}", text(&o));
    (inline, external)
}

fn data_path(model: &Path) -> PathBuf {
    let mut name = model.file_name().unwrap().to_os_string();
    name.push(".data");
    model.with_file_name(name)
}

fn entry<'a>(t: &'a TensorProto, key: &str) -> Option<&'a str> {
    t.external_data
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.value.as_str())
}

/// The external model with every initializer's bytes copied back in from the data file.
fn inlined(external: &Path) -> ModelProto {
    let mut m = parse(external);
    let data = std::fs::read(data_path(external)).unwrap();
    for t in &mut m.graph.as_mut().unwrap().initializer {
        if t.external_data.is_empty() {
            continue;
        }
        let offset: usize = entry(t, "offset").unwrap().parse().unwrap();
        let length: usize = entry(t, "length").unwrap().parse().unwrap();
        t.raw_data = data[offset..offset + length].to_vec();
        t.external_data.clear();
        t.data_location = DataLocation::DEFAULT.into();
    }
    m
}

/// Element count times element size of an initializer (f32, f64, f16, u8 in our exports).
fn expected_len(t: &TensorProto) -> usize {
    let n: i64 = t.dims.iter().product();
    let size = match t.data_type {
        1 => 4,
        2 | 3 | 9 => 1,
        10 | 16 => 2,
        7 | 11 => 8,
        other => panic!("{}: unexpected element type {other}", t.name),
    };
    n as usize * size
}

#[test]
fn external_export_keeps_every_initializer_in_one_aligned_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, external) = export_both(CNN, dir.path(), "lenet.onnx");
    let data = data_path(&external);
    assert!(data.exists(), "no {}", data.display());
    let data_len = std::fs::metadata(&data).unwrap().len() as usize;
    let m = parse(&external);
    let g = m.graph.as_ref().unwrap();
    assert!(!g.initializer.is_empty());
    let mut external_count = 0;
    for t in &g.initializer {
        assert!(
            t.float_data.is_empty() && t.int32_data.is_empty() && t.int64_data.is_empty(),
            "{} keeps typed data",
            t.name
        );
        let len = expected_len(t);
        // Graph constants under 1 KiB (shapes, axes) stay inline for shape inference.
        let dl4j_tensor = ["updater.", "normalizer.", "objects.", "entries."]
            .iter()
            .any(|p| t.name.starts_with(p))
            || t.name.starts_with(|c: char| c.is_ascii_digit());
        if len == 0 || (!dl4j_tensor && len < 1024) {
            assert!(t.external_data.is_empty(), "{}", t.name);
            continue;
        }
        external_count += 1;
        assert!(t.raw_data.is_empty(), "{} keeps raw data", t.name);
        assert_eq!(
            t.data_location.enum_value(),
            Ok(DataLocation::EXTERNAL),
            "{}",
            t.name
        );
        assert_eq!(entry(t, "location"), Some("lenet.onnx.data"), "{}", t.name);
        let offset: usize = entry(t, "offset").unwrap().parse().unwrap();
        let length: usize = entry(t, "length").unwrap().parse().unwrap();
        assert_eq!(length, len, "{}", t.name);
        assert_eq!(offset % 64, 0, "{}: offset {offset} is not aligned", t.name);
        if length >= 4096 {
            assert_eq!(offset % 4096, 0, "{}: offset {offset}", t.name);
        }
        assert!(offset + length <= data_len, "{}", t.name);
    }
    // Parameters, updater state and the objects are all there.
    let names: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    for prefix in ["0_W", "updater.", "objects."] {
        assert!(
            names.iter().any(|n| n.starts_with(prefix)),
            "no {prefix}* initializer in {names:?}"
        );
    }
    assert!(external_count > 10);
    // The Reshape's shape constant stays inline.
    let shape = g.initializer.iter().find(|t| t.name == "ints_1").unwrap();
    assert!(shape.external_data.is_empty() && !shape.raw_data.is_empty());
    // The model itself is small: the bytes are in the data file.
    assert!(std::fs::metadata(&external).unwrap().len() < 100_000);
}

#[test]
fn external_export_decodes_to_the_inline_model() {
    let dir = tempfile::tempdir().unwrap();
    let (inline, external) = export_both(CNN, dir.path(), "m.onnx");
    let inline = parse(&inline);
    assert!(inlined(&external) == inline, "models differ once inlined");
}

#[test]
fn streamed_export_is_byte_identical_to_protobuf_encoding() {
    for rel in [CNN, MLP] {
        let a = open(rel);
        let streamed = dl4j::dl4j_onnx::to_onnx(&a, dl4j::dl4j_onnx::DEFAULT_OPSET).unwrap();
        let m = ModelProto::parse_from_bytes(&streamed).unwrap();
        assert!(
            m.write_to_bytes().unwrap() == streamed,
            "{rel}: streamed bytes differ from protobuf's encoding"
        );
        // And what the command line writes is the same stream.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.onnx");
        let o = onnx_build::convert(&fixture(rel), &out, &[]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            std::fs::read(&out).unwrap() == streamed,
            "{rel}: file differs"
        );
    }
}

/// The model's inputs with symbolic dimensions set to 2.
fn inputs_of(model: &Path) -> Vec<ArrayD<f32>> {
    let m = parse(model);
    let g = m.graph.as_ref().unwrap();
    g.input
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let Some(type_proto::Value::TensorType(t)) = &v.type_.value else {
                panic!("input {} is not a tensor", v.name)
            };
            let dims: Vec<usize> = t
                .shape
                .dim
                .iter()
                .map(|d| d.dim_value().max(0) as usize)
                .map(|d| if d == 0 { 2 } else { d })
                .collect();
            onnx_build::input(&dims, 7 + i as u64)
        })
        .collect()
}

#[test]
fn tract_runs_the_external_export_like_the_inline_one() {
    for (rel, name) in [(CNN, "cnn.onnx"), (MLP, "mlp.onnx")] {
        let dir = tempfile::tempdir().unwrap();
        let (inline, external) = export_both(rel, dir.path(), name);
        let x = inputs_of(&inline);
        let want = tract_run(&inline, &x, true);
        let got = tract_run(&external, &x, true);
        assert_eq!(got, want, "{rel}");
    }
}

#[test]
fn external_export_converts_back_to_the_identical_archive() {
    for rel in [CNN, MLP, IRIS] {
        let dir = tempfile::tempdir().unwrap();
        let (_, external) = export_both(rel, dir.path(), "m.onnx");
        let back = dir.path().join("back.zip");
        let o = onnx_build::convert(&external, &back, &[]);
        assert!(o.status.success(), "{rel}: {}", text(&o));
        let b = dl4j::open(&back, None).unwrap().0;
        open(rel)
            .same_as(&b)
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
    }
}

#[test]
fn external_data_needs_an_output_path() {
    let a = open(MLP);
    let format = dl4j::plugin::by_id("onnx").unwrap();
    let opts = WriteOptions {
        onnx_external_data: true,
        ..WriteOptions::default()
    };
    let mut out = Vec::new();
    let e = format
        .writer
        .unwrap()
        .write(&a, &mut out, &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("external data needs an output file"), "{e}");
    assert!(out.is_empty());
}

#[test]
fn external_data_read_from_memory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, external) = export_both(MLP, dir.path(), "m.onnx");
    let bytes = std::fs::read(&external).unwrap();
    let format = dl4j::plugin::by_id("onnx").unwrap();
    let e = format
        .reader
        .unwrap()
        .read(&bytes, &dl4j::ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not read from a file"), "{e}");
}

#[test]
fn a_model_over_two_gib_fails_up_front_and_suggests_external_data() {
    let mut a = open(MLP);
    // Zeroed pages are only reserved: the export must fail before touching them.
    a.unknown_entries
        .push(("huge.bin".into(), vec![0u8; (1usize << 31) + 16]));
    let e = dl4j::dl4j_onnx::to_onnx(&a, dl4j::dl4j_onnx::DEFAULT_OPSET)
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 GiB") && e.contains("--external-data"), "{e}");
    assert!(e.contains("bytes"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("huge.onnx");
    let e = dl4j::save(&a, &out, Some("onnx"), &WriteOptions::default(), false).unwrap_err();
    assert!(e.to_string().contains("--external-data"), "{e}");
    assert!(!out.exists(), "a partial model was left behind");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn existing_data_file_is_not_replaced_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.onnx");
    std::fs::write(data_path(&out), b"keep").unwrap();
    let o = onnx_build::convert(&fixture(MLP), &out, &["--external-data"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("m.onnx.data"), "{}", text(&o));
    assert!(!out.exists());
    assert_eq!(std::fs::read(data_path(&out)).unwrap(), b"keep");
    let o = onnx_build::convert(&fixture(MLP), &out, &["--external-data", "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::metadata(data_path(&out)).unwrap().len() > 4);
}

/// A change to a tensor's external data entries.
type Edit = dyn Fn(&mut Vec<StringStringEntryProto>);

/// Rewrites the external data entries of the first external initializer of `model` with
/// `edit` and converts it back to DL4J; the failure's message.
fn refused_after(model: &Path, edit: impl Fn(&mut Vec<StringStringEntryProto>)) -> String {
    let mut m = parse(model);
    let t = m
        .graph
        .as_mut()
        .unwrap()
        .initializer
        .iter_mut()
        .find(|t| !t.external_data.is_empty())
        .unwrap();
    edit(&mut t.external_data);
    let hostile = model.with_file_name("hostile.onnx");
    std::fs::write(&hostile, m.write_to_bytes().unwrap()).unwrap();
    let back = model.with_file_name("hostile.zip");
    let o = onnx_build::convert(&hostile, &back, &["--force"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!back.exists());
    text(&o)
}

fn set(entries: &mut [StringStringEntryProto], key: &str, value: &str) {
    entries.iter_mut().find(|e| e.key == key).unwrap().value = value.into();
}

#[test]
fn hostile_external_data_is_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (_, external) = export_both(MLP, dir.path(), "m.onnx");
    let cases: Vec<(&str, Box<Edit>, &str)> = vec![
        (
            "parent",
            Box::new(|e| set(e, "location", "../m.onnx.data")),
            "leaves the model's folder",
        ),
        (
            "absolute",
            Box::new(|e| set(e, "location", "/etc/passwd")),
            "is absolute",
        ),
        (
            "backslash",
            Box::new(|e| set(e, "location", "..\\m.onnx.data")),
            "backslash",
        ),
        (
            "past the end",
            Box::new(|e| set(e, "offset", "100000000")),
            "past the end",
        ),
        (
            "huge length",
            Box::new(|e| set(e, "length", &(1u64 << 62).to_string())),
            "past the end",
        ),
        (
            "overflowing range",
            Box::new(|e| {
                set(e, "offset", &u64::MAX.to_string());
                set(e, "length", "16");
            }),
            "past the end",
        ),
        (
            "negative offset",
            Box::new(|e| set(e, "offset", "-4")),
            "not a non-negative integer",
        ),
        (
            "no location",
            Box::new(|e| e.retain(|x| x.key != "location")),
            "no location",
        ),
        (
            "missing file",
            Box::new(|e| set(e, "location", "gone.data")),
            "gone.data",
        ),
    ];
    for (what, edit, needle) in cases {
        let msg = refused_after(&external, edit);
        assert!(msg.contains(needle), "{what}: {msg}");
        assert!(
            msg.contains("tensor \""),
            "{what}: the tensor is not named: {msg}"
        );
        assert!(!msg.contains("panicked"), "{what}: {msg}");
    }
}

#[test]
fn missing_data_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, external) = export_both(MLP, dir.path(), "m.onnx");
    std::fs::remove_file(data_path(&external)).unwrap();
    let o = onnx_build::convert(&external, &dir.path().join("back.zip"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("m.onnx.data"), "{}", text(&o));
}

#[test]
fn symlink_out_of_the_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, external) = export_both(MLP, dir.path(), "m.onnx");
    let data = data_path(&external);
    let outside = dir.path().join("outside.data");
    std::fs::rename(&data, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &data).unwrap();
    let o = onnx_build::convert(&external, &dir.path().join("back.zip"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("outside the model's folder"),
        "{}",
        text(&o)
    );
}

/// A foreign (PyTorch-like) Gemm model whose weight is inline or in `w.bin` beside it.
fn foreign_gemm(dir: &Path, external: bool) -> PathBuf {
    let w = onnx_build::values(4 * 3, 3);
    let mut wt = TensorProto::new();
    wt.name = "W".into();
    wt.data_type = 1;
    wt.dims = vec![4, 3];
    let raw: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
    if external {
        // Some padding first, as other tools write several tensors into one file.
        let mut file = vec![0u8; 128];
        file.extend(&raw);
        std::fs::write(dir.join("w.bin"), file).unwrap();
        wt.data_location = DataLocation::EXTERNAL.into();
        for (k, v) in [("location", "w.bin"), ("offset", "128"), ("length", "48")] {
            let mut e = StringStringEntryProto::new();
            e.key = k.into();
            e.value = v.into();
            wt.external_data.push(e);
        }
    } else {
        wt.raw_data = raw;
    }
    let bytes = onnx_build::model(
        vec![onnx_build::node(
            "Gemm",
            "gemm",
            &["x", "W", "b"],
            &["y"],
            vec![],
        )],
        vec![wt, onnx_build::init("b", &[3], 5)],
        onnx_build::value("x", &[None, Some(4)]),
        onnx_build::value("y", &[None, Some(3)]),
    );
    let path = dir.join("gemm.onnx");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn foreign_models_with_external_data_import() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let inline = dl4j::open(foreign_gemm(&a, false), None).unwrap().0;
    let external = dl4j::open(foreign_gemm(&b, true), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .0;
    inline.same_as(&external).unwrap();
    // The same refusals as for our own files.
    let path = foreign_gemm(&b, true);
    let mut m = parse(&path);
    let t = &mut m.graph.as_mut().unwrap().initializer[0];
    set(&mut t.external_data, "location", "/etc/passwd");
    std::fs::write(&path, m.write_to_bytes().unwrap()).unwrap();
    let e = dl4j::open(&path, None).unwrap_err().to_string();
    assert!(
        e.contains("tensor \"W\"") && e.contains("is absolute"),
        "{e}"
    );
    set(
        &mut m.graph.as_mut().unwrap().initializer[0].external_data,
        "location",
        "w.bin",
    );
    set(
        &mut m.graph.as_mut().unwrap().initializer[0].external_data,
        "length",
        "4096",
    );
    std::fs::write(&path, m.write_to_bytes().unwrap()).unwrap();
    let e = dl4j::open(&path, None).unwrap_err().to_string();
    assert!(e.contains("past the end"), "{e}");
}
