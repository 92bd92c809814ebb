//! A hire being read out of a vendor's own shapes. Each canonical field is set from a vendor
//! field and remembers where it came from, so the canonical checks ([`Hire::from_json`]) run
//! unchanged and every problem they find is reported at the vendor's field
//! (`/payload/application/candidate/email_addresses`), which is what the customer can fix.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::hire::{EmploymentType, FieldError, Hire};

/// A canonical hire under construction. Fields are set with [`Draft::set`] (or left unset);
/// [`Draft::finish`] checks the whole hire.
#[derive(Debug, Clone)]
pub struct Draft {
    root: Map<String, Value>,
    /// Canonical pointer → the vendor pointer it was read from.
    origins: BTreeMap<String, String>,
}

impl Draft {
    /// A hire event of `event_type` (`hire.created`) with the sender's `event_id`.
    pub fn new(event_id: &str, event_type: &str) -> Self {
        let mut root = Map::new();
        root.insert("event_id".into(), Value::String(event_id.to_owned()));
        root.insert("type".into(), Value::String(event_type.to_owned()));
        // Present even when no person field is found, so that what is missing is reported
        // field by field at the vendor's fields rather than as a missing `/person`.
        root.insert("person".into(), Value::Object(Map::new()));
        Self {
            root,
            origins: BTreeMap::new(),
        }
    }

    /// Set a canonical field (`/person/email`, `/job/title`, `/occurred_at`) from the vendor's
    /// field at `origin`. A `None` or blank value leaves the field unset, but a problem with
    /// it (a required name missing) is still reported at `origin`.
    pub fn set(&mut self, field: &str, value: Option<&str>, origin: &str) -> &mut Self {
        self.origins.insert(field.to_owned(), origin.to_owned());
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return self;
        };
        let mut parts = field.trim_start_matches('/').split('/').peekable();
        let mut at = &mut self.root;
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                at.insert(part.to_owned(), Value::String(v.to_owned()));
                break;
            }
            at = at
                .entry(part.to_owned())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("a draft's sections are objects");
        }
        self
    }

    /// Set `attributes.<name>` (free-form, for rules) from the vendor's field at `origin`.
    pub fn attribute(&mut self, name: &str, value: Option<&str>, origin: &str) -> &mut Self {
        let field = format!("/attributes/{}", name.replace('~', "~0").replace('/', "~1"));
        self.origins.insert(field, origin.to_owned());
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            self.root
                .entry("attributes")
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("attributes are an object")
                .insert(name.to_owned(), Value::String(v.to_owned()));
        }
        self
    }

    /// Whether a canonical field has a value.
    pub fn has(&self, field: &str) -> bool {
        self.root_pointer(field).is_some()
    }

    fn root_pointer(&self, field: &str) -> Option<&Value> {
        let mut at = self
            .root
            .get(field.trim_start_matches('/').split('/').next()?)?;
        for part in field.trim_start_matches('/').split('/').skip(1) {
            at = at.get(part)?;
        }
        Some(at)
    }

    /// Check the hire as intake checks a canonical one, numbers read with `phone_region`. Each
    /// problem points at the vendor field the canonical field came from; "at least one of email
    /// and phone" names both.
    pub fn finish(self, phone_region: &str) -> Result<Hire, Vec<FieldError>> {
        let origins = self.origins;
        Hire::from_json(&Value::Object(self.root), phone_region).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let at = |f: &str| origins.get(f).cloned();
                    let pointer = at(&e.pointer).unwrap_or_else(|| e.pointer.clone());
                    let message = if e.message.starts_with("at least one of person.email") {
                        match (at("/person/email"), at("/person/phone")) {
                            (Some(m), Some(p)) => format!("no email ({m}) and no phone ({p})"),
                            _ => e.message,
                        }
                    } else {
                        e.message
                    };
                    FieldError::new(pointer, message)
                })
                .collect()
        })
    }
}

/// The first string among `candidates` (pointers into `v`), with the pointer it was found at.
pub fn first_str<'a>(v: &'a Value, candidates: &[&'a str]) -> (Option<&'a str>, &'a str) {
    for c in candidates {
        if let Some(s) = v
            .pointer(c)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
        {
            return (Some(s), c);
        }
    }
    (None, candidates.first().copied().unwrap_or(""))
}

/// A one-string name split into first and last name: on the last space, so "Mary Ann Lee" is
/// "Mary Ann" and "Lee"; a single word is the first name, with the last name left empty (and
/// reported missing).
pub fn split_name(full: &str) -> (Option<&str>, Option<&str>) {
    let full = full.trim();
    if full.is_empty() {
        return (None, None);
    }
    match full.rsplit_once(char::is_whitespace) {
        Some((first, last)) if !first.trim().is_empty() => (Some(first.trim()), Some(last)),
        _ => (Some(full), None),
    }
}

/// An employment type from a vendor's label: `overrides` first (the source's own value map,
/// matched case-insensitively), then the common spellings (`Full-time`, `FULL_TIME`, `Full
/// Time`, `Contractor`, `Internship`, …). `None`: no mapping, and the field is left unset.
pub fn employment_type(
    label: &str,
    overrides: &BTreeMap<String, EmploymentType>,
) -> Option<EmploymentType> {
    let label = label.trim();
    if let Some((_, t)) = overrides
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(label))
    {
        return Some(*t);
    }
    let squashed: String = label
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match squashed.as_str() {
        "fulltime" | "permanent" | "regular" | "fulltimeemployee" => EmploymentType::FullTime,
        "parttime" | "parttimeemployee" => EmploymentType::PartTime,
        "contract" | "contractor" | "freelance" | "freelancer" | "consultant" => {
            EmploymentType::Contract
        }
        "temporary" | "temp" | "seasonal" => EmploymentType::Temporary,
        "intern" | "internship" | "trainee" | "apprentice" => EmploymentType::Intern,
        "other" => EmploymentType::Other,
        _ => return None,
    })
}

/// The date part of a date or date-time (`2026-12-01T00:00:00Z` → `2026-12-01`).
pub fn date_part(s: &str) -> &str {
    let s = s.trim();
    match s.get(..10) {
        Some(d) if s.len() > 10 && s.as_bytes()[10] == b'T' => d,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problems_point_at_the_vendor_fields() {
        let mut d = Draft::new("evt-1", "hire.created");
        d.set(
            "/person/first_name",
            Some("Ada"),
            "/payload/candidate/first_name",
        )
        .set("/person/last_name", None, "/payload/candidate/last_name")
        .set(
            "/person/email",
            Some("not-an-email"),
            "/payload/candidate/emails",
        )
        .set("/person/phone", None, "/payload/candidate/phones");
        let errors = d.finish("US").unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert!(
            pointers.contains(&"/payload/candidate/last_name"),
            "{errors:?}"
        );
        assert!(
            pointers.contains(&"/payload/candidate/emails"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_missing_contact_names_both_vendor_fields() {
        let mut d = Draft::new("evt-1", "hire.created");
        d.set("/person/first_name", Some("Ada"), "/a")
            .set("/person/last_name", Some("L"), "/b")
            .set("/person/email", Some(" "), "/fields/workEmail")
            .set("/person/phone", None, "/fields/mobilePhone");
        let errors = d.finish("US").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("/fields/workEmail"));
        assert!(errors[0].message.contains("/fields/mobilePhone"));
    }

    #[test]
    fn a_complete_draft_is_a_hire() {
        let mut d = Draft::new("evt-1", "hire.created");
        d.set("/person/first_name", Some("Ada"), "/a")
            .set("/person/last_name", Some("Lovelace"), "/b")
            .set("/person/phone", Some("512-555-0142"), "/c")
            .set("/job/title", Some("Forklift Driver"), "/d")
            .set(
                "/job/start_date",
                Some(date_part("2026-12-01T00:00:00Z")),
                "/e",
            )
            .attribute("cost_center", Some("CC-12"), "/f");
        assert!(d.has("/job/title") && !d.has("/job/department"));
        let hire = d.finish("US").unwrap();
        assert_eq!(hire.person.phone.unwrap().as_str(), "+15125550142");
        assert_eq!(hire.job.start_date.as_deref(), Some("2026-12-01"));
        assert_eq!(hire.attributes["cost_center"], "CC-12");
    }

    #[test]
    fn names_split_on_the_last_space() {
        assert_eq!(split_name("Mary Ann Lee"), (Some("Mary Ann"), Some("Lee")));
        assert_eq!(split_name(" Cher "), (Some("Cher"), None));
        assert_eq!(split_name(""), (None, None));
    }

    #[test]
    fn employment_labels_map_to_types() {
        let none = BTreeMap::new();
        for (label, t) in [
            ("Full-time", EmploymentType::FullTime),
            ("FULL_TIME", EmploymentType::FullTime),
            ("Part Time", EmploymentType::PartTime),
            ("Contractor", EmploymentType::Contract),
            ("Internship", EmploymentType::Intern),
            ("Seasonal", EmploymentType::Temporary),
        ] {
            assert_eq!(employment_type(label, &none), Some(t), "{label}");
        }
        assert_eq!(employment_type("Per diem", &none), None);
        let custom = BTreeMap::from([("Per diem".to_owned(), EmploymentType::Temporary)]);
        assert_eq!(
            employment_type("per DIEM", &custom),
            Some(EmploymentType::Temporary)
        );
    }

    #[test]
    fn first_str_takes_the_first_present() {
        let v = json!({"a": "", "b": "x"});
        assert_eq!(first_str(&v, &["/a", "/b"]), (Some("x"), "/b"));
        assert_eq!(first_str(&v, &["/c"]), (None, "/c"));
    }
}
