//! Options across the boundary, as UTF-8 JSON objects.
//!
//! Read options: `{"config": string|null, "map": string|null, "loss": string|null,
//! "allow_partial": bool}`. Write options: `{"dl4j_encoding": "legacy"|"long-shape"|"modern"|null,
//! "onnx_opset": integer|null, "onnx_bake_normalizer": bool, "compression": "stored"|"fast"|"default"|null}`.
//!
//! Missing keys take their default and unknown keys are ignored, so hosts and plugins of one
//! ABI version may add keys without breaking each other; an empty buffer means all defaults.
//! Anything else that is not such an object (malformed JSON, a wrong value type, an unknown
//! encoding name) is an error, which a plugin reports as `status::BAD_ARGUMENT`.
//!
//! [`ReadOptions::frozen`] (foreign-graph constants), the source and output paths, external
//! data and progress reporting do not cross the boundary: plugins always receive the defaults.

use dl4j_core::{Compression, Encoding, Error, ReadOptions, Result, WriteOptions};
use serde_json::{Map, Value};

/// The JSON form of [`ReadOptions`] (without `frozen`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptionsJson {
    pub config: Option<String>,
    pub map: Option<String>,
    pub loss: Option<String>,
    pub allow_partial: bool,
}

/// The JSON form of [`WriteOptions`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptionsJson {
    /// [`Encoding::name`]: `legacy`, `long-shape` or `modern`.
    pub dl4j_encoding: Option<String>,
    pub onnx_opset: Option<i64>,
    pub onnx_bake_normalizer: bool,
    /// [`Compression::name`]: `stored`, `fast` or `default`.
    pub compression: Option<String>,
}

fn bad(message: impl std::fmt::Display) -> Error {
    Error::Format(format!("options: {message}"))
}

fn object(bytes: &[u8]) -> Result<Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad("not a JSON object")),
        Err(e) => Err(bad(format!("malformed JSON: {e}"))),
    }
}

fn opt_string(m: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(bad(format!("{key:?} must be a string or null, not {v}"))),
    }
}

fn flag(m: &Map<String, Value>, key: &str) -> Result<bool> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(bad(format!("{key:?} must be true or false, not {v}"))),
    }
}

fn opt_i64(m: &Map<String, Value>, key: &str) -> Result<Option<i64>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(format!("{key:?} must be an integer or null, not {v}"))),
    }
}

fn opt_value(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

impl ReadOptionsJson {
    pub fn from_options(o: &ReadOptions) -> Self {
        ReadOptionsJson {
            config: o.config.clone(),
            map: o.map.clone(),
            loss: o.loss.clone(),
            allow_partial: o.allow_partial,
        }
    }

    /// The options (with an empty `frozen`).
    pub fn into_options(self) -> ReadOptions {
        ReadOptions {
            config: self.config,
            map: self.map,
            loss: self.loss,
            allow_partial: self.allow_partial,
            ..ReadOptions::default()
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("config".into(), opt_value(&self.config));
        m.insert("map".into(), opt_value(&self.map));
        m.insert("loss".into(), opt_value(&self.loss));
        m.insert("allow_partial".into(), Value::Bool(self.allow_partial));
        Value::Object(m).to_string().into_bytes()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let m = object(bytes)?;
        Ok(ReadOptionsJson {
            config: opt_string(&m, "config")?,
            map: opt_string(&m, "map")?,
            loss: opt_string(&m, "loss")?,
            allow_partial: flag(&m, "allow_partial")?,
        })
    }
}

impl WriteOptionsJson {
    pub fn from_options(o: &WriteOptions) -> Self {
        WriteOptionsJson {
            dl4j_encoding: o.dl4j_encoding.map(|e| e.name().to_string()),
            onnx_opset: o.onnx_opset,
            onnx_bake_normalizer: o.onnx_bake_normalizer,
            compression: Some(o.compression.name().to_string()),
        }
    }

    /// The options; an unknown encoding name is an error.
    pub fn into_options(self) -> Result<WriteOptions> {
        let dl4j_encoding = match self.dl4j_encoding.as_deref() {
            None => None,
            Some(name) => Some(Encoding::from_name(name).ok_or_else(|| {
                bad(format!(
                    "unknown dl4j_encoding {name:?} (known: legacy, long-shape, modern)"
                ))
            })?),
        };
        let compression = match self.compression.as_deref() {
            None => Compression::default(),
            Some(name) => Compression::from_name(name).ok_or_else(|| {
                bad(format!(
                    "unknown compression {name:?} (known: stored, fast, default)"
                ))
            })?,
        };
        Ok(WriteOptions {
            dl4j_encoding,
            onnx_opset: self.onnx_opset,
            onnx_bake_normalizer: self.onnx_bake_normalizer,
            compression,
            ..WriteOptions::default()
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("dl4j_encoding".into(), opt_value(&self.dl4j_encoding));
        m.insert(
            "onnx_opset".into(),
            self.onnx_opset.map_or(Value::Null, Value::from),
        );
        m.insert(
            "onnx_bake_normalizer".into(),
            Value::Bool(self.onnx_bake_normalizer),
        );
        m.insert("compression".into(), opt_value(&self.compression));
        Value::Object(m).to_string().into_bytes()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let m = object(bytes)?;
        Ok(WriteOptionsJson {
            dl4j_encoding: opt_string(&m, "dl4j_encoding")?,
            onnx_opset: opt_i64(&m, "onnx_opset")?,
            onnx_bake_normalizer: flag(&m, "onnx_bake_normalizer")?,
            compression: opt_string(&m, "compression")?,
        })
    }
}

/// Read options as JSON (`frozen` is left out).
pub fn read_options_to_json(options: &ReadOptions) -> Vec<u8> {
    ReadOptionsJson::from_options(options).to_json()
}

/// Read options from JSON; `frozen` is always empty.
pub fn read_options_from_json(bytes: &[u8]) -> Result<ReadOptions> {
    Ok(ReadOptionsJson::from_json(bytes)?.into_options())
}

/// Write options as JSON.
pub fn write_options_to_json(options: &WriteOptions) -> Vec<u8> {
    WriteOptionsJson::from_options(options).to_json()
}

/// Write options from JSON.
pub fn write_options_from_json(bytes: &[u8]) -> Result<WriteOptions> {
    WriteOptionsJson::from_json(bytes)?.into_options()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_options_round_trip() {
        let o = ReadOptions {
            config: Some("{\"a\": \"ü\"}".into()),
            map: None,
            loss: Some("MSE".into()),
            allow_partial: true,
            ..ReadOptions::default()
        };
        let back = read_options_from_json(&read_options_to_json(&o)).unwrap();
        assert_eq!(back.config, o.config);
        assert_eq!(back.map, None);
        assert_eq!(back.loss, o.loss);
        assert!(back.allow_partial);
        assert!(back.frozen.is_empty());
    }

    #[test]
    fn write_options_round_trip() {
        for enc in [
            None,
            Some(Encoding::Legacy),
            Some(Encoding::LongShape),
            Some(Encoding::Modern),
        ] {
            let o = WriteOptions {
                dl4j_encoding: enc,
                onnx_opset: Some(13),
                onnx_bake_normalizer: true,
                compression: Compression::Fast,
                ..WriteOptions::default()
            };
            let back = write_options_from_json(&write_options_to_json(&o)).unwrap();
            assert_eq!(back.compression, Compression::Fast);
            assert_eq!(back.dl4j_encoding, enc);
            assert_eq!(back.onnx_opset, Some(13));
            assert!(back.onnx_bake_normalizer);
        }
    }

    #[test]
    fn missing_and_unknown_keys() {
        let r = read_options_from_json(br#"{"future": [1, 2], "loss": "XENT"}"#).unwrap();
        assert_eq!(r.loss.as_deref(), Some("XENT"));
        assert!(r.config.is_none() && !r.allow_partial);
        let w = write_options_from_json(b"").unwrap();
        assert!(w.dl4j_encoding.is_none() && w.onnx_opset.is_none());
        let w = write_options_from_json(br#"{"dl4j_encoding": "legacy", "x": null}"#).unwrap();
        assert_eq!(w.dl4j_encoding, Some(Encoding::Legacy));
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(read_options_from_json(b"{").is_err());
        assert!(read_options_from_json(b"[]").is_err());
        assert!(read_options_from_json(br#"{"allow_partial": "yes"}"#).is_err());
        assert!(write_options_from_json(br#"{"onnx_opset": 1.5}"#).is_err());
        assert!(write_options_from_json(br#"{"dl4j_encoding": "newest"}"#).is_err());
        assert!(write_options_from_json(br#"{"compression": "best"}"#).is_err());
        assert!(write_options_from_json(&[0xff, 0xfe]).is_err());
    }
}
