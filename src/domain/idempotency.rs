//! The `Idempotency-Key` every write to Connecteam carries. Connecteam documents no such
//! header, so hirebridge never relies on it (a write whose answer was lost is read back before
//! it is sent again); the key still lets a server that does honour one drop a repeat, and it
//! ties every request in the logs to the work it carried out.

use sha2::{Digest, Sha256};

/// The key of one piece of work: the same `scope` and `work` always give the same key, so every
/// retry of a write carries the same header. 35 visible ASCII characters.
pub fn key(scope: &str, work: &str) -> String {
    let digest = Sha256::digest(format!("{scope}/{work}").as_bytes());
    let hex = hex::encode(digest);
    format!("hb-{}", &hex[..32])
}

/// The key of a request that carries several operations at once (a user creation, a pack
/// assignment): derived from its members, so the same batch sent again carries the same key.
pub fn for_batch<'a>(members: impl IntoIterator<Item = &'a str>, work: &str) -> String {
    let members: Vec<&str> = members.into_iter().collect();
    key(&members.join(","), work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(key("e1", "user"), key("e1", "user"));
        assert_ne!(key("e1", "user"), key("e2", "user"));
        assert_ne!(key("e1", "pack/1"), key("e1", "pack/2"));
        assert_eq!(key("e1", "user").len(), 35);
        assert_eq!(for_batch(["e1", "e2"], "pack/1"), key("e1,e2", "pack/1"));
    }
}
