//! A DL4J model zip: container, entries, arrays, then the layouts derived from them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(archive) = dl4j::serializer::read_archive(data) {
        let _ = archive.layout();
        let _ = archive.updater_layout();
    }
    let _ = dl4j::serializer::read_archive_skeleton(data, 1 << 30);
});
