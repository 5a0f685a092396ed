//! A plugin whose reader and writer panic: the kit must catch the panic at the boundary and the
//! host must report it as an error, never crash.

use dl4j_core::{Archive, ReadOptions, Reader, Result, WriteOptions, Writer};
use dl4j_plugin_abi::PluginFormat;

struct Panicky;

impl Reader for Panicky {
    fn read(&self, _bytes: &[u8], _options: &ReadOptions) -> Result<Archive> {
        panic!("the panic test plugin always panics in read")
    }
}

impl Writer for Panicky {
    fn write(
        &self,
        _archive: &Archive,
        _out: &mut dyn std::io::Write,
        _options: &WriteOptions,
    ) -> Result<()> {
        panic!("the panic test plugin always panics in write")
    }
}

static PANICKY: Panicky = Panicky;

fn detect(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PANIC!")
}

const FORMAT: PluginFormat = PluginFormat {
    id: "panicky",
    description: "test plugin: panics in read and write",
    extensions: &["panicky"],
    magic: &[(0, b"PANIC!")],
    detect,
    reader: Some(&PANICKY),
    writer: Some(&PANICKY),
};

dl4j_plugin_abi::dl4j_plugin! {
    name: "panic-test",
    version: env!("CARGO_PKG_VERSION"),
    formats: [FORMAT],
}
