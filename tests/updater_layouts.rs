//! Updater-state layouts on the real files: block structure and per-parameter pieces. (The Adam
//! states in the fixtures were saved before any training step, all zeros, so the values there
//! cannot tell layouts apart; the RmsProp state of the trained 1.0.0-alpha model can.)

mod common;

use common::fixture;
use dl4j::updater::StateLayoutKind;

const ADAM_MODELS: &[&str] = &[
    "dl4j/1.0.0-beta3/VaeMNISTAnomaly_100b3.bin",
    "dl4j/1.0.0-beta4/VaeMNISTAnomaly_100b4.bin",
    "dl4j/1.0.0-beta4/SyntheticCNN_100b4.bin",
    "dl4j/1.0.0-beta6/GravesLSTMCharModelingExample_100b6.bin",
    "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin",
    "dl4j/1.0.0-beta2-SNAPSHOT/integration-tests/MLPMnist/Model_RANDOM_INIT_UNTRAINED.zip",
];

#[test]
fn adam_pieces_have_the_parameter_shapes() {
    for rel in ADAM_MODELS {
        let (a, _) = dl4j::open(fixture(rel), None).unwrap();
        let layout = a.layout().unwrap();
        let ul = a.updater_layout().unwrap().unwrap();
        assert_eq!(ul.kind, StateLayoutKind::Blocks, "{rel}");
        let state = &a.updater_state.as_ref().unwrap().tensor;
        for p in layout.params() {
            let pieces = ul.param_state(state, p).unwrap();
            let names: Vec<&str> = pieces.iter().map(|(n, _)| *n).collect();
            assert_eq!(names, ["m", "v"], "{rel} {}", p.name);
            assert_eq!(pieces[1].1.shape(), p.shape.as_slice());
            let v = pieces[1].1.to_f64_vec();
            assert!(
                v.iter().all(|x| *x >= 0.0),
                "{rel} {}: negative second moment",
                p.name
            );
        }
    }
}

#[test]
fn fresh_rmsprop_state_holds_the_configured_epsilon() {
    // DL4J initialises RmsProp's E[g^2] with the updater's epsilon; this model was saved in
    // that state, so every piece of every parameter holds exactly the JSON's epsilon (as f32).
    let (a, _) = dl4j::open(
        fixture("dl4j/1.0.0-alpha/GravesLSTMCharModelingExample_100a.bin"),
        None,
    )
    .unwrap();
    let eps = a.config.value()["confs"][0]["layer"]["gravesLSTM"]["iupdater"]["epsilon"]
        .as_f64()
        .unwrap();
    let layout = a.layout().unwrap();
    let ul = a.updater_layout().unwrap().unwrap();
    let state = &a.updater_state.as_ref().unwrap().tensor;
    for p in layout.params() {
        let pieces = ul.param_state(state, p).unwrap();
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].0, "lastGradient");
        let v = pieces[0].1.as_slice::<f32>().unwrap();
        assert!(v.iter().all(|x| *x == eps as f32), "{}", p.name);
    }
}

#[test]
fn vae_pretrain_parameters_form_their_own_block() {
    // Encoder + p(z|x) mean are ordinary params; log-variance, decoder and p(x|z) are pretrain
    // params: two Adam blocks, each storing all of m, then all of v.
    let (a, _) = dl4j::open(fixture("dl4j/1.0.0-beta4/VaeMNISTAnomaly_100b4.bin"), None).unwrap();
    let ul = a.updater_layout().unwrap().unwrap();
    let first = 784 * 256 + 256 + 256 * 256 + 256 + 256 * 32 + 32;
    let blocks: Vec<(usize, usize, usize)> = ul
        .blocks
        .iter()
        .map(|b| (b.param_start, b.param_len, b.state_start))
        .collect();
    assert_eq!(
        blocks,
        vec![(0, first, 0), (first, 558928 - first, 2 * first)]
    );
}

#[test]
fn one_adam_block_for_a_uniform_graph() {
    // beta6 bidirectional ComputationGraph: 4515 params, one Adam config -> one block of 9030.
    let (a, _) = dl4j::open(
        fixture("dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin"),
        None,
    )
    .unwrap();
    let layout = a.layout().unwrap();
    let ul = a.updater_layout().unwrap().unwrap();
    assert_eq!(ul.blocks.len(), 1);
    assert_eq!(ul.total, 9030);
    let state = a
        .updater_state
        .as_ref()
        .unwrap()
        .tensor
        .as_slice::<f32>()
        .unwrap();
    let p = layout.get("out_W").unwrap();
    let pieces = ul
        .param_state(&a.updater_state.as_ref().unwrap().tensor, p)
        .unwrap();
    // 'f'-ordered [64, 3]: element [i][j] is flat offset + i + 64 j; m first, v after all 4515.
    let m = pieces[0].1.as_slice::<f32>().unwrap();
    let v = pieces[1].1.as_slice::<f32>().unwrap();
    assert_eq!(m[5 * 3 + 2], state[p.offset + 5 + 64 * 2]);
    assert_eq!(v[5 * 3 + 2], state[4515 + p.offset + 5 + 64 * 2]);
}

#[test]
fn cached_topological_order_equals_dl4j_kahn_order() {
    // DL4J computed the cached order with the same Kahn/HashSet walk we emulate for old files.
    for rel in [
        "dl4j/1.0.0-beta6/SyntheticBidirectionalRNNGraph_100b6.bin",
        "dl4j/1.0.0-beta7-SNAPSHOT/integration-tests/CNN1dCharacterTestCase/Model_RANDOM_INIT_UNTRAINED.zip",
    ] {
        let (a, _) = dl4j::open(fixture(rel), None).unwrap();
        let g = a.config.graph().unwrap().unwrap();
        if let Some(cached) = &g.cached_order {
            assert_eq!(&dl4j::config::kahn_order(&g).unwrap(), cached, "{rel}");
        }
    }
}

#[test]
fn legacy_graph_uses_kahn_order_and_config_order_for_state() {
    let (a, _) = dl4j::open(
        fixture("dl4j/0.7.1/071_ModelSerializer_Regression_CG_LSTM_1.zip"),
        None,
    )
    .unwrap();
    let g = a.config.graph().unwrap().unwrap();
    assert!(g.cached_order.is_none());
    assert_eq!(g.topological_order().unwrap(), ["in", "0", "1", "2"]);
    let ul = a.updater_layout().unwrap().unwrap();
    assert_eq!(ul.kind, StateLayoutKind::PerParameter);
    assert_eq!(ul.blocks.len(), 11, "one run of state per parameter");
}
