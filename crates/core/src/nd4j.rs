//! The ND4J array stream (`Nd4j.write` / `Nd4j.read`) in all three generations.
//!
//! `array := DataBuffer(shapeInfo) DataBuffer(data)`, each buffer being
//! `UTF allocMode, length (i32 or i64), UTF typeName, elements (big-endian)`.
//! Elements are placed by the strides in the shape info, never by the order flag alone:
//! real files hold permuted views.

use half::{bf16, f16};

use crate::bytes::{ByteReader, ByteWriter};
use crate::error::{Error, Result};
use crate::nd4j_input::{ArrayInput, StreamInput};
use crate::tensor::{checked_product, DType, Order, Tensor, TensorData};

/// Largest rank accepted from a file (ND4J itself caps at 32).
const MAX_RANK: i64 = 32;

/// The allocation-mode string at the start of every buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllocMode {
    Direct,
    Heap,
    Javacpp,
    LongShape,
    MixedDataTypes,
}

impl AllocMode {
    pub fn name(self) -> &'static str {
        match self {
            AllocMode::Direct => "DIRECT",
            AllocMode::Heap => "HEAP",
            AllocMode::Javacpp => "JAVACPP",
            AllocMode::LongShape => "LONG_SHAPE",
            AllocMode::MixedDataTypes => "MIXED_DATA_TYPES",
        }
    }

    pub fn from_name(s: &str) -> Option<AllocMode> {
        Some(match s {
            "DIRECT" => AllocMode::Direct,
            "HEAP" => AllocMode::Heap,
            "JAVACPP" => AllocMode::Javacpp,
            "LONG_SHAPE" => AllocMode::LongShape,
            "MIXED_DATA_TYPES" => AllocMode::MixedDataTypes,
            _ => return None,
        })
    }

    /// Legacy modes (ordinal < 3) write an int32 length, the others an int64.
    fn long_length(self) -> bool {
        matches!(self, AllocMode::LongShape | AllocMode::MixedDataTypes)
    }

    pub fn encoding(self) -> Encoding {
        match self {
            AllocMode::Direct | AllocMode::Heap | AllocMode::Javacpp => Encoding::Legacy,
            AllocMode::LongShape => Encoding::LongShape,
            AllocMode::MixedDataTypes => Encoding::Modern,
        }
    }
}

/// The three generations of the array stream; each DL4J release reads a subset (spec §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `JAVACPP`, int32 lengths, INT shape info: DL4J 0.5.0 .. 1.0.0-beta.
    Legacy,
    /// `LONG_SHAPE`, int64 lengths, LONG shape info: 1.0.0-beta2, beta3.
    LongShape,
    /// `MIXED_DATA_TYPES`, dtype bits in the shape info: 1.0.0-beta4 and later.
    Modern,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Legacy => "legacy",
            Encoding::LongShape => "long-shape",
            Encoding::Modern => "modern",
        }
    }

    pub fn from_name(s: &str) -> Option<Encoding> {
        Some(match s {
            "legacy" => Encoding::Legacy,
            "long-shape" => Encoding::LongShape,
            "modern" => Encoding::Modern,
            _ => return None,
        })
    }

    /// The allocation mode this generation writes.
    pub fn alloc_mode(self) -> AllocMode {
        match self {
            Encoding::Legacy => AllocMode::Javacpp,
            Encoding::LongShape => AllocMode::LongShape,
            Encoding::Modern => AllocMode::MixedDataTypes,
        }
    }

    /// Which DL4J releases can read arrays in this encoding.
    pub fn readable_by(self) -> &'static str {
        match self {
            Encoding::Legacy => "every DL4J release (0.5.0 .. 1.0.0-M2.1)",
            Encoding::LongShape => "DL4J 1.0.0-beta2 and later",
            Encoding::Modern => "DL4J 1.0.0-beta4 and later",
        }
    }

    /// Data types this generation can carry.
    pub fn supports(self, dtype: DType) -> bool {
        match self {
            Encoding::Modern => true,
            Encoding::Legacy | Encoding::LongShape => matches!(
                dtype,
                DType::F64 | DType::F32 | DType::F16 | DType::I32 | DType::I64
            ),
        }
    }
}

/// A decoded ND4J array plus what is needed to write it back the same way.
#[derive(Debug, Clone)]
pub struct Nd4jArray {
    /// Logical values, row-major.
    pub tensor: Tensor,
    /// Order flag of the shape info (`c` or `f`).
    pub order: Order,
    /// Allocation mode of the data buffer.
    pub alloc: AllocMode,
    /// The array was written shape-only (M2.1 empty arrays, spec §2.8).
    pub shape_only: bool,
}

impl Nd4jArray {
    /// A `c`-ordered array in the given encoding.
    pub fn new(tensor: Tensor, encoding: Encoding) -> Nd4jArray {
        Nd4jArray {
            tensor,
            order: Order::C,
            alloc: encoding.alloc_mode(),
            shape_only: false,
        }
    }

    pub fn encoding(&self) -> Encoding {
        self.alloc.encoding()
    }

    /// Same values and dtype, bit for bit (layout flags are not compared).
    pub fn bit_eq(&self, other: &Nd4jArray) -> bool {
        self.tensor.bit_eq(&other.tensor)
    }
}

/// Extras bits of the shape info (ArrayOptionsHelper).
mod extras {
    pub const COMPRESSED: i64 = 4;
    pub const EMPTY: i64 = 8;
    pub const BFLOAT16: i64 = 2048;
    pub const HALF: i64 = 4096;
    pub const FLOAT: i64 = 8192;
    pub const DOUBLE: i64 = 16384;
    pub const BYTE: i64 = 32768;
    pub const SHORT: i64 = 65536;
    pub const INT: i64 = 131072;
    pub const LONG: i64 = 262144;
    pub const BOOL: i64 = 524288;
    pub const UTF8: i64 = 1048576;
    pub const UNSIGNED: i64 = 8388608;
}

/// The dtype bit ND4J stores in the extras slot for `dtype`.
pub fn dtype_extras(dtype: DType) -> i64 {
    use extras::*;
    match dtype {
        DType::F64 => DOUBLE,
        DType::F32 => FLOAT,
        DType::F16 => HALF,
        DType::BF16 => BFLOAT16,
        DType::I64 => LONG,
        DType::U64 => LONG | UNSIGNED,
        DType::I32 => INT,
        DType::U32 => INT | UNSIGNED,
        DType::I16 => SHORT,
        DType::U16 => SHORT | UNSIGNED,
        DType::I8 => BYTE,
        DType::U8 => BYTE | UNSIGNED,
        DType::Bool => BOOL,
    }
}

/// ND4J's decoding priority (`ArrayOptionsHelper.dataType`); `None` for legacy extras (0).
fn dtype_from_extras(x: i64) -> std::result::Result<Option<DType>, &'static str> {
    use extras::*;
    let unsigned = x & UNSIGNED != 0;
    Ok(Some(if x & COMPRESSED != 0 {
        return Err("COMPRESSED");
    } else if x & HALF != 0 {
        DType::F16
    } else if x & BFLOAT16 != 0 {
        DType::BF16
    } else if x & FLOAT != 0 {
        DType::F32
    } else if x & DOUBLE != 0 {
        DType::F64
    } else if x & INT != 0 {
        if unsigned {
            DType::U32
        } else {
            DType::I32
        }
    } else if x & LONG != 0 {
        if unsigned {
            DType::U64
        } else {
            DType::I64
        }
    } else if x & BOOL != 0 {
        DType::Bool
    } else if x & BYTE != 0 {
        if unsigned {
            DType::U8
        } else {
            DType::I8
        }
    } else if x & SHORT != 0 {
        if unsigned {
            DType::U16
        } else {
            DType::I16
        }
    } else if x & UTF8 != 0 {
        return Err("UTF8");
    } else {
        return Ok(None);
    }))
}

struct BufferHeader {
    alloc: AllocMode,
    len: u64,
    type_name: String,
    offset: usize,
}

fn read_header<I: ArrayInput + ?Sized>(r: &mut I, what: &str) -> Result<BufferHeader> {
    let offset = r.pos();
    let mode = r.utf(&format!("{what} allocation mode"))?;
    let alloc = AllocMode::from_name(&mode).ok_or_else(|| {
        Error::malformed(
            offset as u64,
            format!("{what}: unknown allocation mode {mode:?} (not an ND4J array?)"),
        )
    })?;
    let (len, type_name) = if alloc.long_length() {
        let len = r.i64(&format!("{what} length"))?;
        (len, r.utf(&format!("{what} type"))?)
    } else {
        // ND4J 1.0.0-beta2 re-wrote buffers read from legacy files with their legacy mode name
        // but an int64 length: if the int32 reading gives no type name, try that.
        r.mark();
        let len = r.i32(&format!("{what} length"))? as i64;
        match r.utf(&format!("{what} type")) {
            Ok(t) if is_type_name(&t) => (len, t),
            first => {
                r.rewind();
                let long = r.i64(&format!("{what} length")).ok();
                match (long, long.and_then(|_| r.utf("type").ok())) {
                    (Some(l), Some(t)) if is_type_name(&t) => (l, t),
                    _ => (len, first?),
                }
            }
        }
    };
    let len = u64::try_from(len).map_err(|_| r.err(format!("{what}: negative length {len}")))?;
    Ok(BufferHeader {
        alloc,
        len,
        type_name,
        offset,
    })
}

fn is_type_name(s: &str) -> bool {
    DType::from_nd4j_name(s).is_some() || matches!(s, "COMPRESSED" | "UTF8")
}

/// Decodes big-endian elements; `bytes.len()` must be a multiple of the element size.
pub fn decode_be(dtype: DType, bytes: &[u8]) -> TensorData {
    let mut out = TensorData::with_capacity(dtype, bytes.len() / dtype.size());
    extend_be(&mut out, bytes);
    out
}

/// Appends the big-endian elements in `bytes` to `out` (of the same dtype) without an
/// intermediate buffer: the streaming decoder's inner loop.
pub fn extend_be(out: &mut TensorData, bytes: &[u8]) {
    macro_rules! ext {
        ($v:expr, $n:literal, $f:expr) => {
            $v.extend(bytes.chunks_exact($n).map(|c| $f(c.try_into().unwrap())))
        };
    }
    match out {
        TensorData::F64(v) => ext!(v, 8, f64::from_be_bytes),
        TensorData::F32(v) => ext!(v, 4, f32::from_be_bytes),
        TensorData::F16(v) => ext!(v, 2, |b| f16::from_bits(u16::from_be_bytes(b))),
        TensorData::BF16(v) => ext!(v, 2, |b| bf16::from_bits(u16::from_be_bytes(b))),
        TensorData::I64(v) => ext!(v, 8, i64::from_be_bytes),
        TensorData::U64(v) => ext!(v, 8, u64::from_be_bytes),
        TensorData::I32(v) => ext!(v, 4, i32::from_be_bytes),
        TensorData::U32(v) => ext!(v, 4, u32::from_be_bytes),
        TensorData::I16(v) => ext!(v, 2, i16::from_be_bytes),
        TensorData::U16(v) => ext!(v, 2, u16::from_be_bytes),
        TensorData::I8(v) => v.extend(bytes.iter().map(|&b| b as i8)),
        TensorData::U8(v) => v.extend_from_slice(bytes),
        TensorData::Bool(v) => v.extend(bytes.iter().map(|&b| b != 0)),
    }
}

/// Encodes elements big-endian as `DataOutputStream` does (float NaNs canonicalised).
pub fn encode_be(data: &TensorData, out: &mut Vec<u8>) {
    out.reserve(data.len() * data.dtype().size());
    match data {
        TensorData::F64(v) => v.iter().for_each(|x| out.put_f64(*x)),
        TensorData::F32(v) => v.iter().for_each(|x| {
            let bits = if x.is_nan() { 0x7fc0_0000 } else { x.to_bits() };
            out.extend_from_slice(&bits.to_be_bytes())
        }),
        TensorData::F16(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_bits().to_be_bytes())),
        TensorData::BF16(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_bits().to_be_bytes())),
        TensorData::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
        TensorData::U64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
        TensorData::I32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
        TensorData::U32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
        TensorData::I16(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
        TensorData::U16(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_be_bytes())),
        TensorData::I8(v) => out.extend(v.iter().map(|&x| x as u8)),
        TensorData::U8(v) => out.extend_from_slice(v),
        TensorData::Bool(v) => out.extend(v.iter().map(|&x| x as u8)),
    }
}

/// Reads one array from the start of `bytes`; returns it and the number of bytes consumed.
pub fn read_array_prefix(bytes: &[u8]) -> Result<(Nd4jArray, usize)> {
    let mut r = ByteReader::new(bytes);
    let a = read_array(&mut r)?;
    Ok((a, r.pos()))
}

/// Reads a whole array stream; trailing bytes are an error.
pub fn read_array_exact(bytes: &[u8]) -> Result<Nd4jArray> {
    let (a, used) = read_array_prefix(bytes)?;
    if used != bytes.len() {
        return Err(Error::malformed(
            used as u64,
            format!("{} unexpected bytes after the array", bytes.len() - used),
        ));
    }
    Ok(a)
}

/// Reads a whole array from a stream of `len` bytes (a zip entry), decoding elements as they
/// arrive; trailing bytes are an error.
pub fn read_array_from(reader: impl std::io::Read, len: u64) -> Result<Nd4jArray> {
    let mut r = StreamInput::new(reader, len);
    let a = read_array(&mut r)?;
    if !r.at_end()? {
        return Err(r.err("unexpected bytes after the array".into()));
    }
    Ok(a)
}

/// An array's shape, type and encoding from its headers alone, with zeros for its values: for
/// reports that need no values (`inspect`), so gigabytes need not inflate. `len` is the
/// encoded array's exact size, which must match what the headers declare.
pub fn read_array_skeleton(reader: impl std::io::Read, len: u64) -> Result<Nd4jArray> {
    let mut r = StreamInput::new(reader, len);
    read_array_impl(&mut r, true)
}

/// Reads one array at the input's position.
pub fn read_array<I: ArrayInput + ?Sized>(r: &mut I) -> Result<Nd4jArray> {
    read_array_impl(r, false)
}

fn read_array_impl<I: ArrayInput + ?Sized>(r: &mut I, skeleton: bool) -> Result<Nd4jArray> {
    let sh = read_header(r, "shape buffer")?;
    let shape_type = match sh.type_name.as_str() {
        "INT" => DType::I32,
        "LONG" => DType::I64,
        other => {
            return Err(Error::malformed(
                sh.offset as u64,
                format!("shape buffer has type {other:?}, expected INT or LONG"),
            ))
        }
    };
    if sh.len < 4 || sh.len > (2 * MAX_RANK + 4) as u64 {
        return Err(Error::malformed(
            sh.offset as u64,
            format!(
                "shape buffer length {} is not 2*rank+4 for a rank <= {MAX_RANK}",
                sh.len
            ),
        ));
    }
    let info_at = r.pos();
    let info: Vec<i64> = match r.elements(shape_type, sh.len, "shape buffer")? {
        TensorData::I32(v) => v.into_iter().map(i64::from).collect(),
        TensorData::I64(v) => v,
        _ => unreachable!("shape types are INT or LONG"),
    };
    let Some((&rank, rest)) = info.split_first() else {
        return Err(Error::malformed(info_at as u64, "empty shape buffer"));
    };
    if !(0..=MAX_RANK).contains(&rank) || (2 * rank + 4) as u64 != sh.len {
        return Err(Error::malformed(
            info_at as u64,
            format!(
                "rank {rank} does not match a shape buffer of length {}",
                sh.len
            ),
        ));
    }
    let rank = rank as usize;
    // After the rank: rank dimensions, rank strides, then extras, element-wise stride, order.
    let layout = rest.split_at_checked(rank).and_then(|(dims, rest)| {
        let (strides, tail) = rest.split_at_checked(rank)?;
        Some((dims, strides, tail))
    });
    let Some((dims, strides, &[extras, _, order_flag])) = layout else {
        return Err(Error::malformed(
            info_at as u64,
            format!(
                "shape buffer holds {} values, rank {rank} needs {}",
                info.len(),
                2 * rank + 4
            ),
        ));
    };
    let mut shape = Vec::with_capacity(rank);
    for &d in dims {
        shape
            .push(usize::try_from(d).map_err(|_| {
                Error::malformed(info_at as u64, format!("negative dimension {d}"))
            })?);
    }
    let strides = strides.to_vec();
    let order = match order_flag {
        99 => Order::C,
        102 => Order::F,
        o => {
            return Err(Error::malformed(
                info_at as u64,
                format!("order flag {o} is neither 'c' (99) nor 'f' (102)"),
            ))
        }
    };
    let n = checked_product(&shape).map_err(|e| match e {
        Error::Malformed { message, .. } => Error::malformed(info_at as u64, message),
        e => e,
    })?;
    let extras_dtype = if sh.alloc == AllocMode::MixedDataTypes {
        dtype_from_extras(extras)
            .map_err(|kind| Error::Unsupported(format!("{kind} ND4J arrays (at byte {info_at})")))?
    } else {
        None
    };

    // M2.1 writes empty arrays as a shape buffer only.
    let empty = n == 0 || (sh.alloc == AllocMode::MixedDataTypes && extras & extras::EMPTY != 0);
    if empty && r.at_end()? {
        let dtype = extras_dtype.unwrap_or(DType::F32);
        return Ok(Nd4jArray {
            tensor: Tensor::new(shape, TensorData::with_capacity(dtype, 0))?,
            order,
            alloc: sh.alloc,
            shape_only: true,
        });
    }

    let dh = read_header(r, "data buffer")?;
    let dtype = match dh.type_name.as_str() {
        "COMPRESSED" => {
            return Err(Error::Unsupported(format!(
                "COMPRESSED ND4J data buffers (at byte {}); decompress the array in ND4J first",
                dh.offset
            )))
        }
        "UTF8" => {
            return Err(Error::Unsupported(format!(
                "UTF8 ND4J arrays (at byte {}) cannot be read, not even by ND4J",
                dh.offset
            )))
        }
        name => DType::from_nd4j_name(name).ok_or_else(|| {
            Error::malformed(dh.offset as u64, format!("unknown data type {name:?}"))
        })?,
    };
    let data_at = r.pos();
    if skeleton {
        let need = dh.len.checked_mul(dtype.size() as u64);
        let left = r.remaining();
        if need.is_none_or(|need| need > left) {
            return Err(Error::malformed(
                data_at as u64,
                format!(
                    "truncated: the data buffer declares {} {dtype} elements, but only {left} bytes follow",
                    dh.len
                ),
            ));
        }
        if need != Some(left) {
            return Err(Error::malformed(
                data_at as u64,
                "unexpected bytes after the array".to_string(),
            ));
        }
        if dh.len < n as u64 {
            return Err(Error::malformed(
                data_at as u64,
                format!("{} elements cannot fill shape {shape:?}", dh.len),
            ));
        }
        return Ok(Nd4jArray {
            tensor: Tensor::new(shape, TensorData::zeros(dtype, n))?,
            order,
            alloc: dh.alloc,
            shape_only: false,
        });
    }
    let data = r.elements(dtype, dh.len, "data buffer")?;
    let tensor = place_by_strides(data, shape, &strides, n)
        .map_err(|m| Error::malformed(data_at as u64, m))?;
    Ok(Nd4jArray {
        tensor,
        order,
        alloc: dh.alloc,
        shape_only: false,
    })
}

/// Builds the row-major tensor: element `idx` sits at `Σ idx[k]·stride[k]` of the buffer.
fn place_by_strides(
    data: TensorData,
    shape: Vec<usize>,
    strides: &[i64],
    n: usize,
) -> std::result::Result<Tensor, String> {
    if n == 0 {
        let empty = data.slice(0..0);
        return Tensor::new(shape, empty).map_err(|e| e.to_string());
    }
    // Strides of size-1 dimensions never matter (ND4J writes [1, 1] for vectors).
    let mut extent: u64 = 0;
    for (&d, &s) in shape.iter().zip(strides) {
        if d > 1 {
            let s = u64::try_from(s).map_err(|_| format!("negative stride {s}"))?;
            extent = (d as u64 - 1)
                .checked_mul(s)
                .and_then(|x| x.checked_add(extent))
                .ok_or("strides overflow")?;
        }
    }
    if extent >= data.len() as u64 {
        return Err(format!(
            "strides {strides:?} of shape {shape:?} reach element {extent} of a {}-element buffer",
            data.len()
        ));
    }
    // Overlapping strides (0 among them) could make a shape far larger than the bytes read;
    // DL4J writes views as copies, so a valid array never holds more elements than its buffer.
    if n > data.len() {
        return Err(format!(
            "shape {shape:?} with strides {strides:?} has {n} elements, more than the {} of its buffer",
            data.len()
        ));
    }
    // Fast path: already contiguous row-major.
    let mut contiguous = true;
    let mut expect: i64 = 1;
    for (&d, &s) in shape.iter().zip(strides).rev() {
        if d > 1 && s != expect {
            contiguous = false;
            break;
        }
        expect *= d as i64;
    }
    let data = if contiguous {
        if data.len() == n {
            data
        } else {
            data.slice(0..n)
        }
    } else {
        let mut idx = Vec::with_capacity(n);
        let rank = shape.len();
        let mut pos = vec![0usize; rank];
        for _ in 0..n {
            let off: i64 = pos.iter().zip(strides).map(|(&p, &s)| p as i64 * s).sum();
            idx.push(off as usize);
            for (p, &d) in pos.iter_mut().zip(&shape).rev() {
                *p += 1;
                if *p < d {
                    break;
                }
                *p = 0;
            }
        }
        data.gather(&idx)
    };
    Tensor::new(shape, data).map_err(|e| e.to_string())
}

/// ND4J's `calcStrides`: plain c/f strides, except `[1, 1]` for rank-2 arrays with a 1-dimension.
pub fn nd4j_strides(shape: &[usize], order: Order) -> Vec<i64> {
    if let &[a, b] = shape {
        if a == 1 || b == 1 {
            return vec![1, 1];
        }
    }
    let mut strides = vec![0i64; shape.len()];
    let mut acc = 1i64;
    let mut step = |(s, &d): (&mut i64, &usize)| {
        *s = acc;
        acc *= d.max(1) as i64;
    };
    match order {
        Order::C => strides.iter_mut().zip(shape).rev().for_each(&mut step),
        Order::F => strides.iter_mut().zip(shape).for_each(&mut step),
    }
    strides
}

/// Writes an array as `Nd4j.write` would in the array's own allocation mode.
pub fn write_array(a: &Nd4jArray, out: &mut Vec<u8>) -> Result<()> {
    write_array_to(a, a.alloc, a.shape_only, out)
}

/// Elements encoded per write when streaming an array out.
const WRITE_CHUNK: usize = 1 << 14;

/// Writes an array as `Nd4j.write` would, in allocation mode `alloc` (its encoding generation),
/// streaming the elements out in chunks.
pub fn write_array_to(
    a: &Nd4jArray,
    alloc: AllocMode,
    shape_only: bool,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let io = |e: std::io::Error| Error::Format(format!("writing an ND4J array: {e}"));
    let t = &a.tensor;
    let encoding = alloc.encoding();
    let dtype = t.dtype();
    if !encoding.supports(dtype) {
        return Err(Error::Unsupported(format!(
            "{dtype} arrays need the modern ND4J encoding; the {} encoding cannot hold them",
            encoding.name()
        )));
    }
    let mut shape = t.shape().to_vec();
    if encoding != Encoding::Modern && shape.len() < 2 {
        // Before beta4 there are no rank-0/1 arrays: vectors are rows.
        shape = vec![1, t.len()];
    }
    let rank = shape.len();
    let mut info: Vec<i64> = Vec::with_capacity(2 * rank + 4);
    info.push(rank as i64);
    info.extend(shape.iter().map(|&d| d as i64));
    info.extend(nd4j_strides(&shape, a.order));
    info.push(match encoding {
        Encoding::Modern => {
            dtype_extras(dtype)
                | if shape_only || t.is_empty() {
                    extras::EMPTY
                } else {
                    0
                }
        }
        _ => 0,
    });
    info.push(1);
    info.push(match a.order {
        Order::C => 99,
        Order::F => 102,
    });

    let mode = alloc.name();
    let mut head: Vec<u8> = Vec::new();
    head.put_utf(mode)?;
    if encoding == Encoding::Legacy {
        head.put_i32(info.len() as i32);
        head.put_utf("INT")?;
        for v in &info {
            head.put_i32(*v as i32);
        }
    } else {
        head.put_i64(info.len() as i64);
        head.put_utf("LONG")?;
        for v in &info {
            head.put_i64(*v);
        }
    }
    if shape_only {
        return out.write_all(&head).map_err(io);
    }
    head.put_utf(mode)?;
    if encoding == Encoding::Legacy {
        let n = i32::try_from(t.len()).map_err(|_| {
            Error::Unsupported(format!(
                "{} elements do not fit the legacy encoding's int32 length",
                t.len()
            ))
        })?;
        head.put_i32(n);
    } else {
        head.put_i64(t.len() as i64);
    }
    head.put_utf(dtype.nd4j_name())?;
    out.write_all(&head).map_err(io)?;
    let mut buf = Vec::with_capacity(WRITE_CHUNK * dtype.size());
    match a.order {
        Order::C => {
            for start in (0..t.len()).step_by(WRITE_CHUNK) {
                buf.clear();
                encode_be(
                    &t.data().slice(start..(start + WRITE_CHUNK).min(t.len())),
                    &mut buf,
                );
                out.write_all(&buf).map_err(io)?;
            }
        }
        Order::F => {
            // Buffer holds column-major data; gather it from our row-major copy.
            let idx = f_order_gather(&shape);
            for chunk in idx.chunks(WRITE_CHUNK) {
                buf.clear();
                encode_be(&t.data().gather(chunk), &mut buf);
                out.write_all(&buf).map_err(io)?;
            }
        }
    }
    Ok(())
}

/// Row-major indices listed in column-major order.
fn f_order_gather(shape: &[usize]) -> Vec<usize> {
    let n: usize = shape.iter().product();
    let rank = shape.len();
    let mut c_strides = vec![1usize; rank];
    let mut acc = 1usize;
    for (s, &d) in c_strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc *= d;
    }
    let mut pos = vec![0usize; rank];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(pos.iter().zip(&c_strides).map(|(p, s)| p * s).sum());
        for (p, &d) in pos.iter_mut().zip(shape) {
            *p += 1;
            if *p < d {
                break;
            }
            *p = 0;
        }
    }
    out
}

/// Encodes an array into a new buffer.
pub fn array_to_bytes(a: &Nd4jArray) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_array(a, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_worked_examples_encode_exactly() {
        let t = Tensor::new(vec![1, 3], TensorData::F32(vec![1.0, 2.0, 3.0])).unwrap();
        let modern = array_to_bytes(&Nd4jArray::new(t.clone(), Encoding::Modern)).unwrap();
        assert_eq!(modern.len(), 141);
        let legacy = array_to_bytes(&Nd4jArray::new(t.clone(), Encoding::Legacy)).unwrap();
        assert_eq!(legacy.len(), 82);
        let expect_legacy_head: &[u8] = b"\x00\x07JAVACPP\x00\x00\x00\x08\x00\x03INT";
        assert_eq!(&legacy[..expect_legacy_head.len()], expect_legacy_head);
        for bytes in [modern, legacy] {
            let back = read_array_exact(&bytes).unwrap();
            assert!(back.tensor.bit_eq(&t));
        }
    }

    #[test]
    fn permuted_strides_are_honoured() {
        // [2,3] stored column-major but flagged 'c' with strides [1,2].
        let mut b = Vec::new();
        b.put_utf("MIXED_DATA_TYPES").unwrap();
        b.put_i64(8);
        b.put_utf("LONG").unwrap();
        for v in [2i64, 2, 3, 1, 2, 8192, 1, 99] {
            b.put_i64(v);
        }
        b.put_utf("MIXED_DATA_TYPES").unwrap();
        b.put_i64(6);
        b.put_utf("FLOAT").unwrap();
        for v in [0f32, 3., 1., 4., 2., 5.] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let a = read_array_exact(&b).unwrap();
        assert_eq!(
            a.tensor.as_slice::<f32>().unwrap(),
            &[0., 1., 2., 3., 4., 5.]
        );
    }

    #[test]
    fn f_order_write_round_trips() {
        let t = Tensor::new(vec![2, 3], TensorData::F64((0..6).map(f64::from).collect())).unwrap();
        let mut a = Nd4jArray::new(t.clone(), Encoding::Modern);
        a.order = Order::F;
        let back = read_array_exact(&array_to_bytes(&a).unwrap()).unwrap();
        assert!(back.tensor.bit_eq(&t));
        assert_eq!(back.order, Order::F);
    }

    #[test]
    fn huge_length_is_rejected_before_allocating() {
        let mut b = Vec::new();
        b.put_utf("MIXED_DATA_TYPES").unwrap();
        b.put_i64(8);
        b.put_utf("LONG").unwrap();
        for v in [2i64, 1, 1 << 40, 1, 1, 8192, 1, 99] {
            b.put_i64(v);
        }
        b.put_utf("MIXED_DATA_TYPES").unwrap();
        b.put_i64(1 << 40);
        b.put_utf("FLOAT").unwrap();
        let e = read_array_exact(&b).unwrap_err().to_string();
        assert!(e.contains("1099511627776 elements"), "{e}");
    }

    fn header(b: &mut Vec<u8>, mode: &str, len: i64, ty: &str) {
        b.put_utf(mode).unwrap();
        b.put_i64(len);
        b.put_utf(ty).unwrap();
    }

    #[test]
    fn compressed_and_utf8_buffers_are_refused_clearly() {
        for (ty, word) in [("COMPRESSED", "COMPRESSED"), ("UTF8", "UTF8")] {
            let mut b = Vec::new();
            header(&mut b, "MIXED_DATA_TYPES", 6, "LONG");
            for v in [1i64, 3, 1, 8192, 1, 99] {
                b.put_i64(v);
            }
            header(&mut b, "MIXED_DATA_TYPES", 3, ty);
            b.extend([0u8; 64]);
            let e = read_array_exact(&b).unwrap_err();
            assert!(matches!(e, Error::Unsupported(_)), "{e}");
            assert!(e.to_string().contains(word), "{e}");
        }
    }

    #[test]
    fn nans_are_written_canonically_as_java_does() {
        let odd32 = f32::from_bits(0x7fc0_1234);
        let odd64 = f64::from_bits(0x7ff0_0000_0000_0001);
        let mut out = Vec::new();
        encode_be(&TensorData::F32(vec![odd32, -0.0]), &mut out);
        encode_be(&TensorData::F64(vec![odd64]), &mut out);
        assert_eq!(&out[..4], &[0x7f, 0xc0, 0, 0]);
        assert_eq!(&out[4..8], &[0x80, 0, 0, 0], "negative zero kept");
        assert_eq!(&out[8..], &0x7ff8_0000_0000_0000u64.to_be_bytes());
    }

    #[test]
    fn every_dtype_round_trips_in_the_modern_encoding() {
        for dtype in DType::ALL {
            let bytes: Vec<u8> = (0..6 * dtype.size()).map(|i| (i * 7 + 1) as u8).collect();
            let data = decode_be(dtype, &bytes);
            let t = Tensor::new(vec![2, 3], data).unwrap();
            let back = read_array_exact(
                &array_to_bytes(&Nd4jArray::new(t.clone(), Encoding::Modern)).unwrap(),
            )
            .unwrap();
            assert!(back.tensor.bit_eq(&t), "{dtype}");
            assert_eq!(back.tensor.dtype(), dtype);
        }
    }

    #[test]
    fn legacy_int32_length_and_rank_checks() {
        let mut b = Vec::new();
        b.put_utf("JAVACPP").unwrap();
        b.put_i32(8);
        b.put_utf("INT").unwrap();
        for v in [3i32, 1, 1, 1, 1] {
            b.put_i32(v);
        }
        let e = read_array_exact(&b).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let mut b = Vec::new();
        b.put_utf("NOT_A_MODE").unwrap();
        let e = read_array_exact(&b).unwrap_err().to_string();
        assert!(e.contains("unknown allocation mode"), "{e}");
    }

    #[test]
    fn beta2_legacy_mode_with_long_length_is_read() {
        let mut b = Vec::new();
        b.put_utf("JAVACPP").unwrap();
        b.put_i64(8);
        b.put_utf("INT").unwrap();
        for v in [2i32, 1, 2, 1, 1, 0, 1, 99] {
            b.put_i32(v);
        }
        b.put_utf("JAVACPP").unwrap();
        b.put_i64(2);
        b.put_utf("FLOAT").unwrap();
        b.extend(1.5f32.to_be_bytes());
        b.extend((-2f32).to_be_bytes());
        let a = read_array_exact(&b).unwrap();
        assert_eq!(a.tensor.as_slice::<f32>().unwrap(), &[1.5, -2.0]);
    }
}
