//! Whether an alert is still worth sending when it is about to be sent (Lambda judges against the wall clock; see
//! [`crate::config::Lateness`]). A backlog — a mapping minutes behind, or records re-driven — must not page about a
//! situation that is over.
//!
//! * Status rules (`status_entered`, `status_too_long`): only while the agent is still in that status as of the
//!   newest event of the agent in the batch, and only if that event is younger than the rule's `max_lateness`.
//! * `acw_too_long`: only while that contact is still in after-contact work as of the agent's newest event, and that
//!   event is younger than `max_lateness`.
//! * Every other kind: only if the observation itself is younger than `max_lateness`.
//!
//! A late alert is suppressed (counted: the `AlertsSuppressedLate` metric and a log line with rule and reason) or,
//! with `"late": "send_marked"`, sent marked as late.

use chrono::{DateTime, Utc};
use shared::model::AgentEvent;

use crate::engine::{Candidate, Observed};
use crate::rules::Rule;

pub const SUPPRESSED_METRIC: &str = "AlertsSuppressedLate";

/// Why an alert is late, or `None` when it is not.
pub fn late(rule: &Rule, candidate: &Candidate, newest: Option<&AgentEvent>, now: DateTime<Utc>) -> Option<String> {
    let limit = rule.max_lateness;
    let too_old = |at: DateTime<Utc>, what: &str| {
        let age = now - at;
        (age > limit).then(|| {
            format!(
                "{what} is {} old, more than max_lateness {}",
                crate::rules::human_duration(age),
                crate::rules::human_duration(limit)
            )
        })
    };
    match &candidate.observed {
        Observed::StatusEntered { status, .. } | Observed::StatusTooLong { status, .. } => {
            let Some(newest) = newest else { return too_old(candidate.at, "the observation") };
            let now_status =
                newest.current.as_ref().and_then(|s| s.agent_status.as_ref()).and_then(|s| s.name.as_deref());
            if !now_status.is_some_and(|s| crate::scope::same(s, status)) {
                return Some(format!(
                    "over: the agent's newest event shows {} instead",
                    now_status.unwrap_or("no status")
                ));
            }
            too_old(newest.event_timestamp, "the agent's newest event")
        }
        Observed::AcwTooLong { .. } => {
            let Some(newest) = newest else { return too_old(candidate.at, "the observation") };
            let contact = candidate.facts.contact.as_ref().map(|c| c.contact_id.as_str());
            let still = newest.current.as_ref().is_some_and(|s| {
                s.contacts.iter().any(|c| c.contact_id.as_deref() == contact && c.state.as_deref() == Some("ENDED"))
            });
            if !still {
                return Some(
                    "over: the contact is no longer in after-contact work in the agent's newest event".to_owned(),
                );
            }
            too_old(newest.event_timestamp, "the agent's newest event")
        }
        _ => too_old(candidate.at, "the observation"),
    }
}
