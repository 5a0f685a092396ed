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
    let size: Vec<i64> = match size.len() {
        // 1.0.0-alpha wrote a single int for both axes.
        1 => vec![size[0]; spatial],
        n if n >= spatial => size[..spatial].to_vec(),
        _ => return Err(format!("size {size:?}")),
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
        Some(Dim::Fixed(c)) => Some(Dim::Fixed(c * (bs * bs) as usize)),
        _ => None,
    };
    Ok((
        b.op("SpaceToDepth", &[x], vec![("blocksize", Attr::Int(bs))]),
        channels,
    ))
}
