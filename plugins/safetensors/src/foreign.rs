//! Foreign safetensors files (PyTorch `state_dict`, burn, candle) -> a DL4J network described by a
//! user-supplied configuration.
//!
//! The DL4J configuration defines the parameters (names like `0_W` / `<vertex>_W`, logical
//! shapes, flat order, `c`/`f` segment order); the safetensors file supplies the values. Every
//! DL4J parameter must be filled and every source tensor used or explicitly ignored; otherwise the
//! import fails with ONE error that lists every offender (unfilled parameters with their shapes,
//! leftover tensors with shapes and dtypes, and every problem of the map).
//!
//! # The map (`--map mapping.toml`)
//!
//! ```toml
//! # Source tensors deliberately left out. `*` matches any run of characters; a pattern that
//! # matches no tensor is an error (it is probably a typo).
//! ignore = ["*.num_batches_tracked"]
//!
//! # Optional, default true: match what [tensors] does not name with the automatic rule below.
//! # With `auto = false` the map must name every DL4J parameter.
//! auto = true
//!
//! [tensors]
//! # source tensor = DL4J parameter: the tensor's shape must equal the parameter's (vectors
//! # [n], [1, n], [n, 1] are interchangeable)
//! "conv1.weight" = "0_W"
//! # 2-D transpose (PyTorch `Linear.weight` is [out, in], DL4J dense `W` is [nIn, nOut])
//! "fc1.weight" = { param = "4_W", transpose = true }
//! # any axis permutation: axis k of the result is axis permute[k] of the tensor
//! # (a TensorFlow kernel [kH, kW, in, out] -> DL4J [out, in, kH, kW])
//! "conv.kernel" = { param = "0_W", permute = [3, 2, 0, 1] }
//! # a variance into a BatchNormalization `log10stdev` parameter: stores log10(sqrt(var))
//! "norm1.running_var" = { param = "3_log10stdev", transform = "log10_std" }
//! ```
//!
//! Checked, all problems reported together: unknown top-level or entry keys, tensors the file
//! does not have, parameters the configuration does not have (the error lists the existing
//! ones), two tensors mapped to one parameter, a tensor both mapped and ignored, a tensor that
//! is not floating point, a permutation that is not one of the tensor's axes, and a shape that
//! does not fit after the transpose/permutation.
//!
//! # The automatic rule (no map, or what the map leaves when `auto = true`)
//!
//! 1. Candidates are the source tensors the map neither names nor ignores and whose dtype is
//!    floating point (F64, F32, F16, BF16). Other tensors (integer counters such as PyTorch's
//!    `num_batches_tracked`) are never matched automatically: they stay over, which is an error
//!    unless the map ignores them.
//! 2. Candidates are ranked in natural name order: names are compared piece by piece, runs of
//!    digits as numbers (`layers.2.weight` before `layers.10.weight`). The safetensors writers
//!    (Python, burn, candle) store the data sorted by dtype, then name, so the file order is
//!    no model order either; this one at least puts the numbers right.
//! 3. DL4J parameters are filled in flat order. A candidate fits a parameter if its shape
//!    * equals the parameter's shape (copied as is), or
//!    * is a vector like the parameter (rank <= 2, at most one dimension above 1, the same
//!      element count: `[n]`, `[1, n]` and `[n, 1]` are interchangeable, `[]` fits `[1]`), or
//!    * is the transpose of a 2-D parameter's shape (`[b, a]` for `[a, b]`): it is transposed.
//! 4. Among the fitting candidates the first (in the order of 2.) whose last name component
//!    (after the last `.` or `/`) is a conventional name for the parameter's key wins: `W` ->
//!    `weight`/`kernel`, `b` -> `bias`, `gamma` -> `weight`/`gamma`/`scale`, `beta` ->
//!    `bias`/`beta`, `mean` -> `running_mean`/`moving_mean`/`mean`, `var` ->
//!    `running_var`/`moving_variance`/`moving_var`/`var`. If none has such a name, the first
//!    fitting candidate wins. (This keeps BatchNorm `weight`/`bias` out of each other's place
//!    although a name-sorted file lists `bias` first.)
//! 5. A variance-named tensor (`running_var`, ...) is never taken for a `log10stdev`
//!    parameter: DL4J reads that one as log10 of the standard deviation. Either make the layer
//!    store the variance (its NeuralNetConfiguration `variables` lists `"var"`) or map the
//!    tensor with `transform = "log10_std"`.
//! 6. A square 2-D parameter (`[n, n]`, n > 1) fits as is and transposed. Its orientation is
//!    taken from the file's other 2-D tensors matched to 2-D parameters of unequal sides (by the
//!    map or automatically): all transposed (PyTorch `[out, in]`) -> transposed; all as is
//!    (burn, DL4J `[in, out]`) -> as is; none, or both kinds -> an error asking for a map entry.
//!
//! Matching by shape cannot tell apart two same-shape tensors with conventional names, e.g.
//! two dense layers of equal size stored in an order other than DL4J's: check the result, or
//! pin such tensors with a map. Recurrent weights need gate reordering DL4J and PyTorch do not
//! share; neither rule nor map does that.
//!
//! # Values and dtype
//!
//! Each tensor is read row-major in its own shape, transposed/permuted if asked, and written
//! into the parameter's flat segment in the parameter's order (`f`: logical element `(i, j)` of
//! `[a, b]` goes to `offset + i + j * a`; `c`: row-major). DL4J keeps all parameters in one
//! dtype, and conversions are never lossy:
//! * the configuration has a floating-point `dataType` (`FLOAT`, `DOUBLE`, `HALF`, `BFLOAT16`):
//!   that is the network's dtype; every used tensor must have it or widen to it exactly
//!   (F16/BF16 -> F32/F64, F32 -> F64), otherwise an error names the tensors;
//! * no `dataType` (configurations before 1.0.0-beta4): the used tensors must share one dtype,
//!   which becomes the network's; mixed dtypes are an error suggesting a `dataType`.
//!
//! The archive holds the flat vector `[1, N]` in the modern (MIXED_DATA_TYPES) ND4J encoding,
//! no updater state, no normalizer.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use dl4j_core::layout::ParamLayout;
use dl4j_core::tensor::{DType, Order, TensorData};
use dl4j_core::{Archive, Configuration, Error, ParamEntry, Result};
use half::{bf16, f16};

use crate::st::{self, SafeFile, StTensor};

/// Builds a DL4J archive from foreign weights, the DL4J configuration text and an optional map.
pub fn import_foreign(file: &SafeFile, config: &str, map: Option<&str>) -> Result<Archive> {
    let config = Configuration::parse(config)?;
    let layout = ParamLayout::for_config(&config)?;
    let params: Vec<&ParamEntry> = layout.params().collect();
    let map = match map {
        Some(text) => TensorMap::parse(text)?,
        None => TensorMap::default(),
    };
    let placements = plan(file, &params, &map)?;
    let dtype = choose_dtype(&config, &placements)?;

    let mut flat = zeros(dtype, layout.total);
    for (p, pl) in params.iter().zip(&placements) {
        let Some(pl) = pl else {
            return Err(Error::Inconsistent(format!(
                "no tensor of the safetensors file fills parameter {} {:?}",
                p.name, p.shape
            )));
        };
        let t = pl.tensor;
        let src = st::to_tensor(t)?;
        let data = match &pl.permute {
            None => src.into_data(),
            Some(perm) => {
                let indices = permuted_indices(&t.shape, perm).ok_or_else(|| {
                    Error::Inconsistent(format!(
                        "tensor {:?} {:?}: {perm:?} is not a permutation of its axes",
                        t.name, t.shape
                    ))
                })?;
                src.data().gather(&indices)
            }
        };
        let data = match pl.transform {
            Transform::None => widen(data, dtype)?,
            Transform::Log10Std => log10_std(&data, dtype),
        };
        let positions = match p.order {
            Order::C => None,
            Order::F => Some(strided_offsets(&p.shape, &f_strides(&p.shape))),
        };
        scatter(&mut flat, &data, &p.name, p.offset, positions.as_deref())?;
    }

    Archive::with_parameters(config, flat, crate::FORMAT_ID)
}

// ---------------------------------------------------------------------------------------------
// The map.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transform {
    None,
    /// variance -> log10(sqrt(variance)), for BatchNormalization `log10stdev`.
    Log10Std,
}

struct MapEntry {
    tensor: String,
    param: String,
    permute: Option<Vec<usize>>,
    /// Spelled `transpose = true` (for messages).
    transpose: bool,
    transform: Transform,
}

struct TensorMap {
    ignore: Vec<String>,
    auto: bool,
    entries: Vec<MapEntry>,
}

impl Default for TensorMap {
    fn default() -> Self {
        TensorMap {
            ignore: Vec::new(),
            auto: true,
            entries: Vec::new(),
        }
    }
}

fn map_error(problems: &[String]) -> Error {
    let mut msg = String::from("the tensor map is not valid:");
    for p in problems {
        msg.push_str("\n  - ");
        msg.push_str(p);
    }
    Error::Format(msg)
}

impl TensorMap {
    fn parse(text: &str) -> Result<TensorMap> {
        let table: toml::Table = text
            .parse()
            .map_err(|e| Error::Format(format!("the tensor map is not valid TOML: {e}")))?;
        let mut map = TensorMap::default();
        let mut problems = Vec::new();
        for (key, value) in &table {
            match key.as_str() {
                "ignore" => match value.as_array() {
                    Some(items) => {
                        for item in items {
                            match item.as_str() {
                                Some(s) => map.ignore.push(s.to_string()),
                                None => problems
                                    .push(format!("`ignore` holds {item}, not a tensor name")),
                            }
                        }
                    }
                    None => problems.push("`ignore` must be a list of tensor names".into()),
                },
                "auto" => match value.as_bool() {
                    Some(b) => map.auto = b,
                    None => problems.push("`auto` must be true or false".into()),
                },
                "tensors" => match value.as_table() {
                    Some(t) => {
                        for (name, v) in t {
                            match parse_entry(name, v) {
                                Ok(e) => map.entries.push(e),
                                Err(p) => problems.push(p),
                            }
                        }
                    }
                    None => problems
                        .push("`tensors` must be a table of \"tensor\" = \"param\" entries".into()),
                },
                other => problems.push(format!(
                    "unknown key `{other}` (expected `ignore`, `auto` and a [tensors] table)"
                )),
            }
        }
        if problems.is_empty() {
            Ok(map)
        } else {
            Err(map_error(&problems))
        }
    }
}

fn parse_entry(name: &str, v: &toml::Value) -> std::result::Result<MapEntry, String> {
    let mut e = MapEntry {
        tensor: name.to_string(),
        param: String::new(),
        permute: None,
        transpose: false,
        transform: Transform::None,
    };
    if let Some(p) = v.as_str() {
        e.param = p.to_string();
        return Ok(e);
    }
    let Some(t) = v.as_table() else {
        return Err(format!(
            "{name:?}: expected \"param\" or {{ param = \"...\", transpose = true }}, found {v}"
        ));
    };
    let mut problems = Vec::new();
    for (k, v) in t {
        match k.as_str() {
            "param" => match v.as_str() {
                Some(p) => e.param = p.to_string(),
                None => problems.push("`param` must be a string".to_string()),
            },
            "transpose" => match v.as_bool() {
                Some(b) => e.transpose = b,
                None => problems.push("`transpose` must be true or false".into()),
            },
            "permute" => {
                let axes: Option<Vec<usize>> = v.as_array().and_then(|a| {
                    a.iter()
                        .map(|x| x.as_integer().and_then(|i| usize::try_from(i).ok()))
                        .collect()
                });
                match axes {
                    Some(a) => e.permute = Some(a),
                    None => problems.push("`permute` must be a list of axis numbers".into()),
                }
            }
            "transform" => match v.as_str() {
                Some("log10_std") => e.transform = Transform::Log10Std,
                _ => problems.push(format!(
                    "unknown transform {v} (the only one is \"log10_std\")"
                )),
            },
            other => problems.push(format!(
                "unknown key `{other}` (expected param, transpose, permute, transform)"
            )),
        }
    }
    if e.param.is_empty() && !t.contains_key("param") {
        problems.push("no `param`".into());
    }
    if e.transpose {
        if e.permute.is_some() {
            problems.push("give either `transpose` or `permute`, not both".into());
        } else {
            e.permute = Some(vec![1, 0]);
        }
    }
    if problems.is_empty() {
        Ok(e)
    } else {
        Err(format!("{name:?}: {}", problems.join("; ")))
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            // `get` is `None` inside a character: only whole characters are skipped.
            (0..=tail.len())
                .filter_map(|i| tail.get(i..))
                .any(|t| glob_match(rest, t))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Matching.

/// Where a parameter's values come from.
struct Placement<'a> {
    tensor: &'a StTensor<'a>,
    /// Axis permutation applied to the row-major source first (`[1, 0]` = transpose).
    permute: Option<Vec<usize>>,
    transform: Transform,
}

/// How a source shape fits a parameter shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    Exact,
    Vector,
    Transposed,
    /// Square 2-D: fits as is and transposed; decided later.
    Square,
}

fn is_vector(shape: &[usize]) -> bool {
    shape.len() <= 2 && shape.iter().filter(|&&d| d != 1).count() <= 1
}

fn fit(param: &[usize], src: &[usize]) -> Option<Fit> {
    if src == param {
        return Some(match *param {
            [a, b] if a == b && a > 1 => Fit::Square,
            _ => Fit::Exact,
        });
    }
    if is_vector(param)
        && is_vector(src)
        && param.iter().product::<usize>() == src.iter().product::<usize>()
    {
        return Some(Fit::Vector);
    }
    match (param, src) {
        (&[a, b], &[c, d]) if c == b && d == a => Some(Fit::Transposed),
        _ => None,
    }
}

/// Shape after permuting axes: axis `k` of the result is axis `perm[k]` of the source.
/// `None` unless `perm` names each axis of `shape` once.
fn permuted_shape(shape: &[usize], perm: &[usize]) -> Option<Vec<usize>> {
    let mut seen = vec![false; shape.len()];
    if perm.len() != shape.len() {
        return None;
    }
    for &a in perm {
        // An axis out of range, or one already taken.
        if std::mem::replace(seen.get_mut(a)?, true) {
            return None;
        }
    }
    perm.iter().map(|&a| shape.get(a).copied()).collect()
}

/// The last component of a tensor name (`norm1.running_var` -> `running_var`).
fn leaf(name: &str) -> &str {
    name.rsplit(['.', '/']).next().unwrap_or(name)
}

const VARIANCE_NAMES: &[&str] = &["running_var", "moving_variance", "moving_var", "var"];

/// Conventional source names for a DL4J parameter key.
fn role_names(key: &str) -> &'static [&'static str] {
    match key {
        "W" => &["weight", "kernel"],
        "b" => &["bias"],
        "gamma" => &["weight", "gamma", "scale"],
        "beta" => &["bias", "beta"],
        "mean" => &["running_mean", "moving_mean", "mean"],
        "var" => VARIANCE_NAMES,
        _ => &[],
    }
}

/// Natural order: digit runs compare as numbers, everything else byte by byte.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x, y) {
            ([], []) => return a.cmp(b),
            ([], [_, ..]) => return Ordering::Less,
            ([_, ..], []) => return Ordering::Greater,
            ([c, ..], [d, ..]) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let (nx, rest_x) = split_number(x);
                let (ny, rest_y) = split_number(y);
                let o = nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny));
                if o != Ordering::Equal {
                    return o;
                }
                x = rest_x;
                y = rest_y;
            }
            ([c, rest_x @ ..], [d, rest_y @ ..]) => {
                if c != d {
                    return c.cmp(d);
                }
                x = rest_x;
                y = rest_y;
            }
        }
    }
}

/// Splits the run of digits `s` starts with off the rest: (the run without its leading zeros,
/// the rest).
fn split_number(s: &[u8]) -> (&[u8], &[u8]) {
    let mut digits = s;
    while let [b'0', rest @ ..] = digits {
        digits = rest;
    }
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    // `n` counts bytes of `digits`, so the split always succeeds.
    digits.split_at_checked(n).unwrap_or((digits, &[]))
}

fn float_dtype(t: &StTensor) -> Option<DType> {
    st::dtype_from_st(t.dtype).filter(|d| d.is_float())
}

fn dtype_name(t: &StTensor) -> String {
    match st::dtype_from_st(t.dtype) {
        Some(d) => d.to_string(),
        None => format!("{:?}", t.dtype),
    }
}

fn describe(t: &StTensor) -> String {
    format!("{} {:?} {}", t.name, t.shape, dtype_name(t))
}

/// Decides which tensor fills each parameter, or fails with every problem at once.
fn plan<'a>(
    file: &'a SafeFile<'_>,
    params: &[&ParamEntry],
    map: &TensorMap,
) -> Result<Vec<Option<Placement<'a>>>> {
    let tensors = &file.tensors;
    // Tensors and parameters are tracked by position: in the file, in flat order.
    let tensor_index: HashMap<&str, (usize, &StTensor)> = tensors
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), (i, t)))
        .collect();
    let param_index: HashMap<&str, (usize, &ParamEntry)> = params
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), (i, *p)))
        .collect();

    let mut problems: Vec<String> = Vec::new();
    // Parameter position -> where its values come from.
    let mut placed: HashMap<usize, Placement> = HashMap::new();
    // Named by the map (filled or not: problems with them are reported on their own).
    let mut named_param: HashSet<usize> = HashSet::new();
    let mut named_tensor: HashSet<usize> = HashSet::new();
    let mut ignored: HashSet<usize> = HashSet::new();
    let mut used: HashSet<usize> = HashSet::new();
    // Orientation evidence from 2-D tensors on 2-D parameters of unequal sides.
    let (mut seen_as_is, mut seen_transposed) = (false, false);
    // Square matrices tell it only when the map spells it out (`explicit`: transposed or not).
    let mut note_orientation = |p: &[usize], src: &[usize], explicit: Option<bool>| {
        let (&[p0, p1], &[s0, s1]) = (p, src) else {
            return;
        };
        let transposed = if p0 != p1 {
            if (s0, s1) == (p0, p1) {
                false
            } else if (s0, s1) == (p1, p0) {
                true
            } else {
                return;
            }
        } else {
            match explicit {
                Some(t) if p0 > 1 => t,
                _ => return,
            }
        };
        if transposed {
            seen_transposed = true;
        } else {
            seen_as_is = true;
        }
    };

    for pat in &map.ignore {
        let mut any = false;
        for (i, t) in tensors.iter().enumerate() {
            if glob_match(pat, &t.name) {
                ignored.insert(i);
                any = true;
            }
        }
        if !any {
            problems.push(format!("ignore: {pat:?} matches no tensor of the file"));
        }
    }

    let mut target_of: HashMap<usize, &str> = HashMap::new();
    let mut unknown_params = false;
    for e in &map.entries {
        let tensor = tensor_index.get(e.tensor.as_str()).copied();
        let param = param_index.get(e.param.as_str()).copied();
        if let Some((ti, _)) = tensor {
            named_tensor.insert(ti);
        }
        if let Some((pi, _)) = param {
            named_param.insert(pi);
        }
        let (Some((ti, t)), Some((pi, p))) = (tensor, param) else {
            if tensor.is_none() {
                problems.push(format!("{:?}: the file has no such tensor", e.tensor));
            }
            if param.is_none() {
                problems.push(format!(
                    "{:?}: the configuration has no parameter {:?}",
                    e.tensor, e.param
                ));
                unknown_params = true;
            }
            continue;
        };
        if ignored.contains(&ti) {
            problems.push(format!("{:?} is both ignored and mapped", e.tensor));
        }
        if let Some(first) = target_of.insert(pi, e.tensor.as_str()) {
            problems.push(format!(
                "{} is the target of both {first:?} and {:?}",
                p.name, e.tensor
            ));
            continue;
        }
        if float_dtype(t).is_none() {
            problems.push(format!(
                "{:?} is {}, not floating point: DL4J parameters are floats",
                e.tensor,
                dtype_name(t)
            ));
            continue;
        }
        if e.transform == Transform::Log10Std && p.key != "log10stdev" {
            problems.push(format!(
                "{:?}: transform \"log10_std\" is for BatchNormalization `log10stdev` parameters, not {}",
                e.tensor, p.name
            ));
            continue;
        }
        let shape = match &e.permute {
            None => t.shape.clone(),
            Some(perm) => match permuted_shape(&t.shape, perm) {
                Some(s) => s,
                None => {
                    problems.push(format!(
                        "{:?} {:?}: {} is not a permutation of its {} axes",
                        e.tensor,
                        t.shape,
                        if e.transpose {
                            "transpose".to_string()
                        } else {
                            format!("permute = {perm:?}")
                        },
                        t.shape.len()
                    ));
                    continue;
                }
            },
        };
        match fit(&p.shape, &shape) {
            Some(Fit::Exact | Fit::Vector | Fit::Square) => {
                note_orientation(
                    &p.shape,
                    &t.shape,
                    Some(e.permute.as_deref() == Some(&[1, 0])),
                );
                used.insert(ti);
                placed.insert(
                    pi,
                    Placement {
                        tensor: t,
                        permute: e.permute.clone(),
                        transform: e.transform,
                    },
                );
            }
            _ => {
                let how = match &e.permute {
                    None => String::new(),
                    Some(_) if e.transpose => format!(", transposed {shape:?},"),
                    Some(perm) => format!(", permuted by {perm:?} to {shape:?},"),
                };
                let hint =
                    if e.permute.is_none() && fit(&p.shape, &t.shape) == Some(Fit::Transposed) {
                        " (add transpose = true)"
                    } else {
                        ""
                    };
                problems.push(format!(
                    "{:?} {:?}{how} does not fit {} {:?}{hint}",
                    e.tensor, t.shape, p.name, p.shape
                ));
            }
        }
    }
    if unknown_params {
        const SHOW: usize = 60;
        let mut names: Vec<&str> = params.iter().take(SHOW).map(|p| p.name.as_str()).collect();
        if params.len() > SHOW {
            names.push("...");
        }
        problems.push(format!(
            "the configuration's parameters are: {}",
            names.join(", ")
        ));
    }

    if map.auto {
        let mut candidates: Vec<(usize, &StTensor)> = tensors
            .iter()
            .enumerate()
            .filter(|(i, t)| {
                !named_tensor.contains(i) && !ignored.contains(i) && float_dtype(t).is_some()
            })
            .collect();
        candidates.sort_by(|(_, a), (_, b)| natural_cmp(&a.name, &b.name));
        // Square parameters with their tensors, placed once the orientation is known.
        let mut squares: Vec<(usize, &ParamEntry, Placement)> = Vec::new();
        for (pi, p) in params.iter().enumerate() {
            if named_param.contains(&pi) {
                continue;
            }
            let roles = role_names(&p.key);
            let log_std = p.key == "log10stdev";
            let fitting = candidates.iter().filter_map(|&(i, t)| {
                // Rule 5: a variance never fills log10(std) on its own.
                let blocked = log_std && VARIANCE_NAMES.contains(&leaf(&t.name));
                if used.contains(&i) || blocked {
                    return None;
                }
                fit(&p.shape, &t.shape).map(|f| (i, t, f))
            });
            let mut first = None;
            let mut chosen = None;
            for c in fitting {
                if roles.contains(&leaf(&c.1.name)) {
                    chosen = Some(c);
                    break;
                }
                first.get_or_insert(c);
            }
            let Some((ti, t, f)) = chosen.or(first) else {
                continue;
            };
            used.insert(ti);
            note_orientation(&p.shape, &t.shape, None);
            let placement = Placement {
                tensor: t,
                permute: (f == Fit::Transposed).then(|| vec![1, 0]),
                transform: Transform::None,
            };
            if f == Fit::Square {
                squares.push((pi, *p, placement));
            } else {
                placed.insert(pi, placement);
            }
        }
        for (pi, p, mut pl) in squares {
            match (seen_as_is, seen_transposed) {
                (false, true) => pl.permute = Some(vec![1, 0]),
                (true, false) => {}
                (both, _) => problems.push(format!(
                    "{} {:?} is square: {:?} fits it as is and transposed, and {} (map it with or without transpose = true)",
                    p.name,
                    p.shape,
                    pl.tensor.name,
                    if both {
                        "the other matrices of the file disagree on the orientation"
                    } else {
                        "no other matrix of the file tells the orientation"
                    }
                )),
            }
            placed.insert(pi, pl);
        }
    }

    let unfilled: Vec<&ParamEntry> = params
        .iter()
        .enumerate()
        .filter(|(i, _)| !placed.contains_key(i) && !named_param.contains(i))
        .map(|(_, p)| *p)
        .collect();
    let leftover: Vec<&StTensor> = tensors
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i) && !ignored.contains(i) && !named_tensor.contains(i))
        .map(|(_, t)| t)
        .collect();
    if problems.is_empty() && unfilled.is_empty() && leftover.is_empty() {
        return Ok((0..params.len()).map(|i| placed.remove(&i)).collect());
    }

    let mut msg = String::from("the safetensors file does not fit the configured DL4J network:");
    if !problems.is_empty() {
        msg.push_str(&format!("\n  map problems ({}):", problems.len()));
        for p in &problems {
            msg.push_str(&format!("\n    - {p}"));
        }
    }
    if !unfilled.is_empty() {
        msg.push_str(&format!(
            "\n  DL4J parameters no tensor fills ({}):",
            unfilled.len()
        ));
        for p in &unfilled {
            msg.push_str(&format!("\n    - {} {:?}", p.name, p.shape));
        }
    }
    if !leftover.is_empty() {
        msg.push_str(&format!("\n  tensors left over ({}):", leftover.len()));
        let mut sorted = leftover.clone();
        sorted.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        for t in &sorted {
            msg.push_str(&format!("\n    - {}", describe(t)));
        }
    }
    if leftover.iter().any(|t| float_dtype(t).is_none()) {
        msg.push_str(
            "\n  tensors that are not floating point (counters, masks) are never matched: list them under `ignore` in a --map file",
        );
    }
    if unfilled.iter().any(|p| p.key == "log10stdev")
        && leftover
            .iter()
            .any(|t| VARIANCE_NAMES.contains(&leaf(&t.name)))
    {
        msg.push_str(
            "\n  a BatchNormalization layer stores log10(std) (`log10stdev`) unless its `variables` list \"var\": map the variance with transform = \"log10_std\", or list \"var\" in the configuration",
        );
    }
    if !unfilled.is_empty() || !leftover.is_empty() {
        msg.push_str(
            "\n  tensors are matched to parameters by shape (rules in plugins/safetensors/src/foreign.rs); a --map file names them explicitly",
        );
    }
    Err(Error::Inconsistent(msg))
}

// ---------------------------------------------------------------------------------------------
// Dtype and values.

/// Exact conversions only.
fn widens(from: DType, to: DType) -> bool {
    from == to
        || matches!(
            (from, to),
            (DType::F16 | DType::BF16, DType::F32 | DType::F64) | (DType::F32, DType::F64)
        )
}

fn choose_dtype(config: &Configuration, placements: &[Option<Placement>]) -> Result<DType> {
    let wanted = match config.data_type() {
        None => None,
        Some(name) => match DType::from_nd4j_name(name).filter(|d| d.is_float()) {
            Some(d) => Some(d),
            None => {
                return Err(Error::Config(format!(
                    "dataType {name:?} is not a floating-point type"
                )))
            }
        },
    };
    // dtype -> names of the tensors that have it, in parameter order.
    let mut by_dtype: Vec<(DType, Vec<&str>)> = Vec::new();
    for pl in placements.iter().flatten() {
        let t = pl.tensor;
        let d = float_dtype(t).ok_or_else(|| {
            Error::Inconsistent(format!(
                "tensor {:?} is {}, not floating point: DL4J parameters are floats",
                t.name,
                dtype_name(t)
            ))
        })?;
        match by_dtype.iter_mut().find(|(x, _)| *x == d) {
            Some((_, names)) => names.push(&t.name),
            None => by_dtype.push((d, vec![&t.name])),
        }
    }
    let list = |groups: &[&(DType, Vec<&str>)]| -> String {
        groups
            .iter()
            .map(|(d, names)| {
                let shown: Vec<&str> = names.iter().take(5).copied().collect();
                let more = if names.len() > 5 { ", ..." } else { "" };
                format!("{d}: {} ({}{more})", names.len(), shown.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    match wanted {
        Some(target) => {
            let lossy: Vec<&(DType, Vec<&str>)> =
                by_dtype.iter().filter(|(d, _)| !widens(*d, target)).collect();
            if lossy.is_empty() {
                Ok(target)
            } else {
                Err(Error::Inconsistent(format!(
                    "the configuration's dataType is {} ({target}) but these tensors would lose precision converted to it: {}; change dataType (top level and each layer) to the weights' type",
                    config.data_type().unwrap_or_default(),
                    list(&lossy)
                )))
            }
        }
        None => match by_dtype.as_slice() {
            [] => Ok(DType::F32),
            [(d, _)] => Ok(*d),
            groups => Err(Error::Inconsistent(format!(
                "the tensors have different dtypes and DL4J keeps all parameters in one: {}; give the configuration a dataType (FLOAT, DOUBLE, HALF, BFLOAT16) they all convert to exactly",
                list(&groups.iter().collect::<Vec<_>>())
            ))),
        },
    }
}

fn zeros(dtype: DType, n: usize) -> TensorData {
    match dtype {
        DType::F64 => TensorData::F64(vec![0.0; n]),
        DType::F16 => TensorData::F16(vec![f16::ZERO; n]),
        DType::BF16 => TensorData::BF16(vec![bf16::ZERO; n]),
        _ => TensorData::F32(vec![0.0; n]),
    }
}

/// Converts float data to `to`, exactly (the dtype rule only lets widenings through).
fn widen(data: TensorData, to: DType) -> Result<TensorData> {
    Ok(match (data, to) {
        (d, t) if d.dtype() == t => d,
        (TensorData::F16(v), DType::F32) => TensorData::F32(v.iter().map(|x| x.to_f32()).collect()),
        (TensorData::F16(v), DType::F64) => TensorData::F64(v.iter().map(|x| x.to_f64()).collect()),
        (TensorData::BF16(v), DType::F32) => {
            TensorData::F32(v.iter().map(|x| x.to_f32()).collect())
        }
        (TensorData::BF16(v), DType::F64) => {
            TensorData::F64(v.iter().map(|x| x.to_f64()).collect())
        }
        (TensorData::F32(v), DType::F64) => TensorData::F64(v.iter().map(|&x| x as f64).collect()),
        (d, t) => {
            return Err(Error::Inconsistent(format!(
                "cannot convert {} to {t} exactly",
                d.dtype()
            )))
        }
    })
}

/// log10(sqrt(variance)), computed in f64 and rounded once to `to`.
fn log10_std(data: &TensorData, to: DType) -> TensorData {
    let v = (0..data.len()).map(|i| 0.5 * data.get_f64(i).log10());
    match to {
        DType::F64 => TensorData::F64(v.collect()),
        DType::F16 => TensorData::F16(v.map(f16::from_f64).collect()),
        DType::BF16 => TensorData::BF16(v.map(bf16::from_f64).collect()),
        _ => TensorData::F32(v.map(|x| x as f32).collect()),
    }
}

/// Row-major strides: the product of the dimensions after each axis.
fn c_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    let mut step = 1usize;
    for (stride, &d) in s.iter_mut().zip(shape).rev() {
        *stride = step;
        step = step.saturating_mul(d);
    }
    s
}

/// Column-major strides: the product of the dimensions before each axis.
fn f_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    let mut step = 1usize;
    for (stride, &d) in s.iter_mut().zip(shape) {
        *stride = step;
        step = step.saturating_mul(d);
    }
    s
}

/// For each row-major position of `shape`, `sum(index[k] * strides[k])`.
fn strided_offsets(shape: &[usize], strides: &[usize]) -> Vec<usize> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let mut idx = vec![0usize; shape.len()];
    let mut at = 0usize;
    for _ in 0..n {
        out.push(at);
        for ((i, &d), &stride) in idx.iter_mut().zip(shape).zip(strides).rev() {
            *i += 1;
            at += stride;
            if *i < d {
                break;
            }
            at -= stride * d;
            *i = 0;
        }
    }
    out
}

/// For each row-major position of the permuted tensor, its index in the row-major source;
/// `None` unless `perm` names each axis of `shape` once.
fn permuted_indices(shape: &[usize], perm: &[usize]) -> Option<Vec<usize>> {
    let out_shape = permuted_shape(shape, perm)?;
    let src = c_strides(shape);
    let strides: Vec<usize> = perm
        .iter()
        .map(|&a| src.get(a).copied())
        .collect::<Option<_>>()?;
    Some(strided_offsets(&out_shape, &strides))
}

/// Writes row-major `src` into `flat` at `offset`, element `r` at `offset + positions[r]`
/// (contiguously without positions), for parameter `param`.
fn scatter(
    flat: &mut TensorData,
    src: &TensorData,
    param: &str,
    offset: usize,
    positions: Option<&[usize]>,
) -> Result<()> {
    let total = flat.len();
    let overrun = |at: usize| {
        Error::Inconsistent(format!(
            "parameter {param}: {} values at offset {offset} do not fit the {total} values of the network (element at {at})",
            src.len()
        ))
    };
    macro_rules! put {
        ($a:expr, $b:expr) => {
            match positions {
                None => offset
                    .checked_add($b.len())
                    .and_then(|end| $a.get_mut(offset..end))
                    .ok_or_else(|| overrun(offset.saturating_add($b.len())))?
                    .copy_from_slice($b),
                Some(pos) => {
                    for (v, &q) in $b.iter().zip(pos) {
                        let at = offset.saturating_add(q);
                        *$a.get_mut(at).ok_or_else(|| overrun(at))? = *v;
                    }
                }
            }
        };
    }
    match (flat, src) {
        (TensorData::F64(a), TensorData::F64(b)) => put!(a, b),
        (TensorData::F32(a), TensorData::F32(b)) => put!(a, b),
        (TensorData::F16(a), TensorData::F16(b)) => put!(a, b),
        (TensorData::BF16(a), TensorData::BF16(b)) => put!(a, b),
        (a, b) => {
            return Err(Error::Inconsistent(format!(
                "cannot place {} values into {} parameters",
                b.dtype(),
                a.dtype()
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_puts_numbers_right() {
        let mut v = vec!["layers.10.weight", "layers.2.weight", "layers.2.bias", "a"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["a", "layers.2.bias", "layers.2.weight", "layers.10.weight"]
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match(
            "*.num_batches_tracked",
            "norm1.num_batches_tracked"
        ));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("a*c", "abcd"));
        assert!(glob_match("x", "x"));
    }

    #[test]
    fn offsets() {
        // Transposing [2, 3]: result [3, 2], element (i, j) is source (j, i).
        assert_eq!(
            permuted_indices(&[2, 3], &[1, 0]),
            Some(vec![0, 3, 1, 4, 2, 5])
        );
        // Not a permutation of the axes.
        assert_eq!(permuted_indices(&[2, 3], &[0, 2]), None);
        assert_eq!(permuted_indices(&[2, 3], &[1, 1]), None);
        assert_eq!(permuted_indices(&[2, 3], &[0]), None);
        // f order of [2, 3]: (i, j) at i + 2 j.
        assert_eq!(
            strided_offsets(&[2, 3], &f_strides(&[2, 3])),
            [0, 2, 4, 1, 3, 5]
        );
        assert_eq!(strided_offsets(&[], &[]), [0]);
    }

    #[test]
    fn fits() {
        assert_eq!(fit(&[2, 3], &[3, 2]), Some(Fit::Transposed));
        assert_eq!(fit(&[3], &[1, 3]), Some(Fit::Vector));
        assert_eq!(fit(&[1], &[]), Some(Fit::Vector));
        assert_eq!(fit(&[3, 3], &[3, 3]), Some(Fit::Square));
        assert_eq!(fit(&[3, 1], &[1, 3]), Some(Fit::Vector));
        assert_eq!(fit(&[2, 3], &[6]), None);
    }
}
