//! List query strings: filters, fields, sort keys and directions, limit and marker.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(query) = std::str::from_utf8(data) {
        trunkd::api::fuzz::list_query(query);
    }
});
