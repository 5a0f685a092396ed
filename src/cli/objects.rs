//! `dl4j objects list|get|add|remove`: DL4J's extra objects (`objects/<key>`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use dl4j::java_serial::{self, JavaValue};
use dl4j::serializer;
use dl4j::{Error, Result};

#[derive(Subcommand)]
pub enum ObjectsCommand {
    /// List the objects: key, Java class (read from the stream header) and size.
    List { model: PathBuf },
    /// Write an object's raw Java serialization bytes to stdout (or --out), or show it decoded.
    Get {
        model: PathBuf,
        key: String,
        /// Write the bytes to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Show the value (String, numbers, arrays, lists, maps, ...) instead of the bytes.
        #[arg(long, conflicts_with = "out")]
        decode: bool,
        /// Replace --out if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Add an object, written as a genuine Java serialization stream.
    Add {
        model: PathBuf,
        key: String,
        #[command(flatten)]
        value: ValueArgs,
        /// Replace an object stored under the same key.
        #[arg(long)]
        replace: bool,
    },
    /// Remove an object (DL4J has no call for this).
    Remove { model: PathBuf, key: String },
}

/// Exactly one value to store.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct ValueArgs {
    /// A java.lang.String.
    #[arg(long)]
    string: Option<String>,
    /// A java.util.ArrayList<String> from comma-separated items.
    #[arg(long)]
    strings: Option<String>,
    /// A java.lang.String[] from comma-separated items.
    #[arg(long)]
    string_array: Option<String>,
    /// A java.lang.Integer.
    #[arg(long, allow_hyphen_values = true)]
    int: Option<i32>,
    /// A java.lang.Long.
    #[arg(long, allow_hyphen_values = true)]
    long: Option<i64>,
    /// A java.lang.Double.
    #[arg(long, allow_hyphen_values = true)]
    double: Option<f64>,
    /// A java.lang.Boolean.
    #[arg(long)]
    bool: Option<bool>,
    /// An int[] from comma-separated numbers.
    #[arg(long, allow_hyphen_values = true)]
    ints: Option<String>,
    /// A double[] from comma-separated numbers.
    #[arg(long, allow_hyphen_values = true)]
    doubles: Option<String>,
    /// A java.util.HashMap<String,String> from a flat JSON object of strings.
    #[arg(long)]
    json: Option<String>,
    /// A file that already holds one Java serialization stream.
    #[arg(long)]
    raw: Option<PathBuf>,
}

fn split(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(str::to_string).collect()
}

fn numbers<T: std::str::FromStr>(s: &str, what: &str) -> Result<Vec<T>> {
    split(s)
        .iter()
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|_| Error::Refused(format!("{what}: {x:?} is not a number")))
        })
        .collect()
}

impl ValueArgs {
    /// The serialization stream to store.
    fn bytes(&self) -> Result<Vec<u8>> {
        let value = if let Some(s) = &self.string {
            JavaValue::String(s.clone())
        } else if let Some(s) = &self.strings {
            JavaValue::StringList(split(s))
        } else if let Some(s) = &self.string_array {
            JavaValue::StringArray(split(s))
        } else if let Some(v) = self.int {
            JavaValue::Integer(v)
        } else if let Some(v) = self.long {
            JavaValue::Long(v)
        } else if let Some(v) = self.double {
            JavaValue::Double(v)
        } else if let Some(v) = self.bool {
            JavaValue::Boolean(v)
        } else if let Some(s) = &self.ints {
            JavaValue::IntArray(numbers(s, "--ints")?)
        } else if let Some(s) = &self.doubles {
            JavaValue::DoubleArray(numbers(s, "--doubles")?)
        } else if let Some(s) = &self.json {
            JavaValue::StringMap(flat_json(s)?)
        } else if let Some(p) = &self.raw {
            let b = std::fs::read(p).map_err(|e| Error::io(p, e))?;
            if java_serial::class_name(&b).is_none() {
                return Err(Error::Refused(
                    "not a Java serialization stream (no AC ED 00 05 header with an object)".into(),
                )
                .in_file(p));
            }
            return Ok(b);
        } else {
            unreachable!("clap requires one value");
        };
        Ok(java_serial::serialize(&value))
    }
}

/// A flat JSON object whose values are all strings, in document order.
fn flat_json(s: &str) -> Result<Vec<(String, String)>> {
    let v: serde_json::Value =
        serde_json::from_str(s).map_err(|e| Error::Refused(format!("--json: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::Refused("--json: expected a JSON object".into()))?;
    obj.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
            other => Err(Error::Refused(format!(
                "--json: value of {k:?} is {other}, not a string"
            ))),
        })
        .collect()
}

/// One line describing an object: its value, or, for classes we do not decode, the class
/// name and the size.
pub fn describe(bytes: &[u8]) -> String {
    let class = java_serial::class_name(bytes);
    match java_serial::display(bytes) {
        Ok(text) if Some(&text) == class.as_ref() => format!("{text} ({} bytes)", bytes.len()),
        Ok(text) => text,
        Err(e) => format!(
            "{} ({} bytes; {e})",
            class.unwrap_or_else(|| "not a Java object".into()),
            bytes.len()
        ),
    }
}

pub fn run(cmd: ObjectsCommand) -> Result<()> {
    match cmd {
        ObjectsCommand::List { model } => {
            let objects = serializer::objects_in_file(model.as_path())?;
            if objects.is_empty() {
                eprintln!("{}: no objects", model.display());
            }
            for (key, bytes) in objects {
                let class = java_serial::class_name(&bytes).unwrap_or_else(|| "?".into());
                println!("{key}\t{class}\t{}", bytes.len());
            }
            Ok(())
        }
        ObjectsCommand::Get {
            model,
            key,
            out,
            decode,
            force,
        } => {
            let bytes = serializer::get_object_from_file(model.as_path(), &key)?;
            if decode {
                println!("{}", describe(&bytes));
            } else if let Some(out) = out {
                write_out(&out, &bytes, force)?;
            } else {
                std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| Error::io("standard output", e))?;
            }
            Ok(())
        }
        ObjectsCommand::Add {
            model,
            key,
            value,
            replace,
        } => {
            let bytes = value.bytes()?;
            serializer::add_object_to_file(&model, &key, &bytes, replace)?;
            eprintln!("{}: objects/{key} = {}", model.display(), describe(&bytes));
            Ok(())
        }
        ObjectsCommand::Remove { model, key } => {
            serializer::remove_object_from_file(&model, &key)?;
            eprintln!("{}: removed objects/{key}", model.display());
            Ok(())
        }
    }
}

fn write_out(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    dl4j::write_file_atomically(path, force, |w| {
        w.write_all(bytes).map_err(|e| Error::io(path, e))
    })
}
