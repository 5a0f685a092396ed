//! BatchNormalization (§9.11, inference) and LocalResponseNormalization (§9.12).

use super::super::{Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::Attr;

/// `y = gamma·(x - mean)/sqrt(var + eps) + beta` over the channel axis of any layout, with
/// elementwise ops (ONNX BatchNormalization is channels-first only and wants `var`, while DL4J
/// may store `log10stdev`). The layer's activation is not applied: DL4J does not.
pub(super) fn batch_norm(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let layer = ctx.layer;
    // Shape a per-channel `[C]` parameter broadcasts with.
    let shape: Vec<i64> = match x.kind {
        Kind::FeedForward
        | Kind::Cnn { nhwc: true }
        | Kind::Rnn { nwc: true }
        | Kind::Cnn3d { ndhwc: true } => vec![-1],
        Kind::Cnn { nhwc: false } => vec![-1, 1, 1],
        // DL4J normalizes [b, C, T] per channel (axis 1).
        Kind::Rnn { nwc: false } => vec![-1, 1],
        Kind::Cnn3d { ndhwc: false } => vec![-1, 1, 1, 1],
        Kind::Any => Vec::new(),
    };
    let shape = if x.kind == Kind::Any {
        // Rank known only at run time (a network that starts with this layer): channels on
        // axis 1, as DL4J's default layouts have them; `[-1, 1, ..., 1]` built from the rank.
        let s = b.op("Shape", &[&x.name], vec![]);
        let r = b.op("Shape", &[&s], vec![]);
        let two = b.ints(&[2]);
        let k = b.op("Sub", &[&r, &two], vec![]);
        let one = dl4j_core::Tensor::vector(dl4j_core::TensorData::I64(vec![1]));
        let ones = b.op("ConstantOfShape", &[&k], vec![("value", Attr::Tensor(one))]);
        let m1 = b.ints(&[-1]);
        b.op("Concat", &[&m1, &ones], vec![("axis", Attr::Int(0))])
    } else {
        b.ints(&shape)
    };
    let per_channel = |b: &mut Builder, p: String| b.op("Reshape", &[&p, &shape], vec![]);
    let eps = layer
        .get("eps")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(1e-5);
    let mean = ctx.param(b, "mean")?;
    // The stored variant decides (useLogStd is overridden from `variables` on load).
    let var = match ctx.param(b, "var") {
        Ok(v) => v,
        Err(_) => {
            let l = ctx.param(b, "log10stdev")?;
            let ten = b.scalar(10.0);
            let std = b.op("Pow", &[&ten, &l], vec![]);
            b.op("Mul", &[&std, &std], vec![])
        }
    };
    let e = b.scalar(eps);
    let v = b.op("Add", &[&var, &e], vec![]);
    let std = b.op("Sqrt", &[&v], vec![]);
    let mean = per_channel(b, mean);
    let std = per_channel(b, std);
    let c = b.op("Sub", &[&x.name, &mean], vec![]);
    let mut y = b.op("Div", &[&c, &std], vec![]);
    if layer.bool("lockGammaBeta").unwrap_or(false) {
        let num = |k: &str, d: f64| {
            layer
                .get(k)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(d)
        };
        let (gamma, beta) = (num("gamma", 1.0), num("beta", 0.0));
        // DL4J applies the constants only when both differ from the defaults.
        if gamma != 1.0 && beta != 0.0 {
            let (g, bt) = (b.scalar(gamma), b.scalar(beta));
            let m = b.op("Mul", &[&y, &g], vec![]);
            y = b.op("Add", &[&m, &bt], vec![]);
        }
    } else {
        let g = ctx.param(b, "gamma")?;
        let bt = ctx.param(b, "beta")?;
        let g = per_channel(b, g);
        let bt = per_channel(b, bt);
        let m = b.op("Mul", &[&y, &g], vec![]);
        y = b.op("Add", &[&m, &bt], vec![]);
    }
    Ok(Value::new(y, x.kind, x.dims.clone()))
}

/// `y = x·(k + alpha·Σ_{|j-c|≤h} x_j²)^(-beta)` with `h = ⌊n/2⌋`; ONNX LRN divides alpha by
/// the size, DL4J does not, so alpha is scaled by `2h + 1`.
pub(super) fn lrn(b: &mut Builder, ctx: &LayerCtx, x: &str) -> Result<String, String> {
    let layer = ctx.layer;
    let num = |k: &str, d: f64| {
        layer
            .get(k)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(d)
    };
    let n = num("n", 5.0);
    let half = (n / 2.0).floor();
    // DL4J's n is a window size: a huge, negative or non-finite one has no ONNX LRN size.
    if !(0.0..=f64::from(i32::MAX)).contains(&half) {
        return Err(format!("LRN window size n = {n} is out of range"));
    }
    let size = 2 * half as i64 + 1;
    let attrs = vec![
        ("size", Attr::Int(size)),
        (
            "alpha",
            Attr::Float((num("alpha", 1e-4) * size as f64) as f32),
        ),
        ("beta", Attr::Float(num("beta", 0.75) as f32)),
        ("bias", Attr::Float(num("k", 2.0) as f32)),
    ];
    Ok(b.op("LRN", &[x], attrs))
}
