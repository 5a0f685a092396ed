//! The only module that touches the protobuf bindings (`onnx-protobuf`), so they can be swapped
//! later. Everything else builds and reads models through these small types.

use std::collections::HashMap;

use dl4j_core::named::{NamedTensor, TensorSource, TensorView};
use dl4j_core::tensor::DType;
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
    /// A subgraph (the `body` of `Scan`).
    Graph(Box<Subgraph>),
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
        Attr::Graph(g) => {
            p.g = Some(subgraph(g)).into();
            AttributeType::GRAPH
        }
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
