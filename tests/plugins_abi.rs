//! Plugins loaded at run time: broken plugins (panicking, wrong ABI version, no entry symbol,
//! clashing id) give one clear error line and exit code 1, never a crash; `DL4J_PLUGIN_PATH`
//! and the per-user folder are honoured. The test plugins live in `tests/plugins/*` and are
//! built here with cargo.

mod common;
#[path = "plugins/support.rs"]
mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use common::fixture;
use support::build_plugin;

/// Runs `dl4j` with a clean plugin environment: no `DL4J_PLUGIN_PATH` unless given, and
/// `XDG_DATA_HOME` set to `xdg` (an empty folder unless the test fills it).
/// `dl4j plugins --plugin LIB`, with `xdg` as the per-user data folder.
fn list_with(lib: &Path, xdg: &Path) -> Output {
    run(
        &[
            OsStr::new("plugins"),
            OsStr::new("--plugin"),
            lib.as_os_str(),
        ],
        xdg,
        None,
    )
}

fn run(args: &[&OsStr], xdg: &Path, plugin_path: Option<&OsStr>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dl4j"));
    c.args(args)
        .env("XDG_DATA_HOME", xdg)
        .env_remove("DL4J_PLUGIN_PATH")
        .env("RUST_BACKTRACE", "0");
    if let Some(p) = plugin_path {
        c.env("DL4J_PLUGIN_PATH", p);
    }
    c.output().expect("run dl4j")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit code 1 (not a signal, not a panic of the host) and one `dl4j: error:` line that
/// contains every one of `needles`.
fn assert_clean_failure(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "status {:?}; stderr: {err}",
        o.status
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("dl4j: error: "))
        .unwrap_or_else(|| panic!("no error line in: {err}"));
    for n in needles {
        assert!(line.contains(n), "{n:?} not in {line:?}");
    }
}

#[test]
fn a_panicking_plugin_is_an_error_not_a_crash() {
    let lib = build_plugin("dl4j-test-plugin-panic");
    let dir = tempfile::tempdir().unwrap();
    let xdg = dir.path().join("xdg");
    // Detected by the plugin's own detect (magic bytes), whatever the extension.
    let input = dir.path().join("input.bin");
    std::fs::write(&input, b"PANIC! and then some").unwrap();
    let o = run(
        &[
            OsStr::new("inspect"),
            input.as_os_str(),
            OsStr::new("--plugin"),
            lib.as_os_str(),
        ],
        &xdg,
        None,
    );
    assert_clean_failure(
        &o,
        &[
            "input.bin",
            "panicked",
            "the panic test plugin always panics in read",
        ],
    );

    // Writing: the writer panics, no output is left behind.
    let out = dir.path().join("out.panicky");
    let model = fixture("dl4j/0.9.1/trained_iris_model.zip");
    let o = run(
        &[
            OsStr::new("--plugin"),
            lib.as_os_str(),
            OsStr::new("convert"),
            model.as_os_str(),
            out.as_os_str(),
        ],
        &xdg,
        None,
    );
    assert_clean_failure(
        &o,
        &[
            "out.panicky",
            "the panic test plugin always panics in write",
        ],
    );
    assert!(!out.exists());
}

#[test]
fn a_plugin_for_another_abi_version_is_refused() {
    let lib = build_plugin("dl4j-test-plugin-wrong-abi");
    let dir = tempfile::tempdir().unwrap();
    let o = list_with(&lib, dir.path());
    assert_clean_failure(
        &o,
        &["libdl4j_test_plugin_wrong_abi", "version 999", "speaks 1"],
    );
}

#[test]
fn a_library_without_the_entry_symbol_is_refused() {
    let lib = build_plugin("dl4j-test-plugin-no-entry");
    let dir = tempfile::tempdir().unwrap();
    let o = list_with(&lib, dir.path());
    assert_clean_failure(
        &o,
        &[
            "libdl4j_test_plugin_no_entry",
            dl4j_plugin_abi::ENTRY_SYMBOL,
            "not a dl4j plugin",
        ],
    );
}

#[test]
fn a_plugin_claiming_a_built_in_id_is_refused() {
    let lib = build_plugin("dl4j-test-plugin-clash");
    let dir = tempfile::tempdir().unwrap();
    let o = list_with(&lib, dir.path());
    assert_clean_failure(
        &o,
        &[
            "libdl4j_test_plugin_clash",
            "\"dl4j\"",
            "clash-test",
            "built-in",
        ],
    );
}

#[test]
fn missing_and_non_library_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.so");
    let o = run(
        &[
            OsStr::new("plugins"),
            OsStr::new("--plugin"),
            missing.as_os_str(),
        ],
        dir.path(),
        None,
    );
    assert_clean_failure(&o, &["nope.so"]);
    let junk = dir.path().join("junk.so");
    std::fs::write(&junk, b"not an ELF file").unwrap();
    let o = run(
        &[
            OsStr::new("plugins"),
            OsStr::new("--plugin"),
            junk.as_os_str(),
        ],
        dir.path(),
        None,
    );
    assert_clean_failure(&o, &["junk.so", "cannot load"]);
}

#[test]
fn plugin_option_goes_before_or_after_the_subcommand() {
    let lib = build_plugin("dl4j-test-plugin-panic");
    let dir = tempfile::tempdir().unwrap();
    for args in [
        [
            OsStr::new("--plugin"),
            lib.as_os_str(),
            OsStr::new("plugins"),
        ],
        [
            OsStr::new("plugins"),
            OsStr::new("--plugin"),
            lib.as_os_str(),
        ],
    ] {
        let o = run(&args, dir.path(), None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let text = stdout(&o);
        let line = text
            .lines()
            .find(|l| l.starts_with("panicky "))
            .unwrap_or_else(|| panic!("panicky not listed:\n{text}"));
        assert!(line.contains("plugin") && line.contains("yes"), "{line}");
        assert!(text.contains("from panic-test 0.1.0"), "{text}");
        assert!(text.contains("\"PANIC!\" at 0"), "{text}");
        let native = text.lines().find(|l| l.starts_with("dl4j ")).unwrap();
        assert!(native.contains("built-in"), "{native}");
    }
}

#[test]
fn dl4j_plugin_path_is_honoured() {
    let panic = build_plugin("dl4j-test-plugin-panic");
    let no_entry = build_plugin("dl4j-test-plugin-no-entry");
    let dir = tempfile::tempdir().unwrap();
    let xdg = dir.path().join("xdg");
    let folder = dir.path().join("plugins");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(&panic, folder.join("libpanic.so")).unwrap();
    // A broken library in a scanned folder is skipped with a warning.
    std::fs::copy(&no_entry, folder.join("libbroken.so")).unwrap();
    std::fs::write(folder.join("README.txt"), "not a library").unwrap();
    let missing = dir.path().join("missing");
    let list = std::env::join_paths([folder.as_path(), missing.as_path()]).unwrap();
    let o = run(&[OsStr::new("plugins")], &xdg, Some(&list));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("libpanic.so"), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("dl4j: warning:") && err.contains("libbroken.so") && err.contains("skipped"),
        "{err}"
    );
    assert!(err.contains("missing"), "{err}");

    // A file named in the list is explicit: loaded, and fatal when broken.
    let o = run(&[OsStr::new("plugins")], &xdg, Some(panic.as_os_str()));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("panicky "));
    let o = run(&[OsStr::new("plugins")], &xdg, Some(no_entry.as_os_str()));
    assert_clean_failure(&o, &["libdl4j_test_plugin_no_entry"]);
}

#[test]
fn the_per_user_folder_is_honoured() {
    let panic = build_plugin("dl4j-test-plugin-panic");
    let wrong = build_plugin("dl4j-test-plugin-wrong-abi");
    let dir = tempfile::tempdir().unwrap();
    let xdg = dir.path().join("xdg");
    let folder = xdg.join("dl4j").join("plugins");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(&panic, folder.join("libpanic.so")).unwrap();
    std::fs::copy(&wrong, folder.join("libwrong.so")).unwrap();
    let o = run(&[OsStr::new("plugins")], &xdg, None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("panicky "), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("libwrong.so") && err.contains("999") && err.contains("skipped"),
        "{err}"
    );

    // The same library named again with --plugin is loaded once.
    let o = run(
        &[
            OsStr::new("plugins"),
            OsStr::new("--plugin"),
            folder.join("libpanic.so").as_os_str(),
        ],
        &xdg,
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = stdout(&o)
        .lines()
        .filter(|l| l.starts_with("panicky "))
        .count();
    assert_eq!(rows, 1, "{}", stdout(&o));

    // Another copy of it claims the same id: the scanned one is skipped, naming both origins.
    let o = run(
        &[
            OsStr::new("plugins"),
            OsStr::new("--plugin"),
            panic.as_os_str(),
        ],
        &xdg,
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.contains("libpanic.so") && l.contains("clashes"))
        .unwrap_or_else(|| panic!("no clash warning in: {err}"));
    assert!(line.contains("libdl4j_test_plugin_panic"), "{line}");
}
