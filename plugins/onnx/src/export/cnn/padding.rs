//! ZeroPaddingLayer / ZeroPadding1DLayer and Cropping2D / Cropping1D (§9.9) on channels-first
//! input: `Pad` and `Slice` over the spatial axes.

use super::super::{Builder, LayerCtx};
use crate::proto::Attr;

/// `[top, bottom, left, right]` (2-D) or `[left, right]` (1-D): begin/end per spatial axis. A
/// single number pads every side (DL4J's builder expands it the same way).
fn sides(ctx: &LayerCtx, key: &str, spatial: usize) -> Result<Vec<(i64, i64)>, String> {
    let v = ctx.layer.ints(key).ok_or_else(|| format!("no {key}"))?;
    let v = match *v.as_slice() {
        [p] => vec![p; 2 * spatial],
        // 2-D shorthand [vertical, horizontal].
        [vertical, horizontal] if spatial == 2 => {
            vec![vertical, vertical, horizontal, horizontal]
        }
        _ if v.len() == 2 * spatial => v,
        _ => {
            return Err(format!(
                "{key} {v:?} must have 1 or {} entries",
                2 * spatial
            ))
        }
    };
    if v.iter().any(|&p| p < 0) {
        return Err(format!("negative {key} {v:?}"));
    }
    // `v` has 2·spatial entries: every chunk is a full (begin, end) pair.
    let (pairs, _) = v.as_chunks::<2>();
    Ok(pairs.iter().map(|&[begin, end]| (begin, end)).collect())
}

pub(super) fn zero_padding(
    b: &mut Builder,
    ctx: &LayerCtx,
    x: &str,
    spatial: usize,
) -> Result<String, String> {
    let s = sides(ctx, "padding", spatial)?;
    // ONNX pads: all begins then all ends, batch and channel unpadded.
    let mut pads = vec![0, 0];
    pads.extend(s.iter().map(|p| p.0));
    pads.extend([0, 0]);
    pads.extend(s.iter().map(|p| p.1));
    let pads = b.ints(&pads);
    Ok(b.op(
        "Pad",
        &[x, &pads],
        vec![("mode", Attr::Str("constant".into()))],
    ))
}

pub(super) fn cropping(
    b: &mut Builder,
    ctx: &LayerCtx,
    x: &str,
    spatial: usize,
) -> Result<String, String> {
    let s = sides(ctx, "cropping", spatial)?;
    let starts: Vec<i64> = s.iter().map(|p| p.0).collect();
    // End -0 would be empty: no crop at the end means "to the end".
    let ends: Vec<i64> = s
        .iter()
        .map(|p| if p.1 == 0 { i64::MAX } else { -p.1 })
        .collect();
    let axes: Vec<i64> = (2..2 + spatial as i64).collect();
    let (st, en, ax) = (b.ints(&starts), b.ints(&ends), b.ints(&axes));
    Ok(b.op("Slice", &[x, &st, &en, &ax], vec![]))
}
