//! Every DL4J model fixture is read, inspected and round-trips native -> native losslessly.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{dl4j, fixture, fixtures, zip_entries, MODELS};
use serde_json::Value;

fn inspect_json(path: &Path) -> Value {
    let out = dl4j(&[
        OsStr::new("inspect"),
        OsStr::new("--json"),
        path.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "inspect {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

#[test]
fn every_model_fixture_is_covered() {
    let mut found = Vec::new();
    let mut stack = vec![fixtures().join("dl4j")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            if bytes.starts_with(b"PK\x03\x04") {
                found.push(
                    p.strip_prefix(fixtures())
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    found.sort();
    let mut listed: Vec<String> = MODELS.iter().map(|(p, _)| p.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed, "model zips in the fixtures vs the test list");
}

#[test]
fn inspect_reports_parameter_counts_and_shapes() {
    for (rel, expected) in MODELS {
        let r = inspect_json(&fixture(rel));
        assert_eq!(r["format"], "dl4j", "{rel}");
        assert_eq!(r["num_params"].as_u64(), Some(*expected as u64), "{rel}");
        assert!(r["layout_error"].is_null(), "{rel}: {}", r["layout_error"]);
        let layers = r["layers"].as_array().unwrap();
        assert!(!layers.is_empty(), "{rel}");
        let mut sum = 0u64;
        for l in layers {
            assert!(l["name"].is_string() && l["type"].is_string(), "{rel}: {l}");
            for p in l["params"].as_array().into_iter().flatten() {
                sum += p["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap())
                    .product::<u64>();
            }
        }
        match r["unknown_params"].as_object() {
            None => assert_eq!(sum, *expected as u64, "{rel}: per-layer shapes add up"),
            Some(u) => {
                assert_eq!(sum + u["len"].as_u64().unwrap(), *expected as u64, "{rel}");
                assert!(
                    rel.contains("CustomLayer"),
                    "{rel}: unexpected unknown layers {u:?}"
                );
            }
        }
        // Updater state: where saved, the layout is derived and its length checked.
        if let Some(u) = r["updater"].as_object() {
            assert!(u["error"].is_null(), "{rel}: {}", u["error"]);
            assert!(u["state_len"].as_u64().unwrap() > 0);
        }
    }
}

#[test]
fn custom_layers_are_reported_unknown_by_class() {
    let r = inspect_json(&fixture(
        "dl4j/1.0.0-beta4/CustomLayerExample_100b4_double.bin",
    ));
    let layer = &r["layers"][1];
    assert_eq!(layer["known"], false);
    assert_eq!(
        layer["class"],
        "org.deeplearning4j.regressiontest.customlayer100a.CustomLayer"
    );
    assert_eq!(r["unknown_params"]["classes"][0], layer["class"]);
    // Dense 5->6 (36 params) precedes it; Output 7->8 (64) follows: 149 - 100 = 49.
    assert_eq!(r["unknown_params"]["offset"], 36);
    assert_eq!(r["unknown_params"]["len"], 49);
    assert_eq!(r["layers"][2]["params"][0]["offset"], 85);
}

#[test]
fn native_round_trip_is_lossless_for_every_model() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (rel, _)) in MODELS.iter().enumerate() {
        let input = fixture(rel);
        let out = dir.path().join(format!("out{i}.zip"));
        let r = dl4j(&[OsStr::new("convert"), input.as_os_str(), out.as_os_str()]);
        assert!(
            r.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let (a, _) = dl4j::open(&input, None).unwrap();
        let (b, _) = dl4j::open(&out, None).unwrap();
        a.same_as(&b).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(a.origin.encoding, b.origin.encoding, "{rel}: encoding kept");

        // Independently of our reader: entry order, and every non-array entry byte-identical.
        let src = zip_entries(&input);
        let dst = zip_entries(&out);
        let names: Vec<&str> = dst.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "configuration.json", "{rel}");
        assert_eq!(names[1], "coefficients.bin", "{rel}");
        let mut expect: Vec<&str> = vec!["configuration.json", "coefficients.bin"];
        for n in ["noParams.marker", "updaterState.bin", "normalizer.bin"] {
            if src.iter().any(|(s, _)| s == n) {
                expect.push(n);
            }
        }
        expect.extend(
            src.iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| n.starts_with("objects/")),
        );
        assert_eq!(names, expect, "{rel}: entry order");
        for (name, data) in &src {
            let (_, copy) = dst.iter().find(|(n, _)| n == name).unwrap();
            // Arrays are re-encoded in the same generation: for these vector arrays the bytes
            // come out identical too.
            assert!(
                copy == data,
                "{rel}: entry {name} differs after the round trip"
            );
        }
    }
}

#[test]
fn encodings_can_be_chosen_and_keep_values() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "dl4j/0.8.0/080_ModelSerializer_Regression_LSTM_1.zip",
            "JAVACPP",
        ),
        (
            "dl4j/1.0.0-beta4/CustomLayerExample_100b4_double.bin",
            "MIXED_DATA_TYPES",
        ),
        (
            "dl4j/1.0.0-beta4/CustomLayerExample_100b4_half.bin",
            "MIXED_DATA_TYPES",
        ),
        ("dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip", "JAVACPP"),
    ];
    for (rel, _) in cases {
        let input = fixture(rel);
        let (src, _) = dl4j::open(&input, None).unwrap();
        for (enc, mode) in [
            ("legacy", "JAVACPP"),
            ("long-shape", "LONG_SHAPE"),
            ("modern", "MIXED_DATA_TYPES"),
        ] {
            let out = dir.path().join(format!("{enc}.zip"));
            let r = dl4j(&[
                OsStr::new("convert"),
                input.as_os_str(),
                out.as_os_str(),
                OsStr::new("--dl4j-encoding"),
                OsStr::new(enc),
                OsStr::new("--force"),
            ]);
            assert!(
                r.status.success(),
                "{rel} {enc}: {}",
                String::from_utf8_lossy(&r.stderr)
            );
            let entries = zip_entries(&out);
            let coeff = &entries
                .iter()
                .find(|(n, _)| n == "coefficients.bin")
                .unwrap()
                .1;
            assert_eq!(&coeff[2..2 + mode.len()], mode.as_bytes(), "{rel} {enc}");
            let (back, _) = dl4j::open(&out, None).unwrap();
            assert!(back.params.bit_eq(&src.params), "{rel} {enc}: parameters");
            match (&src.updater_state, &back.updater_state) {
                (Some(a), Some(b)) => assert!(a.bit_eq(b), "{rel} {enc}: updater state"),
                (None, None) => {}
                _ => panic!("{rel} {enc}: updater state presence"),
            }
            if let (Some(a), Some(b)) = (&src.normalizer, &back.normalizer) {
                assert!(a.same_as(b), "{rel} {enc}: normalizer");
            }
        }
    }
}
