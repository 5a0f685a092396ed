//! Recognising an ONNX model by its bytes. ONNX has no magic number, but a `ModelProto` is a
//! protobuf message with a small, fixed set of top-level fields, each with one wire type; a
//! walk over the top level (skipping every nested message by its length, so it costs a few
//! steps even for a large model) tells a model from a zip, a safetensors file or text.

/// Top-level `ModelProto` fields and their wire types (0 varint, 2 length-delimited).
const FIELDS: &[(u64, u8)] = &[
    (1, 0),  // ir_version
    (2, 2),  // producer_name
    (3, 2),  // producer_version
    (4, 2),  // domain
    (5, 0),  // model_version
    (6, 2),  // doc_string
    (7, 2),  // graph
    (8, 2),  // opset_import
    (14, 2), // metadata_props
    (20, 2), // training_info
    (25, 2), // functions
    (26, 2), // configuration
];

/// Past this many top-level fields a well-formed start is taken as enough evidence.
const MAX_FIELDS: usize = 1 << 16;

fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Whether `bytes` look like an ONNX model: only known top-level fields with their wire types,
/// an IR version or opset, and a graph. A file cut short is still recognised when what is
/// there starts like a model (so the reader, not detection, reports the truncation).
pub fn looks_like_model(bytes: &[u8]) -> bool {
    let (mut pos, mut fields) = (0usize, 0usize);
    let (mut versioned, mut graph) = (false, false);
    while pos < bytes.len() && fields < MAX_FIELDS {
        let Some(tag) = varint(bytes, &mut pos) else {
            return false;
        };
        let (number, wire) = (tag >> 3, (tag & 7) as u8);
        if !FIELDS.contains(&(number, wire)) {
            return false;
        }
        fields += 1;
        let Some(value) = varint(bytes, &mut pos) else {
            return false;
        };
        match number {
            1 | 8 => versioned = true,
            7 => graph = true,
            _ => {}
        }
        if wire == 2 {
            let end = usize::try_from(value).ok().and_then(|n| pos.checked_add(n));
            match end {
                Some(end) if end <= bytes.len() => pos = end,
                // Truncated inside a field: enough if the model had begun properly.
                _ => return versioned && fields >= 2,
            }
        }
    }
    versioned && graph
}

#[cfg(test)]
mod tests {
    use super::looks_like_model;

    #[test]
    fn models_and_other_files() {
        // ir_version 8, producer "x", graph {}, opset_import {}.
        let model = [0x08, 0x08, 0x12, 0x01, b'x', 0x3a, 0x00, 0x42, 0x00];
        assert!(looks_like_model(&model));
        // Cut inside the producer name: still taken for a (damaged) model.
        assert!(looks_like_model(&model[..4]));
        // No graph.
        assert!(!looks_like_model(&model[..5]));
        assert!(!looks_like_model(b"PK\x03\x04\x14\x00\x00\x00"));
        assert!(!looks_like_model(b"{\"format\": 1}"));
        // A safetensors header length (little-endian u64) then JSON.
        assert!(!looks_like_model(
            b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":{}}      "
        ));
        assert!(!looks_like_model(b""));
        // An unknown field number.
        assert!(!looks_like_model(&[0x08, 0x08, 0x78, 0x01, 0x3a, 0x00]));
    }
}
