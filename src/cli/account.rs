//! `hirebridge rules check FILE --against-connecteam`: a table checked against the account it
//! will assign from.

use std::io::Write;
use std::path::Path;

use crate::connecteam::Client;
use crate::rules::missing_in_account;

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
    let missing = missing_in_account(&set, &packs, &policies);
    if missing.is_empty() {
        let _ = writeln!(
            out,
            "{}: ok ({} rules, version {}); every pack and policy exists in the account",
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
