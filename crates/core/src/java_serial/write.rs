//! Writing the few value types a model's `objects/<key>` entry is usually made of, exactly as
//! `new ObjectOutputStream(out).writeObject(value)` writes them on a current JDK (checked byte
//! for byte against JDK 17 and 25).
//!
//! Every string is written as its own object (`TC_STRING`, or `TC_LONGSTRING` when its modified
//! UTF-8 exceeds 65535 bytes), as Java does for distinct `String` objects; Java would write a
//! back-reference instead only when the very same `String` object occurs twice (e.g. one literal
//! added to a list twice), which equal but separate strings (as read from anywhere) are not. The
//! stream therefore holds no `TC_REFERENCE`: no class descriptor occurs twice in these values.

use super::hashmap::JavaHashMap;
use super::*;
use crate::bytes::{encode_modified_utf8, ByteWriter};
use crate::error::{Error, Result};

/// A value [`serialize`] writes, named after the Java class it becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum JavaValue {
    /// `java.lang.String`.
    String(String),
    /// `java.lang.Integer`.
    Integer(i32),
    /// `java.lang.Long`.
    Long(i64),
    /// `java.lang.Double` (a NaN is written as Java's canonical NaN).
    Double(f64),
    /// `java.lang.Boolean`.
    Boolean(bool),
    /// `String[]`.
    StringArray(Vec<String>),
    /// `int[]`.
    IntArray(Vec<i32>),
    /// `double[]`.
    DoubleArray(Vec<f64>),
    /// `java.util.ArrayList<String>`.
    StringList(Vec<String>),
    /// `java.util.HashMap<String, String>` made by `new HashMap<>()` and one `put(key, value)` per
    /// pair in this order (a repeated key replaces the value and keeps its place). The stream
    /// holds the entries in the map's iteration order (by bucket of the key's hash, colliding keys
    /// in the order the JDK's bin keeps them), not in this order.
    StringMap(Vec<(String, String)>),
}

/// A class descriptor of the JDK, as `ObjectStreamClass` writes it.
struct Desc {
    name: &'static str,
    suid: u64,
    flags: u8,
    /// (type code, name), primitive fields sorted by name as Java orders them.
    fields: &'static [(u8, &'static str)],
    superclass: Option<&'static Desc>,
}

const NUMBER: Desc = Desc {
    name: "java.lang.Number",
    suid: 0x86ac_951d_0b94_e08b,
    flags: SC_SERIALIZABLE,
    fields: &[],
    superclass: None,
};
const INTEGER: Desc = Desc {
    name: "java.lang.Integer",
    suid: 0x12e2_a0a4_f781_8738,
    flags: SC_SERIALIZABLE,
    fields: &[(b'I', "value")],
    superclass: Some(&NUMBER),
};
const LONG: Desc = Desc {
    name: "java.lang.Long",
    suid: 0x3b8b_e490_cc8f_23df,
    flags: SC_SERIALIZABLE,
    fields: &[(b'J', "value")],
    superclass: Some(&NUMBER),
};
const DOUBLE: Desc = Desc {
    name: "java.lang.Double",
    suid: 0x80b3_c24a_296b_fb04,
    flags: SC_SERIALIZABLE,
    fields: &[(b'D', "value")],
    superclass: Some(&NUMBER),
};
const BOOLEAN: Desc = Desc {
    name: "java.lang.Boolean",
    suid: 0xcd20_7280_d59c_faee,
    flags: SC_SERIALIZABLE,
    fields: &[(b'Z', "value")],
    superclass: None,
};
const STRING_ARRAY: Desc = Desc {
    name: "[Ljava.lang.String;",
    suid: 0xadd2_56e7_e91d_7b47,
    flags: SC_SERIALIZABLE,
    fields: &[],
    superclass: None,
};
const INT_ARRAY: Desc = Desc {
    name: "[I",
    suid: 0x4dba_6026_76ea_b2a5,
    flags: SC_SERIALIZABLE,
    fields: &[],
    superclass: None,
};
const DOUBLE_ARRAY: Desc = Desc {
    name: "[D",
    suid: 0x3ea6_8c14_ab63_5a1e,
    flags: SC_SERIALIZABLE,
    fields: &[],
    superclass: None,
};
const ARRAY_LIST: Desc = Desc {
    name: "java.util.ArrayList",
    suid: 0x7881_d21d_99c7_619d,
    flags: SC_SERIALIZABLE | SC_WRITE_METHOD,
    fields: &[(b'I', "size")],
    superclass: None,
};
const HASH_MAP: Desc = Desc {
    name: "java.util.HashMap",
    suid: 0x0507_dac1_c316_60d1,
    flags: SC_SERIALIZABLE | SC_WRITE_METHOD,
    fields: &[(b'F', "loadFactor"), (b'I', "threshold")],
    superclass: None,
};

/// The bytes `ObjectOutputStream.writeObject(v)` writes for `v` on a fresh stream (header
/// included): what Java stores in a model zip as `objects/<key>`.
///
/// # Panics
/// If a collection has more than `i32::MAX` elements, which Java cannot hold either; see
/// [`try_serialize`] for values whose size is not under the caller's control.
// The one panic is the documented one above; `try_serialize` is the checked form.
#[allow(clippy::expect_used)]
pub fn serialize(v: &JavaValue) -> Vec<u8> {
    try_serialize(v).expect("more than 2^31-1 elements cannot be serialized")
}

/// [`serialize`], but a collection of more than `i32::MAX` elements (which Java cannot hold
/// either) is an [`Error::Unsupported`] instead of a panic.
pub fn try_serialize(v: &JavaValue) -> Result<Vec<u8>> {
    let (what, n) = match v {
        JavaValue::StringArray(x) => ("String[]", x.len()),
        JavaValue::IntArray(x) => ("int[]", x.len()),
        JavaValue::DoubleArray(x) => ("double[]", x.len()),
        JavaValue::StringList(x) => ("ArrayList<String>", x.len()),
        JavaValue::StringMap(x) => ("HashMap<String, String>", x.len()),
        JavaValue::String(_)
        | JavaValue::Integer(_)
        | JavaValue::Long(_)
        | JavaValue::Double(_)
        | JavaValue::Boolean(_) => ("", 0),
    };
    if i32::try_from(n).is_err() {
        return Err(Error::Unsupported(format!(
            "a {what} of {n} elements cannot be serialized: Java holds at most {} elements",
            i32::MAX
        )));
    }
    Ok(write_value(v))
}

/// The stream of `v`, whose element counts all fit in an `i32`.
fn write_value(v: &JavaValue) -> Vec<u8> {
    let mut w = Vec::new();
    w.put_bytes(&MAGIC);
    match v {
        JavaValue::String(s) => string(&mut w, s),
        JavaValue::Integer(x) => {
            object(&mut w, &INTEGER);
            w.put_i32(*x);
        }
        JavaValue::Long(x) => {
            object(&mut w, &LONG);
            w.put_i64(*x);
        }
        JavaValue::Double(x) => {
            object(&mut w, &DOUBLE);
            w.put_f64(*x);
        }
        JavaValue::Boolean(x) => {
            object(&mut w, &BOOLEAN);
            w.put_bool(*x);
        }
        JavaValue::StringArray(items) => {
            array(&mut w, &STRING_ARRAY, items.len());
            for s in items {
                string(&mut w, s);
            }
        }
        JavaValue::IntArray(items) => {
            array(&mut w, &INT_ARRAY, items.len());
            for &x in items {
                w.put_i32(x);
            }
        }
        JavaValue::DoubleArray(items) => {
            array(&mut w, &DOUBLE_ARRAY, items.len());
            for &x in items {
                w.put_f64(x);
            }
        }
        JavaValue::StringList(items) => {
            // defaultWriteObject (size), then writeInt(size) as the "capacity", then elements.
            object(&mut w, &ARRAY_LIST);
            let size = java_int(items.len());
            w.put_i32(size);
            block(&mut w, &size.to_be_bytes());
            for s in items {
                string(&mut w, s);
            }
            w.put_u8(TC_ENDBLOCKDATA);
        }
        JavaValue::StringMap(pairs) => {
            // defaultWriteObject (loadFactor, threshold), then writeInt(capacity),
            // writeInt(size), then key and value of each entry in iteration order.
            let map = JavaHashMap::build(pairs);
            object(&mut w, &HASH_MAP);
            w.put_bytes(&0.75f32.to_bits().to_be_bytes());
            w.put_i32(map.threshold);
            let mut data = map.capacity().to_be_bytes().to_vec();
            data.extend(java_int(map.len()).to_be_bytes());
            block(&mut w, &data);
            for (k, v) in map.entries() {
                string(&mut w, k);
                string(&mut w, v);
            }
            w.put_u8(TC_ENDBLOCKDATA);
        }
    }
    w
}

/// A Java `int` count. `try_serialize` checked the value's count (a map's size is at most its
/// number of pairs), so it fits.
fn java_int(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `writeUTF` of a short name (class and field names here are static and short).
fn short_utf(w: &mut Vec<u8>, s: &str) {
    let enc = encode_modified_utf8(s);
    w.put_bytes(&(enc.len() as u16).to_be_bytes());
    w.put_bytes(&enc);
}

/// `ObjectOutputStream.writeString`.
fn string(w: &mut Vec<u8>, s: &str) {
    let enc = encode_modified_utf8(s);
    match u16::try_from(enc.len()) {
        Ok(n) => {
            w.put_u8(TC_STRING);
            w.put_bytes(&n.to_be_bytes());
        }
        Err(_) => {
            w.put_u8(TC_LONGSTRING);
            w.put_i64(enc.len() as i64);
        }
    }
    w.put_bytes(&enc);
}

/// `writeNonProxyDesc` with its superclass chain (`TC_NULL` ends it).
fn class_desc(w: &mut Vec<u8>, d: &Desc) {
    w.put_u8(TC_CLASSDESC);
    short_utf(w, d.name);
    w.put_bytes(&d.suid.to_be_bytes());
    w.put_u8(d.flags);
    w.put_bytes(&(d.fields.len() as u16).to_be_bytes());
    for &(code, name) in d.fields {
        w.put_u8(code);
        short_utf(w, name);
    }
    // annotateClass writes nothing.
    w.put_u8(TC_ENDBLOCKDATA);
    match d.superclass {
        Some(s) => class_desc(w, s),
        None => w.put_u8(TC_NULL),
    }
}

/// `TC_OBJECT` and the class descriptor; the caller writes the class data.
fn object(w: &mut Vec<u8>, d: &Desc) {
    w.put_u8(TC_OBJECT);
    class_desc(w, d);
}

/// `TC_ARRAY`, the class descriptor and the length; the caller writes the elements.
fn array(w: &mut Vec<u8>, d: &Desc, len: usize) {
    w.put_u8(TC_ARRAY);
    class_desc(w, d);
    w.put_i32(java_int(len));
}

/// Block data as `BlockDataOutputStream` frames it (blocks of at most 1024 bytes).
fn block(w: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(1024) {
        if chunk.len() <= 0xFF {
            w.put_u8(TC_BLOCKDATA);
            w.put_u8(chunk.len() as u8);
        } else {
            w.put_u8(TC_BLOCKDATALONG);
            w.put_i32(chunk.len() as i32);
        }
        w.put_bytes(chunk);
    }
}
