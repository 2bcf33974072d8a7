//! The rules document: its schema, parsing and validation (documented with examples in `RULES.md`).
//!
//! [`validate`] turns the JSON text into [`Rules`] or a [`RulesError`] that names the rule and the field, so a bad
//! document stops the function at init with a message an operator can act on. Nothing here touches AWS: the local
//! replay tool reuses it for `rules check`.

use std::collections::BTreeSet;
use std::fmt;

use chrono::TimeDelta;
use serde_json::{Map, Value};

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

impl RuleKind {
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::StatusEntered { .. } => "status_entered",
            RuleKind::StatusTooLong { .. } => "status_too_long",
            RuleKind::AcwTooLong { .. } => "acw_too_long",
            RuleKind::MissedContacts { .. } => "missed_contacts",
            RuleKind::NegativeSentiment(_) => "negative_sentiment",
            RuleKind::CategoryMatched { .. } => "category_matched",
            RuleKind::AttributeThreshold { .. } => "attribute_threshold",
        }
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

/// Who a rule is about. Every non-empty list is a condition (all must hold); a list holds when any of its entries
/// equals the value (case-insensitive). An empty scope matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub routing_profiles: Vec<String>,
    /// Hierarchy group names, at any level (Level1..Level5).
    pub hierarchy_groups: Vec<String>,
    pub queues: Vec<String>,
    /// Agent usernames.
    pub agents: Vec<String>,
    /// VOICE, CHAT, TASK, EMAIL …
    pub channels: Vec<String>,
}

impl Scope {
    /// Whether the scope needs to know the agent (a contact→agent join) to match.
    pub fn needs_agent(&self) -> bool {
        !self.routing_profiles.is_empty() || !self.hierarchy_groups.is_empty() || !self.agents.is_empty()
    }
    pub fn is_empty(&self) -> bool {
        self.routing_profiles.is_empty()
            && self.hierarchy_groups.is_empty()
            && self.queues.is_empty()
            && self.agents.is_empty()
            && self.channels.is_empty()
    }
}

impl Rules {
    /// Rules that read agent events directly.
    pub fn has_agent_rules(&self) -> bool {
        self.rules.iter().any(|r| {
            matches!(
                r.kind,
                RuleKind::StatusEntered { .. }
                    | RuleKind::StatusTooLong { .. }
                    | RuleKind::AcwTooLong { .. }
                    | RuleKind::MissedContacts { .. }
            )
        })
    }
    /// Rules that read Contact Lens segments (they need the contact→agent join from agent events too).
    pub fn has_segment_rules(&self) -> bool {
        self.rules.iter().any(|r| matches!(r.kind, RuleKind::NegativeSentiment(_) | RuleKind::CategoryMatched { .. }))
    }
    pub fn has_sentiment_rules(&self) -> bool {
        self.rules.iter().any(|r| matches!(r.kind, RuleKind::NegativeSentiment(_)))
    }
    pub fn has_missed_rules(&self) -> bool {
        self.rules.iter().any(|r| matches!(r.kind, RuleKind::MissedContacts { .. }))
    }
    pub fn has_ctr_rules(&self) -> bool {
        self.rules.iter().any(|r| matches!(r.kind, RuleKind::AttributeThreshold { .. }))
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
    let Value::Object(doc) = doc else {
        return Err(RulesError::Document(format!(
            "expected a JSON object {{\"rules\": [...]}}, found {}",
            type_name(&doc)
        )));
    };
    for key in doc.keys() {
        if key != "rules" && key != "description" {
            return Err(RulesError::Document(format!("unknown top-level field `{key}` (allowed: rules, description)")));
        }
    }
    let rules = match doc.get("rules") {
        None => {
            return Err(RulesError::Document("missing field `rules` (a list of rules)".into()));
        }
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(RulesError::Document(format!("`rules` must be a list, found {}", type_name(other))));
        }
    };
    if rules.is_empty() {
        return Err(RulesError::Document("`rules` is empty: no alert would ever be sent".into()));
    }
    let mut out = Vec::with_capacity(rules.len());
    let mut names = BTreeSet::new();
    for (index, value) in rules.iter().enumerate() {
        let rule = parse_rule(index, value)?;
        if !names.insert(rule.name.clone()) {
            return Err(RuleCtx::new(index, Some(&rule.name)).err("name", "duplicate rule name: names must be unique"));
        }
        out.push(rule);
    }
    Ok(Rules { rules: out })
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

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Names the rule in errors: `#2 "break-too-long"` (1-based position, and the name when it has one).
struct RuleCtx {
    label: String,
}

impl RuleCtx {
    fn new(index: usize, name: Option<&str>) -> Self {
        let label = match name {
            Some(n) => format!("#{} {n:?}", index + 1),
            None => format!("#{} (unnamed)", index + 1),
        };
        Self { label }
    }
    fn err(&self, field: &str, detail: impl fmt::Display) -> RulesError {
        RulesError::Field { rule: self.label.clone(), field: field.to_owned(), detail: detail.to_string() }
    }
}

const COMMON_FIELDS: [&str; 6] = ["name", "kind", "severity", "scope", "cooldown", "description"];
const KINDS: &str = "status_entered, status_too_long, acw_too_long, missed_contacts, negative_sentiment, category_matched, attribute_threshold";

fn kind_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "status_entered" => &["statuses"],
        "status_too_long" => &["statuses", "longer_than"],
        "acw_too_long" => &["longer_than"],
        "missed_contacts" => &["count", "within"],
        "negative_sentiment" => &["consecutive", "share_above", "over_last"],
        "category_matched" => &["categories"],
        "attribute_threshold" => &["attribute", "operator", "value"],
        _ => return None,
    })
}

fn parse_rule(index: usize, value: &Value) -> Result<Rule, RulesError> {
    let Value::Object(obj) = value else {
        return Err(RuleCtx::new(index, None).err("(rule)", format!("expected an object, found {}", type_name(value))));
    };
    let name_value = obj.get("name").and_then(Value::as_str);
    let ctx = RuleCtx::new(index, name_value);
    let f = Fields { obj, ctx: &ctx };

    let name = f.string("name")?;
    if name.len() > MAX_NAME_LEN || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(ctx.err("name", format!("must be 1–{MAX_NAME_LEN} characters of A–Z, a–z, 0–9, '-', '_', '.'")));
    }
    let kind_name = f.string("kind")?;
    let Some(allowed) = kind_fields(&kind_name) else {
        return Err(ctx.err("kind", format!("unknown kind {kind_name:?} (expected one of: {KINDS})")));
    };
    for key in obj.keys() {
        if !COMMON_FIELDS.contains(&key.as_str()) && !allowed.contains(&key.as_str()) {
            return Err(ctx.err(
                key,
                format!(
                    "not a field of kind {kind_name} (its fields: {}, plus {})",
                    allowed.join(", "),
                    COMMON_FIELDS.join(", ")
                ),
            ));
        }
    }
    let severity = match f.string("severity")?.as_str() {
        "info" => Severity::Info,
        "warning" => Severity::Warning,
        "critical" => Severity::Critical,
        other => {
            return Err(ctx.err("severity", format!("unknown severity {other:?} (expected info, warning or critical)")));
        }
    };
    let cooldown = f.duration("cooldown", true)?;
    let scope = parse_scope(&f)?;
    let description = match obj.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ctx.err("description", format!("expected a string, found {}", type_name(other))));
        }
    };
    let kind = match kind_name.as_str() {
        "status_entered" => RuleKind::StatusEntered { statuses: f.string_list("statuses")? },
        "status_too_long" => RuleKind::StatusTooLong {
            statuses: f.string_list("statuses")?,
            longer_than: f.duration("longer_than", false)?,
        },
        "acw_too_long" => RuleKind::AcwTooLong { longer_than: f.duration("longer_than", false)? },
        "missed_contacts" => {
            let within = f.duration("within", false)?;
            if within > MAX_MISSED_WINDOW {
                return Err(ctx.err("within", "at most 24h"));
            }
            RuleKind::MissedContacts { count: f.count("count")?, within }
        }
        "negative_sentiment" => RuleKind::NegativeSentiment(parse_sentiment(&f)?),
        "category_matched" => RuleKind::CategoryMatched { categories: f.string_list("categories")? },
        "attribute_threshold" => {
            let op = f.string("operator")?;
            let operator = Operator::parse(&op).ok_or_else(|| {
                ctx.err("operator", format!("unknown operator {op:?} (expected <, <=, >, >=, == or !=)"))
            })?;
            RuleKind::AttributeThreshold { attribute: f.string("attribute")?, operator, value: f.number("value")? }
        }
        _ => unreachable!("kind_fields accepted only the kinds matched here"),
    };
    Ok(Rule { name, severity, scope, cooldown, description, kind })
}

fn parse_sentiment(f: &Fields<'_>) -> Result<SentimentTrigger, RulesError> {
    let has = |k| f.obj.get(k).is_some_and(|v| !v.is_null());
    match (has("consecutive"), has("share_above"), has("over_last")) {
        (true, false, false) => Ok(SentimentTrigger::Consecutive(f.count("consecutive")?)),
        (false, true, true) => {
            let above = f.number("share_above")?;
            if !(0.0..1.0).contains(&above) {
                return Err(f.ctx.err("share_above", "must be at least 0 and below 1 (a share, e.g. 0.6)"));
            }
            Ok(SentimentTrigger::Share { above, over_last: f.count("over_last")? })
        }
        (false, true, false) => {
            Err(f.ctx.err("over_last", "missing: share_above needs over_last (how many recent turns)"))
        }
        (false, false, true) => {
            Err(f.ctx.err("share_above", "missing: over_last needs share_above (a share, e.g. 0.6)"))
        }
        (false, false, false) => Err(f.ctx.err(
            "consecutive",
            "missing: give either consecutive (N negative turns in a row) or share_above + over_last",
        )),
        _ => Err(f.ctx.err("consecutive", "give either consecutive or share_above + over_last, not both")),
    }
}

fn parse_scope(f: &Fields<'_>) -> Result<Scope, RulesError> {
    let obj = match f.obj.get("scope") {
        None => {
            return Err(f.ctx.err("scope", "missing (use {} for every agent and contact)"));
        }
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(f.ctx.err("scope", format!("expected an object, found {}", type_name(other))));
        }
    };
    const KEYS: [&str; 5] = ["routing_profiles", "hierarchy_groups", "queues", "agents", "channels"];
    for key in obj.keys() {
        if !KEYS.contains(&key.as_str()) {
            return Err(f
                .ctx
                .err(&format!("scope.{key}"), format!("unknown scope key (allowed: {})", KEYS.join(", "))));
        }
    }
    let list = |key: &str| -> Result<Vec<String>, RulesError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => string_list(v, &format!("scope.{key}"), f.ctx, true),
        }
    };
    Ok(Scope {
        routing_profiles: list("routing_profiles")?,
        hierarchy_groups: list("hierarchy_groups")?,
        queues: list("queues")?,
        agents: list("agents")?,
        channels: list("channels")?,
    })
}

fn string_list(v: &Value, field: &str, ctx: &RuleCtx, allow_empty: bool) -> Result<Vec<String>, RulesError> {
    let Value::Array(items) = v else {
        return Err(ctx.err(field, format!("expected a list of strings, found {}", type_name(v))));
    };
    if items.is_empty() && !allow_empty {
        return Err(ctx.err(field, "empty list: name at least one"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Value::String(_) => Err(ctx.err(&format!("{field}[{i}]"), "empty string")),
            other => Err(ctx.err(&format!("{field}[{i}]"), format!("expected a string, found {}", type_name(other)))),
        })
        .collect()
}

struct Fields<'a> {
    obj: &'a Map<String, Value>,
    ctx: &'a RuleCtx,
}

impl Fields<'_> {
    fn get(&self, field: &str) -> Result<&Value, RulesError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Err(self.ctx.err(field, "missing")),
            Some(v) => Ok(v),
        }
    }
    fn string(&self, field: &str) -> Result<String, RulesError> {
        match self.get(field)? {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Value::String(_) => Err(self.ctx.err(field, "empty string")),
            other => Err(self.ctx.err(field, format!("expected a string, found {}", type_name(other)))),
        }
    }
    fn string_list(&self, field: &str) -> Result<Vec<String>, RulesError> {
        string_list(self.get(field)?, field, self.ctx, false)
    }
    fn duration(&self, field: &str, zero_ok: bool) -> Result<TimeDelta, RulesError> {
        let d = match self.get(field)? {
            Value::String(s) => parse_duration(s).map_err(|e| self.ctx.err(field, e))?,
            other => {
                return Err(self
                    .ctx
                    .err(field, format!("expected a duration string such as \"15m\", found {}", type_name(other))));
            }
        };
        if !zero_ok && d <= TimeDelta::zero() {
            return Err(self.ctx.err(field, "must be longer than zero"));
        }
        Ok(d)
    }
    fn count(&self, field: &str) -> Result<u32, RulesError> {
        match self.get(field)?.as_u64() {
            Some(n) if (1..=u64::from(MAX_WINDOW)).contains(&n) => Ok(n as u32),
            _ => Err(self.ctx.err(field, format!("expected a whole number from 1 to {MAX_WINDOW}"))),
        }
    }
    fn number(&self, field: &str) -> Result<f64, RulesError> {
        match self.get(field)? {
            Value::Number(n) => {
                n.as_f64().filter(|x| x.is_finite()).ok_or_else(|| self.ctx.err(field, "not a finite number"))
            }
            other => Err(self.ctx.err(field, format!("expected a number, found {}", type_name(other)))),
        }
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
        let text = include_str!("../rules.example.json");
        let rules = validate(text).unwrap();
        let kinds: BTreeSet<&str> = rules.rules.iter().map(|r| r.kind.name()).collect();
        assert_eq!(kinds.len(), 7, "{kinds:?}");
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
