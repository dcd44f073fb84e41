//! Engine.IO v4 packets: pure encoding and decoding, no I/O.
//!
//! A packet is one type digit followed by its data: `0` open (JSON), `1` close, `2` ping,
//! `3` pong (both may carry `probe`), `4` message, `5` upgrade, `6` noop. Over WebSocket
//! one frame is one packet and a binary frame is a binary message. Over HTTP
//! long-polling a payload is packets joined with the record separator `\x1e`, and a
//! binary message is written `b` followed by its base64 encoding.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use bytestring::ByteString;

/// The separator between packets of an HTTP long-polling payload.
pub const SEPARATOR: char = '\x1e';

/// The data of a `message` packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// UTF-8 text (a text frame, or a plain packet in a polling payload).
    Text(ByteString),
    /// Bytes (a binary frame, or `b<base64>` in a polling payload).
    Binary(Bytes),
}

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0`: the handshake, a JSON document.
    Open(String),
    /// `1`: the session ends.
    Close,
    /// `2`: heartbeat request; `probe` during an upgrade.
    Ping(ByteString),
    /// `3`: heartbeat answer; `probe` during an upgrade.
    Pong(ByteString),
    /// `4` or a binary frame: application data.
    Message(Data),
    /// `5`: the client switches to the probed transport.
    Upgrade,
    /// `6`: nothing; ends a pending poll during an upgrade.
    Noop,
}

/// Why bytes are not an Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// An empty packet.
    #[error("empty packet")]
    Empty,
    /// The first character is not a packet type.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// A `b` packet whose base64 is invalid.
    #[error("invalid base64 in binary packet")]
    Base64,
    /// A polling body that is not UTF-8.
    #[error("payload is not UTF-8")]
    NotUtf8,
}

impl Packet {
    /// A text `message` packet.
    pub fn text(s: impl Into<ByteString>) -> Packet {
        Packet::Message(Data::Text(s.into()))
    }

    /// The wire type digit.
    pub fn type_char(&self) -> char {
        match self {
            Packet::Open(_) => '0',
            Packet::Close => '1',
            Packet::Ping(_) => '2',
            Packet::Pong(_) => '3',
            Packet::Message(_) => '4',
            Packet::Upgrade => '5',
            Packet::Noop => '6',
        }
    }
}

/// Decodes a WebSocket text frame (or one packet of a polling payload that is not `b…`).
pub fn decode_text(s: &str) -> Result<Packet, DecodeError> {
    let mut chars = s.chars();
    let kind = chars.next().ok_or(DecodeError::Empty)?;
    let data = chars.as_str();
    Ok(match kind {
        '0' => Packet::Open(data.to_owned()),
        '1' => Packet::Close,
        '2' => Packet::Ping(data.into()),
        '3' => Packet::Pong(data.into()),
        '4' => Packet::Message(Data::Text(data.into())),
        '5' => Packet::Upgrade,
        '6' => Packet::Noop,
        other => return Err(DecodeError::UnknownType(other)),
    })
}

/// Decodes a WebSocket binary frame: always a binary message.
pub fn decode_binary(bytes: Bytes) -> Packet {
    Packet::Message(Data::Binary(bytes))
}

/// Encodes a packet as a text frame, or returns the bytes of a binary message (to be
/// sent as a binary WebSocket frame).
pub fn encode_frame(packet: &Packet) -> Result<ByteString, Bytes> {
    match packet {
        Packet::Message(Data::Binary(b)) => Err(b.clone()),
        Packet::Message(Data::Text(t)) => Ok(join(t)),
        other => Ok(ByteString::from(encode_text(other))),
    }
}

fn join(text: &ByteString) -> ByteString {
    let mut s = String::with_capacity(text.len() + 1);
    s.push('4');
    s.push_str(text);
    ByteString::from(s)
}

/// Encodes one packet as it appears in a polling payload.
pub fn encode_text(packet: &Packet) -> String {
    let mut out = String::new();
    push_packet(&mut out, packet);
    out
}

fn push_packet(out: &mut String, packet: &Packet) {
    match packet {
        Packet::Message(Data::Binary(b)) => {
            out.push('b');
            out.push_str(&BASE64.encode(b));
        }
        other => {
            out.push(other.type_char());
            match other {
                Packet::Open(d) => out.push_str(d),
                Packet::Ping(d) | Packet::Pong(d) => out.push_str(d),
                Packet::Message(Data::Text(t)) => out.push_str(t),
                _ => {}
            }
        }
    }
}

/// Encodes packets as one HTTP long-polling payload.
pub fn encode_payload<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> String {
    let mut out = String::new();
    for (i, packet) in packets.into_iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        push_packet(&mut out, packet);
    }
    out
}

/// Decodes an HTTP long-polling payload. Any invalid packet invalidates the whole body
/// (the session is then closed, as the reference server does).
pub fn decode_payload(body: &[u8]) -> Result<Vec<Packet>, DecodeError> {
    let body = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
    body.split(SEPARATOR)
        .map(|part| match part.strip_prefix('b') {
            Some(b64) => BASE64
                .decode(b64)
                .map(|v| Packet::Message(Data::Binary(Bytes::from(v))))
                .map_err(|_| DecodeError::Base64),
            None => decode_text(part),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_packets_decode_by_type_digit() {
        assert_eq!(decode_text("0{}"), Ok(Packet::Open("{}".into())));
        assert_eq!(decode_text("1"), Ok(Packet::Close));
        assert_eq!(decode_text("2"), Ok(Packet::Ping("".into())));
        assert_eq!(decode_text("2probe"), Ok(Packet::Ping("probe".into())));
        assert_eq!(decode_text("3probe"), Ok(Packet::Pong("probe".into())));
        assert_eq!(decode_text("4hello"), Ok(Packet::text("hello")));
        assert_eq!(decode_text("4"), Ok(Packet::text("")));
        assert_eq!(decode_text("5"), Ok(Packet::Upgrade));
        assert_eq!(decode_text("6"), Ok(Packet::Noop));
        assert_eq!(decode_text("4€亜"), Ok(Packet::text("€亜")));
    }

    #[test]
    fn malformed_text_packets_are_errors() {
        assert_eq!(decode_text(""), Err(DecodeError::Empty));
        assert_eq!(decode_text("abc"), Err(DecodeError::UnknownType('a')));
        assert_eq!(decode_text("7"), Err(DecodeError::UnknownType('7')));
        assert_eq!(decode_text("€"), Err(DecodeError::UnknownType('€')));
    }

    #[test]
    fn packets_encode_to_their_fixtures() {
        assert_eq!(encode_text(&Packet::Close), "1");
        assert_eq!(encode_text(&Packet::Ping("".into())), "2");
        assert_eq!(encode_text(&Packet::Pong("probe".into())), "3probe");
        assert_eq!(encode_text(&Packet::text("hello")), "4hello");
        assert_eq!(encode_text(&Packet::Noop), "6");
        assert_eq!(encode_text(&Packet::Open("{\"a\":1}".into())), "0{\"a\":1}");
        assert_eq!(
            encode_text(&Packet::Message(Data::Binary(Bytes::from_static(&[
                1, 2, 3, 4
            ])))),
            "bAQIDBA=="
        );
        assert_eq!(
            encode_frame(&Packet::text("x")),
            Ok(ByteString::from_static("4x"))
        );
        assert_eq!(
            encode_frame(&Packet::Message(Data::Binary(Bytes::from_static(&[9])))),
            Err(Bytes::from_static(&[9]))
        );
    }

    #[test]
    fn polling_payloads_round_trip() {
        let body = "4hello\x1ebAQIDBA==\x1e2\x1e6";
        let packets = decode_payload(body.as_bytes()).unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::text("hello"),
                Packet::Message(Data::Binary(Bytes::from_static(&[1, 2, 3, 4]))),
                Packet::Ping("".into()),
                Packet::Noop,
            ]
        );
        assert_eq!(encode_payload(&packets), body);
        assert_eq!(encode_payload(&[]), "");
        assert_eq!(
            decode_payload(b"4test1\x1e4test2\x1e4test3").unwrap().len(),
            3
        );
    }

    #[test]
    fn malformed_polling_payloads_are_errors_not_panics() {
        assert_eq!(decode_payload(b""), Err(DecodeError::Empty));
        assert_eq!(decode_payload(b"abc"), Err(DecodeError::UnknownType('a')));
        assert_eq!(decode_payload(b"4a\x1e"), Err(DecodeError::Empty));
        assert_eq!(decode_payload(b"b!!!"), Err(DecodeError::Base64));
        assert_eq!(
            decode_payload(&[0x34, 0xff, 0xfe]),
            Err(DecodeError::NotUtf8)
        );
        assert_eq!(decode_payload(b"\x1e\x1e"), Err(DecodeError::Empty));
        assert_eq!(
            decode_payload(b"b"),
            Ok(vec![Packet::Message(Data::Binary(Bytes::new()))])
        );
    }

    #[test]
    fn binary_frames_are_messages() {
        assert_eq!(
            decode_binary(Bytes::from_static(&[1, 2])),
            Packet::Message(Data::Binary(Bytes::from_static(&[1, 2])))
        );
    }
}
