//! Activation nodes: folded into the layer before them when that layer applies its activation
//! last and has none yet, otherwise an ActivationLayer. Spec config §10 and §13b: only the ONNX
//! parameterisations DL4J's activation classes compute exactly are accepted.

use serde_json::{json, Value};

use super::super::json::{self, Family};
use super::super::net::{Layer, Sym};
use super::super::{attr_float, attr_int, input, Cx, Done};
use crate::proto::{Attr, ForeignNode};

pub const OPS: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "Elu",
    "Selu",
    "Sigmoid",
    "HardSigmoid",
    "Tanh",
    "Softmax",
    "Softplus",
    "Softsign",
    "Clip",
    "ThresholdedRelu",
    "Mish",
    "PRelu",
];

const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_GAMMA: f32 = 1.050_701;

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

fn clip_bounds(cx: &Cx, n: &ForeignNode) -> Result<(Option<f64>, Option<f64>), String> {
    if cx.opset < 11 {
        let lo = n.attr("min").and_then(|a| match a {
            Attr::Float(v) => Some(*v as f64),
            _ => None,
        });
        let hi = n.attr("max").and_then(|a| match a {
            Attr::Float(v) => Some(*v as f64),
            _ => None,
        });
        return Ok((lo, hi));
    }
    let bound = |i: usize| -> Result<Option<f64>, String> {
        match input(n, i) {
            None => Ok(None),
            Some(name) => match cx.konst(name) {
                Some(a) if a.len() == 1 => Ok(a.iter().next().copied()),
                _ => Err(format!("clip bound {name:?} is not a constant scalar")),
            },
        }
    };
    Ok((bound(1)?, bound(2)?))
}

/// The DL4J activation object computing `n` elementwise.
fn activation_of(cx: &Cx, n: &ForeignNode) -> Result<Value, String> {
    let a = |class: &str| json::activation(class, &[]);
    Ok(match n.op.as_str() {
        "Relu" => json::activation(
            "ActivationReLU",
            &[
                ("max", Value::Null),
                ("negativeSlope", Value::Null),
                ("threshold", Value::Null),
            ],
        ),
        "LeakyRelu" => json::activation(
            "ActivationLReLU",
            &[("alpha", json!(attr_float(n, "alpha", 0.01) as f64))],
        ),
        "Elu" => json::activation(
            "ActivationELU",
            &[("alpha", json!(attr_float(n, "alpha", 1.0) as f64))],
        ),
        "Selu" => {
            let (al, ga) = (
                attr_float(n, "alpha", SELU_ALPHA),
                attr_float(n, "gamma", SELU_GAMMA),
            );
            if !(close(al, SELU_ALPHA) && close(ga, SELU_GAMMA)) {
                return Err(format!(
                    "Selu with alpha {al} and gamma {ga}: DL4J's SELU has only the standard constants"
                ));
            }
            a("ActivationSELU")
        }
        "Sigmoid" => a("ActivationSigmoid"),
        "HardSigmoid" => {
            let (al, be) = (attr_float(n, "alpha", 0.2), attr_float(n, "beta", 0.5));
            if !(close(al, 0.2) && close(be, 0.5)) {
                return Err(format!(
                    "HardSigmoid with alpha {al} and beta {be}: DL4J computes only 0.2x + 0.5"
                ));
            }
            a("ActivationHardSigmoid")
        }
        "Tanh" => a("ActivationTanH"),
        "Softplus" => a("ActivationSoftPlus"),
        "Softsign" => a("ActivationSoftSign"),
        "Mish" => a("ActivationMish"),
        "ThresholdedRelu" => json::activation(
            "ActivationThresholdedReLU",
            &[("theta", json!(attr_float(n, "alpha", 1.0) as f64))],
        ),
        "Clip" => match clip_bounds(cx, n)? {
            (Some(lo), Some(hi)) if lo == 0.0 && hi == 6.0 => a("ActivationReLU6"),
            (Some(lo), Some(hi)) if lo == -1.0 && hi == 1.0 => a("ActivationHardTanH"),
            (Some(0.0), hi) => json::activation(
                "ActivationReLU",
                &[
                    ("max", hi.map_or(Value::Null, |h| json!(h))),
                    ("negativeSlope", Value::Null),
                    ("threshold", Value::Null),
                ],
            ),
            (lo, hi) => {
                return Err(format!(
                    "Clip to [{}, {}]: DL4J clips only to [0, max], [0, 6] or [-1, 1]",
                    lo.map_or("-inf".into(), |v| v.to_string()),
                    hi.map_or("inf".into(), |v| v.to_string())
                ))
            }
        },
        "Softmax" => a("ActivationSoftmax"),
        other => return Err(format!("{other} is not an activation")),
    })
}

/// Rank-2 view of a softmax input whose axis is not DL4J's (the last one): a preprocessor in
/// front and one behind. `None`: DL4J's own softmax already matches.
fn softmax_plan(cx: &Cx, n: &ForeignNode, x: &Sym) -> Result<Option<(Value, Value)>, String> {
    let core = x.core_shape();
    let rank = x.rank() as i64;
    let legacy = cx.opset < 13;
    let axis = attr_int(n, "axis", if legacy { 1 } else { -1 });
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) {
        return Err(format!("softmax axis {axis} outside rank {rank}"));
    }
    if !x.is_unpermuted() || x.pre.is_some() {
        return Err("softmax over a reordered or reshaped value".into());
    }
    // Squeezed (size-1) axes do not change a softmax unless it runs over one of them.
    let axis_core = if x.squeezed.contains(&(axis as usize)) {
        if legacy {
            // Flattening from a size-1 axis onwards: the first non-squeezed axis after it.
            (0..core.len()).find(|&c| {
                let onnx = (0..x.rank())
                    .filter(|i| !x.squeezed.contains(i))
                    .nth(c)
                    .unwrap_or(0);
                onnx as i64 > axis
            })
        } else {
            return Err("softmax over a size-1 axis (always 1)".into());
        }
    } else {
        Some(
            (0..axis as usize)
                .filter(|i| !x.squeezed.contains(i))
                .count(),
        )
    };
    let Some(ac) = axis_core else {
        return Err("softmax over size-1 axes only".into());
    };
    let r = core.len();
    // Legacy semantics flatten axes [ac..] into one; it is DL4J's last-axis softmax when
    // ac is the last axis or everything after ac is size 1 in the DL4J array too.
    if ac + 1 == r {
        return Ok(None);
    }
    if legacy && r == 4 && ac == 1 {
        let (c, h, w) = (
            x.dim(1, "channels")?,
            x.dim(2, "height")?,
            x.dim(3, "width")?,
        );
        let dims = [
            ("inputHeight", json!(h)),
            ("inputWidth", json!(w)),
            ("numChannels", json!(c)),
        ];
        let mut front = dims.to_vec();
        front.push(("format", json!("NCHW")));
        return Ok(Some((
            json::preprocessor("CnnToFeedForwardPreProcessor", &front),
            json::preprocessor("FeedForwardToCnnPreProcessor", &dims),
        )));
    }
    if r == 3 && ac == 1 {
        let f = [("rnnDataFormat", json!("NCW"))];
        return Ok(Some((
            json::preprocessor("RnnToFeedForwardPreProcessor", &f),
            json::preprocessor("FeedForwardToRnnPreProcessor", &f),
        )));
    }
    Err(format!(
        "softmax over axis {axis} of a rank-{rank} value: DL4J's softmax runs over the last axis"
    ))
}

/// `PRelu(x, slope)` -> PReLULayer: `inputShape` is the input without the batch axis, axes the
/// slope broadcasts over are `sharedAxes` (1-based, batch excluded), the slope is `W`.
fn prelu(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    if !x.is_plain() || x.rank() < 2 {
        return Err("PRelu on a reshaped or reordered value".into());
    }
    let slope_name = input(n, 1).ok_or("no slope")?;
    let slope = cx
        .konst(slope_name)
        .ok_or_else(|| format!("slope {slope_name:?} is not a constant"))?
        .clone();
    let r = x.rank();
    // Axes of the slope beyond the input's non-batch ones line up with the batch or before it.
    let leading = slope.ndim().saturating_sub(r - 1);
    if slope.shape().iter().take(leading).any(|&d| d != 1) {
        return Err(format!(
            "slope of shape {:?} varies over the batch",
            slope.shape()
        ));
    }
    let mut input_shape = Vec::new();
    let mut w_shape = Vec::new();
    let mut shared = Vec::new();
    for k in 1..r {
        let d = x.dim(k, "size")?;
        // Right-aligned broadcast of the slope against [d1, ..., d_{r-1}].
        let from_end = r - 1 - k;
        let s = slope
            .ndim()
            .checked_sub(1 + from_end)
            .and_then(|i| slope.shape().get(i))
            .copied()
            .unwrap_or(1);
        if s != 1 && s != d {
            return Err(format!(
                "slope of shape {:?} does not broadcast over {}",
                slope.shape(),
                super::super::show(&x.shape)
            ));
        }
        if s == 1 && d != 1 {
            shared.push(k);
        }
        input_shape.push(d);
        w_shape.push(s);
    }
    let w = slope
        .into_shape_with_order(ndarray::IxDyn(&w_shape))
        .map_err(|e| e.to_string())?;
    let size = input_shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("input {} has too many values", super::super::show(&x.shape)))?;
    let fields = json::fields(&[
        ("inputShape", json!(input_shape)),
        (
            "sharedAxes",
            if shared.is_empty() {
                Value::Null
            } else {
                json!(shared)
            },
        ),
        ("nin", json!(size)),
        ("nout", json!(size)),
    ]);
    let layer = Layer::new("PReLULayer", Family::FeedForward, fields).param("W", w);
    let v = cx.net.add_layer(hint(n, "prelu"), &x, layer);
    let mut y = x.clone();
    y.src = v;
    cx.set(n.outputs.first().ok_or("no output")?, y);
    Ok(())
}

pub fn translate(cx: &mut Cx, n: &ForeignNode) -> Done {
    if n.op == "PRelu" {
        return prelu(cx, n);
    }
    let name = input(n, 0).ok_or("no input")?;
    let x = cx.sym(name)?;
    let act = activation_of(cx, n)?;
    let out = n.outputs.first().ok_or("no output")?;
    let plan = if n.op == "Softmax" {
        softmax_plan(cx, n, &x)?
    } else {
        None
    };
    match plan {
        None => {
            // Elementwise (or softmax over the DL4J array's last axis): fold into the layer
            // before if it may take it.
            let foldable = x.pre.is_none() && (n.op != "Softmax" || x.is_unpermuted());
            if foldable {
                if let Some(layer) = cx.private_layer(name, &x) {
                    if layer.fusable
                        && layer
                            .activation
                            .as_ref()
                            .is_some_and(|a| json::activation_class(a) == "ActivationIdentity")
                    {
                        layer.activation = Some(act);
                        cx.set(out, x);
                        return Ok(());
                    }
                }
            }
            let mut layer = Layer::new("ActivationLayer", Family::Activation, Default::default());
            layer.activation = Some(act);
            let v = cx.net.add_layer(hint(n, "activation"), &x, layer);
            let mut y = x.clone();
            y.src = v;
            y.pre = None;
            cx.set(out, y);
        }
        Some((front, back)) => {
            let mut flat = x.clone();
            flat.pre = Some(front);
            let mut layer = Layer::new("ActivationLayer", Family::Activation, Default::default());
            layer.activation = Some(act);
            let v = cx.net.add_layer(hint(n, "softmax"), &flat, layer);
            let mut y = x.clone();
            y.src = v;
            y.pre = Some(back);
            cx.set(out, y);
        }
    }
    Ok(())
}

/// A vertex name hint: the node's name, or its op.
pub fn hint<'n>(n: &'n ForeignNode, fallback: &'n str) -> &'n str {
    if !n.name.is_empty() {
        &n.name
    } else if let Some(o) = n.outputs.first().filter(|o| !o.is_empty()) {
        o
    } else {
        fallback
    }
}
