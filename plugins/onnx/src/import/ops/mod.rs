//! Node translators, one module per family of ONNX operators, and the final touches on the
//! network's outputs (output layers, reshapes back to the ONNX output shapes).

pub mod activation;
pub mod conv;
pub mod dense;
pub mod merge;
pub mod norm;
pub mod pool;
pub mod rnn;
pub mod shape;
pub mod sklearn;

use serde_json::{json, Value};

use super::json::{self, Family};
use super::net::{Body, Layer};
use super::{show, Cx, Done};
use crate::proto::ForeignNode;

fn default_domain(n: &ForeignNode) -> bool {
    n.domain.is_empty() || n.domain == "ai.onnx"
}

/// Operators some translator handles (used to tell "unsupported" from "not reached").
pub fn known(n: &ForeignNode) -> bool {
    if !default_domain(n) {
        return sklearn::known(n);
    }
    activation::OPS.contains(&n.op.as_str())
        || matches!(
            n.op.as_str(),
            "Gemm"
                | "MatMul"
                | "Add"
                | "Sub"
                | "Mul"
                | "Div"
                | "Max"
                | "Mean"
                | "Sum"
                | "Conv"
                | "ConvTranspose"
                | "MaxPool"
                | "AveragePool"
                | "GlobalAveragePool"
                | "GlobalMaxPool"
                | "BatchNormalization"
                | "LRN"
                | "Flatten"
                | "Reshape"
                | "Transpose"
                | "Squeeze"
                | "Unsqueeze"
                | "Identity"
                | "Dropout"
                | "Concat"
                | "Slice"
                | "Pad"
                | "LSTM"
                | "RNN"
                | "Gather"
                | "Shape"
                | "Cast"
                // Label post-processing of classifiers (sklearn.rs).
                | "ArgMax"
                | "Constant"
                | "ConstantOfShape"
        )
}

/// Translates one node (not folded as a constant).
pub fn translate(cx: &mut Cx, n: &ForeignNode) -> Done {
    if !default_domain(n) {
        return sklearn::translate(cx, n);
    }
    // Nodes reading a value dropped as label post-processing are dropped too (sklearn.rs).
    if n.inputs.iter().any(|i| cx.dropped.contains(i)) {
        return sklearn::post_processing(cx, n);
    }
    if activation::OPS.contains(&n.op.as_str()) {
        return activation::translate(cx, n);
    }
    match n.op.as_str() {
        "Gemm" => dense::gemm(cx, n),
        "MatMul" => dense::matmul(cx, n),
        "Add" | "Sub" | "Mul" | "Div" | "Max" | "Mean" | "Sum" => merge::elementwise(cx, n),
        "Conv" => conv::conv(cx, n),
        "ConvTranspose" => conv::deconv(cx, n),
        "Pad" => conv::pad(cx, n),
        "MaxPool" | "AveragePool" => pool::pool(cx, n),
        "GlobalAveragePool" | "GlobalMaxPool" => pool::global(cx, n),
        "BatchNormalization" => norm::batch_norm(cx, n),
        "LRN" => norm::lrn(cx, n),
        "Flatten" => shape::flatten(cx, n),
        "Reshape" => shape::reshape(cx, n),
        "Transpose" => shape::transpose(cx, n),
        "Squeeze" => shape::squeeze(cx, n),
        "Unsqueeze" => shape::unsqueeze(cx, n),
        "Identity" | "Dropout" => shape::identity(cx, n),
        "Concat" => merge::concat(cx, n),
        // ArgMax: the class index of a classifier's scores, dropped as label post-processing;
        // Cast: a no-op between floating-point types (skl2onnx casts its input).
        "ArgMax" => sklearn::post_processing(cx, n),
        "Cast" => sklearn::cast(cx, n),
        "Slice" => merge::slice(cx, n),
        "Gather" => rnn::gather(cx, n),
        "LSTM" => rnn::lstm(cx, n),
        "RNN" => rnn::rnn(cx, n),
        "GRU" => Err("DL4J has no GRU layer".into()),
        "LogSoftmax" => Err("DL4J has no log-softmax activation".into()),
        "HardSwish" => Err("DL4J has no hard-swish activation".into()),
        "ConstantOfShape" => Err(
            "its shape is not known at conversion time, or the fill is larger than a folded constant may be"
                .into(),
        ),
        "Shape" | "Constant" => Err("a value computed from network data at run time".into()),
        _ => Err("no DL4J equivalent".into()),
    }
}

/// Layer classes whose outputs may be a time-major view of ONNX's.
const RECURRENT: &[&str] = &[
    "LSTM",
    "GravesLSTM",
    "SimpleRnn",
    "Bidirectional",
    "LastTimeStep",
];

/// DL4J loss class for a `--loss` name or an activation.
fn loss_json(name: &str) -> Option<Value> {
    let class = match name.to_ascii_uppercase().as_str() {
        "MCXENT" => {
            return Some(
                json!({"@class": "org.nd4j.linalg.lossfunctions.impl.LossMCXENT", "softmaxClipEps": 1.0e-10}),
            )
        }
        "NEGATIVELOGLIKELIHOOD" => {
            return Some(
                json!({"@class": "org.nd4j.linalg.lossfunctions.impl.LossNegativeLogLikelihood", "softmaxClipEps": 1.0e-10}),
            )
        }
        "XENT" => {
            return Some(
                json!({"@class": "org.nd4j.linalg.lossfunctions.impl.LossBinaryXENT", "clipEps": 1.0e-5}),
            )
        }
        "MSE" | "SQUARED_LOSS" => "LossMSE",
        "L1" => "LossL1",
        "L2" => "LossL2",
        "MAE" | "MEAN_ABSOLUTE_ERROR" => "LossMAE",
        "MAPE" | "MEAN_ABSOLUTE_PERCENTAGE_ERROR" => "LossMAPE",
        "MSLE" | "MEAN_SQUARED_LOGARITHMIC_ERROR" => "LossMSLE",
        "HINGE" => "LossHinge",
        "SQUARED_HINGE" => "LossSquaredHinge",
        "KL_DIVERGENCE" => "LossKLD",
        "COSINE_PROXIMITY" => "LossCosineProximity",
        "POISSON" => "LossPoisson",
        _ => return None,
    };
    Some(json!({ "@class": format!("org.nd4j.linalg.lossfunctions.impl.{class}") }))
}

/// Loss names `--loss` accepts.
pub const LOSSES: &[&str] = &[
    "MCXENT",
    "NEGATIVELOGLIKELIHOOD",
    "XENT",
    "MSE",
    "L1",
    "L2",
    "MAE",
    "MAPE",
    "MSLE",
    "HINGE",
    "SQUARED_HINGE",
    "KL_DIVERGENCE",
    "COSINE_PROXIMITY",
    "POISSON",
];

/// Makes every graph output a DL4J vertex of its own with the ONNX value's content, and turns
/// final dense layers into output layers. Returns the output vertex names in graph order.
pub fn finish_outputs(
    cx: &mut Cx,
    outputs: &[String],
    loss: Option<&str>,
) -> std::result::Result<Vec<String>, String> {
    if let Some(l) = loss {
        if loss_json(l).is_none() {
            return Err(format!("unknown loss {l:?} (known: {})", LOSSES.join(", ")));
        }
    }
    let mut names: Vec<String> = Vec::new();
    let mut loss_used = false;
    for (k, onnx) in outputs.iter().enumerate() {
        let sym = cx
            .net
            .syms()
            .get(onnx)
            .cloned()
            .ok_or_else(|| format!("output {onnx:?} is not available"))?;
        let needs_own = sym.pre.is_some()
            || cx.net.is_input(&sym.src)
            || names.contains(&sym.src)
            || outputs
                .iter()
                .take(k)
                .any(|o| cx.net.syms().get(o).is_some_and(|s| s.src == sym.src));
        let name = if needs_own {
            let layer = Layer::new("ActivationLayer", Family::Activation, Default::default());
            cx.net.add_layer(&format!("{onnx}_out"), &sym, layer)
        } else {
            sym.src.clone()
        };
        if sym.split.is_some() {
            return Err(format!(
                "output {onnx:?} keeps a bidirectional layer's directions on separate axes ({}); DL4J concatenates their features (reshape them together, as PyTorch does)",
                show(&sym.shape)
            ));
        }
        if !sym.is_unpermuted() {
            // Only recurrent layers legitimately reorder axes (ONNX's time-major layout vs
            // DL4J's [batch, features, time]); any other transpose would be a different array.
            let recurrent = matches!(
                cx.net.vertex(&sym.src).map(|v| &v.body),
                Some(Body::Layer(l))
                    if RECURRENT.contains(&l.class.rsplit('.').next().unwrap_or(l.class))
            );
            if !recurrent {
                return Err(format!(
                    "output {onnx:?} is a transposed view of a DL4J array (ONNX shape {}, DL4J {}); DL4J has no transpose layer",
                    show(&sym.shape),
                    show(&sym.dl4j_shape())
                ));
            }
        }
        if !sym.squeezed.is_empty() || !sym.is_unpermuted() {
            cx.notes.push(format!(
                "output {k} {onnx:?}: DL4J gives shape {} for ONNX shape {} (same values{})",
                show(&sym.dl4j_shape()),
                show(&sym.shape),
                if sym.is_unpermuted() {
                    ", size-1 axes left out"
                } else {
                    ", axes reordered"
                }
            ));
        }
        let is_leaf = cx.net.consumers(&name) == 0;
        if let Some(v) = cx.net.vertex_mut(&name) {
            if let Body::Layer(layer) = &mut v.body {
                if layer.class == "DenseLayer" && is_leaf {
                    let act = layer
                        .activation
                        .as_ref()
                        .map(|a| json::activation_class(a).to_string())
                        .unwrap_or_default();
                    let chosen = match (loss, act.as_str()) {
                        (Some(l), _) => loss_json(l),
                        (None, "ActivationSoftmax") => loss_json("MCXENT"),
                        (None, "ActivationSigmoid") => loss_json("XENT"),
                        (None, "ActivationIdentity") => loss_json("MSE"),
                        _ => None,
                    };
                    if let Some(loss_fn) = chosen {
                        layer.class = "OutputLayer";
                        layer.fields.remove("hasLayerNorm");
                        layer.fields.insert("lossFn".into(), loss_fn);
                        loss_used |= loss.is_some();
                    }
                }
            }
        }
        names.push(name);
    }
    if loss.is_some() && !loss_used {
        cx.notes.push(
            "--loss was not used: no network output is a dense layer that could become an output layer".into(),
        );
    }
    Ok(names)
}
