//! The salesforce adapter: any body behind its example's headers, and any API answer to its fetch.
#![no_main]

use hirebridge::config::SourceKind;
use hirebridge::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzzing::decode(SourceKind::Salesforce, data);
    fuzzing::map_fetched(SourceKind::Salesforce, data);
});
