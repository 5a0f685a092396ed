//! Building small ONNX models with onnx-protobuf, shaped like real exporters' output, and
//! running them with tract.

use std::ffi::OsStr;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use tract_onnx::prelude::*;

/// Deterministic values in [-0.5, 0.5).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect()
}

pub fn init(name: &str, dims: &[i64], seed: u64) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = 1;
    t.dims = dims.to_vec();
    t.float_data = values(dims.iter().product::<i64>() as usize, seed);
    t
}

pub fn ints_init(name: &str, v: &[i64]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.data_type = 7;
    t.dims = vec![v.len() as i64];
    t.int64_data = v.to_vec();
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

pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = op.into();
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
    let mut shape = TensorShapeProto::new();
    for d in dims {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.value = Some(match d {
            Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
            None => tensor_shape_proto::dimension::Value::DimParam("batch_size".into()),
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
    m.write_to_bytes().unwrap()
}

/// Runs an ONNX file with tract on one f32 input; the first output.
pub fn tract(onnx: &Path, x: &ArrayD<f32>) -> ArrayD<f32> {
    let m = tract_onnx::onnx()
        .model_for_path(onnx)
        .unwrap()
        .with_input_fact(0, f32::fact(x.shape()).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let out = m.run(tvec!(Tensor::from(x.clone()).into_tvalue())).unwrap();
    let t = out[0].clone().into_tensor();
    let v: Vec<f32> = t
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    ArrayD::from_shape_vec(IxDyn(t.shape()), v).unwrap()
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

pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Imports `bytes`, exports the archive back to ONNX, and compares both graphs on `x`.
/// Returns the archive and the conversion's messages.
pub fn round_trip(bytes: &[u8], x: &ArrayD<f32>, extra: &[&str]) -> (dl4j::Archive, String) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("torch.onnx");
    std::fs::write(&src, bytes).unwrap();
    let zip = tmp.path().join("model.zip");
    let mut args = vec![OsStr::new("convert"), src.as_os_str(), zip.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    let o = super::dl4j(&args);
    assert!(o.status.success(), "import: {}", text(&o));
    let back = tmp.path().join("back.onnx");
    let o2 = super::dl4j(&[OsStr::new("convert"), zip.as_os_str(), back.as_os_str()]);
    assert!(o2.status.success(), "export: {}", text(&o2));
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
    (archive, text(&o))
}
