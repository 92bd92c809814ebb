//! `hirebridge rules check` and `hirebridge rules eval`: let an HR operator validate a table and
//! preview any hire's plan before the table reaches the service. Output goes to the writers
//! given so the commands are testable; the return value is the process exit code.

use std::io::{Read, Write};
use std::path::Path;

use super::table::RuleSet;
use crate::domain::Hire;

/// The phone region `eval` reads numbers without a country code with, when neither
/// `--phone-region` nor `--config` says otherwise.
pub const DEFAULT_EVAL_PHONE_REGION: &str = "US";

/// The phone region for `rules eval`, as the service would choose it: `explicit`
/// (`--phone-region`) when given; else, with a configuration file (`--config`), the `source`'s
/// `phone_region`, falling back to `connecteam.default_phone_region` (also without `source`);
/// else US. Errors are one printable line.
pub fn eval_phone_region(
    explicit: Option<&str>,
    config: Option<&Path>,
    source: Option<&str>,
) -> Result<String, String> {
    if let Some(region) = explicit {
        return match region.parse::<phonenumber::country::Id>() {
            Ok(_) => Ok(region.to_owned()),
            Err(_) => Err(format!(
                "--phone-region {region}: not an ISO 3166 region code (such as US or GB)"
            )),
        };
    }
    let Some(path) = config else {
        return Ok(DEFAULT_EVAL_PHONE_REGION.to_owned());
    };
    let cfg = crate::config::Config::load(Some(path)).map_err(|e| e.to_string())?;
    Ok(match source {
        Some(name) => cfg.phone_region_for(name).to_owned(),
        None => cfg.connecteam.default_phone_region.clone(),
    })
}

/// Validate a table: exit 0 with `FILE: ok (N rules, version V)` on `out`, or every error as
/// `FILE:LINE:COL: message` on `err` and exit 1.
pub fn check(file: &Path, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let Some(set) = load(file, err) else {
        return 1;
    };
    let _ = writeln!(
        out,
        "{}: ok ({} rule{}, version {})",
        file.display(),
        set.len(),
        if set.len() == 1 { "" } else { "s" },
        set.version()
    );
    0
}

/// The table in `file`, or `None` with every error printed on `err`.
pub fn load(file: &Path, err: &mut dyn Write) -> Option<RuleSet> {
    match RuleSet::load(file) {
        Ok(set) => Some(set),
        Err(errors) => {
            let _ = writeln!(err, "{errors}");
            None
        }
    }
}

/// `connecteam.send_activation` of the configuration at `config` (false without one).
pub fn eval_send_activation(config: Option<&Path>) -> Result<bool, String> {
    match config {
        None => Ok(false),
        Some(path) => crate::config::Config::load(Some(path))
            .map(|c| c.connecteam.send_activation)
            .map_err(|e| e.to_string()),
    }
}

/// Print the plan `file` gives the canonical hire in `event` (`None` or `-`: standard input) as
/// pretty JSON — the same object `POST /v1/rules/evaluate` answers. `source` plays the source
/// name for `source` conditions; phone numbers without a country code are read with
/// `phone_region` (see [`eval_phone_region`]); `send_activation` is the plan's `activation`
/// when no matching rule says. Table errors or an invalid event print their errors, exit 1.
pub fn eval(
    file: &Path,
    event: Option<&Path>,
    source: Option<&str>,
    (phone_region, send_activation): (&str, bool),
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let Some(set) = load(file, err) else {
        return 1;
    };
    let set = set.with_send_activation(send_activation);
    let (label, raw) = match event {
        None => ("<stdin>".to_owned(), read_stdin()),
        Some(p) if p.as_os_str() == "-" => ("<stdin>".to_owned(), read_stdin()),
        Some(p) => (p.display().to_string(), std::fs::read_to_string(p)),
    };
    let raw = match raw {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "{label}: cannot read: {e}");
            return 1;
        }
    };
    let value: serde_json::Value = match serde_json::from_str(&raw) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(err, "{label}: not valid JSON: {e}");
            return 1;
        }
    };
    let hire = match Hire::from_json(&value, phone_region) {
        Ok(h) => h,
        Err(field_errors) => {
            for fe in field_errors {
                let pointer = if fe.pointer.is_empty() {
                    "/"
                } else {
                    &fe.pointer
                };
                let _ = writeln!(err, "{label}: {pointer}: {}", fe.message);
            }
            return 1;
        }
    };
    let plan = set.evaluate(source, &hire);
    match serde_json::to_string_pretty(&plan) {
        Ok(json) => {
            let _ = writeln!(out, "{json}");
            0
        }
        Err(e) => {
            let _ = writeln!(err, "cannot print the plan: {e}");
            1
        }
    }
}

fn read_stdin() -> std::io::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s)
}
