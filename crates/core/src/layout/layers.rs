//! Which table lays out which layer class (DL4J's `*ParamInitializer`s).

use super::spec::{checked_len, Ctx, Known, LayerParams, Variant, R};
use super::{batchnorm, convolution, feedforward, recurrent, samediff, variational, wrappers};
use crate::config::LayerConf;

/// DL4J layers without parameters.
const PARAMLESS: &[&str] = &[
    "SubsamplingLayer",
    "Subsampling1DLayer",
    "Subsampling3DLayer",
    "Upsampling1D",
    "Upsampling2D",
    "Upsampling3D",
    "ZeroPaddingLayer",
    "ZeroPadding1DLayer",
    "ZeroPadding3DLayer",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "GlobalPoolingLayer",
    "LocalResponseNormalization",
    "DropoutLayer",
    "ActivationLayer",
    "LossLayer",
    "CnnLossLayer",
    "Cnn3DLossLayer",
    "RnnLossLayer",
    "Yolo2OutputLayer",
    "SpaceToDepthLayer",
    "SpaceToBatchLayer",
    "MaskLayer",
    "RepeatVector",
    "CapsuleStrengthLayer",
];

/// The layer's parameter table, or `Unknown` for classes we do not know.
pub fn layer_params(l: &LayerConf, variant: Variant) -> R<Known> {
    let known = layer_params_in(l, variant, l.frozen)?;
    if let Known::Params(p) = &known {
        // Hostile configurations must not overflow the size arithmetic downstream.
        let mut total = 0usize;
        for spec in p.memory.iter().chain(&p.state_only) {
            total = total
                .checked_add(checked_len(&spec.shape)?)
                .ok_or_else(|| format!("{}: too many parameters", l.type_name))?;
        }
    }
    Ok(known)
}

pub(super) fn layer_params_in(l: &LayerConf, variant: Variant, frozen: bool) -> R<Known> {
    let c = Ctx { l, frozen };
    // SameDiff layers (DL4J's own and users') serialize their parameter shapes.
    if let Some(p) = samediff::samediff_params(&c, l.body.get("layerParams"))? {
        return Ok(Known::Params(p));
    }
    if !l.dl4j_class {
        return Ok(Known::Unknown);
    }
    let t = l.type_name.as_str();
    let params = match t {
        t if PARAMLESS.contains(&t) => LayerParams::default(),
        "DenseLayer"
        | "OutputLayer"
        | "RnnOutputLayer"
        | "EmbeddingLayer"
        | "EmbeddingSequenceLayer" => feedforward::dense(&c)?,
        "CenterLossOutputLayer" => feedforward::center_loss(&c)?,
        "AutoEncoder" | "RBM" => feedforward::pretrain(&c, variant)?,
        "ElementWiseMultiplicationLayer" => feedforward::elementwise(&c)?,
        "PReLULayer" => feedforward::prelu(&c)?,
        "OCNNOutputLayer" => feedforward::ocnn(&c)?,
        "ConvolutionLayer" | "Convolution1DLayer" | "Deconvolution2D" | "Convolution3D"
        | "Deconvolution3D" => convolution::convolution(&c)?,
        "DepthwiseConvolution2D" => convolution::depthwise(&c)?,
        "SeparableConvolution2D" => convolution::separable(&c)?,
        "LocallyConnected1D" | "LocallyConnected2D" => convolution::locally_connected(&c)?,
        "BatchNormalization" => batchnorm::batch_norm(&c, variant)?,
        "LSTM" | "GravesLSTM" => recurrent::lstm(&c)?,
        "GravesBidirectionalLSTM" => recurrent::graves_bidirectional(&c)?,
        "SimpleRnn" => recurrent::simple_rnn(&c)?,
        "VariationalAutoencoder" => variational::vae(&c)?,
        "Bidirectional" => return wrappers::bidirectional(l, variant, frozen),
        "LastTimeStep"
        | "MaskZeroLayer"
        | "TimeDistributed"
        | "FrozenLayerWithBackprop"
        | "FrozenLayer" => return wrappers::transparent(l, variant, frozen),
        "SelfAttentionLayer"
        | "LearnedSelfAttentionLayer"
        | "RecurrentAttentionLayer"
        | "CapsuleLayer"
        | "PrimaryCapsules" => {
            return Err(format!("{t} without its \"layerParams\" shapes"));
        }
        _ => return Ok(Known::Unknown),
    };
    Ok(Known::Params(params))
}
