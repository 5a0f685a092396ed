//! ElementWiseMultiplicationLayer (`act(x ⊙ W + b)`) and PReLULayer (`x ≥ 0 ? x : α ⊙ x`),
//! spec §9.24-§9.25. Parameters are exported in their logical shapes, so they broadcast over
//! the batch dimension directly.

use super::activation::Activation;
use super::{Builder, LayerCtx, Translated, Value};

pub fn layer(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let w = ctx.param(b, "W")?;
    if ctx.layer.type_name == "PReLULayer" {
        // Composed rather than ONNX PRelu: the same math, and f64 runs everywhere.
        let zero = b.scalar(0.0);
        let keep = b.op("GreaterOrEqual", &[&x.name, &zero], Vec::new());
        let scaled = b.op("Mul", &[&x.name, &w], Vec::new());
        let y = b.op("Where", &[&keep, &x.name, &scaled], Vec::new());
        return Ok(Value::new(y, x.kind, x.dims.clone()));
    }
    let act = Activation::of_layer(ctx.layer)?;
    let bias = ctx.param(b, "b")?;
    let z = b.op("Mul", &[&x.name, &w], Vec::new());
    let z = b.op("Add", &[&z, &bias], Vec::new());
    Ok(Value::new(act.apply(b, &z)?, x.kind, x.dims.clone()))
}
