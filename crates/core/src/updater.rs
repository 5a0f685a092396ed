//! `updaterState.bin` layout: which state values belong to which parameter.
//!
//! DL4J >= 0.9.0 groups consecutive parameters with equal updater configuration into
//! UpdaterBlocks and stores, per block, all of piece 0 (e.g. Adam `m`) then all of piece 1 (`v`).
//! DL4J 0.5.0-0.8.0 stored the pieces per parameter instead (spec binary §4).

use serde_json::Value;

use crate::config::{names, Configuration, ModelKind};
use crate::error::{Error, Result};
use crate::layout::{ParamLayout, UpdaterRef};
use crate::tensor::Tensor;

/// Per state piece, the runs of state indices it occupies.
pub type PieceRuns = Vec<(&'static str, Vec<std::ops::Range<usize>>)>;

/// The two historical layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateLayoutKind {
    /// UpdaterBlocks (DL4J >= 0.9.0).
    Blocks,
    /// One run of pieces per parameter (DL4J 0.5.0 - 0.8.0).
    PerParameter,
}

impl StateLayoutKind {
    pub fn name(self) -> &'static str {
        match self {
            StateLayoutKind::Blocks => "blocks",
            StateLayoutKind::PerParameter => "per-parameter",
        }
    }
}

/// A contiguous parameter range sharing one updater, and where its state sits.
#[derive(Debug, Clone)]
pub struct StateBlock {
    /// Updater class simple name (`Adam`, `Nesterovs`, `NoOp`, ...).
    pub updater: String,
    pub pieces: &'static [&'static str],
    pub param_start: usize,
    pub param_len: usize,
    pub state_start: usize,
    /// State of a parameter that is not in coefficients.bin (0.5.0-0.7.0 pretrain visible
    /// bias): its name; `param_start` is then meaningless.
    pub detached: Option<String>,
}

impl StateBlock {
    pub fn state_len(&self) -> usize {
        self.pieces.len() * self.param_len
    }
}

/// The updater-state layout of a network.
#[derive(Debug, Clone)]
pub struct UpdaterLayout {
    pub kind: StateLayoutKind,
    pub blocks: Vec<StateBlock>,
    pub total: usize,
}

/// State pieces per updater, in storage order.
pub fn updater_pieces(class_simple_name: &str) -> Option<&'static [&'static str]> {
    Some(match class_simple_name {
        "Sgd" | "NoOp" => &[],
        "Nesterovs" => &["v"],
        "AdaGrad" => &["historicalGradient"],
        "RmsProp" => &["lastGradient"],
        "Adam" | "Nadam" => &["m", "v"],
        "AdaMax" => &["m", "u"],
        "AdaDelta" => &["msg", "msdx"],
        "AMSGrad" => &["m", "v", "vHat"],
        "AdaBelief" => &["m", "s"],
        _ => return None,
    })
}

/// Updater class for the 0.5-0.8 `updater` enum.
fn legacy_updater_class(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_uppercase().as_str() {
        "SGD" => "Sgd",
        "ADAM" => "Adam",
        "ADAMAX" => "AdaMax",
        "ADADELTA" => "AdaDelta",
        "NESTEROVS" => "Nesterovs",
        "NADAM" => "Nadam",
        "ADAGRAD" => "AdaGrad",
        "RMSPROP" => "RmsProp",
        "NONE" => "NoOp",
        _ => return None,
    })
}

/// Updater class simple name of an `UpdaterRef`.
pub fn updater_class(u: &UpdaterRef) -> Result<String> {
    match u {
        UpdaterRef::NoOp => Ok("NoOp".into()),
        UpdaterRef::Legacy(n) => legacy_updater_class(n)
            .map(str::to_string)
            .ok_or_else(|| Error::Unsupported(format!("legacy updater {n:?}"))),
        UpdaterRef::Config(v) => {
            let cls = v
                .get("@class")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::Config("updater object without \"@class\"".into()))?;
            Ok(names::simple_name(cls).to_string())
        }
        UpdaterRef::Unknown => Err(Error::Inconsistent(
            "a layer with parameters names no updater (or a custom layer mixes updaters)".into(),
        )),
    }
}

/// A unit of the walk: a parameter (or unknown span) in `paramTable()` order.
struct Unit<'a> {
    node: &'a str,
    /// Offset of the parameter (or span) in the flat vector; `None` for state-only params.
    start: Option<usize>,
    len: usize,
    updater: &'a UpdaterRef,
    pretrain: bool,
    frozen: bool,
    lr_policy: Option<&'a Value>,
    /// Full name of a state-only parameter.
    detached: Option<String>,
}

impl Unit<'_> {
    fn effective(&self, frozen_noop: bool) -> &UpdaterRef {
        if self.frozen && frozen_noop {
            &UpdaterRef::NoOp
        } else {
            self.updater
        }
    }
}

impl UpdaterLayout {
    /// Computes the layout the configuration implies and checks it against the state length.
    ///
    /// Frozen layers have no state from 1.0.0-beta2 on but the inner updater's before; the
    /// file's state length decides between the two.
    pub fn build(
        config: &Configuration,
        layout: &ParamLayout,
        state_len: usize,
    ) -> Result<UpdaterLayout> {
        let kind = if uses_iupdater(config)? {
            StateLayoutKind::Blocks
        } else {
            StateLayoutKind::PerParameter
        };
        let units = units(layout, kind, config)?;
        let first = Self::build_with(kind, &units, true)?;
        if first.total == state_len || !units.iter().any(|u| u.frozen) {
            first.check_len(state_len)?;
            return Ok(first);
        }
        let second = Self::build_with(kind, &units, false)?;
        match second.check_len(state_len) {
            Ok(()) => Ok(second),
            // Neither fits: report against the first (usual) layout.
            Err(e) => Err(first.check_len(state_len).err().unwrap_or(e)),
        }
    }

    fn build_with(
        kind: StateLayoutKind,
        units: &[Unit],
        frozen_noop: bool,
    ) -> Result<UpdaterLayout> {
        let mut blocks: Vec<StateBlock> = Vec::new();
        let mut param_off = 0usize;
        let mut state_off = 0usize;
        let mut prev: Option<&Unit> = None;
        for u in units {
            let class = updater_class(u.effective(frozen_noop))?;
            let pieces = updater_pieces(&class).ok_or_else(|| {
                Error::Unsupported(format!("updater {class} (unknown state layout)"))
            })?;
            let combine = kind == StateLayoutKind::Blocks
                && u.detached.is_none()
                && prev.is_some_and(|p| {
                    p.effective(frozen_noop) == u.effective(frozen_noop)
                        && p.lr_policy == u.lr_policy
                        && !is_score_policy(u.lr_policy)
                        && (!(p.pretrain || u.pretrain)
                            || (p.pretrain && u.pretrain && p.node == u.node))
                });
            // Blocks cover flat positions in walk (paramTable) order, mapped 1:1 as DL4J does
            // even where a layer's memory order differs; per-parameter state sits on the
            // parameter itself, visited in configuration order.
            let param_start = match kind {
                StateLayoutKind::Blocks => param_off,
                StateLayoutKind::PerParameter => u.start.unwrap_or(0),
            };
            match (combine, blocks.last_mut()) {
                (true, Some(b)) => b.param_len += u.len,
                _ => blocks.push(StateBlock {
                    updater: class,
                    pieces,
                    param_start,
                    param_len: u.len,
                    state_start: state_off,
                    detached: u.detached.clone(),
                }),
            }
            if u.detached.is_none() {
                param_off += u.len;
            }
            state_off += pieces.len() * u.len;
            prev = Some(u);
        }
        Ok(UpdaterLayout {
            kind,
            blocks,
            total: state_off,
        })
    }

    /// Checks the layout against the state array's length.
    pub fn check_len(&self, state_len: usize) -> Result<()> {
        if self.total != state_len {
            return Err(Error::Inconsistent(format!(
                "updaterState.bin holds {state_len} values but the configuration's {} updater layout needs {}",
                self.summary(),
                self.total
            )));
        }
        Ok(())
    }

    /// `Adam`, or `mixed (Adam, NoOp)` when parameters use different updaters.
    pub fn summary(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for b in &self.blocks {
            if !names.contains(&b.updater.as_str()) {
                names.push(&b.updater);
            }
        }
        let stateful: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| updater_pieces(n).is_some_and(|p| !p.is_empty()))
            .collect();
        match (stateful.as_slice(), names.as_slice()) {
            (_, []) => "none".into(),
            (_, [only]) | ([only], _) => only.to_string(),
            _ => format!("mixed ({})", stateful.join(", ")),
        }
    }

    /// For the flat parameter range `start..start+len`, where each piece's state lies: runs of
    /// state indices per piece (`(piece name, runs)`), following DL4J's 1:1 mapping inside
    /// blocks. Usually one run per piece.
    pub fn piece_runs(&self, start: usize, len: usize) -> Result<PieceRuns> {
        let end = start + len;
        let mut blocks: Vec<&StateBlock> = self
            .blocks
            .iter()
            .filter(|b| b.detached.is_none() && b.param_len > 0)
            .filter(|b| b.param_start < end && start < b.param_start + b.param_len)
            .collect();
        blocks.sort_by_key(|b| b.param_start);
        let mut out: Vec<(&'static str, Vec<std::ops::Range<usize>>)> = Vec::new();
        let mut pos = start;
        for b in blocks {
            if b.param_start > pos {
                break;
            }
            let a = pos;
            let z = end.min(b.param_start + b.param_len);
            for (k, piece) in b.pieces.iter().enumerate() {
                let s = b.state_start + k * b.param_len + (a - b.param_start);
                let run = s..s + (z - a);
                match out.iter_mut().find(|(n, _)| n == piece) {
                    Some((_, runs)) => match runs.last_mut() {
                        Some(last) if last.end == run.start => last.end = run.end,
                        _ => runs.push(run),
                    },
                    None => out.push((piece, vec![run])),
                }
            }
            pos = z;
        }
        if pos < end {
            return Err(Error::Inconsistent(format!(
                "parameter position {pos} is in no updater block"
            )));
        }
        Ok(out)
    }

    /// Like [`piece_runs`](Self::piece_runs), with every state index listed.
    pub fn piece_indices(
        &self,
        start: usize,
        len: usize,
    ) -> Result<Vec<(&'static str, Vec<usize>)>> {
        Ok(self
            .piece_runs(start, len)?
            .into_iter()
            .map(|(n, runs)| (n, runs.into_iter().flatten().collect()))
            .collect())
    }

    /// State of one parameter, per piece, in the parameter's logical shape and order.
    pub fn param_state(
        &self,
        state: &Tensor,
        param: &crate::layout::ParamEntry,
    ) -> Result<Vec<(&'static str, Tensor)>> {
        self.piece_runs(param.offset, param.len())?
            .into_iter()
            .map(|(name, runs)| {
                if runs.iter().any(|r| r.start > r.end || r.end > state.len()) {
                    return Err(Error::Inconsistent(format!(
                        "updater state for {} lies outside the {} state values",
                        param.name,
                        state.len()
                    )));
                }
                let flat = state.data().concat_ranges(&runs);
                let t = crate::layout::extract_segment(&flat, 0, &param.shape, param.order)?;
                Ok((name, t))
            })
            .collect()
    }
}

/// 0.9.x `Score` learning-rate policy: DL4J never merged such params into blocks.
fn is_score_policy(p: Option<&Value>) -> bool {
    p.and_then(|v| v.get(0)).and_then(Value::as_str) == Some("Score")
}

/// A network configured with `iupdater` objects (>= 0.9.0) rather than the legacy enum.
fn uses_iupdater(config: &Configuration) -> Result<bool> {
    let mut any_legacy = false;
    for n in config.nodes()? {
        if let Some(l) = &n.layer {
            let mut l = l.clone();
            // Wrappers carry the updater on the wrapped layer.
            for key in ["fwd", "underlying", "layer"] {
                if l.get("iupdater").is_none() {
                    if let Some(inner) = l.inner(key) {
                        l = inner;
                    }
                }
            }
            if l.get("iupdater").is_some() || l.get("updater").is_some_and(Value::is_object) {
                return Ok(true);
            }
            any_legacy |= l.get("updater").is_some_and(Value::is_string);
        }
    }
    Ok(!any_legacy)
}

/// The walk DL4J makes: flat order with `paramTable()` key order (blocks); layer order and
/// table order per parameter (0.5-0.8; graphs in configuration order).
fn units<'a>(
    layout: &'a ParamLayout,
    kind: StateLayoutKind,
    config: &Configuration,
) -> Result<Vec<Unit<'a>>> {
    let mut layers: Vec<&crate::layout::LayerLayout> = layout.layers.iter().collect();
    if kind == StateLayoutKind::PerParameter && layout.kind == ModelKind::ComputationGraph {
        let order: Vec<String> = config.nodes()?.into_iter().map(|n| n.name).collect();
        layers.sort_by_key(|l| order.iter().position(|n| *n == l.node));
    }
    let mut out = Vec::new();
    for l in layers {
        if let Some(span) = layout
            .unknown
            .as_ref()
            .filter(|s| s.nodes.contains(&l.node))
        {
            if span.nodes.first() == Some(&l.node) && span.len > 0 {
                out.push(Unit {
                    node: &l.node,
                    start: Some(span.offset),
                    len: span.len,
                    updater: &span.updater,
                    pretrain: false,
                    frozen: false,
                    lr_policy: None,
                    detached: None,
                });
            }
            continue;
        }
        for key in &l.table {
            if let Some(p) = l.params.iter().find(|p| &p.key == key) {
                if !p.is_empty() {
                    out.push(Unit {
                        node: &l.node,
                        start: Some(p.offset),
                        len: p.len(),
                        updater: &p.updater,
                        pretrain: p.pretrain,
                        frozen: p.frozen,
                        lr_policy: p.lr_policy.as_ref(),
                        detached: None,
                    });
                }
            } else if let Some(p) = l.state_only.iter().find(|p| &p.key == key) {
                out.push(Unit {
                    node: &l.node,
                    start: None,
                    len: p.len(),
                    updater: &p.updater,
                    pretrain: p.pretrain,
                    frozen: p.frozen,
                    lr_policy: p.lr_policy.as_ref(),
                    detached: Some(format!("{}_{}", l.node, p.key)),
                });
            } else {
                return Err(Error::Inconsistent(format!(
                    "layer {}: no parameter {key}",
                    l.node
                )));
            }
        }
    }
    Ok(out)
}
