//! VariationalAutoencoder at inference (spec §9, DL4J `VariationalAutoencoder.activate`): the
//! encoder stack, then the mean of p(z|x) through `pzxActivationFn`.

use dl4j_core::config::LayerConf;
use serde_json::Value;

use super::activation::Activation;
use super::Builder;

pub fn vae(
    b: &mut Builder,
    index: &str,
    layer: &LayerConf,
    x: &str,
) -> Result<(String, Option<usize>), String> {
    let act = Activation::of_layer(layer)?;
    let pzx = Activation::parse(
        layer.get("pzxActivationFn"),
        layer.str("pzxActivationFunction"),
    )?;
    let sizes = layer
        .get("encoderLayerSizes")
        .and_then(Value::as_array)
        .ok_or("no encoderLayerSizes")?
        .len();
    let param = |b: &Builder, key: &str| {
        b.param(&format!("{index}_{key}"))
            .map_err(|e| e.to_string())
    };
    let mut h = x.to_string();
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
    Ok((pzx.apply(b, &z)?, layer.n_out().map(|n| n as usize)))
}
