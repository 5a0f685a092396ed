//! Atomic file replacement: write a temporary file in the target's folder, fsync it, then move
//! it into place. A failure (or a refusal) leaves the target as it was and removes the temporary.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

/// Every output being written, so an interrupt can remove what is unfinished.
///
/// A write owns a frame: its temporary file, plus the files written (and already moved into
/// place) by writes nested inside it, such as the external-data file of an ONNX model. Those
/// are only provisional: they become permanent when the outermost write of their thread
/// commits, and are removed with it when it fails or is interrupted, so a run never leaves one
/// file of a pair behind.
struct Pending {
    interrupted: bool,
    next_id: u64,
    frames: Vec<Frame>,
}

struct Frame {
    id: u64,
    thread: std::thread::ThreadId,
    temp: PathBuf,
    provisional: Vec<PathBuf>,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    interrupted: false,
    next_id: 0,
    frames: Vec::new(),
});

fn pending() -> MutexGuard<'static, Pending> {
    // A panic elsewhere while holding the lock leaves the list itself intact.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

fn interrupted_error(path: &Path) -> Error {
    Error::Refused("interrupted; nothing was written".into()).in_file(path)
}

/// Removes every unfinished output (temporary files, and files written inside a write that has
/// not committed yet) and makes every later write fail, so the process can exit without leaving
/// a partial file. For a SIGINT/SIGTERM handler running on its own thread (not an async signal
/// handler: this takes a lock and calls the file system). Returns how many files it removed.
pub fn abandon_unfinished_writes() -> usize {
    let mut p = pending();
    p.interrupted = true;
    let mut removed = 0;
    for frame in p.frames.drain(..) {
        for f in std::iter::once(&frame.temp).chain(&frame.provisional) {
            if fs::remove_file(f).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// Ends a frame that did not commit: removes its temporary file and its provisional files.
struct Abandon(Option<u64>);

impl Drop for Abandon {
    fn drop(&mut self) {
        let Some(id) = self.0.take() else { return };
        let mut p = pending();
        if let Some(i) = p.frames.iter().position(|f| f.id == id) {
            let frame = p.frames.remove(i);
            let _ = fs::remove_file(&frame.temp);
            for f in &frame.provisional {
                let _ = fs::remove_file(f);
            }
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
    // Created under the lock: an interrupt either sees the new file in the list or comes first
    // and makes this write fail before anything exists.
    let (file, guard) = {
        let mut p = pending();
        if p.interrupted {
            return Err(interrupted_error(path));
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| Error::io(&tmp_path, e))?;
        let id = p.next_id;
        p.next_id += 1;
        p.frames.push(Frame {
            id,
            thread: std::thread::current().id(),
            temp: tmp_path.clone(),
            provisional: Vec::new(),
        });
        (file, Abandon(Some(id)))
    };
    let mut w = BufWriter::new(EarlyWriteback::new(file));
    write(&mut w).map_err(|e| e.in_file(path))?;
    let file: File = w
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?
        .file;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    drop(file);
    commit(&tmp_path, path, replace, guard)
}

/// Moves the finished temporary file into place, under the lock so an interrupt sees either
/// the temporary file or the finished output, never a moment in between.
fn commit(tmp_path: &Path, path: &Path, replace: bool, mut guard: Abandon) -> Result<()> {
    let mut p = pending();
    if p.interrupted {
        // The interrupt already removed this frame's files.
        guard.0 = None;
        return Err(interrupted_error(path));
    }
    if replace {
        fs::rename(tmp_path, path).map_err(|e| Error::io(path, e))?;
    } else {
        // A hard link fails if the target appeared meanwhile: no clobbering, even in a race.
        // File systems without hard links fall back to check-then-rename.
        match fs::hard_link(tmp_path, path) {
            Ok(()) => {
                let _ = fs::remove_file(tmp_path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists || path.exists() => {
                return Err(
                    Error::Refused("exists; pass --force to replace it".into()).in_file(path)
                );
            }
            Err(_) => fs::rename(tmp_path, path).map_err(|e| Error::io(path, e))?,
        }
    }
    // Committed: this frame ends; its files (and its own provisional ones) stay, permanent if
    // this was the thread's outermost write, otherwise provisional in the enclosing write.
    let id = guard.0.take();
    let Some(i) = p.frames.iter().position(|f| Some(f.id) == id) else {
        return Ok(());
    };
    let frame = p.frames.remove(i);
    if let Some(outer) = p.frames.iter_mut().rev().find(|f| f.thread == frame.thread) {
        outer.provisional.push(path.to_path_buf());
        outer.provisional.extend(frame.provisional);
    }
    Ok(())
}
