//! Secrets given directly or as `<key>_file` naming a file (a Kubernetes Secret mount).

use std::path::PathBuf;

use secrecy::SecretString;

use super::error::{ConfigError, invalid};

/// The secret `key` from its value or from the file its `<key>_file` names (without one
/// trailing newline); both set is an error, neither is `None`.
pub(crate) fn resolve(
    key: &str,
    value: Option<SecretString>,
    file: Option<PathBuf>,
) -> Result<Option<SecretString>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            Err(invalid(key, format!("set {leaf} or {leaf}_file, not both")))
        }
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => Ok(Some(SecretString::from(read(
            &format!("{key}_file"),
            path,
        )?))),
        (None, None) => Ok(None),
    }
}

/// [`resolve`] for a secret the key cannot do without.
pub(crate) fn required(
    key: &str,
    value: Option<SecretString>,
    file: Option<PathBuf>,
) -> Result<SecretString, ConfigError> {
    resolve(key, value, file)?
        .ok_or_else(|| invalid(key, format!("required (or {}_file)", leaf(key))))
}

fn leaf(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The secret in a file, without one trailing newline.
pub(crate) fn read(key: &str, path: PathBuf) -> Result<String, ConfigError> {
    let mut raw = std::fs::read_to_string(&path).map_err(|source| ConfigError::SecretFile {
        key: key.to_owned(),
        path,
        source,
    })?;
    if raw.ends_with('\n') {
        raw.pop();
        if raw.ends_with('\r') {
            raw.pop();
        }
    }
    Ok(raw)
}
