//! `dl4j normalizer show|set|remove`: the model's `normalizer.bin`.

use std::path::PathBuf;

use clap::Subcommand;
use dl4j::serializer;
use dl4j::{Error, Normalizer, Result};

#[derive(Subcommand)]
pub enum NormalizerCommand {
    /// Show the normalizer: kind, class and arrays.
    Show {
        model: PathBuf,
        /// Print the JSON description (the format `set` reads).
        #[arg(long)]
        json: bool,
    },
    /// Add or replace the normalizer from a normalizer.bin or a JSON description.
    Set { model: PathBuf, file: PathBuf },
    /// Remove the normalizer.
    Remove { model: PathBuf },
}

pub fn run(cmd: NormalizerCommand) -> Result<()> {
    match cmd {
        NormalizerCommand::Show { model, json } => {
            let Some(n) = serializer::restore_normalizer(model.as_path())? else {
                return Err(Error::Format("the model has no normalizer".into()).in_file(&model));
            };
            if json {
                // `{:#}` is serde_json's pretty printing, which cannot fail for a `Value`.
                println!("{:#}", n.to_json());
            } else {
                print!("{}", render(&n));
            }
            Ok(())
        }
        NormalizerCommand::Set { model, file } => {
            let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
            let normalizer = parse(&model, &bytes).map_err(|e| e.in_file(&file))?;
            serializer::add_normalizer_to_model(&model, &normalizer)?;
            eprintln!(
                "{}: normalizer set to {}",
                model.display(),
                normalizer.type_name()
            );
            Ok(())
        }
        NormalizerCommand::Remove { model } => {
            if !serializer::remove_normalizer_from_model(&model)? {
                return Err(Error::Format("the model has no normalizer".into()).in_file(&model));
            }
            eprintln!("{}: normalizer removed", model.display());
            Ok(())
        }
    }
}

/// A `normalizer.bin` (NormalizerSerializer or Java serialization), or a JSON description
/// whose arrays take the model's ND4J encoding.
fn parse(model: &std::path::Path, bytes: &[u8]) -> Result<Normalizer> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim_start);
    if let Some(t) = text.filter(|t| t.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(t).map_err(|e| Error::Format(format!("not valid JSON: {e}")))?;
        let model_bytes = std::fs::read(model).map_err(|e| Error::io(model, e))?;
        let entries = serializer::read_entries(&model_bytes).map_err(|e| e.in_file(model))?;
        let encoding = serializer::model_encoding(&entries).unwrap_or(dl4j::Encoding::Modern);
        return Normalizer::from_json(&v, encoding);
    }
    Normalizer::from_bytes(bytes)
}

fn render(n: &Normalizer) -> String {
    let mut out = format!("type        {}\n", n.type_name());
    out.push_str(&format!(
        "class       {}\n",
        n.class_name().unwrap_or_else(|| "-".into())
    ));
    match n {
        Normalizer::MinMax {
            target_min,
            target_max,
            ..
        }
        | Normalizer::MultiMinMax {
            target_min,
            target_max,
            ..
        } => out.push_str(&format!("target      [{target_min}, {target_max}]\n")),
        Normalizer::ImageMinMax {
            min_range,
            max_range,
            max_pixel_val,
        } => out.push_str(&format!(
            "range       [{min_range}, {max_range}] from pixels in [0, {max_pixel_val}]\n"
        )),
        Normalizer::Custom { payload, .. } | Normalizer::Other { payload, .. } => {
            out.push_str(&format!("payload     {} bytes\n", payload.len()))
        }
        Normalizer::JavaSerialized { bytes } => out.push_str(&format!(
            "payload     {} bytes (Java serialization)\n",
            bytes.len()
        )),
        _ => {}
    }
    for (name, a) in n.arrays() {
        let v = a.tensor.to_f64_vec();
        out.push_str(&format!(
            "{name:<12}{} {:?} {:?}\n",
            a.tensor.dtype(),
            a.tensor.shape(),
            v
        ));
    }
    out
}
