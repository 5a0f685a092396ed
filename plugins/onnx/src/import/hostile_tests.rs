//! Hostile graphs that once panicked in the importer (overflowing sizes, repeated axes,
//! impossible permutations): each must now give an error naming the node, or a model.

use dl4j_core::tensor::{Tensor, TensorData};
use onnx_protobuf::{Message, ModelProto, OperatorSetIdProto, TensorProto};

use super::{import, import_model, ImportOptions};
use crate::proto::{Attr, Dim, ForeignModel, ForeignNode, ValueDecl};

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<(&str, Attr)>,
) -> ForeignNode {
    ForeignNode {
        op: op.into(),
        domain: String::new(),
        name: name.into(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        attrs: attrs.into_iter().map(|(k, a)| (k.to_string(), a)).collect(),
    }
}

fn decl(name: &str, dims: &[Option<usize>]) -> ValueDecl {
    ValueDecl {
        name: name.into(),
        dtype: None,
        dims: Some(
            dims.iter()
                .map(|d| d.map_or(Dim::Unknown, Dim::Fixed))
                .collect(),
        ),
    }
}

fn tensor(shape: &[usize], values: Vec<f32>) -> Tensor {
    Tensor::new(shape.to_vec(), TensorData::F32(values)).unwrap()
}

fn model(
    opset: i64,
    nodes: Vec<ForeignNode>,
    initializers: Vec<(&str, Tensor)>,
    inputs: Vec<ValueDecl>,
    output: &str,
) -> ForeignModel {
    ForeignModel {
        producer: "test".into(),
        producer_version: String::new(),
        ir_version: 8,
        opset,
        opsets: vec![(String::new(), opset)],
        nodes,
        inputs,
        outputs: vec![decl(output, &[])],
        value_info: Vec::new(),
        initializers: initializers
            .into_iter()
            .map(|(k, t)| (k.to_string(), t))
            .collect(),
        string_initializers: Vec::new(),
        metadata: Vec::new(),
    }
}

/// Imports `m`, which must fail with an error naming `node` and saying `why`.
fn refused(m: &ForeignModel, node: &str, why: &str) {
    let e = import_model(m, &ImportOptions::default())
        .err()
        .unwrap_or_else(|| panic!("{node} was accepted"))
        .to_string();
    assert!(e.contains(node) && e.contains(why), "{e}");
}

const BIG: usize = 1 << 62;

#[test]
fn repeated_unsqueeze_axes_of_a_constant() {
    // Folded: a scalar constant unsqueezed at [1, 1].
    let m = model(
        11,
        vec![
            node(
                "Unsqueeze",
                "u",
                &["c"],
                &["cu"],
                vec![("axes", Attr::Ints(vec![1, 1]))],
            ),
            node("Add", "add", &["x", "cu"], &["y"], vec![]),
        ],
        vec![("c", tensor(&[], vec![1.0]))],
        vec![decl("x", &[None, Some(3)])],
        "y",
    );
    refused(&m, "Unsqueeze \"u\"", "repeat an axis");
}

#[test]
fn repeated_unsqueeze_axes_of_network_data() {
    // Network data of rank 1 unsqueezed at [2, 2].
    let m = model(
        11,
        vec![node(
            "Unsqueeze",
            "u",
            &["x"],
            &["y"],
            vec![("axes", Attr::Ints(vec![2, 2]))],
        )],
        vec![],
        vec![decl("x", &[Some(3)])],
        "y",
    );
    refused(&m, "Unsqueeze \"u\"", "repeat an axis");
}

#[test]
fn transpose_of_a_constant_with_a_repeated_axis() {
    let m = model(
        13,
        vec![
            node(
                "Transpose",
                "t",
                &["c"],
                &["ct"],
                vec![("perm", Attr::Ints(vec![0, 0]))],
            ),
            node("Add", "add", &["x", "ct"], &["y"], vec![]),
        ],
        vec![("c", tensor(&[2, 3], vec![0.0; 6]))],
        vec![decl("x", &[None, Some(3)])],
        "y",
    );
    refused(&m, "Transpose \"t\"", "repeats an axis");
}

#[test]
fn conv_with_a_huge_group_count() {
    let m = model(
        13,
        vec![node(
            "Conv",
            "conv",
            &["x", "w"],
            &["y"],
            vec![("group", Attr::Int(i64::MAX))],
        )],
        vec![("w", tensor(&[4, 4, 1, 1], vec![0.0; 16]))],
        vec![decl("x", &[None, Some(4), Some(5), Some(5)])],
        "y",
    );
    refused(&m, "Conv \"conv\"", "overflow");
}

#[test]
fn pooling_windows_beyond_any_size() {
    for (kernel, dilation) in [(1i64 << 40, 1i64 << 40), (i64::MAX, 1)] {
        let m = model(
            13,
            vec![node(
                "MaxPool",
                "pool",
                &["x"],
                &["y"],
                vec![
                    ("kernel_shape", Attr::Ints(vec![kernel])),
                    ("dilations", Attr::Ints(vec![dilation])),
                    ("ceil_mode", Attr::Int(1)),
                ],
            )],
            vec![],
            vec![decl("x", &[None, Some(1), Some(8)])],
            "y",
        );
        refused(&m, "MaxPool \"pool\"", "DL4J's int range");
    }
}

#[test]
fn huge_pads() {
    let m = model(
        13,
        vec![node(
            "Pad",
            "pad",
            &["x"],
            &["y"],
            vec![("pads", Attr::Ints(vec![0, 0, i64::MAX, 0, 0, i64::MAX]))],
        )],
        vec![],
        vec![decl("x", &[None, Some(1), Some(BIG)])],
        "y",
    );
    refused(&m, "Pad \"pad\"", "pads");
}

#[test]
fn huge_transposed_convolution_strides() {
    let m = model(
        13,
        vec![node(
            "ConvTranspose",
            "deconv",
            &["x", "w"],
            &["y"],
            vec![("strides", Attr::Ints(vec![i64::MAX, 1]))],
        )],
        vec![("w", tensor(&[1, 1, 1, 1], vec![1.0]))],
        vec![decl("x", &[None, Some(1), Some(BIG), Some(2)])],
        "y",
    );
    refused(&m, "ConvTranspose \"deconv\"", "strides");
}

#[test]
fn recurrent_weights_with_empty_huge_axes() {
    // R [1, 0, 2^62] holds no values, but 4 gate blocks of 2^62 overflow.
    let m = model(
        13,
        vec![node("LSTM", "lstm", &["x", "w", "r"], &["y"], vec![])],
        vec![
            ("w", tensor(&[1, 0, 3], vec![])),
            ("r", tensor(&[1, 0, BIG], vec![])),
        ],
        vec![decl("x", &[Some(5), None, Some(3)])],
        "y",
    );
    refused(&m, "LSTM \"lstm\"", "gate block");
}

#[test]
fn concatenated_size_that_overflows() {
    let m = model(
        13,
        vec![node(
            "Concat",
            "cat",
            &["a", "b", "c"],
            &["y"],
            vec![("axis", Attr::Int(1))],
        )],
        vec![],
        vec![
            decl("a", &[None, Some(BIG * 2)]),
            decl("b", &[None, Some(BIG * 2)]),
            decl("c", &[None, Some(BIG * 2)]),
        ],
        "y",
    );
    refused(&m, "Concat \"cat\"", "overflows");
}

#[test]
fn flattened_size_that_overflows() {
    let m = model(
        13,
        vec![node("Flatten", "flat", &["x"], &["y"], vec![])],
        vec![],
        vec![decl("x", &[None, Some(BIG), Some(BIG), Some(2)])],
        "y",
    );
    refused(&m, "Flatten \"flat\"", "overflows");
}

#[test]
fn raw_data_of_a_shape_whose_byte_size_overflows() {
    let mut t = TensorProto::new();
    t.name = "w".into();
    t.data_type = 1;
    t.dims = vec![1 << 61, 4];
    t.raw_data = vec![0; 16];
    let mut m = ModelProto::new();
    let mut op = OperatorSetIdProto::new();
    op.version = 13;
    m.opset_import.push(op);
    let mut g = onnx_protobuf::GraphProto::new();
    g.initializer.push(t);
    m.graph = Some(g).into();
    let bytes = m.write_to_bytes().unwrap();
    let e = import(&bytes, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("tensor \"w\""), "{e}");
}

#[test]
fn scalar_added_to_a_huge_channel_axis() {
    // One value for 2^62 channels: no broadcast vector is built for an input.
    let m = model(
        13,
        vec![node("Add", "add", &["x", "c"], &["y"], vec![])],
        vec![("c", tensor(&[1], vec![1.0]))],
        vec![decl("x", &[None, Some(BIG)])],
        "y",
    );
    // Not a layer's output, so not a bias: a ShiftVertex.
    assert!(import_model(&m, &ImportOptions::default()).is_ok());
}

#[test]
fn empty_weights_with_huge_dimensions() {
    // Gemm with a bias for 2^62 outputs of a weight without values.
    let m = model(
        13,
        vec![node("Gemm", "gemm", &["x", "w", "b"], &["y"], vec![])],
        vec![
            ("w", tensor(&[0, BIG], vec![])),
            ("b", tensor(&[], vec![1.0])),
        ],
        vec![decl("x", &[None, None])],
        "y",
    );
    refused(&m, "Gemm \"gemm\"", "holds no values");
    // Conv without a bias (a zero one is made) for 2^62 output channels.
    let m = model(
        13,
        vec![node("Conv", "conv", &["x", "w"], &["y"], vec![])],
        vec![("w", tensor(&[BIG, 0, 1, 1], vec![]))],
        vec![decl("x", &[None, None, Some(4), Some(4)])],
        "y",
    );
    refused(&m, "Conv \"conv\"", "holds no values");
}

#[test]
fn prelu_over_too_many_values() {
    let m = model(
        13,
        vec![node("PRelu", "prelu", &["x", "s"], &["y"], vec![])],
        vec![("s", tensor(&[1], vec![0.25]))],
        vec![decl("x", &[None, Some(1 << 32), Some(1 << 32)])],
        "y",
    );
    refused(&m, "PRelu \"prelu\"", "too many values");
}

#[test]
fn gather_of_a_constant_that_would_be_huge() {
    // 2^20 copies of a 2^10-value row: left unfolded (a Gather on constants then fails).
    let m = model(
        13,
        vec![
            node("Gather", "g", &["c", "i"], &["ci"], vec![]),
            node("Add", "add", &["x", "ci"], &["y"], vec![]),
        ],
        vec![
            ("c", tensor(&[1, 1 << 10], vec![0.0; 1 << 10])),
            ("i", tensor(&[1 << 20], vec![0.0; 1 << 20])),
        ],
        vec![decl("x", &[None, Some(3)])],
        "y",
    );
    refused(&m, "Gather \"g\"", "");
}
