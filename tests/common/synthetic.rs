//! Small DL4J networks built in code for the export tests: pseudo-random data, layer JSON and
//! archives holding DL4J's flat parameter vector.

use dl4j::nd4j::{Encoding, Nd4jArray};
use dl4j::{Archive, Configuration, DType, Origin, ParamsStorage, Tensor, TensorData};
use serde_json::{json, Value};

/// `n` deterministic values in `[lo, hi)` (xorshift), so failures reproduce.
pub fn uniform(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (s >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
        })
        .collect()
}

/// `{"@class": "org.deeplearning4j.nn.conf.layers.<class>", ...fields}`.
pub fn layer(class: &str, fields: Value) -> Value {
    let mut v = json!({"@class": format!("org.deeplearning4j.nn.conf.layers.{class}")});
    v.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    v
}

/// A MultiLayerNetwork configuration: each layer with its `variables`.
pub fn mln_config(layers: Vec<(Value, Vec<&str>)>) -> Value {
    let confs: Vec<Value> = layers
        .into_iter()
        .map(|(l, vars)| json!({"layer": l, "variables": vars}))
        .collect();
    json!({"confs": confs})
}

/// An archive of `config` with flat parameters (DL4J's order) stored as `dtype`.
pub fn archive(config: &Value, params: Vec<f64>, dtype: DType) -> Archive {
    let config = Configuration::parse(serde_json::to_string_pretty(config).unwrap()).unwrap();
    let n = params.len();
    let data = match dtype {
        DType::F32 => TensorData::F32(params.iter().map(|&v| v as f32).collect()),
        DType::F16 => TensorData::F16(params.iter().map(|&v| half::f16::from_f64(v)).collect()),
        DType::F64 => TensorData::F64(params),
        d => panic!("unsupported test dtype {d:?}"),
    };
    Archive {
        config,
        params: Nd4jArray::new(Tensor::new(vec![1, n], data).unwrap(), Encoding::Modern),
        params_storage: if n == 0 {
            ParamsStorage::Empty { marker: true }
        } else {
            ParamsStorage::Array
        },
        updater_state: None,
        normalizer: None,
        objects: vec![],
        unknown_entries: vec![],
        origin: Origin {
            format: "test".into(),
            encoding: Some(Encoding::Modern),
            dtype,
        },
    }
}

/// A MultiLayerNetwork archive: [`mln_config`] + [`archive`].
pub fn mln(layers: Vec<(Value, Vec<&str>)>, params: Vec<f64>, dtype: DType) -> Archive {
    archive(&mln_config(layers), params, dtype)
}
