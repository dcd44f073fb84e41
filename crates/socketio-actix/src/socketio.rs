//! Socket.IO v5 packets: pure encoding and decoding, no I/O.
//!
//! Text form: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]`, e.g.
//! `0/chat,{"token":"…"}`, `2/chat,["news","hello"]`, `3456[1]`,
//! `52-["message",{"_placeholder":true,"num":0},…]` (on the wire, inside an Engine.IO
//! message: `40/chat,…`). Binary packets (types 5 and 6)
//! are followed by that many binary Engine.IO messages, their attachments. The JSON
//! keeps its `{"_placeholder":true,"num":N}` objects: handlers receive the attachments
//! beside the data, and replies put them back the same way.

use serde_json::Value;

/// The Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// `0`: join a namespace (client) or accept the join (server).
    Connect = 0,
    /// `1`: leave a namespace.
    Disconnect = 1,
    /// `2`: an event, `["name", args…]`.
    Event = 2,
    /// `3`: the acknowledgement of an event, `[args…]`.
    Ack = 3,
    /// `4`: the server refuses a CONNECT, `{"message": …}`.
    ConnectError = 4,
    /// `5`: an event with binary attachments.
    BinaryEvent = 5,
    /// `6`: an acknowledgement with binary attachments.
    BinaryAck = 6,
}

impl PacketType {
    fn from_char(c: char) -> Option<PacketType> {
        Some(match c {
            '0' => PacketType::Connect,
            '1' => PacketType::Disconnect,
            '2' => PacketType::Event,
            '3' => PacketType::Ack,
            '4' => PacketType::ConnectError,
            '5' => PacketType::BinaryEvent,
            '6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// Whether attachments follow this packet.
    pub fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// One Socket.IO packet (its attachments travel separately).
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The type.
    pub kind: PacketType,
    /// The namespace as written on the wire (`/` when absent).
    pub nsp: String,
    /// The JSON data, if any.
    pub data: Option<Value>,
    /// The acknowledgement id, if any.
    pub id: Option<u64>,
    /// Number of binary attachments that follow (binary types only).
    pub attachments: usize,
}

/// Why a string is not a Socket.IO packet. The connection is closed on any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Empty or unknown type digit.
    #[error("unknown packet type")]
    UnknownType,
    /// The `N-` attachment count is missing or not a number.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// The acknowledgement id is not a number that fits.
    #[error("invalid ack id")]
    InvalidId,
    /// The data is not JSON, or not the shape this packet type requires.
    #[error("invalid payload")]
    InvalidPayload,
}

/// Event names a client may not emit (they are reserved by the client library).
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

impl Packet {
    /// A packet of `kind` on `nsp` with `data`.
    pub fn new(kind: PacketType, nsp: &str, data: Option<Value>) -> Packet {
        Packet {
            kind,
            nsp: nsp.to_owned(),
            data,
            id: None,
            attachments: 0,
        }
    }

    /// An EVENT, or a BINARY_EVENT when `attachments > 0`.
    pub fn event(nsp: &str, data: Value, attachments: usize) -> Packet {
        let kind = if attachments > 0 {
            PacketType::BinaryEvent
        } else {
            PacketType::Event
        };
        Packet {
            attachments,
            ..Packet::new(kind, nsp, Some(data))
        }
    }

    /// An ACK, or a BINARY_ACK when `attachments > 0`.
    pub fn ack(nsp: &str, id: u64, data: Value, attachments: usize) -> Packet {
        let kind = if attachments > 0 {
            PacketType::BinaryAck
        } else {
            PacketType::Ack
        };
        Packet {
            id: Some(id),
            attachments,
            ..Packet::new(kind, nsp, Some(data))
        }
    }

    /// A CONNECT_ERROR with `{"message": …}` data (what socket.io-client reports).
    pub fn connect_error(nsp: &str, message: &str) -> Packet {
        Packet::new(
            PacketType::ConnectError,
            nsp,
            Some(serde_json::json!({ "message": message })),
        )
    }
}

/// Encodes a packet to its text form.
pub fn encode(packet: &Packet) -> String {
    let mut out = String::with_capacity(16);
    out.push(char::from(b'0' + packet.kind as u8));
    if packet.kind.is_binary() {
        out.push_str(&packet.attachments.to_string());
        out.push('-');
    }
    if !packet.nsp.is_empty() && packet.nsp != "/" {
        out.push_str(&packet.nsp);
        out.push(',');
    }
    if let Some(id) = packet.id {
        out.push_str(&id.to_string());
    }
    if let Some(data) = &packet.data {
        out.push_str(&data.to_string());
    }
    out
}

/// Decodes the text form of a packet, with the same rules as the reference parser.
pub fn decode(s: &str) -> Result<Packet, DecodeError> {
    let kind = s
        .chars()
        .next()
        .and_then(PacketType::from_char)
        .ok_or(DecodeError::UnknownType)?;
    let mut rest = &s[1..];

    let mut attachments = 0;
    if kind.is_binary() {
        let (count, after) = rest
            .split_once('-')
            .ok_or(DecodeError::IllegalAttachments)?;
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecodeError::IllegalAttachments);
        }
        attachments = count.parse().map_err(|_| DecodeError::IllegalAttachments)?;
        rest = after;
    }

    let mut nsp = "/";
    if rest.starts_with('/') {
        match rest.split_once(',') {
            Some((name, after)) => {
                nsp = name;
                rest = after;
            }
            None => {
                nsp = rest;
                rest = "";
            }
        }
    }

    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = if digits > 0 {
        let id = rest[..digits]
            .parse::<u64>()
            .map_err(|_| DecodeError::InvalidId)?;
        rest = &rest[digits..];
        Some(id)
    } else {
        None
    };

    let data = if rest.is_empty() {
        None
    } else {
        Some(serde_json::from_str::<Value>(rest).map_err(|_| DecodeError::InvalidPayload)?)
    };
    if !payload_is_valid(kind, data.as_ref()) {
        return Err(DecodeError::InvalidPayload);
    }
    Ok(Packet {
        kind,
        nsp: nsp.to_owned(),
        data,
        id,
        attachments,
    })
}

fn payload_is_valid(kind: PacketType, data: Option<&Value>) -> bool {
    match kind {
        PacketType::Connect => data.is_none_or(Value::is_object),
        PacketType::Disconnect => data.is_none(),
        PacketType::ConnectError => data.is_some_and(|d| d.is_string() || d.is_object()),
        PacketType::Event | PacketType::BinaryEvent => match data.and_then(Value::as_array) {
            Some(args) => match args.first() {
                Some(Value::String(name)) => !RESERVED_EVENTS.contains(&name.as_str()),
                Some(Value::Number(_)) => true,
                _ => false,
            },
            None => false,
        },
        PacketType::Ack | PacketType::BinaryAck => data.is_some_and(Value::is_array),
    }
}

/// Collapses runs of `/` (a client given the URL `https://host/` and the namespace
/// `/chat` connects to `//chat`), so that namespaces are looked up by their canonical
/// name.
pub fn normalize_namespace(nsp: &str) -> String {
    let mut out = String::with_capacity(nsp.len() + 1);
    if !nsp.starts_with('/') {
        out.push('/');
    }
    for c in nsp.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn roundtrip(s: &str) -> Packet {
        let p = decode(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(encode(&p), s, "re-encoding {s}");
        p
    }

    #[test]
    fn connect_packets() {
        let p = roundtrip("0");
        assert_eq!(
            (p.kind, p.nsp.as_str(), p.data),
            (PacketType::Connect, "/", None)
        );
        let p = roundtrip("0/runners,{\"runnerToken\":\"ptrt-1\"}");
        assert_eq!(p.nsp, "/runners");
        assert_eq!(p.data, Some(json!({"runnerToken": "ptrt-1"})));
        let p = decode("0/custom").unwrap();
        assert_eq!((p.nsp.as_str(), p.data), ("/custom", None));
        assert_eq!(decode("0//runners,").unwrap().nsp, "//runners");
        assert_eq!(
            encode(&Packet::new(
                PacketType::Connect,
                "/runners",
                Some(json!({"sid": "x"}))
            )),
            "0/runners,{\"sid\":\"x\"}"
        );
    }

    #[test]
    fn events_acks_and_errors() {
        let p = roundtrip("2/runners,[\"available-jobs\"]");
        assert_eq!(p.data, Some(json!(["available-jobs"])));
        let p = roundtrip("2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]");
        assert_eq!(p.id, Some(456));
        let p = roundtrip("3456[1,\"2\",{\"3\":[false]}]");
        assert_eq!((p.kind, p.id), (PacketType::Ack, Some(456)));
        roundtrip("1/runners,");
        roundtrip("1");
        assert_eq!(
            encode(&Packet::connect_error("/random", "Invalid namespace")),
            "4/random,{\"message\":\"Invalid namespace\"}"
        );
        assert_eq!(
            encode(&Packet::event("/runners", json!(["available-jobs"]), 0)),
            "2/runners,[\"available-jobs\"]"
        );
        assert_eq!(encode(&Packet::ack("/", 7, json!([]), 0)), "37[]");
        roundtrip("2[1]");
    }

    #[test]
    fn binary_packets_carry_an_attachment_count() {
        let s =
            "52-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
        let p = roundtrip(s);
        assert_eq!((p.kind, p.attachments), (PacketType::BinaryEvent, 2));
        let p = roundtrip("62-/custom,789[{\"_placeholder\":true,\"num\":0}]");
        assert_eq!(
            (p.kind, p.attachments, p.nsp.as_str(), p.id),
            (PacketType::BinaryAck, 2, "/custom", Some(789))
        );
        assert_eq!(encode(&Packet::ack("/", 789, json!([1]), 1)), "61-789[1]");
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        for (s, err) in [
            ("", DecodeError::UnknownType),
            ("abc", DecodeError::UnknownType),
            ("7", DecodeError::UnknownType),
            ("€", DecodeError::UnknownType),
            ("2{}", DecodeError::InvalidPayload),
            ("2abc[\"message-with-ack\"]", DecodeError::InvalidPayload),
            ("2[\"unterminated\"", DecodeError::InvalidPayload),
            ("2[]", DecodeError::InvalidPayload),
            ("2[\"connect\"]", DecodeError::InvalidPayload),
            ("2[true]", DecodeError::InvalidPayload),
            ("2", DecodeError::InvalidPayload),
            ("0[]", DecodeError::InvalidPayload),
            ("0\"str\"", DecodeError::InvalidPayload),
            ("1{}", DecodeError::InvalidPayload),
            ("3{}", DecodeError::InvalidPayload),
            ("4", DecodeError::InvalidPayload),
            ("5[\"x\"]", DecodeError::IllegalAttachments),
            ("5-[\"x\"]", DecodeError::IllegalAttachments),
            ("5a-[\"x\"]", DecodeError::IllegalAttachments),
            (
                "599999999999999999999999-[\"x\"]",
                DecodeError::IllegalAttachments,
            ),
            ("299999999999999999999999[\"x\"]", DecodeError::InvalidId),
            ("2/€,[\"x\"", DecodeError::InvalidPayload),
        ] {
            assert_eq!(decode(s), Err(err), "{s:?}");
        }
        // Multi-byte characters right after the type digit do not split a char.
        assert_eq!(decode("2é"), Err(DecodeError::InvalidPayload));
        assert_eq!(decode("5é-"), Err(DecodeError::IllegalAttachments));
    }

    #[test]
    fn namespaces_are_normalized() {
        assert_eq!(normalize_namespace("//runners"), "/runners");
        assert_eq!(normalize_namespace("/runners"), "/runners");
        assert_eq!(normalize_namespace("///a//b"), "/a/b");
        assert_eq!(normalize_namespace("/"), "/");
        assert_eq!(normalize_namespace(""), "/");
        assert_eq!(normalize_namespace("runners"), "/runners");
    }
}
