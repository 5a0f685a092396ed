//! Entry names of a ModelSerializer zip.

pub const CONFIGURATION: &str = "configuration.json";
pub const COEFFICIENTS: &str = "coefficients.bin";
pub const NO_PARAMS_MARKER: &str = "noParams.marker";
pub const UPDATER_STATE: &str = "updaterState.bin";
pub const NORMALIZER: &str = "normalizer.bin";
pub const PREPROCESSOR: &str = "preprocessor.bin";
pub const OBJECTS_PREFIX: &str = "objects/";

/// Names the writer produces itself; an unknown entry must not take one of them.
pub const RESERVED: [&str; 5] = [
    CONFIGURATION,
    COEFFICIENTS,
    NO_PARAMS_MARKER,
    UPDATER_STATE,
    NORMALIZER,
];

/// Keys `addObjectToFile` refuses, compared case-insensitively (DL4J checks the bare key).
pub const RESERVED_OBJECT_KEYS: [&str; 6] = [
    UPDATER_STATE,
    NORMALIZER,
    CONFIGURATION,
    COEFFICIENTS,
    NO_PARAMS_MARKER,
    PREPROCESSOR,
];

/// Why an entry name would be dangerous if some tool extracted the zip to disk: a `..`
/// component, an absolute path (`/x`, `C:\x`, `\\server`), a backslash (a separator on
/// Windows, not in zip names) or a control character. This library never uses entry names as
/// paths; such entries are kept byte for byte and reported.
pub fn path_hazard(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if name.starts_with('/') || name.starts_with('\\') {
        Some("an absolute path")
    } else if bytes.get(1) == Some(&b':') && bytes.first().is_some_and(u8::is_ascii_alphabetic) {
        Some("a drive-letter path")
    } else if name.contains('\\') {
        Some("a backslash")
    } else if name.split('/').any(|c| c == "..") {
        Some("a \"..\" component")
    } else if name.chars().any(char::is_control) {
        Some("a control character")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::path_hazard;

    #[test]
    fn hazardous_names_are_named() {
        for (name, why) in [
            ("../evil", "\"..\""),
            ("objects/../../x", "\"..\""),
            ("/etc/passwd", "absolute"),
            ("\\\\server\\share", "absolute"),
            ("C:\\x", "drive-letter"),
            ("c:x", "drive-letter"),
            ("objects\\key", "backslash"),
            ("a\nb", "control"),
        ] {
            let got = path_hazard(name).unwrap_or_default();
            assert!(got.contains(why), "{name:?}: {got:?}");
        }
        for ok in [
            "configuration.json",
            "objects/my..key",
            "objects/a/b",
            "..x",
            "x..",
        ] {
            assert_eq!(path_hazard(ok), None, "{ok:?}");
        }
    }
}
