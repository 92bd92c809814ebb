//! BRIEF FOR THIS ADAPTER (the rest of your task; delete this comment block when you replace the file):
//! ## Read first
//! - `/work/shared/reference/sources.md` (your kind's row and field notes), `/work/shared/CONTRACT.md` (sections "Configuration", "HTTP interface", "The canonical hire").
//! - Reference adapters to follow in structure and quality:
//!   - `src/sources/greenhouse/{mod.rs,tests.rs}` (a webhook that carries the hire), fixture `examples/vendors/greenhouse.json`, integration tests `tests/api/vendors/greenhouse.rs`.
//!   - `src/sources/bamboohr/{mod.rs,tests.rs}` (a webhook that carries ids: `Content::Fetch`, a `Fetcher` that GETs the person from the vendor's API through `remote::JsonApi`, maps it with `Draft`), fixtures `examples/vendors/bamboohr*.json`, integration tests `tests/api/vendors/bamboohr.rs` (fetch failure → retries → dead letter with the event kept → replay after the fake API recovers completes; an unmappable person fails naming the vendor field).
//!   - The harness `tests/api/vendors/mod.rs` (`VendorApp`: a service with the sandbox's source of your kind and its fake vendor API `VendorApi` from `src/simulator/vendor_api.rs`; `assert_reached_connecteam`).
//! - Shared pieces: `src/sources/adapter.rs` (Adapter trait incl. `fetcher()` and `respond()`, Content::{Hire,Fetch,Ignored}, Item, Decoded — several items per request are allowed —, Reply, Rejection, ItemOutcome, json_reply), `src/sources/example.rs` (Example, SignedExample, SandboxSource), `src/remote/{api.rs,fetch.rs}` (JsonApi with ApiAuth::{Bearer,BasicKey}, `with_header`, `url(segments, query)`, `get`, `post`; the Fetcher trait; errors are classed for retries; Retry-After honoured), `src/delivery/jobs/fetch_person.rs` (how a fetch is run: `fetch` then `map`, one budget per source), `src/domain/draft.rs` (Draft, employment_type, split_name, date_part, first_str), `src/sources/signing/` (hmac_key, verify_mac, decode_hex, decode_base64 (std or URL-safe, padded or not), header_str, unix_seconds, AuthError incl. `Replayed` and `TimestampOutOfWindow`), `src/sources/body.rs`, `src/sources/idempotency.rs` (id_header).
//! - Your config struct already exists in `src/config/sources/lever.rs`; shared API options in `src/config/sources/vendor.rs` (`SourceApi`: base_url, token, account_token (merge only), requests_per_minute, timeout_ms). You may add an option to your kind's struct if the vendor needs one (document it).
//! - Use the search tools (corpora `docs`, `pages`, `code`, `issues`) for the vendor's own docs and build fixtures from their documented example bodies (webhook and API responses). Where the docs are silent or conflict, choose, make it configurable if it could go either way, and document it.
//! 
//! ## What to build (replace the placeholder `src/sources/lever/mod.rs` entirely)
//! - `pub fn adapter(name, cfg, phone_region, http) -> Result<Arc<dyn Adapter>, RegistryError>` and `pub fn examples() -> Option<&'static dyn Example>` returning `Some(&Examples)` (signatures exactly as the placeholder; `src/sources/mod.rs` already calls them — do not edit it).
//! - Verify the vendor's signature over the RAW bytes before parsing, in constant time (`verify_mac`), with timestamp windows where the scheme has them.
//! - Map to the canonical hire with `Draft` so every problem points at the vendor's own field; phones normalised with the source's region (`Draft::finish(region)`); `person.external_id` = the vendor's id for the person; employment type through `draft::employment_type` with the config's `employment_types` where the vendor has one.
//! - `Examples` implementing `Example`: `example()` = the documented hire signed exactly as the vendor signs it; `sandbox(secret, api_base)` = your `SourceConfig::<Kind>` with that secret and `api.base_url = api_base` (token any string), plus the fake API `routes` (method, path under the API base, JSON body) that the example's fetch reads (the fake matches method + path exactly, ignoring the query).
//! - Fixtures in `examples/vendors/lever*.json` (`include_str!`'d).
//! 
//! ## Tests that must exist
//! - Unit, `src/sources/lever/tests.rs` (`#[cfg(test)] mod tests;`): documented hire mapped field by field; wrong signature / stale timestamp → `Rejection::Auth`; non-hire events ignored; malformed bodies a clear `MalformedJson`/`Malformed`/`Unmappable`; proptests that no input panics the verifier, the decoder or the mapping.
//! - Integration, fill `tests/api/vendors/lever.rs` (already declared in `tests/api/vendors/mod.rs`; use `VendorApp`, `assert_reached_connecteam`, `both_backends!`): the documented hire reaches the simulated Connecteam (user, packs, policies); a redelivery is a duplicate (nothing sent or fetched again); wrong signature and stale timestamp 401; non-hire ignored; malformed 4xx; for fetches: the fake API failing → retries then dead-letter without losing the stored event (`payload` kept), and a replay after the fake recovers completes the hire; what the fake received (path, auth header) checked.
//! 
//! ## Rules
//! - Use your own target dir so you don't block the others: `CARGO_TARGET_DIR=/work/target-lever cargo test --lib sources::lever` and `CARGO_TARGET_DIR=/work/target-lever cargo test --test api vendors::lever` (PostgreSQL on 127.0.0.1:5432, trust auth; tests create their own databases). The first build takes several minutes (the machine has 2 cores shared with other builds). Finish with `CARGO_TARGET_DIR=/work/target-lever cargo clippy --all-targets -- -D warnings` clean for your files and `rustfmt --edition 2024` on the files you touched.
//! - Touch only: `src/sources/lever/*`, `src/config/sources/lever.rs`, `examples/vendors/lever*`, `tests/api/vendors/lever.rs`, new `docs/sources/lever.md`. Other helpers edit other vendors' files in the same tree at the same time; if you need a change in a shared file, do not make it — describe it precisely in your report. Do NOT run `git commit/add/stash/checkout` or whole-tree `cargo fmt`.
//! - No stubs, no hard-coded answers, no test that cannot fail. Code and docs describe hirebridge only (never how it was made). No internet from tests. Secrets never in logs or errors.
//! - `docs/sources/lever.md`: the README section for the vendor: what to configure in the vendor's UI (URL `https://<host>/v1/webhooks/<source>`, secret, events), the hirebridge config entry (YAML), the mapping options, what hirebridge answers, and each vendor detail that could not be confirmed from public docs with the choice made.
//! 
//! ## Report (your final message)
//! Files written; test names and results (numbers); what you could not confirm and how you chose; any shared change you need.
//! 
//! `kind: lever` (its adapter is not in this build yet: refused at start).

use std::sync::Arc;

use crate::config::{LeverSource, SourceKind};
use crate::sources::{Adapter, RegistryError};

pub fn adapter(
    name: &str,
    _cfg: &LeverSource,
    _phone_region: &str,
    _http: reqwest::Client,
) -> Result<Arc<dyn Adapter>, RegistryError> {
    Err(RegistryError::Unsupported {
        name: name.to_owned(),
        kind: SourceKind::Lever,
    })
}

/// The kind's documented example and sandbox source, once its adapter is in.
pub fn examples() -> Option<&'static dyn crate::sources::Example> {
    None
}
