//! OCNNOutputLayer (one-class neural network output).
//!
//! DL4J's `doOutput` at inference: `act(x · v) · w` with `v [nIn, K]`, `w [1, K]` as a vector,
//! giving one score per example: a rank-1 `[mb]` output. `r` is only used by the loss.

use super::activation::Activation;
use super::{batch, Builder, Kind, LayerCtx, Translated, Value};

pub fn layer(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    if x.kind != Kind::FeedForward && x.kind != Kind::Any {
        return Err("its input is not [batch, features] data".into());
    }
    let act = Activation::of_layer(ctx.layer)?;
    let v = ctx.param(b, "v")?;
    let w = ctx.param(b, "w")?;
    let h = b.op("MatMul", &[&x.name, &v], Vec::new());
    let a = act.apply(b, &h)?;
    // w [1, K] -> [K]: MatMul of [mb, K] with a vector gives [mb].
    let flat = b.ints(&[-1]);
    let wv = b.op("Reshape", &[&w, &flat], Vec::new());
    let y = b.op("MatMul", &[&a, &wv], Vec::new());
    Ok(Value::new(y, Kind::FeedForward, vec![batch()]))
}
