//! Request budgets by name. An API that limits requests per account (Connecteam's 100 a
//! minute; BambooHR, Lever and HubSpot limit theirs too) is one [`Budget`], shared by every
//! replica through the store: each request takes the next slot of its budget, and what the
//! API's answers say about the window ([`crate::remote::RateReport`]) paces, or pauses, everyone spending it.

mod pacer;

pub use pacer::{Budget, MARGIN_PER_MILLE};
