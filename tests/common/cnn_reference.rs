//! Reference math of DL4J's convolutional layers in f64 on NCHW arrays (spec
//! `dl4j-config-and-layers.md` §9.5-§9.12, §9.20-§9.23, §13), written directly from the spec's
//! formulas with loops, no ONNX semantics. 1-D layers use these with a width of 1.
#![allow(dead_code)]

use ndarray::{s, Array1, Array4, ArrayView4};

/// ConvolutionMode (spec §13).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Truncate,
    Same,
    /// 1-D only: begin padding `(k-1)·d`, nothing at the end.
    Causal,
}

/// A 2-D window: kernel, stride, padding, dilation and mode.
#[derive(Debug, Clone, Copy)]
pub struct Win {
    pub k: [usize; 2],
    pub s: [usize; 2],
    pub p: [usize; 2],
    pub d: [usize; 2],
    pub mode: Mode,
}

impl Win {
    pub fn new(k: [usize; 2], s: [usize; 2], p: [usize; 2], d: [usize; 2], mode: Mode) -> Win {
        Win { k, s, p, d, mode }
    }

    /// Output size and begin padding along axis `a` for input size `n` (spec §13).
    pub fn axis(&self, a: usize, n: usize) -> (usize, usize) {
        let (k, s, p, d) = (self.k[a], self.s[a], self.p[a], self.d[a]);
        let ek = k + (k - 1) * (d - 1);
        match self.mode {
            Mode::Same => {
                let out = n.div_ceil(s);
                let total = ((out - 1) * s + ek).saturating_sub(n);
                (out, total / 2)
            }
            Mode::Causal => (n.div_ceil(s), (k - 1) * d),
            Mode::Truncate => ((n + 2 * p - ek) / s + 1, p),
        }
    }

    /// In-bounds input positions `(r, c, u, v)` of the window of output `(i, j)`; `pt`, `pl` are
    /// the begin paddings.
    pub fn taps(
        &self,
        (h, w): (usize, usize),
        (pt, pl): (usize, usize),
        (i, j): (usize, usize),
    ) -> Vec<(usize, usize, usize, usize)> {
        let mut v = Vec::new();
        for u in 0..self.k[0] {
            for q in 0..self.k[1] {
                let r = (i * self.s[0] + u * self.d[0]).checked_sub(pt);
                let c = (j * self.s[1] + q * self.d[1]).checked_sub(pl);
                if let (Some(r), Some(c)) = (r, c) {
                    if r < h && c < w {
                        v.push((r, c, u, q));
                    }
                }
            }
        }
        v
    }
}

/// Grouped cross-correlation: `w` `[O, C/groups, kH, kW]`, output channel `o` reads input
/// channels of group `o / (O/groups)`; plus `b[o]`.
pub fn conv2d(
    x: &Array4<f64>,
    w: ArrayView4<f64>,
    b: Option<&Array1<f64>>,
    win: &Win,
    groups: usize,
) -> Array4<f64> {
    let (mb, ch, h, wd) = x.dim();
    let (o_n, cg, _, _) = w.dim();
    assert_eq!(cg * groups, ch, "channels per group");
    let (oh, pt) = win.axis(0, h);
    let (ow, pl) = win.axis(1, wd);
    let og = o_n / groups;
    Array4::from_shape_fn((mb, o_n, oh, ow), |(n, o, i, j)| {
        let g = o / og;
        let mut acc = b.map_or(0.0, |b| b[o]);
        for (r, c, u, v) in win.taps((h, wd), (pt, pl), (i, j)) {
            for ci in 0..cg {
                acc += w[[o, ci, u, v]] * x[[n, g * cg + ci, r, c]];
            }
        }
        acc
    })
}

/// Transposed convolution (libnd4j `deconv2d`): `w` `[C, O, kH, kW]`, input `(i, j)` adds
/// `x·w[c, o, u, v]` at `(i·s + u·d - pt, j·s + v·d - pl)`; output size `out`.
pub fn deconv2d(
    x: &Array4<f64>,
    w: &Array4<f64>,
    b: &Array1<f64>,
    win: &Win,
    (pt, pl): (usize, usize),
    (oh, ow): (usize, usize),
) -> Array4<f64> {
    let (mb, ch, h, wd) = x.dim();
    let o_n = w.dim().1;
    let mut y = Array4::zeros((mb, o_n, oh, ow));
    for n in 0..mb {
        for o in 0..o_n {
            y.slice_mut(s![n, o, .., ..]).fill(b[o]);
            for c in 0..ch {
                for i in 0..h {
                    for j in 0..wd {
                        for u in 0..win.k[0] {
                            for v in 0..win.k[1] {
                                let r = (i * win.s[0] + u * win.d[0]).checked_sub(pt);
                                let q = (j * win.s[1] + v * win.d[1]).checked_sub(pl);
                                if let (Some(r), Some(q)) = (r, q) {
                                    if r < oh && q < ow {
                                        y[[n, o, r, q]] += x[[n, c, i, j]] * w[[c, o, u, v]];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

/// Pooling kinds of SubsamplingLayer.
#[derive(Debug, Clone, Copy)]
pub enum Pool {
    Max,
    /// Divide by `kH·kW` when true, else by the in-bounds count.
    Avg {
        include_pad: bool,
    },
    Pnorm(f64),
}

/// SubsamplingLayer (§9.7): windows as convolution, padded positions skipped.
pub fn pool2d(x: &Array4<f64>, win: &Win, kind: Pool) -> Array4<f64> {
    let (mb, ch, h, w) = x.dim();
    let (oh, pt) = win.axis(0, h);
    let (ow, pl) = win.axis(1, w);
    Array4::from_shape_fn((mb, ch, oh, ow), |(n, c, i, j)| {
        let vals: Vec<f64> = win
            .taps((h, w), (pt, pl), (i, j))
            .into_iter()
            .map(|(r, q, _, _)| x[[n, c, r, q]])
            .collect();
        match kind {
            Pool::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Pool::Avg { include_pad } => {
                let div = if include_pad {
                    (win.k[0] * win.k[1]) as f64
                } else {
                    vals.len() as f64
                };
                vals.iter().sum::<f64>() / div
            }
            Pool::Pnorm(p) => vals
                .iter()
                .map(|v| v.abs().powf(p))
                .sum::<f64>()
                .powf(1.0 / p),
        }
    })
}

/// ZeroPaddingLayer: `[top, bottom, left, right]`.
pub fn zero_pad(x: &Array4<f64>, [t, bo, l, r]: [usize; 4]) -> Array4<f64> {
    let (mb, ch, h, w) = x.dim();
    let mut y = Array4::zeros((mb, ch, t + h + bo, l + w + r));
    y.slice_mut(s![.., .., t..t + h, l..l + w]).assign(x);
    y
}

/// Cropping2D: `[top, bottom, left, right]`.
pub fn crop(x: &Array4<f64>, [t, bo, l, r]: [usize; 4]) -> Array4<f64> {
    let (_, _, h, w) = x.dim();
    x.slice(s![.., .., t..h - bo, l..w - r]).to_owned()
}

/// Upsampling2D: `y[h, w] = x[⌊h/sH⌋, ⌊w/sW⌋]`.
pub fn upsample(x: &Array4<f64>, [sh, sw]: [usize; 2]) -> Array4<f64> {
    let (mb, ch, h, w) = x.dim();
    Array4::from_shape_fn((mb, ch, h * sh, w * sw), |(n, c, r, q)| {
        x[[n, c, r / sh, q / sw]]
    })
}

/// LocalResponseNormalization (§9.12): `h = ⌊n/2⌋`, alpha not divided by the window.
pub fn lrn(x: &Array4<f64>, n: f64, k: f64, alpha: f64, beta: f64) -> Array4<f64> {
    let half = (n / 2.0).floor() as isize;
    let ch = x.dim().1 as isize;
    Array4::from_shape_fn(x.dim(), |(b, c, i, j)| {
        let lo = (c as isize - half).max(0);
        let hi = (c as isize + half).min(ch - 1);
        let s: f64 = (lo..=hi).map(|q| x[[b, q as usize, i, j]].powi(2)).sum();
        x[[b, c, i, j]] * (k + alpha * s).powf(-beta)
    })
}

/// SpaceToDepth (§9.23): output channel `(by·bs + bx)·C + c`.
pub fn space_to_depth(x: &Array4<f64>, bs: usize) -> Array4<f64> {
    let (mb, ch, h, w) = x.dim();
    Array4::from_shape_fn((mb, ch * bs * bs, h / bs, w / bs), |(n, o, i, j)| {
        let (blk, c) = (o / ch, o % ch);
        let (by, bx) = (blk / bs, blk % bs);
        x[[n, c, i * bs + by, j * bs + bx]]
    })
}

/// NHWC -> NCHW and back.
pub fn nhwc_to_nchw(x: &Array4<f64>) -> Array4<f64> {
    x.view().permuted_axes([0, 3, 1, 2]).to_owned()
}
pub fn nchw_to_nhwc(x: &Array4<f64>) -> Array4<f64> {
    x.view().permuted_axes([0, 2, 3, 1]).to_owned()
}

/// One spatial axis of a 3-D window: `(out, begin pad)` for input size `n` (Truncate or Same).
fn axis3(k: usize, s: usize, p: usize, n: usize, same: bool) -> (usize, usize) {
    if same {
        let out = n.div_ceil(s);
        (out, ((out - 1) * s + k).saturating_sub(n) / 2)
    } else {
        ((n + 2 * p - k) / s + 1, p)
    }
}

/// Convolution3D (no dilation): `w` `[O, C, kD, kH, kW]`, NCDHW, or MAX pooling when `w` is
/// `None` (padded positions skipped).
pub fn conv_or_max3d(
    x: &ndarray::Array5<f64>,
    w: Option<(&ndarray::Array5<f64>, &Array1<f64>)>,
    k: [usize; 3],
    st: [usize; 3],
    p: [usize; 3],
    same: bool,
) -> ndarray::Array5<f64> {
    let (mb, ch, dd, hh, ww) = x.dim();
    let size = [dd, hh, ww];
    let geo: Vec<(usize, usize)> = (0..3)
        .map(|a| axis3(k[a], st[a], p[a], size[a], same))
        .collect();
    let o_n = w.map_or(ch, |(w, _)| w.dim().0);
    ndarray::Array5::from_shape_fn(
        (mb, o_n, geo[0].0, geo[1].0, geo[2].0),
        |(n, o, i, j, l)| {
            let mut acc = w.map_or(f64::NEG_INFINITY, |(_, b)| b[o]);
            let out = [i, j, l];
            for u in 0..k[0] {
                for v in 0..k[1] {
                    for q in 0..k[2] {
                        let tap = [u, v, q];
                        let pos: Option<Vec<usize>> = (0..3)
                            .map(|a| {
                                (out[a] * st[a] + tap[a])
                                    .checked_sub(geo[a].1)
                                    .filter(|&z| z < size[a])
                            })
                            .collect();
                        let Some(pos) = pos else { continue };
                        match w {
                            Some((w, _)) => {
                                for c in 0..ch {
                                    acc += w[[o, c, u, v, q]] * x[[n, c, pos[0], pos[1], pos[2]]];
                                }
                            }
                            None => acc = acc.max(x[[n, o, pos[0], pos[1], pos[2]]]),
                        }
                    }
                }
            }
            acc
        },
    )
}

/// Subsampling3DLayer AVG / MAX as libnd4j `avgpool3dnew` / `maxpool3dnew` with extra parameter
/// 0 (what DL4J passes), NCDHW: window `o·s - pb + u·d`; Same mode `out = ⌈in/s⌉`, begin pad
/// `pb = ((out-1)·s + eK - in) / 2` truncated toward zero (C++), else the configured padding;
/// AVG divides by the number of in-bounds taps (padding never counts).
pub fn pool3d(
    x: &ndarray::Array5<f64>,
    avg: bool,
    k: [usize; 3],
    st: [usize; 3],
    p: [usize; 3],
    d: [usize; 3],
    same: bool,
) -> ndarray::Array5<f64> {
    let (mb, ch, dd, hh, ww) = x.dim();
    let size = [dd, hh, ww];
    let geo: Vec<(usize, i64)> = (0..3)
        .map(|a| {
            let ek = (k[a] - 1) * d[a] + 1;
            if same {
                let out = size[a].div_ceil(st[a]);
                let t = ((out - 1) * st[a] + ek) as i64 - size[a] as i64;
                (out, t / 2)
            } else {
                ((size[a] + 2 * p[a] - ek) / st[a] + 1, p[a] as i64)
            }
        })
        .collect();
    ndarray::Array5::from_shape_fn((mb, ch, geo[0].0, geo[1].0, geo[2].0), |(n, c, i, j, l)| {
        let out = [i, j, l];
        let mut vals = Vec::new();
        for u in 0..k[0] {
            for v in 0..k[1] {
                for q in 0..k[2] {
                    let tap = [u, v, q];
                    let pos: Option<Vec<usize>> = (0..3)
                        .map(|a| {
                            let z = (out[a] * st[a] + tap[a] * d[a]) as i64 - geo[a].1;
                            (z >= 0 && (z as usize) < size[a]).then_some(z as usize)
                        })
                        .collect();
                    if let Some(pos) = pos {
                        vals.push(x[[n, c, pos[0], pos[1], pos[2]]]);
                    }
                }
            }
        }
        if avg {
            vals.iter().sum::<f64>() / vals.len() as f64
        } else {
            vals.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        }
    })
}

/// Deconvolution2D in Same mode as libnd4j `deconv2d`: output `s·in`; begin crop
/// `p = (eK - s) / 2` truncated toward zero (negative when `eK < s`: the taps shift the other
/// way); input `(i, j)` adds `x·w[c, o, u, v]` at `(i·s + u·d - pH, j·s + v·d - pW)` when
/// inside; the bias is added everywhere.
pub fn deconv2d_same(x: &Array4<f64>, w: &Array4<f64>, b: &Array1<f64>, win: &Win) -> Array4<f64> {
    let (mb, ch, h, wd) = x.dim();
    let o_n = w.dim().1;
    let crop = |a: usize| {
        let ek = ((win.k[a] - 1) * win.d[a] + 1) as i64;
        (ek - win.s[a] as i64) / 2
    };
    let (ph, pw) = (crop(0), crop(1));
    let (oh, ow) = (win.s[0] * h, win.s[1] * wd);
    let mut y = Array4::zeros((mb, o_n, oh, ow));
    for n in 0..mb {
        for o in 0..o_n {
            y.slice_mut(s![n, o, .., ..]).fill(b[o]);
            for c in 0..ch {
                for i in 0..h {
                    for j in 0..wd {
                        for u in 0..win.k[0] {
                            for v in 0..win.k[1] {
                                let r = (i * win.s[0] + u * win.d[0]) as i64 - ph;
                                let q = (j * win.s[1] + v * win.d[1]) as i64 - pw;
                                if r >= 0 && q >= 0 && (r as usize) < oh && (q as usize) < ow {
                                    y[[n, o, r as usize, q as usize]] +=
                                        x[[n, c, i, j]] * w[[c, o, u, v]];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    y
}
