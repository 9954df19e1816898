//! `cargo xtask peers` and the `peers` CI step: installs the XMPP servers
//! that the interoperability tests run against (Prosody and ejabberd, from
//! Debian's packages).
//!
//! The tests start each server themselves, from a private configuration on
//! free ports of 127.0.0.1 (see `starling_testkit::peers`).
//! A Debian package may start its system daemon on installation, holding
//! ports 5222, 5269 and 5280: a daemon that this step's installation
//! started is stopped again; one that was already running is left alone.
//!
//! When installing fails, the CI step fails if `CI=true` and only warns
//! otherwise (the interop tests then skip the missing server).

use std::collections::BTreeSet;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{self, Result};

/// The programs the interop tests run, with the Debian package that has each.
pub(crate) const PROGRAMS: &[(&str, &str)] = &[
    ("prosody", "prosody"),
    ("prosodyctl", "prosody"),
    ("ejabberdctl", "ejabberd"),
    ("openssl", "openssl"),
    ("setpriv", "util-linux"),
];

/// Debian packages the tests need that install no program: Prosody's DNS
/// library (a "Recommends" of prosody; the federation tests point it at a
/// DNS responder on loopback).
pub(crate) const LIBRARIES: &[&str] = &["lua-unbound"];

/// Whether a Debian package is installed (`dpkg-query`).
fn package_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// The ports that the system daemons listen on by default.
pub(crate) const SYSTEM_PORTS: [u16; 3] = [5222, 5269, 5280];

/// Directories searched besides `PATH` (a non-root `PATH` often lacks
/// the `sbin` ones, where `ejabberdctl` is).
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/usr/local/sbin", "/sbin"];

/// A server daemon started the way the system starts it (not a test peer,
/// which always runs with a private configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Daemon {
    /// Prosody started by its init script or systemd unit.
    Prosody,
    /// ejabberd's Erlang node, started by its init script or systemd unit.
    Ejabberd,
    /// The Erlang port mapper daemon that a system ejabberd starts.
    Epmd,
}

/// Whether `CI=true` (the value of the `CI` variable, if set).
pub(crate) fn is_ci(value: Option<&str>) -> bool {
    value.is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

fn in_ci() -> bool {
    is_ci(std::env::var("CI").ok().as_deref())
}

/// `cargo xtask peers`: installs what is missing; any failure is an error.
pub(crate) fn run() -> Result<bool> {
    ensure()?;
    Ok(true)
}

/// The `peers` CI step: installs what is missing; a failure fails the step
/// under `CI=true` and is a warning otherwise.
pub(crate) fn ci_step() -> Result<()> {
    outcome(ensure(), in_ci())
}

/// What the CI step makes of the installation's result.
pub(crate) fn outcome(result: Result<()>, ci: bool) -> Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(error) if ci => Err(error),
        Err(error) => {
            println!(
                "warning: {error}\nwarning: the interop tests will skip the servers that are missing \
                 (CI=true makes this a failure)"
            );
            Ok(())
        }
    }
}

/// Installs the packages unless every program is there, then stops any
/// system daemon the installation started.
fn ensure() -> Result<()> {
    let dirs = search_dirs();
    let missing = missing_programs(&dirs, is_executable);
    let missing_libraries: Vec<&str> = LIBRARIES
        .iter()
        .copied()
        .filter(|p| !package_installed(p))
        .collect();
    if missing.is_empty() && missing_libraries.is_empty() {
        for (program, _) in PROGRAMS {
            if let Some(path) = find(&dirs, program, is_executable) {
                println!("{program}: {}", path.display());
            }
        }
        report_versions();
        return Ok(());
    }
    println!(
        "missing: {}",
        missing
            .iter()
            .chain(missing_libraries.iter())
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut packages = packages_for(&missing);
    packages.extend(missing_libraries.iter().copied());
    let wanted = packages.join(" ");
    if !is_root() {
        bail!("cannot install as a non-root user; run `sudo apt-get install -y {wanted}`");
    }
    if find(&dirs, "apt-get", is_executable).is_none() {
        bail!("no apt-get here: install {wanted} with the system's package manager");
    }
    let before = running_daemons();
    let installed = install(&packages);
    // Whatever happened, do not leave daemons behind that this started.
    let started: Vec<(Daemon, u32)> = newly_started(&before, &running_daemons());
    stop_daemons(&started);
    installed?;
    warn_about_held_ports();
    let still_missing = missing_programs(&dirs, is_executable);
    if !still_missing.is_empty() {
        bail!(
            "still missing after installing: {}",
            still_missing.join(", ")
        );
    }
    report_versions();
    Ok(())
}

/// The packages to install for the `missing` programs, each once. Packages
/// whose programs are all there are not named: `apt-get install` would
/// upgrade them (and, for openssl, the system's TLS library with it).
pub(crate) fn packages_for(missing: &[&str]) -> Vec<&'static str> {
    let mut packages = Vec::new();
    for &(program, package) in PROGRAMS {
        if missing.contains(&program) && !packages.contains(&package) {
            packages.push(package);
        }
    }
    packages
}

/// The two apt-get commands, non-interactive.
pub(crate) fn install_commands(packages: &[&str]) -> [Command; 2] {
    let mut update = Command::new("apt-get");
    update
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["-q", "update"]);
    let mut install = Command::new("apt-get");
    install
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["-q", "install", "-y"])
        .args(packages);
    [update, install]
}

fn install(packages: &[&str]) -> Result<()> {
    for mut command in install_commands(packages) {
        util::run(&mut command)?;
    }
    Ok(())
}

/// The programs of [`PROGRAMS`] that are found in none of `dirs`.
pub(crate) fn missing_programs(
    dirs: &[PathBuf],
    exists: impl Fn(&Path) -> bool,
) -> Vec<&'static str> {
    PROGRAMS
        .iter()
        .map(|&(program, _)| program)
        .filter(|program| find(dirs, program, &exists).is_none())
        .collect()
}

/// The first `dir/program` for which `exists` holds.
pub(crate) fn find(
    dirs: &[PathBuf],
    program: &str,
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    dirs.iter()
        .map(|dir| dir.join(program))
        .find(|path| exists(path))
}

/// `PATH`, then [`EXTRA_DIRS`].
fn search_dirs() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for extra in EXTRA_DIRS {
        let extra = PathBuf::from(extra);
        if !dirs.contains(&extra) {
            dirs.push(extra);
        }
    }
    dirs
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|line| line.starts_with("Uid:"))
            .and_then(|line| line.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Which system daemon a command line is, if any. Test peers are never one:
/// they run Prosody with `--config FILE` and ejabberd under a node name of
/// their own.
pub(crate) fn classify(argv: &[&str]) -> Option<Daemon> {
    let name = |arg: &str| arg.rsplit('/').next().unwrap_or(arg).to_owned();
    let program = argv.first().map(|arg| name(arg))?;
    // Prosody is a Lua script: `lua5.4 /usr/bin/prosody -F`.
    let script = if program.starts_with("lua") {
        argv.get(1).map(|arg| name(arg))
    } else {
        Some(program.clone())
    };
    if script.as_deref() == Some("prosody") {
        let private = argv
            .iter()
            .any(|arg| *arg == "--config" || arg.starts_with("--config="));
        return (!private).then_some(Daemon::Prosody);
    }
    if program == "beam.smp" || program == "beam" {
        // The packaged node is `ejabberd@HOST` (`-sname` or `-name`).
        let node = argv
            .windows(2)
            .find(|pair| pair[0] == "-sname" || pair[0] == "-name")
            .map(|pair| pair[1]);
        return node
            .is_some_and(|node| node.split('@').next() == Some("ejabberd"))
            .then_some(Daemon::Ejabberd);
    }
    (program == "epmd" && argv.contains(&"-daemon")).then_some(Daemon::Epmd)
}

/// The system daemons running now, with their PIDs.
fn running_daemons() -> BTreeSet<(Daemon, u32)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let text = String::from_utf8_lossy(&raw);
            let argv: Vec<&str> = text.split('\0').filter(|arg| !arg.is_empty()).collect();
            classify(&argv).map(|daemon| (daemon, pid))
        })
        .collect()
}

/// The daemons in `after` that were not in `before`.
pub(crate) fn newly_started(
    before: &BTreeSet<(Daemon, u32)>,
    after: &BTreeSet<(Daemon, u32)>,
) -> Vec<(Daemon, u32)> {
    after.difference(before).copied().collect()
}

/// Stops the daemons that the installation started: with the packages' own
/// tools first, then by PID if they are still there.
fn stop_daemons(started: &[(Daemon, u32)]) {
    if started.is_empty() {
        return;
    }
    let has = |wanted: Daemon| started.iter().any(|&(daemon, _)| daemon == wanted);
    println!(
        "the installation started system daemons ({}); stopping them",
        started
            .iter()
            .map(|(daemon, pid)| format!("{daemon:?} {pid}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if has(Daemon::Prosody) {
        // Debian 12's init script reports success without stopping it (it
        // looks for a `lua5.2` process); the PIDs below are the fallback.
        let _ = util::run(Command::new("service").args(["prosody", "stop"]));
    }
    if has(Daemon::Ejabberd) {
        let _ = util::run(Command::new("ejabberdctl").arg("stop"));
        // Waits for the node to stop, then ends epmd if no node is left.
        let _ = util::run(Command::new("ejabberdctl").arg("stopped"));
    }
    let still_running = || -> Vec<(Daemon, u32)> {
        let now = running_daemons();
        started
            .iter()
            .copied()
            .filter(|entry| now.contains(entry))
            .collect()
    };
    let wait = || {
        for _ in 0..100 {
            if still_running().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait();
    for (daemon, pid) in still_running() {
        println!("{daemon:?} {pid} is still running; sending it SIGTERM");
        let _ = util::run(Command::new("kill").arg(pid.to_string()));
    }
    wait();
    for (daemon, pid) in still_running() {
        println!("warning: {daemon:?} {pid} did not stop");
    }
}

/// Warns if something listens on the system daemons' ports (the tests use
/// ports of their own, so this is only for the developer's information).
fn warn_about_held_ports() {
    let held: Vec<String> = SYSTEM_PORTS
        .iter()
        .filter(|&&port| {
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            TcpStream::connect_timeout(&address, Duration::from_millis(300)).is_ok()
        })
        .map(u16::to_string)
        .collect();
    if !held.is_empty() {
        println!(
            "note: something listens on 127.0.0.1 port(s) {} (a system XMPP server?); \
             the interop tests use ports of their own",
            held.join(", ")
        );
    }
}

/// Prints the installed package versions (information only).
fn report_versions() {
    let mut command = Command::new("dpkg-query");
    command.args([
        "-W",
        "-f",
        "${Package} ${Version}\\n",
        "prosody",
        "ejabberd",
    ]);
    if let Ok(output) = command.output() {
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_variable() {
        assert!(is_ci(Some("true")));
        assert!(is_ci(Some("TRUE ")));
        assert!(!is_ci(Some("false")));
        assert!(!is_ci(Some("1")));
        assert!(!is_ci(Some("")));
        assert!(!is_ci(None));
    }

    #[test]
    fn failure_is_fatal_only_in_ci() {
        let failed = || -> Result<()> { Err("apt-get failed".into()) };
        assert!(outcome(failed(), false).is_ok());
        let error = outcome(failed(), true).unwrap_err().to_string();
        assert_eq!(error, "apt-get failed");
        assert!(outcome(Ok(()), true).is_ok());
    }

    #[test]
    fn finds_programs_in_the_given_directories() {
        let dirs = [PathBuf::from("/a"), PathBuf::from("/b")];
        let present = ["/b/prosody", "/a/prosodyctl", "/b/openssl", "/a/setpriv"];
        let exists = |path: &Path| present.iter().any(|p| Path::new(p) == path);
        assert_eq!(missing_programs(&dirs, exists), ["ejabberdctl"]);
        assert_eq!(
            find(&dirs, "prosody", exists),
            Some(PathBuf::from("/b/prosody"))
        );
        assert_eq!(find(&dirs, "ejabberdctl", exists), None);
        assert_eq!(missing_programs(&[], exists).len(), PROGRAMS.len());
    }

    #[test]
    fn installs_only_the_packages_of_missing_programs() {
        assert_eq!(
            packages_for(&["prosodyctl", "ejabberdctl", "prosody"]),
            ["prosody", "ejabberd"]
        );
        assert_eq!(packages_for(&["openssl"]), ["openssl"]);
        assert!(packages_for(&[]).is_empty());
        let all: Vec<&str> = PROGRAMS.iter().map(|&(program, _)| program).collect();
        assert_eq!(
            packages_for(&all),
            ["prosody", "ejabberd", "openssl", "util-linux"]
        );
    }

    #[test]
    fn install_commands_are_non_interactive() {
        let packages = ["prosody", "ejabberd", "openssl"];
        for command in install_commands(&packages) {
            let text = util::describe(&command);
            assert!(
                text.starts_with("DEBIAN_FRONTEND=noninteractive apt-get "),
                "{text}"
            );
        }
        let [update, install] = install_commands(&packages);
        assert_eq!(
            util::describe(&update),
            "DEBIAN_FRONTEND=noninteractive apt-get -q update"
        );
        assert_eq!(
            util::describe(&install),
            "DEBIAN_FRONTEND=noninteractive apt-get -q install -y prosody ejabberd openssl"
        );
    }

    #[test]
    fn classifies_system_daemons_but_not_test_peers() {
        assert_eq!(
            classify(&["lua5.4", "/usr/bin/prosody", "-F"]),
            Some(Daemon::Prosody)
        );
        assert_eq!(classify(&["/usr/bin/prosody"]), Some(Daemon::Prosody));
        assert_eq!(
            classify(&[
                "lua5.4",
                "/usr/bin/prosody",
                "-F",
                "--config",
                "/tmp/x/prosody.cfg.lua"
            ]),
            None
        );
        assert_eq!(classify(&["lua5.4", "/usr/bin/prosodyctl", "start"]), None);
        let beam = |node: &'static str| {
            vec![
                "/usr/lib/erlang/erts-13.1.5/bin/beam.smp",
                "-K",
                "true",
                "--",
                "-sname",
                node,
                "-s",
                "ejabberd",
            ]
        };
        assert_eq!(
            classify(&beam("ejabberd@localhost")),
            Some(Daemon::Ejabberd)
        );
        assert_eq!(classify(&beam("starling42x0@localhost")), None);
        assert_eq!(classify(&["/usr/bin/epmd", "-daemon"]), Some(Daemon::Epmd));
        assert_eq!(classify(&["epmd", "-port", "4370"]), None);
        assert_eq!(classify(&["bash"]), None);
        assert_eq!(classify(&[]), None);
    }

    #[test]
    fn only_new_daemons_are_stopped() {
        let before: BTreeSet<_> = [(Daemon::Epmd, 10)].into();
        let after: BTreeSet<_> = [
            (Daemon::Epmd, 10),
            (Daemon::Prosody, 20),
            (Daemon::Ejabberd, 30),
        ]
        .into();
        assert_eq!(
            newly_started(&before, &after),
            [(Daemon::Prosody, 20), (Daemon::Ejabberd, 30)]
        );
        assert!(newly_started(&after, &after).is_empty());
    }
}
