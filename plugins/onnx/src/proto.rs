//! The only module that touches the protobuf bindings (`onnx-protobuf`), so they can be swapped
//! later. Everything else builds and reads models through these small types.

use std::collections::HashMap;

use dl4j_core::named::{NamedTensor, TensorSource, TensorView};
use dl4j_core::tensor::{DType, Tensor, TensorData};
use dl4j_core::{Error, Result};
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    Message, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
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

/// Serializes a model.
pub fn encode(parts: ModelParts) -> Result<Vec<u8>> {
    let mut g = GraphProto::new();
    g.name = "dl4j".into();
    g.node = parts.nodes.iter().map(node_proto).collect();
    for (name, dtype, dims) in &parts.inputs {
        g.input.push(value_info(name, *dtype, dims.as_deref()));
    }
    for (name, dtype, dims) in &parts.outputs {
        g.output.push(value_info(name, *dtype, dims.as_deref()));
    }
    for t in &parts.tensors {
        g.initializer
            .push(tensor_proto(&t.name, t.dtype, &t.shape, (t.bytes)()?));
    }
    for c in parts.constants {
        g.initializer
            .push(tensor_proto(&c.name, c.dtype, &c.shape, c.data));
    }
    let mut m = ModelProto::new();
    m.ir_version = ir_version(parts.opset);
    m.producer_name = parts.producer;
    let mut op = OperatorSetIdProto::new();
    op.domain = String::new();
    op.version = parts.opset;
    m.opset_import.push(op);
    m.graph = Some(g).into();
    for (k, v) in parts.metadata {
        let mut e = StringStringEntryProto::new();
        e.key = k;
        e.value = v;
        m.metadata_props.push(e);
    }
    m.write_to_bytes()
        .map_err(|e| Error::Format(format!("encoding ONNX: {e}")))
}

/// A parsed model: its metadata and initializers (for rebuilding archives we wrote).
pub struct Parsed {
    metadata: HashMap<String, String>,
    initializers: HashMap<String, TensorProto>,
    shapes: HashMap<String, Vec<usize>>,
}

/// Parses a model file.
pub fn decode(bytes: &[u8]) -> Result<Parsed> {
    let m = ModelProto::parse_from_bytes(bytes)
        .map_err(|e| Error::Format(format!("not a valid ONNX model: {e}")))?;
    let metadata = m
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let mut initializers = HashMap::new();
    let mut shapes = HashMap::new();
    if let Some(g) = m.graph.into_option() {
        for t in g.initializer {
            let dims: Option<Vec<usize>> =
                t.dims.iter().map(|&d| usize::try_from(d).ok()).collect();
            let dims = dims.ok_or_else(|| {
                Error::Format(format!("initializer {:?} has a negative dimension", t.name))
            })?;
            shapes.insert(t.name.clone(), dims);
            initializers.insert(t.name.clone(), t);
        }
    }
    Ok(Parsed {
        metadata,
        initializers,
        shapes,
    })
}

impl TensorSource for Parsed {
    fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        let t = self.initializers.get(name)?;
        Some(TensorView {
            name: &t.name,
            dtype: dtype_of(t.data_type),
            shape: self.shapes.get(name)?,
            // Files we write always use raw_data.
            data: &t.raw_data,
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
        if raw.len() != n * dtype.size() {
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

/// A `TensorProto` as a tensor (raw or typed data; external data is refused).
pub fn tensor_of(t: &TensorProto) -> Result<Tensor> {
    let name = t.name.as_str();
    if t.data_location.value() == 1 || !t.external_data.is_empty() {
        return Err(Error::Format(format!(
            "tensor {name:?} keeps its data in an external file, which is not supported"
        )));
    }
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
    let raw = t.raw_data.as_slice();
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
/// name (possibly empty) and values.
pub fn decode_tensor(bytes: &[u8]) -> Result<(String, Tensor)> {
    let t = TensorProto::parse_from_bytes(bytes)
        .map_err(|e| Error::Format(format!("not a serialized ONNX TensorProto: {e}")))?;
    Ok((t.name.clone(), tensor_of(&t)?))
}

fn foreign_attr(a: &AttributeProto) -> Result<Attr> {
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
                tensor_of(t).map_err(|e| Error::Format(format!("attribute {:?}: {e}", a.name)))?,
            ),
            None => Attr::Other("TENSOR without a value".into()),
        },
        Some(other) => Attr::Other(format!("{other:?}")),
        None => Attr::Other(format!("type {}", a.type_.value())),
    })
}

/// Parses a model written by any tool, keeping its whole main graph.
pub fn decode_foreign(bytes: &[u8]) -> Result<ForeignModel> {
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
            .map(|a| Ok((a.name.clone(), foreign_attr(a)?)))
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
        .map(|t| Ok((t.name.clone(), tensor_of(t)?)))
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
