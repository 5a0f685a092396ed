//! `MaxPool` / `AveragePool` -> SubsamplingLayer / Subsampling1DLayer and `GlobalAveragePool` /
//! `GlobalMaxPool` -> GlobalPoolingLayer (spec config §9.7, §9.10). DL4J skips padded positions
//! when taking a maximum and counts them in an average only with `avgPoolIncludePadInDivisor`,
//! as ONNX does with `count_include_pad`; a pad split other than equal or SAME_UPPER has no
//! equivalent (zero padding in front would change both).

use serde_json::json;

use super::super::json::{self, Family};
use super::super::net::{Layer, Sym};
use super::super::{attr_int, attr_ints, input, show, Cx, Done};
use super::activation::hint;
use super::conv::{dl4j_padding, out_sizes, pair, spatial_layout, window};
use crate::proto::ForeignNode;

pub fn pool(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    let nhwc = spatial_layout(&x)?;
    if n.outputs
        .get(1)
        .is_some_and(|o| !o.is_empty() && cx.uses(o) > 0)
    {
        return Err("the MaxPool indices output is used".into());
    }
    let kernel: Vec<usize> = attr_ints(n, "kernel_shape")
        .ok_or("no kernel_shape")?
        .iter()
        .map(|&k| usize::try_from(k).map_err(|_| format!("kernel {k}")))
        .collect::<Result<_, _>>()?;
    if kernel.len() != x.rank() - 2 {
        return Err(format!("kernel {kernel:?} for input {}", show(&x.shape)));
    }
    let win = window(n, &x, kernel)?;
    let out = out_sizes(&x, &win);
    if attr_int(n, "ceil_mode", 0) != 0 {
        // Ceil mode differs from DL4J's floor only when a window would start in the padding.
        // Unknown sizes (and sizes too large to compute with) count as differing.
        let differs = win.axes().enumerate().any(|(i, ax)| {
            let Some(size) = x.shape.get(2 + i).copied().flatten() else {
                return true;
            };
            let room = ax
                .padded(size)
                .zip(ax.extent())
                .and_then(|(padded, ek)| padded.checked_sub(ek));
            room.is_none_or(|room| room.checked_rem(ax.stride) != Some(0))
        });
        if differs {
            return Err("ceil_mode = 1 gives a larger output than DL4J's floor rounding".into());
        }
    }
    let (mode, padding, explicit) = dl4j_padding(&win);
    if explicit.is_some() {
        return Err(format!(
            "pads {:?} / {:?} are neither equal on both sides nor the SAME_UPPER split",
            win.pads.begin, win.pads.end
        ));
    }
    let max = n.op == "MaxPool";
    if !max && win.dilation.iter().any(|&d| d != 1) {
        return Err("dilated average pooling".into());
    }
    let include_pad = !max && attr_int(n, "count_include_pad", 0) != 0;
    let one_d = win.kernel.len() == 1;
    let fields = json::fields(&[
        ("poolingType", json!(if max { "MAX" } else { "AVG" })),
        ("kernelSize", pair(&win.kernel, 1)),
        ("stride", pair(&win.stride, 1)),
        ("padding", pair(&padding, 0)),
        ("dilation", pair(&win.dilation, 1)),
        ("convolutionMode", json!(mode)),
        ("cudnnAllowFallback", json!(true)),
        ("avgPoolIncludePadInDivisor", json!(include_pad)),
        ("eps", json!(1.0e-8)),
        ("pnorm", json!(0)),
        ("cnn2dDataFormat", json!(if nhwc { "NHWC" } else { "NCHW" })),
    ]);
    let class = if one_d {
        "Subsampling1DLayer"
    } else {
        "SubsamplingLayer"
    };
    let v = cx.net.add_layer(
        hint(n, "pool"),
        &x,
        Layer::new(class, Family::NoParams, fields),
    );
    // [batch, channels] (the input has rank 3 or 4), then the pooled sizes.
    let mut shape: Vec<Option<usize>> = x.shape.iter().take(2).copied().collect();
    shape.extend(out);
    cx.set(
        n.outputs.first().ok_or("no output")?,
        x.same_layout(&v, shape),
    );
    Ok(())
}

pub fn global(cx: &mut Cx, n: &ForeignNode) -> Done {
    let x = cx.sym(input(n, 0).ok_or("no input")?)?;
    let nhwc = spatial_layout(&x)?;
    // DL4J pools the axes of its own array: [1, 2] of NHWC data.
    let dims: Vec<usize> = (2..x.rank()).collect();
    let pooled: Vec<usize> = if nhwc { vec![1, 2] } else { dims.clone() };
    let fields = json::fields(&[
        (
            "poolingType",
            json!(if n.op == "GlobalMaxPool" {
                "MAX"
            } else {
                "AVG"
            }),
        ),
        ("poolingDimensions", json!(pooled)),
        ("collapseDimensions", json!(true)),
        ("pnorm", json!(2)),
    ]);
    let v = cx.net.add_layer(
        hint(n, "global_pool"),
        &x,
        Layer::new("GlobalPoolingLayer", Family::NoParams, fields),
    );
    // DL4J drops the pooled axes; ONNX keeps them as size 1.
    let mut y = Sym::plain(&v, x.shape.iter().take(2).copied().collect());
    y.shape.extend(dims.iter().map(|_| Some(1)));
    y.squeezed = dims;
    y.perm = vec![0, 1];
    cx.set(n.outputs.first().ok_or("no output")?, y);
    Ok(())
}
