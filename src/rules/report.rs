//! Where the problems of a table are collected, each at its line and column.

use marked_yaml::types::MarkedMappingNode;
use marked_yaml::{Marker, Span};

use super::compiled::RuleError;

pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) errors: Vec<RuleError>,
}

impl Ctx<'_> {
    pub(super) fn at(&mut self, span: &Span, message: impl Into<String>) {
        let (line, column) = span.start().map_or((1, 1), |m| (m.line(), m.column()));
        self.errors.push(RuleError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        });
    }

    pub(super) fn at_marker(&mut self, m: &Marker, message: impl Into<String>) {
        self.errors.push(RuleError {
            file: self.file.to_owned(),
            line: m.line().max(1),
            column: m.column().max(1),
            message: message.into(),
        });
    }

    /// Report a problem with a mapping as a whole (a missing key). A block mapping's own span
    /// starts at its first `:`, so point at its first key instead; a flow mapping's `{` stays.
    pub(super) fn at_map(&mut self, map: &MarkedMappingNode, message: impl Into<String>) {
        let pos = |s: &Span| s.start().map(|m| (m.line(), m.column()));
        let span = match map.keys().next() {
            Some(k) if pos(k.span()) < pos(map.span()) => k.span(),
            _ => map.span(),
        };
        self.at(span, message);
    }

    /// Report keys of `map` not in `allowed`; `what` names the place for the message.
    pub(super) fn unknown_keys(&mut self, map: &MarkedMappingNode, allowed: &[&str], what: &str) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.at(
                    key.span(),
                    format!(
                        "unknown key `{}` {what} (expected one of: {})",
                        key.as_str(),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }
}
