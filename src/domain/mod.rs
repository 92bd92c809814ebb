//! The domain: the canonical hire every source is normalised to, the plan a rule table gives
//! it, the operations that carry the plan out, and the rules that decide an event's status and
//! what a changed plan changes. Types parse rather than validate: an invalid value cannot be
//! constructed. Nothing here does I/O; everything else depends on this module, and it on
//! nothing of hirebridge's.

pub mod draft;
pub mod email;
pub mod event;
pub mod grant;
pub mod hire;
pub mod idempotency;
pub mod operation;
pub mod phone;
pub mod plan;
pub mod reconcile;

pub use draft::Draft;
pub use email::Email;
pub use event::{EventStatus, OperationState};
pub use grant::{Balance, PolicyGrant, Unit};
pub use hire::{EmploymentType, FieldError, Hire, Job, Person};
pub use operation::{Operation, OperationKind, OperationStatus};
pub use phone::PhoneE164;
pub use plan::{FieldWarning, Plan};
