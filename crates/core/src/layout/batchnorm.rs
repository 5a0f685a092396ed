//! BatchNormalization: `gamma`, `beta` (unless locked), then the running mean and either the
//! variance or log10 of the standard deviation. Running statistics get no updater state.

use super::spec::{in_order, Ctx, LayerParams, UpdaterRef, Variant, R};
use crate::tensor::Order;

pub(super) fn batch_norm(c: &Ctx, variant: Variant) -> R<LayerParams> {
    let n = c.dim("nout")?;
    let mut v = Vec::new();
    if !c.l.bool("lockGammaBeta").unwrap_or(false) {
        v.push(c.p("gamma", vec![n], Order::C, false));
        v.push(c.p("beta", vec![n], Order::C, false));
    }
    // DL4J <= 0.5.0 did not store the running statistics.
    if variant.bn_global_stats {
        // DL4J decides from the NNC's `variables`, not from `useLogStd` (spec config §6.2).
        let log_std = !c.l.variables().contains(&"var");
        for key in ["mean", if log_std { "log10stdev" } else { "var" }] {
            let mut p = c.p(key, vec![n], Order::C, false);
            p.updater = UpdaterRef::NoOp;
            v.push(p);
        }
    }
    Ok(in_order(v))
}
