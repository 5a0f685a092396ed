//! Type names: legacy wrapper names (<= 1.0.0-alpha) and `@class` names mapped to one spelling,
//! the simple name of DL4J's own class (`DenseLayer`, `MergeVertex`, ...).

/// Legacy `WRAPPER_OBJECT` layer names -> class simple name (LegacyJsonFormat + 0.5-0.9 tables).
const LEGACY_LAYERS: &[(&str, &str)] = &[
    ("autoEncoder", "AutoEncoder"),
    ("convolution", "ConvolutionLayer"),
    ("convolution1d", "Convolution1DLayer"),
    ("gravesLSTM", "GravesLSTM"),
    ("LSTM", "LSTM"),
    ("gravesBidirectionalLSTM", "GravesBidirectionalLSTM"),
    ("output", "OutputLayer"),
    ("CenterLossOutputLayer", "CenterLossOutputLayer"),
    ("rnnoutput", "RnnOutputLayer"),
    ("loss", "LossLayer"),
    ("zeroPadding", "ZeroPaddingLayer"),
    ("FrozenLayer", "FrozenLayer"),
    ("Yolo2OutputLayer", "Yolo2OutputLayer"),
    ("CnnLossLayer", "CnnLossLayer"),
    ("dense", "DenseLayer"),
    ("subsampling", "SubsamplingLayer"),
    ("subsampling1d", "Subsampling1DLayer"),
    ("batchNormalization", "BatchNormalization"),
    ("localResponseNormalization", "LocalResponseNormalization"),
    ("embedding", "EmbeddingLayer"),
    ("activation", "ActivationLayer"),
    ("VariationalAutoencoder", "VariationalAutoencoder"),
    ("dropout", "DropoutLayer"),
    ("GlobalPooling", "GlobalPoolingLayer"),
    ("zeroPadding1d", "ZeroPadding1DLayer"),
    ("Upsampling2D", "Upsampling2D"),
    ("RnnLossLayer", "RnnLossLayer"),
    ("Bidirectional", "Bidirectional"),
    ("SimpleRnn", "SimpleRnn"),
    ("ElementWiseMult", "ElementWiseMultiplicationLayer"),
    ("MaskLayer", "MaskLayer"),
    ("MaskZeroLayer", "MaskZeroLayer"),
    ("Cropping1D", "Cropping1D"),
    ("Cropping2D", "Cropping2D"),
    ("RBM", "RBM"),
    ("recursiveAutoEncoder", "RecursiveAutoEncoder"),
];

/// Legacy vertex wrapper names are the class simple names.
const LEGACY_VERTICES: &[&str] = &[
    "ElementWiseVertex",
    "MergeVertex",
    "SubsetVertex",
    "LayerVertex",
    "LastTimeStepVertex",
    "ReverseTimeSeriesVertex",
    "DuplicateToTimeSeriesVertex",
    "PreprocessorVertex",
    "StackVertex",
    "UnstackVertex",
    "L2Vertex",
    "ScaleVertex",
    "L2NormalizeVertex",
];

/// Subclasses that only rename a DL4J layer.
const ALIASES: &[(&str, &str)] = &[
    ("Convolution2D", "ConvolutionLayer"),
    ("Pooling2D", "SubsamplingLayer"),
    ("Convolution1D", "Convolution1DLayer"),
    ("Pooling1D", "Subsampling1DLayer"),
];

/// Packages holding DL4J's own layer and vertex configuration classes.
const DL4J_CONF_PACKAGE: &str = "org.deeplearning4j.nn.conf.";

/// Canonical name for a legacy wrapper key; `None` if it is not one of DL4J's names.
pub fn legacy_layer(name: &str) -> Option<&'static str> {
    LEGACY_LAYERS
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| *v)
}

pub fn legacy_vertex(name: &str) -> Option<&'static str> {
    LEGACY_VERTICES.iter().find(|v| **v == name).copied()
}

/// Simple name of a Java class (`a.b.C$D` -> `D`).
pub fn simple_name(class: &str) -> &str {
    let s = class.rsplit('.').next().unwrap_or(class);
    s.rsplit('$').next().unwrap_or(s)
}

/// Canonical type name for an `@class` value, and whether the class is one of DL4J's own.
pub fn from_class(class: &str) -> (String, bool) {
    let simple = simple_name(class);
    let own = class.starts_with(DL4J_CONF_PACKAGE);
    let canonical = ALIASES
        .iter()
        .find(|(a, _)| *a == simple)
        .map(|(_, c)| *c)
        .filter(|_| own)
        .unwrap_or(simple);
    (canonical.to_string(), own)
}
