//! Reading any serialization stream into a generic tree, without loading or running anything.
//!
//! The grammar is the one of the Java Object Serialization Specification, chapter 6.4. Every
//! object that gets a handle in the stream (class descriptor, string, array, object, enum
//! constant, class) becomes one [`Entry`] of [`Stream::entries`]; values refer to them by
//! [`Id`], so a back-reference (`TC_REFERENCE`) and the first occurrence are the same [`Value`]
//! and shared or even cyclic object graphs need no copying.
//!
//! Safety: nothing is allocated from a length before that length is checked against the bytes
//! that are left (every element takes at least one byte), nesting of objects is limited to
//! [`MAX_DEPTH`], and any malformed input is an [`Error::Malformed`] carrying the byte offset.

use super::*;
use crate::bytes::ByteReader;
use crate::error::{Error, Result};

/// How deeply objects may nest inside each other (fields, elements, annotations).
pub const MAX_DEPTH: usize = 64;

/// Index into [`Stream::entries`].
pub type Id = usize;

/// A whole stream.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// The top-level contents in stream order (what successive `readObject` calls and the
    /// primitive reads in between would see).
    pub contents: Vec<Content>,
    /// Every object that got a handle, in order of appearance (across `TC_RESET`s).
    pub entries: Vec<Entry>,
}

/// A top-level item or an item of an annotation (`writeObject` / `writeExternal` data).
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Value(Value),
    /// The bytes of one `TC_BLOCKDATA` / `TC_BLOCKDATALONG` (primitive writes; Java reads
    /// consecutive blocks as one stream of bytes).
    BlockData(Vec<u8>),
}

/// A field value, array element or object reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Null,
    /// An object of [`Stream::entries`], first occurrence or back-reference alike.
    Ref(Id),
    Boolean(bool),
    Byte(i8),
    /// A UTF-16 code unit (possibly half of a surrogate pair).
    Char(u16),
    Short(i16),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
}

/// An object with a handle and where its type code is in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub offset: usize,
    pub obj: Obj,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Obj {
    /// A class descriptor (`java.io.ObjectStreamClass` when it is itself the value read).
    ClassDesc(ClassDesc),
    String(JavaString),
    Array {
        /// The array's class descriptor (`[I`, `[Ljava.lang.String;`, ...).
        class: Id,
        values: ArrayValues,
    },
    Object {
        /// The object's (most derived) class descriptor.
        class: Id,
        /// The serialized data of each class of the chain that has any, superclass first.
        data: Vec<ClassData>,
    },
    Enum {
        class: Id,
        constant: String,
    },
    /// A `java.lang.Class` object.
    Class {
        desc: Id,
    },
}

/// A class descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassDesc {
    /// Binary name (`java.util.ArrayList`, `[I`); empty for a dynamic proxy class.
    pub name: String,
    pub suid: i64,
    pub flags: u8,
    pub fields: Vec<FieldDesc>,
    /// What `annotateClass` wrote (nothing, for `ObjectOutputStream` itself).
    pub annotations: Vec<Content>,
    pub superclass: Option<Id>,
    /// The interfaces of a dynamic proxy class (`TC_PROXYCLASSDESC`), else `None`.
    pub proxy_interfaces: Option<Vec<String>>,
}

/// A serializable field of a class descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDesc {
    /// `B C D F I J S Z` for primitives, `L` or `[` for references.
    pub type_code: u8,
    pub name: String,
    /// The field type in JVM descriptor form (`Ljava/lang/String;`) for reference fields.
    pub class_name: Option<String>,
}

/// The part of an object one class of its chain wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassData {
    /// The class descriptor.
    pub class: Id,
    /// One per field of the descriptor, in its order.
    pub values: Vec<Value>,
    /// What the class's `writeObject` (or an `Externalizable`'s `writeExternal`) wrote after
    /// its fields, up to `TC_ENDBLOCKDATA`; empty for a class without one.
    pub annotations: Vec<Content>,
}

/// The elements of an array.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayValues {
    Boolean(Vec<bool>),
    Byte(Vec<i8>),
    Char(Vec<u16>),
    Short(Vec<i16>),
    Int(Vec<i32>),
    Long(Vec<i64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
    /// Arrays of references (`Object[]`, `String[]`, `int[][]`, ...).
    Object(Vec<Value>),
}

/// A Java string: UTF-16 code units, which need not be valid UTF-16.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct JavaString(pub Vec<u16>);

impl JavaString {
    /// The string, if it is valid UTF-16 (has no unpaired surrogate).
    pub fn to_str(&self) -> Option<String> {
        String::from_utf16(&self.0).ok()
    }
    /// The string with unpaired surrogates replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf16_lossy(&self.0)
    }
}

impl Stream {
    /// The entry `id` names.
    ///
    /// # Panics
    ///
    /// If `id` is not an entry of this stream. The ids in a stream [`parse`] returned (in its
    /// values, descriptors and class data) all are, whatever the input was.
    // The parser only hands out ids of entries it has pushed (`Parser::new_entry`), and a
    // `Stream` never loses entries, so for ids taken from the stream this cannot panic.
    #[allow(clippy::indexing_slicing)]
    pub fn entry(&self, id: Id) -> &Entry {
        &self.entries[id]
    }
    /// The class descriptor `id` names (every `class` / `desc` / `superclass` of a parsed stream
    /// names one).
    pub fn class_desc(&self, id: Id) -> Option<&ClassDesc> {
        match &self.entries.get(id)?.obj {
            Obj::ClassDesc(d) => Some(d),
            _ => None,
        }
    }
    /// The first top-level content, if it is a value (what the first `readObject` returns).
    pub fn first_value(&self) -> Option<Value> {
        match self.contents.first()? {
            Content::Value(v) => Some(*v),
            Content::BlockData(_) => None,
        }
    }
}

/// Parses a whole serialization stream (header, then contents to the end of the input).
pub fn parse(bytes: &[u8]) -> Result<Stream> {
    let mut p = Parser {
        r: ByteReader::new(bytes),
        stream: Stream::default(),
        handles: Vec::new(),
        complete: Vec::new(),
        data_parent: Vec::new(),
    };
    let magic = p.r.take(4, "stream header")?;
    if magic != MAGIC {
        return Err(Error::malformed(
            0,
            "not a Java serialization stream (no AC ED 00 05 header)",
        ));
    }
    while !p.r.is_at_end() {
        if p.r.rest().first() == Some(&TC_RESET) {
            p.r.u8("TC_RESET")?;
            p.handles.clear();
            continue;
        }
        let c = p.content(0)?;
        p.stream.contents.push(c);
    }
    Ok(p.stream)
}

struct Parser<'a> {
    r: ByteReader<'a>,
    stream: Stream,
    /// Wire handle (minus `BASE_HANDLE`) -> entry; cleared by `TC_RESET`.
    handles: Vec<Id>,
    /// Per entry: fully read (a class descriptor is not until its superclass chain is linked).
    complete: Vec<bool>,
    /// Per entry (class descriptors only): the nearest superclass whose instances carry data.
    data_parent: Vec<Option<Id>>,
}

/// What a descriptor's instances carry in the stream: anything at all?
fn has_data(d: &ClassDesc) -> bool {
    !d.fields.is_empty() || d.flags & (SC_WRITE_METHOD | SC_EXTERNALIZABLE) != 0
}

impl<'a> Parser<'a> {
    fn err_at(&self, offset: usize, msg: impl std::fmt::Display) -> Error {
        Error::malformed(offset as u64, msg)
    }

    /// Stores the finished object of entry `id` and marks the entry complete.
    fn complete_entry(&mut self, id: Id, obj: Obj) {
        // `id` came from `new_entry`, which grows `entries` and `complete` together, so both
        // are there.
        if let (Some(e), Some(c)) = (self.stream.entries.get_mut(id), self.complete.get_mut(id)) {
            e.obj = obj;
            *c = true;
        }
    }

    /// The nearest superclass of class descriptor `id` whose instances carry data.
    fn data_parent(&self, id: Id) -> Option<Id> {
        self.data_parent.get(id).copied().flatten()
    }

    /// Assigns the next handle to a new entry (complete or not yet).
    fn new_entry(&mut self, offset: usize, obj: Obj, complete: bool) -> Id {
        let id = self.stream.entries.len();
        self.stream.entries.push(Entry { offset, obj });
        self.complete.push(complete);
        self.data_parent.push(None);
        self.handles.push(id);
        id
    }

    fn check_depth(&self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self
                .r
                .err(format!("objects nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// A content: an object (or null / reference) or a block of data.
    fn content(&mut self, depth: usize) -> Result<Content> {
        let at = self.r.pos();
        match self.r.rest().first() {
            Some(&TC_BLOCKDATA) => {
                self.r.u8("TC_BLOCKDATA")?;
                let n = self.r.u8("block data length")? as usize;
                Ok(Content::BlockData(self.r.take(n, "block data")?.to_vec()))
            }
            Some(&TC_BLOCKDATALONG) => {
                self.r.u8("TC_BLOCKDATALONG")?;
                let n = self.r.i32("block data length")?;
                let n = usize::try_from(n)
                    .map_err(|_| self.err_at(at, format!("negative block data length {n}")))?;
                Ok(Content::BlockData(self.r.take(n, "block data")?.to_vec()))
            }
            _ => Ok(Content::Value(self.object(depth)?)),
        }
    }

    /// What `readObject` reads: null, a reference or a new object.
    fn object(&mut self, depth: usize) -> Result<Value> {
        self.check_depth(depth)?;
        let at = self.r.pos();
        let Some(&tc) = self.r.rest().first() else {
            return Err(self.r.err("truncated: an object is missing"));
        };
        if tc == TC_CLASSDESC || tc == TC_PROXYCLASSDESC {
            // readObject returns an ObjectStreamClass here.
            let id = self.class_desc(depth)?;
            return Ok(id.map_or(Value::Null, Value::Ref));
        }
        self.r.u8("type code")?;
        match tc {
            TC_NULL => Ok(Value::Null),
            TC_REFERENCE => Ok(Value::Ref(self.reference(at)?)),
            TC_STRING | TC_LONGSTRING => {
                let s = self.string_body(tc, at)?;
                Ok(Value::Ref(self.new_entry(at, Obj::String(s), true)))
            }
            TC_OBJECT => self.new_object(at, depth),
            TC_ARRAY => self.new_array(at, depth),
            TC_ENUM => self.new_enum(at, depth),
            TC_CLASS => {
                let desc = self
                    .class_desc(depth)?
                    .ok_or_else(|| self.err_at(at, "TC_CLASS without a class descriptor (null)"))?;
                Ok(Value::Ref(self.new_entry(at, Obj::Class { desc }, true)))
            }
            TC_EXCEPTION => Err(self.err_at(
                at,
                "TC_EXCEPTION: the writer failed while writing this stream",
            )),
            TC_RESET => Err(self.err_at(at, "TC_RESET inside an object")),
            TC_ENDBLOCKDATA => Err(self.err_at(at, "expected an object, found TC_ENDBLOCKDATA")),
            TC_BLOCKDATA | TC_BLOCKDATALONG => {
                Err(self.err_at(at, "expected an object, found block data"))
            }
            other => Err(self.err_at(at, format!("unknown type code 0x{other:02X}"))),
        }
    }

    /// The entry a `TC_REFERENCE` (already read, at `at`) names.
    fn reference(&mut self, at: usize) -> Result<Id> {
        let h = self.r.i32("handle")? as u32;
        h.checked_sub(BASE_HANDLE)
            .and_then(|i| self.handles.get(i as usize).copied())
            .ok_or_else(|| self.err_at(at, format!("reference to unknown handle 0x{h:08X}")))
    }

    /// The string after its type code.
    fn string_body(&mut self, tc: u8, at: usize) -> Result<JavaString> {
        let n = if tc == TC_STRING {
            self.r.u16("string length")? as u64
        } else {
            let n = self.r.i64("long string length")?;
            u64::try_from(n).map_err(|_| self.err_at(at, format!("negative string length {n}")))?
        };
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.r.remaining())
            .ok_or_else(|| {
                self.r.err(format!(
                    "truncated: string of {n} bytes, only {} left",
                    self.r.remaining()
                ))
            })?;
        let start = self.r.pos();
        let raw = self.r.take(n, "string")?;
        decode_java_utf(raw)
            .map(JavaString)
            .map_err(|i| self.err_at(start + i, "malformed modified UTF-8 in a string"))
    }

    /// A `readUTF` name (class, field, enum constant, proxy interface).
    fn utf(&mut self, what: &str) -> Result<String> {
        let n = self.r.u16(what)? as usize;
        let start = self.r.pos();
        let raw = self.r.take(n, what)?;
        decode_java_utf(raw)
            .map(|u| String::from_utf16_lossy(&u))
            .map_err(|i| self.err_at(start + i, format!("malformed modified UTF-8 in {what}")))
    }

    /// A class descriptor where one is expected: `None` for `TC_NULL`.
    fn class_desc(&mut self, depth: usize) -> Result<Option<Id>> {
        // The chain is read iteratively: a descriptor's superclass descriptor follows it.
        let mut chain: Vec<Id> = Vec::new();
        let end = loop {
            self.check_depth(depth)?;
            let at = self.r.pos();
            let tc = self.r.u8("class descriptor")?;
            match tc {
                TC_NULL => break None,
                TC_REFERENCE => {
                    let id = self.reference(at)?;
                    match self.stream.class_desc(id) {
                        Some(_) if self.complete.get(id) == Some(&true) => break Some(id),
                        Some(_) => {
                            return Err(self
                                .err_at(at, "class descriptor refers to itself as its superclass"))
                        }
                        None => {
                            return Err(self.err_at(
                                at,
                                "reference to something that is not a class descriptor",
                            ))
                        }
                    }
                }
                TC_CLASSDESC => chain.push(self.class_desc_body(at, depth)?),
                TC_PROXYCLASSDESC => chain.push(self.proxy_desc_body(at, depth)?),
                other => {
                    return Err(self.err_at(
                        at,
                        format!("expected a class descriptor, found type code 0x{other:02X}"),
                    ))
                }
            }
        };
        // Link each new descriptor to the one after it (its superclass).
        let mut superclass = end;
        for &id in chain.iter().rev() {
            // `superclass` is the previous (already linked) descriptor of the chain or the
            // complete descriptor the chain ended with.
            let dp = superclass.and_then(|s| {
                if self.stream.class_desc(s).is_some_and(has_data) {
                    Some(s)
                } else {
                    self.data_parent(s)
                }
            });
            if let Some(slot) = self.data_parent.get_mut(id) {
                *slot = dp;
            }
            if let Some(Entry {
                obj: Obj::ClassDesc(d),
                ..
            }) = self.stream.entries.get_mut(id)
            {
                d.superclass = superclass;
            }
            if let Some(c) = self.complete.get_mut(id) {
                *c = true;
            }
            superclass = Some(id);
        }
        Ok(chain.first().copied().or(end))
    }

    /// `TC_CLASSDESC` (already read, at `at`) up to, not including, the superclass descriptor.
    fn class_desc_body(&mut self, at: usize, depth: usize) -> Result<Id> {
        let name = self.utf("class name")?;
        let suid = self.r.i64("serialVersionUID")?;
        let flags = self.r.u8("class descriptor flags")?;
        let id = self.new_entry(
            at,
            Obj::ClassDesc(ClassDesc {
                name,
                suid,
                flags,
                fields: Vec::new(),
                annotations: Vec::new(),
                superclass: None,
                proxy_interfaces: None,
            }),
            false,
        );
        if flags & SC_SERIALIZABLE != 0 && flags & SC_EXTERNALIZABLE != 0 {
            return Err(self.err_at(at, "class is both Serializable and Externalizable"));
        }
        let count = self.r.u16("field count")?;
        let mut fields = Vec::new();
        for _ in 0..count {
            let fat = self.r.pos();
            let type_code = self.r.u8("field type code")?;
            let name = self.utf("field name")?;
            let class_name = match type_code {
                b'B' | b'C' | b'D' | b'F' | b'I' | b'J' | b'S' | b'Z' => None,
                b'L' | b'[' => self.type_string(depth)?,
                other => {
                    return Err(self.err_at(
                        fat,
                        format!("field {name:?} has unknown type code 0x{other:02X}"),
                    ))
                }
            };
            fields.push(FieldDesc {
                type_code,
                name,
                class_name,
            });
        }
        let annotations = self.annotations(depth + 1)?;
        if let Some(Entry {
            obj: Obj::ClassDesc(d),
            ..
        }) = self.stream.entries.get_mut(id)
        {
            d.fields = fields;
            d.annotations = annotations;
        }
        Ok(id)
    }

    /// `TC_PROXYCLASSDESC` (already read, at `at`) up to the superclass descriptor.
    fn proxy_desc_body(&mut self, at: usize, depth: usize) -> Result<Id> {
        let id = self.new_entry(
            at,
            Obj::ClassDesc(ClassDesc {
                name: String::new(),
                suid: 0,
                flags: SC_SERIALIZABLE,
                fields: Vec::new(),
                annotations: Vec::new(),
                superclass: None,
                proxy_interfaces: None,
            }),
            false,
        );
        let count = self.r.i32("proxy interface count")?;
        if count < 0 || count as usize > self.r.remaining() / 2 {
            return Err(self.err_at(at, format!("bad proxy interface count {count}")));
        }
        let mut names = Vec::with_capacity(count as usize);
        for _ in 0..count {
            names.push(self.utf("proxy interface name")?);
        }
        let annotations = self.annotations(depth + 1)?;
        if let Some(Entry {
            obj: Obj::ClassDesc(d),
            ..
        }) = self.stream.entries.get_mut(id)
        {
            d.proxy_interfaces = Some(names);
            d.annotations = annotations;
        }
        Ok(id)
    }

    /// The type string of a reference field: a string object (or a reference to one).
    fn type_string(&mut self, depth: usize) -> Result<Option<String>> {
        let at = self.r.pos();
        match self.object(depth + 1)? {
            Value::Null => Ok(None),
            Value::Ref(id) => match self.stream.entries.get(id).map(|e| &e.obj) {
                Some(Obj::String(s)) => Ok(Some(s.to_string_lossy())),
                _ => Err(self.err_at(at, "field type is not a string")),
            },
            _ => Err(self.err_at(at, "field type is not a string")),
        }
    }

    /// Contents up to and including `TC_ENDBLOCKDATA`.
    fn annotations(&mut self, depth: usize) -> Result<Vec<Content>> {
        let mut out = Vec::new();
        loop {
            match self.r.rest().first() {
                Some(&TC_ENDBLOCKDATA) => {
                    self.r.u8("TC_ENDBLOCKDATA")?;
                    return Ok(out);
                }
                Some(_) => out.push(self.content(depth)?),
                None => return Err(self.r.err("truncated: missing TC_ENDBLOCKDATA")),
            }
        }
    }

    fn new_object(&mut self, at: usize, depth: usize) -> Result<Value> {
        let class = self
            .class_desc(depth)?
            .ok_or_else(|| self.err_at(at, "object without a class descriptor (null)"))?;
        let id = self.new_entry(
            at,
            Obj::Object {
                class,
                data: vec![],
            },
            false,
        );
        let desc = self
            .stream
            .class_desc(class)
            .ok_or_else(|| self.err_at(at, "object's class is not a class descriptor"))?;
        let (flags, class_has_data) = (desc.flags, has_data(desc));
        if flags & SC_ENUM != 0 {
            return Err(self.err_at(at, "enum class descriptor used for TC_OBJECT"));
        }
        let mut data = Vec::new();
        if flags & SC_EXTERNALIZABLE != 0 {
            // The whole object is what writeExternal wrote; only protocol 2 (block data) can be
            // read without the class.
            if flags & SC_BLOCK_DATA == 0 {
                return Err(Error::Unsupported(format!(
                    "at byte {at}: Externalizable object written with stream protocol 1 \
                     cannot be read without its class"
                )));
            }
            data.push(ClassData {
                class,
                values: Vec::new(),
                annotations: self.annotations(depth + 1)?,
            });
        } else {
            // The chain of classes with data, superclass first. Each of them takes at least one
            // byte, which bounds the walk by the input.
            let mut chain = Vec::new();
            let mut c = if class_has_data {
                Some(class)
            } else {
                self.data_parent(class)
            };
            while let Some(d) = c {
                if chain.len() >= self.r.remaining() {
                    return Err(self.r.err("truncated: object data missing"));
                }
                chain.push(d);
                c = self.data_parent(d);
            }
            for &d in chain.iter().rev() {
                let desc = self.stream.class_desc(d).ok_or_else(|| {
                    self.err_at(at, "a superclass of the object is not a class descriptor")
                })?;
                let types: Vec<u8> = desc.fields.iter().map(|f| f.type_code).collect();
                let write_method = desc.flags & SC_WRITE_METHOD != 0;
                let mut values = Vec::with_capacity(types.len().min(self.r.remaining()));
                for t in types {
                    values.push(self.field_value(t, depth + 1)?);
                }
                let annotations = if write_method {
                    self.annotations(depth + 1)?
                } else {
                    Vec::new()
                };
                data.push(ClassData {
                    class: d,
                    values,
                    annotations,
                });
            }
        }
        self.complete_entry(id, Obj::Object { class, data });
        Ok(Value::Ref(id))
    }

    fn field_value(&mut self, type_code: u8, depth: usize) -> Result<Value> {
        Ok(match type_code {
            b'B' => Value::Byte(self.r.u8("byte field")? as i8),
            b'C' => Value::Char(self.r.u16("char field")?),
            b'D' => Value::Double(self.r.f64("double field")?),
            b'F' => Value::Float(f32::from_bits(self.r.i32("float field")? as u32)),
            b'I' => Value::Int(self.r.i32("int field")?),
            b'J' => Value::Long(self.r.i64("long field")?),
            b'S' => Value::Short(self.r.u16("short field")? as i16),
            b'Z' => Value::Boolean(self.r.bool("boolean field")?),
            _ => self.object(depth)?,
        })
    }

    fn new_array(&mut self, at: usize, depth: usize) -> Result<Value> {
        let class = self
            .class_desc(depth)?
            .ok_or_else(|| self.err_at(at, "array without a class descriptor (null)"))?;
        let name = &self
            .stream
            .class_desc(class)
            .ok_or_else(|| self.err_at(at, "array's class is not a class descriptor"))?
            .name;
        let elem = match name.as_bytes() {
            [b'[', e, ..] => *e,
            _ => return Err(self.err_at(at, format!("array class {name:?} does not start with ["))),
        };
        let size: usize = match elem {
            b'B' | b'Z' => 1,
            b'C' | b'S' => 2,
            b'I' | b'F' => 4,
            b'J' | b'D' => 8,
            b'L' | b'[' => 1,
            _ => return Err(self.err_at(at, format!("array class {name:?} is not valid"))),
        };
        let id = self.new_entry(
            at,
            Obj::Array {
                class,
                values: ArrayValues::Object(Vec::new()),
            },
            false,
        );
        let len_at = self.r.pos();
        let len = self.r.i32("array length")?;
        let len = usize::try_from(len)
            .map_err(|_| self.err_at(len_at, format!("negative array length {len}")))?;
        if len.saturating_mul(size) > self.r.remaining() {
            return Err(self.err_at(
                len_at,
                format!(
                    "truncated: array of {len} elements needs at least {} bytes, only {} left",
                    len.saturating_mul(size),
                    self.r.remaining()
                ),
            ));
        }
        let raw = |p: &mut Self| p.r.take(len * size, "array elements");
        let values = match elem {
            b'Z' => ArrayValues::Boolean(raw(self)?.iter().map(|&b| b != 0).collect()),
            b'B' => ArrayValues::Byte(raw(self)?.iter().map(|&b| b as i8).collect()),
            b'C' => ArrayValues::Char(chunks(raw(self)?, u16::from_be_bytes)),
            b'S' => ArrayValues::Short(chunks(raw(self)?, i16::from_be_bytes)),
            b'I' => ArrayValues::Int(chunks(raw(self)?, i32::from_be_bytes)),
            b'F' => ArrayValues::Float(chunks(raw(self)?, |b| {
                f32::from_bits(u32::from_be_bytes(b))
            })),
            b'J' => ArrayValues::Long(chunks(raw(self)?, i64::from_be_bytes)),
            b'D' => ArrayValues::Double(chunks(raw(self)?, |b| {
                f64::from_bits(u64::from_be_bytes(b))
            })),
            _ => {
                let mut v = Vec::with_capacity(len);
                for _ in 0..len {
                    v.push(self.object(depth + 1)?);
                }
                ArrayValues::Object(v)
            }
        };
        self.complete_entry(id, Obj::Array { class, values });
        Ok(Value::Ref(id))
    }

    fn new_enum(&mut self, at: usize, depth: usize) -> Result<Value> {
        let class = self
            .class_desc(depth)?
            .ok_or_else(|| self.err_at(at, "enum without a class descriptor (null)"))?;
        let flags = self
            .stream
            .class_desc(class)
            .ok_or_else(|| self.err_at(at, "enum's class is not a class descriptor"))?
            .flags;
        if flags & SC_ENUM == 0 {
            return Err(self.err_at(at, "TC_ENUM with a class descriptor that is not an enum"));
        }
        let id = self.new_entry(
            at,
            Obj::Enum {
                class,
                constant: String::new(),
            },
            false,
        );
        let name_at = self.r.pos();
        let constant = match self.object(depth + 1)? {
            Value::Ref(s) => match self.stream.entries.get(s).map(|e| &e.obj) {
                Some(Obj::String(s)) => s.to_string_lossy(),
                _ => return Err(self.err_at(name_at, "enum constant name is not a string")),
            },
            _ => return Err(self.err_at(name_at, "enum constant name is not a string")),
        };
        self.complete_entry(id, Obj::Enum { class, constant });
        Ok(Value::Ref(id))
    }
}

fn chunks<const N: usize, T>(raw: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    // Callers took a multiple of N bytes, so there is no remainder to drop.
    let (whole, _) = raw.as_chunks::<N>();
    whole.iter().map(|&c| f(c)).collect()
}

/// `DataInputStream.readUTF`'s decoding: 1-, 2- and 3-byte forms (NUL may be `00` or `C0 80`,
/// surrogates are encoded one by one); anything else is an error at the returned index.
pub(super) fn decode_java_utf(raw: &[u8]) -> std::result::Result<Vec<u16>, usize> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&a) = raw.get(i) {
        match a >> 4 {
            0..=7 => {
                out.push(a as u16);
                i += 1;
            }
            12 | 13 => {
                let b = *raw.get(i + 1).ok_or(i)?;
                if b & 0xC0 != 0x80 {
                    return Err(i);
                }
                out.push(((a as u16 & 0x1F) << 6) | (b as u16 & 0x3F));
                i += 2;
            }
            14 => {
                let (b, c) = (*raw.get(i + 1).ok_or(i)?, *raw.get(i + 2).ok_or(i)?);
                if b & 0xC0 != 0x80 || c & 0xC0 != 0x80 {
                    return Err(i);
                }
                out.push(((a as u16 & 0x0F) << 12) | ((b as u16 & 0x3F) << 6) | (c as u16 & 0x3F));
                i += 3;
            }
            _ => return Err(i),
        }
    }
    Ok(out)
}
