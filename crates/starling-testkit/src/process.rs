//! Programs run with a time limit and their output captured, and stopping
//! the processes a test started (by PID, never by name).

use std::fs;
use std::io::Read;
use std::path::Path;
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

/// A program running in the background with its output captured. Dropping
/// it kills the program if it still runs.
#[derive(Debug)]
pub struct Running {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    /// Starts `command` with standard input closed and both outputs
    /// captured.
    ///
    /// # Errors
    ///
    /// When the program cannot be started.
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
        let status = wait_until(&mut self.child, Instant::now() + limit);
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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
///
/// ```
/// use std::process::Command;
/// use std::time::Duration;
///
/// use starling_testkit::process::run_with_limit;
///
/// let done = run_with_limit(Command::new("echo").arg("hi"), Duration::from_secs(30)).unwrap();
/// assert!(done.success(), "{}", done.describe());
/// assert_eq!(done.stdout, "hi\n");
/// ```
///
/// # Errors
///
/// When the program cannot be started.
pub fn run_with_limit(command: &mut Command, limit: Duration) -> Result<Finished, String> {
    Ok(Running::spawn(command)?.finish(limit))
}

/// Runs `command` within `limit` and returns its standard output; a
/// non-zero exit or the time running out is an error that includes the
/// command and both output streams.
///
/// # Errors
///
/// As said.
pub fn run_checked(command: &mut Command, limit: Duration) -> Result<String, String> {
    let finished = run_with_limit(command, limit)?;
    if finished.success() {
        Ok(finished.stdout)
    } else {
        Err(format!("{command:?}: {}", finished.describe()))
    }
}

fn read_in_thread(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` to exit until `deadline`; `None` if it is still
/// running then.
pub fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Sends the signal `name` (`TERM`, `KILL`, `HUP`, …) to each of `pids`
/// that is still alive, with `kill(1)`. Returns whether `kill` succeeded.
pub fn signal(pids: &[u32], name: &str) -> bool {
    let pids: Vec<String> = pids
        .iter()
        .filter(|&&pid| is_alive(pid))
        .map(u32::to_string)
        .collect();
    if pids.is_empty() {
        return true;
    }
    Command::new("kill")
        .arg(format!("-{name}"))
        .args(&pids)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// SIGTERM, up to `grace` to exit, then SIGKILL; returns the exit status
/// (`None` when it had to be killed).
pub fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    signal(&[child.id()], "TERM");
    let status = wait_until(child, Instant::now() + grace);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// Stops `child` and every process it started, and the process whose PID
/// is in `pid_file` (when it is one of those or an orphan of them): SIGTERM,
/// up to `grace` to exit, then SIGKILL.
///
/// # Errors
///
/// When some process is still there five seconds after SIGKILL.
pub fn stop_tree(mut child: Child, pid_file: Option<&Path>, grace: Duration) -> Result<(), String> {
    let mut pids = vec![child.id()];
    pids.extend(descendants(child.id()));
    if let Some(pid) = pid_file.and_then(read_pid) {
        if !pids.contains(&pid) && is_descendant_or_orphan_of(pid, child.id()) {
            pids.push(pid);
        }
    }
    signal(&pids, "TERM");
    let deadline = Instant::now() + grace;
    let _ = wait_until(&mut child, deadline);
    while Instant::now() < deadline && pids.iter().any(|&pid| is_alive(pid)) {
        thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|&pid| is_alive(pid)).collect();
    if left.is_empty() {
        return Ok(());
    }
    signal(&left, "KILL");
    let _ = child.kill();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && left.iter().any(|&pid| is_alive(pid)) {
        thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = left.into_iter().filter(|&pid| is_alive(pid)).collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("processes {left:?} survived SIGKILL"))
    }
}

/// The PID in a PID file.
pub fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `(pid, ppid, state)` of a process, from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(u32, u32, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((pid, ppid, state))
}

fn all_processes() -> Vec<(u32, u32, char)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_stat)
        .collect()
}

/// Every running descendant of `root`.
pub fn descendants(root: u32) -> Vec<u32> {
    let processes = all_processes();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        for &(pid, ppid, _) in &processes {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
            }
        }
        i += 1;
    }
    found.remove(0);
    found
}

/// Whether `pid` (read from a PID file) is one of ours: a descendant of
/// `root`, or an orphan re-parented after `root` died. Guards against
/// signalling an unrelated process that reused a stale PID.
fn is_descendant_or_orphan_of(pid: u32, root: u32) -> bool {
    descendants(root).contains(&pid) || proc_stat(pid).is_some_and(|(_, ppid, _)| ppid == 1)
}

/// Whether `pid` is a process that has not exited (zombies have).
pub fn is_alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(_, _, state)| state != 'Z' && state != 'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_status_are_captured() {
        let done = run_with_limit(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(done.code(), Some(3));
        assert_eq!(
            (done.stdout.as_str(), done.stderr.as_str()),
            ("out\n", "err\n")
        );
        assert!(run_checked(Command::new("true").arg("x"), Duration::from_secs(30)).is_ok());
        assert!(run_checked(&mut Command::new("false"), Duration::from_secs(30)).is_err());
    }

    #[test]
    fn the_limit_kills() {
        let done =
            run_with_limit(Command::new("sleep").arg("30"), Duration::from_millis(200)).unwrap();
        assert!(done.status.is_none() && !done.success());
    }

    #[test]
    fn a_tree_is_stopped() {
        let child = Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30; wait"])
            .spawn()
            .unwrap();
        let root = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while descendants(root).len() < 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let below = descendants(root);
        assert_eq!(below.len(), 2, "{below:?}");
        stop_tree(child, None, Duration::from_secs(5)).unwrap();
        assert!(below.iter().all(|&pid| !is_alive(pid)));
    }
}
