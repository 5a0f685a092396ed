//! The safetensors container: parsing (with the `safetensors` crate, zero-copy over the mapped
//! file) and a streaming writer that produces each tensor's bytes only when it is written.

use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;

use dl4j_core::layout::segment_positions;
use dl4j_core::tensor::{DType, Order, Tensor, TensorData};
use dl4j_core::{Error, Result};
use safetensors::{Dtype, SafeTensors};

/// The format's own limit on the JSON header.
pub const MAX_HEADER: usize = 100_000_000;

/// One tensor of a parsed file, borrowing its bytes.
pub struct StTensor<'a> {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: &'a [u8],
}

/// A parsed safetensors file: metadata and tensors in data order.
pub struct SafeFile<'a> {
    pub metadata: HashMap<String, String>,
    pub tensors: Vec<StTensor<'a>>,
}

impl<'a> SafeFile<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<SafeFile<'a>> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::Format(format!("not a valid safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::Format(format!("not a valid safetensors file: {e}")))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let tensors = header
            .offset_keys()
            .into_iter()
            .map(|name| {
                let v = st.tensor(&name).expect("listed by the header");
                StTensor {
                    dtype: v.dtype(),
                    shape: v.shape().to_vec(),
                    data: v.data(),
                    name,
                }
            })
            .collect();
        Ok(SafeFile { metadata, tensors })
    }

    pub fn get(&self, name: &str) -> Option<&StTensor<'a>> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Cheap check for detection: 8-byte LE length, then a JSON object that fits the file.
pub fn looks_like_safetensors(bytes: &[u8]) -> bool {
    let Some(head) = bytes.get(..8) else {
        return false;
    };
    let n = u64::from_le_bytes(head.try_into().expect("8 bytes"));
    n >= 2 && n <= MAX_HEADER as u64 && 8 + n <= bytes.len() as u64 && bytes.get(8) == Some(&b'{')
}

/// Our dtype for a safetensors dtype (`None` for the exotic float formats).
pub fn dtype_from_st(d: Dtype) -> Option<DType> {
    Some(match d {
        Dtype::F64 => DType::F64,
        Dtype::F32 => DType::F32,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::I64 => DType::I64,
        Dtype::I32 => DType::I32,
        Dtype::I16 => DType::I16,
        Dtype::I8 => DType::I8,
        Dtype::U8 => DType::U8,
        Dtype::U16 => DType::U16,
        Dtype::U32 => DType::U32,
        Dtype::U64 => DType::U64,
        Dtype::BOOL => DType::Bool,
        _ => return None,
    })
}

/// The safetensors spelling of a dtype.
pub fn st_name(d: DType) -> &'static str {
    match d {
        DType::F64 => "F64",
        DType::F32 => "F32",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::I64 => "I64",
        DType::I32 => "I32",
        DType::I16 => "I16",
        DType::I8 => "I8",
        DType::U8 => "U8",
        DType::U16 => "U16",
        DType::U32 => "U32",
        DType::U64 => "U64",
        DType::Bool => "BOOL",
    }
}

/// Decodes a tensor's little-endian bytes into a row-major tensor of its own dtype.
pub fn to_tensor(t: &StTensor) -> Result<Tensor> {
    let dtype = dtype_from_st(t.dtype).ok_or_else(|| {
        Error::Unsupported(format!("tensor {:?} has dtype {:?}", t.name, t.dtype))
    })?;
    let data = decode_le(dtype, t.data);
    Tensor::new(t.shape.clone(), data)
        .map_err(|e| Error::Format(format!("tensor {:?}: {e}", t.name)))
}

/// Little-endian element decoding (the bytes' length is already checked by the parser).
pub fn decode_le(dtype: DType, b: &[u8]) -> TensorData {
    use half::{bf16, f16};
    macro_rules! le {
        ($n:literal, $f:expr) => {
            b.chunks_exact($n)
                .map(|c| $f(c.try_into().unwrap()))
                .collect()
        };
    }
    match dtype {
        DType::F64 => TensorData::F64(le!(8, f64::from_le_bytes)),
        DType::F32 => TensorData::F32(le!(4, f32::from_le_bytes)),
        DType::F16 => TensorData::F16(le!(2, |x| f16::from_bits(u16::from_le_bytes(x)))),
        DType::BF16 => TensorData::BF16(le!(2, |x| bf16::from_bits(u16::from_le_bytes(x)))),
        DType::I64 => TensorData::I64(le!(8, i64::from_le_bytes)),
        DType::U64 => TensorData::U64(le!(8, u64::from_le_bytes)),
        DType::I32 => TensorData::I32(le!(4, i32::from_le_bytes)),
        DType::U32 => TensorData::U32(le!(4, u32::from_le_bytes)),
        DType::I16 => TensorData::I16(le!(2, i16::from_le_bytes)),
        DType::U16 => TensorData::U16(le!(2, u16::from_le_bytes)),
        DType::I8 => TensorData::I8(b.iter().map(|&x| x as i8).collect()),
        DType::U8 => TensorData::U8(b.to_vec()),
        DType::Bool => TensorData::Bool(b.iter().map(|&x| x != 0).collect()),
    }
}

/// Appends the little-endian bytes of `data` (bit patterns kept, NaN payloads included).
pub fn encode_le(data: &TensorData, out: &mut Vec<u8>) {
    out.reserve(data.len() * data.dtype().size());
    match data {
        TensorData::F64(v) => v.iter().for_each(|x| out.extend(x.to_bits().to_le_bytes())),
        TensorData::F32(v) => v.iter().for_each(|x| out.extend(x.to_bits().to_le_bytes())),
        TensorData::F16(v) => v.iter().for_each(|x| out.extend(x.to_bits().to_le_bytes())),
        TensorData::BF16(v) => v.iter().for_each(|x| out.extend(x.to_bits().to_le_bytes())),
        TensorData::I64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        TensorData::U64(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        TensorData::I32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        TensorData::U32(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        TensorData::I16(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        TensorData::U16(v) => v.iter().for_each(|x| out.extend(x.to_le_bytes())),
        TensorData::I8(v) => out.extend(v.iter().map(|&x| x as u8)),
        TensorData::U8(v) => out.extend_from_slice(v),
        TensorData::Bool(v) => out.extend(v.iter().map(|&x| x as u8)),
    }
}

/// Elements that can be written little-endian.
trait Le: Copy {
    fn put(self, out: &mut Vec<u8>);
}

macro_rules! le_via {
    ($($t:ty => |$x:ident| $e:expr),* $(,)?) => {
        $(impl Le for $t {
            fn put(self, out: &mut Vec<u8>) {
                let $x = self;
                out.extend_from_slice(&$e);
            }
        })*
    };
}
le_via!(
    f64 => |x| x.to_bits().to_le_bytes(),
    f32 => |x| x.to_bits().to_le_bytes(),
    half::f16 => |x| x.to_bits().to_le_bytes(),
    half::bf16 => |x| x.to_bits().to_le_bytes(),
    i64 => |x| x.to_le_bytes(),
    u64 => |x| x.to_le_bytes(),
    i32 => |x| x.to_le_bytes(),
    u32 => |x| x.to_le_bytes(),
    i16 => |x| x.to_le_bytes(),
    u16 => |x| x.to_le_bytes(),
    i8 => |x| x.to_le_bytes(),
    u8 => |x| [x],
    bool => |x| [x as u8],
);

fn segment_typed<T: Le>(v: &[T], runs: &[Range<usize>], shape: &[usize], order: Order) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n * std::mem::size_of::<T>().max(1));
    for i in segment_positions(runs, shape, order) {
        v[i].put(&mut out);
    }
    out
}

/// Little-endian bytes, in row-major order of `shape`, of the segment made of `runs` of `data`
/// and laid out in `order`: one pass, no intermediate copy.
pub fn segment_le(
    data: &TensorData,
    runs: &[Range<usize>],
    shape: &[usize],
    order: Order,
) -> Vec<u8> {
    match data {
        TensorData::F64(v) => segment_typed(v, runs, shape, order),
        TensorData::F32(v) => segment_typed(v, runs, shape, order),
        TensorData::F16(v) => segment_typed(v, runs, shape, order),
        TensorData::BF16(v) => segment_typed(v, runs, shape, order),
        TensorData::I64(v) => segment_typed(v, runs, shape, order),
        TensorData::U64(v) => segment_typed(v, runs, shape, order),
        TensorData::I32(v) => segment_typed(v, runs, shape, order),
        TensorData::U32(v) => segment_typed(v, runs, shape, order),
        TensorData::I16(v) => segment_typed(v, runs, shape, order),
        TensorData::U16(v) => segment_typed(v, runs, shape, order),
        TensorData::I8(v) => segment_typed(v, runs, shape, order),
        TensorData::U8(v) => segment_typed(v, runs, shape, order),
        TensorData::Bool(v) => segment_typed(v, runs, shape, order),
    }
}

/// A tensor to write: its bytes are produced by `bytes` only when the writer reaches it.
pub struct Item<'a> {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub bytes: Box<dyn Fn() -> Result<Vec<u8>> + 'a>,
}

impl Item<'_> {
    fn byte_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }
}

/// Writes a safetensors file: header (metadata first, then tensors in the given order, offsets
/// consecutive, padded with spaces to 8 bytes), then each tensor's bytes, one at a time.
pub fn write(items: &[Item], metadata: &[(String, String)], out: &mut dyn Write) -> Result<()> {
    let mut header = serde_json::Map::new();
    if !metadata.is_empty() {
        let m: serde_json::Map<String, serde_json::Value> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        header.insert("__metadata__".into(), m.into());
    }
    let mut offset = 0usize;
    for it in items {
        if header.contains_key(&it.name) {
            return Err(Error::Inconsistent(format!(
                "two tensors named {:?}",
                it.name
            )));
        }
        let end = offset + it.byte_len();
        header.insert(
            it.name.clone(),
            serde_json::json!({
                "dtype": st_name(it.dtype),
                "shape": it.shape,
                "data_offsets": [offset, end],
            }),
        );
        offset = end;
    }
    let mut text = serde_json::to_vec(&serde_json::Value::Object(header)).expect("JSON");
    if text.len() > MAX_HEADER {
        return Err(Error::Unsupported(format!(
            "the safetensors header would be {} bytes, over the format's {MAX_HEADER}-byte limit (the configuration or the tensor list is too large)",
            text.len()
        )));
    }
    text.resize(text.len().next_multiple_of(8), b' ');
    let io = |e: std::io::Error| Error::Format(format!("writing safetensors: {e}"));
    out.write_all(&(text.len() as u64).to_le_bytes())
        .map_err(io)?;
    out.write_all(&text).map_err(io)?;
    for it in items {
        let b = (it.bytes)()?;
        if b.len() != it.byte_len() {
            return Err(Error::Inconsistent(format!(
                "tensor {:?}: {} bytes produced for shape {:?} of {}",
                it.name,
                b.len(),
                it.shape,
                it.dtype
            )));
        }
        out.write_all(&b).map_err(io)?;
    }
    Ok(())
}
