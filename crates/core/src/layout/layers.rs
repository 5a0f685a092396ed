//! Per-layer parameter tables (DL4J's `*ParamInitializer`s): which parameters a layer has, their
//! order in the flat vector, shapes, reshape order and the updater that trains each.

use serde_json::Value;

use crate::config::{as_int, LayerConf};
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

type R<T> = std::result::Result<T, String>;

struct Ctx<'l, 'a> {
    l: &'l LayerConf<'a>,
    frozen: bool,
}

impl Ctx<'_, '_> {
    fn dim(&self, key: &str) -> R<usize> {
        let v = match key {
            "nin" => self.l.n_in(),
            "nout" => self.l.n_out(),
            k => self.l.int(k),
        }
        .ok_or_else(|| format!("{}: missing \"{key}\"", self.l.type_name))?;
        usize::try_from(v).map_err(|_| format!("{}: \"{key}\" is negative ({v})", self.l.type_name))
    }

    fn ints(&self, key: &str) -> R<Vec<usize>> {
        let v = self
            .l
            .ints(key)
            .ok_or_else(|| format!("{}: missing \"{key}\"", self.l.type_name))?;
        v.into_iter()
            .map(|x| {
                usize::try_from(x)
                    .map_err(|_| format!("{}: negative value in \"{key}\"", self.l.type_name))
            })
            .collect()
    }

    fn has_bias(&self, default: bool) -> bool {
        self.l.bool("hasBias").unwrap_or(default)
    }

    fn updater(&self, is_bias: bool) -> UpdaterRef {
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

    fn p(&self, key: &str, shape: Vec<usize>, order: Order, is_bias: bool) -> ParamSpec {
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

    fn w(&self, key: &str, shape: Vec<usize>, order: Order) -> ParamSpec {
        self.p(key, shape, order, false)
    }

    fn b(&self, key: &str, n: usize) -> ParamSpec {
        self.p(key, vec![n], Order::C, true)
    }
}

fn in_order(memory: Vec<ParamSpec>) -> LayerParams {
    let table = memory.iter().map(|p| p.key.clone()).collect();
    LayerParams { memory, table }
}

fn with_table(memory: Vec<ParamSpec>, table: &[&str]) -> LayerParams {
    LayerParams {
        memory,
        table: table.iter().map(|s| s.to_string()).collect(),
    }
}

/// Kernel as `[kH, kW]` (or `[k]` for 1-D) from `kernelSize`.
fn kernel(c: &Ctx, rank: usize) -> R<Vec<usize>> {
    let k = c.ints("kernelSize")?;
    if k.len() < rank.min(1) || k.is_empty() {
        return Err(format!("{}: empty kernelSize", c.l.type_name));
    }
    Ok(k)
}

/// The layer's parameter table, or `Unknown` for classes we do not know.
pub fn layer_params(l: &LayerConf, variant: Variant) -> R<Known> {
    layer_params_in(l, variant, l.frozen)
}

fn layer_params_in(l: &LayerConf, variant: Variant, frozen: bool) -> R<Known> {
    let c = Ctx { l, frozen };
    // SameDiff layers (DL4J's own and users') serialize their parameter shapes.
    if let Some(p) = samediff_params(&c, l.body.get("layerParams"))? {
        return Ok(Known::Params(p));
    }
    if !l.dl4j_class {
        return Ok(Known::Unknown);
    }
    let f = Order::F;
    let co = Order::C;
    let t = l.type_name.as_str();
    let params = match t {
        // No parameters.
        "SubsamplingLayer"
        | "Subsampling1DLayer"
        | "Subsampling3DLayer"
        | "Upsampling1D"
        | "Upsampling2D"
        | "Upsampling3D"
        | "ZeroPaddingLayer"
        | "ZeroPadding1DLayer"
        | "ZeroPadding3DLayer"
        | "Cropping1D"
        | "Cropping2D"
        | "Cropping3D"
        | "GlobalPoolingLayer"
        | "LocalResponseNormalization"
        | "DropoutLayer"
        | "ActivationLayer"
        | "LossLayer"
        | "CnnLossLayer"
        | "Cnn3DLossLayer"
        | "RnnLossLayer"
        | "Yolo2OutputLayer"
        | "SpaceToDepthLayer"
        | "SpaceToBatchLayer"
        | "MaskLayer"
        | "RepeatVector"
        | "CapsuleStrengthLayer" => LayerParams::default(),

        "DenseLayer"
        | "OutputLayer"
        | "RnnOutputLayer"
        | "EmbeddingLayer"
        | "EmbeddingSequenceLayer" => {
            let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
            let mut v = vec![c.w("W", vec![nin, nout], f)];
            // Field defaults (no-arg constructor): EmbeddingSequenceLayer has none.
            if c.has_bias(t != "EmbeddingSequenceLayer") {
                v.push(c.b("b", nout));
            }
            if t == "DenseLayer" && l.bool("hasLayerNorm").unwrap_or(false) {
                v.push(c.p("g", vec![nout], co, false));
            }
            in_order(v)
        }
        "CenterLossOutputLayer" => {
            let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
            // CenterLossOutputLayer overrides the updater choice: `b` ignores biasUpdater and
            // the class centers `cL` are not trained by the updater at all.
            // The bias is always there, whatever `hasBias` says.
            let mut v = vec![c.w("W", vec![nin, nout], f), c.w("b", vec![nout], co)];
            let mut centers = c.w("cL", vec![nout, nin], co);
            centers.updater = UpdaterRef::NoOp;
            v.push(centers);
            in_order(v)
        }
        "AutoEncoder" | "RBM" => {
            let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
            let mut v = vec![c.w("W", vec![nin, nout], f), c.b("b", nout)];
            if variant.pretrain_visible_bias {
                // The visible bias is not a "bias param" for biasUpdater purposes.
                let mut vb = c.w("vb", vec![nin], co);
                vb.pretrain = true;
                v.push(vb);
            }
            in_order(v)
        }
        "ConvolutionLayer" | "Convolution1DLayer" | "Deconvolution2D" | "Convolution3D"
        | "Deconvolution3D" => {
            let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
            let k = kernel(&c, 2)?;
            let w_shape = match t {
                "ConvolutionLayer" => {
                    let kk = two(&c, &k)?;
                    vec![nout, nin, kk[0], kk[1]]
                }
                // 1-D kernels are stored as [k, 1] 2-D kernels.
                "Convolution1DLayer" => vec![nout, nin, k[0], 1],
                "Deconvolution2D" => {
                    let kk = two(&c, &k)?;
                    vec![nin, nout, kk[0], kk[1]]
                }
                "Convolution3D" => {
                    let kk = three(&c, &k)?;
                    vec![nout, nin, kk[0], kk[1], kk[2]]
                }
                _ => {
                    let kk = three(&c, &k)?;
                    vec![kk[0], kk[1], kk[2], nout, nin]
                }
            };
            let mut v = Vec::new();
            if c.has_bias(true) {
                v.push(c.b("b", nout));
            }
            v.push(c.w("W", w_shape, co));
            in_order(v)
        }
        "DepthwiseConvolution2D" => {
            let nin = c.dim("nin")?;
            let m = c.dim("depthMultiplier")?;
            let kk = two(&c, &kernel(&c, 2)?)?;
            let mut v = Vec::new();
            let has_bias = c.has_bias(true);
            if has_bias {
                v.push(c.b("b", nin * m));
            }
            v.push(c.w("W", vec![kk[0], kk[1], nin, m], co));
            let table: &[&str] = if has_bias { &["W", "b"] } else { &["W"] };
            with_table(v, table)
        }
        "SeparableConvolution2D" => {
            let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
            let m = c.dim("depthMultiplier")?;
            let kk = two(&c, &kernel(&c, 2)?)?;
            let mut v = Vec::new();
            let has_bias = c.has_bias(true);
            if has_bias {
                v.push(c.b("b", nout));
            }
            v.push(c.w("W", vec![m, nin, kk[0], kk[1]], co));
            v.push(c.w("pW", vec![nout, nin * m, 1, 1], co));
            let table: &[&str] = if has_bias {
                &["W", "pW", "b"]
            } else {
                &["W", "pW"]
            };
            with_table(v, table)
        }
        "BatchNormalization" => {
            let n = c.dim("nout")?;
            let mut v = Vec::new();
            if !l.bool("lockGammaBeta").unwrap_or(false) {
                v.push(c.p("gamma", vec![n], co, false));
                v.push(c.p("beta", vec![n], co, false));
            }
            if variant.bn_global_stats {
                // DL4J decides from the NNC's `variables`, not from `useLogStd` (spec config §6.2).
                let vars = l.variables();
                let log_std = !vars.contains(&"var");
                let mut mean = c.p("mean", vec![n], co, false);
                let mut var = c.p(
                    if log_std { "log10stdev" } else { "var" },
                    vec![n],
                    co,
                    false,
                );
                mean.updater = UpdaterRef::NoOp;
                var.updater = UpdaterRef::NoOp;
                v.push(mean);
                v.push(var);
            }
            in_order(v)
        }
        "LSTM" | "GravesLSTM" => {
            let (nin, h) = (c.dim("nin")?, c.dim("nout")?);
            let rw_cols = if t == "GravesLSTM" { 4 * h + 3 } else { 4 * h };
            in_order(vec![
                c.w("W", vec![nin, 4 * h], f),
                c.w("RW", vec![h, rw_cols], f),
                c.b("b", 4 * h),
            ])
        }
        "GravesBidirectionalLSTM" => {
            let (nin, h) = (c.dim("nin")?, c.dim("nout")?);
            in_order(vec![
                c.w("WF", vec![nin, 4 * h], f),
                c.w("RWF", vec![h, 4 * h + 3], f),
                c.b("bF", 4 * h),
                c.w("WB", vec![nin, 4 * h], f),
                c.w("RWB", vec![h, 4 * h + 3], f),
                c.b("bB", 4 * h),
            ])
        }
        "SimpleRnn" => {
            let (nin, h) = (c.dim("nin")?, c.dim("nout")?);
            let mut v = vec![
                c.w("W", vec![nin, h], f),
                c.w("RW", vec![h, h], f),
                c.b("b", h),
            ];
            if l.bool("hasLayerNorm").unwrap_or(false) {
                v.push(c.p("g", vec![2 * h], co, false));
            }
            in_order(v)
        }
        "ElementWiseMultiplicationLayer" => {
            let n = c.dim("nin")?;
            in_order(vec![c.w("W", vec![n], co), c.b("b", n)])
        }
        "PReLULayer" => {
            let shape = prelu_shape(&c)?;
            in_order(vec![c.w("W", shape, f)])
        }
        "VariationalAutoencoder" => in_order(vae(&c)?),
        "OCNNOutputLayer" => {
            let nin = c.dim("nin")?;
            let hidden = c.dim("hiddenSize")?;
            in_order(vec![
                c.w("w", vec![1, hidden], co),
                c.w("v", vec![nin, hidden], f),
                c.w("r", vec![1], co),
            ])
        }
        "Bidirectional" => {
            let fwd = l.inner("fwd").ok_or("Bidirectional without \"fwd\"")?;
            let bwd = l.inner("bwd").unwrap_or_else(|| fwd.clone());
            let (Known::Params(f_params), Known::Params(b_params)) = (
                layer_params_in(&fwd, variant, frozen)?,
                layer_params_in(&bwd, variant, frozen)?,
            ) else {
                return Ok(Known::Unknown);
            };
            let prefix = |p: &LayerParams, pre: &str| -> (Vec<ParamSpec>, Vec<String>) {
                (
                    p.memory
                        .iter()
                        .map(|s| ParamSpec {
                            key: format!("{pre}{}", s.key),
                            ..s.clone()
                        })
                        .collect(),
                    p.table.iter().map(|k| format!("{pre}{k}")).collect(),
                )
            };
            let (mut memory, mut table) = prefix(&f_params, "f");
            let (bm, bt) = prefix(&b_params, "b");
            memory.extend(bm);
            table.extend(bt);
            LayerParams { memory, table }
        }
        "LastTimeStep" | "MaskZeroLayer" | "TimeDistributed" | "FrozenLayerWithBackprop" => {
            // FrozenLayerWithBackprop writes `underlying` but DL4J also accepts `layer`.
            let inner = l
                .inner("underlying")
                .or_else(|| l.inner("layer"))
                .ok_or_else(|| format!("{t} without \"underlying\""))?;
            return layer_params_in(&inner, variant, frozen);
        }
        "FrozenLayer" => {
            let inner = l.inner("layer").ok_or("FrozenLayer without \"layer\"")?;
            return layer_params_in(&inner, variant, true);
        }
        "LocallyConnected1D" | "LocallyConnected2D" => in_order(locally_connected(&c)?),
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

fn two(c: &Ctx, k: &[usize]) -> R<[usize; 2]> {
    match k {
        [a, b, ..] => Ok([*a, *b]),
        [a] => Ok([*a, *a]),
        [] => Err(format!("{}: empty kernelSize", c.l.type_name)),
    }
}

fn three(c: &Ctx, k: &[usize]) -> R<[usize; 3]> {
    match k {
        [a, b, d, ..] => Ok([*a, *b, *d]),
        [a] => Ok([*a, *a, *a]),
        _ => Err(format!("{}: kernelSize needs 3 entries", c.l.type_name)),
    }
}

/// PReLU alpha shape: `inputShape` with every shared axis (1-based over the full input) set to 1.
fn prelu_shape(c: &Ctx) -> R<Vec<usize>> {
    let mut shape = c.ints("inputShape")?;
    if let Some(axes) = c.l.ints("sharedAxes") {
        for a in axes {
            let i =
                usize::try_from(a - 1).map_err(|_| format!("PReLULayer: bad shared axis {a}"))?;
            if let Some(d) = shape.get_mut(i) {
                *d = 1;
            }
        }
    }
    Ok(shape)
}

/// Number of network outputs a VAE reconstruction distribution needs per input feature.
fn distribution_input_size(dist: Option<&Value>, n_in: usize) -> R<usize> {
    let Some(d) = dist.filter(|v| !v.is_null()) else {
        return Err("VariationalAutoencoder: missing outputDistribution".into());
    };
    let obj = d
        .as_object()
        .ok_or("VariationalAutoencoder: bad outputDistribution")?;
    let (name, body) = match obj.get("@class").and_then(Value::as_str) {
        Some(cls) => (crate::config::names::simple_name(cls).to_string(), d),
        None if obj.len() == 1 => {
            let (k, v) = obj.iter().next().expect("one entry");
            (k.clone(), v)
        }
        None => return Err("VariationalAutoencoder: unreadable outputDistribution".into()),
    };
    match name.as_str() {
        "GaussianReconstructionDistribution" | "Gaussian" => Ok(2 * n_in),
        "BernoulliReconstructionDistribution"
        | "Bernoulli"
        | "ExponentialReconstructionDistribution"
        | "Exponential"
        | "LossFunctionWrapper"
        | "LossWrapper" => Ok(n_in),
        "CompositeReconstructionDistribution" | "Composite" => {
            let sizes = body
                .get("distributionSizes")
                .and_then(Value::as_array)
                .ok_or("Composite distribution without distributionSizes")?;
            let dists = body
                .get("reconstructionDistributions")
                .and_then(Value::as_array)
                .ok_or("Composite distribution without reconstructionDistributions")?;
            if sizes.len() != dists.len() {
                return Err(
                    "Composite distribution: sizes and distributions differ in length".into(),
                );
            }
            sizes.iter().zip(dists).try_fold(0usize, |acc, (s, d)| {
                let s = as_int(s)
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or("Composite distribution: bad size")?;
                Ok(acc + distribution_input_size(Some(d), s)?)
            })
        }
        other => Err(format!(
            "VariationalAutoencoder: unknown reconstruction distribution {other}"
        )),
    }
}

fn vae(c: &Ctx) -> R<Vec<ParamSpec>> {
    let f = Order::F;
    let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
    let enc = c.ints("encoderLayerSizes")?;
    let dec = c.ints("decoderLayerSizes")?;
    let mut v = Vec::new();
    let mut prev = nin;
    for (i, &s) in enc.iter().enumerate() {
        v.push(c.w(&format!("e{i}W"), vec![prev, s], f));
        v.push(c.b(&format!("e{i}b"), s));
        prev = s;
    }
    v.push(c.w("pZXMeanW", vec![prev, nout], f));
    v.push(c.b("pZXMeanb", nout));
    let mut pre = vec![
        c.w("pZXLogStd2W", vec![prev, nout], f),
        c.b("pZXLogStd2b", nout),
    ];
    let mut prev = nout;
    for (i, &s) in dec.iter().enumerate() {
        pre.push(c.w(&format!("d{i}W"), vec![prev, s], f));
        pre.push(c.b(&format!("d{i}b"), s));
        prev = s;
    }
    let dist = distribution_input_size(c.l.get("outputDistribution"), nin)?;
    pre.push(c.w("pXZW", vec![prev, dist], f));
    pre.push(c.b("pXZb", dist));
    for p in &mut pre {
        p.pretrain = true;
    }
    v.extend(pre);
    Ok(v)
}

/// LocallyConnected1D/2D (SameDiff layers: weights then bias, c order).
fn locally_connected(c: &Ctx) -> R<Vec<ParamSpec>> {
    let (nin, nout) = (c.dim("nin")?, c.dim("nout")?);
    let co = Order::C;
    let k = c.ints("kernel")?;
    let mut v = Vec::new();
    if c.l.type_name == "LocallyConnected1D" {
        let out = c.dim("outputSize")?;
        v.push(c.w("W", vec![out, k[0] * nin, nout], co));
    } else {
        let out = c.ints("outputSize")?;
        let (oh, ow) = match out[..] {
            [a, b, ..] => (a, b),
            _ => return Err("LocallyConnected2D: outputSize needs 2 entries".into()),
        };
        let kk = two(c, &k)?;
        v.push(c.w("W", vec![oh * ow, kk[0] * kk[1] * nin, nout], co));
    }
    if c.has_bias(true) {
        v.push(c.b("b", nout));
    }
    Ok(v)
}

/// `{"weightParams": {"W": [..]}, "biasParams": {"b": [..]}}`: weights then biases, each in JSON
/// order, all reshaped in `c` order (SDLayerParams / SDVertexParams).
fn samediff_params(c: &Ctx, params: Option<&Value>) -> R<Option<LayerParams>> {
    let Some(p) = params.filter(|v| v.is_object()) else {
        return Ok(None);
    };
    let mut v = Vec::new();
    for (group, is_bias) in [("weightParams", false), ("biasParams", true)] {
        let Some(map) = p.get(group).and_then(Value::as_object) else {
            continue;
        };
        for (key, shape) in map {
            let shape = shape
                .as_array()
                .ok_or_else(|| format!("{}: shape of {key} is not an array", c.l.type_name))?
                .iter()
                .map(|d| as_int(d).and_then(|d| usize::try_from(d).ok()))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| format!("{}: bad shape for {key}", c.l.type_name))?;
            v.push(c.p(key, shape, Order::C, is_bias));
        }
    }
    Ok(Some(in_order(v)))
}

/// Parameters of a SameDiff graph vertex (`vertexParams`), if it declares any.
pub fn vertex_params(vertex: &LayerConf, frozen: bool) -> R<Option<LayerParams>> {
    let c = Ctx { l: vertex, frozen };
    samediff_params(&c, vertex.body.get("vertexParams"))
}
