//! ONNX -> DL4J import: the configuration JSON of every layer type the importer emits carries
//! exactly the keys DL4J 1.0.0-M2.1 writes for that class (spec `dl4j-config-and-layers.md` §2,
//! §4, §5, §7.1, §8, §9), and the imported archive passes the native plugin's structural checks
//! (parameter layout fully known, its total equal to the stored parameter count), also after
//! being written as a zip and read back.
//!
//! Each test builds a tiny ONNX model with `onnx-protobuf` that makes the importer emit the layer
//! under test. The expected key sets are written out from the M2.1 class hierarchy:
//! `Layer` (`layerName`, `idropout`, `constraints`), `NoParamLayer` (derived getters
//! `gradientNormalization`, `gradientNormalizationThreshold`), `BaseLayer`, `FeedForwardLayer`
//! (`nin`, `nout`, `timeDistributedFormat`) and the class's own fields.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::onnx_build::{
    attr_f, attr_i, attr_is, attr_s, floats, ints_init as init_i64, model_proto,
    node as named_node, symbolic_value,
};
use dl4j::plugin::ReadOptions;
use dl4j::Archive;
use onnx_protobuf::{AttributeProto, NodeProto, TensorProto, ValueInfoProto};
use protobuf::Message;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Expected key sets (spec §8 and §9, checked against the M2.1 sources of each class).

const LAYER: &[&str] = &["@class", "constraints", "idropout", "layerName"];
/// Getters every parameter-less layer (NoParamLayer, LRN, wrappers) serializes.
const NO_PARAM: &[&str] = &["gradientNormalization", "gradientNormalizationThreshold"];
const BASE_LAYER: &[&str] = &[
    "activationFn",
    "biasInit",
    "biasUpdater",
    "gainInit",
    "gradientNormalization",
    "gradientNormalizationThreshold",
    "iupdater",
    "regularization",
    "regularizationBias",
    "weightInitFn",
    "weightNoise",
];
const FEED_FORWARD: &[&str] = &["nin", "nout", "timeDistributedFormat"];
const CONVOLUTION: &[&str] = &[
    "cnn2dDataFormat",
    "convolutionMode",
    "cudnnAlgoMode",
    "cudnnAllowFallback",
    "cudnnBwdDataAlgo",
    "cudnnBwdFilterAlgo",
    "cudnnFwdAlgo",
    "dilation",
    "hasBias",
    "kernelSize",
    "padding",
    "stride",
];
const SUBSAMPLING: &[&str] = &[
    "avgPoolIncludePadInDivisor",
    "cnn2dDataFormat",
    "convolutionMode",
    "cudnnAllowFallback",
    "dilation",
    "eps",
    "kernelSize",
    "padding",
    "pnorm",
    "poolingType",
    "stride",
];
const RECURRENT: &[&str] = &["rnnDataFormat", "weightInitFnRecurrent"];
const ABSTRACT_LSTM: &[&str] = &[
    "forgetGateBiasInit",
    "gateActivationFn",
    "helperAllowFallback",
];

/// §5: the NeuralNetConfiguration around each layer.
const NNC: &[&str] = &[
    "cacheMode",
    "dataType",
    "epochCount",
    "iterationCount",
    "layer",
    "maxNumLineSearchIterations",
    "miniBatch",
    "minimize",
    "optimizationAlgo",
    "seed",
    "stepFunction",
    "variables",
];

/// Keys every configuration carries at top level (§4, §7.1).
const TOP_COMMON: &[&str] = &[
    "backpropType",
    "cacheMode",
    "dataType",
    "epochCount",
    "inferenceWorkspaceMode",
    "iterationCount",
    "tbpttBackLength",
    "tbpttFwdLength",
    "trainingWorkspaceMode",
    "validateOutputLayerConfig",
];

/// Keys no M2.1 layer writes any more (pre-beta4 and pre-beta wrapper-era fields).
const LEGACY: &[&str] = &[
    "activationFunction",
    "weightInit",
    "dist",
    "l1",
    "l2",
    "l1Bias",
    "l2Bias",
    "learningRate",
    "biasLearningRate",
    "updater",
    "momentum",
    "dropOut",
    "convolutionType",
    "pretrain",
    "backprop",
    "nIn",
    "nOut",
];

fn keys(parts: &[&[&str]]) -> BTreeSet<String> {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .map(|s| s.to_string())
        .collect()
}

fn key_set(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn assert_keys(what: &str, got: &Value, want: &BTreeSet<String>) {
    let got = key_set(got);
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: key set differs from M2.1's\n  missing: {missing:?}\n  extra:   {extra:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Building ONNX models.

const OPSET: i64 = 13;

/// A float tensor value; negative dims are the symbolic `N`.
fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dims: Vec<Option<i64>> = dims.iter().map(|&d| (d >= 0).then_some(d)).collect();
    symbolic_value(name, &dims, 1, "N")
}

/// A float initializer with distinct values (so misplaced parameters would show).
fn init(name: &str, dims: &[i64]) -> TensorProto {
    let n: i64 = dims.iter().product();
    floats(
        name,
        dims,
        (0..n).map(|i| 0.5 + (i as f32) * 0.01).collect(),
    )
}

enum A {
    I(i64),
    Is(Vec<i64>),
    F(f32),
    S(&'static str),
}

fn attr(name: &str, a: A) -> AttributeProto {
    match a {
        A::I(v) => attr_i(name, v),
        A::Is(v) => attr_is(name, &v),
        A::F(v) => attr_f(name, v),
        A::S(v) => attr_s(name, v),
    }
}

/// A node named `<op>_<first output>`.
fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, A)>) -> NodeProto {
    let name = format!("{}_{}", op.to_ascii_lowercase(), outputs[0]);
    let attrs = attrs.into_iter().map(|(k, a)| attr(k, a)).collect();
    named_node(op, &name, inputs, outputs, attrs)
}

struct Model {
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    inits: Vec<TensorProto>,
}

impl Model {
    fn new(input: &str, dims: &[i64]) -> Model {
        Model {
            nodes: Vec::new(),
            inputs: vec![value_info(input, dims)],
            outputs: Vec::new(),
            inits: Vec::new(),
        }
    }
    fn init(mut self, name: &str, dims: &[i64]) -> Model {
        self.inits.push(init(name, dims));
        self
    }
    fn init_i64(mut self, name: &str, values: &[i64]) -> Model {
        self.inits.push(init_i64(name, values));
        self
    }
    fn node(mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, A)>) -> Model {
        self.nodes.push(node(op, inputs, outputs, attrs));
        self
    }
    fn output(mut self, name: &str, dims: &[i64]) -> Model {
        self.outputs.push(value_info(name, dims));
        self
    }

    fn bytes(self) -> Vec<u8> {
        let mut m = model_proto(self.nodes, self.inits, self.inputs, self.outputs, OPSET);
        m.graph.as_mut().unwrap().name = "onnx_import_json".into();
        m.ir_version = 7;
        m.producer_name = "onnx_import_json test".into();
        m.producer_version.clear();
        m.write_to_bytes().expect("encode ONNX")
    }
}

// ---------------------------------------------------------------------------------------------
// Importing and checking.

struct Imported {
    dir: tempfile::TempDir,
    archive: Archive,
}

fn import(model: Model) -> Imported {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, model.bytes()).unwrap();
    let (archive, _) = dl4j::files::open_with(&path, Some("onnx"), &ReadOptions::default())
        .unwrap_or_else(|e| panic!("import failed: {e}"));
    Imported { dir, archive }
}

/// Every (NeuralNetConfiguration, layer) pair of the configuration, in vertex/layer order.
fn layer_confs(config: &Value) -> Vec<(String, Value)> {
    if let Some(confs) = config["confs"].as_array() {
        confs
            .iter()
            .enumerate()
            .map(|(i, c)| (i.to_string(), c.clone()))
            .collect()
    } else {
        config["vertices"]
            .as_object()
            .expect("vertices")
            .iter()
            .filter(|(_, v)| v.get("layerConf").is_some())
            .map(|(k, v)| (k.clone(), v["layerConf"].clone()))
            .collect()
    }
}

/// The only layer of `class` (fully qualified) and its NeuralNetConfiguration.
fn find_layer(config: &Value, class: &str) -> (String, Value, Value) {
    let found: Vec<_> = layer_confs(config)
        .into_iter()
        .filter(|(_, nnc)| nnc["layer"]["@class"] == class)
        .collect();
    let classes: Vec<_> = layer_confs(config)
        .iter()
        .map(|(_, nnc)| nnc["layer"]["@class"].clone())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {class} in the imported configuration, layers are {classes:?}"
    );
    let (node, nnc) = found.into_iter().next().unwrap();
    let layer = nnc["layer"].clone();
    (node, layer, nnc)
}

fn no_legacy_keys(what: &str, v: &Value) {
    if let Some(o) = v.as_object() {
        for k in LEGACY {
            assert!(!o.contains_key(*k), "{what}: legacy key {k:?} present");
        }
    }
}

/// (c) the native plugin's structural checks on an archive: layout fully known, its total equal
/// to the number of stored parameters, and the layer's parameters are exactly `variables`.
fn check_layout(what: &str, archive: &Archive, node: &str, variables: &[&str]) {
    let layout = archive
        .layout()
        .unwrap_or_else(|e| panic!("{what}: no parameter layout: {e}"));
    assert!(
        layout.fully_known(),
        "{what}: layers of unknown layout: {:?}",
        layout.unknown
    );
    assert!(
        layout.layers.iter().all(|l| l.known),
        "{what}: a layer is not known"
    );
    assert_eq!(layout.total, archive.num_params(), "{what}: layout total");
    let summed: usize = layout.params().map(|p| p.len()).sum();
    assert_eq!(
        summed,
        archive.num_params(),
        "{what}: sum of parameter sizes"
    );
    let l = layout
        .layers
        .iter()
        .find(|l| l.node == node)
        .unwrap_or_else(|| panic!("{what}: no layout entry for node {node}"));
    let mut got: Vec<&str> = l.params.iter().map(|p| p.key.as_str()).collect();
    let mut want = variables.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "{what}: parameter keys of the layout");
}

/// (3) The archive written as a DL4J zip reads back through the native reader with the same
/// configuration and a complete layout, and `dl4j inspect --json` reports no layout error.
fn check_roundtrip(what: &str, imp: &Imported, node: &str, variables: &[&str]) -> PathBuf {
    let zip = imp.dir.path().join("model.zip");
    dl4j::save(
        &imp.archive,
        &zip,
        Some("dl4j"),
        &dl4j::plugin::WriteOptions::default(),
        true,
    )
    .unwrap_or_else(|e| panic!("{what}: writing the zip: {e}"));
    let (back, format) =
        dl4j::open(&zip, None).unwrap_or_else(|e| panic!("{what}: re-reading the zip: {e}"));
    assert_eq!(format.id, "dl4j", "{what}: re-read format");
    assert_eq!(
        back.config.value(),
        imp.archive.config.value(),
        "{what}: configuration after the round trip"
    );
    assert_eq!(back.num_params(), imp.archive.num_params());
    check_layout(&format!("{what} (re-read)"), &back, node, variables);
    inspect_ok(what, &zip);
    zip
}

fn inspect_ok(what: &str, zip: &Path) {
    let out = common::dl4j(&["inspect".as_ref(), "--json".as_ref(), zip.as_os_str()]);
    assert!(
        out.status.success(),
        "{what}: dl4j inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("inspect --json output");
    assert_eq!(
        report["layout_error"],
        Value::Null,
        "{what}: inspect reports a layout error"
    );
    assert_eq!(
        report["unknown_params"],
        Value::Null,
        "{what}: inspect reports parameters of unknown layout"
    );
}

/// The whole per-layer check: (a) key set, (b) `@class`, (c) layout, (d) NNC keys and
/// `variables`, then the zip round trip.
fn check(imp: &Imported, class: &str, want: &BTreeSet<String>, variables: &[&str]) -> Value {
    let full = format!("org.deeplearning4j.nn.conf.layers.{class}");
    let config = imp.archive.config.value();
    let (node, layer, nnc) = find_layer(config, &full);
    assert_eq!(layer["@class"], full.as_str(), "{class}: @class");
    assert_keys(class, &layer, want);
    no_legacy_keys(class, &layer);
    assert_keys(
        &format!("{class}: NeuralNetConfiguration"),
        &nnc,
        &keys(&[NNC]),
    );
    let vars: Vec<&str> = nnc["variables"]
        .as_array()
        .expect("variables is a list")
        .iter()
        .map(|v| v.as_str().expect("variable name"))
        .collect();
    assert_eq!(vars, variables, "{class}: NNC variables");
    check_layout(class, &imp.archive, &node, variables);
    check_roundtrip(class, imp, &node, variables);
    layer
}

fn dense_keys() -> BTreeSet<String> {
    keys(&[
        LAYER,
        BASE_LAYER,
        FEED_FORWARD,
        &["hasBias", "hasLayerNorm"],
    ])
}

fn conv_keys(extra: &[&str]) -> BTreeSet<String> {
    keys(&[LAYER, BASE_LAYER, FEED_FORWARD, CONVOLUTION, extra])
}

fn no_param_keys(own: &[&str]) -> BTreeSet<String> {
    keys(&[LAYER, NO_PARAM, own])
}

fn lstm_keys() -> BTreeSet<String> {
    keys(&[LAYER, BASE_LAYER, FEED_FORWARD, RECURRENT, ABSTRACT_LSTM])
}

fn simple_rnn_keys() -> BTreeSet<String> {
    keys(&[
        LAYER,
        BASE_LAYER,
        FEED_FORWARD,
        RECURRENT,
        &["hasLayerNorm"],
    ])
}

/// A conv layer in front of the layer under test, so the network holds parameters.
fn conv_front(m: Model, c_in: i64, c_out: i64, out: &str) -> Model {
    m.init("cw", &[c_out, c_in, 1, 1])
        .init("cb", &[c_out])
        .node("Conv", &["x", "cw", "cb"], &[out], vec![])
}

// ---------------------------------------------------------------------------------------------
// One test per layer type.

#[test]
fn dense_layer() {
    // Gemm + Relu at the output: a DenseLayer (no loss is implied by ReLU).
    let m = Model::new("x", &[-1, 4])
        .init("w", &[3, 4])
        .init("b", &[3])
        .node("Gemm", &["x", "w", "b"], &["h"], vec![("transB", A::I(1))])
        .node("Relu", &["h"], &["y"], vec![])
        .output("y", &[-1, 3]);
    let imp = import(m);
    let layer = check(&imp, "DenseLayer", &dense_keys(), &["W", "b"]);
    assert_eq!(layer["nin"], 4);
    assert_eq!(layer["nout"], 3);
    assert_eq!(
        layer["activationFn"]["@class"],
        "org.nd4j.linalg.activations.impl.ActivationReLU"
    );
    // §10: ActivationReLU writes `max`, `negativeSlope`, `threshold` (null when unused).
    assert_keys(
        "ActivationReLU",
        &layer["activationFn"],
        &keys(&[&["@class", "max", "negativeSlope", "threshold"]]),
    );
}

#[test]
fn output_layer() {
    let m = Model::new("x", &[-1, 4])
        .init("w", &[4, 3])
        .init("b", &[3])
        .node("Gemm", &["x", "w", "b"], &["h"], vec![])
        .node("Softmax", &["h"], &["y"], vec![("axis", A::I(-1))])
        .output("y", &[-1, 3]);
    let imp = import(m);
    let want = keys(&[LAYER, BASE_LAYER, FEED_FORWARD, &["hasBias", "lossFn"]]);
    let layer = check(&imp, "OutputLayer", &want, &["W", "b"]);
    assert_eq!(
        layer["lossFn"]["@class"],
        "org.nd4j.linalg.lossfunctions.impl.LossMCXENT"
    );
}

#[test]
fn activation_layer() {
    // ActivationLayer is a NoParamLayer in M2.1: `activationFn` but no BaseLayer fields.
    let m = Model::new("x", &[-1, 4])
        .init("w", &[4, 3])
        .init("b", &[3])
        .node("Gemm", &["x", "w", "b"], &["h"], vec![])
        .node("Relu", &["h"], &["r"], vec![])
        .node("Tanh", &["r"], &["y"], vec![])
        .output("y", &[-1, 3]);
    let imp = import(m);
    let layer = check(
        &imp,
        "ActivationLayer",
        &no_param_keys(&["activationFn"]),
        &[],
    );
    assert_eq!(
        layer["activationFn"]["@class"],
        "org.nd4j.linalg.activations.impl.ActivationTanH"
    );
}

#[test]
fn convolution_layer() {
    let m = Model::new("x", &[-1, 2, 6, 6])
        .init("w", &[3, 2, 3, 3])
        .init("b", &[3])
        .node(
            "Conv",
            &["x", "w", "b"],
            &["y"],
            vec![("pads", A::Is(vec![1, 1, 1, 1]))],
        )
        .output("y", &[-1, 3, 6, 6]);
    let imp = import(m);
    let layer = check(&imp, "ConvolutionLayer", &conv_keys(&[]), &["W", "b"]);
    assert_eq!(layer["cnn2dDataFormat"], "NCHW");
    assert_eq!(layer["kernelSize"], serde_json::json!([3, 3]));
}

#[test]
fn convolution_1d_layer() {
    let m = Model::new("x", &[-1, 2, 8])
        .init("w", &[3, 2, 3])
        .init("b", &[3])
        .node("Conv", &["x", "w", "b"], &["y"], vec![])
        .output("y", &[-1, 3, 6]);
    let imp = import(m);
    let layer = check(
        &imp,
        "Convolution1DLayer",
        &conv_keys(&["rnnDataFormat"]),
        &["W", "b"],
    );
    assert_eq!(layer["rnnDataFormat"], "NCW");
}

#[test]
fn deconvolution_2d() {
    let m = Model::new("x", &[-1, 2, 4, 4])
        .init("w", &[2, 3, 2, 2])
        .init("b", &[3])
        .node(
            "ConvTranspose",
            &["x", "w", "b"],
            &["y"],
            vec![("strides", A::Is(vec![2, 2]))],
        )
        .output("y", &[-1, 3, 8, 8]);
    let imp = import(m);
    check(&imp, "Deconvolution2D", &conv_keys(&[]), &["W", "b"]);
}

#[test]
fn depthwise_convolution_2d() {
    let m = Model::new("x", &[-1, 2, 5, 5])
        .init("w", &[4, 1, 3, 3])
        .init("b", &[4])
        .node("Conv", &["x", "w", "b"], &["y"], vec![("group", A::I(2))])
        .output("y", &[-1, 4, 3, 3]);
    let imp = import(m);
    let layer = check(
        &imp,
        "DepthwiseConvolution2D",
        &conv_keys(&["depthMultiplier"]),
        &["W", "b"],
    );
    assert_eq!(layer["depthMultiplier"], 2);
}

#[test]
fn subsampling_layer() {
    let m = conv_front(Model::new("x", &[-1, 2, 4, 4]), 2, 3, "c")
        .node(
            "AveragePool",
            &["c"],
            &["y"],
            vec![
                ("kernel_shape", A::Is(vec![2, 2])),
                ("strides", A::Is(vec![2, 2])),
            ],
        )
        .output("y", &[-1, 3, 2, 2]);
    let imp = import(m);
    let layer = check(&imp, "SubsamplingLayer", &no_param_keys(SUBSAMPLING), &[]);
    assert_eq!(layer["poolingType"], "AVG");
    assert_eq!(layer["avgPoolIncludePadInDivisor"], false);
}

#[test]
fn subsampling_1d_layer() {
    // M2.1's Subsampling1DLayer adds no field to SubsamplingLayer (no `rnnDataFormat`).
    let m = Model::new("x", &[-1, 2, 8])
        .init("w", &[3, 2, 1])
        .init("b", &[3])
        .node("Conv", &["x", "w", "b"], &["c"], vec![])
        .node(
            "MaxPool",
            &["c"],
            &["y"],
            vec![
                ("kernel_shape", A::Is(vec![2])),
                ("strides", A::Is(vec![2])),
            ],
        )
        .output("y", &[-1, 3, 4]);
    let imp = import(m);
    let layer = check(&imp, "Subsampling1DLayer", &no_param_keys(SUBSAMPLING), &[]);
    assert_eq!(layer["poolingType"], "MAX");
}

#[test]
fn zero_padding_layer() {
    // Asymmetric pads that are not SAME_UPPER: ZeroPaddingLayer + Truncate convolution.
    let m = Model::new("x", &[-1, 2, 5, 5])
        .init("w", &[3, 2, 3, 3])
        .init("b", &[3])
        .node(
            "Conv",
            &["x", "w", "b"],
            &["y"],
            vec![("pads", A::Is(vec![2, 0, 0, 1]))],
        )
        .output("y", &[-1, 3, 5, 4]);
    let imp = import(m);
    let layer = check(
        &imp,
        "ZeroPaddingLayer",
        &no_param_keys(&["dataFormat", "padding"]),
        &[],
    );
    assert_eq!(layer["padding"], serde_json::json!([2, 0, 0, 1]));
    assert_eq!(layer["dataFormat"], "NCHW");
}

#[test]
fn zero_padding_1d_layer() {
    let m = Model::new("x", &[-1, 2, 8])
        .init("w", &[3, 2, 3])
        .init("b", &[3])
        .node(
            "Conv",
            &["x", "w", "b"],
            &["y"],
            vec![("pads", A::Is(vec![2, 0]))],
        )
        .output("y", &[-1, 3, 8]);
    let imp = import(m);
    let layer = check(
        &imp,
        "ZeroPadding1DLayer",
        &no_param_keys(&["padding"]),
        &[],
    );
    assert_eq!(layer["padding"], serde_json::json!([2, 0]));
}

#[test]
fn global_pooling_layer() {
    let m = conv_front(Model::new("x", &[-1, 2, 4, 4]), 2, 3, "c")
        .node("GlobalAveragePool", &["c"], &["g"], vec![])
        .node("Flatten", &["g"], &["y"], vec![("axis", A::I(1))])
        .output("y", &[-1, 3]);
    let imp = import(m);
    let layer = check(
        &imp,
        "GlobalPoolingLayer",
        &no_param_keys(&[
            "collapseDimensions",
            "pnorm",
            "poolingDimensions",
            "poolingType",
        ]),
        &[],
    );
    assert_eq!(layer["poolingType"], "AVG");
}

#[test]
fn batch_normalization() {
    // `variables` must name `var` (not `log10stdev`), so DL4J reads the values as variances.
    let m = Model::new("x", &[-1, 3, 4, 4])
        .init("s", &[3])
        .init("bb", &[3])
        .init("mean", &[3])
        .init("var", &[3])
        .node(
            "BatchNormalization",
            &["x", "s", "bb", "mean", "var"],
            &["y"],
            vec![("epsilon", A::F(1e-3))],
        )
        .output("y", &[-1, 3, 4, 4]);
    let imp = import(m);
    let want = keys(&[
        LAYER,
        BASE_LAYER,
        FEED_FORWARD,
        &[
            "beta",
            "cnn2DFormat",
            "cudnnAllowFallback",
            "decay",
            "eps",
            "gamma",
            "lockGammaBeta",
            "minibatch",
            "useLogStd",
        ],
    ]);
    let layer = check(
        &imp,
        "BatchNormalization",
        &want,
        &["gamma", "beta", "mean", "var"],
    );
    assert_eq!(layer["useLogStd"], false);
    assert_eq!(layer["cnn2DFormat"], "NCHW");
    assert!(layer.get("cnn2dDataFormat").is_none());
    assert!(layer.get("isMinibatch").is_none());
}

#[test]
fn local_response_normalization() {
    let m = conv_front(Model::new("x", &[-1, 2, 4, 4]), 2, 4, "c")
        .node(
            "LRN",
            &["c"],
            &["y"],
            vec![
                ("size", A::I(3)),
                ("alpha", A::F(3e-4)),
                ("beta", A::F(0.75)),
                ("bias", A::F(2.0)),
            ],
        )
        .output("y", &[-1, 4, 4, 4]);
    let imp = import(m);
    let layer = check(
        &imp,
        "LocalResponseNormalization",
        &no_param_keys(&[
            "alpha",
            "beta",
            "cudnnAllowFallback",
            "dataFormat",
            "k",
            "n",
        ]),
        &[],
    );
    assert_eq!(layer["dataFormat"], "NCHW");
}

// Recurrent layers. ONNX `X` is `[T, N, F]`; weights `W [dirs, G·h, F]`, `R [dirs, G·h, h]`,
// `B [dirs, 2·G·h]` (G = 4 for LSTM, 1 for RNN).

const T: i64 = 5;
const F: i64 = 3;
const H: i64 = 4;

fn recurrent_model(op: &str, dirs: i64, peepholes: bool, outputs: &[&str]) -> Model {
    let g = if op == "LSTM" { 4 } else { 1 };
    let mut m = Model::new("x", &[T, -1, F])
        .init("W", &[dirs, g * H, F])
        .init("R", &[dirs, g * H, H])
        .init("B", &[dirs, 2 * g * H]);
    let mut inputs = vec!["x", "W", "R", "B"];
    if peepholes {
        m = m.init("P", &[dirs, 3 * H]);
        inputs.extend(["", "", "", "P"]);
    }
    let direction = if dirs == 2 {
        "bidirectional"
    } else {
        "forward"
    };
    m.node(
        op,
        &inputs,
        outputs,
        vec![("hidden_size", A::I(H)), ("direction", A::S(direction))],
    )
}

#[test]
fn lstm() {
    let m = recurrent_model("LSTM", 1, false, &["y"]).output("y", &[T, 1, -1, H]);
    let imp = import(m);
    let layer = check(&imp, "LSTM", &lstm_keys(), &["W", "RW", "b"]);
    assert_eq!(layer["nin"], F);
    assert_eq!(layer["nout"], H);
    assert_eq!(
        layer["gateActivationFn"]["@class"],
        "org.nd4j.linalg.activations.impl.ActivationSigmoid"
    );
}

#[test]
fn graves_lstm() {
    let m = recurrent_model("LSTM", 1, true, &["y"]).output("y", &[T, 1, -1, H]);
    let imp = import(m);
    check(&imp, "GravesLSTM", &lstm_keys(), &["W", "RW", "b"]);
}

#[test]
fn simple_rnn() {
    // Y [T, 1, N, h] -> Squeeze(1) -> Transpose(1, 2, 0): DL4J's own [N, h, T] output.
    let m = recurrent_model("RNN", 1, false, &["y"])
        .init_i64("axes", &[1])
        .node("Squeeze", &["y", "axes"], &["ys"], vec![])
        .node(
            "Transpose",
            &["ys"],
            &["out"],
            vec![("perm", A::Is(vec![1, 2, 0]))],
        )
        .output("out", &[-1, H, T]);
    let imp = import(m);
    let layer = check(
        &imp,
        "recurrent.SimpleRnn",
        &simple_rnn_keys(),
        &["W", "RW", "b"],
    );
    assert_eq!(layer["hasLayerNorm"], false);
}

#[test]
fn last_time_step() {
    // Only Y_h is read: the LSTM is wrapped in LastTimeStep. The wrapper is a Layer with the
    // derived gradient-normalization getters and `underlying`; params keep the inner keys.
    let m = recurrent_model("LSTM", 1, false, &["", "yh"]).output("yh", &[1, -1, H]);
    let imp = import(m);
    let layer = check(
        &imp,
        "recurrent.LastTimeStep",
        &no_param_keys(&["underlying"]),
        &["W", "RW", "b"],
    );
    let inner = &layer["underlying"];
    assert_eq!(inner["@class"], "org.deeplearning4j.nn.conf.layers.LSTM");
    assert_keys("LastTimeStep.underlying (LSTM)", inner, &lstm_keys());
    no_legacy_keys("LastTimeStep.underlying", inner);
}

#[test]
fn bidirectional() {
    // Bidirectional LSTM with the directions concatenated along the features:
    // Y [T, 2, N, h] -> Transpose(2, 1, 3, 0) -> [N, 2, h, T] -> Reshape [N, 2h, T] (CONCAT).
    let m = recurrent_model("LSTM", 2, false, &["y"])
        .init_i64("shape", &[0, 2 * H, T])
        .node(
            "Transpose",
            &["y"],
            &["yt"],
            vec![("perm", A::Is(vec![2, 1, 3, 0]))],
        )
        .node("Reshape", &["yt", "shape"], &["out"], vec![])
        .output("out", &[-1, 2 * H, T]);
    let imp = import(m);
    // Bidirectional extends Layer; `nin`, `nout`, `rnndataFormat` (getter `getRNNDataFormat`),
    // `gradientNormalization*` are derived getters M2.1 writes (ignored on read).
    let want = keys(&[
        LAYER,
        NO_PARAM,
        &["bwd", "fwd", "mode", "nin", "nout", "rnndataFormat"],
    ]);
    let layer = check(
        &imp,
        "recurrent.Bidirectional",
        &want,
        &["fW", "fRW", "fb", "bW", "bRW", "bb"],
    );
    assert_eq!(layer["mode"], "CONCAT");
    for side in ["fwd", "bwd"] {
        assert_keys(&format!("Bidirectional.{side}"), &layer[side], &lstm_keys());
        no_legacy_keys(side, &layer[side]);
    }
}

// ---------------------------------------------------------------------------------------------
// Top level.

#[test]
fn multilayer_top_level_keys() {
    // Conv -> Flatten -> Gemm + Softmax: one chain, so a MultiLayerNetwork with a
    // CnnToFeedForwardPreProcessor (§4, §11).
    let m = conv_front(Model::new("x", &[-1, 2, 3, 3]), 2, 4, "c")
        .node("Flatten", &["c"], &["f"], vec![("axis", A::I(1))])
        .init("w", &[36, 5])
        .init("b", &[5])
        .node("Gemm", &["f", "w", "b"], &["h"], vec![])
        .node("Softmax", &["h"], &["y"], vec![("axis", A::I(1))])
        .output("y", &[-1, 5]);
    let imp = import(m);
    let config = imp.archive.config.value();
    assert_keys(
        "MultiLayerConfiguration",
        config,
        &keys(&[TOP_COMMON, &["confs", "inputPreProcessors"]]),
    );
    no_legacy_keys("MultiLayerConfiguration", config);
    let confs = config["confs"].as_array().expect("confs");
    assert_eq!(confs.len(), 2);
    for (i, nnc) in confs.iter().enumerate() {
        assert_keys(&format!("confs[{i}]"), nnc, &keys(&[NNC]));
    }
    let pres = config["inputPreProcessors"].as_object().expect("map");
    assert_eq!(pres.keys().collect::<Vec<_>>(), ["1"]);
    let p = &pres["1"];
    assert_eq!(
        p["@class"],
        "org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor"
    );
    assert_keys(
        "CnnToFeedForwardPreProcessor",
        p,
        &keys(&[&[
            "@class",
            "format",
            "inputHeight",
            "inputWidth",
            "numChannels",
        ]]),
    );
    assert_eq!(p["format"], "NCHW");
    assert_eq!(config["dataType"], "FLOAT");
    let layout = imp.archive.layout().expect("layout");
    assert!(layout.fully_known());
    assert_eq!(layout.total, imp.archive.num_params());
    assert_eq!(imp.archive.num_params(), (2 * 4 + 4) + (36 * 5 + 5));
    check_roundtrip("MultiLayerNetwork", &imp, "1", &["W", "b"]);
}

#[test]
fn computation_graph_top_level_keys() {
    // Two branches from one input joined by a Concat: a ComputationGraph (§7.1).
    let m = Model::new("x", &[-1, 4])
        .init("w1", &[4, 3])
        .init("b1", &[3])
        .init("w2", &[4, 2])
        .init("b2", &[2])
        .node("Gemm", &["x", "w1", "b1"], &["h1"], vec![])
        .node("Relu", &["h1"], &["r1"], vec![])
        .node("Gemm", &["x", "w2", "b2"], &["h2"], vec![])
        .node("Tanh", &["h2"], &["r2"], vec![])
        .node("Concat", &["r1", "r2"], &["c"], vec![("axis", A::I(1))])
        .init("w3", &[5, 2])
        .init("b3", &[2])
        .node("Gemm", &["c", "w3", "b3"], &["h3"], vec![])
        .node("Softmax", &["h3"], &["y"], vec![("axis", A::I(1))])
        .output("y", &[-1, 2]);
    let imp = import(m);
    let config = imp.archive.config.value();
    assert_keys(
        "ComputationGraphConfiguration",
        config,
        &keys(&[
            TOP_COMMON,
            &[
                "defaultConfiguration",
                "networkInputs",
                "networkOutputs",
                "topologicalOrder",
                "topologicalOrderStr",
                "vertexInputs",
                "vertices",
            ],
        ]),
    );
    no_legacy_keys("ComputationGraphConfiguration", config);
    let default = &config["defaultConfiguration"];
    assert_keys("defaultConfiguration", default, &keys(&[NNC]));
    assert_eq!(default["layer"], Value::Null);

    let inputs: Vec<&str> = config["networkInputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(inputs, ["x"]);
    let vertices = config["vertices"].as_object().expect("vertices");
    let vertex_inputs = config["vertexInputs"].as_object().expect("vertexInputs");
    assert_eq!(
        vertices.keys().collect::<Vec<_>>(),
        vertex_inputs.keys().collect::<Vec<_>>(),
        "vertexInputs lists the vertices in the same order"
    );
    for out in config["networkOutputs"].as_array().unwrap() {
        assert!(vertices.contains_key(out.as_str().unwrap()));
    }
    // Every vertex: @class of the M2.1 graph package; LayerVertex keys (§12).
    let mut merges = 0;
    let mut all_vars = Vec::new();
    for (name, v) in vertices {
        let class = v["@class"].as_str().expect("@class");
        assert!(
            class.starts_with("org.deeplearning4j.nn.conf.graph."),
            "{name}: {class}"
        );
        if class == "org.deeplearning4j.nn.conf.graph.LayerVertex" {
            assert_keys(
                &format!("LayerVertex {name}"),
                v,
                &keys(&[&["@class", "layerConf", "outputVertex", "preProcessor"]]),
            );
            assert_keys(&format!("{name}.layerConf"), &v["layerConf"], &keys(&[NNC]));
            for var in v["layerConf"]["variables"].as_array().unwrap() {
                all_vars.push(format!("{name}_{}", var.as_str().unwrap()));
            }
        }
        if class == "org.deeplearning4j.nn.conf.graph.MergeVertex" {
            merges += 1;
        }
    }
    assert_eq!(merges, 1, "one MergeVertex for the Concat");
    // defaultConfiguration.variables: "<vertex>_<key>" in vertex-index order (§5).
    let default_vars: Vec<String> = default["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(default_vars, all_vars);

    // topologicalOrder: vertex indices (inputs first, then `vertices` in map order, §7.2), a
    // permutation consistent with topologicalOrderStr and with every vertex's inputs.
    let names: Vec<&str> = inputs
        .iter()
        .copied()
        .chain(vertices.keys().map(String::as_str))
        .collect();
    let order: Vec<usize> = config["topologicalOrder"]
        .as_array()
        .expect("topologicalOrder")
        .iter()
        .map(|v| v.as_u64().expect("index") as usize)
        .collect();
    let order_str: Vec<&str> = config["topologicalOrderStr"]
        .as_array()
        .expect("topologicalOrderStr")
        .iter()
        .map(|v| v.as_str().expect("name"))
        .collect();
    assert_eq!(order.len(), names.len());
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..names.len()).collect::<Vec<_>>(),
        "a permutation"
    );
    for (k, &i) in order.iter().enumerate() {
        assert_eq!(order_str[k], names[i], "topologicalOrderStr[{k}]");
    }
    let position = |n: &str| order_str.iter().position(|s| *s == n).unwrap();
    for (name, ins) in vertex_inputs {
        for i in ins.as_array().unwrap() {
            assert!(
                position(i.as_str().unwrap()) < position(name),
                "{name} comes before its input {i}"
            );
        }
    }
    // The core's own order (used for parameter flattening) agrees.
    let graph = imp.archive.config.graph().expect("graph").expect("a graph");
    assert_eq!(
        graph.topological_order().expect("order"),
        order_str.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );

    let layout = imp.archive.layout().expect("layout");
    assert!(layout.fully_known());
    assert_eq!(layout.total, imp.archive.num_params());
    assert_eq!(
        imp.archive.num_params(),
        (4 * 3 + 3) + (4 * 2 + 2) + (5 * 2 + 2)
    );
    let zip = imp.dir.path().join("graph.zip");
    dl4j::save(
        &imp.archive,
        &zip,
        Some("dl4j"),
        &dl4j::plugin::WriteOptions::default(),
        true,
    )
    .expect("write zip");
    let (back, _) = dl4j::open(&zip, None).expect("re-read");
    assert_eq!(back.config.value(), config);
    let layout = back.layout().expect("layout after re-read");
    assert!(layout.fully_known());
    assert_eq!(layout.total, back.num_params());
    inspect_ok("ComputationGraph", &zip);
}
