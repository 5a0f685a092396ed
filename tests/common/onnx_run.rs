//! Running exported ONNX graphs with tract, the test runtime, and comparing with tolerances.

use dl4j::DType;
use ndarray::{ArrayD, IxDyn};
use tract_onnx::prelude::*;

use super::reference::diffs;

/// Runs an exported model on `x` (converted to the model's dtype) with tract; output in f64.
pub fn run(onnx: &[u8], dtype: DType, x: &ArrayD<f64>) -> ArrayD<f64> {
    let shape: Vec<usize> = x.shape().to_vec();
    let (fact, input): (InferenceFact, Tensor) = match dtype {
        DType::F32 => {
            let v: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            (
                f32::fact(&shape).into(),
                Tensor::from_shape(&shape, &v).unwrap(),
            )
        }
        DType::F64 => {
            let v: Vec<f64> = x.iter().copied().collect();
            (
                f64::fact(&shape).into(),
                Tensor::from_shape(&shape, &v).unwrap(),
            )
        }
        DType::F16 => {
            let v: Vec<tract_onnx::prelude::f16> = x
                .iter()
                .map(|&v| tract_onnx::prelude::f16::from_f64(v))
                .collect();
            (
                tract_onnx::prelude::f16::fact(&shape).into(),
                Tensor::from_shape(&shape, &v).unwrap(),
            )
        }
        d => panic!("unexpected dtype {d:?}"),
    };
    let model = tract_onnx::onnx()
        .model_for_read(&mut &onnx[..])
        .expect("tract reads the model")
        .with_input_fact(0, fact)
        .unwrap()
        .into_optimized()
        .expect("tract optimizes the model")
        .into_runnable()
        .unwrap();
    let out = model.run(tvec!(input.into_tvalue())).expect("tract runs");
    let t = out[0].clone().into_tensor();
    let t = t.cast_to::<f64>().unwrap().into_owned();
    let v: Vec<f64> = t
        .to_plain_array_view::<f64>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    ArrayD::from_shape_vec(IxDyn(t.shape()), v).unwrap()
}

/// Asserts DL4J's tolerance from the issue: |got - want| <= atol + rtol * |want| everywhere.
pub fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>, rtol: f64, atol: f64, what: &str) {
    let (abs, rel) = diffs(got, want);
    eprintln!("{what}: max abs diff {abs:.3e}, max rel diff {rel:.3e}");
    ndarray::Zip::from(got).and(want).for_each(|&g, &w| {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{what}: got {g}, DL4J {w} (max abs diff {abs:e})"
        );
    });
}
