//! What a layer table produces: parameter specs, the updater each parameter uses, and the
//! helpers shared by every layer family.

use serde_json::Value;

use crate::config::LayerConf;
use crate::tensor::Order;

/// Which updater configuration trains a parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdaterRef {
    /// No state (`NoOp`: BatchNorm running statistics, frozen layers).
    NoOp,
    /// An `IUpdater` JSON object (>= 0.9.0).
    Config(Value),
    /// The 0.5-0.8 `updater` enum name (`ADAM`, `NESTEROVS`, ...).
    Legacy(String),
    /// The layer names no updater we can read.
    Unknown,
}

/// One parameter of a layer.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    /// DL4J's key inside the layer (`W`, `b`, `RW`, `gamma`, ...).
    pub key: String,
    pub shape: Vec<usize>,
    /// Order the flat segment is reshaped with.
    pub order: Order,
    pub updater: UpdaterRef,
    /// A pretrain parameter (only combined with pretrain params of the same layer).
    pub pretrain: bool,
    /// Inside a FrozenLayer / FrozenVertex: NoOp from 1.0.0-beta2, the inner updater before.
    pub frozen: bool,
    /// 0.9.x only: learning-rate policy settings that also had to match for params to share a
    /// block (`None` from 1.0.0-alpha on, where schedules live inside the updater).
    pub lr_policy: Option<Value>,
}

impl ParamSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The parameters of one layer: memory order, plus `paramTable()` key order where it differs.
#[derive(Debug, Clone, Default)]
pub struct LayerParams {
    pub memory: Vec<ParamSpec>,
    /// Keys in `paramTable()` insertion order (drives updater blocks).
    pub table: Vec<String>,
    /// Parameters with updater state but no place in coefficients.bin (the 0.5.0-0.7.0
    /// pretrain visible bias `bB`, kept outside the flat vector).
    pub state_only: Vec<ParamSpec>,
}

/// Format quirks of old releases, chosen by whichever makes the parameter count fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// BatchNorm stores running mean/var (>= 0.6.0).
    pub bn_global_stats: bool,
    /// Pretrain layers store the visible bias `vb` (>= 0.7.1).
    pub pretrain_visible_bias: bool,
}

impl Variant {
    pub const CURRENT: Variant = Variant {
        bn_global_stats: true,
        pretrain_visible_bias: true,
    };
    pub const ALL: [Variant; 4] = [
        Variant::CURRENT,
        Variant {
            bn_global_stats: false,
            pretrain_visible_bias: true,
        },
        Variant {
            bn_global_stats: true,
            pretrain_visible_bias: false,
        },
        Variant {
            bn_global_stats: false,
            pretrain_visible_bias: false,
        },
    ];
}

/// Outcome for one layer.
pub enum Known {
    Params(LayerParams),
    /// Not a layer we have a table for (user class, or a DL4J layer we do not know).
    Unknown,
}

/// Largest dimension accepted from a configuration (Java's `Integer.MAX_VALUE`).
pub const MAX_DIM: usize = i32::MAX as usize;

/// Element count of a shape, or an error when it overflows.
pub(crate) fn checked_len(shape: &[usize]) -> R<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("parameter shape {shape:?} is too large"))
}

/// Layout errors are plain messages; the caller adds which layer they concern.
pub(crate) type R<T> = std::result::Result<T, String>;

/// A layer being laid out, with the helpers every table uses.
pub(crate) struct Ctx<'l, 'a> {
    pub l: &'l LayerConf<'a>,
    pub frozen: bool,
}

impl Ctx<'_, '_> {
    pub fn dim(&self, key: &str) -> R<usize> {
        self.dim_unchecked(key).and_then(|d| self.bounded(key, d))
    }

    /// Dimensions above Java's `int` range are not real DL4J layers (and would overflow).
    fn bounded(&self, key: &str, d: usize) -> R<usize> {
        if d > MAX_DIM {
            return Err(format!(
                "{}: \"{key}\" = {d} is out of range",
                self.l.type_name
            ));
        }
        Ok(d)
    }

    fn dim_unchecked(&self, key: &str) -> R<usize> {
        let v = match key {
            "nin" => self.l.n_in(),
            "nout" => self.l.n_out(),
            k => self.l.int(k),
        }
        .ok_or_else(|| format!("{}: missing \"{key}\"", self.l.type_name))?;
        usize::try_from(v).map_err(|_| format!("{}: \"{key}\" is negative ({v})", self.l.type_name))
    }

    pub fn ints(&self, key: &str) -> R<Vec<usize>> {
        let v = self
            .l
            .ints(key)
            .ok_or_else(|| format!("{}: missing \"{key}\"", self.l.type_name))?;
        v.into_iter()
            .map(|x| {
                usize::try_from(x)
                    .map_err(|_| format!("{}: negative value in \"{key}\"", self.l.type_name))
                    .and_then(|d| self.bounded(key, d))
            })
            .collect()
    }

    pub fn has_bias(&self, default: bool) -> bool {
        self.l.bool("hasBias").unwrap_or(default)
    }

    pub fn updater(&self, is_bias: bool) -> UpdaterRef {
        if is_bias {
            if let Some(b) = self.l.get("biasUpdater") {
                return UpdaterRef::Config(b.clone());
            }
        }
        if let Some(u) = self.l.get("iupdater") {
            return UpdaterRef::Config(u.clone());
        }
        // SameDiff layers hold an IUpdater object in `updater`; 0.5-0.8 layers an enum string.
        match self.l.get("updater") {
            Some(Value::String(s)) => UpdaterRef::Legacy(s.clone()),
            Some(u @ Value::Object(_)) => UpdaterRef::Config(u.clone()),
            _ => UpdaterRef::Unknown,
        }
    }

    pub fn p(&self, key: &str, shape: Vec<usize>, order: Order, is_bias: bool) -> ParamSpec {
        ParamSpec {
            key: key.to_string(),
            shape,
            order,
            updater: self.updater(is_bias),
            pretrain: false,
            frozen: self.frozen,
            lr_policy: self.lr_policy(key),
        }
    }

    /// 0.9.x files (an `iupdater` but no `biasUpdater` field yet) also compared the NNC's
    /// learning-rate policy and the per-parameter learning rate when grouping blocks.
    fn lr_policy(&self, key: &str) -> Option<Value> {
        let l = self.l;
        if l.get("iupdater").is_none() || l.body.get("biasUpdater").is_some() {
            return None;
        }
        let nnc = l.nnc?;
        let policy = nnc
            .get("learningRatePolicy")
            .cloned()
            .unwrap_or(Value::Null);
        let field = |k: &str| nnc.get(k).cloned().unwrap_or(Value::Null);
        let lr = nnc
            .get("learningRateByParam")
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or(Value::Null);
        let detail = match policy.as_str() {
            Some("Exponential") => vec![field("lrPolicyDecayRate")],
            Some("Inverse") => vec![field("lrPolicyDecayRate"), field("lrPolicyPower")],
            Some("Poly") | Some("TorchStep") => vec![field("lrPolicyPower")],
            Some("Sigmoid") | Some("Step") => {
                vec![field("lrPolicyDecayRate"), field("lrPolicySteps")]
            }
            Some("Schedule") => vec![l
                .get("learningRateSchedule")
                .cloned()
                .unwrap_or(Value::Null)],
            _ => vec![],
        };
        let mut v = vec![policy, lr];
        v.extend(detail);
        Some(Value::Array(v))
    }

    pub fn w(&self, key: &str, shape: Vec<usize>, order: Order) -> ParamSpec {
        self.p(key, shape, order, false)
    }

    pub fn b(&self, key: &str, n: usize) -> ParamSpec {
        self.p(key, vec![n], Order::C, true)
    }
}

pub(crate) fn in_order(memory: Vec<ParamSpec>) -> LayerParams {
    let table = memory.iter().map(|p| p.key.clone()).collect();
    LayerParams {
        memory,
        table,
        state_only: Vec::new(),
    }
}

pub(crate) fn with_table(memory: Vec<ParamSpec>, table: &[&str]) -> LayerParams {
    LayerParams {
        memory,
        table: table.iter().map(|s| s.to_string()).collect(),
        state_only: Vec::new(),
    }
}
