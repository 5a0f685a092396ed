//! DenseLayer, OutputLayer, CenterLossOutputLayer (spec §9.1-§9.2): `act(x·W + b)`, with DL4J's
//! layer norm (population std, no epsilon, NaN -> 0) when `hasLayerNorm`.

use super::activation::Activation;
use super::{batch, Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::Dim;

pub fn dense(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let layer = ctx.layer;
    if x.kind != Kind::FeedForward && x.kind != Kind::Any {
        // Configurations from before automatic preprocessors can lack the CnnToFeedForward
        // step; DL4J's x·W has no defined meaning for them, so there is nothing to reproduce.
        return Err(format!(
            "its input is {} data but a dense layer needs [batch, features], and the configuration has no preprocessor in between (DL4J's dense math multiplies a matrix input too; add a CnnToFeedForward or RnnToFeedForward preprocessor)",
            match x.kind {
                Kind::Cnn { .. } | Kind::Cnn3d { .. } => "convolutional",
                Kind::Rnn { .. } => "recurrent",
                _ => "other",
            }
        ));
    }
    let act = Activation::of_layer(layer)?;
    let n_out = layer
        .n_out()
        .filter(|&n| n > 0)
        .map_or(Dim::Unknown, |n| Dim::Fixed(n as usize));
    let w = ctx.param(b, "W")?;
    let has_bias = layer.bool("hasBias").unwrap_or(true);
    let bias = if has_bias {
        Some(ctx.param(b, "b")?)
    } else {
        None
    };
    let layer_norm = layer.bool("hasLayerNorm").unwrap_or(false);
    let mut z = b.op("MatMul", &[&x.name, &w], Vec::new());
    if layer_norm {
        let g = ctx.param(b, "g")?;
        z = b.standardize_rows(&z);
        z = b.op("Mul", &[&z, &g], Vec::new());
    }
    if let Some(bias) = bias {
        z = b.op("Add", &[&z, &bias], Vec::new());
    }
    Ok(Value::new(
        act.apply(b, &z)?,
        Kind::FeedForward,
        vec![batch(), n_out],
    ))
}
