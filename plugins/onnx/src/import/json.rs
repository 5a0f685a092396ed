//! DL4J configuration JSON as DL4J 1.0.0-M2.1 writes it (`@class` type ids, every field its
//! deserializer reads present, no legacy fields); spec `dl4j-config-and-layers.md` §4, §5, §7–§12.
//!
//! Each layer gets the fields of its class hierarchy: `Layer` (name, dropout, constraints),
//! `BaseLayer` (activation, initialisation, updater, regularisation, gradient normalisation) and
//! `FeedForwardLayer` (`nin`, `nout`, `timeDistributedFormat`), then its own. Keys are sorted as
//! Jackson sorts them.

use serde_json::{json, Map, Value};

pub const LAYERS: &str = "org.deeplearning4j.nn.conf.layers.";
pub const ACTIVATIONS: &str = "org.nd4j.linalg.activations.impl.";
pub const PREPROCESSORS: &str = "org.deeplearning4j.nn.conf.preprocessor.";
pub const VERTICES: &str = "org.deeplearning4j.nn.conf.graph.";

/// The optimizer written into imported layers: ONNX carries none, so DL4J's Adam defaults.
pub fn updater() -> Value {
    json!({
        "@class": "org.nd4j.linalg.learning.config.Adam",
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1.0e-8,
        "learningRate": 0.001
    })
}

/// An activation object by DL4J class name (`ActivationReLU`) with its fields.
pub fn activation(class: &str, fields: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    m.insert(
        "@class".into(),
        Value::String(format!("{ACTIVATIONS}{class}")),
    );
    for (k, v) in fields {
        m.insert((*k).into(), v.clone());
    }
    Value::Object(m)
}

pub fn identity() -> Value {
    activation("ActivationIdentity", &[])
}

/// The short class name of an activation object (`ActivationReLU`).
pub fn activation_class(v: &Value) -> &str {
    v.get("@class")
        .and_then(Value::as_str)
        .map_or("", |c| c.rsplit('.').next().unwrap_or(c))
}

/// Which fields a layer class carries beyond `Layer`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// No parameters, no BaseLayer fields (pooling, padding, global pooling, LRN).
    NoParams,
    /// ActivationLayer: a NoParamLayer in M2.1 with `activationFn` as its only own field (no
    /// BaseLayer fields such as `iupdater` or `weightInitFn`).
    Activation,
    /// BaseLayer + FeedForwardLayer.
    FeedForward,
}

fn sorted(m: Map<String, Value>) -> Value {
    let mut entries: Vec<(String, Value)> = m.into_iter().collect();
    // Jackson: `@class` first, then alphabetical.
    entries.sort_by(|(a, _), (b, _)| (a != "@class", a).cmp(&(b != "@class", b)));
    Value::Object(entries.into_iter().collect())
}

/// A complete layer object: `class` (short, e.g. `DenseLayer`), its own `fields`, the
/// activation where the class has one.
pub fn layer(
    class: &str,
    family: Family,
    name: &str,
    activation_fn: Option<Value>,
    fields: Map<String, Value>,
) -> Value {
    let mut m = Map::new();
    m.insert("@class".into(), Value::String(format!("{LAYERS}{class}")));
    m.insert("layerName".into(), Value::String(name.into()));
    m.insert("idropout".into(), Value::Null);
    m.insert("constraints".into(), Value::Null);
    match family {
        // NoParamLayer / LRN getters: `None` and a threshold of 0.
        Family::NoParams => {
            m.insert("gradientNormalization".into(), json!("None"));
            m.insert("gradientNormalizationThreshold".into(), json!(0.0));
        }
        Family::Activation => {
            m.insert("gradientNormalization".into(), json!("None"));
            m.insert("gradientNormalizationThreshold".into(), json!(0.0));
            m.insert(
                "activationFn".into(),
                activation_fn.unwrap_or_else(identity),
            );
        }
        Family::FeedForward => {
            m.insert(
                "activationFn".into(),
                activation_fn.unwrap_or_else(identity),
            );
            m.insert("biasInit".into(), json!(0.0));
            m.insert("biasUpdater".into(), Value::Null);
            m.insert("gainInit".into(), json!(1.0));
            m.insert("gradientNormalization".into(), json!("None"));
            m.insert("gradientNormalizationThreshold".into(), json!(1.0));
            m.insert("iupdater".into(), updater());
            m.insert("regularization".into(), json!([]));
            m.insert("regularizationBias".into(), json!([]));
            m.insert(
                "weightInitFn".into(),
                json!({"@class": "org.deeplearning4j.nn.weights.WeightInitXavier"}),
            );
            m.insert("weightNoise".into(), Value::Null);
            m.insert("timeDistributedFormat".into(), Value::Null);
        }
    }
    for (k, v) in fields {
        m.insert(k, v);
    }
    sorted(m)
}

/// The NeuralNetConfiguration around a layer (`layer` null for a graph's default).
pub fn nnc(layer: Value, variables: &[String], data_type: &str) -> Value {
    sorted(fields_owned([
        ("cacheMode", json!("NONE")),
        ("dataType", json!(data_type)),
        ("epochCount", json!(0)),
        ("iterationCount", json!(0)),
        ("layer", layer),
        ("maxNumLineSearchIterations", json!(5)),
        ("miniBatch", json!(true)),
        ("minimize", json!(true)),
        ("optimizationAlgo", json!("STOCHASTIC_GRADIENT_DESCENT")),
        ("seed", json!(12345)),
        ("stepFunction", Value::Null),
        ("variables", json!(variables)),
    ]))
}

/// Top-level keys shared by MultiLayerConfiguration and ComputationGraphConfiguration.
pub fn top(data_type: &str, rest: Map<String, Value>) -> Value {
    let mut m = fields_owned([
        ("backpropType", json!("Standard")),
        ("cacheMode", json!("NONE")),
        ("dataType", json!(data_type)),
        ("epochCount", json!(0)),
        ("inferenceWorkspaceMode", json!("ENABLED")),
        ("iterationCount", json!(0)),
        ("tbpttBackLength", json!(20)),
        ("tbpttFwdLength", json!(20)),
        ("trainingWorkspaceMode", json!("ENABLED")),
        ("validateOutputLayerConfig", json!(true)),
    ]);
    m.extend(rest);
    sorted(m)
}

/// A preprocessor object by class name.
pub fn preprocessor(class: &str, fields: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    m.insert(
        "@class".into(),
        Value::String(format!("{PREPROCESSORS}{class}")),
    );
    for (k, v) in fields {
        m.insert((*k).into(), v.clone());
    }
    sorted(m)
}

/// A graph vertex object by class name.
pub fn vertex(class: &str, fields: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    m.insert("@class".into(), Value::String(format!("{VERTICES}{class}")));
    for (k, v) in fields {
        m.insert((*k).into(), v.clone());
    }
    sorted(m)
}

/// Helper: a map from pairs.
pub fn fields(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

/// A map from owned pairs.
fn fields_owned<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// CUDA-helper fields every ConvolutionLayer subclass writes (performance only).
pub fn cudnn_fields() -> Map<String, Value> {
    fields(&[
        ("cudnnAlgoMode", json!("PREFER_FASTEST")),
        ("cudnnBwdDataAlgo", Value::Null),
        ("cudnnBwdFilterAlgo", Value::Null),
        ("cudnnFwdAlgo", Value::Null),
    ])
}
