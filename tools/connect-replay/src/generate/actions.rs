//! What each scheduled action of an agent does: one method per [`Action`], called from `step` in time order.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::json;

use super::agents::*;
use super::*;

impl DayGenerator {
    pub(super) fn step(&mut self, a: usize, at: DateTime<Utc>, action: Action) {
        match action {
            Action::Login => self.login(a, at),
            Action::Logout => self.logout(a, at),
            Action::Heartbeat => self.heartbeat(a, at),
            Action::StartBreak { minutes } => self.start_break(a, at, minutes),
            Action::EndBreak => self.end_break(a, at),
            Action::ContactArrives => self.contact_arrives(a, at),
            Action::Miss(c) => self.miss(a, c, at),
            Action::ClearMissed(c) => self.clear_missed(a, c, at),
            Action::Connect(c) => self.connect(a, c, at),
            Action::Hold(c) => self.hold(a, c, at),
            Action::Resume(c) => self.resume(a, c, at),
            Action::End(c) => self.end_contact(a, c, at),
            Action::AcwDone(c) => self.acw_done(a, c, at),
            Action::Republish(c) => self.republish(a, c, at),
            Action::SegmentTick(c) => self.segment_tick(a, c, at),
        }
    }

    fn login(&mut self, a: usize, at: DateTime<Utc>) {
        self.agents[a].logged_in = true;
        self.agents[a].status = ("Available", "ROUTABLE", at);
        self.agent_event(a, "LOGIN", at);
        let d = secs(&mut self.rng, 30, 300);
        self.schedule(a, at + d, Action::ContactArrives);
        self.schedule(a, at + Duration::seconds(HEARTBEAT_SECS), Action::Heartbeat);
    }

    fn logout(&mut self, a: usize, at: DateTime<Utc>) {
        if self.agents[a].busy() || self.agents[a].status.0 != "Available" {
            self.schedule(a, at + Duration::seconds(60), Action::Logout);
            return;
        }
        self.agents[a].logged_in = false;
        self.agents[a].status = ("Offline", "OFFLINE", at);
        // Heartbeats go on for up to an hour after the logout itself (a logout can come late: busy agents).
        let after = Duration::minutes(self.rng.random_range(0..60));
        self.agents[a].heartbeat_until = at + after;
        self.agent_event(a, "LOGOUT", at);
    }

    fn heartbeat(&mut self, a: usize, at: DateTime<Utc>) {
        let agent = &self.agents[a];
        if !agent.logged_in && at > agent.heartbeat_until {
            return;
        }
        if (at - agent.last_event).num_seconds() >= HEARTBEAT_SECS {
            self.agent_event(a, "HEART_BEAT", at);
        }
        let next = self.agents[a].last_event + Duration::seconds(HEARTBEAT_SECS);
        self.schedule(a, next.max(at + Duration::seconds(1)), Action::Heartbeat);
    }

    fn start_break(&mut self, a: usize, at: DateTime<Utc>, minutes: i64) {
        let agent = &self.agents[a];
        if !agent.logged_in || at >= agent.shift_end {
            return;
        }
        if agent.busy() || agent.status.0 != "Available" {
            self.schedule(a, at + Duration::seconds(60), Action::StartBreak { minutes });
            return;
        }
        self.agents[a].status = ("Break", "CUSTOM", at);
        self.agent_event(a, "STATE_CHANGE", at);
        if minutes >= 16 {
            self.truth.long_breaks.push((self.agents[a].username.clone(), ts(at)));
        }
        let d = Duration::minutes(minutes) + secs(&mut self.rng, 0, 50);
        self.schedule(a, at + d, Action::EndBreak);
    }

    fn end_break(&mut self, a: usize, at: DateTime<Utc>) {
        self.agents[a].status = ("Available", "ROUTABLE", at);
        self.agent_event(a, "STATE_CHANGE", at);
    }

    fn contact_arrives(&mut self, a: usize, at: DateTime<Utc>) {
        let next = at + secs(&mut self.rng, 60, 420);
        if !self.agents[a].logged_in || at >= self.agents[a].shift_end {
            return;
        }
        self.schedule(a, next, Action::ContactArrives);
        let agent = &self.agents[a];
        if agent.status.0 != "Available" || agent.contacts.len() >= agent.max_slots() {
            return;
        }
        let channel = TEAMS[agent.team].channel;
        let roll: f64 = self.rng.random();
        let (method, initial) = match roll {
            r if r < 0.08 => ("OUTBOUND", None),
            r if r < 0.13 => ("CALLBACK", Some(uuid(&mut self.rng))),
            r if r < 0.18 => ("TRANSFER", Some(uuid(&mut self.rng))),
            _ => ("INBOUND", None),
        };
        let lens = self.rng.random_bool(0.6);
        let contact = SimContact {
            id: uuid(&mut self.rng),
            channel,
            method,
            initial,
            state: "CONNECTING",
            state_start: at,
            queued_at: at - secs(&mut self.rng, 5, 90),
            connected_at: None,
            ended_at: None,
            holds: 0,
            hold_secs: 0,
            lens,
            angry: lens && self.rng.random_bool(0.1),
            escalation: lens && self.rng.random_bool(0.05),
            turns: 0,
            neg_streak: 0,
            offset_ms: 0,
            acw_secs: 0,
            ctr: None,
        };
        self.truth.contacts += 1;
        let c = self.agents[a].all_contacts.len();
        self.agents[a].contacts.push(contact.clone());
        self.agents[a].all_contacts.push(contact);
        self.agent_event(a, "STATE_CHANGE", at);
        if self.rng.random_bool(0.04) {
            self.schedule(a, at + Duration::seconds(20), Action::Miss(c));
        } else {
            let d = secs(&mut self.rng, 3, 12);
            self.schedule(a, at + d, Action::Connect(c));
        }
    }

    fn miss(&mut self, a: usize, c: usize, at: DateTime<Utc>) {
        self.truth.missed_contacts += 1;
        self.set_state(a, c, "MISSED", at);
        self.agent_event(a, "STATE_CHANGE", at);
        self.schedule(a, at + Duration::seconds(5), Action::ClearMissed(c));
    }

    fn clear_missed(&mut self, a: usize, c: usize, at: DateTime<Utc>) {
        self.remove_contact(a, c);
        self.agents[a].all_contacts[c].ended_at = Some(at);
        self.agent_event(a, "STATE_CHANGE", at);
        let ctr = self.contact_record(a, c, at);
        self.publish_ctr(&ctr, at);
    }

    fn connect(&mut self, a: usize, c: usize, at: DateTime<Utc>) {
        self.agents[a].all_contacts[c].connected_at = Some(at);
        self.set_state(a, c, "CONNECTED", at);
        self.agent_event(a, "STATE_CHANGE", at);
        let contact = &self.agents[a].all_contacts[c];
        let talk = secs(&mut self.rng, 120, 600);
        if contact.lens {
            self.segment(a, c, "STARTED", Vec::new(), at);
            self.schedule(a, at + Duration::seconds(SEGMENT_TICK_SECS), Action::SegmentTick(c));
        }
        if self.rng.random_bool(0.2) {
            let d = secs(&mut self.rng, 40, 100);
            self.schedule(a, at + d, Action::Hold(c));
        }
        self.schedule(a, at + talk, Action::End(c));
    }

    fn hold(&mut self, a: usize, c: usize, at: DateTime<Utc>) {
        if self.agents[a].all_contacts[c].state != "CONNECTED" {
            return;
        }
        self.set_state(a, c, "CONNECTED_ONHOLD", at);
        self.agents[a].all_contacts[c].holds += 1;
        self.agent_event(a, "STATE_CHANGE", at);
        let d = secs(&mut self.rng, 10, 15);
        self.agents[a].all_contacts[c].hold_secs += d.num_seconds();
        self.schedule(a, at + d, Action::Resume(c));
    }

    fn resume(&mut self, a: usize, c: usize, at: DateTime<Utc>) {
        if self.agents[a].all_contacts[c].state != "CONNECTED_ONHOLD" {
            return;
        }
        self.set_state(a, c, "CONNECTED", at);
        self.agent_event(a, "STATE_CHANGE", at);
    }

    fn end_contact(&mut self, a: usize, c: usize, at: DateTime<Utc>) {
        self.agents[a].all_contacts[c].ended_at = Some(at);
        self.set_state(a, c, "ENDED", at);
        self.agent_event(a, "STATE_CHANGE", at);
        if self.agents[a].all_contacts[c].lens {
            self.segment(a, c, "COMPLETED", Vec::new(), at);
        }
        let acw =
            if self.rng.random_bool(0.05) { self.rng.random_range(500..600) } else { self.rng.random_range(15..120) };
        // Over 480 s, so an event of the agent (at worst the heartbeat 120 s after the last) falls after minute 6.
        if acw >= 500 {
            let id = self.agents[a].all_contacts[c].id.clone();
            self.truth.long_acw.push((self.agents[a].username.clone(), id));
        }
        self.agents[a].all_contacts[c].acw_secs = acw;
        self.schedule(a, at + Duration::seconds(acw), Action::AcwDone(c));
    }

    fn acw_done(&mut self, a: usize, c: usize, at: DateTime<Utc>) {
        self.remove_contact(a, c);
        self.agent_event(a, "STATE_CHANGE", at);
        let ctr = self.contact_record(a, c, at);
        self.publish_ctr(&ctr, at);
        if self.rng.random_bool(0.1) {
            self.agents[a].all_contacts[c].ctr = Some(ctr);
            let d = Duration::minutes(self.rng.random_range(20..90));
            self.schedule(a, at + d, Action::Republish(c));
        }
    }

    fn republish(&mut self, a: usize, c: usize, at: DateTime<Utc>) {
        if let Some(mut ctr) = self.agents[a].all_contacts[c].ctr.take() {
            ctr["Attributes"]["csatScore"] = json!(self.rng.random_range(1..6).to_string());
            ctr["LastUpdateTimestamp"] = json!(ts_s(at));
            self.truth.republished += 1;
            self.publish_ctr(&ctr, at);
        }
    }

    fn segment_tick(&mut self, a: usize, c: usize, at: DateTime<Utc>) {
        let state = self.agents[a].all_contacts[c].state;
        if state == "ENDED" {
            return;
        }
        let mut segments = Vec::new();
        for _ in 0..self.rng.random_range(1..4) {
            segments.push(self.turn(a, c));
        }
        let contact = &mut self.agents[a].all_contacts[c];
        if contact.escalation && contact.turns >= 4 && !self.truth.escalation_contacts.contains(&contact.id) {
            self.truth.escalation_contacts.insert(contact.id.clone());
            segments.push(json!({"Categories": {"MatchedCategories": ["escalation-request"], "MatchedDetails": {}}}));
        }
        self.segment(a, c, "SEGMENTS", segments, at);
        self.schedule(a, at + Duration::seconds(SEGMENT_TICK_SECS), Action::SegmentTick(c));
    }
}
