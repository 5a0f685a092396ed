//! Input preprocessors (spec §11): reshapes between DL4J's feed-forward, convolutional and
//! recurrent layouts. Recurrent <-> feed-forward re-splits `[batch·time]` rows time-major
//! (row `t·batch + b`), so the batch size is read from the network input at run time.

use serde_json::Value as Json;

use super::{batch, Builder, Kind, Translated, Value};
use crate::proto::{Attr, Dim};

/// Canonical class simple name of a preprocessor (`@class` or legacy wrapper key) and its body.
fn kind_of(pre: &Json) -> (String, &Json) {
    if let Some(c) = pre.get("@class").and_then(Json::as_str) {
        return (c.rsplit('.').next().unwrap_or(c).to_string(), pre);
    }
    if let Some((k, body)) = pre
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    {
        let name = match k.as_str() {
            "cnnToFeedForward" => "CnnToFeedForwardPreProcessor",
            "cnnToRnn" => "CnnToRnnPreProcessor",
            "composableInput" => "ComposableInputPreProcessor",
            "feedForwardToCnn" => "FeedForwardToCnnPreProcessor",
            "feedForwardToRnn" => "FeedForwardToRnnPreProcessor",
            "rnnToFeedForward" => "RnnToFeedForwardPreProcessor",
            "rnnToCnn" => "RnnToCnnPreProcessor",
            other => other,
        };
        return (name.to_string(), body);
    }
    ("?".into(), pre)
}

fn positive(body: &Json, key: &str) -> Option<usize> {
    body.get(key)
        .and_then(Json::as_i64)
        .filter(|&v| v > 0)
        .map(|v| v as usize)
}

fn fixed(n: Option<usize>) -> Dim {
    n.map_or(Dim::Unknown, Dim::Fixed)
}

fn nwc(body: &Json) -> bool {
    body.get("rnnDataFormat").and_then(Json::as_str) == Some("NWC")
}

/// `C·H·W`, unknown when it overflows (a shape annotation only: the Reshape reads the sizes).
fn flat_width((c, h, w): (usize, usize, usize)) -> Option<usize> {
    c.checked_mul(h)?.checked_mul(w)
}

/// `[C, H, W]` of a CNN preprocessor, when all are configured.
fn chw(body: &Json) -> Option<(usize, usize, usize)> {
    Some((
        positive(body, "numChannels")?,
        positive(body, "inputHeight")?,
        positive(body, "inputWidth")?,
    ))
}

/// The network input a preprocessor in front of the first layer expects.
pub fn input_for(name: &str, pre: &Json) -> Option<Value> {
    let (class, body) = kind_of(pre);
    let name = name.to_string();
    Some(match class.as_str() {
        "CnnToFeedForwardPreProcessor" | "CnnToRnnPreProcessor" => {
            let nhwc = body.get("format").and_then(Json::as_str) == Some("NHWC");
            let (c, h, w) = (
                positive(body, "numChannels"),
                positive(body, "inputHeight"),
                positive(body, "inputWidth"),
            );
            let dims = if nhwc {
                vec![batch(), fixed(h), fixed(w), fixed(c)]
            } else {
                vec![batch(), fixed(c), fixed(h), fixed(w)]
            };
            Value::new(name, Kind::Cnn { nhwc }, dims)
        }
        "FeedForwardToCnnPreProcessor" | "FeedForwardToRnnPreProcessor" => {
            let width = chw(body).and_then(flat_width);
            Value::new(name, Kind::FeedForward, vec![batch(), fixed(width)])
        }
        "RnnToFeedForwardPreProcessor" | "RnnToCnnPreProcessor" => {
            let nwc = nwc(body);
            let f = chw(body).and_then(flat_width);
            let t = Dim::Named("time".into());
            let dims = if nwc {
                vec![batch(), t, fixed(f)]
            } else {
                vec![batch(), fixed(f), t]
            };
            Value::new(name, Kind::Rnn { nwc }, dims)
        }
        "ComposableInputPreProcessor" => {
            let first = body.get("inputPreProcessors")?.as_array()?.first()?;
            return input_for(&name, first);
        }
        _ => return None,
    })
}

/// Applies a preprocessor to `x`.
pub fn apply(b: &mut Builder, pre: &Json, x: &Value) -> Translated {
    let (class, body) = kind_of(pre);
    let rank = x.dims.len();
    match class.as_str() {
        "CnnToFeedForwardPreProcessor" | "Cnn3DToFeedForwardPreProcessor" => {
            if x.kind == Kind::FeedForward {
                return Ok(x.clone());
            }
            // c-order flatten of the tensor as laid out (NHWC flattens h, w, c).
            let y = b.op("Flatten", &[&x.name], vec![("axis", Attr::Int(1))]);
            // Unknown unless every non-batch size is known (an input of open rank has none).
            let width = match x.dims.split_first() {
                Some((_, rest)) => rest.iter().try_fold(1usize, |acc, d| match d {
                    Dim::Fixed(n) => acc.checked_mul(*n),
                    _ => None,
                }),
                None => None,
            };
            Ok(Value::new(
                y,
                Kind::FeedForward,
                vec![batch(), fixed(width)],
            ))
        }
        "FeedForwardToCnnPreProcessor" => {
            if matches!(x.kind, Kind::Cnn { .. }) {
                return Ok(x.clone());
            }
            let (c, h, w) =
                chw(body).ok_or("FeedForwardToCnn without inputHeight/Width/numChannels")?;
            let shape = b.ints(&[0, c as i64, h as i64, w as i64]);
            let y = b.op("Reshape", &[&x.name, &shape], Vec::new());
            Ok(Value::new(
                y,
                Kind::Cnn { nhwc: false },
                vec![batch(), Dim::Fixed(c), Dim::Fixed(h), Dim::Fixed(w)],
            ))
        }
        "FeedForwardToCnn3DPreProcessor" => {
            if matches!(x.kind, Kind::Cnn3d { .. }) {
                return Ok(x.clone());
            }
            let g = |k| positive(body, k).ok_or(format!("FeedForwardToCnn3D without {k}"));
            let (c, d, h, w) = (
                g("numChannels")?,
                g("inputDepth")?,
                g("inputHeight")?,
                g("inputWidth")?,
            );
            let ncdhw = body.get("isNCDHW").and_then(Json::as_bool).unwrap_or(true);
            let dims: Vec<usize> = if ncdhw {
                vec![c, d, h, w]
            } else {
                vec![d, h, w, c]
            };
            let mut s = vec![0i64];
            s.extend(dims.iter().map(|&v| v as i64));
            let shape = b.ints(&s);
            let y = b.op("Reshape", &[&x.name, &shape], Vec::new());
            let mut out = vec![batch()];
            out.extend(dims.into_iter().map(Dim::Fixed));
            Ok(Value::new(y, Kind::Cnn3d { ndhwc: !ncdhw }, out))
        }
        "RnnToFeedForwardPreProcessor" => {
            if rank == 2 {
                return Ok(x.clone());
            }
            let feats = rnn_to_ff(b, x)?;
            Ok(feats)
        }
        "FeedForwardToRnnPreProcessor" => {
            if rank == 3 {
                return Ok(x.clone());
            }
            ff_to_rnn(b, x, nwc(body))
        }
        "CnnToRnnPreProcessor" => {
            // [mb·T, C, H, W] -> c-flatten -> [mb·T, C·H·W] -> time-major rows back to sequences.
            let flat = apply(
                b,
                &serde_json::json!({"@class": "CnnToFeedForwardPreProcessor"}),
                x,
            )?;
            ff_to_rnn(b, &flat, nwc(body))
        }
        "RnnToCnnPreProcessor" => {
            let (c, h, w) = chw(body).ok_or("RnnToCnn without inputHeight/Width/numChannels")?;
            let flat = rnn_to_ff(b, x)?;
            let shape = b.ints(&[-1, c as i64, h as i64, w as i64]);
            let y = b.op("Reshape", &[&flat.name, &shape], Vec::new());
            Ok(Value::new(
                y,
                Kind::Cnn { nhwc: false },
                vec![Dim::Unknown, Dim::Fixed(c), Dim::Fixed(h), Dim::Fixed(w)],
            ))
        }
        "ComposableInputPreProcessor" => {
            let list = body
                .get("inputPreProcessors")
                .and_then(Json::as_array)
                .ok_or("ComposableInputPreProcessor without inputPreProcessors")?;
            let mut v = x.clone();
            for p in list {
                v = apply(b, p, &v)?;
            }
            Ok(v)
        }
        other => Err(format!(
            "preprocessor {other} is not translated to ONNX yet"
        )),
    }
}

/// `[mb, C, T]` (or NWC `[mb, T, C]`) -> `[T·mb, C]`, rows `t·mb + b`.
fn rnn_to_ff(b: &mut Builder, x: &Value) -> Translated {
    let nwc = matches!(x.kind, Kind::Rnn { nwc: true });
    let perm = if nwc { vec![1, 0, 2] } else { vec![2, 0, 1] };
    let t = b.op("Transpose", &[&x.name], vec![("perm", Attr::Ints(perm))]);
    let y = b.op("Flatten", &[&t], vec![("axis", Attr::Int(2))]);
    let feats = x
        .dims
        .get(if nwc { 2 } else { 1 })
        .cloned()
        .unwrap_or(Dim::Unknown);
    Ok(Value::new(y, Kind::FeedForward, vec![Dim::Unknown, feats]))
}

/// `[T·mb, C]` (rows `t·mb + b`) -> `[mb, C, T]` (or `[mb, T, C]`), mb read from the network input.
fn ff_to_rnn(b: &mut Builder, x: &Value, nwc: bool) -> Translated {
    let src = b
        .batch_source()
        .ok_or("no network input to read the minibatch size from")?
        .to_string();
    let mb = b.shape_slice(&src, 0, 1);
    let c = b.shape_slice(&x.name, 1, 2);
    let minus = b.ints(&[-1]);
    let shape = b.op("Concat", &[&minus, &mb, &c], vec![("axis", Attr::Int(0))]);
    let tmc = b.op("Reshape", &[&x.name, &shape], Vec::new());
    let perm = if nwc { vec![1, 0, 2] } else { vec![1, 2, 0] };
    let y = b.op("Transpose", &[&tmc], vec![("perm", Attr::Ints(perm))]);
    let feats = x.dims.get(1).cloned().unwrap_or(Dim::Unknown);
    let t = Dim::Named("time".into());
    let dims = if nwc {
        vec![batch(), t, feats]
    } else {
        vec![batch(), feats, t]
    };
    Ok(Value::new(y, Kind::Rnn { nwc }, dims))
}
