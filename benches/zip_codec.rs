//! Hot kernels of the zip container: parallel DEFLATE at the levels `--compression` uses against
//! one serial stream, and inflating an entry, on parameter-like float data.

use std::io::{Read, Write};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dl4j::serializer::deflate::ParallelDeflate;

const N: usize = 8 << 20;

/// Big-endian floats of a normal-ish distribution, as DL4J's coefficients.bin holds.
fn floats() -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(N);
    while out.len() < N {
        let mut s = 0.0f32;
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s += (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        }
        out.extend_from_slice(&(s * 0.05).to_be_bytes());
    }
    out
}

fn deflate(c: &mut Criterion) {
    let data = floats();
    let mut g = c.benchmark_group("deflate");
    g.throughput(Throughput::Bytes(N as u64));
    g.sample_size(10);
    for level in [2u32, 6] {
        g.bench_function(format!("parallel_level{level}_8MiB"), |b| {
            b.iter(|| {
                let mut d = ParallelDeflate::new(Vec::with_capacity(N), level);
                d.write_all(&data).unwrap();
                d.finish().unwrap()
            })
        });
    }
    g.bench_function("serial_level6_8MiB", |b| {
        b.iter(|| {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        })
    });
    let mut d = ParallelDeflate::new(Vec::new(), 6);
    d.write_all(&data).unwrap();
    let (_, packed) = d.finish().unwrap();
    g.bench_function("inflate_8MiB", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(N);
            flate2::read::DeflateDecoder::new(packed.as_slice())
                .read_to_end(&mut out)
                .unwrap();
            out
        })
    });
    g.finish();
}

criterion_group!(benches, deflate);
criterion_main!(benches);
