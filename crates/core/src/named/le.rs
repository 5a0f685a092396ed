//! Little-endian element codecs for named tensors (safetensors and ONNX `raw_data` alike).

use std::ops::Range;

use crate::error::{Error, Result};
use crate::layout::segment_positions;
use crate::tensor::{checked_product, DType, Order, TensorData};

/// Little-endian element decoding (the bytes' length is already checked by the parser).
pub fn decode_le(dtype: DType, b: &[u8]) -> TensorData {
    use half::{bf16, f16};
    macro_rules! le {
        ($n:literal, $f:expr) => {
            b.as_chunks::<$n>().0.iter().map(|&c| $f(c)).collect()
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
    /// Writes the element into `dst`, exactly `size_of::<Self>()` bytes.
    fn put_at(self, dst: &mut [u8]);
}

macro_rules! le_via {
    ($($t:ty => |$x:ident| $e:expr),* $(,)?) => {
        $(impl Le for $t {
            fn put(self, out: &mut Vec<u8>) {
                let $x = self;
                out.extend_from_slice(&$e);
            }
            fn put_at(self, dst: &mut [u8]) {
                let $x = self;
                dst.copy_from_slice(&$e);
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

/// Bytes handed to a sink at a time when a tensor's bytes are made (not borrowed): large enough
/// for few calls, small enough to stay in cache between making and writing.
const CHUNK: usize = 1 << 20;

/// Where a tensor's little-endian bytes go, in order, piece by piece.
pub type Sink<'s> = dyn FnMut(&[u8]) -> Result<()> + 's;

fn segment_typed<T: Le>(
    v: &[T],
    runs: &[Range<usize>],
    shape: &[usize],
    order: Order,
    sink: &mut Sink,
) -> Result<()> {
    let n = checked_product(shape)?;
    // Fast paths for the usual case, one contiguous run: the elements' own memory, or a
    // blocked transpose for f-ordered matrices (DL4J's dense and recurrent weights).
    if let [run] = runs {
        if let Some(seg) = v.get(run.clone()).filter(|s| s.len() == n) {
            match (order, shape) {
                (Order::C, _) | (Order::F, [] | [_]) => return bulk_le(seg, sink),
                (Order::F, [rows, cols]) => return transpose_f_le(seg, *rows, *cols, sink),
                _ => {}
            }
        }
    }
    let element = |i: Option<usize>| {
        i.and_then(|i| v.get(i)).copied().ok_or_else(|| {
            Error::Inconsistent(format!(
                "segment {runs:?} of shape {shape:?} does not fit in {} elements",
                v.len()
            ))
        })
    };
    put_chunked(segment_positions(runs, shape, order).map(element), n, sink)
}

/// Encodes `n` elements into a reused chunk-sized buffer, handing each full chunk to `sink`.
fn put_chunked<T: Le>(
    items: impl Iterator<Item = Result<T>>,
    n: usize,
    sink: &mut Sink,
) -> Result<()> {
    let mut out = Vec::with_capacity(CHUNK.min(n.saturating_mul(std::mem::size_of::<T>().max(1))));
    for x in items {
        x?.put(&mut out);
        if out.len() >= CHUNK {
            sink(&out)?;
            out.clear();
        }
    }
    if !out.is_empty() {
        sink(&out)?;
    }
    Ok(())
}

/// Little-endian bytes of the column-major `rows` x `cols` matrix `seg` in row-major order:
/// blocks of whole output rows, each transposed in cache-sized tiles into one reused buffer.
fn transpose_f_le<T: Le>(seg: &[T], rows: usize, cols: usize, sink: &mut Sink) -> Result<()> {
    const TILE: usize = 32;
    if rows.checked_mul(cols) != Some(seg.len()) {
        return Err(Error::Inconsistent(format!(
            "{} elements do not make a {rows} x {cols} matrix",
            seg.len()
        )));
    }
    let size = std::mem::size_of::<T>();
    if rows == 0 || cols == 0 || size == 0 {
        return Ok(());
    }
    // At most the byte size of `seg`, which is in memory.
    let row_bytes = cols * size;
    // A multiple of TILE rows when rows are short; a single row when one row is already large.
    let block = match CHUNK / row_bytes {
        0 => 1,
        r if r < TILE => r,
        r => r - r % TILE,
    };
    let mut out = vec![0u8; block.min(rows) * row_bytes];
    // In bounds: `seg` holds rows * cols elements (checked above) and i < rows, j < cols; `buf`
    // is (r1 - r0) <= block.min(rows) rows of `out`, and `at + size` <= (r1 - r0) * row_bytes.
    #[allow(clippy::indexing_slicing)]
    for r0 in (0..rows).step_by(block) {
        let r1 = (r0 + block).min(rows);
        let buf = &mut out[..(r1 - r0) * row_bytes];
        for i0 in (r0..r1).step_by(TILE) {
            for j0 in (0..cols).step_by(TILE) {
                for i in i0..(i0 + TILE).min(r1) {
                    for j in j0..(j0 + TILE).min(cols) {
                        let at = ((i - r0) * cols + j) * size;
                        seg[i + j * rows].put_at(&mut buf[at..at + size]);
                    }
                }
            }
        }
        sink(buf)?;
    }
    Ok(())
}

/// Little-endian bytes of a slice of elements: on little-endian machines their own memory.
fn bulk_le<T: Le>(v: &[T], sink: &mut Sink) -> Result<()> {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: every `Le` type is a plain number (or bool, one byte of 0/1) without padding
        // or invalid byte patterns, so its memory is exactly its little-endian encoding here.
        let bytes = unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), size_of_val(v)) };
        // In pieces, so a progress bar moves while a large tensor is written.
        for piece in bytes.chunks(16 * CHUNK) {
            sink(piece)?;
        }
        Ok(())
    }
    #[cfg(not(target_endian = "little"))]
    {
        put_chunked(v.iter().copied().map(Ok), v.len(), sink)
    }
}

/// Streams the little-endian bytes, in row-major order of `shape`, of the segment made of
/// `runs` of `data` and laid out in `order` to `sink`: one pass, no copy of the whole segment.
pub fn segment_le_to(
    data: &TensorData,
    runs: &[Range<usize>],
    shape: &[usize],
    order: Order,
    sink: &mut Sink,
) -> Result<()> {
    match data {
        TensorData::F64(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::F32(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::F16(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::BF16(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::I64(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::U64(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::I32(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::U32(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::I16(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::U16(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::I8(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::U8(v) => segment_typed(v, runs, shape, order, sink),
        TensorData::Bool(v) => segment_typed(v, runs, shape, order, sink),
    }
}

/// Streams all of `data` as little-endian bytes in its own element order.
pub fn data_le_to(data: &TensorData, sink: &mut Sink) -> Result<()> {
    let n = data.len();
    segment_le_to(data, std::slice::from_ref(&(0..n)), &[n], Order::C, sink)
}

/// [`segment_le_to`] collected into one buffer.
///
/// # Panics
///
/// If `runs` do not hold `shape`'s elements within `data` (as slicing out of range would); for
/// runs or shapes derived from input, use [`segment_le_to`], which returns an error instead.
// The sink cannot fail, so only arguments that do not fit `data` can; that is this convenience
// function's documented contract, and the library itself streams through `segment_le_to`.
#[allow(clippy::expect_used)]
pub fn segment_le(
    data: &TensorData,
    runs: &[Range<usize>],
    shape: &[usize],
    order: Order,
) -> Vec<u8> {
    // No more than `data` holds, whatever `shape` claims.
    let n = checked_product(shape).unwrap_or(0).min(data.len());
    let mut out = Vec::with_capacity(n * data.dtype().size());
    segment_le_to(data, runs, shape, order, &mut |b| {
        out.extend_from_slice(b);
        Ok(())
    })
    .expect("segment runs and shape must fit the data");
    out
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// The element-by-element definition the fast paths must match.
    fn reference(v: &[f32], runs: &[Range<usize>], shape: &[usize], order: Order) -> Vec<u8> {
        segment_positions(runs, shape, order)
            .flat_map(|i| v[i.unwrap()].to_le_bytes())
            .collect()
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one run is the case under test
    fn fast_paths_match_the_definition() {
        let v: Vec<f32> = (0..5000).map(|i| i as f32 * 0.5 - 7.0).collect();
        let data = TensorData::F32(v.clone());
        for (runs, shape, order) in [
            (vec![3..3 + 37 * 41], vec![37, 41], Order::F),
            (vec![0..64 * 64], vec![64, 64], Order::F),
            (vec![10..43], vec![1, 33], Order::F),
            (vec![10..10 + 33], vec![33, 1], Order::F),
            (vec![5..5 + 120], vec![120], Order::F),
            (vec![0..0], vec![0, 7], Order::F),
            (vec![7..7 + 37 * 41], vec![37, 41], Order::C),
            (vec![1..1 + 2 * 3 * 4 * 5], vec![2, 3, 4, 5], Order::F),
            (vec![0..6, 100..106], vec![3, 4], Order::F),
        ] {
            assert_eq!(
                segment_le(&data, &runs, &shape, order),
                reference(&v, &runs, &shape, order),
                "{runs:?} {shape:?} {order:?}"
            );
        }
    }

    /// Matrices whose rows make one, a few or many blocks of the streamed transpose, and a
    /// generic (multi-run) segment over several chunks: the pieces join to the definition and
    /// none exceeds a chunk unless one output row does.
    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one run is the case under test
    fn streamed_pieces_join_to_the_definition() {
        let v: Vec<f32> = (0..1_300_000).map(|i| (i % 9973) as f32 - 0.25).collect();
        let data = TensorData::F32(v.clone());
        for (runs, shape, max_piece) in [
            (vec![1..1 + 300 * 4000], vec![300, 4000], CHUNK),
            (vec![0..2000 * 300], vec![2000, 300], CHUNK),
            (vec![5..5 + 3 * 400_000], vec![3, 400_000], 1_600_000),
            (
                vec![0..500_000, 600_000..1_100_000],
                vec![1000, 1000],
                CHUNK + 4,
            ),
        ] {
            let mut joined = Vec::new();
            let mut largest = 0;
            segment_le_to(&data, &runs, &shape, Order::F, &mut |b| {
                largest = largest.max(b.len());
                joined.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
            assert!(
                largest <= max_piece,
                "{shape:?}: a piece of {largest} bytes"
            );
            assert!(
                joined == reference(&v, &runs, &shape, Order::F),
                "{runs:?} {shape:?}"
            );
        }
    }

    #[test]
    fn a_sink_error_stops_the_stream() {
        let data = TensorData::F32(vec![1.0; 600_000]);
        let mut calls = 0;
        let run = 0..600_000;
        let runs = std::slice::from_ref(&run);
        let err = segment_le_to(&data, runs, &[600, 1000], Order::F, &mut |_| {
            calls += 1;
            Err(crate::Error::Format("disk full".into()))
        })
        .unwrap_err();
        assert_eq!(calls, 1);
        assert!(err.to_string().contains("disk full"));
    }
}
