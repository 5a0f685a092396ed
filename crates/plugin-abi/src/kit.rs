//! The plugin side: describe formats as [`PluginFormat`]s backed by ordinary
//! [`Reader`](dl4j_core::Reader) / [`Writer`](dl4j_core::Writer) implementations, and let
//! [`dl4j_plugin!`](crate::dl4j_plugin) export them through the C ABI.
//!
//! ```ignore
//! static NPZ: Npz = Npz;
//! const NPZ_FORMAT: PluginFormat = PluginFormat {
//!     id: "npz",
//!     description: "NumPy .npz archive",
//!     extensions: &["npz"],
//!     magic: &[(0, b"PK\x03\x04")],
//!     detect: looks_like_npz,
//!     reader: Some(&NPZ),
//!     writer: Some(&NPZ),
//! };
//! dl4j_plugin_abi::dl4j_plugin! {
//!     name: "npz",
//!     version: env!("CARGO_PKG_VERSION"),
//!     formats: [NPZ_FORMAT],
//! }
//! ```
//!
//! The functions below are what the generated descriptor points at. Each one catches panics
//! (reported as [`status::PANIC`] with the panic message), never unwinds into the host, and
//! tolerates null out/error pointers ([`status::BAD_ARGUMENT`]).

use std::ffi::CString;
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::{
    interchange, options, status, Dl4jBuffer, Dl4jBytes, Dl4jFormat, Dl4jMagic, Dl4jPlugin,
};

/// One format a plugin provides.
#[derive(Clone, Copy)]
pub struct PluginFormat {
    /// Format id on the command line; must not clash with dl4j's own formats or other plugins'.
    pub id: &'static str,
    /// One line for `dl4j formats` / `dl4j plugins`.
    pub description: &'static str,
    /// Lower-case file extensions without the dot.
    pub extensions: &'static [&'static str],
    /// Magic-byte signatures `(offset, bytes)`, for documentation; detection calls `detect`.
    pub magic: &'static [(usize, &'static [u8])],
    /// Does this content look like the format? Keep it cheap and strict: it runs on every
    /// input whose format is not given.
    pub detect: fn(&[u8]) -> bool,
    pub reader: Option<&'static dyn dl4j_core::Reader>,
    pub writer: Option<&'static dyn dl4j_core::Writer>,
}

impl std::fmt::Debug for PluginFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginFormat")
            .field("id", &self.id)
            .field("extensions", &self.extensions)
            .field("reads", &self.reader.is_some())
            .field("writes", &self.writer.is_some())
            .finish()
    }
}

/// The formats of one plugin; implemented by the type [`dl4j_plugin!`](crate::dl4j_plugin)
/// generates. The `extern "C"` functions of this module are generic over it.
pub trait PluginFormats: 'static {
    fn formats() -> &'static [PluginFormat];
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// Drops a panic payload without letting a panicking destructor escape.
fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
}

/// A buffer owning `v`'s allocation, released by [`free_buffer`].
pub fn buffer_from_vec(v: Vec<u8>) -> Dl4jBuffer {
    if v.capacity() == 0 {
        return Dl4jBuffer::EMPTY;
    }
    let mut v = std::mem::ManuallyDrop::new(v);
    Dl4jBuffer {
        data: v.as_mut_ptr(),
        len: v.len(),
        capacity: v.capacity(),
    }
}

/// Releases a buffer [`buffer_from_vec`] made (the plugin's `free_buffer`). Null is a no-op.
///
/// # Safety
/// `buffer` must come from [`buffer_from_vec`] in this same plugin and not be freed before.
pub unsafe extern "C" fn free_buffer(buffer: Dl4jBuffer) {
    if buffer.data.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        drop(Vec::from_raw_parts(
            buffer.data,
            buffer.len,
            buffer.capacity,
        ))
    }));
}

/// 1 if `input` looks like format `format`; 0 otherwise, for a bad index, or if `detect`
/// panicked.
///
/// # Safety
/// `input` must describe readable bytes for the duration of the call.
pub unsafe extern "C" fn detect<P: PluginFormats>(format: usize, input: Dl4jBytes) -> i32 {
    let bytes = input.as_slice();
    match catch_unwind(AssertUnwindSafe(|| {
        P::formats().get(format).is_some_and(|f| (f.detect)(bytes))
    })) {
        Ok(true) => 1,
        Ok(false) => 0,
        Err(payload) => {
            drop_payload(payload);
            0
        }
    }
}

/// A failed call: status and message.
struct Failure(i32, String);

fn format_at<P: PluginFormats>(format: usize) -> Result<&'static PluginFormat, Failure> {
    let all = P::formats();
    all.get(format).ok_or_else(|| {
        Failure(
            status::BAD_ARGUMENT,
            format!(
                "format index {format} out of range (this plugin has {} formats)",
                all.len()
            ),
        )
    })
}

fn failed(e: dl4j_core::Error) -> Failure {
    Failure(status::ERROR, e.to_string())
}

/// Runs `body` behind the boundary: output buffers are set on every path, panics become
/// [`status::PANIC`].
unsafe fn guarded(
    out: *mut Dl4jBuffer,
    err: *mut Dl4jBuffer,
    body: impl FnOnce() -> Result<Vec<u8>, Failure>,
) -> i32 {
    if out.is_null() || err.is_null() {
        if !out.is_null() {
            out.write(Dl4jBuffer::EMPTY);
        }
        if !err.is_null() {
            err.write(buffer_from_vec(b"null output or error pointer".to_vec()));
        }
        return status::BAD_ARGUMENT;
    }
    out.write(Dl4jBuffer::EMPTY);
    err.write(Dl4jBuffer::EMPTY);
    let outcome = catch_unwind(AssertUnwindSafe(body));
    let (code, message) = match outcome {
        Ok(Ok(bytes)) => {
            out.write(buffer_from_vec(bytes));
            return status::OK;
        }
        Ok(Err(Failure(code, message))) => (code, message),
        Err(payload) => {
            let message = panic_message(&*payload);
            drop_payload(payload);
            (status::PANIC, message)
        }
    };
    // Allocating the message is the only thing left that could fail; keep it behind the guard.
    if let Ok(buffer) = catch_unwind(AssertUnwindSafe(|| buffer_from_vec(message.into_bytes()))) {
        err.write(buffer);
    }
    code
}

/// The descriptor's `read`: format `format`'s reader on `input` with the JSON `options`, the
/// archive returned in the interchange encoding.
///
/// # Safety
/// `input` and `options` must describe readable bytes for the duration of the call; `out` and
/// `error` must be null or point to writable [`Dl4jBuffer`]s.
pub unsafe extern "C" fn read<P: PluginFormats>(
    format: usize,
    input: Dl4jBytes,
    options: Dl4jBytes,
    out: *mut Dl4jBuffer,
    error: *mut Dl4jBuffer,
) -> i32 {
    guarded(out, error, || {
        let f = format_at::<P>(format)?;
        let reader = f.reader.ok_or_else(|| {
            Failure(
                status::UNSUPPORTED,
                format!("format {} does not read", f.id),
            )
        })?;
        let options = options::read_options_from_json(options.as_slice())
            .map_err(|e| Failure(status::BAD_ARGUMENT, e.to_string()))?;
        let archive = reader.read(input.as_slice(), &options).map_err(failed)?;
        interchange::encode(&archive).map_err(failed)
    })
}

/// The descriptor's `write`: the interchange-encoded `archive` written by format `format`'s
/// writer with the JSON `options`.
///
/// # Safety
/// As [`read`].
pub unsafe extern "C" fn write<P: PluginFormats>(
    format: usize,
    archive: Dl4jBytes,
    options: Dl4jBytes,
    out: *mut Dl4jBuffer,
    error: *mut Dl4jBuffer,
) -> i32 {
    guarded(out, error, || {
        let f = format_at::<P>(format)?;
        let writer = f.writer.ok_or_else(|| {
            Failure(
                status::UNSUPPORTED,
                format!("format {} does not write", f.id),
            )
        })?;
        let options = options::write_options_from_json(options.as_slice())
            .map_err(|e| Failure(status::BAD_ARGUMENT, e.to_string()))?;
        let archive = interchange::decode(archive.as_slice(), interchange::HOST_ORIGIN)
            .map_err(|e| Failure(status::BAD_ARGUMENT, format!("archive: {e}")))?;
        let mut bytes = Vec::new();
        writer
            .write(&archive, &mut bytes, &options)
            .map_err(failed)?;
        Ok(bytes)
    })
}

/// A NUL-terminated copy of `s`, leaked. Interior NULs are refused (a panic the entry function
/// turns into a null descriptor).
fn leak_cstr(what: &str, s: &str) -> *const c_char {
    match CString::new(s) {
        Ok(c) => Box::leak(c.into_boxed_c_str()).as_ptr(),
        Err(_) => panic!("{what} {s:?} contains a NUL byte"),
    }
}

fn leak_slice<T: 'static>(v: Vec<T>) -> (*const T, usize) {
    let s: &'static [T] = Box::leak(v.into_boxed_slice());
    (s.as_ptr(), s.len())
}

/// Builds the leaked, never-freed descriptor for `P`'s formats.
pub fn build_descriptor<P: PluginFormats>(name: &str, version: &str) -> &'static Dl4jPlugin {
    let formats: Vec<Dl4jFormat> = P::formats()
        .iter()
        .map(|f| {
            let (extensions, n_extensions) = leak_slice(
                f.extensions
                    .iter()
                    .map(|e| leak_cstr("extension", e))
                    .collect(),
            );
            let (magic, n_magic) = leak_slice(
                f.magic
                    .iter()
                    .map(|(offset, bytes)| Dl4jMagic {
                        offset: *offset,
                        bytes: Dl4jBytes::from_slice(bytes),
                    })
                    .collect(),
            );
            Dl4jFormat {
                id: leak_cstr("format id", f.id),
                description: leak_cstr("format description", f.description),
                extensions,
                n_extensions,
                magic,
                n_magic,
                can_read: f.reader.is_some() as u8,
                can_write: f.writer.is_some() as u8,
            }
        })
        .collect();
    let (formats, n_formats) = leak_slice(formats);
    Box::leak(Box::new(Dl4jPlugin {
        abi_version: crate::ABI_VERSION,
        name: leak_cstr("plugin name", name),
        version: leak_cstr("plugin version", version),
        formats,
        n_formats,
        detect: detect::<P>,
        read: read::<P>,
        write: write::<P>,
        free_buffer,
    }))
}

/// The body of the generated entry function: the descriptor built once, or null if building
/// it panicked.
pub fn entry<P: PluginFormats>(
    cell: &'static std::sync::OnceLock<Option<&'static Dl4jPlugin>>,
    name: &str,
    version: &str,
) -> *const Dl4jPlugin {
    let built = catch_unwind(AssertUnwindSafe(|| {
        *cell.get_or_init(|| {
            match catch_unwind(AssertUnwindSafe(|| build_descriptor::<P>(name, version))) {
                Ok(d) => Some(d),
                Err(payload) => {
                    drop_payload(payload);
                    None
                }
            }
        })
    }));
    match built {
        Ok(Some(d)) => d,
        Ok(None) => std::ptr::null(),
        Err(payload) => {
            drop_payload(payload);
            std::ptr::null()
        }
    }
}

/// Exports a plugin: defines `#[no_mangle] extern "C" fn dl4j_plugin_entry()` returning the
/// descriptor of the listed [`PluginFormat`]s (constants or statics), built on first call and
/// never freed.
///
/// ```ignore
/// dl4j_plugin_abi::dl4j_plugin! {
///     name: "npz",
///     version: env!("CARGO_PKG_VERSION"),
///     formats: [NPZ_FORMAT],
/// }
/// ```
///
/// Invoke it once per plugin crate (the crate's `crate-type` must include `cdylib`).
#[macro_export]
macro_rules! dl4j_plugin {
    (
        name: $name:expr,
        version: $version:expr,
        formats: [$($format:expr),* $(,)?] $(,)?
    ) => {
        #[doc(hidden)]
        pub struct __Dl4jPluginFormats;

        impl $crate::kit::PluginFormats for __Dl4jPluginFormats {
            fn formats() -> &'static [$crate::kit::PluginFormat] {
                static FORMATS: ::std::sync::OnceLock<::std::vec::Vec<$crate::kit::PluginFormat>> =
                    ::std::sync::OnceLock::new();
                FORMATS.get_or_init(|| ::std::vec![$($format),*])
            }
        }

        /// The plugin's entry point (`dl4j_plugin_abi::ENTRY_SYMBOL`).
        #[unsafe(no_mangle)]
        pub extern "C" fn dl4j_plugin_entry() -> *const $crate::Dl4jPlugin {
            static DESCRIPTOR: ::std::sync::OnceLock<::std::option::Option<&'static $crate::Dl4jPlugin>> =
                ::std::sync::OnceLock::new();
            $crate::kit::entry::<__Dl4jPluginFormats>(&DESCRIPTOR, $name, $version)
        }
    };
}
