//! configuration.json (both JSON styles, MultiLayerNetwork and ComputationGraph) and the
//! parameter layout built from it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = dl4j::Configuration::parse(text) {
        if let Ok(layout) = dl4j::layout::ParamLayout::for_config(&config) {
            let _ = dl4j::layout::ParamLayout::build(&config, layout.total);
        }
    }
});
