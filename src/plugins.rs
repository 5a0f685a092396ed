//! Format plugins loaded at run time from shared libraries through the stable C ABI of
//! `dl4j-plugin-abi`.
//!
//! Where plugins come from, in this order:
//! 1. `--plugin PATH` on the command line (repeatable);
//! 2. `DL4J_PLUGIN_PATH`: a `:`-separated (`;` on Windows) list of library files and folders;
//! 3. the per-user folder `$XDG_DATA_HOME/dl4j/plugins` (default
//!    `$HOME/.local/share/dl4j/plugins`), when it exists.
//!
//! Folders are scanned (not recursively) for `*.so`, `*.dylib` and `*.dll`, in name order.
//!
//! A library named explicitly (by `--plugin`, or as a file in `DL4J_PLUGIN_PATH`) that cannot be
//! loaded is an error: the user asked for it, and going on without it would only fail later
//! with a vaguer message. A library found by scanning a folder that cannot be loaded is skipped
//! with a warning, so one stale file in a plugin folder does not break every command; so is a
//! `DL4J_PLUGIN_PATH` entry that does not exist (like a missing folder in `PATH`). The same
//! library reached twice (e.g. by `--plugin` and in the user folder) is loaded once.
//!
//! Each format of a plugin joins the registry of `dl4j_core::plugin` next to the built-in ones
//! (so `convert`, `inspect`, detection and `dl4j plugins` treat both alike); an id that clashes
//! with a built-in or an already loaded format is refused, for the whole plugin. Libraries are
//! never unloaded: the registry hands out `'static` references into them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dl4j_core::error::{Error, Result};
use dl4j_core::plugin::{self, Format, FormatOrigin, ReadOptions, Reader, WriteOptions, Writer};
use dl4j_core::Archive;
use dl4j_plugin_abi::PluginHandle;
use dl4j_plugin_abi::{Dl4jPlugin, EntryFn, ENTRY_SYMBOL};

/// A magic-byte signature a loaded format declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magic {
    pub offset: usize,
    pub bytes: Vec<u8>,
}

/// A format loaded from a plugin library.
#[derive(Debug, Clone)]
pub struct LoadedFormat {
    pub id: &'static str,
    /// The library it was loaded from.
    pub path: PathBuf,
    /// The plugin's name and version.
    pub plugin: String,
    pub version: String,
    pub magic: Vec<Magic>,
}

static LOADED: Mutex<Vec<LoadedFormat>> = Mutex::new(Vec::new());
/// Canonical paths of the libraries loaded so far.
static LIBRARIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The formats loaded from plugins so far, in load order.
pub fn loaded() -> Vec<LoadedFormat> {
    lock(&LOADED).clone()
}

/// The loaded format with this id, if it came from a plugin.
pub fn loaded_format(id: &str) -> Option<LoadedFormat> {
    lock(&LOADED).iter().find(|f| f.id == id).cloned()
}

/// One format of a loaded plugin, as the registry's reader and writer.
struct PluginFormat {
    handle: &'static PluginHandle,
    index: usize,
}

impl Reader for PluginFormat {
    fn read(&self, bytes: &[u8], options: &ReadOptions) -> Result<Archive> {
        self.handle.read(self.index, bytes, options)
    }

    fn detect(&self, bytes: &[u8]) -> Option<bool> {
        Some(self.handle.detect(self.index, bytes))
    }
}

impl Writer for PluginFormat {
    fn write(
        &self,
        archive: &Archive,
        out: &mut dyn std::io::Write,
        options: &WriteOptions,
    ) -> Result<()> {
        let bytes = self.handle.write(self.index, archive, options)?;
        out.write_all(&bytes)
            .map_err(|e| Error::Format(format!("writing the plugin's output: {e}")))
    }
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn in_plugin(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Format(format!("plugin {}: {e}", path.display()))
}

/// Loads one plugin library and registers its formats; returns their ids. Loading a library
/// that is already loaded does nothing (and returns no ids).
pub fn load(path: &Path) -> Result<Vec<&'static str>> {
    // The binary's built-in formats must be known before clashes can be checked.
    crate::formats();
    let canonical = path
        .canonicalize()
        .map_err(|e| in_plugin(path, format!("cannot open: {e}")))?;
    if lock(&LIBRARIES).contains(&canonical) {
        return Ok(Vec::new());
    }
    // SAFETY: loading a library runs its initialisers; a plugin is trusted code the user chose
    // to load, exactly like the binary itself.
    let library = unsafe { libloading::Library::new(&canonical) }
        .map_err(|e| in_plugin(path, format!("cannot load the library: {e}")))?;
    // SAFETY: the symbol has the type the ABI prescribes for ENTRY_SYMBOL.
    let entry: EntryFn = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL.as_bytes()) }
        .map(|s| *s)
        .map_err(|_| {
            in_plugin(
                path,
                format!("not a dl4j plugin: it exports no `{ENTRY_SYMBOL}` function"),
            )
        })?;
    // The library stays loaded for the rest of the process: the descriptor, its strings and
    // its functions are used through 'static references from now on.
    std::mem::forget(library);
    // SAFETY: calling the entry function the ABI defines; it takes nothing and returns a
    // pointer to a descriptor valid until the process ends.
    let desc: *const Dl4jPlugin = unsafe { entry() };
    if desc.is_null() {
        return Err(in_plugin(
            path,
            format!("`{ENTRY_SYMBOL}` returned no descriptor"),
        ));
    }
    // SAFETY: `desc` is the plugin's non-null descriptor; `describe` (inside `new`) checks the
    // ABI version before reading anything past it, and the library is never unloaded.
    let handle = unsafe { PluginHandle::new(desc) }.map_err(|e| in_plugin(path, e))?;
    let handle: &'static PluginHandle = Box::leak(Box::new(handle));
    let info = handle.info();

    let mut formats = Vec::new();
    let mut loaded = Vec::new();
    for (index, f) in info.formats.iter().enumerate() {
        let imp: &'static PluginFormat = Box::leak(Box::new(PluginFormat { handle, index }));
        let extensions: Vec<&'static str> = f.extensions.iter().map(|e| leak_str(e)).collect();
        let format: &'static Format = Box::leak(Box::new(Format {
            id: leak_str(&f.id),
            description: leak_str(&f.description),
            extensions: Box::leak(extensions.into_boxed_slice()),
            // Detection asks the plugin, through the reader (`Reader::detect`).
            detect: |_| false,
            reader: f.can_read.then_some(imp as &'static dyn Reader),
            writer: f.can_write.then_some(imp as &'static dyn Writer),
        }));
        formats.push(format);
        loaded.push(LoadedFormat {
            id: format.id,
            path: canonical.clone(),
            plugin: info.name.clone(),
            version: info.version.clone(),
            magic: f
                .magic
                .iter()
                .map(|(offset, bytes)| Magic {
                    offset: *offset,
                    bytes: bytes.clone(),
                })
                .collect(),
        });
    }
    let origin = FormatOrigin::Plugin {
        path: canonical.clone(),
        name: info.name.clone(),
        version: info.version.clone(),
    };
    plugin::register_all(&formats, origin).map_err(|e| in_plugin(path, e))?;
    lock(&LOADED).extend(loaded);
    lock(&LIBRARIES).push(canonical);
    Ok(formats.iter().map(|f| f.id).collect())
}

fn is_library(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["so", "dylib", "dll"].contains(&e.to_ascii_lowercase().as_str()))
}

/// The libraries in a folder, by name.
fn scan(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut libs = Vec::new();
    for e in entries {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        if is_library(&p) {
            libs.push(p);
        }
    }
    libs.sort();
    Ok(libs)
}

/// The per-user plugin folder: `$XDG_DATA_HOME/dl4j/plugins`, default
/// `$HOME/.local/share/dl4j/plugins` (whether or not it exists).
pub fn user_dir() -> Option<PathBuf> {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let data = match non_empty("XDG_DATA_HOME") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(non_empty("HOME")?).join(".local/share"),
    };
    Some(data.join("dl4j").join("plugins"))
}

/// Where a library to load was named.
enum Source {
    /// Named explicitly: failing to load it is an error.
    Explicit(PathBuf),
    /// Found by scanning a folder: failing to load it is a warning.
    Scanned(PathBuf),
}

/// Loads the plugins named with `--plugin` (`explicit`), in `DL4J_PLUGIN_PATH` and in the
/// per-user folder (see the module documentation for what is fatal). Returns the warnings for
/// what was skipped, one line each.
pub fn load_all(explicit: &[PathBuf]) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let mut sources: Vec<Source> = explicit.iter().cloned().map(Source::Explicit).collect();
    if let Some(list) = std::env::var_os("DL4J_PLUGIN_PATH") {
        for entry in std::env::split_paths(&list) {
            if entry.as_os_str().is_empty() {
                continue;
            }
            if entry.is_dir() {
                match scan(&entry) {
                    Ok(libs) => sources.extend(libs.into_iter().map(Source::Scanned)),
                    Err(e) => warnings.push(format!("DL4J_PLUGIN_PATH: {e}; skipped")),
                }
            } else if entry.exists() {
                sources.push(Source::Explicit(entry));
            } else {
                warnings.push(format!(
                    "DL4J_PLUGIN_PATH: {}: no such file or folder; skipped",
                    entry.display()
                ));
            }
        }
    }
    if let Some(dir) = user_dir().filter(|d| d.is_dir()) {
        match scan(&dir) {
            Ok(libs) => sources.extend(libs.into_iter().map(Source::Scanned)),
            Err(e) => warnings.push(format!("plugin folder: {e}; skipped")),
        }
    }
    for source in sources {
        match source {
            Source::Explicit(path) => {
                load(&path)?;
            }
            Source::Scanned(path) => {
                if let Err(e) = load(&path) {
                    warnings.push(format!("{e}; skipped"));
                }
            }
        }
    }
    Ok(warnings)
}

/// The origin of a registered format, for listings.
pub fn origin(format: &Format) -> FormatOrigin {
    plugin::origin(format)
}
