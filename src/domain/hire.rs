//! The canonical hire: what every source is normalised to, what rules look at, and what the
//! delivery engine turns into a Connecteam user. Parsing collects every problem at once, each
//! with the JSON pointer of the field, so a sender can fix its payload in one round trip.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::email::Email;
use super::phone::PhoneE164;

/// The only event type the delivery engine acts on today.
pub const HIRE_CREATED: &str = "hire.created";

/// The longest `event_id` (and dedupe key) taken, in characters.
pub const EVENT_ID_MAX_CHARS: usize = 255;

/// An `event_id` of any event type: at most [`EVENT_ID_MAX_CHARS`] characters, no control
/// characters.
pub fn check_event_id(id: &str) -> Result<(), &'static str> {
    if id.chars().count() > EVENT_ID_MAX_CHARS {
        Err("at most 255 characters")
    } else if id.chars().any(char::is_control) {
        Err(NO_CONTROL)
    } else {
        Ok(())
    }
}

/// The longest event `type` taken, in characters.
pub const EVENT_TYPE_MAX_CHARS: usize = 128;

/// The `type` of any event: not blank, at most [`EVENT_TYPE_MAX_CHARS`] characters, no control
/// characters.
pub fn check_event_type(t: &str) -> Result<(), &'static str> {
    if t.trim().is_empty() {
        Err("must not be empty")
    } else if t.chars().count() > EVENT_TYPE_MAX_CHARS {
        Err("at most 128 characters")
    } else if t.chars().any(char::is_control) {
        Err(NO_CONTROL)
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hire {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    pub person: Person,
    #[serde(default)]
    pub job: Job,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub first_name: String,
    pub last_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// E.164, normalised with the source's phone region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneE164>,
    /// The sender's own id for the person (a candidate or employee id): how later events
    /// about them are matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Job {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employment_type: Option<EmploymentType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_email: Option<Email>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentType {
    FullTime,
    PartTime,
    Contract,
    Temporary,
    Intern,
    Other,
}

impl EmploymentType {
    pub const ALL: [EmploymentType; 6] = [
        EmploymentType::FullTime,
        EmploymentType::PartTime,
        EmploymentType::Contract,
        EmploymentType::Temporary,
        EmploymentType::Intern,
        EmploymentType::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EmploymentType::FullTime => "full_time",
            EmploymentType::PartTime => "part_time",
            EmploymentType::Contract => "contract",
            EmploymentType::Temporary => "temporary",
            EmploymentType::Intern => "intern",
            EmploymentType::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// One problem with one field of an incoming event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// RFC 6901 JSON pointer into the body, e.g. `/person/email`.
    pub pointer: String,
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl Hire {
    /// Read a canonical hire from a JSON value, collecting every missing or invalid field.
    /// `phone_region` is used for numbers written without a country code.
    pub fn from_json(body: &Value, phone_region: &str) -> Result<Hire, Vec<FieldError>> {
        let mut errs = Vec::new();
        let Some(root) = body.as_object() else {
            return Err(vec![FieldError::new("", "the body must be a JSON object")]);
        };
        let event_id = required_str(root.get("event_id"), "/event_id", &mut errs);
        if let Some(id) = &event_id
            && let Err(m) = check_event_id(id)
        {
            errs.push(FieldError::new("/event_id", m));
        }
        let event_type = required_str(root.get("type"), "/type", &mut errs);
        let occurred_at = optional_str(root.get("occurred_at"), "/occurred_at", &mut errs);
        if let Some(ts) = &occurred_at
            && time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
                .is_err()
        {
            errs.push(FieldError::new(
                "/occurred_at",
                "must be an RFC 3339 timestamp, e.g. 2026-11-20T10:00:00Z",
            ));
        }

        let person = object(root.get("person"), "/person", true, &mut errs);
        let (mut first_name, mut last_name, mut email, mut phone) = (None, None, None, None);
        let mut external_id = None;
        if let Some(p) = person {
            first_name = required_str(p.get("first_name"), "/person/first_name", &mut errs);
            last_name = required_str(p.get("last_name"), "/person/last_name", &mut errs);
            let raw_email = optional_str(p.get("email"), "/person/email", &mut errs);
            if let Some(e) = &raw_email {
                match Email::parse(e) {
                    Ok(v) => email = Some(v),
                    Err(m) => errs.push(FieldError::new("/person/email", m)),
                }
            }
            let raw_phone = optional_str(p.get("phone"), "/person/phone", &mut errs);
            if let Some(ph) = &raw_phone {
                match PhoneE164::parse(ph, phone_region) {
                    Ok(v) => phone = Some(v),
                    Err(m) => errs.push(FieldError::new("/person/phone", m)),
                }
            }
            external_id = optional_str(p.get("external_id"), "/person/external_id", &mut errs);
            if external_id
                .as_ref()
                .is_some_and(|id| id.chars().count() > EVENT_ID_MAX_CHARS)
            {
                errs.push(FieldError::new(
                    "/person/external_id",
                    "at most 255 characters",
                ));
            }
            let typed = |k: &str| p.get(k).is_some_and(|v| !v.is_null() && !v.is_string());
            if raw_email.is_none() && raw_phone.is_none() && !typed("email") && !typed("phone") {
                errs.push(FieldError::new(
                    "/person/email",
                    "at least one of person.email and person.phone is required",
                ));
            }
        }

        let mut job = Job::default();
        if let Some(j) = object(root.get("job"), "/job", false, &mut errs) {
            job.title = optional_str(j.get("title"), "/job/title", &mut errs);
            job.department = optional_str(j.get("department"), "/job/department", &mut errs);
            job.location = optional_str(j.get("location"), "/job/location", &mut errs);
            if let Some(t) =
                optional_str(j.get("employment_type"), "/job/employment_type", &mut errs)
            {
                match EmploymentType::parse(&t) {
                    Some(t) => job.employment_type = Some(t),
                    None => errs.push(FieldError::new(
                        "/job/employment_type",
                        "must be one of full_time, part_time, contract, temporary, intern, other",
                    )),
                }
            }
            if let Some(d) = optional_str(j.get("start_date"), "/job/start_date", &mut errs) {
                let fmt = time::macros::format_description!("[year]-[month]-[day]");
                if time::Date::parse(&d, &fmt).is_err() {
                    errs.push(FieldError::new(
                        "/job/start_date",
                        "must be a date as YYYY-MM-DD",
                    ));
                } else {
                    job.start_date = Some(d);
                }
            }
            if let Some(m) = optional_str(j.get("manager_email"), "/job/manager_email", &mut errs) {
                match Email::parse(&m) {
                    Ok(v) => job.manager_email = Some(v),
                    Err(msg) => errs.push(FieldError::new("/job/manager_email", msg)),
                }
            }
        }

        let mut attributes = BTreeMap::new();
        if let Some(a) = object(root.get("attributes"), "/attributes", false, &mut errs) {
            for (k, v) in a {
                let ptr = format!("/attributes/{}", escape_pointer(k));
                if k.chars().any(char::is_control) {
                    errs.push(FieldError::new(
                        ptr,
                        "the name must not contain control characters",
                    ));
                    continue;
                }
                match v {
                    Value::String(s) if s.chars().any(char::is_control) => {
                        errs.push(FieldError::new(ptr, NO_CONTROL));
                    }
                    Value::String(s) => {
                        attributes.insert(k.clone(), s.clone());
                    }
                    Value::Null => {}
                    _ => errs.push(FieldError::new(ptr, "attribute values must be strings")),
                }
            }
        }

        if !errs.is_empty() {
            return Err(errs);
        }
        // Every `None` below has pushed an error above.
        match (event_id, event_type, first_name, last_name) {
            (Some(event_id), Some(event_type), Some(first_name), Some(last_name)) => Ok(Hire {
                event_id,
                event_type,
                occurred_at,
                person: Person {
                    first_name,
                    last_name,
                    email,
                    phone,
                    external_id,
                },
                job,
                attributes,
            }),
            _ => Err(vec![FieldError::new("", "incomplete hire")]),
        }
    }

    /// `hire.created` is acted on; anything else is acknowledged and ignored.
    pub fn is_hire(&self) -> bool {
        self.event_type == HIRE_CREATED
    }

    /// A field by the rule-table name (`source` and `type` excepted): `person.email`,
    /// `job.employment_type`, `attributes.cost_center`. `None` when the hire lacks it.
    pub fn field(&self, path: &str) -> Option<&str> {
        let (head, rest) = path.split_once('.')?;
        match head {
            "person" => match rest {
                "first_name" => Some(&self.person.first_name),
                "last_name" => Some(&self.person.last_name),
                "email" => self.person.email.as_ref().map(Email::as_str),
                "phone" => self.person.phone.as_ref().map(PhoneE164::as_str),
                _ => None,
            },
            "job" => match rest {
                "title" => self.job.title.as_deref(),
                "department" => self.job.department.as_deref(),
                "location" => self.job.location.as_deref(),
                "employment_type" => self.job.employment_type.map(EmploymentType::as_str),
                "start_date" => self.job.start_date.as_deref(),
                "manager_email" => self.job.manager_email.as_ref().map(Email::as_str),
                _ => None,
            },
            "attributes" => self.attributes.get(rest).map(String::as_str),
            _ => None,
        }
    }
}

/// The `person.*` and `job.*` fields a rule may name.
pub const PERSON_FIELDS: &[&str] = &["first_name", "last_name", "email", "phone"];
pub const JOB_FIELDS: &[&str] = &[
    "title",
    "department",
    "location",
    "employment_type",
    "start_date",
    "manager_email",
];

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Control characters (NUL above all) have no place in a person's data, and PostgreSQL's text
/// cannot hold NUL: refused at the edge, so that what intake accepts can always be stored.
const NO_CONTROL: &str = "must not contain control characters";

fn has_control(s: &str) -> bool {
    s.trim().chars().any(char::is_control)
}

fn required_str(v: Option<&Value>, ptr: &str, errs: &mut Vec<FieldError>) -> Option<String> {
    match v {
        None | Some(Value::Null) => {
            errs.push(FieldError::new(ptr, "is required"));
            None
        }
        Some(Value::String(s)) if has_control(s) => {
            errs.push(FieldError::new(ptr, NO_CONTROL));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errs.push(FieldError::new(ptr, "is required and must not be empty"));
            None
        }
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(_) => {
            errs.push(FieldError::new(ptr, "must be a string"));
            None
        }
    }
}

fn optional_str(v: Option<&Value>, ptr: &str, errs: &mut Vec<FieldError>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if has_control(s) => {
            errs.push(FieldError::new(ptr, NO_CONTROL));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(_) => {
            errs.push(FieldError::new(ptr, "must be a string"));
            None
        }
    }
}

fn object<'a>(
    v: Option<&'a Value>,
    ptr: &str,
    required: bool,
    errs: &mut Vec<FieldError>,
) -> Option<&'a serde_json::Map<String, Value>> {
    match v {
        None | Some(Value::Null) => {
            if required {
                errs.push(FieldError::new(ptr, "is required"));
            }
            None
        }
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            errs.push(FieldError::new(ptr, "must be an object"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn full() -> Value {
        json!({
            "event_id": "evt_1", "type": "hire.created", "occurred_at": "2026-11-20T10:00:00Z",
            "person": {"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com", "phone": "(415) 555-0100"},
            "job": {"title": "Forklift Driver", "department": "Warehouse", "location": "Austin, TX",
                    "employment_type": "full_time", "start_date": "2026-12-01", "manager_email": "lead@example.com"},
            "attributes": {"cost_center": "CC-12"}
        })
    }

    #[test]
    fn parses_the_contract_example() {
        let h = Hire::from_json(&full(), "US").unwrap();
        assert_eq!(h.event_id, "evt_1");
        assert_eq!(h.person.phone.as_ref().unwrap().as_str(), "+14155550100");
        assert_eq!(h.person.email.as_ref().unwrap().as_str(), "Ada@example.com");
        assert_eq!(h.job.employment_type, Some(EmploymentType::FullTime));
        assert_eq!(h.field("attributes.cost_center"), Some("CC-12"));
        assert_eq!(h.field("job.employment_type"), Some("full_time"));
        assert_eq!(h.field("job.nothing"), None);
        assert!(h.is_hire());
        let round: Hire = serde_json::from_value(serde_json::to_value(&h).unwrap()).unwrap();
        assert_eq!(round, h);
    }

    #[test]
    fn reports_every_missing_field_with_its_pointer() {
        let errs = Hire::from_json(&json!({"person": {}}), "US").unwrap_err();
        let ptrs: Vec<_> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            ptrs,
            [
                "/event_id",
                "/type",
                "/person/first_name",
                "/person/last_name",
                "/person/email"
            ]
        );
        let errs = Hire::from_json(
            &json!({"event_id": "e", "type": "hire.created", "person": {"first_name": "A", "last_name": "B"}}),
            "US",
        )
        .unwrap_err();
        assert_eq!(errs[0].pointer, "/person/email");
    }

    #[test]
    fn reports_invalid_values() {
        let mut v = full();
        v["person"]["email"] = json!("not-an-email");
        v["person"]["phone"] = json!("12");
        v["job"]["employment_type"] = json!("seasonal");
        v["job"]["start_date"] = json!("01/12/2026");
        v["attributes"]["n"] = json!(3);
        v["occurred_at"] = json!("yesterday");
        let errs = Hire::from_json(&v, "US").unwrap_err();
        let ptrs: Vec<_> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            ptrs,
            [
                "/occurred_at",
                "/person/email",
                "/person/phone",
                "/job/employment_type",
                "/job/start_date",
                "/attributes/n"
            ]
        );
    }

    #[test]
    fn a_non_object_body_is_one_error() {
        assert_eq!(Hire::from_json(&json!([1]), "US").unwrap_err().len(), 1);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
            "[+0-9() -]{0,16}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("event_id".to_owned()),
                        Just("type".to_owned()),
                        Just("person".to_owned()),
                        Just("job".to_owned()),
                        Just("email".to_owned()),
                        Just("phone".to_owned()),
                        Just("first_name".to_owned()),
                        Just("attributes".to_owned()),
                        "[a-z_]{1,8}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The parser never panics, and whatever it accepts satisfies the contract's requirements.
        #[test]
        fn parser_is_total_and_sound(v in arb_json()) {
            match Hire::from_json(&v, "US") {
                Ok(h) => {
                    prop_assert!(!h.event_id.is_empty());
                    prop_assert!(!h.person.first_name.is_empty());
                    prop_assert!(h.person.email.is_some() || h.person.phone.is_some());
                    if let Some(p) = &h.person.phone { prop_assert!(p.as_str().starts_with('+')); }
                }
                Err(errs) => {
                    prop_assert!(!errs.is_empty());
                    for e in errs { prop_assert!(e.pointer.is_empty() || e.pointer.starts_with('/')); }
                }
            }
        }

        /// What intake accepts, it accepts again as it stored it: names, emails and phones in
        /// any script come back from the hire's own JSON unchanged.
        #[test]
        fn accepted_hires_read_back_as_themselves(
            first in "\\PC{1,12}", last in "\\PC{1,12}",
            local in "[\\PC&&[^@\\s]]{1,12}", domain in "[\\PC&&[^@.\\s]]{1,10}",
            tld in "[a-zA-Z]{2,4}", phone in "[+0-9() .-]{0,18}", title in "\\PC{0,20}",
        ) {
            let v = json!({"event_id": "e1", "type": "hire.created",
                "person": {"first_name": first, "last_name": last,
                           "email": format!("{local}@{domain}.{tld}"), "phone": phone},
                "job": {"title": title}});
            if let Ok(h) = Hire::from_json(&v, "US") {
                let stored = serde_json::to_value(&h).unwrap();
                let again = Hire::from_json(&stored, "US");
                prop_assert_eq!(again, Ok(h));
            }
        }

        /// A valid hire survives a trip through its own JSON unchanged.
        #[test]
        fn accepted_hires_round_trip(first in "[A-Za-z]{1,10}", last in "[A-Za-z]{1,10}",
                                     user in "[a-z0-9]{1,10}", n in 2_000_000u32..9_999_999) {
            let v = json!({"event_id": "e1", "type": "hire.created",
                "person": {"first_name": first, "last_name": last,
                           "email": format!("{user}@example.com"), "phone": format!("415{n}")}});
            let h = Hire::from_json(&v, "US").unwrap();
            let again = Hire::from_json(&serde_json::to_value(&h).unwrap(), "US").unwrap();
            prop_assert_eq!(again, h);
        }
    }
}
