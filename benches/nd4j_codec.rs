//! Hot kernels: ND4J array decode/encode (big-endian byte swaps) and the f-order -> row-major
//! parameter extraction and export.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dl4j::layout::extract_segment;
use dl4j::named::le::segment_le;
use dl4j::nd4j::{array_to_bytes, read_array_exact, Encoding, Nd4jArray};
use dl4j::{Order, Tensor, TensorData};

const N: usize = 1 << 20;

fn flat() -> Tensor {
    let v: Vec<f32> = (0..N).map(|i| (i % 1000) as f32 * 0.001).collect();
    Tensor::new(vec![1, N], TensorData::F32(v)).unwrap()
}

fn codec(c: &mut Criterion) {
    let array = Nd4jArray::new(flat(), Encoding::Modern);
    let bytes = array_to_bytes(&array).unwrap();
    let mut g = c.benchmark_group("nd4j");
    g.throughput(Throughput::Bytes((N * 4) as u64));
    g.bench_function("decode_f32_1M", |b| {
        b.iter(|| read_array_exact(&bytes).unwrap())
    });
    g.bench_function("encode_f32_1M", |b| {
        b.iter(|| array_to_bytes(&array).unwrap())
    });
    g.bench_function("extract_f_order_1024x1024", |b| {
        b.iter(|| extract_segment(array.tensor.data(), 0, &[1024, 1024], Order::F).unwrap())
    });
    // What safetensors and ONNX export run per weight matrix: f order to row-major LE bytes.
    g.bench_function("segment_le_f_order_1024x1024", |b| {
        let run = std::slice::from_ref(&(0..N));
        b.iter(|| segment_le(array.tensor.data(), run, &[1024, 1024], Order::F))
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
