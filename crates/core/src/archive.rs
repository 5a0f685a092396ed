//! The in-memory DL4J archive: everything a `ModelSerializer` zip holds, format-agnostic.

use crate::config::{Configuration, ModelKind};
use crate::error::{Error, Result};
use crate::layout::ParamLayout;
use crate::nd4j::{Encoding, Nd4jArray};
use crate::normalizer::Normalizer;
use crate::tensor::{DType, Tensor, TensorData};
use crate::updater::UpdaterLayout;

/// How `coefficients.bin` held the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamsStorage {
    /// An ND4J array (the normal case).
    Array,
    /// A 0-byte `coefficients.bin` for a parameter-less model, with `noParams.marker` (>= alpha)
    /// or without it (0.x).
    Empty { marker: bool },
}

/// Where an archive came from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Format id of the reader (`dl4j`, `safetensors`, ...).
    pub format: String,
    /// ND4J encoding generation of the source arrays, when the source was a DL4J zip.
    pub encoding: Option<Encoding>,
    /// Data type of the parameters.
    pub dtype: DType,
}

/// A DL4J model archive.
#[derive(Debug, Clone)]
pub struct Archive {
    pub config: Configuration,
    /// The flat parameter vector (`[1, N]`, or `[N]` as M2.1 writes it).
    pub params: Nd4jArray,
    pub params_storage: ParamsStorage,
    /// `updaterState.bin`, if saved.
    pub updater_state: Option<Nd4jArray>,
    pub normalizer: Option<Normalizer>,
    /// `objects/<key>` entries: key -> exact bytes, in archive order.
    pub objects: Vec<(String, Vec<u8>)>,
    /// Any other entries (legacy `updater.bin`, `preprocessor.bin`, foreign files), in order.
    pub unknown_entries: Vec<(String, Vec<u8>)>,
    pub origin: Origin,
}

impl Archive {
    /// Entries (unknown ones and `objects/<key>`) whose names would be hazardous as file paths
    /// ([`crate::serializer::names::path_hazard`]), one message each. They are kept and
    /// written back as they are; callers report them.
    pub fn entry_name_warnings(&self) -> Vec<String> {
        use crate::serializer::names::{path_hazard, OBJECTS_PREFIX};
        let objects = self
            .objects
            .iter()
            .map(|(k, _)| format!("{OBJECTS_PREFIX}{k}"));
        let unknown = self.unknown_entries.iter().map(|(n, _)| n.clone());
        objects
            .chain(unknown)
            .filter_map(|name| {
                path_hazard(&name).map(|why| {
                    format!(
                        "zip entry {name:?} has {why} in its name; kept byte for byte, never used as a file path"
                    )
                })
            })
            .collect()
    }

    /// A new model: `config` with the flat parameters `flat` (the modern ND4J encoding, as
    /// DL4J 1.0.0-beta4 and later write it) and nothing else saved; `format` names the reader
    /// that built it.
    pub fn with_parameters(
        config: Configuration,
        flat: TensorData,
        format: &str,
    ) -> Result<Archive> {
        let total = flat.len();
        let dtype = flat.dtype();
        let params = Nd4jArray::new(Tensor::new(vec![1, total], flat)?, Encoding::Modern);
        Ok(Archive {
            config,
            params,
            params_storage: if total == 0 {
                ParamsStorage::Empty { marker: true }
            } else {
                ParamsStorage::Array
            },
            updater_state: None,
            normalizer: None,
            objects: Vec::new(),
            unknown_entries: Vec::new(),
            origin: Origin {
                format: format.into(),
                encoding: Some(Encoding::Modern),
                dtype,
            },
        })
    }

    pub fn kind(&self) -> ModelKind {
        self.config.kind()
    }

    pub fn dtype(&self) -> DType {
        self.params.tensor.dtype()
    }

    pub fn num_params(&self) -> usize {
        self.params.tensor.len()
    }

    /// Parameter layout derived from the configuration.
    pub fn layout(&self) -> Result<ParamLayout> {
        ParamLayout::build(&self.config, self.num_params())
    }

    /// Updater-state layout, checked against the stored state (`None` without state).
    pub fn updater_layout(&self) -> Result<Option<UpdaterLayout>> {
        let Some(state) = &self.updater_state else {
            return Ok(None);
        };
        let layout = self.layout()?;
        UpdaterLayout::build(&self.config, &layout, state.tensor.len()).map(Some)
    }

    /// Describes the first difference to `other`, or `Ok` if both hold the same model:
    /// identical configuration text, bit-identical parameters and updater state, the same
    /// normalizer, byte-identical objects and unknown entries.
    pub fn same_as(&self, other: &Archive) -> Result<()> {
        let diff = |what: &str| Err(Error::Inconsistent(format!("archives differ: {what}")));
        if self.config.text() != other.config.text()
            || self.config.charset() != other.config.charset()
        {
            return diff("configuration.json text");
        }
        if self.params_storage != other.params_storage {
            return diff("how coefficients.bin stores the parameters");
        }
        if !self.params.bit_eq(&other.params) {
            return diff("parameters");
        }
        match (&self.updater_state, &other.updater_state) {
            (None, None) => {}
            (Some(a), Some(b)) if a.bit_eq(b) => {}
            _ => return diff("updater state"),
        }
        match (&self.normalizer, &other.normalizer) {
            (None, None) => {}
            (Some(a), Some(b)) if a.same_as(b) => {}
            _ => return diff("normalizer"),
        }
        if self.objects != other.objects {
            return diff("objects");
        }
        if self.unknown_entries != other.unknown_entries {
            return diff("unknown entries");
        }
        Ok(())
    }
}
