//! Reference math shared by the forward-pass tests (`forward_pass`, `forward_cnn`,
//! `forward_graph`): opening a model with its parameter layout, reading DL4J's JSON, activations
//! (spec `dl4j-config-and-layers.md` §10), loose ND4J arrays and the comparison with DL4J's output.
//! Everything is computed in f64. Layer-specific math stays in the test that uses it.
#![allow(dead_code)]

use dl4j::{Archive, DType, ParamLayout};
use ndarray::{Array, Array1, Array2, ArrayD, Axis, Dimension, Ix1, Ix2};
use serde_json::Value;

use super::fixture;

// ---------------------------------------------------------------------------------------------
// Model access
// ---------------------------------------------------------------------------------------------

/// A model fixture, its parameter layout (checked to be fully known and to cover every parameter)
/// and its whole flat parameter vector widened to f64, in memory order.
pub struct Model {
    pub rel: String,
    pub archive: Archive,
    pub layout: ParamLayout,
    pub flat: Vec<f64>,
}

impl Model {
    pub fn open(rel: &str) -> Model {
        let (archive, _fmt) =
            dl4j::open(fixture(rel), None).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let layout = archive
            .layout()
            .unwrap_or_else(|e| panic!("{rel}: layout: {e}"));
        assert!(layout.fully_known(), "{rel}: layout has unknown layers");
        assert_eq!(layout.total, archive.num_params(), "{rel}: layout total");
        let flat = archive.params.tensor.to_f64_vec();
        assert_eq!(flat.len(), layout.total, "{rel}: flat length");
        Model {
            rel: rel.to_string(),
            archive,
            layout,
            flat,
        }
    }

    /// The configuration JSON.
    pub fn config(&self) -> &Value {
        self.archive.config.value()
    }

    /// Number of layers of a MultiLayerNetwork.
    pub fn num_layers(&self) -> usize {
        self.config()["confs"].as_array().map_or(0, Vec::len)
    }

    /// Layer `i` of a MultiLayerNetwork: its simple type name as written (`DenseLayer` from
    /// `{"@class": "...DenseLayer", ...}`, `dense` from the legacy `{"dense": {...}}` wrapper) and
    /// the layer's JSON body.
    pub fn layer(&self, i: usize) -> (String, &Value) {
        let layer = &self.config()["confs"][i]["layer"];
        typed(layer).unwrap_or_else(|| panic!("{}: unreadable layer {i}: {layer}", self.rel))
    }

    /// A parameter through the library's view, in its logical shape, widened to f64; its shape
    /// must be `shape`.
    pub fn param(&self, name: &str, shape: &[usize]) -> ArrayD<f64> {
        let p = self
            .layout
            .get(name)
            .unwrap_or_else(|| panic!("{}: no parameter {name}", self.rel));
        let flat = &self.archive.params.tensor;
        let a = match self.archive.dtype() {
            DType::F32 => self.layout.view::<f32>(p, flat).unwrap().mapv(f64::from),
            DType::F64 => self.layout.view::<f64>(p, flat).unwrap().to_owned(),
            d => panic!("{}: unexpected parameter dtype {d:?}", self.rel),
        };
        assert_eq!(a.shape(), shape, "{}: shape of {name}", self.rel);
        a
    }

    pub fn mat(&self, name: &str, rows: usize, cols: usize) -> Array2<f64> {
        self.param(name, &[rows, cols])
            .into_dimensionality::<Ix2>()
            .unwrap()
    }

    /// Biases: `[n]`, or `[1, n]` as some releases shape them.
    pub fn bias(&self, name: &str, n: usize) -> Array1<f64> {
        let p = self
            .layout
            .get(name)
            .unwrap_or_else(|| panic!("{}: no parameter {name}", self.rel));
        let shape = p.shape.clone();
        assert_eq!(p.len(), n, "{}: length of {name}", self.rel);
        assert!(
            shape == [n] || shape == [1, n],
            "{}: shape of {name} is {shape:?}",
            self.rel
        );
        self.param(name, &shape)
            .into_shape_with_order(n)
            .unwrap()
            .into_dimensionality::<Ix1>()
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/// The simple class name of a `{"@class": "org.deeplearning4j...Name", ...}` object.
pub fn simple_class(v: &Value) -> Option<&str> {
    let c = v.get("@class")?.as_str()?;
    Some(c.rsplit('.').next().unwrap_or(c))
}

/// Splits a polymorphic Jackson object into (simple type name, body): `{"@class": "...X", ...}`
/// gives `("X", the object)`, the legacy wrapper `{"X": {...}}` gives `("X", the inner object)`.
pub fn typed(v: &Value) -> Option<(String, &Value)> {
    if let Some(simple) = simple_class(v) {
        return Some((simple.to_string(), v));
    }
    let obj = v.as_object()?;
    if obj.len() == 1 {
        let (k, body) = obj.iter().next()?;
        return Some((k.clone(), body));
    }
    None
}

/// A non-negative integer field.
pub fn int(body: &Value, key: &str) -> usize {
    body.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("missing or non-integer {key} in {body}")) as usize
}

/// `rnnDataFormat` missing or null means NCW (spec §9.13); these tests implement NCW only.
pub fn assert_ncw(layer: &Value, what: &str) {
    if let Some(f) = layer.get("rnnDataFormat").filter(|f| !f.is_null()) {
        assert_eq!(f.as_str(), Some("NCW"), "{what}: rnnDataFormat");
    }
}

// ---------------------------------------------------------------------------------------------
// Activations (spec §10)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Identity,
    Relu,
    LeakyRelu(f64),
    Tanh,
    Sigmoid,
    Softmax,
}

/// Reads an activation: `{"@class": "...ActivationLReLU", "alpha": 0.01}`, the legacy wrapper
/// `{"LReLU": {"alpha": 0.01}}`, or a legacy name string such as `"relu"`. Panics on anything not
/// implemented here.
pub fn activation(v: Option<&Value>) -> Act {
    let v = v.expect("activation missing");
    let (name, body) = match v {
        Value::String(s) => (s.clone(), v),
        _ => typed(v).unwrap_or_else(|| panic!("unreadable activation {v}")),
    };
    let name = name.strip_prefix("Activation").unwrap_or(&name);
    match name.to_ascii_lowercase().as_str() {
        "identity" => Act::Identity,
        "relu" => {
            // beta7+ fields; all null means plain max(x, 0).
            for k in ["max", "negativeSlope", "threshold"] {
                assert!(
                    body.get(k).is_none_or(Value::is_null),
                    "ReLU with {k} set is not implemented here: {v}"
                );
            }
            Act::Relu
        }
        "lrelu" | "leakyrelu" => {
            Act::LeakyRelu(body.get("alpha").and_then(Value::as_f64).unwrap_or(0.01))
        }
        "tanh" => Act::Tanh,
        "sigmoid" => Act::Sigmoid,
        "softmax" => Act::Softmax,
        other => panic!("activation {other} not implemented in these tests"),
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Applies `act` elementwise; softmax only to `[mb, n]` pre-activations, over each row.
pub fn apply<D: Dimension>(act: Act, mut z: Array<f64, D>) -> Array<f64, D> {
    match act {
        Act::Identity => {}
        Act::Relu => z.mapv_inplace(|x| x.max(0.0)),
        Act::LeakyRelu(a) => z.mapv_inplace(|x| if x < 0.0 { a * x } else { x }),
        Act::Tanh => z.mapv_inplace(f64::tanh),
        Act::Sigmoid => z.mapv_inplace(sigmoid),
        Act::Softmax => {
            assert_eq!(z.ndim(), 2, "softmax is implemented over [mb, n] rows only");
            for mut row in z.lanes_mut(Axis(1)) {
                let m = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                row.mapv_inplace(|x| (x - m).exp());
                let sum = row.sum();
                row /= sum;
            }
        }
    }
    z
}

/// `act(x·W + b)`.
pub fn affine(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>, act: Act) -> Array2<f64> {
    apply(act, x.dot(w) + b)
}

/// The same memory as the f-ordered `w`, wrongly read in c order: a negative control showing
/// that the comparison detects a reshape-order mistake.
pub fn misread_c_order(w: &Array2<f64>) -> Array2<f64> {
    let memory: Vec<f64> = w.t().iter().copied().collect();
    Array2::from_shape_vec(w.dim(), memory).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Loose ND4J arrays and comparison
// ---------------------------------------------------------------------------------------------

/// A loose ND4J array fixture (read with the library's exact reader) and its stored dtype, widened
/// to f64. Only f32 and f64 arrays are expected.
pub fn read_array_typed(rel: &str) -> (DType, ArrayD<f64>) {
    let bytes = std::fs::read(fixture(rel)).unwrap();
    let a = dl4j::nd4j::read_array_exact(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let dtype = a.tensor.dtype();
    let v = match dtype {
        DType::F32 => a.tensor.view::<f32>().unwrap().mapv(f64::from),
        DType::F64 => a.tensor.view::<f64>().unwrap().to_owned(),
        d => panic!("{rel}: unexpected dtype {d:?}"),
    };
    (dtype, v)
}

/// A loose ND4J array fixture (f32 or f64), widened to f64.
pub fn read_array(rel: &str) -> ArrayD<f64> {
    read_array_typed(rel).1
}

/// Max |got - want| and max |got - want| / max(1, |want|), after checking the shapes agree and
/// that every value is finite.
pub fn diffs<D: Dimension>(got: &Array<f64, D>, want: &Array<f64, D>) -> (f64, f64) {
    assert_eq!(got.shape(), want.shape(), "shape");
    let mut abs = 0.0f64;
    let mut rel = 0.0f64;
    ndarray::Zip::from(got).and(want).for_each(|&g, &w| {
        let d = (g - w).abs();
        assert!(
            g.is_finite() && w.is_finite() && d.is_finite(),
            "non-finite value: got {g}, want {w}"
        );
        abs = abs.max(d);
        rel = rel.max(d / w.abs().max(1.0));
    });
    (abs, rel)
}

/// Max |got - want| (see [`diffs`]).
pub fn max_abs_diff<D: Dimension>(got: &Array<f64, D>, want: &Array<f64, D>) -> f64 {
    diffs(got, want).0
}

// ---------------------------------------------------------------------------------------------
// MLPMoon data
// ---------------------------------------------------------------------------------------------

pub const MOON: &str = "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests";

/// The first `n` rows of the moon eval set: features (x1, x2), label column dropped.
pub fn moon_features(n: usize) -> Array2<f64> {
    let text =
        std::fs::read_to_string(fixture(&format!("{MOON}/data/moon_data_eval.csv"))).unwrap();
    let mut x = Array2::zeros((n, 2));
    let mut rows = 0;
    for (i, line) in text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .enumerate()
    {
        let cols: Vec<f64> = line.split(',').map(|c| c.trim().parse().unwrap()).collect();
        assert_eq!(cols.len(), 3, "label,x1,x2: {line}");
        x[[i, 0]] = cols[1];
        x[[i, 1]] = cols[2];
        rows += 1;
    }
    assert_eq!(rows, n);
    x
}
