use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::domain::{Balance, Plan};
use crate::domain::{EmploymentType, Hire, Job, Person};

fn hire(v: serde_json::Value) -> Hire {
    Hire::from_json(&v, "US").expect("test hire is valid")
}

/// A full-time forklift driver in Austin, TX; `patch` overrides job fields (null removes).
fn hire_with(patch: serde_json::Value) -> Hire {
    let mut v = json!({
        "event_id": "evt_1", "type": "hire.created",
        "person": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
        "job": {"title": "Forklift Driver", "department": "Warehouse", "location": "Austin, TX",
                "employment_type": "full_time"},
        "attributes": {"cost_center": "CC-12"}
    });
    if let Some(p) = patch.as_object() {
        for (k, val) in p {
            let (section, field) = k.split_once('.').unwrap_or(("", k));
            let target = if section.is_empty() {
                &mut v
            } else {
                &mut v[section]
            };
            if val.is_null() {
                if let Some(o) = target.as_object_mut() {
                    o.remove(field);
                }
            } else {
                target[field] = val.clone();
            }
        }
    }
    hire(v)
}

fn table(rules: &str) -> RuleSet {
    let text = format!("version: 1\nrules:\n{rules}");
    match RuleSet::parse("t.yaml", &text) {
        Ok(s) => s,
        Err(e) => panic!("table should parse:\n{e}\n---\n{text}"),
    }
}

fn one_condition(cond: &str) -> RuleSet {
    table(&format!(
        "  - name: r\n    when:\n      {cond}\n    assign: {{ packs: [1] }}\n"
    ))
}

fn errors(text: &str) -> Vec<(usize, usize, String)> {
    match RuleSet::parse("t.yaml", text) {
        Ok(_) => panic!("table should be invalid:\n{text}"),
        Err(e) => {
            e.0.into_iter()
                .map(|e| (e.line, e.column, e.message))
                .collect()
        }
    }
}

/// Exactly one error, at `line:col`, whose message contains `needle`.
#[track_caller]
fn assert_one_error(text: &str, line: usize, col: usize, needle: &str) {
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let (l, c, m) = &errs[0];
    assert_eq!((*l, *c), (line, col), "{m}");
    assert!(m.contains(needle), "{m:?} should contain {needle:?}");
}

// ---------------------------------------------------------------- operators

#[test]
fn every_operator_matches_as_documented() {
    let cases: &[(&str, serde_json::Value, bool)] = &[
        // plain value: equals, case-insensitive
        ("job.employment_type: full_time", json!({}), true),
        ("job.employment_type: FULL_TIME", json!({}), true),
        ("job.employment_type: part_time", json!({}), false),
        ("job.department: warehouse", json!({}), true),
        ("job.department: Wareh", json!({}), false),
        (
            "job.department: straße",
            json!({"job.department": "STRASSE"}),
            false,
        ),
        (
            "job.department: ärzte",
            json!({"job.department": "ÄRZTE"}),
            true,
        ),
        (
            "job.department: Warehouse",
            json!({"job.department": null}),
            false,
        ),
        // numbers and booleans compare by their text
        (
            "attributes.level: 3",
            json!({"attributes.level": "3"}),
            true,
        ),
        (
            "attributes.remote: true",
            json!({"attributes.remote": "TRUE"}),
            true,
        ),
        (
            "attributes.level: 3",
            json!({"attributes.level": "03"}),
            false,
        ),
        // in
        (
            "job.department: { in: [Logistics, WAREHOUSE] }",
            json!({}),
            true,
        ),
        (
            "job.department: { in: [Logistics, Retail] }",
            json!({}),
            false,
        ),
        (
            "job.department: { in: [Warehouse] }",
            json!({"job.department": null}),
            false,
        ),
        (
            "attributes.level: { in: [1, 2, 3] }",
            json!({"attributes.level": "2"}),
            true,
        ),
        ("job.department: { in: [] }", json!({}), false),
        // not_in: a missing field matches
        (
            "attributes.cost_center: { not_in: [CC-99] }",
            json!({}),
            true,
        ),
        (
            "attributes.cost_center: { not_in: [cc-12] }",
            json!({}),
            false,
        ),
        ("attributes.other: { not_in: [x] }", json!({}), true),
        (
            "job.title: { not_in: [x] }",
            json!({"job.title": null}),
            true,
        ),
        ("job.department: { not_in: [] }", json!({}), true),
        // glob: case-insensitive, * crosses everything
        ("job.location: { glob: \"*, TX\" }", json!({}), true),
        ("job.location: { glob: \"*, tx\" }", json!({}), true),
        (
            "job.location: { glob: \"*, TX\" }",
            json!({"job.location": "Austin, TX, USA"}),
            false,
        ),
        (
            "job.location: { glob: \"*/*\" }",
            json!({"job.location": "Austin/Round Rock"}),
            true,
        ),
        (
            "job.location: { glob: \"{Austin,Dallas}*\" }",
            json!({}),
            true,
        ),
        ("job.location: { glob: \"Aus?in*\" }", json!({}), true),
        (
            "job.location: { glob: \"*\" }",
            json!({"job.location": null}),
            false,
        ),
        // regex: as written
        (
            "job.title: { regex: \"(?i)forklift|driver\" }",
            json!({}),
            true,
        ),
        ("job.title: { regex: forklift }", json!({}), false),
        ("job.title: { regex: Forklift }", json!({}), true),
        ("job.title: { regex: \"^Driver\" }", json!({}), false),
        (
            "job.title: { regex: \".*\" }",
            json!({"job.title": null}),
            false,
        ),
        // several operators on one field: all must hold
        (
            "job.title: { regex: \"(?i)driver\", not_in: [forklift driver] }",
            json!({}),
            false,
        ),
        (
            "job.title: { regex: \"(?i)driver\", not_in: [truck driver] }",
            json!({}),
            true,
        ),
        // type, person.*
        ("type: HIRE.CREATED", json!({}), true),
        ("person.email: ADA@example.com", json!({}), true),
        ("person.phone: { glob: \"+1*\" }", json!({}), false),
    ];
    for (cond, patch, want) in cases {
        let set = one_condition(cond);
        let h = hire_with(patch.clone());
        let got = !set.evaluate(Some("acme-hris"), &h).matched.is_empty();
        assert_eq!(got, *want, "condition `{cond}` with patch {patch}");
    }
}

#[test]
fn source_condition_reads_the_source_name_and_missing_source_matches_only_not_in() {
    let h = hire_with(json!({}));
    let set = one_condition("source: { in: [greenhouse, acme-hris] }");
    assert_eq!(set.evaluate(Some("acme-hris"), &h).matched, ["r"]);
    assert_eq!(set.evaluate(Some("Greenhouse"), &h).matched, ["r"]);
    assert!(set.evaluate(Some("lever"), &h).matched.is_empty());
    assert!(set.evaluate(None, &h).matched.is_empty());
    let set = one_condition("source: { not_in: [lever] }");
    assert_eq!(set.evaluate(None, &h).matched, ["r"]);
    assert!(set.evaluate(Some("LEVER"), &h).matched.is_empty());
}

#[test]
fn empty_or_null_when_matches_every_hire() {
    let h = hire_with(json!({"job": null}));
    for when in ["when: {}", "when:", "when: ~"] {
        let set = table(&format!(
            "  - name: all\n    {when}\n    assign: {{ packs: [7] }}\n"
        ));
        assert_eq!(set.evaluate(None, &h).packs, [7], "{when}");
    }
}

#[test]
fn a_rule_without_when_matches_every_hire() {
    let set = table(
        "  - name: all\n    assign: { packs: [7] }\n  - name: some\n    when: { job.department: Retail }\n    assign: { packs: [8] }\n",
    );
    assert_eq!(set.evaluate(None, &hire_with(json!({}))).packs, [7]);
    assert_eq!(
        set.evaluate(Some("x"), &hire_with(json!({"job.department": "retail"})))
            .packs,
        [7, 8]
    );
}

#[test]
fn all_conditions_of_a_rule_must_hold() {
    let set = table(
        "  - name: r\n    when:\n      job.department: Warehouse\n      job.employment_type: part_time\n    assign: { packs: [1] }\n",
    );
    assert!(set.evaluate(None, &hire_with(json!({}))).matched.is_empty());
    let pt = hire_with(json!({"job.employment_type": "part_time"}));
    assert_eq!(set.evaluate(None, &pt).matched, ["r"]);
}

// ---------------------------------------------------------------- combination

#[test]
fn every_matching_rule_adds_until_a_matching_stop() {
    let set = table(
        "  - name: a\n    when: {}\n    assign: { packs: [1] }\n\
         \x20 - name: not me\n    when: { job.department: Retail }\n    assign: { packs: [9] }\n    stop: true\n\
         \x20 - name: b\n    when: { job.department: Warehouse }\n    assign: { packs: [2] }\n    stop: true\n\
         \x20 - name: after stop\n    when: {}\n    assign: { packs: [3] }\n",
    );
    let plan = set.evaluate(None, &hire_with(json!({})));
    assert_eq!(plan.matched, ["a", "b"]);
    assert_eq!(plan.packs, [1, 2]);
    // A stop rule that does not match stops nothing.
    let retail = hire_with(json!({"job.department": "Office"}));
    let plan = set.evaluate(None, &retail);
    assert_eq!(plan.matched, ["a", "after stop"]);
    assert_eq!(plan.packs, [1, 3]);
}

#[test]
fn packs_are_deduplicated_in_first_assigned_order() {
    let set = table(
        "  - name: a\n    when: {}\n    assign: { packs: [3, 1, 3] }\n\
         \x20 - name: b\n    when: {}\n    assign: { packs: [2, 1, 4] }\n",
    );
    assert_eq!(
        set.evaluate(None, &hire_with(json!({}))).packs,
        [3, 1, 2, 4]
    );
}

#[test]
fn first_matching_rule_balance_wins_per_policy() {
    let set = table(
        "  - name: skipped\n    when: { job.department: Retail }\n    assign:\n      policies: [{ id: vac, balance: 1, unit: days }]\n\
         \x20 - name: first\n    when: {}\n    assign:\n      policies:\n        - { id: vac, balance: 15, unit: days }\n        - { id: sick }\n\
         \x20 - name: second\n    when: {}\n    assign:\n      policies:\n        - { id: vac, balance: 99, unit: hours }\n        - { id: sick, balance: 8, unit: hours }\n        - { id: extra, balance: 7.5, unit: hours }\n",
    );
    let plan = set.evaluate(None, &hire_with(json!({})));
    assert_eq!(plan.matched, ["first", "second"]);
    let got = serde_json::to_value(&plan.policies).unwrap();
    assert_eq!(
        got,
        json!([
            {"id": "vac", "balance": 15, "unit": "days"},
            {"id": "sick"},
            {"id": "extra", "balance": 7.5, "unit": "hours"}
        ])
    );
}

#[test]
fn plan_serialises_as_the_contract_evaluate_object() {
    let set = table(
        "  - name: warehouse full-time\n    when: { job.department: Warehouse }\n    assign:\n      packs: [101, 102]\n      policies:\n        - { id: pol-vac-ft-001, balance: 15, unit: days }\n        - { id: pol-sick-001 }\n",
    );
    let plan = set.evaluate(None, &hire_with(json!({})));
    let v = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        v,
        json!({
            "rules_version": set.version(),
            "matched": ["warehouse full-time"],
            "packs": [101, 102],
            "policies": [{"id": "pol-vac-ft-001", "balance": 15, "unit": "days"}, {"id": "pol-sick-001"}],
            "fields": {},
            "activation": false
        })
    );
    let back: Plan = serde_json::from_value(v).unwrap();
    assert_eq!(back, plan);
    assert!(serde_json::from_value::<Balance>(json!(-1)).is_err());
    assert_eq!(Balance::new(-0.0).map(|b| b.to_string()), Some("0".into()));
}

#[test]
fn version_is_a_content_hash_and_accessors_report_the_table() {
    let text = "version: 1\nrules:\n  - name: a\n    when: {}\n    assign: { packs: [2, 1], policies: [{ id: p }] }\n  - name: b\n    when: {}\n    assign: { packs: [1], policies: [{ id: q, balance: 1, unit: days }] }\n";
    let a = RuleSet::parse("x.yaml", text).unwrap();
    let b = RuleSet::parse("other-name.yaml", text).unwrap();
    assert_eq!(a.version(), b.version());
    assert!(a.version().starts_with("sha256:"));
    assert_eq!(a.version().len(), "sha256:".len() + 16);
    let c = RuleSet::parse("x.yaml", &format!("{text}\n# a comment\n")).unwrap();
    assert_ne!(a.version(), c.version());
    assert_eq!(a.text(), text);
    assert_eq!(a.rule_names(), ["a", "b"]);
    assert_eq!(a.pack_ids().into_iter().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        a.policy_ids().into_iter().collect::<Vec<_>>(),
        ["p".to_owned(), "q".to_owned()]
    );
}

#[test]
fn missing_in_account_names_ids_and_their_rules() {
    let set = table(
        "  - name: a\n    when: {}\n    assign: { packs: [101, 999], policies: [{ id: pol-x }, { id: pol-ok }] }\n\
         \x20 - name: b\n    when: {}\n    assign: { packs: [999] }\n",
    );
    let lines = missing_in_account(&set, &[101], &["pol-ok".to_owned()]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("999") && lines[0].contains("\"a\", \"b\""),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("pol-x") && lines[1].contains("\"a\""),
        "{lines:?}"
    );
    assert!(missing_in_account(&set, &[101, 999], &["pol-x".into(), "pol-ok".into()]).is_empty());
}

// ---------------------------------------------------------------- the example table

#[test]
fn example_table_gives_the_documented_plans() {
    let set = RuleSet::parse("examples/rules.yaml", EXAMPLE_RULES).unwrap();
    assert_eq!(
        set.pack_ids().into_iter().collect::<Vec<_>>(),
        [101, 102, 103, 104, 105]
    );
    assert_eq!(
        set.policy_ids().into_iter().collect::<Vec<_>>(),
        ["pol-sick-001", "pol-vac-ft-001", "pol-vac-pt-001"]
    );

    let example: serde_json::Value =
        serde_json::from_str(include_str!("../../examples/hire.json")).unwrap();
    let warehouse = hire(example);
    let plan = serde_json::to_value(set.evaluate(Some("acme-hris"), &warehouse)).unwrap();
    assert_eq!(plan["packs"], json!([101, 102, 105]));
    assert_eq!(
        plan["policies"],
        json!([
            {"id": "pol-vac-ft-001", "balance": 15, "unit": "days"},
            {"id": "pol-sick-001", "balance": 40, "unit": "hours"}
        ])
    );

    let store = hire_with(json!({
        "job.department": "Store", "job.location": "Portland, OR",
        "job.employment_type": "part_time", "job.title": "Cashier"
    }));
    let plan = serde_json::to_value(set.evaluate(None, &store)).unwrap();
    assert_eq!(plan["packs"], json!([101, 103]));
    assert_eq!(
        plan["policies"],
        json!([
            {"id": "pol-vac-pt-001", "balance": 40, "unit": "hours"},
            {"id": "pol-sick-001", "balance": 20, "unit": "hours"}
        ])
    );
    assert_eq!(
        plan["matched"],
        json!([
            "part-time time off",
            "everyone gets company essentials",
            "retail and stores"
        ])
    );
}

// ---------------------------------------------------------------- error locations

const HEAD: &str = "version: 1\nrules:\n";

#[test]
fn error_unknown_top_level_key() {
    assert_one_error(
        "version: 1\ncolour: red\nrules: []\n",
        2,
        1,
        "unknown key `colour`",
    );
}

#[test]
fn error_unknown_key_in_rule() {
    let t = format!("{HEAD}  - name: a\n    when: {{}}\n    stopp: true\n");
    assert_one_error(&t, 5, 5, "unknown key `stopp` in a rule");
}

#[test]
fn error_unknown_key_in_assign() {
    let t =
        format!("{HEAD}  - name: a\n    when: {{}}\n    assign: {{ packs: [101], pack: [2] }}\n");
    assert_one_error(&t, 5, 29, "unknown key `pack` in assign");
}

#[test]
fn error_unknown_key_in_policy() {
    let t = format!(
        "{HEAD}  - name: a\n    when: {{}}\n    assign:\n      policies:\n        - {{ id: p, balanse: 3 }}\n"
    );
    assert_one_error(&t, 7, 20, "unknown key `balanse` in a policy");
}

#[test]
fn error_unknown_operator() {
    let t = format!("{HEAD}  - name: a\n    when:\n      job.title: {{ like: x }}\n");
    assert_one_error(&t, 5, 20, "unknown operator `like`");
}

#[test]
fn error_bad_regex() {
    let t = format!("{HEAD}  - name: a\n    when:\n      job.title: {{ regex: \"(x\" }}\n");
    assert_one_error(&t, 5, 27, "bad regex \"(x\"");
}

#[test]
fn error_bad_glob() {
    let t = format!("{HEAD}  - name: a\n    when:\n      job.location: {{ glob: \"[a-\" }}\n");
    assert_one_error(&t, 5, 29, "bad glob \"[a-\"");
}

#[test]
fn error_duplicate_rule_name_points_at_the_second() {
    let t = format!("{HEAD}  - name: a\n    when: {{}}\n  - name: a\n    when: {{}}\n");
    assert_one_error(
        &t,
        5,
        11,
        "duplicate rule name \"a\" (first used at line 3)",
    );
}

#[test]
fn error_missing_name() {
    let t = format!("{HEAD}  - when: {{}}\n    assign: {{ packs: [1] }}\n");
    assert_one_error(&t, 3, 5, "no `name`");
    let t = format!("{HEAD}  - name: \"\"\n    when: {{}}\n");
    assert_one_error(&t, 3, 11, "must not be empty");
}

#[test]
fn error_balance_without_unit() {
    let t = format!(
        "{HEAD}  - name: a\n    when: {{}}\n    assign:\n      policies:\n        - {{ id: p, balance: 3 }}\n"
    );
    assert_one_error(&t, 7, 29, "a balance needs a unit");
}

#[test]
fn error_unit_without_balance() {
    let t = format!(
        "{HEAD}  - name: a\n    when: {{}}\n    assign:\n      policies:\n        - {{ id: p, unit: days }}\n"
    );
    assert_one_error(&t, 7, 26, "a unit needs a balance");
}

#[test]
fn error_negative_balance() {
    let t = format!(
        "{HEAD}  - name: a\n    when: {{}}\n    assign:\n      policies:\n        - {{ id: p, balance: -2, unit: days }}\n"
    );
    assert_one_error(&t, 7, 29, "negative");
}

#[test]
fn error_balance_not_a_number() {
    let t = format!(
        "{HEAD}  - name: a\n    when: {{}}\n    assign:\n      policies:\n        - {{ id: p, balance: lots, unit: days }}\n"
    );
    assert_one_error(&t, 7, 29, "not a number");
}

#[test]
fn error_unit_not_hours_or_days() {
    let t = format!(
        "{HEAD}  - name: a\n    when: {{}}\n    assign:\n      policies:\n        - {{ id: p, balance: 2, unit: weeks }}\n"
    );
    assert_one_error(&t, 7, 38, "unit \"weeks\" must be `hours` or `days`");
}

#[test]
fn error_pack_id_not_a_positive_integer() {
    let t = format!(
        "{HEAD}  - name: a\n    when: {{}}\n    assign:\n      packs: [101, 0, abc, -3, \"7\", 1.5]\n"
    );
    let errs = errors(&t);
    let at: Vec<_> = errs.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(
        at,
        [(6, 20), (6, 23), (6, 28), (6, 32), (6, 37)],
        "{errs:?}"
    );
    assert!(
        errs[0]
            .2
            .contains("pack id \"0\" is not a positive whole number")
    );
    assert!(errs[3].2.contains("without quotes"), "{errs:?}");
}

#[test]
fn error_empty_policy_id() {
    let t = format!(
        "{HEAD}  - name: a\n    when: {{}}\n    assign:\n      policies:\n        - {{ id: \"\" }}\n        - {{ balance: 1, unit: days }}\n"
    );
    let errs = errors(&t);
    let at: Vec<_> = errs.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(at, [(7, 17), (8, 11)], "{errs:?}");
    assert!(errs[0].2.contains("policy id must not be empty"));
    assert!(errs[1].2.contains("no `id`"));
}

#[test]
fn error_unknown_field_prefix() {
    let t = format!(
        "{HEAD}  - name: a\n    when:\n      jobs.title: x\n      person.age: 3\n      attributes.: x\n      job.salary: {{ in: [1] }}\n      source.name: x\n"
    );
    let errs = errors(&t);
    let at: Vec<_> = errs.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(at, [(5, 7), (6, 7), (7, 7), (8, 7), (9, 7)], "{errs:?}");
    assert!(errs[0].2.contains("unknown field `jobs.title`"));
    assert!(errs[1].2.contains("person fields: first_name"));
    assert!(errs[3].2.contains("job fields: title"));
}

#[test]
fn error_employment_type_value_outside_the_fixed_set() {
    let t = format!("{HEAD}  - name: a\n    when:\n      job.employment_type: full-time\n");
    assert_one_error(
        &t,
        5,
        28,
        "\"full-time\" is not an employment type, so it never matches: use one of full_time, part_time, contract, temporary, intern, other",
    );
    // Every value of `in` and `not_in` too; case does not matter, as when matching.
    let t = format!(
        "{HEAD}  - name: a\n    when:\n      job.employment_type: {{ in: [Full_Time, seasonal] }}\n  - name: b\n    when:\n      job.employment_type: {{ not_in: [PART_TIME, fulltime] }}\n"
    );
    let errs = errors(&t);
    let at: Vec<_> = errs.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(at, [(5, 46), (8, 50)], "{errs:?}");
    assert!(
        errs[0]
            .2
            .starts_with("\"seasonal\" is not an employment type"),
        "{errs:?}"
    );
    assert!(
        errs[1]
            .2
            .starts_with("\"fulltime\" is not an employment type"),
        "{errs:?}"
    );
    let ok = one_condition("job.employment_type: { in: [FULL_TIME, Contract, intern] }");
    assert_eq!(ok.evaluate(None, &hire_with(json!({}))).matched, ["r"]);
}

#[test]
fn error_type_value_other_than_hire_created() {
    let t = format!(
        "{HEAD}  - name: a\n    when:\n      type: hire.updated\n  - name: b\n    when:\n      type: {{ in: [hire.created, Hire.Updated] }}\n  - name: c\n    when:\n      type: {{ not_in: [hire.created] }}\n  - name: d\n    when:\n      type: {{ not_in: [ping] }}\n"
    );
    let errs = errors(&t);
    let at: Vec<_> = errs.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(at, [(5, 13), (8, 34), (11, 24), (14, 24)], "{errs:?}");
    assert!(
        errs[0]
            .2
            .contains("\"hire.updated\" never matches: only hire.created events are acted on"),
        "{errs:?}"
    );
    assert!(
        errs[1].2.contains("\"Hire.Updated\" never matches"),
        "{errs:?}"
    );
    assert!(errs[2].2.contains("this rule never matches"), "{errs:?}");
    assert!(
        errs[3].2.contains("excluding it changes nothing"),
        "{errs:?}"
    );
    let ok = one_condition("type: { in: [HIRE.CREATED] }");
    assert_eq!(ok.evaluate(None, &hire_with(json!({}))).matched, ["r"]);
}

#[test]
fn error_version_must_be_1() {
    assert_one_error("version: 2\nrules: []\n", 1, 10, "`version` must be 1");
    assert_one_error("rules: []\n", 1, 1, "`version: 1` is required");
}

#[test]
fn error_yaml_syntax_has_a_location() {
    let errs = errors("version: 1\nrules:\n  - name: a\n    when: { job.title: [x }\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let (l, c, m) = &errs[0];
    assert!(m.starts_with("YAML syntax error"), "{m}");
    assert_eq!((*l, *c), (4, 27), "{m}");
    assert_one_error(
        "version: 1\nrules:\n  - name: a\n    name: b\n    when: {}\n",
        4,
        5,
        "duplicate key `name` (first at line 3)",
    );
    assert_one_error("- a\n- b\n", 1, 1, "a rule table is a mapping");
    assert_one_error("version: 1\nrules: &x []\n", 2, 11, "anchors");
}

#[test]
fn error_wrong_shapes() {
    let t = format!(
        "{HEAD}  - name: a\n    when:\n      job.title: [a, b]\n      job.department:\n      job.location: {{}}\n    assign: {{ packs: 101, policies: pol-x }}\n    stop: yes\n  - just text\n"
    );
    let errs = errors(&t);
    let at: Vec<_> = errs.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(
        at,
        [(5, 18), (6, 7), (7, 21), (8, 22), (8, 37), (9, 11), (10, 5)],
        "{errs:?}"
    );
}

#[test]
fn every_error_comes_out_of_one_pass_in_file_order() {
    let text = "version: 1\nrules:\n  - name: a\n    when:\n      job.title: { regex: \"(\" }\n      job.location: { glob: \"[\" }\n      jobz: x\n    assign:\n      packs: [0]\n      policies: [{ id: p, balance: -1 }]\n  - name: a\n    when: { x: { like: 1 } }\n    extra: 1\n";
    let err = RuleSet::parse("rules.yaml", text).unwrap_err();
    let shown = err.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 10, "{shown}");
    let locs: Vec<&str> = lines
        .iter()
        .map(|l| l.splitn(4, ':').take(3).collect::<Vec<_>>().join(":"))
        .map(|s| Box::leak(s.into_boxed_str()) as &str)
        .collect();
    assert_eq!(
        locs,
        [
            "rules.yaml:5:27",
            "rules.yaml:6:29",
            "rules.yaml:7:7",
            "rules.yaml:9:15",
            "rules.yaml:10:36",
            "rules.yaml:10:36",
            "rules.yaml:11:11",
            "rules.yaml:12:13",
            "rules.yaml:12:18",
            "rules.yaml:13:5",
        ],
        "{shown}"
    );
}

#[test]
fn duplicate_keys_are_errors_among_the_others() {
    let text = "version: 1\nrules:\n  - name: a\n    when:\n      job.title: { like: x }\n    assign:\n      packs: [0]\n      policies:\n        - { id: p, balance: 3 }\n    name: b\n";
    let errs = errors(text);
    let at: Vec<_> = errs.iter().map(|(l, c, _)| (*l, *c)).collect();
    assert_eq!(at, [(5, 20), (7, 15), (9, 29), (10, 5)], "{errs:?}");
    assert!(errs[0].2.contains("unknown operator `like`"), "{errs:?}");
    assert!(errs[1].2.contains("pack id \"0\""), "{errs:?}");
    assert!(errs[2].2.contains("a balance needs a unit"), "{errs:?}");
    assert_eq!(errs[3].2, "duplicate key `name` (first at line 3)");
    // Every duplicate is reported, at any depth, each with the line of its first use.
    let errs = errors(
        "version: 1\nversion: 1\nrules:\n  - name: a\n    when: { job.title: x, job.title: y }\n    assign: { packs: [1], packs: [2] }\n",
    );
    let got: Vec<_> = errs.iter().map(|(l, c, m)| (*l, *c, m.as_str())).collect();
    assert_eq!(
        got,
        [
            (2, 1, "duplicate key `version` (first at line 1)"),
            (5, 27, "duplicate key `job.title` (first at line 5)"),
            (6, 27, "duplicate key `packs` (first at line 6)"),
        ]
    );
}

#[test]
fn load_reports_an_unreadable_file() {
    let err = RuleSet::load(Path::new("/nonexistent/rules.yaml")).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(
        err.to_string()
            .starts_with("/nonexistent/rules.yaml: cannot read"),
        "{err}"
    );
}

// ---------------------------------------------------------------- CLI

#[test]
fn cli_check_reports_ok_or_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, EXAMPLE_RULES).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(cli::check(&good, &mut out, &mut err), 0);
    let out = String::from_utf8(out).unwrap();
    let v = RuleSet::parse("x", EXAMPLE_RULES).unwrap();
    assert_eq!(
        out,
        format!(
            "{}: ok (7 rules, version {})\n",
            good.display(),
            v.version()
        )
    );

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "version: 3\nrules:\n  - when: {}\n").unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(cli::check(&bad, &mut out, &mut err), 1);
    let err = String::from_utf8(err).unwrap();
    let b = bad.display();
    assert_eq!(
        err,
        format!(
            "{b}:1:10: `version` must be 1\n{b}:3:5: this rule has no `name` (every rule needs a unique name)\n"
        )
    );
}

#[test]
fn cli_eval_prints_the_plan_or_the_event_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, EXAMPLE_RULES).unwrap();
    let event = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hire.json");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        cli::eval(
            &rules,
            Some(&event),
            Some("acme-hris"),
            ("US", false),
            &mut out,
            &mut err
        ),
        0,
        "{}",
        String::from_utf8_lossy(&err)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(plan["packs"], json!([101, 102, 105]));
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("\n  \"matched\": [")
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"type": "hire.created", "person": {"first_name": "A"}}"#,
    )
    .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        cli::eval(&rules, Some(&bad), None, ("US", false), &mut out, &mut err),
        1
    );
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("/event_id: is required"), "{err}");
    assert!(err.contains("/person/last_name: is required"), "{err}");
    assert!(out.is_empty());
}

#[test]
fn cli_eval_reads_phone_numbers_with_the_region_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "version: 1\nrules:\n  - name: london office\n    when: { person.phone: \"+442079460958\" }\n    assign: { packs: [7] }\n",
    )
    .unwrap();
    let event = dir.path().join("hire.json");
    std::fs::write(
        &event,
        r#"{"event_id": "e1", "type": "hire.created",
            "person": {"first_name": "A", "last_name": "B", "phone": "020 7946 0958"}}"#,
    )
    .unwrap();
    let run = |region: &str| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = cli::eval(
            &rules,
            Some(&event),
            Some("uk"),
            (region, false),
            &mut out,
            &mut err,
        );
        let plan: Option<serde_json::Value> = serde_json::from_slice(&out).ok();
        (code, plan.map(|p| p["matched"].clone()))
    };
    assert_eq!(run("GB"), (0, Some(json!(["london office"]))));
    assert_ne!(run("US"), (0, Some(json!(["london office"]))));

    // --phone-region, else the configuration's region for the source, else US.
    assert_eq!(
        cli::eval_phone_region(None, None, Some("uk")).unwrap(),
        "US"
    );
    assert_eq!(
        cli::eval_phone_region(Some("GB"), None, None).unwrap(),
        "GB"
    );
    assert!(
        cli::eval_phone_region(Some("XX"), None, None)
            .unwrap_err()
            .contains("--phone-region XX")
    );
    let config = dir.path().join("hirebridge.yaml");
    std::fs::write(
        &config,
        "connecteam: { default_phone_region: DE }\nsources:\n  uk:\n    kind: generic\n    phone_region: GB\n    auth: { bearer: { token: t } }\n",
    )
    .unwrap();
    let from = |explicit: Option<&str>, source: Option<&str>| {
        cli::eval_phone_region(explicit, Some(&config), source).unwrap()
    };
    assert_eq!(from(None, Some("uk")), "GB");
    assert_eq!(from(None, Some("elsewhere")), "DE");
    assert_eq!(from(None, None), "DE");
    assert_eq!(from(Some("FR"), Some("uk")), "FR");
    assert_eq!(
        run(&from(None, Some("uk"))),
        (0, Some(json!(["london office"])))
    );
    let err =
        cli::eval_phone_region(None, Some(&dir.path().join("missing.yaml")), None).unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}

// ---------------------------------------------------------------- reload

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

const V1: &str = "version: 1\nrules:\n  - name: one\n    when: {}\n    assign: { packs: [1] }\n";
const V2: &str = "version: 1\nrules:\n  - name: two\n    when: {}\n    assign: { packs: [2] }\n";
const BAD: &str = "version: 1\nrules:\n  - name: three\n    when: { job.title: { like: x } }\n";

#[test]
fn direct_reload_swaps_keeps_and_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yaml");
    write(&path, V1);
    let handle = RulesHandle::new(RuleSet::load(&path).unwrap(), Some(path.clone()));
    let v1 = handle.current().set.version().to_owned();
    let t1 = handle.current().loaded_at;

    // Same content: nothing swapped.
    assert_eq!(handle.reload().unwrap(), v1);
    assert_eq!(handle.current().loaded_at, t1);

    write(&path, V2);
    let v2 = handle.reload().unwrap();
    assert_ne!(v2, v1);
    assert_eq!(handle.current().set.version(), v2);
    assert_eq!(handle.current().set.rule_names(), ["two"]);

    write(&path, BAD);
    let errs = handle.reload().unwrap_err();
    assert_eq!(errs.0.len(), 1);
    assert_eq!((errs.0[0].line, errs.0[0].column), (4, 26));
    assert_eq!(handle.current().set.version(), v2);

    std::fs::remove_file(&path).unwrap();
    assert!(handle.reload().is_err());
    assert_eq!(handle.current().set.version(), v2);

    // A table without a file (the bundled example) reloads to itself.
    let fixed = RulesHandle::new(RuleSet::parse("example", EXAMPLE_RULES).unwrap(), None);
    let v = fixed.current().set.version().to_owned();
    assert_eq!(fixed.reload().unwrap(), v);
}

/// Point `dir/..data` at `dir/target` atomically, as the kubelet does for a ConfigMap volume.
fn swap_data_link(dir: &Path, target: &str) {
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
}

fn configmap_version(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir(dir.join(name)).unwrap();
    write(&dir.join(name).join("rules.yaml"), text);
}

async fn wait_for_version(handle: &RulesHandle, want: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if handle.current().set.version() == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.current().set.version() == want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_when_a_configmap_swaps_its_data_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    configmap_version(d, "..2026_01", V1);
    std::os::unix::fs::symlink("..2026_01", d.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/rules.yaml", d.join("rules.yaml")).unwrap();
    let path: PathBuf = d.join("rules.yaml");

    let handle = Arc::new(RulesHandle::new(RuleSet::load(&path).unwrap(), Some(path)));
    let v1 = handle.current().set.version().to_owned();
    let cancel = CancellationToken::new();
    let task = spawn_reloader(Arc::clone(&handle), cancel.clone());
    // Let the watcher start before the first swap.
    tokio::time::sleep(Duration::from_millis(300)).await;

    configmap_version(d, "..2026_02", V2);
    swap_data_link(d, "..2026_02");
    let v2 = RuleSet::parse("x", V2).unwrap().version().to_owned();
    assert!(
        wait_for_version(&handle, &v2, Duration::from_secs(5)).await,
        "version stayed {} after the ConfigMap swap",
        handle.current().set.version()
    );
    assert_ne!(v1, v2);

    configmap_version(d, "..2026_03", BAD);
    swap_data_link(d, "..2026_03");
    // Give the reloader time to see and refuse it.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(handle.current().set.version(), v2);
    let errs = handle.reload().unwrap_err();
    assert!(
        errs.to_string().contains("unknown operator `like`"),
        "{errs}"
    );
    assert_eq!(handle.current().set.rule_names(), ["two"]);

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("reloader stops when cancelled")
        .unwrap();
}

/// A plain rule file (no ConfigMap): written in place, replaced by a rename (a new inode, as
/// editors and deploy tools do), removed and put back. Each change is picked up.
#[tokio::test]
async fn reloads_a_plain_file_however_it_is_changed() {
    const V3: &str =
        "version: 1\nrules:\n  - name: three\n    when: {}\n    assign: { packs: [3] }\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yaml");
    write(&path, V1);
    let handle = Arc::new(RulesHandle::new(
        RuleSet::load(&path).unwrap(),
        Some(path.clone()),
    ));
    let cancel = CancellationToken::new();
    let task = spawn_reloader(Arc::clone(&handle), cancel.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let version = |t: &str| RuleSet::parse("x", t).unwrap().version().to_owned();

    // A database beside the table writes all the time; that is not a change of the table.
    write(&dir.path().join("hirebridge.db-wal"), "noise");
    write(&path, V2);
    assert!(
        wait_for_version(&handle, &version(V2), Duration::from_secs(5)).await,
        "in-place write not picked up"
    );

    let tmp = dir.path().join(".rules.yaml.tmp");
    write(&tmp, V3);
    std::fs::rename(&tmp, &path).unwrap();
    assert!(
        wait_for_version(&handle, &version(V3), Duration::from_secs(5)).await,
        "replacement by rename not picked up"
    );
    // The new inode is watched too.
    write(&path, V1);
    assert!(
        wait_for_version(&handle, &version(V1), Duration::from_secs(5)).await,
        "write after a rename not picked up"
    );

    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        handle.current().set.version(),
        version(V1),
        "a missing file keeps the table"
    );
    write(&path, V2);
    assert!(
        wait_for_version(&handle, &version(V2), Duration::from_secs(5)).await,
        "a file put back is picked up"
    );

    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("reloader stops when cancelled")
        .unwrap();
}

// ---------------------------------------------------------------- properties

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z ,.*?-]{0,12}",
        Just("Warehouse".to_owned()),
        Just("Austin, TX".to_owned()),
        any::<String>(),
    ]
}

prop_compose! {
    fn arb_hire()(
        event_type in prop_oneof![Just("hire.created".to_owned()), arb_text()],
        first in arb_text(), last in arb_text(),
        title in proptest::option::of(arb_text()),
        department in proptest::option::of(prop_oneof![
            Just("Warehouse".to_owned()), Just("Store".to_owned()), Just("Office".to_owned()), arb_text()]),
        location in proptest::option::of(arb_text()),
        et in proptest::option::of(proptest::sample::select(EmploymentType::ALL.to_vec())),
        start_date in proptest::option::of(arb_text()),
        attributes in proptest::collection::btree_map("[a-z_]{1,8}", arb_text(), 0..4),
    ) -> Hire {
        Hire {
            event_id: "evt".into(),
            event_type,
            occurred_at: None,
            person: Person { first_name: first, last_name: last, email: None, phone: None, external_id: None },
            job: Job { title, department, location, employment_type: et, start_date, manager_email: None },
            attributes: attributes.into_iter().collect::<BTreeMap<_, _>>(),
        }
    }
}

const FIELDS: &[&str] = &[
    "source",
    "type",
    "person.first_name",
    "job.title",
    "job.department",
    "job.location",
    "job.employment_type",
    "attributes.cost_center",
    "attributes.level",
];

/// A random rule in YAML (indented for a `rules:` list), from a small grammar that sometimes
/// matches and sometimes not.
fn arb_rule() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("warehouse"),
        Just("full_time"),
        Just("part_time"),
        Just("a"),
        Just("3")
    ];
    let cond = (
        proptest::sample::select(FIELDS),
        0..5usize,
        proptest::collection::vec(value, 1..3),
    )
        .prop_map(|(f, op, vals)| {
            // Fields with a fixed set of values take only values from it (others are errors).
            let vals: Vec<&str> = match f {
                "job.employment_type" => vals
                    .iter()
                    .map(|v| match *v {
                        "warehouse" => "contract",
                        "a" => "intern",
                        "3" => "other",
                        v => v,
                    })
                    .collect(),
                "type" => vec!["hire.created"; vals.len()],
                _ => vals,
            };
            // `type` is hire.created for every hire rules see: `not_in` on it is an error.
            let op = if f == "type" && op == 2 { 1 } else { op };
            (f, op, vals)
        })
        .prop_map(|(f, op, vals)| match op {
            0 => format!("{f}: {}", vals[0]),
            1 => format!("{f}: {{ in: [{}] }}", vals.join(", ")),
            2 => format!("{f}: {{ not_in: [{}] }}", vals.join(", ")),
            3 => format!("{f}: {{ glob: \"*{}*\" }}", vals[0]),
            _ => format!("{f}: {{ regex: \"(?i)^{}\" }}", vals[0]),
        });
    let policy = (0..3u8, proptest::option::of(0..50u32)).prop_map(|(id, bal)| match bal {
        Some(b) => format!("{{ id: pol-{id}, balance: {b}, unit: hours }}"),
        None => format!("{{ id: pol-{id} }}"),
    });
    (
        proptest::collection::vec(cond, 0..3),
        proptest::collection::vec(1..6u64, 0..3),
        proptest::collection::vec(policy, 0..2),
        any::<bool>(),
    )
        .prop_map(|(conds, packs, pols, stop)| {
            let mut when = String::from("    when:\n");
            if conds.is_empty() {
                when = "    when: {}\n".to_owned();
            }
            // One condition per field (duplicate keys are a YAML error).
            let mut seen = std::collections::HashSet::new();
            for c in conds {
                let field = c.split(':').next().unwrap_or_default().to_owned();
                if seen.insert(field) {
                    when.push_str(&format!("      {c}\n"));
                }
            }
            let packs: Vec<String> = packs.iter().map(u64::to_string).collect();
            format!(
                "{when}    assign:\n      packs: [{}]\n      policies: [{}]\n    stop: {stop}\n",
                packs.join(", "),
                pols.join(", ")
            )
        })
}

fn assemble(rules: &[String]) -> String {
    let named: Vec<(String, &String)> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("rule {i}"), r))
        .collect();
    assemble_named(&named)
}

fn assemble_named(rules: &[(String, &String)]) -> String {
    let mut t = String::from("version: 1\nrules:\n");
    for (name, r) in rules {
        t.push_str(&format!("  - name: {name}\n{r}"));
    }
    t
}

fn without_version(mut p: Plan) -> Plan {
    p.rules_version.clear();
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn evaluation_never_panics_and_is_deterministic(
        h in arb_hire(),
        source in proptest::option::of(arb_text()),
        rules in proptest::collection::vec(arb_rule(), 0..8),
    ) {
        let example = RuleSet::parse("example", EXAMPLE_RULES).unwrap();
        let a = example.evaluate(source.as_deref(), &h);
        prop_assert_eq!(&a, &example.evaluate(source.as_deref(), &h));
        let set = RuleSet::parse("t", &assemble(&rules)).unwrap();
        let a = set.evaluate(source.as_deref(), &h);
        prop_assert_eq!(&a, &set.evaluate(source.as_deref(), &h));
        // Plans are well formed whatever the table.
        let mut packs = a.packs.clone();
        packs.sort_unstable();
        packs.dedup();
        prop_assert_eq!(packs.len(), a.packs.len());
    }

    #[test]
    fn a_rule_that_does_not_match_never_changes_the_plan(
        h in arb_hire(),
        source in proptest::option::of(prop_oneof![Just("acme-hris".to_owned()), arb_text()]),
        rules in proptest::collection::vec(arb_rule(), 0..6),
        extra in arb_rule(),
        at in any::<proptest::sample::Index>(),
    ) {
        let alone = RuleSet::parse("t", &assemble(std::slice::from_ref(&extra))).unwrap();
        prop_assume!(alone.evaluate(source.as_deref(), &h).matched.is_empty());
        let before = RuleSet::parse("t", &assemble(&rules)).unwrap();
        let mut with: Vec<(String, &String)> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("rule {i}"), r))
            .collect();
        with.insert(at.index(rules.len() + 1), ("extra".to_owned(), &extra));
        let after = RuleSet::parse("t", &assemble_named(&with)).unwrap();
        prop_assert_eq!(
            without_version(before.evaluate(source.as_deref(), &h)),
            without_version(after.evaluate(source.as_deref(), &h))
        );
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in any::<String>()) {
        let _ = RuleSet::parse("t", &text);
    }

    #[test]
    fn parsing_yamlish_text_never_panics(text in "[-a-z:{}\\[\\],&*!|>'\" \n#]{0,80}") {
        let _ = RuleSet::parse("t", &format!("version: 1\nrules:\n{text}"));
    }
}

#[test]
fn equality_folds_case_the_same_way_on_both_sides() {
    // Whole-string lower-casing turns a final Σ into ς, char-wise into σ; both sides must agree.
    let set = one_condition("job.department: ΟΔΟΣ");
    assert_eq!(
        set.evaluate(None, &hire_with(json!({"job.department": "ΟΔΟΣ"})))
            .matched,
        ["r"]
    );
    let set = one_condition("job.department: { in: [ΟΔΟΣ] }");
    assert_eq!(
        set.evaluate(None, &hire_with(json!({"job.department": "οδοσ"})))
            .matched,
        ["r"]
    );
}

// ---- custom fields and activation ---------------------------------------------------------

fn with_profile(profile: &str, rules: &str) -> RuleSet {
    let text = format!("version: 1\nprofile:\n{profile}rules:\n{rules}");
    match RuleSet::parse("t.yaml", &text) {
        Ok(s) => s,
        Err(e) => panic!("table should parse:\n{e}\n---\n{text}"),
    }
}

#[test]
fn profile_fields_are_templated_over_the_hire() {
    let set = with_profile(
        "  Title: \"{job.title}\"\n  Full name: \"{person.first_name} {person.last_name}\"\n  Cost center: \"CC {attributes.cost_center}\"\n  Braces: \"{{literal}}\"\n  Company: Acme\n",
        "  - name: all\n    when: {}\n",
    );
    let plan = set.evaluate(Some("acme"), &hire_with(json!({})));
    assert_eq!(
        serde_json::to_value(&plan.fields).unwrap(),
        json!({
            "Title": "Forklift Driver",
            "Full name": "Ada Lovelace",
            "Cost center": "CC CC-12",
            "Braces": "{literal}",
            "Company": "Acme"
        })
    );
}

#[test]
fn a_template_over_a_missing_field_leaves_the_field_unset() {
    let set = with_profile(
        "  Employment Start Date: \"{job.start_date}\"\n  Direct manager: \"{job.manager_email}\"\n  Title: \"{job.title}\"\n",
        "  - name: all\n    when: {}\n",
    );
    let plan = set.evaluate(None, &hire_with(json!({})));
    assert_eq!(
        plan.fields.keys().collect::<Vec<_>>(),
        vec!["Title"],
        "no start date or manager in the hire: those fields are not written"
    );
}

#[test]
fn a_rule_field_overrides_the_profile_and_the_first_rule_wins_ignoring_case() {
    let set = with_profile(
        "  Department: Everyone\n  Location: HQ\n",
        concat!(
            "  - name: warehouse\n    when: { job.department: Warehouse }\n",
            "    assign:\n      fields: { department: Warehouse, Location: \"{job.location}\" }\n",
            "  - name: all\n    when: {}\n    assign:\n      fields: { Department: General, Team: Floor }\n",
        ),
    );
    let plan = set.evaluate(None, &hire_with(json!({})));
    assert_eq!(
        serde_json::to_value(&plan.fields).unwrap(),
        json!({"department": "Warehouse", "Location": "Austin, TX", "Team": "Floor"})
    );
    // Without a location the rule's template gives nothing, and the profile's value applies.
    let plan = set.evaluate(None, &hire_with(json!({"job.location": null})));
    assert_eq!(plan.fields["Location"], "HQ");
    // A hire no rule gives a department gets the profile's.
    let plan = set.evaluate(None, &hire_with(json!({"job.department": "Sales"})));
    assert_eq!(plan.fields["Department"], "General");
}

#[test]
fn activation_is_the_first_matching_rules_else_the_configured_default() {
    let rules = concat!(
        "  - name: drivers\n    when: { job.title: { regex: \"(?i)driver\" } }\n    assign: { activation: true }\n",
        "  - name: office\n    when: { job.department: Office }\n    assign: { activation: false }\n",
        "  - name: all\n    when: {}\n    assign: { packs: [1] }\n",
    );
    let set = table(rules);
    assert!(set.evaluate(None, &hire_with(json!({}))).activation);
    let office = hire_with(json!({"job.title": "Clerk", "job.department": "Office"}));
    assert!(!set.evaluate(None, &office).activation);
    let other = hire_with(json!({"job.title": "Clerk", "job.department": "Sales"}));
    assert!(!set.evaluate(None, &other).activation, "default off");
    let on = table(rules).with_send_activation(true);
    assert!(
        on.evaluate(None, &other).activation,
        "connecteam.send_activation"
    );
    assert!(
        !on.evaluate(None, &office).activation,
        "a rule's false beats the default"
    );
}

#[test]
fn bad_field_values_are_located_errors() {
    let text = concat!(
        "version: 1\n",
        "profile:\n",
        "  Title: \"{job.titel}\"\n",
        "  Open: \"{job.title\"\n",
        "  Empty:\n",
        "  List: [a, b]\n",
        "rules:\n",
        "  - name: r\n",
        "    assign:\n",
        "      fields: { Team: A, team: B }\n",
        "      activation: sometimes\n",
    );
    let e = errors(text);
    let find = |needle: &str| {
        e.iter()
            .find(|(_, _, m)| m.contains(needle))
            .unwrap_or_else(|| panic!("no error containing {needle:?} in {e:#?}"))
            .clone()
    };
    assert_eq!(find("unknown field `job.titel`").0, 3);
    assert_eq!(find("is not closed").0, 4);
    assert_eq!(find("\"Empty\" needs a value").0, 5);
    assert_eq!(find("\"List\" must be a single value").0, 6);
    assert_eq!(find("\"team\" is set twice").0, 10);
    assert_eq!(find("`activation` must be true or false").0, 11);
    assert_eq!(e.len(), 6, "{e:#?}");
}

#[test]
fn the_table_lists_the_custom_fields_and_literal_values_it_sets() {
    let set = with_profile(
        "  Title: \"{job.title}\"\n  Location: HQ\n",
        "  - name: a\n    assign:\n      fields: { Location: Austin, Department: Warehouse }\n",
    );
    let fields = set.custom_fields();
    assert_eq!(
        serde_json::to_value(&fields).unwrap(),
        json!({"Department": ["Warehouse"], "Location": ["Austin", "HQ"], "Title": []})
    );
}

#[test]
fn a_field_or_dropdown_option_the_account_lacks_is_named() {
    let set = with_profile(
        "  Title: \"{job.title}\"\n  Badge: yes\n",
        "  - name: a\n    assign:\n      fields: { department: Warehouse, Location: \"{job.location}\" }\n  - name: b\n    assign:\n      fields: { Department: Drivers }\n",
    );
    let account = vec![
        ("Title".to_owned(), None),
        ("Location".to_owned(), Some(vec!["Austin, TX".to_owned()])),
        (
            "Department".to_owned(),
            Some(vec!["Warehouse".to_owned(), "Retail".to_owned()]),
        ),
    ];
    let lines = crate::rules::fields_missing_in_account(&set, &account);
    assert_eq!(
        lines,
        vec![
            "custom field \"Badge\" is not in the Connecteam account".to_owned(),
            "\"Drivers\" is not an option of the Connecteam dropdown \"Department\" (options: Warehouse, Retail)".to_owned(),
        ],
        "templated values are not checked; `department` and `Department` are one field"
    );
}
