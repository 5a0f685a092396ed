//! DL4J activation functions (spec `dl4j-config-and-layers.md` §10) as ONNX ops. Those ONNX lacks
//! or defines differently (GELU, RationalTanh, RectifiedTanh, Cube, Swish, RReLU at inference,
//! ReLU with threshold) are composed from primitives with DL4J's own formulas.
//!
//! Double-precision networks get every non-trivial activation composed from arithmetic, `Exp`,
//! `Log` and `Tanh`: ONNX allows f64 for Sigmoid, Elu, Softplus, ..., but common runtimes ship
//! no f64 kernels for them (ONNX Runtime: Elu, Selu, HardSigmoid, Softplus, Softsign; tract:
//! Sigmoid, LeakyRelu), and the compositions are DL4J's formulas anyway.

use dl4j_core::config::LayerConf;
use dl4j_core::tensor::DType;
use serde_json::Value;

use super::Builder;
use crate::proto::Attr;

/// SELU constants as DL4J (libnd4j) defines them.
const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;
const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;

/// A DL4J activation with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Activation {
    Identity,
    ReLU {
        max: Option<f64>,
        threshold: Option<f64>,
        negative_slope: Option<f64>,
    },
    ReLU6,
    LReLU(f64),
    Elu(f64),
    Selu,
    Sigmoid,
    HardSigmoid,
    Tanh,
    HardTanh,
    Softmax,
    SoftPlus,
    SoftSign,
    Cube,
    Swish,
    Gelu {
        precise: bool,
    },
    Mish,
    /// Inference form `max(x, (l + u) / 2)`.
    RReLU {
        l: f64,
        u: f64,
    },
    ThresholdedReLU(f64),
    RationalTanh,
    RectifiedTanh,
}

fn num(body: Option<&Value>, key: &str) -> Option<f64> {
    body.and_then(|b| b.get(key)).and_then(Value::as_f64)
}

impl Activation {
    /// The activation of a layer (`activationFn`, or the 0.5-0.7 `activationFunction` string).
    pub fn of_layer(layer: &LayerConf) -> Result<Activation, String> {
        Self::parse(layer.get("activationFn"), layer.str("activationFunction"))
    }

    /// Parses an activation object (`{"@class": "...ActivationLReLU", "alpha": ..}` or the
    /// wrapper `{"LReLU": {..}}`) or a legacy name; missing means identity... except DL4J's
    /// layer default is sigmoid, so a layer with neither is an error rather than a guess.
    pub fn parse(obj: Option<&Value>, legacy: Option<&str>) -> Result<Activation, String> {
        let (name, body) = match obj.filter(|v| !v.is_null()) {
            Some(o) => {
                if let Some(class) = o.get("@class").and_then(Value::as_str) {
                    let simple = class.rsplit('.').next().unwrap_or(class);
                    (
                        simple
                            .strip_prefix("Activation")
                            .unwrap_or(simple)
                            .to_string(),
                        Some(o),
                    )
                } else if let Some((k, v)) = o
                    .as_object()
                    .filter(|m| m.len() == 1)
                    .and_then(|m| m.iter().next())
                {
                    (k.clone(), Some(v))
                } else if let Some(s) = o.as_str() {
                    (s.to_string(), None)
                } else {
                    return Err(format!("unreadable activation {o}"));
                }
            }
            None => match legacy {
                Some(s) => (s.to_string(), None),
                None => return Err("the layer names no activation function".into()),
            },
        };
        let a = match name.to_ascii_lowercase().as_str() {
            "identity" | "linear" => Activation::Identity,
            "relu" => Activation::ReLU {
                max: num(body, "max"),
                threshold: num(body, "threshold"),
                negative_slope: num(body, "negativeSlope"),
            },
            "relu6" => Activation::ReLU6,
            "lrelu" | "leakyrelu" => Activation::LReLU(num(body, "alpha").unwrap_or(0.01)),
            "elu" => Activation::Elu(num(body, "alpha").unwrap_or(1.0)),
            "selu" => Activation::Selu,
            "sigmoid" => Activation::Sigmoid,
            "hardsigmoid" => Activation::HardSigmoid,
            "tanh" => Activation::Tanh,
            "hardtanh" => Activation::HardTanh,
            "softmax" => Activation::Softmax,
            "softplus" => Activation::SoftPlus,
            "softsign" => Activation::SoftSign,
            "cube" => Activation::Cube,
            "swish" => Activation::Swish,
            "gelu" => Activation::Gelu {
                precise: body
                    .and_then(|b| b.get("precise"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            },
            "mish" => Activation::Mish,
            "rrelu" => Activation::RReLU {
                l: num(body, "l").unwrap_or(1.0 / 8.0),
                u: num(body, "u").unwrap_or(1.0 / 3.0),
            },
            "thresholdedrelu" => Activation::ThresholdedReLU(num(body, "theta").unwrap_or(1.0)),
            "rationaltanh" => Activation::RationalTanh,
            "rectifiedtanh" => Activation::RectifiedTanh,
            _ => return Err(format!("activation {name} has no ONNX translation")),
        };
        Ok(a)
    }

    /// Appends the activation applied to `x`; returns the output value.
    pub fn apply(&self, b: &mut Builder, x: &str) -> Result<String, String> {
        let none = Vec::new;
        if b.dtype == DType::F64 {
            if let Some(y) = self.composed(b, x) {
                return Ok(y);
            }
        }
        Ok(match *self {
            Activation::Identity => b.op("Identity", &[x], none()),
            Activation::ReLU {
                max,
                threshold,
                negative_slope,
            } => {
                let t = threshold.unwrap_or(0.0);
                let ns = negative_slope.unwrap_or(0.0);
                let y = if t == 0.0 && ns == 0.0 {
                    b.op("Relu", &[x], none())
                } else if t == 0.0 {
                    b.op("LeakyRelu", &[x], vec![("alpha", Attr::Float(ns as f32))])
                } else {
                    // x >= t ? x : ns * (x - t)
                    let tc = b.scalar(t);
                    let nc = b.scalar(ns);
                    let keep = b.op("GreaterOrEqual", &[x, &tc], none());
                    let shifted = b.op("Sub", &[x, &tc], none());
                    let low = b.op("Mul", &[&shifted, &nc], none());
                    b.op("Where", &[&keep, x, &low], none())
                };
                match max {
                    Some(m) => {
                        let mc = b.scalar(m);
                        b.op("Min", &[&y, &mc], none())
                    }
                    None => y,
                }
            }
            Activation::ReLU6 => {
                let lo = b.scalar(0.0);
                let hi = b.scalar(6.0);
                b.op("Clip", &[x, &lo, &hi], none())
            }
            Activation::LReLU(a) => b.op("LeakyRelu", &[x], vec![("alpha", Attr::Float(a as f32))]),
            Activation::Elu(a) => b.op("Elu", &[x], vec![("alpha", Attr::Float(a as f32))]),
            Activation::Selu => b.op(
                "Selu",
                &[x],
                vec![
                    ("alpha", Attr::Float(SELU_ALPHA as f32)),
                    ("gamma", Attr::Float(SELU_LAMBDA as f32)),
                ],
            ),
            Activation::Sigmoid => b.op("Sigmoid", &[x], none()),
            Activation::HardSigmoid => b.op(
                "HardSigmoid",
                &[x],
                vec![("alpha", Attr::Float(0.2)), ("beta", Attr::Float(0.5))],
            ),
            Activation::Tanh => b.op("Tanh", &[x], none()),
            Activation::HardTanh => {
                let lo = b.scalar(-1.0);
                let hi = b.scalar(1.0);
                b.op("Clip", &[x, &lo, &hi], none())
            }
            // DL4J's softmax runs over the last axis.
            Activation::Softmax => b.op("Softmax", &[x], vec![("axis", Attr::Int(-1))]),
            Activation::SoftPlus => b.op("Softplus", &[x], none()),
            Activation::SoftSign => b.op("Softsign", &[x], none()),
            Activation::Cube => {
                let sq = b.op("Mul", &[x, x], none());
                b.op("Mul", &[&sq, x], none())
            }
            Activation::Swish => {
                let s = sigmoid(b, x);
                b.op("Mul", &[x, &s], none())
            }
            Activation::Gelu { precise: false } => {
                // x * sigmoid(1.702 x)
                let k = b.scalar(1.702);
                let kx = b.op("Mul", &[x, &k], none());
                let s = sigmoid(b, &kx);
                b.op("Mul", &[x, &s], none())
            }
            Activation::Gelu { precise: true } => {
                // DL4J: 0.5 x (1 + tanh(sqrt(2/pi) (x + (0.044715 x)^3))); the cube applies to
                // 0.044715 x, as implemented in libnd4j (not the textbook GELU).
                let c = b.scalar(0.044715);
                let cx = b.op("Mul", &[x, &c], none());
                let sq = b.op("Mul", &[&cx, &cx], none());
                let cube = b.op("Mul", &[&sq, &cx], none());
                let inner = b.op("Add", &[x, &cube], none());
                let k = b.scalar((2.0 / std::f64::consts::PI).sqrt());
                let scaled = b.op("Mul", &[&inner, &k], none());
                let t = b.op("Tanh", &[&scaled], none());
                let one = b.scalar(1.0);
                let onep = b.op("Add", &[&t, &one], none());
                let half = b.scalar(0.5);
                let hx = b.op("Mul", &[x, &half], none());
                b.op("Mul", &[&hx, &onep], none())
            }
            Activation::Mish => {
                let sp = softplus(b, x);
                let t = b.op("Tanh", &[&sp], none());
                b.op("Mul", &[x, &t], none())
            }
            Activation::RReLU { l, u } => {
                let c = b.scalar((l + u) / 2.0);
                b.op("Max", &[x, &c], none())
            }
            Activation::ThresholdedReLU(theta) => {
                let th = b.scalar(theta);
                let zero = b.scalar(0.0);
                let keep = b.op("Greater", &[x, &th], none());
                b.op("Where", &[&keep, x, &zero], none())
            }
            Activation::RationalTanh => {
                // d = 2x/3; 1.7159 * sign(d) * (1 - 1 / (1 + |d| + d^2 + 1.41645 d^4))
                let k = b.scalar(2.0 / 3.0);
                let d = b.op("Mul", &[x, &k], none());
                let a = b.op("Abs", &[&d], none());
                let d2 = b.op("Mul", &[&d, &d], none());
                let d4 = b.op("Mul", &[&d2, &d2], none());
                let c4 = b.scalar(1.41645);
                let t4 = b.op("Mul", &[&d4, &c4], none());
                let one = b.scalar(1.0);
                let s1 = b.op("Add", &[&one, &a], none());
                let s2 = b.op("Add", &[&s1, &d2], none());
                let den = b.op("Add", &[&s2, &t4], none());
                let inv = b.op("Reciprocal", &[&den], none());
                let diff = b.op("Sub", &[&one, &inv], none());
                let sg = b.op("Sign", &[&d], none());
                let prod = b.op("Mul", &[&sg, &diff], none());
                let amp = b.scalar(1.7159);
                b.op("Mul", &[&prod, &amp], none())
            }
            Activation::RectifiedTanh => {
                let t = b.op("Tanh", &[x], none());
                b.op("Relu", &[&t], none())
            }
        })
    }

    /// The f64 form of activations whose ONNX op runtimes lack f64 kernels for; `None` for the
    /// rest (already built from f64-capable ops).
    fn composed(&self, b: &mut Builder, x: &str) -> Option<String> {
        let none = Vec::new;
        Some(match *self {
            Activation::ReLU {
                threshold: None | Some(0.0),
                negative_slope: Some(ns),
                max,
            } if ns != 0.0 => {
                let y = leaky(b, x, ns);
                match max {
                    Some(m) => {
                        let mc = b.scalar(m);
                        b.op("Min", &[&y, &mc], none())
                    }
                    None => y,
                }
            }
            Activation::LReLU(a) => leaky(b, x, a),
            Activation::Elu(a) => {
                // x >= 0 ? x : a (e^x - 1)
                let zero = b.scalar(0.0);
                let keep = b.op("GreaterOrEqual", &[x, &zero], none());
                let e = b.op("Exp", &[x], none());
                let one = b.scalar(1.0);
                let em1 = b.op("Sub", &[&e, &one], none());
                let ac = b.scalar(a);
                let neg = b.op("Mul", &[&em1, &ac], none());
                b.op("Where", &[&keep, x, &neg], none())
            }
            Activation::Selu => {
                // x > 0 ? l x : l (a e^x - a)
                let zero = b.scalar(0.0);
                let pos = b.op("Greater", &[x, &zero], none());
                let e = b.op("Exp", &[x], none());
                let ac = b.scalar(SELU_ALPHA);
                let ae = b.op("Mul", &[&e, &ac], none());
                let neg = b.op("Sub", &[&ae, &ac], none());
                let y = b.op("Where", &[&pos, x, &neg], none());
                let lc = b.scalar(SELU_LAMBDA);
                b.op("Mul", &[&y, &lc], none())
            }
            Activation::Sigmoid => sigmoid(b, x),
            Activation::HardSigmoid => {
                // min(1, max(0, 0.2 x + 0.5))
                let k = b.scalar(0.2);
                let c = b.scalar(0.5);
                let kx = b.op("Mul", &[x, &k], none());
                let y = b.op("Add", &[&kx, &c], none());
                let zero = b.scalar(0.0);
                let one = b.scalar(1.0);
                let lo = b.op("Max", &[&y, &zero], none());
                b.op("Min", &[&lo, &one], none())
            }
            Activation::SoftPlus => softplus(b, x),
            Activation::SoftSign => {
                let a = b.op("Abs", &[x], none());
                let one = b.scalar(1.0);
                let den = b.op("Add", &[&a, &one], none());
                b.op("Div", &[x, &den], none())
            }
            _ => return None,
        })
    }
}

/// `1 / (1 + e^-x)` (DL4J's formula) in f64, the ONNX op otherwise.
fn sigmoid(b: &mut Builder, x: &str) -> String {
    if b.dtype != DType::F64 {
        return b.op("Sigmoid", &[x], Vec::new());
    }
    let n = b.op("Neg", &[x], Vec::new());
    let e = b.op("Exp", &[&n], Vec::new());
    let one = b.scalar(1.0);
    let den = b.op("Add", &[&e, &one], Vec::new());
    b.op("Reciprocal", &[&den], Vec::new())
}

/// `log(1 + e^x)` (DL4J's naive formula) in f64, the ONNX op otherwise.
fn softplus(b: &mut Builder, x: &str) -> String {
    if b.dtype != DType::F64 {
        return b.op("Softplus", &[x], Vec::new());
    }
    let e = b.op("Exp", &[x], Vec::new());
    let one = b.scalar(1.0);
    let s = b.op("Add", &[&e, &one], Vec::new());
    b.op("Log", &[&s], Vec::new())
}

/// `x < 0 ? a x : x`.
fn leaky(b: &mut Builder, x: &str, a: f64) -> String {
    let zero = b.scalar(0.0);
    let neg = b.op("Less", &[x, &zero], Vec::new());
    let ac = b.scalar(a);
    let ax = b.op("Mul", &[x, &ac], Vec::new());
    b.op("Where", &[&neg, &ax, x], Vec::new())
}
