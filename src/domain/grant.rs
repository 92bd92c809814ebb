//! A time-off policy a plan grants, with its starting balance.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One time-off policy to assign. Without a balance the policy's own default applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyGrant {
    /// The Connecteam policy id (`policies[].id`, not the policy type id).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
}

/// A starting time-off balance: finite and never negative, so a plan can never take time away.
/// Serialises as an integer when whole (`15`), else as a decimal (`7.5`), as people write it.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Balance(f64);

impl Balance {
    /// `None` for negative, NaN or infinite amounts.
    pub fn new(value: f64) -> Option<Balance> {
        (value.is_finite() && value >= 0.0).then_some(Balance(if value == 0.0 {
            0.0 // fold -0.0
        } else {
            value
        }))
    }

    pub fn value(self) -> f64 {
        self.0
    }

    fn as_whole(self) -> Option<u64> {
        // 2^53: beyond it an f64 no longer holds every integer exactly.
        (self.0.fract() == 0.0 && self.0 <= 9_007_199_254_740_992.0).then_some(self.0 as u64)
    }
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_whole() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Balance {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_whole() {
            Some(n) => s.serialize_u64(n),
            None => s.serialize_f64(self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Balance {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Balance::new(v)
            .ok_or_else(|| serde::de::Error::custom("a balance must be a number of at least 0"))
    }
}

/// The unit of a [`Balance`]; Connecteam policies count in hours or days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Hours,
    Days,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Hours => "hours",
            Unit::Days => "days",
        }
    }
}
