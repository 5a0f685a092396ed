//! A plugin built for a future ABI version (999): the host must refuse it after reading only the
//! descriptor's first field, `abi_version`, whatever follows.

/// What ABI version 999 might look like: only the first field is common to every version.
#[repr(C)]
pub struct FutureDescriptor {
    pub abi_version: u32,
    pub rest: [usize; 16],
}

static DESCRIPTOR: FutureDescriptor = FutureDescriptor {
    abi_version: 999,
    rest: [0; 16],
};

/// The entry point every plugin exports (`dl4j_plugin_abi::ENTRY_SYMBOL`).
#[no_mangle]
pub extern "C" fn dl4j_plugin_entry() -> *const FutureDescriptor {
    &DESCRIPTOR
}
