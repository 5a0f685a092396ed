//! Upsampling2D / Upsampling1D (§9.8) and SpaceToDepthLayer (§9.23), channels-first input.

use super::super::{Builder, LayerCtx, Value};
use crate::proto::{Attr, Dim};

/// Nearest-neighbour repeat `y[h] = x[⌊h/s⌋]`: `Resize` nearest with asymmetric coordinates and
/// floor rounding is exactly that (`Upsample` is deprecated and unsupported by tract).
pub(super) fn upsampling(
    b: &mut Builder,
    ctx: &LayerCtx,
    x: &str,
    spatial: usize,
) -> Result<String, String> {
    let size = ctx.layer.ints("size").ok_or("no size")?;
    let size: Vec<i64> = match (size.as_slice(), size.get(..spatial)) {
        // 1.0.0-alpha wrote a single int for both axes.
        (&[s], _) => vec![s; spatial],
        (_, Some(first)) => first.to_vec(),
        (_, None) => return Err(format!("size {size:?} has fewer than {spatial} entries")),
    };
    if size.iter().any(|&s| s < 1) {
        return Err(format!("size {size:?}"));
    }
    let mut scales = vec![1.0, 1.0];
    scales.extend(size.iter().map(|&s| s as f64));
    // Resize scales are always float32, whatever the data type.
    let c = b.tensor(&[scales.len()], &scales);
    let scales = b.op("Cast", &[&c], vec![("to", Attr::Int(1))]);
    Ok(b.op(
        "Resize",
        &[x, "", &scales],
        vec![
            ("mode", Attr::Str("nearest".into())),
            (
                "coordinate_transformation_mode",
                Attr::Str("asymmetric".into()),
            ),
            ("nearest_mode", Attr::Str("floor".into())),
        ],
    ))
}

/// Output channel `(by·bs + bx)·C + c`, ONNX `SpaceToDepth`'s (DCR) order.
pub(super) fn space_to_depth(
    b: &mut Builder,
    ctx: &LayerCtx,
    x: &str,
    input: &Value,
) -> Result<(String, Option<Dim>), String> {
    let bs = ctx
        .layer
        .int("blockSize")
        .filter(|&n| n > 0)
        .ok_or("no blockSize")?;
    let c_axis = if matches!(input.kind, super::super::Kind::Cnn { nhwc: true }) {
        3
    } else {
        1
    };
    let channels = match input.dims.get(c_axis) {
        Some(Dim::Fixed(c)) => {
            let out = usize::try_from(bs)
                .ok()
                .and_then(|bs| bs.checked_mul(bs))
                .and_then(|area| c.checked_mul(area))
                .ok_or_else(|| {
                    format!("blockSize {bs} with {c} input channels overflows the channel count")
                })?;
            Some(Dim::Fixed(out))
        }
        _ => None,
    };
    Ok((
        b.op("SpaceToDepth", &[x], vec![("blocksize", Attr::Int(bs))]),
        channels,
    ))
}
