//! ComputationGraph vertices (spec §12).

use std::collections::HashMap;

use dl4j_core::config::Node as NetNode;

use super::{layer_op, Builder, LayerCtx, Translated, Value};

pub fn apply(
    b: &mut Builder,
    node: &NetNode,
    ins: &[Value],
    _values: &HashMap<String, Value>,
) -> Translated {
    let vt = node.vertex_type.as_deref().unwrap_or("?");
    match (vt, &node.layer) {
        ("LayerVertex" | "FrozenVertex", Some(layer)) => {
            let [x] = ins else {
                return Err(format!("a layer vertex takes one input, not {}", ins.len()));
            };
            let mut x = x.clone();
            if let Some(p) = node.body.get("preProcessor").filter(|p| !p.is_null()) {
                x = super::preprocess::apply(b, p, &x)?;
            }
            layer_op(
                b,
                &LayerCtx {
                    prefix: &node.name,
                    layer,
                },
                &x,
            )
        }
        _ => Err(format!("{vt} is not translated to ONNX yet")),
    }
}
