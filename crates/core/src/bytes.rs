//! Big-endian reading and writing as Java's `DataInputStream` / `DataOutputStream` do it.
//!
//! The reader never allocates from a length it has not checked against the bytes it holds, and
//! every error carries the absolute byte offset.

use crate::error::{Error, Result};

/// A bounds-checked cursor over a byte slice.
#[derive(Debug, Clone)]
pub struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
    mark: usize,
}

impl<'a> ByteReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        ByteReader {
            data,
            pos: 0,
            mark: 0,
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Remembers the position for `to_mark`.
    pub fn set_mark(&mut self) {
        self.mark = self.pos;
    }

    pub fn to_mark(&mut self) {
        self.pos = self.mark;
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn is_at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    /// Everything not yet read.
    pub fn rest(&self) -> &'a [u8] {
        // `pos` never passes the end (only `take` advances it), so this is never the fallback.
        self.data.get(self.pos..).unwrap_or_default()
    }

    pub fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::malformed(self.pos as u64, message)
    }

    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let Some(s) = self.rest().get(..n) else {
            return Err(self.err(format!(
                "truncated: {what} needs {n} bytes, only {} left",
                self.remaining()
            )));
        };
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn bool(&mut self, what: &str) -> Result<bool> {
        Ok(self.u8(what)? != 0)
    }
    pub fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    pub fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }
    pub fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }
    pub fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_bits(u64::from_be_bytes(self.array(what)?)))
    }

    /// `DataInput.readUTF`: u16 length, then modified UTF-8.
    pub fn utf(&mut self, what: &str) -> Result<String> {
        let start = self.pos;
        let n = self.u16(what)? as usize;
        let bytes = self.take(n, what)?;
        decode_modified_utf8(bytes).ok_or_else(|| {
            Error::malformed(start as u64, format!("{what} is not valid modified UTF-8"))
        })
    }
}

/// Decodes Java's modified UTF-8 (`C0 80` for NUL, surrogates as separate 3-byte sequences).
pub fn decode_modified_utf8(bytes: &[u8]) -> Option<String> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Some(s.to_owned());
    }
    let mut units: Vec<u16> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b < 0x80 {
            units.push(b as u16);
            i += 1;
        } else if b & 0xE0 == 0xC0 {
            let c = *bytes.get(i + 1)?;
            units.push((((b & 0x1F) as u16) << 6) | (c & 0x3F) as u16);
            i += 2;
        } else if b & 0xF0 == 0xE0 {
            let c = *bytes.get(i + 1)?;
            let d = *bytes.get(i + 2)?;
            units
                .push((((b & 0x0F) as u16) << 12) | (((c & 0x3F) as u16) << 6) | (d & 0x3F) as u16);
            i += 3;
        } else {
            return None;
        }
    }
    String::from_utf16(&units).ok()
}

/// Encodes a string as Java's modified UTF-8 (what `writeUTF` emits after the length).
pub fn encode_modified_utf8(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for unit in s.encode_utf16() {
        match unit {
            0x0001..=0x007F => out.push(unit as u8),
            0x0000 | 0x0080..=0x07FF => {
                out.push(0xC0 | (unit >> 6) as u8);
                out.push(0x80 | (unit & 0x3F) as u8);
            }
            _ => {
                out.push(0xE0 | (unit >> 12) as u8);
                out.push(0x80 | ((unit >> 6) & 0x3F) as u8);
                out.push(0x80 | (unit & 0x3F) as u8);
            }
        }
    }
    out
}

/// `DataOutput` writing into a vector.
pub trait ByteWriter {
    fn put_u8(&mut self, v: u8);
    fn put_bytes(&mut self, v: &[u8]);
    fn put_bool(&mut self, v: bool) {
        self.put_u8(v as u8);
    }
    fn put_i32(&mut self, v: i32) {
        self.put_bytes(&v.to_be_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.put_bytes(&v.to_be_bytes());
    }
    /// `writeDouble`: Java canonicalises NaN through `doubleToLongBits`.
    fn put_f64(&mut self, v: f64) {
        let bits = if v.is_nan() {
            0x7ff8_0000_0000_0000
        } else {
            v.to_bits()
        };
        self.put_bytes(&bits.to_be_bytes());
    }
    /// `writeUTF`; fails if the encoded string exceeds 65535 bytes as Java does.
    fn put_utf(&mut self, s: &str) -> Result<()> {
        let enc = encode_modified_utf8(s);
        let n = u16::try_from(enc.len()).map_err(|_| {
            Error::Unsupported(format!(
                "string of {} bytes is too long for writeUTF",
                enc.len()
            ))
        })?;
        self.put_bytes(&n.to_be_bytes());
        self.put_bytes(&enc);
        Ok(())
    }
}

impl ByteWriter for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_bytes(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_utf8_round_trips_nul_and_non_bmp() {
        let s = "a\u{0}é€😀";
        let enc = encode_modified_utf8(s);
        assert_eq!(&enc[1..3], &[0xC0, 0x80]);
        assert_eq!(decode_modified_utf8(&enc).unwrap(), s);
    }

    #[test]
    fn reader_reports_offset_of_truncation() {
        let mut r = ByteReader::new(&[0, 5, b'a']);
        let e = r.utf("name").unwrap_err().to_string();
        assert!(e.contains("at byte 2") && e.contains("truncated"), "{e}");
    }
}
