//! The `dl4j` command line.

// A hostile file must give an error, never a panic: library code has no unwrap, expect or
// unchecked indexing (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use dl4j::{ConvertOptions, Encoding, WriteOptions};

mod cli;

#[derive(Parser)]
#[command(
    name = "dl4j",
    version,
    about = "Read, write and convert Deeplearning4j model archives"
)]
struct Cli {
    /// Load format plugins from this shared library (repeatable). Also loaded: the libraries in
    /// DL4J_PLUGIN_PATH (`:`-separated files and folders) and in $XDG_DATA_HOME/dl4j/plugins
    /// (default ~/.local/share/dl4j/plugins). A --plugin that fails to load is an error; a
    /// broken library found in a folder is skipped with a warning.
    #[arg(long = "plugin", value_name = "PATH", global = true)]
    plugins: Vec<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a model file to another file (format from magic bytes / extension, or --from/--to).
    Convert {
        input: PathBuf,
        output: PathBuf,
        /// Input format id (see `dl4j plugins`); detected when omitted.
        #[arg(long)]
        from: Option<String>,
        /// Output format id; taken from OUT's extension when omitted.
        #[arg(long)]
        to: Option<String>,
        /// Replace OUT if it exists.
        #[arg(long)]
        force: bool,
        /// ND4J array encoding of written DL4J zips (default: keep the source's).
        #[arg(long, value_enum)]
        dl4j_encoding: Option<EncodingArg>,
        /// Leave out the updater state (DL4J's saveUpdater=false).
        #[arg(long)]
        no_updater: bool,
        /// A DL4J configuration.json describing the network, for foreign weights (e.g. a
        /// PyTorch state_dict in safetensors).
        #[arg(long)]
        config: Option<PathBuf>,
        /// A TOML map from source tensors to DL4J parameters, for foreign weights.
        #[arg(long, requires = "config")]
        map: Option<PathBuf>,
        /// ONNX opset of written ONNX graphs (13..21; default 17).
        #[arg(long, value_parser = clap::value_parser!(i64).range(13..=21))]
        opset: Option<i64>,
        /// ONNX only: put the model's data normalizer into the graph as its first nodes, so the
        /// ONNX model takes raw features (labels are left alone).
        #[arg(long)]
        bake_normalizer: bool,
        /// ONNX models from other tools: the output layer's loss function (MCXENT, XENT, MSE,
        /// NEGATIVELOGLIKELIHOOD, L1, L2, MAE, ...); by default MCXENT after softmax, XENT after
        /// sigmoid, MSE after identity.
        #[arg(long)]
        loss: Option<String>,
        /// ONNX models from other tools: when some nodes have no DL4J equivalent, write the
        /// network up to the first of them instead of failing (the report says where it stopped).
        #[arg(long)]
        allow_partial: bool,
        /// ONNX models from other tools: treat graph input NAME as a constant with the values in
        /// FILE (.pb TensorProto, .npy or ND4J .bin), for models that take weights as inputs.
        /// Repeatable.
        #[arg(long, value_name = "NAME=FILE")]
        freeze: Vec<String>,
        /// Compression of written DL4J zips: `default` is DEFLATE level 6 as DL4J writes it,
        /// readable by every DL4J release; `fast` is DEFLATE level 2 (faster, about as small,
        /// also readable by every release); `stored` does not compress (fastest; every release
        /// reads it too, the file is as large as the arrays).
        #[arg(long, value_enum, default_value_t = CompressionArg::Default)]
        compression: CompressionArg,
        /// ONNX only: write the tensors to OUT.data beside OUT (ONNX external data), as models
        /// over protobuf's 2 GiB limit need. Keep both files together.
        #[arg(long)]
        external_data: bool,
        /// No progress bar (bars only show when stderr is a terminal anyway).
        #[arg(long, short)]
        quiet: bool,
        /// Ceiling on the bytes inflated from a DL4J zip, from the sizes its entries declare
        /// (bytes, or with K, M, G, T: 512M, 32G). A zip declaring more is refused before
        /// anything inflates.
        #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "16G")]
        max_size: u64,
    },
    /// Show what a model file holds.
    Inspect {
        file: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Input format id; detected when omitted.
        #[arg(long)]
        from: Option<String>,
        /// Ceiling on the bytes inflated from a DL4J zip (parameters and updater state are not
        /// inflated by inspect; see `convert --max-size`).
        #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "16G")]
        max_size: u64,
    },
    /// List the formats, built-in and loaded from plugins: what each reads and writes, its
    /// extensions and where it comes from.
    Plugins,
    /// Run a model with tract on input arrays and compare its outputs with expected arrays.
    ///
    /// MODEL is an ONNX file or any DL4J model file (exported to ONNX in memory). Arrays are ND4J
    /// binary arrays (DL4J's Nd4j.write), NumPy .npy files or, by the .pb extension, serialized
    /// ONNX TensorProtos (input_0.pb / output_0.pb of ONNX test data). Give one --input per graph
    /// input and one --expected per graph output, in graph order. An array whose shape differs
    /// from the model's only in size-1 dimensions (e.g. [1, 3, 4] for [3, 4]) is reshaped, with a
    /// note; any other shape difference is an error. Exit status: 0 when every value satisfies
    /// |got - want| <= atol + rtol * |want|, 1 when not, 2 for unusable input.
    Verify {
        model: PathBuf,
        /// Input array (.bin ND4J array, .npy or .pb TensorProto); cast to the model's input
        /// dtype. Repeat for each graph input, in order.
        #[arg(long, value_name = "IN", required = true)]
        input: Vec<PathBuf>,
        /// Expected output array (.bin ND4J array, .npy or .pb TensorProto). Repeat for each graph
        /// output, in order.
        #[arg(long, value_name = "OUT", required = true)]
        expected: Vec<PathBuf>,
        /// Relative tolerance.
        #[arg(long, default_value_t = 1e-4)]
        rtol: f64,
        /// Absolute tolerance.
        #[arg(long, default_value_t = 1e-5)]
        atol: f64,
        /// MODEL is a DL4J model imported from ONNX and the arrays are in the original ONNX
        /// graph's layout (e.g. its own test data): reorder them into DL4J's as recorded at
        /// import (recurrent data [time, batch, features] -> [batch, features, time], size-1
        /// axes DL4J's outputs lack).
        #[arg(long)]
        onnx_layout: bool,
    },
    /// Extra objects stored in a model (DL4J's addObjectToFile / getObjectFromFile).
    Objects {
        #[command(subcommand)]
        command: cli::objects::ObjectsCommand,
    },
    /// A model's data normalizer (DL4J's addNormalizerToModel / restoreNormalizerFromFile).
    Normalizer {
        #[command(subcommand)]
        command: cli::normalizer::NormalizerCommand,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressionArg {
    Stored,
    Fast,
    Default,
}

impl From<CompressionArg> for dl4j::Compression {
    fn from(c: CompressionArg) -> dl4j::Compression {
        match c {
            CompressionArg::Stored => dl4j::Compression::Stored,
            CompressionArg::Fast => dl4j::Compression::Fast,
            CompressionArg::Default => dl4j::Compression::Default,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum EncodingArg {
    /// JAVACPP, int32 lengths: readable by every DL4J release (float, double, half only).
    Legacy,
    /// LONG_SHAPE: DL4J 1.0.0-beta2 and later.
    LongShape,
    /// MIXED_DATA_TYPES: DL4J 1.0.0-beta4 and later; carries every dtype.
    Modern,
}

impl From<EncodingArg> for Encoding {
    fn from(e: EncodingArg) -> Encoding {
        match e {
            EncodingArg::Legacy => Encoding::Legacy,
            EncodingArg::LongShape => Encoding::LongShape,
            EncodingArg::Modern => Encoding::Modern,
        }
    }
}

/// `--freeze NAME=FILE` values as named tensors.
fn frozen_inputs(args: &[String]) -> dl4j::Result<Vec<(String, dl4j::Tensor)>> {
    args.iter()
        .map(|a| {
            let (name, file) = a.split_once('=').ok_or_else(|| {
                dl4j::Error::Refused(format!("--freeze {a:?}: expected NAME=FILE"))
            })?;
            let path = PathBuf::from(file);
            // TensorProto files keep their element type (shapes and indices are integers).
            let is_pb = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("pb"));
            let tensor = if is_pb {
                let bytes = std::fs::read(&path).map_err(|e| dl4j::Error::io(&path, e))?;
                dl4j::dl4j_onnx::read_tensor_proto(&bytes)
                    .map_err(|e| e.in_file(&path))?
                    .1
            } else {
                let array = cli::verify::read_array(&path)?;
                dl4j::Tensor::new(array.shape, dl4j::TensorData::F64(array.values))?
            };
            Ok((name.to_string(), tensor))
        })
        .collect()
}

fn run(cli: Cli) -> dl4j::Result<()> {
    match cli.command {
        Command::Convert {
            input,
            output,
            from,
            to,
            force,
            dl4j_encoding,
            no_updater,
            config,
            map,
            opset,
            bake_normalizer,
            loss,
            allow_partial,
            freeze,
            compression,
            external_data,
            quiet,
            max_size,
        } => {
            let onnx = match &to {
                Some(t) => t == dl4j::dl4j_onnx::FORMAT_ID,
                None => output
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("onnx")),
            };
            for (set, flag) in [
                (bake_normalizer, "--bake-normalizer"),
                (external_data, "--external-data"),
            ] {
                if set && !onnx {
                    return Err(dl4j::Error::Refused(format!(
                        "{flag} applies to ONNX output only"
                    )));
                }
            }
            let text = |p: Option<PathBuf>| -> dl4j::Result<Option<String>> {
                p.map(|p| std::fs::read_to_string(&p).map_err(|e| dl4j::Error::io(&p, e)))
                    .transpose()
            };
            let opts = ConvertOptions {
                from,
                to,
                force,
                read: dl4j::ReadOptions {
                    config: text(config)?,
                    map: text(map)?,
                    loss,
                    allow_partial,
                    frozen: frozen_inputs(&freeze)?,
                    max_size: Some(max_size),
                    ..Default::default()
                },
                drop_updater: no_updater,
                write: WriteOptions {
                    dl4j_encoding: dl4j_encoding.map(Into::into),
                    onnx_opset: opset,
                    onnx_bake_normalizer: bake_normalizer,
                    compression: compression.into(),
                    onnx_external_data: external_data,
                    ..Default::default()
                },
                progress: !quiet,
            };
            let done = dl4j::convert(&input, &output, &opts)?;
            for note in &done.notes {
                eprintln!("note: {note}");
            }
            let a = &done.archive;
            let target = if done.to.id == dl4j::dl4j_native::FORMAT_ID {
                let e = opts.write.dl4j_encoding.unwrap_or(a.params.encoding());
                format!(
                    ", ND4J {} encoding, readable by {}",
                    e.name(),
                    e.readable_by()
                )
            } else {
                String::new()
            };
            eprintln!(
                "{} ({}, {}, {} {} parameters) -> {} ({}{target})",
                input.display(),
                done.from.id,
                a.kind().name(),
                a.num_params(),
                a.dtype(),
                output.display(),
                done.to.id,
            );
            Ok(())
        }
        Command::Inspect {
            file,
            json,
            from,
            max_size,
        } => {
            let (archive, format) =
                dl4j::files::open_for_report(&file, from.as_deref(), Some(max_size))?;
            let report = dl4j::inspect::report(&archive, format);
            if json {
                // `{:#}` is serde_json's pretty printing, which cannot fail for a `Value`.
                println!("{report:#}");
            } else {
                print!(
                    "{}",
                    dl4j::inspect::render(&file.display().to_string(), &report)
                );
            }
            Ok(())
        }
        Command::Verify { .. } => unreachable!("handled in main"),
        Command::Objects { command } => cli::objects::run(command),
        Command::Normalizer { command } => cli::normalizer::run(command),
        Command::Plugins => {
            print_plugins();
            Ok(())
        }
    }
}

/// `dl4j plugins`: one row per format; loaded formats get a second line with their plugin,
/// library and magic bytes.
fn print_plugins() {
    println!(
        "{:<12}{:<7}{:<7}{:<14}{:<10}description",
        "format", "read", "write", "extensions", "origin"
    );
    for f in dl4j::formats() {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let loaded = dl4j::plugins::loaded_format(f.id);
        println!(
            "{:<12}{:<7}{:<7}{:<14}{:<10}{}",
            f.id,
            yes(f.reader.is_some()),
            yes(f.writer.is_some()),
            f.extensions.join(","),
            if loaded.is_some() {
                "plugin"
            } else {
                "built-in"
            },
            f.description
        );
        if let Some(l) = loaded {
            let magic: Vec<String> = l
                .magic
                .iter()
                .map(|m| format!("\"{}\" at {}", m.bytes.escape_ascii(), m.offset))
                .collect();
            let magic = if magic.is_empty() {
                "none".to_string()
            } else {
                magic.join(", ")
            };
            println!(
                "{:<12}from {} {} ({}); magic: {magic}",
                "",
                l.plugin,
                l.version,
                l.path.display()
            );
        }
    }
}

fn main() -> ExitCode {
    // Ctrl-C, SIGTERM or SIGHUP: unfinished outputs (temporary files, and the external-data
    // file of an ONNX model not yet in place) are removed before exiting. The handler runs on
    // its own thread, so it may take locks and touch the file system.
    if let Err(e) = ctrlc::set_handler(|| {
        let _ = dl4j_core::abandon_unfinished_writes();
        eprintln!("dl4j: interrupted; no partial output was left");
        std::process::exit(130);
    }) {
        eprintln!("dl4j: warning: cannot catch interrupts ({e}); an interrupted run may leave a temporary file");
    }
    let cli = Cli::parse();
    match dl4j::plugins::load_all(&cli.plugins) {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("dl4j: warning: {w}");
            }
        }
        Err(e) => {
            eprintln!("dl4j: error: {e}");
            // `verify` keeps its own contract: 1 means "outputs differ", 2 unusable input.
            let code = if matches!(cli.command, Command::Verify { .. }) {
                2
            } else {
                1
            };
            return ExitCode::from(code);
        }
    }
    if let Command::Verify {
        model,
        input,
        expected,
        rtol,
        atol,
        onnx_layout,
    } = cli.command
    {
        let args = cli::verify::VerifyArgs {
            model,
            inputs: input,
            expected,
            rtol,
            atol,
            onnx_layout,
        };
        return match cli::verify::run(&args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("dl4j: error: {e}");
                ExitCode::from(2)
            }
        };
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dl4j: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--max-size`: bytes, or a number with K, M, G or T (powers of 1024; a trailing B or iB is
/// allowed: 512M, 16GiB, 2.5G).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, shift) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 10),
        Some('M') => (&t[..t.len() - 1], 20),
        Some('G') => (&t[..t.len() - 1], 30),
        Some('T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a size (bytes, or with K, M, G, T: 512M, 16G)"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{text:?} is not a usable size"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("16G"), Ok(16 << 30));
        assert_eq!(parse_size("16GiB"), Ok(16 << 30));
        assert_eq!(parse_size("2.5g"), Ok(5 << 29));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        for bad in ["", "G", "lots", "-1G", "0", "1e30T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
