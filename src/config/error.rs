//! Configuration errors. Every message names the key's path and the kind of problem, never
//! the value: the value may be a secret.

use std::path::PathBuf;

use figment::error::Actual;

/// A configuration that could not be loaded; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration: {key}: {message}")]
    Invalid { key: String, message: String },
    #[error("configuration: {key}: cannot read {path}: {source}")]
    SecretFile {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// Extraction errors (figment's, each with its path below `prefix`) as one [`ConfigError`].
pub(crate) fn extraction(e: figment::Error, prefix: &[String]) -> ConfigError {
    ConfigError::Parse(
        e.into_iter()
            .map(|e| {
                let path: Vec<String> = prefix.iter().chain(e.path.iter()).cloned().collect();
                describe_error(&path, &e.kind)
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// One extraction error as `key.path: problem`. Built from the key and the kind of problem
/// only: the offending value may be a secret, so it is never part of the message.
pub(crate) fn describe_error(path: &[String], kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    let mut key = path.join(".");
    // figment puts the key at fault at the end of the path for some kinds of error and not
    // for others: name it once either way.
    let mut child = |name: &str| {
        if path.last().is_some_and(|last| last == name) {
            return;
        }
        if key.is_empty() {
            key = name.to_owned();
        } else {
            key = format!("{key}.{name}");
        }
    };
    let problem = match kind {
        Kind::Message(m) => m.clone(),
        Kind::InvalidType(actual, expected) => {
            let mut m = format!(
                "expected {}, found {}",
                expected_text(expected),
                actual_text(actual)
            );
            if expected == "a string"
                && matches!(
                    actual,
                    Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) | Actual::Bool(_)
                )
            {
                m.push_str(" (quote the value in YAML)");
            }
            m
        }
        Kind::InvalidValue(_, expected) => {
            format!("invalid value: expected {}", expected_text(expected))
        }
        Kind::InvalidLength(n, expected) => {
            format!("expected {} ({n} given)", expected_text(expected))
        }
        Kind::UnknownVariant(_, expected) => {
            format!("unknown value: expected one of {}", expected.join(", "))
        }
        Kind::UnknownField(name, expected) => {
            child(name);
            if expected.is_empty() {
                "unknown key (this mapping takes no keys)".to_owned()
            } else {
                format!("unknown key (expected one of: {})", expected.join(", "))
            }
        }
        Kind::MissingField(name) => {
            child(name);
            "required".to_owned()
        }
        Kind::DuplicateField(name) => {
            child(name);
            "given more than once".to_owned()
        }
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "number out of range".to_owned(),
        Kind::Unsupported(actual) => format!("{} is not supported here", actual_text(actual)),
        Kind::UnsupportedKey(actual, need) => {
            format!("keys must be {need}, found {}", actual_text(actual))
        }
    };
    if key.is_empty() {
        problem
    } else {
        format!("{key}: {problem}")
    }
}

/// What kind of value was found, without the value.
fn actual_text(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_) => "a number",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "null",
        Actual::Seq => "a list",
        Actual::Map => "a mapping",
        _ => "another kind of value",
    }
}

/// serde's names for what a key takes, in the words of the configuration.
fn expected_text(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number (0 or more)".to_owned(),
        e if e.starts_with("a nonzero u") || e.starts_with("nonzero u") => {
            "a whole number (1 or more)".to_owned()
        }
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "socket address" => "an address such as 0.0.0.0:8080".to_owned(),
        "path string" => "a file path".to_owned(),
        "map" => "a mapping".to_owned(),
        e if e.starts_with("struct ") => "a mapping".to_owned(),
        e if e.starts_with("enum ") => "one of the names this key takes".to_owned(),
        e => e.to_owned(),
    }
}

/// `region` must be an ISO 3166 region code the phone parser knows.
pub(crate) fn check_region(key: &str, region: &str) -> Result<(), ConfigError> {
    if crate::domain::phone::is_region(region) {
        Ok(())
    } else {
        Err(invalid(
            key,
            "not an ISO 3166 region code (such as US or GB)",
        ))
    }
}
