//! Feed-forward layers (DefaultParamInitializer and relatives): `W` `[nIn, nOut]` in `f` order,
//! then the bias.

use super::spec::{in_order, Ctx, LayerParams, UpdaterRef, Variant, R};
use crate::tensor::Order;

/// Dense, Output, RnnOutput, Embedding and EmbeddingSequence layers.
pub(super) fn dense(c: &Ctx) -> R<LayerParams> {
    let t = c.l.type_name.as_str();
    let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
    let mut v = vec![c.w("W", vec![nin, nout], Order::F)];
    // Field defaults of the no-arg constructors: only EmbeddingSequenceLayer has no bias.
    if c.has_bias(t != "EmbeddingSequenceLayer") {
        v.push(c.b("b", nout));
    }
    if t == "DenseLayer" && c.l.bool("hasLayerNorm").unwrap_or(false) {
        v.push(c.p("g", vec![nout], Order::C, false));
    }
    Ok(in_order(v))
}

/// CenterLossOutputLayer: `W`, `b` (always, whatever `hasBias` says), class centers `cL`.
pub(super) fn center_loss(c: &Ctx) -> R<LayerParams> {
    let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
    // Its updater override: `b` ignores biasUpdater and the centers get no updater state.
    let mut centers = c.w("cL", vec![nout, nin], Order::C);
    centers.updater = UpdaterRef::NoOp;
    Ok(in_order(vec![
        c.w("W", vec![nin, nout], Order::F),
        c.w("b", vec![nout], Order::C),
        centers,
    ]))
}

/// AutoEncoder / RBM: `W`, `b`, and the visible bias `vb` (a pretrain parameter, in the flat
/// vector from 0.7.1 on).
pub(super) fn pretrain(c: &Ctx, variant: Variant) -> R<LayerParams> {
    let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
    let v = vec![c.w("W", vec![nin, nout], Order::F), c.b("b", nout)];
    // Not a "bias param" for biasUpdater purposes.
    let key = if variant.pretrain_visible_bias {
        "vb"
    } else {
        "bB"
    };
    let mut vb = c.w(key, vec![nin], Order::C);
    vb.pretrain = true;
    let mut params = in_order(v);
    params.table.push(key.into());
    if variant.pretrain_visible_bias {
        params.memory.push(vb);
    } else {
        // 0.5.0-0.7.0 kept it outside the flat vector, but its updater state was saved.
        params.state_only.push(vb);
    }
    Ok(params)
}

/// ElementWiseMultiplicationLayer: `W` and `b`, both `[nIn]`.
pub(super) fn elementwise(c: &Ctx) -> R<LayerParams> {
    let n = c.dim("nin")?;
    Ok(in_order(vec![c.w("W", vec![n], Order::C), c.b("b", n)]))
}

/// PReLULayer: alpha of `inputShape` with every shared axis (1-based, batch excluded) set to 1,
/// stored in `f` order.
pub(super) fn prelu(c: &Ctx) -> R<LayerParams> {
    let mut shape = c.ints("inputShape")?;
    if let Some(axes) = c.l.ints("sharedAxes") {
        for a in axes {
            let i = a
                .checked_sub(1)
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| format!("PReLULayer: bad shared axis {a}"))?;
            if let Some(d) = shape.get_mut(i) {
                *d = 1;
            }
        }
    }
    Ok(in_order(vec![c.w("W", shape, Order::F)]))
}

/// OCNNOutputLayer: `w [1, K]`, `v [nIn, K]` (`f`), `r` (one value).
pub(super) fn ocnn(c: &Ctx) -> R<LayerParams> {
    let nin = c.dim("nin")?;
    let hidden = c.dim("hiddenSize")?;
    Ok(in_order(vec![
        c.w("w", vec![1, hidden], Order::C),
        c.w("v", vec![nin, hidden], Order::F),
        c.w("r", vec![1], Order::C),
    ]))
}
