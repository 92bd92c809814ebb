//! Cost of the rule table per hire: a 500-rule table (every operator, no `stop`, so every rule
//! is looked at) evaluated over a batch of varied hires. Prints the table's parse time and
//! nanoseconds per hire evaluation. `cargo bench --bench rules`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use hirebridge::domain::Hire;
use hirebridge::rules::RuleSet;

const DEPARTMENTS: &[&str] = &[
    "Warehouse",
    "Logistics",
    "Retail",
    "Store",
    "Office",
    "Engineering",
    "HR",
    "Kitchen",
];
const LOCATIONS: &[&str] = &[
    "Austin, TX",
    "Dallas, TX",
    "Portland, OR",
    "Denver, CO",
    "Miami, FL",
    "Remote",
];
const TYPES: &[&str] = &[
    "full_time",
    "part_time",
    "contract",
    "temporary",
    "intern",
    "other",
];
const TITLES: &[&str] = &[
    "Forklift Driver",
    "Cashier",
    "Store Manager",
    "Software Engineer",
    "Picker",
    "Recruiter",
    "Line Cook",
];

fn table(n: usize, only: Option<usize>) -> String {
    let mut t = String::from("version: 1\nrules:\n");
    for i in 0..n {
        let d = DEPARTMENTS[i % DEPARTMENTS.len()];
        let d2 = DEPARTMENTS[(i * 7 + 3) % DEPARTMENTS.len()];
        let l = LOCATIONS[i % LOCATIONS.len()];
        let state = &l[l.len().saturating_sub(2)..];
        let et = TYPES[i % TYPES.len()];
        let _ = writeln!(t, "  - name: rule {i}\n    when:");
        match only.unwrap_or(i % 5) {
            0 => {
                let _ = writeln!(
                    t,
                    "      job.department: {{ in: [{d}, {d2}] }}\n      job.employment_type: {et}"
                );
            }
            1 => {
                let _ = writeln!(
                    t,
                    "      job.location: {{ glob: \"*, {state}\" }}\n      attributes.cost_center: {{ not_in: [CC-{i}] }}"
                );
            }
            2 => {
                let _ = writeln!(
                    t,
                    "      job.title: {{ regex: \"(?i)driver|picker|{i}\" }}\n      source: {{ in: [acme-hris, greenhouse] }}"
                );
            }
            3 => {
                let _ = writeln!(
                    t,
                    "      job.department: {d}\n      job.location: {{ glob: \"{}*\" }}",
                    &l[..3]
                );
            }
            _ => {
                let _ = writeln!(
                    t,
                    "      attributes.cost_center: CC-{}\n      type: hire.created",
                    i % 40
                );
            }
        }
        let _ = writeln!(
            t,
            "    assign:\n      packs: [{}, {}]\n      policies:\n        - {{ id: pol-{}, balance: {}, unit: hours }}",
            100 + i % 50,
            200 + i % 7,
            i % 30,
            i % 41
        );
    }
    t
}

fn hires(n: usize) -> Vec<Hire> {
    (0..n)
        .map(|i| {
            let v = serde_json::json!({
                "event_id": format!("evt_{i}"),
                "type": "hire.created",
                "person": {"first_name": "Ada", "last_name": format!("L{i}"), "email": format!("a{i}@example.com")},
                "job": {
                    "title": TITLES[i % TITLES.len()],
                    "department": DEPARTMENTS[(i * 3) % DEPARTMENTS.len()],
                    "location": LOCATIONS[(i * 5) % LOCATIONS.len()],
                    "employment_type": TYPES[(i * 7) % TYPES.len()],
                },
                "attributes": {"cost_center": format!("CC-{}", i % 40)}
            });
            Hire::from_json(&v, "US").expect("bench hire is valid")
        })
        .collect()
}

/// Nanoseconds per hire evaluation of `set` over `batch`.
fn per_hire(set: &RuleSet, batch: &[Hire], rounds: usize) -> f64 {
    let sources = [Some("acme-hris"), Some("greenhouse"), None];
    let started = Instant::now();
    for _ in 0..rounds {
        for (i, h) in batch.iter().enumerate() {
            black_box(set.evaluate(black_box(sources[i % 3]), black_box(h)));
        }
    }
    started.elapsed().as_nanos() as f64 / (rounds * batch.len()) as f64
}

fn main() {
    let text = table(500, None);
    let started = Instant::now();
    let set = RuleSet::parse("bench.yaml", &text).expect("bench table is valid");
    let parse = started.elapsed();
    println!(
        "parse: {} rules, {} bytes in {:.2} ms",
        set.len(),
        text.len(),
        parse.as_secs_f64() * 1e3
    );

    let batch = hires(1_000);
    let sources = [Some("acme-hris"), Some("greenhouse"), None];
    // Warm up, and check the table does real work.
    let mut matched = 0usize;
    for (i, h) in batch.iter().enumerate() {
        matched += set.evaluate(sources[i % 3], h).matched.len();
    }
    let rounds = 20;
    let per = per_hire(&set, &batch, rounds);
    println!(
        "evaluate: {per:.0} ns per hire ({} hires x {rounds} rounds, 500 rules, {:.1} rules matched per hire)",
        batch.len(),
        matched as f64 / batch.len() as f64
    );

    // The same size of table with one kind of rule only, to see what each operator costs.
    let kinds = [
        "in + equals",
        "glob + not_in",
        "regex + source in",
        "equals + glob",
        "equals + type",
    ];
    for (k, label) in kinds.iter().enumerate() {
        let set = RuleSet::parse("bench.yaml", &table(500, Some(k))).expect("valid");
        println!(
            "  500 rules of {label}: {:.0} ns per hire",
            per_hire(&set, &batch, 5)
        );
    }
}
