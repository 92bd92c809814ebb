//! YAML text → compiled rules, collecting every problem with its line and column.
//!
//! marked-yaml gives a span on every node, so each error points at the offending key or value.
//! The walk never stops at the first problem: it records it and carries on with the next key.

use std::collections::HashMap;
use std::sync::Arc;

use globset::GlobBuilder;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{Marker, Node};

use super::compiled::{Condition, Field, FieldValues, Op, Rule, RuleError, RuleErrors};
use super::report::Ctx;
use super::template::Template;
use super::yaml::{duplicate_keys, load_yaml, yaml_error};
use crate::domain::EmploymentType;
use crate::domain::hire::{HIRE_CREATED, JOB_FIELDS, PERSON_FIELDS};
use crate::domain::{Balance, PolicyGrant, Unit};

const TOP_KEYS: &[&str] = &["version", "profile", "rules"];
const RULE_KEYS: &[&str] = &["name", "when", "assign", "stop"];
const ASSIGN_KEYS: &[&str] = &["packs", "policies", "fields", "activation"];
const POLICY_KEYS: &[&str] = &["id", "balance", "unit"];
const OPERATORS: &[&str] = &["in", "not_in", "glob", "regex"];

/// Regexes are compiled with a size limit so a table cannot make the service allocate wildly.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A parsed table: its `profile` (the custom fields every hire gets) and its rules.
pub(super) struct Parsed {
    pub(super) profile: FieldValues,
    pub(super) rules: Vec<Rule>,
}

pub(super) fn parse(file: &str, text: &str) -> Result<Parsed, RuleErrors> {
    let mut cx = Ctx {
        file,
        errors: Vec::new(),
    };
    let root = match load_yaml(text) {
        Ok(root) => root,
        Err(e) => {
            yaml_error(&mut cx, &e);
            return Err(RuleErrors(cx.errors));
        }
    };
    // The tree keeps the last of duplicate keys; each duplicate is one error among the others,
    // and the rest of the table is still checked.
    for d in duplicate_keys(text) {
        cx.errors.push(RuleError {
            file: cx.file.to_owned(),
            line: d.line,
            column: d.column,
            message: format!("duplicate key `{}` (first at line {})", d.key, d.first_line),
        });
    }
    let parsed = match root.as_mapping() {
        Some(map) => parse_root(&mut cx, map),
        None => {
            cx.at(
                root.span(),
                "a rule table is a mapping with `version` and `rules`",
            );
            Parsed {
                profile: Vec::new(),
                rules: Vec::new(),
            }
        }
    };
    if cx.errors.is_empty() {
        Ok(parsed)
    } else {
        cx.errors.sort_by_key(|e| (e.line, e.column));
        Err(RuleErrors(cx.errors))
    }
}

fn parse_root(cx: &mut Ctx<'_>, map: &MarkedMappingNode) -> Parsed {
    cx.unknown_keys(map, TOP_KEYS, "at the top level");
    let profile = match map.get_node("profile") {
        None => Vec::new(),
        Some(n) if is_null(n) => Vec::new(),
        Some(Node::Mapping(m)) => parse_fields(cx, m),
        Some(n) => {
            cx.at(
                n.span(),
                "`profile` must be a mapping of custom field name: value",
            );
            Vec::new()
        }
    };
    match map.get_node("version") {
        None => cx.at_map(map, "`version: 1` is required at the top of the table"),
        Some(Node::Scalar(s)) if is_plain(s) && s.as_str() == "1" => {}
        Some(n) => cx.at(n.span(), "`version` must be 1"),
    }
    let mut rules = Vec::new();
    match map.get_node("rules") {
        None => cx.at_map(map, "`rules` is required (a list of rules)"),
        Some(Node::Sequence(seq)) => {
            let mut names: HashMap<String, usize> = HashMap::new();
            for item in seq.iter() {
                match item {
                    Node::Mapping(m) => {
                        if let Some(rule) = parse_rule(cx, m, &mut names) {
                            rules.push(rule);
                        }
                    }
                    other => cx.at(
                        other.span(),
                        "each rule is a mapping with `name` and optionally `when`, `assign` and `stop`",
                    ),
                }
            }
        }
        Some(n) if is_null(n) => {}
        Some(n) => cx.at(n.span(), "`rules` must be a list of rules (`- name: …`)"),
    }
    Parsed { profile, rules }
}

/// A plain (unquoted) scalar: only those may be numbers, booleans or null.
fn is_plain(s: &MarkedScalarNode) -> bool {
    s.may_coerce()
}

fn is_null(n: &Node) -> bool {
    matches!(n, Node::Scalar(s) if is_plain(s) && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"))
}

fn parse_rule(
    cx: &mut Ctx<'_>,
    map: &MarkedMappingNode,
    names: &mut HashMap<String, usize>,
) -> Option<Rule> {
    let errors_before = cx.errors.len();
    cx.unknown_keys(map, RULE_KEYS, "in a rule");

    let mut name = None;
    match map.get_node("name") {
        None => cx.at_map(
            map,
            "this rule has no `name` (every rule needs a unique name)",
        ),
        Some(Node::Scalar(s))
            if s.as_str().trim().is_empty() || is_null(&Node::Scalar(s.clone())) =>
        {
            cx.at(s.span(), "a rule name must not be empty")
        }
        Some(Node::Scalar(s)) => {
            let n = s.as_str().trim().to_owned();
            let line = s.span().start().map_or(0, Marker::line);
            if let Some(first) = names.get(&n) {
                cx.at(
                    s.span(),
                    format!("duplicate rule name {n:?} (first used at line {first})"),
                );
            } else {
                names.insert(n.clone(), line);
            }
            name = Some(n);
        }
        Some(n) => cx.at(n.span(), "a rule name must be text"),
    }

    let mut conditions = Vec::new();
    match map.get_node("when") {
        // No `when` is the empty `when`: the rule matches every hire.
        None => {}
        Some(Node::Mapping(w)) => {
            for (key, value) in w.iter() {
                parse_condition(cx, key, value, &mut conditions);
            }
        }
        Some(n) if is_null(n) => {}
        Some(n) => cx.at(
            n.span(),
            "`when` must be a mapping of field: condition (or `{}` to match every hire)",
        ),
    }

    let mut assign = Assign::default();
    match map.get_node("assign") {
        None => {}
        Some(Node::Mapping(a)) => parse_assign(cx, a, &mut assign),
        Some(n) if is_null(n) => {}
        Some(n) => cx.at(
            n.span(),
            "`assign` must be a mapping with `packs`, `policies`, `fields` and/or `activation`",
        ),
    }

    let mut stop = false;
    match map.get_node("stop") {
        None => {}
        Some(Node::Scalar(s)) if is_plain(s) && s.as_bool().is_some() => {
            stop = s.as_bool().unwrap_or(false);
        }
        Some(n) => cx.at(n.span(), "`stop` must be true or false"),
    }

    if cx.errors.len() != errors_before {
        return None;
    }
    Some(Rule {
        name: Arc::from(name?),
        conditions,
        packs: assign.packs,
        policies: assign.policies,
        fields: assign.fields,
        activation: assign.activation,
        stop,
    })
}

/// What a rule's `assign` gives.
#[derive(Default)]
struct Assign {
    packs: Vec<u64>,
    policies: Vec<PolicyGrant>,
    fields: FieldValues,
    activation: Option<bool>,
}

fn parse_field(cx: &mut Ctx<'_>, key: &MarkedScalarNode) -> Option<Field> {
    match field_of(key.as_str()) {
        Ok(f) => Some(f),
        Err(msg) => {
            cx.at(key.span(), msg);
            None
        }
    }
}

/// The hire field a condition or a template names, or why it names none.
fn field_of(k: &str) -> Result<Field, String> {
    match k.split_once('.') {
        None if k == "source" => Ok(Field::Source),
        None if k == "type" => Ok(Field::Type),
        Some(("person", f)) if PERSON_FIELDS.contains(&f) => Ok(Field::Hire(k.to_owned())),
        Some(("person", f)) => Err(format!(
            "unknown field `person.{f}` (person fields: {})",
            PERSON_FIELDS.join(", ")
        )),
        Some(("job", f)) if JOB_FIELDS.contains(&f) => Ok(Field::Hire(k.to_owned())),
        Some(("job", f)) => Err(format!(
            "unknown field `job.{f}` (job fields: {})",
            JOB_FIELDS.join(", ")
        )),
        Some(("attributes", a)) if !a.is_empty() => Ok(Field::Hire(k.to_owned())),
        _ => Err(format!(
            "unknown field `{k}` (use source, type, person.<field>, job.<field> or attributes.<name>)"
        )),
    }
}

/// `profile` or `assign.fields`: custom field name → literal or template, each name once
/// (names compare ignoring case, as Connecteam's do).
fn parse_fields(cx: &mut Ctx<'_>, map: &MarkedMappingNode) -> FieldValues {
    let mut out: FieldValues = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (key, value) in map.iter() {
        let name = key.as_str().trim();
        if name.is_empty() {
            cx.at(key.span(), "a custom field name must not be empty");
            continue;
        }
        let line = key.span().start().map_or(0, Marker::line);
        if let Some(first) = seen.get(&fold_case(name)) {
            cx.at(
                key.span(),
                format!(
                    "custom field {name:?} is set twice (first at line {first}; names ignore case)"
                ),
            );
            continue;
        }
        seen.insert(fold_case(name), line);
        let text = match value {
            Node::Scalar(_) if is_null(value) => {
                cx.at(
                    key.span(),
                    format!("custom field {name:?} needs a value (text or a template such as \"{{job.title}}\")"),
                );
                continue;
            }
            Node::Scalar(s) => s.as_str(),
            other => {
                cx.at(
                    other.span(),
                    format!("the value of custom field {name:?} must be a single value (a dropdown takes one option's name)"),
                );
                continue;
            }
        };
        match Template::parse(text, field_of) {
            Ok(t) => out.push((name.to_owned(), t)),
            Err(e) => cx.at(
                value.span(),
                format!(
                    "custom field {name:?}: {} (at character {} of {text:?})",
                    e.message,
                    e.offset + 1
                ),
            ),
        }
    }
    out
}

fn parse_condition(
    cx: &mut Ctx<'_>,
    key: &MarkedScalarNode,
    value: &Node,
    out: &mut Vec<Condition>,
) {
    let field = parse_field(cx, key);
    match value {
        // An empty value's span is where the next token starts: point at the key instead.
        Node::Scalar(_) if is_null(value) => cx.at(
            key.span(),
            "a condition needs a value (a missing field only matches `not_in`)",
        ),
        Node::Scalar(s) => {
            if let Some(field) = field
                && check_choice(cx, &field, "equals", s)
            {
                out.push(Condition {
                    field,
                    op: Op::Equals(fold_case(s.as_str())),
                });
            }
        }
        Node::Sequence(seq) => cx.at(
            seq.span(),
            "a list of values needs an operator: `{ in: [a, b] }` or `{ not_in: [a, b] }`",
        ),
        Node::Mapping(ops) => {
            if ops.is_empty() {
                cx.at(
                    ops.span(),
                    "an empty condition: give a value or an operator (in, not_in, glob, regex)",
                );
            }
            for (op, arg) in ops.iter() {
                if let Some(op) = parse_op(cx, field.as_ref(), op, arg)
                    && let Some(field) = &field
                {
                    out.push(Condition {
                        field: field.clone(),
                        op,
                    });
                }
            }
        }
    }
}

fn parse_op(
    cx: &mut Ctx<'_>,
    field: Option<&Field>,
    op: &MarkedScalarNode,
    arg: &Node,
) -> Option<Op> {
    match op.as_str() {
        name @ ("in" | "not_in") => {
            let Node::Sequence(seq) = arg else {
                cx.at(
                    arg.span(),
                    format!("`{name}` needs a list, e.g. `{name}: [a, b]`"),
                );
                return None;
            };
            let mut values = Vec::new();
            let mut ok = true;
            for item in seq.iter() {
                match item {
                    Node::Scalar(s) if !is_null(item) => {
                        if field.is_none_or(|f| check_choice(cx, f, name, s)) {
                            values.push(fold_case(s.as_str()));
                        } else {
                            ok = false;
                        }
                    }
                    other => {
                        cx.at(
                            other.span(),
                            format!("`{name}` values must be single values"),
                        );
                        ok = false;
                    }
                }
            }
            ok.then(|| {
                if name == "in" {
                    Op::In(values)
                } else {
                    Op::NotIn(values)
                }
            })
        }
        "glob" => {
            let s = pattern_arg(cx, "glob", arg)?;
            match GlobBuilder::new(s.as_str())
                .case_insensitive(true)
                .literal_separator(false)
                .build()
            {
                Ok(g) => Some(Op::Glob(g.compile_matcher())),
                Err(e) => {
                    cx.at(s.span(), format!("bad glob {:?}: {}", s.as_str(), e.kind()));
                    None
                }
            }
        }
        "regex" => {
            let s = pattern_arg(cx, "regex", arg)?;
            match regex::RegexBuilder::new(s.as_str())
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                Ok(r) => Some(Op::Regex(r)),
                Err(e) => {
                    let detail = e.to_string();
                    // The regex crate's message spans several lines; keep one line per error.
                    let detail = detail
                        .lines()
                        .rev()
                        .find(|l| l.trim_start().starts_with("error:"))
                        .map(|l| {
                            l.trim_start()
                                .trim_start_matches("error:")
                                .trim()
                                .to_owned()
                        })
                        .unwrap_or_else(|| detail.replace('\n', " "));
                    cx.at(s.span(), format!("bad regex {:?}: {detail}", s.as_str()));
                    None
                }
            }
        }
        other => {
            cx.at(
                op.span(),
                format!(
                    "unknown operator `{other}` (expected one of: {}; a plain value means equals)",
                    OPERATORS.join(", ")
                ),
            );
            None
        }
    }
}

/// Fields whose values come from a fixed set: a rule value outside it can never be met, so it
/// is an error rather than a rule that silently never matches. `op` is `equals`, `in` or
/// `not_in`. Reports the value and returns false when it is not one the field can take.
fn check_choice(cx: &mut Ctx<'_>, field: &Field, op: &str, value: &MarkedScalarNode) -> bool {
    let v = fold_case(value.as_str());
    match field {
        Field::Hire(path) if path == "job.employment_type" => {
            if EmploymentType::ALL.iter().any(|t| t.as_str() == v) {
                return true;
            }
            let valid: Vec<&str> = EmploymentType::ALL.iter().map(|t| t.as_str()).collect();
            cx.at(
                value.span(),
                format!(
                    "{:?} is not an employment type, so it never matches: use one of {} (upper/lower case does not matter)",
                    value.as_str(),
                    valid.join(", ")
                ),
            );
            false
        }
        Field::Type => {
            let message = match (op, v == HIRE_CREATED) {
                ("not_in", true) => format!(
                    "`type` is {HIRE_CREATED} for every hire rules are applied to, so excluding it means this rule never matches"
                ),
                ("not_in", false) => format!(
                    "{:?} is never the type of a hire rules are applied to (only {HIRE_CREATED} events are acted on), so excluding it changes nothing; remove it",
                    value.as_str()
                ),
                (_, true) => return true,
                (_, false) => format!(
                    "{:?} never matches: only {HIRE_CREATED} events are acted on, so rules only ever see type {HIRE_CREATED}",
                    value.as_str()
                ),
            };
            cx.at(value.span(), message);
            false
        }
        _ => true,
    }
}

fn pattern_arg<'n>(cx: &mut Ctx<'_>, name: &str, arg: &'n Node) -> Option<&'n MarkedScalarNode> {
    match arg {
        Node::Scalar(s) if !is_null(arg) => Some(s),
        other => {
            cx.at(other.span(), format!("`{name}` needs a single pattern"));
            None
        }
    }
}

fn parse_assign(cx: &mut Ctx<'_>, map: &MarkedMappingNode, assign: &mut Assign) {
    cx.unknown_keys(map, ASSIGN_KEYS, "in assign");
    let Assign {
        packs,
        policies,
        fields,
        activation,
    } = assign;
    match map.get_node("fields") {
        None => {}
        Some(n) if is_null(n) => {}
        Some(Node::Mapping(m)) => *fields = parse_fields(cx, m),
        Some(n) => cx.at(
            n.span(),
            "`fields` must be a mapping of custom field name: value",
        ),
    }
    match map.get_node("activation") {
        None => {}
        Some(n) if is_null(n) => {}
        Some(Node::Scalar(s)) if is_plain(s) && s.as_bool().is_some() => *activation = s.as_bool(),
        Some(n) => cx.at(
            n.span(),
            "`activation` must be true or false (send Connecteam's activation SMS)",
        ),
    }
    match map.get_node("packs") {
        None => {}
        Some(n) if is_null(n) => {}
        Some(Node::Sequence(seq)) => {
            for item in seq.iter() {
                match item {
                    Node::Scalar(s) if is_plain(s) => match s.as_str().parse::<u64>() {
                        Ok(id) if id > 0 => packs.push(id),
                        _ => cx.at(
                            s.span(),
                            format!(
                                "pack id {:?} is not a positive whole number (a Connecteam onboarding pack id)",
                                s.as_str()
                            ),
                        ),
                    },
                    other => cx.at(
                        other.span(),
                        "a pack id must be a positive whole number, without quotes",
                    ),
                }
            }
        }
        Some(n) => cx.at(
            n.span(),
            "`packs` must be a list of pack ids, e.g. `[101, 102]`",
        ),
    }
    match map.get_node("policies") {
        None => {}
        Some(n) if is_null(n) => {}
        Some(Node::Sequence(seq)) => {
            for item in seq.iter() {
                match item {
                    Node::Mapping(p) => {
                        if let Some(g) = parse_policy(cx, p) {
                            policies.push(g);
                        }
                    }
                    other => cx.at(
                        other.span(),
                        "a policy is written `{ id: pol-…, balance: 15, unit: days }` (balance and unit optional)",
                    ),
                }
            }
        }
        Some(n) => cx.at(
            n.span(),
            "`policies` must be a list of `{ id: …, balance: …, unit: … }`",
        ),
    }
}

fn parse_policy(cx: &mut Ctx<'_>, map: &MarkedMappingNode) -> Option<PolicyGrant> {
    let before = cx.errors.len();
    cx.unknown_keys(map, POLICY_KEYS, "in a policy");
    let mut id = None;
    match map.get_node("id") {
        None => cx.at_map(map, "this policy has no `id`"),
        Some(Node::Scalar(s))
            if s.as_str().trim().is_empty() || is_null(&Node::Scalar(s.clone())) =>
        {
            cx.at(s.span(), "a policy id must not be empty")
        }
        Some(Node::Scalar(s)) => id = Some(s.as_str().trim().to_owned()),
        Some(n) => cx.at(n.span(), "a policy id must be text"),
    }
    let balance_node = map.get_node("balance").filter(|n| !is_null(n));
    let unit_node = map.get_node("unit").filter(|n| !is_null(n));
    let mut balance = None;
    if let Some(n) = balance_node {
        match n {
            Node::Scalar(s) if is_plain(s) => match s.as_str().parse::<f64>() {
                Ok(v) if v.is_finite() && v < 0.0 => cx.at(
                    s.span(),
                    format!("balance {} is negative (it must be 0 or more)", s.as_str()),
                ),
                Ok(v) if v.is_finite() => balance = Balance::new(v),
                _ => cx.at(
                    s.span(),
                    format!("balance {:?} is not a number", s.as_str()),
                ),
            },
            other => cx.at(other.span(), "balance must be a number, without quotes"),
        }
        if unit_node.is_none() {
            cx.at(
                n.span(),
                "a balance needs a unit (`unit: hours` or `unit: days`)",
            );
        }
    }
    let mut unit = None;
    if let Some(n) = unit_node {
        match n {
            Node::Scalar(s) if s.as_str() == "hours" => unit = Some(Unit::Hours),
            Node::Scalar(s) if s.as_str() == "days" => unit = Some(Unit::Days),
            other => {
                let shown = other.as_scalar().map(|s| format!(" {:?}", s.as_str()));
                cx.at(
                    other.span(),
                    format!(
                        "unit{} must be `hours` or `days`",
                        shown.unwrap_or_default()
                    ),
                )
            }
        }
        if balance_node.is_none() {
            cx.at(
                n.span(),
                "a unit needs a balance (or leave both out to use the policy's default)",
            );
        }
    }
    if cx.errors.len() != before {
        return None;
    }
    Some(PolicyGrant {
        id: id?,
        balance,
        unit,
    })
}

/// Lower-case a rule value one character at a time, exactly as evaluation folds the hire's
/// value, so both sides agree even where whole-string lower-casing is context-sensitive (Σ).
fn fold_case(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}
