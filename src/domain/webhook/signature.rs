//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): secrets are
//! `whsec_` + base64 of 24 to 64 random bytes; a message is signed as
//! `v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>` and sent with the
//! headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Prefix of a secret.
pub const PREFIX: &str = "whsec_";
/// Fewest and most secret bytes accepted.
pub const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// A parsed secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(********)")
    }
}

/// Why a secret is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No `whsec_` prefix.
    #[error("a webhook secret starts with `whsec_` (Standard Webhooks)")]
    Prefix,
    /// Not base64 after the prefix.
    #[error("a webhook secret is `whsec_` followed by base64")]
    Base64,
    /// Too short or too long.
    #[error("a webhook secret holds 24 to 64 bytes (it holds {0})")]
    Length(usize),
}

impl SigningKey {
    /// Parses `whsec_<base64>`.
    pub fn parse(secret: &str) -> Result<SigningKey, KeyError> {
        let b64 = secret.trim().strip_prefix(PREFIX).ok_or(KeyError::Prefix)?;
        let bytes = STANDARD.decode(b64).map_err(|_| KeyError::Base64)?;
        if !KEY_BYTES.contains(&bytes.len()) {
            return Err(KeyError::Length(bytes.len()));
        }
        Ok(SigningKey(bytes))
    }

    /// The secret for these random bytes, as configured (`whsec_…`).
    pub fn encode(random: &[u8]) -> String {
        format!("{PREFIX}{}", STANDARD.encode(random))
    }

    /// The `webhook-signature` value of a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        // HMAC takes keys of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_specifications_example() {
        // The example of the Standard Webhooks specification and its libraries.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            key.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn bad_secrets_are_refused_with_the_reason() {
        assert_eq!(SigningKey::parse("MfKQ9r8GKYqrTwjU"), Err(KeyError::Prefix));
        assert_eq!(SigningKey::parse("whsec_!!!"), Err(KeyError::Base64));
        assert_eq!(
            SigningKey::parse(&SigningKey::encode(&[7; 8])),
            Err(KeyError::Length(8))
        );
        let key = SigningKey::encode(&[7; 32]);
        assert!(SigningKey::parse(&key).is_ok());
        assert_eq!(
            format!("{:?}", SigningKey::parse(&key).unwrap()),
            "SigningKey(********)"
        );
    }
}
