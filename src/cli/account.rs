//! `hirebridge rules check FILE --against-connecteam`: a table checked against the account it
//! will assign from.

use std::io::Write;
use std::path::Path;

use crate::connecteam::Client;
use crate::connecteam::CustomField;
use crate::rules::{fields_missing_in_account, missing_in_account};

/// The table must be valid AND name only packs and policies the account has. Prints what is
/// missing; the exit code is 0, 1 when anything is missing or the table is invalid, 2 when the
/// account cannot be read.
pub async fn check_against(
    file: &Path,
    client: &Client,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let Some(set) = crate::rules::cli::load(file, err) else {
        return 1;
    };
    let (packs, policies) = match client.catalog().await {
        Ok(ids) => ids,
        Err(e) => {
            let _ = writeln!(
                err,
                "{}: cannot read the Connecteam account: {e}",
                file.display()
            );
            return 2;
        }
    };
    let fields = match client.all_custom_fields().await {
        Ok(f) => account_fields(f),
        Err(e) => {
            let _ = writeln!(
                err,
                "{}: cannot read the Connecteam account's custom fields: {e}",
                file.display()
            );
            return 2;
        }
    };
    let mut missing = missing_in_account(&set, &packs, &policies);
    missing.extend(fields_missing_in_account(&set, &fields));
    if missing.is_empty() {
        let _ = writeln!(
            out,
            "{}: ok ({} rules, version {}); every pack, policy, custom field and dropdown option exists in the account",
            file.display(),
            set.len(),
            set.version()
        );
        0
    } else {
        for m in &missing {
            let _ = writeln!(err, "{}: {m}", file.display());
        }
        1
    }
}

/// The account's custom fields as the rule check compares them: name, and a dropdown's live
/// options.
pub fn account_fields(fields: Vec<CustomField>) -> Vec<(String, Option<Vec<String>>)> {
    fields
        .into_iter()
        .map(|f| {
            let options = (f.kind == "dropdown").then(|| {
                f.dropdown_options
                    .into_iter()
                    .filter(|o| !o.is_deleted && !o.is_disabled)
                    .map(|o| o.value)
                    .collect()
            });
            (f.name, options)
        })
        .collect()
}
