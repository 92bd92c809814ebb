//! `hirebridge send-example KIND`: post a vendor's documented example hire, signed the way
//! that vendor signs it, to a running hirebridge (by default the sandbox's source of that
//! kind), and print the answer.

use std::io::Write;
use std::time::SystemTime;

use url::Url;

use crate::config::SourceKind;
use crate::sources;

/// Send the example of `kind` to `base` (`http://127.0.0.1:8080`) for the source `source`
/// (default: the kind's name), signed with `secret` (default: the sandbox's). Returns whether
/// it was accepted (a 2xx answer).
pub async fn send(
    kind: &str,
    base: &Url,
    source: Option<&str>,
    secret: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let examples = sources::examples();
    let Some((kind, example)) =
        SourceKind::parse(kind).and_then(|k| examples.iter().find(|(e, _)| *e == k).copied())
    else {
        let known: Vec<&str> = examples.iter().map(|(k, _)| k.as_str()).collect();
        anyhow::bail!(
            "no example for kind {kind:?}; examples exist for: {}",
            known.join(", ")
        );
    };
    let source = source.unwrap_or(kind.as_str());
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| anyhow::anyhow!("{base} cannot take a path"))?
        .pop_if_empty()
        .extend(["v1", "webhooks", source]);
    let secret = secret.map_or_else(|| sources::sandbox_secret(kind), str::to_owned);
    let signed = example.example(&secret, &url, SystemTime::now());
    let mut req = reqwest::Client::new()
        .post(url.clone())
        .header("content-type", signed.content_type);
    for (k, v) in &signed.headers {
        req = req.header(k, v);
    }
    let resp = req
        .body(signed.body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    writeln!(out, "POST {url} -> {status}")?;
    writeln!(out, "{body}")?;
    Ok(status.is_success())
}
