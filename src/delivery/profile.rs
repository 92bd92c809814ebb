//! A plan's custom fields, written as Connecteam takes them.
//!
//! The plan names fields by the account's field NAME with values as text (`"Title": "Forklift
//! Driver"`, `"Department": "Warehouse"`, `"Employment Start Date": "2026-12-01"`). Connecteam
//! wants `customFields: [{customFieldId, value}]` in each type's own form. The account's fields
//! are read through `GET /users/v1/custom-fields` and kept ([`FieldCatalog`]) until they are
//! older than the refresh interval, or until something says they changed (plans from a rule
//! table reloaded since, a field Connecteam refused). A value that cannot be written leaves its field unset with a
//! [`FieldWarning`]; the rest of the hire goes on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::connecteam::{Client, CustomField, CustomFieldValue, DropdownOption};
use crate::delivery::round::{Interrupt, Round};
use crate::domain::{Email, FieldWarning, PhoneE164};
use crate::remote::Failure;

/// How long the account's custom fields are trusted before they are read again.
pub const CATALOG_REFRESH: Duration = Duration::from_secs(15 * 60);

/// The account's custom fields by folded name (Connecteam's names ignore case).
#[derive(Debug, Default)]
pub struct FieldCatalog {
    by_name: HashMap<String, CustomField>,
}

impl FieldCatalog {
    pub fn new(fields: Vec<CustomField>) -> Self {
        Self {
            by_name: fields
                .into_iter()
                .map(|f| (f.name.to_lowercase(), f))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&CustomField> {
        self.by_name.get(&name.to_lowercase())
    }

    /// The manager emails `fields` name in `directManager` fields (folded), to look up.
    pub fn manager_emails(&self, fields: &BTreeMap<String, String>) -> Vec<String> {
        fields
            .iter()
            .filter(|(name, _)| self.get(name).is_some_and(|f| f.kind == "directManager"))
            .map(|(_, v)| v.trim().to_lowercase())
            .collect()
    }
}

/// The cached catalog, shared by every round of this process.
#[derive(Default)]
pub struct Fields {
    cached: Mutex<Option<Cached>>,
    /// The rule table versions whose plans have been written with a catalog read at or after
    /// the table first appeared: a plan of a version not in it means the table was reloaded
    /// (perhaps to name a field just added to the account), and the catalog is read again.
    versions: Mutex<HashSet<String>>,
}

/// The catalog last read. Invalidated, it is read again before it is used, but still names
/// the fields of values worked out with it.
struct Cached {
    catalog: Arc<FieldCatalog>,
    read_at: Instant,
    stale: bool,
}

impl Fields {
    /// The catalog, read from Connecteam (through the round, spending its budget) when there is
    /// none yet, it is older than [`CATALOG_REFRESH`] or invalidated, or a plan of
    /// `rules_versions` comes from a rule table this process has not written fields of before.
    pub async fn catalog<'v>(
        &self,
        round: &mut Round<'_>,
        client: &Client,
        rules_versions: impl IntoIterator<Item = &'v str>,
    ) -> Result<Result<Arc<FieldCatalog>, Failure>, Interrupt> {
        let new_table = {
            let mut seen = self.versions.lock().unwrap_or_else(|e| e.into_inner());
            let mut new = false;
            for v in rules_versions {
                new |= seen.insert(v.to_owned());
            }
            new
        };
        if let Some(c) = &*self.cached.lock().unwrap_or_else(|e| e.into_inner())
            && !c.stale
            && c.read_at.elapsed() < CATALOG_REFRESH
            && !new_table
        {
            return Ok(Ok(Arc::clone(&c.catalog)));
        }
        let mut fields = Vec::new();
        let mut offset = 0;
        loop {
            match round.send(client.custom_fields(offset)).await? {
                Ok((page, next)) => {
                    fields.extend(page);
                    match next {
                        Some(n) => offset = n,
                        None => break,
                    }
                }
                Err(f) => return Ok(Err(f)),
            }
        }
        tracing::info!(
            fields = fields.len(),
            "read the Connecteam account's custom fields"
        );
        let catalog = Arc::new(FieldCatalog::new(fields));
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            catalog: Arc::clone(&catalog),
            read_at: Instant::now(),
            stale: false,
        });
        Ok(Ok(catalog))
    }

    /// The name of the field with this id in the catalog last read (invalidated or not).
    pub fn name_of(&self, id: u64) -> Option<String> {
        let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        cached
            .as_ref()?
            .catalog
            .by_name
            .values()
            .find(|f| f.id == id)
            .map(|f| f.name.clone())
    }

    /// The catalog is out of date: the next round that needs it reads it again.
    pub fn invalidate(&self) {
        if let Some(c) = &mut *self.cached.lock().unwrap_or_else(|e| e.into_inner()) {
            c.stale = true;
        }
    }
}

/// Custom field values hirebridge could not write, by reason.
pub const METRIC_FIELD_WARNINGS: &str = "hirebridge_profile_field_warnings_total";

/// Count and log a field left unset on `event_id`'s user.
pub fn report(event_id: &str, w: &FieldWarning) {
    metrics::counter!(METRIC_FIELD_WARNINGS, "reason" => w.reason.clone()).increment(1);
    tracing::warn!(
        event_id = %event_id,
        field = %w.field,
        reason = %w.reason,
        "custom field left unset: {}",
        w.message
    );
}

/// The plan's `fields` as Connecteam takes them, and a warning for each that cannot be written.
/// `managers`: Connecteam user ids by folded email, for `directManager` fields; `region`: for
/// phone numbers written without a country code.
pub fn to_write(
    catalog: &FieldCatalog,
    fields: &BTreeMap<String, String>,
    managers: &HashMap<String, u64>,
    region: &str,
) -> (Vec<CustomFieldValue>, Vec<FieldWarning>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (name, raw) in fields {
        let Some(field) = catalog.get(name) else {
            warnings.push(FieldWarning::new(
                name,
                "unknown_field",
                format!("the Connecteam account has no custom field named {name:?}"),
            ));
            continue;
        };
        match value_of(field, raw.trim(), managers, region) {
            Ok(value) => out.push(CustomFieldValue {
                custom_field_id: field.id,
                value,
            }),
            Err((reason, message)) => {
                warnings.push(FieldWarning::new(
                    name,
                    reason,
                    format!("{name}: {message}"),
                ));
            }
        }
    }
    (out, warnings)
}

/// The values of `wanted` that `current` (the user's custom fields as Connecteam shows them)
/// does not already hold: what a profile update writes. A dropdown matches on its option ids
/// (shown as `[{id, value}]`), a number on its value, an email ignoring case.
pub fn differing(
    current: &[CustomFieldValue],
    wanted: Vec<CustomFieldValue>,
) -> Vec<CustomFieldValue> {
    wanted
        .into_iter()
        .filter(|w| {
            !current
                .iter()
                .any(|c| c.custom_field_id == w.custom_field_id && same_value(&c.value, &w.value))
        })
        .collect()
}

fn same_value(shown: &Value, written: &Value) -> bool {
    /// Option (or user) ids of a dropdown selection, sorted.
    fn ids(v: &Value) -> Option<Vec<u64>> {
        let mut ids = v
            .as_array()?
            .iter()
            .map(|o| o.get("id").and_then(Value::as_u64))
            .collect::<Option<Vec<u64>>>()?;
        ids.sort_unstable();
        Some(ids)
    }
    match (shown, written) {
        (Value::Array(_), Value::Array(_)) => ids(shown).is_some() && ids(shown) == ids(written),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) => {
            a == b || (a.contains('@') && a.eq_ignore_ascii_case(b))
        }
        // A manager may be shown as `{id}` or `{userId}` rather than the bare id written.
        (Value::Object(o), Value::Number(_)) => {
            o.get("id").or_else(|| o.get("userId")) == Some(written)
        }
        _ => shown == written,
    }
}

type Refused = (&'static str, String);

fn invalid(message: String) -> Refused {
    ("invalid_value", message)
}

/// One value in its type's form.
fn value_of(
    field: &CustomField,
    raw: &str,
    managers: &HashMap<String, u64>,
    region: &str,
) -> Result<Value, Refused> {
    match field.kind.as_str() {
        "str" => Ok(json!(raw)),
        "email" => Email::parse(raw)
            .map(|e| json!(e.as_str()))
            .map_err(|e| invalid(format!("{raw:?} is not an email address: {e}"))),
        "phone" => PhoneE164::parse(raw, region)
            .map(|p| json!(p.as_str()))
            .map_err(|e| invalid(format!("{raw:?} is not a phone number: {e}"))),
        "link" => match url::Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(json!(raw)),
            _ => Err(invalid(format!("{raw:?} is not an http(s) link"))),
        },
        "number" => match raw.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(number(n)),
            _ => Err(invalid(format!("{raw:?} is not a number"))),
        },
        "date" | "birthday" => date(raw)
            .map(|d| json!(d))
            .ok_or_else(|| invalid(format!("{raw:?} is not a date (YYYY-MM-DD or DD/MM/YYYY)"))),
        "dropdown" => dropdown(field, raw),
        "directManager" => managers
            .get(&raw.to_lowercase())
            .map(|id| json!(id))
            .ok_or_else(|| {
                (
                    "manager_not_found",
                    format!("no Connecteam user has the manager's email {raw:?}"),
                )
            }),
        other => Err((
            "unsupported_type",
            format!("custom fields of type {other} are not written by hirebridge"),
        )),
    }
}

/// A whole number as an integer, else a decimal.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// `YYYY-MM-DD` (the canonical hire's form) or `DD/MM/YYYY`, as Connecteam shows dates:
/// `DD/MM/YYYY`, for real calendar dates only.
fn date(raw: &str) -> Option<String> {
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    let dmy = time::macros::format_description!("[day]/[month]/[year]");
    let d = time::Date::parse(raw, iso)
        .or_else(|_| time::Date::parse(raw, dmy))
        .ok()?;
    d.format(dmy).ok()
}

/// A dropdown value: the option whose text matches (ignoring case), as `[{"id": n}]`. A
/// multi-select takes several names separated by commas when the whole text names no option.
fn dropdown(field: &CustomField, raw: &str) -> Result<Value, Refused> {
    let find =
        |name: &str| live_options(field).find(|o| o.value.trim().eq_ignore_ascii_case(name.trim()));
    if let Some(o) = find(raw) {
        return Ok(json!([{ "id": o.id }]));
    }
    let names: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if field.is_multi_select && names.len() > 1 {
        let mut ids = Vec::new();
        for n in &names {
            match find(n) {
                Some(o) if !ids.contains(&o.id) => ids.push(o.id),
                Some(_) => {}
                None => return Err(no_option(field, n)),
            }
        }
        return Ok(Value::Array(
            ids.into_iter().map(|id| json!({ "id": id })).collect(),
        ));
    }
    Err(no_option(field, raw))
}

/// The options a value may name: neither deleted nor disabled.
fn live_options(field: &CustomField) -> impl Iterator<Item = &DropdownOption> {
    field
        .dropdown_options
        .iter()
        .filter(|o| !o.is_deleted && !o.is_disabled)
}

fn no_option(field: &CustomField, value: &str) -> Refused {
    let options: Vec<&str> = live_options(field).map(|o| o.value.as_str()).collect();
    (
        "no_such_option",
        format!(
            "{value:?} is not an option of the dropdown (options: {})",
            options.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(id: u64, name: &str, kind: &str) -> CustomField {
        CustomField {
            id,
            name: name.into(),
            kind: kind.into(),
            is_multi_select: false,
            dropdown_options: Vec::new(),
        }
    }

    fn options(mut f: CustomField, multi: bool, opts: &[(u64, &str, bool)]) -> CustomField {
        f.is_multi_select = multi;
        f.dropdown_options = opts
            .iter()
            .map(|&(id, value, is_deleted)| DropdownOption {
                id,
                value: value.into(),
                is_disabled: false,
                is_deleted,
            })
            .collect();
        f
    }

    fn catalog() -> FieldCatalog {
        FieldCatalog::new(vec![
            field(1, "Title", "str"),
            field(2, "Employment Start Date", "date"),
            field(3, "Direct manager", "directManager"),
            options(
                field(4, "Department", "dropdown"),
                false,
                &[
                    (1, "Warehouse", false),
                    (2, "Retail", false),
                    (8, "Drivers", true),
                ],
            ),
            options(
                field(5, "Location", "dropdown"),
                false,
                &[(1, "Austin, TX", false)],
            ),
            field(6, "Work email", "email"),
            field(7, "Emergency phone", "phone"),
            field(8, "Hourly rate", "number"),
            field(9, "Handbook", "link"),
            options(
                field(10, "Skills", "dropdown"),
                true,
                &[(1, "Forklift", false), (2, "First aid", false)],
            ),
            field(11, "Badge photo", "file"),
        ])
    }

    fn write(pairs: &[(&str, &str)]) -> (Value, Vec<(String, String)>) {
        let fields: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let managers = HashMap::from([("lead@example.com".to_owned(), 9_170_001u64)]);
        let (values, warnings) = to_write(&catalog(), &fields, &managers, "US");
        let by_id: serde_json::Map<String, Value> = values
            .into_iter()
            .map(|v| (v.custom_field_id.to_string(), v.value))
            .collect();
        (
            Value::Object(by_id),
            warnings.into_iter().map(|w| (w.field, w.reason)).collect(),
        )
    }

    #[test]
    fn each_type_is_written_in_its_own_form() {
        let (v, w) = write(&[
            ("title", "Forklift Driver"),
            ("Employment Start Date", "2026-12-01"),
            ("Direct manager", "Lead@Example.com"),
            ("Department", "warehouse"),
            ("Location", "Austin, TX"),
            ("Work email", "Ada@Example.com"),
            ("Emergency phone", "(415) 555-0100"),
            ("Hourly rate", "18.50"),
            ("Handbook", "https://example.com/handbook"),
            ("Skills", "Forklift, First aid"),
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            v,
            json!({
                "1": "Forklift Driver",
                "2": "01/12/2026",
                "3": 9_170_001,
                "4": [{"id": 1}],
                "5": [{"id": 1}],
                "6": "Ada@example.com",
                "7": "+14155550100",
                "8": 18.5,
                "9": "https://example.com/handbook",
                "10": [{"id": 1}, {"id": 2}]
            })
        );
        assert_eq!(write(&[("Hourly rate", "20")]).0, json!({"8": 20}));
        assert_eq!(
            write(&[("Employment Start Date", "30/03/2024")]).0,
            json!({"2": "30/03/2024"})
        );
    }

    #[test]
    fn what_cannot_be_written_is_a_warning_and_the_rest_is_written() {
        let (v, w) = write(&[
            ("Title", "Driver"),
            ("Department", "Drivers"),
            ("Location", "Paris"),
            ("Employment Start Date", "2026-02-31"),
            ("Direct manager", "nobody@example.com"),
            ("Cost center", "CC-12"),
            ("Work email", "not-an-email"),
            ("Hourly rate", "lots"),
            ("Handbook", "ftp://example.com"),
            ("Badge photo", "x"),
        ]);
        assert_eq!(v, json!({"1": "Driver"}));
        let reasons: BTreeMap<String, String> = w.into_iter().collect();
        assert_eq!(
            reasons,
            BTreeMap::from(
                [
                    ("Badge photo", "unsupported_type"),
                    ("Cost center", "unknown_field"),
                    ("Department", "no_such_option"),
                    ("Direct manager", "manager_not_found"),
                    ("Employment Start Date", "invalid_value"),
                    ("Handbook", "invalid_value"),
                    ("Hourly rate", "invalid_value"),
                    ("Location", "no_such_option"),
                    ("Work email", "invalid_value"),
                ]
                .map(|(f, r)| (f.to_owned(), r.to_owned()))
            )
        );
    }

    fn value(id: u64, v: Value) -> CustomFieldValue {
        CustomFieldValue {
            custom_field_id: id,
            value: v,
        }
    }

    #[test]
    fn only_values_the_user_does_not_hold_are_written() {
        // As Connecteam shows the user.
        let current = vec![
            value(1, json!("Forklift Driver")),
            value(2, json!("01/12/2026")),
            value(4, json!([{"id": 1, "value": "Warehouse"}])),
            value(8, json!(18.5)),
            value(6, json!("ada@example.com")),
            value(3, json!(9_170_001)),
            value(
                10,
                json!([{"id": 2, "value": "First aid"}, {"id": 1, "value": "Forklift"}]),
            ),
        ];
        let wanted = vec![
            value(1, json!("Forklift Driver")),
            value(2, json!("02/12/2026")),
            value(4, json!([{"id": 1}])),
            value(5, json!([{"id": 1}])),
            value(8, json!(18.50)),
            value(6, json!("Ada@example.com")),
            value(3, json!(9_170_002)),
            value(10, json!([{"id": 1}, {"id": 2}])),
        ];
        let ids: Vec<u64> = differing(&current, wanted)
            .iter()
            .map(|v| v.custom_field_id)
            .collect();
        // The date and manager changed; the location was never set.
        assert_eq!(ids, vec![2, 5, 3]);
        assert!(differing(&current, vec![value(4, json!([{"id": 2}]))]).len() == 1);
        assert!(differing(&[], vec![value(1, json!("x"))]).len() == 1);
    }

    #[test]
    fn managers_are_looked_up_by_the_emails_of_direct_manager_fields() {
        let fields = BTreeMap::from([
            ("Direct manager".to_owned(), " Lead@Example.com ".to_owned()),
            ("Title".to_owned(), "x@example.com".to_owned()),
        ]);
        assert_eq!(catalog().manager_emails(&fields), vec!["lead@example.com"]);
    }
}
