//! Just enough of the Java Object Serialization Stream Protocol to name what an `objects/<key>`
//! entry holds, read from its header. Nothing is deserialized, instantiated or executed.

/// `STREAM_MAGIC` + `STREAM_VERSION`.
pub const MAGIC: [u8; 4] = [0xAC, 0xED, 0x00, 0x05];

const TC_NULL: u8 = 0x70;
const TC_REFERENCE: u8 = 0x71;
const TC_CLASSDESC: u8 = 0x72;
const TC_OBJECT: u8 = 0x73;
const TC_STRING: u8 = 0x74;
const TC_ARRAY: u8 = 0x75;
const TC_CLASS: u8 = 0x76;
const TC_BLOCKDATA: u8 = 0x77;
const TC_LONGSTRING: u8 = 0x7C;
const TC_PROXYCLASSDESC: u8 = 0x7D;
const TC_ENUM: u8 = 0x7E;

/// The Java class of the first object in a serialization stream, in source spelling
/// (`java.util.ArrayList`, `int[]`, `java.lang.String`); `None` if the bytes are not such a stream.
pub fn class_name(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(&MAGIC)?;
    let (&tc, rest) = rest.split_first()?;
    match tc {
        TC_STRING | TC_LONGSTRING => Some("java.lang.String".into()),
        TC_NULL => Some("null".into()),
        TC_CLASS => Some("java.lang.Class".into()),
        TC_BLOCKDATA => Some("(block data)".into()),
        TC_REFERENCE => None,
        TC_OBJECT | TC_ARRAY | TC_ENUM => {
            let (&desc, rest) = rest.split_first()?;
            match desc {
                TC_CLASSDESC => {
                    let len = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
                    let raw = rest.get(2..2 + len)?;
                    let name = crate::bytes::decode_modified_utf8(raw)?;
                    Some(source_spelling(&name))
                }
                TC_PROXYCLASSDESC => Some("(dynamic proxy)".into()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `[I` -> `int[]`, `[Ljava.lang.String;` -> `java.lang.String[]`, others unchanged.
pub fn source_spelling(binary_name: &str) -> String {
    let dims = binary_name.bytes().take_while(|&b| b == b'[').count();
    if dims == 0 {
        return binary_name.to_string();
    }
    let elem = &binary_name[dims..];
    let base = match elem {
        "I" => "int",
        "J" => "long",
        "D" => "double",
        "F" => "float",
        "Z" => "boolean",
        "B" => "byte",
        "C" => "char",
        "S" => "short",
        e if e.starts_with('L') && e.ends_with(';') => &e[1..e.len() - 1],
        e => e,
    };
    format!("{base}{}", "[]".repeat(dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_streams() {
        // ObjectOutputStream.writeObject("hi")
        let s = [0xAC, 0xED, 0, 5, 0x74, 0, 2, b'h', b'i'];
        assert_eq!(class_name(&s).unwrap(), "java.lang.String");
        let mut arr = vec![0xAC, 0xED, 0, 5, 0x75, 0x72, 0, 2, b'[', b'I'];
        arr.extend([0; 12]);
        assert_eq!(class_name(&arr).unwrap(), "int[]");
        assert_eq!(class_name(b"PK\x03\x04"), None);
        assert_eq!(
            source_spelling("[[Ljava.lang.String;"),
            "java.lang.String[][]"
        );
    }
}
