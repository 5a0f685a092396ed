//! Foreign safetensors weights (PyTorch / burn `state_dict`s) into DL4J networks described by a
//! hand-written configuration, with and without a tensor map; values checked against the source
//! tensors read independently with the `safetensors` crate.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::{dl4j, fixture, zip_entries};
use dl4j::{Archive, Encoding, ReadOptions};
use half::f16;
use safetensors::{Dtype, SafeTensors};

const BURN_MNIST: &str = "safetensors/burn/import-model-weights/mnist.safetensors";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn text(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

/// Reads foreign weights through the safetensors reader (which calls `import_foreign`).
fn import(weights: &Path, config: &str, map: Option<&str>) -> dl4j::Result<Archive> {
    let options = ReadOptions {
        config: Some(config.to_string()),
        map: map.map(str::to_string),
        ..ReadOptions::default()
    };
    dl4j::files::open_with(weights, Some("safetensors"), &options).map(|(a, _)| a)
}

/// The message without the file name the reader adds.
fn message(e: dl4j::Error) -> String {
    match e {
        dl4j::Error::InFile { source, .. } => source.to_string(),
        e => e.to_string(),
    }
}

fn import_err(weights: &Path, config: &str, map: Option<&str>) -> String {
    match import(weights, config, map) {
        Ok(_) => panic!("{} imported although it should not", weights.display()),
        Err(e) => message(e),
    }
}

/// Source tensor values (F32), read with the `safetensors` crate alone.
struct Source {
    bytes: Vec<u8>,
}

impl Source {
    fn open(path: &Path) -> Source {
        Source {
            bytes: std::fs::read(path).unwrap(),
        }
    }

    fn get(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let t = st.tensor(name).unwrap();
        assert_eq!(t.dtype(), Dtype::F32, "{name}");
        let v = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        (t.shape().to_vec(), v)
    }
}

/// A parameter of an archive as (shape, row-major f32 values), through the layout.
fn param(a: &Archive, name: &str) -> (Vec<usize>, Vec<f32>) {
    let layout = a.layout().unwrap();
    let p = layout
        .get(name)
        .unwrap_or_else(|| panic!("no parameter {name}"));
    let t = layout.extract(p, &a.params.tensor).unwrap();
    (t.shape().to_vec(), t.as_slice::<f32>().unwrap().to_vec())
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Writes a safetensors file of F32 tensors with the `safetensors` crate.
fn write_f32(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    write_raw(
        path,
        &tensors
            .iter()
            .zip(&bytes)
            .map(|((n, s, _), b)| (*n, Dtype::F32, s.clone(), b.as_slice()))
            .collect::<Vec<_>>(),
    );
}

fn write_raw(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, &[u8])]) {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.to_string(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// Distinct, recognisable values.
fn ramp(n: usize, base: f32) -> Vec<f32> {
    (0..n).map(|i| base + i as f32 * 0.25).collect()
}

/// A PyTorch `nn.Sequential(Linear(2, 3), ReLU, Linear(3, 1))` state_dict.
fn pytorch_mlp() -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
    vec![
        ("fc1.weight", vec![3, 2], ramp(6, 1.0)),
        ("fc1.bias", vec![3], ramp(3, -1.0)),
        ("fc2.weight", vec![1, 3], ramp(3, 10.0)),
        ("fc2.bias", vec![1], vec![42.0]),
    ]
}

/// `dense_2_3_1.config.json` with other layer sizes.
fn dense_config(sizes: [u64; 3]) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&text("dense_2_3_1.config.json")).unwrap();
    for (i, io) in [(0, [sizes[0], sizes[1]]), (1, [sizes[1], sizes[2]])] {
        let layer = &mut v["confs"][i]["layer"];
        layer["nin"] = io[0].into();
        layer["nout"] = io[1].into();
    }
    serde_json::to_string_pretty(&v).unwrap()
}

/// `W[i][j] == src[j][i]` for a DL4J `[nIn, nOut]` and a PyTorch `[nOut, nIn]`.
fn assert_transposed(w: &(Vec<usize>, Vec<f32>), src: &(Vec<usize>, Vec<f32>), what: &str) {
    let (nin, nout) = (w.0[0], w.0[1]);
    assert_eq!(src.0, [nout, nin], "{what}");
    for i in 0..nin {
        for j in 0..nout {
            assert_eq!(
                w.1[i * nout + j].to_bits(),
                src.1[j * nin + i].to_bits(),
                "{what}: W[{i}][{j}]"
            );
        }
    }
}

#[test]
fn burn_mnist_with_a_map_becomes_a_dl4j_zip_with_the_source_values() {
    let weights = fixture(BURN_MNIST);
    let config = text("burn_mnist.config.json");
    let archive = import(&weights, &config, Some(&text("burn_mnist.map.toml"))).unwrap();
    assert_eq!(archive.dtype(), dl4j::DType::F32);
    assert_eq!(archive.origin.format, "safetensors");
    assert_eq!(archive.config.text(), config);
    assert!(archive.updater_state.is_none() && archive.normalizer.is_none());

    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("mnist.zip");
    dl4j::save(&archive, &zip, Some("dl4j"), &Default::default(), false).unwrap();
    let (back, format) = dl4j::open(&zip, None).unwrap();
    assert_eq!(format.id, "dl4j");
    back.same_as(&archive).unwrap();
    assert_eq!(back.params.encoding(), Encoding::Modern);
    assert_eq!(back.params.tensor.shape(), [1, 376_938]);

    // coefficients.bin in the MIXED_DATA_TYPES encoding, FLOAT data.
    let entries = zip_entries(&zip);
    let (_, coeff) = entries
        .iter()
        .find(|(n, _)| n == "coefficients.bin")
        .unwrap();
    assert!(coeff.starts_with(b"\x00\x10MIXED_DATA_TYPES"));
    let float_tag = b"\x00\x05FLOAT";
    assert!(coeff.windows(float_tag.len()).any(|w| w == float_tag));

    let src = Source::open(&weights);
    // Convolutions and biases: element for element, same shape.
    for (dl4j_name, torch) in [
        ("0_W", "conv1.weight"),
        ("0_b", "conv1.bias"),
        ("1_W", "conv2.weight"),
        ("1_b", "conv2.bias"),
        ("2_W", "conv3.weight"),
        ("2_b", "conv3.bias"),
        ("3_gamma", "norm1.weight"),
        ("3_beta", "norm1.bias"),
        ("3_mean", "norm1.running_mean"),
        ("3_var", "norm1.running_var"),
        ("4_b", "fc1.bias"),
        ("5_b", "fc2.bias"),
        ("6_gamma", "norm2.weight"),
        ("6_beta", "norm2.bias"),
        ("6_mean", "norm2.running_mean"),
        ("6_var", "norm2.running_var"),
    ] {
        let (ps, pv) = param(&back, dl4j_name);
        let (ss, sv) = src.get(torch);
        assert_eq!(ps, ss, "{dl4j_name} vs {torch}");
        assert_eq!(bits(&pv), bits(&sv), "{dl4j_name} vs {torch}");
    }
    // A BN gamma is not its beta (the map put them right).
    assert_ne!(param(&back, "3_gamma").1, param(&back, "3_beta").1);

    // Dense layers: W[i][j] == fc.weight[j][i].
    let w4 = param(&back, "4_W");
    let fc1 = src.get("fc1.weight");
    assert_eq!(w4.0, [11616, 32]);
    for (i, j) in [
        (0, 0),
        (0, 31),
        (11615, 0),
        (11615, 31),
        (1, 2),
        (5000, 17),
        (484, 3),
    ] {
        assert_eq!(
            w4.1[i * 32 + j].to_bits(),
            fc1.1[j * 11616 + i].to_bits(),
            "4_W[{i}][{j}]"
        );
    }
    assert_transposed(&w4, &fc1, "4_W");
    assert_transposed(&param(&back, "5_W"), &src.get("fc2.weight"), "5_W");

    // The flat vector itself: dense W is stored in f order, so element (i, j) of 4_W sits at
    // offset + i + j * 11616 -- which makes the segment fc1.weight's row-major bytes.
    let layout = back.layout().unwrap();
    let p4 = layout.get("4_W").unwrap();
    assert_eq!(p4.order, dl4j::Order::F);
    let flat = back.params.tensor.as_slice::<f32>().unwrap();
    assert_eq!(bits(&flat[p4.range()]), bits(&fc1.1));
    // Convolution W is c order: the segment is conv1.weight as stored.
    let p0 = layout.get("0_W").unwrap();
    assert_eq!(bits(&flat[p0.range()]), bits(&src.get("conv1.weight").1));
}

#[test]
fn burn_mnist_without_a_map_fails_listing_only_the_counters() {
    let weights = fixture(BURN_MNIST);
    let msg = import_err(&weights, &text("burn_mnist.config.json"), None);
    assert!(msg.contains("norm1.num_batches_tracked [] i64"), "{msg}");
    assert!(msg.contains("norm2.num_batches_tracked [] i64"), "{msg}");
    assert!(msg.contains("tensors left over (2)"), "{msg}");
    // Nothing else: every float tensor found its parameter, every parameter was filled.
    let items: Vec<&str> = msg.lines().filter(|l| l.starts_with("    - ")).collect();
    assert_eq!(items.len(), 2, "{msg}");
    for other in [
        "conv",
        "fc1",
        "fc2",
        "weight",
        "bias",
        "running",
        "0_W",
        "6_var",
        "gamma",
        "no tensor fills",
        "map problems",
    ] {
        assert!(!msg.contains(other), "{other:?} in {msg}");
    }
}

#[test]
fn burn_mnist_with_only_an_ignore_list_matches_like_the_full_map() {
    let weights = fixture(BURN_MNIST);
    let config = text("burn_mnist.config.json");
    let full = import(&weights, &config, Some(&text("burn_mnist.map.toml"))).unwrap();
    let auto = import(
        &weights,
        &config,
        Some("ignore = [\"*.num_batches_tracked\"]\n"),
    )
    .unwrap();
    // Bit for bit: the shape rule took BN weight for gamma and bias for beta although the file
    // (sorted by name) lists bias first, and transposed both Linear weights.
    auto.same_as(&full).unwrap();
}

#[test]
fn pytorch_linear_layout_converts_without_a_map() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("mlp.safetensors");
    let tensors = pytorch_mlp();
    write_f32(&weights, &tensors);
    let archive = import(&weights, &text("dense_2_3_1.config.json"), None).unwrap();

    let zip = dir.path().join("mlp.zip");
    dl4j::save(&archive, &zip, Some("dl4j"), &Default::default(), false).unwrap();
    let (back, _) = dl4j::open(&zip, None).unwrap();
    back.same_as(&archive).unwrap();

    let get = |n: &str| {
        let (_, s, v) = tensors.iter().find(|t| t.0 == n).unwrap();
        (s.clone(), v.clone())
    };
    let w0 = param(&back, "0_W");
    assert_eq!(w0.0, [2, 3]);
    assert_transposed(&w0, &get("fc1.weight"), "0_W");
    // W[1][2] is the weight from input 1 to unit 2: PyTorch's fc1.weight[2][1] = 1.0 + 5 * 0.25.
    assert_eq!(w0.1[3 + 2], 2.25);
    assert_eq!(param(&back, "0_b").1, get("fc1.bias").1);
    let w1 = param(&back, "1_W");
    assert_eq!(w1.0, [3, 1]);
    assert_transposed(&w1, &get("fc2.weight"), "1_W");
    assert_eq!(param(&back, "1_b").1, [42.0]);
    // Dense W is f-ordered, so the flat vector is the PyTorch tensors' row-major data in order.
    let expected: Vec<f32> = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
        .iter()
        .flat_map(|n| get(n).1)
        .collect();
    assert_eq!(back.params.tensor.as_slice::<f32>().unwrap(), expected);
}

#[test]
fn square_weights_follow_the_orientation_of_the_other_matrices() {
    let dir = tempfile::tempdir().unwrap();
    // Linear(2, 2) then Linear(2, 1): fc2's [1, 2] shows the file is [out, in].
    let weights = dir.path().join("square.safetensors");
    let fc1 = ramp(4, 1.0);
    write_f32(
        &weights,
        &[
            ("fc1.weight", vec![2, 2], fc1.clone()),
            ("fc1.bias", vec![2], ramp(2, -1.0)),
            ("fc2.weight", vec![1, 2], ramp(2, 10.0)),
            ("fc2.bias", vec![1], vec![42.0]),
        ],
    );
    let a = import(&weights, &dense_config([2, 2, 1]), None).unwrap();
    assert_transposed(&param(&a, "0_W"), &(vec![2, 2], fc1.clone()), "0_W");

    // Only square matrices: nothing tells the orientation, so the rule refuses...
    let all_square = dir.path().join("all_square.safetensors");
    write_f32(
        &all_square,
        &[
            ("fc1.weight", vec![2, 2], fc1.clone()),
            ("fc1.bias", vec![2], ramp(2, -1.0)),
            ("fc2.weight", vec![2, 2], ramp(4, 10.0)),
            ("fc2.bias", vec![2], ramp(2, 20.0)),
        ],
    );
    let config = dense_config([2, 2, 2]);
    let msg = import_err(&all_square, &config, None);
    assert!(msg.contains("0_W [2, 2] is square"), "{msg}");
    assert!(msg.contains("1_W [2, 2] is square"), "{msg}");
    // ... and a map decides it (fc1 pinned, the rest follows its orientation).
    let map = "[tensors]\n\"fc1.weight\" = { param = \"0_W\", transpose = true }\n";
    let a = import(&all_square, &config, Some(map)).unwrap();
    assert_transposed(&param(&a, "0_W"), &(vec![2, 2], fc1), "0_W");
    assert_transposed(&param(&a, "1_W"), &(vec![2, 2], ramp(4, 10.0)), "1_W");
}

#[test]
fn a_wrong_shape_and_a_missing_tensor_are_listed_together() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("bad.safetensors");
    let mut tensors = pytorch_mlp();
    tensors[0] = ("fc1.weight", vec![3, 5], ramp(15, 1.0)); // should be [3, 2]
    tensors.retain(|t| t.0 != "fc2.bias"); // missing
    write_f32(&weights, &tensors);
    let msg = import_err(&weights, &text("dense_2_3_1.config.json"), None);
    assert!(msg.contains("no tensor fills (2)"), "{msg}");
    assert!(msg.contains("0_W [2, 3]"), "{msg}");
    assert!(msg.contains("1_b [1]"), "{msg}");
    assert!(msg.contains("tensors left over (1)"), "{msg}");
    assert!(msg.contains("fc1.weight [3, 5] f32"), "{msg}");
}

#[test]
fn map_problems_are_all_reported_in_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("mlp.safetensors");
    write_f32(&weights, &pytorch_mlp());
    let map = r#"
        ignore = ["*.running_var"]
        [tensors]
        "fc1.weight" = "0_W"
        "fc1.bias" = "0_b"
        "fc2.bias" = "0_b"
        "fc3.weight" = "1_W"
        "fc2.weight" = { param = "2_W", transpose = true }
    "#;
    let msg = import_err(&weights, &text("dense_2_3_1.config.json"), Some(map));
    for expected in [
        r#"ignore: "*.running_var" matches no tensor"#,
        r#""fc1.weight" [3, 2] does not fit 0_W [2, 3] (add transpose = true)"#,
        r#"0_b is the target of both "fc1.bias" and "fc2.bias""#,
        r#""fc3.weight": the file has no such tensor"#,
        r#""fc2.weight": the configuration has no parameter "2_W""#,
        "the configuration's parameters are: 0_W, 0_b, 1_W, 1_b",
    ] {
        assert!(msg.contains(expected), "{expected:?} missing from {msg}");
    }

    // Syntax-level problems are collected too.
    let map = "colour = 1\n[tensors]\n\"fc1.weight\" = { param = \"0_W\", transpose = \"yes\", flip = true }\n";
    let msg = import_err(&weights, &text("dense_2_3_1.config.json"), Some(map));
    for expected in [
        "unknown key `colour`",
        "`transpose` must be true or false",
        "unknown key `flip`",
    ] {
        assert!(msg.contains(expected), "{expected:?} missing from {msg}");
    }
}

#[test]
fn auto_false_requires_every_parameter_in_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("mlp.safetensors");
    write_f32(&weights, &pytorch_mlp());
    let map = "auto = false\n[tensors]\n\"fc1.weight\" = { param = \"0_W\", transpose = true }\n";
    let msg = import_err(&weights, &text("dense_2_3_1.config.json"), Some(map));
    assert!(msg.contains("no tensor fills (3)"), "{msg}");
    assert!(msg.contains("tensors left over (3)"), "{msg}");
    assert!(!msg.contains("0_W"), "{msg}");
}

#[test]
fn dtypes_widen_exactly_or_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let halves = |v: &[f32]| -> Vec<u8> {
        v.iter()
            .flat_map(|&x| f16::from_f32(x).to_bits().to_le_bytes())
            .collect()
    };
    let doubles =
        |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|&x| (x as f64).to_le_bytes()).collect() };
    let t = pytorch_mlp();
    let write = |name: &str, enc: &dyn Fn(&[f32]) -> Vec<u8>, dtype: Dtype| -> PathBuf {
        let p = dir.path().join(name);
        let bytes: Vec<Vec<u8>> = t.iter().map(|(_, _, v)| enc(v)).collect();
        let list: Vec<_> = t
            .iter()
            .zip(&bytes)
            .map(|((n, s, _), b)| (*n, dtype, s.clone(), b.as_slice()))
            .collect();
        write_raw(&p, &list);
        p
    };
    // F16 weights into a FLOAT network: widened exactly.
    let f16_file = write("h.safetensors", &halves, Dtype::F16);
    let a = import(&f16_file, &text("dense_2_3_1.config.json"), None).unwrap();
    assert_eq!(a.dtype(), dl4j::DType::F32);
    assert_eq!(param(&a, "1_b").1, [42.0]);
    // F64 weights into a FLOAT network would lose precision.
    let f64_file = write("d.safetensors", &doubles, Dtype::F64);
    let msg = import_err(&f64_file, &text("dense_2_3_1.config.json"), None);
    assert!(msg.contains("lose precision"), "{msg}");
    assert!(msg.contains("f64: 4"), "{msg}");
    // Without dataType the weights decide.
    let mut v: serde_json::Value = serde_json::from_str(&text("dense_2_3_1.config.json")).unwrap();
    v.as_object_mut().unwrap().remove("dataType");
    let a = import(&f64_file, &v.to_string(), None).unwrap();
    assert_eq!(a.dtype(), dl4j::DType::F64);
    let expected: Vec<f64> = t
        .iter()
        .flat_map(|(_, _, v)| v.iter().map(|&x| x as f64))
        .collect();
    assert_eq!(a.params.tensor.as_slice::<f64>().unwrap(), expected);
}

#[test]
fn log10_std_batch_norm_needs_the_transform() {
    let weights = fixture(BURN_MNIST);
    // norm2 stores log10(std): its NeuralNetConfiguration's variables do not list "var".
    let mut v: serde_json::Value = serde_json::from_str(&text("burn_mnist.config.json")).unwrap();
    v["confs"][6]["variables"] = serde_json::json!(["gamma", "beta", "mean", "log10stdev"]);
    let config = v.to_string();

    let msg = import_err(
        &weights,
        &config,
        Some("ignore = [\"*.num_batches_tracked\"]"),
    );
    assert!(msg.contains("6_log10stdev [10]"), "{msg}");
    assert!(msg.contains("norm2.running_var [10] f32"), "{msg}");
    assert!(msg.contains("transform = \"log10_std\""), "{msg}");

    let map = "ignore = [\"*.num_batches_tracked\"]\n[tensors]\n\"norm2.running_var\" = { param = \"6_log10stdev\", transform = \"log10_std\" }\n";
    let a = import(&weights, &config, Some(map)).unwrap();
    let (_, var) = Source::open(&weights).get("norm2.running_var");
    let (_, log_std) = param(&a, "6_log10stdev");
    for (l, v) in log_std.iter().zip(&var) {
        assert_eq!(*l, (0.5 * (*v as f64).log10()) as f32);
        // DL4J's reading: var = (10^l)^2.
        assert!(((10f64.powf(*l as f64)).powi(2) - *v as f64).abs() < 1e-5 * (*v as f64));
    }
}

#[test]
fn the_command_line_converts_foreign_weights_with_config_and_map() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mnist.zip");
    let r = dl4j(&[
        OsStr::new("convert"),
        fixture(BURN_MNIST).as_os_str(),
        out.as_os_str(),
        OsStr::new("--config"),
        data("burn_mnist.config.json").as_os_str(),
        OsStr::new("--map"),
        data("burn_mnist.map.toml").as_os_str(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (a, _) = dl4j::open(&out, None).unwrap();
    let src = Source::open(&fixture(BURN_MNIST));
    assert_eq!(bits(&param(&a, "2_W").1), bits(&src.get("conv3.weight").1));
}
