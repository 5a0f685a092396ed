//! Yolo2OutputLayer (object detection output).
//!
//! DL4J's `activate` (`YoloUtils.activate`) views the NCHW input `[mb, B·(5+C), H, W]` as
//! `[mb, B, 5+C, H, W]` and, per box: sigmoid on x/y (entries 0, 1), `prior[box] · exp(·)` on
//! w/h (entries 2, 3, priors `boundingBoxes [B, 2]` as (w, h)), sigmoid on the confidence (entry 4)
//! and softmax over the C class scores (entries 5..). The output has the input's shape.

use serde_json::Value as Json;

use super::activation::Activation;
use super::{Builder, Kind, LayerCtx, Translated, Value};
use crate::proto::{Attr, Dim};

pub fn layer(b: &mut Builder, ctx: &LayerCtx, x: &Value) -> Translated {
    let layer = ctx.layer;
    let nhwc = match layer.str("format") {
        Some("NHWC") => true,
        Some("NCHW") | None => false,
        Some(f) => return Err(format!("unknown data format {f:?}")),
    };
    if nhwc || x.kind == (Kind::Cnn { nhwc: true }) {
        return Err("channels-last (NHWC) Yolo2OutputLayer is not translated to ONNX yet".into());
    }
    if !matches!(x.kind, Kind::Cnn { .. } | Kind::Any | Kind::FeedForward) {
        return Err("its input is not [batch, channels, height, width] data".into());
    }
    let priors = bounding_boxes(layer.get("boundingBoxes"))?;
    let nb = priors.len();
    // [mb, B, 5+C, H, W]; C is read from the data, not needed here.
    let n = b.shape_slice(&x.name, 0, 1);
    let hw = b.shape_slice(&x.name, 2, 4);
    let mid = b.ints(&[nb as i64, -1]);
    let shape5 = b.op("Concat", &[&n, &mid, &hw], vec![("axis", Attr::Int(0))]);
    let x5 = b.op("Reshape", &[&x.name, &shape5], Vec::new());
    let part = |b: &mut Builder, from: i64, to: i64| {
        let s = b.ints(&[from]);
        let e = b.ints(&[to]);
        let a = b.ints(&[2]);
        b.op("Slice", &[&x5, &s, &e, &a], Vec::new())
    };
    let xy = part(b, 0, 2);
    let wh = part(b, 2, 4);
    let conf = part(b, 4, 5);
    let cls = part(b, 5, i64::MAX);
    let xy = Activation::Sigmoid.apply(b, &xy)?;
    let wh = b.op("Exp", &[&wh], Vec::new());
    let flat: Vec<f64> = priors.iter().flat_map(|p| [p[0], p[1]]).collect();
    let pr = b.tensor(&[1, nb, 2, 1, 1], &flat);
    let wh = b.op("Mul", &[&wh, &pr], Vec::new());
    let conf = Activation::Sigmoid.apply(b, &conf)?;
    // Opset 13+ (the exporter's minimum): Softmax normalizes over this one axis.
    let cls = b.op("Softmax", &[&cls], vec![("axis", Attr::Int(2))]);
    let y5 = b.op(
        "Concat",
        &[&xy, &wh, &conf, &cls],
        vec![("axis", Attr::Int(2))],
    );
    let shape = b.op("Shape", &[&x.name], Vec::new());
    let y = b.op("Reshape", &[&y5, &shape], Vec::new());
    let kind = if x.kind == Kind::Any || x.kind == Kind::FeedForward {
        Kind::Cnn { nhwc: false }
    } else {
        x.kind
    };
    let dims = if x.dims.len() == 4 {
        x.dims.clone()
    } else {
        vec![
            super::batch(),
            Dim::Unknown,
            Dim::Named("height".into()),
            Dim::Named("width".into()),
        ]
    };
    Ok(Value::new(y, kind, dims))
}

/// The priors `[B, 2]` as written by ND4J's `NDArrayTextSerializer` (`shape`, `data` in c order)
/// or, before 1.0.0-beta7, as a raw INDArray bean (`shapeField`, `strideField`, `offsetField`,
/// `dataBuffer`).
fn bounding_boxes(v: Option<&Json>) -> Result<Vec<[f64; 2]>, String> {
    let v = v
        .filter(|v| !v.is_null())
        .ok_or("no \"boundingBoxes\" in the configuration")?;
    let nums =
        |k: &str| -> Option<Vec<f64>> { v.get(k)?.as_array()?.iter().map(Json::as_f64).collect() };
    let bad = || format!("unreadable \"boundingBoxes\": {v}");
    let (shape, data, strides, offset) = if let Some(data) = nums("data") {
        let shape = nums("shape").ok_or_else(bad)?;
        // c order: row stride = the number of columns.
        let strides = match *shape.as_slice() {
            [_, cols] => vec![cols, 1.0],
            _ => Vec::new(),
        };
        (shape, data, strides, 0.0)
    } else if let Some(data) = nums("dataBuffer") {
        let shape = nums("shapeField").ok_or_else(bad)?;
        let strides = nums("strideField").ok_or_else(bad)?;
        let offset = v.get("offsetField").and_then(Json::as_f64).unwrap_or(0.0);
        (shape, data, strides, offset)
    } else {
        return Err(bad());
    };
    let wrong_shape = || format!("\"boundingBoxes\" must have shape [B, 2], found {shape:?}");
    let (&[rows, cols], &[row_stride, col_stride]) = (shape.as_slice(), strides.as_slice()) else {
        return Err(wrong_shape());
    };
    if cols != 2.0 || rows < 1.0 || rows.fract() != 0.0 {
        return Err(wrong_shape());
    }
    // B priors need 2·B values in the buffer (this also bounds the loop below).
    if rows * 2.0 > data.len() as f64 {
        return Err(format!(
            "\"boundingBoxes\" of shape {shape:?} holds only {} values",
            data.len()
        ));
    }
    let at = |i: usize, j: usize| -> Result<f64, String> {
        let k = offset + i as f64 * row_stride + j as f64 * col_stride;
        if k < 0.0 || k.fract() != 0.0 {
            return Err(bad());
        }
        data.get(k as usize).copied().ok_or_else(bad)
    };
    (0..rows as usize)
        .map(|i| Ok([at(i, 0)?, at(i, 1)?]))
        .collect()
}
