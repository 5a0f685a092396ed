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
