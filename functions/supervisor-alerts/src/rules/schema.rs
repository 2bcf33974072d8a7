//! The rules document as serde reads it: a rule is read three times, as [`Head`] (name and kind), [`Common`] (the
//! fields of every rule) and [`KindFields`] (the fields of some kind), each typed field refusing a bad value with the
//! message the operator sees; `serde_path_to_error` supplies the field's path (`scope.queues[1]`).
//!
//! A field is `Option` so that an absent field (or `null`) is reported as `missing` by the caller, in the order the
//! kind needs its fields; a bad value is reported at the first bad field in the document.

use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;

use chrono::TimeDelta;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{KINDS, KindSpec, MAX_NAME_LEN, MAX_WINDOW, Operator, Severity, parse_duration};
use crate::scope::Scope;

/// A field (its path within the rule) and what is wrong with it.
#[derive(Debug)]
pub(super) struct FieldError {
    field: String,
    detail: String,
}

impl FieldError {
    pub(super) fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), detail: detail.into() }
    }
    /// Names the rule: `#2 "break-too-long"` (1-based position, and its name when it has one).
    pub(super) fn in_rule(self, index: usize, name: Option<&str>) -> super::RulesError {
        let rule = match name {
            Some(n) => format!("#{} {n:?}", index + 1),
            None => format!("#{} (unnamed)", index + 1),
        };
        super::RulesError::Field { rule, field: self.field, detail: self.detail }
    }
}

/// Reads `T` from a rule object; an error names the path of the field it is about.
pub(super) fn from_rule<'a, T: Deserialize<'a>>(rule: &'a Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(rule)
        .map_err(|e| FieldError::new(e.path().to_string(), e.into_inner().to_string()))
}

/// The value of a field that must be given.
pub(super) fn required<T>(value: Option<T>, field: &str) -> Result<T, FieldError> {
    value.ok_or_else(|| FieldError::new(field, "missing"))
}

#[derive(Deserialize)]
pub(super) struct Head {
    pub name: Option<Name>,
    pub kind: Option<Kind>,
}

#[derive(Deserialize)]
pub(super) struct Common {
    pub severity: Option<Severity>,
    pub cooldown: Option<Duration>,
    /// `null` is refused rather than missing: `{}` is how a rule says "everyone".
    #[serde(default, deserialize_with = "given")]
    pub scope: Option<Scope>,
    pub description: Option<Description>,
    pub max_lateness: Option<Positive>,
    pub late: Option<super::LatePolicy>,
}

/// The fields of every kind; `KINDS[..].fields` says which a rule of a kind may have.
#[derive(Deserialize)]
pub(super) struct KindFields {
    pub statuses: Option<NonEmpty>,
    pub longer_than: Option<Positive>,
    pub count: Option<Count>,
    pub within: Option<Positive>,
    pub consecutive: Option<Count>,
    pub share_above: Option<Share>,
    pub over_last: Option<Count>,
    pub categories: Option<NonEmpty>,
    pub attribute: Option<Text>,
    pub operator: Option<Operator>,
    pub value: Option<Number>,
}

fn given<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// How messages name a JSON value: "found a number".
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A trimmed, non-empty string.
pub(super) struct Text(pub String);
/// A rule name: what may go into DynamoDB keys and SNS attributes.
pub(super) struct Name(pub String);
pub(super) struct Kind(pub &'static KindSpec);
/// Free text, kept as written.
pub(super) struct Description(pub String);
/// A duration, zero allowed.
pub(super) struct Duration(pub TimeDelta);
/// A duration longer than zero.
pub(super) struct Positive(pub TimeDelta);
/// A whole number from 1 to [`MAX_WINDOW`].
pub(super) struct Count(pub u32);
/// A finite number.
pub(super) struct Number(pub f64);
/// A share: at least 0 and below 1.
pub(super) struct Share(pub f64);

fn text(v: Value) -> Result<String, String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Value::String(_) => Err("empty string".into()),
        other => Err(format!("expected a string, found {}", type_name(&other))),
    }
}

fn duration(v: Value) -> Result<TimeDelta, String> {
    match v {
        Value::String(s) => parse_duration(&s),
        other => Err(format!("expected a duration string such as \"15m\", found {}", type_name(&other))),
    }
}

fn number(v: Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()).ok_or_else(|| "not a finite number".into()),
        other => Err(format!("expected a number, found {}", type_name(&other))),
    }
}

/// `Deserialize` for scalar field types: the JSON value, then a check that gives the message of a bad one.
macro_rules! checked {
    ($($ty:ty => $check:expr;)*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let check: fn(Value) -> Result<$ty, String> = $check;
                check(Value::deserialize(d)?).map_err(de::Error::custom)
            }
        }
    )*};
}

checked! {
    Text => |v| text(v).map(Text);
    Name => |v| {
        let name = text(v)?;
        if name.len() > MAX_NAME_LEN
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(format!("must be 1–{MAX_NAME_LEN} characters of A–Z, a–z, 0–9, '-', '_', '.'"));
        }
        Ok(Name(name))
    };
    Kind => |v| {
        let name = text(v)?;
        KINDS.iter().find(|k| k.name == name).map(Kind).ok_or_else(|| {
            let kinds: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
            format!("unknown kind {name:?} (expected one of: {})", kinds.join(", "))
        })
    };
    Severity => |v| match text(v)?.as_str() {
        "info" => Ok(Severity::Info),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        other => Err(format!("unknown severity {other:?} (expected info, warning or critical)")),
    };
    Operator => |v| {
        let op = text(v)?;
        Operator::parse(&op).ok_or_else(|| format!("unknown operator {op:?} (expected <, <=, >, >=, == or !=)"))
    };
    Description => |v| match v {
        Value::String(s) => Ok(Description(s)),
        other => Err(format!("expected a string, found {}", type_name(&other))),
    };
    Duration => |v| duration(v).map(Duration);
    Positive => |v| match duration(v)? {
        d if d > TimeDelta::zero() => Ok(Positive(d)),
        _ => Err("must be longer than zero".into()),
    };
    Count => |v| {
        v.as_u64()
            .filter(|n| (1..=u64::from(MAX_WINDOW)).contains(n))
            .map(|n| Count(n as u32))
            .ok_or_else(|| format!("expected a whole number from 1 to {MAX_WINDOW}"))
    };
    Number => |v| number(v).map(Number);
    Share => |v| match number(v)? {
        x if (0.0..1.0).contains(&x) => Ok(Share(x)),
        _ => Err("must be at least 0 and below 1 (a share, e.g. 0.6)".into()),
    };
}

/// A list or an object, read entry by entry so that an error inside names its index or key; any other JSON value
/// is refused with "`EXPECTED`, found …".
trait Container<'de>: Sized {
    const EXPECTED: &'static str;
    fn list<A: SeqAccess<'de>>(_: A) -> Result<Self, A::Error> {
        Err(found::<Self, _>("a list"))
    }
    fn object<A: MapAccess<'de>>(_: A) -> Result<Self, A::Error> {
        Err(found::<Self, _>("an object"))
    }
}

fn found<'de, T: Container<'de>, E: de::Error>(what: &str) -> E {
    E::custom(format!("{}, found {what}", T::EXPECTED))
}

struct ContainerVisitor<T>(PhantomData<T>);

impl<'de, T: Container<'de>> Visitor<'de> for ContainerVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTED)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::list(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::object(map)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        Err(found::<T, E>("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        Err(found::<T, E>("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        Err(found::<T, E>("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Err(found::<T, E>("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<T, E> {
        Err(found::<T, E>("a string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(found::<T, E>("null"))
    }
}

/// A list of names (each a [`Text`]), possibly empty.
pub(super) struct Names(pub Vec<String>);
/// A list of names with at least one.
pub(super) struct NonEmpty(pub Vec<String>);

impl<'de> Container<'de> for Names {
    const EXPECTED: &'static str = "expected a list of strings";
    fn list<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut names = Vec::new();
        while let Some(Text(name)) = seq.next_element()? {
            names.push(name);
        }
        Ok(Names(names))
    }
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContainerVisitor(PhantomData))
    }
}

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Names::deserialize(d)? {
            Names(names) if names.is_empty() => Err(de::Error::custom("empty list: name at least one")),
            Names(names) => Ok(NonEmpty(names)),
        }
    }
}

/// The keys of a scope, in the order messages list them.
const SCOPE_KEYS: [&str; 6] = ["routing_profiles", "hierarchy_groups", "queues", "agents", "channels", "instances"];

impl<'de> Container<'de> for Scope {
    const EXPECTED: &'static str = "expected an object";
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut scope = Scope::default();
        while let Some(key) = map.next_key::<String>()? {
            let Some(at) = SCOPE_KEYS.iter().position(|k| *k == key) else {
                let unknown = format!("unknown scope key (allowed: {})", SCOPE_KEYS.join(", "));
                return map.next_value_seed(Refuse(unknown)).map(|never| match never {});
            };
            let lists = [
                &mut scope.routing_profiles,
                &mut scope.hierarchy_groups,
                &mut scope.queues,
                &mut scope.agents,
                &mut scope.channels,
                &mut scope.instances,
            ];
            *lists[at] = map.next_value::<Option<Names>>()?.map(|n| n.0).unwrap_or_default();
        }
        Ok(scope)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContainerVisitor(PhantomData))
    }
}

/// Refuses a map entry's value, so that the error's path names the entry's key.
struct Refuse(String);

impl<'de> DeserializeSeed<'de> for Refuse {
    type Value = Infallible;
    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<Infallible, D::Error> {
        Err(de::Error::custom(self.0))
    }
}
