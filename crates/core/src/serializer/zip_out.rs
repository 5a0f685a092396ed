//! A streaming zip writer shaped like `java.util.zip.ZipOutputStream`, which DL4J saves with:
//! DEFLATED entries carry their CRC and sizes in a data descriptor after the data; STORED entries
//! carry them in the local header (Java's `ZipInputStream` refuses stored entries with
//! descriptors); no directory entries; times at the DOS epoch so output is reproducible. Zip64
//! records appear only where a size, an offset or the entry count needs them.
//!
//! Written here rather than through the `zip` crate because DEFLATE data is produced by
//! [`super::deflate::ParallelDeflate`], on every core.

use std::io::{self, Write};

use super::deflate::{Deflated, ParallelDeflate};
use crate::progress::Progress;

const LOCAL_SIG: u32 = 0x0403_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const ZIP64_END_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;
/// 1980-01-01 00:00, the DOS epoch.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
const MAX32: u64 = 0xFFFF_FFFF;

/// How an entry is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    /// DEFLATE at this level (1..=9).
    Deflated(u32),
}

struct Central {
    name: Vec<u8>,
    flags: u16,
    method: u16,
    version: u16,
    crc: u32,
    size: u64,
    csize: u64,
    offset: u64,
}

/// Counts what passes through to the output.
struct Counting<W> {
    inner: W,
    at: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.at += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes and counts what is written, keeping nothing.
struct Measure {
    crc: crc32fast::Hasher,
    size: u64,
}

impl Write for Measure {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.crc.update(buf);
        self.size += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Progress for stored entries, reported as their bytes pass.
struct Reporting<'a, W> {
    inner: W,
    progress: &'a Progress,
}

impl<W: Write> Write for Reporting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub struct ZipOut<W: Write> {
    out: Counting<W>,
    entries: Vec<Central>,
    progress: Progress,
    /// Sizes and offsets from here on get zip64 fields (tests lower it to exercise them).
    zip64_at: u64,
}

fn le16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

impl<W: Write> ZipOut<W> {
    pub fn new(out: W) -> Self {
        ZipOut {
            out: Counting { inner: out, at: 0 },
            entries: Vec::new(),
            progress: Progress::none(),
            zip64_at: MAX32,
        }
    }

    #[cfg(test)]
    fn with_zip64_at(mut self, at: u64) -> Self {
        self.zip64_at = at;
        self
    }

    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Adds an entry whose bytes `produce` writes. Stored entries call it twice (once to
    /// measure the CRC and size for the local header, once to write), so it must be repeatable.
    /// `size_hint` is an upper bound of the uncompressed size; entries that may reach 4 GiB get
    /// zip64 fields from the start.
    pub fn add(
        &mut self,
        name: &str,
        method: Method,
        size_hint: u64,
        produce: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let name_bytes = name.as_bytes().to_vec();
        if name_bytes.len() > u16::MAX as usize {
            return Err(io::Error::other(format!(
                "entry name of {} bytes is too long for a zip",
                name_bytes.len()
            )));
        }
        let utf8 = if name.is_ascii() { 0 } else { FLAG_UTF8 };
        let offset = self.out.at;
        match method {
            Method::Stored => {
                let mut m = Measure {
                    crc: crc32fast::Hasher::new(),
                    size: 0,
                };
                produce(&mut m)?;
                let (crc, size) = (m.crc.finalize(), m.size);
                let zip64 = size >= self.zip64_at;
                let version = if zip64 { 45 } else { 10 };
                let mut h = Vec::with_capacity(30 + name_bytes.len() + 20);
                le32(&mut h, LOCAL_SIG);
                le16(&mut h, version);
                le16(&mut h, utf8);
                le16(&mut h, 0);
                le16(&mut h, DOS_TIME);
                le16(&mut h, DOS_DATE);
                le32(&mut h, crc);
                let s32 = if zip64 { MAX32 as u32 } else { size as u32 };
                le32(&mut h, s32);
                le32(&mut h, s32);
                le16(&mut h, name_bytes.len() as u16);
                le16(&mut h, if zip64 { 20 } else { 0 });
                h.extend_from_slice(&name_bytes);
                if zip64 {
                    le16(&mut h, ZIP64_EXTRA);
                    le16(&mut h, 16);
                    le64(&mut h, size);
                    le64(&mut h, size);
                }
                self.out.write_all(&h)?;
                let mut check = Measure {
                    crc: crc32fast::Hasher::new(),
                    size: 0,
                };
                {
                    let mut tee = Tee {
                        a: Reporting {
                            inner: &mut self.out,
                            progress: &self.progress,
                        },
                        b: &mut check,
                    };
                    produce(&mut tee)?;
                }
                if check.size != size || check.crc.finalize() != crc {
                    return Err(io::Error::other(format!(
                        "entry {name:?} changed between measuring and writing"
                    )));
                }
                self.entries.push(Central {
                    name: name_bytes,
                    flags: utf8,
                    method: 0,
                    version,
                    crc,
                    size,
                    csize: size,
                    offset,
                });
            }
            Method::Deflated(level) => {
                // Deflate can grow incompressible data slightly: leave room below 4 GiB.
                let zip64 = size_hint >= self.zip64_at - self.zip64_at / 64;
                let version = if zip64 { 45 } else { 20 };
                let flags = FLAG_DESCRIPTOR | utf8;
                let mut h = Vec::with_capacity(30 + name_bytes.len() + 20);
                le32(&mut h, LOCAL_SIG);
                le16(&mut h, version);
                le16(&mut h, flags);
                le16(&mut h, 8);
                le16(&mut h, DOS_TIME);
                le16(&mut h, DOS_DATE);
                le32(&mut h, 0);
                let s32 = if zip64 { MAX32 as u32 } else { 0 };
                le32(&mut h, s32);
                le32(&mut h, s32);
                le16(&mut h, name_bytes.len() as u16);
                le16(&mut h, if zip64 { 20 } else { 0 });
                h.extend_from_slice(&name_bytes);
                if zip64 {
                    le16(&mut h, ZIP64_EXTRA);
                    le16(&mut h, 16);
                    le64(&mut h, 0);
                    le64(&mut h, 0);
                }
                self.out.write_all(&h)?;
                let mut d =
                    ParallelDeflate::new(&mut self.out, level).with_progress(self.progress.clone());
                produce(&mut d)?;
                let (done, _) = d.finish()?;
                let Deflated {
                    crc32,
                    size,
                    compressed_size,
                } = done;
                if !zip64 && (size >= self.zip64_at || compressed_size >= self.zip64_at) {
                    return Err(io::Error::other(format!(
                        "entry {name:?} grew to {size} bytes, past its size hint of {size_hint}"
                    )));
                }
                let mut dd = Vec::with_capacity(24);
                le32(&mut dd, DESCRIPTOR_SIG);
                le32(&mut dd, crc32);
                if zip64 {
                    le64(&mut dd, compressed_size);
                    le64(&mut dd, size);
                } else {
                    le32(&mut dd, compressed_size as u32);
                    le32(&mut dd, size as u32);
                }
                self.out.write_all(&dd)?;
                self.entries.push(Central {
                    name: name_bytes,
                    flags,
                    method: 8,
                    version,
                    crc: crc32,
                    size,
                    csize: compressed_size,
                    offset,
                });
            }
        }
        Ok(())
    }

    /// Writes the central directory and the end records; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_start = self.out.at;
        for e in &self.entries {
            let mut extra = Vec::new();
            let (big_size, big_csize, big_offset) = (
                e.size >= self.zip64_at,
                e.csize >= self.zip64_at,
                e.offset >= self.zip64_at,
            );
            if big_size {
                le64(&mut extra, e.size);
            }
            if big_csize {
                le64(&mut extra, e.csize);
            }
            if big_offset {
                le64(&mut extra, e.offset);
            }
            let field = |big: bool, v: u64| if big { MAX32 as u32 } else { v as u32 };
            let mut h = Vec::with_capacity(46 + e.name.len() + 4 + extra.len());
            le32(&mut h, CENTRAL_SIG);
            le16(&mut h, e.version);
            le16(&mut h, e.version);
            le16(&mut h, e.flags);
            le16(&mut h, e.method);
            le16(&mut h, DOS_TIME);
            le16(&mut h, DOS_DATE);
            le32(&mut h, e.crc);
            le32(&mut h, field(big_csize, e.csize));
            le32(&mut h, field(big_size, e.size));
            le16(&mut h, e.name.len() as u16);
            le16(
                &mut h,
                if extra.is_empty() {
                    0
                } else {
                    4 + extra.len() as u16
                },
            );
            le16(&mut h, 0); // comment
            le16(&mut h, 0); // disk
            le16(&mut h, 0); // internal attributes
            le32(&mut h, 0); // external attributes
            le32(&mut h, field(big_offset, e.offset));
            h.extend_from_slice(&e.name);
            if !extra.is_empty() {
                le16(&mut h, ZIP64_EXTRA);
                le16(&mut h, extra.len() as u16);
                h.extend_from_slice(&extra);
            }
            self.out.write_all(&h)?;
        }
        let cd_end = self.out.at;
        let (count, cd_size) = (self.entries.len() as u64, cd_end - cd_start);
        let mut t = Vec::with_capacity(100);
        let zip64_end = count >= 0xFFFF || cd_size >= self.zip64_at || cd_start >= self.zip64_at;
        if zip64_end {
            le32(&mut t, ZIP64_END_SIG);
            le64(&mut t, 44);
            le16(&mut t, 45);
            le16(&mut t, 45);
            le32(&mut t, 0);
            le32(&mut t, 0);
            le64(&mut t, count);
            le64(&mut t, count);
            le64(&mut t, cd_size);
            le64(&mut t, cd_start);
            le32(&mut t, ZIP64_LOCATOR_SIG);
            le32(&mut t, 0);
            le64(&mut t, cd_end);
            le32(&mut t, 1);
        }
        le32(&mut t, END_SIG);
        le16(&mut t, 0);
        le16(&mut t, 0);
        let (n16, size32, start32) = if zip64_end {
            (0xFFFF, MAX32 as u32, MAX32 as u32)
        } else {
            (count as u16, cd_size as u32, cd_start as u32)
        };
        le16(&mut t, n16);
        le16(&mut t, n16);
        le32(&mut t, size32);
        le32(&mut t, start32);
        le16(&mut t, 0);
        self.out.write_all(&t)?;
        self.out.flush()?;
        Ok(self.out.inner)
    }
}

/// Writes to both.
struct Tee<A, B> {
    a: A,
    b: B,
}

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.a.write_all(buf)?;
        self.b.write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.a.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries() -> Vec<(String, Vec<u8>)> {
        vec![
            ("configuration.json".into(), b"{\"a\": 1}".repeat(50)),
            (
                "coefficients.bin".into(),
                (0..300_000u32)
                    .flat_map(|i| (i % 977).to_be_bytes())
                    .collect(),
            ),
            ("objects/\u{e9}t\u{e9}".into(), vec![]),
        ]
    }

    fn write(method: Method, zip64_at: u64) -> Vec<u8> {
        let mut z = ZipOut::new(Vec::new()).with_zip64_at(zip64_at);
        for (name, data) in entries() {
            let hint = data.len() as u64;
            z.add(&name, method, hint, &mut |w| w.write_all(&data))
                .unwrap();
        }
        z.finish().unwrap()
    }

    /// Read back with the `zip` crate, which checks every CRC and size.
    fn read(bytes: &[u8]) -> Vec<(String, Vec<u8>, zip::CompressionMethod)> {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        (0..z.len())
            .map(|i| {
                let mut f = z.by_index(i).unwrap();
                let mut v = Vec::new();
                f.read_to_end(&mut v).unwrap();
                (f.name().unwrap().to_string(), v, f.compression())
            })
            .collect()
    }

    #[test]
    fn entries_read_back_with_and_without_zip64_fields() {
        for method in [Method::Stored, Method::Deflated(6), Method::Deflated(2)] {
            // 0 puts every size, offset and the end record in zip64 fields.
            for zip64_at in [MAX32, 0] {
                let bytes = write(method, zip64_at);
                let back = read(&bytes);
                let want = entries();
                assert_eq!(back.len(), want.len());
                for ((n, d, m), (wn, wd)) in back.iter().zip(&want) {
                    assert_eq!(n, wn);
                    assert!(d == wd, "{n} {method:?} {zip64_at}");
                    let stored = matches!(method, Method::Stored);
                    assert_eq!(*m == zip::CompressionMethod::Stored, stored);
                }
                assert_eq!(
                    zip64_at == 0,
                    bytes.windows(4).any(|w| w == ZIP64_END_SIG.to_le_bytes())
                );
            }
        }
    }

    #[test]
    fn stored_entries_carry_their_sizes_up_front() {
        // Java's ZipInputStream reads stored entries only with sizes in the local header.
        let bytes = write(Method::Stored, MAX32);
        let flags = u16::from_le_bytes([bytes[6], bytes[7]]);
        assert_eq!(flags & FLAG_DESCRIPTOR, 0);
        let size = u32::from_le_bytes(bytes[22..26].try_into().unwrap());
        assert_eq!(size as usize, entries()[0].1.len());
        let deflated = write(Method::Deflated(6), MAX32);
        let flags = u16::from_le_bytes([deflated[6], deflated[7]]);
        assert_ne!(flags & FLAG_DESCRIPTOR, 0);
    }

    #[test]
    fn an_entry_that_changes_between_passes_is_an_error() {
        let mut z = ZipOut::new(Vec::new());
        let mut calls = 0;
        let e = z
            .add("x", Method::Stored, 4, &mut |w| {
                calls += 1;
                w.write_all(&[calls as u8; 4])
            })
            .unwrap_err();
        assert!(e.to_string().contains("changed"), "{e}");
    }
}
