//! The fast paths give the same results as the simple ones: DL4J zips written with parallel
//! DEFLATE (every `--compression`) inflate to the same entries and read back as the same
//! archive, Java's own zip readers (the ones DL4J uses) accept them, streamed arrays give the
//! bytes of encoded ones, and `inspect`'s header-only read reports what a full read does.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::{fixture, jdk_tool, zip_entries, MODELS};
use dl4j::serializer::{self, Payload};
use dl4j::{Archive, Compression, WriteOptions};

const COMPRESSIONS: [Compression; 3] =
    [Compression::Stored, Compression::Fast, Compression::Default];

fn save(a: &Archive, path: &Path, compression: Compression) {
    let opts = WriteOptions {
        compression,
        ..WriteOptions::default()
    };
    dl4j::save(a, path, Some("dl4j"), &opts, true).unwrap();
}

/// Compression methods of a zip's entries, from the central directory.
fn methods(path: &Path) -> Vec<zip::CompressionMethod> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| z.by_index_raw(i).unwrap().compression())
        .collect()
}

#[test]
fn every_compression_round_trips_every_model() {
    let dir = tempfile::tempdir().unwrap();
    for (rel, _) in MODELS {
        let (a, _) = dl4j::open(fixture(rel), None).unwrap();
        for c in COMPRESSIONS {
            let out = dir.path().join(format!("{}.zip", c.name()));
            save(&a, &out, c);
            let back = dl4j::open(&out, None).unwrap().0;
            a.same_as(&back)
                .unwrap_or_else(|e| panic!("{rel} with {}: {e}", c.name()));
            let want = match c {
                Compression::Stored => zip::CompressionMethod::Stored,
                _ => zip::CompressionMethod::Deflated,
            };
            assert!(methods(&out).iter().all(|m| *m == want), "{rel}");
        }
    }
}

#[test]
fn parallel_deflate_inflates_to_the_serial_entries() {
    // Large enough for several 1 MiB chunks per array.
    let rel = "dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_100b6.bin";
    let (a, _) = dl4j::open(fixture(rel), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.zip");
    save(&a, &out, Compression::Default);
    // The entries as the simple path encodes them, inflated by an independent reader.
    let want = serializer::archive_to_entries(&a, None).unwrap();
    let got = zip_entries(&out);
    assert_eq!(got.len(), want.len());
    for ((gn, gb), (wn, wb)) in got.iter().zip(&want) {
        assert_eq!(gn, wn);
        assert!(gb == wb, "{gn} differs after inflating");
    }
    let coefficients = &got.iter().find(|(n, _)| n == "coefficients.bin").unwrap().1;
    assert!(coefficients.len() > 2 << 20, "{}", coefficients.len());
    // Compressed about as well as one serial stream at level 6.
    let size = std::fs::metadata(&out).unwrap().len() as f64;
    let mut serial = Vec::new();
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(&mut serial));
        let o = zip::write::SimpleFileOptions::default().compression_level(Some(6));
        for (n, b) in &want {
            z.start_file(n.as_str(), o).unwrap();
            z.write_all(b).unwrap();
        }
        z.finish().unwrap();
    }
    assert!(
        size < serial.len() as f64 * 1.01,
        "{size} vs {}",
        serial.len()
    );
}

#[test]
fn streamed_arrays_write_the_bytes_of_encoded_ones() {
    let dir = tempfile::tempdir().unwrap();
    for rel in [
        "dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_100b6.bin",
        "dl4j/augmented/mnist_imageminmax_objects.zip",
        "dl4j/0.5.0/050_ModelSerializer_Regression_CNN_1.zip",
    ] {
        let (a, _) = dl4j::open(fixture(rel), None).unwrap();
        for c in COMPRESSIONS {
            let streamed = dir.path().join("streamed.zip");
            save(&a, &streamed, c);
            let entries = serializer::archive_to_entries(&a, None).unwrap();
            let payloads: Vec<(String, Payload)> = entries
                .iter()
                .map(|(n, b)| (n.clone(), Payload::Bytes(b.as_slice().into())))
                .collect();
            let mut simple = Vec::new();
            serializer::container::write_payloads(
                &payloads,
                &mut simple,
                c,
                &dl4j::Progress::none(),
            )
            .unwrap();
            assert!(
                std::fs::read(&streamed).unwrap() == simple,
                "{rel} {}",
                c.name()
            );
        }
    }
}

/// Compiles ReadZip.java once; the directory holding its class.
fn classes() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/ReadZip.java");
        let out = Command::new(jdk_tool("javac"))
            .arg("-d")
            .arg(dir.path())
            .arg(&src)
            .output()
            .expect("these tests need a JDK (javac and java)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

#[test]
fn java_reads_every_compression() {
    let rel = "dl4j/augmented/mnist_imageminmax_objects.zip";
    let (a, _) = dl4j::open(fixture(rel), None).unwrap();
    let want = serializer::archive_to_entries(&a, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for c in COMPRESSIONS {
        let out = dir.path().join("m.zip");
        save(&a, &out, c);
        let run = Command::new(jdk_tool("java"))
            .arg("-cp")
            .arg(classes())
            .arg("ReadZip")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let method = if c == Compression::Stored { 0 } else { 8 };
        let mut lines = Vec::new();
        for reader in ["file", "stream"] {
            for (name, bytes) in &want {
                lines.push(format!(
                    "{reader} {name} {method} {} {:x}",
                    bytes.len(),
                    common::crc32(bytes)
                ));
            }
        }
        let got: Vec<&str> = std::str::from_utf8(&run.stdout).unwrap().lines().collect();
        assert_eq!(got, lines, "{}", c.name());
    }
}

#[test]
fn inspect_headers_only_reports_what_a_full_read_does() {
    for (rel, n) in MODELS {
        let path = fixture(rel);
        let (full, f1) = dl4j::open(&path, None).unwrap();
        let (skeleton, f2) = dl4j::files::open_for_report(&path, None, None).unwrap();
        assert_eq!(skeleton.num_params(), *n, "{rel}");
        assert_eq!(
            dl4j::inspect::report(&full, f1),
            dl4j::inspect::report(&skeleton, f2),
            "{rel}"
        );
    }
}

#[test]
fn inspect_headers_only_still_checks_the_sizes() {
    // An array entry whose data is shorter than its header declares is an error, as in a full
    // read, though no value is inflated.
    let rel = "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip";
    let mut entries = zip_entries(&fixture(rel));
    for (n, b) in &mut entries {
        if n == "coefficients.bin" {
            b.truncate(b.len() - 4);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("short.zip");
    let mut f = std::fs::File::create(&p).unwrap();
    serializer::write_entries(&entries, &mut f).unwrap();
    drop(f);
    let e = dl4j::files::open_for_report(&p, None, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("coefficients.bin"), "{e}");
    assert!(dl4j::open(&p, None).is_err());
}
