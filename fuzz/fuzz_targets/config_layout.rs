//! configuration.json (both JSON styles, MultiLayerNetwork and ComputationGraph), the
//! parameter layout built from it, and the ONNX export of the network it describes (with zero
//! parameters; the export reads every layer setting from the configuration).
#![no_main]
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = dl4j::Configuration::parse(text) else {
        return;
    };
    let Ok(layout) = dl4j::layout::ParamLayout::for_config(&config) else {
        return;
    };
    let total = layout.total;
    if dl4j::layout::ParamLayout::build(&config, total).is_err() || total > 1 << 20 {
        return;
    }
    let flat = dl4j::TensorData::F32(vec![0.0; total]);
    let Ok(archive) = dl4j::Archive::with_parameters(config, flat, "dl4j") else {
        return;
    };
    dl4j::formats();
    if let Ok(onnx) = dl4j::plugin::by_id("onnx") {
        if let Some(writer) = onnx.writer {
            let _ = writer.write(&archive, &mut std::io::sink(), &Default::default());
        }
    }
});
