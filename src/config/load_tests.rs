//! Loading through [`Settings::load_from`]: environment values as written, lists from
//! one string, the database password, and settings of features that do not exist.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::tests::{env, load};
use super::*;

fn api_keys(value: &str) -> Vec<String> {
    let s = load(
        None,
        &[("PRC_AUTH__API_KEYS", value)],
        &Overrides::default(),
    );
    s.auth
        .api_keys
        .iter()
        .map(|k| k.expose().to_owned())
        .collect()
}

#[test]
fn api_keys_come_from_the_environment_as_one_key_a_comma_list_or_a_toml_list() {
    assert_eq!(api_keys("secret"), ["secret"]);
    assert_eq!(api_keys("a,b"), ["a", "b"]);
    assert_eq!(api_keys(" a , b ,"), ["a", "b"]);
    assert_eq!(api_keys(r#"["k1", "k2"]"#), ["k1", "k2"]);
    assert_eq!(api_keys(r#"["with,comma"]"#), ["with,comma"]);
    assert!(api_keys("").is_empty());
    // Kept as written, never read as a number, a boolean or a float.
    assert_eq!(api_keys("007"), ["007"]);
    assert_eq!(api_keys("true"), ["true"]);
    assert_eq!(api_keys("1e5"), ["1e5"]);
    assert_eq!(api_keys("p@ss:/#\"x"), ["p@ss:/#\"x"]);
    // A TOML file takes a list, as before.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[auth]\napi_keys = [\"f1\", \"f2\"]\n").unwrap();
    let s = load(Some(&file), &[], &Overrides::default());
    assert_eq!(s.auth.api_keys, vec![Secret::new("f1"), Secret::new("f2")]);
    // A broken list is refused without quoting the value, which may be a secret.
    let err = Settings::load_from(
        None,
        env(&[("PRC_AUTH__API_KEYS", "[\"unterminated-secret")]),
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("PRC_AUTH__API_KEYS") && err.contains("TOML list"),
        "{err}"
    );
    assert!(!err.contains("unterminated-secret"), "{err}");
}

#[test]
fn environment_values_become_numbers_booleans_and_lists_where_the_setting_wants_them() {
    let s = load(
        None,
        &[
            ("PRC_SERVER__WORKERS", "4"),
            ("PRC_SERVER__TRUSTED_PROXIES", "10.0.0.1, ::1"),
            ("PRC_TRANSCODING__HLS", "false"),
            ("PRC_TRANSCODING__RESOLUTIONS__1080P", "true"),
            ("PRC_TRANSCODING__FPS__STANDARD", "24,30"),
            ("PRC_TRANSCODING__FPS__HD_STANDARD", "[50, 60]"),
            ("PRC_RUNNERS__STALLED_VOD_AFTER", "90s"),
            ("PRC_DATA_DIR", "007"),
        ],
        &Overrides::default(),
    );
    assert_eq!(s.server.workers, 4);
    assert_eq!(
        s.server.trusted_proxies,
        vec![
            "10.0.0.1".parse::<IpAddr>().unwrap(),
            "::1".parse::<IpAddr>().unwrap()
        ]
    );
    assert!(!s.transcoding.hls);
    assert_eq!(
        s.transcoding.resolutions.enabled(),
        vec![360, 480, 720, 1080]
    );
    assert_eq!(s.transcoding.fps.standard, vec![24, 30]);
    assert_eq!(s.transcoding.fps.hd_standard, vec![50, 60]);
    assert_eq!(s.runners.stalled_vod_after, Duration::from_secs(90));
    assert_eq!(s.data_dir, PathBuf::from("007"));
    let o = Overrides::default();
    let err =
        Settings::load_from(None, env(&[("PRC_SERVER__TRUSTED_PROXIES", "x")]), &o).unwrap_err();
    assert!(
        err.to_string().contains("PRC_SERVER__TRUSTED_PROXIES"),
        "{err}"
    );
}

#[test]
fn settings_of_features_that_do_not_exist_are_refused_as_unknown_fields() {
    let o = Overrides::default();
    for (key, value) in [
        ("PRC_AUTH__ADMIN_TOKENS", "k"),
        ("PRC_WEBHOOKS__URLS", "http://example.org/hook"),
    ] {
        let err = Settings::load_from(None, env(&[(key, value)]), &o)
            .unwrap_err()
            .to_string();
        let field = if key.contains("ADMIN") {
            "admin_tokens"
        } else {
            "urls"
        };
        assert!(
            err.contains("unknown field") && err.contains(field),
            "{key}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    for text in [
        "[auth]\nadmin_tokens = [\"k\"]\n",
        "[webhooks]\nurls = [\"http://example.org/hook\"]\n",
    ] {
        std::fs::write(&file, text).unwrap();
        let err = Settings::load_from(Some(&file), env(&[]), &o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{text}: {err}");
    }
}

#[test]
fn the_database_password_is_percent_encoded_into_the_url() {
    let password = "p@ss/:#\"%41 w?rd[]é";
    let s = load(
        None,
        &[
            (
                "PRC_DATABASE__URL",
                "postgres://connector@db:5432/connector",
            ),
            ("PRC_DATABASE__PASSWORD", password),
        ],
        &Overrides::default(),
    );
    let url = s.database_url();
    let parsed = url::Url::parse(&url).unwrap();
    assert_eq!(parsed.host_str(), Some("db"));
    assert_eq!(parsed.port(), Some(5432));
    assert_eq!(parsed.username(), "connector");
    assert_eq!(parsed.path(), "/connector");
    let sent = percent_encoding::percent_decode_str(parsed.password().unwrap())
        .decode_utf8()
        .unwrap();
    assert_eq!(sent, password);
    // Only ASCII letters and digits are left unescaped, as libpq expects.
    assert!(
        parsed
            .password()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '%'),
        "{url}"
    );
    // It replaces a password written in the URL.
    let s = load(
        None,
        &[
            (
                "PRC_DATABASE__URL",
                "postgresql://u:old@db/x?sslmode=require",
            ),
            ("PRC_DATABASE__PASSWORD", "new"),
        ],
        &Overrides::default(),
    );
    assert_eq!(s.database_url(), "postgresql://u:new@db/x?sslmode=require");
    // Without it the URL is used as written.
    let s = load(
        None,
        &[("PRC_DATABASE__URL", "postgres://u:inline@db/x")],
        &Overrides::default(),
    );
    assert_eq!(s.database_url(), "postgres://u:inline@db/x");
    // A password for SQLite or for a URL without a host is a mistake.
    for url in ["sqlite://data/x.db", "postgres:///x"] {
        let err = Settings::load_from(
            None,
            env(&[("PRC_DATABASE__URL", url), ("PRC_DATABASE__PASSWORD", "pw")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("database.password"),
            "{url}: {err}"
        );
    }
}

#[test]
fn webhook_settings_are_read_from_a_file_and_the_environment_and_checked() {
    let o = Overrides::default();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        format!(
            "[webhooks]\nsecret = \"{secret}\"\nallowed_targets = [\"10.0.0.0/8\", \"lms.internal\"]\n\
             retry_period = \"2h\"\n[[webhooks.endpoints]]\nname = \"lms\"\n\
             url = \"https://lms.example.org/hooks\"\nsecret = \"{secret}\"\n\
             events = [\"video.published\", \"video.failed\"]\n"
        ),
    )
    .unwrap();
    let s = load(Some(&file), &[], &o);
    let w = &s.webhooks;
    assert_eq!(w.secret.as_ref().map(Secret::expose), Some(secret));
    assert_eq!(w.retry_period, Duration::from_secs(7200));
    assert_eq!(w.endpoints.len(), 1);
    let lms = w.endpoint("lms").unwrap();
    assert!(lms.wants(crate::domain::webhook::EventType::VideoPublished));
    assert!(!lms.wants(crate::domain::webhook::EventType::VideoCreated));
    assert!(
        w.target_policy()
            .check("x", "10.1.1.1".parse().unwrap())
            .is_ok()
    );
    assert!(!s.to_toml().unwrap().contains(secret), "secrets are masked");

    // The environment: a TOML list of endpoints, a comma list of targets.
    let endpoints = format!("[{{name=\"a\", url=\"http://a.example/h\", secret=\"{secret}\"}}]");
    let s = load(
        None,
        &[
            ("PRC_WEBHOOKS__ENDPOINTS", endpoints.as_str()),
            ("PRC_WEBHOOKS__ALLOWED_TARGETS", "127.0.0.1,::1"),
            ("PRC_WEBHOOKS__CONCURRENCY", "0"),
        ],
        &o,
    );
    assert_eq!(s.webhooks.endpoints[0].name, "a");
    assert!(s.webhooks.endpoints[0].wants(crate::domain::webhook::EventType::VideoCreated));
    assert_eq!(s.webhooks.allowed_targets, vec!["127.0.0.1", "::1"]);
    assert_eq!(s.webhooks.concurrency, 0);

    for (key, value, says) in [
        ("PRC_WEBHOOKS__SECRET", "s3cret", "whsec_"),
        ("PRC_WEBHOOKS__SECRET", "whsec_AAAA", "24 to 64 bytes"),
        (
            "PRC_WEBHOOKS__ALLOWED_TARGETS",
            "http://x/",
            "allowed_targets",
        ),
        ("PRC_WEBHOOKS__TIMEOUT", "0s", "timeout"),
        ("PRC_WEBHOOKS__MAX_RETRY_DELAY", "1s", "max_retry_delay"),
        ("PRC_WEBHOOKS__ENDPOINTS", "http://a.example/h", "TOML list"),
    ] {
        let err = Settings::load_from(None, env(&[(key, value)]), &o)
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{key}={value}: {err}");
    }
    for (endpoint, says) in [
        (
            format!("{{name=\"a b\", url=\"http://a/\", secret=\"{secret}\"}}"),
            "name",
        ),
        (
            format!("{{name=\"a\", url=\"ftp://a/\", secret=\"{secret}\"}}"),
            "url",
        ),
        (
            format!("{{name=\"a\", url=\"http://u:p@a/\", secret=\"{secret}\"}}"),
            "credentials",
        ),
        (
            "{name=\"a\", url=\"http://a/\", secret=\"x\"}".to_owned(),
            "secret",
        ),
        (
            format!(
                "{{name=\"a\", url=\"http://a/\", secret=\"{secret}\", events=[\"video.done\"]}}"
            ),
            "video.done",
        ),
    ] {
        let list = format!("[{endpoint}, ]");
        let err = Settings::load_from(None, env(&[("PRC_WEBHOOKS__ENDPOINTS", list.as_str())]), &o)
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{endpoint}: {err}");
    }
    let twice = format!(
        "[{{name=\"a\", url=\"http://a/\", secret=\"{secret}\"}}, {{name=\"a\", url=\"http://b/\", secret=\"{secret}\"}}]"
    );
    let err = Settings::load_from(
        None,
        env(&[("PRC_WEBHOOKS__ENDPOINTS", twice.as_str())]),
        &o,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("used twice"), "{err}");
}
