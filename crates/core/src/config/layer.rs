//! Typed, read-only views of network nodes: MultiLayerNetwork layers, ComputationGraph vertices
//! and the layer objects inside them, in either JSON style.

use serde_json::{Map, Value};

use super::{names, TypeStyle};

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
    /// A vertex named `name` from its JSON object (either type style).
    pub fn vertex(name: &str, v: &'a Value) -> std::result::Result<Node<'a>, String> {
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
        let mut entries = obj.iter();
        if let (Some((tag, body)), None) = (entries.next(), entries.next()) {
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

    /// Dropout (or DropConnect) configured: an `idropout` object (>= 0.9), the legacy `dropOut`
    /// retain probability above 0, or a DropoutLayer; wrapped layers are looked into.
    pub fn uses_dropout(&self) -> bool {
        if self.get("idropout").is_some() || self.type_name == "DropoutLayer" {
            return true;
        }
        if self
            .get("dropOut")
            .and_then(Value::as_f64)
            .is_some_and(|p| p > 0.0)
        {
            return true;
        }
        ["fwd", "bwd", "underlying", "layer"]
            .iter()
            .filter_map(|k| self.inner(k))
            .any(|l| l.uses_dropout())
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
