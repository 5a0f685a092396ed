//! A file written inside another atomic write (the external data of an ONNX model) is kept
//! only when the outer write lands, and an interrupt removes every unfinished output. Its own
//! test binary: after the interrupt every write of the process fails.

mod common;

use common::listing;

#[test]
fn a_file_written_inside_a_failed_or_interrupted_write_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let outer = dir.path().join("model.onnx");
    let inner = dir.path().join("model.onnx.data");

    // The outer write fails after the inner one landed: both are gone.
    let r = dl4j::write_file_atomically(&outer, false, |w| {
        dl4j::write_file_atomically(&inner, false, |d| {
            d.write_all(b"data").map_err(|e| dl4j::Error::io(&inner, e))
        })?;
        assert!(
            inner.exists(),
            "the inner file is in place while the outer one is written"
        );
        w.write_all(b"half a model")
            .map_err(|e| dl4j::Error::io(&outer, e))?;
        Err(dl4j::Error::Format("stop".into()))
    });
    assert!(r.is_err());
    assert_eq!(listing(dir.path()), Vec::<String>::new());

    // Both land: both stay, with their bytes.
    dl4j::write_file_atomically(&outer, false, |w| {
        dl4j::write_file_atomically(&inner, false, |d| {
            d.write_all(b"data").map_err(|e| dl4j::Error::io(&inner, e))
        })?;
        w.write_all(b"model")
            .map_err(|e| dl4j::Error::io(&outer, e))
    })
    .unwrap();
    assert_eq!(std::fs::read(&inner).unwrap(), b"data");
    assert_eq!(std::fs::read(&outer).unwrap(), b"model");
    std::fs::remove_file(&inner).unwrap();
    std::fs::remove_file(&outer).unwrap();

    // An interrupt while the outer write runs (the inner already in place) removes both, and
    // the outer write then fails instead of landing. Last: after an interrupt every
    // write of the process fails.
    let r = dl4j::write_file_atomically(&outer, false, |w| {
        dl4j::write_file_atomically(&inner, false, |d| {
            d.write_all(b"data").map_err(|e| dl4j::Error::io(&inner, e))
        })?;
        w.write_all(b"model")
            .map_err(|e| dl4j::Error::io(&outer, e))?;
        assert_eq!(dl4j::abandon_unfinished_writes(), 2);
        Ok(())
    });
    let e = r.unwrap_err().to_string();
    assert!(e.contains("interrupted"), "{e}");
    assert_eq!(listing(dir.path()), Vec::<String>::new());
    let again = dl4j::write_file_atomically(&outer, false, |w| {
        w.write_all(b"x").map_err(|e| dl4j::Error::io(&outer, e))
    });
    assert!(again.is_err());
    assert!(!outer.exists());
}
