//! Identifiers and tokens, parsed once where they enter the service.
//!
//! - [`JobUuid`] and [`VideoUuid`]: UUIDs v4 in PeerTube's accepted form (`isUUID(v, 4)`),
//!   written lowercase and hyphenated.
//! - [`RegistrationToken`] (`ptrrt-<uuid v4>`), [`RunnerToken`] (`ptrt-…`) and
//!   [`JobToken`] (`ptrjt-…`): generated as PeerTube does, accepted as opaque strings of
//!   1 to 1000 characters without control characters (runners treat them as opaque).
//!   Their `Debug` never shows the secret.
//! - [`TokenHash`]: how runner and job tokens are stored (lowercase hex SHA-256);
//!   registration tokens are stored in clear because operators read them back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Prefix of registration tokens.
pub const REGISTRATION_TOKEN_PREFIX: &str = "ptrrt-";
/// Prefix of runner tokens.
pub const RUNNER_TOKEN_PREFIX: &str = "ptrt-";
/// Prefix of job tokens.
pub const JOB_TOKEN_PREFIX: &str = "ptrjt-";
/// Longest token accepted, in characters (PeerTube's validators: 1..1000).
pub const MAX_TOKEN_CHARS: usize = 1000;

/// A string that is not a UUID v4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Should have a valid UUID v4")]
pub struct InvalidUuid;

/// A string that is not an acceptable token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    /// Empty or longer than [`MAX_TOKEN_CHARS`].
    #[error("Should have a length between 1 and 1000")]
    Length,
    /// Holds a control character.
    #[error("Should not contain control characters")]
    ControlCharacter,
}

/// Whether `s` is a UUID v4 in PeerTube's accepted form: 36 characters, hyphenated,
/// version 4, any letter case.
pub fn is_uuid_v4(s: &str) -> bool {
    parse_v4(s).is_ok()
}

fn parse_v4(s: &str) -> Result<Uuid, InvalidUuid> {
    let u = Uuid::try_parse(s).map_err(|_| InvalidUuid)?;
    let canonical = s.len() == 36 && u.hyphenated().to_string() == s.to_ascii_lowercase();
    if canonical && u.get_version_num() == 4 {
        Ok(u)
    } else {
        Err(InvalidUuid)
    }
}

macro_rules! uuid_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random UUID v4.
            pub fn generate() -> $name {
                $name(Uuid::new_v4())
            }

            /// Parses a UUID v4 as PeerTube accepts it (see [`is_uuid_v4`]).
            pub fn parse(s: &str) -> Result<$name, InvalidUuid> {
                parse_v4(s).map($name)
            }

            /// Reads a stored UUID: any valid UUID, without the v4 check of [`Self::parse`]
            /// (what the service stored was checked when it came in).
            pub fn from_stored(s: &str) -> Result<$name, InvalidUuid> {
                Uuid::try_parse(s).map($name).map_err(|_| InvalidUuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidUuid;

            fn from_str(s: &str) -> Result<$name, InvalidUuid> {
                $name::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::from_stored(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_newtype!(
    /// A runner job's public UUID (`jobUUID`).
    JobUuid
);
uuid_newtype!(
    /// A video's public UUID.
    VideoUuid
);

fn check_token(s: &str) -> Result<(), InvalidToken> {
    let n = s.chars().count();
    if n == 0 || n > MAX_TOKEN_CHARS {
        return Err(InvalidToken::Length);
    }
    if s.chars().any(char::is_control) {
        return Err(InvalidToken::ControlCharacter);
    }
    Ok(())
}

macro_rules! token_newtype {
    ($(#[$doc:meta])* $name:ident, $prefix:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// A new random token: the prefix and a UUID v4, as PeerTube makes them.
            pub fn generate() -> $name {
                $name(format!("{}{}", $prefix, Uuid::new_v4()))
            }

            /// Accepts a token a client presents (1 to 1000 characters, no control
            /// character).
            pub fn parse(s: &str) -> Result<$name, InvalidToken> {
                check_token(s).map(|()| $name(s.to_owned()))
            }

            /// The token itself.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(…)"))
            }
        }

        impl FromStr for $name {
            type Err = InvalidToken;

            fn from_str(s: &str) -> Result<$name, InvalidToken> {
                $name::parse(s)
            }
        }
    };
}

token_newtype!(
    /// `ptrrt-…`: lets a runner register. Stored in clear.
    RegistrationToken,
    REGISTRATION_TOKEN_PREFIX
);
token_newtype!(
    /// `ptrt-…`: identifies a runner on every call. Stored as its [`TokenHash`].
    RunnerToken,
    RUNNER_TOKEN_PREFIX
);
token_newtype!(
    /// `ptrjt-…`: proves a runner holds a job. Stored as its [`TokenHash`].
    JobToken,
    JOB_TOKEN_PREFIX
);

impl RegistrationToken {
    /// Reads a stored token (already checked when it was made).
    pub fn from_stored(s: String) -> RegistrationToken {
        RegistrationToken(s)
    }
}

impl Serialize for RegistrationToken {
    /// Operators read registration tokens back from the list: serialized in clear.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl Serialize for RunnerToken {
    /// Serialized once, in the answer to the registration that made it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl Serialize for JobToken {
    /// Serialized once, in the answer to the accept that made it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl RunnerToken {
    /// Its stored form.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl JobToken {
    /// Its stored form.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

/// The stored form of a runner or job token: lowercase hex SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of `token`.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
    }

    /// A hash as stored.
    pub fn from_stored(hex: String) -> TokenHash {
        TokenHash(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a runner names a video in an input URL: its numeric id, its UUID (v4) or its
/// short UUID (the 22-character base58 form PeerTube also takes; this service never
/// hands one out), as PeerTube's `isIdOrUUIDValid` after `toCompleteUUID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoRef {
    /// The numeric id.
    Id(i64),
    /// The UUID.
    Uuid(VideoUuid),
}

impl VideoRef {
    /// Reads a `{videoId}` path segment; `None` when it is none of the three forms
    /// (PeerTube answers 400 then). The `~e<n>` this service's input URLs put after
    /// the UUID of an edited video (`payloads::InputVideo`) is read and dropped: the
    /// routes serve the video's current source, whatever edition the URL names.
    pub fn parse(s: &str) -> Option<VideoRef> {
        let s = match s.rsplit_once("~e") {
            Some((video, edition))
                if !edition.is_empty() && edition.bytes().all(|b| b.is_ascii_digit()) =>
            {
                video
            }
            _ => s,
        };
        if let Ok(id) = s.parse::<i64>() {
            return Some(VideoRef::Id(id));
        }
        if let Ok(uuid) = VideoUuid::parse(s) {
            return Some(VideoRef::Uuid(uuid));
        }
        let long = short_uuid(s)?.hyphenated().to_string();
        VideoUuid::parse(&long).ok().map(VideoRef::Uuid)
    }
}

/// The alphabet of PeerTube's short UUIDs (the `short-uuid` package's flickrBase58).
const SHORT_UUID_ALPHABET: &[u8] = b"123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

/// The UUID a 22-character short UUID stands for (its base58 digits, most significant
/// first), or `None`.
fn short_uuid(s: &str) -> Option<Uuid> {
    if s.len() != 22 {
        return None;
    }
    let mut n: u128 = 0;
    for b in s.bytes() {
        let digit = SHORT_UUID_ALPHABET.iter().position(|c| *c == b)?;
        n = n.checked_mul(58)?.checked_add(digit as u128)?;
    }
    Some(Uuid::from_u128(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_peertube_prefixes_and_a_v4_uuid() {
        let t = RunnerToken::generate();
        let uuid = t.as_str().strip_prefix("ptrt-").unwrap_or_default();
        assert!(is_uuid_v4(uuid), "{}", t.as_str());
        assert_ne!(t, RunnerToken::generate());
        assert!(JobToken::generate().as_str().starts_with("ptrjt-"));
        assert!(RegistrationToken::generate().as_str().starts_with("ptrrt-"));
    }

    #[test]
    fn token_hash_is_stable_hex_sha256() {
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = JobToken::parse("abc").unwrap_or_else(|_| JobToken::generate());
        assert_eq!(t.hash(), TokenHash::of("abc"));
    }

    #[test]
    fn tokens_are_opaque_but_bounded_and_never_debug_printed() {
        assert!(RunnerToken::parse("anything goes").is_ok());
        assert_eq!(RunnerToken::parse(""), Err(InvalidToken::Length));
        assert_eq!(
            RunnerToken::parse(&"x".repeat(1001)),
            Err(InvalidToken::Length)
        );
        assert!(RunnerToken::parse(&"é".repeat(1000)).is_ok());
        assert_eq!(JobToken::parse("a\nb"), Err(InvalidToken::ControlCharacter));
        let t = RunnerToken::generate();
        assert!(!format!("{t:?}").contains("ptrt-"));
    }

    #[test]
    fn uuid_v4_check_rejects_other_versions_and_shapes() {
        assert!(is_uuid_v4("0b2c6f5e-7f4a-4d3b-9c1e-2a3b4c5d6e7f"));
        assert!(is_uuid_v4("0B2C6F5E-7F4A-4D3B-9C1E-2A3B4C5D6E7F"));
        assert!(!is_uuid_v4("0b2c6f5e-7f4a-1d3b-9c1e-2a3b4c5d6e7f"));
        assert!(!is_uuid_v4("0b2c6f5e7f4a4d3b9c1e2a3b4c5d6e7f"));
        assert!(!is_uuid_v4("../../etc/passwd"));
        assert!(!is_uuid_v4(""));
        let upper = JobUuid::parse("0B2C6F5E-7F4A-4D3B-9C1E-2A3B4C5D6E7F");
        assert_eq!(
            upper.map(|u| u.to_string()).as_deref(),
            Ok("0b2c6f5e-7f4a-4d3b-9c1e-2a3b4c5d6e7f")
        );
    }

    #[test]
    fn uuids_serialize_as_strings_and_video_refs_take_ids_or_uuids() {
        let u = VideoUuid::generate();
        let json = serde_json::to_string(&u).unwrap_or_default();
        assert_eq!(json, format!("\"{u}\""));
        assert_eq!(serde_json::from_str::<VideoUuid>(&json).ok(), Some(u));
        assert_eq!(VideoRef::parse("42"), Some(VideoRef::Id(42)));
        assert_eq!(VideoRef::parse(&u.to_string()), Some(VideoRef::Uuid(u)));
        assert_eq!(VideoRef::parse("nope"), None);
        // An edited video's input URLs name its edition after the UUID.
        assert_eq!(VideoRef::parse(&format!("{u}~e3")), Some(VideoRef::Uuid(u)));
        assert_eq!(VideoRef::parse(&format!("{u}~e")), None);
        assert_eq!(VideoRef::parse(&format!("{u}~ex")), None);
        assert_eq!(VideoRef::parse("nope~e1"), None);
        // PeerTube's short form of a UUID: base58 of its 128 bits.
        let long = "b1a0d7b4-7b1d-4c8e-9d1a-3c7a2f1e0b9d";
        let short = {
            let mut n = Uuid::parse_str(long).unwrap().as_u128();
            let mut digits = Vec::new();
            while n > 0 {
                digits.push(SHORT_UUID_ALPHABET[(n % 58) as usize]);
                n /= 58;
            }
            while digits.len() < 22 {
                digits.push(b'1');
            }
            digits.reverse();
            String::from_utf8(digits).unwrap()
        };
        assert_eq!(
            VideoRef::parse(&short),
            Some(VideoRef::Uuid(VideoUuid::parse(long).unwrap()))
        );
        assert_eq!(
            VideoRef::parse("0000000000000000000l00"),
            None,
            "0 and l are not base58"
        );
        // Not v4, or not canonical: PeerTube's isUUID(v, 4) refuses them.
        assert_eq!(VideoRef::parse("b1a0d7b47b1d4c8e9d1a3c7a2f1e0b9d"), None);
        assert_eq!(
            VideoRef::parse("b1a0d7b4-7b1d-1c8e-9d1a-3c7a2f1e0b9d"),
            None
        );
    }
}
