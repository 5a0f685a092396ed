//! The stable C ABI between the `dl4j` host and format plugins loaded at run time, and the kit
//! that turns ordinary [`Reader`](dl4j_core::Reader) / [`Writer`](dl4j_core::Writer)
//! implementations into such a plugin (see `docs/plugins.md`).
//!
//! Rules of the boundary:
//! - Only the `#[repr(C)]` types and `extern "C"` functions below cross it: no Rust types, trait
//!   objects, panics or allocator assumptions.
//! - A plugin exports one symbol, [`ENTRY_SYMBOL`], of type [`EntryFn`]; it returns a pointer to
//!   a [`Dl4jPlugin`] descriptor that stays valid (and unchanged) until the process ends. The
//!   host never unloads a plugin.
//! - `abi_version` is the descriptor's first field in every ABI version, so a host can always
//!   read it and refuse a plugin built for another version before touching anything else.
//! - Bytes passed *into* a plugin ([`Dl4jBytes`]) are borrowed for the duration of the call.
//!   Buffers a plugin returns ([`Dl4jBuffer`]) are allocated by the plugin and handed back to its
//!   own `free_buffer`; the host never frees them itself.
//! - Archives cross as one byte buffer in the interchange encoding ([`interchange`]): the
//!   lossless safetensors layout dl4j writes (every parameter, updater piece, normalizer array,
//!   object and entry as a named tensor, the configuration and the rest in its metadata).
//! - Options cross as UTF-8 JSON ([`options`]). Errors come back as a status code plus a UTF-8
//!   message in the error buffer.

// A hostile file must give an error, never a panic: library code has no unwrap, expect or
// unchecked indexing (tests may).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::os::raw::c_char;

pub mod host;
pub mod interchange;
pub mod kit;
pub mod options;
#[cfg(test)]
mod tests;

pub use host::{describe, FormatInfo, PluginHandle, PluginInfo};
pub use kit::{PluginFormat, PluginFormats};

/// The ABI version this crate describes. A host loads only plugins built for the same version.
pub const ABI_VERSION: u32 = 1;

/// Name of the entry function a plugin exports (`extern "C" fn() -> *const Dl4jPlugin`).
pub const ENTRY_SYMBOL: &str = "dl4j_plugin_entry";

/// The entry function's type.
pub type EntryFn = unsafe extern "C" fn() -> *const Dl4jPlugin;

/// Status codes of [`Dl4jPlugin::read`] and [`Dl4jPlugin::write`].
pub mod status {
    /// Success: the output buffer holds the result.
    pub const OK: i32 = 0;
    /// The input is not valid for this format (or the archive cannot be written in it); the
    /// error buffer holds the message.
    pub const ERROR: i32 = 1;
    /// The format does not read (or write) at all.
    pub const UNSUPPORTED: i32 = 2;
    /// The plugin panicked; the panic was caught at the boundary and its message is in the
    /// error buffer.
    pub const PANIC: i32 = 3;
    /// The host passed something invalid (format index out of range, malformed options).
    pub const BAD_ARGUMENT: i32 = 4;
}

/// Bytes lent to the callee for the duration of one call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Dl4jBytes {
    pub data: *const u8,
    pub len: usize,
}

impl Dl4jBytes {
    pub fn from_slice(s: &[u8]) -> Dl4jBytes {
        Dl4jBytes {
            data: s.as_ptr(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `data` must point to `len` readable bytes that outlive the returned slice (or be null
    /// with `len` 0).
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        if self.data.is_null() || self.len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(self.data, self.len)
        }
    }
}

/// Bytes allocated by the plugin and returned to the host, released by the plugin's
/// `free_buffer` (never by the host's allocator).
#[repr(C)]
#[derive(Debug)]
pub struct Dl4jBuffer {
    pub data: *mut u8,
    pub len: usize,
    /// Allocation size, for the plugin's own `free_buffer`.
    pub capacity: usize,
}

impl Dl4jBuffer {
    pub const EMPTY: Dl4jBuffer = Dl4jBuffer {
        data: std::ptr::null_mut(),
        len: 0,
        capacity: 0,
    };
}

/// A magic-byte signature: `bytes` at `offset` from the start of a file.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Dl4jMagic {
    pub offset: usize,
    pub bytes: Dl4jBytes,
}

/// One format a plugin provides. Strings are NUL-terminated UTF-8.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Dl4jFormat {
    /// Format id on the command line (`npz`); must not clash with any other loaded format.
    pub id: *const c_char,
    pub description: *const c_char,
    /// Lower-case file extensions without the dot.
    pub extensions: *const *const c_char,
    pub n_extensions: usize,
    /// Magic-byte signatures (documentation for users and `dl4j plugins`); detection itself
    /// calls `detect`, which may look at more than these.
    pub magic: *const Dl4jMagic,
    pub n_magic: usize,
    /// 1 if the format reads, 0 if not.
    pub can_read: u8,
    /// 1 if the format writes, 0 if not.
    pub can_write: u8,
}

/// The descriptor a plugin's entry function returns.
#[repr(C)]
#[derive(Debug)]
pub struct Dl4jPlugin {
    /// Always the first field: [`ABI_VERSION`] of the kit the plugin was built with.
    pub abi_version: u32,
    /// Plugin name and version, NUL-terminated UTF-8.
    pub name: *const c_char,
    pub version: *const c_char,
    pub formats: *const Dl4jFormat,
    pub n_formats: usize,
    /// 1 if `input` looks like format `format` (an index into `formats`), else 0.
    pub detect: unsafe extern "C" fn(format: usize, input: Dl4jBytes) -> i32,
    /// Reads a whole file in format `format`: on [`status::OK`], `out` holds the archive in the
    /// interchange encoding; otherwise `error` holds a message. `options` is JSON
    /// ([`options::ReadOptionsJson`]).
    pub read: unsafe extern "C" fn(
        format: usize,
        input: Dl4jBytes,
        options: Dl4jBytes,
        out: *mut Dl4jBuffer,
        error: *mut Dl4jBuffer,
    ) -> i32,
    /// Writes an archive (interchange encoding) in format `format`: on [`status::OK`], `out`
    /// holds the file's bytes; otherwise `error` holds a message. `options` is JSON
    /// ([`options::WriteOptionsJson`]).
    pub write: unsafe extern "C" fn(
        format: usize,
        archive: Dl4jBytes,
        options: Dl4jBytes,
        out: *mut Dl4jBuffer,
        error: *mut Dl4jBuffer,
    ) -> i32,
    /// Releases a buffer this plugin returned.
    pub free_buffer: unsafe extern "C" fn(buffer: Dl4jBuffer),
}

// The descriptor is immutable static data shared by all threads.
unsafe impl Sync for Dl4jPlugin {}
unsafe impl Send for Dl4jPlugin {}
unsafe impl Sync for Dl4jFormat {}
unsafe impl Send for Dl4jFormat {}
