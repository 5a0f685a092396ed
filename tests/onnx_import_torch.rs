//! ONNX -> DL4J of graphs shaped like PyTorch 2.x's `torch.onnx.export` output (built here with
//! onnx-protobuf): `Linear` as `Gemm(transB = 1)`, `Conv -> Relu -> MaxPool -> Flatten -> Linear`,
//! and the `x.view(x.size(0), -1)` flatten (`Shape -> Gather -> Unsqueeze -> Concat -> Reshape`)
//! with a symbolic batch size. The imported network, exported back to ONNX, must compute what
//! the original graph computes (both run with tract).

mod common;

use common::onnx_build::*;
use onnx_protobuf::{NodeProto, TensorProto};

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
        inits.extend([
            int_scalar("zero", 0),
            ints_init("axes0", &[0]),
            ints_init("minus1", &[-1]),
        ]);
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

/// The source record (a Java String holding JSON) names the producer and opset and how the
/// network's inputs and outputs relate to the ONNX graph's.
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
    let (_, data) = a
        .objects
        .iter()
        .find(|(k, _)| k == "dl4j.source")
        .expect("source object");
    assert_eq!(
        dl4j::java_serial::class_name(data).as_deref(),
        Some("java.lang.String")
    );
    let r = dl4j::dl4j_onnx::import::source_record(&a).expect("a JSON record");
    assert_eq!(r["producer"], "pytorch");
    assert_eq!(r["producer_version"], "2.1.0");
    assert_eq!(r["opsets"]["ai.onnx"], 17);
    assert_eq!(r["inputs"][0]["name"], "input");
    assert_eq!(
        r["inputs"][0]["onnx_shape"],
        serde_json::json!([null, 1, 12, 12])
    );
    assert_eq!(r["outputs"][0]["to_dl4j"], serde_json::json!([0, 1]));
}
