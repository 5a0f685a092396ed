//! ONNX -> DL4J for models written by other tools (PyTorch, tf2onnx, skl2onnx, ...): the graph's
//! nodes are matched to DL4J layers and vertices that compute the same thing, and the result is a
//! MultiLayerNetwork (one chain) or a ComputationGraph.
//!
//! Nodes are translated in file order (ONNX requires topological order). Every ONNX value is
//! either a constant (initializers, `Constant` nodes, and whatever folds from them) or a [`Sym`]:
//! the output of a DL4J vertex, possibly with its axes permuted or with a DL4J preprocessor still
//! to apply. A node that has no DL4J equivalent is recorded and the translation goes on, so the
//! error lists every such node at once.

mod fold;
#[cfg(test)]
mod hostile_tests;
mod json;
mod net;
mod ops;

use std::collections::{HashMap, HashSet};

use dl4j_core::java_serial::{serialize, JavaValue};
use dl4j_core::tensor::{DType, Tensor};
use dl4j_core::{Archive, Error, Result};
use ndarray::{ArrayD, IxDyn};
use serde_json::{json, Value};

use crate::proto::{self, Attr, Dim, ForeignModel, ForeignNode};
use net::{Body, Layer, Net, Sym};

pub use json::Family;

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Loss of the output layer (`MCXENT`, `XENT`, `MSE`, ...) instead of the one the final
    /// activation suggests.
    pub loss: Option<String>,
    /// Write the translated part when some nodes cannot be translated.
    pub allow_partial: bool,
    /// Graph inputs to treat as constants (weights that a model takes as inputs).
    pub frozen: Vec<(String, Tensor)>,
    /// The model file, whose folder holds any external data (`None`: such data is an error).
    pub source_path: Option<std::path::PathBuf>,
}

/// An imported model and what the user should know about the conversion.
#[derive(Debug)]
pub struct Imported {
    pub archive: Archive,
    pub notes: Vec<String>,
}

/// Key of the extra object that records where an imported model came from.
pub const SOURCE_OBJECT: &str = "dl4j.source";
/// Key of the extra object holding a classifier's class labels.
pub const LABELS_OBJECT: &str = "labels";

/// Why a node was not translated.
type Done = std::result::Result<(), String>;

/// Translation state.
pub(crate) struct Cx {
    pub net: Net,
    pub consts: HashMap<String, ArrayD<f64>>,
    pub opset: i64,
    /// ONNX values read by more than one node, or by a node and the graph output.
    uses: HashMap<String, usize>,
    graph_outputs: HashSet<String>,
    pub notes: Vec<String>,
    /// Class labels found in classic-ML post-processing.
    pub labels: Option<Vec<String>>,
    /// Values produced by nodes that were dropped on purpose (post-processing), by name.
    pub dropped: HashSet<String>,
    /// String-typed initializers (class labels), by name.
    pub strings: HashMap<String, Vec<String>>,
}

impl Cx {
    pub fn konst(&self, name: &str) -> Option<&ArrayD<f64>> {
        self.consts.get(name)
    }

    /// The translated value `name` (not a constant).
    pub fn sym(&self, name: &str) -> std::result::Result<Sym, String> {
        if self.consts.contains_key(name) {
            return Err(format!(
                "input {name:?} is a constant where DL4J needs the network's data"
            ));
        }
        self.net
            .syms()
            .get(name)
            .cloned()
            .ok_or_else(|| format!("input {name:?} is not available"))
    }

    pub fn set(&mut self, name: &str, sym: Sym) {
        self.net.set_sym(name, sym);
    }

    /// How many readers a value has (nodes and graph outputs).
    pub fn uses(&self, name: &str) -> usize {
        self.uses.get(name).copied().unwrap_or(0)
    }

    pub fn is_output(&self, name: &str) -> bool {
        self.graph_outputs.contains(name)
    }

    /// The layer producing `sym` if a following op may still change it: it exists, and its
    /// output, in every ONNX view of it, is read only along the chain to that op and is not a
    /// graph output.
    pub fn private_layer(&mut self, onnx_name: &str, sym: &Sym) -> Option<&mut Layer> {
        // Elementwise follow-ups (activations, per-channel bias) do not care how the DL4J
        // array's axes relate to ONNX's, only that no preprocessor sits in between.
        if self.uses(onnx_name) != 1
            || self.is_output(onnx_name)
            || sym.pre.is_some()
            || sym.split.is_some()
        {
            return None;
        }
        if self.net.consumers(&sym.src) != 0 {
            return None;
        }
        // Every ONNX view of the layer's output (Transpose, Squeeze, ...) must be read exactly
        // once, so the views form one chain ending in the op: a change cannot leak elsewhere.
        let shared = self
            .net
            .views_of(&sym.src)
            .any(|k| self.uses(k) != 1 || self.is_output(k));
        if shared {
            return None;
        }
        match &mut self.net.vertex_mut(&sym.src)?.body {
            Body::Layer(l) => Some(l),
            Body::Vertex(_) => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Attribute access.

pub fn attr_int(n: &ForeignNode, key: &str, default: i64) -> i64 {
    match n.attr(key) {
        Some(Attr::Int(v)) => *v,
        _ => default,
    }
}

pub fn attr_ints(n: &ForeignNode, key: &str) -> Option<Vec<i64>> {
    match n.attr(key) {
        Some(Attr::Ints(v)) => Some(v.clone()),
        _ => None,
    }
}

pub fn attr_float(n: &ForeignNode, key: &str, default: f32) -> f32 {
    match n.attr(key) {
        Some(Attr::Float(v)) => *v,
        _ => default,
    }
}

pub fn attr_str<'n>(n: &'n ForeignNode, key: &str) -> Option<&'n str> {
    match n.attr(key) {
        Some(Attr::Str(v)) => Some(v.as_str()),
        _ => None,
    }
}

/// The `i`-th input's name, if present and not empty (ONNX marks omitted optional inputs
/// with "").
pub fn input(n: &ForeignNode, i: usize) -> Option<&str> {
    n.inputs
        .get(i)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// The node's inputs that are present (ONNX writes "" for an omitted optional one).
pub fn present_inputs(n: &ForeignNode) -> Vec<&str> {
    n.inputs
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The node's first output.
pub fn first_output(n: &ForeignNode) -> std::result::Result<&str, String> {
    n.outputs
        .first()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "no output".into())
}

/// An ONNX axis (negative counts from the end) as an index below `rank`.
pub fn axis(a: i64, rank: usize) -> std::result::Result<usize, String> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if (0..r).contains(&v) {
        Ok(v as usize)
    } else {
        Err(format!("axis {a} outside rank {rank}"))
    }
}

/// A `Transpose` permutation of a rank-`rank` value: every axis exactly once.
pub fn permutation(perm: &[i64], rank: usize) -> std::result::Result<Vec<usize>, String> {
    let p: Vec<usize> = perm
        .iter()
        .map(|&a| axis(a, rank))
        .collect::<std::result::Result<_, _>>()?;
    let mut seen = vec![false; rank];
    for &a in &p {
        // `axis` keeps every entry below `rank`.
        if seen.get_mut(a).is_some_and(|s| std::mem::replace(s, true)) {
            return Err(format!("perm {perm:?} repeats an axis"));
        }
    }
    if p.len() != rank {
        return Err(format!("perm {perm:?} does not match rank {rank}"));
    }
    Ok(p)
}

/// The positions `Unsqueeze` inserts size-1 axes at into a rank-`rank` value, ascending and
/// distinct (each then lies within the shape built so far when inserted in order).
pub fn unsqueeze_axes(axes: &[i64], rank: usize) -> std::result::Result<Vec<usize>, String> {
    let out_rank = rank + axes.len();
    let mut add: Vec<usize> = axes
        .iter()
        .map(|&a| axis(a, out_rank))
        .collect::<std::result::Result<_, _>>()?;
    add.sort_unstable();
    if add.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
        return Err(format!("axes {axes:?} repeat an axis"));
    }
    Ok(add)
}

/// Converts a tensor to f64 working values.
pub fn to_array(t: &Tensor) -> Result<ArrayD<f64>> {
    ArrayD::from_shape_vec(IxDyn(t.shape()), t.to_f64_vec())
        .map_err(|e| Error::Format(format!("tensor shape: {e}")))
}

fn dims(d: &Option<Vec<Dim>>) -> Option<Vec<Option<usize>>> {
    d.as_ref().map(|dims| {
        dims.iter()
            .map(|d| match d {
                Dim::Fixed(n) => Some(*n),
                _ => None,
            })
            .collect()
    })
}

/// Imports a model file written by another tool.
pub fn import(bytes: &[u8], options: &ImportOptions) -> Result<Imported> {
    let model = proto::decode_foreign(bytes, options.source_path.as_deref())?;
    import_model(&model, options)
}

fn describe(n: &ForeignNode, i: usize) -> String {
    let name = if n.name.is_empty() {
        format!("#{i}")
    } else {
        format!("{:?}", n.name)
    };
    let domain = if n.domain.is_empty() || n.domain == "ai.onnx" {
        String::new()
    } else {
        format!("{}.", n.domain)
    };
    format!("{domain}{} {name} (inputs {:?})", n.op, n.inputs)
}

/// Most nodes (and inputs, outputs, initializers, ...) an imported graph may have. Far above
/// any network DL4J can hold (each node becomes a layer or vertex, a few KB of configuration
/// each), and it bounds the memory a small hostile file can ask for.
pub const MAX_GRAPH_ITEMS: usize = 1 << 16;

fn check_graph_size(model: &ForeignModel) -> Result<()> {
    for (what, n) in [
        ("nodes", model.nodes.len()),
        ("inputs", model.inputs.len()),
        ("outputs", model.outputs.len()),
        ("value_info entries", model.value_info.len()),
        ("initializers", model.initializers.len()),
        ("string initializers", model.string_initializers.len()),
    ] {
        if n > MAX_GRAPH_ITEMS {
            return Err(Error::Unsupported(format!(
                "the ONNX graph has {n} {what}, more than the {MAX_GRAPH_ITEMS} the importer accepts"
            )));
        }
    }
    Ok(())
}

pub fn import_model(model: &ForeignModel, options: &ImportOptions) -> Result<Imported> {
    check_graph_size(model)?;
    let mut consts: HashMap<String, ArrayD<f64>> = HashMap::new();
    let mut const_types: HashMap<String, DType> = HashMap::new();
    for (name, t) in &model.initializers {
        consts.insert(name.clone(), to_array(t)?);
        const_types.insert(name.clone(), t.dtype());
    }
    for (name, t) in &options.frozen {
        if !model.inputs.iter().any(|i| &i.name == name) {
            return Err(Error::Format(format!(
                "--freeze names {name:?}, which is not an input of the graph (inputs: {})",
                model
                    .inputs
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        consts.insert(name.clone(), to_array(t)?);
        const_types.insert(name.clone(), t.dtype());
    }
    // Inputs with an initializer of the same name are constants (ONNX IR < 4 lists them).
    let data_inputs: Vec<&proto::ValueDecl> = model
        .inputs
        .iter()
        .filter(|i| !consts.contains_key(&i.name))
        .filter(|i| !model.string_initializers.iter().any(|(k, _)| k == &i.name))
        .collect();
    if data_inputs.is_empty() {
        return Err(Error::Format(
            "the graph has no data input (every input is a constant)".into(),
        ));
    }
    let dtype = data_inputs
        .iter()
        .filter_map(|i| i.dtype)
        .find(|d| d.is_float())
        .or_else(|| {
            model
                .initializers
                .iter()
                .map(|(_, t)| t.dtype())
                .find(|d| d.is_float())
        })
        .unwrap_or(DType::F32);
    let dtype = match dtype {
        DType::F64 | DType::F16 => dtype,
        _ => DType::F32,
    };
    let mut net = Net::new(dtype);
    for i in &data_inputs {
        let shape = dims(&i.dims).ok_or_else(|| {
            Error::Format(format!(
                "graph input {:?} has no declared shape; DL4J needs its rank",
                i.name
            ))
        })?;
        net.add_input(&i.name, shape);
    }
    let mut uses: HashMap<String, usize> = HashMap::new();
    for n in &model.nodes {
        for i in n.inputs.iter().filter(|s| !s.is_empty()) {
            *uses.entry(i.clone()).or_default() += 1;
        }
    }
    let graph_outputs: HashSet<String> = model.outputs.iter().map(|o| o.name.clone()).collect();
    for o in &graph_outputs {
        *uses.entry(o.clone()).or_default() += 1;
    }
    let mut cx = Cx {
        net,
        consts,
        opset: model.opset,
        uses,
        graph_outputs,
        notes: Vec::new(),
        labels: None,
        dropped: HashSet::new(),
        strings: model.string_initializers.iter().cloned().collect(),
    };

    let mut failures: Vec<String> = Vec::new();
    let mut first_failure: Option<(usize, &ForeignNode)> = None;
    let mut blocked: HashSet<String> = HashSet::new();
    for (i, node) in model.nodes.iter().enumerate() {
        if node.inputs.iter().any(|s| blocked.contains(s)) {
            // Downstream of an untranslated node: report it only if it would fail on its own.
            if !ops::known(node) {
                failures.push(format!("{}: no DL4J equivalent", describe(node, i)));
            }
            blocked.extend(node.outputs.iter().cloned());
            continue;
        }
        let result = match fold::try_fold(&mut cx, node) {
            Ok(true) => Ok(()),
            Ok(false) => ops::translate(&mut cx, node),
            Err(why) => Err(why),
        };
        if let Err(why) = result {
            failures.push(format!("{}: {why}", describe(node, i)));
            first_failure.get_or_insert((i, node));
            blocked.extend(node.outputs.iter().cloned());
        }
    }

    // Network outputs: graph outputs that were translated; when partial, also the translated
    // inputs of the nodes that were not.
    let mut outputs: Vec<String> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    for o in &model.outputs {
        if cx.net.syms().contains_key(&o.name) {
            outputs.push(o.name.clone());
        } else if cx.dropped.contains(&o.name) {
            // Reported by the op that dropped it.
        } else if cx.consts.contains_key(&o.name) {
            cx.notes.push(format!(
                "graph output {:?} is a constant; DL4J networks have no constant outputs: dropped",
                o.name
            ));
        } else {
            missing.push(o.name.clone());
        }
    }
    if !failures.is_empty() {
        if !options.allow_partial {
            return Err(Error::Format(format!(
                "{} node(s) have no DL4J equivalent, so nothing was written (--allow-partial writes the part before them):\n  {}",
                failures.len(),
                failures.join("\n  ")
            )));
        }
        // A failure always sets `first_failure` (blocked nodes only follow one).
        let stopped_at = match first_failure {
            Some((stop, stop_node)) => {
                for inp in stop_node.inputs.iter().filter(|s| !s.is_empty()) {
                    if cx.net.syms().contains_key(inp) && !outputs.contains(inp) {
                        outputs.push(inp.clone());
                    }
                }
                format!(" stopped at {};", describe(stop_node, stop))
            }
            None => String::new(),
        };
        cx.notes.push(format!(
            "partial conversion:{stopped_at} the network's outputs are {:?}; not translated:\n  {}",
            outputs,
            failures.join("\n  ")
        ));
        if !missing.is_empty() {
            cx.notes.push(format!(
                "graph outputs not produced by the partial network: {missing:?}"
            ));
        }
    } else if !missing.is_empty() {
        return Err(Error::Format(format!(
            "graph outputs {missing:?} are produced by no node"
        )));
    }
    if outputs.is_empty() {
        return Err(Error::Format(
            "nothing to write: no graph output is computed by translated nodes".into(),
        ));
    }
    let out_vertices =
        ops::finish_outputs(&mut cx, &outputs, options.loss.as_deref()).map_err(Error::Format)?;
    for (i, name) in cx.net.inputs.clone().iter().enumerate() {
        let sym = net_value(&cx, name)?;
        if !sym.perm.iter().enumerate().all(|(k, &p)| k == p) {
            let note = format!(
                "input {i} {name:?}: DL4J takes it with its axes reordered: DL4J shape {} for ONNX shape {}",
                show(&sym.dl4j_shape()),
                show(&sym.shape)
            );
            cx.notes.push(note);
        }
    }
    let (config, flat) = cx.net.emit(&out_vertices)?;
    let source = source_json(model, &cx, &outputs)?;
    let mut objects = vec![(
        SOURCE_OBJECT.to_string(),
        serialize(&JavaValue::String(source.to_string())),
    )];
    if let Some(labels) = &cx.labels {
        objects.push((
            LABELS_OBJECT.to_string(),
            serialize(&JavaValue::StringList(labels.clone())),
        ));
    }
    let archive = net::archive(config, flat, objects)?;
    Ok(Imported {
        archive,
        notes: cx.notes,
    })
}

fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut q = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        if let Some(slot) = q.get_mut(p) {
            *slot = i;
        }
    }
    q
}

/// The `dl4j.source` record: where the model came from, how each network input and output
/// relates to the ONNX graph's (so ONNX test data can be checked against the DL4J network, see
/// `dl4j verify --onnx-layout`), and the conversion notes.
fn source_json(model: &ForeignModel, cx: &Cx, outputs: &[String]) -> Result<Value> {
    let opsets: serde_json::Map<String, Value> = model
        .opsets
        .iter()
        .map(|(d, v)| {
            let d = if d.is_empty() { "ai.onnx" } else { d.as_str() };
            (d.to_string(), json!(v))
        })
        .collect();
    let io = |name: &String| -> Result<Value> {
        let sym = net_value(cx, name)?;
        Ok(json!({
            "name": name,
            "onnx_shape": sym.shape,
            "squeezed": sym.squeezed,
            "to_dl4j": inverse(&sym.perm),
            "dl4j_shape": sym.dl4j_shape(),
        }))
    };
    let inputs = cx.net.inputs.iter().map(io).collect::<Result<Vec<_>>>()?;
    let outputs = outputs.iter().map(io).collect::<Result<Vec<_>>>()?;
    Ok(json!({
        "format": "onnx",
        "producer": model.producer,
        "producer_version": model.producer_version,
        "ir_version": model.ir_version,
        "opsets": opsets,
        "converted_by": format!("dl4j {}", env!("CARGO_PKG_VERSION")),
        "inputs": inputs,
        "outputs": outputs,
        "notes": cx.notes,
    }))
}

/// The translated value of a network input or output.
fn net_value<'c>(cx: &'c Cx, name: &str) -> Result<&'c Sym> {
    cx.net.syms().get(name).ok_or_else(|| {
        Error::Inconsistent(format!(
            "internal: network input or output {name:?} has no translated value"
        ))
    })
}

/// The `dl4j.source` record of an archive imported from a foreign ONNX model (see
/// [`SOURCE_OBJECT`]): a JSON document, stored as a Java `String` object so that DL4J's
/// `ModelSerializer.getObjectFromFile(file, "dl4j.source")` returns it as text.
pub fn source_record(archive: &Archive) -> Option<Value> {
    let (_, bytes) = archive.objects.iter().find(|(k, _)| k == SOURCE_OBJECT)?;
    let stream = dl4j_core::java_serial::parse(bytes).ok()?;
    let dl4j_core::java_serial::Value::Ref(id) = stream.first_value()? else {
        return None;
    };
    match &stream.entry(id).obj {
        dl4j_core::java_serial::Obj::String(s) => serde_json::from_str(&s.to_string_lossy()).ok(),
        _ => None,
    }
}

/// A shape for messages: `?` for dimensions known only at run time.
pub fn show(shape: &[Option<usize>]) -> String {
    let parts: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("?".to_string(), |n| n.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}
