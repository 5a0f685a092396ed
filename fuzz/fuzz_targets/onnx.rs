//! ONNX input: files written by dl4j (the embedded archive) and foreign graphs translated into
//! DL4J layers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(reader) = dl4j::formats()
        .into_iter()
        .find(|f| f.id == "onnx")
        .and_then(|f| f.reader)
    else {
        return;
    };
    let _ = reader.read(data, &dl4j::ReadOptions::default());
    let partial = dl4j::ReadOptions {
        allow_partial: true,
        ..Default::default()
    };
    let _ = reader.read(data, &partial);
});
