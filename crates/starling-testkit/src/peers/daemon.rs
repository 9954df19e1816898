//! What every peer server process needs: a private directory, commands run
//! as the server's system user when the tests run as root, its output in a
//! log file, and stopping it (by PID) when the test is done.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::dirs::TestDir;
use crate::host::{find_program, is_root};
use crate::logs::tails;
use crate::ports::wait_for_ports;
use crate::process::{run_checked, stop_tree};

/// How long an administration command (`chown`, `prosodyctl`, …) may take.
pub(crate) const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// How long a server may take to stop after SIGTERM before it gets SIGKILL.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// Lines of each log file shown in a failure report.
const TAIL_LINES: usize = 80;

/// A server process of a peer and its directory. Dropping it stops every
/// process it started, prints its logs if the thread is panicking, and
/// removes the directory.
#[derive(Debug)]
pub(crate) struct Daemon {
    /// The server's name, for messages.
    pub(crate) name: &'static str,
    /// The user the server runs as, when the tests run as root.
    run_as: Option<&'static str>,
    /// The process started: the server, or the script that runs it.
    child: Option<Child>,
    /// A file where the server writes its own PID.
    pid_file: Option<PathBuf>,
    /// The server's log files, most useful first.
    logs: Vec<PathBuf>,
    dir: TestDir,
}

impl Daemon {
    /// A fresh directory for the server `name`, which runs as
    /// `system_user` when the tests run as root.
    pub(crate) fn new(name: &'static str, system_user: &'static str) -> Result<Daemon, String> {
        Ok(Daemon {
            name,
            run_as: is_root().then_some(system_user),
            child: None,
            pid_file: None,
            logs: Vec::new(),
            dir: TestDir::new(name)?,
        })
    }

    /// The server's directory.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the server writes its PID (found there when stopping it).
    pub(crate) fn set_pid_file(&mut self, path: PathBuf) {
        self.pid_file = Some(path);
    }

    /// A log file to show with failures.
    pub(crate) fn add_log(&mut self, path: PathBuf) {
        self.logs.push(path);
    }

    /// Writes a file into the directory.
    pub(crate) fn write(&self, name: &str, contents: &str) -> Result<PathBuf, String> {
        let path = self.dir.join(name);
        fs::write(&path, contents).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(path)
    }

    /// Creates a subdirectory.
    pub(crate) fn mkdir(&self, name: &str) -> Result<(), String> {
        fs::create_dir(self.dir.join(name)).map_err(|e| format!("creating {name}: {e}"))
    }

    /// A command for one of the server's programs, run as the server's user
    /// (which gets SIGTERM when the thread that started it ends, so that a
    /// killed test process leaves no server behind), in the directory, with
    /// `HOME` there.
    pub(crate) fn command(&self, program: &str) -> Command {
        let program = find_program(program).unwrap_or_else(|| PathBuf::from(program));
        let mut command = match self.run_as {
            Some(user) => {
                let mut command = Command::new("setpriv");
                command
                    .args(["--reuid", user, "--regid", user, "--init-groups"])
                    .args(["--pdeathsig", "TERM", "--"])
                    .arg(program);
                command
            }
            None => Command::new(program),
        };
        command
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        command
    }

    /// Hands the directory to the server's user (when running as root).
    pub(crate) fn give_directory(&self) -> Result<(), String> {
        let Some(user) = self.run_as else {
            return Ok(());
        };
        let mut command = Command::new("chown");
        command
            .args(["-R", &format!("{user}:{user}")])
            .arg(self.dir.path());
        run_checked(&mut command, COMMAND_LIMIT).map(|_| ())
    }

    /// Starts the server process with its output going to `stdout.log`.
    pub(crate) fn spawn(&mut self, mut command: Command) -> Result<(), String> {
        let output_path = self.dir.join("stdout.log");
        let output = fs::File::create(&output_path)
            .map_err(|e| format!("creating {}: {e}", output_path.display()))?;
        let errors = output
            .try_clone()
            .map_err(|e| format!("{}: {e}", output_path.display()))?;
        command.stdout(output).stderr(errors);
        self.logs.push(output_path);
        let child = command
            .spawn()
            .map_err(|e| format!("{}: cannot start {command:?}: {e}", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until each of `ports` accepts connections.
    pub(crate) fn wait_for_ports(&mut self, ports: &[u16], limit: Duration) -> Result<(), String> {
        let logs = self.logs.clone();
        let Some(child) = self.child.as_mut() else {
            return Err(format!("{} was not started", self.name));
        };
        wait_for_ports(
            ports,
            limit,
            || child.try_wait().ok().flatten().map(|s| s.to_string()),
            || tails(&logs, TAIL_LINES),
        )
        .map_err(|e| format!("{}: {e}", self.name))
    }

    /// The last lines of each log file, for a failure report.
    pub(crate) fn log_tail(&self) -> String {
        tails(&self.logs, TAIL_LINES)
    }

    /// Whether the server process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops every process the server started. An error if some process
    /// was still there after SIGKILL.
    pub(crate) fn stop(&mut self) -> Result<(), String> {
        match self.child.take() {
            Some(child) => stop_tree(child, self.pid_file.as_deref(), STOP_LIMIT)
                .map_err(|e| format!("{}: {e}", self.name)),
            None => Ok(()),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "\n---- {} logs (the test failed) ----\n{}---- end of {} logs ----",
                self.name,
                self.log_tail(),
                self.name
            );
        }
        if let Err(error) = self.stop() {
            eprintln!("{error}");
        }
    }
}
