//! Configurations an untrusted archive may carry: each one is translated (never a panic) or
//! refused with a message naming the layer or vertex.

use std::collections::HashSet;

use dl4j_core::{Archive, Configuration, TensorData};
use serde_json::{json, Value};

use super::{translate, Graph};

fn layer(class: &str, fields: Value) -> Value {
    let mut v = json!({"@class": format!("org.deeplearning4j.nn.conf.layers.{class}")});
    if let (Some(o), Some(f)) = (v.as_object_mut(), fields.as_object()) {
        o.extend(f.clone());
    }
    v
}

fn vertex(class: &str, fields: Value) -> Value {
    let mut v = json!({"@class": format!("org.deeplearning4j.nn.conf.graph.{class}")});
    if let (Some(o), Some(f)) = (v.as_object_mut(), fields.as_object()) {
        o.extend(f.clone());
    }
    v
}

fn identity() -> Value {
    json!({"@class": "org.nd4j.linalg.activations.impl.ActivationIdentity"})
}

/// Translates `config` as if the parameters `params` had been exported (their data is not read).
fn export(config: Value, params: &[&str]) -> dl4j_core::Result<Graph> {
    let config = Configuration::parse(config.to_string()).expect("test configuration parses");
    let archive =
        Archive::with_parameters(config, TensorData::F32(Vec::new()), "test").expect("archive");
    let params: HashSet<&str> = params.iter().copied().collect();
    translate(&archive, &params, 17)
}

fn mln(layers: Vec<Value>, pre: Value) -> Value {
    let confs: Vec<Value> = layers
        .into_iter()
        .map(|l| json!({"layer": l, "variables": []}))
        .collect();
    json!({"confs": confs, "inputPreProcessors": pre})
}

fn refused(config: Value, params: &[&str], at: &str, why: &str) {
    match export(config, params) {
        Ok(_) => panic!("translated; expected a refusal of {at}: {why}"),
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains(at), "{e}");
            assert!(e.contains(why), "{e}");
        }
    }
}

#[test]
fn flatten_preprocessor_after_an_input_of_open_rank() {
    // BatchNormalization first leaves the rank open; the CnnToFeedForward after it must not
    // assume a known shape.
    let config = mln(
        vec![
            layer("BatchNormalization", json!({"nout": 3})),
            layer(
                "DenseLayer",
                json!({"nin": 3, "nout": 2, "activationFn": identity()}),
            ),
        ],
        json!({"1": {"@class": "org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor"}}),
    );
    let params = ["0_mean", "0_var", "0_gamma", "0_beta", "1_W", "1_b"];
    assert!(export(config, &params).is_ok());
}

#[test]
fn lrn_window_out_of_range() {
    let config = mln(
        vec![layer("LocalResponseNormalization", json!({"n": 1e300}))],
        Value::Null,
    );
    refused(config, &[], "layer 0", "out of range");
}

#[test]
fn repeat_vector_too_many_copies() {
    let config = mln(
        vec![layer(
            "RepeatVector",
            json!({"n": 1_000_000_000_000_000_000i64}),
        )],
        Value::Null,
    );
    refused(config, &[], "layer 0", "RepeatVector n");
}

#[test]
fn space_to_depth_channel_overflow() {
    let config = mln(
        vec![layer(
            "SpaceToDepthLayer",
            json!({"blockSize": 1_i64 << 40, "nin": 1_i64 << 40}),
        )],
        Value::Null,
    );
    refused(config, &[], "layer 0", "overflows");
}

#[test]
fn dilated_pooling_too_many_taps() {
    let config = mln(
        vec![layer(
            "SubsamplingLayer",
            json!({"kernelSize": [100000, 100000], "stride": [1, 1], "dilation": [2, 2]}),
        )],
        Value::Null,
    );
    refused(config, &[], "layer 0", "taps");
}

#[test]
fn window_values_beyond_java_int() {
    let config = mln(
        vec![layer(
            "Convolution1DLayer",
            json!({"kernelSize": [1_i64 << 40, 1], "stride": [1, 1], "dilation": [1_i64 << 40, 1],
                   "convolutionMode": "Same", "activationFn": identity(), "nin": 1, "nout": 1}),
        )],
        Value::Null,
    );
    refused(config, &["0_W", "0_b"], "layer 0", "invalid window");
}

#[test]
fn window_arrays_too_short() {
    let config = mln(
        vec![layer(
            "Convolution3D",
            json!({"kernelSize": [2, 2], "activationFn": identity(), "nin": 1, "nout": 1}),
        )],
        Value::Null,
    );
    refused(config, &["0_W", "0_b"], "layer 0", "fewer than 3 entries");
    let config = mln(
        vec![layer("ZeroPaddingLayer", json!({"padding": [1, 2, 3]}))],
        Value::Null,
    );
    refused(config, &[], "layer 0", "padding [1, 2, 3]");
    let config = mln(
        vec![layer("Upsampling2D", json!({"size": []}))],
        Value::Null,
    );
    refused(config, &[], "layer 0", "fewer than 2 entries");
}

#[test]
fn yolo_priors_larger_than_their_data() {
    let boxes = json!({"shapeField": [1e15, 2], "strideField": [0, 0], "dataBuffer": [1.0, 2.0]});
    let config = mln(
        vec![layer(
            "objdetect.Yolo2OutputLayer",
            json!({"boundingBoxes": boxes}),
        )],
        Value::Null,
    );
    refused(config, &[], "layer 0", "boundingBoxes");
}

#[test]
fn recurrent_size_beyond_java_int() {
    let config = mln(
        vec![layer(
            "GravesBidirectionalLSTM",
            json!({"nin": 2, "nout": 1_i64 << 40, "activationFn": {"@class": "org.nd4j.linalg.activations.impl.ActivationTanH"}}),
        )],
        Value::Null,
    );
    let params = ["0_WF", "0_RWF", "0_bF", "0_WB", "0_RWB", "0_bB"];
    refused(config, &params, "layer 0", "too large");
}

fn graph(vertices: Vec<(&str, Value, Vec<&str>)>) -> Value {
    let mut vs = serde_json::Map::new();
    let mut vi = serde_json::Map::new();
    let outputs: Vec<&str> = vertices.iter().map(|v| v.0).collect();
    for (name, v, ins) in vertices {
        vs.insert(name.into(), v);
        vi.insert(name.into(), json!(ins));
    }
    json!({"networkInputs": ["in"], "networkOutputs": outputs, "vertices": vs, "vertexInputs": vi})
}

#[test]
fn vertices_with_unexpected_inputs() {
    let config = graph(vec![("stack", vertex("StackVertex", json!({})), vec![])]);
    refused(config, &[], "vertex \"stack\"", "without inputs");
    let config = graph(vec![(
        "e",
        vertex("ElementWiseVertex", json!({"op": "Add"})),
        vec![],
    )]);
    refused(config, &[], "vertex \"e\"", "without inputs");
    let config = graph(vec![("l2", vertex("L2Vertex", json!({})), vec!["in"])]);
    refused(config, &[], "vertex \"l2\"", "two inputs");
}

#[test]
fn vertex_ranges_out_of_bounds() {
    let config = graph(vec![(
        "s",
        vertex("SubsetVertex", json!({"from": 0, "to": i64::MAX})),
        vec!["in"],
    )]);
    refused(config, &[], "vertex \"s\"", "not valid");
    let config = graph(vec![(
        "s",
        vertex("SubsetVertex", json!({"from": 5, "to": 2})),
        vec!["in"],
    )]);
    refused(config, &[], "vertex \"s\"", "not valid");
    let config = graph(vec![(
        "u",
        vertex("UnstackVertex", json!({"from": i64::MAX, "stackSize": 2})),
        vec!["in"],
    )]);
    refused(config, &[], "vertex \"u\"", "outside the stack");
}
