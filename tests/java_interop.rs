//! Java itself reads what `dl4j::java_serial` writes, and prints what `java_serial::display` prints.
//!
//! `tests/java/PrintObjects.java` is compiled with `javac` and run with `java` (from `$JAVA_HOME`
//! when set, else from `PATH`). Without a JDK these tests fail: CI installs one.
//!
//! Expected texts are written out by hand here (the format is documented in
//! `crates/core/src/java_serial/display.rs` and in `PrintObjects.java`). Doubles are chosen so
//! that every JDK prints them alike (JDK 17's `Double.toString` is not always the shortest).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use common::{fixture, jdk_tool};
use dl4j::java_serial::{self, JavaValue};

/// Compiles PrintObjects.java once; the directory holding `PrintObjects.class`.
fn classes() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/PrintObjects.java");
        let javac = jdk_tool("javac");
        let out = Command::new(&javac)
            .arg("-d")
            .arg(dir.path())
            .arg(&src)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): these tests need a JDK (javac and java on PATH or in \
                     $JAVA_HOME/bin); install one, e.g. `apt-get install openjdk-17-jdk-headless`",
                    javac.display()
                )
            });
        assert!(
            out.status.success(),
            "javac failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

/// Runs PrintObjects on the zips: entry name -> Java's display line.
fn java_print(zips: &[&Path]) -> BTreeMap<String, String> {
    let out = Command::new(jdk_tool("java"))
        .arg("-cp")
        .arg(classes())
        .arg("PrintObjects")
        .args(zips)
        .output()
        .expect("run java");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    assert!(
        out.status.success(),
        "PrintObjects failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = BTreeMap::new();
    for line in stdout.lines() {
        let (name, text) = line.split_once('\t').expect("name TAB text");
        assert!(
            lines.insert(name.to_string(), text.to_string()).is_none(),
            "{name} twice"
        );
    }
    lines
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|x| x.to_string()).collect()
}

fn pairs(xs: &[(&str, &str)]) -> Vec<(String, String)> {
    xs.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// (key, value, the text Java prints for it)
fn written_objects() -> Vec<(&'static str, JavaValue, String)> {
    use JavaValue as J;
    // Sixteen keys of one hashCode: a red-black tree bin in the HashMap.
    let colliding: Vec<String> = (0..16)
        .map(|i: u32| {
            (0..4)
                .map(|b| if (i >> (3 - b)) & 1 == 0 { "Aa" } else { "BB" })
                .collect()
        })
        .collect();
    let colliding_text = format!(
        "{{{}}}",
        colliding
            .iter()
            .map(|k| format!("\"{k}\"=\"{}\"", k.len()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Inserted in reverse so that the stream order is not the sorted order.
    let mut colliding_pairs: Vec<(String, String)> = colliding
        .iter()
        .map(|k| (k.clone(), k.len().to_string()))
        .collect();
    colliding_pairs.reverse();
    let big_pairs: Vec<(String, String)> = (0..40)
        .rev()
        .map(|i| (format!("k{i:02}"), format!("v{i}")))
        .collect();
    let big_text = format!(
        "{{{}}}",
        (0..40)
            .map(|i| format!("\"k{i:02}\"=\"v{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    vec![
        ("string_empty", J::String("".into()), r#""""#.into()),
        (
            "string_awkward",
            J::String("tab\t \"q\" back\\slash nul\0 é€😀 del\u{7f} nel\u{85} nbsp\u{a0}".into()),
            r#""tab\u0009 \"q\" back\\slash nul\u0000 é€😀 del\u007f nel\u0085 nbsp"#.to_string()
                + "\u{a0}\"",
        ),
        (
            "string_long",
            J::String(format!("{}end", "ü".repeat(40_000))),
            format!("\"{}end\"", "ü".repeat(40_000)),
        ),
        ("int_min", J::Integer(i32::MIN), "-2147483648".into()),
        ("int_max", J::Integer(i32::MAX), "2147483647".into()),
        ("int_negative", J::Integer(-42), "-42".into()),
        ("long_min", J::Long(i64::MIN), "-9223372036854775808".into()),
        ("long_max", J::Long(i64::MAX), "9223372036854775807".into()),
        ("double_nan", J::Double(f64::NAN), "NaN".into()),
        ("double_small", J::Double(1e-8), "1.0E-8".into()),
        ("double_twelve", J::Double(12.0), "12.0".into()),
        ("double_negative_zero", J::Double(-0.0), "-0.0".into()),
        (
            "double_minus_infinity",
            J::Double(f64::NEG_INFINITY),
            "-Infinity".into(),
        ),
        ("double_accuracy", J::Double(0.9912), "0.9912".into()),
        ("double_large", J::Double(1e7), "1.0E7".into()),
        (
            "double_below_1e7",
            J::Double(9_999_999.5),
            "9999999.5".into(),
        ),
        (
            "double_max",
            J::Double(f64::MAX),
            "1.7976931348623157E308".into(),
        ),
        ("double_min", J::Double(5e-324), "4.9E-324".into()),
        ("bool_true", J::Boolean(true), "true".into()),
        ("bool_false", J::Boolean(false), "false".into()),
        (
            "string_array",
            J::StringArray(strings(&["", "a, b", "ü\0", "x"])),
            r#"["", "a, b", "ü\u0000", "x"]"#.into(),
        ),
        ("string_array_empty", J::StringArray(vec![]), "[]".into()),
        (
            "int_array",
            J::IntArray(vec![i32::MIN, -1, 0, 1, i32::MAX]),
            "[-2147483648, -1, 0, 1, 2147483647]".into(),
        ),
        ("int_array_empty", J::IntArray(vec![]), "[]".into()),
        (
            "double_array",
            J::DoubleArray(vec![f64::NAN, -0.0, 1e-8, 12.0, 0.1, -2.5e300]),
            "[NaN, -0.0, 1.0E-8, 12.0, 0.1, -2.5E300]".into(),
        ),
        (
            "list",
            J::StringList(strings(&["zero", "", "é😀", "zero"])),
            r#"["zero", "", "é😀", "zero"]"#.into(),
        ),
        ("list_empty", J::StringList(vec![]), "[]".into()),
        (
            "map",
            J::StringMap(pairs(&[
                ("lr", "0.01"),
                ("", "empty key"),
                ("b", ""),
                ("é", "\t"),
                ("a", "1"),
            ])),
            r#"{""="empty key", "a"="1", "b"="", "lr"="0.01", "é"="\u0009"}"#.into(),
        ),
        ("map_empty", J::StringMap(vec![]), "{}".into()),
        (
            "map_repeated_key",
            J::StringMap(pairs(&[("x", "1"), ("y", "2"), ("x", "3")])),
            r#"{"x"="3", "y"="2"}"#.into(),
        ),
        ("map_40", J::StringMap(big_pairs), big_text),
        (
            "map_colliding",
            J::StringMap(colliding_pairs),
            colliding_text,
        ),
    ]
}

#[test]
fn java_reads_every_written_type() {
    let (mut archive, _) = dl4j::open(
        fixture("dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip"),
        None,
    )
    .unwrap();
    let objects = written_objects();
    archive.objects.clear();
    for (key, v, _) in &objects {
        archive
            .objects
            .push((key.to_string(), java_serial::serialize(v)));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("with_objects.zip");
    dl4j::save(&archive, &path, None, &Default::default(), false).unwrap();

    let java = java_print(&[&path]);
    assert_eq!(java.len(), objects.len(), "{java:#?}");
    for ((key, v, want), (_, bytes)) in objects.iter().zip(&archive.objects) {
        let line = &java[&format!("objects/{key}")];
        assert_eq!(line, want, "{key}: Java printed the value written");
        let ours = java_serial::display(bytes).unwrap();
        assert_eq!(&ours, line, "{key}: display() equals Java's line");
        let class = java_serial::class_name(bytes).unwrap();
        let want_class = match v {
            JavaValue::String(_) => "java.lang.String",
            JavaValue::Integer(_) => "java.lang.Integer",
            JavaValue::Long(_) => "java.lang.Long",
            JavaValue::Double(_) => "java.lang.Double",
            JavaValue::Boolean(_) => "java.lang.Boolean",
            JavaValue::StringArray(_) => "java.lang.String[]",
            JavaValue::IntArray(_) => "int[]",
            JavaValue::DoubleArray(_) => "double[]",
            JavaValue::StringList(_) => "java.util.ArrayList",
            JavaValue::StringMap(_) => "java.util.HashMap",
        };
        assert_eq!(class, want_class, "{key}");
    }
    // And the file keeps them byte for byte.
    let (back, _) = dl4j::open(&path, None).unwrap();
    assert_eq!(back.objects, archive.objects);
}

#[test]
fn fixture_objects_display_as_java_prints_them() {
    let zips = [
        fixture("dl4j/augmented/mnist_imageminmax_objects.zip"),
        fixture("dl4j/augmented/syntheticcnn_custom_norm_objects_100b4.zip"),
    ];
    let java = java_print(&[&zips[0], &zips[1]]);
    let want: BTreeMap<String, String> = [
        (
            "objects/labels",
            r#"["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]"#,
        ),
        (
            "objects/meta",
            r#"{"epochs"=12, "accuracy"=0.9912, "dataset"="MNIST", "trainedOn"=Date(1577836800000)}"#,
        ),
        ("objects/shape", "[1, 28, 28]"),
        (
            "objects/note",
            r#""exported from the fraud-scoring pipeline, build 4711 éè""#,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(java, want, "Java's lines");

    let mut ours = BTreeMap::new();
    for zip in &zips {
        let (archive, _) = dl4j::open(zip, None).unwrap();
        for (key, bytes) in &archive.objects {
            ours.insert(
                format!("objects/{key}"),
                java_serial::display(bytes).unwrap(),
            );
        }
    }
    assert_eq!(ours, java, "display() of every fixture object");
}

/// `dl4j objects get --decode` prints one line.
fn cli_decode(model: &Path, key: &str) -> String {
    let out = common::dl4j(&[
        OsStr::new("objects"),
        OsStr::new("get"),
        model.as_os_str(),
        OsStr::new(key),
        OsStr::new("--decode"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end_matches('\n')
        .to_string()
}

#[test]
fn objects_added_from_the_command_line_read_back_in_java() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.zip");
    std::fs::copy(
        fixture("dl4j/augmented/mnist_imageminmax_objects.zip"),
        &model,
    )
    .unwrap();
    let adds: &[(&str, &[&str], &str)] = &[
        ("name", &["--string", "résumé \"v2\""], r#""résumé \"v2\"""#),
        (
            "classes",
            &["--strings", "cat,dog,"],
            r#"["cat", "dog", ""]"#,
        ),
        ("epochs", &["--int", "-7"], "-7"),
        ("steps", &["--long", "9000000000"], "9000000000"),
        ("lr", &["--double", "1e-8"], "1.0E-8"),
        ("frozen", &["--bool", "true"], "true"),
        ("dims", &["--ints", "1,28,28"], "[1, 28, 28]"),
        ("weights", &["--doubles", "0.5,-2"], "[0.5, -2.0]"),
        ("names", &["--string-array", "a,b"], r#"["a", "b"]"#),
        (
            "meta2",
            &["--json", r#"{"b":"2","a":"1"}"#],
            r#"{"a"="1", "b"="2"}"#,
        ),
    ];
    for (key, args, _) in adds {
        let mut a: Vec<&OsStr> = vec![
            OsStr::new("objects"),
            OsStr::new("add"),
            model.as_os_str(),
            OsStr::new(key),
        ];
        a.extend(args.iter().map(OsStr::new));
        let out = common::dl4j(&a);
        assert!(
            out.status.success(),
            "{key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // --raw takes a stream written elsewhere, byte for byte.
    let raw = dir.path().join("labels.ser");
    std::fs::write(
        &raw,
        dl4j::serializer::get_object_from_file(model.as_path(), "labels").unwrap(),
    )
    .unwrap();
    let out = common::dl4j(&[
        OsStr::new("objects"),
        OsStr::new("add"),
        model.as_os_str(),
        OsStr::new("labels-copy"),
        OsStr::new("--raw"),
        raw.as_os_str(),
    ]);
    assert!(out.status.success());
    std::fs::write(&raw, b"not java").unwrap();
    let out = common::dl4j(&[
        OsStr::new("objects"),
        OsStr::new("add"),
        model.as_os_str(),
        OsStr::new("junk"),
        OsStr::new("--raw"),
        raw.as_os_str(),
    ]);
    assert!(!out.status.success());

    let java = java_print(&[&model]);
    for (key, _, want) in adds {
        assert_eq!(
            &java[&format!("objects/{key}")],
            want,
            "{key}: Java reads what the CLI wrote"
        );
        assert_eq!(
            &cli_decode(&model, key),
            want,
            "{key}: --decode agrees with Java"
        );
    }
    for key in ["labels", "meta", "labels-copy"] {
        assert_eq!(
            cli_decode(&model, key),
            java[&format!("objects/{key}")],
            "{key}"
        );
    }
    assert_eq!(java["objects/labels-copy"], java["objects/labels"]);
    assert!(!java.contains_key("objects/junk"));
}
