//! What went wrong on a server during a measured run, besides the figures:
//! the clients' problems, the warnings in its log, whether it exited, and
//! notes. Shared by `cargo xtask load` and `cargo xtask bench-pep`.

use super::servers::Server;
use crate::util::Result;

/// For each server of `names`: starts it with `start`, measures it with
/// `measure`, stops it and prints what went wrong. A server that cannot be
/// started or measured does not stop the others. Returns the measurements
/// and whether every server was started and measured.
pub(crate) fn measure_each<M>(
    names: &[String],
    mut start: impl FnMut(&str) -> Result<Server>,
    mut measure: impl FnMut(&Server) -> Result<M>,
    health: impl Fn(&mut M) -> &mut Health,
) -> (Vec<M>, bool) {
    let mut results = Vec::new();
    let mut all = true;
    for name in names {
        let server = match start(name) {
            Ok(server) => server,
            Err(error) => {
                println!("{name}: could not start: {error}");
                all = false;
                continue;
            }
        };
        let mut measured = match measure(&server) {
            Ok(measured) => measured,
            Err(error) => {
                println!("{name}: the measurement failed: {error}");
                let _ = server.stop();
                all = false;
                continue;
            }
        };
        let health = health(&mut measured);
        health.stop_server(server);
        health.print(name);
        results.push(measured);
    }
    (results, all)
}

/// What went wrong on one server.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// What the clients saw go wrong, with counts.
    pub(crate) problems: Vec<(String, u64)>,
    /// Warning and error lines in the server's log.
    pub(crate) log_warnings: usize,
    /// The first of them.
    pub(crate) log_lines: Vec<String>,
    /// The server process exited during the run.
    pub(crate) crashed: bool,
    /// Anything else worth saying.
    pub(crate) notes: Vec<String>,
}

impl Health {
    /// Reads the server's log and whether it is still running, then stops
    /// it.
    pub(crate) fn stop_server(&mut self, server: Server) {
        let (warnings, lines) = server.log_problems();
        self.log_warnings = warnings;
        self.log_lines = lines;
        self.crashed |= !server.is_running();
        if let Err(error) = server.stop() {
            self.notes.push(format!("stopping: {error}"));
        }
    }

    /// Prints it, each line starting with the server's `name`.
    pub(crate) fn print(&self, name: &str) {
        if self.crashed {
            println!("{name}: THE SERVER PROCESS EXITED during the run");
        }
        for (problem, count) in &self.problems {
            println!("{name}: {count} × {problem}");
        }
        if self.log_warnings > 0 {
            println!(
                "{name}: {} warning/error lines in its log, the first ones:",
                self.log_warnings
            );
            for line in &self.log_lines {
                println!("    {line}");
            }
        }
        for note in &self.notes {
            println!("{name}: {note}");
        }
    }
}
