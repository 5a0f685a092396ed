//! ONNX -> DL4J of graphs shaped like PyTorch 2.x's `torch.onnx.export` output (built here with
//! onnx-protobuf): `Linear` as `Gemm(transB = 1)`, `Conv -> Relu -> MaxPool -> Flatten -> Linear`,
//! and the `x.view(x.size(0), -1)` flatten (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`)
//! with a symbolic batch size. The imported network, exported back to ONNX, must compute what
//! the original graph computes (both run with tract).

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::dl4j;
use ndarray::{ArrayD, IxDyn};
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use tract_onnx::prelude::*;

/// Deterministic values in [-0.5, 0.5).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect()
}

fn init(name: &str, dims: &[i64], seed: u64) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = 1;
    t.dims = dims.to_vec();
    t.float_data = values(dims.iter().product::<i64>() as usize, seed);
    t
}

fn ints_init(name: &str, v: &[i64]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = 7;
    t.dims = vec![v.len() as i64];
    t.int64_data = v.to_vec();
    t
}

fn attr_i(name: &str, v: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INT.into();
    a.i = v;
    a
}

fn attr_is(name: &str, v: &[i64]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INTS.into();
    a.ints = v.to_vec();
    a
}

fn attr_f(name: &str, v: f32) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::FLOAT.into();
    a.f = v;
    a
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = op.into();
    n.name = name.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n.attribute = attrs;
    n
}

/// A float tensor value; `None` dims are the symbolic `batch_size`.
fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    for d in dims {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.value = Some(match d {
            Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
            None => tensor_shape_proto::dimension::Value::DimParam("batch_size".into()),
        });
        shape.dim.push(dim);
    }
    let mut t = type_proto::Tensor::new();
    t.elem_type = 1;
    t.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.value = Some(type_proto::Value::TensorType(t));
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = Some(ty).into();
    v
}

fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    input: ValueInfoProto,
    output: ValueInfoProto,
) -> Vec<u8> {
    let mut g = GraphProto::new();
    g.name = "main_graph".into();
    g.node = nodes;
    g.initializer = inits;
    g.input.push(input);
    g.output.push(output);
    let mut m = ModelProto::new();
    m.ir_version = 8;
    m.producer_name = "pytorch".into();
    m.producer_version = "2.1.0".into();
    let mut op = OperatorSetIdProto::new();
    op.version = 17;
    m.opset_import.push(op);
    m.graph = Some(g).into();
    m.write_to_bytes().unwrap()
}

fn tract(onnx: &Path, x: &ArrayD<f32>) -> ArrayD<f32> {
    let m = tract_onnx::onnx()
        .model_for_path(onnx)
        .unwrap()
        .with_input_fact(0, f32::fact(x.shape()).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let out = m.run(tvec!(Tensor::from(x.clone()).into_tvalue())).unwrap();
    let t = out[0].clone().into_tensor();
    let v: Vec<f32> = t
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    ArrayD::from_shape_vec(IxDyn(t.shape()), v).unwrap()
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Imports `bytes`, exports the archive back to ONNX, and compares both graphs on `x`.
/// Returns the archive and the conversion's messages.
fn round_trip(bytes: &[u8], x: &ArrayD<f32>, extra: &[&str]) -> (dl4j::Archive, String) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("torch.onnx");
    std::fs::write(&src, bytes).unwrap();
    let zip = tmp.path().join("model.zip");
    let mut args = vec![OsStr::new("convert"), src.as_os_str(), zip.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    let o = dl4j(&args);
    assert!(o.status.success(), "import: {}", text(&o));
    let back = tmp.path().join("back.onnx");
    let o2 = dl4j(&[OsStr::new("convert"), zip.as_os_str(), back.as_os_str()]);
    assert!(o2.status.success(), "export: {}", text(&o2));
    let want = tract(&src, x);
    let got = tract(&back, x);
    assert_eq!(got.shape(), want.shape());
    for (g, w) in got.iter().zip(want.iter()) {
        assert!((g - w).abs() <= 1e-5 + 1e-4 * w.abs(), "got {g}, want {w}");
    }
    // A wrong network would not match: the outputs vary.
    assert!(want
        .iter()
        .any(|&v| (v - want[IxDyn(&vec![0; want.ndim()])]).abs() > 1e-3));
    let (archive, _) = dl4j::open(&zip, None).unwrap();
    (archive, text(&o))
}

fn layer_classes(a: &dl4j::Archive) -> Vec<String> {
    let v = a.config.value();
    v["confs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["layer"]["@class"]
                .as_str()
                .unwrap()
                .rsplit('.')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn input(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), values(n, seed)).unwrap()
}

#[test]
fn linear_relu_linear() {
    let nodes = vec![
        node(
            "Gemm",
            "/fc1/Gemm",
            &["input", "fc1.weight", "fc1.bias"],
            &["/fc1/Gemm_output_0"],
            vec![
                attr_f("alpha", 1.0),
                attr_f("beta", 1.0),
                attr_i("transB", 1),
            ],
        ),
        node(
            "Relu",
            "/relu/Relu",
            &["/fc1/Gemm_output_0"],
            &["/relu/Relu_output_0"],
            vec![],
        ),
        node(
            "Gemm",
            "/fc2/Gemm",
            &["/relu/Relu_output_0", "fc2.weight", "fc2.bias"],
            &["output"],
            vec![
                attr_f("alpha", 1.0),
                attr_f("beta", 1.0),
                attr_i("transB", 1),
            ],
        ),
    ];
    let inits = vec![
        init("fc1.weight", &[16, 10], 1),
        init("fc1.bias", &[16], 2),
        init("fc2.weight", &[3, 16], 3),
        init("fc2.bias", &[3], 4),
    ];
    let bytes = model(
        nodes,
        inits,
        value("input", &[None, Some(10)]),
        value("output", &[None, Some(3)]),
    );
    let (a, _) = round_trip(&bytes, &input(&[5, 10], 9), &[]);
    assert_eq!(a.kind(), dl4j::ModelKind::MultiLayerNetwork);
    assert_eq!(layer_classes(&a), ["DenseLayer", "OutputLayer"]);
    let v = a.config.value();
    // Relu folded into the first layer; the identity output gets MSE.
    assert!(v["confs"][0]["layer"]["activationFn"]["@class"]
        .as_str()
        .unwrap()
        .ends_with("ActivationReLU"));
    assert!(v["confs"][1]["layer"]["lossFn"]["@class"]
        .as_str()
        .unwrap()
        .ends_with("LossMSE"));
    assert_eq!(a.num_params(), 16 * 10 + 16 + 3 * 16 + 3);

    // --loss overrides the choice.
    let (a, _) = round_trip(&bytes, &input(&[2, 10], 10), &["--loss", "L1"]);
    assert!(a.config.value()["confs"][1]["layer"]["lossFn"]["@class"]
        .as_str()
        .unwrap()
        .ends_with("LossL1"));
}

fn cnn_nodes(view_flatten: bool) -> (Vec<NodeProto>, Vec<TensorProto>) {
    let mut nodes = vec![
        node(
            "Conv",
            "/conv1/Conv",
            &["input", "conv1.weight", "conv1.bias"],
            &["/conv1/Conv_output_0"],
            vec![
                attr_is("dilations", &[1, 1]),
                attr_i("group", 1),
                attr_is("kernel_shape", &[3, 3]),
                attr_is("pads", &[1, 1, 1, 1]),
                attr_is("strides", &[1, 1]),
            ],
        ),
        node(
            "Relu",
            "/relu/Relu",
            &["/conv1/Conv_output_0"],
            &["/relu/Relu_output_0"],
            vec![],
        ),
        node(
            "MaxPool",
            "/pool/MaxPool",
            &["/relu/Relu_output_0"],
            &["/pool/MaxPool_output_0"],
            vec![
                attr_i("ceil_mode", 0),
                attr_is("kernel_shape", &[2, 2]),
                attr_is("pads", &[0, 0, 0, 0]),
                attr_is("strides", &[2, 2]),
            ],
        ),
    ];
    let mut inits = vec![
        init("conv1.weight", &[4, 1, 3, 3], 11),
        init("conv1.bias", &[4], 12),
        init("fc.weight", &[10, 144], 13),
        init("fc.bias", &[10], 14),
    ];
    if view_flatten {
        // x.view(x.size(0), -1)
        nodes.extend([
            node(
                "Shape",
                "/Shape",
                &["/pool/MaxPool_output_0"],
                &["/Shape_output_0"],
                vec![],
            ),
            node(
                "Gather",
                "/Gather",
                &["/Shape_output_0", "zero"],
                &["/Gather_output_0"],
                vec![attr_i("axis", 0)],
            ),
            node(
                "Unsqueeze",
                "/Unsqueeze",
                &["/Gather_output_0", "axes0"],
                &["/Unsqueeze_output_0"],
                vec![],
            ),
            node(
                "Concat",
                "/Concat",
                &["/Unsqueeze_output_0", "minus1"],
                &["/Concat_output_0"],
                vec![attr_i("axis", 0)],
            ),
            node(
                "Reshape",
                "/Reshape",
                &["/pool/MaxPool_output_0", "/Concat_output_0"],
                &["/flat"],
                vec![],
            ),
        ]);
        let mut zero = ints_init("zero", &[0]);
        zero.dims = vec![];
        inits.extend([zero, ints_init("axes0", &[0]), ints_init("minus1", &[-1])]);
    } else {
        nodes.push(node(
            "Flatten",
            "/flatten/Flatten",
            &["/pool/MaxPool_output_0"],
            &["/flat"],
            vec![attr_i("axis", 1)],
        ));
    }
    nodes.push(node(
        "Gemm",
        "/fc/Gemm",
        &["/flat", "fc.weight", "fc.bias"],
        &["/fc/Gemm_output_0"],
        vec![
            attr_f("alpha", 1.0),
            attr_f("beta", 1.0),
            attr_i("transB", 1),
        ],
    ));
    nodes.push(node(
        "Softmax",
        "/Softmax",
        &["/fc/Gemm_output_0"],
        &["output"],
        vec![attr_i("axis", 1)],
    ));
    (nodes, inits)
}

#[test]
fn conv_pool_flatten_linear() {
    for view in [false, true] {
        let (nodes, inits) = cnn_nodes(view);
        let bytes = model(
            nodes,
            inits,
            value("input", &[None, Some(1), Some(12), Some(12)]),
            value("output", &[None, Some(10)]),
        );
        let (a, _) = round_trip(&bytes, &input(&[3, 1, 12, 12], 21), &[]);
        assert_eq!(
            layer_classes(&a),
            ["ConvolutionLayer", "SubsamplingLayer", "OutputLayer"]
        );
        let v = a.config.value();
        let pre = &v["inputPreProcessors"]["2"];
        assert!(
            pre["@class"]
                .as_str()
                .unwrap()
                .ends_with("CnnToFeedForwardPreProcessor"),
            "{pre}"
        );
        assert_eq!(
            (
                pre["numChannels"].as_u64(),
                pre["inputHeight"].as_u64(),
                pre["inputWidth"].as_u64()
            ),
            (Some(4), Some(6), Some(6))
        );
        assert!(v["confs"][2]["layer"]["lossFn"]["@class"]
            .as_str()
            .unwrap()
            .ends_with("LossMCXENT"));
        assert!(v["confs"][0]["layer"]["activationFn"]["@class"]
            .as_str()
            .unwrap()
            .ends_with("ActivationReLU"));
    }
}

/// The source record names the producer and opset.
#[test]
fn source_object_records_the_producer() {
    let (nodes, inits) = cnn_nodes(false);
    let bytes = model(
        nodes,
        inits,
        value("input", &[None, Some(1), Some(12), Some(12)]),
        value("output", &[None, Some(10)]),
    );
    let (a, _) = round_trip(&bytes, &input(&[1, 1, 12, 12], 5), &[]);
    let (key, data) = a
        .objects
        .iter()
        .find(|(k, _)| k == "dl4j.source")
        .expect("source object");
    assert_eq!(key, "dl4j.source");
    let shown = dl4j::java_serial::display(data).unwrap();
    assert!(
        shown.contains("pytorch") && shown.contains("2.1.0") && shown.contains("ai.onnx:17"),
        "{shown}"
    );
}
