//! Classic-ML post-processing of scikit-learn exports (skl2onnx), domain `ai.onnx.ml` plus the
//! default-domain `ArgMax` / `Cast` / `Reshape` around it.
//!
//! skl2onnx writes an `MLPClassifier` (option `zipmap` off) as
//! `Cast -> (MatMul -> Add -> act)* -> Softmax | Sigmoid` giving the scores, then
//! `Identity` (or, for two classes, `Concat(Sub(1, p), p)`) -> `probabilities`, and the label as
//! `ArgMax(probabilities) -> ArrayFeatureExtractor(classes, ·) -> Reshape(-1) [-> Cast]` ->
//! `label`. DL4J networks output numbers, not class names: the label chain is dropped (each
//! node named in a note), the class names are kept in the archive's `labels` object, and the
//! network outputs the probabilities. Nodes reading a dropped value are dropped too.

use super::super::{attr_int, input, Cx, Done};
use crate::proto::{Attr, ForeignNode};

/// `ai.onnx.ml` operators [`translate`] handles.
const ML_OPS: &[&str] = &["ArrayFeatureExtractor", "LabelEncoder", "Binarizer"];

pub fn known(n: &ForeignNode) -> bool {
    n.domain == "ai.onnx.ml" && ML_OPS.contains(&n.op.as_str())
}

fn name_of(n: &ForeignNode) -> String {
    if n.name.is_empty() {
        format!("{:?}", n.outputs.first().map_or("", String::as_str))
    } else {
        format!("{:?}", n.name)
    }
}

fn full_op(n: &ForeignNode) -> String {
    if n.domain.is_empty() || n.domain == "ai.onnx" {
        n.op.clone()
    } else {
        format!("{}.{}", n.domain, n.op)
    }
}

/// Drops `n`: its outputs become dropped values, with one note naming it.
fn drop_node(cx: &mut Cx, n: &ForeignNode, why: &str) {
    let lost: Vec<&String> = n
        .outputs
        .iter()
        .filter(|o| !o.is_empty() && cx.is_output(o))
        .collect();
    let tail = if lost.is_empty() {
        String::new()
    } else {
        format!("; graph output(s) {lost:?} are not produced")
    };
    cx.notes.push(format!(
        "dropped {} {} ({why}){tail}",
        full_op(n),
        name_of(n)
    ));
    for o in n.outputs.iter().filter(|o| !o.is_empty()) {
        cx.dropped.insert(o.clone());
    }
}

/// A label as text: integers without a fraction.
fn label_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Values of an attribute as label texts.
fn texts(n: &ForeignNode, key: &str) -> Option<Vec<String>> {
    match n.attr(key)? {
        Attr::Strs(v) => Some(v.clone()),
        Attr::Ints(v) => Some(v.iter().map(|x| x.to_string()).collect()),
        Attr::Floats(v) => Some(v.iter().map(|&x| label_text(x as f64)).collect()),
        _ => None,
    }
}

fn first_texts(n: &ForeignNode, keys: &[&str]) -> Option<(Vec<String>, bool)> {
    keys.iter()
        .find_map(|k| texts(n, k).map(|t| (t, matches!(n.attr(k), Some(Attr::Ints(_))))))
}

/// The class labels a LabelEncoder maps class indices to (or from).
fn encoder_labels(n: &ForeignNode) -> Option<Vec<String>> {
    if let Some(c) = texts(n, "classes_strings") {
        return Some(c);
    }
    let (keys, keys_int) = first_texts(n, &["keys_strings", "keys_int64s", "keys_floats"])?;
    let values = first_texts(n, &["values_strings", "values_int64s", "values_floats"]);
    // Index -> label: labels are the values in key order; label -> index: the keys in value
    // order; anything else: the keys.
    let ordered = |idx: &[String], names: &[String]| -> Option<Vec<String>> {
        let mut pairs: Vec<(usize, String)> = idx
            .iter()
            .zip(names)
            .map(|(i, s)| i.parse::<usize>().ok().map(|i| (i, s.clone())))
            .collect::<Option<_>>()?;
        pairs.sort_by_key(|(i, _)| *i);
        (pairs.iter().enumerate().all(|(k, (i, _))| k == *i))
            .then(|| pairs.into_iter().map(|(_, s)| s).collect())
    };
    match values {
        Some((vals, _)) if keys_int && vals.len() == keys.len() => {
            ordered(&keys, &vals).or(Some(keys))
        }
        Some((vals, true)) if vals.len() == keys.len() => ordered(&vals, &keys).or(Some(keys)),
        _ => Some(keys),
    }
}

/// Class labels held by a constant (numeric initializer or string initializer).
fn const_labels(cx: &Cx, name: &str) -> Option<Vec<String>> {
    if let Some(s) = cx.strings.get(name) {
        return Some(s.clone());
    }
    cx.konst(name)
        .map(|a| a.iter().map(|&v| label_text(v)).collect())
}

fn reads_dropped(cx: &Cx, n: &ForeignNode) -> bool {
    n.inputs.iter().any(|i| cx.dropped.contains(i))
}

/// `ai.onnx.ml` nodes.
pub fn translate(cx: &mut Cx, n: &ForeignNode) -> Done {
    if n.domain != "ai.onnx.ml" {
        return Err(format!(
            "operator domain {:?} has no DL4J equivalent",
            n.domain
        ));
    }
    match n.op.as_str() {
        "ArrayFeatureExtractor" => {
            let data = input(n, 0).ok_or("no data input")?;
            let idx = input(n, 1).ok_or("no index input")?;
            if !cx.dropped.contains(idx) {
                return Err(
                    "ArrayFeatureExtractor selecting columns of network data has no DL4J equivalent (only the class-label lookup after ArgMax is handled)"
                        .into(),
                );
            }
            let labels = const_labels(cx, data).ok_or_else(|| {
                format!("class table {data:?} is not a constant")
            })?;
            if cx.labels.is_none() {
                cx.labels = Some(labels.clone());
            }
            drop_node(
                cx,
                n,
                &format!(
                    "class-label lookup; the {} labels are kept in the archive's labels object",
                    labels.len()
                ),
            );
            Ok(())
        }
        "LabelEncoder" => {
            if !reads_dropped(cx, n) {
                return Err(
                    "LabelEncoder on network data has no DL4J equivalent (only the class-label mapping after ArgMax is handled)"
                        .into(),
                );
            }
            let labels = encoder_labels(n).ok_or("LabelEncoder without keys")?;
            if cx.labels.is_none() {
                cx.labels = Some(labels.clone());
            }
            drop_node(
                cx,
                n,
                &format!(
                    "class-label mapping; the {} labels are kept in the archive's labels object",
                    labels.len()
                ),
            );
            Ok(())
        }
        "Binarizer" => {
            let x = input(n, 0).ok_or("no input")?;
            if !reads_dropped(cx, n) && !cx.net.syms().contains_key(x) {
                return Err(format!("input {x:?} is not available"));
            }
            drop_node(
                cx,
                n,
                "multi-label thresholding of the scores; DL4J outputs the scores",
            );
            Ok(())
        }
        "ZipMap" => Err(
            "ZipMap turns probabilities into a list of maps, which DL4J cannot output; export with skl2onnx option {'zipmap': False}"
                .into(),
        ),
        other => Err(format!("ai.onnx.ml.{other} has no DL4J equivalent")),
    }
}

/// Default-domain nodes of the label chain: `ArgMax` of the scores, and any node reading a
/// value that was dropped (the `Reshape` / `Cast` after the label lookup).
pub fn post_processing(cx: &mut Cx, n: &ForeignNode) -> Done {
    if reads_dropped(cx, n) {
        let live: Vec<&String> = n
            .inputs
            .iter()
            .filter(|i| cx.net.syms().contains_key(*i) && !cx.dropped.contains(*i))
            .collect();
        if !live.is_empty() {
            return Err(format!(
                "combines network values {live:?} with dropped label post-processing values"
            ));
        }
        drop_node(cx, n, "label post-processing");
        return Ok(());
    }
    match n.op.as_str() {
        "ArgMax" => {
            let x = input(n, 0).ok_or("no input")?;
            cx.sym(x)?;
            let axis = attr_int(n, "axis", 0);
            drop_node(
                cx,
                n,
                &format!(
                    "class index (argmax over axis {axis}) of {x:?}; DL4J outputs the scores themselves"
                ),
            );
            Ok(())
        }
        other => Err(format!("{other} is not label post-processing")),
    }
}

/// `Cast` of network data: a no-op between floating-point types (skl2onnx casts its input to
/// float); DL4J networks compute only in floating point.
pub fn cast(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = input(n, 0).ok_or("no input")?;
    let sym = cx.sym(x)?;
    // TensorProto element types FLOAT, FLOAT16, DOUBLE, BFLOAT16.
    let to = attr_int(n, "to", 1);
    if !matches!(to, 1 | 10 | 11 | 16) {
        return Err(format!(
            "cast of network data to ONNX element type {to}: DL4J networks compute in floating point only"
        ));
    }
    let y = n
        .outputs
        .first()
        .filter(|o| !o.is_empty())
        .ok_or("no output")?;
    cx.set(y, sym);
    Ok(())
}
