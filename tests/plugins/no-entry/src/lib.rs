//! A shared library that is not a dl4j plugin: it lacks the `dl4j_plugin_entry` symbol.

/// Some exported function, but not the plugin entry.
#[no_mangle]
pub extern "C" fn not_a_dl4j_plugin() -> i32 {
    42
}
