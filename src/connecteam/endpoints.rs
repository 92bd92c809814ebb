//! One method per Connecteam endpoint hirebridge uses, and the envelopes its answers come in.

use reqwest::Method;
use serde::Deserialize;

use super::client::{Client, Request};
use super::error::ApiError;
use super::transport::from_value;
use super::types::{
    CustomField, CustomFieldValue, MAX_CREATE_USERS, MAX_CUSTOM_FIELDS_PAGE, MAX_PACK_ASSIGN,
    MAX_USERS_PAGE, NewUser, Pack, PackAssignment, PolicyBalance, PolicyType, Reply, User,
    UserPage, UserQuery,
};

impl Client {
    /// The pack ids and policy ids the account has (two GETs), for checking a rule table
    /// against the account.
    pub async fn catalog(&self) -> Result<(Vec<u64>, Vec<String>), ApiError> {
        let packs = self.list_packs().await?.value;
        let types = self.policy_types().await?.value;
        Ok((
            packs.into_iter().map(|p| p.id).collect(),
            types
                .into_iter()
                .flat_map(|t| t.policies.into_iter().map(|p| p.id))
                .collect(),
        ))
    }

    /// `GET /users/v1/users`: one page of users matching the filters. Values within one filter
    /// are alternatives; how Connecteam combines different filters (emails AND phones, or OR)
    /// is undocumented, so callers that need "by email or by phone" should query each filter
    /// on its own or match the answer themselves.
    pub async fn find_users(&self, q: &UserQuery) -> Result<Reply<UserPage>, ApiError> {
        if !(1..=MAX_USERS_PAGE).contains(&q.limit) {
            return Err(ApiError::not_sent(format!(
                "limit {} is outside 1..={MAX_USERS_PAGE}",
                q.limit
            )));
        }
        let mut url = self.url(&["users", "v1", "users"]);
        {
            let mut pairs = url.query_pairs_mut();
            for id in &q.user_ids {
                pairs.append_pair("userIds", &id.to_string());
            }
            for e in &q.emails {
                pairs.append_pair("emailAddresses", e);
            }
            for p in &q.phones {
                pairs.append_pair("phoneNumbers", p);
            }
            for n in &q.full_names {
                pairs.append_pair("fullNames", n);
            }
            pairs.append_pair("userStatus", q.status.as_str());
            pairs.append_pair("limit", &q.limit.to_string());
            pairs.append_pair("offset", &q.offset.to_string());
        }
        let (limit, offset) = (q.limit, q.offset);
        self.call(
            Request {
                endpoint: "users.find",
                method: Method::GET,
                url,
                body: None,
                idempotency_key: None,
            },
            move |v| {
                let page: UsersEnvelope = from_value(v)?;
                let n = page.data.users.len() as u32;
                let next_offset = next_page(n, limit, offset, page.paging.as_ref());
                Ok(UserPage {
                    users: page.data.users,
                    next_offset,
                })
            },
        )
        .await
    }

    /// `GET /users/v1/custom-fields`: one page (500) of the account's custom fields from
    /// `offset`, and the offset of the next page when there is one.
    pub async fn custom_fields(
        &self,
        offset: u32,
    ) -> Result<Reply<(Vec<CustomField>, Option<u32>)>, ApiError> {
        let mut url = self.url(&["users", "v1", "custom-fields"]);
        url.query_pairs_mut()
            .append_pair("limit", &MAX_CUSTOM_FIELDS_PAGE.to_string())
            .append_pair("offset", &offset.to_string());
        self.call(
            Request {
                endpoint: "users.custom_fields",
                method: Method::GET,
                url,
                body: None,
                idempotency_key: None,
            },
            move |v| {
                let page: CustomFieldsEnvelope = from_value(v)?;
                let n = page.data.custom_fields.len() as u32;
                let next = next_page(n, MAX_CUSTOM_FIELDS_PAGE, offset, page.paging.as_ref());
                Ok((page.data.custom_fields, next))
            },
        )
        .await
    }

    /// Every custom field of the account, page by page.
    pub async fn all_custom_fields(&self) -> Result<Vec<CustomField>, ApiError> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let (page, next) = self.custom_fields(offset).await?.value;
            out.extend(page);
            match next {
                Some(n) => offset = n,
                None => return Ok(out),
            }
        }
    }

    /// `POST /users/v1/users?sendActivation=…` with 1..=25 users; answers the created users with
    /// their ids. `send_activation`: Connecteam texts each of them the app's activation link.
    pub async fn create_users(
        &self,
        users: &[NewUser],
        send_activation: bool,
        idempotency_key: &str,
    ) -> Result<Reply<Vec<User>>, ApiError> {
        if users.is_empty() || users.len() > MAX_CREATE_USERS {
            return Err(ApiError::not_sent(format!(
                "{} users in one create; Connecteam accepts 1..={MAX_CREATE_USERS}",
                users.len()
            )));
        }
        let body = serde_json::to_value(users).map_err(|e| ApiError::not_sent(e.to_string()))?;
        let mut url = self.url(&["users", "v1", "users"]);
        url.query_pairs_mut().append_pair(
            "sendActivation",
            if send_activation { "true" } else { "false" },
        );
        self.call(
            Request::write("users.create", Method::POST, url, body, idempotency_key),
            |v| Ok(from_value::<CreateEnvelope>(v)?.data.results),
        )
        .await
    }

    /// `PUT /users/v1/users` with `isArchived: false` for 1..=25 users: a rehired person's
    /// archived user becomes active again.
    pub async fn restore_users(
        &self,
        user_ids: &[u64],
        idempotency_key: &str,
    ) -> Result<Reply<()>, ApiError> {
        let body = user_ids
            .iter()
            .map(|id| serde_json::json!({"userId": id, "isArchived": false}))
            .collect();
        self.update_users(body, idempotency_key).await
    }

    /// `PUT /users/v1/users` for 1..=25 users: each user's `customFields` set to the values
    /// given (the fields left out are kept).
    pub async fn update_custom_fields(
        &self,
        users: &[(u64, Vec<CustomFieldValue>)],
        idempotency_key: &str,
    ) -> Result<Reply<()>, ApiError> {
        let body = users
            .iter()
            .map(|(id, fields)| serde_json::json!({"userId": id, "customFields": fields}))
            .collect();
        self.update_users(body, idempotency_key).await
    }

    /// `DELETE /users/v1/users?deletionType=archive` for 1..=25 users: archived, never
    /// deleted (Connecteam's other deletion type is permanent; this client cannot send it).
    /// Connecteam takes the list all-or-nothing.
    pub async fn archive_users(
        &self,
        user_ids: &[u64],
        idempotency_key: &str,
    ) -> Result<Reply<()>, ApiError> {
        if user_ids.is_empty() || user_ids.len() > MAX_CREATE_USERS {
            return Err(ApiError::not_sent(format!(
                "{} users in one archive; hirebridge sends 1..={MAX_CREATE_USERS}",
                user_ids.len()
            )));
        }
        let mut url = self.url(&["users", "v1", "users"]);
        url.query_pairs_mut().append_pair("deletionType", "archive");
        self.call(
            Request::write(
                "users.archive",
                Method::DELETE,
                url,
                serde_json::json!(user_ids),
                idempotency_key,
            ),
            |_| Ok(()),
        )
        .await
    }

    /// `PUT /users/v1/users?includeSmartGroupIds=false` with 1..=25 `{userId, …changes}`.
    /// The smart groups of every user in the answer are documented as slow to compute, and
    /// nothing here reads them.
    async fn update_users(
        &self,
        items: Vec<serde_json::Value>,
        idempotency_key: &str,
    ) -> Result<Reply<()>, ApiError> {
        if items.is_empty() || items.len() > MAX_CREATE_USERS {
            return Err(ApiError::not_sent(format!(
                "{} users in one update; Connecteam accepts 1..={MAX_CREATE_USERS}",
                items.len()
            )));
        }
        let mut url = self.url(&["users", "v1", "users"]);
        url.query_pairs_mut()
            .append_pair("includeSmartGroupIds", "false");
        self.call(
            Request::write(
                "users.update",
                Method::PUT,
                url,
                serde_json::Value::Array(items),
                idempotency_key,
            ),
            |_| Ok(()),
        )
        .await
    }

    /// `GET /onboarding/v1/packs`.
    pub async fn list_packs(&self) -> Result<Reply<Vec<Pack>>, ApiError> {
        self.call(
            Request::read("packs.list", self.url(&["onboarding", "v1", "packs"])),
            |v| Ok(from_value::<PacksEnvelope>(v)?.data.packs),
        )
        .await
    }

    /// `GET /onboarding/v1/packs/{packId}/assignments`; an unknown pack is `Permanent` 404.
    pub async fn pack_assignments(
        &self,
        pack_id: u64,
    ) -> Result<Reply<Vec<PackAssignment>>, ApiError> {
        self.call(
            Request::read(
                "packs.assignments.get",
                self.url(&[
                    "onboarding",
                    "v1",
                    "packs",
                    &pack_id.to_string(),
                    "assignments",
                ]),
            ),
            |v| Ok(from_value::<AssignmentsEnvelope>(v)?.data.assignments),
        )
        .await
    }

    /// `POST /onboarding/v1/packs/{packId}/assignments` with 1..=500 distinct user ids.
    /// All-or-nothing on Connecteam's side: a 422 means none was assigned.
    pub async fn assign_pack(
        &self,
        pack_id: u64,
        user_ids: &[u64],
        idempotency_key: &str,
    ) -> Result<Reply<()>, ApiError> {
        if user_ids.is_empty() || user_ids.len() > MAX_PACK_ASSIGN {
            return Err(ApiError::not_sent(format!(
                "{} user ids in one pack assignment; Connecteam accepts 1..={MAX_PACK_ASSIGN}",
                user_ids.len()
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(user_ids.len());
        let dupes: Vec<u64> = user_ids
            .iter()
            .copied()
            .filter(|id| !seen.insert(*id))
            .collect();
        if !dupes.is_empty() {
            return Err(ApiError::not_sent(format!(
                "duplicate user ids in one pack assignment: {dupes:?}"
            )));
        }
        self.call(
            Request::write(
                "packs.assign",
                Method::POST,
                self.url(&[
                    "onboarding",
                    "v1",
                    "packs",
                    &pack_id.to_string(),
                    "assignments",
                ]),
                serde_json::json!({ "userIds": user_ids }),
                idempotency_key,
            ),
            |_| Ok(()),
        )
        .await
    }

    /// `GET /time-off/v1/policy-types`.
    pub async fn policy_types(&self) -> Result<Reply<Vec<PolicyType>>, ApiError> {
        self.call(
            Request::read(
                "policies.types",
                self.url(&["time-off", "v1", "policy-types"]),
            ),
            |v| Ok(from_value::<PolicyTypesEnvelope>(v)?.data.policy_types),
        )
        .await
    }

    /// `GET /time-off/v1/policy-types/{policyTypeId}/balances` for one user: the policy of
    /// the type they hold (a user holds at most one per type) and its balance.
    pub async fn policy_balances(
        &self,
        policy_type_id: &str,
        user_id: u64,
    ) -> Result<Reply<Vec<PolicyBalance>>, ApiError> {
        if policy_type_id.is_empty() {
            return Err(ApiError::not_sent("empty policy type id"));
        }
        let mut url = self.url(&["time-off", "v1", "policy-types", policy_type_id, "balances"]);
        url.query_pairs_mut()
            .append_pair("userIds", &user_id.to_string())
            .append_pair("limit", "100");
        self.call(Request::read("policies.balances", url), |v| {
            let balances = from_value::<BalancesEnvelope>(v)?.data.balances;
            Ok(balances
                .into_iter()
                .filter(|b| b.user_id == user_id)
                .collect())
        })
        .await
    }

    /// `PUT /time-off/v1/time-off-policies/{policyId}/assignments` for one user, with an
    /// optional starting balance in `unit` (`hours` or `days`). Connecteam documents this PUT
    /// as safe to repeat, but a repeat sets the balance again: an unseen outcome is reported
    /// as `Ambiguous` like every write, and the engine reads the user's balance before sending
    /// it again.
    pub async fn assign_policy(
        &self,
        policy_id: &str,
        user_id: u64,
        balance: Option<f64>,
        unit: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Reply<()>, ApiError> {
        if policy_id.is_empty() {
            return Err(ApiError::not_sent("empty policy id"));
        }
        let mut body = serde_json::Map::new();
        body.insert("userId".into(), user_id.into());
        if let Some(b) = balance {
            // serde_json would silently send NaN/∞ as null.
            let n = serde_json::Number::from_f64(b)
                .ok_or_else(|| ApiError::not_sent(format!("balance {b} is not a number")))?;
            body.insert("balance".into(), serde_json::Value::Number(n));
        }
        if let Some(u) = unit {
            body.insert("unit".into(), u.into());
        }
        self.call(
            Request::write(
                "policies.assign",
                Method::PUT,
                self.url(&[
                    "time-off",
                    "v1",
                    "time-off-policies",
                    policy_id,
                    "assignments",
                ]),
                serde_json::Value::Object(body),
                idempotency_key,
            ),
            |_| Ok(()),
        )
        .await
    }
}

#[derive(Deserialize)]
struct UsersEnvelope {
    data: UsersData,
    #[serde(default)]
    paging: Option<Paging>,
}
#[derive(Deserialize)]
struct UsersData {
    // Required: reading a malformed page as "no such user" would create a duplicate.
    users: Vec<User>,
}
#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    offset: Option<u64>,
}
/// Where the next page of a paged list starts, or `None` when this one (`n` items asked from
/// `offset`, `limit` a page) was the last. Connecteam's `paging.offset` is where to continue;
/// counting stands in when it is missing or would not move forward.
fn next_page(n: u32, limit: u32, offset: u32, paging: Option<&Paging>) -> Option<u32> {
    if n < limit {
        return None;
    }
    let counted = offset.saturating_add(n);
    match paging.and_then(|p| p.offset) {
        Some(o) if o > u64::from(offset) => Some(u32::try_from(o).unwrap_or(counted)),
        _ => Some(counted),
    }
}

#[derive(Deserialize)]
struct CustomFieldsEnvelope {
    data: CustomFieldsData,
    #[serde(default)]
    paging: Option<Paging>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomFieldsData {
    custom_fields: Vec<CustomField>,
}
#[derive(Deserialize)]
struct CreateEnvelope {
    data: CreateData,
}
#[derive(Deserialize)]
struct CreateData {
    results: Vec<User>,
}
#[derive(Deserialize)]
struct PacksEnvelope {
    data: PacksData,
}
#[derive(Deserialize)]
struct PacksData {
    packs: Vec<Pack>,
}
#[derive(Deserialize)]
struct AssignmentsEnvelope {
    data: AssignmentsData,
}
#[derive(Deserialize)]
struct AssignmentsData {
    assignments: Vec<PackAssignment>,
}
#[derive(Deserialize)]
struct PolicyTypesEnvelope {
    data: PolicyTypesData,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyTypesData {
    policy_types: Vec<PolicyType>,
}
#[derive(Deserialize)]
struct BalancesEnvelope {
    data: BalancesData,
}
#[derive(Deserialize)]
struct BalancesData {
    balances: Vec<PolicyBalance>,
}
