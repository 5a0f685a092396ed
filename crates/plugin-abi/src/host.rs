//! The host side: safe wrappers around a plugin descriptor. Loading the library and finding
//! [`ENTRY_SYMBOL`](crate::ENTRY_SYMBOL) is the host's job; these take the descriptor pointer
//! the entry function returned.

use std::ffi::CStr;
use std::os::raw::c_char;

use dl4j_core::{Archive, Error, ReadOptions, Result, WriteOptions};

use crate::{interchange, options, status, Dl4jBuffer, Dl4jBytes, Dl4jPlugin, ABI_VERSION};

/// A plugin's descriptor as owned Rust data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    /// In descriptor order: the index is the `format` argument of the plugin's functions.
    pub formats: Vec<FormatInfo>,
}

/// One format of a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatInfo {
    pub id: String,
    pub description: String,
    pub extensions: Vec<String>,
    /// `(offset, bytes)` signatures.
    pub magic: Vec<(usize, Vec<u8>)>,
    pub can_read: bool,
    pub can_write: bool,
}

fn invalid(message: impl std::fmt::Display) -> Error {
    Error::Format(format!("invalid plugin descriptor: {message}"))
}

unsafe fn string(p: *const c_char, what: &str) -> Result<String> {
    if p.is_null() {
        return Err(invalid(format!("{what} is a null pointer")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map(str::to_string)
        .map_err(|_| invalid(format!("{what} is not UTF-8")))
}

unsafe fn array<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T]> {
    if n == 0 {
        Ok(&[])
    } else if p.is_null() {
        Err(invalid(format!(
            "{what} is a null pointer with {n} entries"
        )))
    } else {
        Ok(std::slice::from_raw_parts(p, n))
    }
}

/// Reads a descriptor into owned data. The ABI version is checked first, before any other field
/// is touched: a plugin built for another version is refused with an error naming both.
///
/// # Safety
/// `desc` must be null or point to memory that starts with a `u32` ABI version and, when that
/// version is [`ABI_VERSION`], to a [`Dl4jPlugin`] that stays valid (with everything it points
/// to) for the rest of the process.
pub unsafe fn describe(desc: *const Dl4jPlugin) -> Result<PluginInfo> {
    if desc.is_null() {
        return Err(invalid("the entry function returned a null pointer"));
    }
    // Only the first field is common to every ABI version.
    let version = std::ptr::read(desc.cast::<u32>());
    if version != ABI_VERSION {
        return Err(Error::Format(format!(
            "plugin ABI version {version}, this dl4j speaks {ABI_VERSION}"
        )));
    }
    let d = &*desc;
    let name = string(d.name, "plugin name")?;
    let plugin_version = string(d.version, "plugin version")?;
    let mut formats = Vec::new();
    for (i, f) in array(d.formats, d.n_formats, "formats")?.iter().enumerate() {
        let what = |field: &str| format!("format {i}: {field}");
        let id = string(f.id, &what("id"))?;
        if id.is_empty() {
            return Err(invalid(what("empty id")));
        }
        let description = string(f.description, &what("description"))?;
        let extensions = array(f.extensions, f.n_extensions, &what("extensions"))?
            .iter()
            .map(|&e| string(e, &what("extension")))
            .collect::<Result<Vec<_>>>()?;
        let mut magic = Vec::new();
        for m in array(f.magic, f.n_magic, &what("magic"))? {
            if m.bytes.data.is_null() && m.bytes.len != 0 {
                return Err(invalid(what("magic bytes are a null pointer")));
            }
            magic.push((m.offset, m.bytes.as_slice().to_vec()));
        }
        formats.push(FormatInfo {
            id,
            description,
            extensions,
            magic,
            can_read: f.can_read != 0,
            can_write: f.can_write != 0,
        });
    }
    Ok(PluginInfo {
        name,
        version: plugin_version,
        formats,
    })
}

/// A described plugin whose functions can be called safely.
#[derive(Debug)]
pub struct PluginHandle {
    desc: *const Dl4jPlugin,
    info: PluginInfo,
}

// The descriptor is immutable static data and the plugin's functions are callable from any
// thread (a plugin's `Reader` / `Writer` are `Sync`).
unsafe impl Send for PluginHandle {}
unsafe impl Sync for PluginHandle {}

/// Copies a plugin buffer and hands it back to the plugin's `free_buffer`.
unsafe fn take(desc: &Dl4jPlugin, buffer: Dl4jBuffer) -> Result<Vec<u8>> {
    let copy = if buffer.len == 0 {
        Ok(Vec::new())
    } else if buffer.data.is_null() {
        Err(invalid(
            "the plugin returned a null buffer of nonzero length",
        ))
    } else {
        Ok(std::slice::from_raw_parts(buffer.data, buffer.len).to_vec())
    };
    if !buffer.data.is_null() {
        (desc.free_buffer)(buffer);
    }
    copy
}

impl PluginHandle {
    /// Checks and describes the descriptor ([`describe`]).
    ///
    /// # Safety
    /// As [`describe`]; in addition the plugin's library must stay loaded for as long as the
    /// handle lives (the host never unloads plugins).
    pub unsafe fn new(desc: *const Dl4jPlugin) -> Result<PluginHandle> {
        let info = describe(desc)?;
        Ok(PluginHandle { desc, info })
    }

    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub fn descriptor(&self) -> *const Dl4jPlugin {
        self.desc
    }

    fn plugin(&self) -> &Dl4jPlugin {
        // SAFETY: checked by `new`, valid for the process' lifetime.
        unsafe { &*self.desc }
    }

    fn format(&self, format: usize) -> Result<&FormatInfo> {
        self.info.formats.get(format).ok_or_else(|| {
            Error::Format(format!(
                "plugin {}: format index {format} out of range ({} formats)",
                self.info.name,
                self.info.formats.len()
            ))
        })
    }

    /// Does `bytes` look like format `format`? False for an out-of-range index.
    pub fn detect(&self, format: usize, bytes: &[u8]) -> bool {
        if format >= self.info.formats.len() {
            return false;
        }
        // SAFETY: the descriptor is valid; `bytes` outlives the call.
        unsafe { (self.plugin().detect)(format, Dl4jBytes::from_slice(bytes)) == 1 }
    }

    /// Runs a `read`/`write` entry point and turns its status into a result.
    fn call(
        &self,
        f: unsafe extern "C" fn(
            usize,
            Dl4jBytes,
            Dl4jBytes,
            *mut Dl4jBuffer,
            *mut Dl4jBuffer,
        ) -> i32,
        format: usize,
        input: &[u8],
        options: &[u8],
    ) -> Result<Vec<u8>> {
        let mut out = Dl4jBuffer::EMPTY;
        let mut err = Dl4jBuffer::EMPTY;
        // SAFETY: valid descriptor, borrowed inputs outlive the call, outputs are ours.
        let (code, out, err) = unsafe {
            let code = f(
                format,
                Dl4jBytes::from_slice(input),
                Dl4jBytes::from_slice(options),
                &mut out,
                &mut err,
            );
            let out = take(self.plugin(), out);
            let err = take(self.plugin(), err);
            (code, out?, err?)
        };
        let message = String::from_utf8_lossy(&err).into_owned();
        match code {
            status::OK => Ok(out),
            status::ERROR => Err(Error::Format(message)),
            status::UNSUPPORTED => Err(Error::Unsupported(message)),
            status::PANIC => Err(Error::Format(format!("the plugin panicked: {message}"))),
            status::BAD_ARGUMENT => Err(Error::Format(format!(
                "the plugin refused its arguments: {message}"
            ))),
            other => Err(Error::Format(format!(
                "the plugin returned unknown status {other}: {message}"
            ))),
        }
    }

    /// Reads `bytes` as format `format`. The archive's origin format is the format's id.
    /// `options.frozen` does not cross the boundary.
    pub fn read(&self, format: usize, bytes: &[u8], options: &ReadOptions) -> Result<Archive> {
        let id = self.format(format)?.id.clone();
        let json = options::read_options_to_json(options);
        let encoded = self.call(self.plugin().read, format, bytes, &json)?;
        interchange::decode(&encoded, &id).map_err(|e| {
            Error::Format(format!(
                "plugin {}: format {id} returned an invalid archive: {e}",
                self.info.name
            ))
        })
    }

    /// Writes `archive` in format `format`.
    pub fn write(
        &self,
        format: usize,
        archive: &Archive,
        options: &WriteOptions,
    ) -> Result<Vec<u8>> {
        self.format(format)?;
        let encoded = interchange::encode(archive)?;
        let json = options::write_options_to_json(options);
        self.call(self.plugin().write, format, &encoded, &json)
    }
}
