//! Input preprocessors (spec §11).

use serde_json::Value as Json;

use super::{Builder, Translated, Value};

/// The network input a preprocessor expects, when it says.
pub fn input_for(_name: &str, _pre: &Json) -> Option<Value> {
    None
}

pub fn apply(_b: &mut Builder, pre: &Json, _x: &Value) -> Translated {
    Err(format!(
        "preprocessor {} is not translated to ONNX yet",
        super::class_of(pre)
    ))
}
