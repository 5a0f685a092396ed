//! Every loose ND4J array in the fixtures decodes to the right logical array.

mod common;

use common::fixture;
use dl4j::nd4j::{read_array_exact, Nd4jArray};
use dl4j::DType;
use ndarray::{ArrayD, Axis};

/// (file, allocation mode, data type, shape, order flag) as PROVENANCE.md lists them.
const ARRAYS: &[(&str, &str, &str, &[usize], char)] = &[
    ("dl4j/1.0.0-alpha/CustomLayerExample_Input_100a.bin", "JAVACPP", "DOUBLE", &[3, 5], 'c'),
    ("dl4j/1.0.0-alpha/CustomLayerExample_Output_100a.bin", "JAVACPP", "DOUBLE", &[3, 8], 'f'),
    ("dl4j/1.0.0-alpha/GravesLSTMCharModelingExample_Input_100a.bin", "JAVACPP", "FLOAT", &[3, 77, 10], 'c'),
    ("dl4j/1.0.0-alpha/GravesLSTMCharModelingExample_Output_100a.bin", "JAVACPP", "FLOAT", &[3, 77, 10], 'c'),
    ("dl4j/1.0.0-beta3/CustomLayerExample_Input_100b3_float.bin", "LONG_SHAPE", "FLOAT", &[3, 5], 'c'),
    ("dl4j/1.0.0-beta3/CustomLayerExample_Output_100b3_float.bin", "LONG_SHAPE", "FLOAT", &[3, 8], 'c'),
    ("dl4j/1.0.0-beta3/VaeMNISTAnomaly_Input_100b3.bin", "LONG_SHAPE", "FLOAT", &[3, 784], 'c'),
    ("dl4j/1.0.0-beta3/VaeMNISTAnomaly_Output_100b3.bin", "LONG_SHAPE", "FLOAT", &[3, 32], 'f'),
    ("dl4j/1.0.0-beta4/CustomLayerExample_Input_100b4_double.bin", "MIXED_DATA_TYPES", "DOUBLE", &[3, 5], 'c'),
    ("dl4j/1.0.0-beta4/CustomLayerExample_Output_100b4_double.bin", "MIXED_DATA_TYPES", "DOUBLE", &[3, 8], 'c'),
    ("dl4j/1.0.0-beta4/CustomLayerExample_Input_100b4_half.bin", "MIXED_DATA_TYPES", "HALF", &[3, 5], 'c'),
    ("dl4j/1.0.0-beta4/CustomLayerExample_Output_100b4_half.bin", "MIXED_DATA_TYPES", "HALF", &[3, 8], 'c'),
    ("dl4j/1.0.0-beta4/SyntheticCNN_Input_100b4.bin", "MIXED_DATA_TYPES", "FLOAT", &[4, 1, 28, 28], 'c'),
    ("dl4j/1.0.0-beta4/SyntheticCNN_Output_100b4.bin", "MIXED_DATA_TYPES", "FLOAT", &[4, 4, 11, 22], 'c'),
    ("dl4j/1.0.0-beta4/VaeMNISTAnomaly_Input_100b4.bin", "MIXED_DATA_TYPES", "FLOAT", &[3, 784], 'c'),
    ("dl4j/1.0.0-beta4/VaeMNISTAnomaly_Output_100b4.bin", "MIXED_DATA_TYPES", "FLOAT", &[3, 32], 'f'),
    ("dl4j/1.0.0-beta6/CustomLayerExample_Input_100b6_float.bin", "MIXED_DATA_TYPES", "FLOAT", &[3, 5], 'c'),
    ("dl4j/1.0.0-beta6/CustomLayerExample_Output_100b6_float.bin", "MIXED_DATA_TYPES", "FLOAT", &[3, 8], 'c'),
    ("dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_Input_100b6.bin", "MIXED_DATA_TYPES", "FLOAT", &[4, 10, 10], 'c'),
    ("dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_Output_100b6.bin", "MIXED_DATA_TYPES", "FLOAT", &[4, 3], 'c'),
    ("dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_Input_100b6.bin", "MIXED_DATA_TYPES", "FLOAT", &[3, 77, 10], 'c'),
    ("dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_Output_100b6.bin", "MIXED_DATA_TYPES", "FLOAT", &[3, 77, 10], 'c'),
    ("dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/Cnn3dSynthetic/predictions/output_0_0.bin", "LONG_SHAPE", "FLOAT", &[2, 10], 'c'),
    ("dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/RnnCsvSequenceClassification1/predictions/output_0_0.bin", "LONG_SHAPE", "FLOAT", &[10, 6], 'c'),
    ("dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/MLPMnist/predictions/output_0_0.bin", "LONG_SHAPE", "FLOAT", &[1, 10], 'c'),
    ("dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/MLPMnist/predictions/output_1_0.bin", "LONG_SHAPE", "FLOAT", &[10, 10], 'c'),
    ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/predictions/output_0_0.bin", "MIXED_DATA_TYPES", "FLOAT", &[1, 2], 'c'),
    ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/predictions/output_1_0.bin", "MIXED_DATA_TYPES", "FLOAT", &[10, 2], 'c'),
    ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/CNN1dCharacterTestCase/predictions/output_0_0.bin", "MIXED_DATA_TYPES", "FLOAT", &[16, 77, 128], 'c'),
    ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/RnnCsvSequenceClassification2/predictions/output_0_0.bin", "MIXED_DATA_TYPES", "FLOAT", &[10, 6], 'c'),
    ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/LenetMnist/predictions/output_0_0.bin", "MIXED_DATA_TYPES", "FLOAT", &[1, 10], 'c'),
    ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/LenetMnist/predictions/output_1_0.bin", "MIXED_DATA_TYPES", "FLOAT", &[8, 10], 'c'),
    ("dl4j/nd4j-arrays/legacy/NDArray_javacpp.bin", "JAVACPP", "DOUBLE", &[2, 3, 4, 5], 'c'),
    ("dl4j/nd4j-arrays/legacy/NDArray_longshape_float.bin", "LONG_SHAPE", "FLOAT", &[1, 5], 'c'),
    ("dl4j/nd4j-arrays/deeplearning4j-zoo/goldenretriever_rgb128_unnormalized_nchw_INDArray.bin", "MIXED_DATA_TYPES", "FLOAT", &[1, 3, 128, 128], 'c'),
];

fn read(rel: &str) -> Nd4jArray {
    read_array_exact(&std::fs::read(fixture(rel)).unwrap()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn as_f64(a: &Nd4jArray) -> ArrayD<f64> {
    ArrayD::from_shape_vec(a.tensor.shape().to_vec(), a.tensor.to_f64_vec()).unwrap()
}

#[test]
fn headers_shapes_and_dtypes_match_provenance() {
    for (rel, mode, dtype, shape, order) in ARRAYS {
        let a = read(rel);
        assert_eq!(a.alloc.name(), *mode, "{rel}");
        assert_eq!(
            a.tensor.dtype(),
            DType::from_nd4j_name(dtype).unwrap(),
            "{rel}"
        );
        assert_eq!(a.tensor.shape(), *shape, "{rel}");
        assert_eq!(a.order.as_char(), *order, "{rel}");
        assert!(
            a.tensor.to_f64_vec().iter().all(|v| v.is_finite()),
            "{rel}: finite values"
        );
    }
}

/// Softmax outputs: every slice along the class axis sums to 1.
#[test]
fn softmax_outputs_sum_to_one_over_the_class_axis() {
    let cases: &[(&str, usize, f64)] = &[
        ("dl4j/1.0.0-alpha/GravesLSTMCharModelingExample_Output_100a.bin", 1, 1e-5),
        ("dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_Output_100b6.bin", 1, 1e-5),
        ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/CNN1dCharacterTestCase/predictions/output_0_0.bin", 1, 1e-5),
        ("dl4j/1.0.0-alpha/CustomLayerExample_Output_100a.bin", 1, 1e-9),
        ("dl4j/1.0.0-beta3/CustomLayerExample_Output_100b3_float.bin", 1, 1e-5),
        ("dl4j/1.0.0-beta4/CustomLayerExample_Output_100b4_double.bin", 1, 1e-9),
        ("dl4j/1.0.0-beta4/CustomLayerExample_Output_100b4_half.bin", 1, 5e-3),
        ("dl4j/1.0.0-beta6/CustomLayerExample_Output_100b6_float.bin", 1, 1e-5),
        ("dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_Output_100b6.bin", 1, 1e-5),
        ("dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/Cnn3dSynthetic/predictions/output_0_0.bin", 1, 1e-5),
        ("dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/MLPMnist/predictions/output_1_0.bin", 1, 1e-5),
        ("dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/RnnCsvSequenceClassification1/predictions/output_0_0.bin", 1, 1e-5),
        ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/MLPMoon/predictions/output_1_0.bin", 1, 1e-5),
        ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/LenetMnist/predictions/output_1_0.bin", 1, 1e-5),
        ("dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/RnnCsvSequenceClassification2/predictions/output_0_0.bin", 1, 1e-5),
    ];
    for (rel, axis, tol) in cases {
        let a = as_f64(&read(rel));
        assert!(
            a.iter().all(|v| (0.0..=1.0).contains(v)),
            "{rel}: probabilities"
        );
        let sums = a.sum_axis(Axis(*axis));
        for s in sums.iter() {
            assert!(
                (s - 1.0).abs() <= *tol,
                "{rel}: a softmax slice sums to {s}"
            );
        }
    }
}

#[test]
fn permuted_view_is_placed_by_strides() {
    // The file stores a [3, 77, 10] array with strides [1, 30, 3]. Taking its data buffer in
    // plain c order (ignoring the strides) gives columns that are not distributions at all:
    // this is what the softmax test above would catch.
    let rel = "dl4j/1.0.0-alpha/GravesLSTMCharModelingExample_Output_100a.bin";
    let bytes = std::fs::read(fixture(rel)).unwrap();
    let raw: Vec<f64> = bytes[bytes.len() - 3 * 77 * 10 * 4..]
        .chunks_exact(4)
        .map(|c| f32::from_be_bytes(c.try_into().unwrap()) as f64)
        .collect();
    let naive = ArrayD::from_shape_vec(vec![3, 77, 10], raw).unwrap();
    let worst = naive
        .sum_axis(Axis(1))
        .iter()
        .map(|s| (s - 1.0).abs())
        .fold(0.0, f64::max);
    assert!(
        worst > 1e-3,
        "buffer order happens to look like softmax ({worst})"
    );
    let placed = as_f64(&read(rel));
    let mut sorted_raw: Vec<f64> = naive.iter().copied().collect();
    let mut sorted_placed: Vec<f64> = placed.iter().copied().collect();
    sorted_raw.sort_by(f64::total_cmp);
    sorted_placed.sort_by(f64::total_cmp);
    assert_eq!(sorted_raw, sorted_placed, "same values, different places");
}

#[test]
fn legacy_arrays_hold_their_documented_values() {
    let a = read("dl4j/nd4j-arrays/legacy/NDArray_javacpp.bin");
    let v = a.tensor.as_slice::<f64>().unwrap();
    assert_eq!(v.len(), 120);
    // ND4J's linspace accumulates a step, so values are 1..120 up to rounding (6.000000000000001).
    assert!(v
        .iter()
        .enumerate()
        .all(|(i, x)| (*x - (i + 1) as f64).abs() < 1e-12));
    let view = a.tensor.view::<f64>().unwrap();
    assert!((view[[1, 2, 3, 4]] - 120.0).abs() < 1e-12);
    assert!((view[[1, 0, 0, 0]] - 61.0).abs() < 1e-12);
    assert!((view[[0, 1, 2, 3]] - 34.0).abs() < 1e-12);

    let b = read("dl4j/nd4j-arrays/legacy/NDArray_longshape_float.bin");
    assert_eq!(
        b.tensor.as_slice::<f32>().unwrap(),
        &[1.0, 2.0, 3.0, 4.0, 5.0]
    );
}

#[test]
fn image_and_random_inputs_have_their_documented_ranges() {
    let img = read(
        "dl4j/nd4j-arrays/deeplearning4j-zoo/goldenretriever_rgb128_unnormalized_nchw_INDArray.bin",
    );
    let v = img.tensor.to_f64_vec();
    assert!(
        v.iter()
            .all(|x| x.fract() == 0.0 && (0.0..=255.0).contains(x)),
        "unnormalised pixels"
    );
    assert!(v.iter().any(|x| *x > 200.0) && v.iter().any(|x| *x < 50.0));
    // Nd4j.rand inputs are uniform in [0, 1).
    for (rel, ..) in ARRAYS.iter().filter(|(r, ..)| r.contains("_Input_")) {
        let v = read(rel).tensor.to_f64_vec();
        assert!(v.iter().all(|x| (0.0..1.0).contains(x)), "{rel}");
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean - 0.5).abs() < 0.2, "{rel}: mean {mean}");
    }
}

#[test]
fn arrays_reencode_to_the_same_values() {
    for (rel, ..) in ARRAYS {
        let a = read(rel);
        let bytes = dl4j::nd4j::array_to_bytes(&a).unwrap();
        let b = read_array_exact(&bytes).unwrap();
        assert!(a.tensor.bit_eq(&b.tensor), "{rel}");
        assert_eq!(a.order, b.order, "{rel}");
    }
}
