//! The binary's subcommands, run as a user would.

use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::TestDb;

struct Cli {
    db: TestDb,
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        Cli {
            db: TestDb::new(dir.path()),
            dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(&[], args)
    }

    /// Runs with `env` added to a `PRC_`-free environment.
    fn run_with(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"));
        for (k, _) in std::env::vars() {
            if k.starts_with("PRC_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("PRC_DATA_DIR", self.dir.path())
            .envs(env.iter().copied())
            .arg("--database-url")
            .arg(&self.db.url)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_with(&[], args)
    }

    fn ok_with(&self, env: &[(&str, &str)], args: &[&str]) -> String {
        let out = self.run_with(env, args);
        assert!(
            out.status.success(),
            "{args:?}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

#[test]
fn registration_tokens_can_be_created_listed_and_deleted() {
    let cli = Cli::new();
    let token = cli.ok(&["registration-token", "create"]);
    let token = token.trim();
    assert!(token.starts_with("ptrrt-"), "{token}");
    assert!(cli.ok(&["registration-token", "list"]).contains(token));
    let list: Value =
        serde_json::from_str(&cli.ok(&["registration-token", "list", "--json"])).unwrap();
    assert_eq!(list[0]["registrationToken"], token);
    assert_eq!(list[0]["registeredRunnersCount"], 0);
    let id = list[0]["id"].as_i64().unwrap().to_string();
    cli.ok(&["registration-token", "delete", &id]);
    assert!(!cli.ok(&["registration-token", "list"]).contains(token));

    let out = cli.run(&["registration-token", "delete", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Registration token not found"));
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let cli = Cli::new();
    let out = cli.run(&["runner", "delete", "not-a-number"]);
    assert!(!out.status.success());
    let out = cli.run(&["runner", "delete", "424242"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Runner not found"));
}

#[test]
fn runners_can_be_listed_and_deleted() {
    let cli = Cli::new();
    let token = cli.ok(&["registration-token", "create"]).trim().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = peertube_runner_connector::db::Db::connect(
            &cli.db.url,
            &peertube_runner_connector::db::PoolOptions {
                max_connections: 1,
                connect_timeout: std::time::Duration::from_secs(5),
                ..Default::default()
            },
        )
        .unwrap();
        peertube_runner_connector::service::runners::register(
            &db,
            peertube_runner_connector::service::runners::Registration {
                registration_token: token.parse().unwrap(),
                name: "encoder-7".into(),
                description: None,
                version: Some("0.0.21".into()),
                ip: "10.1.2.3".into(),
            },
            peertube_runner_connector::db::now(),
        )
        .await
        .unwrap();
    });
    let table = cli.ok(&["runner", "list"]);
    assert!(
        table.contains("encoder-7") && table.contains("10.1.2.3") && table.contains("0.0.21"),
        "{table}"
    );
    let list: Value = serde_json::from_str(&cli.ok(&["runner", "list", "--json"])).unwrap();
    let id = list[0]["id"].as_i64().unwrap().to_string();
    cli.ok(&["runner", "delete", &id]);
    let list: Value = serde_json::from_str(&cli.ok(&["runner", "list", "--json"])).unwrap();
    assert_eq!(list, Value::Array(vec![]));
}

#[test]
fn migrate_reports_what_it_applied() {
    let cli = Cli::new();
    assert!(cli.ok(&["migrate"]).contains("applied"));
    assert_eq!(cli.ok(&["migrate"]).trim(), "database is up to date");
}

#[test]
fn config_prints_the_effective_configuration_with_secrets_masked() {
    let cli = Cli::new();
    let file = cli.dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[auth]\napi_keys = [\"sekrit-api\"]\n[server]\nbind = \"0.0.0.0:9999\"\n",
    )
    .unwrap();
    let out = cli.ok(&["--config", file.to_str().unwrap(), "config"]);
    assert!(out.contains("bind = \"0.0.0.0:9999\""), "{out}");
    assert!(
        out.contains("********") && !out.contains("sekrit-api"),
        "{out}"
    );
    let parsed: toml::Value = toml::from_str(&out).unwrap();
    assert_eq!(parsed["transcoding"]["max_failures"].as_integer(), Some(5));
}

#[test]
fn unreadable_config_and_unreachable_database_fail_clearly() {
    let cli = Cli::new();
    let out = cli.run(&["--config", "/nonexistent/prc.toml", "config"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/prc.toml"));

    let out = Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"))
        .args([
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "runner",
            "list",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open database"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_peertube-runner-connector"))
        .args(["--database-url", "mysql://x/y", "migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}

#[test]
fn serve_refuses_a_bad_bind_address() {
    let cli = Cli::new();
    let out = cli.run(&["serve", "--bind", "not-an-address"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on not-an-address"));
}

#[test]
fn settings_of_features_that_do_not_exist_stop_the_binary_naming_the_variable() {
    let cli = Cli::new();
    for (var, value) in [
        ("PRC_WEBHOOKS__URLS", "https://example.org/hook"),
        ("PRC_AUTH__ADMIN_TOKENS", "admin-secret"),
    ] {
        for command in ["config", "serve"] {
            let out = cli.run_with(&[(var, value)], &[command]);
            assert!(!out.status.success(), "{var} {command}");
            let err = String::from_utf8_lossy(&out.stderr);
            let named = var.split("__").next().unwrap();
            assert!(
                err.contains("unknown field") && err.contains(named),
                "{var} {command}: {err}"
            );
        }
    }
}

#[test]
fn one_api_key_a_comma_list_and_a_database_password_come_from_plain_variables() {
    let cli = Cli::new();
    let keys = |value: &str| {
        let out = cli.ok_with(&[("PRC_AUTH__API_KEYS", value)], &["config"]);
        let parsed: toml::Value = toml::from_str(&out).unwrap();
        assert!(!out.contains(value.split(',').next().unwrap()), "{out}");
        parsed["auth"]["api_keys"].as_array().unwrap().len()
    };
    assert_eq!(keys("only-key"), 1);
    assert_eq!(keys("key-one,key-two"), 2);
    assert_eq!(keys(r#"["key-one", "key-two", "key-three"]"#), 3);
    // Admin keys the same way, masked too.
    let out = cli.ok_with(&[("PRC_AUTH__ADMIN_KEYS", "adm-1, adm-2")], &["config"]);
    let parsed: toml::Value = toml::from_str(&out).unwrap();
    assert!(!out.contains("adm-1") && !out.contains("adm-2"), "{out}");
    assert_eq!(parsed["auth"]["admin_keys"].as_array().unwrap().len(), 2);

    // libpq takes the URL the password is encoded into (on PostgreSQL: the test server
    // trusts local connections, so this proves the URL, not the password check).
    let password = r#"p@ss/:#"%41 ?[]"#;
    if cli.db.is_postgres() {
        let out = cli.ok_with(&[("PRC_DATABASE__PASSWORD", password)], &["migrate"]);
        assert!(out.contains("applied"), "{out}");
    } else {
        let out = cli.run_with(&[("PRC_DATABASE__PASSWORD", password)], &["migrate"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("database.password needs"), "{err}");
    }
}
