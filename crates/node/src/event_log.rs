//! The node's event stream (`GET /v1/events`): what happened here — the core's
//! events, one per [`hearsay_core::Event`] — numbered, kept in a bounded ring so a
//! client that lost its connection resumes where it stopped (`Last-Event-ID`), and
//! broadcast to every live subscriber. Ids grow across restarts: they start at the
//! agent's start time in microseconds, so a client's last id is never reused.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use hearsay_core::{Event, ModuleName, Severity};
use hearsay_runtime::ModuleEvent;
use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};
use tokio::sync::broadcast;

/// Events kept for clients that resume.
pub const RING: usize = 1024;
/// Events a slow subscriber may fall behind by before it is told it lagged.
const LIVE_BACKLOG: usize = 256;

/// One event as the stream carries it.
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    /// Its id: increasing on this node, across restarts.
    pub id: u64,
    /// When it happened (this node's clock, ms since the Unix epoch).
    pub time_ms: u64,
    /// What happened (`deployment_adopted`, `started`, `failed`, …).
    pub kind: String,
    /// `core` for the core's events, the module's name for a module's own.
    pub source: String,
    /// The module it is about, if any.
    pub module: Option<String>,
    /// `info` or `warn`.
    pub severity: Severity,
    /// One line for people.
    pub message: String,
    /// The event's fields, kept as their JSON text: a parsed document (a map per
    /// object) took several times the room, and the ring holds a thousand of them.
    pub data: Box<RawValue>,
}

/// What a subscriber wants to see.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events about this module.
    pub module: Option<String>,
    /// Only these kinds (any, if empty).
    pub kinds: Vec<String>,
}

impl EventFilter {
    /// True when `record` passes.
    pub fn admits(&self, record: &EventRecord) -> bool {
        self.module
            .as_ref()
            .is_none_or(|m| record.module.as_ref() == Some(m))
            && (self.kinds.is_empty() || self.kinds.contains(&record.kind))
    }
}

struct Ring {
    next_id: u64,
    kept: VecDeque<Arc<EventRecord>>,
}

/// The ring and the broadcast, shared by the actor (which publishes) and the API.
pub struct EventLog {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<EventRecord>>,
}

impl EventLog {
    /// An empty log whose first id is `first_id` (the start time in µs).
    pub fn new(first_id: u64) -> Self {
        EventLog {
            ring: Mutex::new(Ring {
                next_id: first_id.max(1),
                kept: VecDeque::with_capacity(RING),
            }),
            live: broadcast::channel(LIVE_BACKLOG).0,
        }
    }

    /// Records one of the core's events and hands it to every subscriber.
    pub fn publish(&self, time_ms: u64, event: &Event) {
        let mut data = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
        readable_numbers(&mut data);
        self.record(EventRecord {
            id: 0,
            time_ms,
            kind: data["kind"].as_str().unwrap_or("unknown").to_string(),
            source: "core".to_string(),
            module: event.module().map(|m| m.to_string()),
            severity: event.severity(),
            message: event.to_string(),
            data: raw(&data),
        });
    }

    /// Records an event a module published (ABI v2 `emit`): its data as JSON when it
    /// is JSON, else as text.
    pub fn publish_module(&self, time_ms: u64, module: &ModuleName, event: &ModuleEvent) {
        let text = String::from_utf8_lossy(&event.data);
        let data = RawValue::from_string(text.trim().to_string())
            .unwrap_or_else(|_| raw(&serde_json::Value::String(text.to_string())));
        self.record(EventRecord {
            id: 0,
            time_ms,
            kind: event.kind.clone(),
            source: module.to_string(),
            module: Some(module.to_string()),
            severity: Severity::Info,
            message: format!("module {module}: {}", event.kind),
            data,
        });
    }

    /// Numbers a record, keeps it in the ring and hands it to every subscriber.
    fn record(&self, mut record: EventRecord) {
        let mut ring = self.ring.lock().expect("event ring lock");
        record.id = ring.next_id;
        let record = Arc::new(record);
        ring.next_id += 1;
        if ring.kept.len() == RING {
            ring.kept.pop_front();
        }
        ring.kept.push_back(record.clone());
        // Published under the lock: a subscriber's replay and live feed never overlap
        // or leave a gap.
        let _ = self.live.send(record);
    }

    /// The kept events after `after` (all kept ones with `None`… none: a live stream
    /// starts now), and a receiver of every later one.
    pub fn subscribe(
        &self,
        after: Option<u64>,
    ) -> (Vec<Arc<EventRecord>>, broadcast::Receiver<Arc<EventRecord>>) {
        let ring = self.ring.lock().expect("event ring lock");
        let replay = match after {
            Some(after) => ring.kept.iter().filter(|r| r.id > after).cloned().collect(),
            None => Vec::new(),
        };
        (replay, self.live.subscribe())
    }
}

/// A JSON document as its text.
fn raw(value: &serde_json::Value) -> Box<RawValue> {
    to_raw_value(value).unwrap_or_else(|_| RawValue::from_string("null".to_string()).expect("null is JSON"))
}

/// Deployment numbers in the form the rest of the API shows them, `TIME@ORIGIN`: the
/// core serializes them as `{time_ms, origin}` objects (its stored and wire form).
fn readable_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let number = (map.len() == 2)
                .then(|| Some((map.get("time_ms")?.as_u64()?, map.get("origin")?.as_str()?)))
                .flatten();
            match number {
                Some((time, origin)) => *value = serde_json::Value::String(format!("{time}@{origin}")),
                None => map.values_mut().for_each(readable_numbers),
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(readable_numbers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearsay_core::{DeploymentNumber, ModuleName};

    fn started(module: &str, n: u64) -> Event {
        Event::Started {
            module: ModuleName::new(module).unwrap(),
            number: DeploymentNumber {
                time_ms: n,
                origin: hearsay_core::NodeId(1),
            },
        }
    }

    #[test]
    fn a_client_resumes_after_its_last_id_with_nothing_lost_or_repeated() {
        let log = EventLog::new(1_000);
        log.publish(5, &started("a", 1));
        let (replay, mut live) = log.subscribe(None);
        assert!(replay.is_empty(), "a fresh subscriber starts now");
        log.publish(6, &started("b", 2));
        let got = live.try_recv().unwrap();
        assert_eq!(
            (got.id, got.kind.as_str(), got.module.as_deref()),
            (1_001, "started", Some("b"))
        );
        assert_eq!(got.source, "core");
        let data: serde_json::Value = serde_json::from_str(got.data.get()).unwrap();
        assert_eq!(data["kind"], "started");
        assert_eq!(
            data["number"], "2@0000000000000001",
            "numbers as the API shows them"
        );
        let (replay, _) = log.subscribe(Some(1_000));
        assert_eq!(replay.iter().map(|r| r.id).collect::<Vec<_>>(), [1_001]);
    }

    #[test]
    fn the_ring_keeps_the_newest_and_filters_select() {
        let log = EventLog::new(1);
        for i in 0..(RING as u64 + 10) {
            log.publish(i, &started(if i % 2 == 0 { "even" } else { "odd" }, i + 1));
        }
        let (replay, _) = log.subscribe(Some(0));
        assert_eq!(replay.len(), RING);
        assert_eq!(replay[0].id, 11);
        let filter = EventFilter {
            module: Some("odd".into()),
            kinds: vec!["started".into()],
        };
        assert!(replay.iter().filter(|r| filter.admits(r)).all(|r| r.id % 2 == 0));
        assert!(!EventFilter {
            module: None,
            kinds: vec!["failed".into()],
        }
        .admits(&replay[0]));
    }
}
