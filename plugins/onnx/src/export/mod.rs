//! Network -> ONNX nodes. One module per layer family; [`Builder`] hands out value names and
//! constants in the network's dtype.
//!
//! Inference semantics throughout: dropout is off, DL4J's `activate(training = false)`.

pub mod activation;
mod dense;
mod vae;

use std::collections::HashSet;

use dl4j_core::config::{LayerConf, ModelKind};
use dl4j_core::tensor::DType;
use dl4j_core::{Archive, Error, Result};
use half::{bf16, f16};

use crate::proto::{Attr, Constant, Dim, Node};

/// The translated graph (initializers for DL4J parameters are added by the caller).
pub struct Graph {
    pub nodes: Vec<Node>,
    pub inputs: Vec<(String, DType, Vec<Dim>)>,
    pub outputs: Vec<(String, DType, Vec<Dim>)>,
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
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.next += 1;
        format!("{hint}_{}", self.next)
    }

    /// Adds a single-output node and returns its output.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
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

    /// `ReduceMean` over `axes`, keeping dimensions (axes became an input in opset 18).
    pub fn reduce_mean(&mut self, x: &str, axes: &[i64]) -> String {
        if self.opset >= 18 {
            let a = self.ints(axes);
            self.op("ReduceMean", &[x, &a], vec![("keepdims", Attr::Int(1))])
        } else {
            self.op(
                "ReduceMean",
                &[x],
                vec![
                    ("axes", Attr::Ints(axes.to_vec())),
                    ("keepdims", Attr::Int(1)),
                ],
            )
        }
    }

    /// A DL4J parameter tensor by full key; it must have been exported under that name.
    pub fn param(&self, name: &str) -> Result<String> {
        if self.params.contains(name) {
            Ok(name.to_string())
        } else {
            Err(Error::Format(format!(
                "parameter {name} has no known layout in this model"
            )))
        }
    }
}

/// A node that cannot be translated: where it is and why.
struct Untranslatable {
    at: String,
    class: String,
    why: String,
}

/// Translates the network. Every layer that cannot be translated is reported in one error.
pub fn translate(archive: &Archive, params: &HashSet<&str>, opset: i64) -> Result<Graph> {
    let config = &archive.config;
    let dtype = archive.dtype();
    if !dtype.is_float() {
        return Err(Error::Format(format!(
            "parameters are {}: only floating-point networks export to ONNX",
            dtype.short_name()
        )));
    }
    if config.kind() == ModelKind::ComputationGraph {
        return Err(Error::Format(
            "ComputationGraph networks do not export to ONNX yet (MultiLayerNetwork only)".into(),
        ));
    }
    let nodes = config.nodes()?;
    let mut bad = Vec::new();
    if let Some(pre) = config
        .value()
        .get("inputPreProcessors")
        .and_then(|v| v.as_object())
    {
        for (i, p) in pre {
            let class = p
                .get("@class")
                .and_then(|c| c.as_str())
                .or_else(|| {
                    p.as_object()
                        .and_then(|o| o.keys().next().map(String::as_str))
                })
                .unwrap_or("?");
            bad.push(Untranslatable {
                at: format!("input preprocessor of layer {i}"),
                class: class.to_string(),
                why: "input preprocessors are not translated yet".into(),
            });
        }
    }

    let mut b = Builder::new(dtype, opset, params);
    let input_width =
        nodes
            .iter()
            .filter_map(|n| n.layer.as_ref())
            .find_map(|l| match l.type_name.as_str() {
                "ActivationLayer" | "DropoutLayer" | "LossLayer" => None,
                _ => l.n_in(),
            });
    let input_dims = vec![
        Dim::Named("batch".into()),
        match input_width {
            Some(n) => Dim::Fixed(n as usize),
            None => Dim::Named("features".into()),
        },
    ];
    let mut x = "input".to_string();
    let mut width = input_width.map(|n| n as usize);
    for node in &nodes {
        let Some(layer) = &node.layer else { continue };
        match layer_op(&mut b, &node.name, layer, &x) {
            Ok(Some((y, w))) => {
                x = y;
                if w.is_some() {
                    width = w;
                }
            }
            Ok(None) => {}
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
    b.nodes.push(Node {
        op: "Identity".into(),
        name: "output_node".into(),
        inputs: vec![x],
        outputs: vec!["output".into()],
        attrs: Vec::new(),
    });
    let output_dims = vec![
        Dim::Named("batch".into()),
        match width {
            Some(n) => Dim::Fixed(n),
            None => Dim::Named("features".into()),
        },
    ];
    Ok(Graph {
        nodes: b.nodes,
        inputs: vec![("input".into(), dtype, input_dims)],
        outputs: vec![("output".into(), dtype, output_dims)],
        constants: b.constants,
    })
}

/// One MultiLayerNetwork layer on `x`: its output and width, or why it cannot be translated.
/// `Ok(None)` means the layer is the identity at inference.
fn layer_op(
    b: &mut Builder,
    index: &str,
    layer: &LayerConf,
    x: &str,
) -> std::result::Result<Option<(String, Option<usize>)>, String> {
    if !layer.dl4j_class {
        return Err("custom layer class (not part of DL4J): its math is unknown".into());
    }
    match layer.type_name.as_str() {
        "FrozenLayer" | "FrozenLayerWithBackprop" => {
            let inner = layer
                .inner("layer")
                .ok_or("frozen wrapper without an inner layer")?;
            layer_op(b, index, &inner, x)
        }
        "DenseLayer" | "OutputLayer" | "CenterLossOutputLayer" => {
            dense::dense(b, index, layer, x).map(Some)
        }
        "ActivationLayer" | "LossLayer" => {
            let act = activation::Activation::of_layer(layer)?;
            Ok(Some((act.apply(b, x)?, None)))
        }
        "DropoutLayer" => Ok(None),
        "VariationalAutoencoder" => vae::vae(b, index, layer, x).map(Some),
        other => Err(format!("{other} is not translated to ONNX yet")),
    }
}
