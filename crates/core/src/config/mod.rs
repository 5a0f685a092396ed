//! `configuration.json`: the exact text, an order-preserving JSON tree, and typed read-only views
//! over both the legacy wrapper-object style (<= 1.0.0-alpha) and the `@class` style.

mod graph;
mod layer;
pub mod names;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
pub use graph::{kahn_order, GraphConf};
pub use layer::{activation_name, as_int, LayerConf, Node};

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

    // `parse` is the only constructor and refuses a top level that is not an object; `value`
    // is private and never replaced, so this cannot fail.
    #[allow(clippy::expect_used)]
    fn root(&self) -> &Map<String, Value> {
        self.value.as_object().expect("checked in parse")
    }

    /// `dataType` at the top level, if written (>= 1.0.0-beta4).
    pub fn data_type(&self) -> Option<&str> {
        self.root().get("dataType").and_then(Value::as_str)
    }

    /// The RNG seed the network was configured with (`seed` of the first layer's
    /// NeuralNetConfiguration, or of a graph's `defaultConfiguration`).
    pub fn seed(&self) -> Option<i64> {
        let root = self.root();
        let nnc = match self.kind {
            ModelKind::MultiLayerNetwork => root.get("confs")?.get(0)?,
            ModelKind::ComputationGraph => root.get("defaultConfiguration")?,
        };
        nnc.get("seed").and_then(as_int)
    }

    /// Nodes whose layer applies dropout (or DropConnect) during training; DL4J's docs ask for
    /// a fixed RNG seed before restoring such models for repeatable results.
    pub fn dropout_nodes(&self) -> Vec<String> {
        self.nodes()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.layer.as_ref().is_some_and(|l| l.uses_dropout()))
            .map(|n| n.name)
            .collect()
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
