//! Java's Object Serialization Stream Protocol (version 5): the bytes DL4J keeps in a model zip as
//! `objects/<key>` (what `ObjectOutputStream.writeObject(obj)` wrote).
//!
//! * [`class_name`]: names the class of the first object from the stream header alone.
//! * [`serialize`]: writes a [`JavaValue`] (`String`, `Integer`, `Long`, `Double`, `Boolean`,
//!   `String[]`, `int[]`, `double[]`, `ArrayList<String>`, `HashMap<String, String>`) exactly as
//!   `ObjectOutputStream.writeObject` does on a current JDK, byte for byte.
//! * [`parse`]: reads any stream into a generic tree ([`Stream`]) without loading, instantiating
//!   or running anything; every length is checked against the input, nesting is limited to
//!   [`MAX_DEPTH`], malformed input is an error with its byte offset.
//! * [`display`]: one line of text for the first object, in the format documented in
//!   `display.rs` and implemented identically by `tests/java/PrintObjects.java`.
//!
//! Nothing here deserializes in the Java sense: no class is looked up, no code is run.

mod display;
mod hashmap;
mod parse;
mod write;

pub use display::{display, display_value, java_double_to_string, java_float_to_string};
pub use parse::{
    parse, ArrayValues, ClassData, ClassDesc, Content, Entry, FieldDesc, Id, JavaString, Obj,
    Stream, Value, MAX_DEPTH,
};
pub use write::{serialize, try_serialize, JavaValue};

/// `STREAM_MAGIC` + `STREAM_VERSION`.
pub const MAGIC: [u8; 4] = [0xAC, 0xED, 0x00, 0x05];

// Type codes (java.io.ObjectStreamConstants).
const TC_NULL: u8 = 0x70;
const TC_REFERENCE: u8 = 0x71;
const TC_CLASSDESC: u8 = 0x72;
const TC_OBJECT: u8 = 0x73;
const TC_STRING: u8 = 0x74;
const TC_ARRAY: u8 = 0x75;
const TC_CLASS: u8 = 0x76;
const TC_BLOCKDATA: u8 = 0x77;
const TC_ENDBLOCKDATA: u8 = 0x78;
const TC_RESET: u8 = 0x79;
const TC_BLOCKDATALONG: u8 = 0x7A;
const TC_EXCEPTION: u8 = 0x7B;
const TC_LONGSTRING: u8 = 0x7C;
const TC_PROXYCLASSDESC: u8 = 0x7D;
const TC_ENUM: u8 = 0x7E;

/// The first handle a stream (or a stream after `TC_RESET`) assigns.
const BASE_HANDLE: u32 = 0x7E_0000;

// Class descriptor flags.
const SC_WRITE_METHOD: u8 = 0x01;
const SC_SERIALIZABLE: u8 = 0x02;
const SC_EXTERNALIZABLE: u8 = 0x04;
const SC_BLOCK_DATA: u8 = 0x08;
const SC_ENUM: u8 = 0x10;

/// The Java class of the first object in a serialization stream, in source spelling
/// (`java.util.ArrayList`, `int[]`, `java.lang.String`); `None` if the bytes are not such a stream.
/// Reads only the header, so it also names the class of a truncated or otherwise broken stream.
pub fn class_name(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(&MAGIC)?;
    let (&tc, rest) = rest.split_first()?;
    match tc {
        TC_STRING | TC_LONGSTRING => Some("java.lang.String".into()),
        TC_NULL => Some("null".into()),
        TC_CLASS => Some("java.lang.Class".into()),
        TC_BLOCKDATA | TC_BLOCKDATALONG => Some("(block data)".into()),
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

/// `[I` -> `int[]`, `[Ljava.lang.String;` -> `java.lang.String[]`, others unchanged (what Java's
/// `Class.getTypeName()` returns for the class of that binary name).
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
        e if e.starts_with('L') && e.ends_with(';') && e.len() >= 2 => &e[1..e.len() - 1],
        e => e,
    };
    format!("{base}{}", "[]".repeat(dims))
}

#[cfg(test)]
mod tests;
