//! The safetensors container: parsing (with the `safetensors` crate, zero-copy over the mapped
//! file) and a streaming writer that produces each tensor's bytes only when it is written.

use std::collections::HashMap;
use std::io::Write;

pub use dl4j_core::named::le::decode_le;
use dl4j_core::named::{NamedTensor, TensorSource, TensorView};
use dl4j_core::tensor::{DType, Tensor};
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
                let v = st.tensor(&name).map_err(|e| {
                    Error::Format(format!(
                        "not a valid safetensors file: tensor {name:?} listed by the header: {e}"
                    ))
                })?;
                Ok(StTensor {
                    dtype: v.dtype(),
                    shape: v.shape().to_vec(),
                    data: v.data(),
                    name,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SafeFile { metadata, tensors })
    }

    pub fn get(&self, name: &str) -> Option<&StTensor<'a>> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// Cheap check for detection: 8-byte LE length, then a JSON object that fits the file.
pub fn looks_like_safetensors(bytes: &[u8]) -> bool {
    let Some(head) = bytes.first_chunk::<8>() else {
        return false;
    };
    let n = u64::from_le_bytes(*head);
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

/// Writes a safetensors file: header (metadata first, then tensors in the given order, offsets
/// consecutive, padded with spaces to 8 bytes), then each tensor's bytes, streamed as they are made.
pub fn write(
    items: &[NamedTensor],
    metadata: &[(String, String)],
    out: &mut dyn Write,
    progress: &dl4j_core::Progress,
) -> Result<()> {
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
    let mut text = serde_json::to_vec(&serde_json::Value::Object(header))
        .map_err(|e| Error::Format(format!("writing the safetensors header: {e}")))?;
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
    progress.start(offset as u64);
    for it in items {
        it.stream(&mut |b| {
            out.write_all(b).map_err(io)?;
            progress.advance(b.len() as u64);
            Ok(())
        })?;
    }
    Ok(())
}

impl TensorSource for SafeFile<'_> {
    fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        self.get(name).map(|t| TensorView {
            name: &t.name,
            dtype: dtype_from_st(t.dtype),
            shape: &t.shape,
            data: t.data,
        })
    }

    fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }
}
