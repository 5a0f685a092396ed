//! `configuration.json`: the exact text, an order-preserving JSON tree, and typed read-only views
//! over both the legacy wrapper-object style (<= 1.0.0-alpha) and the `@class` style.

pub mod names;
mod topo;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
pub use topo::kahn_order;

/// Which DL4J network class the archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    MultiLayerNetwork,
    ComputationGraph,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::MultiLayerNetwork => "MultiLayerNetwork",
            ModelKind::ComputationGraph => "ComputationGraph",
        }
    }
}

/// How a polymorphic object names its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeStyle {
    /// `{"@class": "org.deeplearning4j...DenseLayer", ...}` (1.0.0-beta and later).
    Class,
    /// `{"dense": {...}}` (<= 1.0.0-alpha).
    Wrapper,
}

/// How `configuration.json` was encoded. DL4J writes it with the JVM's default charset: UTF-8
/// on Linux and macOS, usually windows-1252 on Windows (differs only for non-ASCII names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    /// Not valid UTF-8: read byte for byte as ISO-8859-1 so it is written back unchanged.
    Latin1,
}

/// The network configuration, kept byte-exact.
#[derive(Debug, Clone)]
pub struct Configuration {
    text: String,
    charset: Charset,
    value: Value,
    kind: ModelKind,
}

impl Configuration {
    /// Parses the entry's bytes: UTF-8 if valid, else single-byte text kept byte for byte.
    pub fn from_bytes(bytes: &[u8]) -> Result<Configuration> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Configuration::parse(s),
            Err(_) => {
                let text: String = bytes.iter().map(|&b| b as char).collect();
                let mut c = Configuration::parse(text)?;
                c.charset = Charset::Latin1;
                Ok(c)
            }
        }
    }

    /// The entry's bytes in the charset it was read with.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self.charset {
            Charset::Utf8 => self.text.as_bytes().to_vec(),
            // Every char came from one byte, so this is exact.
            Charset::Latin1 => self.text.chars().map(|c| c as u32 as u8).collect(),
        }
    }

    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// Parses the JSON; the kind comes from `confs` (MultiLayerNetwork) or `vertices` (graph).
    pub fn parse(text: impl Into<String>) -> Result<Configuration> {
        let text = text.into();
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "not valid JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ))
        })?;
        let obj = value
            .as_object()
            .ok_or_else(|| Error::Config("top level is not a JSON object".into()))?;
        let kind = if obj.contains_key("vertices") {
            ModelKind::ComputationGraph
        } else if obj.contains_key("confs") {
            ModelKind::MultiLayerNetwork
        } else {
            return Err(Error::Config(
                "neither \"confs\" (MultiLayerNetwork) nor \"vertices\" (ComputationGraph) present"
                    .into(),
            ));
        };
        let c = Configuration {
            text,
            charset: Charset::Utf8,
            value,
            kind,
        };
        // Validate the structure once so later views can rely on it: every node readable, and
        // a graph without dangling inputs or cycles (whether or not an order is cached).
        c.nodes()?;
        if let Some(g) = c.graph()? {
            kahn_order(&g)?;
            g.topological_order()?;
        }
        Ok(c)
    }

    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn value(&self) -> &Value {
        &self.value
    }
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    fn root(&self) -> &Map<String, Value> {
        self.value.as_object().expect("checked in parse")
    }

    /// `dataType` at the top level, if written (>= 1.0.0-beta4).
    pub fn data_type(&self) -> Option<&str> {
        self.root().get("dataType").and_then(Value::as_str)
    }

    /// The network's nodes in configuration order: MultiLayerNetwork layers (named `0`, `1`, ...)
    /// or ComputationGraph vertices (named as in the JSON; network inputs are not nodes).
    pub fn nodes(&self) -> Result<Vec<Node<'_>>> {
        match self.kind {
            ModelKind::MultiLayerNetwork => {
                let confs = self
                    .root()
                    .get("confs")
                    .and_then(Value::as_array)
                    .ok_or_else(|| Error::Config("\"confs\" is not an array".into()))?;
                confs
                    .iter()
                    .enumerate()
                    .map(|(i, nnc)| {
                        let layer = nnc.get("layer").ok_or_else(|| {
                            Error::Config(format!("layer {i}: no \"layer\" object"))
                        })?;
                        let layer = LayerConf::new(layer, Some(nnc))
                            .map_err(|e| Error::Config(format!("layer {i}: {e}")))?;
                        Ok(Node {
                            name: i.to_string(),
                            vertex_type: None,
                            body: nnc,
                            layer: Some(layer),
                        })
                    })
                    .collect()
            }
            ModelKind::ComputationGraph => {
                let vertices = self
                    .root()
                    .get("vertices")
                    .and_then(Value::as_object)
                    .ok_or_else(|| Error::Config("\"vertices\" is not an object".into()))?;
                vertices
                    .iter()
                    .map(|(name, v)| {
                        Node::vertex(name, v)
                            .map_err(|e| Error::Config(format!("vertex {name:?}: {e}")))
                    })
                    .collect()
            }
        }
    }

    /// Graph structure (ComputationGraph only).
    pub fn graph(&self) -> Result<Option<GraphConf>> {
        if self.kind != ModelKind::ComputationGraph {
            return Ok(None);
        }
        let root = self.root();
        let strings = |key: &str| -> Result<Vec<String>> {
            root.get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| Error::Config(format!("\"{key}\" is not an array")))?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| Error::Config(format!("\"{key}\" holds a non-string")))
                })
                .collect()
        };
        let inputs = strings("networkInputs")?;
        let outputs = strings("networkOutputs")?;
        let mut vertex_inputs = Vec::new();
        if let Some(vi) = root.get("vertexInputs") {
            let vi = vi
                .as_object()
                .ok_or_else(|| Error::Config("\"vertexInputs\" is not an object".into()))?;
            for (name, list) in vi {
                let list = list
                    .as_array()
                    .ok_or_else(|| {
                        Error::Config(format!("vertexInputs of {name:?} is not an array"))
                    })?
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            Error::Config(format!("vertexInputs of {name:?} holds a non-string"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                vertex_inputs.push((name.clone(), list));
            }
        }
        let vertices: Vec<String> = self.nodes()?.into_iter().map(|n| n.name).collect();
        let cached_order = match (
            root.get("topologicalOrderStr"),
            root.get("topologicalOrder"),
        ) {
            (Some(Value::Array(names)), _) => Some(
                names
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            Error::Config("topologicalOrderStr holds a non-string".into())
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            _ => None,
        };
        Ok(Some(GraphConf {
            inputs,
            outputs,
            vertices,
            vertex_inputs,
            cached_order,
        }))
    }
}

/// ComputationGraph topology.
#[derive(Debug, Clone)]
pub struct GraphConf {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// Vertex names in JSON order (indices follow the inputs).
    pub vertices: Vec<String>,
    /// `vertexInputs`, in JSON order.
    pub vertex_inputs: Vec<(String, Vec<String>)>,
    /// `topologicalOrderStr` when the file caches it (>= 1.0.0-beta).
    pub cached_order: Option<Vec<String>>,
}

impl GraphConf {
    pub fn inputs_of(&self, vertex: &str) -> &[String] {
        self.vertex_inputs
            .iter()
            .find(|(n, _)| n == vertex)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// The order DL4J flattens parameters in: the cached order if present, else DL4J's own
    /// Kahn sort with Java collection iteration emulated. Includes the network inputs.
    pub fn topological_order(&self) -> Result<Vec<String>> {
        if let Some(cached) = &self.cached_order {
            let mut all: Vec<&String> = self.inputs.iter().chain(&self.vertices).collect();
            all.sort();
            let mut seen: Vec<&String> = cached.iter().collect();
            seen.sort();
            if all == seen {
                return Ok(cached.clone());
            }
            return Err(Error::Config(
                "topologicalOrderStr does not list exactly the graph's inputs and vertices".into(),
            ));
        }
        kahn_order(self)
    }
}

/// One network node: a MultiLayerNetwork layer or a ComputationGraph vertex.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub name: String,
    /// Vertex type for graphs (`LayerVertex`, `MergeVertex`, ...); `None` in MultiLayerNetworks.
    pub vertex_type: Option<String>,
    /// The vertex body (graphs) or the NeuralNetConfiguration (MultiLayerNetworks).
    pub body: &'a Value,
    /// The layer, for MultiLayerNetwork layers, LayerVertex and wrappers of one.
    pub layer: Option<LayerConf<'a>>,
}

impl<'a> Node<'a> {
    fn vertex(name: &str, v: &'a Value) -> std::result::Result<Node<'a>, String> {
        let typed = TypedObject::of(v)?;
        let vertex_type = match typed.style {
            TypeStyle::Class => names::from_class(typed.tag).0,
            TypeStyle::Wrapper => names::legacy_vertex(typed.tag)
                .map(str::to_string)
                .unwrap_or_else(|| typed.tag.to_string()),
        };
        let layer = vertex_layer(&vertex_type, typed.body)?;
        Ok(Node {
            name: name.to_string(),
            vertex_type: Some(vertex_type),
            body: typed.body,
            layer,
        })
    }

    /// Type shown to people: the layer type, else the vertex type.
    pub fn type_name(&self) -> &str {
        match (&self.layer, &self.vertex_type) {
            (Some(l), _) => &l.type_name,
            (None, Some(v)) => v,
            (None, None) => "?",
        }
    }
}

/// The layer inside a vertex: LayerVertex `layerConf.layer`, FrozenVertex `underlying`.
fn vertex_layer<'a>(
    vertex_type: &str,
    body: &'a Value,
) -> std::result::Result<Option<LayerConf<'a>>, String> {
    match vertex_type {
        "LayerVertex" => {
            let nnc = body
                .get("layerConf")
                .ok_or("LayerVertex without layerConf")?;
            let layer = nnc.get("layer").ok_or("layerConf without layer")?;
            Ok(Some(LayerConf::new(layer, Some(nnc))?))
        }
        "FrozenVertex" => {
            let inner = body
                .get("underlying")
                .ok_or("FrozenVertex without underlying")?;
            let typed = TypedObject::of(inner)?;
            let (t, _) = names::from_class(typed.tag);
            let mut l = vertex_layer(&t, typed.body)?;
            if let Some(l) = &mut l {
                l.frozen = true;
            }
            Ok(l)
        }
        _ => Ok(None),
    }
}

/// A polymorphic JSON object split into its type tag and body.
struct TypedObject<'a> {
    style: TypeStyle,
    tag: &'a str,
    body: &'a Value,
}

impl<'a> TypedObject<'a> {
    fn of(v: &'a Value) -> std::result::Result<TypedObject<'a>, String> {
        let obj = v.as_object().ok_or("not a JSON object")?;
        if let Some(class) = obj.get("@class") {
            let tag = class.as_str().ok_or("\"@class\" is not a string")?;
            return Ok(TypedObject {
                style: TypeStyle::Class,
                tag,
                body: v,
            });
        }
        if obj.len() == 1 {
            let (tag, body) = obj.iter().next().expect("one entry");
            if body.is_object() {
                return Ok(TypedObject {
                    style: TypeStyle::Wrapper,
                    tag,
                    body,
                });
            }
        }
        Err("no \"@class\" and not a single-key wrapper object".into())
    }
}

/// A typed, read-only view of one layer object.
#[derive(Debug, Clone)]
pub struct LayerConf<'a> {
    /// Canonical type: DL4J's class simple name (`DenseLayer`), or the user's class name.
    pub type_name: String,
    /// Fully-qualified `@class`, absent for legacy wrapper style.
    pub class: Option<String>,
    pub style: TypeStyle,
    /// The class is DL4J's own (an unknown user class may still reuse a DL4J simple name).
    pub dl4j_class: bool,
    /// Inside a FrozenVertex.
    pub frozen: bool,
    /// The layer's fields.
    pub body: &'a Value,
    /// The enclosing NeuralNetConfiguration (holds `variables`).
    pub nnc: Option<&'a Value>,
}

impl<'a> LayerConf<'a> {
    pub fn new(v: &'a Value, nnc: Option<&'a Value>) -> std::result::Result<LayerConf<'a>, String> {
        let typed = TypedObject::of(v)?;
        let (type_name, class, dl4j_class) = match typed.style {
            TypeStyle::Class => {
                let (t, own) = names::from_class(typed.tag);
                (t, Some(typed.tag.to_string()), own)
            }
            TypeStyle::Wrapper => match names::legacy_layer(typed.tag) {
                Some(t) => (t.to_string(), None, true),
                None => (typed.tag.to_string(), None, false),
            },
        };
        Ok(LayerConf {
            type_name,
            class,
            style: typed.style,
            dl4j_class,
            frozen: false,
            body: typed.body,
            nnc,
        })
    }

    /// A wrapped layer object (`underlying`, `layer`, `fwd`, `bwd`), viewed with this layer's NNC.
    pub fn inner(&self, key: &str) -> Option<LayerConf<'a>> {
        let v = self.body.get(key)?;
        LayerConf::new(v, self.nnc).ok()
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.body.get(key).filter(|v| !v.is_null())
    }

    /// Integer field; accepts numbers written as floats (`4.0`) as Jackson does for longs.
    pub fn int(&self, key: &str) -> Option<i64> {
        as_int(self.get(key)?)
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key)?.as_bool()
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key)?.as_str()
    }

    /// Integer array field; a single number becomes a one-element list.
    pub fn ints(&self, key: &str) -> Option<Vec<i64>> {
        match self.get(key)? {
            Value::Array(a) => a.iter().map(as_int).collect(),
            v => as_int(v).map(|x| vec![x]),
        }
    }

    pub fn n_in(&self) -> Option<i64> {
        self.int("nin").or_else(|| self.int("nIn"))
    }

    pub fn n_out(&self) -> Option<i64> {
        self.int("nout").or_else(|| self.int("nOut"))
    }

    pub fn layer_name(&self) -> Option<&'a str> {
        self.str("layerName")
    }

    /// Activation as written: `ReLU` from `{"@class": "...ActivationReLU"}` or `{"ReLU": {}}`,
    /// or the 0.5-0.7 string (`relu`).
    pub fn activation(&self) -> Option<String> {
        activation_name(self.get("activationFn"), self.str("activationFunction"))
    }

    pub fn kernel_size(&self) -> Option<Vec<i64>> {
        self.ints("kernelSize")
    }
    pub fn stride(&self) -> Option<Vec<i64>> {
        self.ints("stride")
    }
    pub fn padding(&self) -> Option<Vec<i64>> {
        self.ints("padding")
    }
    pub fn dilation(&self) -> Option<Vec<i64>> {
        self.ints("dilation")
    }
    pub fn convolution_mode(&self) -> Option<&'a str> {
        self.str("convolutionMode")
    }

    /// `variables` of the enclosing NeuralNetConfiguration (param keys after init).
    pub fn variables(&self) -> Vec<&'a str> {
        self.nnc
            .and_then(|n| n.get("variables"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Short summary of the shape-defining fields, for tables and JSON.
    pub fn summary(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(v) = self.n_in() {
            m.insert("nIn".into(), v.into());
        }
        if let Some(v) = self.n_out() {
            m.insert("nOut".into(), v.into());
        }
        if let Some(a) = self.activation() {
            m.insert("activation".into(), a.into());
        }
        for (k, v) in [
            ("kernel", self.kernel_size()),
            ("stride", self.stride()),
            ("padding", self.padding()),
            ("dilation", self.dilation()),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.into());
            }
        }
        if let Some(c) = self.convolution_mode() {
            m.insert("convolutionMode".into(), c.into());
        }
        m
    }
}

/// Integer from a JSON number (also `4.0`).
pub fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

/// Name of an activation object in either style, or a legacy activation string.
pub fn activation_name(obj: Option<&Value>, legacy: Option<&str>) -> Option<String> {
    if let Some(o) = obj.filter(|v| !v.is_null()) {
        if let Ok(t) = TypedObject::of(o) {
            return Some(match t.style {
                TypeStyle::Class => {
                    let s = names::simple_name(t.tag);
                    s.strip_prefix("Activation").unwrap_or(s).to_string()
                }
                TypeStyle::Wrapper => t.tag.to_string(),
            });
        }
    }
    legacy.map(str::to_string)
}
