//! Network -> ONNX nodes. One module per layer family; [`Builder`] hands out value names and
//! constants in the network's dtype.
//!
//! Inference semantics throughout: dropout is off, DL4J's `activate(training = false)`.

pub mod activation;
mod cnn;
mod dense;
mod elementwise;
mod embedding;
#[cfg(test)]
mod hostile_tests;
mod ocnn;
mod preprocess;
mod rnn;
mod space_to_batch;
mod vae;
mod vertex;
mod yolo;

use std::collections::{HashMap, HashSet};

use dl4j_core::config::{LayerConf, ModelKind, Node as NetNode};
use dl4j_core::tensor::DType;
use dl4j_core::{Archive, Error, Result};
use half::{bf16, f16};
use serde_json::Value as Json;

use crate::proto::{Attr, Constant, Dim, Node};

/// The translated graph (initializers for DL4J parameters are added by the caller).
pub struct Graph {
    pub nodes: Vec<Node>,
    pub inputs: Vec<(String, DType, Option<Vec<Dim>>)>,
    pub outputs: Vec<(String, DType, Option<Vec<Dim>>)>,
    pub constants: Vec<Constant>,
}

/// Builds nodes in one dtype.
pub struct Builder<'p> {
    pub dtype: DType,
    pub opset: i64,
    nodes: Vec<Node>,
    constants: Vec<Constant>,
    /// Names of the exported parameter tensors.
    params: &'p HashSet<&'p str>,
    next: usize,
    batch_source: Option<String>,
    /// Parameters read through another value (a Cast) while a layer computes in another dtype.
    renames: HashMap<String, String>,
}

impl<'p> Builder<'p> {
    pub fn new(dtype: DType, opset: i64, params: &'p HashSet<&'p str>) -> Self {
        Builder {
            dtype,
            opset,
            nodes: Vec::new(),
            constants: Vec::new(),
            params,
            next: 0,
            batch_source: None,
            renames: HashMap::new(),
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}_{}", self.next)
    }

    /// Adds a single-output node and returns its output.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        if self.dtype == DType::F64 {
            if let Some(float_inputs) = f32_only_in_ort(op, inputs.len()) {
                return self.op_in_f32(op, inputs, float_inputs, attrs);
            }
        }
        self.op_raw(op, inputs, attrs)
    }

    /// `op` computed in f32 between Casts: ONNX allows f64 for it, but ONNX Runtime's CPU
    /// provider has no f64 kernel, and an f64 model that does not load helps nobody. Costs
    /// about 1e-7 relative; everything else in an f64 graph stays f64.
    fn op_in_f32(
        &mut self,
        op: &str,
        inputs: &[&str],
        float_inputs: usize,
        attrs: Vec<(&str, Attr)>,
    ) -> String {
        let cast: Vec<String> = inputs
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if i < float_inputs && !n.is_empty() {
                    self.op_raw("Cast", &[n], vec![("to", Attr::Int(1))])
                } else {
                    n.to_string()
                }
            })
            .collect();
        let refs: Vec<&str> = cast.iter().map(String::as_str).collect();
        let y = self.op_raw(op, &refs, attrs);
        self.op_raw("Cast", &[&y], vec![("to", Attr::Int(11))])
    }

    fn op_raw(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let out = self.fresh(op);
        self.nodes.push(Node {
            op: op.to_string(),
            name: format!("{out}_node"),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![out.clone()],
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        });
        out
    }

    /// A scalar constant in the graph's dtype.
    pub fn scalar(&mut self, v: f64) -> String {
        let data = match self.dtype {
            DType::F64 => v.to_le_bytes().to_vec(),
            DType::F16 => f16::from_f64(v).to_le_bytes().to_vec(),
            DType::BF16 => bf16::from_f64(v).to_le_bytes().to_vec(),
            _ => (v as f32).to_le_bytes().to_vec(),
        };
        let name = self.fresh("const");
        self.constants.push(Constant {
            name: name.clone(),
            dtype: self.dtype,
            shape: Vec::new(),
            data,
        });
        name
    }

    /// An int64 vector constant (axes, shapes).
    pub fn ints(&mut self, v: &[i64]) -> String {
        let name = self.fresh("ints");
        self.constants.push(Constant {
            name: name.clone(),
            dtype: DType::I64,
            shape: vec![v.len()],
            data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        });
        name
    }

    /// `ReduceMean` over `axes`, keeping dimensions.
    pub fn reduce_mean(&mut self, x: &str, axes: &[i64]) -> String {
        self.reduce("ReduceMean", x, axes, true)
    }

    /// A `Reduce*` op over `axes`: `axes` is an input from opset 13 for ReduceSum and from
    /// opset 18 for the others, an attribute before.
    pub fn reduce(&mut self, op: &str, x: &str, axes: &[i64], keepdims: bool) -> String {
        let keep = ("keepdims", Attr::Int(i64::from(keepdims)));
        let as_input = if op == "ReduceSum" {
            self.opset >= 13
        } else {
            self.opset >= 18
        };
        if as_input {
            let a = self.ints(axes);
            self.op(op, &[x, &a], vec![keep])
        } else {
            self.op(op, &[x], vec![("axes", Attr::Ints(axes.to_vec())), keep])
        }
    }

    /// libnd4j `standardize` over axis 1 (DL4J's layer norm): `(z - mean) / std` with the
    /// population std and no epsilon; 0/0 (constant rows, e.g. a zero recurrent state) becomes
    /// 0, as DL4J replaces NaN.
    pub fn standardize_rows(&mut self, z: &str) -> String {
        let mean = self.reduce_mean(z, &[1]);
        let c = self.op("Sub", &[z, &mean], Vec::new());
        let sq = self.op("Mul", &[&c, &c], Vec::new());
        let var = self.reduce_mean(&sq, &[1]);
        let std = self.op("Sqrt", &[&var], Vec::new());
        let s = self.op("Div", &[&c, &std], Vec::new());
        // NaN is the only value unequal to itself; `IsNaN` lacks f64 kernels in some runtimes.
        let not_nan = self.op("Equal", &[&s, &s], Vec::new());
        let zero = self.scalar(0.0);
        self.op("Where", &[&not_nan, &s, &zero], Vec::new())
    }

    /// `Shape(x)[from..to]` as an int64 vector.
    pub fn shape_slice(&mut self, x: &str, from: i64, to: i64) -> String {
        let s = self.op("Shape", &[x], Vec::new());
        let st = self.ints(&[from]);
        let en = self.ints(&[to]);
        self.op("Slice", &[&s, &st, &en], Vec::new())
    }

    /// The first network input, whose dimension 0 is the minibatch size at run time (what DL4J's
    /// preprocessors that re-split batch and time read from the network).
    pub fn batch_source(&self) -> Option<&str> {
        self.batch_source.as_deref()
    }

    /// A DL4J parameter tensor by full key; it must have been exported under that name.
    pub fn param(&self, name: &str) -> std::result::Result<String, String> {
        if let Some(r) = self.renames.get(name) {
            Ok(r.clone())
        } else if self.params.contains(name) {
            Ok(name.to_string())
        } else {
            Err(format!(
                "parameter {name} has no known layout in this model"
            ))
        }
    }

    /// Adds a node with several outputs.
    pub fn op_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: usize,
        attrs: Vec<(&str, Attr)>,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..outputs).map(|_| self.fresh(op)).collect();
        // The node is named after its first output (a fresh name if it has none).
        let name = match outs.first() {
            Some(first) => format!("{first}_node"),
            None => format!("{}_node", self.fresh(op)),
        };
        self.nodes.push(Node {
            op: op.to_string(),
            name,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outs.clone(),
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        });
        outs
    }

    /// A constant tensor in the graph's dtype.
    pub fn tensor(&mut self, shape: &[usize], values: &[f64]) -> String {
        let mut data = Vec::with_capacity(values.len() * self.dtype.size());
        for &v in values {
            match self.dtype {
                DType::F64 => data.extend(v.to_le_bytes()),
                DType::F16 => data.extend(f16::from_f64(v).to_le_bytes()),
                DType::BF16 => data.extend(bf16::from_f64(v).to_le_bytes()),
                _ => data.extend((v as f32).to_le_bytes()),
            }
        }
        let name = self.fresh("const");
        self.constants.push(Constant {
            name: name.clone(),
            dtype: self.dtype,
            shape: shape.to_vec(),
            data,
        });
        name
    }
}

/// Ops without f64 kernels in ONNX Runtime's CPU provider (checked with onnxruntime 1.32), and
/// how many of their leading inputs are float data to cast.
fn f32_only_in_ort(op: &str, n_inputs: usize) -> Option<usize> {
    match op {
        "Conv" | "ConvTranspose" => Some(n_inputs),
        "AveragePool" | "LRN" | "Resize" => Some(1),
        _ => None,
    }
}

/// How DL4J lays out a value; decides axes for layers that work on several kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[batch, features]`.
    FeedForward,
    /// `[batch, C, H, W]`, or `[batch, H, W, C]` when `nhwc`.
    Cnn { nhwc: bool },
    /// `[batch, features, time]`, or `[batch, time, features]` when `nwc`.
    Rnn { nwc: bool },
    /// `[batch, C, D, H, W]`, or channels last when `ndhwc`.
    Cnn3d { ndhwc: bool },
    /// Not known (a network input only consumed by vertices).
    Any,
}

/// A value flowing through the graph: its ONNX name, DL4J layout and shape as far as known
/// (`dims` is empty for [`Kind::Any`]).
#[derive(Debug, Clone)]
pub struct Value {
    pub name: String,
    pub kind: Kind,
    pub dims: Vec<Dim>,
}

impl Value {
    pub fn new(name: String, kind: Kind, dims: Vec<Dim>) -> Value {
        Value { name, kind, dims }
    }
}

/// The batch dimension of every graph input and output.
pub fn batch() -> Dim {
    Dim::Named("batch".into())
}

/// A layer being translated: where it is (for messages) and its parameter-key prefix.
pub struct LayerCtx<'c, 'a> {
    /// `0` (MultiLayerNetwork layer index) or the vertex name: parameters are `<prefix>_<key>`.
    pub prefix: &'c str,
    pub layer: &'c LayerConf<'a>,
}

impl LayerCtx<'_, '_> {
    /// A parameter of this layer by DL4J key (`W`, `b`, `RW`, ...).
    pub fn param(&self, b: &Builder, key: &str) -> std::result::Result<String, String> {
        b.param(&format!("{}_{key}", self.prefix))
    }
}

/// The outcome of translating one layer, vertex or preprocessor: the new value or why not.
pub type Translated = std::result::Result<Value, String>;

/// A part of the network that cannot be translated: where it is and why.
struct Untranslatable {
    at: String,
    class: String,
    why: String,
}

/// Translates the network. Every part that cannot be translated is reported in one error.
pub fn translate(archive: &Archive, params: &HashSet<&str>, opset: i64) -> Result<Graph> {
    let dtype = archive.dtype();
    if !dtype.is_float() {
        return Err(Error::Format(format!(
            "parameters are {}: only floating-point networks export to ONNX",
            dtype.short_name()
        )));
    }
    let mut b = Builder::new(dtype, opset, params);
    let mut bad = Vec::new();
    let (inputs, outputs) = match archive.config.kind() {
        ModelKind::MultiLayerNetwork => multi_layer(&mut b, archive, &mut bad)?,
        ModelKind::ComputationGraph => computation_graph(&mut b, archive, &mut bad)?,
    };
    if !bad.is_empty() {
        let list: Vec<String> = bad
            .iter()
            .map(|u| format!("{} ({}): {}", u.at, u.class, u.why))
            .collect();
        return Err(Error::Format(format!(
            "cannot export to ONNX; {} part(s) of the network have no ONNX translation:\n  {}",
            bad.len(),
            list.join("\n  ")
        )));
    }
    let shape = |v: &Value| (v.kind != Kind::Any).then(|| v.dims.clone());
    let mut graph_outputs = Vec::new();
    for (name, v) in &outputs {
        b.nodes.push(Node {
            op: "Identity".into(),
            name: format!("{name}_output"),
            inputs: vec![v.name.clone()],
            outputs: vec![name.clone()],
            attrs: Vec::new(),
        });
        graph_outputs.push((name.clone(), dtype, shape(v)));
    }
    Ok(Graph {
        nodes: b.nodes,
        inputs: inputs
            .iter()
            .map(|v| (v.name.clone(), dtype, shape(v)))
            .collect(),
        outputs: graph_outputs,
        constants: b.constants,
    })
}

/// Graph inputs and named outputs.
type Ends = (Vec<Value>, Vec<(String, Value)>);

/// The class of a JSON object as written (`@class`, or the legacy wrapper key).
fn class_of(v: &Json) -> String {
    v.get("@class")
        .and_then(Json::as_str)
        .map(str::to_string)
        .or_else(|| {
            v.as_object()
                .filter(|o| o.len() == 1)
                .and_then(|o| o.keys().next().cloned())
        })
        .unwrap_or_else(|| "?".into())
}

fn multi_layer(b: &mut Builder, archive: &Archive, bad: &mut Vec<Untranslatable>) -> Result<Ends> {
    let config = &archive.config;
    let nodes = config.nodes()?;
    let pre = config
        .value()
        .get("inputPreProcessors")
        .and_then(Json::as_object);
    let pre_of = |i: &str| pre.and_then(|p| p.get(i)).filter(|v| !v.is_null());
    let first = nodes.first().and_then(|n| n.layer.as_ref());
    let mut input = network_input("input", first, nodes.first().and_then(|n| pre_of(&n.name)));
    // A network that starts with an elementwise layer and no preprocessor takes any rank, as
    // DL4J does (in a graph the vertices after it may need a rank, so the default stays there).
    let elementwise_first =
        first.is_some_and(|l| matches!(l.type_name.as_str(), "ActivationLayer" | "DropoutLayer"));
    if elementwise_first && nodes.first().and_then(|n| pre_of(&n.name)).is_none() {
        input = Value::new(input.name.clone(), Kind::Any, Vec::new());
    }
    b.batch_source = Some(input.name.clone());
    let mut x = input.clone();
    for node in &nodes {
        let Some(layer) = &node.layer else { continue };
        if let Some(p) = pre_of(&node.name) {
            match preprocess::apply(b, p, &x) {
                Ok(y) => x = y,
                Err(why) => {
                    bad.push(Untranslatable {
                        at: format!("input preprocessor of layer {}", node.name),
                        class: class_of(p),
                        why,
                    });
                    continue;
                }
            }
        }
        let ctx = LayerCtx {
            prefix: &node.name,
            layer,
        };
        match layer_op(b, &ctx, &x) {
            Ok(y) => x = y,
            Err(why) => bad.push(Untranslatable {
                at: format!("layer {}", node.name),
                class: layer
                    .class
                    .clone()
                    .unwrap_or_else(|| layer.type_name.clone()),
                why,
            }),
        }
    }
    Ok((vec![input], vec![("output".into(), x)]))
}

fn computation_graph(
    b: &mut Builder,
    archive: &Archive,
    bad: &mut Vec<Untranslatable>,
) -> Result<Ends> {
    let config = &archive.config;
    let graph = config
        .graph()?
        .ok_or_else(|| Error::Config("ComputationGraph without a graph".into()))?;
    let nodes: HashMap<String, NetNode> = config
        .nodes()?
        .into_iter()
        .map(|n| (n.name.clone(), n))
        .collect();
    let mut values: HashMap<String, Value> = HashMap::new();
    // Network inputs take their layout from the first layer that reads them.
    let order = graph.topological_order()?;
    let mut inputs: Vec<Value> = Vec::with_capacity(graph.inputs.len());
    for name in &graph.inputs {
        let consumers: Vec<&NetNode> = order
            .iter()
            .filter(|v| graph.inputs_of(v).contains(name))
            .filter_map(|v| nodes.get(v))
            .collect();
        let consumer = consumers
            .iter()
            .find(|n| n.layer.is_some())
            .or(consumers.first())
            .copied();
        let layer = consumer.and_then(|n| n.layer.as_ref());
        let pre = consumer
            .and_then(|n| n.body.get("preProcessor"))
            .filter(|p| !p.is_null());
        let input = network_input(name, layer, pre);
        inputs.push(input.clone());
        values.insert(name.clone(), input);
    }
    b.batch_source = inputs.first().map(|v| v.name.clone());
    for name in &order {
        if graph.inputs.contains(name) {
            continue;
        }
        let Some(node) = nodes.get(name) else {
            return Err(Error::Config(format!("vertex {name:?} is not defined")));
        };
        let ins: Option<Vec<Value>> = graph
            .inputs_of(name)
            .iter()
            .map(|i| values.get(i).cloned())
            .collect();
        // An input failed earlier: that failure is already reported.
        let Some(ins) = ins else { continue };
        let class = node
            .layer
            .as_ref()
            .and_then(|l| l.class.clone())
            .unwrap_or_else(|| node.type_name().to_string());
        match vertex::apply(b, node, &ins, &values) {
            Ok(v) => {
                values.insert(name.clone(), v);
            }
            Err(why) => bad.push(Untranslatable {
                at: format!("vertex {name:?}"),
                class,
                why,
            }),
        }
    }
    let outputs = graph
        .outputs
        .iter()
        .filter_map(|o| values.get(o).map(|v| (o.clone(), v.clone())))
        .collect();
    Ok((inputs, outputs))
}

/// A network input shaped for the first layer (and preprocessor) that reads it.
fn network_input(name: &str, layer: Option<&LayerConf>, pre: Option<&Json>) -> Value {
    let name = name.to_string();
    if let Some(p) = pre {
        if let Some(v) = preprocess::input_for(&name, p) {
            return v;
        }
    }
    let Some(layer) = layer else {
        return Value::new(name, Kind::Any, Vec::new());
    };
    let layer = match layer.type_name.as_str() {
        "FrozenLayer" | "FrozenLayerWithBackprop" => match layer.inner("layer") {
            Some(inner) => return network_input(&name, Some(&inner), None),
            None => layer.clone(),
        },
        _ => layer.clone(),
    };
    if let Some(v) = cnn::input_for(&name, &layer).or_else(|| rnn::input_for(&name, &layer)) {
        return v;
    }
    // Global pooling that names its pooled axes tells the layout (DL4J writes them on build).
    if layer.type_name == "GlobalPoolingLayer" {
        let dims = layer.ints("poolingDimensions").unwrap_or_default();
        let d = |n: &str| Dim::Named(n.into());
        match dims.as_slice() {
            [2, 3] => {
                return Value::new(
                    name,
                    Kind::Cnn { nhwc: false },
                    vec![batch(), Dim::Unknown, d("height"), d("width")],
                )
            }
            [2] => {
                return Value::new(
                    name,
                    Kind::Rnn { nwc: false },
                    vec![batch(), Dim::Unknown, d("time")],
                )
            }
            _ => {}
        }
    }
    // Batch normalization takes any rank (DL4J decides at run time): the input's rank stays
    // open (the per-channel parameters are shaped from the rank at run time).
    if layer.type_name == "BatchNormalization" {
        return Value::new(name, Kind::Any, Vec::new());
    }
    let width = match layer.type_name.as_str() {
        // Index inputs: one column of class indices, or one row of them per sequence.
        "EmbeddingLayer" => Dim::Fixed(1),
        "EmbeddingSequenceLayer" => match layer.int("inputLength") {
            Some(n) if n > 0 && !layer.bool("inferInputLength").unwrap_or(false) => {
                Dim::Fixed(n as usize)
            }
            _ => Dim::Named("time".into()),
        },
        _ => layer
            .n_in()
            .filter(|&n| n > 0)
            .map_or(Dim::Unknown, |n| Dim::Fixed(n as usize)),
    };
    Value::new(name, Kind::FeedForward, vec![batch(), width])
}

/// One layer on `x`.
pub fn layer_op(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let layer = ctx.layer;
    if !layer.dl4j_class {
        return Err("custom layer class (not part of DL4J): its math is unknown".into());
    }
    match layer.type_name.as_str() {
        "FrozenLayer" | "FrozenLayerWithBackprop" => {
            let inner = layer
                .inner("layer")
                .ok_or("frozen wrapper without an inner layer")?;
            layer_op(
                b,
                &LayerCtx {
                    prefix: ctx.prefix,
                    layer: &inner,
                },
                x,
            )
        }
        "DenseLayer" | "OutputLayer" | "CenterLossOutputLayer" => dense::dense(b, ctx, x),
        "ActivationLayer" | "LossLayer" => {
            let act = activation::Activation::of_layer(layer)?;
            Ok(Value::new(act.apply(b, &x.name)?, x.kind, x.dims.clone()))
        }
        "DropoutLayer" => Ok(x.clone()),
        "VariationalAutoencoder" => vae::vae(b, ctx, x),
        "EmbeddingLayer" | "EmbeddingSequenceLayer" => embedding::embedding(b, ctx, x),
        "ElementWiseMultiplicationLayer" | "PReLULayer" => elementwise::layer(b, ctx, x),
        "Yolo2OutputLayer" => yolo::layer(b, ctx, x),
        "OCNNOutputLayer" => ocnn::layer(b, ctx, x),
        "SpaceToBatchLayer" => space_to_batch::layer(b, ctx, x),
        t if cnn::handles(t) => cnn::layer(b, ctx, x),
        t if rnn::handles(t) && b.dtype == DType::F16 => recurrent_in_f32(b, ctx, x),
        t if rnn::handles(t) => rnn::layer(b, ctx, x),
        other => Err(format!("{other} is not translated to ONNX yet")),
    }
}

/// A recurrent layer of an f16 network, computed in f32 between Casts: ONNX Runtime's graph
/// optimizer crashes on f16 Scan graphs (onnxruntime 1.32), and f16 state over long sequences
/// gains nothing.
fn recurrent_in_f32(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let prefix = format!("{}_", ctx.prefix);
    let mut own: Vec<String> = b
        .params
        .iter()
        .filter(|n| n.starts_with(&prefix))
        .map(|n| n.to_string())
        .collect();
    own.sort();
    for name in own {
        let c = b.op_raw("Cast", &[&name], vec![("to", Attr::Int(1))]);
        b.renames.insert(name, c);
    }
    let xin = b.op_raw("Cast", &[&x.name], vec![("to", Attr::Int(1))]);
    b.dtype = DType::F32;
    let y = rnn::layer(b, ctx, &Value::new(xin, x.kind, x.dims.clone()));
    b.dtype = DType::F16;
    b.renames.clear();
    let y = y?;
    let out = b.op_raw("Cast", &[&y.name], vec![("to", Attr::Int(10))]);
    Ok(Value::new(out, y.kind, y.dims))
}
