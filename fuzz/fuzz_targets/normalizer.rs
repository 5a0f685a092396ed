//! normalizer.bin (every NormalizerSerializer strategy and the 0.7.2 Java-serialized form).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = dl4j::normalizer::Normalizer::from_bytes(data) {
        let _ = n.to_bytes();
        let _ = n.arrays();
    }
});
