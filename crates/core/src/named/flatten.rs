//! A DL4J archive as named tensors plus string metadata.
//!
//! Tensors, in this order: parameters (flat order; DL4J's keys, logical shapes, row-major),
//! `<layer>.flat` for layers of unknown layout, `updater.<param>.<piece>`, `normalizer.<field>`
//! (or `normalizer.raw`), `objects.<key>` and `entries.<name>` (U8, exact bytes). Each tensor's
//! bytes are produced only when the writer reaches it, so at most one tensor is converted at a
//! time.

use serde_json::{json, Value};

use super::le::{data_le_to, segment_le_to};
use super::{meta, NamedTensor};
use crate::archive::{Archive, ParamsStorage};
use crate::error::{Error, Result};
use crate::layout::ParamLayout;
use crate::nd4j::Nd4jArray;
use crate::normalizer::Normalizer;
use crate::tensor::{checked_product, DType, Order};
use crate::updater::UpdaterLayout;

/// A stretch of the flat parameter vector stored as one tensor.
pub(crate) struct Segment {
    pub name: String,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub order: Order,
}

impl Segment {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

fn warn(msg: &str) {
    eprintln!("dl4j: warning: {msg}");
}

/// How the flat vector is cut into tensors: parameters, `<layer>.flat` spans, or one
/// `params.flat` when the configuration's layout cannot be derived.
fn segments(archive: &Archive, layout: Option<&ParamLayout>) -> Vec<Segment> {
    let n = archive.num_params();
    if n == 0 {
        return Vec::new();
    }
    let Some(layout) = layout else {
        return vec![Segment {
            name: "params.flat".into(),
            offset: 0,
            shape: vec![n],
            order: Order::C,
        }];
    };
    let mut v = Vec::new();
    for l in &layout.layers {
        if let Some(span) = layout
            .unknown
            .as_ref()
            .filter(|s| s.nodes.first() == Some(&l.node))
        {
            warn(&format!(
                "{} has no known parameter layout: its {} parameters are exported as one flat tensor {}.flat",
                span.classes.join(", "),
                span.len,
                l.node
            ));
            if span.len > 0 {
                v.push(Segment {
                    name: format!("{}.flat", l.node),
                    offset: span.offset,
                    shape: vec![span.len],
                    order: Order::C,
                });
            }
            continue;
        }
        for p in l.params.iter().filter(|p| !p.is_empty()) {
            v.push(Segment {
                name: p.name.clone(),
                offset: p.offset,
                shape: p.shape.clone(),
                order: p.order,
            });
        }
    }
    v
}

/// Updater-state tensors: per segment and piece, or one `updater.flat`.
struct StatePiece {
    name: String,
    shape: Vec<usize>,
    order: Order,
    runs: Vec<std::ops::Range<usize>>,
}

fn state_pieces(segments: &[Segment], ul: &UpdaterLayout) -> Result<Vec<StatePiece>> {
    let mut v = Vec::new();
    for s in segments {
        for (piece, runs) in ul.piece_runs(s.offset, s.len())? {
            v.push(StatePiece {
                name: format!("updater.{}.{piece}", s.name),
                shape: s.shape.clone(),
                order: s.order,
                runs,
            });
        }
    }
    // State without a parameter in coefficients.bin (0.5.0-0.7.0 pretrain visible bias).
    for (b, name) in ul
        .blocks
        .iter()
        .filter_map(|b| b.detached.as_ref().map(|name| (b, name)))
    {
        for (k, piece) in b.pieces.iter().enumerate() {
            let start = b.state_start + k * b.param_len;
            v.push(StatePiece {
                name: format!("updater.{name}.{piece}"),
                shape: vec![b.param_len],
                order: Order::C,
                runs: std::iter::once(start..start + b.param_len).collect(),
            });
        }
    }
    Ok(v)
}

fn array_meta(a: &Nd4jArray) -> Value {
    json!({
        "shape": a.tensor.shape(),
        "alloc": a.alloc.name(),
        "order": a.order.as_char().to_string(),
        "shape_only": a.shape_only,
    })
}

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        json!(format!("{x}"))
    }
}

/// The normalizer's description for the metadata; arrays are listed by tensor name.
fn normalizer_meta(n: &Normalizer) -> Value {
    use crate::normalizer::{HybridStats, HybridStrategy};
    let arrays: serde_json::Map<String, Value> = n
        .arrays()
        .into_iter()
        .map(|(name, a)| (name, array_meta(a)))
        .collect();
    let strategy = |s: &HybridStrategy| match s {
        HybridStrategy::None => json!("NONE"),
        HybridStrategy::Standardize => json!("STANDARDIZE"),
        HybridStrategy::MinMax {
            min_range,
            max_range,
        } => json!({"MIN_MAX": [num(*min_range), num(*max_range)]}),
    };
    let mut m = serde_json::Map::new();
    m.insert("type".into(), json!(n.type_name()));
    m.insert("class".into(), json!(n.class_name()));
    m.insert("arrays".into(), Value::Object(arrays));
    let mut set = |key: &str, v: Value| {
        m.insert(key.into(), v);
    };
    match n {
        Normalizer::Standardize { labels, .. } => set("fit_label", json!(labels.is_some())),
        Normalizer::MinMax {
            target_min,
            target_max,
            labels,
            ..
        } => {
            set("fit_label", json!(labels.is_some()));
            set("target_min", num(*target_min));
            set("target_max", num(*target_max));
        }
        Normalizer::ImageMinMax {
            min_range,
            max_range,
            max_pixel_val,
        } => {
            set("min_range", num(*min_range));
            set("max_range", num(*max_range));
            set("max_pixel_val", num(*max_pixel_val));
        }
        Normalizer::MultiStandardize { inputs, outputs } => {
            set("inputs", json!(inputs.len()));
            set("outputs", json!(outputs.as_ref().map(Vec::len)));
        }
        Normalizer::MultiMinMax {
            target_min,
            target_max,
            inputs,
            outputs,
        } => {
            set("inputs", json!(inputs.len()));
            set("outputs", json!(outputs.as_ref().map(Vec::len)));
            set("target_min", num(*target_min));
            set("target_max", num(*target_max));
        }
        Normalizer::MultiHybrid {
            input_stats,
            output_stats,
            global_input,
            global_output,
            per_input,
            per_output,
        } => {
            let stats = |v: &Vec<(i32, HybridStats)>| -> Value {
                v.iter()
                    .map(|(i, s)| {
                        json!([
                            i,
                            match s {
                                HybridStats::Standardize { .. } => "STANDARDIZE",
                                HybridStats::MinMax { .. } => "MIN_MAX",
                            }
                        ])
                    })
                    .collect()
            };
            let per = |v: &Vec<(i32, HybridStrategy)>| -> Value {
                v.iter().map(|(i, s)| json!([i, strategy(s)])).collect()
            };
            set("input_stats", stats(input_stats));
            set("output_stats", stats(output_stats));
            set("global_input", strategy(global_input));
            set("global_output", strategy(global_output));
            set("per_input", per(per_input));
            set("per_output", per(per_output));
        }
        Normalizer::Custom { strategy_class, .. } => set("strategy_class", json!(strategy_class)),
        Normalizer::Other { .. } | Normalizer::JavaSerialized { .. } => {}
    }
    Value::Object(m)
}

/// Bytes a normalizer keeps outside typed arrays.
fn normalizer_raw(n: &Normalizer) -> Option<&[u8]> {
    match n {
        Normalizer::Custom { payload, .. } | Normalizer::Other { payload, .. } => Some(payload),
        Normalizer::JavaSerialized { bytes } => Some(bytes),
        _ => None,
    }
}

fn u8_item<'a>(name: String, bytes: &'a [u8]) -> NamedTensor<'a> {
    NamedTensor {
        name,
        dtype: DType::U8,
        shape: vec![bytes.len()],
        bytes: Box::new(move |sink| sink(bytes)),
    }
}

/// The archive as named tensors (bytes produced lazily, one tensor at a time) and metadata;
/// `tool` names the writer in the metadata.
pub fn flatten<'a>(archive: &'a Archive, tool: &str) -> Result<super::Flattened<'a>> {
    let layout = match archive.layout() {
        Ok(l) => Some(l),
        Err(e) => {
            warn(&format!(
                "the parameter layout cannot be derived ({e}): parameters are exported as one flat tensor params.flat"
            ));
            None
        }
    };
    let segments = segments(archive, layout.as_ref());
    let params = &archive.params;
    let mut state_pieces_list: Vec<StatePiece> = Vec::new();
    let mut items: Vec<NamedTensor> = Vec::new();
    for s in &segments {
        let (offset, shape, order) = (s.offset, s.shape.clone(), s.order);
        items.push(NamedTensor {
            name: s.name.clone(),
            dtype: params.tensor.dtype(),
            shape: s.shape.clone(),
            bytes: Box::new(move |sink| {
                let end = checked_product(&shape)?
                    .checked_add(offset)
                    .ok_or_else(|| {
                        Error::Inconsistent(format!(
                            "segment at {offset} of shape {shape:?} is too large"
                        ))
                    })?;
                let run = offset..end;
                segment_le_to(
                    params.tensor.data(),
                    std::slice::from_ref(&run),
                    &shape,
                    order,
                    sink,
                )
            }),
        });
    }

    let mut updater_meta = Value::Null;
    if let Some(state) = &archive.updater_state {
        let ul = match layout.as_ref().map(|_| archive.updater_layout()) {
            Some(Ok(Some(ul))) => Some(ul),
            Some(Err(e)) => {
                warn(&format!(
                    "the updater-state layout cannot be derived ({e}): the state is exported as one flat tensor updater.flat"
                ));
                None
            }
            _ => None,
        };
        let pieces = match &ul {
            Some(ul) => state_pieces(&segments, ul)?,
            None => Vec::new(),
        };
        let covered: usize = pieces
            .iter()
            .flat_map(|p| p.runs.iter().map(|r| r.len()))
            .sum();
        let by_piece = ul.is_some() && covered == state.tensor.len();
        updater_meta = json!({
            "type": ul.as_ref().map(|u| u.summary()),
            "layout": ul.as_ref().map(|u| u.kind.name()),
            "state_len": state.tensor.len(),
            "dtype": state.tensor.dtype().short_name(),
            "array": array_meta(state),
            "tensors": if by_piece { "pieces" } else { "flat" },
        });
        if by_piece {
            state_pieces_list = pieces;
        } else {
            items.push(NamedTensor {
                name: "updater.flat".into(),
                dtype: state.tensor.dtype(),
                shape: vec![state.tensor.len()],
                bytes: Box::new(move |sink| data_le_to(state.tensor.data(), sink)),
            });
        }
        for p in state_pieces_list {
            let (shape, order, runs) = (p.shape.clone(), p.order, p.runs);
            items.push(NamedTensor {
                name: p.name,
                dtype: state.tensor.dtype(),
                shape: p.shape,
                bytes: Box::new(move |sink| {
                    segment_le_to(state.tensor.data(), &runs, &shape, order, sink)
                }),
            });
        }
    }

    let mut normalizer_json = Value::Null;
    if let Some(n) = &archive.normalizer {
        normalizer_json = normalizer_meta(n);
        for (name, a) in n.arrays() {
            items.push(NamedTensor {
                name: format!("normalizer.{name}"),
                dtype: a.tensor.dtype(),
                shape: a.tensor.shape().to_vec(),
                bytes: Box::new(move |sink| data_le_to(a.tensor.data(), sink)),
            });
        }
        if let Some(raw) = normalizer_raw(n) {
            items.push(u8_item("normalizer.raw".into(), raw));
        }
    }
    for (key, bytes) in &archive.objects {
        items.push(u8_item(format!("objects.{key}"), bytes));
    }
    for (name, bytes) in &archive.unknown_entries {
        items.push(u8_item(format!("entries.{name}"), bytes));
    }

    let param_order: Vec<Value> = segments
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "offset": s.offset,
                "shape": s.shape,
                "order": s.order.as_char().to_string(),
            })
        })
        .collect();
    let storage = match archive.params_storage {
        ParamsStorage::Array => "array",
        ParamsStorage::Empty { marker: true } => "empty+marker",
        ParamsStorage::Empty { marker: false } => "empty",
    };
    let charset = match archive.config.charset() {
        crate::config::Charset::Utf8 => "UTF-8",
        crate::config::Charset::Latin1 => "ISO-8859-1",
    };
    let metadata: Vec<(String, String)> = vec![
        (meta::FORMAT.into(), meta::FORMAT_VALUE.into()),
        (meta::VERSION.into(), "1".into()),
        (meta::TOOL.into(), tool.to_string()),
        (meta::KIND.into(), archive.kind().name().into()),
        (meta::CONFIGURATION.into(), archive.config.text().into()),
        (meta::CHARSET.into(), charset.into()),
        (meta::DTYPE.into(), archive.dtype().short_name().into()),
        (
            meta::ENCODING.into(),
            archive
                .origin
                .encoding
                .map_or("modern", |e| e.name())
                .into(),
        ),
        (
            meta::PARAMS.into(),
            json!({"storage": storage, "array": array_meta(params)}).to_string(),
        ),
        (
            meta::PARAM_ORDER.into(),
            Value::from(param_order).to_string(),
        ),
        (meta::UPDATER.into(), updater_meta.to_string()),
        (meta::NORMALIZER.into(), normalizer_json.to_string()),
        (
            meta::OBJECTS.into(),
            Value::from(
                archive
                    .objects
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .to_string(),
        ),
        (
            meta::ENTRIES.into(),
            Value::from(
                archive
                    .unknown_entries
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .to_string(),
        ),
    ];
    Ok(super::Flattened {
        tensors: items,
        metadata,
    })
}
