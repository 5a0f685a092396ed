//! VariationalAutoencoder at inference (spec §9, DL4J `VariationalAutoencoder.activate`): the
//! encoder stack, then the mean of p(z|x) through `pzxActivationFn`.

use serde_json::Value as Json;

use super::activation::Activation;
use super::{batch, Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::Dim;

pub fn vae(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let layer = ctx.layer;
    let act = Activation::of_layer(layer)?;
    let pzx = Activation::parse(
        layer.get("pzxActivationFn"),
        layer.str("pzxActivationFunction"),
    )?;
    let sizes = layer
        .get("encoderLayerSizes")
        .and_then(Json::as_array)
        .ok_or("no encoderLayerSizes")?
        .len();
    let param = |b: &Builder, key: &str| ctx.param(b, key);
    let mut h = x.name.clone();
    for i in 0..sizes {
        let w = param(b, &format!("e{i}W"))?;
        let bias = param(b, &format!("e{i}b"))?;
        let z = b.op("MatMul", &[&h, &w], Vec::new());
        let z = b.op("Add", &[&z, &bias], Vec::new());
        h = act.apply(b, &z)?;
    }
    let w = param(b, "pZXMeanW")?;
    let bias = param(b, "pZXMeanb")?;
    let z = b.op("MatMul", &[&h, &w], Vec::new());
    let z = b.op("Add", &[&z, &bias], Vec::new());
    let n_out = layer
        .n_out()
        .filter(|&n| n > 0)
        .map_or(Dim::Unknown, |n| Dim::Fixed(n as usize));
    Ok(Value::new(
        pzx.apply(b, &z)?,
        Kind::FeedForward,
        vec![batch(), n_out],
    ))
}
