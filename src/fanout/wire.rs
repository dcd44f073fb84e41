//! What crosses the channel: one JSON envelope per event,
//! `{"v":1,"origin":"<uuid>","event":{"type":"jobs-available"}}`.
//!
//! `origin` names the sending process, so a relay drops its own events when the
//! channel echoes them (PostgreSQL and Redis both deliver a message to its sender's
//! own subscription): this process's subscribers already had them from the bus. An
//! envelope whose event this version does not know (a newer instance during a rolling
//! upgrade) is skipped.

use serde::{Deserialize, Serialize};

use crate::service::events::Event;

/// Largest envelope sent, in bytes: PostgreSQL refuses a NOTIFY payload of 8000 bytes
/// or more (in its default build), and both backends keep the same limit so that an
/// event never works on one and fails on the other.
pub const MAX_PAYLOAD: usize = 7999;

/// The envelope format this version writes and reads.
const VERSION: u8 = 1;

/// The identity of one relaying process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin(uuid::Uuid);

impl Origin {
    /// A new random origin.
    pub fn generate() -> Origin {
        Origin(uuid::Uuid::new_v4())
    }
}

/// Why an event cannot be sent, or a message not read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The envelope is larger than [`MAX_PAYLOAD`].
    #[error("event `{kind}` is {size} bytes as JSON, over the {MAX_PAYLOAD}-byte limit")]
    TooLarge {
        /// The event's `type`.
        kind: String,
        /// Its envelope's size.
        size: usize,
    },
    /// The event cannot be serialized (a local-only event, or a bug).
    #[error("event cannot be sent: {0}")]
    Encode(serde_json::Error),
    /// The message is not an envelope this version understands.
    #[error("unreadable message: {0}")]
    Decode(String),
}

#[derive(Serialize)]
struct Outgoing<'a> {
    v: u8,
    origin: Origin,
    event: &'a Event,
}

#[derive(Deserialize)]
struct Incoming {
    v: u8,
    origin: Origin,
    event: serde_json::Value,
}

/// The envelope of `event` sent by `origin`.
pub fn encode(origin: Origin, event: &Event) -> Result<String, WireError> {
    encode_within(origin, event, MAX_PAYLOAD)
}

fn encode_within(origin: Origin, event: &Event, limit: usize) -> Result<String, WireError> {
    let text = serde_json::to_string(&Outgoing {
        v: VERSION,
        origin,
        event,
    })
    .map_err(WireError::Encode)?;
    if text.len() > limit {
        let kind = serde_json::to_value(event)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str().map(str::to_owned)))
            .unwrap_or_default();
        return Err(WireError::TooLarge {
            kind,
            size: text.len(),
        });
    }
    Ok(text)
}

/// The event in `message`, or `None` when `own` sent it.
pub fn decode(message: &str, own: Origin) -> Result<Option<Event>, WireError> {
    let incoming: Incoming =
        serde_json::from_str(message).map_err(|e| WireError::Decode(e.to_string()))?;
    if incoming.origin == own {
        return Ok(None);
    }
    if incoming.v != VERSION {
        return Err(WireError::Decode(format!(
            "envelope version {} (this one reads {VERSION})",
            incoming.v
        )));
    }
    serde_json::from_value(incoming.event)
        .map(Some)
        .map_err(|e| WireError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_between_origins_and_echoes_are_dropped() {
        let (a, b) = (Origin::generate(), Origin::generate());
        let event = Event::RunnerRemoved { runner_id: 42 };
        let text = encode(a, &event).unwrap();
        assert!(text.starts_with(r#"{"v":1,"origin":""#), "{text}");
        assert!(
            text.ends_with(r#","event":{"type":"runner-removed","runnerId":42}}"#),
            "{text}"
        );
        assert_eq!(decode(&text, b).unwrap(), Some(event));
        assert_eq!(decode(&text, a).unwrap(), None);
    }

    #[test]
    fn unknown_events_and_versions_and_garbage_are_refused() {
        let own = Origin::generate();
        let other = serde_json::to_string(&Origin::generate()).unwrap();
        let unknown = format!(r#"{{"v":1,"origin":{other},"event":{{"type":"from-the-future"}}}}"#);
        assert!(matches!(decode(&unknown, own), Err(WireError::Decode(_))));
        let v2 = format!(r#"{{"v":2,"origin":{other},"event":{{"type":"jobs-available"}}}}"#);
        assert!(matches!(decode(&v2, own), Err(WireError::Decode(_))));
        assert!(matches!(decode("not json", own), Err(WireError::Decode(_))));
        // A relayed message can never be a local-only event.
        let resync = format!(r#"{{"v":1,"origin":{other},"event":{{"type":"resync"}}}}"#);
        assert!(decode(&resync, own).is_err());
    }

    #[test]
    fn local_events_cannot_be_encoded() {
        assert!(matches!(
            encode(Origin::generate(), &Event::Resync),
            Err(WireError::Encode(_))
        ));
    }

    #[test]
    fn the_largest_envelope_fits_a_postgres_notify() {
        // Today's events are tiny: the largest is far under the limit.
        let text = encode(
            Origin::generate(),
            &Event::RunnerRemoved {
                runner_id: i64::MIN,
            },
        )
        .unwrap();
        assert!(text.len() < 200, "{}", text.len());
        // A larger one is refused, named by its type.
        let limit = text.len() - 1;
        match encode_within(
            Origin::generate(),
            &Event::RunnerRemoved {
                runner_id: i64::MIN,
            },
            limit,
        ) {
            Err(WireError::TooLarge { kind, size }) => {
                assert_eq!((kind.as_str(), size), ("runner-removed", text.len()));
            }
            other => panic!("{other:?}"),
        }
    }
}
