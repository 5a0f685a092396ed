//! Where an ND4J array is read from: a byte slice, or a stream of known length (a zip entry
//! being inflated), so large arrays are decoded without first holding their bytes.

use std::io::Read;

use crate::bytes::{decode_modified_utf8, ByteReader};
use crate::error::{Error, Result};
use crate::tensor::{DType, TensorData};

/// Bytes decoded per step when streaming element data.
const CHUNK: usize = 1 << 16;

/// Sequential input with bounded length, able to re-read a short header (`mark` / `rewind`).
pub trait ArrayInput {
    /// Absolute position (for error messages).
    fn pos(&self) -> usize;
    /// Upper bound of the bytes still to come.
    fn remaining(&self) -> u64;
    /// `n` bytes (headers only: callers keep `n` small).
    fn take_vec(&mut self, n: usize, what: &str) -> Result<Vec<u8>>;
    /// `len` big-endian elements of `dtype`.
    fn elements(&mut self, dtype: DType, len: u64, what: &str) -> Result<TensorData>;
    /// Nothing left.
    fn at_end(&mut self) -> Result<bool>;
    /// Starts remembering consumed bytes so that `rewind` can return to this point.
    fn mark(&mut self);
    fn rewind(&mut self);

    fn err(&self, message: String) -> Error {
        Error::malformed(self.pos() as u64, message)
    }
    fn utf(&mut self, what: &str) -> Result<String> {
        let start = self.pos();
        let n = u16::from_be_bytes(take_exact(self, what)?) as usize;
        let bytes = self.take_vec(n, what)?;
        decode_modified_utf8(&bytes).ok_or_else(|| {
            Error::malformed(start as u64, format!("{what} is not valid modified UTF-8"))
        })
    }
    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(take_exact(self, what)?))
    }
    fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_be_bytes(take_exact(self, what)?))
    }
}

/// Exactly `N` bytes from `take_vec`.
fn take_exact<const N: usize, I: ArrayInput + ?Sized>(r: &mut I, what: &str) -> Result<[u8; N]> {
    let v = r.take_vec(N, what)?;
    let got = v.len();
    v.try_into()
        .map_err(|_| r.err(format!("{what}: got {got} bytes instead of {N}")))
}

/// Checks `len` elements of `size` bytes can be there before anything is allocated.
fn check_len<I: ArrayInput + ?Sized>(r: &I, len: u64, size: usize, what: &str) -> Result<usize> {
    match len.checked_mul(size as u64) {
        Some(n) if n <= r.remaining() => Ok(len as usize),
        _ => Err(r.err(format!(
            "truncated or corrupt: {what} claims {len} elements of {size} bytes but only {} bytes follow",
            r.remaining()
        ))),
    }
}

impl ArrayInput for ByteReader<'_> {
    fn pos(&self) -> usize {
        ByteReader::pos(self)
    }
    fn remaining(&self) -> u64 {
        ByteReader::remaining(self) as u64
    }
    fn take_vec(&mut self, n: usize, what: &str) -> Result<Vec<u8>> {
        Ok(self.take(n, what)?.to_vec())
    }
    fn elements(&mut self, dtype: DType, len: u64, what: &str) -> Result<TensorData> {
        let n = check_len(self, len, dtype.size(), what)?;
        Ok(crate::nd4j::decode_be(
            dtype,
            self.take(n * dtype.size(), what)?,
        ))
    }
    fn at_end(&mut self) -> Result<bool> {
        Ok(self.is_at_end())
    }
    fn mark(&mut self) {
        self.set_mark();
    }
    fn rewind(&mut self) {
        self.to_mark();
    }
}

/// A stream of at most `limit` bytes.
pub struct StreamInput<R: Read> {
    inner: R,
    pos: usize,
    limit: u64,
    /// Bytes to hand out again before reading `inner` (after a rewind or a peek).
    replay: Vec<u8>,
    recording: Option<Vec<u8>>,
}

impl<R: Read> StreamInput<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        StreamInput {
            inner,
            pos: 0,
            limit,
            replay: Vec::new(),
            recording: None,
        }
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        let mut from_replay = 0;
        for (dst, &src) in buf.iter_mut().zip(&self.replay) {
            *dst = src;
            from_replay += 1;
        }
        self.replay.drain(..from_replay);
        self.inner
            .read_exact(buf.get_mut(from_replay..).unwrap_or_default())
            .map_err(|e| {
                self.err(match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => {
                        format!("truncated: {what} runs past the end")
                    }
                    _ => format!("{what}: {e}"),
                })
            })?;
        if let Some(rec) = &mut self.recording {
            rec.extend_from_slice(buf);
        }
        self.pos += buf.len();
        Ok(())
    }
}

impl<R: Read> ArrayInput for StreamInput<R> {
    fn pos(&self) -> usize {
        self.pos
    }
    fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.pos as u64)
    }
    fn take_vec(&mut self, n: usize, what: &str) -> Result<Vec<u8>> {
        if n as u64 > self.remaining() {
            return Err(self.err(format!(
                "truncated: {what} needs {n} bytes, only {} left",
                self.remaining()
            )));
        }
        let mut v = vec![0u8; n];
        self.fill(&mut v, what)?;
        Ok(v)
    }
    fn elements(&mut self, dtype: DType, len: u64, what: &str) -> Result<TensorData> {
        let n = check_len(self, len, dtype.size(), what)?;
        let size = dtype.size();
        let mut out = TensorData::try_with_capacity(dtype, n).map_err(|e| self.err(e))?;
        let mut buf = vec![0u8; (CHUNK / size).max(1) * size];
        let mut left = n * size;
        while left > 0 {
            // Only the last step is shorter than the buffer.
            buf.truncate(left);
            self.fill(&mut buf, what)?;
            crate::nd4j::extend_be(&mut out, &buf);
            left -= buf.len();
        }
        Ok(out)
    }
    fn at_end(&mut self) -> Result<bool> {
        if !self.replay.is_empty() {
            return Ok(false);
        }
        let mut b = [0u8; 1];
        loop {
            match self.inner.read(&mut b) {
                Ok(0) => return Ok(true),
                Ok(_) => {
                    self.replay.push(b[0]);
                    return Ok(false);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.err(format!("reading: {e}"))),
            }
        }
    }
    fn mark(&mut self) {
        self.recording = Some(Vec::new());
    }
    fn rewind(&mut self) {
        if let Some(rec) = self.recording.take() {
            self.pos -= rec.len();
            let mut replay = rec;
            replay.append(&mut self.replay);
            self.replay = replay;
        }
    }
}
