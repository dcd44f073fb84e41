//! Captions: the language tags they are stored under, where they come from, the check
//! that a file is WebVTT, and their storage keys.
//!
//! Languages are BCP 47 tags (RFC 5646) in the subset captions use: a primary language
//! subtag, then optionally a script, a region and variants (`fr`, `pt-BR`, `zh-Hans`,
//! `sr-Latn`, `yue`). Two-letter primary subtags must be ISO 639-1 codes; three-letter
//! ones are ISO 639-2/3 codes, checked for shape only (the registry has thousands). Tags
//! are case-normalised (`pt-br` → `pt-BR`) and the deprecated codes Whisper or old
//! systems emit are mapped to the current ones (`jw` → `jv`, `iw` → `he`, `in` → `id`,
//! `ji` → `yi`). Unlike the Django library, whose list (Django's `LANGUAGES`) lacks plain
//! `zh`, every language Whisper detects is accepted.

use std::fmt;

use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};

/// ISO 639-1: every two-letter language code.
const ISO_639_1: [&str; 183] = [
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bi",
    "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de",
    "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy",
    "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz", "ia",
    "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj", "kk",
    "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln", "lo",
    "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd",
    "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl",
    "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk", "sl",
    "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti", "tk",
    "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo", "wa",
    "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

/// Withdrawn two-letter codes still emitted by some tools, and their replacements
/// (Whisper reports Javanese as `jw`).
const DEPRECATED: [(&str, &str); 4] = [("jw", "jv"), ("iw", "he"), ("in", "id"), ("ji", "yi")];

/// Longest tag accepted.
const MAX_TAG_LEN: usize = 35;

/// A caption language: a valid BCP 47 tag, case-normalised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Language(String);

/// Why a language tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{tag}` is not a language code ({reason}); use an ISO 639-1 code or a BCP 47 tag such as `en`, `pt-BR` or `zh-Hans`"
)]
pub struct InvalidLanguage {
    /// The tag as given (at most 64 characters, without control characters).
    pub tag: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn alpha(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn alnum(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Language {
    /// Parses and normalises `tag` (see the module documentation).
    pub fn parse(tag: &str) -> Result<Language, InvalidLanguage> {
        let fail = |reason| InvalidLanguage {
            tag: tag.chars().filter(|c| !c.is_control()).take(64).collect(),
            reason,
        };
        if tag.is_empty() || tag.len() > MAX_TAG_LEN {
            return Err(fail("1 to 35 characters"));
        }
        let mut subtags = tag.split(['-', '_']);
        let primary = subtags.next().unwrap_or_default().to_ascii_lowercase();
        let primary = match primary.len() {
            2 if alpha(&primary) => {
                let current = DEPRECATED
                    .iter()
                    .find(|(old, _)| *old == primary)
                    .map_or(primary.as_str(), |(_, new)| *new);
                if !ISO_639_1.contains(&current) {
                    return Err(fail("not an ISO 639-1 code"));
                }
                current.to_owned()
            }
            3 if alpha(&primary) => primary,
            _ => return Err(fail("the language must be 2 or 3 letters")),
        };
        let mut out = primary;
        // Script, then region, then variants, each at most once and in this order.
        let mut stage = 0;
        for sub in subtags {
            let (next, normalised) = match sub.len() {
                4 if stage < 1 && alpha(sub) => {
                    let mut s = sub.to_ascii_lowercase();
                    s[..1].make_ascii_uppercase();
                    (1, s)
                }
                2 if stage < 2 && alpha(sub) => (2, sub.to_ascii_uppercase()),
                3 if stage < 2 && digits(sub) => (2, sub.to_owned()),
                5..=8 if alnum(sub) => (3, sub.to_ascii_lowercase()),
                4 if sub.as_bytes()[0].is_ascii_digit() && alnum(sub) => {
                    (3, sub.to_ascii_lowercase())
                }
                _ => return Err(fail("a script, region or variant subtag is malformed")),
            };
            stage = next;
            out.push('-');
            out.push_str(&normalised);
        }
        Ok(Language(out))
    }

    /// The normalised tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Language {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Where a caption comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptionSource {
    /// Made by a transcription job (the machine's text).
    Auto,
    /// Uploaded by the application (`PUT …/captions/{lang}`); a transcription never
    /// replaces it.
    Uploaded,
}

impl CaptionSource {
    /// Stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            CaptionSource::Auto => "auto",
            CaptionSource::Uploaded => "uploaded",
        }
    }

    /// Source for a stored string.
    pub fn parse(s: &str) -> Option<CaptionSource> {
        [CaptionSource::Auto, CaptionSource::Uploaded]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A stored caption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption {
    /// Internal id.
    pub id: i64,
    /// Owning video.
    pub video_id: i64,
    /// Its language (one caption per language and video).
    pub language: Language,
    /// Storage key of the WebVTT file.
    pub storage_key: String,
    /// Machine or application.
    pub source: CaptionSource,
    /// Bytes.
    pub size: i64,
    /// The transcription job that made it.
    pub job_id: Option<i64>,
    /// Creation time.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A caption to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCaption {
    /// Its language.
    pub language: Language,
    /// Storage key of the WebVTT file.
    pub storage_key: String,
    /// Machine or application.
    pub source: CaptionSource,
    /// Bytes.
    pub size: i64,
    /// The transcription job that made it.
    pub job_id: Option<i64>,
}

/// Why a file is not an acceptable caption.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidVtt {
    /// Larger than the configured limit.
    #[error("the caption file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// `captions.max_bytes`.
        limit: u64,
    },
    /// Not UTF-8 text.
    #[error("the caption file is not UTF-8 text")]
    NotUtf8,
    /// No `WEBVTT` signature at its start.
    #[error("the caption file is not WebVTT (it must start with the line `WEBVTT`)")]
    NoSignature,
}

/// Checks that `bytes` are a WebVTT file: UTF-8 text starting (after an optional
/// byte-order mark) with `WEBVTT` followed by a space, a tab, a line break or nothing.
pub fn check_vtt(bytes: &[u8]) -> Result<(), InvalidVtt> {
    let text = std::str::from_utf8(bytes).map_err(|_| InvalidVtt::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text.strip_prefix("WEBVTT").ok_or(InvalidVtt::NoSignature)?;
    match rest.chars().next() {
        None | Some(' ' | '\t' | '\n' | '\r') => Ok(()),
        Some(_) => Err(InvalidVtt::NoSignature),
    }
}

/// `<dir>/<base>-<lang>-<rev>.vtt`: each stored version of a caption has its own key
/// (`rev` is random), so a replaced or deleted caption never shares a key with the one
/// that replaces it, and caches never serve a replaced text under the same URL.
pub fn key(dir: &str, base: &str, language: &Language, rev: &str) -> String {
    format!("{dir}/{base}-{language}-{rev}.vtt")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(s: &str) -> Option<String> {
        Language::parse(s).ok().map(|l| l.0)
    }

    #[test]
    fn tags_are_validated_and_normalised() {
        assert_eq!(lang("fr").as_deref(), Some("fr"));
        assert_eq!(lang("pt-br").as_deref(), Some("pt-BR"));
        assert_eq!(lang("pt_BR").as_deref(), Some("pt-BR"));
        assert_eq!(lang("ZH-hans").as_deref(), Some("zh-Hans"));
        assert_eq!(lang("sr-latn-rs").as_deref(), Some("sr-Latn-RS"));
        assert_eq!(lang("es-419").as_deref(), Some("es-419"));
        assert_eq!(lang("de-CH-1996").as_deref(), Some("de-CH-1996"));
        assert_eq!(lang("yue").as_deref(), Some("yue"));
        assert_eq!(lang("jw").as_deref(), Some("jv"));
        assert_eq!(lang("iw").as_deref(), Some("he"));
        for bad in [
            "",
            "x",
            "xx",
            "english",
            "f1",
            "fr-",
            "fr--CA",
            "fr-CA-Latn",
            "fr-ca-ca",
            "../fr",
            "fr/../x",
            "fr CA",
            "fr.vtt",
            "zh-Hans-Hant",
            "é",
        ] {
            assert_eq!(lang(bad), None, "{bad}");
        }
        assert!(lang(&format!("en-{}", "a".repeat(40))).is_none());
        let err = Language::parse("xx").unwrap_err();
        assert!(err.to_string().contains("ISO 639-1"), "{err}");
    }

    #[test]
    fn every_language_whisper_detects_and_djangos_list_are_accepted() {
        let whisper = "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs \
            ro da hu ta no th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is \
            hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht \
            ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue";
        let django = "af ar ar-dz ast az bg be bn br bs ca ckb cs cy da de dsb el en en-au en-gb \
            eo es es-ar es-co es-mx es-ni es-ve et eu fa fi fr fy ga gd gl he hi hr hsb hu hy ia \
            id ig io is it ja ka kab kk km kn ko ky lb lt lv mk ml mn mr ms my nb ne nl nn os pa \
            pl pt pt-br ro ru sk sl sq sr sr-latn sv sw ta te tg th tk tr tt udm ug uk ur uz vi \
            zh-hans zh-hant";
        for code in whisper.split_whitespace().chain(django.split_whitespace()) {
            assert!(lang(code).is_some(), "{code}");
        }
        let mut sorted = ISO_639_1.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ISO_639_1.len());
    }

    #[test]
    fn vtt_needs_its_signature_and_utf8() {
        assert_eq!(
            check_vtt(b"WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n"),
            Ok(())
        );
        assert_eq!(check_vtt(b"WEBVTT"), Ok(()));
        assert_eq!(check_vtt(b"WEBVTT - Kind: captions\r\n"), Ok(()));
        assert_eq!(check_vtt("\u{feff}WEBVTT\n".as_bytes()), Ok(()));
        assert_eq!(check_vtt(b"WEBVTTX\n"), Err(InvalidVtt::NoSignature));
        assert_eq!(
            check_vtt(b"1\n00:00:00,000 --> 00:00:01,000\nHi\n"),
            Err(InvalidVtt::NoSignature)
        );
        assert_eq!(check_vtt(b""), Err(InvalidVtt::NoSignature));
        assert_eq!(check_vtt(b"WEBVTT\n\xff\xfe"), Err(InvalidVtt::NotUtf8));
        assert_eq!(
            check_vtt(b"\x00\x00\x00\x18ftypmp42"),
            Err(InvalidVtt::NoSignature)
        );
    }

    #[test]
    fn keys_are_per_version_under_the_folder() {
        let fr = Language::parse("pt-br").unwrap();
        assert_eq!(key("v/a", "clip", &fr, "0f3a"), "v/a/clip-pt-BR-0f3a.vtt");
        assert_eq!(CaptionSource::parse("auto"), Some(CaptionSource::Auto));
        assert_eq!(
            CaptionSource::parse("uploaded"),
            Some(CaptionSource::Uploaded)
        );
        assert_eq!(CaptionSource::parse("x"), None);
    }
}
