//! Writes a small DL4J model zip with this crate's own code: a MultiLayerNetwork
//! Dense(4 -> 8, ReLU) -> Output(8 -> 3, softmax) with Adam updater state and a STANDARDIZE
//! normalizer, laid out exactly as DL4J 1.0.0-beta7 would write it.
//!
//! Usage: `cargo run --example make_model -- example.zip`

use std::path::PathBuf;

use dl4j::nd4j::{Encoding, Nd4jArray};
use dl4j::normalizer::{Normalizer, StatsPair};
use dl4j::{Archive, Configuration, Origin, ParamsStorage, Tensor, TensorData};

fn layer(class: &str, n_in: usize, n_out: usize, activation: &str, extra: &str) -> String {
    format!(
        r#"{{
    "layer" : {{
      "@class" : "org.deeplearning4j.nn.conf.layers.{class}",
      "activationFn" : {{ "@class" : "org.nd4j.linalg.activations.impl.Activation{activation}" }},
      "biasInit" : 0.0,
      "biasUpdater" : null,
      "hasBias" : true,
      "iupdater" : {{ "@class" : "org.nd4j.linalg.learning.config.Adam", "beta1" : 0.9, "beta2" : 0.999, "epsilon" : 1.0E-8, "learningRate" : 0.001 }},
      "layerName" : null,{extra}
      "nin" : {n_in},
      "nout" : {n_out},
      "weightInitFn" : {{ "@class" : "org.deeplearning4j.nn.weights.WeightInitXavier" }}
    }},
    "miniBatch" : true,
    "seed" : 12345,
    "variables" : [ "W", "b" ]
  }}"#
    )
}

fn main() -> dl4j::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "example.zip".into()),
    );
    let loss = r#"
      "lossFn" : { "@class" : "org.nd4j.linalg.lossfunctions.impl.LossMCXENT", "softmaxClipEps" : 1.0E-10 },"#;
    let json = format!(
        "{{\n  \"backpropType\" : \"Standard\",\n  \"confs\" : [ {}, {} ],\n  \"dataType\" : \"FLOAT\",\n  \"inputPreProcessors\" : {{ }}\n}}",
        layer("DenseLayer", 4, 8, "ReLU", ""),
        layer("OutputLayer", 8, 3, "Softmax", loss)
    );
    let config = Configuration::parse(json)?;

    // Deterministic small weights; DL4J stores dense W column-major ([nIn, nOut] in 'f' order).
    let n = 4 * 8 + 8 + 8 * 3 + 3;
    let params: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 20.0)
        .collect();
    let state: Vec<f32> = (0..2 * n).map(|i| i as f32 * 1e-4).collect();
    let row = |v: Vec<f32>| Tensor::new(vec![1, v.len()], TensorData::F32(v));
    let enc = Encoding::Modern;

    let archive = Archive {
        config,
        params: Nd4jArray::new(row(params)?, enc),
        params_storage: ParamsStorage::Array,
        updater_state: Some(Nd4jArray::new(row(state)?, enc)),
        normalizer: Some(Normalizer::Standardize {
            features: StatsPair {
                first: Nd4jArray::new(row(vec![5.8, 3.0, 3.8, 1.2])?, enc),
                second: Nd4jArray::new(row(vec![0.8, 0.4, 1.8, 0.8])?, enc),
            },
            labels: None,
        }),
        objects: Vec::new(),
        unknown_entries: Vec::new(),
        origin: Origin {
            format: "example".into(),
            encoding: Some(enc),
            dtype: dl4j::DType::F32,
        },
    };
    // Check the layouts before writing: 67 parameters, Adam state twice that.
    let layout = archive.layout()?;
    assert_eq!(layout.total, n);
    archive.updater_layout()?;
    dl4j::save(&archive, &out, Some("dl4j"), &Default::default(), true)?;
    println!("wrote {}", out.display());
    Ok(())
}
