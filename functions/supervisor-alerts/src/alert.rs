//! What an alert looks like on the wire: an SNS subject, a JSON body, and message attributes that subscription
//! filter policies match on (documented in `RULES.md`). Built from facts and observations only — never from
//! transcript text or phone numbers, which the engine never holds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::model::time::canonical;

use crate::engine::{Candidate, Observed};
use crate::rules::{Rule, SentimentTrigger, human_duration};

/// SNS requires a subject shorter than 100 characters.
pub const MAX_SUBJECT: usize = 99;

/// The message attribute names, in one place (filter policies depend on them).
pub mod attr {
    pub const RULE: &str = "rule";
    pub const SEVERITY: &str = "severity";
    pub const ROUTING_PROFILE: &str = "routingProfile";
    pub const HIERARCHY_LEVELS: [&str; 5] =
        ["hierarchyLevel1", "hierarchyLevel2", "hierarchyLevel3", "hierarchyLevel4", "hierarchyLevel5"];
    pub const QUEUE: &str = "queue";
    pub const AGENT_USERNAME: &str = "agentUsername";
    pub const CHANNEL: &str = "channel";
    pub const INSTANCE_ID: &str = "instanceId";
    /// `true` on an alert sent late (only with `"late": "send_marked"`).
    pub const LATE: &str = "late";
}

/// A rendered alert, ready to publish (the SNS batch entry id is given at publish time).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
}

pub fn render(rule: &Rule, c: &Candidate) -> Rendered {
    let agent = c.facts.agent.as_ref();
    let contact = c.facts.contact.as_ref();
    let (short, sentence, observed) = describe(c);

    let body = json!({
        "alertId": c.key.id(),
        "rule": rule.name,
        "kind": rule.kind.name(),
        "severity": rule.severity.as_str(),
        "at": canonical(&c.at),
        "agent": agent.map(|a| json!({
            "agentId": a.agent_id,
            "username": a.username,
            "routingProfile": a.routing_profile,
            "hierarchyGroups": a.hierarchy.iter().flatten().collect::<Vec<_>>(),
        })),
        "contact": contact.map(|c| json!({"contactId": c.contact_id, "channel": c.channel, "queue": c.queue})),
        "instanceId": c.facts.instance_id,
        "late": c.late,
        "observed": observed,
        "text": sentence,
        "description": rule.description,
    });

    Rendered {
        subject: subject(&format!(
            "{}[{}] {}: {short}",
            if c.late.is_some() { "[LATE] " } else { "" },
            rule.severity.as_str().to_uppercase(),
            rule.name
        )),
        body: body.to_string(),
        attributes: attributes(rule, c),
    }
}

/// The alert in the custom-notification format of AWS Chatbot (Amazon Q Developer in chat applications), as its
/// administrator guide documents it ("Custom notifications", event schema): `version` "1.0", `source` "custom", an
/// `id`, `content` (`textType` "client-markdown", `title`, `description`, `nextSteps`, `keywords`) and `metadata`
/// (`threadId`, `summary`, `eventType`, `additionalContext`). Built from the same facts as the JSON body, so it carries
/// no transcript text or phone number either.
pub fn chatbot(rule: &Rule, c: &Candidate) -> Value {
    let agent = c.facts.agent.as_ref();
    let contact = c.facts.contact.as_ref();
    let (short, sentence, _) = describe(c);
    let mut details = Vec::new();
    if let Some(a) = agent {
        let team: Vec<&String> = a.hierarchy.iter().flatten().collect();
        if !team.is_empty() {
            details.push(format!("*Team:* {}", team.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" › ")));
        }
        if let Some(p) = &a.routing_profile {
            details.push(format!("*Routing profile:* {p}"));
        }
    }
    if let Some(c) = contact {
        details.push(format!(
            "*Contact:* {}{}{}",
            c.contact_id,
            c.channel.as_ref().map(|ch| format!(" ({ch})")).unwrap_or_default(),
            c.queue.as_ref().map(|q| format!(", queue {q}")).unwrap_or_default()
        ));
    }
    details.push(format!("*Observed at:* {}", canonical(&c.at)));
    if let Some(late) = &c.late {
        details.push(format!("*Late:* {late}"));
    }
    let description = format!("{sentence}\n{}", details.join("\n"));
    let icon = match rule.severity.as_str() {
        "critical" => ":rotating_light:",
        "warning" => ":warning:",
        _ => ":information_source:",
    };
    let mut keywords = vec![rule.severity.as_str().to_owned(), rule.name.clone()];
    if let Some(level) = agent.and_then(|a| a.hierarchy.iter().flatten().last()) {
        keywords.push(level.clone());
    }
    let mut context = serde_json::Map::new();
    context.insert("alertId".into(), Value::from(c.key.id()));
    context.insert("rule".into(), Value::from(rule.name.clone()));
    context.insert("severity".into(), Value::from(rule.severity.as_str()));
    if let Some(id) = &c.facts.instance_id {
        context.insert("instanceId".into(), Value::from(id.clone()));
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "id": c.key.id(),
        "content": {
            "textType": "client-markdown",
            "title": format!("{icon} {}{}", if c.late.is_some() { "[LATE] " } else { "" }, short),
            "description": description,
            "nextSteps": next_steps(rule),
            "keywords": keywords,
        },
        "metadata": {
            "threadId": format!("{}/{}", c.key.rule, c.key.subject),
            "summary": short,
            "eventType": rule.kind.name(),
            "additionalContext": context,
        }
    })
}

/// What a supervisor does next, per kind (the custom notification's `nextSteps`).
fn next_steps(rule: &Rule) -> Vec<String> {
    use crate::rules::RuleKind;
    let steps: &[&str] = match &rule.kind {
        RuleKind::StatusEntered { .. } | RuleKind::StatusTooLong { .. } => {
            &["Check in with the agent", "Look at the agent's timeline on the wallboard"]
        }
        RuleKind::AcwTooLong { .. } => &["Ask the agent whether they need help to wrap up the contact"],
        RuleKind::MissedContacts { .. } => {
            &["Check the agent's status and headset", "Consider setting the agent offline"]
        }
        RuleKind::NegativeSentiment { .. } | RuleKind::CategoryMatched { .. } => {
            &["Listen in or join the contact", "Offer the agent help"]
        }
        RuleKind::AttributeThreshold { .. } => &["Review the contact", "Follow up with the customer if needed"],
    };
    steps.iter().map(|s| (*s).to_owned()).collect()
}

/// An SNS message with one body per protocol: `https` subscribers (AWS Chatbot) get `chat`, every other protocol
/// the JSON `body` (`default`).
pub fn per_protocol(body: &str, chat: &Value) -> String {
    json!({"default": body, "https": chat.to_string()}).to_string()
}

/// What was observed, three ways: a short form for the subject, a sentence for people, and JSON for programs.
fn describe(c: &Candidate) -> (String, String, Value) {
    let who = c.facts.agent.as_ref().and_then(|a| a.username.clone()).unwrap_or_else(|| "unknown agent".into());
    let contact_id = c.facts.contact.as_ref().map(|c| c.contact_id.as_str()).unwrap_or("");
    match &c.observed {
        Observed::StatusEntered { status, since } => (
            format!("{who} entered {status}"),
            format!(
                "Agent {who} entered status {status}{}.",
                since.map(|s| format!(" at {}", clock(&s))).unwrap_or_default()
            ),
            json!({"status": status, "since": since.as_ref().map(canonical)}),
        ),
        Observed::StatusTooLong { status, since, lasted, longer_than } => (
            format!("{who} in {status} for {}", human_duration(*lasted)),
            format!(
                "Agent {who} has been in status {status} for {} (since {}; the limit is {}).",
                human_duration(*lasted),
                clock(since),
                human_duration(*longer_than)
            ),
            json!({"status": status, "since": canonical(since), "durationSeconds": lasted.num_seconds(),
                   "limitSeconds": longer_than.num_seconds()}),
        ),
        Observed::AcwTooLong { since, lasted, longer_than } => (
            format!("{who} in after-contact work for {}", human_duration(*lasted)),
            format!(
                "Agent {who} has been in after-contact work on contact {contact_id} for {} (since {}; the limit is {}).",
                human_duration(*lasted),
                clock(since),
                human_duration(*longer_than)
            ),
            json!({"since": canonical(since), "durationSeconds": lasted.num_seconds(), "limitSeconds": longer_than.num_seconds()}),
        ),
        Observed::MissedContacts { missed, within, count } => (
            format!("{who} missed {missed} contacts in {}", human_duration(*within)),
            format!(
                "Agent {who} missed or rejected {missed} contacts within {} (the limit is {count}).",
                human_duration(*within)
            ),
            json!({"missedContacts": missed, "windowSeconds": within.num_seconds(), "count": count}),
        ),
        Observed::NegativeSentiment { trigger, consecutive, negative_recent, recent } => {
            let (text, observed) = match trigger {
                SentimentTrigger::Consecutive(n) => (
                    format!(
                        "The customer on contact {contact_id} (agent {who}) had {n} or more negative turns in a row."
                    ),
                    json!({"consecutiveNegativeTurns": consecutive, "threshold": n}),
                ),
                SentimentTrigger::Share { above, over_last } => (
                    format!(
                        "{negative_recent} of the customer's last {recent} turns on contact {contact_id} (agent {who}) were negative (limit: more than {:.0}% of {over_last}).",
                        above * 100.0
                    ),
                    json!({"negativeTurns": negative_recent, "turns": recent, "shareAbove": above, "overLast": over_last}),
                ),
            };
            (format!("negative customer sentiment ({who})"), text, observed)
        }
        Observed::CategoryMatched { category } => (
            format!("category {category} ({who})"),
            format!("Contact Lens matched category {category} on contact {contact_id} (agent {who})."),
            json!({"category": category}),
        ),
        Observed::AttributeThreshold { attribute, value, operator, threshold } => (
            format!("{attribute} {} ({who})", number(*value)),
            format!(
                "Contact attribute {attribute} is {} on contact {contact_id} (agent {who}); the rule fires when it is {} {}.",
                number(*value),
                operator.as_str(),
                number(*threshold)
            ),
            json!({"attribute": attribute, "value": value, "operator": operator.as_str(), "threshold": threshold}),
        ),
    }
}

/// The message attributes: only non-empty values (SNS refuses empty strings).
fn attributes(rule: &Rule, c: &Candidate) -> BTreeMap<String, String> {
    let agent = c.facts.agent.as_ref();
    let contact = c.facts.contact.as_ref();
    let mut out = BTreeMap::new();
    let mut put = |name: &str, value: Option<&str>| {
        if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
            out.insert(name.to_owned(), v.to_owned());
        }
    };
    put(attr::RULE, Some(&rule.name));
    put(attr::SEVERITY, Some(rule.severity.as_str()));
    put(attr::ROUTING_PROFILE, agent.and_then(|a| a.routing_profile.as_deref()));
    for (name, level) in attr::HIERARCHY_LEVELS.iter().zip(agent.map(|a| a.hierarchy.clone()).unwrap_or_default()) {
        put(name, level.as_deref());
    }
    put(attr::QUEUE, contact.and_then(|c| c.queue.as_deref()));
    put(attr::AGENT_USERNAME, agent.and_then(|a| a.username.as_deref()));
    put(attr::CHANNEL, contact.and_then(|c| c.channel.as_deref()));
    put(attr::INSTANCE_ID, c.facts.instance_id.as_deref());
    put(attr::LATE, c.late.as_ref().map(|_| "true"));
    out
}

/// An SNS subject: ASCII only (anything else becomes `?`), no line breaks or control characters, < 100 characters.
pub fn subject(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|ch| match ch {
            ' '..='~' => ch,
            c if c.is_control() => ' ',
            _ => '?',
        })
        .take(MAX_SUBJECT)
        .collect();
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    if out.is_empty() { "Supervisor alert".into() } else { out }
}

fn clock(t: &DateTime<Utc>) -> String {
    t.format("%H:%M:%S UTC").to_string()
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// The body as JSON (tests and tools).
pub fn body_json(r: &Rendered) -> Value {
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_short_ascii_single_lines() {
        let s = subject("[WARNING] r: Agent Jöhn\nin Pause café for 30 min");
        assert_eq!(s, "[WARNING] r: Agent J?hn in Pause caf? for 30 min");
        let long = subject(&"x".repeat(300));
        assert_eq!(long.len(), MAX_SUBJECT);
        assert!(subject("\n\t").starts_with("Supervisor"));
    }

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(number(1.0), "1");
        assert_eq!(number(-3.5), "-3.5");
    }
}
