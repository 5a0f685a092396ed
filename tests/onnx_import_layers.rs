//! ONNX -> DL4J, one layer mapping at a time: small graphs run with tract before and after the
//! DL4J round trip (spec config §13b), including the padding splits and parameter layouts that
//! are easy to get wrong, and the ONNX forms DL4J cannot express (refused, naming the reason).

mod common;

use common::onnx_build::*;
use onnx_protobuf::{NodeProto, TensorProto};

fn dims(s: &[usize]) -> Vec<Option<i64>> {
    s.iter().map(|&d| Some(d as i64)).collect()
}

/// One-input chain `nodes` from "x" to "y".
fn chain(nodes: Vec<NodeProto>, inits: Vec<TensorProto>, x: &[usize], y: &[usize]) -> Vec<u8> {
    model(nodes, inits, value("x", &dims(x)), value("y", &dims(y)))
}

fn layer(a: &dl4j::Archive, i: usize) -> serde_json::Value {
    a.config.value()["confs"][i]["layer"].clone()
}

/// Import must fail naming `why`, writing nothing.
fn refused(bytes: &[u8], why: &str) {
    let (_tmp, _, zip, o) = import_bytes(bytes, &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains(why), "{t}");
    assert!(!zip.exists());
}

fn conv(
    name: &str,
    w: &str,
    b: Option<&str>,
    attrs: Vec<onnx_protobuf::AttributeProto>,
) -> NodeProto {
    let mut ins = vec!["x", w];
    ins.extend(b);
    node("Conv", name, &ins, &["y"], attrs)
}

#[test]
fn depthwise_convolution() {
    // group = channels, two outputs per channel: W_onnx[c·m + j, 0] -> DL4J [kH, kW, c, j].
    let n = conv(
        "dw",
        "w",
        Some("b"),
        vec![
            attr_i("group", 3),
            attr_is("kernel_shape", &[3, 3]),
            attr_is("pads", &[1, 1, 1, 1]),
        ],
    );
    let bytes = chain(
        vec![n],
        vec![init("w", &[6, 1, 3, 3], 1), init("b", &[6], 2)],
        &[2, 3, 7, 7],
        &[2, 6, 7, 7],
    );
    let (a, _) = round_trip(&bytes, &input(&[2, 3, 7, 7], 3), &[]);
    assert_eq!(layer_classes(&a), ["DepthwiseConvolution2D"]);
    assert_eq!(layer(&a, 0)["depthMultiplier"], 2);
    // Any other grouping has no DL4J layer.
    let n = conv(
        "g2",
        "w",
        None,
        vec![attr_i("group", 2), attr_is("kernel_shape", &[1, 1])],
    );
    refused(
        &chain(
            vec![n],
            vec![init("w", &[4, 2, 1, 1], 1)],
            &[1, 4, 3, 3],
            &[1, 4, 3, 3],
        ),
        "grouped convolution with 2 groups",
    );
}

#[test]
fn convolution_padding_splits() {
    // SAME_UPPER with an odd total (k=4, s=1): extra pad at the end = DL4J's Same mode.
    let n = conv(
        "same",
        "w",
        Some("b"),
        vec![
            attr_is("kernel_shape", &[4, 4]),
            attr_s("auto_pad", "SAME_UPPER"),
        ],
    );
    let bytes = chain(
        vec![n],
        vec![init("w", &[2, 1, 4, 4], 4), init("b", &[2], 5)],
        &[1, 1, 6, 5],
        &[1, 2, 6, 5],
    );
    let (a, _) = round_trip(&bytes, &input(&[1, 1, 6, 5], 6), &[]);
    assert_eq!(layer(&a, 0)["convolutionMode"], "Same");
    // SAME_LOWER with an odd total: the extra pad goes first, which DL4J's Same does not do:
    // a ZeroPaddingLayer in front, then an unpadded Truncate convolution.
    let n = conv(
        "lower",
        "w",
        None,
        vec![
            attr_is("kernel_shape", &[4, 4]),
            attr_s("auto_pad", "SAME_LOWER"),
        ],
    );
    let bytes = chain(
        vec![n],
        vec![init("w", &[2, 1, 4, 4], 7)],
        &[1, 1, 6, 5],
        &[1, 2, 6, 5],
    );
    let (a, _) = round_trip(&bytes, &input(&[1, 1, 6, 5], 8), &[]);
    assert_eq!(layer_classes(&a), ["ZeroPaddingLayer", "ConvolutionLayer"]);
    assert_eq!(layer(&a, 0)["padding"], serde_json::json!([2, 1, 2, 1]));
    assert_eq!(layer(&a, 1)["convolutionMode"], "Truncate");
    assert_eq!(layer(&a, 1)["hasBias"], false);
    // Explicit lopsided pads with strides.
    let n = conv(
        "pads",
        "w",
        Some("b"),
        vec![
            attr_is("kernel_shape", &[3, 3]),
            attr_is("pads", &[0, 1, 2, 0]),
            attr_is("strides", &[2, 1]),
        ],
    );
    let bytes = chain(
        vec![n],
        vec![init("w", &[3, 2, 3, 3], 9), init("b", &[3], 10)],
        &[2, 2, 8, 6],
        &[2, 3, 4, 5],
    );
    let (a, _) = round_trip(&bytes, &input(&[2, 2, 8, 6], 11), &[]);
    assert_eq!(layer(&a, 0)["padding"], serde_json::json!([0, 2, 1, 0]));
}

#[test]
fn transposed_convolution() {
    let n = node(
        "ConvTranspose",
        "up",
        &["x", "w", "b"],
        &["y"],
        vec![
            attr_is("kernel_shape", &[3, 3]),
            attr_is("strides", &[2, 2]),
            attr_is("pads", &[1, 1, 1, 1]),
        ],
    );
    let bytes = chain(
        vec![n],
        vec![init("w", &[3, 2, 3, 3], 12), init("b", &[2], 13)],
        &[1, 3, 4, 4],
        &[1, 2, 7, 7],
    );
    let (a, _) = round_trip(&bytes, &input(&[1, 3, 4, 4], 14), &[]);
    assert_eq!(layer_classes(&a), ["Deconvolution2D"]);
    let n = node(
        "ConvTranspose",
        "up",
        &["x", "w"],
        &["y"],
        vec![
            attr_is("kernel_shape", &[3, 3]),
            attr_is("strides", &[2, 2]),
            attr_is("output_padding", &[1, 1]),
        ],
    );
    refused(
        &chain(
            vec![n],
            vec![init("w", &[3, 2, 3, 3], 12)],
            &[1, 3, 4, 4],
            &[1, 2, 10, 10],
        ),
        "output_padding",
    );
}

#[test]
fn lrn_and_pad() {
    // ONNX divides alpha by the window size; DL4J does not.
    let lrn = node(
        "LRN",
        "lrn",
        &["x"],
        &["y"],
        vec![
            attr_i("size", 3),
            attr_f("alpha", 0.3),
            attr_f("beta", 0.6),
            attr_f("bias", 1.5),
        ],
    );
    let (a, _) = round_trip(
        &chain(vec![lrn], vec![], &[2, 5, 3, 3], &[2, 5, 3, 3]),
        &input(&[2, 5, 3, 3], 15).mapv(|v| v * 4.0),
        &[],
    );
    assert_eq!(layer_classes(&a), ["LocalResponseNormalization"]);
    assert!((layer(&a, 0)["alpha"].as_f64().unwrap() - 0.1).abs() < 1e-7);
    let even = node("LRN", "lrn", &["x"], &["y"], vec![attr_i("size", 4)]);
    refused(
        &chain(vec![even], vec![], &[1, 5, 3, 3], &[1, 5, 3, 3]),
        "window size 4",
    );

    let pad = node("Pad", "pad", &["x", "pads"], &["y"], vec![]);
    let (a, _) = round_trip(
        &chain(
            vec![pad],
            vec![ints_init("pads", &[0, 0, 1, 2, 0, 0, 3, 0])],
            &[1, 2, 3, 3],
            &[1, 2, 7, 5],
        ),
        &input(&[1, 2, 3, 3], 16),
        &[],
    );
    assert_eq!(layer(&a, 0)["padding"], serde_json::json!([1, 3, 2, 0]));
    let reflect = node(
        "Pad",
        "pad",
        &["x", "pads"],
        &["y"],
        vec![attr_s("mode", "reflect")],
    );
    refused(
        &chain(
            vec![reflect],
            vec![ints_init("pads", &[0, 0, 1, 1, 0, 0, 1, 1])],
            &[1, 2, 3, 3],
            &[1, 2, 5, 5],
        ),
        "reflect padding",
    );
}

#[test]
fn activations_fold_or_stand_alone() {
    // Conv -> Clip(0, 6) folds into the convolution as ReLU6; PRelu with a per-channel slope
    // (PyTorch's nn.PReLU(C)) is a PReLULayer sharing the spatial axes; HardSigmoid with ONNX's
    // defaults is DL4J's.
    let nodes = vec![
        node(
            "Conv",
            "c",
            &["x", "w", "b"],
            &["c"],
            vec![attr_is("kernel_shape", &[1, 1])],
        ),
        node("Clip", "clip", &["c", "lo", "hi"], &["r"], vec![]),
        node("PRelu", "prelu", &["r", "slope"], &["p"], vec![]),
        node("HardSigmoid", "hs", &["p"], &["y"], vec![]),
    ];
    let inits = vec![
        init("w", &[3, 2, 1, 1], 17),
        init("b", &[3], 18),
        floats("lo", &[], vec![0.0]),
        floats("hi", &[], vec![6.0]),
        init("slope", &[3, 1, 1], 19),
    ];
    let x = input(&[2, 2, 4, 4], 20).mapv(|v| v * 20.0);
    let (a, _) = round_trip(&chain(nodes, inits, &[2, 2, 4, 4], &[2, 3, 4, 4]), &x, &[]);
    assert_eq!(
        layer_classes(&a),
        ["ConvolutionLayer", "PReLULayer", "ActivationLayer"]
    );
    assert!(layer(&a, 0)["activationFn"]["@class"]
        .as_str()
        .unwrap()
        .ends_with("ActivationReLU6"));
    assert_eq!(layer(&a, 1)["sharedAxes"], serde_json::json!([2, 3]));
    assert!(layer(&a, 2)["activationFn"]["@class"]
        .as_str()
        .unwrap()
        .ends_with("ActivationHardSigmoid"));

    let hs = node(
        "HardSigmoid",
        "hs",
        &["x"],
        &["y"],
        vec![attr_f("alpha", 0.25)],
    );
    refused(
        &chain(vec![hs], vec![], &[2, 3], &[2, 3]),
        "DL4J computes only 0.2x + 0.5",
    );
    let selu = node("Selu", "s", &["x"], &["y"], vec![attr_f("alpha", 2.0)]);
    refused(
        &chain(vec![selu], vec![], &[2, 3], &[2, 3]),
        "standard constants",
    );
}

#[test]
fn pooling_that_dl4j_rounds_differently_is_refused() {
    let ceil = node(
        "MaxPool",
        "p",
        &["x"],
        &["y"],
        vec![
            attr_is("kernel_shape", &[2, 2]),
            attr_is("strides", &[2, 2]),
            attr_i("ceil_mode", 1),
        ],
    );
    refused(
        &chain(vec![ceil], vec![], &[1, 1, 5, 5], &[1, 1, 3, 3]),
        "ceil_mode",
    );
    // Ceil mode that lands on the same size is accepted.
    let same = node(
        "MaxPool",
        "p",
        &["x"],
        &["y"],
        vec![
            attr_is("kernel_shape", &[2, 2]),
            attr_is("strides", &[2, 2]),
            attr_i("ceil_mode", 1),
        ],
    );
    round_trip(
        &chain(vec![same], vec![], &[1, 1, 6, 6], &[1, 1, 3, 3]),
        &input(&[1, 1, 6, 6], 21),
        &[],
    );
    let lopsided = node(
        "AveragePool",
        "p",
        &["x"],
        &["y"],
        vec![
            attr_is("kernel_shape", &[3, 3]),
            attr_is("pads", &[1, 0, 0, 1]),
        ],
    );
    refused(
        &chain(vec![lopsided], vec![], &[1, 1, 5, 5], &[1, 1, 4, 4]),
        "neither equal on both sides",
    );
}

#[test]
fn double_precision_model_stays_double() {
    let n = node(
        "Gemm",
        "fc",
        &["x", "w", "b"],
        &["y"],
        vec![attr_i("transB", 1)],
    );
    let bytes = model(
        vec![n],
        vec![init_f64("w", &[4, 3], 22), init_f64("b", &[4], 23)],
        typed_value("x", &[None, Some(3)], 11),
        typed_value("y", &[None, Some(4)], 11),
    );
    let (_tmp, _, zip, o) = import_bytes(&bytes, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (a, _) = dl4j::open(&zip, None).unwrap();
    assert_eq!(a.dtype(), dl4j::DType::F64);
    assert_eq!(a.config.value()["dataType"], "DOUBLE");
    // Values are kept exactly: W is Bᵀ.
    let w = a
        .layout()
        .unwrap()
        .params()
        .find(|p| p.name == "0_W")
        .unwrap()
        .clone();
    let flat = a.params.tensor.to_f64_vec();
    let b = values(12, 22);
    // DL4J W[i, j] (f-order [3, 4]) = B[j, i].
    for i in 0..3 {
        for j in 0..4 {
            assert_eq!(flat[w.offset + i + 3 * j], b[j * 3 + i] as f64);
        }
    }
}

/// tf2onnx's shape of a Keras CNN: channels-last input, `Transpose(0, 3, 1, 2)` into the
/// convolutions, `Transpose(0, 2, 3, 1)` back before Keras' flatten (channels-last order), then
/// `MatMul + Add`. DL4J gets channels-last layers (NHWC) and a channels-last flatten, so the
/// network takes the same input as the ONNX model and no transpose is left.
#[test]
fn keras_channels_last_cnn() {
    let perm_in = attr_is("perm", &[0, 3, 1, 2]);
    let perm_out = attr_is("perm", &[0, 2, 3, 1]);
    let nodes = vec![
        node("Transpose", "to_nchw", &["x"], &["t"], vec![perm_in]),
        node(
            "Conv",
            "conv",
            &["t", "w", "b"],
            &["c"],
            vec![
                attr_is("kernel_shape", &[3, 3]),
                attr_s("auto_pad", "SAME_UPPER"),
            ],
        ),
        node("Relu", "relu", &["c"], &["r"], vec![]),
        node(
            "MaxPool",
            "pool",
            &["r"],
            &["p"],
            vec![
                attr_is("kernel_shape", &[2, 2]),
                attr_is("strides", &[2, 2]),
            ],
        ),
        node(
            "BatchNormalization",
            "bn",
            &["p", "g", "be", "mu", "var"],
            &["n"],
            vec![attr_f("epsilon", 1e-3)],
        ),
        node("Transpose", "to_nhwc", &["n"], &["h"], vec![perm_out]),
        node("Reshape", "flatten", &["h", "shape"], &["f"], vec![]),
        node("MatMul", "dense", &["f", "k"], &["m"], vec![]),
        node("Add", "bias", &["m", "kb"], &["z"], vec![]),
        node(
            "Softmax",
            "softmax",
            &["z"],
            &["y"],
            vec![attr_i("axis", -1)],
        ),
    ];
    let mut var = init("var", &[4], 46);
    var.float_data = var.float_data.iter().map(|v| v.abs() + 0.5).collect();
    let inits = vec![
        init("w", &[4, 3, 3, 3], 41),
        init("b", &[4], 42),
        init("g", &[4], 43),
        init("be", &[4], 44),
        init("mu", &[4], 45),
        var,
        ints_init("shape", &[-1, 64]),
        init("k", &[64, 5], 47),
        init("kb", &[5], 48),
    ];
    let bytes = model(
        nodes,
        inits,
        value("x", &[None, Some(8), Some(8), Some(3)]),
        value("y", &[None, Some(5)]),
    );
    let (a, t) = round_trip(&bytes, &input(&[2, 8, 8, 3], 49), &[]);
    assert_eq!(
        layer_classes(&a),
        [
            "ConvolutionLayer",
            "SubsamplingLayer",
            "BatchNormalization",
            "OutputLayer"
        ]
    );
    assert_eq!(layer(&a, 0)["cnn2dDataFormat"], "NHWC");
    assert_eq!(layer(&a, 1)["cnn2dDataFormat"], "NHWC");
    assert_eq!(layer(&a, 2)["cnn2DFormat"], "NHWC");
    let pre = &a.config.value()["inputPreProcessors"]["3"];
    assert_eq!(pre["format"], "NHWC", "{pre}");
    assert!(
        !t.contains("axes reordered"),
        "the input keeps its layout: {t}"
    );
}

/// An activation is folded into the layer before it only when nothing else reads that layer's
/// output, through any view of it: here the convolution's output is also a graph output (via
/// an `Identity`), so the Relu must stay a layer of its own.
#[test]
fn activation_not_folded_into_a_shared_output() {
    let nodes = vec![
        node(
            "Conv",
            "c",
            &["x", "w", "b"],
            &["c"],
            vec![attr_is("kernel_shape", &[1, 1])],
        ),
        node("Identity", "i1", &["c"], &["i1"], vec![]),
        node("Relu", "relu", &["i1"], &["y1"], vec![]),
        node("Identity", "i2", &["c"], &["y2"], vec![]),
    ];
    let bytes = model_with(
        nodes,
        vec![init("w", &[3, 2, 1, 1], 61), init("b", &[3], 62)],
        vec![value("x", &[None, Some(2), Some(3), Some(3)])],
        vec![
            value("y1", &[None, Some(3), Some(3), Some(3)]),
            value("y2", &[None, Some(3), Some(3), Some(3)]),
        ],
        17,
    );
    let (_tmp, src, _zip, back, t) = import_export(&bytes, &[]);
    let x = input(&[2, 2, 3, 3], 63).mapv(|v| v * 4.0);
    let want = tract_run(&src, std::slice::from_ref(&x), true);
    let got = tract_run(&back, &[x], true);
    assert_eq!(got.len(), 2, "{t}");
    for (g, w) in got.iter().zip(&want) {
        let d = g
            .iter()
            .zip(w.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(d < 1e-5, "{d}");
    }
    // The two outputs differ (the Relu clips negative values), so a folded Relu would show.
    assert!(want[0].iter().zip(want[1].iter()).any(|(a, b)| a != b));
}
