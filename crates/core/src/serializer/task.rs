//! `ModelSerializer.taskByModel`: which kind of network and which architecture, by DL4J's rules.
//!
//! DL4J walks the network's layers (MultiLayerNetwork: layer order; ComputationGraph: vertex
//! order of the configuration) and stops at the first layer whose runtime `type()` is
//! CONVOLUTIONAL (-> CONVOLUTION) or RECURRENT/RECURSIVE (-> RECURRENT); DL4J <= 0.9 also
//! stopped at an RBM (-> RBM). Otherwise the answer stays at its initial value RECURRENT (so a
//! plain MLP reports RECURRENT, as in DL4J); no layers at all gives UNKNOWN.

use crate::config::{Configuration, LayerConf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkType {
    MultilayerNetwork,
    ComputationalGraph,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchitectureType {
    Convolution,
    Recurrent,
    Rbm,
    Unknown,
}

impl NetworkType {
    /// DL4J's enum constant.
    pub fn name(self) -> &'static str {
        match self {
            NetworkType::MultilayerNetwork => "MultilayerNetwork",
            NetworkType::ComputationalGraph => "ComputationalGraph",
        }
    }
}

impl ArchitectureType {
    /// DL4J's enum constant.
    pub fn name(self) -> &'static str {
        match self {
            ArchitectureType::Convolution => "CONVOLUTION",
            ArchitectureType::Recurrent => "RECURRENT",
            ArchitectureType::Rbm => "RBM",
            ArchitectureType::Unknown => "UNKNOWN",
        }
    }
}

/// DL4J's `Task` (network and architecture type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    pub network_type: NetworkType,
    pub architecture_type: ArchitectureType,
}

/// What DL4J's runtime layer reports from `type()`, as far as `taskByModel` cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuntimeType {
    Convolutional,
    Recurrent,
    Rbm,
    Other,
}

/// Runtime layer types (DL4J `nn/layers/**` `type()` overrides; wrappers report the wrapped
/// layer's, except LastTimeStep which reports FEED_FORWARD).
fn runtime_type(l: &LayerConf) -> RuntimeType {
    if !l.dl4j_class {
        return RuntimeType::Other;
    }
    match l.type_name.as_str() {
        "ConvolutionLayer"
        | "Convolution1DLayer"
        | "Deconvolution2D"
        | "DepthwiseConvolution2D"
        | "SeparableConvolution2D"
        | "Convolution3D"
        | "Cropping1D"
        | "Cropping2D"
        | "ZeroPaddingLayer"
        | "ZeroPadding3DLayer"
        | "SpaceToBatchLayer"
        | "SpaceToDepthLayer"
        | "CnnLossLayer" => RuntimeType::Convolutional,
        "LSTM"
        | "GravesLSTM"
        | "GravesBidirectionalLSTM"
        | "Bidirectional"
        | "MaskZeroLayer"
        | "RnnLossLayer"
        | "RnnOutputLayer"
        | "EmbeddingSequenceLayer"
        | "ZeroPadding1DLayer"
        | "RecursiveAutoEncoder" => RuntimeType::Recurrent,
        "RBM" => RuntimeType::Rbm,
        "FrozenLayer" => l
            .inner("layer")
            .map_or(RuntimeType::Other, |i| runtime_type(&i)),
        "FrozenLayerWithBackprop" | "TimeDistributed" => l
            .inner("underlying")
            .or_else(|| l.inner("layer"))
            .map_or(RuntimeType::Other, |i| runtime_type(&i)),
        _ => RuntimeType::Other,
    }
}

/// `taskByModel` for a configuration.
pub fn task_by_model(config: &Configuration) -> Task {
    let network_type = match config.kind() {
        crate::config::ModelKind::MultiLayerNetwork => NetworkType::MultilayerNetwork,
        crate::config::ModelKind::ComputationGraph => NetworkType::ComputationalGraph,
    };
    let layers: Vec<LayerConf> = config
        .nodes()
        .map(|n| n.into_iter().filter_map(|n| n.layer).collect())
        .unwrap_or_default();
    let mut architecture_type = ArchitectureType::Recurrent;
    if layers.is_empty() {
        architecture_type = ArchitectureType::Unknown;
    }
    for l in &layers {
        match runtime_type(l) {
            RuntimeType::Rbm => {
                architecture_type = ArchitectureType::Rbm;
                break;
            }
            RuntimeType::Convolutional => {
                architecture_type = ArchitectureType::Convolution;
                break;
            }
            RuntimeType::Recurrent => {
                architecture_type = ArchitectureType::Recurrent;
                break;
            }
            RuntimeType::Other => {}
        }
    }
    Task {
        network_type,
        architecture_type,
    }
}
