//! An interrupted run leaves no partial output: SIGINT/SIGTERM during `dl4j convert` removes the
//! temporary file, and a file written inside another write (the external data of an ONNX model)
//! is kept only when the outer write lands.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{fixture, listing};
use dl4j::{Archive, Configuration, TensorData, WriteOptions};

/// The iris MLP (three layers) widened to `width` units per layer: a real DL4J configuration
/// whose parameters take long enough to compress that a signal arrives mid-write.
fn wide_model(dir: &Path, width: usize) -> PathBuf {
    let src = fixture("dl4j/0.9.1/trained_iris_model.zip");
    let entries = common::zip_entries(&src);
    let json = entries
        .iter()
        .find(|(n, _)| n == "configuration.json")
        .map(|(_, b)| String::from_utf8(b.clone()).unwrap())
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for conf in v["confs"].as_array_mut().unwrap() {
        let layer = conf["layer"].as_object_mut().unwrap();
        let (_, body) = layer.iter_mut().next().unwrap();
        body["nin"] = width.into();
        body["nout"] = width.into();
    }
    let config = Configuration::parse(serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let total = 3 * (width * width + width);
    // Deterministic, poorly compressible values keep DEFLATE busy.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let flat: Vec<f32> = (0..total)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let archive = Archive::with_parameters(config, TensorData::F32(flat), "dl4j").unwrap();
    let path = dir.join("wide.zip");
    dl4j::save(&archive, &path, None, &WriteOptions::default(), false).unwrap();
    path
}

/// Starts `dl4j convert IN OUT ARGS`, waits for its temporary file to appear in `out`'s
/// folder, sends `signal`, and returns the exit status. `None` when the run finished before
/// the signal could be sent (the machine was faster than the model is big).
fn interrupt_convert(
    input: &Path,
    out: &Path,
    args: &[&str],
    signal: &str,
) -> Option<std::process::ExitStatus> {
    let dir = out.parent().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dl4j"))
        .arg("convert")
        .arg(input)
        .arg(out)
        .args(args)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        if listing(dir).iter().any(|n| n.ends_with(".tmp")) {
            break;
        }
        assert!(Instant::now() < deadline, "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Let some bytes reach the temporary file first.
    std::thread::sleep(Duration::from_millis(50));
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        // The signal came after the output was in place.
        return None;
    }
    assert!(stderr.contains("interrupted"), "stderr: {stderr}");
    Some(output.status)
}

#[test]
#[cfg(unix)]
fn sigint_and_sigterm_during_convert_leave_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("in");
    std::fs::create_dir(&model_dir).unwrap();
    let mut width = 1200;
    let mut input = wide_model(&model_dir, width);
    let input_bytes = std::fs::read(&input).unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        ("out.zip", &["--compression", "default"], "INT"),
        ("out.zip", &["--compression", "default"], "TERM"),
        ("out.onnx", &["--external-data"], "INT"),
    ];
    for (name, args, signal) in cases {
        let out_dir = dir.path().join(format!("out-{signal}-{name}"));
        std::fs::create_dir(&out_dir).unwrap();
        let out = out_dir.join(name);
        let mut status = None;
        for _ in 0..3 {
            status = interrupt_convert(&input, &out, args, signal);
            if status.is_some() {
                break;
            }
            // Too quick to interrupt: start over with a bigger model.
            for f in listing(&out_dir) {
                std::fs::remove_file(out_dir.join(f)).unwrap();
            }
            width *= 2;
            input = wide_model(&model_dir, width);
        }
        let status = status.expect("every run finished before it could be interrupted");
        assert_eq!(status.code(), Some(130), "{name} {signal}");
        assert_eq!(
            listing(&out_dir),
            Vec::<String>::new(),
            "{name} {signal}: the output folder must be left empty"
        );
    }
    // The input was only read.
    if width == 1200 {
        assert_eq!(std::fs::read(&input).unwrap(), input_bytes);
    }
    assert_eq!(listing(&model_dir), vec!["wide.zip".to_string()]);
}
