//! The augmented fixtures' normalizers and objects decode to the values PROVENANCE.md lists, and
//! are written back byte for byte.

mod common;

use std::ffi::OsStr;

use common::{dl4j, fixture, zip_entries};
use dl4j::nd4j::Nd4jArray;
use dl4j::normalizer::Normalizer;

fn values(a: &Nd4jArray) -> Vec<f64> {
    assert_eq!(a.tensor.shape()[0], 1, "[1, n] rows");
    a.tensor.to_f64_vec()
}

fn normalizer(rel: &str) -> Normalizer {
    let (a, _) = dl4j::open(fixture(rel), None).unwrap();
    a.normalizer.expect("normalizer.bin")
}

#[test]
fn standardize_normalizer_values() {
    let Normalizer::Standardize { features, labels } =
        normalizer("dl4j/augmented/iris_standardize_0.9.1.zip")
    else {
        panic!("expected STANDARDIZE");
    };
    assert!(labels.is_none(), "fitLabel=false");
    assert_eq!(features.first.alloc.name(), "JAVACPP");
    assert_eq!(values(&features.first), vec![0.5, 0.75, 1.0, 1.25]);
    assert_eq!(values(&features.second), vec![1.5, 1.625, 1.75, 1.875]);
}

#[test]
fn min_max_normalizer_values() {
    let Normalizer::MinMax {
        target_min,
        target_max,
        features,
        labels,
    } = normalizer("dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip")
    else {
        panic!("expected MIN_MAX");
    };
    assert_eq!((target_min, target_max), (-1.0, 1.0));
    assert_eq!(values(&features.first), vec![-3.0, -2.5, -2.0]);
    assert_eq!(values(&features.second), vec![4.0, 4.75, 5.5]);
    let labels = labels.expect("fitLabel=true");
    assert_eq!(values(&labels.first), vec![0.0; 5]);
    assert_eq!(values(&labels.second), vec![1.0; 5]);
}

#[test]
fn image_min_max_normalizer_values() {
    let n = normalizer("dl4j/augmented/mnist_imageminmax_objects.zip");
    let Normalizer::ImageMinMax {
        min_range,
        max_range,
        max_pixel_val,
    } = n
    else {
        panic!("expected IMAGE_MIN_MAX, got {}", n.type_name());
    };
    assert_eq!((min_range, max_range, max_pixel_val), (0.0, 1.0, 255.0));
}

#[test]
fn custom_normalizer_keeps_class_and_payload() {
    let Normalizer::Custom {
        strategy_class,
        payload,
    } = normalizer("dl4j/augmented/syntheticcnn_custom_norm_objects_100b4.zip")
    else {
        panic!("expected CUSTOM");
    };
    assert_eq!(
        strategy_class,
        "com.example.preprocessing.LogScaleNormalizerStrategy"
    );
    // writeDouble(10.0), writeInt(1), writeUTF("log10")
    let mut expect = 10.0f64.to_be_bytes().to_vec();
    expect.extend(1i32.to_be_bytes());
    expect.extend([0, 5]);
    expect.extend(b"log10");
    assert_eq!(payload, expect);
}

#[test]
fn normalizers_encode_back_to_the_exact_bytes() {
    for rel in [
        "dl4j/augmented/iris_standardize_0.9.1.zip",
        "dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip",
        "dl4j/augmented/mnist_imageminmax_objects.zip",
        "dl4j/augmented/syntheticcnn_custom_norm_objects_100b4.zip",
    ] {
        let raw = zip_entries(&fixture(rel))
            .into_iter()
            .find(|(n, _)| n == "normalizer.bin")
            .unwrap()
            .1;
        let n = Normalizer::from_bytes(&raw).unwrap();
        assert_eq!(n.to_bytes().unwrap(), raw, "{rel}");
    }
}

#[test]
fn objects_are_listed_with_their_java_classes() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "dl4j/augmented/mnist_imageminmax_objects.zip",
            &[
                ("labels", "java.util.ArrayList"),
                ("meta", "java.util.LinkedHashMap"),
            ],
        ),
        (
            "dl4j/augmented/syntheticcnn_custom_norm_objects_100b4.zip",
            &[("shape", "int[]"), ("note", "java.lang.String")],
        ),
    ];
    for (rel, expected) in cases {
        let out = dl4j(&[
            OsStr::new("inspect"),
            OsStr::new("--json"),
            fixture(rel).as_os_str(),
        ]);
        assert!(out.status.success());
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let got: Vec<(String, String)> = r["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["key"].as_str().unwrap().into(),
                    o["class"].as_str().unwrap().into(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(k, c)| (k.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want, "{rel}");

        // The bytes are exactly the zip entries.
        let (a, _) = dl4j::open(fixture(rel), None).unwrap();
        let entries = zip_entries(&fixture(rel));
        for (key, bytes) in &a.objects {
            let raw = &entries
                .iter()
                .find(|(n, _)| *n == format!("objects/{key}"))
                .unwrap()
                .1;
            assert_eq!(bytes, raw, "{rel} {key}");
        }
    }
    // The String object holds the note in modified UTF-8 (writeUTF inside the stream).
    let (a, _) = dl4j::open(
        fixture("dl4j/augmented/syntheticcnn_custom_norm_objects_100b4.zip"),
        None,
    )
    .unwrap();
    let note = &a.objects.iter().find(|(k, _)| k == "note").unwrap().1;
    let text = dl4j::bytes::decode_modified_utf8(&note[7..]).unwrap();
    assert_eq!(
        text,
        "exported from the fraud-scoring pipeline, build 4711 éè"
    );
}

#[test]
fn inspect_shows_normalizer_type() {
    let out = dl4j(&[
        OsStr::new("inspect"),
        fixture("dl4j/augmented/iris_standardize_0.9.1.zip").as_os_str(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("STANDARDIZE"), "{text}");
    let out = dl4j(&[
        OsStr::new("inspect"),
        OsStr::new("--json"),
        fixture("dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip").as_os_str(),
    ]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["normalizer"]["type"], "MIN_MAX");
    let names: Vec<&str> = r["normalizer"]["arrays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["feature_min", "feature_max", "label_min", "label_max"]
    );
}
