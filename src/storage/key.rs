//! Storage keys: relative, `/`-separated, made of safe characters only.

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid storage key `{key}`: {reason}")]
pub struct KeyError {
    /// The refused key.
    pub key: String,
    /// Why.
    pub reason: &'static str,
}

/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 1024;

/// Accepts keys whose segments are non-empty, not `.` or `..`, and made of ASCII
/// letters, digits, `-`, `_` and `.`; rejects absolute keys, empty segments and
/// anything longer than [`MAX_KEY_LEN`]. Such a key can never leave the storage root.
pub fn validate_key(key: &str) -> Result<&str, KeyError> {
    let fail = |reason| {
        Err(KeyError {
            key: key.chars().take(200).collect(),
            reason,
        })
    };
    if key.is_empty() {
        return fail("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return fail("too long");
    }
    if key.starts_with('/') {
        return fail("must be relative");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return fail("empty path segment");
        }
        if segment == "." || segment == ".." {
            return fail("`.` and `..` segments are not allowed");
        }
        if segment.starts_with('.') {
            return fail("segments must not start with `.`");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return fail("only letters, digits, `-`, `_`, `.` and `/` are allowed");
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_pass() {
        for k in [
            "a",
            "videos/abc/x-720-fragmented.mp4",
            "A_b.c/D-e",
            "v/1.2.3",
        ] {
            assert_eq!(validate_key(k), Ok(k));
        }
    }

    #[test]
    fn keys_that_could_escape_or_surprise_are_refused() {
        for k in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a/",
            ".hidden",
            "a/.staging/b",
            "a\\b",
            "a b",
            "a\0b",
            "é",
            "a/%2e%2e/b",
        ] {
            assert!(validate_key(k).is_err(), "{k:?}");
        }
        assert!(validate_key(&"a".repeat(MAX_KEY_LEN + 1)).is_err());
    }
}
