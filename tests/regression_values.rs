//! The 0.5.0-0.8.0 regression resources were saved with parameters and updater state set to
//! `linspace(1, N)` (PROVENANCE.md): decoding, parameter views and updater views must agree.

mod common;

use common::fixture;
use dl4j::layout::ParamLayout;
use dl4j::{Archive, ParamEntry};
use ndarray::Dimension;

const REGRESSION: &[&str] = &[
    "dl4j/0.5.0/050_ModelSerializer_Regression_CNN_1.zip",
    "dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip",
    "dl4j/0.6.0/060_ModelSerializer_Regression_LSTM_1.zip",
    "dl4j/0.6.0/060_ModelSerializer_Regression_MLP_2.zip",
    "dl4j/0.7.1/071_ModelSerializer_Regression_CG_LSTM_1.zip",
    "dl4j/0.7.1/071_ModelSerializer_Regression_CNN_1.zip",
    "dl4j/0.7.1/071_ModelSerializer_Regression_MLP_1.zip",
    "dl4j/0.8.0/080_ModelSerializer_Regression_LSTM_1.zip",
    "dl4j/0.8.0/080_ModelSerializer_Regression_MLP_2.zip",
];

fn open(rel: &str) -> (Archive, ParamLayout) {
    let (a, _) = dl4j::open(fixture(rel), None).unwrap();
    let l = a.layout().unwrap();
    (a, l)
}

/// Value of logical element `idx` of `p` when the flat vector is 1..N: its flat position + 1.
fn expected_at(p: &ParamEntry, idx: &[usize]) -> f32 {
    let mut pos = 0usize;
    let mut stride = 1usize;
    match p.order {
        dl4j::Order::F => {
            for (k, &i) in idx.iter().enumerate() {
                pos += i * stride;
                stride *= p.shape[k];
            }
        }
        dl4j::Order::C => {
            for (k, &i) in idx.iter().enumerate().rev() {
                pos += i * stride;
                stride *= p.shape[k];
            }
        }
    }
    (p.offset + pos + 1) as f32
}

#[test]
fn parameters_and_updater_state_are_linspace() {
    for rel in REGRESSION {
        let (a, _) = open(rel);
        let p = a.params.tensor.as_slice::<f32>().unwrap();
        assert!(
            p.iter().enumerate().all(|(i, v)| *v == (i + 1) as f32),
            "{rel}: params"
        );
        let s = a
            .updater_state
            .as_ref()
            .unwrap()
            .tensor
            .as_slice::<f32>()
            .unwrap();
        assert_eq!(s.len(), p.len(), "{rel}");
        assert!(
            s.iter().enumerate().all(|(i, v)| *v == (i + 1) as f32),
            "{rel}: state"
        );
    }
}

#[test]
fn parameter_views_follow_dl4j_reshape_orders() {
    for rel in REGRESSION {
        let (a, layout) = open(rel);
        for p in layout.params() {
            let view = layout.view::<f32>(p, &a.params.tensor).unwrap();
            assert_eq!(view.shape(), p.shape.as_slice(), "{rel} {}", p.name);
            for (idx, v) in view.indexed_iter() {
                assert_eq!(
                    *v,
                    expected_at(p, idx.slice()),
                    "{rel} {} at {:?}",
                    p.name,
                    idx.slice()
                );
            }
        }
    }
}

#[test]
fn known_layouts_of_the_regression_networks() {
    // Dense W [3,4] f-order: W[i][j] sits at i + 3j, so W[1][2] = 1 + 1 + 6 = 8.
    let (a, layout) = open("dl4j/0.5.0/050_ModelSerializer_Regression_MLP_1.zip");
    let w = layout.get("0_W").unwrap();
    assert_eq!(w.shape, vec![3, 4]);
    assert_eq!(
        layout.view::<f32>(w, &a.params.tensor).unwrap()[[1, 2]],
        8.0
    );
    assert_eq!(layout.get("0_b").unwrap().offset, 12);
    assert_eq!(layout.get("1_W").unwrap().offset, 16);

    // Conv: bias first, then W [nOut, nIn, kH, kW] in c order.
    let (a, layout) = open("dl4j/0.7.1/071_ModelSerializer_Regression_CNN_1.zip");
    let b = layout.get("0_b").unwrap();
    let w = layout.get("0_W").unwrap();
    assert_eq!((b.offset, b.shape.clone()), (0, vec![3]));
    assert_eq!((w.offset, w.shape.clone()), (3, vec![3, 3, 2, 2]));
    // W[1][2][0][1] = 3 + ((1*3 + 2)*2 + 0)*2 + 1 + 1 = 25
    assert_eq!(
        layout.view::<f32>(w, &a.params.tensor).unwrap()[[1, 2, 0, 1]],
        25.0
    );

    // GravesLSTM RW has the 3 peephole columns; the bidirectional layer's six params follow.
    let (_, layout) = open("dl4j/0.8.0/080_ModelSerializer_Regression_LSTM_1.zip");
    let names: Vec<(&str, usize)> = layout
        .params()
        .map(|p| (p.name.as_str(), p.offset))
        .collect();
    assert_eq!(
        names,
        vec![
            ("0_W", 0),
            ("0_RW", 48),
            ("0_b", 124),
            ("1_WF", 140),
            ("1_RWF", 204),
            ("1_bF", 280),
            ("1_WB", 296),
            ("1_RWB", 360),
            ("1_bB", 436),
            ("2_W", 452),
            ("2_b", 472),
        ]
    );
    assert_eq!(layout.get("0_RW").unwrap().shape, vec![4, 19]);

    // ComputationGraph keys are <vertex>_<key>.
    let (_, layout) = open("dl4j/0.7.1/071_ModelSerializer_Regression_CG_LSTM_1.zip");
    assert_eq!(layout.get("1_RWB").unwrap().offset, 360);
}

#[test]
fn per_parameter_updater_views_match_the_parameters() {
    // With one state piece per parameter (Nesterovs / RmsProp) and both vectors = 1..N, the
    // state view of each parameter equals the parameter view, element for element.
    for rel in REGRESSION {
        let (a, layout) = open(rel);
        let ul = a.updater_layout().unwrap().unwrap();
        let state = &a.updater_state.as_ref().unwrap().tensor;
        for p in layout.params() {
            let pieces = ul.param_state(state, p).unwrap();
            assert_eq!(pieces.len(), 1, "{rel} {}", p.name);
            let (name, t) = &pieces[0];
            assert!(["v", "lastGradient"].contains(name), "{rel}: {name}");
            let param = layout.extract(p, &a.params.tensor).unwrap();
            assert!(t.bit_eq(&param), "{rel} {}: state view", p.name);
        }
    }
}
