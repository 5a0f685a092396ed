//! `dl4j verify`: run a model with tract on input arrays and compare with expected arrays.
//!
//! Arrays are ND4J binary arrays (what DL4J's `Nd4j.write` writes), NumPy `.npy` files (told
//! apart by the `.npy` magic bytes) or serialized ONNX `TensorProto`s (the `input_0.pb` /
//! `output_0.pb` files of ONNX test data, told apart by the `.pb` extension). The k-th input
//! array feeds the model's k-th graph input and the k-th expected array is compared with the
//! model's k-th output. An array whose shape differs from the model's only in size-1 dimensions
//! is reshaped (C order, so the data is unchanged) with a note. A DL4J model (any readable model
//! file) is exported to ONNX in memory first; a `.onnx` file is run as it is.

use std::path::{Path, PathBuf};

use dl4j::{Error, Result};
use half::f16;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// What `verify` compares.
#[derive(Debug, Clone)]
pub struct VerifyArgs {
    pub model: PathBuf,
    /// One array per graph input, in graph order.
    pub inputs: Vec<PathBuf>,
    /// One array per graph output, in graph order.
    pub expected: Vec<PathBuf>,
    pub rtol: f64,
    pub atol: f64,
    /// The arrays are in the layout of the ONNX graph MODEL was imported from.
    pub onnx_layout: bool,
}

/// A dense array in row-major (C) order, values widened to f64.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// Runs the check; `Ok(true)` when every value of every output is within tolerance, `Ok(false)`
/// when not (the report is printed either way), `Err` for unusable inputs.
pub fn run(args: &VerifyArgs) -> Result<bool> {
    if !(args.rtol >= 0.0 && args.atol >= 0.0) {
        return Err(Error::Format(
            "--rtol and --atol must be non-negative numbers".into(),
        ));
    }
    if args.inputs.is_empty() || args.expected.is_empty() {
        return Err(Error::Format(
            "give at least one --input and one --expected array".into(),
        ));
    }
    let mut inputs = args
        .inputs
        .iter()
        .map(|p| read_named_array(p))
        .collect::<Result<Vec<_>>>()?;
    let mut expected = args
        .expected
        .iter()
        .map(|p| read_array(p))
        .collect::<Result<Vec<_>>>()?;
    if args.onnx_layout {
        let record = import_record(&args.model)?;
        // The record's entry for the k-th graph input or output (`side`: "inputs"/"outputs").
        let io = |side: &str, k: usize, what: &str| {
            let list = record.get(side).and_then(|v| v.as_array());
            list.and_then(|a| a.get(k)).ok_or_else(|| {
                Error::Format(format!(
                    "{what}: the import record of {} lists {} {side}, none for this array",
                    args.model.display(),
                    list.map_or(0, Vec::len)
                ))
            })
        };
        for (k, (_, x)) in inputs.iter_mut().enumerate() {
            let what = format!("input {k}");
            *x = to_dl4j_layout(x, io("inputs", k, &what)?, &what)?;
        }
        for (k, y) in expected.iter_mut().enumerate() {
            let what = format!("expected {k}");
            *y = to_dl4j_layout(y, io("outputs", k, &what)?, &what)?;
        }
    }
    let onnx = model_bytes(&args.model)?;
    let model_err = |e: TractError| {
        Error::Format(format!(
            "{}: running the model: {e:#}",
            args.model.display()
        ))
    };

    // An .onnx file loads from its path, so tensors in external data files beside it resolve.
    let mut model = match &onnx {
        None => tract_onnx::onnx().model_for_path(&args.model),
        Some(bytes) => tract_onnx::onnx().model_for_read(&mut &bytes[..]),
    }
    .map_err(model_err)?;
    let in_names: Vec<String> = model
        .input_outlets()
        .map_err(model_err)?
        .iter()
        .map(|o| model.node(o.node).name.clone())
        .collect();
    let out_names: Vec<String> = model
        .output_outlets()
        .map_err(model_err)?
        .iter()
        .map(|&o| {
            model
                .outlet_label(o)
                .map(str::to_string)
                .unwrap_or_else(|| model.node(o.node).name.clone())
        })
        .collect();
    check_count(
        &args.model,
        "input",
        "--input",
        &in_names,
        args.inputs.len(),
    )?;
    check_count(
        &args.model,
        "output",
        "--expected",
        &out_names,
        args.expected.len(),
    )?;

    let mut feed: TVec<TValue> = tvec!();
    // `check_count` made the graph's inputs and the arrays equally many.
    for (k, (((name, x), path), graph_name)) in inputs
        .into_iter()
        .zip(&args.inputs)
        .zip(&in_names)
        .enumerate()
    {
        if let Some(n) = name.filter(|n| !n.is_empty() && n != graph_name) {
            println!(
                "note: input {k} ({}) is named {n:?}; the model's input {k} is {graph_name:?}",
                path.display()
            );
        }
        let fact = model.input_fact(k).map_err(model_err)?.clone();
        let dt = fact.datum_type.concretize().unwrap_or(DatumType::F32);
        if !dt.is_float() {
            return Err(Error::Format(format!(
                "{}: the model's input {k} ({graph_name:?}) is {dt:?}; verify feeds floating-point inputs only",
                args.model.display()
            )));
        }
        let shape = if fact.shape.is_open() {
            x.shape.clone()
        } else {
            let declared: Vec<Option<usize>> = fact
                .shape
                .dims()
                .map(|d| {
                    d.concretize()
                        .and_then(|d| d.as_i64())
                        .and_then(|d| usize::try_from(d).ok())
                })
                .collect();
            let fits = declared.len() == x.shape.len()
                && declared
                    .iter()
                    .zip(&x.shape)
                    .all(|(d, &n)| d.is_none_or(|d| d == n));
            if fits {
                x.shape.clone()
            } else if let Some(target) = fit_unit_dims(&x.shape, &declared) {
                println!(
                    "input {k}: {:?} reshaped to {:?} (differs only in size-1 dimensions)",
                    x.shape, target
                );
                target
            } else {
                let shown: Vec<String> = fact
                    .shape
                    .dims()
                    .map(|d| d.concretize().map_or("?".to_string(), |d| d.to_string()))
                    .collect();
                return Err(Error::Format(format!(
                    "input {k} ({}): shape {:?} does not fit the model's input {graph_name:?} of shape [{}]",
                    path.display(),
                    x.shape,
                    shown.join(", ")
                )));
            }
        };
        model
            .set_input_fact(k, InferenceFact::dt_shape(dt, &shape))
            .map_err(model_err)?;
        let tensor = Tensor::from_shape(&shape, &x.values)
            .and_then(|t| Ok(t.cast_to_dt(dt)?.into_owned()))
            .map_err(model_err)?;
        feed.push(tensor.into_tvalue());
    }
    let runnable = model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(model_err)?;
    let out = runnable.run(feed).map_err(model_err)?;
    if out.len() != expected.len() {
        return Err(Error::Format(format!(
            "{}: the model produced {} outputs, expected {}",
            args.model.display(),
            out.len(),
            expected.len()
        )));
    }
    let mut got = Vec::with_capacity(out.len());
    // `check_count` made the graph's outputs and the expected arrays equally many.
    let labels: Vec<(&String, &PathBuf)> = out_names.iter().zip(&args.expected).collect();
    for (k, ((o, want), (out_name, want_path))) in
        out.iter().zip(&expected).zip(&labels).enumerate()
    {
        let t = o.cast_to::<f64>().map_err(model_err)?;
        let values: Vec<f64> = t
            .to_plain_array_view::<f64>()
            .map_err(model_err)?
            .iter()
            .copied()
            .collect();
        let shape = t.shape().to_vec();
        if shape != want.shape {
            if non_unit(&shape) == non_unit(&want.shape) {
                println!(
                    "output {k}: {:?} reshaped to {:?} (differs only in size-1 dimensions)",
                    shape, want.shape
                );
            } else {
                return Err(Error::Format(format!(
                    "output {k} ({:?}): shape {:?} differs from the expected array's shape {:?} ({})",
                    out_name,
                    shape,
                    want.shape,
                    want_path.display()
                )));
            }
        }
        got.push(values);
    }

    let mut failed = 0;
    for (k, ((values, want), (out_name, want_path))) in
        got.iter().zip(&expected).zip(&labels).enumerate()
    {
        // Shapes are equal or differ only in size-1 dimensions: report in the expected shape.
        let shape = &want.shape;
        let c = compare(values, &want.values, args.rtol, args.atol);
        println!("output {k} {:?} vs {}:", out_name, want_path.display());
        println!("output shape {:?}, {} values", shape, values.len());
        println!("max abs error {:.6e}", c.max_abs);
        println!("max rel error {:.6e}", c.max_rel);
        // `compare` records the worst value exactly when some are outside.
        if let Some((i, g, w)) = c.worst {
            failed += 1;
            println!(
                "FAIL: {} of {} values outside |got - want| <= {} + {} * |want|; worst at {:?}: got {g}, expected {w}",
                c.outside,
                values.len(),
                args.atol,
                args.rtol,
                unravel(i, shape)
            );
        } else {
            println!(
                "OK: all values within |got - want| <= {} + {} * |want|",
                args.atol, args.rtol
            );
        }
    }
    if got.len() > 1 {
        if failed == 0 {
            println!("OK: all {} outputs within tolerance", got.len());
        } else {
            println!("FAIL: {failed} of {} outputs outside tolerance", got.len());
        }
    }
    Ok(failed == 0)
}

/// The error for a wrong number of `--input` / `--expected` arrays.
fn check_count(model: &Path, what: &str, flag: &str, names: &[String], given: usize) -> Result<()> {
    if names.len() == given {
        return Ok(());
    }
    let plural = |n: usize, s: &str| format!("{n} {s}{}", if n == 1 { "" } else { "s" });
    let listed: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    Err(Error::Format(format!(
        "{}: the model has {} ({}) but {} {flag} {} given; give one {flag} per graph {what}, in graph order",
        model.display(),
        plural(names.len(), what),
        listed.join(", "),
        given,
        if given == 1 { "was" } else { "were" },
    )))
}

/// The dimensions other than 1, in order.
fn non_unit(shape: &[usize]) -> Vec<usize> {
    shape.iter().copied().filter(|&d| d != 1).collect()
}

/// A shape for an array of shape `have` that fits `declared` (`None`: a symbolic dimension,
/// matching anything) and differs from `have` only in size-1 dimensions, so a C-order reshape
/// keeps the data. `None` when there is none.
pub fn fit_unit_dims(have: &[usize], declared: &[Option<usize>]) -> Option<Vec<usize>> {
    fn go(have: &[usize], declared: &[Option<usize>], out: &mut Vec<usize>) -> bool {
        let Some((&d, rest)) = declared.split_first() else {
            return have.is_empty();
        };
        match d {
            Some(1) => {
                out.push(1);
                if go(have, rest, out) {
                    return true;
                }
            }
            Some(n) => {
                if let Some((&h, tail)) = have.split_first().filter(|(&h, _)| h == n) {
                    out.push(h);
                    if go(tail, rest, out) {
                        return true;
                    }
                }
            }
            None => {
                if let Some((&n, tail)) = have.split_first() {
                    out.push(n);
                    if go(tail, rest, out) {
                        return true;
                    }
                    out.pop();
                }
                out.push(1);
                if go(have, rest, out) {
                    return true;
                }
            }
        }
        out.pop();
        false
    }
    let have = non_unit(have);
    let mut out = Vec::with_capacity(declared.len());
    go(&have, declared, &mut out).then_some(out)
}

/// Elementwise comparison figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub max_abs: f64,
    pub max_rel: f64,
    /// Values with `|got - want| > atol + rtol * |want|` (or NaN where the other is not).
    pub outside: usize,
    /// The failing value with the largest excess over its tolerance: (flat index, got, want).
    pub worst: Option<(usize, f64, f64)>,
}

pub fn compare(got: &[f64], want: &[f64], rtol: f64, atol: f64) -> Comparison {
    let mut c = Comparison {
        max_abs: 0.0,
        max_rel: 0.0,
        outside: 0,
        worst: None,
    };
    let mut worst_excess = f64::NEG_INFINITY;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let same_nan = g.is_nan() && w.is_nan();
        let d = if same_nan { 0.0 } else { (g - w).abs() };
        let d_cmp = if d.is_nan() { f64::INFINITY } else { d };
        c.max_abs = c.max_abs.max(d_cmp);
        let rel = if d_cmp == 0.0 {
            0.0
        } else if w == 0.0 {
            f64::INFINITY
        } else {
            d_cmp / w.abs()
        };
        c.max_rel = c.max_rel.max(rel);
        let tol = atol + rtol * w.abs();
        let within = d <= tol; // false for NaN
        if !within {
            c.outside += 1;
            let excess = d_cmp - tol;
            if c.worst.is_none() || excess > worst_excess {
                worst_excess = excess;
                c.worst = Some((i, g, w));
            }
        }
    }
    c
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (slot, &n) in idx.iter_mut().zip(shape).rev() {
        if n > 0 {
            *slot = i % n;
            i /= n;
        }
    }
    idx
}

/// ONNX bytes of a model file: a `.onnx` file as is, any other model exported in memory.
/// The import record of a DL4J model converted from a foreign ONNX graph.
fn import_record(path: &Path) -> Result<serde_json::Value> {
    let (archive, format) = dl4j::open(path, None)?;
    let refuse = || {
        Error::Format(format!(
            "{}: --onnx-layout needs a DL4J model imported from ONNX by dl4j (with its {} object)",
            path.display(),
            dl4j::dl4j_onnx::import::SOURCE_OBJECT
        ))
    };
    if format.id == "onnx" {
        return Err(refuse());
    }
    dl4j::dl4j_onnx::import::source_record(&archive).ok_or_else(refuse)
}

/// `x`, given in the ONNX graph's layout of one network input or output, in DL4J's: the size-1
/// axes DL4J lacks dropped, then the axes reordered (`to_dl4j`), as the import recorded.
fn to_dl4j_layout(x: &Array, io: &serde_json::Value, what: &str) -> Result<Array> {
    let list = |key: &str| -> Vec<usize> {
        io[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_u64())
                    .map(|v| v as usize)
                    .collect()
            })
            .unwrap_or_default()
    };
    let onnx: Vec<Option<usize>> = io["onnx_shape"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_u64().map(|v| v as usize)).collect())
        .unwrap_or_default();
    let (squeezed, perm) = (list("squeezed"), list("to_dl4j"));
    let fits = onnx.len() == x.shape.len()
        && onnx
            .iter()
            .zip(&x.shape)
            .all(|(d, &n)| d.is_none_or(|d| d == n));
    if !fits || squeezed.iter().any(|&a| x.shape.get(a) != Some(&1)) {
        return Err(Error::Format(format!(
            "{what}: shape {:?} is not the ONNX graph's {} recorded at import",
            x.shape, io["onnx_shape"]
        )));
    }
    let core: Vec<usize> = x
        .shape
        .iter()
        .enumerate()
        .filter(|(a, _)| !squeezed.contains(a))
        .map(|(_, &d)| d)
        .collect();
    let malformed = || {
        Error::Format(format!(
            "{what}: malformed import record (to_dl4j {perm:?} is not a permutation of the {} axes of {core:?})",
            core.len()
        ))
    };
    if perm.len() != core.len() {
        return Err(malformed());
    }
    // Row-major strides of the source.
    let mut strides = vec![1usize; core.len()];
    let mut step = 1usize;
    for (stride, &d) in strides.iter_mut().zip(&core).rev() {
        *stride = step;
        step = step.saturating_mul(d);
    }
    // Axis k of the result is axis perm[k] of the source: its size, and its source stride.
    let mut seen = vec![false; core.len()];
    let mut axes: Vec<(usize, usize)> = Vec::with_capacity(perm.len());
    for &p in &perm {
        match (seen.get_mut(p), core.get(p), strides.get(p)) {
            (Some(taken @ false), Some(&d), Some(&stride)) => {
                *taken = true;
                axes.push((d, stride));
            }
            _ => return Err(malformed()),
        }
    }
    let shape: Vec<usize> = axes.iter().map(|&(d, _)| d).collect();
    let n = x.values.len();
    let mut values = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        let off: usize = idx.iter().zip(&axes).map(|(&i, &(_, s))| i * s).sum();
        let v = x.values.get(off).ok_or_else(|| {
            Error::Format(format!(
                "{what}: {n} values do not fill shape {:?}",
                x.shape
            ))
        })?;
        values.push(*v);
        for (i, &d) in idx.iter_mut().zip(&shape).rev() {
            *i += 1;
            if *i < d {
                break;
            }
            *i = 0;
        }
    }
    if shape != x.shape {
        println!(
            "{what}: ONNX layout {:?} reordered to DL4J's {:?} (as recorded at import)",
            x.shape, shape
        );
    }
    Ok(Array { shape, values })
}

/// The ONNX bytes of a DL4J model (exported in memory); `None` for an `.onnx` file, which
/// tract reads from its path.
fn model_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    let is_onnx = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    if is_onnx {
        std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(None)
    } else {
        let (archive, _) = dl4j::open(path, None)?;
        dl4j::dl4j_onnx::to_onnx(&archive, dl4j::dl4j_onnx::DEFAULT_OPSET)
            .map(Some)
            .map_err(|e| Error::Format(format!("{}: {e}", path.display())))
    }
}

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Reads an ND4J binary array, a `.npy` file (by magic bytes) or an ONNX `TensorProto` (by the
/// `.pb` extension).
pub fn read_array(path: &Path) -> Result<Array> {
    read_named_array(path).map(|(_, a)| a)
}

/// [`read_array`], with the tensor's name when the file carries one (a `TensorProto`'s).
fn read_named_array(path: &Path) -> Result<(Option<String>, Array)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let is_pb = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pb"));
    let float_array = |what: &str, t: &dl4j::Tensor| {
        if !t.dtype().is_float() {
            return Err(Error::Format(format!(
                "{what} of {} values; verify compares floating-point arrays",
                t.dtype().short_name()
            )));
        }
        Ok(Array {
            shape: t.shape().to_vec(),
            values: t.to_f64_vec(),
        })
    };
    let parsed = if is_pb {
        dl4j::dl4j_onnx::read_tensor_proto(&bytes)
            .and_then(|(name, t)| Ok((Some(name), float_array("ONNX TensorProto", &t)?)))
    } else if bytes.starts_with(NPY_MAGIC) {
        parse_npy(&bytes).map(|a| (None, a))
    } else {
        dl4j::nd4j::read_array_exact(&bytes)
            .and_then(|a| Ok((None, float_array("ND4J array", &a.tensor)?)))
    };
    parsed.map_err(|e| Error::Format(format!("{}: {e}", path.display())))
}

/// A strict `.npy` reader: format versions 1-3, little/big-endian f4 and f8, little-endian f2
/// (also big-endian), C or Fortran order.
pub fn parse_npy(bytes: &[u8]) -> Result<Array> {
    let bad = |m: String| Error::Format(format!("not a valid .npy file: {m}"));
    let too_short = || bad("too short or no \\x93NUMPY magic".into());
    if bytes.len() < 10 {
        return Err(too_short());
    }
    let Some(([major, minor], rest)) = bytes
        .strip_prefix(NPY_MAGIC)
        .and_then(|b| b.split_first_chunk::<2>())
    else {
        return Err(too_short());
    };
    let (major, minor) = (*major, *minor);
    let (header_len, rest) = match major {
        1 => rest
            .split_first_chunk::<2>()
            .map(|(n, rest)| (u16::from_le_bytes(*n) as usize, rest)),
        2 | 3 => rest
            .split_first_chunk::<4>()
            .map(|(n, rest)| (u32::from_le_bytes(*n) as usize, rest)),
        _ => return Err(bad(format!("unsupported format version {major}.{minor}"))),
    }
    .ok_or_else(|| bad("truncated header length".into()))?;
    let (header, data) = rest
        .split_at_checked(header_len)
        .ok_or_else(|| bad("header runs past the end of the file".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text".into()))?;
    if major < 3 && !header.is_ascii() {
        return Err(bad("header is not ASCII".into()));
    }
    let descr = dict_value(header, "descr").ok_or_else(|| bad("no 'descr' in header".into()))?;
    let fortran =
        dict_value(header, "fortran_order").ok_or_else(|| bad("no 'fortran_order'".into()))?;
    let shape = dict_value(header, "shape").ok_or_else(|| bad("no 'shape' in header".into()))?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.strip_suffix('\''))
        .or_else(|| descr.strip_prefix('"').and_then(|d| d.strip_suffix('"')))
        .ok_or_else(|| {
            Error::Unsupported(format!(
                ".npy dtype {descr} (structured arrays are not supported)"
            ))
        })?;
    let fortran = match fortran {
        "True" => true,
        "False" => false,
        o => return Err(bad(format!("fortran_order is {o}"))),
    };
    let shape: Vec<usize> = {
        let inner = shape
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| bad(format!("shape {shape} is not a tuple")))?;
        inner
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| bad(format!("shape entry {s:?} is not a size")))
            })
            .collect::<Result<_>>()?
    };
    // Element size, and the decoder of a whole run of elements.
    fn each<const N: usize>(data: &[u8], f: fn([u8; N]) -> f64) -> Vec<f64> {
        data.as_chunks::<N>().0.iter().map(|&b| f(b)).collect()
    }
    type Decode = fn(&[u8]) -> Vec<f64>;
    let (size, decode): (usize, Decode) = match descr {
        "<f4" => (4, |d| each(d, |b| f32::from_le_bytes(b) as f64)),
        ">f4" => (4, |d| each(d, |b| f32::from_be_bytes(b) as f64)),
        "<f8" => (8, |d| each(d, f64::from_le_bytes)),
        ">f8" => (8, |d| each(d, f64::from_be_bytes)),
        "<f2" => (2, |d| each(d, |b| f16::from_le_bytes(b).to_f64())),
        ">f2" => (2, |d| each(d, |b| f16::from_be_bytes(b).to_f64())),
        d => {
            return Err(Error::Unsupported(format!(
                ".npy dtype {d:?} (supported: <f4, >f4, <f8, >f8, <f2, >f2)"
            )))
        }
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    if Some(data.len()) != count.checked_mul(size) {
        return Err(bad(format!(
            "shape {shape:?} of {descr} needs {} data bytes, the file has {}",
            count.saturating_mul(size),
            data.len()
        )));
    }
    let flat: Vec<f64> = decode(data);
    let values = if fortran && shape.len() > 1 {
        // Fortran order: the first index varies fastest. Reorder to C order.
        let mut out = vec![0.0; count];
        // The product of the dimensions before each axis (at most `count`, checked above).
        let f_strides: Vec<usize> = shape
            .iter()
            .scan(1usize, |step, &d| {
                let s = *step;
                *step = step.saturating_mul(d);
                Some(s)
            })
            .collect();
        for (c, slot) in out.iter_mut().enumerate() {
            let idx = unravel(c, &shape);
            let f: usize = idx.iter().zip(&f_strides).map(|(i, s)| i * s).sum();
            *slot = *flat.get(f).ok_or_else(|| {
                bad(format!(
                    "element {idx:?} of Fortran-order shape {shape:?} is past the {} values",
                    flat.len()
                ))
            })?;
        }
        out
    } else {
        flat
    };
    Ok(Array { shape, values })
}

/// The raw text of `key`'s value in a `.npy` header dict (`{'descr': '<f4', ...}`).
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let body = header.trim().strip_prefix('{')?;
    let at = body
        .find(&format!("'{key}'"))
        .or_else(|| body.find(&format!("\"{key}\"")))?;
    let rest = body
        .get(at + key.len() + 2..)?
        .trim_start()
        .strip_prefix(':')?;
    let rest = rest.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else if rest.starts_with('[') {
        rest.find(']')? + 1
    } else if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
        rest.get(1..)?.find(q)? + 2
    } else {
        rest.find([',', '}'])?
    };
    Some(rest.get(..end)?.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((h.len() as u16).to_le_bytes());
        b.extend(h.as_bytes());
        b.extend(data);
        b
    }

    #[test]
    fn npy_orders_and_dtypes() {
        let vals = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let le: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let c = parse_npy(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            &le,
        ))
        .unwrap();
        assert_eq!(c.shape, vec![2, 3]);
        assert_eq!(c.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let f = parse_npy(&npy(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            &le,
        ))
        .unwrap();
        assert_eq!(f.values, vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
        let be: Vec<u8> = vals
            .iter()
            .flat_map(|v| (*v as f64).to_be_bytes())
            .collect();
        let b = parse_npy(&npy(
            "{'descr': '>f8', 'fortran_order': False, 'shape': (6,), }",
            &be,
        ))
        .unwrap();
        assert_eq!(b.values, c.values);
        let h: Vec<u8> = vals
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        let h = parse_npy(&npy(
            "{'descr': '<f2', 'fortran_order': False, 'shape': (3, 2), }",
            &h,
        ))
        .unwrap();
        assert_eq!(h.values, c.values);
        let e = parse_npy(&npy(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }",
            &le,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("<i4"), "{e}");
        let e = parse_npy(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }",
            &le,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("needs 28 data bytes"), "{e}");
    }

    #[test]
    fn layout_records_are_checked() {
        let x = Array {
            shape: vec![1, 2, 3],
            values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        };
        let io = |perm: serde_json::Value| serde_json::json!({"onnx_shape": [1, 2, 3], "squeezed": [0], "to_dl4j": perm});
        let y = to_dl4j_layout(&x, &io(serde_json::json!([1, 0])), "input 0").unwrap();
        assert_eq!(y.shape, vec![3, 2]);
        assert_eq!(y.values, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        // An axis out of range or taken twice: an error, not a panic.
        for bad in [serde_json::json!([0, 5]), serde_json::json!([0, 0])] {
            let e = to_dl4j_layout(&x, &io(bad), "input 0").unwrap_err();
            assert!(e.to_string().contains("malformed import record"), "{e}");
        }
    }

    #[test]
    fn tolerance() {
        let c = compare(&[1.0, 2.0], &[1.0, 2.0001], 1e-4, 1e-5);
        assert_eq!(c.outside, 0);
        let c = compare(&[1.0, f64::NAN], &[1.0, 2.0], 1e-4, 1e-5);
        assert_eq!(c.outside, 1);
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
    }

    #[test]
    fn unit_dims() {
        // Rank differs: size-1 dimensions added or dropped.
        assert_eq!(
            fit_unit_dims(&[1, 3, 4, 5], &[Some(3), Some(4), Some(5)]),
            Some(vec![3, 4, 5])
        );
        assert_eq!(
            fit_unit_dims(&[3, 2], &[Some(1), Some(3), Some(2), Some(1)]),
            Some(vec![1, 3, 2, 1])
        );
        assert_eq!(
            fit_unit_dims(&[1, 3, 2], &[Some(3), Some(2), Some(1)]),
            Some(vec![3, 2, 1])
        );
        // Symbolic dimensions match anything, including an added 1.
        assert_eq!(
            fit_unit_dims(&[3, 4], &[None, Some(3), Some(4)]),
            Some(vec![1, 3, 4])
        );
        assert_eq!(
            fit_unit_dims(&[1, 7, 4], &[None, Some(4)]),
            Some(vec![7, 4])
        );
        // Anything else does not fit.
        assert_eq!(fit_unit_dims(&[4, 3], &[Some(3), Some(4)]), None);
        assert_eq!(fit_unit_dims(&[12], &[Some(3), Some(4)]), None);
        assert_eq!(fit_unit_dims(&[3, 4, 5], &[Some(3), Some(4)]), None);
        assert_eq!(non_unit(&[1, 3, 1, 2]), vec![3, 2]);
    }
}
