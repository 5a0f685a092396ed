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
use crate::tensor::{checked_product, view_segment, Element, Order, Tensor, TensorData};
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
        // The current variant first; its error is the one reported if none fits.
        let [current, older @ ..] = Variant::ALL;
        let first_err = match build_variant(config.kind(), &nodes, total, current) {
            Ok(l) => return Ok(l),
            Err(e) => e,
        };
        for variant in older {
            if let Ok(l) = build_variant(config.kind(), &nodes, total, variant) {
                return Ok(l);
            }
        }
        Err(first_err)
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
                                .try_fold(total, usize::checked_add)
                                .ok_or_else(too_many_params)?
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
    let n = checked_product(shape)?;
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
    let n = checked_product(shape)?;
    let seg_len = runs
        .iter()
        .try_fold(0usize, |acc, r| acc.checked_add(r.len()))
        .ok_or_else(|| Error::Inconsistent(format!("segment runs {runs:?} are too long")))?;
    if src.len() != n || seg_len != n || runs.iter().any(|r| r.end > flat.len()) {
        return Err(Error::Inconsistent(format!(
            "cannot place {} elements of shape {shape:?} into a {seg_len}-element segment",
            src.len()
        )));
    }
    let targets = segment_positions(runs, shape, order);
    let flat_len = flat.len();
    let misfit = || {
        Error::Inconsistent(format!(
            "segment {runs:?} of shape {shape:?} does not fit in {flat_len} elements"
        ))
    };
    macro_rules! place {
        ($($v:ident),*) => {
            match (flat, src) {
                $((TensorData::$v(dst), TensorData::$v(s)) => {
                    for (t, &x) in targets.zip(s.iter()) {
                        *t.and_then(|t| dst.get_mut(t)).ok_or_else(misfit)? = x;
                    }
                })*
                (flat, src) => {
                    return Err(Error::Inconsistent(format!(
                        "cannot place {} data into {} data",
                        src.dtype(),
                        flat.dtype()
                    )))
                }
            }
        };
    }
    place!(F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, U32, U64, Bool);
    Ok(())
}

/// Where the logical elements of a segment live in the flat vector, in row-major order of
/// `shape`: the segment is the concatenation of `runs`, laid out in `order`. `None` for an
/// element the runs are too short to hold.
pub fn segment_positions<'a>(
    runs: &'a [std::ops::Range<usize>],
    shape: &'a [usize],
    order: Order,
) -> impl Iterator<Item = Option<usize>> + 'a {
    // Each run with its start in the segment, to locate a segment position in its run (nearly
    // always there is a single run). Runs past usize::MAX elements cannot be reached.
    let placed: Vec<(usize, &std::ops::Range<usize>)> = runs
        .iter()
        .scan(0usize, |acc, r| {
            let s = *acc;
            *acc = acc.saturating_add(r.len());
            Some((s, r))
        })
        .collect();
    let at = move |i: usize| -> Option<usize> {
        let (start, run) = match runs {
            [only] => (0, only),
            _ => {
                let k = placed.partition_point(|&(s, _)| s <= i).checked_sub(1)?;
                *placed.get(k)?
            }
        };
        let within = i - start;
        (within < run.len()).then(|| run.start + within)
    };
    let positions: Box<dyn Iterator<Item = usize> + 'a> = match order {
        Order::C => Box::new(0..checked_product(shape).unwrap_or(0)),
        Order::F => Box::new(f_offsets(shape)),
    };
    positions.map(at)
}

/// For each row-major position of `shape`, in turn, the offset of that element in an
/// `f`-ordered (column-major) segment; computed on the fly. A shape whose element count
/// overflows yields nothing (no such segment fits in memory).
pub fn f_offsets(shape: &[usize]) -> impl Iterator<Item = usize> + '_ {
    let n = checked_product(shape).unwrap_or(0);
    // Column-major strides: the product of the dimensions before each axis (all within n).
    let fstride: Vec<usize> = shape
        .iter()
        .scan(1usize, |acc, &d| {
            let s = *acc;
            *acc = acc.saturating_mul(d);
            Some(s)
        })
        .collect();
    let mut idx = vec![0usize; shape.len()];
    let mut f = 0usize;
    (0..n).map(move |_| {
        let here = f;
        // Odometer step over the axes, last axis fastest.
        for ((i, &stride), &d) in idx.iter_mut().zip(&fstride).zip(shape).rev() {
            *i += 1;
            f += stride;
            if *i < d {
                break;
            }
            f -= stride * d;
            *i = 0;
        }
        here
    })
}

fn too_many_params() -> Error {
    Error::Config("the configuration defines more parameters than can be addressed".into())
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
    // Checked, so that the offsets of pass 2 (at most the known sums and `total`) cannot
    // overflow either.
    let known_sum = |ls: &mut dyn Iterator<Item = &LayerLayout>| -> Result<usize> {
        ls.filter_map(|l| l.len)
            .try_fold(0usize, usize::checked_add)
            .ok_or_else(too_many_params)
    };
    let unknown = match (first_unknown, last_unknown) {
        (None, _) | (_, None) => {
            let sum = known_sum(&mut layers.iter())?;
            if sum != total {
                return Err(Error::Inconsistent(format!(
                    "the configuration defines {sum} parameters but coefficients.bin holds {total}"
                )));
            }
            None
        }
        (Some(first), Some(last)) => {
            let front = known_sum(&mut layers.iter().take(first))?;
            let back = known_sum(&mut layers.iter().skip(last.saturating_add(1)))?;
            let known = front.checked_add(back).ok_or_else(too_many_params)?;
            let len = total.checked_sub(known).ok_or_else(|| {
                Error::Inconsistent(format!(
                    "the known layers alone need {known} parameters but coefficients.bin holds {total}"
                ))
            })?;
            // From the first to the last unknown layer.
            let region: Vec<&LayerLayout> = layers
                .iter()
                .enumerate()
                .filter(|(i, _)| (first..=last).contains(i))
                .map(|(_, l)| l)
                .collect();
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
            Some((first, last, span))
        }
    };

    // Pass 2: offsets.
    let mut offset = 0usize;
    for (i, (l, spec)) in layers.iter_mut().zip(specs).enumerate() {
        if let Some((a, b, span)) = unknown.as_ref().filter(|(a, b, _)| (*a..=*b).contains(&i)) {
            // A lone unknown layer is the whole span.
            if a == b {
                l.offset = Some(offset);
                l.len = Some(span.len);
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

#[cfg(test)]
mod hostile_tests {
    use serde_json::{json, Value};

    use super::*;

    fn mln(layers: Vec<Value>) -> Configuration {
        let confs: Vec<Value> = layers.into_iter().map(|l| json!({ "layer": l })).collect();
        Configuration::parse(json!({ "confs": confs }).to_string()).unwrap()
    }

    fn layer(class: &str, fields: Value) -> Value {
        let mut v = json!({ "@class": format!("org.deeplearning4j.nn.conf.layers.{class}") });
        v.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        v
    }

    fn dense(n: i64) -> Value {
        layer("DenseLayer", json!({ "nin": n, "nout": n }))
    }

    fn custom() -> Value {
        json!({ "@class": "com.example.CustomLayer" })
    }

    #[test]
    fn shared_axis_of_i64_min_is_an_error() {
        let c = mln(vec![layer(
            "PReLULayer",
            json!({ "inputShape": [2, 3], "sharedAxes": [i64::MIN] }),
        )]);
        let e = ParamLayout::build(&c, 6).unwrap_err().to_string();
        assert!(e.contains("bad shared axis"), "{e}");
    }

    #[test]
    fn huge_composite_distribution_sizes_are_an_error() {
        let gaussian = json!({ "@class": "org.deeplearning4j.nn.conf.layers.variational.GaussianReconstructionDistribution" });
        let dist = json!({
            "@class": "org.deeplearning4j.nn.conf.layers.variational.CompositeReconstructionDistribution",
            "distributionSizes": [i64::MAX, i64::MAX],
            "reconstructionDistributions": [gaussian.clone(), gaussian],
        });
        let vae = layer(
            "variational.VariationalAutoencoder",
            json!({ "nin": 2, "nout": 2, "encoderLayerSizes": [2], "decoderLayerSizes": [2],
                    "outputDistribution": dist }),
        );
        let e = ParamLayout::build(&mln(vec![vae]), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Composite distribution: bad size"), "{e}");
    }

    #[test]
    fn deeply_nested_bidirectional_wrappers_are_refused_quickly() {
        let mut l = dense(2);
        for _ in 0..60 {
            l = layer("recurrent.Bidirectional", json!({ "fwd": l }));
        }
        let e = ParamLayout::build(&mln(vec![l]), 6)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Bidirectional: more than"), "{e}");
    }

    #[test]
    fn known_layers_beyond_usize_around_an_unknown_one_are_an_error() {
        let big = i32::MAX as i64;
        let mut layers = vec![dense(big), dense(big), dense(big), custom()];
        layers.extend([dense(big), dense(big), dense(big)]);
        let e = ParamLayout::build(&mln(layers), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more parameters than can be addressed"), "{e}");
    }

    #[test]
    fn a_configuration_beyond_usize_parameters_has_no_layout() {
        let big = i32::MAX as i64;
        let c = mln((0..5).map(|_| dense(big)).collect());
        let e = ParamLayout::for_config(&c).unwrap_err().to_string();
        assert!(e.contains("more parameters than can be addressed"), "{e}");
    }

    #[test]
    fn segment_positions_past_the_runs_are_none() {
        let none: Vec<Option<usize>> = segment_positions(&[], &[2], Order::C).collect();
        assert_eq!(none, vec![None, None]);
        let runs = [3..5, 9..10];
        let got: Vec<Option<usize>> = segment_positions(&runs, &[4], Order::C).collect();
        assert_eq!(got, vec![Some(3), Some(4), Some(9), None]);
        let f: Vec<usize> = f_offsets(&[2, 3]).collect();
        assert_eq!(f, vec![0, 2, 4, 1, 3, 5]);
        assert_eq!(f_offsets(&[usize::MAX, 2]).count(), 0);
    }

    #[test]
    fn insert_segment_refuses_runs_shorter_than_the_shape() {
        let mut flat = TensorData::F32(vec![0.0; 4]);
        let src = TensorData::F32(vec![1.0; 4]);
        let runs = [0..2, 3..usize::MAX];
        assert!(insert_segment(&mut flat, &runs, &[4], Order::C, &src).is_err());
    }
}
