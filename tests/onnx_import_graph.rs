//! ONNX -> DL4J of graphs that need ComputationGraph vertices (Add, Concat, Slice, residual
//! connections) and of scikit-learn classifiers (label post-processing dropped, class labels
//! kept): each model is imported, exported back to ONNX and run against a reference (the
//! fixture's expected output, tract running the original file, or a forward pass here).

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::onnx_build::{
    add_opset, attr_i, attr_is, attr_strs, domain_node, floats as f32s, import_bytes, int32s,
    ints_init as int64s, model_proto, node as default_node, strings, symbolic_value, text,
    tract_run, write_npy_array as write_npy, TOLERANCE,
};
use common::{dl4j, fixture, zip_entries};
use ndarray::{Array2, ArrayD, Axis, IxDyn};
use onnx_protobuf::{AttributeProto, Message, NodeProto, TensorProto, ValueInfoProto};

const NODE: &str = "onnx/onnx-backend-test-data/node";
const LIGHT: &str = "onnx/onnx-backend-test-data/light";

fn run(args: &[&OsStr]) -> Output {
    dl4j(args)
}

fn ok(o: Output, what: &str) -> Output {
    assert!(o.status.success(), "{what} failed:\n{}", text(&o));
    o
}

/// `dl4j convert a b`, which must succeed.
fn convert(from: &Path, to: &Path) -> Output {
    ok(
        common::onnx_build::convert(from, to, &[]),
        &format!("convert {} -> {}", from.display(), to.display()),
    )
}

/// `dl4j verify model --input ... --expected ...` with the import tests' tolerances.
fn verify(model: &Path, inputs: &[PathBuf], expected: &[PathBuf]) -> Output {
    common::onnx_build::verify(model, inputs, expected, TOLERANCE)
}

fn config(zip: &Path) -> String {
    let entries = zip_entries(zip);
    let (_, bytes) = entries
        .iter()
        .find(|(n, _)| n == "configuration.json")
        .expect("configuration.json in the archive");
    String::from_utf8(bytes.clone()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// ONNX backend test nodes.

fn node_round_trip(folder: &str, n_inputs: usize) {
    let dir = fixture(&format!("{NODE}/{folder}"));
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("model.zip");
    let back = tmp.path().join("back.onnx");
    convert(&dir.join("model.onnx"), &zip);
    assert!(
        config(&zip).contains("ComputationGraphConfiguration") || config(&zip).contains("vertices"),
        "{folder}: not a ComputationGraph"
    );
    convert(&zip, &back);
    let data = dir.join("test_data_set_0");
    let inputs: Vec<PathBuf> = (0..n_inputs)
        .map(|k| data.join(format!("input_{k}.pb")))
        .collect();
    let o = verify(&back, &inputs, &[data.join("output_0.pb")]);
    assert!(o.status.success(), "{folder}: verify failed:\n{}", text(&o));
}

#[test]
fn add_of_two_inputs_is_an_elementwise_vertex() {
    node_round_trip("test_add", 2);
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("m.zip");
    convert(&fixture(&format!("{NODE}/test_add/model.onnx")), &zip);
    let c = config(&zip);
    assert!(
        c.contains("ElementWiseVertex") && c.contains("\"Add\""),
        "{c}"
    );
}

#[test]
fn concat_on_axis_1_is_a_merge_vertex() {
    node_round_trip("test_concat_2d_axis_1", 2);
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("m.zip");
    convert(
        &fixture(&format!("{NODE}/test_concat_2d_axis_1/model.onnx")),
        &zip,
    );
    assert!(config(&zip).contains("MergeVertex"));
}

// ---------------------------------------------------------------------------------------------
// SqueezeNet (Conv / Relu / MaxPool / Concat / Dropout / GlobalAveragePool / Softmax, opset 9).

#[test]
fn light_squeezenet_round_trips_with_merge_vertices() {
    let dir = fixture(LIGHT);
    let model = dir.join("light_squeezenet.onnx");
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("sq.zip");
    let back = tmp.path().join("sq.onnx");
    convert(&model, &zip);
    let c = config(&zip);
    assert!(c.contains("MergeVertex"), "no MergeVertex");
    assert!(c.contains("vertices"), "not a ComputationGraph");
    convert(&zip, &back);

    let n = 3 * 224 * 224;
    let x = ArrayD::from_shape_fn(IxDyn(&[1, 3, 224, 224]), |ix| {
        let k = ((ix[1] * 224) + ix[2]) * 224 + ix[3];
        (k as f64 / n as f64) as f32
    });
    let x_path = tmp.path().join("x.npy");
    write_npy(&x_path, &x);
    // The fixture's expected output.
    let o = verify(
        &back,
        std::slice::from_ref(&x_path),
        &[dir.join("light_squeezenet_output_0.pb")],
    );
    assert!(o.status.success(), "vs fixture output:\n{}", text(&o));
    // tract running the original file.
    let want = tract_run(&model, std::slice::from_ref(&x), false).remove(0);
    let want_path = tmp.path().join("want.npy");
    write_npy(&want_path, &want);
    let o = verify(
        &back,
        std::slice::from_ref(&x_path),
        std::slice::from_ref(&want_path),
    );
    assert!(
        o.status.success(),
        "vs tract on the original:\n{}",
        text(&o)
    );
    // And the DL4J archive itself (exported in memory).
    let o = verify(&zip, &[x_path], &[want_path]);
    assert!(o.status.success(), "archive vs tract:\n{}", text(&o));
}

// ---------------------------------------------------------------------------------------------
// Synthetic graphs built with onnx-protobuf.

/// A tensor value whose `None` dims are the symbolic `N`.
fn value_info(name: &str, elem: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    symbolic_value(name, dims, elem, "N")
}

/// A float initializer of f64 values.
fn floats(name: &str, shape: &[usize], v: &[f64]) -> TensorProto {
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    f32s(name, &dims, v.iter().map(|&x| x as f32).collect())
}

/// A node of the default operator set, or of `domain`.
fn node(
    op: &str,
    domain: &str,
    name: &str,
    ins: &[&str],
    outs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    if domain.is_empty() {
        default_node(op, name, ins, outs, attrs)
    } else {
        domain_node(domain, op, name, ins, outs, attrs)
    }
}

/// An skl2onnx-like model; `ml` > 0 adds the `ai.onnx.ml` operator set at that version.
fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    opset: i64,
    ml: i64,
) -> Vec<u8> {
    let mut m = model_proto(nodes, inits, inputs, outputs, opset);
    m.producer_name = "skl2onnx".into();
    m.producer_version.clear();
    m.graph.as_mut().unwrap().name = "g".into();
    if ml > 0 {
        add_opset(&mut m, "ai.onnx.ml", ml);
    }
    m.write_to_bytes().unwrap()
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn mat(r: usize, c: usize, seed: u64) -> Array2<f64> {
    Array2::from_shape_vec((r, c), values(r * c, seed)).unwrap()
}

/// The skl2onnx graph of an MLPClassifier with one hidden layer (`zipmap` off). Three or more
/// classes: softmax output and string labels; two: sigmoid output, `Concat(1 - p, p)` and
/// integer labels cast to int64.
fn mlp_classifier(
    w1: &Array2<f64>,
    b1: &[f64],
    w2: &Array2<f64>,
    b2: &[f64],
    labels: &[&str],
    encoder: bool,
) -> Vec<u8> {
    let (n_in, hidden) = w1.dim();
    let n_out = w2.dim().1;
    let binary = labels.len() == 2;
    let mut nodes = vec![
        node(
            "Cast",
            "",
            "Cast",
            &["X"],
            &["cast_input"],
            vec![attr_i("to", 1)],
        ),
        node(
            "MatMul",
            "",
            "MatMul",
            &["cast_input", "coefficient"],
            &["mul_result"],
            vec![],
        ),
        node(
            "Add",
            "",
            "Add",
            &["mul_result", "intercepts"],
            &["add_result"],
            vec![],
        ),
        node(
            "Relu",
            "",
            "Relu",
            &["add_result"],
            &["next_activations"],
            vec![],
        ),
        node(
            "MatMul",
            "",
            "MatMul1",
            &["next_activations", "coefficient1"],
            &["mul_result1"],
            vec![],
        ),
        node(
            "Add",
            "",
            "Add1",
            &["mul_result1", "intercepts1"],
            &["add_result1"],
            vec![],
        ),
        node(
            if binary { "Sigmoid" } else { "Softmax" },
            "",
            "Relu1",
            &["add_result1"],
            &["out_activations_result"],
            vec![],
        ),
    ];
    let mut inits = vec![
        floats(
            "coefficient",
            &[n_in, hidden],
            &w1.iter().copied().collect::<Vec<_>>(),
        ),
        floats("intercepts", &[1, hidden], b1),
        floats(
            "coefficient1",
            &[hidden, n_out],
            &w2.iter().copied().collect::<Vec<_>>(),
        ),
        floats("intercepts1", &[1, n_out], b2),
        int64s("shape_tensor", &[-1]),
    ];
    if binary {
        inits.push(floats("unity", &[], &[1.0]));
        inits.push(int32s(
            "classes",
            &labels
                .iter()
                .map(|s| s.parse().unwrap())
                .collect::<Vec<_>>(),
        ));
        nodes.push(node(
            "Sub",
            "",
            "Sub",
            &["unity", "out_activations_result"],
            &["negative_class_proba"],
            vec![],
        ));
        nodes.push(node(
            "Concat",
            "",
            "Concat",
            &["negative_class_proba", "out_activations_result"],
            &["probabilities"],
            vec![attr_i("axis", 1)],
        ));
    } else {
        inits.push(strings("classes", labels));
        nodes.push(node(
            "Identity",
            "",
            "Identity",
            &["out_activations_result"],
            &["probabilities"],
            vec![],
        ));
    }
    nodes.push(node(
        "ArgMax",
        "",
        "ArgMax",
        &["probabilities"],
        &["argmax_output"],
        vec![attr_i("axis", 1)],
    ));
    let label_elem = if encoder {
        // Index -> label with a LabelEncoder (ai.onnx.ml opset 2) instead of the class table.
        nodes.push(node(
            "LabelEncoder",
            "ai.onnx.ml",
            "LabelEncoder",
            &["argmax_output"],
            &["label"],
            vec![
                attr_is("keys_int64s", &(0..labels.len() as i64).collect::<Vec<_>>()),
                attr_strs("values_strings", labels),
            ],
        ));
        8
    } else {
        classic_label(&mut nodes, binary)
    };
    model(
        nodes,
        inits,
        vec![value_info("X", 1, &[None, Some(n_in as i64)])],
        vec![
            value_info("label", label_elem, &[None]),
            value_info(
                "probabilities",
                1,
                &[None, Some(if binary { 2 } else { n_out as i64 })],
            ),
        ],
        15,
        if encoder { 2 } else { 1 },
    )
}

/// skl2onnx's label chain: class table lookup, reshape to [N] (and cast for integer labels).
fn classic_label(nodes: &mut Vec<NodeProto>, binary: bool) -> i32 {
    nodes.push(node(
        "ArrayFeatureExtractor",
        "ai.onnx.ml",
        "ArrayFeatureExtractor",
        &["classes", "argmax_output"],
        &["array_feature_extractor_result"],
        vec![],
    ));
    if binary {
        nodes.push(node(
            "Reshape",
            "",
            "Reshape",
            &["array_feature_extractor_result", "shape_tensor"],
            &["reshaped_result"],
            vec![],
        ));
        nodes.push(node(
            "Cast",
            "",
            "Cast1",
            &["reshaped_result"],
            &["label"],
            vec![attr_i("to", 7)],
        ));
        7
    } else {
        nodes.push(node(
            "Reshape",
            "",
            "Reshape",
            &["array_feature_extractor_result", "shape_tensor"],
            &["label"],
            vec![],
        ));
        8
    }
}

fn softmax_rows(z: &Array2<f64>) -> Array2<f64> {
    let mut out = z.clone();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let m = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    out
}

/// Imports an skl2onnx classifier; checks the notes, the labels object and the probabilities.
fn check_classifier(labels: &[&str], seed: u64, encoder: bool) {
    let (n_in, hidden) = (4, 6);
    let n_out = if labels.len() == 2 { 1 } else { labels.len() };
    let w1 = mat(n_in, hidden, seed);
    let b1 = values(hidden, seed + 1);
    let w2 = mat(hidden, n_out, seed + 2);
    let b2 = values(n_out, seed + 3);
    let bytes = mlp_classifier(&w1, &b1, &w2, &b2, labels, encoder);
    let tmp = tempfile::tempdir().unwrap();
    let onnx = tmp.path().join("mlp.onnx");
    std::fs::write(&onnx, bytes).unwrap();
    let zip = tmp.path().join("mlp.zip");
    let o = convert(&onnx, &zip);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let notes: Vec<&str> = err.lines().filter(|l| l.starts_with("note:")).collect();
    let mut dropped = if encoder {
        vec![
            "ArgMax \"ArgMax\"",
            "ai.onnx.ml.LabelEncoder \"LabelEncoder\"",
        ]
    } else {
        vec![
            "ArgMax \"ArgMax\"",
            "ai.onnx.ml.ArrayFeatureExtractor \"ArrayFeatureExtractor\"",
            "Reshape \"Reshape\"",
        ]
    };
    if labels.len() == 2 {
        dropped.push("Cast \"Cast1\"");
    }
    for d in &dropped {
        assert!(
            notes.iter().any(|l| l.contains("dropped") && l.contains(d)),
            "no note names {d}:\n{err}"
        );
    }
    assert_eq!(
        notes.iter().filter(|l| l.contains("dropped")).count(),
        dropped.len(),
        "{err}"
    );

    let list = ok(
        run(&[OsStr::new("objects"), OsStr::new("list"), zip.as_os_str()]),
        "objects list",
    );
    assert!(
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .any(|l| l.starts_with("labels\t")),
        "{}",
        text(&list)
    );
    let got = ok(
        run(&[
            OsStr::new("objects"),
            OsStr::new("get"),
            zip.as_os_str(),
            OsStr::new("labels"),
            OsStr::new("--decode"),
        ]),
        "objects get labels",
    );
    let shown = String::from_utf8_lossy(&got.stdout);
    for l in labels {
        assert!(shown.contains(l), "label {l} missing from {shown}");
    }

    // Probabilities against a forward pass here.
    let x = mat(7, n_in, seed + 4);
    let h = (x.dot(&w1) + Array2::from_shape_vec((1, hidden), b1).unwrap()).mapv(|v| v.max(0.0));
    let z = h.dot(&w2) + Array2::from_shape_vec((1, n_out), b2).unwrap();
    let p = if labels.len() == 2 {
        let s = z.mapv(|v| 1.0 / (1.0 + (-v).exp()));
        ndarray::concatenate(Axis(1), &[s.mapv(|v| 1.0 - v).view(), s.view()]).unwrap()
    } else {
        softmax_rows(&z)
    };
    let x_path = tmp.path().join("x.npy");
    let p_path = tmp.path().join("p.npy");
    write_npy(&x_path, &x.mapv(|v| v as f32).into_dyn());
    write_npy(&p_path, &p.mapv(|v| v as f32).into_dyn());
    let o = verify(
        &zip,
        std::slice::from_ref(&x_path),
        std::slice::from_ref(&p_path),
    );
    assert!(o.status.success(), "archive:\n{}", text(&o));
    let back = tmp.path().join("back.onnx");
    convert(&zip, &back);
    let o = verify(&back, &[x_path], &[p_path]);
    assert!(o.status.success(), "re-exported:\n{}", text(&o));
}

#[test]
fn sklearn_mlp_classifier_keeps_probabilities_and_labels() {
    check_classifier(&["setosa", "versicolor", "virginica"], 11, false);
}

#[test]
fn sklearn_binary_mlp_classifier_concatenates_both_probabilities() {
    check_classifier(&["3", "7"], 23, false);
}

#[test]
fn sklearn_classifier_with_label_encoder_keeps_its_labels() {
    check_classifier(&["cat", "dog", "bird", "fish"], 37, true);
}

/// Conv -> Relu -> Conv (bias as a separate `Add`) -> Add(block input) -> Relu, then a scaled
/// copy and a channel slice as two outputs.
fn residual_block() -> Vec<u8> {
    let c = 4;
    let w1 = values(c * c * 9, 1);
    let b1 = values(c, 2);
    let w2 = values(c * c * 9, 3);
    let b2 = values(c, 4);
    let pads = || attr_is("pads", &[1, 1, 1, 1]);
    let k = || attr_is("kernel_shape", &[3, 3]);
    let nodes = vec![
        node(
            "Conv",
            "",
            "conv1",
            &["x", "w1", "b1"],
            &["c1"],
            vec![k(), pads()],
        ),
        node("Relu", "", "relu1", &["c1"], &["r1"], vec![]),
        node(
            "Conv",
            "",
            "conv2",
            &["r1", "w2"],
            &["c2"],
            vec![k(), pads()],
        ),
        node("Add", "", "bias2", &["c2", "b2"], &["c2b"], vec![]),
        node("Add", "", "skip", &["c2b", "x"], &["s"], vec![]),
        node("Relu", "", "relu2", &["s"], &["y"], vec![]),
        node("Mul", "", "half", &["y", "k"], &["scaled"], vec![]),
        node(
            "Slice",
            "",
            "part",
            &["y", "st", "en", "ax"],
            &["part"],
            vec![],
        ),
    ];
    let inits = vec![
        floats("w1", &[c, c, 3, 3], &w1),
        floats("b1", &[c], &b1),
        floats("w2", &[c, c, 3, 3], &w2),
        floats("b2", &[c, 1, 1], &b2),
        floats("k", &[], &[0.5]),
        int64s("st", &[1]),
        int64s("en", &[3]),
        int64s("ax", &[1]),
    ];
    model(
        nodes,
        inits,
        vec![value_info(
            "x",
            1,
            &[Some(2), Some(c as i64), Some(5), Some(5)],
        )],
        vec![
            value_info("scaled", 1, &[Some(2), Some(c as i64), Some(5), Some(5)]),
            value_info("part", 1, &[Some(2), Some(2), Some(5), Some(5)]),
        ],
        13,
        0,
    )
}

#[test]
fn residual_block_round_trips_against_tract() {
    let tmp = tempfile::tempdir().unwrap();
    let onnx = tmp.path().join("res.onnx");
    std::fs::write(&onnx, residual_block()).unwrap();
    let zip = tmp.path().join("res.zip");
    convert(&onnx, &zip);
    let c = config(&zip);
    for v in ["ElementWiseVertex", "ScaleVertex", "SubsetVertex"] {
        assert!(c.contains(v), "no {v}");
    }
    assert!(
        !c.contains("\"hasBias\": false") && c.contains("\"hasBias\": true"),
        "the bias Add was not folded into conv2"
    );
    let back = tmp.path().join("back.onnx");
    convert(&zip, &back);

    let x = ArrayD::from_shape_vec(
        IxDyn(&[2, 4, 5, 5]),
        values(200, 9).iter().map(|&v| v as f32).collect(),
    )
    .unwrap();
    let want = tract_run(&onnx, std::slice::from_ref(&x), false);
    let x_path = tmp.path().join("x.npy");
    write_npy(&x_path, &x);
    let outs: Vec<PathBuf> = want
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let p = tmp.path().join(format!("want{i}.npy"));
            write_npy(&p, w);
            p
        })
        .collect();
    let o = verify(&back, std::slice::from_ref(&x_path), &outs);
    assert!(o.status.success(), "re-exported:\n{}", text(&o));
    let o = verify(&zip, &[x_path], &outs);
    assert!(o.status.success(), "archive:\n{}", text(&o));
}

/// A one-node graph over inputs `a` [2, 3] and `b` (shape `b_dims`) that must be refused.
fn refused(op: &str, b_dims: &[Option<i64>], attrs: Vec<AttributeProto>, want: &str) {
    let bytes = model(
        vec![node(op, "", "n", &["a", "b"], &["y"], attrs)],
        vec![],
        vec![
            value_info("a", 1, &[Some(2), Some(3)]),
            value_info("b", 1, b_dims),
        ],
        vec![value_info("y", 1, &[])],
        13,
        0,
    );
    let (_tmp, _, zip, o) = import_bytes(&bytes, &[]);
    assert!(!o.status.success(), "{op} was accepted");
    assert!(text(&o).contains(want), "{op}: {}", text(&o));
    assert!(!zip.exists());
}

#[test]
fn unrepresentable_vertices_are_refused_with_reasons() {
    refused(
        "Concat",
        &[Some(2), Some(3)],
        vec![attr_i("axis", 0)],
        "joins along axis 1",
    );
    refused("Div", &[Some(2), Some(3)], vec![], "no divide");
    refused("Add", &[Some(1), Some(3)], vec![], "no ONNX broadcasting");
}
