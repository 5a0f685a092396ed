//! One line of text for a serialized object: what `dl4j objects get --decode` prints.
//!
//! The format is shared with `tests/java/PrintObjects.java`, which prints the same line for the
//! object Java's `ObjectInputStream.readObject()` returns (keep the two in step):
//!
//! | object | text |
//! | --- | --- |
//! | `null` | `null` |
//! | `String` | in double quotes; `"` and `\` escaped with `\`; ISO control characters (U+0000-U+001F, U+007F-U+009F) and unpaired surrogates as `\uXXXX` (lower-case hex); everything else as is |
//! | `Character` | the same in single quotes, escaping `'` instead of `"` |
//! | `Integer` `Long` `Short` `Byte` | decimal |
//! | `Double` `Float` | Java's `Double.toString` / `Float.toString` (`12.0`, `1.0E-8`, `NaN`, `-Infinity`) |
//! | `Boolean` | `true` / `false` |
//! | arrays (any element type), `ArrayList`, `LinkedList` | `[a, b, c]` |
//! | `LinkedHashMap` | `{k=v, k2=v2}` in its order |
//! | `HashMap` | `{k=v, k2=v2}` sorted by the text of the key, then of the value (as Java's `String.compareTo` orders them), since a `HashMap`'s order after reading is not the stream order |
//! | `java.util.Date` | `Date(<milliseconds since 1970>)` |
//! | enum constant | `<binary class name>.<NAME>` (`java.time.DayOfWeek.MONDAY`) |
//! | `Class` object | `<Class.getTypeName()>.class` (`int[].class`) |
//! | a container already being printed (cyclic graph) | `(cycle)` |
//! | anything else | its binary class name (`Class.getName()`, e.g. `org.nd4j.Foo$Bar`) and nothing more |
//!
//! Only the exact classes above are decoded (a subclass of `HashMap` is "anything else"). Keys and
//! elements nest with the same rules. A container is printed again wherever it is referenced
//! (shared, not cyclic, references are not marked).
//!
//! Known differences from `PrintObjects.java`:
//! * Doubles and floats follow the JDK 19+ specification of `toString` (the shortest decimal
//!   that rounds to the value, the closest and then the even one of those). JDK 17 and older
//!   print a longer or different digit string for a small share of doubles and about one float
//!   in ten: `9.999999999999999E22` for `1.0E23`, `2.82879384806159008E17` for
//!   `2.82879384806159E17`, `1.17549435E-38` for `1.1754944E-38` (float). Values such as `12.0`,
//!   `0.9912`, `1.0E-8`, `4.9E-324` or `1.7976931348623157E308` print alike everywhere.
//! * An instance of a dynamic proxy class, whose generated name the stream does not hold, is
//!   `(dynamic proxy)`.
//! * Java merges keys that are `equals` when it reads a map; a stream holding the same key twice
//!   (which no JDK writes) shows both here.

use std::cmp::Ordering;

use super::parse::{ArrayValues, ClassData, ClassDesc, Content, Id, Obj, Stream, Value, MAX_DEPTH};
use super::{parse, source_spelling};
use crate::error::{Error, Result};

/// The display line of the first object of a serialization stream (see the module docs).
/// Fails on a malformed stream, a stream that starts with block data instead of an object, and
/// an object graph whose text would be unreasonably large (shared references printed again and
/// again).
pub fn display(bytes: &[u8]) -> Result<String> {
    let stream = parse(bytes)?;
    let v = stream.first_value().ok_or_else(|| {
        Error::malformed(4, "the stream starts with block data, not with an object")
    })?;
    display_value_limited(&stream, v, (1 << 20) + 64 * bytes.len())
}

/// The display text of one value of a parsed stream.
pub fn display_value(stream: &Stream, v: Value) -> Result<String> {
    display_value_limited(stream, v, 1 << 28)
}

fn display_value_limited(stream: &Stream, v: Value, limit: usize) -> Result<String> {
    let mut p = Printer {
        s: stream,
        budget: limit,
        limit,
        path: Vec::new(),
    };
    let mut out = String::new();
    p.value(v, &mut out, 0)?;
    Ok(out)
}

struct Printer<'s> {
    s: &'s Stream,
    /// Bytes of text still allowed.
    budget: usize,
    limit: usize,
    /// Containers being printed, outermost first.
    path: Vec<Id>,
}

impl<'s> Printer<'s> {
    fn put(&mut self, out: &mut String, text: &str) -> Result<()> {
        self.charge(text.len())?;
        out.push_str(text);
        Ok(())
    }

    fn charge(&mut self, n: usize) -> Result<()> {
        self.budget = self.budget.checked_sub(n).ok_or_else(|| {
            Error::Unsupported(format!(
                "the text of this object would exceed {} bytes (shared objects are printed \
                 each time they are referenced)",
                self.limit
            ))
        })?;
        Ok(())
    }

    fn value(&mut self, v: Value, out: &mut String, depth: usize) -> Result<()> {
        let text = match v {
            Value::Null => "null".to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Byte(x) => x.to_string(),
            Value::Short(x) => x.to_string(),
            Value::Int(x) => x.to_string(),
            Value::Long(x) => x.to_string(),
            Value::Char(c) => quote(&[c], '\''),
            Value::Float(x) => java_float_to_string(x),
            Value::Double(x) => java_double_to_string(x),
            Value::Ref(id) => return self.object(id, out, depth),
        };
        self.put(out, &text)
    }

    fn object(&mut self, id: Id, out: &mut String, depth: usize) -> Result<()> {
        let s = self.s;
        let entry = s
            .entries
            .get(id)
            .ok_or_else(|| Error::malformed_here(format!("no object {id} in the stream")))?;
        match &entry.obj {
            Obj::String(js) => {
                let q = quote(&js.0, '"');
                self.put(out, &q)
            }
            Obj::Array { values, .. } => {
                self.container(id, out, depth, |p, out, depth| p.array(values, out, depth))
            }
            Obj::Object { class, data } => {
                let name = self.class_name(*class);
                self.known_object(id, &name, data, entry.offset, out, depth)
            }
            Obj::Enum { class, constant } => {
                let text = format!("{}.{constant}", self.class_name(*class));
                self.put(out, &text)
            }
            Obj::Class { desc } => {
                let text = format!("{}.class", source_spelling(&self.class_name(*desc)));
                self.put(out, &text)
            }
            Obj::ClassDesc(_) => self.put(out, "java.io.ObjectStreamClass"),
        }
    }

    /// Binary name of a class descriptor; `(dynamic proxy)` for a proxy class.
    fn class_name(&self, desc: Id) -> String {
        match self.s.class_desc(desc) {
            Some(d) if d.proxy_interfaces.is_some() => "(dynamic proxy)".into(),
            Some(d) => d.name.clone(),
            None => "?".into(),
        }
    }

    /// Prints a container, or `(cycle)` if it is already being printed.
    fn container(
        &mut self,
        id: Id,
        out: &mut String,
        depth: usize,
        body: impl FnOnce(&mut Self, &mut String, usize) -> Result<()>,
    ) -> Result<()> {
        if self.path.contains(&id) {
            return self.put(out, "(cycle)");
        }
        if depth >= MAX_DEPTH {
            return Err(Error::Unsupported(format!(
                "containers nested deeper than {MAX_DEPTH} levels"
            )));
        }
        self.path.push(id);
        let r = body(self, out, depth + 1);
        self.path.pop();
        r
    }

    fn array(&mut self, values: &ArrayValues, out: &mut String, depth: usize) -> Result<()> {
        let items: Vec<Value> = match values {
            ArrayValues::Boolean(v) => v.iter().map(|&x| Value::Boolean(x)).collect(),
            ArrayValues::Byte(v) => v.iter().map(|&x| Value::Byte(x)).collect(),
            ArrayValues::Char(v) => v.iter().map(|&x| Value::Char(x)).collect(),
            ArrayValues::Short(v) => v.iter().map(|&x| Value::Short(x)).collect(),
            ArrayValues::Int(v) => v.iter().map(|&x| Value::Int(x)).collect(),
            ArrayValues::Long(v) => v.iter().map(|&x| Value::Long(x)).collect(),
            ArrayValues::Float(v) => v.iter().map(|&x| Value::Float(x)).collect(),
            ArrayValues::Double(v) => v.iter().map(|&x| Value::Double(x)).collect(),
            ArrayValues::Object(v) => v.clone(),
        };
        self.list(&items, out, depth)
    }

    fn list(&mut self, items: &[Value], out: &mut String, depth: usize) -> Result<()> {
        self.put(out, "[")?;
        for (i, &v) in items.iter().enumerate() {
            if i > 0 {
                self.put(out, ", ")?;
            }
            self.value(v, out, depth)?;
        }
        self.put(out, "]")
    }

    fn known_object(
        &mut self,
        id: Id,
        name: &str,
        data: &[ClassData],
        offset: usize,
        out: &mut String,
        depth: usize,
    ) -> Result<()> {
        let obj = ObjView {
            s: self.s,
            name,
            data,
            offset,
        };
        let boxed = |code: u8| obj.field(name, "value", code);
        let value = match name {
            "java.lang.Integer" => boxed(b'I')?,
            "java.lang.Long" => boxed(b'J')?,
            "java.lang.Short" => boxed(b'S')?,
            "java.lang.Byte" => boxed(b'B')?,
            "java.lang.Double" => boxed(b'D')?,
            "java.lang.Float" => boxed(b'F')?,
            "java.lang.Boolean" => boxed(b'Z')?,
            "java.lang.Character" => boxed(b'C')?,
            "java.util.ArrayList" | "java.util.LinkedList" => {
                let items = if name == "java.util.ArrayList" {
                    obj.array_list()?
                } else {
                    obj.linked_list()?
                };
                return self.container(id, out, depth, |p, out, depth| p.list(&items, out, depth));
            }
            "java.util.HashMap" | "java.util.LinkedHashMap" => {
                let pairs = obj.hash_map()?;
                let sorted = name == "java.util.HashMap";
                return self.container(id, out, depth, |p, out, depth| {
                    p.map(&pairs, sorted, out, depth)
                });
            }
            "java.util.Date" => {
                let mut a = obj.annotations("java.util.Date")?;
                let millis = i64::from_be_bytes(a.bytes()?);
                return self.put(out, &format!("Date({millis})"));
            }
            _ => return self.put(out, name),
        };
        self.value(value, out, depth)
    }

    fn map(
        &mut self,
        pairs: &[(Value, Value)],
        sorted: bool,
        out: &mut String,
        depth: usize,
    ) -> Result<()> {
        let mut texts = Vec::with_capacity(pairs.len());
        for &(k, v) in pairs {
            let (mut kt, mut vt) = (String::new(), String::new());
            self.value(k, &mut kt, depth)?;
            self.value(v, &mut vt, depth)?;
            texts.push((kt, vt));
        }
        if sorted {
            texts.sort_by(|a, b| utf16_cmp(&a.0, &b.0).then_with(|| utf16_cmp(&a.1, &b.1)));
        }
        out.push('{');
        for (i, (k, v)) in texts.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out.push('}');
        self.charge(2 + 3 * texts.len())
    }
}

/// `String.compareTo`: by UTF-16 code units.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// An object of a parsed stream seen as an instance of one of the JDK classes decoded here,
/// reading its fields and `writeObject` data the way that class's `readObject` does.
struct ObjView<'s, 'a> {
    s: &'s Stream,
    name: &'a str,
    data: &'a [ClassData],
    offset: usize,
}

impl<'s, 'a> ObjView<'s, 'a> {
    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::malformed(self.offset as u64, format!("{}: {msg}", self.name))
    }

    fn class_data(&self, class: &str) -> Option<&'a ClassData> {
        self.class_data_desc(class).map(|(cd, _)| cd)
    }

    /// The data of `class` in this object together with that class's descriptor.
    fn class_data_desc(&self, class: &str) -> Option<(&'a ClassData, &'s ClassDesc)> {
        self.data.iter().find_map(|cd| {
            self.s
                .class_desc(cd.class)
                .filter(|d| d.name == class)
                .map(|d| (cd, d))
        })
    }

    /// A field of `class` that must have type `code`; Java's default (zero) when the stream's
    /// descriptor lacks it.
    fn field(&self, class: &str, field: &str, code: u8) -> Result<Value> {
        let default = match code {
            b'I' => Value::Int(0),
            b'J' => Value::Long(0),
            b'S' => Value::Short(0),
            b'B' => Value::Byte(0),
            b'D' => Value::Double(0.0),
            b'F' => Value::Float(0.0),
            b'Z' => Value::Boolean(false),
            b'C' => Value::Char(0),
            _ => Value::Null,
        };
        let Some((cd, desc)) = self.class_data_desc(class) else {
            return Ok(default);
        };
        match desc
            .fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == field)
        {
            None => Ok(default),
            Some((i, f)) if f.type_code == code => cd
                .values
                .get(i)
                .copied()
                .ok_or_else(|| self.err(format!("field {field} has no value"))),
            Some((_, f)) => Err(self.err(format!(
                "field {field} has type {} instead of {}",
                f.type_code as char, code as char
            ))),
        }
    }

    fn annotations(&self, class: &str) -> Result<Annotations<'a>> {
        let items = self.class_data(class).map_or(&[][..], |cd| &cd.annotations);
        Ok(Annotations {
            items,
            idx: 0,
            off: 0,
            offset: self.offset,
            name: self.name.to_string(),
        })
    }

    /// `ArrayList.readObject`: the `size` field, an ignored int, then `size` objects.
    fn array_list(&self) -> Result<Vec<Value>> {
        let size = match self.field("java.util.ArrayList", "size", b'I')? {
            Value::Int(n) => n,
            _ => return Err(self.err("size is not an int")),
        };
        if size < 0 {
            return Err(self.err(format!("invalid size {size}")));
        }
        let mut a = self.annotations("java.util.ArrayList")?;
        a.bytes::<4>()?;
        (0..size).map(|_| a.object()).collect()
    }

    /// `LinkedList.readObject`: an int size, then that many objects.
    fn linked_list(&self) -> Result<Vec<Value>> {
        let mut a = self.annotations("java.util.LinkedList")?;
        let size = i32::from_be_bytes(a.bytes()?);
        (0..size.max(0)).map(|_| a.object()).collect()
    }

    /// `HashMap.readObject` (also that of a `LinkedHashMap`): an ignored bucket count, the
    /// number of mappings, then key and value of each.
    fn hash_map(&self) -> Result<Vec<(Value, Value)>> {
        if let Value::Float(lf) = self.field("java.util.HashMap", "loadFactor", b'F')? {
            if self.class_data("java.util.HashMap").is_some() && (lf <= 0.0 || lf.is_nan()) {
                return Err(self.err(format!("illegal load factor {lf}")));
            }
        }
        let mut a = self.annotations("java.util.HashMap")?;
        a.bytes::<4>()?;
        let n = i32::from_be_bytes(a.bytes()?);
        if n < 0 {
            return Err(self.err(format!("illegal mappings count {n}")));
        }
        (0..n).map(|_| Ok((a.object()?, a.object()?))).collect()
    }
}

/// Reads a class's `writeObject` data as its `readObject` would: primitives from the block data
/// (consecutive blocks are one stream of bytes), objects in between.
struct Annotations<'a> {
    items: &'a [Content],
    idx: usize,
    /// Bytes already read of `items[idx]` when it is block data.
    off: usize,
    offset: usize,
    name: String,
}

impl<'a> Annotations<'a> {
    fn err(&self, msg: &str) -> Error {
        Error::malformed(self.offset as u64, format!("{}: {msg}", self.name))
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        let mut got = 0;
        while got < N {
            match self.items.get(self.idx) {
                Some(Content::BlockData(b)) => {
                    let unread = b.get(self.off..).unwrap_or_default();
                    let mut take = 0;
                    for (dst, &src) in out.iter_mut().skip(got).zip(unread) {
                        *dst = src;
                        take += 1;
                    }
                    got += take;
                    self.off += take;
                    if self.off == b.len() {
                        self.idx += 1;
                        self.off = 0;
                    }
                }
                Some(Content::Value(_)) => {
                    return Err(self.err("expected primitive data, found an object"))
                }
                None => return Err(self.err("its writeObject data ends early")),
            }
        }
        Ok(out)
    }

    fn object(&mut self) -> Result<Value> {
        loop {
            match self.items.get(self.idx) {
                Some(Content::BlockData(b)) if self.off == b.len() => {
                    self.idx += 1;
                    self.off = 0;
                }
                Some(Content::BlockData(_)) => {
                    return Err(self.err("expected an object, found primitive data"))
                }
                Some(Content::Value(v)) => {
                    self.idx += 1;
                    return Ok(*v);
                }
                None => return Err(self.err("its writeObject data ends early")),
            }
        }
    }
}

/// A string (or, with `'`, a character) quoted as the display format does.
fn quote(units: &[u16], q: char) -> String {
    let mut out = String::with_capacity(units.len() + 2);
    out.push(q);
    // Surrogate pairs become one character; an unpaired surrogate is an error item.
    for unit in char::decode_utf16(units.iter().copied()) {
        match unit {
            Ok(c) if c == q || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            Ok(c) if !c.is_control() => out.push(c),
            // Controls (C0, DEL, C1; all in the BMP, so one unit each).
            Ok(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            Err(e) => out.push_str(&format!("\\u{:04x}", e.unpaired_surrogate())),
        }
    }
    out.push(q);
    out
}

/// Java's `Double.toString(d)` (JDK 19+ specification).
pub fn java_double_to_string(x: f64) -> String {
    if let Some(s) = special(x.is_nan(), x.is_infinite(), x == 0.0, x.is_sign_negative()) {
        return s;
    }
    let a = x.abs();
    let shortest = format!("{a:e}");
    let n = split_sci(&shortest).0.len().max(2);
    let closest = format!("{a:.0$e}", n - 1);
    let (digits, exp) = decimal(&shortest, &closest, |s| s.parse::<f64>().ok() == Some(a));
    java_format(x < 0.0, &digits, exp)
}

/// Java's `Float.toString(f)` (JDK 19+ specification).
pub fn java_float_to_string(x: f32) -> String {
    if let Some(s) = special(x.is_nan(), x.is_infinite(), x == 0.0, x.is_sign_negative()) {
        return s;
    }
    let a = x.abs();
    let shortest = format!("{a:e}");
    let n = split_sci(&shortest).0.len().max(2);
    let closest = format!("{a:.0$e}", n - 1);
    let (digits, exp) = decimal(&shortest, &closest, |s| s.parse::<f32>().ok() == Some(a));
    java_format(x < 0.0, &digits, exp)
}

fn special(nan: bool, inf: bool, zero: bool, neg: bool) -> Option<String> {
    let s = match (nan, inf, zero, neg) {
        (true, ..) => "NaN",
        (_, true, _, false) => "Infinity",
        (_, true, _, true) => "-Infinity",
        (_, _, true, false) => "0.0",
        (_, _, true, true) => "-0.0",
        _ => return None,
    };
    Some(s.to_string())
}

/// Splits Rust's `{:e}` text (`1.2345e-8`) into significant digits and decimal exponent.
fn split_sci(s: &str) -> (String, i32) {
    let (m, e) = s.split_once('e').unwrap_or((s, "0"));
    let mut digits: String = m.chars().filter(|c| c.is_ascii_digit()).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (digits, e.parse().unwrap_or(0))
}

/// The decimal Java selects. Let n be the length of the shortest decimals that round to the
/// value (Rust's `{:e}` gives one of them), but at least 2: Java takes, among the decimals of n
/// digits that round to the value, the one closest to it, the one with an even last digit on a
/// tie. That is the value rounded half-even to n digits (Rust's `{:.(n-1)e}`) when it still
/// rounds to the value, else the shortest one found (the neighbour on the other side): so
/// `4.9E-324` rather than `5e-324`, `2874495.2` (float) rather than `2874495.3`.
fn decimal(shortest: &str, closest: &str, round_trips: impl Fn(&str) -> bool) -> (String, i32) {
    if round_trips(closest) {
        split_sci(closest)
    } else {
        split_sci(shortest)
    }
}

/// Formats significant digits `d1 d2 ... dn` times 10^`exp` (scientific exponent) as Java does.
fn java_format(neg: bool, digits: &str, exp: i32) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(digits);
                out.push_str(&"0".repeat(int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.push_str(&"0".repeat((-exp - 1) as usize));
            out.push_str(digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}
