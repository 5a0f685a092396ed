//! Straightforward f64 implementations of DL4J's recurrent layers (spec
//! `dl4j-config-and-layers.md` §9.13-§9.19), on NCW arrays `[batch, features, time]` and DL4J's
//! logical parameter matrices.

use ndarray::{s, Array1, Array2, Array3, Axis};

pub type Act<'a> = &'a dyn Fn(f64) -> f64;

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// LSTM / GravesLSTM: `W [nIn, 4h]`, `RW [h, 4h]` (GravesLSTM `[h, 4h+3]` with the forget,
/// output, input peepholes last), `b [4h]`; blocks [block input, forget, output, input gate].
pub fn lstm(
    x: &Array3<f64>,
    w: &Array2<f64>,
    rw: &Array2<f64>,
    b: &Array1<f64>,
    act: Act,
    gate: Act,
    peepholes: bool,
) -> Array3<f64> {
    lstm_masked(x, w, rw, b, act, gate, peepholes, None)
}

/// [`lstm`] with a DL4J time-series mask `[batch, T]` (1 = keep): at a masked step `h_t` and
/// `c_t` are multiplied by 0, so the output is 0 and the next step starts from zero state.
#[allow(clippy::too_many_arguments)]
pub fn lstm_masked(
    x: &Array3<f64>,
    w: &Array2<f64>,
    rw: &Array2<f64>,
    b: &Array1<f64>,
    act: Act,
    gate: Act,
    peepholes: bool,
    mask: Option<&Array2<f64>>,
) -> Array3<f64> {
    let (mb, _, t_len) = x.dim();
    let h = rw.nrows();
    let mut out = Array3::zeros((mb, h, t_len));
    let mut hp = Array2::<f64>::zeros((mb, h));
    let mut cp = Array2::<f64>::zeros((mb, h));
    for t in 0..t_len {
        let xt = x.slice(s![.., .., t]);
        let z = xt.dot(w) + hp.dot(&rw.slice(s![.., ..4 * h])) + b;
        let mut hn = Array2::zeros((mb, h));
        let mut cn = Array2::zeros((mb, h));
        for n in 0..mb {
            for j in 0..h {
                let (pf, po, pi) = if peepholes {
                    (rw[[j, 4 * h]], rw[[j, 4 * h + 1]], rw[[j, 4 * h + 2]])
                } else {
                    (0.0, 0.0, 0.0)
                };
                let a = act(z[[n, j]]);
                let f = gate(z[[n, h + j]] + pf * cp[[n, j]]);
                let i = gate(z[[n, 3 * h + j]] + pi * cp[[n, j]]);
                let c = f * cp[[n, j]] + i * a;
                let o = gate(z[[n, 2 * h + j]] + po * c);
                let m = mask.map_or(1.0, |m| m[[n, t]]);
                cn[[n, j]] = c * m;
                hn[[n, j]] = o * act(c) * m;
            }
        }
        out.slice_mut(s![.., .., t]).assign(&hn);
        hp = hn;
        cp = cn;
    }
    out
}

/// SimpleRnn: `h_t = act(x_t·W + h_{t-1}·RW + b)`.
pub fn simple_rnn(
    x: &Array3<f64>,
    w: &Array2<f64>,
    rw: &Array2<f64>,
    b: &Array1<f64>,
    act: Act,
) -> Array3<f64> {
    let (mb, _, t_len) = x.dim();
    let h = rw.nrows();
    let mut out = Array3::zeros((mb, h, t_len));
    let mut hp = Array2::<f64>::zeros((mb, h));
    for t in 0..t_len {
        let z = x.slice(s![.., .., t]).dot(w) + hp.dot(rw) + b;
        hp = z.mapv(act);
        out.slice_mut(s![.., .., t]).assign(&hp);
    }
    out
}

/// SimpleRnn with layer norm: `h_t = act(gx ⊙ std(x_t·W) + b + gr ⊙ std(h_{t-1}·RW))`, the
/// recurrent term skipped at t = 0; `std` = `(z - mean) / population std` per row, no epsilon,
/// NaN -> 0.
pub fn simple_rnn_layer_norm(
    x: &Array3<f64>,
    w: &Array2<f64>,
    rw: &Array2<f64>,
    b: &Array1<f64>,
    g: &Array1<f64>,
    act: Act,
) -> Array3<f64> {
    let (mb, _, t_len) = x.dim();
    let h = rw.nrows();
    let (gx, gr) = (g.slice(s![..h]), g.slice(s![h..]));
    let standardize = |z: Array2<f64>| {
        let mut z = z;
        for mut row in z.rows_mut() {
            let n = row.len() as f64;
            let mean = row.sum() / n;
            let std = (row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            row.mapv_inplace(|v| {
                let s = (v - mean) / std;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            });
        }
        z
    };
    let mut out = Array3::zeros((mb, h, t_len));
    let mut hp = Array2::<f64>::zeros((mb, h));
    for t in 0..t_len {
        let mut z = standardize(x.slice(s![.., .., t]).dot(w)) * gx + b;
        if t > 0 {
            z = z + standardize(hp.dot(rw)) * gr;
        }
        hp = z.mapv(act);
        out.slice_mut(s![.., .., t]).assign(&hp);
    }
    out
}

/// Full-length reversal along time (axis 2).
pub fn reverse_time(x: &Array3<f64>) -> Array3<f64> {
    x.slice(s![.., .., ..;-1]).to_owned()
}

/// Bidirectional combination of a forward output and a (re-reversed) backward output.
pub fn combine(f: &Array3<f64>, r: &Array3<f64>, mode: &str) -> Array3<f64> {
    match mode {
        "ADD" => f + r,
        "MUL" => f * r,
        "AVERAGE" => (f + r) / 2.0,
        "CONCAT" => ndarray::concatenate(Axis(1), &[f.view(), r.view()]).unwrap(),
        m => panic!("mode {m}"),
    }
}

/// RnnOutputLayer: `x_t·W + b` per step, then `act` elementwise or softmax over features.
pub fn rnn_output(
    x: &Array3<f64>,
    w: &Array2<f64>,
    b: &Array1<f64>,
    act: Option<Act>,
) -> Array3<f64> {
    let (mb, _, t_len) = x.dim();
    let mut out = Array3::zeros((mb, w.ncols(), t_len));
    for t in 0..t_len {
        let z = x.slice(s![.., .., t]).dot(w) + b;
        out.slice_mut(s![.., .., t]).assign(&features_act(z, act));
    }
    out
}

/// `act` elementwise, or softmax over each row when `None`.
pub fn features_act(z: Array2<f64>, act: Option<Act>) -> Array2<f64> {
    match act {
        Some(f) => z.mapv(f),
        None => {
            let mut z = z;
            for mut row in z.rows_mut() {
                let m = row.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
                row.mapv_inplace(|v| (v - m).exp());
                let s = row.sum();
                row /= s;
            }
            z
        }
    }
}

/// `[batch, features, time]` <-> `[batch, time, features]`.
pub fn swap_nwc(x: &Array3<f64>) -> Array3<f64> {
    x.clone()
        .permuted_axes([0, 2, 1])
        .as_standard_layout()
        .to_owned()
}
