//! ComputationGraph vertices, input preprocessors, embeddings and element-wise layers exported to
//! ONNX, run with tract and compared with direct f64 implementations of DL4J's formulas (spec
//! `dl4j-config-and-layers.md` §9.4, §9.24-§9.25, §11, §12).

mod common;

use common::onnx_run::assert_close;
use common::synthetic::{layer, uniform};
use dl4j::{Archive, DType};
use ndarray::{concatenate, s, Array2, Array3, ArrayD, Axis, IxDyn};
use serde_json::{json, Value};
use tract_onnx::prelude::*;

fn arr(shape: &[usize], seed: u64) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(shape), random(shape.iter().product(), seed)).unwrap()
}

fn vertex(class: &str, fields: Value) -> Value {
    let mut v = json!({"@class": format!("org.deeplearning4j.nn.conf.graph.{class}")});
    v.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    v
}

fn layer_vertex(layer: Value, vars: &[&str]) -> Value {
    vertex(
        "LayerVertex",
        json!({"layerConf": {"layer": layer, "variables": vars}, "preProcessor": null}),
    )
}

fn identity() -> Value {
    json!({"@class": "org.nd4j.linalg.activations.impl.ActivationIdentity"})
}

fn graph(inputs: &[&str], outputs: &[&str], vertices: Vec<(&str, Value, Vec<&str>)>) -> Value {
    let mut vs = serde_json::Map::new();
    let mut vi = serde_json::Map::new();
    for (name, v, ins) in vertices {
        vs.insert(name.into(), v);
        vi.insert(name.into(), json!(ins));
    }
    json!({"networkInputs": inputs, "networkOutputs": outputs, "vertices": vs, "vertexInputs": vi})
}

/// Exports and runs with tract: one array per network input (f64), every output back.
fn run_all(a: &Archive, inputs: &[ArrayD<f64>]) -> Vec<ArrayD<f64>> {
    let onnx = dl4j::dl4j_onnx::to_onnx(a, 17).unwrap_or_else(|e| panic!("export: {e}"));
    let mut model = tract_onnx::onnx().model_for_read(&mut &onnx[..]).unwrap();
    let mut values = TVec::new();
    for (i, x) in inputs.iter().enumerate() {
        model = model
            .with_input_fact(i, f64::fact(x.shape()).into())
            .unwrap();
        let v: Vec<f64> = x.iter().copied().collect();
        values.push(Tensor::from_shape(x.shape(), &v).unwrap().into_tvalue());
    }
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    plan.run(values)
        .unwrap()
        .iter()
        .map(|t| {
            let t = t.clone().into_tensor();
            let v: Vec<f64> = t
                .to_plain_array_view::<f64>()
                .unwrap()
                .iter()
                .copied()
                .collect();
            ArrayD::from_shape_vec(IxDyn(t.shape()), v).unwrap()
        })
        .collect()
}

fn close(got: &ArrayD<f64>, want: &ArrayD<f64>, what: &str) {
    assert_close(got, want, 1e-12, 1e-12, what);
}

#[test]
fn merge_elementwise_subset_scale_shift() {
    let g = graph(
        &["a", "b"],
        &[
            "merge", "add", "sub", "prod", "avg", "max", "subset", "scale", "shift",
        ],
        vec![
            ("merge", vertex("MergeVertex", json!({})), vec!["a", "b"]),
            (
                "add",
                vertex("ElementWiseVertex", json!({"op": "Add"})),
                vec!["a", "b"],
            ),
            (
                "sub",
                vertex("ElementWiseVertex", json!({"op": "Subtract"})),
                vec!["a", "b"],
            ),
            (
                "prod",
                vertex("ElementWiseVertex", json!({"op": "Product"})),
                vec!["a", "b"],
            ),
            (
                "avg",
                vertex("ElementWiseVertex", json!({"op": "Average"})),
                vec!["a", "b"],
            ),
            (
                "max",
                vertex("ElementWiseVertex", json!({"op": "Max"})),
                vec!["a", "b"],
            ),
            (
                "subset",
                vertex("SubsetVertex", json!({"from": 2, "to": 5})),
                vec!["merge"],
            ),
            (
                "scale",
                vertex("ScaleVertex", json!({"scaleFactor": 2.5})),
                vec!["a"],
            ),
            (
                "shift",
                vertex("ShiftVertex", json!({"shiftFactor": -0.75})),
                vec!["b"],
            ),
        ],
    );
    let a = arr(&[3, 4], 1);
    let b = arr(&[3, 4], 2);
    let out = run_all(&archive(g, vec![]), &[a.clone(), b.clone()]);
    let merged = concatenate(Axis(1), &[a.view(), b.view()]).unwrap();
    close(&out[0], &merged, "merge");
    close(&out[1], &(&a + &b), "add");
    close(&out[2], &(&a - &b), "subtract");
    close(&out[3], &(&a * &b), "product");
    close(&out[4], &((&a + &b) / 2.0), "average");
    close(
        &out[5],
        &ndarray::Zip::from(&a).and(&b).map_collect(|x, y| x.max(*y)),
        "max",
    );
    close(
        &out[6],
        &merged.slice(s![.., 2..6]).to_owned().into_dyn(),
        "subset (inclusive to)",
    );
    close(&out[7], &(&a * 2.5), "scale");
    close(&out[8], &(&b - 0.75), "shift");
}

#[test]
fn l2_and_l2_normalize() {
    let g = graph(
        &["a", "b"],
        &["l2", "norm"],
        vec![
            (
                "l2",
                vertex("L2Vertex", json!({"eps": 1e-8})),
                vec!["a", "b"],
            ),
            (
                "dense",
                layer_vertex(
                    layer("ActivationLayer", json!({"activationFn": identity()})),
                    &[],
                ),
                vec!["a"],
            ),
            (
                "norm",
                vertex("L2NormalizeVertex", json!({"dimension": null, "eps": 1e-8})),
                vec!["dense"],
            ),
        ],
    );
    let a = arr(&[5, 3], 3);
    let mut b = arr(&[5, 3], 4);
    let a0 = a.slice(s![0, ..]).to_owned();
    b.slice_mut(s![0, ..]).assign(&a0); // distance 0 in row 0
    let out = run_all(&archive(g, vec![]), &[a.clone(), b.clone()]);
    let d = &a - &b;
    let want_l2 = d
        .map_axis(Axis(1), |r| r.mapv(|v| v * v).sum().sqrt())
        .insert_axis(Axis(1));
    close(&out[0], &want_l2.into_dyn(), "l2");
    let n = a
        .map_axis(Axis(1), |r| r.mapv(|v| v * v).sum().sqrt().max(1e-8))
        .insert_axis(Axis(1));
    close(&out[1], &(&a / &n), "l2 normalize");
}

#[test]
fn time_series_vertices() {
    let g = graph(
        &["seq", "ff"],
        &["last", "rev", "dup"],
        vec![
            (
                "rnn",
                layer_vertex(
                    layer("ActivationLayer", json!({"activationFn": identity()})),
                    &[],
                ),
                vec!["seq"],
            ),
            (
                "last",
                vertex("LastTimeStepVertex", json!({"maskArrayInputName": null})),
                vec!["rnn"],
            ),
            (
                "rev",
                vertex(
                    "ReverseTimeSeriesVertex",
                    json!({"maskArrayInputName": null}),
                ),
                vec!["rnn"],
            ),
            (
                "dup",
                vertex("DuplicateToTimeSeriesVertex", json!({"inputName": "seq"})),
                vec!["ff"],
            ),
        ],
    );
    let seq = arr(&[2, 3, 5], 5);
    let ff = arr(&[2, 4], 6);
    let out = run_all(&archive(g, vec![]), &[seq.clone(), ff.clone()]);
    close(
        &out[0],
        &seq.slice(s![.., .., 4]).to_owned().into_dyn(),
        "last time step",
    );
    close(
        &out[1],
        &seq.slice(s![.., .., ..;-1]).to_owned().into_dyn(),
        "reverse",
    );
    let ff2 = ff.clone().into_dimensionality::<ndarray::Ix2>().unwrap();
    let dup = Array3::from_shape_fn((2, 4, 5), |(b, c, _)| ff2[[b, c]]);
    close(&out[2], &dup.into_dyn(), "duplicate to time series");
}

#[test]
fn stack_unstack_reshape_pool_helper() {
    let g = graph(
        &["a", "b", "img"],
        &["stack", "unstack1", "rc", "rf", "pool"],
        vec![
            ("stack", vertex("StackVertex", json!({})), vec!["a", "b"]),
            (
                "unstack1",
                vertex("UnstackVertex", json!({"from": 1, "stackSize": 2})),
                vec!["stack"],
            ),
            (
                "rc",
                vertex(
                    "ReshapeVertex",
                    json!({"reshapeOrder": "c", "newShape": [3, 2, 3], "maskShape": null}),
                ),
                vec!["a"],
            ),
            // A layer first, so the input's rank is known.
            (
                "ff",
                layer_vertex(
                    layer("ActivationLayer", json!({"activationFn": identity()})),
                    &[],
                ),
                vec!["a"],
            ),
            (
                "rf",
                vertex(
                    "ReshapeVertex",
                    json!({"reshapeOrder": "f", "newShape": [3, 2, 3], "maskShape": null}),
                ),
                vec!["ff"],
            ),
            ("pool", vertex("PoolHelperVertex", json!({})), vec!["img"]),
        ],
    );
    let a = arr(&[3, 6], 7);
    let b = arr(&[3, 6], 8);
    let img = arr(&[2, 2, 4, 5], 9);
    let out = run_all(&archive(g, vec![]), &[a.clone(), b.clone(), img.clone()]);
    close(
        &out[0],
        &concatenate(Axis(0), &[a.view(), b.view()]).unwrap(),
        "stack",
    );
    close(&out[1], &b, "unstack second half");
    let v: Vec<f64> = a.iter().copied().collect();
    close(
        &out[2],
        &ArrayD::from_shape_vec(IxDyn(&[3, 2, 3]), v).unwrap(),
        "reshape c",
    );
    // f order: element (i, j, k) of the result is element i + 3j + 6k of the column-major input.
    let a2 = a.clone().into_dimensionality::<ndarray::Ix2>().unwrap();
    let f_in: Vec<f64> = a2.t().iter().copied().collect(); // column-major flattening
    let rf = Array3::from_shape_fn((3, 2, 3), |(i, j, k)| f_in[i + 3 * j + 6 * k]);
    close(&out[3], &rf.into_dyn(), "reshape f");
    close(
        &out[4],
        &img.slice(s![.., .., 1.., 1..]).to_owned().into_dyn(),
        "pool helper",
    );
}

fn mln(layers: Vec<Value>, pre: Value) -> Value {
    let confs: Vec<Value> = layers
        .into_iter()
        .map(|l| {
            let vars = l.get("__vars").cloned().unwrap_or(json!([]));
            let mut l = l;
            l.as_object_mut().unwrap().remove("__vars");
            json!({"layer": l, "variables": vars})
        })
        .collect();
    json!({"confs": confs, "inputPreProcessors": pre})
}

#[test]
fn rnn_feed_forward_preprocessors_split_rows_time_major() {
    let act = layer("ActivationLayer", json!({"activationFn": identity()}));
    let cfg = mln(
        vec![act.clone(), act],
        json!({
            "0": {"@class": "org.deeplearning4j.nn.conf.preprocessor.RnnToFeedForwardPreProcessor"},
            "1": {"@class": "org.deeplearning4j.nn.conf.preprocessor.FeedForwardToRnnPreProcessor"}
        }),
    );
    let (mb, c, t) = (2, 3, 4);
    let x = arr(&[mb, c, t], 10);
    // Through RnnToFF alone: rows t·mb + b.
    let ff_only = mln(
        vec![layer(
            "ActivationLayer",
            json!({"activationFn": identity()}),
        )],
        json!({"0": {"rnnToFeedForward": {}}}),
    );
    let out = run_all(&archive(ff_only, vec![]), std::slice::from_ref(&x));
    let x3 = x.clone().into_dimensionality::<ndarray::Ix3>().unwrap();
    let want = Array2::from_shape_fn((mb * t, c), |(r, ch)| x3[[r % mb, ch, r / mb]]);
    close(&out[0], &want.into_dyn(), "rnn -> ff");
    // And back: the identity.
    let out = run_all(&archive(cfg, vec![]), std::slice::from_ref(&x));
    close(&out[0], &x, "rnn -> ff -> rnn");
}

#[test]
fn cnn_feed_forward_preprocessors() {
    let act = layer("ActivationLayer", json!({"activationFn": identity()}));
    let to_ff = mln(
        vec![act.clone()],
        json!({"0": {"@class": "org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor", "inputHeight": 3, "inputWidth": 4, "numChannels": 2}}),
    );
    let x = arr(&[2, 2, 3, 4], 11);
    let out = run_all(&archive(to_ff, vec![]), std::slice::from_ref(&x));
    let v: Vec<f64> = x.iter().copied().collect();
    close(
        &out[0],
        &ArrayD::from_shape_vec(IxDyn(&[2, 24]), v.clone()).unwrap(),
        "cnn -> ff (c·H·W + h·W + w)",
    );
    let to_cnn = mln(
        vec![act],
        json!({"0": {"feedForwardToCnn": {"inputHeight": 3, "inputWidth": 4, "numChannels": 2}}}),
    );
    let flat = ArrayD::from_shape_vec(IxDyn(&[2, 24]), v).unwrap();
    let out = run_all(&archive(to_cnn, vec![]), &[flat]);
    close(&out[0], &x, "ff -> cnn");
}

#[test]
fn embedding_gathers_rows_of_f_order_w() {
    let (n_in, n_out) = (5, 3);
    let p = random(n_in * n_out + n_out, 12);
    let mut l = layer(
        "EmbeddingLayer",
        json!({"nin": n_in, "nout": n_out, "hasBias": true, "activationFn": identity()}),
    );
    l["__vars"] = json!(["W", "b"]);
    let a = archive(mln(vec![l], json!({})), p.clone());
    let idx = ArrayD::from_shape_vec(IxDyn(&[4, 1]), vec![3.0, 0.0, 4.0, 3.0]).unwrap();
    let out = run_all(&a, std::slice::from_ref(&idx));
    let want = Array2::from_shape_fn((4, n_out), |(r, j)| {
        let i = idx[[r, 0]] as usize;
        p[i + n_in * j] + p[n_in * n_out + j]
    });
    close(&out[0], &want.into_dyn(), "embedding");
}

#[test]
fn embedding_sequence_outputs_ncw() {
    let (n_in, n_out, t) = (6, 2, 3);
    let p = random(n_in * n_out, 13);
    let mut l = layer(
        "EmbeddingSequenceLayer",
        json!({"nin": n_in, "nout": n_out, "inputLength": t, "activationFn": identity()}),
    );
    l["__vars"] = json!(["W"]);
    let a = archive(mln(vec![l], json!({})), p.clone());
    let idx = ArrayD::from_shape_vec(IxDyn(&[2, t]), vec![0.0, 5.0, 2.0, 1.0, 1.0, 4.0]).unwrap();
    let out = run_all(&a, std::slice::from_ref(&idx));
    let want = Array3::from_shape_fn((2, n_out, t), |(b, j, s)| {
        p[idx[[b, s]] as usize + n_in * j]
    });
    close(&out[0], &want.into_dyn(), "embedding sequence");
}

#[test]
fn elementwise_multiplication_and_prelu() {
    let n = 4;
    let p = random(2 * n, 14);
    let mut l = layer(
        "misc.ElementWiseMultiplicationLayer",
        json!({"nin": n, "nout": n, "activationFn": identity()}),
    );
    l["__vars"] = json!(["W", "b"]);
    let a = archive(mln(vec![l], json!({})), p.clone());
    let x = arr(&[3, n], 15);
    let out = run_all(&a, std::slice::from_ref(&x));
    let w = ndarray::Array1::from(p[..n].to_vec());
    let bias = ndarray::Array1::from(p[n..].to_vec());
    let x2 = x.clone().into_dimensionality::<ndarray::Ix2>().unwrap();
    close(
        &out[0],
        &(&x2 * &w + &bias).into_dyn(),
        "element-wise multiplication",
    );

    let alpha = random(n, 16);
    let mut l = layer(
        "PReLULayer",
        json!({"nin": n, "nout": n, "inputShape": [n], "sharedAxes": null}),
    );
    l["__vars"] = json!(["W"]);
    let a = archive(mln(vec![l], json!({})), alpha.clone());
    let out = run_all(&a, std::slice::from_ref(&x));
    let want = Array2::from_shape_fn((3, n), |(r, j)| {
        let v = x2[[r, j]];
        if v >= 0.0 {
            v
        } else {
            alpha[j] * v
        }
    });
    close(&out[0], &want.into_dyn(), "prelu");
}

#[test]
fn rnn_cnn_composable_and_3d_preprocessors() {
    let act = layer("ActivationLayer", json!({"activationFn": identity()}));
    let (mb, c, h, w, t) = (2, 2, 3, 2, 4);
    let shape = json!({"inputHeight": h, "inputWidth": w, "numChannels": c});
    let x = arr(&[mb, c * h * w, t], 17);
    let x3 = x.clone().into_dimensionality::<ndarray::Ix3>().unwrap();
    // RnnToCnn: rows t·mb + b, each row the c-order [C, H, W] of that step.
    let to_cnn = mln(vec![act.clone()], json!({"0": {"rnnToCnn": shape.clone()}}));
    let out = run_all(&archive(to_cnn, vec![]), std::slice::from_ref(&x));
    let want = ndarray::Array4::from_shape_fn((mb * t, c, h, w), |(r, ch, i, j)| {
        x3[[r % mb, ch * h * w + i * w + j, r / mb]]
    });
    close(&out[0], &want.into_dyn(), "rnn -> cnn");
    // RnnToCnn then CnnToRnn (the minibatch size read from the network input) is the identity.
    let mut cnn_to_rnn = shape.clone();
    cnn_to_rnn["@class"] = json!("org.deeplearning4j.nn.conf.preprocessor.CnnToRnnPreProcessor");
    let both = mln(
        vec![act.clone(), act.clone()],
        json!({"0": {"rnnToCnn": shape.clone()}, "1": cnn_to_rnn}),
    );
    let out = run_all(&archive(both, vec![]), std::slice::from_ref(&x));
    close(&out[0], &x, "rnn -> cnn -> rnn");
    // ComposableInputPreProcessor applies its list in order: the same identity.
    let composed = mln(
        vec![act.clone()],
        json!({"0": {"@class": "org.deeplearning4j.nn.conf.preprocessor.ComposableInputPreProcessor",
                      "inputPreProcessors": [{"rnnToCnn": shape.clone()}, cnn_to_rnn]}}),
    );
    let out = run_all(&archive(composed, vec![]), std::slice::from_ref(&x));
    close(&out[0], &x, "composable");

    // 3-D: FeedForwardToCnn3D (NCDHW) then Cnn3DToFeedForward flatten back.
    let d = 2;
    let flat = arr(&[mb, c * d * h * w], 18);
    let to_3d = mln(
        vec![act.clone()],
        json!({"0": {"@class": "org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnn3DPreProcessor",
                      "inputDepth": d, "inputHeight": h, "inputWidth": w, "numChannels": c, "isNCDHW": true}}),
    );
    let out = run_all(&archive(to_3d, vec![]), std::slice::from_ref(&flat));
    let v: Vec<f64> = flat.iter().copied().collect();
    close(
        &out[0],
        &ArrayD::from_shape_vec(IxDyn(&[mb, c, d, h, w]), v).unwrap(),
        "ff -> cnn3d",
    );
}

#[test]
fn preprocessor_vertex_and_layer_vertex_preprocessor() {
    let mut lv = layer_vertex(
        layer("ActivationLayer", json!({"activationFn": identity()})),
        &[],
    );
    lv["preProcessor"] =
        json!({"@class": "org.deeplearning4j.nn.conf.preprocessor.RnnToFeedForwardPreProcessor"});
    let g = graph(
        &["seq"],
        &["pv", "lv"],
        vec![
            (
                "pv",
                vertex(
                    "PreprocessorVertex",
                    json!({"preProcessor": {"@class": "org.deeplearning4j.nn.conf.preprocessor.RnnToFeedForwardPreProcessor"}}),
                ),
                vec!["seq"],
            ),
            ("lv", lv, vec!["seq"]),
        ],
    );
    let (mb, c, t) = (3, 2, 2);
    let x = arr(&[mb, c, t], 19);
    let x3 = x.clone().into_dimensionality::<ndarray::Ix3>().unwrap();
    let want = Array2::from_shape_fn((mb * t, c), |(r, ch)| x3[[r % mb, ch, r / mb]]).into_dyn();
    let out = run_all(&archive(g, vec![]), std::slice::from_ref(&x));
    close(&out[0], &want, "preprocessor vertex");
    close(&out[1], &want, "layer vertex preprocessor");
}

#[test]
fn frozen_vertex_computes_what_it_wraps() {
    let g = graph(
        &["a", "b"],
        &["frozen"],
        vec![(
            "frozen",
            vertex(
                "FrozenVertex",
                json!({"underlying": {"@class": "org.deeplearning4j.nn.conf.graph.ElementWiseVertex", "op": "Product"}}),
            ),
            vec!["a", "b"],
        )],
    );
    let a = arr(&[2, 3], 20);
    let b = arr(&[2, 3], 21);
    let out = run_all(&archive(g, vec![]), &[a.clone(), b.clone()]);
    close(&out[0], &(&a * &b), "frozen product vertex");
}

/// Values in [-4, 4).
fn random(n: usize, seed: u64) -> Vec<f64> {
    uniform(n, seed, -4.0, 4.0)
}

/// An f64 archive of `config`.
fn archive(config: Value, params: Vec<f64>) -> Archive {
    common::synthetic::archive(&config, params, DType::F64)
}
