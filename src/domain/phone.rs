//! A phone number in the form Connecteam identifies users by.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A phone number in E.164 (`+14155550100`), the form Connecteam identifies users by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneE164(String);

impl PhoneE164 {
    /// Parse a number as a person would write it; `region` (ISO 3166, e.g. `US`) applies
    /// to numbers written without a country code.
    pub fn parse(raw: &str, region: &str) -> Result<Self, String> {
        // The parser reads letters as keypad digits (`O` as 6): a typo would become another
        // person's number.
        if raw.chars().any(char::is_alphabetic) {
            return Err("must be digits (with + ( ) - . and spaces), not letters".to_owned());
        }
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

    /// Whether `theirs` (a number as Connecteam stored it) is this number.
    pub fn same_as(&self, theirs: &str, region: &str) -> bool {
        theirs == self.0 || PhoneE164::parse(theirs, region).is_ok_and(|p| p == *self)
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

/// Whether `region` is an ISO 3166 region code the phone parser knows (`US`, `GB`).
pub fn is_region(region: &str) -> bool {
    region.parse::<phonenumber::country::Id>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(PhoneE164::parse("+1415555010O", "US").is_err());
        assert!(PhoneE164::parse("1-800-FLOWERS", "US").is_err());
        assert!(PhoneE164::parse("not a phone", "US").is_err());
    }

    #[test]
    fn a_number_is_the_same_however_it_is_written() {
        let ours = PhoneE164::parse("+14155550100", "US").unwrap();
        assert!(ours.same_as("+14155550100", "US"));
        assert!(ours.same_as("(415) 555-0100", "US"));
        assert!(!ours.same_as("+14155550101", "US"));
        assert!(is_region("GB") && !is_region("XX"));
    }
}
