//! Metadata keys of files written from a DL4J archive (all values are strings; structured ones
//! are JSON).

/// `"dl4j"`: written from a DL4J model by this library.
pub const FORMAT: &str = "format";
pub const FORMAT_VALUE: &str = "dl4j";
/// Version of this metadata layout.
pub const VERSION: &str = "dl4j.format_version";
/// Name and version of the writing tool.
pub const TOOL: &str = "dl4j.tool";
/// `MultiLayerNetwork` or `ComputationGraph`.
pub const KIND: &str = "dl4j.kind";
/// The exact configuration.json text.
pub const CONFIGURATION: &str = "dl4j.configuration";
/// Charset the configuration entry was encoded in (`UTF-8`, or `ISO-8859-1` byte for byte).
pub const CHARSET: &str = "dl4j.configuration_charset";
/// Parameter dtype (`f32`, ...).
pub const DTYPE: &str = "dl4j.dtype";
/// ND4J encoding generation of the source (`legacy`, `long-shape`, `modern`).
pub const ENCODING: &str = "dl4j.nd4j_encoding";
/// How coefficients.bin stored the parameters: `{"storage", "array": {shape, alloc, order}}`.
pub const PARAMS: &str = "dl4j.params";
/// The flat order of coefficients.bin: `[{name, offset, shape, order}]`.
pub const PARAM_ORDER: &str = "dl4j.param_order";
/// Updater: `{type, layout, state_len, dtype, array, tensors: "pieces"|"flat"}` or null.
pub const UPDATER: &str = "dl4j.updater";
/// Normalizer description (type, class, scalars, array metadata) or null.
pub const NORMALIZER: &str = "dl4j.normalizer";
/// Object keys in archive order.
pub const OBJECTS: &str = "dl4j.objects";
/// Unknown entry names in archive order.
pub const ENTRIES: &str = "dl4j.entries";
