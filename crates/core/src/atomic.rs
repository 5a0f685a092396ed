//! Atomic file replacement: write a temporary file in the target's folder, fsync it, then move
//! it into place. A failure (or a refusal) leaves the target as it was and removes the temporary.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Removes the temporary file unless it was moved into place.
struct Temp(Option<PathBuf>);

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn temp_path(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.dl4j-{}-{n}.tmp", std::process::id()))
}

/// A file that asks the kernel to start writing each 64 MiB to disk as soon as it is written
/// (Linux `sync_file_range`), so the final fsync of a large output waits only for the tail
/// instead of for everything, and dirty pages never pile up. Only a hint: errors are ignored,
/// the fsync decides.
struct EarlyWriteback {
    file: File,
    written: u64,
    started: u64,
}

impl EarlyWriteback {
    const STEP: u64 = 64 << 20;

    fn new(file: File) -> Self {
        EarlyWriteback {
            file,
            written: 0,
            started: 0,
        }
    }

    #[cfg(target_os = "linux")]
    fn start_writeback(&mut self) {
        use std::os::fd::AsRawFd;
        let len = self.written - self.started;
        // SAFETY: a plain syscall on a descriptor this struct owns; no memory is passed.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                self.started as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.started = self.written;
    }

    #[cfg(not(target_os = "linux"))]
    fn start_writeback(&mut self) {}
}

impl Write for EarlyWriteback {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= Self::STEP {
            self.start_writeback();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes `path` through `write`; with `replace` false an existing file is never overwritten.
pub fn write_file(
    path: &Path,
    replace: bool,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    if !replace && path.exists() {
        return Err(Error::Refused("exists; pass --force to replace it".into()).in_file(path));
    }
    let tmp_path = temp_path(path);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp_path)
        .map_err(|e| Error::io(&tmp_path, e))?;
    let mut tmp = Temp(Some(tmp_path.clone()));
    let mut w = BufWriter::new(EarlyWriteback::new(file));
    write(&mut w).map_err(|e| e.in_file(path))?;
    let file: File = w
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?
        .file;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    drop(file);
    if replace {
        fs::rename(&tmp_path, path).map_err(|e| Error::io(path, e))?;
    } else {
        // A hard link fails if the target appeared meanwhile: no clobbering, even in a race.
        // File systems without hard links fall back to check-then-rename.
        match fs::hard_link(&tmp_path, path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists || path.exists() => {
                return Err(
                    Error::Refused("exists; pass --force to replace it".into()).in_file(path)
                );
            }
            Err(_) => {
                fs::rename(&tmp_path, path).map_err(|e| Error::io(path, e))?;
                tmp.0 = None;
                return Ok(());
            }
        }
    }
    tmp.0 = if replace { None } else { Some(tmp_path) };
    Ok(())
}
