//! The NumPy `.npy` array format (versions 1.0, 2.0 and 3.0): parsing untrusted members into
//! little-endian C-order bytes, and writing version 1.0 (2.0 when the header needs it).
//!
//! Only plain numeric, bool and string (`S`, `U`) dtypes are understood; object arrays (`|O`,
//! pickled Python objects) are refused and never unpickled, as are structured dtypes.

use dl4j_core::{DType, Error, Result};

/// The magic string every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Largest header accepted (NumPy itself refuses more than 10000 bytes by default).
pub const MAX_HEADER: usize = 1 << 20;

/// Most dimensions accepted (NumPy's own limit is 64).
pub const MAX_DIMS: usize = 64;

/// Headers (preamble included) are padded to a multiple of this, as NumPy does.
const ALIGN: usize = 64;

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Format(format!("npy: {msg}"))
}

/// What an array's elements are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A numeric or bool element with a DL4J equivalent (`<u2` reads as `U16`).
    Num(DType),
    /// Fixed-length byte strings (`|S<n>`), `n` bytes each.
    Bytes(usize),
    /// Fixed-length UTF-32 strings (`<U<n>`), `n` code points each.
    Unicode(usize),
}

impl Kind {
    /// Bytes per element.
    pub fn item_size(self) -> Result<usize> {
        match self {
            Kind::Num(d) => Ok(d.size()),
            Kind::Bytes(n) => Ok(n),
            Kind::Unicode(n) => n
                .checked_mul(4)
                .ok_or_else(|| bad(format!("unicode length {n} overflows"))),
        }
    }

    /// Size in bytes of the units whose byte order the descr gives (1 for byte strings).
    fn swap_unit(self) -> usize {
        match self {
            Kind::Num(d) => d.size(),
            Kind::Bytes(_) => 1,
            Kind::Unicode(_) => 4,
        }
    }
}

/// The NumPy descr written for a DL4J dtype (little-endian; bf16 has no NumPy dtype and is
/// written as its bit pattern, `<u2`).
pub fn descr(dtype: DType) -> &'static str {
    match dtype {
        DType::F64 => "<f8",
        DType::F32 => "<f4",
        DType::F16 => "<f2",
        DType::BF16 => "<u2",
        DType::I64 => "<i8",
        DType::I32 => "<i4",
        DType::I16 => "<i2",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
    }
}

/// A descr's element kind and whether its multi-byte units are big-endian.
pub fn parse_descr(d: &str) -> Result<(Kind, bool)> {
    let mut chars = d.chars();
    let order = chars.next().ok_or_else(|| bad("empty dtype descr"))?;
    let rest = chars.as_str();
    let big = match order {
        '<' => false,
        '>' => true,
        '|' => false,
        '=' => {
            return Err(bad(format!(
                "dtype {d:?} is in the writer's native byte order, which the file does not record"
            )))
        }
        _ => return Err(bad(format!("dtype {d:?} has no byte-order mark"))),
    };
    if rest.starts_with('O') {
        return Err(bad(format!(
            "dtype {d:?} holds pickled Python objects, which are never unpickled (not a numeric array)"
        )));
    }
    let (code, size) = rest.split_at(
        rest.find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len()),
    );
    let size: usize = if size.is_empty() {
        return Err(bad(format!("dtype {d:?} has no item size")));
    } else if size.bytes().all(|b| b.is_ascii_digit()) && size.len() <= 12 {
        size.parse()
            .map_err(|_| bad(format!("dtype {d:?}: bad item size")))?
    } else {
        return Err(bad(format!("dtype {d:?} is not supported")));
    };
    let kind = match (code, size) {
        ("f", 8) => Kind::Num(DType::F64),
        ("f", 4) => Kind::Num(DType::F32),
        ("f", 2) => Kind::Num(DType::F16),
        ("i", 8) => Kind::Num(DType::I64),
        ("i", 4) => Kind::Num(DType::I32),
        ("i", 2) => Kind::Num(DType::I16),
        ("i", 1) => Kind::Num(DType::I8),
        ("u", 8) => Kind::Num(DType::U64),
        ("u", 4) => Kind::Num(DType::U32),
        ("u", 2) => Kind::Num(DType::U16),
        ("u", 1) => Kind::Num(DType::U8),
        ("b", 1) => Kind::Num(DType::Bool),
        ("S", n) => Kind::Bytes(n),
        ("U", n) => Kind::Unicode(n),
        _ => return Err(bad(format!("dtype {d:?} is not supported"))),
    };
    if order == '|' && kind.swap_unit() > 1 {
        return Err(bad(format!("dtype {d:?} has no byte order")));
    }
    Ok((kind, big))
}

/// A parsed array: elements little-endian, in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub kind: Kind,
    pub shape: Vec<usize>,
    buf: Vec<u8>,
    start: usize,
}

impl Array {
    /// The elements' bytes (little-endian, C order).
    pub fn data(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A single string (a 0-d or one-element `S` / `U` array), trailing NULs removed as NumPy
    /// does.
    pub fn as_string(&self) -> Result<String> {
        if self.len() != 1 {
            return Err(bad(format!(
                "expected a single string, found {} elements",
                self.len()
            )));
        }
        match self.kind {
            Kind::Bytes(_) => {
                let b = self.data();
                let end = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
                let b = b.get(..end).unwrap_or(&[]);
                String::from_utf8(b.to_vec()).map_err(|e| bad(format!("string is not UTF-8: {e}")))
            }
            Kind::Unicode(_) => {
                let mut units: Vec<u32> = self
                    .data()
                    .chunks_exact(4)
                    .filter_map(|c| c.try_into().ok().map(u32::from_le_bytes))
                    .collect();
                while units.last() == Some(&0) {
                    units.pop();
                }
                units
                    .into_iter()
                    .map(|u| {
                        char::from_u32(u).ok_or_else(|| bad(format!("invalid code point {u:#x}")))
                    })
                    .collect()
            }
            Kind::Num(d) => Err(bad(format!("expected a string array, found {}", descr(d)))),
        }
    }
}

/// Element count of a shape, refusing overflow.
pub fn element_count(shape: &[usize]) -> Result<usize> {
    shape.iter().try_fold(1usize, |acc, &d| {
        acc.checked_mul(d)
            .ok_or_else(|| bad(format!("shape {shape:?} overflows")))
    })
}

/// Parses a whole `.npy` member. Every length is checked against the bytes present; the
/// data must be exactly what the header describes.
pub fn parse(mut buf: Vec<u8>) -> Result<Array> {
    let h = parse_header(&buf)?;
    let count = element_count(&h.shape)?;
    let item = h.kind.item_size()?;
    let nbytes = count
        .checked_mul(item)
        .ok_or_else(|| bad(format!("shape {:?} overflows", h.shape)))?;
    let avail = buf.len().saturating_sub(h.data_start);
    if avail != nbytes {
        return Err(bad(format!(
            "shape {:?} of {} needs {nbytes} data bytes, the member has {avail}",
            h.shape, h.descr
        )));
    }
    let unit = h.kind.swap_unit();
    if h.big_endian && unit > 1 {
        let data = buf
            .get_mut(h.data_start..)
            .ok_or_else(|| bad("truncated"))?;
        for c in data.chunks_exact_mut(unit) {
            c.reverse();
        }
    }
    if h.fortran && h.shape.len() > 1 && count > 1 {
        let data = buf.get(h.data_start..).ok_or_else(|| bad("truncated"))?;
        let c = fortran_to_c(data, &h.shape, item)?;
        return Ok(Array {
            kind: h.kind,
            shape: h.shape,
            buf: c,
            start: 0,
        });
    }
    Ok(Array {
        kind: h.kind,
        shape: h.shape,
        buf,
        start: h.data_start,
    })
}

/// A parsed header.
#[derive(Debug)]
struct Header {
    descr: String,
    kind: Kind,
    big_endian: bool,
    fortran: bool,
    shape: Vec<usize>,
    data_start: usize,
}

fn parse_header(buf: &[u8]) -> Result<Header> {
    if buf.get(..6) != Some(MAGIC.as_slice()) {
        return Err(bad("not a .npy array (no \\x93NUMPY magic)"));
    }
    let (major, minor) = match buf.get(6..8) {
        Some(&[a, b]) => (a, b),
        _ => return Err(bad("truncated before the version")),
    };
    let (len_size, utf8) = match major {
        1 => (2, false),
        2 => (4, false),
        3 => (4, true),
        _ => return Err(bad(format!("unsupported format version {major}.{minor}"))),
    };
    let len_bytes = buf
        .get(8..8 + len_size)
        .ok_or_else(|| bad("truncated before the header length"))?;
    let header_len = len_bytes
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | b as usize);
    if header_len > MAX_HEADER {
        return Err(bad(format!(
            "header of {header_len} bytes is over the {MAX_HEADER}-byte limit"
        )));
    }
    let start = 8 + len_size;
    let data_start = start + header_len;
    let raw = buf.get(start..data_start).ok_or_else(|| {
        bad(format!(
            "header of {header_len} bytes runs past the end of the member ({} bytes)",
            buf.len()
        ))
    })?;
    let text: String = if utf8 {
        std::str::from_utf8(raw)
            .map_err(|e| bad(format!("header is not UTF-8: {e}")))?
            .to_string()
    } else {
        // Latin-1: every byte is the code point of the same value.
        raw.iter().map(|&b| b as char).collect()
    };
    let mut p = Lit::new(&text);
    let dict = p.dict()?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in dict {
        match (k.as_str(), v) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("descr", Value::List) => {
                return Err(bad("structured dtypes (record arrays) are not supported"))
            }
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            (k @ ("descr" | "fortran_order" | "shape"), v) => {
                return Err(bad(format!("header key {k:?} has an invalid value {v:?}")))
            }
            (k, _) => return Err(bad(format!("unexpected header key {k:?}"))),
        }
    }
    let descr = descr.ok_or_else(|| bad("header lacks 'descr'"))?;
    let fortran = fortran.ok_or_else(|| bad("header lacks 'fortran_order'"))?;
    let shape = shape.ok_or_else(|| bad("header lacks 'shape'"))?;
    let (kind, big_endian) = parse_descr(&descr)?;
    Ok(Header {
        descr,
        kind,
        big_endian,
        fortran,
        shape,
        data_start,
    })
}

/// Column-major element bytes -> row-major. `data` holds exactly `product(shape)` items.
fn fortran_to_c(data: &[u8], shape: &[usize], item: usize) -> Result<Vec<u8>> {
    let count = element_count(shape)?;
    let mut fstride = Vec::with_capacity(shape.len());
    let mut acc = 1usize;
    for &d in shape {
        fstride.push(acc);
        acc = acc.checked_mul(d).ok_or_else(|| bad("shape overflows"))?;
    }
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; shape.len()];
    let mut off = 0usize;
    for _ in 0..count {
        let at = off
            .checked_mul(item)
            .ok_or_else(|| bad("offset overflows"))?;
        let el = data
            .get(at..at + item)
            .ok_or_else(|| bad("fortran-order data is short"))?;
        out.extend_from_slice(el);
        for k in (0..shape.len()).rev() {
            let (d, s) = (shape.get(k).copied(), fstride.get(k).copied());
            let (Some(d), Some(s), Some(i)) = (d, s, idx.get_mut(k)) else {
                break;
            };
            *i += 1;
            off += s;
            if *i < d {
                break;
            }
            *i = 0;
            off -= s * d;
        }
    }
    Ok(out)
}

/// Header values of the Python literal subset NumPy writes.
#[derive(Debug, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
    /// A list (structured descr); its content is skipped.
    List,
}

/// A tiny parser for the header's Python dict literal.
struct Lit<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Lit<'a> {
    fn new(text: &'a str) -> Lit<'a> {
        Lit {
            s: text.as_bytes(),
            text,
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {:?}", c as char)))
        }
    }

    fn err(&self, what: &str) -> Error {
        bad(format!(
            "header {what} at byte {}: {:?}",
            self.pos, self.text
        ))
    }

    fn dict(&mut self) -> Result<Vec<(String, Value)>> {
        self.expect(b'{')?;
        let mut out: Vec<(String, Value)> = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                break;
            }
            let key = self.string()?;
            self.expect(b':')?;
            let v = self.value(0)?;
            if out.iter().any(|(k, _)| *k == key) {
                return Err(self.err(&format!("repeats key {key:?}")));
            }
            out.push((key, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
        self.ws();
        if self.pos != self.s.len() {
            return Err(self.err("has text after the dict"));
        }
        Ok(out)
    }

    fn string(&mut self) -> Result<String> {
        self.ws();
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(self.err("expected a string")),
        };
        self.pos += 1;
        let begin = self.pos;
        while let Some(c) = self.peek() {
            if c == b'\\' {
                return Err(self.err("has an escaped string (not supported)"));
            }
            if c == q {
                let s = self.text.get(begin..self.pos).unwrap_or("").to_string();
                self.pos += 1;
                return Ok(s);
            }
            self.pos += 1;
        }
        Err(self.err("has an unterminated string"))
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > 8 {
            return Err(self.err("nests too deeply"));
        }
        self.ws();
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Value::Str(self.string()?)),
            Some(b'(') => {
                self.pos += 1;
                let mut dims = Vec::new();
                loop {
                    self.ws();
                    if self.peek() == Some(b')') {
                        self.pos += 1;
                        break;
                    }
                    if dims.len() >= MAX_DIMS {
                        return Err(self.err(&format!("has more than {MAX_DIMS} dimensions")));
                    }
                    dims.push(self.int()?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b')') => {}
                        _ => return Err(self.err("expected ',' or ')' in the shape")),
                    }
                }
                Ok(Value::Tuple(dims))
            }
            Some(b'[') => {
                // Skip a (structured descr) list, balancing brackets outside strings.
                let mut level = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'[' | b'(' => level += 1,
                        b']' | b')' => {
                            level = level.saturating_sub(1);
                            if level == 0 {
                                self.pos += 1;
                                return Ok(Value::List);
                            }
                        }
                        b'\'' | b'"' => {
                            self.string()?;
                            continue;
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
                Err(self.err("has an unterminated list"))
            }
            _ => {
                let rest = self.s.get(self.pos..).unwrap_or(&[]);
                for (word, v) in [(b"True".as_slice(), true), (b"False".as_slice(), false)] {
                    if rest.starts_with(word) {
                        self.pos += word.len();
                        return Ok(Value::Bool(v));
                    }
                }
                Err(self.err("has an unexpected value"))
            }
        }
    }

    fn int(&mut self) -> Result<usize> {
        self.ws();
        let begin = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        let digits = self.text.get(begin..self.pos).unwrap_or("");
        if digits.is_empty() {
            return Err(self.err("expected a non-negative integer"));
        }
        // Python 2 wrote longs with an `L` suffix.
        if self.peek() == Some(b'L') {
            self.pos += 1;
        }
        digits
            .parse::<usize>()
            .map_err(|_| self.err(&format!("dimension {digits} is too large")))
    }
}

/// The header bytes (preamble included) of a little-endian C-order array: version 1.0, or
/// 2.0 when the header does not fit 1.0's 16-bit length. Padded with spaces to a multiple of
/// 64 bytes and ending in `'\n'`, as NumPy writes.
pub fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let build = |len_size: usize, major: u8| -> Vec<u8> {
        let pre = 8 + len_size;
        let unpadded = pre + dict.len() + 1;
        let pad = (ALIGN - unpadded % ALIGN) % ALIGN;
        let header_len = dict.len() + pad + 1;
        let mut out = Vec::with_capacity(pre + header_len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[major, 0]);
        if len_size == 2 {
            // Version 1.0; a length over u16::MAX is caught below and 2.0 written instead.
            out.extend_from_slice(&(header_len as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header_len as u32).to_le_bytes());
        }
        out.extend_from_slice(dict.as_bytes());
        out.resize(out.len() + pad, b' ');
        out.push(b'\n');
        out
    };
    let v1 = build(2, 1);
    if v1.len() - 10 <= u16::MAX as usize {
        v1
    } else {
        build(4, 2)
    }
}

/// A whole `.npy` member: header plus the given little-endian C-order data.
pub fn encode(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = header(descr, shape);
    out.extend_from_slice(data);
    out
}

/// A 0-d `|S<n>` array holding `text`'s UTF-8 bytes (`n` at least 1).
pub fn encode_string(text: &str) -> Vec<u8> {
    let n = text.len().max(1);
    let mut data = text.as_bytes().to_vec();
    data.resize(n, 0);
    encode(&format!("|S{n}"), &[], &data)
}
