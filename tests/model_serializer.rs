//! DL4J's ModelSerializer operations on the real fixtures: restore by kind, write with or
//! without updater and normalizer, normalizer and object edits in place, taskByModel.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::{dl4j, fixture, zip_entries, MODELS};
use dl4j::serializer::{self, ArchitectureType, NetworkType, Source};
use dl4j::Normalizer;

/// `ObjectOutputStream.writeObject("hi")`.
const HI: &[u8] = &[0xAC, 0xED, 0x00, 0x05, 0x74, 0x00, 0x02, b'h', b'i'];

fn copy_to(dir: &Path, rel: &str) -> PathBuf {
    let p = dir.join(Path::new(rel).file_name().unwrap());
    std::fs::copy(fixture(rel), &p).unwrap();
    p
}

/// `after` holds every entry of `before`, byte for byte, in the same relative order.
fn assert_kept(before: &[(String, Vec<u8>)], after: &[(String, Vec<u8>)], except: &[&str]) {
    let kept: Vec<&(String, Vec<u8>)> = after
        .iter()
        .filter(|(n, _)| before.iter().any(|(b, _)| b == n))
        .collect();
    let expected: Vec<&(String, Vec<u8>)> = before
        .iter()
        .filter(|(n, _)| !except.contains(&n.as_str()))
        .collect();
    let kept: Vec<&(String, Vec<u8>)> = kept
        .into_iter()
        .filter(|(n, _)| !except.contains(&n.as_str()))
        .collect();
    assert_eq!(kept.len(), expected.len());
    for (a, b) in kept.iter().zip(&expected) {
        assert_eq!(a.0, b.0, "entry order");
        assert!(a.1 == b.1, "entry {} changed", a.0);
    }
}

#[test]
fn adding_an_object_keeps_every_other_entry_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    for (rel, _) in MODELS {
        let p = copy_to(dir.path(), rel);
        let before = zip_entries(&p);
        serializer::add_object_to_file(&p, "migration-note", HI, false).unwrap();
        let after = zip_entries(&p);
        assert_eq!(after.len(), before.len() + 1, "{rel}");
        assert_kept(&before, &after, &[]);
        let got = serializer::get_object_from_file(p.as_path(), "migration-note").unwrap();
        assert_eq!(got, HI, "{rel}");
        // Objects come after the model entries and any earlier objects.
        let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
        let at = names
            .iter()
            .position(|n| *n == "objects/migration-note")
            .unwrap();
        assert!(
            names[..at].contains(&"coefficients.bin"),
            "{rel}: {names:?}"
        );
        // The model still reads, and holds the same thing plus the object.
        let (a, _) = dl4j::open(fixture(rel), None).unwrap();
        let (b, _) = dl4j::open(&p, None).unwrap();
        assert_eq!(b.objects.last().unwrap().0, "migration-note");
        let mut b = b;
        b.objects.pop();
        a.same_as(&b).unwrap_or_else(|e| panic!("{rel}: {e}"));
        std::fs::remove_file(&p).unwrap();
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary files left"
    );
}

#[test]
fn objects_are_listed_replaced_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_to(dir.path(), "dl4j/augmented/mnist_imageminmax_objects.zip");
    let before = zip_entries(&p);
    assert_eq!(
        serializer::list_objects_in_file(p.as_path()).unwrap(),
        ["labels", "meta"]
    );

    // An existing key needs an explicit replace, which keeps the entry where it was.
    let e = serializer::add_object_to_file(&p, "labels", HI, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("labels") && e.contains("exists"), "{e}");
    assert_eq!(
        zip_entries(&p),
        before,
        "a refused edit leaves the file as it was"
    );
    serializer::add_object_to_file(&p, "labels", HI, true).unwrap();
    assert_eq!(
        serializer::list_objects_in_file(p.as_path()).unwrap(),
        ["labels", "meta"]
    );
    assert_eq!(
        serializer::get_object_from_file(p.as_path(), "labels").unwrap(),
        HI
    );

    serializer::remove_object_from_file(&p, "labels").unwrap();
    assert_eq!(
        serializer::list_objects_in_file(p.as_path()).unwrap(),
        ["meta"]
    );
    assert_kept(&before, &zip_entries(&p), &["objects/labels"]);
    let e = serializer::remove_object_from_file(&p, "labels")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no object with key \"labels\""), "{e}");
    let e = serializer::get_object_from_file(p.as_path(), "nope")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no object with key"), "{e}");
}

#[test]
fn reserved_object_keys_are_refused_case_insensitively() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_to(
        dir.path(),
        "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
    );
    let before = std::fs::read(&p).unwrap();
    for key in [
        "configuration.json",
        "Coefficients.BIN",
        "NOPARAMS.MARKER",
        "updaterstate.bin",
        "Normalizer.bin",
        "preprocessor.bin",
        "",
    ] {
        let e = serializer::add_object_to_file(&p, key, HI, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("reserved") || e.contains("invalid"),
            "{key}: {e}"
        );
    }
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn normalizers_are_replaced_restored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    for rel in [
        "dl4j/augmented/iris_standardize_0.9.1.zip",
        "dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip",
        "dl4j/augmented/mnist_imageminmax_objects.zip",
        "dl4j/augmented/syntheticcnn_custom_norm_objects_100b4.zip",
    ] {
        let p = copy_to(dir.path(), rel);
        let before = zip_entries(&p);
        let original = serializer::restore_normalizer(p.as_path())
            .unwrap()
            .unwrap();

        // Replace with a MIN_MAX described in JSON, in the model's own array encoding.
        let entries = serializer::read_entries(&std::fs::read(&p).unwrap()).unwrap();
        let enc = serializer::model_encoding(&entries).unwrap();
        let desc = serde_json::json!({"type": "MIN_MAX", "min": [-1.0, 0.5], "max": [2.0, 4.0], "target_min": -1.0});
        let n = Normalizer::from_json(&desc, enc).unwrap();
        serializer::add_normalizer_to_model(&p, &n).unwrap();
        let after = zip_entries(&p);
        assert_kept(&before, &after, &["normalizer.bin"]);
        assert_eq!(after.len(), before.len());
        let back = serializer::restore_normalizer(p.as_path())
            .unwrap()
            .unwrap();
        let Normalizer::MinMax {
            target_min,
            target_max,
            features,
            labels,
        } = &back
        else {
            panic!("{rel}: expected MIN_MAX");
        };
        assert_eq!((*target_min, *target_max), (-1.0, 1.0));
        assert_eq!(features.first.tensor.to_f64_vec(), [-1.0, 0.5]);
        assert_eq!(features.second.tensor.to_f64_vec(), [2.0, 4.0]);
        assert_eq!(features.first.encoding(), enc, "{rel}");
        assert!(labels.is_none());

        // Put the original back: the file holds exactly its old normalizer.bin bytes again.
        serializer::add_normalizer_to_model(&p, &original).unwrap();
        let restored = zip_entries(&p);
        let old = &before
            .iter()
            .find(|(n, _)| n == "normalizer.bin")
            .unwrap()
            .1;
        assert_eq!(
            &restored
                .iter()
                .find(|(n, _)| n == "normalizer.bin")
                .unwrap()
                .1,
            old,
            "{rel}"
        );

        assert!(serializer::remove_normalizer_from_model(&p).unwrap());
        assert!(serializer::restore_normalizer(p.as_path())
            .unwrap()
            .is_none());
        assert!(!serializer::remove_normalizer_from_model(&p).unwrap());
        assert_kept(&before, &zip_entries(&p), &["normalizer.bin"]);
    }
}

#[test]
fn a_normalizer_is_added_to_a_model_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_to(
        dir.path(),
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip",
    );
    let before = zip_entries(&p);
    let n = Normalizer::from_json(
        &serde_json::json!({"type": "STANDARDIZE", "mean": [0.5, 0.25], "std": [1.0, 2.0]}),
        dl4j::Encoding::Modern,
    )
    .unwrap();
    serializer::add_normalizer_to_model(&p, &n).unwrap();
    let after = zip_entries(&p);
    let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "configuration.json",
            "coefficients.bin",
            "updaterState.bin",
            "normalizer.bin"
        ]
    );
    assert_kept(&before, &after, &[]);
    let (a, _) = dl4j::open(&p, None).unwrap();
    assert!(a.normalizer.unwrap().same_as(&n));
}

#[test]
fn restoring_the_wrong_kind_says_which_kind_the_file_holds() {
    let mln = fixture("dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip");
    let cg = fixture("dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin");
    let e = serializer::restore_computation_graph(mln.as_path(), true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("holds a MultiLayerNetwork") && e.contains("restore_multi_layer_network"),
        "{e}"
    );
    assert!(
        e.contains("050_ModelSerializer_Regression_MLP_1.zip"),
        "names the file: {e}"
    );
    let e = serializer::restore_multi_layer_network(cg.as_path(), true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("holds a ComputationGraph") && e.contains("restore_computation_graph"),
        "{e}"
    );
    assert!(serializer::restore_multi_layer_network(mln.as_path(), true).is_ok());
    assert!(serializer::restore_computation_graph(cg.as_path(), true).is_ok());
}

#[test]
fn restore_from_path_bytes_and_stream_with_or_without_updater() {
    let p = fixture("dl4j/0.8.0/080_ModelSerializer_Regression_LSTM_1.zip");
    let bytes = std::fs::read(&p).unwrap();
    let from_path = serializer::restore_multi_layer_network(p.as_path(), true).unwrap();
    let from_bytes = serializer::restore_multi_layer_network(&bytes, true).unwrap();
    let from_stream =
        serializer::restore_multi_layer_network(Source::reader(std::io::Cursor::new(&bytes)), true)
            .unwrap();
    from_path.same_as(&from_bytes).unwrap();
    from_path.same_as(&from_stream).unwrap();
    assert!(from_path.updater_state.is_some());
    let no_updater = serializer::restore_multi_layer_network(&bytes, false).unwrap();
    assert!(no_updater.updater_state.is_none());
    assert!(from_path.params.bit_eq(&no_updater.params));
    let e = serializer::restore_model(Source::reader(std::io::empty()), true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn write_model_with_and_without_updater_and_normalizer() {
    let dir = tempfile::tempdir().unwrap();
    let a = serializer::restore_model(
        fixture("dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip").as_path(),
        true,
    )
    .unwrap();
    let iris = serializer::restore_normalizer(
        fixture("dl4j/augmented/iris_standardize_0.9.1.zip").as_path(),
    )
    .unwrap()
    .unwrap();

    let p = dir.path().join("no_updater.zip");
    serializer::write_model_file(&a, &p, false, None).unwrap();
    let names: Vec<String> = zip_entries(&p).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["configuration.json", "coefficients.bin", "normalizer.bin"]
    );

    let p = dir.path().join("other_normalizer.zip");
    let mut buf = Vec::new();
    serializer::write_model(&a, &mut buf, true, Some(&iris)).unwrap();
    std::fs::write(&p, &buf).unwrap();
    let b = serializer::restore_model(p.as_path(), true).unwrap();
    assert!(b.normalizer.as_ref().unwrap().same_as(&iris));
    assert!(b
        .updater_state
        .as_ref()
        .unwrap()
        .bit_eq(a.updater_state.as_ref().unwrap()));
}

#[test]
fn task_by_model_follows_dl4j_rules() {
    let cases = [
        // DL4J starts from RECURRENT and keeps it when no layer is convolutional or recurrent.
        ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip", NetworkType::MultilayerNetwork, ArchitectureType::Recurrent),
        ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/LenetMnist/Model_RANDOM_INIT_UNTRAINED.zip", NetworkType::MultilayerNetwork, ArchitectureType::Convolution),
        ("dl4j/0.5.0/050_ModelSerializer_Regression_CNN_1.zip", NetworkType::MultilayerNetwork, ArchitectureType::Convolution),
        ("dl4j/1.0.0-alpha/GravesLSTMCharModelingExample_100a.bin", NetworkType::MultilayerNetwork, ArchitectureType::Recurrent),
        ("dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin", NetworkType::ComputationalGraph, ArchitectureType::Recurrent),
        ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/CNN1dCharacterTestCase/Model_RANDOM_INIT_UNTRAINED.zip", NetworkType::ComputationalGraph, ArchitectureType::Convolution),
        ("dl4j/0.7.1/071_ModelSerializer_Regression_CG_LSTM_1.zip", NetworkType::ComputationalGraph, ArchitectureType::Recurrent),
    ];
    for (rel, net, arch) in cases {
        let a = serializer::restore_model(fixture(rel).as_path(), false).unwrap();
        let t = serializer::task_by_model(&a.config);
        assert_eq!((t.network_type, t.architecture_type), (net, arch), "{rel}");
    }
    // The first convolutional or recurrent layer decides: a conv before an LSTM gives
    // CONVOLUTION, as in DL4J.
    let cfg = dl4j::Configuration::parse(
        r#"{"confs": [
            {"layer": {"@class": "org.deeplearning4j.nn.conf.layers.DenseLayer", "nin": 1, "nout": 1}},
            {"layer": {"@class": "org.deeplearning4j.nn.conf.layers.ConvolutionLayer", "nin": 1, "nout": 1, "kernelSize": [1, 1]}},
            {"layer": {"@class": "org.deeplearning4j.nn.conf.layers.LSTM", "nin": 1, "nout": 1}}
        ]}"#,
    )
    .unwrap();
    assert_eq!(
        serializer::task_by_model(&cfg).architecture_type,
        ArchitectureType::Convolution
    );
}

#[test]
fn inspect_shows_task_seed_and_dropout() {
    let run = |rel: &str| -> serde_json::Value {
        let out = dl4j(&[
            OsStr::new("inspect"),
            OsStr::new("--json"),
            fixture(rel).as_os_str(),
        ]);
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let r = run("dl4j/0.6.0/060_ModelSerializer_Regression_LSTM_1.zip");
    assert_eq!(r["task"]["network_type"], "MultilayerNetwork");
    assert_eq!(r["task"]["architecture_type"], "RECURRENT");
    assert_eq!(r["seed"], 12345);
    // Legacy dropOut 0.6 (a retain probability) on every layer.
    assert_eq!(r["dropout"], true);
    assert_eq!(r["dropout_layers"], serde_json::json!(["0", "1", "2"]));
    let r = run("dl4j/1.0.0-beta5-era/mnist-model.zip");
    assert_eq!(r["dropout"], false);
    assert_eq!(r["seed"], 1234);
    let r = run("dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin");
    assert_eq!(r["task"]["network_type"], "ComputationalGraph");
    assert_eq!(r["seed"], 12345);
}

#[test]
fn cli_convert_without_updater_and_normalizer_commands() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("dl4j/augmented/mlp_minmax_fitlabel_0.8.0.zip");
    let out = dir.path().join("lean.zip");
    let r = dl4j(&[
        OsStr::new("convert"),
        src.as_os_str(),
        out.as_os_str(),
        OsStr::new("--no-updater"),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let names: Vec<String> = zip_entries(&out).into_iter().map(|(n, _)| n).collect();
    assert!(!names.contains(&"updaterState.bin".to_string()));
    assert!(names.contains(&"normalizer.bin".to_string()));

    // normalizer show --json gives the description `set` reads back to the same bytes.
    let shown = dl4j(&[
        OsStr::new("normalizer"),
        OsStr::new("show"),
        OsStr::new("--json"),
        src.as_os_str(),
    ]);
    assert!(shown.status.success());
    let desc_path = dir.path().join("norm.json");
    std::fs::write(&desc_path, &shown.stdout).unwrap();
    let desc: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(desc["type"], "MIN_MAX");
    assert_eq!(desc["min"], serde_json::json!([-3.0, -2.5, -2.0]));
    assert_eq!(
        desc["label_max"],
        serde_json::json!([1.0, 1.0, 1.0, 1.0, 1.0])
    );
    let r = dl4j(&[
        OsStr::new("normalizer"),
        OsStr::new("remove"),
        out.as_os_str(),
    ]);
    assert!(r.status.success());
    let r = dl4j(&[
        OsStr::new("normalizer"),
        OsStr::new("show"),
        out.as_os_str(),
    ]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("no normalizer"));
    let r = dl4j(&[
        OsStr::new("normalizer"),
        OsStr::new("set"),
        out.as_os_str(),
        desc_path.as_os_str(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let original = zip_entries(&src)
        .into_iter()
        .find(|(n, _)| n == "normalizer.bin")
        .unwrap()
        .1;
    let now = zip_entries(&out)
        .into_iter()
        .find(|(n, _)| n == "normalizer.bin")
        .unwrap()
        .1;
    assert_eq!(
        now, original,
        "JSON description round-trips to DL4J's exact bytes"
    );

    // A normalizer.bin file works as well; garbage is refused with the file named.
    let bin = dir.path().join("n.bin");
    let iris = zip_entries(&fixture("dl4j/augmented/iris_standardize_0.9.1.zip"));
    std::fs::write(
        &bin,
        &iris.iter().find(|(n, _)| n == "normalizer.bin").unwrap().1,
    )
    .unwrap();
    let r = dl4j(&[
        OsStr::new("normalizer"),
        OsStr::new("set"),
        out.as_os_str(),
        bin.as_os_str(),
    ]);
    assert!(r.status.success());
    std::fs::write(&bin, b"junk").unwrap();
    let before = std::fs::read(&out).unwrap();
    let r = dl4j(&[
        OsStr::new("normalizer"),
        OsStr::new("set"),
        out.as_os_str(),
        bin.as_os_str(),
    ]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("n.bin"));
    assert_eq!(std::fs::read(&out).unwrap(), before);
}

#[test]
fn cli_objects_list_get_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let model = copy_to(
        dir.path(),
        "dl4j/augmented/syntheticcnn_custom_norm_objects_100b4.zip",
    );
    let run = |args: &[&OsStr]| {
        let out = dl4j(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let listing = String::from_utf8(run(&[
        OsStr::new("objects"),
        OsStr::new("list"),
        model.as_os_str(),
    ]))
    .unwrap();
    assert_eq!(listing, "shape\tint[]\t39\nnote\tjava.lang.String\t64\n");

    // Raw bytes to stdout and to a file are the entry, byte for byte.
    let entry = zip_entries(&model)
        .into_iter()
        .find(|(n, _)| n == "objects/note")
        .unwrap()
        .1;
    let stdout = run(&[
        OsStr::new("objects"),
        OsStr::new("get"),
        model.as_os_str(),
        OsStr::new("note"),
    ]);
    assert_eq!(stdout, entry);
    let out = dir.path().join("note.ser");
    run(&[
        OsStr::new("objects"),
        OsStr::new("get"),
        model.as_os_str(),
        OsStr::new("note"),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), entry);
    let again = dl4j(&[
        OsStr::new("objects"),
        OsStr::new("get"),
        model.as_os_str(),
        OsStr::new("note"),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    assert!(!again.status.success(), "an existing --out needs --force");

    let before = zip_entries(&model);
    run(&[
        OsStr::new("objects"),
        OsStr::new("remove"),
        model.as_os_str(),
        OsStr::new("shape"),
    ]);
    assert_kept(&before, &zip_entries(&model), &["objects/shape"]);
    let listing = String::from_utf8(run(&[
        OsStr::new("objects"),
        OsStr::new("list"),
        model.as_os_str(),
    ]))
    .unwrap();
    assert_eq!(listing, "note\tjava.lang.String\t64\n");
    let missing = dl4j(&[
        OsStr::new("objects"),
        OsStr::new("remove"),
        model.as_os_str(),
        OsStr::new("shape"),
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no object with key \"shape\""));

    // Reserved keys are refused from the command line too, leaving the file alone.
    let before = std::fs::read(&model).unwrap();
    let r = dl4j(&[
        OsStr::new("objects"),
        OsStr::new("add"),
        model.as_os_str(),
        OsStr::new("NORMALIZER.BIN"),
        OsStr::new("--string"),
        OsStr::new("x"),
    ]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("reserved"));
    assert_eq!(std::fs::read(&model).unwrap(), before);
}
