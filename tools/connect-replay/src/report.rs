//! The HTML report of a replay: a summary table and an SVG timeline of every agent's activity with the alerts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Appends formatted text to a `String` (formatting into a `String` cannot fail).
macro_rules! w {
    ($s:expr, $($arg:tt)*) => {
        $s.push_str(&format!($($arg)*))
    };
}

/// Activity changes per agent, built from the agent events as they are replayed.
#[derive(Debug, Default, Clone)]
pub struct Timelines {
    /// username → [(from, activity label)], in time order, consecutive duplicates folded.
    pub agents: BTreeMap<String, Vec<(DateTime<Utc>, String)>>,
}

impl Timelines {
    pub fn observe(&mut self, username: &str, at: DateTime<Utc>, activity: String) {
        let line = self.agents.entry(username.to_owned()).or_default();
        if line.last().is_some_and(|(t, a)| *a == activity || *t > at) {
            return;
        }
        line.push((at, activity));
    }

    fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let mut times = self.agents.values().flatten().map(|(t, _)| *t);
        let first = times.next()?;
        Some(times.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t))))
    }
}

#[derive(Debug, Clone)]
pub struct AlertMark {
    pub at: DateTime<Utc>,
    pub agent: String,
    pub rule: String,
    pub severity: String,
}

fn color(activity: &str) -> &'static str {
    match activity {
        "OFFLINE" => "#d9d9d9",
        "AVAILABLE" => "#7fc97f",
        "INCOMING" => "#fdc086",
        "ON_CONTACT" => "#386cb0",
        "ON_HOLD" => "#f0027f",
        "AFTER_CONTACT_WORK" => "#beaed4",
        "MISSED" | "REJECTED" | "ERROR" => "#e41a1c",
        "Break" => "#ffff99",
        _ => "#bf5b17",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Renders the report. `summary` rows are (label, value).
pub fn render(title: &str, summary: &[(String, String)], timelines: &Timelines, alerts: &[AlertMark]) -> String {
    let mut html = String::new();
    w!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse}} \
         td,th{{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}} .legend span{{display:inline-block;\
         padding:2px 8px;margin-right:6px;border-radius:3px}}</style></head><body><h1>{t}</h1><table>",
        t = escape(title)
    );
    for (k, v) in summary {
        w!(html, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
    }
    html.push_str("</table><h2>Agent activity and alerts</h2><div class=\"legend\">");
    for a in ["AVAILABLE", "INCOMING", "ON_CONTACT", "ON_HOLD", "AFTER_CONTACT_WORK", "MISSED", "Break", "OFFLINE"] {
        w!(html, "<span style=\"background:{}\">{a}</span>", color(a));
    }
    html.push_str("<span style=\"background:#bf5b17;color:#fff\">other custom status</span> ▼ alert</div>");
    html.push_str(&svg(timelines, alerts));
    html.push_str("</body></html>\n");
    html
}

fn svg(timelines: &Timelines, alerts: &[AlertMark]) -> String {
    let Some((start, end)) = timelines.span() else {
        return "<p>No agent events.</p>".into();
    };
    let (label_w, width, row_h) = (150.0, 1100.0, 16.0);
    let total = (end - start).num_milliseconds().max(1) as f64;
    let x = |t: DateTime<Utc>| label_w + (t - start).num_milliseconds() as f64 / total * width;
    let height = 30.0 + row_h * timelines.agents.len() as f64;
    let mut s = String::new();
    w!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-size=\"11\">",
        label_w + width + 20.0
    );
    // Hour ticks.
    let mut tick = start.date_naive().and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(start);
    while tick <= end {
        if tick >= start {
            let tx = x(tick);
            w!(
                s,
                "<line x1=\"{tx:.1}\" y1=\"14\" x2=\"{tx:.1}\" y2=\"{height}\" stroke=\"#ccc\"/><text x=\"{tx:.1}\" y=\"11\">{}</text>",
                tick.format("%H:%M")
            );
        }
        tick += chrono::Duration::hours(1);
    }
    let rows: BTreeMap<&str, f64> =
        timelines.agents.keys().enumerate().map(|(i, name)| (name.as_str(), 20.0 + row_h * i as f64)).collect();
    for (name, line) in &timelines.agents {
        let y = rows[name.as_str()];
        w!(s, "<text x=\"0\" y=\"{:.1}\">{}</text>", y + 11.0, escape(name));
        for (i, (from, activity)) in line.iter().enumerate() {
            let to = line.get(i + 1).map(|(t, _)| *t).unwrap_or(end);
            let (x0, x1) = (x(*from), x(to));
            w!(
                s,
                "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"{}\"><title>{} {}</title></rect>",
                (x1 - x0).max(0.3),
                row_h - 3.0,
                color(activity),
                escape(activity),
                from.format("%H:%M:%S")
            );
        }
    }
    for a in alerts {
        let Some(y) = rows.get(a.agent.as_str()) else { continue };
        let ax = x(a.at);
        w!(
            s,
            "<path d=\"M{:.1},{:.1} l5,-8 l-10,0 z\" fill=\"#d7191c\" stroke=\"#000\" stroke-width=\"0.5\"><title>{} ({}) {}</title></path>",
            ax,
            y + row_h - 3.0,
            escape(&a.rule),
            escape(&a.severity),
            a.at.format("%H:%M:%S")
        );
    }
    s.push_str("</svg>");
    s
}
