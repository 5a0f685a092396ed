//! A DL4J archive as named tensors plus string metadata, and back: the layout the safetensors
//! export uses (and any container with named little-endian tensors can carry).
//!
//! Parameters are named by DL4J's keys in their logical shapes, updater state by
//! `updater.<param>.<piece>`, the normalizer by `normalizer.<field>` / `normalizer.raw`, objects
//! and other entries as U8 `objects.<key>` / `entries.<name>`; the metadata (keys in [`meta`])
//! holds the configuration text and everything else needed to rebuild the exact archive.

mod flatten;
pub mod le;
pub mod meta;
mod rebuild;

use crate::error::Result;
use crate::tensor::DType;

pub use flatten::flatten;
pub use rebuild::rebuild;

/// Streams a tensor's little-endian bytes to a sink.
pub type StreamBytes<'a> = dyn Fn(&mut le::Sink) -> Result<()> + Send + Sync + 'a;

/// A tensor to write: its little-endian bytes are produced only when asked for.
pub struct NamedTensor<'a> {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Streams the little-endian bytes to the sink, in pieces (never the whole tensor copied).
    pub bytes: Box<StreamBytes<'a>>,
}

impl NamedTensor<'_> {
    pub fn byte_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }

    /// Streams the tensor's bytes to `sink`, checking that they are exactly `byte_len` long.
    pub fn stream(&self, sink: &mut le::Sink) -> Result<()> {
        let mut n = 0usize;
        (self.bytes)(&mut |b: &[u8]| {
            n += b.len();
            sink(b)
        })?;
        if n != self.byte_len() {
            return Err(crate::Error::Inconsistent(format!(
                "tensor {:?}: {n} bytes produced for shape {:?} of {}",
                self.name, self.shape, self.dtype
            )));
        }
        Ok(())
    }
}

/// An archive flattened for a container.
pub struct Flattened<'a> {
    pub tensors: Vec<NamedTensor<'a>>,
    pub metadata: Vec<(String, String)>,
}

/// A stored tensor: dtype (`None` if the container's type has no DL4J equivalent), shape and
/// little-endian bytes.
pub struct TensorView<'a> {
    pub name: &'a str,
    pub dtype: Option<DType>,
    pub shape: &'a [usize],
    pub data: &'a [u8],
}

/// What `rebuild` reads from: named tensors and string metadata.
pub trait TensorSource {
    fn tensor(&self, name: &str) -> Option<TensorView<'_>>;
    fn metadata(&self, key: &str) -> Option<&str>;
}

/// Whether metadata says the tensors were written from a DL4J archive.
pub fn is_dl4j(source: &dyn TensorSource) -> bool {
    source.metadata(meta::FORMAT) == Some(meta::FORMAT_VALUE)
}
