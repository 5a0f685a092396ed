//! Where every parameter lives in `coefficients.bin`: names, shapes, reshape order, offsets.
//!
//! MultiLayerNetwork layers are laid out in layer order, ComputationGraph vertices in topological
//! order. Layers of unknown classes (user layers) do not stop the layout: their extent is what the
//! known layers leave over, reported as an [`UnknownSpan`].

mod batchnorm;
mod convolution;
mod feedforward;
pub mod layers;
mod recurrent;
mod samediff;
pub mod spec;
mod variational;
mod wrappers;

use ndarray::ArrayViewD;

use crate::config::{Configuration, LayerConf, ModelKind, Node};
use crate::error::{Error, Result};
use crate::tensor::{view_segment, Element, Order, Tensor, TensorData};
pub use layers::layer_params;
pub use spec::{Known, LayerParams, ParamSpec, UpdaterRef, Variant};

/// Vertex types that never hold parameters.
const PARAMLESS_VERTICES: &[&str] = &[
    "MergeVertex",
    "ElementWiseVertex",
    "SubsetVertex",
    "PreprocessorVertex",
    "StackVertex",
    "UnstackVertex",
    "ReshapeVertex",
    "ScaleVertex",
    "ShiftVertex",
    "L2Vertex",
    "L2NormalizeVertex",
    "PoolHelperVertex",
    "DuplicateToTimeSeriesVertex",
    "LastTimeStepVertex",
    "ReverseTimeSeriesVertex",
    "InputVertex",
];

/// One parameter in the flat vector.
#[derive(Debug, Clone)]
pub struct ParamEntry {
    /// Layer index (MultiLayerNetwork) or vertex name (ComputationGraph).
    pub node: String,
    /// DL4J's key inside the layer (`W`).
    pub key: String,
    /// DL4J's full key (`0_W`, `dense1_W`).
    pub name: String,
    pub shape: Vec<usize>,
    pub order: Order,
    /// Start in the flat vector.
    pub offset: usize,
    pub updater: UpdaterRef,
    pub pretrain: bool,
    /// Inside a frozen wrapper.
    pub frozen: bool,
    /// 0.9.x learning-rate policy key (see [`ParamSpec::lr_policy`]).
    pub lr_policy: Option<serde_json::Value>,
}

impl ParamEntry {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// One layer or vertex and its parameters.
#[derive(Debug, Clone)]
pub struct LayerLayout {
    pub node: String,
    pub type_name: String,
    /// Fully-qualified class, where the JSON names one.
    pub class: Option<String>,
    /// The layout table knows this layer's type.
    pub known: bool,
    /// Start in the flat vector (unknown inside a multi-layer unknown span).
    pub offset: Option<usize>,
    pub len: Option<usize>,
    /// Parameters in memory order (empty for unknown layers).
    pub params: Vec<ParamEntry>,
    /// Keys in `paramTable()` order.
    pub table: Vec<String>,
    /// Parameters that have updater state but are not in coefficients.bin.
    pub state_only: Vec<ParamSpec>,
    /// Updater of the layer as a whole (used for unknown layers).
    pub updater: UpdaterRef,
}

/// A stretch of the flat vector that belongs to layers we cannot lay out.
#[derive(Debug, Clone)]
pub struct UnknownSpan {
    pub nodes: Vec<String>,
    /// Class (or legacy type) names of the unknown layers in it.
    pub classes: Vec<String>,
    pub offset: usize,
    pub len: usize,
    /// Common updater of the span, or `Unknown` if its layers differ.
    pub updater: UpdaterRef,
}

/// The complete parameter layout of a network.
#[derive(Debug, Clone)]
pub struct ParamLayout {
    pub kind: ModelKind,
    /// Nodes in flat-vector order.
    pub layers: Vec<LayerLayout>,
    pub total: usize,
    pub unknown: Option<UnknownSpan>,
    /// Old-release quirks that made the count fit.
    pub variant: Variant,
}

impl ParamLayout {
    /// Lays out `total` parameters according to the configuration.
    pub fn build(config: &Configuration, total: usize) -> Result<ParamLayout> {
        let nodes = ordered_nodes(config)?;
        let mut first_err = None;
        for variant in Variant::ALL {
            match build_variant(config.kind(), &nodes, total, variant) {
                Ok(l) => return Ok(l),
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        Err(first_err.expect("at least one variant"))
    }

    /// The layout a configuration defines on its own (no parameter file to size unknown
    /// layers by): every layer must be known. Used to build a parameter vector from scratch.
    pub fn for_config(config: &Configuration) -> Result<ParamLayout> {
        let nodes = ordered_nodes(config)?;
        let probe = build_variant(config.kind(), &nodes, 0, Variant::CURRENT);
        let total = match probe {
            Ok(l) => return Ok(l),
            Err(_) => {
                let mut total = 0usize;
                for n in &nodes {
                    let Some(l) = &n.layer else { continue };
                    match layer_params(l, Variant::CURRENT)
                        .map_err(|e| Error::Config(format!("layer {:?}: {e}", n.name)))?
                    {
                        Known::Params(p) => {
                            total = p
                                .memory
                                .iter()
                                .map(ParamSpec::len)
                                .fold(total, usize::saturating_add)
                        }
                        Known::Unknown => {
                            return Err(Error::Config(format!(
                                "layer {:?} ({}) has no known parameter layout",
                                n.name,
                                l.class.as_deref().unwrap_or(&l.type_name)
                            )))
                        }
                    }
                }
                total
            }
        };
        let layout = build_variant(config.kind(), &nodes, total, Variant::CURRENT)?;
        if layout.unknown.is_some() {
            return Err(Error::Config(
                "the configuration has vertices of unknown layout".into(),
            ));
        }
        Ok(layout)
    }

    /// All known parameters in flat order.
    pub fn params(&self) -> impl Iterator<Item = &ParamEntry> {
        self.layers.iter().flat_map(|l| l.params.iter())
    }

    /// A parameter by DL4J's full key (`0_W`).
    pub fn get(&self, name: &str) -> Option<&ParamEntry> {
        self.params().find(|p| p.name == name)
    }

    /// Every layer's type is known.
    pub fn fully_known(&self) -> bool {
        self.unknown.is_none()
    }

    /// Zero-copy view of a parameter in its logical shape.
    pub fn view<'a, T: Element>(
        &self,
        p: &ParamEntry,
        flat: &'a Tensor,
    ) -> Result<ArrayViewD<'a, T>> {
        let data = flat.as_slice::<T>().ok_or_else(|| {
            Error::Inconsistent(format!("parameters are {}, not {}", flat.dtype(), T::DTYPE))
        })?;
        let seg = data.get(p.range()).ok_or_else(|| {
            Error::Inconsistent(format!(
                "{} lies outside the {} parameters",
                p.name,
                data.len()
            ))
        })?;
        view_segment(seg, &p.shape, p.order)
    }

    /// A parameter copied out as a row-major tensor in its logical shape (dtype kept).
    pub fn extract(&self, p: &ParamEntry, flat: &Tensor) -> Result<Tensor> {
        extract_segment(flat.data(), p.offset, &p.shape, p.order)
    }
}

/// Copies `shape`'s worth of elements from `offset`, reordering `f` segments to row-major.
pub fn extract_segment(
    flat: &TensorData,
    offset: usize,
    shape: &[usize],
    order: Order,
) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    if offset.checked_add(n).is_none_or(|end| end > flat.len()) {
        return Err(Error::Inconsistent(format!(
            "segment {offset}..{} lies outside {} elements",
            offset.saturating_add(n),
            flat.len()
        )));
    }
    let data = match order {
        Order::C => flat.slice(offset..offset + n),
        Order::F => {
            let idx: Vec<usize> = f_offsets(shape).map(|f| offset + f).collect();
            flat.gather(&idx)
        }
    };
    Tensor::new(shape.to_vec(), data)
}

/// The inverse of `extract_segment`: writes the row-major `src` (of `shape`) into the segment of
/// `flat` made of `runs` (concatenated), laid out in `order`. Types must match.
pub fn insert_segment(
    flat: &mut TensorData,
    runs: &[std::ops::Range<usize>],
    shape: &[usize],
    order: Order,
    src: &TensorData,
) -> Result<()> {
    let n: usize = shape.iter().product();
    let seg_len: usize = runs.iter().map(|r| r.len()).sum();
    if src.len() != n || seg_len != n || runs.iter().any(|r| r.end > flat.len()) {
        return Err(Error::Inconsistent(format!(
            "cannot place {} elements of shape {shape:?} into a {seg_len}-element segment",
            src.len()
        )));
    }
    if src.dtype() != flat.dtype() {
        return Err(Error::Inconsistent(format!(
            "cannot place {} data into {} data",
            src.dtype(),
            flat.dtype()
        )));
    }
    let targets = segment_positions(runs, shape, order);
    macro_rules! place {
        ($($v:ident),*) => {
            match (flat, src) {
                $((TensorData::$v(dst), TensorData::$v(s)) => {
                    for (p, t) in targets.enumerate() {
                        dst[t] = s[p];
                    }
                })*
                _ => unreachable!("dtypes checked"),
            }
        };
    }
    place!(F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, U32, U64, Bool);
    Ok(())
}

/// Where the logical elements of a segment live in the flat vector, in row-major order of
/// `shape`: the segment is the concatenation of `runs`, laid out in `order`.
pub fn segment_positions<'a>(
    runs: &'a [std::ops::Range<usize>],
    shape: &'a [usize],
    order: Order,
) -> impl Iterator<Item = usize> + 'a {
    // Prefix sums locate a segment position in its run (nearly always there is a single run).
    let starts: Vec<usize> = runs
        .iter()
        .scan(0, |acc, r| {
            let s = *acc;
            *acc += r.len();
            Some(s)
        })
        .collect();
    let at = move |i: usize| -> usize {
        if runs.len() == 1 {
            return runs[0].start + i;
        }
        let k = starts.partition_point(|&s| s <= i) - 1;
        runs[k].start + (i - starts[k])
    };
    let n: usize = shape.iter().product();
    let positions: Box<dyn Iterator<Item = usize> + 'a> = match order {
        Order::C => Box::new(0..n),
        Order::F => Box::new(f_offsets(shape)),
    };
    positions.map(at)
}

/// For each row-major position of `shape`, in turn, the offset of that element in an
/// `f`-ordered (column-major) segment; computed on the fly.
pub fn f_offsets(shape: &[usize]) -> impl Iterator<Item = usize> + '_ {
    let rank = shape.len();
    let mut fstride = vec![1usize; rank];
    for k in 1..rank {
        fstride[k] = fstride[k - 1] * shape[k - 1];
    }
    let n: usize = shape.iter().product();
    let mut idx = vec![0usize; rank];
    let mut f = 0usize;
    (0..n).map(move |_| {
        let here = f;
        for k in (0..rank).rev() {
            idx[k] += 1;
            f += fstride[k];
            if idx[k] < shape[k] {
                break;
            }
            f -= fstride[k] * shape[k];
            idx[k] = 0;
        }
        here
    })
}

/// Nodes in flat-vector order: layer order, or the graph's topological order without inputs.
fn ordered_nodes(config: &Configuration) -> Result<Vec<Node<'_>>> {
    let mut nodes = config.nodes()?;
    if let Some(g) = config.graph()? {
        let order = g.topological_order()?;
        let mut sorted = Vec::with_capacity(nodes.len());
        for name in order {
            if let Some(i) = nodes.iter().position(|n| n.name == name) {
                sorted.push(nodes.swap_remove(i));
            }
        }
        nodes = sorted;
    }
    Ok(nodes)
}

/// A vertex body seen through the layer accessors (SameDiff vertices carry updater fields).
fn vertex_view<'a>(n: &Node<'a>) -> Option<LayerConf<'a>> {
    let body = match n.vertex_type.as_deref() {
        Some("FrozenVertex") => n.body.get("underlying")?,
        _ => n.body,
    };
    body.get("vertexParams")?;
    Some(LayerConf {
        type_name: n.vertex_type.clone().unwrap_or_default(),
        class: None,
        style: crate::config::TypeStyle::Class,
        dl4j_class: false,
        frozen: false,
        body,
        nnc: None,
    })
}

fn layer_updater(l: &LayerConf) -> UpdaterRef {
    let iu = l.get("iupdater");
    match (iu, l.get("biasUpdater")) {
        (Some(u), Some(b)) if u != b => UpdaterRef::Unknown,
        (Some(u), _) => UpdaterRef::Config(u.clone()),
        (None, _) => match l.get("updater") {
            Some(serde_json::Value::String(s)) => UpdaterRef::Legacy(s.clone()),
            Some(u @ serde_json::Value::Object(_)) => UpdaterRef::Config(u.clone()),
            _ => UpdaterRef::Unknown,
        },
    }
}

fn build_variant(
    kind: ModelKind,
    nodes: &[Node],
    total: usize,
    variant: Variant,
) -> Result<ParamLayout> {
    // Pass 1: each node's params, or None when unknown.
    let mut layers = Vec::with_capacity(nodes.len());
    let mut specs: Vec<Option<LayerParams>> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let (type_name, class, params, updater) = match (&n.layer, &n.vertex_type) {
            (Some(l), _) => {
                let p = match layer_params(l, variant)
                    .map_err(|e| Error::Config(format!("layer {:?}: {e}", n.name)))?
                {
                    Known::Params(p) => Some(p),
                    Known::Unknown => None,
                };
                (l.type_name.clone(), l.class.clone(), p, layer_updater(l))
            }
            (None, Some(v)) => {
                let class = n
                    .body
                    .get("@class")
                    .and_then(|c| c.as_str())
                    .map(str::to_string);
                let p = if PARAMLESS_VERTICES.contains(&v.as_str()) {
                    Some(LayerParams::default())
                } else {
                    vertex_view(n)
                        .map(|view| samediff::vertex_params(&view, v == "FrozenVertex"))
                        .transpose()
                        .map_err(|e| Error::Config(format!("vertex {:?}: {e}", n.name)))?
                        .flatten()
                };
                (v.clone(), class, p, UpdaterRef::Unknown)
            }
            (None, None) => ("?".into(), None, None, UpdaterRef::Unknown),
        };
        layers.push(LayerLayout {
            node: n.name.clone(),
            type_name,
            class,
            known: params.is_some(),
            offset: None,
            len: params
                .as_ref()
                .map(|p| p.memory.iter().map(ParamSpec::len).sum()),
            params: Vec::new(),
            table: params.as_ref().map(|p| p.table.clone()).unwrap_or_default(),
            state_only: params
                .as_ref()
                .map(|p| p.state_only.clone())
                .unwrap_or_default(),
            updater,
        });
        specs.push(params);
    }

    let first_unknown = layers.iter().position(|l| !l.known);
    let last_unknown = layers.iter().rposition(|l| !l.known);
    let known_sum = |ls: &[LayerLayout]| -> usize {
        ls.iter()
            .filter_map(|l| l.len)
            .fold(0, usize::saturating_add)
    };
    let unknown = match (first_unknown, last_unknown) {
        (None, _) | (_, None) => {
            let sum = known_sum(&layers);
            if sum != total {
                return Err(Error::Inconsistent(format!(
                    "the configuration defines {sum} parameters but coefficients.bin holds {total}"
                )));
            }
            None
        }
        (Some(first), Some(last)) => {
            let front = known_sum(&layers[..first]);
            let back = known_sum(&layers[last + 1..]);
            let len = total
                .checked_sub(front.saturating_add(back))
                .ok_or_else(|| {
                    Error::Inconsistent(format!(
                    "the known layers alone need {} parameters but coefficients.bin holds {total}",
                    front + back
                ))
                })?;
            let region = &layers[first..=last];
            let updater = {
                let mut us = region
                    .iter()
                    .filter(|l| !l.known || l.len != Some(0))
                    .map(|l| &l.updater);
                let first_u = us.next().cloned().unwrap_or(UpdaterRef::Unknown);
                if region.iter().any(|l| l.known && l.len != Some(0)) || us.any(|u| *u != first_u) {
                    UpdaterRef::Unknown
                } else {
                    first_u
                }
            };
            let span = UnknownSpan {
                nodes: region.iter().map(|l| l.node.clone()).collect(),
                classes: region
                    .iter()
                    .filter(|l| !l.known)
                    .map(|l| l.class.clone().unwrap_or_else(|| l.type_name.clone()))
                    .collect(),
                offset: front,
                len,
                updater,
            };
            if first == last {
                layers[first].len = Some(len);
            }
            Some((first, last, span))
        }
    };

    // Pass 2: offsets.
    let mut offset = 0usize;
    for (i, (l, spec)) in layers.iter_mut().zip(specs).enumerate() {
        let in_region = matches!(&unknown, Some((a, b, _)) if (*a..=*b).contains(&i));
        if in_region {
            let (a, b, span) = unknown.as_ref().expect("checked");
            if a == b {
                l.offset = Some(offset);
            }
            if i == *b {
                offset = span.offset + span.len;
            }
            continue;
        }
        l.offset = Some(offset);
        if let Some(spec) = spec {
            for p in spec.memory {
                let len = p.len();
                l.params.push(ParamEntry {
                    name: format!("{}_{}", l.node, p.key),
                    node: l.node.clone(),
                    key: p.key,
                    shape: p.shape,
                    order: p.order,
                    offset,
                    updater: p.updater,
                    pretrain: p.pretrain,
                    frozen: p.frozen,
                    lr_policy: p.lr_policy,
                });
                offset += len;
            }
        }
    }
    Ok(ParamLayout {
        kind,
        layers,
        total,
        unknown: unknown.map(|(_, _, s)| s),
        variant,
    })
}
