//! VariationalAutoencoder: encoder, p(z|x) mean and log-variance, decoder, p(x|z); every weight
//! `[in, out]` in `f` order. Log-variance, decoder and p(x|z) are pretrain parameters.

use serde_json::Value;

use super::spec::{in_order, Ctx, LayerParams, MAX_DIM, R};
use crate::config::as_int;
use crate::tensor::Order;

/// Number of network outputs a VAE reconstruction distribution needs per input feature.
fn distribution_input_size(dist: Option<&Value>, n_in: usize) -> R<usize> {
    let Some(d) = dist.filter(|v| !v.is_null()) else {
        return Err("VariationalAutoencoder: missing outputDistribution".into());
    };
    let obj = d
        .as_object()
        .ok_or("VariationalAutoencoder: bad outputDistribution")?;
    let (name, body) = match obj.get("@class").and_then(Value::as_str) {
        Some(cls) => (crate::config::names::simple_name(cls).to_string(), d),
        None => {
            // Legacy style: a single-key wrapper object.
            let mut entries = obj.iter();
            match (entries.next(), entries.next()) {
                (Some((k, v)), None) => (k.clone(), v),
                _ => return Err("VariationalAutoencoder: unreadable outputDistribution".into()),
            }
        }
    };
    match name.as_str() {
        "GaussianReconstructionDistribution" | "Gaussian" => n_in.checked_mul(2).ok_or_else(|| {
            format!("VariationalAutoencoder: Gaussian distribution of {n_in} inputs is too large")
        }),
        "BernoulliReconstructionDistribution"
        | "Bernoulli"
        | "ExponentialReconstructionDistribution"
        | "Exponential"
        | "LossFunctionWrapper"
        | "LossWrapper" => Ok(n_in),
        "CompositeReconstructionDistribution" | "Composite" => {
            let sizes = body
                .get("distributionSizes")
                .and_then(Value::as_array)
                .ok_or("Composite distribution without distributionSizes")?;
            let dists = body
                .get("reconstructionDistributions")
                .and_then(Value::as_array)
                .ok_or("Composite distribution without reconstructionDistributions")?;
            if sizes.len() != dists.len() {
                return Err(
                    "Composite distribution: sizes and distributions differ in length".into(),
                );
            }
            sizes.iter().zip(dists).try_fold(0usize, |acc, (s, d)| {
                let s = as_int(s)
                    .and_then(|s| usize::try_from(s).ok())
                    .filter(|&s| s <= MAX_DIM)
                    .ok_or_else(|| format!("Composite distribution: bad size {s}"))?;
                let size = distribution_input_size(Some(d), s)?;
                acc.checked_add(size)
                    .ok_or_else(|| "Composite distribution: sizes are too large".to_string())
            })
        }
        other => Err(format!(
            "VariationalAutoencoder: unknown reconstruction distribution {other}"
        )),
    }
}

pub(super) fn vae(c: &Ctx) -> R<LayerParams> {
    let f = Order::F;
    let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
    let enc = c.ints("encoderLayerSizes")?;
    let dec = c.ints("decoderLayerSizes")?;
    let mut v = Vec::new();
    let mut prev = nin;
    for (i, &s) in enc.iter().enumerate() {
        v.push(c.w(&format!("e{i}W"), vec![prev, s], f));
        v.push(c.b(&format!("e{i}b"), s));
        prev = s;
    }
    v.push(c.w("pZXMeanW", vec![prev, nout], f));
    v.push(c.b("pZXMeanb", nout));
    let mut pre = vec![
        c.w("pZXLogStd2W", vec![prev, nout], f),
        c.b("pZXLogStd2b", nout),
    ];
    let mut prev = nout;
    for (i, &s) in dec.iter().enumerate() {
        pre.push(c.w(&format!("d{i}W"), vec![prev, s], f));
        pre.push(c.b(&format!("d{i}b"), s));
        prev = s;
    }
    let dist = distribution_input_size(c.l.get("outputDistribution"), nin)?;
    pre.push(c.w("pXZW", vec![prev, dist], f));
    pre.push(c.b("pXZb", dist));
    for p in &mut pre {
        p.pretrain = true;
    }
    v.extend(pre);
    Ok(in_order(v))
}
