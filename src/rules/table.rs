//! A compiled rule table: its rules, how a hire is evaluated against them, and the errors a
//! table can have.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::compiled::{Field, FieldValues, Op, Rule, RuleError, RuleErrors};
use crate::domain::{Hire, Plan};

/// A compiled rule table. Cheap to clone (regexes share their compiled programs).
#[derive(Debug, Clone)]
pub struct RuleSet {
    version: String,
    text: String,
    profile: FieldValues,
    rules: Vec<Rule>,
    /// A plan's `activation` when no matching rule says (`connecteam.send_activation`).
    send_activation: bool,
}

impl RuleSet {
    /// Parse and compile a table. `file_name` only labels error locations. Every problem is
    /// reported, not just the first.
    pub fn parse(file_name: &str, text: &str) -> Result<RuleSet, RuleErrors> {
        let parsed = super::parse::parse(file_name, text)?;
        Ok(RuleSet {
            version: content_version(text.as_bytes()),
            text: text.to_owned(),
            profile: parsed.profile,
            rules: parsed.rules,
            send_activation: false,
        })
    }

    /// The same table with `on` as the activation default (`connecteam.send_activation`) for
    /// plans whose matching rules do not say.
    pub fn with_send_activation(mut self, on: bool) -> RuleSet {
        self.send_activation = on;
        self
    }

    pub fn send_activation(&self) -> bool {
        self.send_activation
    }

    /// Read and parse a table file; errors are labelled with `path` as given.
    pub fn load(path: &Path) -> Result<RuleSet, RuleErrors> {
        let name = path.display().to_string();
        let whole_file = |message: String| {
            RuleErrors(vec![RuleError {
                file: name.clone(),
                line: 0,
                column: 0,
                message,
            }])
        };
        let bytes = std::fs::read(path).map_err(|e| whole_file(format!("cannot read: {e}")))?;
        let text =
            String::from_utf8(bytes).map_err(|e| whole_file(format!("not UTF-8 text: {e}")))?;
        Self::parse(&name, &text)
    }

    /// A content hash of the table (`sha256:` and 16 hex digits): the same text always has the
    /// same version, so plans recorded with events can be traced to the table that made them.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The YAML exactly as loaded, for `GET /v1/rules`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Rule names in table order.
    pub fn rule_names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| &*r.name).collect()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every pack id the table can assign, to check against the Connecteam account.
    pub fn pack_ids(&self) -> BTreeSet<u64> {
        self.rules
            .iter()
            .flat_map(|r| r.packs.iter().copied())
            .collect()
    }

    /// Every policy id the table can assign, to check against the Connecteam account.
    pub fn policy_ids(&self) -> BTreeSet<String> {
        self.rules
            .iter()
            .flat_map(|r| r.policies.iter().map(|p| p.id.clone()))
            .collect()
    }

    /// Every custom field name the table sets (`profile` and every rule's `fields`), with the
    /// literal values written for it (templates aside) — what the Connecteam account must have.
    pub fn custom_fields(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let all = self
            .profile
            .iter()
            .chain(self.rules.iter().flat_map(|r| r.fields.iter()));
        for (name, value) in all {
            let literals = out.entry(name.clone()).or_default();
            if let Some(l) = value.literal() {
                literals.insert(l.to_owned());
            }
        }
        out
    }

    /// The plan for one hire. `source` is the name of the source the event came in through
    /// (`None`: unknown, so `source` conditions see a missing field). Never fails: a table that
    /// loaded can evaluate any hire. Side-effect free: dry runs use it as they are.
    pub fn evaluate(&self, source: Option<&str>, hire: &Hire) -> Plan {
        self.evaluate_with(source, hire, |_| {})
    }

    /// [`RuleSet::evaluate`], plus the rules that matched for the metrics, which intake records
    /// with [`Matches::record`] once the store has accepted the hire — so duplicates, conflicts
    /// and failed commits are not counted.
    pub fn evaluate_for_intake(&self, source: Option<&str>, hire: &Hire) -> (Plan, Matches) {
        let mut matches = Matches::default();
        let plan = self.evaluate_with(source, hire, |name| matches.0.push(Arc::clone(name)));
        (plan, matches)
    }

    fn evaluate_with(
        &self,
        source: Option<&str>,
        hire: &Hire,
        mut on_match: impl FnMut(&Arc<str>),
    ) -> Plan {
        let mut plan = Plan {
            rules_version: self.version.clone(),
            matched: Vec::new(),
            packs: Vec::new(),
            policies: Vec::new(),
            fields: BTreeMap::new(),
            activation: self.send_activation,
        };
        let mut seen_packs: HashSet<u64> = HashSet::new();
        let mut seen_policies: HashSet<&str> = HashSet::new();
        // Field names set so far, folded: Connecteam's names ignore case.
        let mut seen_fields: HashSet<String> = HashSet::new();
        let mut activation: Option<bool> = None;
        let mut set_fields = |plan: &mut Plan, fields: &FieldValues| {
            for (name, value) in fields {
                let key = name.to_lowercase();
                if seen_fields.contains(&key) {
                    continue;
                }
                if let Some(v) = value.render(source, hire) {
                    seen_fields.insert(key);
                    plan.fields.insert(name.clone(), v);
                }
            }
        };
        for rule in &self.rules {
            if !rule.matches(source, hire) {
                continue;
            }
            on_match(&rule.name);
            plan.matched.push(rule.name.to_string());
            for &p in &rule.packs {
                if seen_packs.insert(p) {
                    plan.packs.push(p);
                }
            }
            for g in &rule.policies {
                if seen_policies.insert(&g.id) {
                    plan.policies.push(g.clone());
                }
            }
            set_fields(&mut plan, &rule.fields);
            if activation.is_none() {
                activation = rule.activation;
            }
            if rule.stop {
                break;
            }
        }
        set_fields(&mut plan, &self.profile);
        if let Some(a) = activation {
            plan.activation = a;
        }
        plan
    }
}

/// The rules one hire's plan matched (their names, shared with the table: no allocation per
/// name), kept until the hire is known to be accepted.
#[derive(Debug, Default)]
pub struct Matches(Vec<Arc<str>>);

impl Matches {
    /// Count one accepted hire: `hirebridge_rules_evaluations_total`, and
    /// `hirebridge_rules_matches_total{rule}` for each rule it matched.
    pub fn record(&self) {
        metrics::counter!("hirebridge_rules_evaluations_total").increment(1);
        for name in &self.0 {
            metrics::counter!("hirebridge_rules_matches_total", "rule" => Arc::clone(name))
                .increment(1);
        }
    }
}

impl Rule {
    fn matches(&self, source: Option<&str>, hire: &Hire) -> bool {
        self.conditions.iter().all(|c| {
            let value = match &c.field {
                Field::Source => source,
                Field::Type => Some(hire.event_type.as_str()),
                Field::Hire(path) => hire.field(path),
            };
            c.op.matches(value)
        })
    }
}

impl Op {
    fn matches(&self, value: Option<&str>) -> bool {
        let Some(v) = value else {
            // A missing field matches no condition except `not_in`.
            return matches!(self, Op::NotIn(_));
        };
        match self {
            Op::Equals(want) => eq_ignore_case(v, want),
            Op::In(list) => list.iter().any(|w| eq_ignore_case(v, w)),
            Op::NotIn(list) => !list.iter().any(|w| eq_ignore_case(v, w)),
            Op::Glob(g) => g.is_match(v),
            Op::Regex(r) => r.is_match(v),
        }
    }
}

/// `value` equals `lower` (already lower-cased) ignoring case, without allocating.
fn eq_ignore_case(value: &str, lower: &str) -> bool {
    if value.is_ascii() && lower.is_ascii() {
        return value.eq_ignore_ascii_case(lower);
    }
    value.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

fn content_version(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex = hex::encode(digest.as_slice());
    format!("sha256:{}", &hex[..16])
}

/// Human-readable lines naming the pack and policy ids the table assigns but the Connecteam
/// account does not have (`packs`, `policies`: what the account has), each with the rules that
/// name it — so `rules check --against-connecteam` and the startup warning say what to fix.
pub fn missing_in_account(set: &RuleSet, packs: &[u64], policies: &[String]) -> Vec<String> {
    let have_packs: HashSet<u64> = packs.iter().copied().collect();
    let have_policies: HashSet<&str> = policies.iter().map(String::as_str).collect();
    let mut missing_packs: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    let mut missing_policies: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for rule in &set.rules {
        for p in &rule.packs {
            if !have_packs.contains(p) {
                let names = missing_packs.entry(*p).or_default();
                if !names.contains(&&*rule.name) {
                    names.push(&rule.name);
                }
            }
        }
        for g in &rule.policies {
            if !have_policies.contains(g.id.as_str()) {
                let names = missing_policies.entry(&g.id).or_default();
                if !names.contains(&&*rule.name) {
                    names.push(&rule.name);
                }
            }
        }
    }
    let quote = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = Vec::new();
    for (id, names) in missing_packs {
        lines.push(format!(
            "onboarding pack {id} is not in the Connecteam account (assigned by rule {})",
            quote(&names)
        ));
    }
    for (id, names) in missing_policies {
        lines.push(format!(
            "time-off policy {id:?} is not in the Connecteam account (assigned by rule {})",
            quote(&names)
        ));
    }
    lines
}

/// Human-readable lines naming the custom fields the table sets that the Connecteam account
/// does not have, and the literal dropdown values that are none of the dropdown's options.
/// `account`: the account's field names, each with its dropdown's option names (`None` for a
/// field that is no dropdown). Names and options compare ignoring case, as Connecteam's do.
pub fn fields_missing_in_account(
    set: &RuleSet,
    account: &[(String, Option<Vec<String>>)],
) -> Vec<String> {
    let by_name: HashMap<String, &Option<Vec<String>>> =
        account.iter().map(|(n, o)| (n.to_lowercase(), o)).collect();
    let mut lines = Vec::new();
    for (name, literals) in set.custom_fields() {
        match by_name.get(&name.to_lowercase()) {
            None => lines.push(format!(
                "custom field {name:?} is not in the Connecteam account"
            )),
            Some(Some(options)) => {
                for l in literals {
                    if !options
                        .iter()
                        .any(|o| o.trim().eq_ignore_ascii_case(l.trim()))
                    {
                        lines.push(format!(
                            "{l:?} is not an option of the Connecteam dropdown {name:?} (options: {})",
                            options.join(", ")
                        ));
                    }
                }
            }
            Some(None) => {}
        }
    }
    lines
}
