//! Layout rules that the fixtures do not exercise, on configurations written the way DL4J writes
//! them (spec: binary §4-§5, config §6-§7). Expected values are worked out by hand from the spec.

mod common;

use dl4j::layout::ParamLayout;
use dl4j::nd4j::{read_array_exact, Encoding, Nd4jArray};
use dl4j::updater::{StateLayoutKind, UpdaterLayout};
use dl4j::{Archive, Configuration, Origin, ParamsStorage, Tensor, TensorData};
use serde_json::{json, Value};

fn adam() -> Value {
    json!({"@class": "org.nd4j.linalg.learning.config.Adam", "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "learningRate": 0.001})
}
fn sgd() -> Value {
    json!({"@class": "org.nd4j.linalg.learning.config.Sgd", "learningRate": 0.1})
}

fn mln(layers: Vec<Value>) -> Configuration {
    let confs: Vec<Value> = layers
        .into_iter()
        .map(|l| {
            let vars = l.get("__vars").cloned().unwrap_or(json!([]));
            let mut l = l;
            l.as_object_mut().unwrap().remove("__vars");
            json!({"layer": l, "variables": vars})
        })
        .collect();
    Configuration::parse(serde_json::to_string_pretty(&json!({"confs": confs})).unwrap()).unwrap()
}

fn layer(class: &str, fields: Value) -> Value {
    let mut v = json!({"@class": format!("org.deeplearning4j.nn.conf.layers.{class}")});
    v.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    v
}

fn blocks(u: &UpdaterLayout) -> Vec<(String, usize, usize, usize)> {
    u.blocks
        .iter()
        .map(|b| (b.updater.clone(), b.param_start, b.param_len, b.state_start))
        .collect()
}

#[test]
fn bias_updater_and_batchnorm_statistics_break_blocks() {
    let c = mln(vec![
        layer(
            "DenseLayer",
            json!({"nin": 2, "nout": 3, "iupdater": adam(), "biasUpdater": sgd()}),
        ),
        layer(
            "BatchNormalization",
            json!({"nin": 3, "nout": 3, "iupdater": adam(), "__vars": ["gamma", "beta", "mean", "var"]}),
        ),
        layer(
            "OutputLayer",
            json!({"nin": 3, "nout": 2, "iupdater": adam()}),
        ),
    ]);
    let l = ParamLayout::build(&c, 6 + 3 + 12 + 8).unwrap();
    let names: Vec<&str> = l.params().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["0_W", "0_b", "1_gamma", "1_beta", "1_mean", "1_var", "2_W", "2_b"]
    );
    let u = UpdaterLayout::build(&c, &l, 2 * 6 + 2 * 6 + 2 * 8).unwrap();
    assert_eq!(
        blocks(&u),
        vec![
            ("Adam".into(), 0, 6, 0),   // 0_W
            ("Sgd".into(), 6, 3, 12),   // 0_b: bias updater, no state
            ("Adam".into(), 9, 6, 12),  // gamma, beta
            ("NoOp".into(), 15, 6, 24), // running mean / var
            ("Adam".into(), 21, 8, 24), // output layer
        ]
    );
    assert_eq!(u.total, 40);
    assert_eq!(u.summary(), "Adam");
}

#[test]
fn batchnorm_log10stdev_is_chosen_by_the_variables_list() {
    let c = mln(vec![layer(
        "BatchNormalization",
        json!({"nin": 4, "nout": 4, "lockGammaBeta": true, "__vars": ["mean", "log10stdev"]}),
    )]);
    let l = ParamLayout::build(&c, 8).unwrap();
    let keys: Vec<&str> = l.params().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["mean", "log10stdev"]);
}

#[test]
fn depthwise_blocks_follow_table_order_over_memory_order() {
    // Memory: b (4) then W (2*2*2*2 = 16); paramTable: W then b. With a bias updater the first
    // block covers the first 16 flat positions (b and 12 of W), as DL4J maps them literally.
    let c = mln(vec![layer(
        "DepthwiseConvolution2D",
        json!({"nin": 2, "nout": 4, "depthMultiplier": 2, "kernelSize": [2, 2], "iupdater": adam(), "biasUpdater": {"@class": "org.nd4j.linalg.learning.config.Nesterovs", "learningRate": 0.1, "momentum": 0.9}}),
    )]);
    let l = ParamLayout::build(&c, 20).unwrap();
    assert_eq!(l.get("0_b").unwrap().offset, 0);
    assert_eq!(l.get("0_W").unwrap().offset, 4);
    assert_eq!(l.get("0_W").unwrap().shape, vec![2, 2, 2, 2]);
    let u = UpdaterLayout::build(&c, &l, 2 * 16 + 4).unwrap();
    assert_eq!(
        blocks(&u),
        vec![("Adam".into(), 0, 16, 0), ("Nesterovs".into(), 16, 4, 32)]
    );
    // State of b (flat 0..4): Adam m at state 0..4, v at 16..20.
    let idx = u.piece_indices(0, 4).unwrap();
    assert_eq!(
        idx,
        vec![("m", vec![0, 1, 2, 3]), ("v", vec![16, 17, 18, 19])]
    );
    // The last 4 elements of W fall in the Nesterovs block.
    let idx = u.piece_indices(16, 4).unwrap();
    assert_eq!(idx, vec![("v", vec![32, 33, 34, 35])]);
}

#[test]
fn legacy_adam_state_is_stored_per_parameter() {
    // 0.5-0.8: m(W) v(W) m(b) v(b) per layer, not all m then all v.
    let legacy = |class: &str, nin: usize, nout: usize| json!({class: {"nin": nin, "nout": nout, "updater": "ADAM", "activationFunction": "relu"}});
    let c = Configuration::parse(
        serde_json::to_string(&json!({"confs": [{"layer": legacy("dense", 2, 2)}, {"layer": legacy("output", 2, 1)}]}))
            .unwrap(),
    )
    .unwrap();
    let l = ParamLayout::build(&c, 6 + 3).unwrap();
    let u = UpdaterLayout::build(&c, &l, 18).unwrap();
    assert_eq!(u.kind, StateLayoutKind::PerParameter);
    assert_eq!(
        blocks(&u),
        vec![
            ("Adam".into(), 0, 4, 0),
            ("Adam".into(), 4, 2, 8),
            ("Adam".into(), 6, 2, 12),
            ("Adam".into(), 8, 1, 16),
        ]
    );
    assert_eq!(
        u.piece_indices(4, 2).unwrap(),
        vec![("m", vec![8, 9]), ("v", vec![10, 11])]
    );
}

#[test]
fn every_updater_has_its_pieces() {
    for (class, pieces) in [
        ("Sgd", vec![]),
        ("NoOp", vec![]),
        ("Nesterovs", vec!["v"]),
        ("AdaGrad", vec!["historicalGradient"]),
        ("RmsProp", vec!["lastGradient"]),
        ("Adam", vec!["m", "v"]),
        ("AdaMax", vec!["m", "u"]),
        ("Nadam", vec!["m", "v"]),
        ("AdaDelta", vec!["msg", "msdx"]),
        ("AMSGrad", vec!["m", "v", "vHat"]),
        ("AdaBelief", vec!["m", "s"]),
    ] {
        let u = json!({"@class": format!("org.nd4j.linalg.learning.config.{class}")});
        let c = mln(vec![layer(
            "DenseLayer",
            json!({"nin": 2, "nout": 2, "iupdater": u}),
        )]);
        let l = ParamLayout::build(&c, 6).unwrap();
        let ul = UpdaterLayout::build(&c, &l, 6 * pieces.len()).unwrap();
        let got: Vec<&str> = ul
            .piece_indices(0, 1)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(got, pieces, "{class}");
    }
}

#[test]
fn frozen_layers_have_no_state_from_beta2_but_inner_state_before() {
    let c = mln(vec![
        layer(
            "misc.FrozenLayer",
            json!({"layer": layer("DenseLayer", json!({"nin": 2, "nout": 2, "iupdater": adam()}))}),
        ),
        layer(
            "OutputLayer",
            json!({"nin": 2, "nout": 1, "iupdater": adam()}),
        ),
    ]);
    let l = ParamLayout::build(&c, 9).unwrap();
    let modern = UpdaterLayout::build(&c, &l, 6).unwrap();
    assert_eq!(
        blocks(&modern),
        vec![("NoOp".into(), 0, 6, 0), ("Adam".into(), 6, 3, 0)]
    );
    let old = UpdaterLayout::build(&c, &l, 18).unwrap();
    assert_eq!(blocks(&old), vec![("Adam".into(), 0, 9, 0)]);
    let e = UpdaterLayout::build(&c, &l, 7).unwrap_err().to_string();
    assert!(e.contains("holds 7 values") && e.contains("needs 6"), "{e}");
}

#[test]
fn samediff_layers_use_their_stored_shapes() {
    let c = mln(vec![layer(
        "LocallyConnected2D",
        json!({"nin": 2, "nout": 3, "kernel": [2, 2], "hasBias": true, "updater": adam(),
               "layerParams": {"biasParams": {"b": [3]}, "weightParams": {"W": [4, 8, 3]}}}),
    )]);
    let l = ParamLayout::build(&c, 99).unwrap();
    let got: Vec<(&str, Vec<usize>, usize)> = l
        .params()
        .map(|p| (p.key.as_str(), p.shape.clone(), p.offset))
        .collect();
    assert_eq!(got, vec![("W", vec![4, 8, 3], 0), ("b", vec![3], 96)]);
    let u = UpdaterLayout::build(&c, &l, 198).unwrap();
    assert_eq!(u.blocks.len(), 1);
}

#[test]
fn graph_order_emulates_java_hashset_iteration() {
    // Inputs "in" (0) and "in2" (1); a0..a3 (2..5) and z (18) consume "in", f0..f11 (6..17)
    // consume "in2". in's consumer set {2, 3, 4, 5, 18} has 16 buckets and 18 lands in bucket 2,
    // right after a0: DL4J visits a0, z, a1, a2, a3 - not ascending order.
    let dense = || {
        json!({"@class": "org.deeplearning4j.nn.conf.graph.LayerVertex",
               "layerConf": {"layer": layer("DenseLayer", json!({"nin": 1, "nout": 1, "iupdater": sgd()})), "variables": []}})
    };
    let mut vertices = serde_json::Map::new();
    let mut inputs = serde_json::Map::new();
    for i in 0..4 {
        vertices.insert(format!("a{i}"), dense());
        inputs.insert(format!("a{i}"), json!(["in"]));
    }
    for i in 0..12 {
        vertices.insert(format!("f{i}"), dense());
        inputs.insert(format!("f{i}"), json!(["in2"]));
    }
    vertices.insert("z".into(), dense());
    inputs.insert("z".into(), json!(["in"]));
    let cfg = json!({"networkInputs": ["in", "in2"], "networkOutputs": ["z"], "vertices": vertices, "vertexInputs": inputs});
    let c = Configuration::parse(serde_json::to_string(&cfg).unwrap()).unwrap();
    let order = c.graph().unwrap().unwrap().topological_order().unwrap();
    // in2's consumers 6..17 fit 16 buckets (12 <= 0.75 * 16): f10 (16) and f11 (17) wrap to
    // buckets 0 and 1 and come first.
    let mut expect: Vec<String> = ["in", "in2", "a0", "z", "a1", "a2", "a3", "f10", "f11"]
        .map(String::from)
        .to_vec();
    expect.extend((0..10).map(|i| format!("f{i}")));
    assert_eq!(order, expect);
    // Parameters follow that order: z's two values come right after a0's.
    let l = ParamLayout::build(&c, 17 * 2).unwrap();
    assert_eq!(l.get("a0_W").unwrap().offset, 0);
    assert_eq!(l.get("z_W").unwrap().offset, 2);
    assert_eq!(l.get("a1_W").unwrap().offset, 4);
}

fn archive(config: Configuration, params: Nd4jArray, storage: ParamsStorage) -> Archive {
    Archive {
        config,
        params,
        params_storage: storage,
        updater_state: None,
        normalizer: None,
        objects: vec![],
        unknown_entries: vec![],
        origin: Origin {
            format: "test".into(),
            encoding: Some(Encoding::Modern),
            dtype: dl4j::DType::F32,
        },
    }
}

fn round_trip(a: &Archive) -> Archive {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.zip");
    dl4j::save(a, &p, None, &Default::default(), false).unwrap();
    dl4j::open(&p, None).unwrap().0
}

#[test]
fn parameterless_models_use_no_params_marker() {
    let c = mln(vec![layer("ActivationLayer", json!({}))]);
    let empty = Tensor::new(vec![1, 0], TensorData::F32(vec![])).unwrap();
    let a = archive(
        c,
        Nd4jArray::new(empty, Encoding::Modern),
        ParamsStorage::Empty { marker: true },
    );
    let b = round_trip(&a);
    assert_eq!(b.params_storage, ParamsStorage::Empty { marker: true });
    assert_eq!(b.num_params(), 0);
    a.same_as(&b).unwrap();
}

#[test]
fn rank1_params_and_other_dtypes_round_trip() {
    // M2.1 writes [N] vectors; bf16 needs the modern encoding.
    let c = mln(vec![layer("DenseLayer", json!({"nin": 2, "nout": 2}))]);
    let data = TensorData::BF16(
        (0..6)
            .map(|i| half::bf16::from_f32(i as f32 * 0.5))
            .collect(),
    );
    let a = archive(
        c,
        Nd4jArray::new(Tensor::vector(data), Encoding::Modern),
        ParamsStorage::Array,
    );
    let b = round_trip(&a);
    assert_eq!(b.params.tensor.shape(), [6]);
    a.same_as(&b).unwrap();
    let l = b.layout().unwrap();
    let w = l
        .view::<half::bf16>(l.get("0_W").unwrap(), &b.params.tensor)
        .unwrap();
    assert_eq!(w[[1, 1]].to_f32(), 1.5); // f order: [1][1] at 1 + 2*1 = 3

    // The legacy encoding cannot hold bf16: a clear error, no file.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("legacy.zip");
    let opts = dl4j::WriteOptions {
        dl4j_encoding: Some(Encoding::Legacy),
        ..Default::default()
    };
    let e = dl4j::save(&a, &p, None, &opts, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bf16") && e.contains("legacy"), "{e}");
    assert!(!p.exists());
}

#[test]
fn shape_only_empty_arrays_are_read() {
    // M2.1 writes an empty array as its shape buffer alone: rank 1, shape [0], extras FLOAT|EMPTY.
    let mut b = Vec::new();
    let utf = |b: &mut Vec<u8>, s: &str| {
        b.extend((s.len() as u16).to_be_bytes());
        b.extend(s.as_bytes());
    };
    utf(&mut b, "MIXED_DATA_TYPES");
    b.extend(6i64.to_be_bytes());
    utf(&mut b, "LONG");
    for v in [1i64, 0, 1, 8192 | 8, 1, 99] {
        b.extend(v.to_be_bytes());
    }
    let a = read_array_exact(&b).unwrap();
    assert!(a.shape_only);
    assert_eq!(a.tensor.shape(), [0]);
    assert_eq!(a.tensor.dtype(), dl4j::DType::F32);
    assert_eq!(
        dl4j::nd4j::array_to_bytes(&a).unwrap(),
        b,
        "written back the same way"
    );
}

#[test]
fn legacy_entries_are_kept_as_unknown_entries() {
    let c = mln(vec![layer("DenseLayer", json!({"nin": 1, "nout": 1}))]);
    let p = Tensor::new(vec![1, 2], TensorData::F32(vec![0.5, -0.5])).unwrap();
    let mut a = archive(c, Nd4jArray::new(p, Encoding::Legacy), ParamsStorage::Array);
    a.origin.encoding = Some(Encoding::Legacy);
    a.unknown_entries = vec![
        ("updater.bin".into(), vec![0xAC, 0xED, 0, 5, 0x70]),
        ("preprocessor.bin".into(), vec![0xAC, 0xED, 0, 5, 0x70]),
        ("notes/readme.txt".into(), b"hello".to_vec()),
    ];
    let b = round_trip(&a);
    a.same_as(&b).unwrap();
    assert_eq!(b.unknown_entries.len(), 3);
}

#[test]
fn stray_no_params_marker_next_to_real_coefficients_survives() {
    let (mut a, _) = dl4j::open(
        common::fixture("dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip"),
        None,
    )
    .unwrap();
    a.unknown_entries.push(("noParams.marker".into(), vec![]));
    let b = round_trip(&a);
    a.same_as(&b).unwrap();
    assert_eq!(b.params_storage, ParamsStorage::Array);
}

#[test]
fn windows_charset_configuration_round_trips_byte_for_byte() {
    // DL4J on Windows writes configuration.json in windows-1252: "é" is the single byte 0xE9.
    use std::io::Write;
    let mut entries = common::zip_entries(&common::fixture(
        "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
    ));
    let text = String::from_utf8(entries[0].1.clone()).unwrap();
    let mut bytes = text
        .replacen("\"layerName\" : null", "\"layerName\" : \"caf\u{e9}\"", 1)
        .into_bytes();
    let at = bytes.windows(2).position(|w| w == "é".as_bytes()).unwrap();
    bytes.splice(at..at + 2, [0xE9]);
    entries[0].1 = bytes.clone();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("win.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&src).unwrap());
    for (n, d) in &entries {
        z.start_file(n.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(d).unwrap();
    }
    z.finish().unwrap();

    let (a, _) = dl4j::open(&src, None).unwrap();
    assert_eq!(a.config.charset(), dl4j::config::Charset::Latin1);
    let nodes = a.config.nodes().unwrap();
    assert_eq!(nodes[0].layer.as_ref().unwrap().layer_name(), Some("café"));
    let out = dir.path().join("out.zip");
    dl4j::save(&a, &out, None, &Default::default(), false).unwrap();
    let written = common::zip_entries(&out);
    assert_eq!(written[0].1, bytes, "configuration.json bytes unchanged");
}

#[test]
fn old_pretrain_visible_bias_has_state_but_no_parameters() {
    // 0.5.0-0.7.0: an RBM's visible bias `bB` lived outside coefficients.bin, yet its Adam
    // state was saved between `b` and the next layer: m(W) v(W) m(b) v(b) m(bB) v(bB) ...
    let legacy = |class: &str, nin: usize, nout: usize| json!({class: {"nin": nin, "nout": nout, "updater": "ADAM", "activationFunction": "sigmoid"}});
    let c = Configuration::parse(
        serde_json::to_string(
            &json!({"confs": [{"layer": legacy("RBM", 3, 2)}, {"layer": legacy("output", 2, 1)}]}),
        )
        .unwrap(),
    )
    .unwrap();
    let l = ParamLayout::build(&c, 6 + 2 + 2 + 1).unwrap();
    assert!(!l.variant.pretrain_visible_bias);
    assert_eq!(l.get("1_W").unwrap().offset, 8);
    let u = UpdaterLayout::build(&c, &l, 28).unwrap();
    let detached: Vec<_> = u.blocks.iter().filter_map(|b| b.detached.clone()).collect();
    assert_eq!(detached, ["0_bB"]);
    assert_eq!(
        u.piece_indices(6, 2).unwrap(),
        vec![("m", vec![12, 13]), ("v", vec![14, 15])]
    );
    assert_eq!(
        u.piece_indices(8, 2).unwrap(),
        vec![("m", vec![22, 23]), ("v", vec![24, 25])]
    );
    assert_eq!(
        u.piece_indices(10, 1).unwrap(),
        vec![("m", vec![26]), ("v", vec![27])]
    );
}
