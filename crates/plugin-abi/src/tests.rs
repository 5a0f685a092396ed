//! The kit and the host helpers together: the macro's entry function called directly (no
//! dlopen) through `describe` / `PluginHandle`.

use std::path::{Path, PathBuf};
use std::ptr;

use dl4j_core::{Archive, Encoding, ReadOptions, Result, WriteOptions};

use crate::kit::{self, PluginFormat};
use crate::{describe, status, Dl4jBuffer, Dl4jBytes, Dl4jPlugin, PluginHandle};

/// The native zip, read and written through dl4j-core: a stand-in for a real foreign format.
struct ToyZip;

impl dl4j_core::Reader for ToyZip {
    fn read(&self, bytes: &[u8], _options: &ReadOptions) -> Result<Archive> {
        dl4j_core::serializer::read_archive(bytes)
    }
}

impl dl4j_core::Writer for ToyZip {
    fn write(
        &self,
        archive: &Archive,
        out: &mut dyn std::io::Write,
        options: &WriteOptions,
    ) -> Result<()> {
        dl4j_core::serializer::write_archive(archive, out, options.dl4j_encoding)
    }
}

/// Panics in `read` with the `loss` option in the message (which thereby crossed too).
struct Boom;

impl dl4j_core::Reader for Boom {
    fn read(&self, _bytes: &[u8], options: &ReadOptions) -> Result<Archive> {
        panic!(
            "kaboom with loss {:?}",
            options.loss.as_deref().unwrap_or("")
        )
    }
}

static TOY: ToyZip = ToyZip;
static BOOM: Boom = Boom;

fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

const TOY_FORMAT: PluginFormat = PluginFormat {
    id: "toyzip",
    description: "a toy zip format",
    extensions: &["toy", "tz"],
    magic: &[(0, b"PK\x03\x04")],
    detect: is_zip,
    reader: Some(&TOY),
    writer: Some(&TOY),
};

static BOOM_FORMAT: PluginFormat = PluginFormat {
    id: "boom",
    description: "reads by panicking",
    extensions: &[],
    magic: &[],
    detect: |b| b == b"boom",
    reader: Some(&BOOM),
    writer: None,
};

crate::dl4j_plugin! {
    name: "toy",
    version: "1.2.3",
    formats: [TOY_FORMAT, BOOM_FORMAT],
}

fn fixture(rel: &str) -> PathBuf {
    let root = match std::env::var_os("DL4J_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    root.join(rel)
}

const MODEL: &str = "dl4j/augmented/mnist_imageminmax_objects.zip";

fn handle() -> PluginHandle {
    unsafe { PluginHandle::new(dl4j_plugin_entry()).unwrap() }
}

#[test]
fn entry_is_built_once_and_described() {
    let d = dl4j_plugin_entry();
    assert!(!d.is_null());
    assert_eq!(d, dl4j_plugin_entry());
    let info = unsafe { describe(d) }.unwrap();
    assert_eq!(info.name, "toy");
    assert_eq!(info.version, "1.2.3");
    assert_eq!(info.formats.len(), 2);
    let toy = &info.formats[0];
    assert_eq!(toy.id, "toyzip");
    assert_eq!(toy.description, "a toy zip format");
    assert_eq!(toy.extensions, ["toy", "tz"]);
    assert_eq!(toy.magic, [(0, b"PK\x03\x04".to_vec())]);
    assert!(toy.can_read && toy.can_write);
    let boom = &info.formats[1];
    assert_eq!(boom.id, "boom");
    assert!(boom.extensions.is_empty() && boom.magic.is_empty());
    assert!(boom.can_read && !boom.can_write);
}

#[test]
fn detect_calls_through() {
    let h = handle();
    let zip = std::fs::read(fixture(MODEL)).unwrap();
    assert!(h.detect(0, &zip));
    assert!(!h.detect(1, &zip));
    assert!(h.detect(1, b"boom"));
    assert!(!h.detect(0, b""));
    assert!(!h.detect(2, &zip));
    unsafe {
        let d = &*dl4j_plugin_entry();
        assert_eq!((d.detect)(99, Dl4jBytes::from_slice(&zip)), 0);
        let null = Dl4jBytes {
            data: ptr::null(),
            len: 0,
        };
        assert_eq!((d.detect)(0, null), 0);
    }
}

#[test]
fn read_and_write_round_trip() {
    let h = handle();
    let zip = std::fs::read(fixture(MODEL)).unwrap();
    let direct = dl4j_core::serializer::read_archive(&zip).unwrap();
    let archive = h.read(0, &zip, &ReadOptions::default()).unwrap();
    direct.same_as(&archive).unwrap();
    assert_eq!(archive.origin.format, "toyzip");

    let written = h.write(0, &archive, &WriteOptions::default()).unwrap();
    let back = h.read(0, &written, &ReadOptions::default()).unwrap();
    direct.same_as(&back).unwrap();

    // Write options cross the boundary.
    let options = WriteOptions {
        dl4j_encoding: Some(Encoding::Legacy),
        ..WriteOptions::default()
    };
    let legacy = h.write(0, &archive, &options).unwrap();
    let back = dl4j_core::serializer::read_archive(&legacy).unwrap();
    assert_eq!(back.params.encoding(), Encoding::Legacy);
}

#[test]
fn reader_errors_come_back_as_errors() {
    let e = handle()
        .read(0, b"PK\x03\x04 not really", &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(!e.is_empty() && !e.contains("panicked"), "{e}");
}

#[test]
fn a_panicking_reader_is_an_error_not_an_abort() {
    let options = ReadOptions {
        loss: Some("MSE".into()),
        ..ReadOptions::default()
    };
    let e = handle().read(1, b"boom", &options).unwrap_err().to_string();
    assert_eq!(e, "the plugin panicked: kaboom with loss \"MSE\"");
    // The plugin still works afterwards.
    let zip = std::fs::read(fixture(MODEL)).unwrap();
    handle().read(0, &zip, &ReadOptions::default()).unwrap();
}

#[test]
fn missing_writer_is_unsupported() {
    let h = handle();
    let zip = std::fs::read(fixture(MODEL)).unwrap();
    let archive = h.read(0, &zip, &ReadOptions::default()).unwrap();
    let e = h.write(1, &archive, &WriteOptions::default()).unwrap_err();
    assert!(matches!(e, dl4j_core::Error::Unsupported(_)), "{e}");
    assert!(e.to_string().contains("format boom does not write"), "{e}");
}

/// Calls the raw `read` and returns the status and error message.
unsafe fn raw_read(format: usize, input: &[u8], options: &[u8]) -> (i32, String) {
    let d = &*dl4j_plugin_entry();
    let mut out = Dl4jBuffer::EMPTY;
    let mut err = Dl4jBuffer::EMPTY;
    let code = (d.read)(
        format,
        Dl4jBytes::from_slice(input),
        Dl4jBytes::from_slice(options),
        &mut out,
        &mut err,
    );
    let message = if err.data.is_null() {
        String::new()
    } else {
        String::from_utf8_lossy(std::slice::from_raw_parts(err.data, err.len)).into_owned()
    };
    (d.free_buffer)(out);
    (d.free_buffer)(err);
    (code, message)
}

#[test]
fn bad_arguments() {
    unsafe {
        let (code, message) = raw_read(7, b"", b"{}");
        assert_eq!(code, status::BAD_ARGUMENT);
        assert!(message.contains("format index 7"), "{message}");

        let (code, message) = raw_read(0, b"", b"{not json");
        assert_eq!(code, status::BAD_ARGUMENT);
        assert!(message.contains("malformed JSON"), "{message}");

        // Null out / error pointers.
        let d = &*dl4j_plugin_entry();
        let input = Dl4jBytes::from_slice(b"boom");
        let options = Dl4jBytes::from_slice(b"{}");
        let mut buffer = Dl4jBuffer::EMPTY;
        assert_eq!(
            (d.read)(1, input, options, ptr::null_mut(), ptr::null_mut()),
            status::BAD_ARGUMENT
        );
        assert_eq!(
            (d.read)(1, input, options, &mut buffer, ptr::null_mut()),
            status::BAD_ARGUMENT
        );
        assert!(buffer.data.is_null());
        assert_eq!(
            (d.write)(0, input, options, ptr::null_mut(), &mut buffer),
            status::BAD_ARGUMENT
        );
        (d.free_buffer)(buffer);

        // An archive that is not in the interchange encoding.
        let mut out = Dl4jBuffer::EMPTY;
        let mut err = Dl4jBuffer::EMPTY;
        let code = (d.write)(0, input, options, &mut out, &mut err);
        assert_eq!(code, status::BAD_ARGUMENT);
        (d.free_buffer)(out);
        (d.free_buffer)(err);
    }
    let e = handle()
        .read(5, b"", &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("format index 5 out of range"), "{e}");
}

fn descriptor(abi_version: u32, name: *const std::os::raw::c_char) -> Dl4jPlugin {
    Dl4jPlugin {
        abi_version,
        name,
        version: c"0".as_ptr(),
        formats: ptr::null(),
        n_formats: 0,
        detect: kit::detect::<__Dl4jPluginFormats>,
        read: kit::read::<__Dl4jPluginFormats>,
        write: kit::write::<__Dl4jPluginFormats>,
        free_buffer: kit::free_buffer,
    }
}

#[test]
fn other_abi_versions_are_refused() {
    let d = descriptor(2, c"future".as_ptr());
    let e = unsafe { describe(&d) }.unwrap_err().to_string();
    assert_eq!(e, "plugin ABI version 2, this dl4j speaks 1");
    // The version is read before anything else: garbage after it is never touched.
    let mut d = descriptor(0, ptr::null());
    d.n_formats = 1_000_000;
    let e = unsafe { PluginHandle::new(&d) }.unwrap_err().to_string();
    assert!(e.contains("ABI version 0") && e.contains("speaks 1"), "{e}");
}

#[test]
fn invalid_descriptors_are_refused() {
    let e = unsafe { describe(ptr::null()) }.unwrap_err().to_string();
    assert!(e.contains("null"), "{e}");
    let d = descriptor(1, ptr::null());
    let e = unsafe { describe(&d) }.unwrap_err().to_string();
    assert!(e.contains("plugin name is a null pointer"), "{e}");
    let d = descriptor(1, c"\xff".as_ptr());
    let e = unsafe { describe(&d) }.unwrap_err().to_string();
    assert!(e.contains("not UTF-8"), "{e}");
    let mut d = descriptor(1, c"empty".as_ptr());
    d.n_formats = 3;
    let e = unsafe { describe(&d) }.unwrap_err().to_string();
    assert!(e.contains("formats is a null pointer"), "{e}");
    d.n_formats = 0;
    assert!(unsafe { describe(&d) }.unwrap().formats.is_empty());
}
