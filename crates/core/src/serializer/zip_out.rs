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
        }
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
                let zip64 = size >= MAX32;
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
                let zip64 = size_hint >= MAX32 - MAX32 / 64;
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
                if !zip64 && (size >= MAX32 || compressed_size >= MAX32) {
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
            if e.size >= MAX32 {
                le64(&mut extra, e.size);
            }
            if e.csize >= MAX32 {
                le64(&mut extra, e.csize);
            }
            if e.offset >= MAX32 {
                le64(&mut extra, e.offset);
            }
            let mut h = Vec::with_capacity(46 + e.name.len() + 4 + extra.len());
            le32(&mut h, CENTRAL_SIG);
            le16(&mut h, e.version);
            le16(&mut h, e.version);
            le16(&mut h, e.flags);
            le16(&mut h, e.method);
            le16(&mut h, DOS_TIME);
            le16(&mut h, DOS_DATE);
            le32(&mut h, e.crc);
            le32(&mut h, e.csize.min(MAX32) as u32);
            le32(&mut h, e.size.min(MAX32) as u32);
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
            le32(&mut h, e.offset.min(MAX32) as u32);
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
        if count >= 0xFFFF || cd_size >= MAX32 || cd_start >= MAX32 {
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
        le16(&mut t, count.min(0xFFFF) as u16);
        le16(&mut t, count.min(0xFFFF) as u16);
        le32(&mut t, cd_size.min(MAX32) as u32);
        le32(&mut t, cd_start.min(MAX32) as u32);
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
