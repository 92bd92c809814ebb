//! Domain types. They parse rather than validate: an invalid value cannot be constructed.

pub mod hire;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

pub use hire::{EmploymentType, FieldError, Hire, Job, Person};

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
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
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

/// A phone number in E.164 (`+14155550100`), the form Connecteam identifies users by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneE164(String);

impl PhoneE164 {
    /// Parse a number as a person would write it; `region` (ISO 3166, e.g. `US`) applies
    /// to numbers written without a country code.
    pub fn parse(raw: &str, region: &str) -> Result<Self, String> {
        let country = region.parse::<phonenumber::country::Id>().ok();
        let n = phonenumber::parse(country, raw.trim())
            .map_err(|e| format!("is not a phone number ({e})"))?;
        if !phonenumber::is_valid(&n) {
            return Err(format!(
                "is not a valid phone number for its country (read with region {region})"
            ));
        }
        Ok(Self(n.format().mode(phonenumber::Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PhoneE164 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // Stored values are already E.164, so the region is never consulted for them.
        PhoneE164::parse(&s, "US").map_err(serde::de::Error::custom)
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
    fn phones_normalise_to_e164() {
        assert_eq!(
            PhoneE164::parse("(415) 555-0100", "US").unwrap().as_str(),
            "+14155550100"
        );
        assert_eq!(
            PhoneE164::parse("+44 20 7946 0958", "US").unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            PhoneE164::parse("020 7946 0958", "GB").unwrap().as_str(),
            "+442079460958"
        );
        assert!(PhoneE164::parse("123", "US").is_err());
        assert!(PhoneE164::parse("not a phone", "US").is_err());
    }
}
