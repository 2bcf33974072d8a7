//! Chat channels: with `ALERT_CHAT_FORMAT=chatbot` the topic's HTTPS subscribers (AWS Chatbot / Amazon Q Developer in
//! chat applications) get its documented custom-notification format; every other protocol keeps the JSON body.

mod common;

use common::*;
use serde_json::Value;
use shared::adapters::memory::{MemoryItemStore, MemoryPublisher};
use shared::batch::Processor;
use supervisor_alerts::config::{ChatFormat, Settings};
use supervisor_alerts::handler::SupervisorAlerts;

const BREAK_TOO_LONG: &str = r#"{"name":"break-too-long","kind":"status_too_long","severity":"warning","statuses":["Break"],"longer_than":"15m","cooldown":"30m","scope":{}}"#;

async fn published(chat: ChatFormat) -> Vec<shared::ports::Message> {
    let rules = one_rule(BREAK_TOO_LONG);
    let publisher = MemoryPublisher::new();
    let settings = Settings { chat, ..Settings::replay() };
    let h = SupervisorAlerts::with_clock(
        rules,
        MemoryItemStore::new(&[]),
        publisher.clone(),
        settings,
        ManualClock::at("2026-11-02T10:31:00Z"),
    );
    h.process(&batch(vec![
        item(fixture("raw/agent/status-break.json"), "2026-11-02T10:00:01Z"),
        item(fixture("raw/agent/heartbeat-during-break.json"), "2026-11-02T10:30:01Z"),
    ]))
    .await;
    publisher.published()
}

/// The custom-notification event schema of the AWS Chatbot administrator guide ("Custom notifications using Amazon Q
/// Developer in chat applications", Event schema and Parameter details): `version` must be "1.0", `source` must be
/// "custom", `content.description` is required, `textType` may only be "client-markdown"; every other field is
/// optional and typed as documented; nothing else is allowed.
fn check_custom_notification(n: &Value) -> Result<(), String> {
    let obj = n.as_object().ok_or("not an object")?;
    let allowed = |o: &serde_json::Map<String, Value>, keys: &[&str], at: &str| -> Result<(), String> {
        match o.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(format!("{at}: unknown field {k}")),
            None => Ok(()),
        }
    };
    allowed(obj, &["version", "source", "id", "content", "metadata"], "top level")?;
    if n["version"] != "1.0" {
        return Err("version must be \"1.0\"".into());
    }
    if n["source"] != "custom" {
        return Err("source must be \"custom\"".into());
    }
    if !n["id"].is_null() && !n["id"].is_string() {
        return Err("id must be a string".into());
    }
    let content = n["content"].as_object().ok_or("content is required")?;
    allowed(content, &["textType", "title", "description", "nextSteps", "keywords"], "content")?;
    if content.get("description").and_then(Value::as_str).is_none_or(|d| d.is_empty()) {
        return Err("content.description is required".into());
    }
    if content.get("textType").is_some_and(|t| t != "client-markdown") {
        return Err("content.textType: only client-markdown".into());
    }
    if content.get("title").is_some_and(|t| !t.is_string()) {
        return Err("content.title must be a string".into());
    }
    for list in ["nextSteps", "keywords"] {
        if let Some(v) = content.get(list)
            && !v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
        {
            return Err(format!("content.{list} must be a list of strings"));
        }
    }
    if let Some(meta) = n.get("metadata") {
        let meta = meta.as_object().ok_or("metadata must be an object")?;
        allowed(meta, &["threadId", "summary", "eventType", "relatedResources", "additionalContext"], "metadata")?;
        for s in ["threadId", "summary", "eventType"] {
            if meta.get(s).is_some_and(|v| !v.is_string()) {
                return Err(format!("metadata.{s} must be a string"));
            }
        }
        if let Some(ctx) = meta.get("additionalContext")
            && !ctx.as_object().is_some_and(|o| o.values().all(Value::is_string))
        {
            return Err("metadata.additionalContext must map strings to strings".into());
        }
    }
    Ok(())
}

#[tokio::test]
async fn chat_subscribers_get_a_valid_custom_notification_and_the_others_the_json_body() {
    let plain = published(ChatFormat::None).await;
    let chat = published(ChatFormat::Chatbot).await;
    assert_eq!((plain.len(), chat.len()), (1, 1));
    assert!(!plain[0].per_protocol);
    assert!(chat[0].per_protocol, "SNS MessageStructure=json");
    assert_eq!(chat[0].attributes, plain[0].attributes, "filter policies see the same attributes");
    let structure: Value = serde_json::from_str(&chat[0].body).unwrap();
    assert_eq!(structure.as_object().unwrap().len(), 2);
    assert_eq!(structure["default"].as_str().unwrap(), plain[0].body, "SQS, Lambda, email: today's JSON body");
    let notification: Value = serde_json::from_str(structure["https"].as_str().unwrap()).unwrap();
    check_custom_notification(&notification).unwrap();
    assert_eq!(notification["content"]["title"], ":warning: jdoe in Break for 30 min");
    let description = notification["content"]["description"].as_str().unwrap();
    assert!(
        description.starts_with("Agent jdoe") && description.contains("*Team:* EMEA › Sales › Team Blue"),
        "{description}"
    );
    assert_eq!(notification["metadata"]["additionalContext"]["rule"], "break-too-long");
    assert!(!notification["content"]["nextSteps"].as_array().unwrap().is_empty());
}

#[test]
fn the_checker_refuses_what_the_documentation_refuses() {
    let good = serde_json::json!({"version": "1.0", "source": "custom", "content": {"description": "x"}});
    check_custom_notification(&good).unwrap();
    for (bad, why) in [
        (serde_json::json!({"version": "2.0", "source": "custom", "content": {"description": "x"}}), "version"),
        (serde_json::json!({"version": "1.0", "source": "aws", "content": {"description": "x"}}), "source"),
        (serde_json::json!({"version": "1.0", "source": "custom", "content": {"title": "x"}}), "description"),
        (
            serde_json::json!({"version": "1.0", "source": "custom", "content": {"description": "x", "textType": "html"}}),
            "textType",
        ),
        (
            serde_json::json!({"version": "1.0", "source": "custom", "content": {"description": "x", "nextSteps": [1]}}),
            "nextSteps",
        ),
        (
            serde_json::json!({"version": "1.0", "source": "custom", "content": {"description": "x"}, "extra": 1}),
            "unknown",
        ),
    ] {
        assert!(check_custom_notification(&bad).unwrap_err().contains(why), "{bad}");
    }
}

#[test]
fn the_chat_format_is_chosen_by_the_environment() {
    use supervisor_alerts::config::Config;
    fn env(v: &'static str) -> [(&'static str, &'static str); 5] {
        [
            ("ALERT_STATE_TABLE", "t"),
            ("ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts"),
            ("ALERT_RULES", BREAK_TOO_LONG_DOC),
            ("QUARANTINE_BUCKET", "q"),
            ("ALERT_CHAT_FORMAT", v),
        ]
    }
    assert_eq!(Config::from_env(&env("chatbot")).unwrap().settings.chat, ChatFormat::Chatbot);
    assert_eq!(Config::from_env(&env("none")).unwrap().settings.chat, ChatFormat::None);
    assert!(Config::from_env(&env("slack")).unwrap_err().to_string().contains("ALERT_CHAT_FORMAT"));
}

const BREAK_TOO_LONG_DOC: &str = r#"{"rules":[{"name":"break-too-long","kind":"status_too_long","severity":"warning","statuses":["Break"],"longer_than":"15m","cooldown":"30m","scope":{}}]}"#;
