//! Inputs the fuzz targets in `fuzz/` found, rebuilt by hand so that each stays fixed.

use dl4j::bytes::ByteReader;
use dl4j::nd4j::{read_array, read_array_from};

fn utf(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

/// A modern-encoding array: LONG shape info, then `values` f32s.
fn array(info: &[i64], values: usize) -> Vec<u8> {
    let mut b = utf("LONG_SHAPE");
    b.extend((info.len() as i64).to_be_bytes());
    b.extend(utf("LONG"));
    info.iter().for_each(|x| b.extend(x.to_be_bytes()));
    b.extend(utf("LONG_SHAPE"));
    b.extend((values as i64).to_be_bytes());
    b.extend(utf("FLOAT"));
    (0..values).for_each(|i| b.extend((i as f32).to_be_bytes()));
    b
}

/// Zero strides made a [2^20, 2^20] shape out of a 24-element buffer and the reader built an
/// index of 2^40 entries (targets nd4j_array and normalizer, whose arrays take the same path).
#[test]
fn zero_strides_cannot_inflate_a_small_buffer() {
    let b = array(&[2, 1 << 20, 1 << 20, 0, 0, 0, 1, 99], 24);
    let streamed = read_array_from(&b[..], b.len() as u64).unwrap_err();
    let in_memory = read_array(&mut ByteReader::new(&b)).unwrap_err();
    for e in [streamed.to_string(), in_memory.to_string()] {
        assert!(e.contains("more than the 24 of its buffer"), "{e}");
    }
    // The same buffer with honest strides reads, in row-major order.
    let b = array(&[2, 4, 6, 6, 1, 0, 1, 99], 24);
    let a = read_array_from(&b[..], b.len() as u64).unwrap();
    assert_eq!(a.tensor.shape(), &[4, 6]);
    let want: Vec<f32> = (0..24).map(|i| i as f32).collect();
    assert_eq!(a.tensor.as_slice::<f32>().unwrap(), want.as_slice());
}
