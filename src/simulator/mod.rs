//! A stateful, fault-injectable stand-in for the Connecteam API.
//!
//! Used by the test suite, by `hirebridge serve --sandbox` (in-process) and by
//! `hirebridge simulate-connecteam --listen ADDR` (see [`run`]). It implements the endpoints the
//! service relies on (users, onboarding packs and their assignments, time-off policy types and
//! policy assignments, OAuth client credentials) with the paths, shapes, limits and errors of
//! Connecteam's documentation. Where the documentation is silent the simulator makes a choice,
//! listed here so that clients can be checked against it:
//!
//! * **Users lookup** (`GET /users/v1/users`): array filters (`userIds`, `emailAddresses`,
//!   `phoneNumbers`, `fullNames`) are REPEATED query keys. Values of one key are OR-ed, different
//!   keys are AND-ed; empty values (`userIds=`) are ignored. Emails match case-insensitively,
//!   phones and full names (`"First Last"`) exactly. `userStatus` defaults to `active`.
//!   Results are ordered by `userId` (creation order; `order=desc` reverses).
//! * **Paging**: `paging: {"offset": N}` is present only when more results exist beyond this
//!   page, and `N` is the offset at which the next page starts (`offset + limit`). A page without
//!   `paging` is the last one.
//! * **User creation** (`POST /users/v1/users`): all-or-nothing. Every item is validated and
//!   checked for a duplicate phone or email (against every existing user, archived ones
//!   included, and within the batch) before anything is created. Field errors answer 422
//!   `{"detail":[{loc,msg,type}]}`; duplicates answer 422 `{"detail":"…"}`.
//! * **User update** (`PUT /users/v1/users`): all-or-nothing as well; an unknown `userId` is
//!   404 `{"detail":"User not found"}`.
//! * **Archiving** (`DELETE /users/v1/users?deletionType=archive`, a JSON array of userIds):
//!   all-or-nothing; an unknown id answers 404 `{"detail":"Users not found: 5, 7"}` and nothing
//!   changes; archiving an archived user changes nothing. `deletionType=delete` removes users
//!   for good (at most 25 per request) and is recorded ([`Simulator::permanently_deleted`]).
//!   Both answer `{"data": {"success": true}}`. `DELETE /users/v1/users/{userId}` does the same
//!   for one user.
//! * **Pack progress**: an assignment starts `in_progress`, not waiting for approval; the
//!   control endpoint `PUT /_sim/packs/{id}/assignments/{userId}` `{"status":
//!   "in_progress"|"completed", "isWaitingApproval": bool}` moves it along (as the hire and an
//!   admin would), and `DELETE` on the same path removes it.
//! * **Notification receiver** (not Connecteam's: a stand-in for the customer's endpoint):
//!   `POST /_sim/notifications` records each notification with its Standard Webhooks headers
//!   (`GET /_sim/notifications` lists them) and answers 200, or 503 for the next n after
//!   `PUT /_sim/notifications/outage {"failNext": n}`.
//! * **Already-assigned pack users**: per [`AlreadyAssigned`]: `Ignore` (default) answers 200 and
//!   changes nothing for them, `Reject` answers 422 for the whole request. Archived users exist
//!   and may be assigned.
//! * **Custom fields** (`GET /users/v1/custom-fields`, filters `customFieldIds`, `categoryIds`,
//!   `customFieldNames`, `customFieldTypes` as repeated keys, paged like users): the seeded
//!   account's fields are listed in [`Simulator::new`]. Writes (`customFields:
//!   [{customFieldId, value}]` on POST and PUT items) are validated with the rest of the
//!   request, 422 at `["body", i, "customFields", j, …]`: an unknown or repeated
//!   `customFieldId`; `value` is required (`null` clears the field); `str` a string; `email`
//!   and `phone` as for the user's own; `link` `http://…` or `https://…`; `number` a JSON
//!   number; `date` `DD/MM/YYYY` naming a real date; `dropdown` `[{"id": n}]` of existing,
//!   neither deleted nor disabled options, at most one for a single-select, no repeats (`[]`
//!   clears); `directManager` the `userId` of an existing active user other than the one being
//!   updated. Other types (`file`, `birthday`, `location`) are refused. Users show
//!   `customFields: [{customFieldId, value, type, name}]` ordered by id (a dropdown's value as
//!   `[{id, value}]`); a cleared field is not shown. A PUT changes only the fields it names.
//! * **Smart groups** (`GET /users/v1/smart-groups`, `{id, name, groupSegmentId,
//!   numberOfUsers}`) are rule-based: a user belongs to a group while one of its dropdown values
//!   is in the group's rule, and every user shown carries the computed `smartGroupsIds`
//!   (a PUT with `includeSmartGroupIds=false` leaves it out of its answer).
//! * **Boolean query flags** (`sendActivation` on POST users, `includeSmartGroupIds` and
//!   `editUsersByPhone` on PUT users) accept exactly `true` or `false`; anything else is a 422
//!   query error. `sendActivation=true` records the created users as having got the
//!   activation SMS ([`Simulator::activations`]). `editUsersByPhone` is accepted but items are
//!   still matched by `userId`.
//! * **Policy assignment**: a user holds one policy per policy TYPE; assigning another policy of
//!   the same type replaces it. A repeated PUT overwrites balance and unit.
//! * **Rate limit**: fixed windows aligned to the moment the simulator started: a "minute" is
//!   [`SimConfig::window`] long and a "day" is 1,440 of them. Every request to the Connecteam
//!   API counts, including token requests and requests rejected with 401; requests answered 429
//!   do not consume budget. `x-ratelimit-*-reset` is the window end in UTC epoch seconds, rounded
//!   up; the simulator-only header `x-sim-ratelimit-minute-reset-ms` gives it in epoch
//!   milliseconds for scaled-clock runs.
//! * **Auth**: a `Authorization: Bearer` token must have been issued by `POST /oauth/v1/token`
//!   and not expired; otherwise, when an API key is configured, `X-API-KEY` must match. Scopes
//!   are recorded but not enforced.
//! * **No idempotency**: like Connecteam, the simulator ignores `Idempotency-Key` (it only logs
//!   it). A repeated POST is applied again: a repeated user creation fails 422 on the duplicate
//!   phone, a repeated pack assignment is an already-assigned one.
//! * **Dropped connections** ([`FaultKind::Drop`], [`FaultKind::ApplyThenDrop`]) are answered
//!   with a body that fails at once, so hyper aborts the HTTP/1.1 connection before the response
//!   head is flushed and the caller sees a connection error, not a status.
//! * **Order of checks** for each request: rate limit, then auth, then injected faults, then
//!   the endpoint. A request that is answered 429 or 401 does not consume a fault.
//!
//! The same state is inspectable and controllable over HTTP under `/_sim/…` (not counted
//! against the budget, not logged): `GET|DELETE /_sim/requests`, `GET|POST /_sim/users`,
//! `POST|DELETE /_sim/faults`, `GET /_sim/packs/{id}/assignments`, `GET /_sim/policy-assignments`,
//! `GET /_sim/activations`, `PUT /_sim/rate-limit`.

mod api;
mod control;
mod custom_fields;
mod model;
mod onboarding;
mod reply;
mod sim;
mod state;
#[cfg(test)]
mod tests;
mod time_off;
mod users;
mod vendor_api;

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

pub use model::{
    AlreadyAssigned, Fault, FaultKind, LoggedRequest, PackProgress, ReceivedNotification, SimConfig,
};
pub use sim::Simulator;
pub use state::{SimCustomField, SimDropdownOption, SimPack, SimPolicy, SimPolicyType, SimUser};
pub use vendor_api::{VendorApi, VendorRequest};

/// Runs the simulator on `listen` until `cancel`, with the default configuration (seeded, any
/// API key accepted). For `hirebridge simulate-connecteam`.
pub async fn run(listen: SocketAddr, cancel: CancellationToken) -> anyhow::Result<()> {
    run_with(SimConfig::default(), listen, cancel).await
}

/// [`run`] with an explicit configuration.
pub async fn run_with(
    cfg: SimConfig,
    listen: SocketAddr,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let sim = Simulator::new(cfg);
    tracing::info!(%addr, "connecteam simulator listening (control routes under /_sim)");
    for p in sim.packs() {
        tracing::info!(pack_id = p.id, name = %p.name, is_default = p.is_default, "seeded pack");
    }
    for t in sim.policy_types() {
        for p in &t.policies {
            tracing::info!(policy_type = %t.id, policy_id = %p.id, name = %p.name, unit = %p.unit, "seeded time-off policy");
        }
    }
    sim.serve(listener, cancel.cancelled_owned()).await?;
    Ok(())
}
