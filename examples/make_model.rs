//! Writes a benchmark-sized DL4J model zip with this crate's own code: a MultiLayerNetwork whose
//! `configuration.json`, `coefficients.bin` and `updaterState.bin` (Adam) are laid out exactly as
//! DL4J 1.0.0-beta7 writes them, scaled so the parameter count is close to the request.
//!
//! Usage: `cargo run --release --example make_model -- [--arch mlp|cnn|lstm] [--params 50k]
//!         [--no-adam] [--seed 7] OUT.zip`
//!
//! The values are deterministic from `--seed`: Xavier-normal weights, zero biases (LSTM forget
//! gates 1.0), Adam `m` small and centred, `v` small and positive.

use std::path::PathBuf;
use std::process::ExitCode;

use dl4j::layout::ParamLayout;
use dl4j::nd4j::{Encoding, Nd4jArray};
use dl4j::{Archive, Configuration, Tensor, TensorData};

#[derive(Clone, Copy, PartialEq)]
enum Arch {
    Mlp,
    Cnn,
    Lstm,
}

struct Args {
    arch: Arch,
    params: usize,
    adam: bool,
    seed: u64,
    out: PathBuf,
}

const USAGE: &str =
    "usage: make_model [--arch mlp|cnn|lstm] [--params 50k] [--no-adam] [--seed N] OUT.zip";

/// `42M`, `1.5M`, `500k`, `2G` or a plain integer.
fn parse_count(s: &str) -> Result<usize, String> {
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        Some('g' | 'G') => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("--params: not a count: {s}"))?;
    let n = (v * mult).round();
    if !(1e3..=4e9).contains(&n) {
        return Err(format!("--params: {s} is outside 1k..4G"));
    }
    Ok(n as usize)
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        arch: Arch::Mlp,
        // Small by default so a plain `cargo run --example make_model -- example.zip` is quick.
        params: 50_000,
        adam: true,
        seed: 7,
        out: PathBuf::new(),
    };
    let mut out = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--arch" => {
                args.arch = match value("--arch")?.as_str() {
                    "mlp" => Arch::Mlp,
                    "cnn" => Arch::Cnn,
                    "lstm" => Arch::Lstm,
                    other => return Err(format!("--arch: unknown architecture {other}")),
                }
            }
            "--params" => args.params = parse_count(&value("--params")?)?,
            "--seed" => {
                let v = value("--seed")?;
                args.seed = v
                    .parse()
                    .map_err(|_| format!("--seed: not a number: {v}"))?;
            }
            "--no-adam" => args.adam = false,
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s if out.is_none() => out = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s}\n{USAGE}")),
        }
    }
    args.out = out.ok_or_else(|| USAGE.to_string())?;
    Ok(args)
}

/// splitmix64: tiny, fast and good enough for synthetic weights.
struct Rng {
    state: u64,
    spare: Option<f64>,
}

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng {
            state: seed,
            spare: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so the logarithm below is finite.
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box-Muller, both values used).
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let t = std::f64::consts::TAU * self.uniform();
        self.spare = Some(r * t.sin());
        r * t.cos()
    }
}

// ---- configuration.json, in the shape and key order (alphabetical) DL4J 1.0.0-beta7 writes ----

const ADAM: &str = r#""iupdater" : {
        "@class" : "org.nd4j.linalg.learning.config.Adam",
        "beta1" : 0.9,
        "beta2" : 0.999,
        "epsilon" : 1.0E-8,
        "learningRate" : 0.001
      },"#;

const XAVIER: &str = r#""weightInitFn" : {
        "@class" : "org.deeplearning4j.nn.weights.WeightInitXavier"
      },"#;

fn activation(name: &str) -> String {
    if name == "ReLU" {
        // beta7 writes ActivationReLU's optional fields as nulls.
        r#"{
        "@class" : "org.nd4j.linalg.activations.impl.ActivationReLU",
        "max" : null,
        "negativeSlope" : null,
        "threshold" : null
      }"#
        .into()
    } else {
        format!(
            "{{\n        \"@class\" : \"org.nd4j.linalg.activations.impl.Activation{name}\"\n      }}"
        )
    }
}

const LOSS_MCXENT: &str = r#""lossFn" : {
        "@class" : "org.nd4j.linalg.lossfunctions.impl.LossMCXENT",
        "softmaxClipEps" : 1.0E-10
      },"#;

/// One `confs` element around a layer body.
fn conf(layer: &str, seed: u64, variables: &str) -> String {
    format!(
        r#"{{
    "cacheMode" : "NONE",
    "dataType" : "FLOAT",
    "epochCount" : 0,
    "iterationCount" : 0,
    "layer" : {{
      {layer}
    }},
    "maxNumLineSearchIterations" : 5,
    "miniBatch" : true,
    "minimize" : true,
    "optimizationAlgo" : "STOCHASTIC_GRADIENT_DESCENT",
    "seed" : {seed},
    "stepFunction" : null,
    "variables" : [ {variables} ]
  }}"#
    )
}

const W_B: &str = r#""W", "b""#;

fn dense(name: usize, n_in: usize, n_out: usize, act: &str) -> String {
    format!(
        r#""@class" : "org.deeplearning4j.nn.conf.layers.DenseLayer",
      "activationFn" : {},
      "biasInit" : 0.0,
      "biasUpdater" : null,
      "constraints" : null,
      "gainInit" : 1.0,
      "gradientNormalization" : "None",
      "gradientNormalizationThreshold" : 1.0,
      "hasBias" : true,
      "hasLayerNorm" : false,
      "idropout" : null,
      {ADAM}
      "layerName" : "layer{name}",
      "nin" : {n_in},
      "nout" : {n_out},
      "regularization" : [ ],
      "regularizationBias" : [ ],
      "timeDistributedFormat" : null,
      {XAVIER}
      "weightNoise" : null"#,
        activation(act)
    )
}

/// `OutputLayer`, or `RnnOutputLayer` when `rnn`.
fn output(name: usize, n_in: usize, n_out: usize, rnn: bool) -> String {
    let (class, rnn_format) = if rnn {
        ("RnnOutputLayer", "\n      \"rnnDataFormat\" : \"NCW\",")
    } else {
        ("OutputLayer", "")
    };
    format!(
        r#""@class" : "org.deeplearning4j.nn.conf.layers.{class}",
      "activationFn" : {},
      "biasInit" : 0.0,
      "biasUpdater" : null,
      "constraints" : null,
      "gainInit" : 1.0,
      "gradientNormalization" : "None",
      "gradientNormalizationThreshold" : 1.0,
      "hasBias" : true,
      "idropout" : null,
      {ADAM}
      "layerName" : "layer{name}",
      {LOSS_MCXENT}
      "nin" : {n_in},
      "nout" : {n_out},
      "regularization" : [ ],
      "regularizationBias" : [ ],{rnn_format}
      "timeDistributedFormat" : null,
      {XAVIER}
      "weightNoise" : null"#,
        activation("Softmax")
    )
}

fn convolution(name: usize, n_in: usize, n_out: usize, k: usize) -> String {
    format!(
        r#""@class" : "org.deeplearning4j.nn.conf.layers.ConvolutionLayer",
      "activationFn" : {},
      "biasInit" : 0.0,
      "biasUpdater" : null,
      "cnn2dDataFormat" : "NCHW",
      "constraints" : null,
      "convolutionMode" : "Truncate",
      "cudnnAlgoMode" : "PREFER_FASTEST",
      "cudnnAllowFallback" : true,
      "cudnnBwdDataAlgo" : null,
      "cudnnBwdFilterAlgo" : null,
      "cudnnFwdAlgo" : null,
      "dilation" : [ 1, 1 ],
      "gainInit" : 1.0,
      "gradientNormalization" : "None",
      "gradientNormalizationThreshold" : 1.0,
      "hasBias" : true,
      "idropout" : null,
      {ADAM}
      "kernelSize" : [ {k}, {k} ],
      "layerName" : "layer{name}",
      "nin" : {n_in},
      "nout" : {n_out},
      "padding" : [ 0, 0 ],
      "regularization" : [ ],
      "regularizationBias" : [ ],
      "stride" : [ 1, 1 ],
      "timeDistributedFormat" : null,
      {XAVIER}
      "weightNoise" : null"#,
        activation("ReLU")
    )
}

fn max_pool(name: usize) -> String {
    format!(
        r#""@class" : "org.deeplearning4j.nn.conf.layers.SubsamplingLayer",
      "avgPoolIncludePadInDivisor" : false,
      "cnn2dDataFormat" : "NCHW",
      "constraints" : null,
      "convolutionMode" : "Truncate",
      "cudnnAllowFallback" : true,
      "dilation" : [ 1, 1 ],
      "eps" : 1.0E-8,
      "gradientNormalization" : "None",
      "gradientNormalizationThreshold" : 0.0,
      "idropout" : null,
      "kernelSize" : [ 2, 2 ],
      "layerName" : "layer{name}",
      "padding" : [ 0, 0 ],
      "pnorm" : 0,
      "poolingType" : "MAX",
      "stride" : [ 2, 2 ]"#
    )
}

fn lstm(name: usize, n_in: usize, n_out: usize) -> String {
    format!(
        r#""@class" : "org.deeplearning4j.nn.conf.layers.LSTM",
      "activationFn" : {},
      "biasInit" : 0.0,
      "biasUpdater" : null,
      "constraints" : null,
      "forgetGateBiasInit" : 1.0,
      "gainInit" : 1.0,
      "gateActivationFn" : {},
      "gradientNormalization" : "None",
      "gradientNormalizationThreshold" : 1.0,
      "helperAllowFallback" : true,
      "idropout" : null,
      {ADAM}
      "layerName" : "layer{name}",
      "nin" : {n_in},
      "nout" : {n_out},
      "regularization" : [ ],
      "regularizationBias" : [ ],
      "rnnDataFormat" : "NCW",
      {XAVIER}
      "weightInitFnRecurrent" : null,
      "weightNoise" : null"#,
        activation("TanH"),
        activation("Sigmoid")
    )
}

fn network(confs: &[String], preprocessors: &str) -> String {
    format!(
        r#"{{
  "backpropType" : "Standard",
  "cacheMode" : "NONE",
  "confs" : [ {} ],
  "dataType" : "FLOAT",
  "epochCount" : 0,
  "inferenceWorkspaceMode" : "ENABLED",
  "inputPreProcessors" : {preprocessors},
  "iterationCount" : 0,
  "tbpttBackLength" : 20,
  "tbpttFwdLength" : 20,
  "trainingWorkspaceMode" : "ENABLED",
  "validateOutputLayerConfig" : true
}}"#,
        confs.join(", ")
    )
}

// ---- architectures, each scaled by one width `w` ----

const MLP_IN: usize = 784;
const CLASSES: usize = 10;
const CNN_SIDE: usize = 32;
const CNN_CHANNELS: usize = 3;
const LSTM_IN: usize = 256;

/// Parameter count of the architecture at width `w` (must agree with `config`).
fn count(arch: Arch, w: usize) -> usize {
    match arch {
        // 784 -> w -> w -> w -> 10
        Arch::Mlp => (MLP_IN + 1) * w + 2 * (w + 1) * w + (w + 1) * CLASSES,
        // conv3x3(3 -> w), pool, conv3x3(w -> 2w), pool, dense(2w*6*6 -> 4w), output(4w -> 10)
        Arch::Cnn => {
            let (c1, c2, d) = (w, 2 * w, 4 * w);
            (CNN_CHANNELS * 9 + 1) * c1 + (c1 * 9 + 1) * c2 + (c2 * 36 + 1) * d + (d + 1) * CLASSES
        }
        // LSTM(256 -> w), LSTM(w -> w), RnnOutput(w -> 10)
        Arch::Lstm => 4 * w * (LSTM_IN + w + 1) + 4 * w * (2 * w + 1) + (w + 1) * CLASSES,
    }
}

/// The width whose parameter count is closest to `target` (counts grow with `w`).
fn width_for(arch: Arch, target: usize) -> usize {
    let (mut lo, mut hi) = (1usize, 1usize << 20);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if count(arch, mid) < target {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if lo > 1 && target - count(arch, lo - 1).min(target) < count(arch, lo) - target {
        lo - 1
    } else {
        lo
    }
}

fn config(arch: Arch, w: usize, seed: u64) -> String {
    let c = |layer: String| conf(&layer, seed, W_B);
    match arch {
        Arch::Mlp => network(
            &[
                c(dense(0, MLP_IN, w, "ReLU")),
                c(dense(1, w, w, "ReLU")),
                c(dense(2, w, w, "ReLU")),
                c(output(3, w, CLASSES, false)),
            ],
            "{ }",
        ),
        Arch::Cnn => {
            let pre = format!(
                r#"{{
    "0" : {{
      "@class" : "org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor",
      "inputHeight" : {CNN_SIDE},
      "inputWidth" : {CNN_SIDE},
      "numChannels" : {CNN_CHANNELS}
    }},
    "4" : {{
      "@class" : "org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor",
      "format" : "NCHW",
      "inputHeight" : 6,
      "inputWidth" : 6,
      "numChannels" : {}
    }}
  }}"#,
                2 * w
            );
            network(
                &[
                    c(convolution(0, CNN_CHANNELS, w, 3)),
                    conf(&max_pool(1), seed, ""),
                    c(convolution(2, w, 2 * w, 3)),
                    conf(&max_pool(3), seed, ""),
                    c(dense(4, 2 * w * 36, 4 * w, "ReLU")),
                    c(output(5, 4 * w, CLASSES, false)),
                ],
                &pre,
            )
        }
        Arch::Lstm => {
            let lstm_vars = r#""W", "RW", "b""#;
            network(
                &[
                    conf(&lstm(0, LSTM_IN, w), seed, lstm_vars),
                    conf(&lstm(1, w, w), seed, lstm_vars),
                    c(output(2, w, CLASSES, true)),
                ],
                "{ }",
            )
        }
    }
}

/// Fills the flat parameter vector by the library's layout: Xavier-normal weights (fans from
/// the logical shape), zero biases, LSTM forget-gate biases at 1.0.
fn init_params(layout: &ParamLayout, rng: &mut Rng) -> Vec<f32> {
    let mut flat = vec![0f32; layout.total];
    for layer in &layout.layers {
        for p in &layer.params {
            let span = &mut flat[p.range()];
            let (fan_in, fan_out) = match p.shape.as_slice() {
                [r, c] => (*r, *c),
                // Convolution weights [nOut, nIn, kH, kW].
                [o, i, rest @ ..] => {
                    let rf: usize = rest.iter().product();
                    (i * rf, o * rf)
                }
                _ => (0, 0),
            };
            if fan_in > 0 && p.key != "b" {
                let std = (2.0 / (fan_in + fan_out) as f64).sqrt();
                span.iter_mut()
                    .for_each(|x| *x = (rng.normal() * std) as f32);
            } else if layer.type_name == "LSTM" && p.key == "b" {
                // Gate blocks of nOut: block input, forget, output, input modulation.
                let h = span.len() / 4;
                span[h..2 * h].fill(1.0);
            }
        }
    }
    flat
}

/// Adam state after some training: `m` centred and small, `v` positive and smaller.
fn adam_state(n: usize, rng: &mut Rng) -> Vec<f32> {
    let mut state = Vec::with_capacity(2 * n);
    state.extend((0..n).map(|_| (rng.normal() * 1e-4) as f32));
    state.extend((0..n).map(|_| {
        let g = rng.normal() * 1e-3;
        (g * g + 1e-10) as f32
    }));
    state
}

fn run(args: &Args) -> dl4j::Result<()> {
    let w = width_for(args.arch, args.params);
    let total = count(args.arch, w);
    let config = Configuration::parse(config(args.arch, w, args.seed))?;
    let layout = ParamLayout::build(&config, total)?;
    if layout.total != total || layout.unknown.is_some() {
        return Err(dl4j::Error::Format(format!(
            "layout has {} params, expected {total}",
            layout.total
        )));
    }
    let mut rng = Rng::new(args.seed);
    let flat = init_params(&layout, &mut rng);
    let mut archive = Archive::with_parameters(config, TensorData::F32(flat), "dl4j")?;
    if args.adam {
        let state = adam_state(total, &mut rng);
        let tensor = Tensor::new(vec![1, 2 * total], TensorData::F32(state))?;
        archive.updater_state = Some(Nd4jArray::new(tensor, Encoding::Modern));
        // The updater layout must be one the readers know (Adam: one block, m then v); the
        // file is not read back, which would hold a second copy of the arrays.
        archive.updater_layout()?;
    }
    // `writeModel` encodes the arrays while they are deflated (no second copy in memory).
    dl4j::serializer::write_model_file(&archive, &args.out, args.adam, None)?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    let arch = match args.arch {
        Arch::Mlp => "mlp",
        Arch::Cnn => "cnn",
        Arch::Lstm => "lstm",
    };
    println!(
        "wrote {}: {arch} width {w}, {total} params ({:.2}M, requested {}), updater {}, {:.1} MB",
        args.out.display(),
        total as f64 / 1e6,
        args.params,
        if args.adam { "Adam" } else { "none" },
        bytes as f64 / 1e6
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_model: {e}");
            ExitCode::FAILURE
        }
    }
}
