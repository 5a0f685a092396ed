//! The ND4J array stream (all three encodings): any bytes give an array or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = dl4j::nd4j::read_array_from(data, data.len() as u64) {
        // A decoded array re-encodes (the writer must accept what the reader produced).
        let _ = dl4j::nd4j::write_array(&a, &mut Vec::new());
    }
    let _ = dl4j::nd4j::read_array_skeleton(data, data.len() as u64);
});
