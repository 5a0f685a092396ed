//! The `dl4j` command line.

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
    },
    /// List the registered formats and what each reads and writes.
    Plugins,
    /// Run a model with tract on an input array and compare its output with an expected array.
    ///
    /// MODEL is an ONNX file or any DL4J model file (exported to ONNX in memory). Arrays are ND4J
    /// binary arrays (DL4J's Nd4j.write) or NumPy .npy files. Exit status: 0 when every value
    /// satisfies |got - want| <= atol + rtol * |want|, 1 when not, 2 for unusable input.
    Verify {
        model: PathBuf,
        /// Input array (.bin ND4J array or .npy); cast to the model's input dtype.
        #[arg(long)]
        input: PathBuf,
        /// Expected output array (.bin ND4J array or .npy).
        #[arg(long)]
        expected: PathBuf,
        /// Relative tolerance.
        #[arg(long, default_value_t = 1e-4)]
        rtol: f64,
        /// Absolute tolerance.
        #[arg(long, default_value_t = 1e-5)]
        atol: f64,
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
        } => {
            if bake_normalizer {
                let onnx = match &to {
                    Some(t) => t == dl4j::dl4j_onnx::FORMAT_ID,
                    None => output
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("onnx")),
                };
                if !onnx {
                    return Err(dl4j::Error::Refused(
                        "--bake-normalizer applies to ONNX output only".into(),
                    ));
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
                },
                drop_updater: no_updater,
                write: WriteOptions {
                    dl4j_encoding: dl4j_encoding.map(Into::into),
                    onnx_opset: opset,
                    onnx_bake_normalizer: bake_normalizer,
                },
            };
            let done = dl4j::convert(&input, &output, &opts)?;
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
        Command::Inspect { file, json, from } => {
            let (archive, format) = dl4j::open(&file, from.as_deref())?;
            let report = dl4j::inspect::report(&archive, format);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("JSON values serialize")
                );
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
            println!(
                "{:<12}{:<7}{:<7}{:<14}description",
                "format", "read", "write", "extensions"
            );
            for f in dl4j::formats() {
                let yes = |b: bool| if b { "yes" } else { "no" };
                println!(
                    "{:<12}{:<7}{:<7}{:<14}{}",
                    f.id,
                    yes(f.reader.is_some()),
                    yes(f.writer.is_some()),
                    f.extensions.join(","),
                    f.description
                );
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Verify {
        model,
        input,
        expected,
        rtol,
        atol,
    } = cli.command
    {
        let args = cli::verify::VerifyArgs {
            model,
            input,
            expected,
            rtol,
            atol,
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
