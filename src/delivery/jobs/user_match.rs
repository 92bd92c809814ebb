//! Finding hires among Connecteam's users: batched lookups by email, then by phone, and which
//! of the users a lookup returns is the hire's.

use std::collections::{HashMap, HashSet};

use crate::connecteam::{Client, MAX_USERS_PAGE, User, UserQuery, UserStatus};
use crate::delivery::claimed::Claimed;
use crate::delivery::round::{Interrupt, Round};
use crate::domain::{Email, Hire, PhoneE164};
use crate::remote::Failure;

/// What a hire is looked up by.
#[derive(Clone, Copy)]
enum Key {
    Email,
    Phone,
}

impl Key {
    /// The hire's value for this key, as sent in a lookup.
    fn of(self, h: &Hire) -> Option<String> {
        match self {
            Key::Email => h.person.email.as_ref().map(|e| e.as_str().to_lowercase()),
            Key::Phone => h.person.phone.as_ref().map(|p| p.as_str().to_owned()),
        }
    }
}

/// How the lookups read the users Connecteam returns.
pub(super) struct Matcher<'c> {
    pub client: &'c Client,
    /// The region Connecteam's stored phone numbers are read with.
    pub region: &'c str,
}

/// What the batched lookups found: each hire's user (by operation id), and the active users of
/// the managers' emails asked along (folded email → user id).
pub(super) struct Found {
    pub hires: HashMap<i64, Result<Option<User>, Failure>>,
    pub managers: HashMap<String, u64>,
}

impl Matcher<'_> {
    /// Who each pending hire is in Connecteam, by operation id: `Ok(Some(user))`, `Ok(None)`
    /// (nobody yet), or why looking failed. Two lookups for the whole batch (emails, then the
    /// phones of those still unmatched); when Connecteam refuses a batched lookup outright,
    /// the hires are looked up one by one, so one value it will not take cannot sink the
    /// other 99. `managers` (folded emails of the plans' direct managers) go in the same email
    /// lookup; they are not looked up one by one.
    pub async fn find_users(
        &self,
        round: &mut Round<'_>,
        pending: &[(Claimed, Hire)],
        managers: &[String],
    ) -> Result<Found, Interrupt> {
        let mut out = HashMap::with_capacity(pending.len());
        let mut found_managers = HashMap::new();
        match self.batch_match(round, pending, managers).await? {
            Ok((mut found, m)) => {
                found_managers = m;
                for (op, _) in pending {
                    out.insert(op.id, Ok(found.remove(&op.id)));
                }
            }
            Err(Failure::Permanent(status, detail)) if pending.len() > 1 => {
                tracing::warn!(
                    status,
                    %detail,
                    hires = pending.len(),
                    "Connecteam refused a batched user lookup; looking the hires up one by one"
                );
                for (op, h) in pending {
                    let r = self.match_person(round, h).await?;
                    out.insert(op.id, r);
                }
            }
            Err(f) => {
                for (op, _) in pending {
                    out.insert(op.id, Err(f.clone()));
                }
            }
        }
        Ok(Found {
            hires: out,
            managers: found_managers,
        })
    }

    /// The batched lookups: the users found, by operation id. Emails first, then the phones
    /// of the hires no email matched or matched only to an archived user: an active user
    /// found by phone is the person's current account, preferred to an archived one found by
    /// email (which would otherwise be restored beside it).
    #[allow(clippy::type_complexity)]
    async fn batch_match(
        &self,
        round: &mut Round<'_>,
        pending: &[(Claimed, Hire)],
        managers: &[String],
    ) -> Result<Result<(HashMap<i64, User>, HashMap<String, u64>), Failure>, Interrupt> {
        let mut found: HashMap<i64, User> = HashMap::new();
        let mut found_managers: HashMap<String, u64> = HashMap::new();
        for key in [Key::Email, Key::Phone] {
            let unmatched: Vec<&(Claimed, Hire)> = pending
                .iter()
                .filter(|(op, _)| found.get(&op.id).is_none_or(|u| u.is_archived))
                .collect();
            let asked_managers: &[String] = match key {
                Key::Email => managers,
                Key::Phone => &[],
            };
            let values: Vec<String> = unique(
                unmatched
                    .iter()
                    .filter_map(|(_, h)| key.of(h))
                    .chain(asked_managers.iter().cloned()),
            );
            if values.is_empty() {
                continue;
            }
            let mut q = UserQuery::default();
            match key {
                Key::Email => q.emails = values,
                Key::Phone => q.phones = values,
            }
            let users = match self.lookup(round, q).await? {
                Ok(users) => users,
                Err(f) => return Ok(Err(f)),
            };
            for m in asked_managers {
                if let Ok(e) = Email::parse(m)
                    && let Some(u) = has_email(&users, &e).filter(|u| !u.is_archived)
                {
                    found_managers.insert(m.clone(), u.user_id);
                }
            }
            for (op, h) in unmatched {
                let user = match key {
                    Key::Email => h.person.email.as_ref().and_then(|e| has_email(&users, e)),
                    Key::Phone => h
                        .person
                        .phone
                        .as_ref()
                        .and_then(|p| has_phone(&users, p, self.region)),
                };
                if let Some(u) = user
                    && found
                        .get(&op.id)
                        .is_none_or(|prev| prev.is_archived && !u.is_archived)
                {
                    found.insert(op.id, u.clone());
                }
            }
        }
        Ok(Ok((found, found_managers)))
    }

    /// One lookup, every page of it, archived users included.
    async fn lookup(
        &self,
        round: &mut Round<'_>,
        mut q: UserQuery,
    ) -> Result<Result<Vec<User>, Failure>, Interrupt> {
        q.status = UserStatus::All;
        q.limit = MAX_USERS_PAGE;
        let mut users = Vec::new();
        loop {
            let page = match round.send(self.client.find_users(&q)).await? {
                Ok(page) => page,
                Err(f) => return Ok(Err(f)),
            };
            users.extend(page.users);
            match page.next_offset {
                Some(next) if next > q.offset => q.offset = next,
                _ => return Ok(Ok(users)),
            }
        }
    }

    /// The user one hire matches, by email and then by phone, archived ones included; an
    /// active match by either key before an archived one.
    pub async fn match_person(
        &self,
        round: &mut Round<'_>,
        h: &Hire,
    ) -> Result<Result<Option<User>, Failure>, Interrupt> {
        let mut archived: Option<User> = None;
        if let Some(e) = &h.person.email {
            let q = UserQuery {
                emails: vec![e.as_str().to_lowercase()],
                ..UserQuery::default()
            };
            match self.lookup(round, q).await? {
                Err(f) => return Ok(Err(f)),
                Ok(users) => match has_email(&users, e) {
                    Some(u) if !u.is_archived => return Ok(Ok(Some(u.clone()))),
                    other => archived = other.cloned(),
                },
            }
        }
        if let Some(p) = &h.person.phone {
            let q = UserQuery {
                phones: vec![p.as_str().to_owned()],
                ..UserQuery::default()
            };
            match self.lookup(round, q).await? {
                Err(f) => return Ok(Err(f)),
                Ok(users) => match has_phone(&users, p, self.region) {
                    Some(u) if !u.is_archived => return Ok(Ok(Some(u.clone()))),
                    Some(u) if archived.is_none() => archived = Some(u.clone()),
                    _ => {}
                },
            }
        }
        Ok(Ok(archived))
    }
}

/// Each item once, in first-seen order.
pub(super) fn unique<T: Eq + std::hash::Hash + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

/// Of the users that match, an active one before an archived one: a rehire whose old,
/// archived account lingers beside a new active one is the active one.
fn best<'a>(mut matches: impl Iterator<Item = &'a User>) -> Option<&'a User> {
    let first = matches.next()?;
    if !first.is_archived {
        return Some(first);
    }
    Some(matches.find(|u| !u.is_archived).unwrap_or(first))
}

/// The user with this email. Connecteam compares emails case-insensitively, and the lookup
/// sends them lower-cased by Unicode's rules, so they are compared the same way here.
fn has_email<'a>(users: &'a [User], email: &Email) -> Option<&'a User> {
    let wanted = email.as_str().to_lowercase();
    best(users.iter().filter(|u| {
        u.email.as_deref().is_some_and(|ue| {
            ue.eq_ignore_ascii_case(email.as_str()) || ue.to_lowercase() == wanted
        })
    }))
}

/// The user with this phone number, however Connecteam wrote it.
pub(super) fn has_phone<'a>(
    users: &'a [User],
    phone: &PhoneE164,
    region: &str,
) -> Option<&'a User> {
    best(users.iter().filter(|u| {
        u.phone_number
            .as_deref()
            .is_some_and(|up| phone.same_as(up, region))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64, email: &str, archived: bool) -> User {
        serde_json::from_value(serde_json::json!({
            "userId": id, "firstName": "A", "lastName": "B", "phoneNumber": "+14155550100",
            "email": email, "userType": "user", "isArchived": archived
        }))
        .unwrap()
    }

    #[test]
    fn an_active_match_is_preferred_to_an_archived_one() {
        let email = Email::parse("ada@example.com").unwrap();
        let users = [
            user(1, "ada@example.com", true),
            user(2, "ADA@example.com", false),
            user(3, "bob@example.com", false),
        ];
        assert_eq!(has_email(&users, &email).map(|u| u.user_id), Some(2));
        let only_archived = [user(1, "ada@example.com", true)];
        assert_eq!(
            has_email(&only_archived, &email).map(|u| u.user_id),
            Some(1)
        );
        let phone = PhoneE164::parse("+14155550100", "US").unwrap();
        assert_eq!(has_phone(&users, &phone, "US").map(|u| u.user_id), Some(2));
    }

    #[test]
    fn emails_that_differ_only_in_non_ascii_case_are_the_same() {
        let email = Email::parse("ÉLODIE@example.com").unwrap();
        let users = [user(7, "élodie@example.com", false)];
        assert_eq!(has_email(&users, &email).map(|u| u.user_id), Some(7));
        let other = [user(8, "elodie@example.com", false)];
        assert_eq!(has_email(&other, &email), None);
    }
}
