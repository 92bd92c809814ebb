//! The kinds of sending system a source can be.

use serde::{Deserialize, Serialize};

/// The kind of a sending system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Generic,
    Greenhouse,
    Ashby,
    Workable,
    Merge,
    Bamboohr,
    Lever,
    Hubspot,
    Salesforce,
}

impl SourceKind {
    pub const ALL: [SourceKind; 9] = [
        SourceKind::Generic,
        SourceKind::Greenhouse,
        SourceKind::Ashby,
        SourceKind::Workable,
        SourceKind::Merge,
        SourceKind::Bamboohr,
        SourceKind::Lever,
        SourceKind::Hubspot,
        SourceKind::Salesforce,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Generic => "generic",
            SourceKind::Greenhouse => "greenhouse",
            SourceKind::Ashby => "ashby",
            SourceKind::Workable => "workable",
            SourceKind::Merge => "merge",
            SourceKind::Bamboohr => "bamboohr",
            SourceKind::Lever => "lever",
            SourceKind::Hubspot => "hubspot",
            SourceKind::Salesforce => "salesforce",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}
