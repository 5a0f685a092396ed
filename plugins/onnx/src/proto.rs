//! The only module that touches the protobuf bindings (`onnx-protobuf`), so they can be swapped
//! later. Everything else builds and reads models through these small types.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use dl4j_core::named::{NamedTensor, TensorSource, TensorView};
use dl4j_core::tensor::{DType, Tensor, TensorData};
use dl4j_core::{Error, Progress, Result};
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_proto::DataLocation, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// ONNX `TensorProto.DataType` of a DL4J dtype.
pub fn elem_type(d: DType) -> i32 {
    match d {
        DType::F32 => 1,
        DType::U8 => 2,
        DType::I8 => 3,
        DType::U16 => 4,
        DType::I16 => 5,
        DType::I32 => 6,
        DType::I64 => 7,
        DType::Bool => 9,
        DType::F16 => 10,
        DType::F64 => 11,
        DType::U32 => 12,
        DType::U64 => 13,
        DType::BF16 => 16,
    }
}

fn dtype_of(elem: i32) -> Option<DType> {
    DType::ALL.into_iter().find(|d| elem_type(*d) == elem)
}

/// A dimension of a graph input or output.
#[derive(Debug, Clone)]
pub enum Dim {
    Fixed(usize),
    /// Symbolic (`batch`, `time`).
    Named(String),
    /// Neither known nor named.
    Unknown,
}

/// An attribute value.
#[derive(Debug, Clone)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Floats(Vec<f32>),
    Str(String),
    /// A list of strings (`activations` of the recurrent ops).
    Strs(Vec<String>),
    /// A subgraph (the `body` of `Scan`).
    Graph(Box<Subgraph>),
    /// A tensor (`Constant`'s `value`, `ConstantOfShape`'s fill); read from foreign files only.
    Tensor(Tensor),
    /// Any other attribute kind of a foreign file, by its type name; never written.
    Other(String),
}

/// A subgraph: nodes, named inputs and outputs, and its own constants (as initializers). Names
/// it reads but neither defines nor declares come from the enclosing graph (ONNX outer scope).
#[derive(Debug, Clone)]
pub struct Subgraph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub inputs: Vec<(String, DType, Option<Vec<Dim>>)>,
    pub outputs: Vec<(String, DType, Option<Vec<Dim>>)>,
    pub constants: Vec<Constant>,
}

/// A node under construction.
#[derive(Debug, Clone)]
pub struct Node {
    pub op: String,
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: Vec<(String, Attr)>,
}

/// A constant tensor defined by the graph (not a DL4J parameter).
#[derive(Debug, Clone)]
pub struct Constant {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Little-endian bytes.
    pub data: Vec<u8>,
}

/// Everything a model file holds.
pub struct ModelParts<'a> {
    pub opset: i64,
    pub producer: String,
    pub nodes: Vec<Node>,
    /// Name, dtype and shape (`None`: rank unknown).
    pub inputs: Vec<(String, DType, Option<Vec<Dim>>)>,
    pub outputs: Vec<(String, DType, Option<Vec<Dim>>)>,
    /// DL4J-named tensors (parameters, updater state, ...), written as initializers.
    pub tensors: Vec<NamedTensor<'a>>,
    pub constants: Vec<Constant>,
    pub metadata: Vec<(String, String)>,
}

/// ONNX IR version matching an opset (ONNX 1.8 .. 1.16).
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

fn value_info(name: &str, dtype: DType, dims: Option<&[Dim]>) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    for d in dims.unwrap_or_default() {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.value = match d {
            Dim::Fixed(n) => Some(tensor_shape_proto::dimension::Value::DimValue(*n as i64)),
            Dim::Named(s) => Some(tensor_shape_proto::dimension::Value::DimParam(s.clone())),
            Dim::Unknown => None,
        };
        shape.dim.push(dim);
    }
    let mut tensor = type_proto::Tensor::new();
    tensor.elem_type = elem_type(dtype);
    if dims.is_some() {
        tensor.shape = Some(shape).into();
    }
    let mut ty = TypeProto::new();
    ty.value = Some(type_proto::Value::TensorType(tensor));
    let mut v = ValueInfoProto::new();
    v.name = name.to_string();
    v.type_ = Some(ty).into();
    v
}

fn tensor_proto(name: &str, dtype: DType, shape: &[usize], data: Vec<u8>) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.to_string();
    t.data_type = elem_type(dtype);
    t.dims = shape.iter().map(|&d| d as i64).collect();
    t.raw_data = data;
    t
}

fn attribute(name: &str, a: &Attr) -> AttributeProto {
    let mut p = AttributeProto::new();
    p.name = name.to_string();
    let ty = match a {
        Attr::Int(v) => {
            p.i = *v;
            AttributeType::INT
        }
        Attr::Ints(v) => {
            p.ints = v.clone();
            AttributeType::INTS
        }
        Attr::Float(v) => {
            p.f = *v;
            AttributeType::FLOAT
        }
        Attr::Floats(v) => {
            p.floats = v.clone();
            AttributeType::FLOATS
        }
        Attr::Str(v) => {
            p.s = v.clone().into_bytes();
            AttributeType::STRING
        }
        Attr::Strs(v) => {
            p.strings = v.iter().map(|s| s.clone().into_bytes()).collect();
            AttributeType::STRINGS
        }
        Attr::Graph(g) => {
            p.g = Some(subgraph(g)).into();
            AttributeType::GRAPH
        }
        Attr::Tensor(t) => {
            let mut data = Vec::new();
            dl4j_core::named::le::encode_le(t.data(), &mut data);
            p.t = Some(tensor_proto("", t.dtype(), t.shape(), data)).into();
            AttributeType::TENSOR
        }
        Attr::Other(kind) => unreachable!("attribute kind {kind} is never written"),
    };
    p.type_ = ty.into();
    p
}

fn node_proto(n: &Node) -> NodeProto {
    let mut p = NodeProto::new();
    p.op_type = n.op.clone();
    p.name = n.name.clone();
    p.input = n.inputs.clone();
    p.output = n.outputs.clone();
    p.attribute = n.attrs.iter().map(|(k, a)| attribute(k, a)).collect();
    p
}

fn subgraph(s: &Subgraph) -> GraphProto {
    let mut g = GraphProto::new();
    g.name = s.name.clone();
    g.node = s.nodes.iter().map(node_proto).collect();
    for (name, dtype, dims) in &s.inputs {
        g.input.push(value_info(name, *dtype, dims.as_deref()));
    }
    for (name, dtype, dims) in &s.outputs {
        g.output.push(value_info(name, *dtype, dims.as_deref()));
    }
    for c in &s.constants {
        g.initializer
            .push(tensor_proto(&c.name, c.dtype, &c.shape, c.data.clone()));
    }
    g
}

/// The largest model protobuf parsers accept (2 GiB - 1 bytes).
pub const PROTOBUF_LIMIT: u64 = i32::MAX as u64;

/// Where each main-graph initializer's bytes went when they are kept beside the model.
pub struct Placement {
    /// The data file's name, relative to the model's folder.
    pub location: String,
    /// Offset and length in the data file per initializer (DL4J tensors, then constants);
    /// `None`: the tensor stays inline (empty, or a small graph constant).
    pub ranges: Vec<Option<(u64, u64)>>,
}

/// One main-graph initializer: a DL4J tensor (bytes made on demand) or a graph constant.
enum Init<'p, 'a> {
    Named(&'p NamedTensor<'a>),
    Const(&'p Constant),
}

impl Init<'_, '_> {
    fn name(&self) -> &str {
        match self {
            Init::Named(t) => &t.name,
            Init::Const(c) => &c.name,
        }
    }

    fn header(&self) -> TensorProto {
        match self {
            Init::Named(t) => tensor_proto(&t.name, t.dtype, &t.shape, Vec::new()),
            Init::Const(c) => tensor_proto(&c.name, c.dtype, &c.shape, Vec::new()),
        }
    }

    fn byte_len(&self) -> Result<u64> {
        let n = match self {
            Init::Named(t) => t
                .shape
                .iter()
                .try_fold(t.dtype.size(), |a, &d| a.checked_mul(d)),
            Init::Const(c) => Some(c.data.len()),
        };
        n.map(|n| n as u64)
            .ok_or_else(|| Error::Format(format!("tensor {:?} is too large", self.name())))
    }

    /// Streams the little-endian bytes to `sink`; a DL4J tensor's are made as they go.
    fn stream(&self, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        match self {
            Init::Named(t) => t.stream(sink),
            Init::Const(c) => {
                if c.data.len() as u64 != self.byte_len()? {
                    return Err(Error::Format(format!(
                        "tensor {:?}: {} bytes of data, its shape needs {}",
                        self.name(),
                        c.data.len(),
                        self.byte_len()?
                    )));
                }
                sink(&c.data)
            }
        }
    }
}

fn inits<'p, 'a>(parts: &'p ModelParts<'a>) -> impl Iterator<Item = Init<'p, 'a>> {
    parts
        .tensors
        .iter()
        .map(Init::Named)
        .chain(parts.constants.iter().map(Init::Const))
}

/// The total byte size of the tensors written as initializers (for progress).
pub fn data_size(parts: &ModelParts) -> Result<u64> {
    inits(parts).try_fold(0u64, |a, i| Ok(a.saturating_add(i.byte_len()?)))
}

fn varint_len(v: u64) -> u64 {
    protobuf::rt::compute_raw_varint64_size(v)
}

fn put_varint(out: &mut dyn Write, mut v: u64) -> std::io::Result<()> {
    // A u64 takes at most 10 bytes of 7 bits.
    let mut buf = Vec::with_capacity(10);
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
    out.write_all(&buf)
}

fn encoded(m: &impl Message) -> Result<Vec<u8>> {
    m.write_to_bytes()
        .map_err(|e| Error::Format(format!("encoding ONNX: {e}")))
}

/// Field tags (field number << 3 | 2, length-delimited) of the messages written piecewise.
const MODEL_GRAPH: u8 = 7 << 3 | 2;
const GRAPH_INITIALIZER: u8 = 5 << 3 | 2;
const TENSOR_RAW_DATA: u8 = 9 << 3 | 2;

/// Writes the initializers' bytes into one data file (`out`), each at an aligned offset, and
/// says where each went. Empty tensors have no bytes and stay inline.
pub fn write_external(
    parts: &ModelParts,
    location: &str,
    out: &mut dyn Write,
    progress: &Progress,
) -> Result<Placement> {
    let io = |e: std::io::Error| Error::Format(format!("writing ONNX external data: {e}"));
    let mut pos = 0u64;
    let mut ranges = Vec::new();
    for init in inits(parts) {
        let len = init.byte_len()?;
        // Small graph constants (shapes, axes, scalars) stay inline, as onnx's
        // `convert_model_to_external_data` keeps tensors under 1 KiB: shape inference reads
        // them and cannot read external data.
        let small_constant = matches!(init, Init::Const(_)) && len < 1024;
        if len == 0 || small_constant {
            ranges.push(None);
            continue;
        }
        // Page-aligned big tensors can be mapped straight from the file; 64 bytes suits any
        // element type and SIMD load for the small ones.
        let align = if len >= 4096 { 4096 } else { 64 };
        let start = pos.div_ceil(align) * align;
        std::io::copy(&mut std::io::repeat(0).take(start - pos), out).map_err(io)?;
        init.stream(&mut |b| {
            out.write_all(b).map_err(io)?;
            progress.advance(b.len() as u64);
            Ok(())
        })?;
        ranges.push(Some((start, len)));
        pos = start + len;
    }
    Ok(Placement {
        location: location.to_string(),
        ranges,
    })
}

/// Streams a model to `out`, the same bytes `ModelProto::write_to_bytes` gives: the message is
/// written field by field (sizes computed up front), and each DL4J tensor's bytes are made
/// only when its initializer is written, so at most one tensor is held besides the archive.
/// With `placement` the initializers point into the data file instead of holding bytes.
/// Fails before writing anything if the model would exceed protobuf's 2 GiB.
pub fn encode_to(
    parts: &ModelParts,
    placement: Option<&Placement>,
    out: &mut dyn Write,
    progress: &Progress,
) -> Result<()> {
    let mut graph_head = GraphProto::new();
    graph_head.name = "dl4j".into();
    graph_head.node = parts.nodes.iter().map(node_proto).collect();
    let mut graph_tail = GraphProto::new();
    for (name, dtype, dims) in &parts.inputs {
        graph_tail
            .input
            .push(value_info(name, *dtype, dims.as_deref()));
    }
    for (name, dtype, dims) in &parts.outputs {
        graph_tail
            .output
            .push(value_info(name, *dtype, dims.as_deref()));
    }
    // Initializers without their raw data (the last field written), and the data's length.
    let mut headers = Vec::new();
    for (i, init) in inits(parts).enumerate() {
        let mut h = init.header();
        let range = placement.and_then(|p| p.ranges.get(i).copied().flatten());
        let raw = match (placement, range) {
            (Some(p), Some((offset, length))) => {
                h.data_location = DataLocation::EXTERNAL.into();
                for (k, v) in [
                    ("location", p.location.clone()),
                    ("offset", offset.to_string()),
                    ("length", length.to_string()),
                ] {
                    let mut e = StringStringEntryProto::new();
                    e.key = k.into();
                    e.value = v;
                    h.external_data.push(e);
                }
                0
            }
            _ => init.byte_len()?,
        };
        let header = encoded(&h)?;
        headers.push((header, raw));
    }
    let message_len = |(header, raw): &(Vec<u8>, u64)| -> u64 {
        let data = if *raw > 0 {
            1 + varint_len(*raw) + raw
        } else {
            0
        };
        header.len() as u64 + data
    };
    let graph_head = encoded(&graph_head)?;
    let graph_tail = encoded(&graph_tail)?;
    let graph_len = graph_head.len() as u64
        + headers
            .iter()
            .map(|h| {
                let m = message_len(h);
                1 + varint_len(m) + m
            })
            .sum::<u64>()
        + graph_tail.len() as u64;

    // Fields before the graph, then after it, in the order protobuf writes them.
    let mut model_head = ModelProto::new();
    model_head.ir_version = ir_version(parts.opset);
    model_head.producer_name = parts.producer.clone();
    let mut op = OperatorSetIdProto::new();
    op.domain = String::new();
    op.version = parts.opset;
    model_head.opset_import.push(op);
    let mut model_tail = ModelProto::new();
    for (k, v) in &parts.metadata {
        let mut e = StringStringEntryProto::new();
        e.key = k.clone();
        e.value = v.clone();
        model_tail.metadata_props.push(e);
    }
    let model_head = encoded(&model_head)?;
    let model_tail = encoded(&model_tail)?;
    let total =
        model_head.len() as u64 + 1 + varint_len(graph_len) + graph_len + model_tail.len() as u64;
    if total > PROTOBUF_LIMIT {
        return Err(Error::Format(format!(
            "the ONNX model would be {total} bytes ({:.2} GiB), over protobuf's 2 GiB limit; \
             pass --external-data to keep the tensors in a file beside the model",
            total as f64 / (1u64 << 30) as f64
        )));
    }

    let io = |e: std::io::Error| Error::Format(format!("writing ONNX: {e}"));
    out.write_all(&model_head).map_err(io)?;
    out.write_all(&[MODEL_GRAPH]).map_err(io)?;
    put_varint(out, graph_len).map_err(io)?;
    out.write_all(&graph_head).map_err(io)?;
    for (init, h) in inits(parts).zip(&headers) {
        out.write_all(&[GRAPH_INITIALIZER]).map_err(io)?;
        put_varint(out, message_len(h)).map_err(io)?;
        out.write_all(&h.0).map_err(io)?;
        if h.1 > 0 {
            out.write_all(&[TENSOR_RAW_DATA]).map_err(io)?;
            put_varint(out, h.1).map_err(io)?;
            init.stream(&mut |b| {
                out.write_all(b).map_err(io)?;
                progress.advance(b.len() as u64);
                Ok(())
            })?;
        }
    }
    out.write_all(&graph_tail).map_err(io)?;
    out.write_all(&model_tail).map_err(io)?;
    Ok(())
}

/// Where one tensor's bytes lie in an external data file (range checked against the file).
#[derive(Debug, Clone)]
struct ExternalRef {
    file: usize,
    start: usize,
    len: usize,
}

/// The files holding tensors' external data (ONNX `data_location = EXTERNAL`), each mapped once
/// on first use. Locations are resolved in the model file's folder and must stay inside it.
pub struct ExternalFiles {
    /// The model file, when the model was read from one.
    source: Option<PathBuf>,
    /// Location as written, and its mapping (`None` for an empty file).
    files: Vec<(String, Option<memmap2::Mmap>)>,
}

fn is_external(t: &TensorProto) -> bool {
    t.data_location.value() == DataLocation::EXTERNAL as i32 || !t.external_data.is_empty()
}

impl ExternalFiles {
    /// External data of a model read from `source` (`None`: not read from a file).
    pub fn new(source: Option<&Path>) -> ExternalFiles {
        ExternalFiles {
            source: source.map(Path::to_path_buf),
            files: Vec::new(),
        }
    }

    /// Checks a location and resolves it inside the model's folder.
    fn resolve(&self, tensor: &str, location: &str) -> Result<PathBuf> {
        let bad = |why: &str| {
            Error::Format(format!(
                "tensor {tensor:?}: external data location {location:?} {why}"
            ))
        };
        if location.is_empty() {
            return Err(bad("is empty"));
        }
        // Backslashes would be separators on Windows and a `..` in disguise.
        if location.contains('\\') {
            return Err(bad(
                "contains a backslash; only relative paths with / are allowed",
            ));
        }
        let rel = Path::new(location);
        if rel.is_absolute() || rel.has_root() {
            return Err(bad(
                "is absolute; it must be relative to the model's folder",
            ));
        }
        if rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(bad(
                "leaves the model's folder (..); it must stay inside it",
            ));
        }
        let source = self.source.as_ref().ok_or_else(|| {
            bad("cannot be found: the model was not read from a file, so there is no folder to look in")
        })?;
        let dir = match source.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let path = dir.join(rel);
        let missing = |e: std::io::Error| {
            Error::Format(format!(
                "tensor {tensor:?}: cannot open its external data file {}: {e}",
                path.display()
            ))
        };
        // A symbolic link inside the folder must not lead out of it either.
        let real = path.canonicalize().map_err(missing)?;
        let real_dir = dir.canonicalize().map_err(missing)?;
        if !real.starts_with(&real_dir) {
            return Err(bad(
                "resolves outside the model's folder (through a symbolic link)",
            ));
        }
        Ok(path)
    }

    fn open(&mut self, tensor: &str, location: &str) -> Result<usize> {
        if let Some(i) = self.files.iter().position(|(l, _)| l == location) {
            return Ok(i);
        }
        let path = self.resolve(tensor, location)?;
        let err = |e: std::io::Error| {
            Error::Format(format!(
                "tensor {tensor:?}: cannot read its external data file {}: {e}",
                path.display()
            ))
        };
        let file = std::fs::File::open(&path).map_err(err)?;
        let len = file.metadata().map_err(err)?.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: mapped read-only; a file changed underneath by another process can only
            // give wrong bytes, which are checked like any other input.
            Some(unsafe { memmap2::Mmap::map(&file) }.map_err(err)?)
        };
        self.files.push((location.to_string(), map));
        Ok(self.files.len() - 1)
    }

    /// Where `t`'s bytes are, if it keeps them outside the model (`None`: inline).
    fn locate(&mut self, t: &TensorProto) -> Result<Option<ExternalRef>> {
        if !is_external(t) {
            return Ok(None);
        }
        let name = t.name.as_str();
        let bad = |why: String| Error::Format(format!("tensor {name:?}: external data {why}"));
        let mut location = None;
        let mut offset = None;
        let mut length = None;
        for e in &t.external_data {
            let number = || {
                e.value.trim().parse::<u64>().map_err(|_| {
                    bad(format!(
                        "{} {:?} is not a non-negative integer",
                        e.key, e.value
                    ))
                })
            };
            match e.key.as_str() {
                "location" => location = Some(e.value.as_str()),
                "offset" => offset = Some(number()?),
                "length" => length = Some(number()?),
                // `checksum` and unknown keys do not change where the bytes are.
                _ => {}
            }
        }
        let location = location.ok_or_else(|| bad("has no location".into()))?;
        let file = self.open(name, location)?;
        let size = self
            .files
            .get(file)
            .and_then(|(_, m)| m.as_ref())
            .map_or(0, |m| m.len() as u64);
        let offset = offset.unwrap_or(0);
        let past_end = |len: String| {
            bad(format!(
                "at offset {offset}, length {len} lies past the end of {location:?} ({size} bytes)"
            ))
        };
        let length = match length {
            Some(l) => l,
            None => size
                .checked_sub(offset)
                .ok_or_else(|| past_end("(to the end)".into()))?,
        };
        match offset.checked_add(length) {
            Some(end) if end <= size => {}
            _ => return Err(past_end(length.to_string())),
        }
        // Both fit in usize: they lie within a mapped file.
        let (start, len) = match (usize::try_from(offset), usize::try_from(length)) {
            (Ok(s), Ok(l)) => (s, l),
            _ => return Err(past_end(length.to_string())),
        };
        Ok(Some(ExternalRef { file, start, len }))
    }

    fn bytes(&self, r: &ExternalRef) -> &[u8] {
        self.files
            .get(r.file)
            .and_then(|(_, m)| m.as_deref())
            .and_then(|m| m.get(r.start..r.start.checked_add(r.len)?))
            .unwrap_or(&[])
    }

    /// `t`'s data bytes: its `raw_data`, or its range of the external file.
    fn raw<'t>(&'t mut self, t: &'t TensorProto) -> Result<&'t [u8]> {
        Ok(match self.locate(t)? {
            Some(r) => self.bytes(&r),
            None => &t.raw_data,
        })
    }
}

/// A parsed model: its metadata and initializers (for rebuilding archives we wrote).
pub struct Parsed {
    metadata: HashMap<String, String>,
    initializers: HashMap<String, TensorProto>,
    shapes: HashMap<String, Vec<usize>>,
    external: HashMap<String, ExternalRef>,
    files: ExternalFiles,
}

/// Parses a model file; external data is looked for beside `source`, the file read.
pub fn decode(bytes: &[u8], source: Option<&Path>) -> Result<Parsed> {
    let m = ModelProto::parse_from_bytes(bytes)
        .map_err(|e| Error::Format(format!("not a valid ONNX model: {e}")))?;
    let metadata = m
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let mut initializers = HashMap::new();
    let mut shapes = HashMap::new();
    let mut external = HashMap::new();
    let mut files = ExternalFiles::new(source);
    if let Some(g) = m.graph.into_option() {
        for t in g.initializer {
            let dims: Option<Vec<usize>> =
                t.dims.iter().map(|&d| usize::try_from(d).ok()).collect();
            let dims = dims.ok_or_else(|| {
                Error::Format(format!("initializer {:?} has a negative dimension", t.name))
            })?;
            if let Some(r) = files.locate(&t)? {
                external.insert(t.name.clone(), r);
            }
            shapes.insert(t.name.clone(), dims);
            initializers.insert(t.name.clone(), t);
        }
    }
    Ok(Parsed {
        metadata,
        initializers,
        shapes,
        external,
        files,
    })
}

impl TensorSource for Parsed {
    fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        let t = self.initializers.get(name)?;
        let data = match self.external.get(name) {
            Some(r) => self.files.bytes(r),
            // Files we write use raw_data (or external data).
            None => &t.raw_data,
        };
        Some(TensorView {
            name: &t.name,
            dtype: dtype_of(t.data_type),
            shape: self.shapes.get(name)?,
            data,
        })
    }

    fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }
}

// ---------------------------------------------------------------------------------------------
// Foreign models: the whole graph, for import.

/// A graph input, output or intermediate value declaration.
#[derive(Debug, Clone)]
pub struct ValueDecl {
    pub name: String,
    /// `None` when the element type has no DL4J equivalent (strings, complex) or is not given.
    pub dtype: Option<DType>,
    /// `None` when the rank is unknown.
    pub dims: Option<Vec<Dim>>,
}

/// A node as the file holds it.
#[derive(Debug, Clone)]
pub struct ForeignNode {
    pub op: String,
    /// Operator domain (`""` is the default ONNX domain, `ai.onnx.ml` the classic-ML one).
    pub domain: String,
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: Vec<(String, Attr)>,
}

impl ForeignNode {
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, a)| a)
    }
}

/// A model written by another tool, decoded for import.
#[derive(Debug, Clone)]
pub struct ForeignModel {
    pub producer: String,
    pub producer_version: String,
    pub ir_version: i64,
    /// Opset of the default domain (1 when the file imports none, as the ONNX spec says).
    pub opset: i64,
    /// Every imported domain and version.
    pub opsets: Vec<(String, i64)>,
    pub nodes: Vec<ForeignNode>,
    pub inputs: Vec<ValueDecl>,
    pub outputs: Vec<ValueDecl>,
    pub value_info: Vec<ValueDecl>,
    pub initializers: Vec<(String, Tensor)>,
    /// String-typed initializers (class labels), which have no DL4J tensor type.
    pub string_initializers: Vec<(String, Vec<String>)>,
    pub metadata: Vec<(String, String)>,
}

fn decl(v: &ValueInfoProto) -> ValueDecl {
    let mut dtype = None;
    let mut dims = None;
    if let Some(ty) = v.type_.as_ref() {
        if let Some(type_proto::Value::TensorType(t)) = &ty.value {
            dtype = dtype_of(t.elem_type);
            if let Some(shape) = t.shape.as_ref() {
                dims = Some(
                    shape
                        .dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(tensor_shape_proto::dimension::Value::DimValue(n)) if *n >= 0 => {
                                Dim::Fixed(*n as usize)
                            }
                            Some(tensor_shape_proto::dimension::Value::DimParam(s))
                                if !s.is_empty() =>
                            {
                                Dim::Named(s.clone())
                            }
                            _ => Dim::Unknown,
                        })
                        .collect(),
                );
            }
        }
    }
    ValueDecl {
        name: v.name.clone(),
        dtype,
        dims,
    }
}

fn typed<T: Copy>(
    name: &str,
    raw: &[u8],
    field: &[T],
    n: usize,
    dtype: DType,
    from_field: impl Fn(&[T]) -> TensorData,
) -> Result<TensorData> {
    if !raw.is_empty() {
        if n.checked_mul(dtype.size()) != Some(raw.len()) {
            return Err(Error::Format(format!(
                "tensor {name:?}: {} bytes of data for {n} {} elements",
                raw.len(),
                dtype.short_name()
            )));
        }
        return Ok(dl4j_core::named::le::decode_le(dtype, raw));
    }
    if field.len() != n {
        return Err(Error::Format(format!(
            "tensor {name:?}: {} values for {n} elements",
            field.len()
        )));
    }
    Ok(from_field(field))
}

/// A `TensorProto` as a tensor (raw, typed or external data).
pub fn tensor_of(t: &TensorProto, files: &mut ExternalFiles) -> Result<Tensor> {
    let name = t.name.as_str();
    let dtype = dtype_of(t.data_type).ok_or_else(|| {
        Error::Format(format!(
            "tensor {name:?} has ONNX element type {}, which has no DL4J equivalent",
            t.data_type
        ))
    })?;
    let shape: Option<Vec<usize>> = t.dims.iter().map(|&d| usize::try_from(d).ok()).collect();
    let shape =
        shape.ok_or_else(|| Error::Format(format!("tensor {name:?} has a negative dimension")))?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::Format(format!("tensor {name:?}: shape {shape:?} overflows")))?;
    let raw = files.raw(t)?;
    let data = match dtype {
        DType::F32 => typed(name, raw, &t.float_data, n, dtype, |v| {
            TensorData::F32(v.to_vec())
        })?,
        DType::F64 => typed(name, raw, &t.double_data, n, dtype, |v| {
            TensorData::F64(v.to_vec())
        })?,
        DType::I64 => typed(name, raw, &t.int64_data, n, dtype, |v| {
            TensorData::I64(v.to_vec())
        })?,
        DType::U64 | DType::U32 => typed(name, raw, &t.uint64_data, n, dtype, |v| {
            if dtype == DType::U64 {
                TensorData::U64(v.to_vec())
            } else {
                TensorData::U32(v.iter().map(|&x| x as u32).collect())
            }
        })?,
        // Every other type travels in int32_data (f16/bf16 as their bit patterns).
        _ => typed(name, raw, &t.int32_data, n, dtype, |v| match dtype {
            DType::I32 => TensorData::I32(v.to_vec()),
            DType::I16 => TensorData::I16(v.iter().map(|&x| x as i16).collect()),
            DType::I8 => TensorData::I8(v.iter().map(|&x| x as i8).collect()),
            DType::U16 => TensorData::U16(v.iter().map(|&x| x as u16).collect()),
            DType::U8 => TensorData::U8(v.iter().map(|&x| x as u8).collect()),
            DType::Bool => TensorData::Bool(v.iter().map(|&x| x != 0).collect()),
            DType::F16 => {
                TensorData::F16(v.iter().map(|&x| half::f16::from_bits(x as u16)).collect())
            }
            DType::BF16 => {
                TensorData::BF16(v.iter().map(|&x| half::bf16::from_bits(x as u16)).collect())
            }
            _ => unreachable!("handled above"),
        })?,
    };
    Tensor::new(shape, data)
}

/// Parses one serialized `TensorProto` (the `input_0.pb` files of ONNX test data), returning its
/// name (possibly empty) and values. Not read from a file, it cannot have external data.
pub fn decode_tensor(bytes: &[u8]) -> Result<(String, Tensor)> {
    let t = TensorProto::parse_from_bytes(bytes)
        .map_err(|e| Error::Format(format!("not a serialized ONNX TensorProto: {e}")))?;
    Ok((
        t.name.clone(),
        tensor_of(&t, &mut ExternalFiles::new(None))?,
    ))
}

fn foreign_attr(a: &AttributeProto, files: &mut ExternalFiles) -> Result<Attr> {
    let ty = a.type_.enum_value().ok();
    Ok(match ty {
        Some(AttributeType::INT) => Attr::Int(a.i),
        Some(AttributeType::INTS) => Attr::Ints(a.ints.clone()),
        Some(AttributeType::FLOAT) => Attr::Float(a.f),
        Some(AttributeType::FLOATS) => Attr::Floats(a.floats.clone()),
        Some(AttributeType::STRING) => Attr::Str(String::from_utf8_lossy(&a.s).into_owned()),
        Some(AttributeType::STRINGS) => Attr::Strs(
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        Some(AttributeType::TENSOR) => match a.t.as_ref() {
            Some(t) => Attr::Tensor(
                tensor_of(t, files)
                    .map_err(|e| Error::Format(format!("attribute {:?}: {e}", a.name)))?,
            ),
            None => Attr::Other("TENSOR without a value".into()),
        },
        Some(other) => Attr::Other(format!("{other:?}")),
        None => Attr::Other(format!("type {}", a.type_.value())),
    })
}

/// Parses a model written by any tool, keeping its whole main graph; external data is looked
/// for beside `source`, the file read.
pub fn decode_foreign(bytes: &[u8], source: Option<&Path>) -> Result<ForeignModel> {
    let mut files = ExternalFiles::new(source);
    let m = ModelProto::parse_from_bytes(bytes)
        .map_err(|e| Error::Format(format!("not a valid ONNX model: {e}")))?;
    let opsets: Vec<(String, i64)> = m
        .opset_import
        .iter()
        .map(|o| (o.domain.clone(), o.version))
        .collect();
    let opset = opsets
        .iter()
        .find(|(d, _)| d.is_empty() || d == "ai.onnx")
        .map_or(1, |(_, v)| *v);
    let metadata = m
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let g = m
        .graph
        .as_ref()
        .ok_or_else(|| Error::Format("the ONNX model has no graph".into()))?;
    let mut nodes = Vec::with_capacity(g.node.len());
    for (i, n) in g.node.iter().enumerate() {
        let attrs = n
            .attribute
            .iter()
            .map(|a| Ok((a.name.clone(), foreign_attr(a, &mut files)?)))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| Error::Format(format!("node {i} ({} {:?}): {e}", n.op_type, n.name)))?;
        nodes.push(ForeignNode {
            op: n.op_type.clone(),
            domain: n.domain.clone(),
            name: n.name.clone(),
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attrs,
        });
    }
    // TensorProto element type 8 is STRING (class labels of classifiers).
    let is_text = |t: &&TensorProto| t.data_type == 8;
    let initializers = g
        .initializer
        .iter()
        .filter(|t| !is_text(t))
        .map(|t| Ok((t.name.clone(), tensor_of(t, &mut files)?)))
        .collect::<Result<Vec<_>>>()?;
    let string_initializers = g
        .initializer
        .iter()
        .filter(is_text)
        .map(|t| {
            let v = t
                .string_data
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            (t.name.clone(), v)
        })
        .collect();
    Ok(ForeignModel {
        producer: m.producer_name.clone(),
        producer_version: m.producer_version.clone(),
        ir_version: m.ir_version,
        opset,
        opsets,
        nodes,
        inputs: g.input.iter().map(decl).collect(),
        outputs: g.output.iter().map(decl).collect(),
        value_info: g.value_info.iter().map(decl).collect(),
        initializers,
        string_initializers,
        metadata,
    })
}
