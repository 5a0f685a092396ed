//! SpaceToBatchLayer.
//!
//! DL4J pads H/W by `padding [[top, bottom], [left, right]]` and runs libnd4j's
//! `space_to_batch_nd` on the NHWC view (NCHW input is permuted), i.e. TensorFlow's ordering:
//! `out[(by·bw + bx)·N + n, c, oh, ow] = padded[n, c, oh·bh + by, ow·bw + bx]`.
//! ONNX: Pad, Reshape `[N, C, oh, bh, ow, bw]`, Transpose to `[bh, bw, N, C, oh, ow]`, Reshape.

use super::{Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::{Attr, Dim};

pub fn layer(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let layer = ctx.layer;
    let Some(&[bh, bw]) = layer.ints("blocks").as_deref() else {
        return Err("\"blocks\" must be two positive integers".into());
    };
    if bh < 1 || bw < 1 {
        return Err("\"blocks\" must be two positive integers".into());
    }
    let padding = padding(layer.get("padding"))?;
    let nhwc = match layer.str("format") {
        Some("NHWC") => true,
        Some("NCHW") => false,
        None => x.kind == (Kind::Cnn { nhwc: true }),
        Some(f) => return Err(format!("unknown data format {f:?}")),
    };
    if !matches!(x.kind, Kind::Cnn { .. } | Kind::Any | Kind::FeedForward) {
        return Err("its input is not rank-4 convolutional data".into());
    }
    let [[pt, pb], [pl, pr]] = padding;
    let mut x_in = x.name.clone();
    if padding.iter().flatten().any(|&p| p != 0) {
        let pads = if nhwc {
            vec![0, pt, pl, 0, 0, pb, pr, 0]
        } else {
            vec![0, 0, pt, pl, 0, 0, pb, pr]
        };
        let pads = b.ints(&pads);
        x_in = b.op(
            "Pad",
            &[&x_in, &pads],
            vec![("mode", Attr::Str("constant".into()))],
        );
    }
    let (h_ax, w_ax, c_ax) = if nhwc { (1, 2, 3) } else { (2, 3, 1) };
    let n = b.shape_slice(&x_in, 0, 1);
    let c = b.shape_slice(&x_in, c_ax, c_ax + 1);
    let hp = b.shape_slice(&x_in, h_ax, h_ax + 1);
    let wp = b.shape_slice(&x_in, w_ax, w_ax + 1);
    let bh_c = b.ints(&[bh]);
    let bw_c = b.ints(&[bw]);
    let oh = b.op("Div", &[&hp, &bh_c], Vec::new());
    let ow = b.op("Div", &[&wp, &bw_c], Vec::new());
    let cat = |b: &mut Builder, parts: &[&str]| b.op("Concat", parts, vec![("axis", Attr::Int(0))]);
    let minus1 = b.ints(&[-1]);
    let (split, perm, out) = if nhwc {
        (
            cat(b, &[&n, &oh, &bh_c, &ow, &bw_c, &c]),
            vec![2, 4, 0, 1, 3, 5],
            cat(b, &[&minus1, &oh, &ow, &c]),
        )
    } else {
        (
            cat(b, &[&n, &c, &oh, &bh_c, &ow, &bw_c]),
            vec![3, 5, 0, 1, 2, 4],
            cat(b, &[&minus1, &c, &oh, &ow]),
        )
    };
    let x6 = b.op("Reshape", &[&x_in, &split], Vec::new());
    let t = b.op("Transpose", &[&x6], vec![("perm", Attr::Ints(perm))]);
    let y = b.op("Reshape", &[&t, &out], Vec::new());
    // Padded size / block; unknown if the annotation's sizes do not add up in range.
    let spatial = |d: Option<&Dim>, lo: i64, hi: i64, k: i64| match d {
        Some(Dim::Fixed(s)) => i64::try_from(*s)
            .ok()
            .and_then(|s| s.checked_add(lo)?.checked_add(hi))
            .and_then(|padded| usize::try_from(padded / k).ok())
            .map_or(Dim::Unknown, Dim::Fixed),
        _ => Dim::Unknown,
    };
    let dims = if x.dims.len() == 4 {
        let hd = spatial(x.dims.get(h_ax as usize), pt, pb, bh);
        let wd = spatial(x.dims.get(w_ax as usize), pl, pr, bw);
        let cd = x.dims.get(c_ax as usize).cloned().unwrap_or(Dim::Unknown);
        if nhwc {
            vec![Dim::Unknown, hd, wd, cd]
        } else {
            vec![Dim::Unknown, cd, hd, wd]
        }
    } else {
        vec![Dim::Unknown; 4]
    };
    Ok(Value::new(y, Kind::Cnn { nhwc }, dims))
}

/// `padding` as written: `[[top, bottom], [left, right]]` (Java `int[][]`); absent means none.
fn padding(v: Option<&serde_json::Value>) -> Result<[[i64; 2]; 2], String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok([[0, 0], [0, 0]]);
    };
    let bad = || format!("\"padding\" must be [[top, bottom], [left, right]], found {v}");
    let rows = v.as_array().filter(|r| r.len() == 2).ok_or_else(bad)?;
    let mut out = [[0i64; 2]; 2];
    for (o, r) in out.iter_mut().zip(rows) {
        let r = r.as_array().filter(|r| r.len() == 2).ok_or_else(bad)?;
        for (o, p) in o.iter_mut().zip(r) {
            *o = p.as_i64().filter(|&p| p >= 0).ok_or_else(bad)?;
        }
    }
    Ok(out)
}
