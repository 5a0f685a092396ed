//! Mutation suite: real model files, broken in systematic ways (truncated at many offsets, bytes
//! flipped in every entry, length fields rewritten to huge values, configuration JSON
//! corrupted), must each give a clear error or a correct result from the readers `inspect` and
//! `convert` use: never a panic, never an allocation sized by a lying length field, never a
//! hang. Runs in-process (a few seconds in all); a sample of the mutants also goes through the
//! `dl4j` binary.
//!
//! Guards: a global allocator refuses any single allocation over 256 MiB (the inputs are
//! kilobytes; an honest reader never needs that), and a watchdog aborts the run, naming the
//! mutant, if one takes over a minute.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::fixture;
use dl4j::plugin;
use dl4j::{Archive, ReadOptions, WriteOptions};

const ALLOC_LIMIT: usize = 256 << 20;

struct Guarded;

/// The largest single allocation asked for (refused ones included).
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only refuses (returns null for) oversized requests,
// which Rust reports as an allocation failure.
unsafe impl GlobalAlloc for Guarded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        if layout.size() > ALLOC_LIMIT {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        if new_size > ALLOC_LIMIT {
            return std::ptr::null_mut();
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Guarded = Guarded;

/// What runs now, for the watchdog.
static CURRENT: Mutex<String> = Mutex::new(String::new());
static STARTED_MS: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    T0.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

fn start_watchdog() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_millis(200));
            let started = STARTED_MS.load(Ordering::Relaxed);
            if started != 0 && now_ms() - started > 60_000 {
                let what = CURRENT.lock().map(|s| s.clone()).unwrap_or_default();
                eprintln!("mutant still running after a minute (a hang): {what}");
                std::process::abort();
            }
        });
    });
}

/// A broken copy of an input, and what was done to it.
struct Mutant {
    what: String,
    bytes: Vec<u8>,
}

fn mutant(what: impl Into<String>, bytes: Vec<u8>) -> Mutant {
    Mutant {
        what: what.into(),
        bytes,
    }
}

/// `n` offsets spread over `0..len`, plus the first and last few.
fn offsets(len: usize, n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).map(|i| i * len / n.max(1)).collect();
    v.extend((0..8).filter(|&i| i < len));
    v.extend((1..=8).filter_map(|i| len.checked_sub(i)));
    v.sort_unstable();
    v.dedup();
    v
}

fn truncations(name: &str, bytes: &[u8], n: usize) -> Vec<Mutant> {
    offsets(bytes.len(), n)
        .into_iter()
        .map(|at| mutant(format!("{name} cut to {at} bytes"), bytes[..at].to_vec()))
        .collect()
}

fn flips(name: &str, bytes: &[u8], n: usize) -> Vec<Mutant> {
    offsets(bytes.len(), n)
        .into_iter()
        .flat_map(|at| {
            [0xffu8, 0x01].map(|mask| {
                let mut b = bytes.to_vec();
                b[at] ^= mask;
                mutant(format!("{name} byte {at} ^ {mask:#04x}"), b)
            })
        })
        .collect()
}

/// Huge values written over each aligned 4- and 8-byte field of the first `span` bytes, big-
/// and little-endian: this is where ND4J, normalizer and safetensors headers keep their
/// lengths, ranks and shapes.
fn huge_fields(name: &str, bytes: &[u8], span: usize) -> Vec<Mutant> {
    let mut out = Vec::new();
    let end = bytes.len().min(span);
    for at in (0..end).step_by(4) {
        let patches: [(&str, Vec<u8>); 4] = [
            ("i32 max be", i32::MAX.to_be_bytes().to_vec()),
            ("2^60 be", (1u64 << 60).to_be_bytes().to_vec()),
            ("2^40 le", (1u64 << 40).to_le_bytes().to_vec()),
            ("u64 max", u64::MAX.to_le_bytes().to_vec()),
        ];
        for (label, patch) in patches {
            if at + patch.len() > bytes.len() {
                continue;
            }
            let mut b = bytes.to_vec();
            b[at..at + patch.len()].copy_from_slice(&patch);
            out.push(mutant(format!("{name} @{at} = {label}"), b));
        }
    }
    out
}

/// Ways to break a JSON document: cuts, wrong values in place of numbers, a removed key,
/// hostile nesting, invalid UTF-8, wrong top-level types.
fn json_mutants(name: &str, text: &str) -> Vec<Mutant> {
    let mut out = truncations(name, text.as_bytes(), 8);
    let numbers: Vec<(usize, usize)> = {
        let b = text.as_bytes();
        let mut v = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i].is_ascii_digit() && i > 0 && matches!(b[i - 1], b' ' | b':' | b'[' | b',') {
                let s = i;
                while i < b.len() && (b[i].is_ascii_digit() || b".eE+-".contains(&b[i])) {
                    i += 1;
                }
                v.push((s, i));
            }
            i += 1;
        }
        v
    };
    let step = (numbers.len() / 40).max(1);
    for &(s, e) in numbers.iter().step_by(step) {
        for value in ["-1", "0", "4611686018427387904", "1e300", "null"] {
            let t = format!("{}{}{}", &text[..s], value, &text[e..]);
            out.push(mutant(
                format!("{name}: number at {s} -> {value}"),
                t.into_bytes(),
            ));
        }
    }
    // Drop each of some keys (the line that holds it).
    let lines: Vec<&str> = text.lines().collect();
    let keyed: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_start().starts_with('"'))
        .collect();
    for &i in keyed.iter().step_by((keyed.len() / 8).max(1)) {
        let mut l = lines.clone();
        l.remove(i);
        out.push(mutant(
            format!("{name}: line {i} removed"),
            l.join("\n").into_bytes(),
        ));
    }
    let nest = 100_000;
    out.push(mutant(
        format!("{name}: {nest} nested arrays"),
        format!("{}{}", "[".repeat(nest), "]".repeat(nest)).into_bytes(),
    ));
    let deep_confs = text.replacen(
        "\"confs\" : [",
        &format!("\"confs\" : [{}", "{\"a\":".repeat(5000)),
        1,
    );
    out.push(mutant(
        format!("{name}: deep object in confs"),
        deep_confs.into_bytes(),
    ));
    for (label, t) in [
        ("empty", String::new()),
        ("array", "[]".into()),
        ("string", "\"configuration\"".into()),
        ("number", "42".into()),
        ("empty object", "{}".into()),
        (
            "confs not an array",
            text.replacen("\"confs\" : [", "\"confs\" : 7, \"x\" : [", 1),
        ),
        (
            "vertices not an object",
            text.replacen("\"vertices\" : {", "\"vertices\" : 7, \"x\" : {", 1),
        ),
    ] {
        out.push(mutant(format!("{name}: {label}"), t.into_bytes()));
    }
    let mut bad_utf8 = text.as_bytes().to_vec();
    if let Some(p) = bad_utf8.iter().position(|&c| c == b'"') {
        bad_utf8.insert(p + 1, 0xff);
        out.push(mutant(format!("{name}: invalid UTF-8"), bad_utf8));
    }
    out
}

fn rezip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        z.start_file(name.as_str(), opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// Every mutant of a DL4J zip: of the zip's own bytes, and of each entry's content zipped again
/// (so the damage reaches the entry's parser instead of stopping at its CRC).
fn zip_mutants(rel: &str) -> Vec<Mutant> {
    let path = fixture(rel);
    let raw = std::fs::read(&path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = truncations(&name, &raw, 16);
    out.extend(flips(&name, &raw, 12));
    let entries = common::zip_entries(&path);
    for (i, (entry, content)) in entries.iter().enumerate() {
        let label = format!("{name}: {entry}");
        let mut inner = Vec::new();
        if entry.ends_with(".json") {
            if let Ok(text) = std::str::from_utf8(content) {
                inner.extend(json_mutants(&label, text));
            }
        } else {
            inner.extend(truncations(&label, content, 6));
            inner.extend(flips(&label, content, 6));
            inner.extend(huge_fields(&label, content, 48));
        }
        for m in inner {
            let mut e = entries.clone();
            e[i].1 = m.bytes;
            out.push(mutant(m.what, rezip(&e)));
        }
        // Duplicate, hostile-name and missing-entry variants.
        let mut dup = entries.clone();
        dup.push(entries[i].clone());
        out.push(mutant(format!("{label} twice"), rezip_raw_names(&dup)));
        let mut gone = entries.clone();
        gone.remove(i);
        out.push(mutant(format!("{label} missing"), rezip(&gone)));
    }
    for evil in [
        "../evil.bin",
        "/etc/evil",
        "objects\\..\\evil",
        "objects/../../x",
    ] {
        let mut e = entries.clone();
        e.push((evil.to_string(), b"payload".to_vec()));
        out.push(mutant(
            format!("{name} + entry {evil:?}"),
            rezip_raw_names(&e),
        ));
    }
    out
}

/// `rezip`, but names written as given (the zip crate would refuse duplicates).
fn rezip_raw_names(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    // A stored zip by hand: local headers, central directory, end record.
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let crc = common::crc32(data);
        let offset = out.len() as u32;
        let n = name.as_bytes();
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(n.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(n);
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(n.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 8]);
        central.extend_from_slice(&[0; 4]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(n);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn options() -> ReadOptions {
    ReadOptions {
        max_size: Some(64 << 20),
        ..ReadOptions::default()
    }
}

fn same_values(a: &Archive, b: &Archive) -> bool {
    let (x, y) = (a.params.tensor.to_f64_vec(), b.params.tensor.to_f64_vec());
    x.len() == y.len()
        && x.iter()
            .zip(&y)
            .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
        && a.params.tensor.shape() == b.params.tensor.shape()
}

/// What `inspect` and `convert` do with a file, in-process. An error is a fine answer; a read
/// that succeeds must convert to DL4J and read back with the same parameters, and every other
/// writer must either write or refuse with an error.
fn exercise(path: &Path, bytes: &[u8]) -> Result<bool, String> {
    let fmt = match plugin::detect(bytes, path) {
        Ok(f) => f,
        Err(_) => return Ok(false),
    };
    if fmt.id == dl4j::dl4j_native::FORMAT_ID {
        if let Ok(skeleton) = dl4j::serializer::read_archive_skeleton(bytes, 64 << 20) {
            let _ = dl4j::inspect::report(&skeleton, fmt);
        }
    }
    let Some(reader) = fmt.reader else {
        return Ok(false);
    };
    let archive = match reader.read(bytes, &options()) {
        Ok(a) => a,
        Err(e) => {
            let msg = e.to_string();
            if msg.trim().is_empty() {
                return Err("an error without a message".into());
            }
            return Ok(false);
        }
    };
    let _ = dl4j::inspect::report(&archive, fmt);
    let native = plugin::by_id("dl4j").unwrap();
    let mut out = Vec::new();
    // Stored: DEFLATE would dominate the suite's time and is tested elsewhere.
    let stored = WriteOptions {
        compression: dl4j::Compression::Stored,
        ..WriteOptions::default()
    };
    native
        .writer
        .unwrap()
        .write(&archive, &mut out, &stored)
        .map_err(|e| format!("read fine but cannot be written back as DL4J: {e}"))?;
    let again = native
        .reader
        .unwrap()
        .read(&out, &ReadOptions::default())
        .map_err(|e| format!("our DL4J output does not read back: {e}"))?;
    if !same_values(&archive, &again) {
        return Err("parameters changed through DL4J -> DL4J".into());
    }
    // The other writers translate the configuration; mutants that only changed values (the
    // most common kind that reads fine) would repeat the same translation, so each distinct
    // configuration goes through them once.
    thread_local! {
        static EXPORTED: std::cell::RefCell<std::collections::HashSet<u64>> = Default::default();
    }
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        archive.config.text().hash(&mut h);
        h.finish()
    };
    if !EXPORTED.with(|e| e.borrow_mut().insert(key)) {
        return Ok(true);
    }
    for id in ["safetensors", "onnx"] {
        let f = plugin::by_id(id).unwrap();
        let mut sink = Vec::new();
        let _ = f
            .writer
            .unwrap()
            .write(&archive, &mut sink, &WriteOptions::default());
    }
    Ok(true)
}

/// Runs every mutant; returns the failures (panics and wrong results), each named, and how
/// many mutants read without error.
fn run(file_name: &str, mutants: &[Mutant]) -> (Vec<String>, usize) {
    start_watchdog();
    let path = Path::new(file_name);
    let mut failures = Vec::new();
    let mut read = 0;
    for m in mutants {
        *CURRENT.lock().unwrap() = m.what.clone();
        STARTED_MS.store(now_ms(), Ordering::Relaxed);
        match catch_unwind(AssertUnwindSafe(|| exercise(path, &m.bytes))) {
            Ok(Ok(true)) => read += 1,
            Ok(Ok(false)) => {}
            Ok(Err(e)) => failures.push(format!("{}: {e}", m.what)),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: PANIC {msg}", m.what));
            }
        }
        STARTED_MS.store(0, Ordering::Relaxed);
    }
    (failures, read)
}

fn check(file_name: &str, mutants: Vec<Mutant>, min: usize) {
    assert!(mutants.len() >= min, "only {} mutants", mutants.len());
    let t = Instant::now();
    let (failures, read) = run(file_name, &mutants);
    eprintln!(
        "{file_name}: {} mutants, {} refused with an error, {read} read and converted ({:.1} s)",
        mutants.len(),
        mutants.len() - read - failures.len(),
        t.elapsed().as_secs_f64()
    );
    // Most damage must be caught; a suite where everything reads fine tests nothing.
    let refused = mutants.len() - read - failures.len();
    assert!(
        refused * 4 >= mutants.len(),
        "only {refused} of {} mutants refused",
        mutants.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} mutants failed:\n{}",
        failures.len(),
        mutants.len(),
        failures.join("\n")
    );
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest <= ALLOC_LIMIT, "an allocation of {largest} bytes");
}

// Several tests, so the test harness runs them side by side.
#[test]
fn mutated_legacy_and_graph_zips_fail_cleanly() {
    for rel in [
        // 0.5.0: legacy ND4J encoding, legacy configuration.
        "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
        // A ComputationGraph (vertices, LSTM) with updater state.
        "dl4j/0.7.1/071_ModelSerializer_Regression_CG_LSTM_1.zip",
    ] {
        check(rel, zip_mutants(rel), 200);
    }
}

#[test]
fn mutated_zips_with_normalizers_fail_cleanly() {
    // Normalizers (standardize, min-max with labels), modern encoding.
    for rel in [
        "dl4j/augmented/iris_standardize_0.9.1.zip",
        "dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip",
    ] {
        check(rel, zip_mutants(rel), 200);
    }
}

#[test]
fn mutated_convolutional_zip_fails_cleanly() {
    // 2-D convolution, pooling, batch norm: kernel, stride and padding arrays in the JSON.
    let rel = "dl4j/1.0.0-beta4/SyntheticCNN_100b4.bin";
    check(rel, zip_mutants(rel), 200);
}

/// A file of another format, made by our own writer from a fixture (the reader is what is
/// under test).
fn converted(rel: &str, id: &str) -> Vec<u8> {
    let (archive, _) = dl4j::open(fixture(rel), None).unwrap();
    let mut out = Vec::new();
    plugin::by_id(id)
        .unwrap()
        .writer
        .unwrap()
        .write(&archive, &mut out, &WriteOptions::default())
        .unwrap();
    out
}

#[test]
fn mutated_safetensors_and_onnx_fail_cleanly() {
    let st = converted("dl4j/augmented/iris_standardize_0.9.1.zip", "safetensors");
    let mut mutants = truncations("model.safetensors", &st, 48);
    mutants.extend(flips("model.safetensors", &st, 48));
    mutants.extend(huge_fields("model.safetensors", &st, 16));
    let header_len = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    if let Ok(header) = std::str::from_utf8(&st[8..8 + header_len]) {
        for m in json_mutants("safetensors header", header) {
            let mut b = (m.bytes.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(&m.bytes);
            b.extend_from_slice(&st[8 + header_len..]);
            mutants.push(mutant(m.what, b));
        }
    }
    check("model.safetensors", mutants, 300);

    let onnx = converted(
        "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
        "onnx",
    );
    let mut mutants = truncations("model.onnx", &onnx, 64);
    mutants.extend(flips("model.onnx", &onnx, 64));
    // Protobuf lengths are varints: a run of 0xff bytes is a huge one.
    for at in offsets(onnx.len(), 48) {
        let mut b = onnx.clone();
        let end = (at + 9).min(b.len());
        b[at..end].fill(0xff);
        mutants.push(mutant(format!("model.onnx varint 2^63 at {at}"), b));
    }
    check("model.onnx", mutants, 300);
}

/// A sample of the mutants through the binary: `inspect` and `convert` exit 0 or 1, never
/// with a panic, and a failed convert leaves no output.
#[test]
fn binary_on_mutants_reports_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rel = "dl4j/augmented/iris_standardize_0.9.1.zip";
    let mutants = zip_mutants(rel);
    let step = (mutants.len() / 40).max(1);
    let mut failed = 0;
    for (i, m) in mutants.iter().enumerate().step_by(step) {
        let input = dir.path().join(format!("m{i}.zip"));
        std::fs::write(&input, &m.bytes).unwrap();
        let out = dir.path().join(format!("m{i}.safetensors"));
        for args in [
            vec!["inspect".as_ref(), input.as_os_str()],
            vec![
                "convert".as_ref(),
                input.as_os_str(),
                out.as_os_str(),
                "--quiet".as_ref(),
            ],
        ] {
            let o = common::dl4j(&args);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{}: {:?} exited {:?}: {stderr}",
                m.what,
                args[0],
                o.status
            );
            assert!(!stderr.contains("panicked"), "{}: {stderr}", m.what);
            if o.status.code() == Some(1) {
                assert!(stderr.contains("error"), "{}: {stderr}", m.what);
                failed += 1;
            }
        }
        if !out.exists() {
            let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
                .collect();
            assert!(leftovers.is_empty(), "{}: temporary file left", m.what);
        }
        assert_eq!(std::fs::read(&input).unwrap(), m.bytes, "input changed");
    }
    assert!(failed > 0, "no mutant was refused");
}
