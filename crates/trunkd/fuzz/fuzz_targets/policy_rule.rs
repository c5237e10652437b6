//! Policy rule strings (oslo.policy syntax): parsed, resolved against the defaults, evaluated.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(rule) = std::str::from_utf8(data) {
        trunkd::api::fuzz::policy_rule(rule);
    }
});
