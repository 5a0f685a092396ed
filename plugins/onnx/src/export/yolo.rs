//! Yolo2OutputLayer (object detection output).

use super::{Builder, LayerCtx, Translated, Value};

pub fn layer(_b: &mut Builder, ctx: &LayerCtx, _x: &Value) -> Translated {
    Err(format!("{} is not translated to ONNX yet", ctx.layer.type_name))
}
