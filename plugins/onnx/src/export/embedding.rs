//! EmbeddingLayer and EmbeddingSequenceLayer (spec §9.4): rows of `W` gathered by the
//! (float-encoded) class indices, plus `b`, then the activation.

use super::activation::Activation;
use super::{batch, Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::{Attr, Dim};

pub fn embedding(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let layer = ctx.layer;
    let sequence = layer.type_name == "EmbeddingSequenceLayer";
    let act = Activation::of_layer(layer)?;
    let w = ctx.param(b, "W")?;
    // EmbeddingLayer's missing hasBias means true, EmbeddingSequenceLayer's false.
    let bias = if layer.bool("hasBias").unwrap_or(!sequence) {
        Some(ctx.param(b, "b")?)
    } else {
        None
    };
    let n_out = layer
        .n_out()
        .filter(|&n| n > 0)
        .map_or(Dim::Unknown, |n| Dim::Fixed(n as usize));
    let idx = b.op("Cast", &[&x.name], vec![("to", Attr::Int(7))]);
    // [mb, 1] -> [mb]; [mb, T] or [mb, 1, T] -> [mb, T].
    let shape = if sequence {
        b.ints(&[0, -1])
    } else {
        b.ints(&[-1])
    };
    let idx = b.op("Reshape", &[&idx, &shape], Vec::new());
    let mut z = b.op("Gather", &[&w, &idx], vec![("axis", Attr::Int(0))]);
    if let Some(bias) = bias {
        z = b.op("Add", &[&z, &bias], Vec::new());
    }
    let y = act.apply(b, &z)?;
    if !sequence {
        return Ok(Value::new(y, Kind::FeedForward, vec![batch(), n_out]));
    }
    let t = Dim::Named("time".into());
    if layer.str("outputFormat") == Some("NWC") {
        Ok(Value::new(
            y,
            Kind::Rnn { nwc: true },
            vec![batch(), t, n_out],
        ))
    } else {
        let y = b.op(
            "Transpose",
            &[&y],
            vec![("perm", Attr::Ints(vec![0, 2, 1]))],
        );
        Ok(Value::new(
            y,
            Kind::Rnn { nwc: false },
            vec![batch(), n_out, t],
        ))
    }
}
