//! Loading and validating the configuration: defaults, files, environment overrides, secrets
//! from files, and errors that name the key and never the value.

use secrecy::ExposeSecret;

use super::*;

fn api_key(c: &Config) -> &str {
    match &c.connecteam.auth {
        Some(ConnecteamAuth::ApiKey(k)) => k.expose_secret(),
        other => panic!("{other:?}"),
    }
}

fn auth(c: &Config, source: &str) -> AuthConfig {
    match &c.sources[source] {
        SourceConfig::Generic(g) => g.auth.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults_load_without_a_file() {
    let c = Config::load_with_env(None, Vec::new()).unwrap();
    assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.database_url.expose(), "sqlite://hirebridge.db");
    assert_eq!(c.connecteam.requests_per_minute, 100);
    assert_eq!(c.delivery.max_attempts, 12);
    assert!(c.admin.jwt.is_none());
}

#[test]
fn unknown_keys_name_their_path() {
    let err = Config::from_yaml("connecteam:\n  api_kee: x\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("connecteam"), "{err}");
    assert!(err.contains("api_kee"), "{err}");
    let err = Config::from_yaml(
        "sources:\n  a:\n    kind: generic\n    auth: { bearer: { token: t } }\n    colour: red\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("sources.a"), "{err}");
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn env_overrides_win_over_the_file() {
    let env = vec![
        (
            "HIREBRIDGE__CONNECTEAM__REQUESTS_PER_MINUTE".to_owned(),
            "5".to_owned(),
        ),
        (
            "HIREBRIDGE__CONNECTEAM__API_KEY".to_owned(),
            "k-123".to_owned(),
        ),
        ("HIREBRIDGE_CONFIG".to_owned(), "ignored".to_owned()),
    ];
    let c = Config::load_with_env(None, env).unwrap();
    assert_eq!(c.connecteam.requests_per_minute, 5);
    assert_eq!(api_key(&c), "k-123");
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn digit_only_secrets_from_env_stay_text_with_leading_zeros() {
    let c = Config::load_with_env(
        None,
        env(&[("HIREBRIDGE__CONNECTEAM__API_KEY", "987654321")]),
    )
    .unwrap();
    assert_eq!(api_key(&c), "987654321");
    let c = Config::load_with_env(
        None,
        env(&[
            ("HIREBRIDGE__SOURCES__A__KIND", "generic"),
            (
                "HIREBRIDGE__SOURCES__A__AUTH",
                r#"{"bearer": {"token": "0042"}}"#,
            ),
            ("HIREBRIDGE__CONNECTEAM__API_KEY", "000123"),
        ]),
    )
    .unwrap();
    assert_eq!(api_key(&c), "000123");
    match auth(&c, "a") {
        AuthConfig::Bearer(t) => assert_eq!(t.expose_secret(), "0042"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn numbers_and_booleans_from_env_are_read_by_their_key() {
    let c = Config::load_with_env(
        None,
        env(&[
            ("HIREBRIDGE__CONNECTEAM__REQUESTS_PER_MINUTE", "250"),
            ("HIREBRIDGE__CONNECTEAM__CREATE_MISSING_USERS", "false"),
            ("HIREBRIDGE__DELIVERY__MAX_BACKOFF_MS", "0900000"),
            ("HIREBRIDGE__METRICS_LISTEN", "127.0.0.1:9100"),
        ]),
    )
    .unwrap();
    assert_eq!(c.connecteam.requests_per_minute, 250);
    assert!(!c.connecteam.create_missing_users);
    assert_eq!(c.delivery.max_backoff_ms, 900_000);
    assert_eq!(c.metrics_listen.unwrap().port(), 9100);
    let err = Config::load_with_env(
        None,
        env(&[("HIREBRIDGE__CONNECTEAM__REQUESTS_PER_MINUTE", "lots")]),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "configuration: connecteam.requests_per_minute: expected a whole number (1 or more), found a string"
    );
}

#[test]
fn type_errors_name_the_key_and_never_the_value() {
    let err = Config::from_yaml(
        "sources:\n  a:\n    kind: generic\n    auth: { bearer: \"tok-SECRET-1\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(!err.contains("SECRET"), "{err}");
    assert!(
        err.contains("sources.a.auth.bearer: expected a mapping, found a string"),
        "{err}"
    );
    let err = Config::from_yaml("connecteam:\n  api_key: 987654321\n")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("987654321"), "{err}");
    assert!(
        err.contains("connecteam.api_key: expected a string, found a number"),
        "{err}"
    );
    let err = Config::load_with_env(
        None,
        env(&[("HIREBRIDGE__DELIVERY__MAX_ATTEMPTS", "s3cr3t-oops")]),
    )
    .unwrap_err()
    .to_string();
    assert!(!err.contains("s3cr3t-oops"), "{err}");
    assert!(err.contains("delivery.max_attempts"), "{err}");
    let err = Config::from_yaml("sources:\n  a:\n    kind: tok-SECRET-2\n")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("SECRET"), "{err}");
    assert!(err.contains("sources.a.kind"), "{err}");
}

#[test]
fn secrets_never_show_in_debug() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tok");
    std::fs::write(&f, "s3cr3t-token\n").unwrap();
    let yaml = format!(
        "database_url: postgres://u:hunter2@db/x\nsources:\n  a:\n    kind: generic\n    auth: {{ bearer: {{ token_file: {} }} }}\n",
        f.display()
    );
    let c = Config::from_yaml(&yaml).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("s3cr3t-token"), "{dbg}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    match auth(&c, "a") {
        AuthConfig::Bearer(t) => assert_eq!(t.expose_secret(), "s3cr3t-token"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn auth_takes_exactly_one_mode() {
    let two = "sources:\n  acme:\n    kind: generic\n    auth:\n      standard_webhooks: { secret: \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }\n      bearer: { token: t }\n";
    let err = Config::from_yaml(two).unwrap_err().to_string();
    assert_eq!(
        err,
        "configuration: sources.acme.auth: exactly one of standard_webhooks, hmac_sha256, jwt, bearer, none (given: standard_webhooks, bearer)"
    );
    let err = Config::from_yaml("sources:\n  acme:\n    kind: generic\n    auth: {}\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "configuration: sources.acme.auth: exactly one of standard_webhooks, hmac_sha256, jwt, bearer, none (no mode given)"
    );
    // The environment can switch modes by unsetting the file's.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, two).unwrap();
    let c = Config::load_with_env(
        Some(&file),
        env(&[("HIREBRIDGE__SOURCES__ACME__AUTH__STANDARD_WEBHOOKS", "null")]),
    )
    .unwrap();
    assert!(matches!(auth(&c, "acme"), AuthConfig::Bearer(_)), "{c:?}");
}

#[test]
fn source_names_are_lower_case_url_segments() {
    for bad in ["Acme", "acme hris", "acme.hris"] {
        let err = Config::from_yaml(&format!(
            "sources:\n  \"{bad}\":\n    kind: generic\n    auth: {{ bearer: {{ token: t }} }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            format!(
                "configuration: sources.{bad}: a source name is a URL segment: lower-case letters, digits, '-' and '_' only"
            )
        );
    }
    Config::from_yaml(
        "sources:\n  acme-hris_2:\n    kind: generic\n    auth: { bearer: { token: t } }\n",
    )
    .unwrap();
}

#[test]
fn env_overrides_find_the_source_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "sources:\n  acme-hris:\n    kind: generic\n    auth: { bearer: { token: from-file } }\n",
    )
    .unwrap();
    let c = Config::load_with_env(
        Some(&file),
        env(&[
            (
                "HIREBRIDGE__SOURCES__ACME_HRIS__AUTH__BEARER__TOKEN",
                "from-env",
            ),
            ("HIREBRIDGE__SOURCES__ACME_HRIS__PHONE_REGION", "GB"),
            ("HIREBRIDGE__SOURCES__NEW_ONE__KIND", "generic"),
            ("HIREBRIDGE__SOURCES__NEW_ONE__AUTH__BEARER__TOKEN", "n"),
        ]),
    )
    .unwrap();
    let names: Vec<&str> = c.sources.keys().map(String::as_str).collect();
    assert_eq!(names, ["acme-hris", "new_one"]);
    assert_eq!(c.phone_region_for("acme-hris"), "GB");
    match auth(&c, "acme-hris") {
        AuthConfig::Bearer(t) => assert_eq!(t.expose_secret(), "from-env"),
        other => panic!("{other:?}"),
    }
    // Two sources that differ only in `-` and `_` cannot be told apart by a variable.
    std::fs::write(
        &file,
        "sources:\n  acme-hris:\n    kind: generic\n    auth: { bearer: { token: a } }\n  acme_hris:\n    kind: generic\n    auth: { bearer: { token: b } }\n",
    )
    .unwrap();
    let err = Config::load_with_env(
        Some(&file),
        env(&[("HIREBRIDGE__SOURCES__ACME_HRIS__PHONE_REGION", "GB")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("configuration: HIREBRIDGE__SOURCES__ACME_HRIS__PHONE_REGION: matches the sources acme-hris and acme_hris"),
        "{err}"
    );
}

#[test]
fn database_url_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("database-url");
    std::fs::write(&f, "postgres://hb:hunter2@db:5432/hb\n").unwrap();
    let c = Config::from_yaml(&format!("database_url_file: {}\n", f.display())).unwrap();
    assert_eq!(c.database_url.expose(), "postgres://hb:hunter2@db:5432/hb");
    assert!(c.database_url.is_postgres());
    let shown = format!("{c:?} {}", c.database_url);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("postgres://hb:***@db:5432/hb"), "{shown}");

    let c = Config::load_with_env(
        None,
        env(&[("HIREBRIDGE__DATABASE_URL_FILE", &f.display().to_string())]),
    )
    .unwrap();
    assert_eq!(c.database_url.expose(), "postgres://hb:hunter2@db:5432/hb");

    let err = Config::from_yaml(&format!(
        "database_url: sqlite://x.db\ndatabase_url_file: {}\n",
        f.display()
    ))
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "configuration: database_url: set database_url or database_url_file, not both"
    );
    let err = Config::from_yaml("database_url_file: /nonexistent/database-url\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("configuration: database_url_file: cannot read /nonexistent/database-url"),
        "{err}"
    );
    // Without either, the built-in default.
    let c = Config::from_yaml("listen: 127.0.0.1:1\n").unwrap();
    assert_eq!(c.database_url.expose(), DEFAULT_DATABASE_URL);
}

#[test]
fn auth_none_needs_allow_unauthenticated() {
    let err = Config::from_yaml("sources:\n  a:\n    kind: generic\n    auth: { none: {} }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sources.a.auth.none"), "{err}");
    Config::from_yaml(
        "sources:\n  a:\n    kind: generic\n    allow_unauthenticated: true\n    auth: { none: {} }\n",
    )
    .unwrap();
}

#[test]
fn bad_region_is_reported() {
    let err = Config::from_yaml("connecteam:\n  default_phone_region: XX\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("connecteam.default_phone_region"), "{err}");
}

#[test]
fn a_jwt_block_needs_exactly_one_usable_key() {
    const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/test-only-rsa-public.pem");
    let none = "admin:\n  jwt: { issuer: i }\n";
    let err = Config::from_yaml(none).unwrap_err().to_string();
    assert_eq!(
        err,
        "configuration: admin.jwt: exactly one of hs256_secret, rs256_public_key_pem, jwks_url is required"
    );
    let pem = RSA_PUBLIC
        .lines()
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    let both = format!("admin:\n  jwt:\n    hs256_secret: x\n    rs256_public_key_pem: |\n{pem}\n");
    let err = Config::from_yaml(&both).unwrap_err().to_string();
    assert!(err.contains("exactly one of"), "{err}");
    let ok = format!("admin:\n  jwt:\n    rs256_public_key_pem: |\n{pem}\n");
    let c = Config::from_yaml(&ok).unwrap();
    assert!(matches!(c.admin.jwt.unwrap().key, JwtKey::Rs256(_)));
    let err = Config::from_yaml("admin:\n  jwt: { rs256_public_key_pem: \"not a pem\" }\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("configuration: admin.jwt.rs256_public_key_pem: not an RSA public key"),
        "{err}"
    );
    let err = Config::from_yaml("admin:\n  jwt: { jwks_url: \"ftp://idp.example/keys\" }\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "configuration: admin.jwt.jwks_url: must be an http or https URL"
    );
}

#[test]
fn connecteam_settings_are_checked_once_at_load() {
    let err = Config::from_yaml("connecteam:\n  base_url: \"not a url\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("configuration: connecteam.base_url: "),
        "{err}"
    );
    let err = Config::from_yaml(
        "connecteam:\n  api_key: k\n  oauth: { client_id: c, client_secret: s }\n",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "configuration: connecteam: set either api_key or oauth, not both"
    );
    let err = Config::from_yaml("connecteam:\n  api_key: \"  \"\n")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "configuration: connecteam.api_key: is empty");
    let err = Config::from_yaml("connecteam:\n  oauth: { client_id: c }\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "configuration: connecteam.oauth.client_secret: required (or client_secret_file)"
    );
    let c = Config::from_yaml("connecteam:\n  oauth: { client_id: \" c \", client_secret: s, scopes: [users.read, \"  users.write \"] }\n").unwrap();
    match c.connecteam.auth {
        Some(ConnecteamAuth::OAuth(o)) => {
            assert_eq!(o.client_id, "c");
            assert_eq!(o.scopes, "users.read users.write");
        }
        other => panic!("{other:?}"),
    }
    let c =
        Config::from_yaml("connecteam:\n  oauth: { client_id: c, client_secret: s }\n").unwrap();
    assert!(
        matches!(&c.connecteam.auth, Some(ConnecteamAuth::OAuth(o)) if o.scopes == DEFAULT_SCOPES)
    );
}

#[test]
fn each_source_kind_reads_its_own_keys() {
    // A generic source does not take vendor keys, and a vendor kind does not take `auth`.
    let err = Config::from_yaml(
        "sources:\n  a:\n    kind: generic\n    auth: { bearer: { token: t } }\n    organization_id: x\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("sources.a.organization_id: unknown key"),
        "{err}"
    );
    let err = Config::from_yaml(
        "sources:\n  g:\n    kind: greenhouse\n    secret: s\n    auth: { bearer: { token: t } }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("sources.g.auth: only generic sources use auth"),
        "{err}"
    );
    let c = Config::from_yaml(
        "sources:\n  g:\n    kind: greenhouse\n    secret: s\n    phone_region: GB\n",
    )
    .unwrap();
    assert_eq!(c.sources["g"].kind(), SourceKind::Greenhouse);
    assert_eq!(c.phone_region_for("g"), "GB");
    let err = Config::from_yaml("sources:\n  s:\n    kind: salesforce\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "configuration: sources.s.organization_id: required for a salesforce source"
    );
    let err = Config::from_yaml("sources:\n  a:\n    auth: { bearer: { token: t } }\n")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "configuration: sources.a.kind: required");
    // Values from the environment are read by the kind's own keys too.
    let c = Config::load_with_env(
        None,
        env(&[
            ("HIREBRIDGE__SOURCES__O__KIND", "generic"),
            ("HIREBRIDGE__SOURCES__O__ALLOW_UNAUTHENTICATED", "yes"),
            ("HIREBRIDGE__SOURCES__O__AUTH", r#"{"none": {}}"#),
        ]),
    )
    .unwrap();
    assert!(matches!(auth(&c, "o"), AuthConfig::None));
}

#[test]
fn a_key_that_must_be_positive_says_so_in_every_error() {
    for (key, yaml) in [
        (
            "connecteam.requests_per_minute",
            "connecteam:\n  requests_per_minute: 0\n",
        ),
        ("connecteam.timeout_ms", "connecteam:\n  timeout_ms: 0\n"),
        ("delivery.max_attempts", "delivery:\n  max_attempts: 0\n"),
        (
            "delivery.initial_backoff_ms",
            "delivery:\n  initial_backoff_ms: 0\n",
        ),
    ] {
        let err = Config::from_yaml(yaml).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("configuration: {key}: invalid value: expected a whole number (1 or more)")
        );
    }
}

#[test]
fn an_unknown_key_is_named_once() {
    let err = Config::from_yaml("connecteam:\n  api_keyy: x\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("configuration: connecteam.api_keyy: unknown key (expected one of: "),
        "{err}"
    );
}
