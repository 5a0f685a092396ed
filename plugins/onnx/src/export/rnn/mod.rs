//! Recurrent layers (spec §9.13-§9.19), NCW and NWC.

use dl4j_core::config::LayerConf;

use super::{Builder, LayerCtx, Translated, Value};

/// Layer types this module translates.
const TYPES: &[&str] = &[];

pub fn handles(type_name: &str) -> bool {
    TYPES.contains(&type_name)
}

/// The network input a recurrent first layer expects, `None` for other layers.
pub fn input_for(_name: &str, _layer: &LayerConf) -> Option<Value> {
    None
}

pub fn layer(_b: &mut Builder, ctx: &LayerCtx, _x: &Value) -> Translated {
    Err(format!(
        "{} is not translated to ONNX yet",
        ctx.layer.type_name
    ))
}
