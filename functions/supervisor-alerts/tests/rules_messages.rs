//! Every message the rules validator gives, pinned word for word: one bad document per way a document can be
//! wrong, each with exactly one mistake. Operators act on these messages (at init, in `connect-replay rules check`),
//! so a change of wording, of the field path or of the rule label must be deliberate.

use supervisor_alerts::rules::validate;

/// (document, the whole message) for documents with exactly one mistake each.
const REFUSED: &[(&str, &str)] = &[
    (r##"not json"##, r##"rules document is not valid JSON: expected ident at line 1 column 2"##),
    (r##"[]"##, r##"rules document: expected a JSON object {"rules": [...]}, found a list"##),
    (r##"{}"##, r##"rules document: missing field `rules` (a list of rules)"##),
    (
        r##"{"rules":[],"rulez":1}"##,
        r##"rules document: unknown top-level field `rulez` (allowed: rules, description)"##,
    ),
    (r##"{"rules":{}}"##, r##"rules document: `rules` must be a list, found an object"##),
    (r##"{"rules":null}"##, r##"rules document: `rules` must be a list, found null"##),
    (r##"{"rules":[]}"##, r##"rules document: `rules` is empty: no alert would ever be sent"##),
    (r##"{"rules":[5]}"##, r##"rule #1 (unnamed): field `(rule)`: expected an object, found a number"##),
    (r##"{"rules":[[]]}"##, r##"rule #1 (unnamed): field `(rule)`: expected an object, found a list"##),
    (
        r##"{"rules":[{"kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 (unnamed): field `name`: missing"##,
    ),
    (
        r##"{"rules":[{"name":null,"kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 (unnamed): field `name`: missing"##,
    ),
    (
        r##"{"rules":[{"name":5,"kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 (unnamed): field `name`: expected a string, found a number"##,
    ),
    (
        r##"{"rules":[{"name":"  ","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "  ": field `name`: empty string"##,
    ),
    (
        r##"{"rules":[{"name":"has space","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "has space": field `name`: must be 1–64 characters of A–Z, a–z, 0–9, '-', '_', '.'"##,
    ),
    (
        r##"{"rules":[{"name":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx": field `name`: must be 1–64 characters of A–Z, a–z, 0–9, '-', '_', '.'"##,
    ),
    (
        r##"{"rules":[{"name":"a","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `kind`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"sla","severity":"info","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `kind`: unknown kind "sla" (expected one of: status_entered, status_too_long, acw_too_long, missed_contacts, negative_sentiment, category_matched, attribute_threshold)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":3,"severity":"info","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `kind`: expected a string, found a number"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{},"statuses":["X"]}]}"##,
        r##"rule #1 "a": field `statuses`: not a field of kind acw_too_long (its fields: longer_than, plus name, kind, severity, scope, cooldown, description, max_lateness, late)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"status_entered","severity":"info","cooldown":"0s","scope":{},"statuses":["X"],"foo":1}]}"##,
        r##"rule #1 "a": field `foo`: not a field of kind status_entered (its fields: statuses, plus name, kind, severity, scope, cooldown, description, max_lateness, late)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"loud","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `severity`: unknown severity "loud" (expected info, warning or critical)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `severity`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":true,"longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `severity`: expected a string, found a boolean"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","scope":{}}]}"##,
        r##"rule #1 "a": field `cooldown`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":5,"scope":{}}]}"##,
        r##"rule #1 "a": field `cooldown`: expected a duration string such as "15m", found a number"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"15x","scope":{}}]}"##,
        r##"rule #1 "a": field `cooldown`: invalid duration "15x": expected a whole number and a unit, e.g. "90s", "15m", "2h", "1d", at most a year"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"","scope":{}}]}"##,
        r##"rule #1 "a": field `cooldown`: empty duration: expected a whole number and a unit, e.g. "90s", "15m", "2h", "1d""##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"999d","scope":{}}]}"##,
        r##"rule #1 "a": field `cooldown`: invalid duration "999d": expected a whole number and a unit, e.g. "90s", "15m", "2h", "1d", at most a year"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"-5m","scope":{}}]}"##,
        r##"rule #1 "a": field `cooldown`: invalid duration "-5m": expected a whole number and a unit, e.g. "90s", "15m", "2h", "1d""##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s"}]}"##,
        r##"rule #1 "a": field `scope`: missing (use {} for every agent and contact)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":null}]}"##,
        r##"rule #1 "a": field `scope`: expected an object, found null"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":[]}]}"##,
        r##"rule #1 "a": field `scope`: expected an object, found a list"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{"team":["x"]}}]}"##,
        r##"rule #1 "a": field `scope.team`: unknown scope key (allowed: routing_profiles, hierarchy_groups, queues, agents, channels, instances)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{"queues":"Sales"}}]}"##,
        r##"rule #1 "a": field `scope.queues`: expected a list of strings, found a string"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{"queues":["a",3]}}]}"##,
        r##"rule #1 "a": field `scope.queues[1]`: expected a string, found a number"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{"channels":[" "]}}]}"##,
        r##"rule #1 "a": field `scope.channels[0]`: empty string"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{},"description":5}]}"##,
        r##"rule #1 "a": field `description`: expected a string, found a number"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"status_entered","severity":"info","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `statuses`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"status_entered","severity":"info","cooldown":"0s","scope":{},"statuses":[]}]}"##,
        r##"rule #1 "a": field `statuses`: empty list: name at least one"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"status_entered","severity":"info","cooldown":"0s","scope":{},"statuses":"Break"}]}"##,
        r##"rule #1 "a": field `statuses`: expected a list of strings, found a string"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"status_entered","severity":"info","cooldown":"0s","scope":{},"statuses":["x",3]}]}"##,
        r##"rule #1 "a": field `statuses[1]`: expected a string, found a number"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"status_entered","severity":"info","cooldown":"0s","scope":{},"statuses":["","x"]}]}"##,
        r##"rule #1 "a": field `statuses[0]`: empty string"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"status_entered","severity":"info","cooldown":"0s","scope":{},"statuses":null}]}"##,
        r##"rule #1 "a": field `statuses`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"status_too_long","severity":"info","cooldown":"0s","scope":{},"statuses":["Break"]}]}"##,
        r##"rule #1 "a": field `longer_than`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"status_too_long","severity":"info","cooldown":"0s","scope":{},"longer_than":"15m"}]}"##,
        r##"rule #1 "a": field `statuses`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"0s","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `longer_than`: must be longer than zero"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `longer_than`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"15x","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `longer_than`: invalid duration "15x": expected a whole number and a unit, e.g. "90s", "15m", "2h", "1d", at most a year"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":15,"cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `longer_than`: expected a duration string such as "15m", found a number"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"missed_contacts","severity":"info","cooldown":"0s","scope":{},"count":2,"within":"25h"}]}"##,
        r##"rule #1 "a": field `within`: at most 24h"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"missed_contacts","severity":"info","cooldown":"0s","scope":{},"count":2,"within":"0m"}]}"##,
        r##"rule #1 "a": field `within`: must be longer than zero"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"missed_contacts","severity":"info","cooldown":"0s","scope":{},"count":2}]}"##,
        r##"rule #1 "a": field `within`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"missed_contacts","severity":"info","cooldown":"0s","scope":{},"count":0,"within":"1h"}]}"##,
        r##"rule #1 "a": field `count`: expected a whole number from 1 to 50"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"missed_contacts","severity":"info","cooldown":"0s","scope":{},"count":51,"within":"1h"}]}"##,
        r##"rule #1 "a": field `count`: expected a whole number from 1 to 50"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"missed_contacts","severity":"info","cooldown":"0s","scope":{},"count":2.5,"within":"1h"}]}"##,
        r##"rule #1 "a": field `count`: expected a whole number from 1 to 50"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"missed_contacts","severity":"info","cooldown":"0s","scope":{},"count":"2","within":"1h"}]}"##,
        r##"rule #1 "a": field `count`: expected a whole number from 1 to 50"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"missed_contacts","severity":"info","cooldown":"0s","scope":{},"count":-1,"within":"1h"}]}"##,
        r##"rule #1 "a": field `count`: expected a whole number from 1 to 50"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"missed_contacts","severity":"info","cooldown":"0s","scope":{},"within":"1h"}]}"##,
        r##"rule #1 "a": field `count`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"negative_sentiment","severity":"info","cooldown":"0s","scope":{},"consecutive":0}]}"##,
        r##"rule #1 "a": field `consecutive`: expected a whole number from 1 to 50"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"negative_sentiment","severity":"info","cooldown":"0s","scope":{},"consecutive":3,"share_above":0.5,"over_last":6}]}"##,
        r##"rule #1 "a": field `consecutive`: give either consecutive or share_above + over_last, not both"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"negative_sentiment","severity":"info","cooldown":"0s","scope":{},"consecutive":3,"share_above":0.5}]}"##,
        r##"rule #1 "a": field `consecutive`: give either consecutive or share_above + over_last, not both"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"negative_sentiment","severity":"info","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `consecutive`: missing: give either consecutive (N negative turns in a row) or share_above + over_last"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"negative_sentiment","severity":"info","cooldown":"0s","scope":{},"share_above":0.5}]}"##,
        r##"rule #1 "a": field `over_last`: missing: share_above needs over_last (how many recent turns)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"negative_sentiment","severity":"info","cooldown":"0s","scope":{},"over_last":5}]}"##,
        r##"rule #1 "a": field `share_above`: missing: over_last needs share_above (a share, e.g. 0.6)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"negative_sentiment","severity":"info","cooldown":"0s","scope":{},"share_above":1.5,"over_last":5}]}"##,
        r##"rule #1 "a": field `share_above`: must be at least 0 and below 1 (a share, e.g. 0.6)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"negative_sentiment","severity":"info","cooldown":"0s","scope":{},"share_above":-0.1,"over_last":5}]}"##,
        r##"rule #1 "a": field `share_above`: must be at least 0 and below 1 (a share, e.g. 0.6)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"negative_sentiment","severity":"info","cooldown":"0s","scope":{},"share_above":"x","over_last":5}]}"##,
        r##"rule #1 "a": field `share_above`: expected a number, found a string"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"negative_sentiment","severity":"info","cooldown":"0s","scope":{},"share_above":0.5,"over_last":51}]}"##,
        r##"rule #1 "a": field `over_last`: expected a whole number from 1 to 50"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"category_matched","severity":"info","cooldown":"0s","scope":{},"categories":[]}]}"##,
        r##"rule #1 "a": field `categories`: empty list: name at least one"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"category_matched","severity":"info","cooldown":"0s","scope":{},"categories":["x",3]}]}"##,
        r##"rule #1 "a": field `categories[1]`: expected a string, found a number"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"category_matched","severity":"info","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 "a": field `categories`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"category_matched","severity":"info","cooldown":"0s","scope":{},"categories":{}}]}"##,
        r##"rule #1 "a": field `categories`: expected a list of strings, found an object"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"attribute_threshold","severity":"info","cooldown":"0s","scope":{},"attribute":"csat","operator":"=<","value":2}]}"##,
        r##"rule #1 "a": field `operator`: unknown operator "=<" (expected <, <=, >, >=, == or !=)"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"attribute_threshold","severity":"info","cooldown":"0s","scope":{},"attribute":"csat","value":2}]}"##,
        r##"rule #1 "a": field `operator`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"attribute_threshold","severity":"info","cooldown":"0s","scope":{},"attribute":"csat","operator":1,"value":2}]}"##,
        r##"rule #1 "a": field `operator`: expected a string, found a number"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"attribute_threshold","severity":"info","cooldown":"0s","scope":{},"operator":"<=","value":2}]}"##,
        r##"rule #1 "a": field `attribute`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"attribute_threshold","severity":"info","cooldown":"0s","scope":{},"attribute":"","operator":"<=","value":2}]}"##,
        r##"rule #1 "a": field `attribute`: empty string"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"attribute_threshold","severity":"info","cooldown":"0s","scope":{},"attribute":"csat","operator":"<=","value":"2"}]}"##,
        r##"rule #1 "a": field `value`: expected a number, found a string"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"attribute_threshold","severity":"info","cooldown":"0s","scope":{},"attribute":"csat","operator":"<="}]}"##,
        r##"rule #1 "a": field `value`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"attribute_threshold","severity":"info","cooldown":"0s","scope":{},"attribute":"csat","operator":"<=","value":null}]}"##,
        r##"rule #1 "a": field `value`: missing"##,
    ),
    (
        r##"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}},{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #2 "a": field `name`: duplicate rule name: names must be unique"##,
    ),
    (
        r##"{"rules":[{"name":"ok","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{}},{"name":"bad","kind":"acw_too_long","severity":"info","longer_than":"0s","cooldown":"0s","scope":{}}]}"##,
        r##"rule #2 "bad": field `longer_than`: must be longer than zero"##,
    ),
    (
        r##"{"rules":[{"name":" a ","kind":"acw_too_long","severity":"loud","longer_than":"5m","cooldown":"0s","scope":{}}]}"##,
        r##"rule #1 " a ": field `severity`: unknown severity "loud" (expected info, warning or critical)"##,
    ),
];

#[test]
fn every_refused_document_gets_its_exact_message() {
    let mut wrong = Vec::new();
    for (document, expected) in REFUSED {
        match validate(document) {
            Ok(_) => wrong.push(format!("accepted: {document}")),
            Err(e) if e.to_string() != *expected => {
                wrong.push(format!("{document}\n  expected: {expected}\n  got:      {e}"))
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{} of {} messages changed:\n{}", wrong.len(), REFUSED.len(), wrong.join("\n"));
}

#[test]
fn optional_and_empty_scope_lists_and_a_free_top_level_description_are_accepted() {
    for document in [
        r#"{"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{"queues":[],"channels":null}}]}"#,
        r#"{"description":5,"rules":[{"name":"a","kind":"acw_too_long","severity":"info","longer_than":"5m","cooldown":"0s","scope":{},"description":null}]}"#,
        r#"{"rules":[{"name":" a ","kind":" acw_too_long ","severity":" info ","longer_than":" 5m ","cooldown":"0s","scope":{"queues":[" Sales "]}}]}"#,
    ] {
        let rules = validate(document).unwrap_or_else(|e| panic!("{document}: {e}"));
        assert_eq!(rules.rules[0].name, "a");
    }
}
