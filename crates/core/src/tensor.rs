//! Typed n-dimensional arrays that keep the dtype they were stored with.
//!
//! Data is always held row-major ("c" order) in the logical shape; whatever strides or order flag
//! a file used are resolved by the decoder. Nothing is widened unless a caller asks for it
//! (`to_f64_vec`).

use half::{bf16, f16};
use ndarray::{ArrayViewD, IxDyn, ShapeBuilder};

use crate::error::{Error, Result};

/// Element types a DL4J array can hold (ND4J `DataType`, minus UTF8/COMPRESSED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl DType {
    pub const ALL: [DType; 13] = [
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::I16,
        DType::I8,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
    ];

    /// The ND4J type name written in array headers (`writeUTF`).
    pub fn nd4j_name(self) -> &'static str {
        match self {
            DType::F64 => "DOUBLE",
            DType::F32 => "FLOAT",
            DType::F16 => "HALF",
            DType::BF16 => "BFLOAT16",
            DType::I64 => "LONG",
            DType::I32 => "INT",
            DType::I16 => "SHORT",
            DType::I8 => "BYTE",
            DType::U8 => "UBYTE",
            DType::U16 => "UINT16",
            DType::U32 => "UINT32",
            DType::U64 => "UINT64",
            DType::Bool => "BOOL",
        }
    }

    pub fn from_nd4j_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.nd4j_name() == name)
    }

    /// Bytes per element in the ND4J stream (and in memory).
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 8,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// Short lower-case name for tables and JSON (`f32`, `bf16`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::I16 => "i16",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F64 | DType::F32 | DType::F16 | DType::BF16)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.short_name())
    }
}

/// The elements of a tensor, row-major, in their stored type.
#[derive(Debug, Clone)]
pub enum TensorData {
    F64(Vec<f64>),
    F32(Vec<f32>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    I16(Vec<i16>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
}

/// Runs `$body` with `$v` bound to the inner vector of any variant.
macro_rules! with_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::F64($v) => $body,
            TensorData::F32($v) => $body,
            TensorData::F16($v) => $body,
            TensorData::BF16($v) => $body,
            TensorData::I64($v) => $body,
            TensorData::I32($v) => $body,
            TensorData::I16($v) => $body,
            TensorData::I8($v) => $body,
            TensorData::U8($v) => $body,
            TensorData::U16($v) => $body,
            TensorData::U32($v) => $body,
            TensorData::U64($v) => $body,
            TensorData::Bool($v) => $body,
        }
    };
}
/// Like `with_data!` but rebuilds the same variant from the expression's result.
macro_rules! map_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::F64($v) => TensorData::F64($body),
            TensorData::F32($v) => TensorData::F32($body),
            TensorData::F16($v) => TensorData::F16($body),
            TensorData::BF16($v) => TensorData::BF16($body),
            TensorData::I64($v) => TensorData::I64($body),
            TensorData::I32($v) => TensorData::I32($body),
            TensorData::I16($v) => TensorData::I16($body),
            TensorData::I8($v) => TensorData::I8($body),
            TensorData::U8($v) => TensorData::U8($body),
            TensorData::U16($v) => TensorData::U16($body),
            TensorData::U32($v) => TensorData::U32($body),
            TensorData::U64($v) => TensorData::U64($body),
            TensorData::Bool($v) => TensorData::Bool($body),
        }
    };
}

impl TensorData {
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F64(_) => DType::F64,
            TensorData::F32(_) => DType::F32,
            TensorData::F16(_) => DType::F16,
            TensorData::BF16(_) => DType::BF16,
            TensorData::I64(_) => DType::I64,
            TensorData::I32(_) => DType::I32,
            TensorData::I16(_) => DType::I16,
            TensorData::I8(_) => DType::I8,
            TensorData::U8(_) => DType::U8,
            TensorData::U16(_) => DType::U16,
            TensorData::U32(_) => DType::U32,
            TensorData::U64(_) => DType::U64,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        with_data!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An empty vector of the given type with room for `n` elements.
    pub fn with_capacity(dtype: DType, n: usize) -> TensorData {
        match dtype {
            DType::F64 => TensorData::F64(Vec::with_capacity(n)),
            DType::F32 => TensorData::F32(Vec::with_capacity(n)),
            DType::F16 => TensorData::F16(Vec::with_capacity(n)),
            DType::BF16 => TensorData::BF16(Vec::with_capacity(n)),
            DType::I64 => TensorData::I64(Vec::with_capacity(n)),
            DType::I32 => TensorData::I32(Vec::with_capacity(n)),
            DType::I16 => TensorData::I16(Vec::with_capacity(n)),
            DType::I8 => TensorData::I8(Vec::with_capacity(n)),
            DType::U8 => TensorData::U8(Vec::with_capacity(n)),
            DType::U16 => TensorData::U16(Vec::with_capacity(n)),
            DType::U32 => TensorData::U32(Vec::with_capacity(n)),
            DType::U64 => TensorData::U64(Vec::with_capacity(n)),
            DType::Bool => TensorData::Bool(Vec::with_capacity(n)),
        }
    }

    /// [`with_capacity`](Self::with_capacity) that reports a failed allocation instead of
    /// aborting: the size of a large array comes from a file and may not fit in memory.
    pub fn try_with_capacity(dtype: DType, n: usize) -> Result<TensorData, String> {
        let mut data = TensorData::with_capacity(dtype, 0);
        let result = match &mut data {
            TensorData::F64(v) => v.try_reserve_exact(n),
            TensorData::F32(v) => v.try_reserve_exact(n),
            TensorData::F16(v) => v.try_reserve_exact(n),
            TensorData::BF16(v) => v.try_reserve_exact(n),
            TensorData::I64(v) => v.try_reserve_exact(n),
            TensorData::I32(v) => v.try_reserve_exact(n),
            TensorData::I16(v) => v.try_reserve_exact(n),
            TensorData::I8(v) => v.try_reserve_exact(n),
            TensorData::U8(v) => v.try_reserve_exact(n),
            TensorData::U16(v) => v.try_reserve_exact(n),
            TensorData::U32(v) => v.try_reserve_exact(n),
            TensorData::U64(v) => v.try_reserve_exact(n),
            TensorData::Bool(v) => v.try_reserve_exact(n),
        };
        result.map_err(|_| {
            format!(
                "cannot allocate {n} elements of {dtype} ({} bytes) for this array",
                n.saturating_mul(dtype.size())
            )
        })?;
        Ok(data)
    }

    /// `n` zeros (false) of the given type.
    pub fn zeros(dtype: DType, n: usize) -> TensorData {
        match dtype {
            DType::F64 => TensorData::F64(vec![0.0; n]),
            DType::F32 => TensorData::F32(vec![0.0; n]),
            DType::F16 => TensorData::F16(vec![f16::ZERO; n]),
            DType::BF16 => TensorData::BF16(vec![bf16::ZERO; n]),
            DType::I64 => TensorData::I64(vec![0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::I16 => TensorData::I16(vec![0; n]),
            DType::I8 => TensorData::I8(vec![0; n]),
            DType::U8 => TensorData::U8(vec![0; n]),
            DType::U16 => TensorData::U16(vec![0; n]),
            DType::U32 => TensorData::U32(vec![0; n]),
            DType::U64 => TensorData::U64(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
        }
    }

    /// Elements `range` as a new vector of the same type.
    ///
    /// # Panics
    ///
    /// If `range` is not within the data, as slice indexing does.
    // A bounds contract like `[T]`'s own: callers pass ranges they checked against `len()`.
    #[allow(clippy::indexing_slicing)]
    pub fn slice(&self, range: std::ops::Range<usize>) -> TensorData {
        map_data!(self, v => v[range].to_vec())
    }

    /// Appends `other`'s elements; both must hold the same type.
    pub fn append(&mut self, other: TensorData) {
        match (self, other) {
            (TensorData::F64(a), TensorData::F64(b)) => a.extend(b),
            (TensorData::F32(a), TensorData::F32(b)) => a.extend(b),
            (TensorData::F16(a), TensorData::F16(b)) => a.extend(b),
            (TensorData::BF16(a), TensorData::BF16(b)) => a.extend(b),
            (TensorData::I64(a), TensorData::I64(b)) => a.extend(b),
            (TensorData::I32(a), TensorData::I32(b)) => a.extend(b),
            (TensorData::I16(a), TensorData::I16(b)) => a.extend(b),
            (TensorData::I8(a), TensorData::I8(b)) => a.extend(b),
            (TensorData::U8(a), TensorData::U8(b)) => a.extend(b),
            (TensorData::U16(a), TensorData::U16(b)) => a.extend(b),
            (TensorData::U32(a), TensorData::U32(b)) => a.extend(b),
            (TensorData::U64(a), TensorData::U64(b)) => a.extend(b),
            (TensorData::Bool(a), TensorData::Bool(b)) => a.extend(b),
            (a, b) => panic!("appending {} data to {} data", b.dtype(), a.dtype()),
        }
    }

    /// The given ranges of elements, concatenated.
    ///
    /// # Panics
    ///
    /// If a range is not within the data, as slice indexing does.
    // A bounds contract like `[T]`'s own: callers pass ranges they checked against `len()`.
    #[allow(clippy::indexing_slicing)]
    pub fn concat_ranges(&self, ranges: &[std::ops::Range<usize>]) -> TensorData {
        map_data!(self, v => {
            let mut out = Vec::with_capacity(ranges.iter().map(|r| r.len()).sum());
            for r in ranges {
                out.extend_from_slice(&v[r.clone()]);
            }
            out
        })
    }

    /// Elements picked by index, in the order given.
    ///
    /// # Panics
    ///
    /// If an index is not below `len()`, as slice indexing does.
    // A bounds contract like `[T]`'s own: callers pass indices they checked against `len()`.
    #[allow(clippy::indexing_slicing)]
    pub fn gather(&self, idx: &[usize]) -> TensorData {
        map_data!(self, v => idx.iter().map(|&i| v[i]).collect())
    }

    /// Value `i` widened to f64 (integers exactly up to 2^53, booleans as 0/1).
    ///
    /// # Panics
    ///
    /// If `i` is not below `len()`, as slice indexing does.
    // A bounds contract like `[T]`'s own: callers iterate `0..len()`.
    #[allow(clippy::indexing_slicing)]
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            TensorData::F64(v) => v[i],
            TensorData::F32(v) => v[i] as f64,
            TensorData::F16(v) => v[i].to_f64(),
            TensorData::BF16(v) => v[i].to_f64(),
            TensorData::I64(v) => v[i] as f64,
            TensorData::I32(v) => v[i] as f64,
            TensorData::I16(v) => v[i] as f64,
            TensorData::I8(v) => v[i] as f64,
            TensorData::U8(v) => v[i] as f64,
            TensorData::U16(v) => v[i] as f64,
            TensorData::U32(v) => v[i] as f64,
            TensorData::U64(v) => v[i] as f64,
            TensorData::Bool(v) => v[i] as u8 as f64,
        }
    }

    /// Bit-level equality: NaN payloads and signed zeros must match too.
    pub fn bit_eq(&self, other: &TensorData) -> bool {
        match (self, other) {
            (TensorData::F64(a), TensorData::F64(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (TensorData::F32(a), TensorData::F32(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (TensorData::F16(a), TensorData::F16(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (TensorData::BF16(a), TensorData::BF16(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (TensorData::I64(a), TensorData::I64(b)) => a == b,
            (TensorData::I32(a), TensorData::I32(b)) => a == b,
            (TensorData::I16(a), TensorData::I16(b)) => a == b,
            (TensorData::I8(a), TensorData::I8(b)) => a == b,
            (TensorData::U8(a), TensorData::U8(b)) => a == b,
            (TensorData::U16(a), TensorData::U16(b)) => a == b,
            (TensorData::U32(a), TensorData::U32(b)) => a == b,
            (TensorData::U64(a), TensorData::U64(b)) => a == b,
            (TensorData::Bool(a), TensorData::Bool(b)) => a == b,
            _ => false,
        }
    }
}

/// Element types that can be viewed directly from a [`Tensor`].
pub trait Element: Copy + 'static {
    const DTYPE: DType;
    fn slice(data: &TensorData) -> Option<&[Self]>;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn slice(data: &TensorData) -> Option<&[Self]> {
                match data {
                    TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
element!(f64, F64);
element!(f32, F32);
element!(f16, F16);
element!(bf16, BF16);
element!(i64, I64);
element!(i32, I32);
element!(i16, I16);
element!(i8, I8);
element!(u8, U8);
element!(u16, U16);
element!(u32, U32);
element!(u64, U64);
element!(bool, Bool);

/// A row-major array with a shape and a dtype.
#[derive(Debug, Clone)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

impl Tensor {
    /// Builds a tensor; fails if the shape does not hold exactly `data.len()` elements.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Tensor> {
        let n = checked_product(&shape)?;
        if n != data.len() {
            return Err(Error::Inconsistent(format!(
                "shape {shape:?} holds {n} elements but {} were given",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    /// A rank-1 tensor over `data`.
    pub fn vector(data: TensorData) -> Tensor {
        Tensor {
            shape: vec![data.len()],
            data,
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn data(&self) -> &TensorData {
        &self.data
    }
    pub fn into_data(self) -> TensorData {
        self.data
    }
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Same data, new shape of the same size.
    pub fn reshaped(self, shape: Vec<usize>) -> Result<Tensor> {
        Tensor::new(shape, self.data)
    }

    /// The raw elements, if the tensor holds type `T`.
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        T::slice(&self.data)
    }

    /// A zero-copy `ndarray` view, if the tensor holds type `T`.
    pub fn view<T: Element>(&self) -> Option<ArrayViewD<'_, T>> {
        let s = T::slice(&self.data)?;
        ArrayViewD::from_shape(IxDyn(&self.shape), s).ok()
    }

    /// All values widened to f64 (an explicit, lossy-for-u64/i64 conversion).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        (0..self.len()).map(|i| self.data.get_f64(i)).collect()
    }

    /// Same shape and bit-identical elements of the same dtype.
    pub fn bit_eq(&self, other: &Tensor) -> bool {
        self.shape == other.shape && self.data.bit_eq(&other.data)
    }
}

/// Memory order a flat segment is reshaped with (DL4J's `'c'` / `'f'`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    C,
    F,
}

impl Order {
    pub fn as_char(self) -> char {
        match self {
            Order::C => 'c',
            Order::F => 'f',
        }
    }
}

/// Views a flat segment of `T` as an array of `shape` laid out in `order`.
pub fn view_segment<'a, T>(
    flat: &'a [T],
    shape: &[usize],
    order: Order,
) -> Result<ArrayViewD<'a, T>> {
    let dims = IxDyn(shape);
    let view = match order {
        Order::C => ArrayViewD::from_shape(dims, flat),
        Order::F => ArrayViewD::from_shape(dims.f(), flat),
    };
    view.map_err(|e| {
        Error::Inconsistent(format!(
            "cannot view {} elements as {shape:?}: {e}",
            flat.len()
        ))
    })
}

/// Product of dimensions with overflow checking (hostile shapes must not wrap).
pub fn checked_product(shape: &[usize]) -> Result<usize> {
    shape.iter().try_fold(1usize, |acc, &d| {
        acc.checked_mul(d)
            .ok_or_else(|| Error::malformed_here(format!("shape {shape:?} overflows")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_that_cannot_be_made_is_an_error() {
        let e = TensorData::try_with_capacity(DType::F32, usize::MAX / 2).unwrap_err();
        assert!(e.contains("cannot allocate"), "{e}");
        let ok = TensorData::try_with_capacity(DType::F64, 1000).unwrap();
        assert_eq!((ok.len(), ok.dtype()), (0, DType::F64));
    }
}
