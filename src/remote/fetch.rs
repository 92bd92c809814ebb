//! The step some sources need before a hire can be planned: their webhooks carry only ids
//! (BambooHR, Lever, HubSpot) or ids where names belong (Ashby, Merge), so the person is
//! fetched from the sender's API in the durable pipeline, after the webhook was acknowledged.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::api::{ApiError, ApiReply};
use super::gate::Gate;
use crate::domain::{FieldError, Hire};

/// How a source fetches and maps its people. Each source that needs it has one; the delivery
/// engine runs it as the `fetch_person` step, spending the source's own named budget.
#[async_trait]
pub trait Fetcher: Send + Sync {
    /// The source's API budget, requests per minute.
    fn requests_per_minute(&self) -> u32;

    /// The longest one request may take.
    fn timeout_ms(&self) -> u64;

    /// Fetch what `request` (the adapter's own record of what the webhook said) names: every
    /// request waits on `gate`. The answer is whatever [`Fetcher::map`] needs.
    async fn fetch(
        &self,
        request: &Value,
        gate: Arc<dyn Gate>,
    ) -> Result<ApiReply<Value>, ApiError>;

    /// The hire, from the request and what was fetched; or every field at fault, pointed at
    /// in the vendor's own terms (`/fields/workEmail`).
    fn map(&self, request: &Value, fetched: &Value) -> Result<Hire, Vec<FieldError>>;
}
