//! `rules check` and `rules backtest`, through the real binary.

use std::process::Command;

fn replay() -> Command {
    Command::new(env!("CARGO_BIN_EXE_connect-replay"))
}

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn rules_check_accepts_the_shipped_rules_and_names_the_bad_field() {
    let ok =
        replay().args(["rules", "check", &repo("functions/supervisor-alerts/rules.example.json")]).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("valid"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"rules":[{"name":"slow","kind":"status_too_long","severity":"warning","statuses":["Break"],"longer_than":"soon","cooldown":"1m","scope":{}}]}"#).unwrap();
    let out = replay().args(["rules", "check", bad.to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("slow") && err.contains("longer_than"), "{err}");
}

#[test]
fn rules_backtest_shows_which_alerts_would_have_fired_on_fixture_records() {
    let out = replay()
        .args(["rules", "backtest", "--rules", &repo("functions/supervisor-alerts/rules.example.json"), "--events"])
        .arg(repo("events/envelopes/supervisor-alerts-agent-events.json"))
        .arg(repo("events/envelopes/supervisor-alerts-segments.json"))
        .arg(repo("events/envelopes/supervisor-alerts-ctr.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for rule in ["break-too-long", "angry-customer", "escalation-requested", "low-csat"] {
        assert!(text.contains(rule), "{rule} missing in:\n{text}");
    }
    // A rule that matches nothing in these records fires nothing.
    let dir = tempfile::tempdir().unwrap();
    let quiet = dir.path().join("quiet.json");
    std::fs::write(&quiet, r#"{"rules":[{"name":"never","kind":"status_entered","severity":"info","statuses":["No such status"],"cooldown":"0s","scope":{}}]}"#).unwrap();
    let out = replay()
        .args(["rules", "backtest", "--rules", quiet.to_str().unwrap(), "--events"])
        .arg(repo("events/envelopes/supervisor-alerts-agent-events.json"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 0 alerts would have fired"));
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn rules_publish_uploads_a_valid_document_and_nothing_else() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("needs moto: run scripts/test.sh");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "loopback only: {endpoint}");
    let cfg = shared::adapters::aws::sdk_config().await;
    let s3 = shared::adapters::aws::s3::S3ObjectStore::client(&cfg);
    let bucket = format!("rules-cli-{}", std::process::id());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let to = format!("s3://{bucket}/alerts/rules.json");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"rules":[{"name":"slow","kind":"status_too_long","severity":"warning","statuses":["Break"],"longer_than":"soon","cooldown":"1m","scope":{}}]}"#).unwrap();
    let out = replay().args(["rules", "publish", bad.to_str().unwrap(), "--to", &to]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("slow") && err.contains("longer_than"), "{err}");
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "an invalid document is not uploaded");

    let good = repo("functions/supervisor-alerts/rules.example.json");
    let out = replay().args(["rules", "publish", &good, "--to", &to]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("published to {to}")));
    let object = s3.get_object().bucket(&bucket).key("alerts/rules.json").send().await.unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), std::fs::read(&good).unwrap().as_slice());

    let parameter = format!("ssm:/connect/rules-cli-{}/alert-rules", std::process::id());
    let out = replay().args(["rules", "publish", &good, "--to", &parameter]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(version 1)"));

    let out = replay().args(["rules", "publish", &good, "--to", "https://example.com/rules"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected s3://bucket/key or ssm:/parameter/name"));
}
