//! Request bodies: JSON decoding and every resource's create/update/subports parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    trunkd::api::fuzz::request_body(data);
});
