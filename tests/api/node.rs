//! npm `socket.io-client` for the interop tests, installed on first use so that a fresh
//! clone needs only `cargo test` (with Node.js and npm in PATH).
//!
//! The first test that needs it runs `npm ci` in `tests/` (the versions pinned by
//! `tests/package-lock.json`) under an exclusive lock on `tests/.npm-install.lock`: test
//! threads and concurrent `cargo test` processes install once, the others wait for it.
//! A stamp in `node_modules/` holds the digest of the lock file it was installed from,
//! so an interrupted install is redone and a changed pin is picked up.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// Written into `node_modules/` once `npm ci` succeeded.
const STAMP: &str = ".prc-installed";
/// Taken while installing, next to `package.json`.
const LOCK: &str = ".npm-install.lock";

/// `tests/` of this checkout.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Makes sure `node` runs and `tests/node_modules` holds the pinned `socket.io-client`,
/// installing it the first time; panics with what to do when that is impossible.
pub fn ensure_socketio_client() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        check_node()?;
        install_once(&tests_dir(), npm_ci)
    });
    if let Err(why) = ready {
        panic!("{why}");
    }
}

fn check_node() -> Result<(), String> {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`node --version` failed ({}): the socket.io-client interop tests need Node.js",
            out.status
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(missing("node")),
        Err(e) => Err(format!("cannot run `node`: {e}")),
    }
}

fn missing(program: &str) -> String {
    format!(
        "`{program}` is not in PATH: the socket.io-client interop tests need Node.js and npm \
         (Debian/Ubuntu: `apt-get install nodejs npm`; or https://nodejs.org)"
    )
}

/// `npm ci` in `dir`, output kept for the error.
fn npm_ci(dir: &Path) -> Result<(), String> {
    eprintln!(
        "installing socket.io-client for the interop tests: npm ci in {}",
        dir.display()
    );
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => missing("npm"),
            _ => format!("cannot run `npm`: {e}"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`npm ci` in {} failed ({}); run it there to see why:\n{}{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs `install` in `dir` unless `dir/node_modules` was installed from the current
/// `dir/package-lock.json`; one caller at a time across threads and processes.
pub fn install_once(
    dir: &Path,
    install: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let wanted = lock_digest(dir)?;
    let stamp = dir.join("node_modules").join(STAMP);
    let installed = || fs::read_to_string(&stamp).is_ok_and(|s| s == wanted);
    if installed() {
        return Ok(());
    }
    let lock_path = dir.join(LOCK);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    // Whoever held the lock before may have installed it meanwhile.
    if installed() {
        return Ok(());
    }
    install(dir)?;
    let partial = stamp.with_extension("partial");
    fs::write(&partial, &wanted)
        .and_then(|()| fs::rename(&partial, &stamp))
        .map_err(|e| format!("cannot write {}: {e}", stamp.display()))
    // `lock` is released when dropped.
}

fn lock_digest(dir: &Path) -> Result<String, String> {
    let path = dir.join("package-lock.json");
    let bytes = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A stand-in for `npm ci`: counts its runs, takes a while, creates `node_modules`.
    fn fake_install(runs: &AtomicUsize) -> impl FnOnce(&Path) -> Result<(), String> + '_ {
        move |dir| {
            runs.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            fs::create_dir_all(dir.join("node_modules")).map_err(|e| e.to_string())
        }
    }

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("package-lock.json"), "{\"v\": 1}").unwrap();
        dir
    }

    #[test]
    fn concurrent_callers_install_once() {
        let dir = project();
        let runs = AtomicUsize::new(0);
        let barrier = Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    barrier.wait();
                    // Each call opens the lock file itself, as another process would.
                    install_once(dir.path(), fake_install(&runs)).unwrap();
                });
            }
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        install_once(dir.path(), fake_install(&runs)).unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_changed_pin_or_a_lost_stamp_reinstalls() {
        let dir = project();
        let runs = AtomicUsize::new(0);
        install_once(dir.path(), fake_install(&runs)).unwrap();
        fs::write(dir.path().join("package-lock.json"), "{\"v\": 2}").unwrap();
        install_once(dir.path(), fake_install(&runs)).unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        // An install cut short leaves no stamp.
        fs::remove_file(dir.path().join("node_modules").join(STAMP)).unwrap();
        install_once(dir.path(), fake_install(&runs)).unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_failed_install_is_reported_and_retried() {
        let dir = project();
        let err = install_once(dir.path(), |_| Err("registry unreachable".to_owned()));
        assert_eq!(err, Err("registry unreachable".to_owned()));
        let runs = AtomicUsize::new(0);
        install_once(dir.path(), fake_install(&runs)).unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    /// Several test processes at once (as two `cargo test` runs in one checkout) install
    /// once: this test runs copies of itself as child processes.
    #[test]
    fn concurrent_processes_install_once() {
        const DIR: &str = "PRC_TEST_NODE_INSTALL_DIR";
        const NAME: &str = "node::tests::concurrent_processes_install_once";
        if let Ok(dir) = std::env::var(DIR) {
            // A child: the fake install appends a line to `runs`.
            return install_once(Path::new(&dir), |dir| {
                let mut runs = fs::read_to_string(dir.join("runs")).unwrap_or_default();
                runs.push_str("run\n");
                fs::write(dir.join("runs"), runs).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                fs::create_dir_all(dir.join("node_modules")).map_err(|e| e.to_string())
            })
            .unwrap();
        }
        let dir = project();
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..4)
            .map(|_| {
                Command::new(&exe)
                    .args([NAME, "--exact", "--quiet"])
                    .env(DIR, dir.path())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut child in children {
            assert!(child.wait().unwrap().success());
        }
        let runs = fs::read_to_string(dir.path().join("runs")).unwrap();
        assert_eq!(runs.lines().count(), 1, "{runs}");
    }
}
