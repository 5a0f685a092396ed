//! The DL4J network under construction, and its emission as a configuration plus a flat
//! parameter vector: a MultiLayerNetwork when the layers form one chain from one input to one
//! output, a ComputationGraph otherwise.

use std::collections::{HashMap, HashSet};

use dl4j_core::layout::insert_segment;
use dl4j_core::tensor::{DType, TensorData};
use dl4j_core::{Archive, Configuration, Error, ParamLayout, Result};
use ndarray::ArrayD;
use serde_json::{json, Map, Value};

use super::json::{self, Family};

/// A DL4J layer: class, fields and parameters in DL4J's logical shapes.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Short class name (`DenseLayer`).
    pub class: &'static str,
    pub family: Family,
    /// The activation object, for classes that have one.
    pub activation: Option<Value>,
    /// The class's own fields (`nin`, `kernelSize`, ...).
    pub fields: Map<String, Value>,
    /// Parameters by DL4J key, in `variables` order, row-major values in DL4J's logical shape.
    pub params: Vec<(String, ArrayD<f64>)>,
    /// A following activation node may be folded into this layer (its own activation is applied
    /// last and is the identity).
    pub fusable: bool,
}

impl Layer {
    pub fn new(class: &'static str, family: Family, fields: Map<String, Value>) -> Layer {
        Layer {
            class,
            family,
            activation: match family {
                Family::NoParams => None,
                _ => Some(json::identity()),
            },
            fields,
            params: Vec::new(),
            fusable: false,
        }
    }

    pub fn param(mut self, key: &str, value: ArrayD<f64>) -> Layer {
        self.params.push((key.into(), value));
        self
    }

    pub fn fusable(mut self) -> Layer {
        self.fusable = true;
        self
    }

    pub fn to_json(&self, name: &str) -> Value {
        json::layer(
            self.class,
            self.family,
            name,
            self.activation.clone(),
            self.fields.clone(),
        )
    }
}

#[derive(Debug, Clone)]
pub enum Body {
    Layer(Layer),
    /// A parameter-less graph vertex, as its JSON object.
    Vertex(Value),
}

#[derive(Debug, Clone)]
pub struct Vertex {
    pub name: String,
    pub body: Body,
    pub inputs: Vec<String>,
    /// Preprocessor applied to the (single) input of a layer.
    pub pre: Option<Value>,
}

/// What an ONNX value is in the DL4J network.
#[derive(Debug, Clone)]
pub struct Sym {
    /// The DL4J vertex (or network input) whose output holds it.
    pub src: String,
    /// The ONNX shape of the value (`None`: known only at run time, like the batch size).
    pub shape: Vec<Option<usize>>,
    /// The ONNX value is the DL4J array with its axes permuted: `onnx = dl4j.permute(perm)`.
    pub perm: Vec<usize>,
    /// A DL4J preprocessor that turns the source's output into this value; it is attached to
    /// whatever consumes the value.
    pub pre: Option<Value>,
    /// Axes of the ONNX value (positions in `shape`, all of size 1) that the DL4J array lacks;
    /// `perm` relates the DL4J array to the ONNX value without them.
    pub squeezed: Vec<usize>,
    /// DL4J axis `.0` (of size `.1 · k`) appears in the ONNX value as two axes `[.1, k]`, and
    /// `perm` relates the ONNX value to the DL4J array reshaped so (ONNX's bidirectional `Y`
    /// keeps the directions apart where DL4J concatenates their features).
    pub split: Option<(usize, usize)>,
}

impl Sym {
    pub fn plain(src: &str, shape: Vec<Option<usize>>) -> Sym {
        let perm = (0..shape.len()).collect();
        Sym {
            src: src.into(),
            shape,
            perm,
            pre: None,
            squeezed: Vec::new(),
            split: None,
        }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The ONNX value is exactly the DL4J array.
    pub fn is_plain(&self) -> bool {
        self.pre.is_none() && self.squeezed.is_empty() && self.is_unpermuted()
    }

    /// Whether the DL4J array is channels-last (NHWC) data seen by ONNX as NCHW: `Some(false)`
    /// for plain NCHW / NCW data, `Some(true)` for NHWC, `None` for anything else.
    pub fn channels_last(&self) -> Option<bool> {
        if self.pre.is_some() || !self.squeezed.is_empty() || self.split.is_some() {
            return None;
        }
        if self.is_unpermuted() {
            Some(false)
        } else if self.perm == [0, 3, 1, 2] {
            Some(true)
        } else {
            None
        }
    }

    /// The same DL4J array layout for another value of the same ONNX rank produced by vertex
    /// `src` (a layer that keeps its input's data format).
    pub fn same_layout(&self, src: &str, shape: Vec<Option<usize>>) -> Sym {
        let mut s = Sym::plain(src, shape);
        if self.channels_last() == Some(true) {
            s.perm = vec![0, 3, 1, 2];
        }
        s
    }

    pub fn is_unpermuted(&self) -> bool {
        self.split.is_none() && self.perm.iter().enumerate().all(|(i, &p)| i == p)
    }

    /// The ONNX shape without the squeezed axes.
    pub fn core_shape(&self) -> Vec<Option<usize>> {
        self.shape
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.squeezed.contains(i))
            .map(|(_, &d)| d)
            .collect()
    }

    /// The DL4J array's shape.
    pub fn dl4j_shape(&self) -> Vec<Option<usize>> {
        let core = self.core_shape();
        let mut s = vec![None; core.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            if let (Some(slot), Some(&d)) = (s.get_mut(p), core.get(i)) {
                *slot = d;
            }
        }
        s
    }

    /// The same DL4J array seen as a different ONNX value (same source and preprocessor).
    pub fn with_shape(&self, shape: Vec<Option<usize>>) -> Sym {
        let mut s = self.clone();
        s.perm = (0..shape.len()).collect();
        s.shape = shape;
        s.squeezed = Vec::new();
        s.split = None;
        s
    }

    /// A known dimension of the ONNX value, or an error naming it.
    pub fn dim(&self, axis: usize, what: &str) -> std::result::Result<usize, String> {
        self.shape
            .get(axis)
            .copied()
            .flatten()
            .ok_or_else(|| format!("the {what} (axis {axis}) of the input is not known statically"))
    }
}

/// The network being built.
#[derive(Debug)]
pub struct Net {
    /// Network inputs (ONNX graph input names).
    pub inputs: Vec<String>,
    /// In order of creation; add with [`Net::push`] so the indexes below stay right.
    vertices: Vec<Vertex>,
    /// Set with [`Net::set_sym`].
    syms: HashMap<String, Sym>,
    names: HashSet<String>,
    /// Element type of the network (its inputs and parameters).
    pub dtype: DType,
    // Indexes that keep every per-node lookup O(1): a graph of many thousand nodes would
    // otherwise import in quadratic time (a hostile file could make that hours).
    /// Position in `vertices` by name (the first, as a scan would find).
    at: HashMap<String, usize>,
    /// How many vertices read each name.
    readers: HashMap<String, usize>,
    /// Sym names ever bound to each source; candidates, checked against `syms`.
    views: HashMap<String, Vec<String>>,
}

/// DL4J vertex names: ONNX names with characters DL4J keys do not like replaced.
fn clean(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_matches('_').to_string()
}

impl Net {
    pub fn new(dtype: DType) -> Net {
        Net {
            inputs: Vec::new(),
            vertices: Vec::new(),
            syms: HashMap::new(),
            names: HashSet::new(),
            dtype,
            at: HashMap::new(),
            readers: HashMap::new(),
            views: HashMap::new(),
        }
    }

    pub fn add_input(&mut self, name: &str, shape: Vec<Option<usize>>) {
        self.inputs.push(name.into());
        self.names.insert(name.into());
        self.set_sym(name, Sym::plain(name, shape));
    }

    pub fn syms(&self) -> &HashMap<String, Sym> {
        &self.syms
    }

    pub fn sym(&self, name: &str) -> Option<&Sym> {
        self.syms.get(name)
    }

    /// A binding to adjust in place; its `src` must not change (rebind with `set_sym`).
    pub fn sym_mut(&mut self, name: &str) -> Option<&mut Sym> {
        self.syms.get_mut(name)
    }

    /// Binds an ONNX value name to a DL4J source.
    pub fn set_sym(&mut self, name: &str, sym: Sym) {
        let names = self.views.entry(sym.src.clone()).or_default();
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
        self.syms.insert(name.to_string(), sym);
    }

    /// ONNX value names currently bound to the DL4J source `src`.
    pub fn views_of<'a>(&'a self, src: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.views
            .get(src)
            .into_iter()
            .flatten()
            .filter(move |n| self.syms.get(n.as_str()).is_some_and(|s| s.src == src))
            .map(String::as_str)
    }

    /// Appends a vertex.
    pub fn push(&mut self, v: Vertex) {
        let mut read: Vec<&String> = v.inputs.iter().collect();
        read.sort_unstable();
        read.dedup();
        for i in read {
            *self.readers.entry(i.clone()).or_insert(0) += 1;
        }
        self.at.entry(v.name.clone()).or_insert(self.vertices.len());
        self.vertices.push(v);
    }

    pub fn unique_name(&mut self, hint: &str) -> String {
        let base = match clean(hint) {
            s if s.is_empty() => "layer".to_string(),
            s => s,
        };
        let mut name = base.clone();
        let mut k = 1;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    pub fn is_input(&self, name: &str) -> bool {
        self.inputs.iter().any(|i| i == name)
    }

    /// The vertex named `name`, to change its body (its name and inputs are indexed).
    pub fn vertex_mut(&mut self, name: &str) -> Option<&mut Vertex> {
        let i = *self.at.get(name)?;
        self.vertices.get_mut(i)
    }

    pub fn vertex(&self, name: &str) -> Option<&Vertex> {
        self.vertices.get(*self.at.get(name)?)
    }

    /// Adds a layer reading `input` (its pending preprocessor goes with it); returns its name.
    pub fn add_layer(&mut self, hint: &str, input: &Sym, layer: Layer) -> String {
        let name = self.unique_name(hint);
        self.push(Vertex {
            name: name.clone(),
            body: Body::Layer(layer),
            inputs: vec![input.src.clone()],
            pre: input.pre.clone(),
        });
        name
    }

    /// Adds a parameter-less vertex over `inputs`; pending preprocessors become
    /// PreprocessorVertex nodes in front of it.
    pub fn add_vertex(&mut self, hint: &str, inputs: &[&Sym], body: Value) -> String {
        let mut srcs = Vec::new();
        for s in inputs {
            match &s.pre {
                Some(p) => {
                    let name = self.unique_name(&format!("{}_pre", s.src));
                    self.push(Vertex {
                        name: name.clone(),
                        body: Body::Vertex(json::vertex(
                            "PreprocessorVertex",
                            &[("preProcessor", p.clone())],
                        )),
                        inputs: vec![s.src.clone()],
                        pre: None,
                    });
                    srcs.push(name);
                }
                None => srcs.push(s.src.clone()),
            }
        }
        let name = self.unique_name(hint);
        self.push(Vertex {
            name: name.clone(),
            body: Body::Vertex(body),
            inputs: srcs,
            pre: None,
        });
        name
    }

    /// Vertices that read `name`.
    pub fn consumers(&self, name: &str) -> usize {
        self.readers.get(name).copied().unwrap_or(0)
    }

    fn is_chain(&self, outputs: &[String]) -> bool {
        let ([input], [output]) = (self.inputs.as_slice(), outputs) else {
            return false;
        };
        if self.vertices.is_empty() {
            return false;
        }
        let mut prev = input;
        for v in &self.vertices {
            let ([only], Body::Layer(_)) = (v.inputs.as_slice(), &v.body) else {
                return false;
            };
            if only != prev {
                return false;
            }
            prev = &v.name;
        }
        prev == output
    }

    /// The configuration text and the flat parameters of the finished network with the given
    /// output vertices.
    pub fn emit(&self, outputs: &[String]) -> Result<(Configuration, TensorData)> {
        let data_type = match self.dtype {
            DType::F64 => "DOUBLE",
            DType::F16 => "HALF",
            _ => "FLOAT",
        };
        let value = if self.is_chain(outputs) {
            self.mln_json(data_type)
        } else {
            self.graph_json(outputs, data_type)
        };
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| Error::Format(format!("writing the configuration: {e}")))?;
        let config = Configuration::parse(text)?;
        let layout = ParamLayout::for_config(&config)?;
        if let Some(u) = &layout.unknown {
            return Err(Error::Inconsistent(format!(
                "internal: the written configuration has layers the layout does not know: {:?}",
                u.classes
            )));
        }
        let chain = self.is_chain(outputs);
        let mut flat = TensorData::zeros(self.dtype, layout.total);
        let mut placed = 0usize;
        for entry in layout.params() {
            let vertex = if chain {
                entry
                    .node
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| self.vertices.get(i))
            } else {
                self.vertex(&entry.node)
            };
            let Some(Vertex {
                body: Body::Layer(layer),
                ..
            }) = vertex
            else {
                return Err(Error::Inconsistent(format!(
                    "internal: parameter {} belongs to no imported layer",
                    entry.name
                )));
            };
            let (_, value) = layer
                .params
                .iter()
                .find(|(k, _)| *k == entry.key)
                .ok_or_else(|| {
                    Error::Inconsistent(format!(
                        "internal: layer {} has no parameter {}",
                        entry.node, entry.key
                    ))
                })?;
            if value.shape() != entry.shape.as_slice() {
                return Err(Error::Inconsistent(format!(
                    "internal: parameter {} has shape {:?}, DL4J's layout says {:?}",
                    entry.name,
                    value.shape(),
                    entry.shape
                )));
            }
            let src = cast(value.iter().copied(), self.dtype);
            insert_segment(
                &mut flat,
                std::slice::from_ref(&entry.range()),
                &entry.shape,
                entry.order,
                &src,
            )?;
            placed += entry.len();
        }
        let declared: usize = self
            .vertices
            .iter()
            .map(|v| match &v.body {
                Body::Layer(l) => l.params.iter().map(|(_, a)| a.len()).sum(),
                Body::Vertex(_) => 0,
            })
            .sum();
        if placed != layout.total || declared != layout.total {
            return Err(Error::Inconsistent(format!(
                "internal: {declared} imported parameter values for a configuration of {}",
                layout.total
            )));
        }
        Ok((config, flat))
    }

    fn variables(layer: &Layer) -> Vec<String> {
        layer.params.iter().map(|(k, _)| k.clone()).collect()
    }

    fn mln_json(&self, data_type: &str) -> Value {
        let mut confs = Vec::new();
        let mut pres = Map::new();
        for (i, v) in self.vertices.iter().enumerate() {
            let Body::Layer(layer) = &v.body else {
                unreachable!("a chain holds only layers")
            };
            confs.push(json::nnc(
                layer.to_json(&v.name),
                &Self::variables(layer),
                data_type,
            ));
            if let Some(p) = &v.pre {
                pres.insert(i.to_string(), p.clone());
            }
        }
        json::top(
            data_type,
            json::fields(&[
                ("confs", Value::Array(confs)),
                ("inputPreProcessors", Value::Object(pres)),
            ]),
        )
    }

    fn graph_json(&self, outputs: &[String], data_type: &str) -> Value {
        let mut vertices = Map::new();
        let mut vertex_inputs = Map::new();
        let mut all_vars = Vec::new();
        for v in &self.vertices {
            let body = match &v.body {
                Body::Layer(layer) => {
                    let vars = Self::variables(layer);
                    all_vars.extend(vars.iter().map(|k| format!("{}_{k}", v.name)));
                    json::vertex(
                        "LayerVertex",
                        &[
                            (
                                "layerConf",
                                json::nnc(layer.to_json(&v.name), &vars, data_type),
                            ),
                            ("outputVertex", json!(false)),
                            ("preProcessor", v.pre.clone().unwrap_or(Value::Null)),
                        ],
                    )
                }
                Body::Vertex(b) => b.clone(),
            };
            vertices.insert(v.name.clone(), body);
            vertex_inputs.insert(v.name.clone(), json!(v.inputs));
        }
        let n = self.inputs.len() + self.vertices.len();
        let order_str: Vec<&str> = self
            .inputs
            .iter()
            .map(String::as_str)
            .chain(self.vertices.iter().map(|v| v.name.as_str()))
            .collect();
        json::top(
            data_type,
            json::fields(&[
                (
                    "defaultConfiguration",
                    json::nnc(Value::Null, &all_vars, data_type),
                ),
                ("networkInputs", json!(self.inputs)),
                ("networkOutputs", json!(outputs)),
                ("topologicalOrder", json!((0..n).collect::<Vec<_>>())),
                ("topologicalOrderStr", json!(order_str)),
                ("vertexInputs", Value::Object(vertex_inputs)),
                ("vertices", Value::Object(vertices)),
            ]),
        )
    }
}

/// f64 working values in the network's element type.
pub fn cast(values: impl Iterator<Item = f64>, dtype: DType) -> TensorData {
    match dtype {
        DType::F64 => TensorData::F64(values.collect()),
        DType::F16 => TensorData::F16(values.map(half::f16::from_f64).collect()),
        DType::BF16 => TensorData::BF16(values.map(half::bf16::from_f64).collect()),
        _ => TensorData::F32(values.map(|v| v as f32).collect()),
    }
}

/// The archive of a finished network.
pub fn archive(
    config: Configuration,
    flat: TensorData,
    objects: Vec<(String, Vec<u8>)>,
) -> Result<Archive> {
    let mut a = Archive::with_parameters(config, flat, crate::FORMAT_ID)?;
    a.objects = objects;
    Ok(a)
}
