//! Running external tools (ffprobe, ffmpeg): timeout, `kill_on_drop`, bounded output
//! capture, and typed errors that say how to fix a missing tool.

use std::ffi::OsStr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// Largest stdout kept (ffprobe JSON of a file with many streams stays far below).
const MAX_STDOUT: u64 = 16 * 1024 * 1024;
/// Largest stderr kept, for error messages.
const MAX_STDERR: u64 = 64 * 1024;

/// What a finished tool printed.
#[derive(Debug)]
pub struct ToolOutput {
    /// Standard output (bounded).
    pub stdout: Vec<u8>,
    /// Standard error (bounded, lossy UTF-8).
    pub stderr: String,
}

/// Why a tool run failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program is not installed.
    #[error(
        "{program} not found in PATH: install ffmpeg (e.g. `apt-get install ffmpeg`) or set media.{program}"
    )]
    NotFound {
        /// Program name.
        program: String,
    },
    /// It ran longer than allowed and was killed.
    #[error("{program} did not finish within {timeout:?}")]
    Timeout {
        /// Program name.
        program: String,
        /// The limit.
        timeout: Duration,
    },
    /// It exited with an error.
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        /// Program name.
        program: String,
        /// Exit status.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// It could not be started or read.
    #[error("cannot run {program}: {source}")]
    Io {
        /// Program name.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Runs `program args…` with no stdin, killing it after `timeout` (or when the future is
/// dropped). A non-zero exit is [`ProcessError::Failed`].
pub async fn run<I, S>(
    program: &str,
    args: I,
    timeout: Duration,
) -> Result<ToolOutput, ProcessError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let name = std::path::Path::new(program)
        .file_name()
        .map_or_else(|| program.to_owned(), |n| n.to_string_lossy().into_owned());
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ProcessError::NotFound {
                program: name.clone(),
            },
            _ => ProcessError::Io {
                program: name.clone(),
                source,
            },
        })?;
    let (mut stdout, mut stderr) = match (child.stdout.take(), child.stderr.take()) {
        (Some(o), Some(e)) => (o, e),
        _ => {
            return Err(ProcessError::Io {
                program: name,
                source: std::io::Error::other("missing pipes"),
            });
        }
    };
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            (&mut stdout).take(MAX_STDOUT).read_to_end(&mut out).await?;
            // Drain anything beyond the cap so the child never blocks on a full pipe.
            tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await
        };
        let read_err = async {
            (&mut stderr).take(MAX_STDERR).read_to_end(&mut err).await?;
            tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await
        };
        let (a, b) = tokio::join!(read_out, read_err);
        a?;
        b?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    let (status, stdout, stderr) = match tokio::time::timeout(timeout, work).await {
        Err(_) => {
            return Err(ProcessError::Timeout {
                program: name,
                timeout,
            });
        }
        Ok(Err(source)) => {
            return Err(ProcessError::Io {
                program: name,
                source,
            });
        }
        Ok(Ok(v)) => v,
    };
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    if !status.success() {
        let tail: String = stderr
            .trim()
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ProcessError::Failed {
            program: name,
            status: status.to_string(),
            stderr: tail,
        });
    }
    Ok(ToolOutput { stdout, stderr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_program_names_the_fix() {
        let err = run("definitely-not-ffprobe", ["-h"], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, ProcessError::NotFound { .. }));
        assert!(err.to_string().contains("apt-get install ffmpeg"), "{err}");
    }

    #[tokio::test]
    async fn slow_programs_are_killed_at_the_timeout() {
        let started = std::time::Instant::now();
        let err = run("sleep", ["10"], Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, ProcessError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn failures_carry_the_end_of_stderr() {
        let err = run(
            "sh",
            ["-c", "echo first >&2; echo boom >&2; exit 3"],
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        match err {
            ProcessError::Failed { stderr, status, .. } => {
                assert!(stderr.contains("boom"), "{stderr}");
                assert!(status.contains('3'), "{status}");
            }
            other => panic!("{other}"),
        }
        let ok = run("sh", ["-c", "printf hi"], Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(ok.stdout, b"hi");
    }
}
