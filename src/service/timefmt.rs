//! Timestamps on the wire as PeerTube writes them: ISO 8601 UTC with milliseconds
//! (`2024-09-18T10:20:30.123Z`).

use chrono::NaiveDateTime;
use serde::Serializer;

/// Formats a UTC timestamp.
pub fn format(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `#[serde(with = "timefmt")]` serializer.
pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

/// `Option` variant: `#[serde(with = "timefmt::option")]`.
pub mod option {
    use super::*;

    /// Serializes `None` as `null`.
    pub fn serialize<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format(t)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_javascript_to_iso_string() {
        let t = chrono::NaiveDate::from_ymd_opt(2024, 9, 18)
            .and_then(|d| d.and_hms_micro_opt(10, 20, 30, 123_456));
        assert_eq!(
            t.map(|t| super::format(&t)).as_deref(),
            Some("2024-09-18T10:20:30.123Z")
        );
    }
}
