//! The kinds of work, one file each. Adding a kind is its file and one line in [`all`].

mod assign_pack;
mod assign_policy;
mod resolve_user;
mod user_match;

use crate::config::ConnecteamConfig;
use crate::connecteam::Client;

use super::job::Job;

pub use resolve_user::LOOKUP_BATCH;

/// Every kind of work, in the order a round takes them (a user before its packs and
/// policies, so a hire's work can finish in one pass).
pub(crate) fn all(client: &Client, connecteam: &ConnecteamConfig) -> Vec<Box<dyn Job>> {
    vec![
        Box::new(resolve_user::ResolveUser::new(client.clone(), connecteam)),
        Box::new(assign_pack::AssignPack::new(client.clone())),
        Box::new(assign_policy::AssignPolicy::new(client.clone())),
    ]
}
