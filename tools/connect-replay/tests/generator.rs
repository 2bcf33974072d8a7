//! The synthetic day is realistic and reproducible.

use std::collections::{BTreeMap, BTreeSet};

use connect_replay::generate::{DayConfig, DayGenerator, GenRecord, Stream};
use shared::model::{AgentEventType, ConnectRecord};

fn day(seed: u64, agents: usize) -> (Vec<GenRecord>, connect_replay::generate::Truth) {
    let mut generator = DayGenerator::new(DayConfig { seed, agents, ..DayConfig::default() });
    let records: Vec<GenRecord> = generator.by_ref().collect();
    (records, generator.truth().clone())
}

#[test]
fn the_same_seed_gives_the_same_day_and_another_seed_another() {
    let (a, _) = day(7, 8);
    let (b, _) = day(7, 8);
    let (c, _) = day(8, 8);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn every_contact_ends_with_a_contact_record_and_republished_versions_are_newer() {
    let (records, truth) = day(3, 20);
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.stream == Stream::ContactRecords) {
        if let Ok(ConnectRecord::Contact(c)) = shared::classify(&r.data) {
            versions.entry(c.contact_id.clone()).or_default().push(c.version_key().unwrap());
        }
    }
    assert_eq!(versions.len(), truth.contacts, "one contact record per contact");
    assert!(truth.republished > 0);
    for (id, v) in &versions {
        assert!(v.windows(2).all(|w| w[0] <= w[1]), "{id}: versions published in order");
    }
    let published: BTreeSet<(String, String)> = truth.ctr_versions.clone();
    assert_eq!(published.len(), truth.contacts + truth.republished);
}

#[test]
fn agents_log_in_first_heartbeat_every_two_minutes_and_end_logged_out() {
    let (records, truth) = day(5, 12);
    let mut per_agent: BTreeMap<String, Vec<(chrono::DateTime<chrono::Utc>, AgentEventType, String)>> = BTreeMap::new();
    let mut invalid = 0;
    for r in records.iter().filter(|r| r.stream == Stream::AgentEvents) {
        match shared::classify(&r.data) {
            Ok(ConnectRecord::Agent(e)) => {
                let activity = e.current.as_ref().map(|s| s.activity().label()).unwrap_or_default();
                per_agent.entry(e.agent_arn.clone()).or_default().push((
                    e.event_timestamp,
                    e.event_type.clone(),
                    activity,
                ));
            }
            _ => invalid += 1,
        }
    }
    assert!(invalid <= truth.invalid);
    assert_eq!(per_agent.len(), 12);
    for (agent, mut events) in per_agent {
        events.sort_by_key(|e| e.0);
        events.dedup();
        assert_eq!(events[0].1, AgentEventType::Login, "{agent} starts with LOGIN");
        let logout = events.iter().position(|e| e.1 == AgentEventType::Logout).expect("a LOGOUT");
        assert!(events[logout + 1..].iter().all(|e| e.1 == AgentEventType::HeartBeat), "only heartbeats after logout");
        assert_eq!(events[logout].2, "OFFLINE");
        for w in events.windows(2) {
            let gap = (w[1].0 - w[0].0).num_seconds();
            if w[1].1 == AgentEventType::HeartBeat {
                assert!(gap >= 120, "{agent}: heartbeat only after 120 s of silence, got {gap}");
            }
            if w[0].0 < events[logout].0 {
                assert!(gap <= 121, "{agent}: no silence over two minutes while logged in, got {gap}");
            }
        }
        let activities: BTreeSet<&str> = events.iter().map(|e| e.2.as_str()).collect();
        assert!(
            activities.contains("ON_CONTACT") && activities.contains("AFTER_CONTACT_WORK"),
            "{agent}: {activities:?}"
        );
    }
}

#[test]
fn the_day_contains_the_trouble_the_rules_look_for() {
    let (records, truth) = day(42, 50);
    assert!(records.len() > 20_000);
    assert!(!truth.long_breaks.is_empty());
    assert!(!truth.long_acw.is_empty());
    assert!(!truth.angry_contacts.is_empty());
    assert!(!truth.escalation_contacts.is_empty());
    assert!(truth.missed_contacts > 0);
    assert!(truth.duplicates > 0 && truth.delayed > 0 && truth.invalid > 0);
    let invalid = records.iter().filter(|r| shared::classify(&r.data).is_err()).count();
    assert_eq!(invalid, truth.invalid, "every invalid record is one the day meant");
    assert_eq!(records.len(), truth.total());
}

#[test]
fn the_truth_of_two_days_added_up_sums_the_counts_and_joins_the_lists() {
    let (_, a) = day(3, 6);
    let (_, b) = day(4, 6);
    let mut sum = a.clone();
    sum += &b;
    assert_eq!(sum.total(), a.total() + b.total());
    for stream in Stream::ALL {
        let n = |t: &connect_replay::generate::Truth| t.records.get(&stream).copied().unwrap_or(0);
        assert_eq!(n(&sum), n(&a) + n(&b));
    }
    assert_eq!(
        (sum.contacts, sum.missed_contacts, sum.republished, sum.duplicates, sum.delayed, sum.invalid),
        (
            a.contacts + b.contacts,
            a.missed_contacts + b.missed_contacts,
            a.republished + b.republished,
            a.duplicates + b.duplicates,
            a.delayed + b.delayed,
            a.invalid + b.invalid
        )
    );
    assert_eq!(sum.ctr_versions, a.ctr_versions.union(&b.ctr_versions).cloned().collect::<BTreeSet<_>>());
    assert_eq!(sum.angry_contacts, a.angry_contacts.union(&b.angry_contacts).cloned().collect::<BTreeSet<_>>());
    assert_eq!(
        sum.escalation_contacts,
        a.escalation_contacts.union(&b.escalation_contacts).cloned().collect::<BTreeSet<_>>()
    );
    assert_eq!(sum.long_breaks, [a.long_breaks.clone(), b.long_breaks.clone()].concat());
    assert_eq!(sum.long_acw, [a.long_acw.clone(), b.long_acw.clone()].concat());
    assert_eq!(sum.agents, [a.agents.clone(), b.agents.clone()].concat());
}
