//! Building small ONNX models with onnx-protobuf, shaped like real exporters' output, and
//! running them with tract.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;

use ndarray::{ArrayD, IxDyn};
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use tract_onnx::prelude::*;

/// Deterministic values in [-0.5, 0.5).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    scaled_values(n, seed, 0.5)
}

/// The same deterministic sequence as [`values`], spread over [-scale, scale).
pub fn scaled_values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5) * 2.0 * scale
        })
        .collect()
}

/// An f32 array of `shape` filled with [`values`].
pub fn input(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), values(n, seed)).unwrap()
}

pub fn init(name: &str, dims: &[i64], seed: u64) -> TensorProto {
    floats(
        name,
        dims,
        values(dims.iter().product::<i64>() as usize, seed),
    )
}

/// A float initializer holding `v`.
pub fn floats(name: &str, dims: &[i64], v: Vec<f32>) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = 1;
    t.dims = dims.to_vec();
    t.float_data = v;
    t
}

/// A float initializer with [`scaled_values`], and the same values as f64.
pub struct Param {
    pub proto: TensorProto,
    pub value: ArrayD<f64>,
}

pub fn param(name: &str, dims: &[usize], seed: u64, scale: f32) -> Param {
    let v = scaled_values(dims.iter().product(), seed, scale);
    let value = ArrayD::from_shape_vec(IxDyn(dims), v.iter().map(|&x| x as f64).collect());
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    Param {
        proto: floats(name, &dims, v),
        value: value.unwrap(),
    }
}

/// A one-dimensional int64 initializer.
pub fn ints_init(name: &str, v: &[i64]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = 7;
    t.dims = vec![v.len() as i64];
    t.int64_data = v.to_vec();
    t
}

/// A scalar (rank 0) int64 initializer.
pub fn int_scalar(name: &str, v: i64) -> TensorProto {
    let mut t = ints_init(name, &[v]);
    t.dims = vec![];
    t
}

/// A one-dimensional int32 initializer.
pub fn int32s(name: &str, v: &[i32]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = 6;
    t.dims = vec![v.len() as i64];
    t.int32_data = v.to_vec();
    t
}

/// A one-dimensional string initializer.
pub fn strings(name: &str, v: &[&str]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = 8;
    t.dims = vec![v.len() as i64];
    t.string_data = v.iter().map(|s| s.as_bytes().to_vec()).collect();
    t
}

pub fn attr_i(name: &str, v: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INT.into();
    a.i = v;
    a
}

pub fn attr_is(name: &str, v: &[i64]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INTS.into();
    a.ints = v.to_vec();
    a
}

pub fn attr_f(name: &str, v: f32) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::FLOAT.into();
    a.f = v;
    a
}

pub fn attr_s(name: &str, v: &str) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::STRING.into();
    a.s = v.as_bytes().to_vec();
    a
}

pub fn attr_strs(name: &str, v: &[&str]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::STRINGS.into();
    a.strings = v.iter().map(|s| s.as_bytes().to_vec()).collect();
    a
}

pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    domain_node("", op, name, inputs, outputs, attrs)
}

/// A node named `/<first output>`, as PyTorch names many.
pub fn out_node(
    op: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    node(op, &format!("/{}", outputs[0]), inputs, outputs, attrs)
}

/// A node of operator set `domain` ("" for the default one).
pub fn domain_node(
    domain: &str,
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = op.into();
    n.domain = domain.into();
    n.name = name.into();
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    n.attribute = attrs;
    n
}

/// A float tensor value; `None` dims are the symbolic `batch_size`.
pub fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    typed_value(name, dims, 1)
}

/// A tensor value of ONNX element type `elem` (1 f32, 10 f16, 11 f64).
pub fn typed_value(name: &str, dims: &[Option<i64>], elem: i32) -> ValueInfoProto {
    symbolic_value(name, dims, elem, "batch_size")
}

/// A tensor value of element type `elem` whose `None` dims are the symbolic `symbol`.
pub fn symbolic_value(name: &str, dims: &[Option<i64>], elem: i32, symbol: &str) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    for d in dims {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.value = Some(match d {
            Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
            None => tensor_shape_proto::dimension::Value::DimParam(symbol.into()),
        });
        shape.dim.push(dim);
    }
    let mut t = type_proto::Tensor::new();
    t.elem_type = elem;
    t.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.value = Some(type_proto::Value::TensorType(t));
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = Some(ty).into();
    v
}

/// A PyTorch-2.x-like model at opset 17 with one input and one output.
pub fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    input: ValueInfoProto,
    output: ValueInfoProto,
) -> Vec<u8> {
    model_with(nodes, inits, vec![input], vec![output], 17)
}

/// A model with any inputs, outputs and default-domain opset.
pub fn model_with(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    opset: i64,
) -> Vec<u8> {
    model_proto(nodes, inits, inputs, outputs, opset)
        .write_to_bytes()
        .unwrap()
}

/// The PyTorch-like [`ModelProto`] of [`model_with`], for a caller to adjust (producer, graph
/// name, more operator sets) before encoding it.
pub fn model_proto(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    opset: i64,
) -> ModelProto {
    let mut g = GraphProto::new();
    g.name = "main_graph".into();
    g.node = nodes;
    g.initializer = inits;
    g.input = inputs;
    g.output = outputs;
    let mut m = ModelProto::new();
    m.ir_version = 8;
    m.producer_name = "pytorch".into();
    m.producer_version = "2.1.0".into();
    let mut op = OperatorSetIdProto::new();
    op.version = opset;
    m.opset_import.push(op);
    m.graph = Some(g).into();
    m
}

/// Adds the operator set `domain` at `version` to a model.
pub fn add_opset(m: &mut ModelProto, domain: &str, version: i64) {
    let mut op = OperatorSetIdProto::new();
    op.domain = domain.into();
    op.version = version;
    m.opset_import.push(op);
}

/// Runs an ONNX file with tract on one f32 input; the first output.
pub fn tract(onnx: &Path, x: &ArrayD<f32>) -> ArrayD<f32> {
    tract_run(onnx, std::slice::from_ref(x), true).remove(0)
}

/// Runs an ONNX file with tract; every output in f32. With `fix_shapes`, each input's shape is
/// given to tract as that of its array.
pub fn tract_run(onnx: &Path, inputs: &[ArrayD<f32>], fix_shapes: bool) -> Vec<ArrayD<f32>> {
    let model = tract_onnx::onnx().model_for_path(onnx).unwrap();
    tract_model(model, inputs, fix_shapes)
}

/// Runs an encoded ONNX model with tract on one input with its shape fixed, computed in f32;
/// the first output as f64.
pub fn tract_f64(onnx: &[u8], x: &ArrayD<f64>) -> ArrayD<f64> {
    let model = tract_onnx::onnx().model_for_read(&mut &onnx[..]).unwrap();
    tract_model(model, &[x.mapv(|v| v as f32)], true)
        .remove(0)
        .mapv(|v| v as f64)
}

fn tract_model(
    mut model: InferenceModel,
    inputs: &[ArrayD<f32>],
    fix_shapes: bool,
) -> Vec<ArrayD<f32>> {
    if fix_shapes {
        for (i, x) in inputs.iter().enumerate() {
            model = model
                .with_input_fact(i, f32::fact(x.shape()).into())
                .unwrap();
        }
    }
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    let ins: TVec<TValue> = inputs
        .iter()
        .map(|a| Tensor::from(a.clone()).into_tvalue())
        .collect();
    plan.run(ins)
        .unwrap()
        .iter()
        .map(|t| t.to_plain_array_view::<f32>().unwrap().to_owned())
        .collect()
}

/// A double-precision initializer.
pub fn init_f64(name: &str, dims: &[i64], seed: u64) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = 11;
    t.dims = dims.to_vec();
    t.double_data = values(dims.iter().product::<i64>() as usize, seed)
        .into_iter()
        .map(f64::from)
        .collect();
    t
}

/// A command's stdout and stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `dl4j convert from to [extra ...]`.
pub fn convert(from: &Path, to: &Path, extra: &[&str]) -> Output {
    let mut args = vec![OsStr::new("convert"), from.as_os_str(), to.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    super::dl4j(&args)
}

/// `dl4j convert DIR/model.onnx out [--freeze NAME=DIR/test_data_set_0/input_K.pb ...] [extra]`
/// for an ONNX backend test folder.
pub fn convert_frozen(dir: &Path, out: &Path, freeze: &[(&str, usize)], extra: &[&str]) -> Output {
    let specs: Vec<String> = freeze
        .iter()
        .map(|(name, k)| {
            format!(
                "{name}={}",
                dir.join(format!("test_data_set_0/input_{k}.pb")).display()
            )
        })
        .collect();
    let mut args: Vec<&str> = Vec::new();
    for s in &specs {
        args.extend(["--freeze", s]);
    }
    args.extend(extra);
    convert(&dir.join("model.onnx"), out, &args)
}

/// The tolerances the import tests verify with.
pub const TOLERANCE: &[&str] = &["--rtol", "1e-4", "--atol", "1e-5"];

/// `dl4j verify model --input ... --expected ... [extra ...]`.
pub fn verify<P: AsRef<Path>, Q: AsRef<Path>>(
    model: &Path,
    inputs: &[P],
    expected: &[Q],
    extra: &[&str],
) -> Output {
    let mut args: Vec<&OsStr> = vec![OsStr::new("verify"), model.as_os_str()];
    for i in inputs {
        args.extend([OsStr::new("--input"), i.as_ref().as_os_str()]);
    }
    for e in expected {
        args.extend([OsStr::new("--expected"), e.as_ref().as_os_str()]);
    }
    args.extend(extra.iter().map(OsStr::new));
    super::dl4j(&args)
}

/// A `.npy` (format 1.0, little-endian f4, C order) of `values` in the shape `shape`.
pub fn write_npy(path: &Path, shape: &[usize], values: impl IntoIterator<Item = f32>) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if shape.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h.as_bytes());
    for v in values {
        b.extend(v.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

/// [`write_npy`] of an array, in C order whatever its memory layout.
pub fn write_npy_array(path: &Path, a: &ArrayD<f32>) {
    write_npy(path, a.shape(), a.as_standard_layout().iter().copied());
}

/// Writes `bytes` as an ONNX file in a new temporary folder and converts it to a DL4J zip there:
/// the folder, the ONNX file, the zip's path and the conversion's output.
pub fn import_bytes(bytes: &[u8], extra: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf, Output) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("torch.onnx");
    std::fs::write(&src, bytes).unwrap();
    let zip = tmp.path().join("model.zip");
    let o = convert(&src, &zip, extra);
    (tmp, src, zip, o)
}

/// Imports `bytes` and exports the archive back to ONNX: the folder, the original ONNX file,
/// the zip, the exported ONNX file and the import's messages.
pub fn import_export(
    bytes: &[u8],
    extra: &[&str],
) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf, String) {
    let (tmp, src, zip, o) = import_bytes(bytes, extra);
    assert!(o.status.success(), "import: {}", text(&o));
    let back = tmp.path().join("back.onnx");
    let o2 = convert(&zip, &back, &[]);
    assert!(o2.status.success(), "export: {}", text(&o2));
    (tmp, src, zip, back, text(&o))
}

/// Imports `bytes`, exports the archive back to ONNX, and compares both graphs on `x`.
/// Returns the archive and the conversion's messages.
pub fn round_trip(bytes: &[u8], x: &ArrayD<f32>, extra: &[&str]) -> (dl4j::Archive, String) {
    let (_tmp, src, zip, back, messages) = import_export(bytes, extra);
    let want = tract(&src, x);
    let got = tract(&back, x);
    assert_eq!(got.shape(), want.shape());
    for (g, w) in got.iter().zip(want.iter()) {
        assert!((g - w).abs() <= 1e-5 + 1e-4 * w.abs(), "got {g}, want {w}");
    }
    // A wrong network would not match: the outputs vary.
    assert!(want
        .iter()
        .any(|&v| (v - want[IxDyn(&vec![0; want.ndim()])]).abs() > 1e-3));
    let (archive, _) = dl4j::open(&zip, None).unwrap();
    (archive, messages)
}

/// The short class names of an imported MultiLayerNetwork's layers.
pub fn layer_classes(a: &dl4j::Archive) -> Vec<String> {
    a.config.value()["confs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let k = c["layer"]["@class"].as_str().unwrap();
            k.rsplit('.').next().unwrap().to_string()
        })
        .collect()
}
