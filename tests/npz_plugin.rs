//! The example plugin `plugins/npz` (package `dl4j-npz`), loaded at run time with `--plugin`:
//! DL4J -> npz -> DL4J is lossless, `dl4j plugins` and `dl4j inspect` see it, and NumPy reads
//! what it writes (and it reads what NumPy re-saves), when python3 has numpy.

mod common;
#[path = "plugins/support.rs"]
mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{fixture, zip_entries};
use support::build_plugin;

const FIXTURES: &[&str] = &[
    // MultiLayerNetwork with updater state.
    "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
    // ComputationGraph.
    "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin",
    // Normalizer and extra objects.
    "dl4j/augmented/mnist_imageminmax_objects.zip",
];

fn npz_plugin() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| build_plugin("dl4j-npz"))
}

/// Runs `dl4j ARGS --plugin <npz>` with no other plugins around.
fn dl4j_npz(args: &[&OsStr], xdg: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dl4j"))
        .args(args)
        .arg("--plugin")
        .arg(npz_plugin())
        .env("XDG_DATA_HOME", xdg)
        .env_remove("DL4J_PLUGIN_PATH")
        .output()
        .expect("run dl4j")
}

fn ok(o: Output, what: &str) -> Output {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn convert(input: &Path, output: &Path, xdg: &Path) {
    ok(
        dl4j_npz(
            &[OsStr::new("convert"), input.as_os_str(), output.as_os_str()],
            xdg,
        ),
        &format!("convert {} -> {}", input.display(), output.display()),
    );
}

fn base_name(rel: &str) -> &str {
    let file = rel.rsplit('/').next().unwrap();
    file.split('.').next().unwrap()
}

#[test]
fn dl4j_to_npz_to_dl4j_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    for rel in FIXTURES {
        let input = fixture(rel);
        let npz = dir.path().join(format!("{}.npz", base_name(rel)));
        let back = dir.path().join(format!("{}.back.zip", base_name(rel)));
        convert(&input, &npz, dir.path());
        assert!(std::fs::read(&npz).unwrap().starts_with(b"PK\x03\x04"));
        convert(&npz, &back, dir.path());
        let (src, dst) = (zip_entries(&input), zip_entries(&back));
        let names = |e: &[(String, Vec<u8>)]| e.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&dst), names(&src), "{rel}: entries");
        for ((name, a), (_, b)) in src.iter().zip(&dst) {
            assert!(
                a == b,
                "{rel}: entry {name} differs after the npz round trip"
            );
        }
    }
}

#[test]
fn plugins_lists_npz_with_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let o = ok(dl4j_npz(&[OsStr::new("plugins")], dir.path()), "plugins");
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines().skip_while(|l| !l.starts_with("npz "));
    let row = lines
        .next()
        .unwrap_or_else(|| panic!("npz not listed:\n{text}"));
    assert!(row.contains("yes") && row.contains("plugin"), "{row}");
    let from = lines.next().unwrap();
    let lib = npz_plugin().canonicalize().unwrap();
    assert!(from.contains(&lib.display().to_string()), "{from}");
    assert!(from.contains("PK\\x03\\x04"), "{from}");
}

#[test]
fn inspect_reads_npz() {
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("moon.npz");
    convert(&fixture(FIXTURES[0]), &npz, dir.path());
    let o = ok(
        dl4j_npz(
            &[OsStr::new("inspect"), OsStr::new("--json"), npz.as_os_str()],
            dir.path(),
        ),
        "inspect",
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["format"], "npz");
    assert_eq!(r["num_params"].as_u64(), Some(102));
    // Without the plugin the file is a mystery.
    let o = Command::new(env!("CARGO_BIN_EXE_dl4j"))
        .args([OsStr::new("inspect"), npz.as_os_str()])
        .env("XDG_DATA_HOME", dir.path())
        .env_remove("DL4J_PLUGIN_PATH")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

fn has_numpy() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("note: python3 with numpy not found; skipping the NumPy checks");
    }
    found
}

#[test]
fn numpy_reads_the_plugins_npz_and_the_plugin_reads_numpys() {
    if !has_numpy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for rel in [FIXTURES[0], FIXTURES[2]] {
        let input = fixture(rel);
        let (archive, _) = dl4j::open(&input, None).unwrap();
        let layout = archive.layout().unwrap();
        let w0 = layout
            .params()
            .into_iter()
            .find(|p| p.name == "0_W")
            .unwrap_or_else(|| panic!("{rel}: no 0_W"));
        let shape: Vec<String> = w0.shape.iter().map(|d| d.to_string()).collect();

        let npz = dir.path().join(format!("{}.npz", base_name(rel)));
        let resaved = dir.path().join(format!("{}.numpy.npz", base_name(rel)));
        let back = dir.path().join(format!("{}.numpy.zip", base_name(rel)));
        convert(&input, &npz, dir.path());
        let script = "import sys, numpy as np\n\
                      d = np.load(sys.argv[1])\n\
                      print(','.join(str(x) for x in d['0_W'].shape))\n\
                      np.savez(sys.argv[2], **dict(d))\n";
        let o = Command::new("python3")
            .args([OsStr::new("-c"), OsStr::new(script)])
            .args([npz.as_os_str(), resaved.as_os_str()])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{rel}: numpy: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            shape.join(","),
            "{rel}: 0_W shape in NumPy"
        );

        // NumPy's own npz reads back to the same archive, and so to the same zip entries.
        convert(&resaved, &back, dir.path());
        let (b, _) = dl4j::open(&back, None).unwrap();
        archive.same_as(&b).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(
            zip_entries(&input) == zip_entries(&back),
            "{rel}: entries differ after NumPy's re-save"
        );
    }
}
