use std::io::Write;
use std::path::PathBuf;

use super::npy::{self, Kind};
use super::*;

// ---------------------------------------------------------------- npy

/// A hand-built `.npy`: given version, raw header dict text (padded here) and data.
fn hand_npy(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let len_size = if major == 1 { 2 } else { 4 };
    let pre = 8 + len_size;
    let mut text = dict.as_bytes().to_vec();
    while !(pre + text.len() + 1).is_multiple_of(64) {
        text.push(b' ');
    }
    text.push(b'\n');
    let mut out = npy::MAGIC.to_vec();
    out.extend_from_slice(&[major, 0]);
    out.extend_from_slice(&(text.len() as u32).to_le_bytes()[..len_size]);
    out.extend_from_slice(&text);
    out.extend_from_slice(data);
    out
}

/// `n` distinct elements of `size` bytes each (element i = bytes i*size .. (i+1)*size).
fn sample(n: usize, size: usize) -> Vec<u8> {
    (0..n * size).map(|i| (i * 7 + 1) as u8).collect()
}

#[test]
fn every_dtype_round_trips() {
    for d in DType::ALL {
        for shape in [vec![], vec![5], vec![2, 3], vec![2, 0, 4], vec![1, 2, 3, 2]] {
            let n: usize = shape.iter().product();
            let mut data = sample(n, d.size());
            if d == DType::Bool {
                data.iter_mut().for_each(|b| *b &= 1);
            }
            let bytes = npy::encode(npy::descr(d), &shape, &data);
            let header_len = bytes.len() - data.len();
            assert_eq!(header_len % 64, 0, "{d:?} {shape:?}");
            assert_eq!(bytes[header_len - 1], b'\n');
            let a = npy::parse(bytes).unwrap();
            let want = if d == DType::BF16 { DType::U16 } else { d };
            assert_eq!(a.kind, Kind::Num(want));
            assert_eq!(a.shape, shape);
            assert_eq!(a.data(), &data[..]);
        }
    }
}

#[test]
fn header_text_is_numpys() {
    let h = npy::header("<f4", &[2, 3]);
    assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
    assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
    let text = std::str::from_utf8(&h[10..]).unwrap();
    assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
    assert!(text.trim_end().ends_with('}'));
    assert!(std::str::from_utf8(&npy::header("|b1", &[4])[10..])
        .unwrap()
        .contains("'shape': (4,), }"));
    assert!(std::str::from_utf8(&npy::header("<i8", &[])[10..])
        .unwrap()
        .contains("'shape': (), }"));
}

#[test]
fn fortran_order_becomes_c_order() {
    // 2x3 of f32: C order [[0,1,2],[3,4,5]], stored column-major as 0,3,1,4,2,5.
    let vals: Vec<f32> = vec![0., 3., 1., 4., 2., 5.];
    let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let f = hand_npy(
        1,
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
        &data,
    );
    let a = npy::parse(f).unwrap();
    let got: Vec<f32> = a
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, vec![0., 1., 2., 3., 4., 5.]);

    // 3-d, u8: element (i, j, k) of shape (2, 3, 4) has C index 12i + 4j + k and Fortran
    // index i + 2j + 6k.
    let mut fdata = vec![0u8; 24];
    for i in 0..2 {
        for j in 0..3 {
            for k in 0..4 {
                fdata[i + 2 * j + 6 * k] = (12 * i + 4 * j + k) as u8;
            }
        }
    }
    let f = hand_npy(
        1,
        "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3, 4)}",
        &fdata,
    );
    let a = npy::parse(f).unwrap();
    assert_eq!(a.data(), (0..24u8).collect::<Vec<_>>().as_slice());

    // Big-endian and Fortran order together, i2.
    let vals: Vec<i16> = vec![0, 3, 1, 4, 2, -5];
    let data: Vec<u8> = vals.iter().flat_map(|v| v.to_be_bytes()).collect();
    let f = hand_npy(
        1,
        "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }",
        &data,
    );
    let a = npy::parse(f).unwrap();
    let got: Vec<i16> = a
        .data()
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(got, vec![0, 1, 2, 3, 4, -5]);
}

#[test]
fn big_endian_becomes_little_endian() {
    let f64s = [1.5f64, -2.25, f64::MAX];
    let cases: Vec<(&str, DType, Vec<u8>, Vec<u8>)> = vec![
        (
            ">f8",
            DType::F64,
            f64s.iter().flat_map(|v| v.to_be_bytes()).collect(),
            f64s.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (
            ">f4",
            DType::F32,
            [1.5f32, 7.0, -0.0]
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect(),
            [1.5f32, 7.0, -0.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        (
            ">i4",
            DType::I32,
            [1i32, -2, 3].iter().flat_map(|v| v.to_be_bytes()).collect(),
            [1i32, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        (
            ">u8",
            DType::U64,
            [1u64, 2, u64::MAX - 1]
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect(),
            [1u64, 2, u64::MAX - 1]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        (
            ">f2",
            DType::F16,
            [0x3c00u16, 0xc000, 1]
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect(),
            [0x3c00u16, 0xc000, 1]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        ("|i1", DType::I8, vec![1, 0xff, 3], vec![1, 0xff, 3]),
        (">u1", DType::U8, vec![1, 2, 3], vec![1, 2, 3]),
    ];
    for (descr, dtype, be, le) in cases {
        let f = hand_npy(
            1,
            &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (3,), }}"),
            &be,
        );
        let a = npy::parse(f).unwrap();
        assert_eq!(a.kind, Kind::Num(dtype), "{descr}");
        assert_eq!(a.data(), &le[..], "{descr}");
    }
}

#[test]
fn versions_2_and_3() {
    let data: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    for major in [2u8, 3] {
        let f = hand_npy(
            major,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }",
            &data,
        );
        let a = npy::parse(f).unwrap();
        assert_eq!(a.shape, vec![2]);
        assert_eq!(a.data(), &data[..]);
    }
    // 3.0 headers are UTF-8, and a 2.0 one may use double quotes and any key order.
    let f = hand_npy(
        2,
        "{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": \"<f4\"}",
        &data,
    );
    assert_eq!(npy::parse(f).unwrap().shape, vec![1, 2]);
    // Unknown versions are refused.
    let mut f = hand_npy(
        1,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        &data,
    );
    f[6] = 4;
    assert!(npy::parse(f).is_err());
}

#[test]
fn strings() {
    let s = npy::encode_string("{\"a\": \"é\"}");
    let a = npy::parse(s).unwrap();
    assert_eq!(a.kind, Kind::Bytes("{\"a\": \"é\"}".len()));
    assert_eq!(a.as_string().unwrap(), "{\"a\": \"é\"}");
    // NumPy's unicode: UTF-32, little or big endian, NUL padded.
    let text = "ab€";
    for (descr, be) in [("<U5", false), (">U5", true)] {
        let mut data = Vec::new();
        for c in text.chars().chain(['\0', '\0']) {
            let u = c as u32;
            data.extend(if be { u.to_be_bytes() } else { u.to_le_bytes() });
        }
        let f = hand_npy(
            1,
            &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (), }}"),
            &data,
        );
        let a = npy::parse(f).unwrap();
        assert_eq!(a.kind, Kind::Unicode(5));
        assert_eq!(a.as_string().unwrap(), text);
    }
    // A number array is not a string.
    let f = npy::encode("<f4", &[], &[0; 4]);
    assert!(npy::parse(f).unwrap().as_string().is_err());
}

#[test]
fn refusals() {
    let err = |f: Vec<u8>| npy::parse(f).unwrap_err().to_string();
    let e = err(hand_npy(
        1,
        "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
        b"\x80\x02N.",
    ));
    assert!(e.contains("pickled"), "{e}");
    let e = err(hand_npy(
        1,
        "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }",
        &[0; 8],
    ));
    assert!(e.contains("structured"), "{e}");
    for bad in [
        "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
        "{'descr': '|f4', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '=f4', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
        "not a dict",
        "",
    ] {
        assert!(npy::parse(hand_npy(1, bad, &[0; 4])).is_err(), "{bad}");
    }
    // Shapes whose element or byte count overflows.
    let e = err(hand_npy(
        1,
        &format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}",
            usize::MAX,
            3
        ),
        &[],
    ));
    assert!(e.contains("overflow"), "{e}");
    let e = err(hand_npy(
        1,
        &format!(
            "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}",
            usize::MAX / 4
        ),
        &[],
    ));
    assert!(e.contains("overflow"), "{e}");
    // Data shorter or longer than the shape says.
    let good = npy::encode("<f4", &[2], &[0; 8]);
    assert!(npy::parse(good.clone()).is_ok());
    assert!(npy::parse(good[..good.len() - 1].to_vec()).is_err());
    let mut long = good.clone();
    long.push(0);
    assert!(npy::parse(long).is_err());
    // Every truncation, and header lengths pointing past the end or over the limit.
    for n in 0..good.len() {
        assert!(npy::parse(good[..n].to_vec()).is_err(), "{n}");
    }
    let mut f = good.clone();
    f[8] = 0xff;
    f[9] = 0xff;
    assert!(npy::parse(f).is_err());
    let mut f = hand_npy(
        2,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
        &[0; 8],
    );
    f[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(err(f).contains("limit"));
    // Latin-1 bytes in a 1.0 header and invalid UTF-8 in a 3.0 one do not panic.
    let mut f = good.clone();
    f[20] = 0xe9;
    assert!(npy::parse(f.clone()).is_err());
    f[6] = 3;
    assert!(npy::parse(f).is_err());
}

#[test]
fn npy_fuzz_does_not_panic() {
    let good = hand_npy(
        1,
        "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }",
        &sample(6, 2),
    );
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut f = good.clone();
        let at = (x % f.len() as u64) as usize;
        f[at] = (x >> 32) as u8;
        let cut = ((x >> 40) as usize) % (f.len() + 1);
        f.truncate(cut.max(at));
        let _ = npy::parse(f);
    }
}

// ---------------------------------------------------------------- npz

fn fixtures() -> PathBuf {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    match std::env::var_os("DL4J_FIXTURES") {
        Some(p) => root.join(p),
        None => root.join("../shared/fixtures"),
    }
}

fn read_native(rel: &str) -> Archive {
    dl4j_native::link();
    let bytes = std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let format = dl4j_core::plugin::by_id("dl4j").unwrap();
    format
        .reader
        .unwrap()
        .read(&bytes, &ReadOptions::default())
        .unwrap()
}

fn round_trip(rel: &str) -> Vec<u8> {
    let archive = read_native(rel);
    let bytes = to_bytes(&archive).unwrap();
    assert!(detect(&bytes), "{rel}: our output is detected");
    let back = from_bytes(&bytes).unwrap();
    archive.same_as(&back).unwrap();
    // Through the trait objects of the plugin format, too.
    let mut out = Vec::new();
    NPZ_FORMAT
        .writer
        .unwrap()
        .write(&archive, &mut out, &WriteOptions::default())
        .unwrap();
    assert_eq!(out, bytes, "{rel}: writing is deterministic");
    let back = NPZ_FORMAT
        .reader
        .unwrap()
        .read(&out, &ReadOptions::default())
        .unwrap();
    archive.same_as(&back).unwrap();
    bytes
}

#[test]
fn round_trip_mlp() {
    let bytes = round_trip(
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
    );
    let file = NpzFile::parse(&bytes).unwrap();
    assert!(named::is_dl4j(&file));
    assert!(file
        .metadata(dl4j_core::named::meta::CONFIGURATION)
        .is_some());
    assert!(!file.arrays.is_empty());
}

#[test]
fn round_trip_normalizer_and_objects() {
    round_trip("dl4j/augmented/mnist_imageminmax_objects.zip");
}

#[test]
fn round_trip_computation_graph() {
    round_trip("dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin");
}

#[test]
fn detection() {
    let native = std::fs::read(fixtures().join(
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
    ))
    .unwrap();
    assert!(native.starts_with(ZIP_MAGIC));
    assert!(!detect(&native), "an ordinary DL4J zip is not claimed");
    assert!(!detect(b""));
    assert!(!detect(b"PK\x03\x04"));
    assert!(!detect(&[0x50; 40]));
    assert!(!detect(b"\x93NUMPY"));
}

/// A zip of the given members (stored or deflated), as Python's zipfile would write.
fn zip_of(members: &[(&str, Vec<u8>)], method: CompressionMethod) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut out);
    for (name, data) in members {
        z.start_file(
            *name,
            SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
    out.into_inner()
}

#[test]
fn numpy_style_npz_reads_after_resave() {
    // Re-save our output member by member as NumPy would (big-endian, Fortran order, the
    // metadata as <U, deflated) and read it back to the same archive.
    let archive = read_native("dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin");
    let file = NpzFile::parse(&to_bytes(&archive).unwrap()).unwrap();
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, a) in &file.arrays {
        let Kind::Num(d) = a.kind else { panic!() };
        let size = d.size();
        let data = a.data();
        let big: Vec<u8> = data
            .chunks_exact(size)
            .flat_map(|c| c.iter().rev().copied())
            .collect();
        let descr = npy::descr(d).replace('<', ">");
        let member = if a.shape.len() == 2 {
            // Column-major copy of a 2-d array.
            let (r, c) = (a.shape[0], a.shape[1]);
            let mut f = Vec::with_capacity(big.len());
            for j in 0..c {
                for i in 0..r {
                    let at = (i * c + j) * size;
                    f.extend_from_slice(&big[at..at + size]);
                }
            }
            hand_npy(
                3,
                &format!("{{'descr': '{descr}', 'fortran_order': True, 'shape': ({r}, {c}), }}"),
                &f,
            )
        } else {
            let shape = a.shape.iter().map(|d| format!("{d},")).collect::<String>();
            hand_npy(
                2,
                &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({shape}), }}"),
                &big,
            )
        };
        members.push((format!("{name}.npy"), member));
    }
    let mut meta = serde_json::Map::new();
    for (k, v) in &file.metadata {
        meta.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    let json = serde_json::Value::Object(meta).to_string();
    let n = json.chars().count();
    let utf32: Vec<u8> = json
        .chars()
        .flat_map(|c| (c as u32).to_le_bytes())
        .collect();
    members.push((
        METADATA_MEMBER.into(),
        hand_npy(
            1,
            &format!("{{'descr': '<U{n}', 'fortran_order': False, 'shape': (), }}"),
            &utf32,
        ),
    ));
    let refs: Vec<(&str, Vec<u8>)> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.clone()))
        .collect();
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        let bytes = zip_of(&refs, method);
        assert!(detect(&bytes));
        let back = from_bytes(&bytes).unwrap();
        archive.same_as(&back).unwrap();
    }
}

#[test]
fn bf16_is_restored() {
    let meta = format!("{{\"format\": \"dl4j\", \"{BF16_KEY}\": \"[\\\"w\\\"]\"}}");
    let bytes = zip_of(
        &[
            ("w.npy", npy::encode("<u2", &[2], &[1, 2, 3, 4])),
            ("u.npy", npy::encode("<u2", &[1], &[1, 2])),
            (METADATA_MEMBER, npy::encode_string(&meta)),
        ],
        CompressionMethod::Stored,
    );
    let file = NpzFile::parse(&bytes).unwrap();
    assert_eq!(file.tensor("w").unwrap().dtype, Some(DType::BF16));
    assert_eq!(file.tensor("w").unwrap().data, &[1, 2, 3, 4]);
    assert_eq!(file.tensor("u").unwrap().dtype, Some(DType::U16));
    assert!(file.tensor("missing").is_none());
}

#[test]
fn foreign_npz_is_refused_clearly() {
    let bytes = zip_of(
        &[("x.npy", npy::encode("<f4", &[1], &[0; 4]))],
        CompressionMethod::Deflated,
    );
    let e = from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("an .npz not written from a DL4J model"), "{e}");
    assert!(e.contains("x"), "{e}");
    // Metadata without the dl4j marker.
    let bytes = zip_of(
        &[
            ("x.npy", npy::encode("<f4", &[1], &[0; 4])),
            (METADATA_MEMBER, npy::encode_string("{\"a\": \"b\"}")),
        ],
        CompressionMethod::Stored,
    );
    let e = from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("an .npz not written from a DL4J model"), "{e}");
    // Pickled members are refused, not unpickled.
    let bytes = zip_of(
        &[(
            "x.npy",
            hand_npy(
                1,
                "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
                b"\x80\x02N.",
            ),
        )],
        CompressionMethod::Stored,
    );
    let e = from_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("pickled"), "{e}");
    // Members that are not .npy, and metadata that is not a JSON object of strings.
    for members in [
        vec![("x.txt", b"hello".to_vec())],
        vec![(METADATA_MEMBER, npy::encode_string("[1]"))],
        vec![(METADATA_MEMBER, npy::encode_string("{\"format\": 1}"))],
        vec![(METADATA_MEMBER, npy::encode_string("not json"))],
        vec![(METADATA_MEMBER, npy::encode("<f4", &[], &[0; 4]))],
    ] {
        assert!(from_bytes(&zip_of(&members, CompressionMethod::Stored)).is_err());
    }
}

#[test]
fn truncated_and_garbage_npz_are_errors() {
    let bytes = to_bytes(&read_native(
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
    ))
    .unwrap();
    for n in (0..bytes.len()).step_by(7) {
        assert!(from_bytes(&bytes[..n]).is_err(), "truncated to {n}");
    }
    assert!(from_bytes(b"").is_err());
    assert!(from_bytes(b"garbage, not a zip at all").is_err());
    assert!(from_bytes(b"PK\x03\x04garbage").is_err());
    // Corrupted bytes: an error or (where the damage is in ignored fields) a result, never a
    // panic.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut f = bytes.clone();
        let at = (x % f.len() as u64) as usize;
        f[at] ^= ((x >> 32) as u8) | 1;
        let _ = from_bytes(&f);
    }
}

#[test]
fn through_the_c_abi() {
    // The exported entry point, driven by the host side of the ABI (in process, no dlopen).
    let handle =
        unsafe { dl4j_plugin_abi::host::PluginHandle::new(super::dl4j_plugin_entry()) }.unwrap();
    let info = handle.info();
    assert_eq!(info.name, "npz");
    assert_eq!(info.formats.len(), 1);
    assert_eq!(info.formats[0].id, FORMAT_ID);
    let archive = read_native("dl4j/augmented/mnist_imageminmax_objects.zip");
    let bytes = handle.write(0, &archive, &WriteOptions::default()).unwrap();
    assert!(handle.detect(0, &bytes));
    assert!(!handle.detect(0, b"PK\x03\x04"));
    let back = handle.read(0, &bytes, &ReadOptions::default()).unwrap();
    archive.same_as(&back).unwrap();
    let e = handle
        .read(0, b"garbage", &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a zip"), "{e}");
}
