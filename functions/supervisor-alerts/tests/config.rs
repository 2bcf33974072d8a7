//! Init refuses bad configuration with a message that names the variable, the rule and the field.

use std::collections::HashMap;

use supervisor_alerts::config::{Config, ConfigError};

const GOOD_RULES: &str = r#"{"rules":[{"name":"break-too-long","kind":"status_too_long","severity":"warning","statuses":["Break"],"longer_than":"15m","cooldown":"30m","scope":{}}]}"#;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = [
        ("ALERT_STATE_TABLE", "alert-state"),
        ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts"),
        ("QUARANTINE_BUCKET", "archive"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in pairs {
        if v.is_empty() {
            m.remove(*k);
        } else {
            m.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    m
}

fn error(pairs: &[(&str, &str)]) -> String {
    Config::from_env(&env(pairs)).expect_err("init must fail").to_string()
}

#[test]
fn the_template_configuration_starts_with_the_documented_defaults() {
    let c = Config::from_env(&env(&[("ALERT_RULES", GOOD_RULES)])).unwrap();
    assert_eq!(c.table, "alert-state");
    assert_eq!(c.rules.document().unwrap().rules[0].name, "break-too-long");
    assert_eq!(c.settings.lease.num_seconds(), 90);
    assert_eq!(c.settings.ttls.claim.num_hours(), 192);
    assert_eq!(c.settings.ttls.contact.num_hours(), 24);
    assert_eq!(c.quarantine.prefix, "quarantine/");
}

#[test]
fn a_bad_rules_document_stops_init_naming_the_rule_and_the_field() {
    let bad = GOOD_RULES.replace("\"15m\"", "\"15 minutes\"");
    let e = error(&[("ALERT_RULES", &bad)]);
    assert_eq!(
        e,
        "ALERT_RULES: rule #1 \"break-too-long\": field `longer_than`: invalid duration \"15 minutes\": expected a whole number and a unit, e.g. \"90s\", \"15m\", \"2h\", \"1d\""
    );
}

#[test]
fn a_rules_file_is_read_and_its_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.json");
    std::fs::write(&path, GOOD_RULES).unwrap();
    let p = path.to_str().unwrap();
    assert!(Config::from_env(&env(&[("ALERT_RULES_FILE", p)])).is_ok());

    std::fs::write(&path, GOOD_RULES.replace("warning", "panic")).unwrap();
    let e = error(&[("ALERT_RULES_FILE", p)]);
    assert!(e.starts_with(&format!("ALERT_RULES_FILE {p}: rule #1 \"break-too-long\": field `severity`")), "{e}");

    let e = error(&[("ALERT_RULES_FILE", "/nonexistent/rules.json")]);
    assert!(e.starts_with("ALERT_RULES_FILE /nonexistent/rules.json: cannot read"), "{e}");

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/rules.example.json");
    assert_eq!(
        Config::from_env(&env(&[("ALERT_RULES_FILE", example)])).unwrap().rules.document().unwrap().rules.len(),
        8
    );
}

#[test]
fn exactly_one_rules_source_is_required() {
    assert!(matches!(Config::from_env(&env(&[])), Err(ConfigError::NoRules)));
    let e = error(&[("ALERT_RULES", GOOD_RULES), ("ALERT_RULES_FILE", "/tmp/rules.json")]);
    assert!(e.contains("exactly one of ALERT_RULES") && e.contains("ALERT_RULES_FILE"), "{e}");
}

#[test]
fn missing_or_invalid_variables_are_named() {
    assert_eq!(
        error(&[("ALERT_RULES", GOOD_RULES), ("ALERT_STATE_TABLE", "")]),
        "missing required environment variable ALERT_STATE_TABLE"
    );
    assert_eq!(
        error(&[("ALERT_RULES", GOOD_RULES), ("ALERT_TOPIC_ARN", "")]),
        "missing required environment variable ALERT_TOPIC_ARN"
    );
    assert!(error(&[("ALERT_RULES", GOOD_RULES), ("ALERT_TOPIC_ARN", "alerts")]).contains("ALERT_TOPIC_ARN"));
    assert!(error(&[("ALERT_RULES", GOOD_RULES), ("ALERT_LEASE_SECONDS", "0")]).contains("ALERT_LEASE_SECONDS"));
    assert!(error(&[("ALERT_RULES", GOOD_RULES), ("ALERT_LEASE_SECONDS", "soon")]).contains("ALERT_LEASE_SECONDS"));
    assert!(
        error(&[("ALERT_RULES", GOOD_RULES), ("CONTACT_STATE_TTL_HOURS", "-1")]).contains("CONTACT_STATE_TTL_HOURS")
    );
    assert_eq!(
        error(&[("ALERT_RULES", GOOD_RULES), ("QUARANTINE_BUCKET", "")]),
        "missing required environment variable QUARANTINE_BUCKET"
    );
}

#[test]
fn lateness_is_judged_against_the_wall_clock_unless_told_otherwise() {
    use supervisor_alerts::config::{Config, Lateness};
    let base = [
        ("ALERT_STATE_TABLE", "t"),
        ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts"),
        ("ALERT_RULES", GOOD_RULES),
        ("QUARANTINE_BUCKET", "q"),
    ];
    let with = |extra: Option<&str>| {
        let mut env: std::collections::HashMap<String, String> =
            base.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if let Some(v) = extra {
            env.insert("ALERT_LATENESS".into(), v.into());
        }
        Config::from_env(&env)
    };
    assert_eq!(with(None).unwrap().settings.lateness, Lateness::WallClock);
    assert_eq!(with(Some("event-time")).unwrap().settings.lateness, Lateness::EventTime);
    assert!(with(Some("sometimes")).unwrap_err().to_string().contains("ALERT_LATENESS"));
}
