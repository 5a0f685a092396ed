//! Convolutional layers (spec §9.5-§9.12, §9.20-§9.23, 3-D), NCHW and NHWC.

use dl4j_core::config::LayerConf;

use super::{Builder, LayerCtx, Translated, Value};

/// Layer types this module translates.
const TYPES: &[&str] = &[];

pub fn handles(type_name: &str) -> bool {
    TYPES.contains(&type_name)
}

/// The network input a convolutional first layer expects, `None` for other layers.
pub fn input_for(_name: &str, _layer: &LayerConf) -> Option<Value> {
    None
}

pub fn layer(_b: &mut Builder, ctx: &LayerCtx, _x: &Value) -> Translated {
    Err(format!(
        "{} is not translated to ONNX yet",
        ctx.layer.type_name
    ))
}
