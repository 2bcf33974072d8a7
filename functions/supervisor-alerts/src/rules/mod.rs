//! The rules document: its schema, parsing and validation (documented with examples in `RULES.md`).
//!
//! [`validate`] turns the JSON text into [`Rules`] or a [`RulesError`] that names the rule and the field, so a bad
//! document stops the function at init with a message an operator can act on. Nothing here touches AWS: the local
//! replay tool reuses it for `rules check`.
//!
//! Every kind of rule is one row of [`KINDS`]: its name, its fields and which records it reads. The fields are read
//! by serde into typed values (`schema`), whose errors carry the field path (`scope.queues[1]`).

mod schema;
pub mod source;

use std::collections::BTreeSet;

use chrono::TimeDelta;
use serde_json::Value;

use crate::scope::Scope;
use schema::{FieldError, KindFields, required, type_name};

/// Most entries a count or window may ask for: bounds the state kept per agent and per contact.
pub const MAX_WINDOW: u32 = 50;
/// Longest `within` of a missed-contacts rule: bounds how long a window item lives.
pub const MAX_MISSED_WINDOW: TimeDelta = TimeDelta::hours(24);
/// Rule names end up in DynamoDB keys and SNS attributes.
const MAX_NAME_LEN: usize = 64;

/// A validated rules document.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub severity: Severity,
    pub scope: Scope,
    /// After an alert, further alerts of this rule for the same agent (or contact, when no agent is known) are
    /// suppressed until this much event time has passed. Zero disables it.
    pub cooldown: TimeDelta,
    pub description: Option<String>,
    pub kind: RuleKind,
    /// How late an alert may still be sent ([`crate::lateness`]); default [`DEFAULT_MAX_LATENESS`].
    pub max_lateness: TimeDelta,
    /// What to do with a late alert: suppress it (default) or send it marked as late.
    pub late: LatePolicy,
}

/// An alert's default `max_lateness`: five minutes.
pub const DEFAULT_MAX_LATENESS: TimeDelta = TimeDelta::minutes(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatePolicy {
    #[default]
    Suppress,
    SendMarked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// The agent enters one of the statuses.
    StatusEntered { statuses: Vec<String> },
    /// The agent has been in one of the statuses longer than `longer_than` (one alert per status episode).
    StatusTooLong { statuses: Vec<String>, longer_than: TimeDelta },
    /// A contact has been in after-contact work (State ENDED) longer than `longer_than`.
    AcwTooLong { longer_than: TimeDelta },
    /// `count` missed or rejected contacts within `within` for one agent.
    MissedContacts { count: u32, within: TimeDelta },
    /// Negative customer turns in Contact Lens real-time segments (one alert per contact and rule).
    NegativeSentiment(SentimentTrigger),
    /// A listed Contact Lens category is matched on a contact.
    CategoryMatched { categories: Vec<String> },
    /// A contact attribute, parsed as a number, compared with a threshold.
    AttributeThreshold { attribute: String, operator: Operator, value: f64 },
}

/// The records a kind of rule is evaluated on: the handler skips a stream's records when no rule reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    AgentEvents,
    /// Contact Lens real-time segments (they need the contact→agent join from agent events too).
    Segments,
    ContactRecords,
}

/// One kind of rule: the row of [`KINDS`] that the document and the handler go by.
pub struct KindSpec {
    /// As written in `kind`.
    pub name: &'static str,
    /// Its fields besides the common ones ([`COMMON_FIELDS`]); any other field is refused.
    pub fields: &'static [&'static str],
    pub reads: Reads,
    /// Builds the kind from its fields (only `fields` can be present).
    parse: fn(KindFields) -> Result<RuleKind, FieldError>,
}

/// The fields of every rule.
pub const COMMON_FIELDS: [&str; 8] =
    ["name", "kind", "severity", "scope", "cooldown", "description", "max_lateness", "late"];

/// Every kind of rule, in the order documented in `RULES.md`.
pub const KINDS: [KindSpec; 7] = [
    KindSpec {
        name: "status_entered",
        fields: &["statuses"],
        reads: Reads::AgentEvents,
        parse: |f| Ok(RuleKind::StatusEntered { statuses: required(f.statuses, "statuses")?.0 }),
    },
    KindSpec {
        name: "status_too_long",
        fields: &["statuses", "longer_than"],
        reads: Reads::AgentEvents,
        parse: |f| {
            let statuses = required(f.statuses, "statuses")?.0;
            Ok(RuleKind::StatusTooLong { statuses, longer_than: required(f.longer_than, "longer_than")?.0 })
        },
    },
    KindSpec {
        name: "acw_too_long",
        fields: &["longer_than"],
        reads: Reads::AgentEvents,
        parse: |f| Ok(RuleKind::AcwTooLong { longer_than: required(f.longer_than, "longer_than")?.0 }),
    },
    KindSpec {
        name: "missed_contacts",
        fields: &["count", "within"],
        reads: Reads::AgentEvents,
        parse: |f| {
            let within = required(f.within, "within")?.0;
            if within > MAX_MISSED_WINDOW {
                return Err(FieldError::new("within", "at most 24h"));
            }
            Ok(RuleKind::MissedContacts { count: required(f.count, "count")?.0, within })
        },
    },
    KindSpec {
        name: "negative_sentiment",
        fields: &["consecutive", "share_above", "over_last"],
        reads: Reads::Segments,
        parse: sentiment,
    },
    KindSpec {
        name: "category_matched",
        fields: &["categories"],
        reads: Reads::Segments,
        parse: |f| Ok(RuleKind::CategoryMatched { categories: required(f.categories, "categories")?.0 }),
    },
    KindSpec {
        name: "attribute_threshold",
        fields: &["attribute", "operator", "value"],
        reads: Reads::ContactRecords,
        parse: |f| {
            let operator = required(f.operator, "operator")?;
            let attribute = required(f.attribute, "attribute")?.0;
            Ok(RuleKind::AttributeThreshold { attribute, operator, value: required(f.value, "value")?.0 })
        },
    },
];

/// Exactly one trigger: `consecutive`, or `share_above` with `over_last`.
fn sentiment(f: KindFields) -> Result<RuleKind, FieldError> {
    let (field, detail) = match (f.consecutive, f.share_above, f.over_last) {
        (Some(n), None, None) => return Ok(RuleKind::NegativeSentiment(SentimentTrigger::Consecutive(n.0))),
        (None, Some(above), Some(over_last)) => {
            let share = SentimentTrigger::Share { above: above.0, over_last: over_last.0 };
            return Ok(RuleKind::NegativeSentiment(share));
        }
        (None, Some(_), None) => ("over_last", "missing: share_above needs over_last (how many recent turns)"),
        (None, None, Some(_)) => ("share_above", "missing: over_last needs share_above (a share, e.g. 0.6)"),
        (None, None, None) => {
            ("consecutive", "missing: give either consecutive (N negative turns in a row) or share_above + over_last")
        }
        _ => ("consecutive", "give either consecutive or share_above + over_last, not both"),
    };
    Err(FieldError::new(field, detail))
}

impl RuleKind {
    /// Its row of [`KINDS`].
    pub fn spec(&self) -> &'static KindSpec {
        &KINDS[match self {
            RuleKind::StatusEntered { .. } => 0,
            RuleKind::StatusTooLong { .. } => 1,
            RuleKind::AcwTooLong { .. } => 2,
            RuleKind::MissedContacts { .. } => 3,
            RuleKind::NegativeSentiment(_) => 4,
            RuleKind::CategoryMatched { .. } => 5,
            RuleKind::AttributeThreshold { .. } => 6,
        }]
    }
    pub fn name(&self) -> &'static str {
        self.spec().name
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SentimentTrigger {
    /// This many NEGATIVE customer turns in a row.
    Consecutive(u32),
    /// The share of NEGATIVE customer turns among the last `over_last` is above `above` (0 ≤ above < 1).
    Share { above: f64, over_last: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Operator {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "<" => Self::Lt,
            "<=" => Self::Le,
            ">" => Self::Gt,
            ">=" => Self::Ge,
            "==" => Self::Eq,
            "!=" => Self::Ne,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Self::Lt => left < right,
            Self::Le => left <= right,
            Self::Gt => left > right,
            Self::Ge => left >= right,
            Self::Eq => left == right,
            Self::Ne => left != right,
        }
    }
}

impl Rules {
    /// Whether any rule is evaluated on these records.
    pub fn reads(&self, records: Reads) -> bool {
        self.rules.iter().any(|r| r.kind.spec().reads == records)
    }
    /// Rules that read agent events directly.
    pub fn has_agent_rules(&self) -> bool {
        self.reads(Reads::AgentEvents)
    }
    /// Rules that read Contact Lens segments (they need the contact→agent join from agent events too).
    pub fn has_segment_rules(&self) -> bool {
        self.reads(Reads::Segments)
    }
    pub fn has_ctr_rules(&self) -> bool {
        self.reads(Reads::ContactRecords)
    }
    /// Rules that keep sentiment state per contact.
    pub fn has_sentiment_rules(&self) -> bool {
        self.rules.iter().any(|r| matches!(r.kind, RuleKind::NegativeSentiment(_)))
    }
    /// Rules that keep a missed-contacts window per agent.
    pub fn has_missed_rules(&self) -> bool {
        self.rules.iter().any(|r| matches!(r.kind, RuleKind::MissedContacts { .. }))
    }
    /// How many recent customer turns the sentiment state keeps per contact.
    pub fn sentiment_window(&self) -> usize {
        self.rules
            .iter()
            .filter_map(|r| match r.kind {
                RuleKind::NegativeSentiment(SentimentTrigger::Share { over_last, .. }) => Some(over_last as usize),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
    /// The longest missed-contacts window, and the largest count (bounds the window item).
    pub fn missed_window(&self) -> (TimeDelta, usize) {
        self.rules.iter().fold((TimeDelta::zero(), 0), |(w, n), r| match r.kind {
            RuleKind::MissedContacts { count, within } => (w.max(within), n.max(count as usize)),
            _ => (w, n),
        })
    }
    /// How long a missed-contacts window item lives: the longest window plus an hour.
    pub fn missed_ttl(&self) -> TimeDelta {
        self.missed_window().0 + TimeDelta::hours(1)
    }
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }
}

/// Why a rules document was refused. `Display` names the rule (position and name) and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("rules document is not valid JSON: {0}")]
    NotJson(String),
    #[error("rules document: {0}")]
    Document(String),
    #[error("rule {rule}: field `{field}`: {detail}")]
    Field { rule: String, field: String, detail: String },
}

/// Parses and validates a rules document.
pub fn validate(text: &str) -> Result<Rules, RulesError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| RulesError::NotJson(e.to_string()))?;
    let refused = |detail: String| Err(RulesError::Document(detail));
    let Value::Object(doc) = doc else {
        return refused(format!("expected a JSON object {{\"rules\": [...]}}, found {}", type_name(&doc)));
    };
    if let Some(key) = doc.keys().find(|k| !["rules", "description"].contains(&k.as_str())) {
        return refused(format!("unknown top-level field `{key}` (allowed: rules, description)"));
    }
    let rules = match doc.get("rules") {
        None => return refused("missing field `rules` (a list of rules)".into()),
        Some(Value::Array(rules)) if rules.is_empty() => {
            return refused("`rules` is empty: no alert would ever be sent".into());
        }
        Some(Value::Array(rules)) => rules,
        Some(other) => return refused(format!("`rules` must be a list, found {}", type_name(other))),
    };
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(rules.len());
    for (index, value) in rules.iter().enumerate() {
        let rule = parse_rule(value).map_err(|e| e.in_rule(index, value.get("name").and_then(Value::as_str)))?;
        if !names.insert(rule.name.clone()) {
            let e = FieldError::new("name", "duplicate rule name: names must be unique");
            return Err(e.in_rule(index, Some(&rule.name)));
        }
        out.push(rule);
    }
    Ok(Rules { rules: out })
}

/// One rule, in stages so that the first complaint is the most useful one: its name and kind, then fields its kind
/// does not have, then the common fields, then the kind's own.
fn parse_rule(value: &Value) -> Result<Rule, FieldError> {
    let Value::Object(obj) = value else {
        return Err(FieldError::new("(rule)", format!("expected an object, found {}", type_name(value))));
    };
    let head: schema::Head = schema::from_rule(value)?;
    let name = required(head.name, "name")?.0;
    let kind = required(head.kind, "kind")?.0;
    if let Some(key) = obj.keys().find(|k| !COMMON_FIELDS.contains(&k.as_str()) && !kind.fields.contains(&k.as_str())) {
        let detail = format!(
            "not a field of kind {} (its fields: {}, plus {})",
            kind.name,
            kind.fields.join(", "),
            COMMON_FIELDS.join(", ")
        );
        return Err(FieldError::new(key, detail));
    }
    let common: schema::Common = schema::from_rule(value)?;
    let severity = required(common.severity, "severity")?;
    let cooldown = required(common.cooldown, "cooldown")?.0;
    let scope = common.scope.ok_or_else(|| FieldError::new("scope", "missing (use {} for every agent and contact)"))?;
    let kind = (kind.parse)(schema::from_rule(value)?)?;
    let max_lateness = common.max_lateness.map_or(DEFAULT_MAX_LATENESS, |d| d.0);
    let late = common.late.unwrap_or_default();
    Ok(Rule { name, severity, scope, cooldown, description: common.description.map(|d| d.0), kind, max_lateness, late })
}

/// Parses a duration such as `90s`, `15m`, `2h` or `1d` (a whole number and one unit).
pub fn parse_duration(s: &str) -> Result<TimeDelta, String> {
    let expected = "expected a whole number and a unit, e.g. \"90s\", \"15m\", \"2h\", \"1d\"";
    let s = s.trim();
    let Some(unit) = s.chars().last() else {
        return Err(format!("empty duration: {expected}"));
    };
    let number = &s[..s.len() - unit.len_utf8()];
    let n: i64 = number
        .parse()
        .ok()
        .filter(|n| *n >= 0 && number.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("invalid duration {s:?}: {expected}"))?;
    let seconds = match unit {
        's' => Some(n),
        'm' => n.checked_mul(60),
        'h' => n.checked_mul(3600),
        'd' => n.checked_mul(86_400),
        _ => None,
    };
    seconds
        .filter(|s| *s <= 366 * 86_400)
        .map(TimeDelta::seconds)
        .ok_or_else(|| format!("invalid duration {s:?}: {expected}, at most a year"))
}

/// A duration as people read it: `90 s`, `15 min`, `2 h 30 min`.
pub fn human_duration(d: TimeDelta) -> String {
    let total = d.num_seconds().max(0);
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE_DEFAULT: &str = r#"{"rules":[{"name":"break-too-long","kind":"status_too_long","severity":"warning","statuses":["Break"],"longer_than":"15m","cooldown":"30m","scope":{}}]}"#;

    fn err_of(text: &str) -> String {
        validate(text).expect_err("the document must be refused").to_string()
    }

    fn with_rule(rule: &str) -> String {
        format!(r#"{{"rules":[{rule}]}}"#)
    }

    #[test]
    fn the_template_default_is_accepted() {
        let rules = validate(TEMPLATE_DEFAULT).unwrap();
        assert_eq!(rules.rules.len(), 1);
        let r = &rules.rules[0];
        assert_eq!(r.name, "break-too-long");
        assert_eq!(r.severity, Severity::Warning);
        assert_eq!(r.cooldown, TimeDelta::minutes(30));
        assert!(r.scope.is_empty());
        assert_eq!(
            r.kind,
            RuleKind::StatusTooLong { statuses: vec!["Break".into()], longer_than: TimeDelta::minutes(15) }
        );
    }

    #[test]
    fn the_example_file_is_accepted_and_uses_every_kind() {
        let text = include_str!("../../rules.example.json");
        let rules = validate(text).unwrap();
        let kinds: BTreeSet<&str> = rules.rules.iter().map(|r| r.kind.name()).collect();
        assert_eq!(kinds.len(), KINDS.len(), "{kinds:?}");
    }

    #[test]
    fn every_kind_is_named_and_read_as_its_row_of_the_table() {
        let doc: Value = serde_json::from_str(include_str!("../../rules.example.json")).unwrap();
        let rules = validate(&doc.to_string()).unwrap();
        for (rule, written) in rules.rules.iter().zip(doc["rules"].as_array().unwrap()) {
            assert_eq!(rule.kind.name(), written["kind"], "{}", rule.name);
        }
        let only = |kind: &str| {
            let rule = doc["rules"].as_array().unwrap().iter().find(|r| r["kind"] == kind).unwrap();
            validate(&format!(r#"{{"rules":[{rule}]}}"#)).unwrap()
        };
        let reads = |r: &Rules| (r.has_agent_rules(), r.has_segment_rules(), r.has_ctr_rules());
        assert_eq!(reads(&only("status_entered")), (true, false, false));
        assert_eq!(reads(&only("missed_contacts")), (true, false, false));
        assert_eq!(reads(&only("category_matched")), (false, true, false));
        assert_eq!(reads(&only("attribute_threshold")), (false, false, true));
        let sentiment = only("negative_sentiment");
        assert_eq!(reads(&sentiment), (false, true, false));
        assert!(sentiment.has_sentiment_rules() && !sentiment.has_missed_rules());
        assert!(only("missed_contacts").has_missed_rules());
    }

    #[test]
    fn durations_take_one_unit() {
        assert_eq!(parse_duration("90s"), Ok(TimeDelta::seconds(90)));
        assert_eq!(parse_duration("15m"), Ok(TimeDelta::minutes(15)));
        assert_eq!(parse_duration("2h"), Ok(TimeDelta::hours(2)));
        assert_eq!(parse_duration("1d"), Ok(TimeDelta::days(1)));
        for bad in ["", "15", "m", "1.5h", "-5m", "15 min", "5w", "+5m", "99999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(human_duration(TimeDelta::seconds(90)), "1 min 30 s");
        assert_eq!(human_duration(TimeDelta::minutes(15)), "15 min");
        assert_eq!(human_duration(TimeDelta::minutes(150)), "2 h 30 min");
    }

    #[test]
    fn errors_name_the_rule_and_the_field() {
        let e = err_of(&with_rule(
            r#"{"name":"break-too-long","kind":"status_too_long","severity":"warning","statuses":["Break"],"longer_than":"15x","cooldown":"30m","scope":{}}"#,
        ));
        assert!(e.contains(r#"#1 "break-too-long""#) && e.contains("`longer_than`") && e.contains("15x"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"status_entered","severity":"loud","statuses":["X"],"cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains(r#""a""#) && e.contains("`severity`") && e.contains("loud"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"status_entered","severity":"info","statuses":["X"],"cooldown":"0s","scope":{"team":["x"]}}"#,
        ));
        assert!(e.contains("`scope.team`"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","statuses":["X"],"cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains("`statuses`") && e.contains("not a field of kind acw_too_long"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"status_too_long","severity":"info","statuses":["X"],"longer_than":"5m","scope":{}}"#,
        ));
        assert!(e.contains("`cooldown`: missing"), "{e}");

        let e = err_of(&with_rule(r#"{"name":"a","kind":"sla","severity":"info","cooldown":"0s","scope":{}}"#));
        assert!(e.contains("`kind`") && e.contains("sla"), "{e}");

        let e = err_of(&with_rule(
            r#"{"kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains("#1 (unnamed)") && e.contains("`name`: missing"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"missed_contacts","severity":"info","count":0,"within":"1h","cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains("`count`"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"negative_sentiment","severity":"info","share_above":0.5,"cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains("`over_last`"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"negative_sentiment","severity":"info","share_above":1.5,"over_last":5,"cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains("`share_above`"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"attribute_threshold","severity":"info","attribute":"csat","operator":"=<","value":2,"cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains("`operator`"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"category_matched","severity":"info","categories":[],"cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains("`categories`") && e.contains("empty"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"category_matched","severity":"info","categories":["x", 3],"cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains("`categories[1]`"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"has space","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains("`name`"), "{e}");

        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s"}"#,
        ));
        assert!(e.contains("`scope`: missing"), "{e}");
    }

    #[test]
    fn the_second_rule_is_named_by_position_and_name() {
        let e = err_of(
            r#"{"rules":[
                {"name":"ok","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}},
                {"name":"bad","kind":"acw_too_long","severity":"info","longer_than":"0s","cooldown":"0s","scope":{}}]}"#,
        );
        assert!(e.contains(r#"#2 "bad""#) && e.contains("`longer_than`"), "{e}");
    }

    #[test]
    fn document_level_mistakes_are_refused() {
        assert!(err_of("not json").contains("not valid JSON"));
        assert!(err_of("[]").contains("expected a JSON object"));
        assert!(err_of("{}").contains("missing field `rules`"));
        assert!(err_of(r#"{"rules":[]}"#).contains("empty"));
        assert!(err_of(r#"{"rules":[], "rulez": 1}"#).contains("rulez"));
        let dup =
            r#"{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}"#;
        let e = err_of(&format!(r#"{{"rules":[{dup},{dup}]}}"#));
        assert!(e.contains(r#"#2 "a""#) && e.contains("duplicate"), "{e}");
    }

    #[test]
    fn sentiment_triggers_are_either_consecutive_or_share() {
        let r = validate(&with_rule(r#"{"name":"a","kind":"negative_sentiment","severity":"critical","consecutive":3,"cooldown":"0s","scope":{}}"#)).unwrap();
        assert_eq!(r.rules[0].kind, RuleKind::NegativeSentiment(SentimentTrigger::Consecutive(3)));
        let r = validate(&with_rule(r#"{"name":"a","kind":"negative_sentiment","severity":"critical","share_above":0.5,"over_last":6,"cooldown":"0s","scope":{}}"#)).unwrap();
        assert_eq!(r.rules[0].kind, RuleKind::NegativeSentiment(SentimentTrigger::Share { above: 0.5, over_last: 6 }));
        assert_eq!(r.sentiment_window(), 6);
        let e = err_of(&with_rule(
            r#"{"name":"a","kind":"negative_sentiment","severity":"critical","consecutive":3,"share_above":0.5,"over_last":6,"cooldown":"0s","scope":{}}"#,
        ));
        assert!(e.contains("not both"), "{e}");
    }
}
