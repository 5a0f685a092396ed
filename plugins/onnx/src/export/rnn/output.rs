//! RnnOutputLayer (spec §9.18): `act(x_t·W + b)` per time step; RnnLossLayer: the activation
//! alone. Both apply the activation with features last, so softmax runs over features.

use super::super::activation::Activation;
use super::{nwc, Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::{Attr, Dim};

pub(super) fn layer(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let layer = ctx.layer;
    let nwc = nwc(layer);
    let act = Activation::of_layer(layer)?;
    // NCW [batch, C, T] <-> [batch, T, C]: the same swap both ways.
    let swap = |b: &mut Builder, v: &str| {
        b.op("Transpose", &[v], vec![("perm", Attr::Ints(vec![0, 2, 1]))])
    };
    let mut z = if nwc {
        x.name.clone()
    } else {
        swap(b, &x.name)
    };
    let (t_axis, c_axis) = if nwc { (1, 2) } else { (2, 1) };
    let mut width = x.dims.get(c_axis).cloned().unwrap_or(Dim::Unknown);
    if layer.type_name == "RnnOutputLayer" {
        let w = ctx.param(b, "W")?;
        z = b.op("MatMul", &[&z, &w], Vec::new());
        if layer.bool("hasBias").unwrap_or(true) {
            let bias = ctx.param(b, "b")?;
            let shape = b.ints(&[-1]);
            let flat = b.op("Reshape", &[&bias, &shape], Vec::new());
            z = b.op("Add", &[&z, &flat], Vec::new());
        }
        width = layer
            .n_out()
            .filter(|&n| n > 0)
            .map_or(Dim::Unknown, |n| Dim::Fixed(n as usize));
    }
    let y = act.apply(b, &z)?;
    let y = if nwc { y } else { swap(b, &y) };
    let time = x
        .dims
        .get(t_axis)
        .cloned()
        .unwrap_or(Dim::Named("time".into()));
    let dims = if nwc {
        vec![super::batch(), time, width]
    } else {
        vec![super::batch(), width, time]
    };
    Ok(Value::new(y, Kind::Rnn { nwc }, dims))
}
