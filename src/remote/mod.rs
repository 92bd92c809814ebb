//! Calls to the remote APIs hirebridge depends on (Connecteam, the sending systems' APIs), as the
//! delivery engine and the budgets see them: a [`RateReport`] of the API's windows, an
//! [`Answer`], and a [`Failure`] class for what went wrong. Each API's client implements
//! [`Answer`] and [`CallError`] for its own types, and waits on a [`Gate`] before every
//! request it sends.

pub mod api;
mod call;
mod fetch;
mod gate;
mod rate;

pub use api::{ApiAuth, ApiError, ApiReply, JsonApi};
pub use call::{Answer, CallError, Failure};
pub use fetch::Fetcher;
pub use gate::{Closed, Gate, Open};
pub use rate::RateReport;
