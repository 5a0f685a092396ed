//! safetensors input: files written from DL4J archives, and foreign weights given a small
//! DL4J network to fill.
#![no_main]
use libfuzzer_sys::fuzz_target;

const MLP: &str = r#"{"confs":[{"layer":{"@class":"org.deeplearning4j.nn.conf.layers.DenseLayer","nin":2,"nout":3}},{"layer":{"@class":"org.deeplearning4j.nn.conf.layers.OutputLayer","nin":3,"nout":2}}]}"#;

fuzz_target!(|data: &[u8]| {
    let Some(reader) = dl4j::formats()
        .into_iter()
        .find(|f| f.id == "safetensors")
        .and_then(|f| f.reader)
    else {
        return;
    };
    let _ = reader.read(data, &dl4j::ReadOptions::default());
    let with_config = dl4j::ReadOptions {
        config: Some(MLP.into()),
        ..Default::default()
    };
    let _ = reader.read(data, &with_config);
});
