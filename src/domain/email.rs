//! An email address that parsed.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// An email address: one `@`, a non-empty local part, a domain with a dot; the domain is
/// lower-cased (it is case-insensitive), the local part kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("is not an email address (no @)".to_owned());
        };
        // The domain is case-insensitive and kept lower-cased. It is checked in that form, so
        // that what is kept parses again as itself (`İ` lower-cases to `i` and a combining
        // dot, which no domain may hold).
        let domain = domain.to_lowercase();
        let ok_domain = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let ok_local = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c == '@' || c.is_control());
        if !ok_local || !ok_domain || s.len() > 254 {
            return Err("is not a valid email address".to_owned());
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Email::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "Ada@example.com"
        );
        for bad in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@b..c", "a@.b.c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_email_is_kept_in_a_form_that_parses_again_as_itself() {
        // `İ` lower-cases to `i` + U+0307: accepted before, then refused on read-back.
        assert!(Email::parse("a@İstanbul.com").is_err());
        let e = Email::parse("Zoë@Ünïcode.Example").unwrap();
        assert_eq!(e.as_str(), "Zoë@ünïcode.example");
        assert_eq!(Email::parse(e.as_str()), Ok(e));
    }
}
