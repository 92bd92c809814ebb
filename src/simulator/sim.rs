//! The simulator: one shared state behind the Connecteam API and the `/_sim` control routes.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::model::{Fault, LoggedRequest, PackProgress, ReceivedNotification, SimConfig};
use super::state::{Inner, SimCustomField, SimDropdownOption, SimPack, SimPolicyType, SimUser};

pub(crate) struct Shared {
    pub(crate) cfg: SimConfig,
    pub(crate) started: Instant,
    pub(crate) started_epoch: Duration,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) shutdown: CancellationToken,
}

/// The simulator. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("window", &self.shared.cfg.window)
            .field("already_assigned", &self.shared.cfg.already_assigned)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// A new simulator. With `cfg.seed`: packs 101 "Company essentials" (default), 102 "Warehouse
    /// safety", 103 "Store operations", 104 "Office & IT setup", 105 "Texas compliance"; policy
    /// types `pt-vacation` (`pol-vac-ft-001` days, `pol-vac-pt-001` hours) and `pt-sick`
    /// (`pol-sick-001` hours); users Grace Hopper (active) and Alan Turing (archived); user
    /// custom fields (category 1) 6208755 `Title` (str), 6208756 `Employment Start Date`
    /// (date), 6208760 `Direct manager` (directManager), 6208761 `Department` (dropdown: 1
    /// Warehouse, 2 Logistics, 3 Retail, 4 Store, 5 Office, 6 Engineering, 7 HR, 8 Drivers
    /// deleted), 6208762 `Location` (dropdown: 1 Austin, TX, 2 Dallas, TX, 3 Seattle, WA, 4 New
    /// York, NY, 5 London, UK), 6208763 `Work email` (email), 6208764 `Emergency phone` (phone),
    /// 6208765 `Hourly rate` (number), 6208766 `Handbook` (link), 6208767 `Skills`
    /// (multi-select dropdown: 1 Forklift, 2 First aid, 3 Spanish); smart groups 2359154
    /// `Warehouse team` (Department Warehouse or Logistics), 2359155 `Texas` (Location Austin
    /// or Dallas), 2359156 `Retail team` (Department Retail or Store), 2359157 `Office`
    /// (Department Office, Engineering or HR).
    pub fn new(cfg: SimConfig) -> Self {
        let started_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let mut inner = Inner::new(&cfg);
        if cfg.seed {
            inner.seed(started_epoch.as_secs() as i64);
        }
        Self {
            shared: Arc::new(Shared {
                cfg,
                started: Instant::now(),
                started_epoch,
                inner: Mutex::new(inner),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn now_epoch_secs(&self) -> i64 {
        (self.shared.started_epoch + self.shared.started.elapsed()).as_secs() as i64
    }

    /// Stops every server started by [`Self::spawn`] or [`Self::serve`] on this simulator
    /// (gracefully: in-flight requests finish). It is final: servers started afterwards on this
    /// simulator stop at once.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }

    /// Every request received so far (oldest first), `/_sim` excluded.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    /// All users, archived included, by `userId`.
    pub fn users(&self) -> Vec<SimUser> {
        self.lock().users.values().cloned().collect()
    }

    /// Adds a user directly (no validation beyond what the caller gives); returns its `userId`.
    pub fn add_user(
        &self,
        first: &str,
        last: &str,
        phone: &str,
        email: Option<&str>,
        archived: bool,
    ) -> u64 {
        let now = self.now_epoch_secs();
        self.lock()
            .insert_user(first, last, phone, email, archived, now)
    }

    /// Deletes a user outright (test control: Connecteam only archives), with its pack and
    /// policy assignments, so that requests naming its id fail as they would for an unknown
    /// user. Returns whether it existed.
    pub fn remove_user(&self, user_id: u64) -> bool {
        let mut inner = self.lock();
        for list in inner.assignments.values_mut() {
            list.retain(|a| a.user_id != user_id);
        }
        inner.policy_assignments.retain(|(_, u), _| *u != user_id);
        inner.users.remove(&user_id).is_some()
    }

    /// The user ids assigned to a pack, in assignment order (empty for an unknown pack).
    pub fn pack_assignments(&self, pack_id: u64) -> Vec<u64> {
        self.lock()
            .assignments
            .get(&pack_id)
            .map(|a| a.iter().map(|a| a.user_id).collect())
            .unwrap_or_default()
    }

    /// Moves a user's assignment to a pack along, as the hire's progress and an admin's
    /// approval would (test and sandbox control): `status` `in_progress` or `completed`,
    /// `waiting_approval` whether every required step is done and an admin must approve.
    /// Returns whether the assignment exists.
    pub fn set_pack_progress(
        &self,
        pack_id: u64,
        user_id: u64,
        status: PackProgress,
        waiting_approval: bool,
    ) -> bool {
        let mut inner = self.lock();
        let Some(a) = inner
            .assignments
            .get_mut(&pack_id)
            .and_then(|list| list.iter_mut().find(|a| a.user_id == user_id))
        else {
            return false;
        };
        a.status = status.as_str();
        a.is_waiting_approval = waiting_approval;
        true
    }

    /// Removes a user's assignment to a pack (an admin unassigned it; test control). Returns
    /// whether it existed.
    pub fn remove_pack_assignment(&self, pack_id: u64, user_id: u64) -> bool {
        let mut inner = self.lock();
        let Some(list) = inner.assignments.get_mut(&pack_id) else {
            return false;
        };
        let before = list.len();
        list.retain(|a| a.user_id != user_id);
        list.len() != before
    }

    /// Every notification the receiver (`POST /_sim/notifications`) took, in arrival order,
    /// those it answered 503 during an outage included.
    pub fn notifications(&self) -> Vec<ReceivedNotification> {
        self.lock().notifications.clone()
    }

    /// The receiver answers the next `n` notifications 503, as an endpoint that is down.
    pub fn notification_outage(&self, n: u32) {
        self.lock().notification_outage = n;
    }

    /// Take one notification: recorded, answered 503 while an outage lasts, else 200.
    pub(crate) fn receive_notification(&self, headers: &axum::http::HeaderMap, body: &[u8]) -> u16 {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let at_ms = self.shared.started.elapsed().as_millis() as u64;
        let mut inner = self.lock();
        let status = if inner.notification_outage > 0 {
            inner.notification_outage -= 1;
            503
        } else {
            200
        };
        inner.notifications.push(ReceivedNotification {
            webhook_id: header("webhook-id"),
            webhook_timestamp: header("webhook-timestamp"),
            webhook_signature: header("webhook-signature"),
            body: String::from_utf8_lossy(body).into_owned(),
            status,
            at_ms,
        });
        status
    }

    /// The users deleted permanently (`deletionType=delete`), in order.
    pub fn permanently_deleted(&self) -> Vec<u64> {
        self.lock().permanently_deleted.clone()
    }

    /// `(policy id, user id, balance, unit)` for every policy assignment.
    pub fn policy_assignments(&self) -> Vec<(String, u64, Option<f64>, Option<String>)> {
        self.lock()
            .policy_assignments
            .iter()
            .map(|((_, user), a)| (a.policy_id.clone(), *user, a.balance, a.unit.clone()))
            .collect()
    }

    /// Adds (or renames) a pack.
    pub fn add_pack(&self, id: u64, name: &str) {
        self.lock().add_pack(id, name, "", false);
    }

    /// Deletes a pack and its assignments (test control), so requests naming it answer 404.
    /// Returns whether it existed.
    pub fn remove_pack(&self, id: u64) -> bool {
        let mut inner = self.lock();
        inner.assignments.remove(&id);
        inner.packs.remove(&id).is_some()
    }

    /// All packs, by id.
    pub fn packs(&self) -> Vec<SimPack> {
        self.lock().packs.values().cloned().collect()
    }

    /// All time-off policy types with their policies.
    pub fn policy_types(&self) -> Vec<SimPolicyType> {
        self.lock().policy_types.clone()
    }

    /// Queues a fault; it applies to the next `fault.times` matching requests.
    pub fn inject(&self, fault: Fault) {
        if fault.times > 0 {
            self.lock().faults.push_back(fault);
        }
    }

    /// Removes every queued fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Changes the per-minute budget from now on.
    pub fn set_rate_limit(&self, per_minute: u32) {
        self.lock().rate.per_minute = per_minute;
    }

    /// The users created with `sendActivation=true`, in creation order.
    pub fn activations(&self) -> Vec<u64> {
        self.lock().activations.clone()
    }

    /// The value of the custom field called `name` on a user, as `GET /users/v1/users` shows
    /// it (`None` when the user or field is unknown or the field is not set).
    pub fn custom_field_value(&self, user_id: u64, name: &str) -> Option<serde_json::Value> {
        let inner = self.lock();
        let field = inner.custom_field_named(name)?.id;
        inner
            .users
            .get(&user_id)?
            .custom_fields
            .iter()
            .find_map(|cf| {
                (cf["customFieldId"].as_u64() == Some(field)).then(|| cf["value"].clone())
            })
    }

    /// The names of the smart groups a user belongs to now (empty for an unknown user).
    pub fn smart_groups_of(&self, user_id: u64) -> Vec<String> {
        let inner = self.lock();
        inner
            .users
            .get(&user_id)
            .map(|u| {
                inner
                    .smart_groups_of(u)
                    .iter()
                    .map(|g| g.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The account's custom fields, by id.
    pub fn custom_fields(&self) -> Vec<SimCustomField> {
        self.lock().custom_fields.values().cloned().collect()
    }

    /// Adds an option to the dropdown called `field_name` (test control: the account changes
    /// under the service) and returns its id, one more than the largest so far.
    ///
    /// # Panics
    /// When there is no dropdown field of that name.
    pub fn add_dropdown_option(&self, field_name: &str, value: &str) -> u64 {
        let mut inner = self.lock();
        let options = inner
            .custom_fields
            .values_mut()
            .find(|f| f.name == field_name)
            .and_then(|f| f.dropdown_options.as_mut())
            .unwrap_or_else(|| panic!("no dropdown custom field named {field_name:?}"));
        let id = options.iter().map(|o| o.id).max().unwrap_or(0) + 1;
        options.push(SimDropdownOption {
            id,
            value: value.into(),
            is_disabled: false,
            is_deleted: false,
        });
        id
    }

    /// Adds a custom field of type `kind` (`str`, `date`, …; test control) in the first
    /// category; returns its id.
    pub fn add_custom_field(&self, name: &str, kind: &str) -> u64 {
        let mut inner = self.lock();
        let id = inner.custom_fields.keys().max().copied().unwrap_or(0) + 1;
        let category_id = inner
            .custom_fields
            .values()
            .map(|f| f.category_id)
            .min()
            .unwrap_or(1);
        inner.custom_fields.insert(
            id,
            SimCustomField {
                id,
                name: name.into(),
                kind: kind.into(),
                category_id,
                is_required: false,
                is_multi_select: None,
                dropdown_options: None,
            },
        );
        id
    }

    /// Deletes the custom field called `name` (test control), with every user's value of it;
    /// smart groups ruled by it then have no members. No-op for an unknown name.
    pub fn remove_custom_field(&self, name: &str) {
        let mut inner = self.lock();
        let Some(id) = inner.custom_field_named(name).map(|f| f.id) else {
            return;
        };
        inner.custom_fields.remove(&id);
        for u in inner.users.values_mut() {
            u.custom_fields
                .retain(|cf| cf["customFieldId"].as_u64() != Some(id));
        }
    }

    /// How many requests were answered 429 so far.
    pub fn count_429(&self) -> usize {
        self.lock().count_429
    }
}
