//! What the checks need to know and the stores alone cannot tell: a clock the simulator advances, which messages
//! the publisher really accepted, which publish calls failed ambiguously, which SENT confirmations failed. The last three are
//! [`Hook`]s of shared's port interceptor.

use std::collections::BTreeMap;

use std::sync::{Arc, Mutex};

use shared::adapters::intercept::{Answer, Call, Hook};
use shared::ports::{Message, PortError};

/// The alert id a published message carries in its body.
pub fn alert_id(message: &Message) -> Option<String> {
    let body: serde_json::Value = serde_json::from_str(&message.body).ok()?;
    body["alertId"].as_str().map(str::to_owned)
}

/// Inside the fault wrapper: records every message the real publisher accepted (what subscribers received).
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    log: Arc<Mutex<Vec<Message>>>,
}

impl Accepted {
    pub fn messages(&self) -> Vec<Message> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Hook for Accepted {
    fn after(&self, call: &Call<'_>, result: Result<Answer<'_>, &PortError>) {
        if let (Call::Publish { messages }, Ok(Answer::Entries(results))) = (call, result) {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            log.extend(messages.iter().zip(results).filter(|(_, r)| r.is_ok()).map(|(m, _)| m.clone()));
        }
    }
}

/// Outside the fault wrapper: which alerts were in a publish call that failed ambiguously (the function could not
/// know whether SNS took them), and how often.
#[derive(Debug, Clone, Default)]
pub struct Ambiguity {
    log: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Ambiguity {
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Hook for Ambiguity {
    fn after(&self, call: &Call<'_>, result: Result<Answer<'_>, &PortError>) {
        if let (Call::Publish { messages }, Err(e)) = (call, result)
            && !e.is_definite()
        {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            for id in messages.iter().filter_map(alert_id) {
                *log.entry(id).or_default() += 1;
            }
        }
    }
}

/// Outside the fault wrapper of the alert table: alerts whose SENT confirmation (the write after SNS took the
/// message) failed, and how often. The function tries three times; when all three fail the claim stays pending and
/// a later delivery publishes again — the second at-least-once case `supervisor_alerts::delivery` documents.
#[derive(Debug, Clone, Default)]
pub struct ConfirmWatch {
    log: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl ConfirmWatch {
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The alert id of a claim item's key (`alert#<rule>#<subject>`, episode or `-`), as `AlertKey::id` spells it.
fn claim_id(pk: &str, sk: &str) -> Option<String> {
    let (rule, subject) = pk.strip_prefix("alert#")?.split_once('#')?;
    Some(format!("{rule}/{subject}/{}", if sk == "-" { "" } else { sk }))
}

impl Hook for ConfirmWatch {
    fn after(&self, call: &Call<'_>, result: Result<Answer<'_>, &PortError>) {
        if let Call::UpdateItem { pk, sk, set, .. } = call
            && set.get("status").and_then(|v| v.as_str()) == Some(supervisor_alerts::state::STATUS_SENT)
            && result.is_err()
            && let Some(id) = claim_id(pk, sk)
        {
            *self.log.lock().unwrap_or_else(|p| p.into_inner()).entry(id).or_default() += 1;
        }
    }
}
