//! Helpers for tests against real XMPP servers, shared by the client's
//! tests and, later, the server and federation tests (include this
//! directory with `mod support;`).
//!
//! * [`peers`]: starting and stopping Prosody and ejabberd, and their
//!   accounts;
//! * [`run_with_limit`] and [`Running`]: programs run with a time limit and
//!   their output captured (for the command-line tools).
//!
//! Only the standard library is used here.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test target uses a different part of these helpers"
)]

pub mod peers;

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How a program run by [`run_with_limit`] or [`Running`] ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status; `None` when it was killed at the time limit.
    pub status: Option<ExitStatus>,
    /// What it wrote to standard output.
    pub stdout: String,
    /// What it wrote to standard error.
    pub stderr: String,
}

impl Finished {
    /// The exit code, if it exited by itself (not at the limit, not by a
    /// signal).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|status| status.code())
    }

    /// Whether it exited with code 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }

    /// A description for failure messages: status and both outputs.
    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(status) => status.to_string(),
            None => "killed at the time limit".to_owned(),
        };
        format!(
            "{status}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// A program running in the background with its output captured.
#[derive(Debug)]
pub struct Running {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    /// Starts `command` with standard input closed and both outputs
    /// captured.
    pub fn spawn(command: &mut Command) -> Result<Running, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let stdout = child.stdout.take().map(read_in_thread);
        let stderr = child.stderr.take().map(read_in_thread);
        Ok(Running {
            child,
            stdout,
            stderr,
        })
    }

    /// Whether it has exited.
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for it to exit, killing it if it is still running after
    /// `limit`, and collects its output.
    pub fn finish(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        let collect = |handle: Option<JoinHandle<String>>| {
            handle
                .and_then(|handle| handle.join().ok())
                .unwrap_or_default()
        };
        Finished {
            status,
            stdout: collect(self.stdout.take()),
            stderr: collect(self.stderr.take()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A program still running when its test gives up is not left behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `command` to completion, killing it after `limit`.
pub fn run_with_limit(command: &mut Command, limit: Duration) -> Result<Finished, String> {
    Ok(Running::spawn(command)?.finish(limit))
}

fn read_in_thread(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Writes a line to standard error even while the test harness captures
/// output (it captures only the print macros): for what must be seen when a
/// test passes, such as why it skipped its work.
pub fn note(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}
