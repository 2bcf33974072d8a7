//! Exactly-once delivery of alert candidates: claim in the table, publish through SNS, confirm.
//!
//! For each candidate, in order:
//! 1. read its claim: SENT → a duplicate (a replay, a redelivery, a heartbeat re-observing the same episode): done.
//!    Alerts this warm process already knows SENT are not read again (a bounded memory, [`AlertTable::known_sent`]);
//! 2. the rule's cooldown gate (a conditional write per rule and agent, in event time): closed → suppressed;
//! 3. claim it: a new claim with `Condition::NotExists`, or take over a RETRYABLE claim or a PENDING one whose
//!    lease has expired (conditional on the token read). A live lease held by another delivery → retry later;
//! 4. publish the claimed alerts with `PublishBatch` (≤ 10 per call, one result per entry);
//! 5. per entry: accepted → confirm SENT; a definite failure (SNS refused the entry, or the call was refused with a
//!    4xx) → mark RETRYABLE and report the record for retry; an ambiguous failure (timeout, connection lost, 5xx)
//!    → the claim stays PENDING with its lease ended, and the redelivery takes over. In that narrow case SNS may
//!    have accepted the first message, so the alert is delivered at least once (possibly twice). The same holds if
//!    SNS accepted a message but the SENT confirmation cannot be written (retried here three times first).

use chrono::TimeDelta;
use shared::ports::{ItemStore, MAX_PUBLISH_BATCH, Message, PortError, Publisher, WriteOutcome};
use tracing::{debug, info, warn};

use crate::alert::render;
use crate::engine::Candidate;
use crate::rules::Rules;
use crate::state::{AlertTable, Claim, Lease};

/// Metric names this function adds to the shared batch metrics.
pub mod metric {
    pub const ALERTS_SENT: &str = "AlertsSent";
    pub const ALERTS_DUPLICATE: &str = "AlertsDuplicate";
    pub const ALERTS_SUPPRESSED: &str = "AlertsSuppressed";
    pub const ALERTS_FAILED: &str = "AlertsFailed";
}

/// Wall-clock time for leases and TTLs (rules themselves run on event time): shared's one clock seam.
pub use shared::clock::{Clock, SystemClock};

/// What became of one record's candidates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: usize,
    pub duplicates: usize,
    pub suppressed: usize,
    /// The first failure, if any (transient failures win over permanent ones: a retry may fix them).
    pub error: Option<PortError>,
}

impl Delivered {
    fn fail(&mut self, e: PortError) {
        match &self.error {
            Some(held) if held.is_transient() || !e.is_transient() => {}
            _ => self.error = Some(e),
        }
    }
}

enum Prepared {
    Duplicate,
    Suppressed,
    Claimed(Lease),
}

#[derive(Debug, Clone)]
pub struct Deliverer<P, C> {
    publisher: P,
    clock: C,
    lease: TimeDelta,
    chat: crate::config::ChatFormat,
}

/// A failure that certainly published nothing: SNS refused the request itself (a 4xx, e.g. throttling or a bad
/// parameter), or the error is permanent. Everything else (timeouts, connection failures, 5xx) is ambiguous.
pub fn is_definite(e: &PortError) -> bool {
    e.is_definite()
}

impl<P: Publisher, C: Clock> Deliverer<P, C> {
    pub fn new(publisher: P, clock: C, lease: TimeDelta) -> Self {
        Self { publisher, clock, lease, chat: crate::config::ChatFormat::None }
    }

    /// The same, with chat subscribers getting `chat`'s format ([`crate::config::ChatFormat`]).
    pub fn with_chat(mut self, chat: crate::config::ChatFormat) -> Self {
        self.chat = chat;
        self
    }

    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Delivers one record's candidates. Alerts that were sent stay sent even when another one of the record fails.
    pub async fn deliver<S: ItemStore>(
        &self,
        table: &AlertTable<S>,
        rules: &Rules,
        candidates: Vec<Candidate>,
    ) -> Delivered {
        let mut done = Delivered::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut claimed: Vec<(Candidate, Lease)> = Vec::new();
        for c in candidates {
            if !seen.insert(c.key.clone()) {
                continue;
            }
            match self.prepare(table, rules, &c).await {
                Ok(Prepared::Duplicate) => {
                    debug!(rule = c.rule(), alert_id = %c.key.id(), "alert already sent");
                    done.duplicates += 1;
                }
                Ok(Prepared::Suppressed) => {
                    debug!(rule = c.rule(), alert_id = %c.key.id(), "alert suppressed by the rule's cooldown");
                    done.suppressed += 1;
                }
                Ok(Prepared::Claimed(lease)) => claimed.push((c, lease)),
                Err(e) => {
                    warn!(rule = c.rule(), alert_id = %c.key.id(), error = %e, "alert could not be claimed");
                    done.fail(e);
                }
            }
        }
        for chunk in claimed.chunks(MAX_PUBLISH_BATCH) {
            self.publish(table, rules, chunk, &mut done).await;
        }
        metrics::counter!(metric::ALERTS_SENT).increment(done.sent as u64);
        metrics::counter!(metric::ALERTS_DUPLICATE).increment(done.duplicates as u64);
        metrics::counter!(metric::ALERTS_SUPPRESSED).increment(done.suppressed as u64);
        done
    }

    async fn prepare<S: ItemStore>(
        &self,
        table: &AlertTable<S>,
        rules: &Rules,
        c: &Candidate,
    ) -> Result<Prepared, PortError> {
        if table.known_sent(&c.key) {
            return Ok(Prepared::Duplicate);
        }
        let existing = table.claim(&c.key).await?;
        if existing == Some(Claim::Sent) {
            return Ok(Prepared::Duplicate);
        }
        let rule = rules.get(c.rule()).ok_or_else(|| PortError::permanent("rules", format!("no rule {}", c.rule())))?;
        let now = self.clock.now();
        if rule.cooldown > TimeDelta::zero()
            && !table.cooldown_gate(c.rule(), &c.cooldown_subject(), &c.key.id(), c.at, rule.cooldown, now).await?
        {
            return Ok(Prepared::Suppressed);
        }
        let lease = Lease::new(now + self.lease);
        let outcome = match existing {
            None => table.claim_new(&c.key, &lease, now).await?,
            Some(Claim::Pending { lease_until, .. }) if lease_until > now => {
                return Err(PortError::transient(
                    "alert-state",
                    format!(
                        "alert {} is being delivered by another invocation (lease until {lease_until})",
                        c.key.id()
                    ),
                ));
            }
            Some(Claim::Pending { token, .. } | Claim::Retryable { token }) => {
                debug!(alert_id = %c.key.id(), "taking over an unfinished alert delivery");
                table.take_over(&c.key, &token, &lease, now).await?
            }
            Some(Claim::Sent) => return Ok(Prepared::Duplicate),
        };
        match outcome {
            WriteOutcome::Applied => Ok(Prepared::Claimed(lease)),
            WriteOutcome::ConditionFailed => {
                Err(PortError::transient("alert-state", format!("alert {} was claimed concurrently", c.key.id())))
            }
        }
    }

    async fn publish<S: ItemStore>(
        &self,
        table: &AlertTable<S>,
        rules: &Rules,
        chunk: &[(Candidate, Lease)],
        done: &mut Delivered,
    ) {
        let messages: Vec<Message> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, (c, _))| {
                let rule = rules.get(c.rule())?;
                let rendered = render(rule, c);
                let (body, per_protocol) = match self.chat {
                    crate::config::ChatFormat::None => (rendered.body, false),
                    crate::config::ChatFormat::Chatbot => {
                        (crate::alert::per_protocol(&rendered.body, &crate::alert::chatbot(rule, c)), true)
                    }
                };
                Some(Message {
                    id: format!("a{i}"),
                    subject: rendered.subject,
                    body,
                    attributes: rendered.attributes,
                    per_protocol,
                })
            })
            .collect();
        let results = match self.publisher.publish_batch(&messages).await {
            Ok(results) if results.len() == chunk.len() => results,
            Ok(results) => {
                let e = PortError::transient("sns", format!("{} results for {} entries", results.len(), chunk.len()));
                vec![Err(e); chunk.len()]
            }
            Err(e) => {
                // The whole call failed: if the request was refused, nothing was published; otherwise unknown.
                let definite = is_definite(&e);
                for (c, lease) in chunk {
                    self.failed(table, c, lease, &e, definite, done).await;
                }
                return;
            }
        };
        for ((c, lease), result) in chunk.iter().zip(results) {
            match result {
                Ok(()) => self.confirm(table, c, lease, done).await,
                // SNS answered for this entry: it was not published.
                Err(e) => self.failed(table, c, lease, &e, true, done).await,
            }
        }
    }

    async fn confirm<S: ItemStore>(&self, table: &AlertTable<S>, c: &Candidate, lease: &Lease, done: &mut Delivered) {
        let mut last = None;
        for attempt in 0..3u32 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            match table.confirm_sent(&c.key, lease, self.clock.now()).await {
                Ok(WriteOutcome::Applied) => {
                    done.sent += 1;
                    info!(
                        rule = c.rule(),
                        alert_id = %c.key.id(),
                        agent_id = c.facts.agent.as_ref().map(|a| a.agent_id.as_str()),
                        contact_id = c.facts.contact.as_ref().map(|c| c.contact_id.as_str()),
                        "alert sent"
                    );
                    return;
                }
                Ok(WriteOutcome::ConditionFailed) => {
                    // Another delivery took the claim over while SNS was answering: both published.
                    warn!(alert_id = %c.key.id(), "alert claim was taken over during publish; it may have been sent twice");
                    done.sent += 1;
                    return;
                }
                Err(e) => last = Some(e),
            }
        }
        let e = last.unwrap_or_else(|| PortError::transient("alert-state", "confirm failed"));
        warn!(alert_id = %c.key.id(), error = %e, "alert published but not confirmed; a redelivery may send it again");
        metrics::counter!(metric::ALERTS_FAILED).increment(1);
        done.fail(PortError::transient(
            "alert-state",
            format!("alert {} published but not confirmed: {e}", c.key.id()),
        ));
    }

    async fn failed<S: ItemStore>(
        &self,
        table: &AlertTable<S>,
        c: &Candidate,
        lease: &Lease,
        e: &PortError,
        definite: bool,
        done: &mut Delivered,
    ) {
        warn!(rule = c.rule(), alert_id = %c.key.id(), error = %e, definite, "alert publish failed");
        metrics::counter!(metric::ALERTS_FAILED).increment(1);
        let released = if definite {
            table.mark_retryable(&c.key, lease, e).await
        } else {
            table.end_lease(&c.key, lease, e, self.clock.now()).await
        };
        if let Err(release_error) = released {
            // The lease then runs out by itself and a later delivery takes over.
            warn!(alert_id = %c.key.id(), error = %release_error, "could not release the alert claim");
        }
        // A definite per-entry refusal of our own message (SNS sender fault) can never succeed: poison; the rest retry.
        done.fail(e.clone());
    }
}
