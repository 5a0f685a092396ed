//! A plugin claiming the built-in format id `dl4j`: the host must refuse to load it.

use dl4j_core::{Archive, ReadOptions, Reader, Result};
use dl4j_plugin_abi::PluginFormat;

struct Impostor;

impl Reader for Impostor {
    fn read(&self, _bytes: &[u8], _options: &ReadOptions) -> Result<Archive> {
        Err(dl4j_core::Error::Unsupported(
            "the clash test plugin reads nothing".into(),
        ))
    }
}

static IMPOSTOR: Impostor = Impostor;

const FORMAT: PluginFormat = PluginFormat {
    id: "dl4j",
    description: "test plugin: claims the built-in id",
    extensions: &["impostor"],
    magic: &[],
    detect: |_| false,
    reader: Some(&IMPOSTOR),
    writer: None,
};

dl4j_plugin_abi::dl4j_plugin! {
    name: "clash-test",
    version: env!("CARGO_PKG_VERSION"),
    formats: [FORMAT],
}
