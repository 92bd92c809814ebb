//! Entry points for the fuzz targets (`fuzz/`), built only with `--cfg fuzzing`: a kind's
//! sandbox source decoding arbitrary bodies behind its example's headers, and its fetch step
//! mapping arbitrary API answers. Under `cfg(fuzzing)` a MAC is still computed but its
//! comparison is skipped (see [`crate::sources::signing::verify_mac`]), so the fuzzer reaches the parsers
//! and mappings behind every verifier.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use url::Url;

use crate::config::SourceKind;
use crate::sources::{Adapter, Content, WebhookRequest, adapter, examples, sandbox_secret};

struct Kind {
    adapter: Arc<dyn Adapter>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
}

fn kind_for(k: SourceKind) -> &'static Kind {
    static KINDS: OnceLock<Vec<(SourceKind, Kind)>> = OnceLock::new();
    let all = KINDS.get_or_init(|| {
        let api = Url::parse("http://127.0.0.1:9/api").expect("a URL");
        let url = Url::parse("http://127.0.0.1:8080/v1/webhooks/fuzz").expect("a URL");
        examples()
            .into_iter()
            .map(|(k, ex)| {
                let secret = sandbox_secret(k);
                let source = ex.sandbox(&secret, &api);
                let adapter = adapter("fuzz", &source.config, "US", reqwest::Client::new())
                    .expect("the sandbox source of every kind builds");
                let signed = ex.example(&secret, &url, SystemTime::now());
                let mut headers = axum::http::HeaderMap::new();
                headers.insert(
                    axum::http::header::CONTENT_TYPE,
                    signed.content_type.parse().expect("a content type"),
                );
                headers.insert(
                    axum::http::header::HOST,
                    "127.0.0.1:8080".parse().expect("a host"),
                );
                for (name, value) in signed.headers {
                    if let (Ok(n), Ok(v)) = (
                        axum::http::HeaderName::from_bytes(name.as_bytes()),
                        axum::http::HeaderValue::from_str(&value),
                    ) {
                        headers.append(n, v);
                    }
                }
                (
                    k,
                    Kind {
                        adapter,
                        headers,
                        uri: url.path().parse().expect("a path"),
                    },
                )
            })
            .collect()
    });
    &all.iter()
        .find(|(x, _)| *x == k)
        .unwrap_or_else(|| panic!("no example for {}", k.as_str()))
        .1
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// Decode `body` as a webhook to the sandbox source of `k`; for a fetch, map the request
/// against `body` read as the API's answer too.
pub fn decode(k: SourceKind, body: &[u8]) {
    let kind = kind_for(k);
    let req = WebhookRequest {
        method: &axum::http::Method::POST,
        uri: &kind.uri,
        headers: &kind.headers,
        body,
        received_at: SystemTime::now(),
    };
    let _ = runtime().block_on(kind.adapter.decode(&req));
}

/// Map `answer` (read as JSON) as the vendor API's answer to the example's fetch request.
pub fn map_fetched(k: SourceKind, answer: &[u8]) {
    let kind = kind_for(k);
    let Some(fetcher) = kind.adapter.fetcher() else {
        return;
    };
    let Ok(fetched) = serde_json::from_slice::<serde_json::Value>(answer) else {
        return;
    };
    static REQUESTS: OnceLock<Vec<(SourceKind, Vec<serde_json::Value>)>> = OnceLock::new();
    let requests = REQUESTS.get_or_init(|| {
        let url = Url::parse("http://127.0.0.1:8080/v1/webhooks/fuzz").expect("a URL");
        examples()
            .into_iter()
            .map(|(k, ex)| {
                let signed = ex.example(&sandbox_secret(k), &url, SystemTime::now());
                let kind = kind_for(k);
                let req = WebhookRequest {
                    method: &axum::http::Method::POST,
                    uri: &kind.uri,
                    headers: &kind.headers,
                    body: &signed.body,
                    received_at: SystemTime::now(),
                };
                let fetches = runtime()
                    .block_on(kind.adapter.decode(&req))
                    .map(|d| {
                        d.items
                            .into_iter()
                            .filter_map(|i| match i.content {
                                Content::Fetch { request, .. } => Some(request),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (k, fetches)
            })
            .collect()
    });
    for (_, reqs) in requests.iter().filter(|(x, _)| *x == k) {
        for r in reqs {
            let _ = fetcher.map(r, &fetched);
        }
    }
}
