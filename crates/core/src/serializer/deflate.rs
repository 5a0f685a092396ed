//! DEFLATE on every core: the input is cut into chunks that compress on separate threads and
//! are joined into one stream, as pigz does. Each chunk but the last ends with a sync flush (an
//! empty stored block that realigns to a byte), so the concatenation is a single valid DEFLATE
//! stream any inflater reads, `java.util.zip` included. Each chunk is primed with the 32 KiB
//! before it as its dictionary, so matches reach across chunk borders and the ratio stays that
//! of one serial stream. CRC-32s are computed per chunk and combined.

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

/// Uncompressed bytes per chunk: large enough that the sync-flush marks and thread hand-offs
/// cost nothing measurable, small enough to keep every core busy on modest entries.
pub const CHUNK: usize = 1 << 20;

/// DEFLATE's window: the dictionary each chunk gets from the data before it.
const WINDOW: usize = 32 * 1024;

/// A `Write` that deflates what it receives at `level`, in parallel, into `inner`.
pub struct ParallelDeflate<W: Write> {
    inner: W,
    level: u32,
    threads: usize,
    chunk: usize,
    /// Input not yet compressed.
    pending: Vec<u8>,
    /// The last `WINDOW` bytes already compressed: the next chunk's dictionary.
    tail: Vec<u8>,
    crc: crc32fast::Hasher,
    total_in: u64,
    total_out: u64,
    progress: crate::progress::Progress,
}

/// What a finished stream consumed and produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deflated {
    pub crc32: u32,
    pub size: u64,
    pub compressed_size: u64,
}

impl<W: Write> ParallelDeflate<W> {
    pub fn new(inner: W, level: u32) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_threads(inner, level, threads, CHUNK)
    }

    /// Explicit thread count and chunk size (tests use small chunks to exercise the joins).
    pub fn with_threads(inner: W, level: u32, threads: usize, chunk: usize) -> Self {
        let threads = threads.max(1);
        let chunk = chunk.max(1);
        ParallelDeflate {
            inner,
            level: level.min(9),
            threads,
            chunk,
            pending: Vec::with_capacity(chunk * threads * 2),
            tail: Vec::new(),
            crc: crc32fast::Hasher::new(),
            total_in: 0,
            total_out: 0,
            progress: crate::progress::Progress::none(),
        }
    }

    /// Reports each compressed chunk's uncompressed size to `progress`.
    pub fn with_progress(mut self, progress: crate::progress::Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Compresses what is left, ends the stream and returns its sizes and CRC with the writer.
    pub fn finish(mut self) -> io::Result<(Deflated, W)> {
        let data = std::mem::take(&mut self.pending);
        self.compress(&data, true)?;
        let done = Deflated {
            crc32: self.crc.clone().finalize(),
            size: self.total_in,
            compressed_size: self.total_out,
        };
        Ok((done, self.inner))
    }

    /// Compresses `data` (a whole number of chunks unless `last`), writing the output in order.
    fn compress(&mut self, data: &[u8], last: bool) -> io::Result<()> {
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![data]
        } else {
            data.chunks(self.chunk).collect()
        };
        let n = chunks.len();
        let dict_for = |i: usize| -> &[u8] {
            if i == 0 {
                &self.tail
            } else {
                // Chunk `i` starts at `end`, inside `data`. (Without a dictionary the chunk
                // would still be valid DEFLATE, only compressed less.)
                let end = i * self.chunk;
                data.get(end.saturating_sub(WINDOW)..end)
                    .unwrap_or_default()
            }
        };
        let level = self.level;
        let job = |(i, chunk): (usize, &&[u8])| -> io::Result<(Vec<u8>, crc32fast::Hasher)> {
            let mut h = crc32fast::Hasher::new();
            h.update(chunk);
            let out = deflate_chunk(chunk, dict_for(i), level, last && i + 1 == n)?;
            Ok((out, h))
        };
        let results: Vec<io::Result<(Vec<u8>, crc32fast::Hasher)>> = if self.threads == 1 || n == 1
        {
            chunks.iter().enumerate().map(job).collect()
        } else {
            let workers = self.threads.min(n);
            let mut slots: Vec<Option<io::Result<_>>> = (0..n).map(|_| None).collect();
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..workers)
                    .map(|w| {
                        let (job, chunks) = (&job, &chunks);
                        s.spawn(move || {
                            chunks
                                .iter()
                                .enumerate()
                                .skip(w)
                                .step_by(workers)
                                .map(|c| (c.0, job(c)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for h in handles {
                    match h.join() {
                        Ok(done) => {
                            for (i, r) in done {
                                // A missing slot shows as "a chunk was lost" below.
                                if let Some(slot) = slots.get_mut(i) {
                                    *slot = Some(r);
                                }
                            }
                        }
                        Err(p) => std::panic::resume_unwind(p),
                    }
                }
            });
            slots
                .into_iter()
                .map(|s| s.unwrap_or_else(|| Err(io::Error::other("a chunk was lost"))))
                .collect()
        };
        for (r, chunk) in results.into_iter().zip(&chunks) {
            let (out, h) = r?;
            self.inner.write_all(&out)?;
            self.crc.combine(&h);
            self.total_out += out.len() as u64;
            self.total_in += chunk.len() as u64;
            self.progress.advance(chunk.len() as u64);
        }
        let recent = data
            .get(data.len().saturating_sub(WINDOW)..)
            .unwrap_or_default();
        let keep = recent.len();
        if keep == WINDOW {
            self.tail.clear();
        } else {
            // A short batch: keep the older tail bytes so the window stays full.
            let drop = (self.tail.len() + keep).saturating_sub(WINDOW);
            self.tail.drain(..drop);
        }
        self.tail.extend_from_slice(recent);
        Ok(())
    }
}

impl<W: Write> Write for ParallelDeflate<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let batch = self.chunk * self.threads * 2;
        if self.pending.len() >= batch {
            // Keep the remainder; compress whole chunks only.
            let take = self.pending.len() / self.chunk * self.chunk;
            let data: Vec<u8> = self.pending.drain(..take).collect();
            self.compress(&data, false)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One chunk as raw DEFLATE: primed with `dict`, ending in a sync flush or, for the last
/// chunk, the final block.
fn deflate_chunk(input: &[u8], dict: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dict.is_empty() && level > 0 {
        c.set_dictionary(dict)
            .map_err(|e| io::Error::other(format!("deflate dictionary: {e}")))?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Stored blocks bound the output: 5 bytes per 16 KiB block plus the flush marks.
    let mut out = Vec::with_capacity(input.len() + input.len() / 1000 + 64);
    let mut consumed = 0usize;
    loop {
        if out.len() == out.capacity() {
            out.reserve(64 * 1024);
        }
        let before = c.total_in();
        let rest = input
            .get(consumed..)
            .ok_or_else(|| io::Error::other("deflate: consumed more than its input"))?;
        let status = c
            .compress_vec(rest, &mut out, flush)
            .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
        consumed += (c.total_in() - before) as usize;
        let done = match status {
            Status::StreamEnd => true,
            // Sync flush is complete when all input is in and there was room to spare.
            Status::Ok | Status::BufError => {
                !last && consumed == input.len() && out.len() < out.capacity()
            }
        };
        if done {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        // Float-like data with some repetition, as parameters are.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 7 < 3 {
                    (i % 251) as u8
                } else {
                    x as u8
                }
            })
            .collect()
    }

    fn inflate(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn joined_chunks_inflate_to_the_input() {
        for (n, threads, chunk, level) in [
            (0, 2, 1000, 6),
            (1, 2, 1000, 6),
            (999, 2, 1000, 6),
            (1000, 2, 1000, 6),
            (12_345, 2, 1000, 6),
            (100_000, 3, 4096, 1),
            (100_000, 2, 70_000, 9),
            (250_000, 4, 40_000, 6),
        ] {
            let data = sample(n);
            let mut d = ParallelDeflate::with_threads(Vec::new(), level, threads, chunk);
            // Uneven writes exercise the batching.
            for piece in data.chunks(777) {
                d.write_all(piece).unwrap();
            }
            let (done, out) = d.finish().unwrap();
            assert_eq!(inflate(&out), data, "n={n} threads={threads} chunk={chunk}");
            assert_eq!(done.size, n as u64);
            assert_eq!(done.compressed_size, out.len() as u64);
            assert_eq!(done.crc32, crc32fast::hash(&data));
        }
    }

    #[test]
    fn the_ratio_is_that_of_one_stream() {
        let data = sample(600_000);
        let mut serial = flate2::write::DeflateEncoder::new(Vec::new(), Compression::new(6));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap();
        let mut d = ParallelDeflate::with_threads(Vec::new(), 6, 4, 50_000);
        d.write_all(&data).unwrap();
        let (_, par) = d.finish().unwrap();
        // Dictionaries keep matches across borders: within 1% of the serial stream.
        assert!(
            (par.len() as f64) < serial.len() as f64 * 1.01,
            "{} vs {}",
            par.len(),
            serial.len()
        );
    }
}
