//! The rule table: how the customer's HR operations team says which onboarding packs and
//! time-off policies each kind of hire gets, without touching code.
//!
//! A table is YAML (CONTRACT.md, "The rule table"). It is parsed once into a [`RuleSet`] with
//! every regex and glob compiled, so evaluating a hire is a walk over plain data. Every problem
//! in a table is reported in one pass as `FILE:LINE:COL: message`, because the people who edit
//! it are not programmers and should fix everything in one round trip.
//!
//! The service holds the current table in a [`RulesHandle`], which [`spawn_reloader`] swaps on a
//! file change (including a Kubernetes ConfigMap's symlink swap) or SIGHUP; an invalid new table
//! is refused and the last good one stays in force.

pub mod cli;
mod compiled;
mod parse;
mod reload;
mod report;
mod table;
mod template;
mod yaml;

#[cfg(test)]
mod tests;

pub use compiled::{RuleError, RuleErrors};
pub use reload::{LoadedRules, RulesHandle, spawn_reloader};
pub use table::{Matches, RuleSet, fields_missing_in_account, missing_in_account};

/// The documented example table, built into the binary so `serve --sandbox` runs the whole
/// pipeline in an empty directory. It names only the packs and policies the simulator is
/// seeded with.
pub const EXAMPLE_RULES: &str = include_str!("../../examples/rules.yaml");
