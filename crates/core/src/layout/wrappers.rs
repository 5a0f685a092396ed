//! Wrapper layers: Bidirectional (the wrapped layer twice, keys prefixed `f` and `b`) and the
//! wrappers that add nothing to the layout (LastTimeStep, MaskZero, TimeDistributed, Frozen).

use super::layers::layer_params_in;
use super::spec::{Known, LayerParams, ParamSpec, Variant, R};
use crate::config::LayerConf;

/// Most parameter arrays (not values) one Bidirectional layer may have. Each nesting level doubles the count, so a
/// hostile configuration of nested Bidirectional wrappers would otherwise exhaust memory.
const MAX_BIDIRECTIONAL_PARAMS: usize = 1 << 16;

pub(super) fn bidirectional(l: &LayerConf, variant: Variant, frozen: bool) -> R<Known> {
    let fwd = l.inner("fwd").ok_or("Bidirectional without \"fwd\"")?;
    let f = layer_params_in(&fwd, variant, frozen)?;
    let b = l
        .inner("bwd")
        .map(|bwd| layer_params_in(&bwd, variant, frozen))
        .transpose()?;
    let Known::Params(f) = f else {
        return Ok(Known::Unknown);
    };
    // Without "bwd" the backward layer is the forward one (laid out once, not twice per level).
    let b = match b {
        None => f.clone(),
        Some(Known::Params(b)) => b,
        Some(Known::Unknown) => return Ok(Known::Unknown),
    };
    if f.memory.len().saturating_add(b.memory.len()) > MAX_BIDIRECTIONAL_PARAMS {
        return Err(format!(
            "Bidirectional: more than {MAX_BIDIRECTIONAL_PARAMS} parameter arrays (nested too deeply?)"
        ));
    }
    let mut out = LayerParams::default();
    for (half, prefix) in [(f, "f"), (b, "b")] {
        out.memory
            .extend(half.memory.into_iter().map(|s| ParamSpec {
                key: format!("{prefix}{}", s.key),
                ..s
            }));
        out.table
            .extend(half.table.iter().map(|k| format!("{prefix}{k}")));
    }
    Ok(Known::Params(out))
}

/// LastTimeStep, MaskZeroLayer, TimeDistributed, FrozenLayerWithBackprop, FrozenLayer: exactly
/// the wrapped layer's parameters. Frozen layers get no updater state from 1.0.0-beta2 on.
pub(super) fn transparent(l: &LayerConf, variant: Variant, frozen: bool) -> R<Known> {
    let t = l.type_name.as_str();
    let (inner, frozen) = if t == "FrozenLayer" {
        (l.inner("layer"), true)
    } else {
        // FrozenLayerWithBackprop writes `underlying` but DL4J also accepts `layer`.
        (l.inner("underlying").or_else(|| l.inner("layer")), frozen)
    };
    let inner = inner.ok_or_else(|| format!("{t} without its wrapped layer"))?;
    layer_params_in(&inner, variant, frozen)
}
