//! Properties over generated agent days (login, status changes, voice and chat contacts with hold, ACW and misses,
//! enqueued statuses, configuration changes, heartbeats, logout, heartbeats after logout, login again…).

mod common;

use std::collections::BTreeMap;

use agent_state::config::Settings;
use agent_state::state::{self, Part, Update};
use common::generator::AgentSim;
use common::*;
use proptest::prelude::*;
use serde_json::Value;
use shared::adapters::memory::MemoryItemStore;
use shared::model::{AgentEvent, ConnectRecord};
use shared::ports::Item;

/// The in-order fold: every distinct event applied on its own, in timestamp order, to an empty table.
async fn in_order_fold(events: &[Vec<u8>]) -> MemoryItemStore {
    let store = memory_store();
    run_each(&handler(store.clone()), events).await;
    store
}

/// Inserts copies of some events later in the stream, as Connect's at-least-once publishing does.
fn with_duplicates(events: &[Vec<u8>], picks: &[u8]) -> Vec<Vec<u8>> {
    let mut stream = events.to_vec();
    for &p in picks {
        let from = usize::from(p) % stream.len();
        let to = (from + 1 + usize::from(p / 16) % 5).min(stream.len());
        let copy = stream[from].clone();
        stream.insert(to, copy);
    }
    stream
}

/// Delivers the stream as Lambda does: batches of varying size, and now and then a redelivery restarting inside
/// the previous batch (what a reported failure causes). Every batch starts at or before the first record not yet
/// processed, never after it.
async fn deliver<S: shared::ports::ItemStore>(h: &agent_state::AgentState<S>, stream: &[Vec<u8>], plan: &[u8]) {
    let mut pos = 0;
    let mut k = 0;
    while pos < stream.len() {
        let c = usize::from(plan[k % plan.len()]);
        k += 1;
        let end = (pos + 1 + c % 12).min(stream.len());
        let report = run(h, &batch(&stream[pos..end])).await;
        assert_eq!(report.failed, 0);
        pos = if c.is_multiple_of(4) && k < 200 { pos + (c / 4) % (end - pos) } else { end };
    }
}

fn current(store: &MemoryItemStore, arn: &str) -> Option<Item> {
    store.all().into_iter().find(|i| {
        i.get("pk").and_then(Value::as_str) == Some(arn) && i.get("sk").and_then(Value::as_str) == Some("CURRENT")
    })
}

fn history(store: &MemoryItemStore) -> BTreeMap<String, Item> {
    store
        .all()
        .into_iter()
        .filter_map(|i| {
            i.get("sk")
                .and_then(Value::as_str)
                .filter(|sk| sk.starts_with("HIST#"))
                .map(str::to_owned)
                .map(|sk| (sk, i.clone()))
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().build().expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any duplication, batching and redelivery of an agent's events — also by two invocations at once on
    /// overlapping batches — leaves exactly the in-order fold in the current item (TTLs count from event time,
    /// so the comparison is exact), and every history item the in-order fold records.
    #[test]
    fn any_batching_duplication_and_redelivery_ends_in_the_in_order_fold(
        choices in prop::collection::vec(any::<u8>(), 5..80),
        duplicates in prop::collection::vec(any::<u8>(), 0..12),
        plan in prop::collection::vec(any::<u8>(), 1..24),
        concurrent_plan in prop::option::of(prop::collection::vec(any::<u8>(), 1..24)),
    ) {
        let mut sim = AgentSim::new(3);
        let events = sim.day(&choices);
        let stream = with_duplicates(&events, &duplicates);
        runtime().block_on(async {
            let expected = in_order_fold(&events).await;
            let store = memory_store();
            let a = handler(interleaving(store.clone()));
            match &concurrent_plan {
                None => deliver(&a, &stream, &plan).await,
                Some(other) => {
                    let b = handler(interleaving(store.clone()));
                    tokio::join!(deliver(&a, &stream, &plan), deliver(&b, &stream, other));
                }
            }
            prop_assert_eq!(current(&store, sim.arn()), current(&expected, sim.arn()));
            let written = history(&store);
            for (sk, item) in history(&expected) {
                prop_assert_eq!(written.get(&sk), Some(&item), "history item {}", sk);
            }
            Ok(())
        })?;
    }

    /// Connect does not promise order. Whatever order the events arrive in, the snapshot part of the item (status,
    /// contacts, activity, configuration, index keys, newest event) and the logged-in flag equal the in-order fold.
    /// Only attributes kept from events that lost the race may lag: login/logout times, the last heartbeat, and the
    /// activity start time when no applied event re-established it.
    #[test]
    fn any_arrival_order_keeps_the_snapshot_and_the_logged_in_flag_of_the_in_order_fold(
        choices in prop::collection::vec(any::<u8>(), 5..60),
        duplicates in prop::collection::vec(any::<u8>(), 0..8),
        shuffle in prop::collection::vec(any::<u32>(), 1..64),
        plan in prop::collection::vec(any::<u8>(), 1..24),
    ) {
        let mut sim = AgentSim::new(4);
        let events = sim.day(&choices);
        let mut stream: Vec<(u32, Vec<u8>)> = with_duplicates(&events, &duplicates)
            .into_iter()
            .enumerate()
            .map(|(i, e)| (shuffle[i % shuffle.len()].rotate_left(i as u32), e))
            .collect();
        stream.sort_by_key(|(k, _)| *k);
        let stream: Vec<Vec<u8>> = stream.into_iter().map(|(_, e)| e).collect();
        runtime().block_on(async {
            let expected = in_order_fold(&events).await;
            let store = memory_store();
            deliver(&handler(store.clone()), &stream, &plan).await;
            const MAY_LAG: [&str; 5] = ["login_at", "logout_at", "last_heartbeat_at", "activity_start", "gsi3sk"];
            let strip = |item: Option<Item>| item.map(|mut i| { for a in MAY_LAG { i.remove(a); } i });
            prop_assert_eq!(strip(current(&store, sim.arn())), strip(current(&expected, sim.arn())));
            Ok(())
        })?;
    }
}

/// The generated day as typed events, some stripped of their configuration or their whole snapshot (so every
/// part of an update is sometimes absent), sorted in event order.
fn typed_events(events: &[Vec<u8>], strip: &[u8]) -> Vec<AgentEvent> {
    let mut typed: Vec<AgentEvent> = events
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let ConnectRecord::Agent(event) = shared::classify::classify(data).expect("generated events are valid")
            else {
                panic!("the generator makes agent events")
            };
            let mut event = *event;
            match strip.get(i).map(|b| b % 8) {
                Some(0) => event.current = None,
                Some(1) => {
                    if let Some(current) = event.current.as_mut() {
                        current.configuration = None;
                    }
                }
                _ => {}
            }
            event
        })
        .collect();
    typed.sort_by_key(AgentEvent::order_key);
    typed
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The write path's fold (newest first, skipping the parts newer events decide) is exactly the composition of
    /// every event's full update, and each part of an update touches only the attributes it lists.
    #[test]
    fn the_lazy_fold_equals_composing_every_events_update(
        choices in prop::collection::vec(any::<u8>(), 1..80),
        strip in prop::collection::vec(any::<u8>(), 0..80),
        from in any::<prop::sample::Index>(),
    ) {
        let settings = Settings::default();
        let mut sim = AgentSim::new(5);
        let events = typed_events(&sim.day(&choices), &strip);
        let events = &events[if events.is_empty() { 0 } else { from.index(events.len()) }..];
        for event in events {
            for part in Part::ALL {
                let mut u = Update::default();
                part.apply(&mut u, event, &settings);
                let touched: Vec<String> = u.set.keys().cloned().chain(u.remove.iter().map(|n| n.to_string())).collect();
                for name in touched {
                    prop_assert!(part.attributes().iter().any(|a| *a == name), "{:?} touched {}", part, name);
                }
            }
        }
        let full: Vec<Update> = events.iter().map(|e| state::effect(e, &settings)).collect();
        prop_assert_eq!(state::fold(events.iter(), &settings), Update::compose(full.iter()));
    }
}

#[test]
fn the_generator_produces_every_event_type_and_activity() {
    let mut sim = AgentSim::new(1);
    let choices: Vec<u8> = (0..400u32).map(|i| ((i * 97 + 13) % 256) as u8).collect();
    let events = sim.day(&choices);
    let text: Vec<String> = events.iter().map(|e| String::from_utf8_lossy(e).into_owned()).collect();
    for needle in [
        "\"LOGIN\"",
        "\"LOGOUT\"",
        "\"HEART_BEAT\"",
        "\"STATE_CHANGE\"",
        "CONNECTED_ONHOLD",
        "\"ENDED\"",
        "\"MISSED\"",
        "\"CHAT\"",
        "EnqueuedTimestamp",
        "\"Break\"",
    ] {
        assert!(text.iter().any(|t| t.contains(needle)), "no event with {needle}");
    }
}
