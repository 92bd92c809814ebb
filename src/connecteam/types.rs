//! The shapes Connecteam sends and receives, as far as hirebridge relies on them.
//! Every read type ignores fields it does not know, so payload growth on Connecteam's side
//! (they document that the user object changes) never breaks decoding.

use serde::{Deserialize, Serialize};

use crate::domain::{Email, PhoneE164};
use crate::remote::{Answer, RateReport};

/// `userStatus` of a users lookup. Connecteam's own default is `active`, which misses archived
/// users; hirebridge always asks for `all` unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Archived,
    #[default]
    All,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Archived => "archived",
            UserStatus::All => "all",
        }
    }
}

/// One `GET /users/v1/users`. Array filters are sent as repeated keys.
#[derive(Debug, Clone, PartialEq)]
pub struct UserQuery {
    pub user_ids: Vec<u64>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub full_names: Vec<String>,
    pub status: UserStatus,
    /// 1..=500 (Connecteam's bounds); anything else is rejected before sending.
    pub limit: u32,
    pub offset: u32,
}

impl Default for UserQuery {
    fn default() -> Self {
        Self {
            user_ids: Vec::new(),
            emails: Vec::new(),
            phones: Vec::new(),
            full_names: Vec::new(),
            status: UserStatus::All,
            limit: MAX_USERS_PAGE,
            offset: 0,
        }
    }
}

/// Largest page the users endpoint serves.
pub const MAX_USERS_PAGE: u32 = 500;
/// Most users one `POST /users/v1/users` accepts.
pub const MAX_CREATE_USERS: usize = 25;
/// Most user ids one pack-assignment POST accepts.
pub const MAX_PACK_ASSIGN: usize = 500;

/// One page of a users lookup.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserPage {
    pub users: Vec<User>,
    /// The offset to ask for next; `None` when this page was the last (shorter than `limit`).
    pub next_offset: Option<u32>,
}

/// A Connecteam user, reduced to what hirebridge uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: u64,
    /// `null` reads as empty: one user without a name must not fail a whole page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub first_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_archived: bool,
    /// The user's custom field values as Connecteam shows them (a dropdown's value is
    /// `[{id, value}]`, a direct manager's the manager's user id).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub custom_fields: Vec<CustomFieldValue>,
}

/// A value, or its default when Connecteam sends `null`.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One element of the `POST /users/v1/users` array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub first_name: String,
    pub last_name: String,
    /// E.164 (`+<country><number>`); Connecteam's unique identifier of a user.
    pub phone_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Always `user` for hires.
    pub user_type: String,
    /// The plan's custom fields, written in the same request that creates the user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_fields: Vec<CustomFieldValue>,
}

/// One custom field value, as written (`customFields: [{customFieldId, value}]`) and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomFieldValue {
    pub custom_field_id: u64,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// Largest page the custom-fields endpoint serves.
pub const MAX_CUSTOM_FIELDS_PAGE: u32 = 500;

/// One of the account's custom fields (`GET /users/v1/custom-fields`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomField {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    /// `str email date phone number dropdown file directManager birthday link location`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_multi_select: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub dropdown_options: Vec<DropdownOption>,
}

/// A dropdown's option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DropdownOption {
    pub id: u64,
    #[serde(default)]
    pub value: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_disabled: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_deleted: bool,
}

impl NewUser {
    /// A plain `user` from already-validated contact data.
    pub fn new(
        first_name: impl Into<String>,
        last_name: impl Into<String>,
        phone: &PhoneE164,
        email: Option<&Email>,
    ) -> Self {
        Self {
            first_name: first_name.into(),
            last_name: last_name.into(),
            phone_number: phone.as_str().to_owned(),
            email: email.map(|e| e.as_str().to_owned()),
            user_type: "user".to_owned(),
            custom_fields: Vec::new(),
        }
    }
}

/// An onboarding pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pack {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_default: bool,
}

/// A user's assignment to a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackAssignment {
    pub id: u64,
    pub user_id: u64,
    /// `in_progress` or `completed`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub is_waiting_approval: bool,
}

/// A time-off policy type and its policies. Assignments use the POLICY id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyType {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub policies: Vec<Policy>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// `hours` or `days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// A user's balance under a policy type: which of the type's policies the user holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyBalance {
    pub user_id: u64,
    pub policy_id: String,
    pub balance: f64,
    /// `hours` or `days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<String>,
}

/// A successful answer, with what the response said about the account's budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<T> {
    pub value: T,
    pub rate: Option<RateReport>,
    /// The body's `requestId` (or an `x-request-id` header), for support tickets.
    pub request_id: Option<String>,
}

impl<T> Answer for Reply<T> {
    type Value = T;
    fn into_parts(self) -> (T, Option<RateReport>) {
        (self.value, self.rate)
    }
}
