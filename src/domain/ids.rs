//! Token formats as PeerTube generates them, and how they are stored.
//!
//! Registration tokens are `ptrrt-<uuid v4>`, runner tokens `ptrt-<uuid v4>`, job tokens
//! `ptrjt-<uuid v4>`. Runners treat them as opaque strings. Runner and job tokens are
//! stored only as SHA-256 digests ([`hash_token`]); registration tokens are stored in
//! clear because operators read them back from the list.

use sha2::{Digest, Sha256};

/// Prefix of registration tokens.
pub const REGISTRATION_TOKEN_PREFIX: &str = "ptrrt-";
/// Prefix of runner tokens.
pub const RUNNER_TOKEN_PREFIX: &str = "ptrt-";
/// Prefix of job tokens.
pub const JOB_TOKEN_PREFIX: &str = "ptrjt-";

/// Makes a new random token with the given prefix.
pub fn generate_token(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4())
}

/// The stored form of a runner or job token: lowercase hex SHA-256.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `s` is a UUID v4 in PeerTube's accepted form (`isUUID(v, 4)`).
pub fn is_uuid_v4(s: &str) -> bool {
    s.len() == 36
        && uuid::Uuid::try_parse(s).is_ok_and(|u| {
            u.get_version_num() == 4 && u.hyphenated().to_string() == s.to_ascii_lowercase()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_peertube_prefixes_and_a_v4_uuid() {
        let t = generate_token(RUNNER_TOKEN_PREFIX);
        let uuid = t.strip_prefix("ptrt-").unwrap_or_default();
        assert!(is_uuid_v4(uuid), "{t}");
        assert_ne!(t, generate_token(RUNNER_TOKEN_PREFIX));
    }

    #[test]
    fn token_hash_is_stable_hex_sha256() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn uuid_v4_check_rejects_other_versions_and_shapes() {
        assert!(is_uuid_v4("0b2c6f5e-7f4a-4d3b-9c1e-2a3b4c5d6e7f"));
        assert!(is_uuid_v4("0B2C6F5E-7F4A-4D3B-9C1E-2A3B4C5D6E7F"));
        assert!(!is_uuid_v4("0b2c6f5e-7f4a-1d3b-9c1e-2a3b4c5d6e7f"));
        assert!(!is_uuid_v4("0b2c6f5e7f4a4d3b9c1e2a3b4c5d6e7f"));
        assert!(!is_uuid_v4("../../etc/passwd"));
        assert!(!is_uuid_v4(""));
    }
}
