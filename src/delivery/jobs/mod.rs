//! The kinds of work, one file each. Adding a kind is its file and one line in [`all`].

mod assign_pack;
mod assign_policy;
mod fetch_person;
mod resolve_user;
mod update_profile;
mod user_match;

use std::sync::Arc;

use crate::config::ConnecteamConfig;
use crate::connecteam::Client;

use super::job::Job;
use super::profile::Fields;

pub use fetch_person::{FetchSource, Fetching, METRIC_FETCHES, Planner};
pub use resolve_user::LOOKUP_BATCH;

/// Every kind of work, in the order a round takes them (the people sources send only ids
/// of, then a user before its profile, packs and policies, so a hire's work can finish in one
/// pass).
pub(crate) fn all(
    client: &Client,
    connecteam: &ConnecteamConfig,
    fetching: Option<&Fetching>,
) -> Vec<Box<dyn Job>> {
    let mut jobs: Vec<Box<dyn Job>> = Vec::new();
    if let Some(f) = fetching {
        for source in &f.sources {
            jobs.push(Box::new(fetch_person::FetchPerson::new(
                source.clone(),
                f.planner.clone(),
            )));
        }
    }
    // The account's custom fields, read by the user resolution and forgotten by either when
    // Connecteam refuses a field.
    let fields = Arc::new(Fields::default());
    jobs.push(Box::new(resolve_user::ResolveUser::new(
        client.clone(),
        connecteam,
        Arc::clone(&fields),
    )));
    jobs.push(Box::new(update_profile::UpdateProfile::new(
        client.clone(),
        fields,
    )));
    jobs.push(Box::new(assign_pack::AssignPack::new(client.clone())));
    jobs.push(Box::new(assign_policy::AssignPolicy::new(client.clone())));
    jobs
}
