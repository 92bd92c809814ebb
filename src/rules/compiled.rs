//! A compiled table's parts: rules with their conditions, already-compiled patterns, and the
//! located errors a table can have.

use std::fmt;
use std::sync::Arc;

use globset::GlobMatcher;
use regex::Regex;

pub(super) use super::template::Field;
use super::template::Template;
use crate::domain::PolicyGrant;

/// Custom field name (as written) → its value, in table order.
pub(super) type FieldValues = Vec<(String, Template)>;

/// One compiled rule: all conditions must hold for it to match.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    /// `Arc<str>` so the per-match metric label costs no allocation.
    pub(super) name: Arc<str>,
    pub(super) conditions: Vec<Condition>,
    pub(super) packs: Vec<u64>,
    pub(super) policies: Vec<PolicyGrant>,
    /// `assign.fields`.
    pub(super) fields: FieldValues,
    /// `assign.activation`: whether to send the activation SMS, when this rule says.
    pub(super) activation: Option<bool>,
    pub(super) stop: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Condition {
    pub(super) field: Field,
    pub(super) op: Op,
}

#[derive(Debug, Clone)]
pub(super) enum Op {
    /// A plain value: equal, ignoring case. Stored lower-cased.
    Equals(String),
    /// Equal (ignoring case) to one of these. Stored lower-cased.
    In(Vec<String>),
    /// Equal to none of these, or missing. Stored lower-cased.
    NotIn(Vec<String>),
    /// A shell-style pattern, case-insensitive.
    Glob(GlobMatcher),
    /// A regular expression, exactly as written (add `(?i)` to ignore case).
    Regex(Regex),
}

/// One problem in a rule table, located so an editor can jump to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file name as given to [`RuleSet::parse`] / [`RuleSet::load`].
    pub file: String,
    /// 1-based; 0 when the problem is with the file as a whole (it cannot be read).
    pub line: usize,
    /// 1-based, in characters; 0 together with `line` 0.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for RuleError {}

/// Every problem found in a rule table, in file order. Displays one `FILE:LINE:COL: message`
/// per line, the format editors and CI annotate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleErrors {}
