//! Shared by `tests/plugins_abi.rs` and `tests/npz_plugin.rs`: building plugin libraries.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds workspace package `package` (a cdylib) and returns the path of its library.
pub fn build_plugin(package: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", package])
        .current_dir(root)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p {package} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_relative() { root.join(t) } else { t })
        .unwrap_or_else(|| root.join("target"));
    let lib = target.join("debug").join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ));
    assert!(lib.exists(), "built library missing: {}", lib.display());
    lib
}
