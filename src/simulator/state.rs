//! The simulator's state: users, packs, policies, tokens, faults, the request log and the
//! rate-limit windows.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::model::{Fault, LoggedRequest, ReceivedNotification, SimConfig};

/// The seeded `Department` and `Location` dropdowns (the smart groups' rules use them).
const DEPARTMENT: u64 = 6_208_761;
const LOCATION: u64 = 6_208_762;

/// First `userId` handed out.
pub(crate) const FIRST_USER_ID: u64 = 9_170_001;

/// A Connecteam user, serialised as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimUser {
    pub user_id: u64,
    pub first_name: String,
    pub last_name: String,
    pub phone_number: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    pub user_type: String,
    #[serde(default)]
    /// `[{customFieldId, value, type, name}]` as Connecteam shows them, by `customFieldId` (a
    /// dropdown's value is `[{id, value}]`, a direct manager's the manager's `userId`). The
    /// API and `/_sim/users` add the computed `smartGroupsIds` when serialising a user.
    pub custom_fields: Vec<serde_json::Value>,
    pub is_archived: bool,
    pub created_at: i64,
    pub modified_at: i64,
}

/// One of the account's user custom fields, serialised as `GET /users/v1/custom-fields` shows
/// it (`isMultiSelect` and `dropdownOptions` only for dropdowns).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimCustomField {
    pub id: u64,
    pub name: String,
    /// `str email date phone number dropdown directManager link …`.
    #[serde(rename = "type")]
    pub kind: String,
    pub category_id: u64,
    pub is_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_multi_select: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropdown_options: Option<Vec<SimDropdownOption>>,
}

/// A dropdown field's option.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimDropdownOption {
    pub id: u64,
    pub value: String,
    pub is_disabled: bool,
    pub is_deleted: bool,
}

impl SimCustomField {
    fn plain(id: u64, name: &str, kind: &str) -> Self {
        Self {
            id,
            name: name.into(),
            kind: kind.into(),
            category_id: 1,
            is_required: false,
            is_multi_select: None,
            dropdown_options: None,
        }
    }

    fn dropdown(id: u64, name: &str, multi: bool, options: &[&str]) -> Self {
        let options = options
            .iter()
            .zip(1..)
            .map(|(v, id)| SimDropdownOption {
                id,
                value: (*v).into(),
                is_disabled: false,
                is_deleted: false,
            })
            .collect();
        Self {
            is_multi_select: Some(multi),
            dropdown_options: Some(options),
            ..Self::plain(id, name, "dropdown")
        }
    }

    /// The option with this id, deleted and disabled ones included.
    pub fn option(&self, id: u64) -> Option<&SimDropdownOption> {
        self.dropdown_options.as_ref()?.iter().find(|o| o.id == id)
    }
}

/// A rule-based smart group: a user is a member while the dropdown `field_id` holds one of
/// `option_ids`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SimSmartGroup {
    pub id: u64,
    pub name: String,
    pub field_id: u64,
    pub option_ids: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimPack {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub is_default: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimPolicy {
    pub id: String,
    pub name: String,
    pub unit: String,
    pub accrual_type: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimPolicyType {
    pub id: String,
    pub name: String,
    pub policies: Vec<SimPolicy>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PackAssignment {
    pub id: u64,
    pub user_id: u64,
    pub status: &'static str,
    pub is_waiting_approval: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct PolicyAssignment {
    pub policy_id: String,
    pub balance: Option<f64>,
    pub unit: Option<String>,
}

pub(crate) struct Token {
    pub expires: Instant,
    #[allow(dead_code)]
    pub scope: String,
}

/// Fixed windows aligned to the simulator's start.
pub(crate) struct Rate {
    pub per_minute: u32,
    pub per_day: u32,
    pub window: Duration,
    minute_idx: u64,
    minute_count: u32,
    day_idx: u64,
    day_count: u32,
}

/// The values of the six `x-ratelimit-*` headers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RateHeaders {
    pub minute_limit: u32,
    pub minute_remaining: u32,
    pub minute_reset: u64,
    pub minute_reset_ms: u64,
    pub day_limit: u32,
    pub day_remaining: u32,
    pub day_reset: u64,
}

/// Minutes in a day: a "day" window is this many "minute" windows.
const MINUTES_PER_DAY: u32 = 1_440;

impl Rate {
    fn new(cfg: &SimConfig) -> Self {
        Self {
            per_minute: cfg.requests_per_minute,
            per_day: cfg.requests_per_day,
            window: if cfg.window.is_zero() {
                Duration::from_millis(1)
            } else {
                cfg.window
            },
            minute_idx: 0,
            minute_count: 0,
            day_idx: 0,
            day_count: 0,
        }
    }

    /// Counts one request at `elapsed` since start (unless over budget). Returns whether it is
    /// allowed and the headers to send.
    pub fn check(&mut self, elapsed: Duration, start_epoch: Duration) -> (bool, RateHeaders) {
        let day = self.window * MINUTES_PER_DAY;
        let m_idx = (elapsed.as_nanos() / self.window.as_nanos()) as u64;
        let d_idx = (elapsed.as_nanos() / day.as_nanos()) as u64;
        if m_idx != self.minute_idx {
            self.minute_idx = m_idx;
            self.minute_count = 0;
        }
        if d_idx != self.day_idx {
            self.day_idx = d_idx;
            self.day_count = 0;
        }
        let allowed = self.minute_count < self.per_minute && self.day_count < self.per_day;
        if allowed {
            self.minute_count += 1;
            self.day_count += 1;
        }
        let end = |len: Duration, idx: u64| {
            let nanos = len.as_nanos().saturating_mul(u128::from(idx) + 1);
            start_epoch + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        };
        let minute_end = end(self.window, m_idx);
        let day_end = end(day, d_idx);
        let headers = RateHeaders {
            minute_limit: self.per_minute,
            minute_remaining: self.per_minute.saturating_sub(self.minute_count),
            minute_reset: ceil_secs(minute_end),
            minute_reset_ms: minute_end.as_millis() as u64,
            day_limit: self.per_day,
            day_remaining: self.per_day.saturating_sub(self.day_count),
            day_reset: ceil_secs(day_end),
        };
        (allowed, headers)
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

pub(crate) struct Inner {
    pub users: BTreeMap<u64, SimUser>,
    pub next_user_id: u64,
    pub packs: BTreeMap<u64, SimPack>,
    pub assignments: BTreeMap<u64, Vec<PackAssignment>>,
    pub next_assignment_id: u64,
    pub policy_types: Vec<SimPolicyType>,
    /// Keyed by (policy type id, user id): one policy per type and user.
    pub policy_assignments: BTreeMap<(String, u64), PolicyAssignment>,
    pub tokens: HashMap<String, Token>,
    pub faults: VecDeque<Fault>,
    pub log: Vec<LoggedRequest>,
    pub rate: Rate,
    pub count_429: usize,
    /// The account's user custom fields, by id.
    pub custom_fields: BTreeMap<u64, SimCustomField>,
    pub smart_groups: Vec<SimSmartGroup>,
    /// Users created with `sendActivation=true`, in creation order.
    pub activations: Vec<u64>,
    /// Users deleted permanently (`deletionType=delete`), in order: hirebridge never asks.
    pub permanently_deleted: Vec<u64>,
    /// What the notification receiver (`/_sim/notifications`) took, in arrival order.
    pub notifications: Vec<ReceivedNotification>,
    /// How many more notifications the receiver answers 503 (an outage).
    pub notification_outage: u32,
}

impl Inner {
    pub fn new(cfg: &SimConfig) -> Self {
        Self {
            users: BTreeMap::new(),
            next_user_id: FIRST_USER_ID,
            packs: BTreeMap::new(),
            assignments: BTreeMap::new(),
            next_assignment_id: 501,
            policy_types: Vec::new(),
            policy_assignments: BTreeMap::new(),
            tokens: HashMap::new(),
            faults: VecDeque::new(),
            log: Vec::new(),
            rate: Rate::new(cfg),
            count_429: 0,
            custom_fields: BTreeMap::new(),
            smart_groups: Vec::new(),
            activations: Vec::new(),
            permanently_deleted: Vec::new(),
            notifications: Vec::new(),
            notification_outage: 0,
        }
    }

    pub fn seed(&mut self, now: i64) {
        self.add_pack(
            101,
            "Company essentials",
            "Policies, handbook and first-day forms for everyone",
            true,
        );
        self.add_pack(
            102,
            "Warehouse safety",
            "Forklift, lifting and PPE courses",
            false,
        );
        self.add_pack(
            103,
            "Store operations",
            "Till, opening and closing procedures",
            false,
        );
        self.add_pack(
            104,
            "Office & IT setup",
            "Accounts, laptop and security training",
            false,
        );
        self.add_pack(
            105,
            "Texas compliance",
            "State-specific forms for Texas",
            false,
        );
        let policy = |id: &str, name: &str, unit: &str, accrual: &str| SimPolicy {
            id: id.into(),
            name: name.into(),
            unit: unit.into(),
            accrual_type: accrual.into(),
        };
        self.policy_types = vec![
            SimPolicyType {
                id: "pt-vacation".into(),
                name: "Vacation".into(),
                policies: vec![
                    policy("pol-vac-ft-001", "Vacation – full-time", "days", "yearly"),
                    policy("pol-vac-pt-001", "Vacation – part-time", "hours", "hourly"),
                ],
            },
            SimPolicyType {
                id: "pt-sick".into(),
                name: "Sick leave".into(),
                policies: vec![policy("pol-sick-001", "Sick leave", "hours", "yearly")],
            },
        ];
        self.seed_custom_fields();
        self.insert_user(
            "Grace",
            "Hopper",
            "+14155550123",
            Some("grace@example.com"),
            false,
            now,
        );
        self.insert_user(
            "Alan",
            "Turing",
            "+14155550124",
            Some("alan@example.com"),
            true,
            now,
        );
    }

    /// The custom fields and smart groups listed in [`super::Simulator::new`].
    fn seed_custom_fields(&mut self) {
        let mut department = SimCustomField::dropdown(
            DEPARTMENT,
            "Department",
            false,
            &[
                "Warehouse",
                "Logistics",
                "Retail",
                "Store",
                "Office",
                "Engineering",
                "HR",
                "Drivers",
            ],
        );
        if let Some(drivers) = department
            .dropdown_options
            .as_mut()
            .and_then(|o| o.last_mut())
        {
            drivers.is_deleted = true;
        }
        let fields = [
            SimCustomField::plain(6_208_755, "Title", "str"),
            SimCustomField::plain(6_208_756, "Employment Start Date", "date"),
            SimCustomField::plain(6_208_760, "Direct manager", "directManager"),
            department,
            SimCustomField::dropdown(
                LOCATION,
                "Location",
                false,
                &[
                    "Austin, TX",
                    "Dallas, TX",
                    "Seattle, WA",
                    "New York, NY",
                    "London, UK",
                ],
            ),
            SimCustomField::plain(6_208_763, "Work email", "email"),
            SimCustomField::plain(6_208_764, "Emergency phone", "phone"),
            SimCustomField::plain(6_208_765, "Hourly rate", "number"),
            SimCustomField::plain(6_208_766, "Handbook", "link"),
            SimCustomField::dropdown(
                6_208_767,
                "Skills",
                true,
                &["Forklift", "First aid", "Spanish"],
            ),
        ];
        for f in fields {
            self.custom_fields.insert(f.id, f);
        }
        let group = |id: u64, name: &str, field_id: u64, option_ids: &[u64]| SimSmartGroup {
            id,
            name: name.into(),
            field_id,
            option_ids: option_ids.to_vec(),
        };
        self.smart_groups = vec![
            group(2_359_154, "Warehouse team", DEPARTMENT, &[1, 2]),
            group(2_359_155, "Texas", LOCATION, &[1, 2]),
            group(2_359_156, "Retail team", DEPARTMENT, &[3, 4]),
            group(2_359_157, "Office", DEPARTMENT, &[5, 6, 7]),
        ];
    }

    /// The custom field called `name` (exact match).
    pub fn custom_field_named(&self, name: &str) -> Option<&SimCustomField> {
        self.custom_fields.values().find(|f| f.name == name)
    }

    /// The smart groups `u` belongs to, computed from its current dropdown values.
    pub fn smart_groups_of(&self, u: &SimUser) -> Vec<&SimSmartGroup> {
        self.smart_groups
            .iter()
            .filter(|g| {
                u.custom_fields.iter().any(|cf| {
                    cf["customFieldId"].as_u64() == Some(g.field_id)
                        && cf["value"].as_array().is_some_and(|opts| {
                            opts.iter().any(|o| {
                                o["id"]
                                    .as_u64()
                                    .is_some_and(|id| g.option_ids.contains(&id))
                            })
                        })
                })
            })
            .collect()
    }

    /// `u` as the API shows it: with `smartGroupsIds` unless `!with_groups`.
    pub fn user_json(&self, u: &SimUser, with_groups: bool) -> serde_json::Value {
        let mut v = serde_json::to_value(u).unwrap_or_default();
        if with_groups {
            let ids: Vec<u64> = self.smart_groups_of(u).iter().map(|g| g.id).collect();
            v["smartGroupsIds"] = serde_json::json!(ids);
        }
        v
    }

    pub fn add_pack(&mut self, id: u64, name: &str, description: &str, is_default: bool) {
        self.packs.insert(
            id,
            SimPack {
                id,
                name: name.into(),
                description: description.into(),
                is_default,
            },
        );
        self.assignments.entry(id).or_default();
    }

    pub fn insert_user(
        &mut self,
        first: &str,
        last: &str,
        phone: &str,
        email: Option<&str>,
        archived: bool,
        now: i64,
    ) -> u64 {
        let id = self.next_user_id;
        self.next_user_id += 1;
        self.users.insert(
            id,
            SimUser {
                user_id: id,
                first_name: first.into(),
                last_name: last.into(),
                phone_number: phone.into(),
                email: email.map(str::to_owned),
                user_type: "user".into(),
                custom_fields: Vec::new(),
                is_archived: archived,
                created_at: now,
                modified_at: now,
            },
        );
        id
    }

    /// The policy type holding `policy_id`.
    pub fn policy_type_of(&self, policy_id: &str) -> Option<&SimPolicyType> {
        self.policy_types
            .iter()
            .find(|t| t.policies.iter().any(|p| p.id == policy_id))
    }

    /// Takes one use of the first queued fault matching the request.
    pub fn take_fault(&mut self, method: &axum::http::Method, path: &str) -> Option<Fault> {
        let pos = self.faults.iter().position(|f| {
            f.times > 0
                && f.method.as_ref().is_none_or(|m| m == method)
                && path.starts_with(&f.path_prefix)
        })?;
        let f = &mut self.faults[pos];
        f.times -= 1;
        let taken = f.clone();
        if f.times == 0 {
            self.faults.remove(pos);
        }
        Some(taken)
    }
}
