//! Environment overrides: `HIREBRIDGE__SECTION__KEY` variables, read as text and placed at
//! the key they name.

use figment::providers::Serialized;

use super::error::{ConfigError, invalid};

/// Environment variable that names the configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "HIREBRIDGE_CONFIG";
/// Prefix of the per-key environment overrides.
pub const ENV_PREFIX: &str = "HIREBRIDGE__";

/// Environment overrides: `HIREBRIDGE__CONNECTEAM__API_KEY=…` sets `connecteam.api_key`.
///
/// Variable names are upper case and cannot contain `-`, so the level after `SOURCES` names
/// the source whose name is equal once lower-cased with every `-` read as `_`:
/// `HIREBRIDGE__SOURCES__ACME_HRIS__…` sets `sources.acme-hris` (or `sources.acme_hris`) when
/// the file has it, and otherwise adds a source named `acme_hris`. `sources` are the names the
/// defaults and the file give; matching two of them is an error.
pub(crate) fn env_provider(
    vars: Vec<(String, String)>,
    sources: &[String],
) -> Result<Serialized<serde_json::Value>, ConfigError> {
    let mut root = serde_json::Map::new();
    for (k, v) in vars {
        let mut path: Vec<String> = k[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if let [section, name, ..] = path.as_mut_slice()
            && section == "sources"
        {
            let wanted = name.replace('-', "_");
            let matching: Vec<&String> = sources
                .iter()
                .filter(|s| s.to_ascii_lowercase().replace('-', "_") == wanted)
                .collect();
            match matching.as_slice() {
                [] => *name = wanted,
                [one] => name.clone_from(one),
                several => {
                    let names: Vec<&str> = several.iter().map(|s| s.as_str()).collect();
                    return Err(invalid(
                        k.as_str(),
                        format!(
                            "matches the sources {} (in variable names `-` is written `_`); rename one of them",
                            names.join(" and ")
                        ),
                    ));
                }
            }
        }
        insert_path(&mut root, &path, env_value(&v));
    }
    Ok(Serialized::defaults(serde_json::Value::Object(root)))
}

fn insert_path(
    map: &mut serde_json::Map<String, serde_json::Value>,
    path: &[String],
    v: serde_json::Value,
) {
    match path {
        [] => {}
        [last] => {
            map.insert(last.clone(), v);
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.clone())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if !entry.is_object() {
                *entry = serde_json::Value::Object(serde_json::Map::new());
            }
            if let serde_json::Value::Object(m) = entry {
                insert_path(m, rest, v);
            }
        }
    }
}

/// An environment value is text, kept exactly as given (digits, leading zeros and all): the key
/// it sets decides whether it is read as a number or a boolean. Two exceptions: `null` unsets a
/// key, and a value starting with `[` or `{` that parses as JSON sets a list or a mapping (whose
/// scalar values are again text).
fn env_value(raw: &str) -> serde_json::Value {
    let t = raw.trim();
    if t == "null" {
        return serde_json::Value::Null;
    }
    if (t.starts_with('[') || t.starts_with('{'))
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(t)
    {
        return scalars_as_text(v);
    }
    serde_json::Value::String(raw.to_owned())
}

fn scalars_as_text(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(a) => Value::Array(a.into_iter().map(scalars_as_text).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, scalars_as_text(v)))
                .collect(),
        ),
        other => other,
    }
}
