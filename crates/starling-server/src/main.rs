//! `starling`: run the XMPP server, manage its accounts, check its
//! configuration.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use starling_jid::{BareJid, DomainPart};
use starling_server::admin;
use starling_server::admin_socket::{self, Notified, protocol::EndReason, protocol::Request};
use starling_server::config::{Config, LogFormat};
use starling_server::data_dir;
use starling_server::password_input::{self, PasswordArgs, PasswordSource};
use starling_server::server;
use starling_server::storage::blocking::Accounts;

/// The Starling XMPP server.
#[derive(Parser)]
#[command(name = "starling", version, about)]
struct Cli {
    /// Configuration file (TOML). Without it: the embedded defaults.
    #[arg(long, global = true, env = "STARLING_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides the config).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Served domain (repeat for several; replaces the config's hosts).
    #[arg(long = "domain", global = true)]
    domains: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until SIGTERM or SIGINT.
    Serve {
        /// STARTTLS client listener (repeat; replaces the config's).
        #[arg(long = "c2s")]
        c2s: Vec<SocketAddr>,
        /// Direct TLS client listener (repeat; replaces the config's).
        #[arg(long = "c2s-tls")]
        c2s_tls: Vec<SocketAddr>,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Check the configuration and exit.
    CheckConfig,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account.
    Add {
        /// The account, user@domain.
        jid: String,
        #[command(flatten)]
        password: PasswordOpts,
    },
    /// Change an account's password; its sessions end at once.
    Passwd {
        /// The account.
        jid: String,
        #[command(flatten)]
        password: PasswordOpts,
    },
    /// Delete an account with its roster and stored messages; its sessions
    /// end at once.
    Remove {
        /// The account.
        jid: String,
    },
    /// List accounts, one per line.
    List {
        /// Only this domain.
        domain: Option<String>,
    },
    /// Create accounts from a file of "JID PASSWORD" lines ("-": stdin).
    Import {
        /// The file.
        file: PathBuf,
    },
}

/// Where the password comes from. Without any of these: the
/// STARLING_PASSWORD environment variable, else asked on the terminal
/// (twice, without echo), else one line of standard input.
#[derive(clap::Args)]
struct PasswordOpts {
    /// The password itself (visible to other users in the process list and
    /// kept in the shell history: prefer the other ways).
    #[arg(long, conflicts_with_all = ["password_file", "password_stdin"])]
    password: Option<String>,
    /// Read the password from the first line of this file ("-": standard
    /// input).
    #[arg(long, value_name = "FILE", conflicts_with = "password_stdin")]
    password_file: Option<PathBuf>,
    /// Read the password from one line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(d) = &cli.data_dir {
        config.data_dir = d.clone();
    }
    let mut domains = Vec::new();
    for d in &cli.domains {
        domains.push(DomainPart::new(d).map_err(|e| format!("--domain {d}: {e}"))?);
    }
    config.set_domains(&domains);
    Ok(config)
}

fn init_logging(config: &Config) {
    let filter = std::env::var("STARLING_LOG")
        .ok()
        .and_then(|s| tracing_subscriber::EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| {
            tracing_subscriber::EnvFilter::try_new(&config.log.level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn read_password(opts: PasswordOpts, confirm: bool) -> Result<String, String> {
    let args = PasswordArgs {
        argument: opts.password,
        file: opts.password_file,
        stdin: opts.password_stdin,
    };
    let env = std::env::var("STARLING_PASSWORD").ok();
    let source = password_input::choose(&args, env, std::io::stdin().is_terminal())
        .map_err(|e| e.to_string())?;
    if let Some(w) = source.warning() {
        eprintln!("starling: {w}");
    }
    match source {
        PasswordSource::Argument(p) | PasswordSource::Environment(p) => Ok(p),
        PasswordSource::File(path) => {
            warn_if_readable_by_others(&path);
            std::fs::read_to_string(&path)
                .map(|text| password_input::first_line(&text).to_owned())
                .map_err(|e| format!("{}: {e}", path.display()))
        }
        PasswordSource::Stdin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            Ok(password_input::first_line(&line).to_owned())
        }
        PasswordSource::Prompt => {
            let p = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
            if confirm {
                let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
                if again != p {
                    return Err("the passwords differ".to_owned());
                }
            }
            Ok(p)
        }
    }
}

/// Warns when a regular file holding passwords can be opened by other
/// users (pipes and terminals, such as `/dev/stdin`, are not judged).
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if let Some(e) = meta
        .is_file()
        .then(|| data_dir::exposure(data_dir::Kind::File, meta.permissions().mode()))
        .flatten()
    {
        eprintln!(
            "starling: warning: {} holds passwords and is open to other users (mode {:04o}): \
             run `chmod 600 {}`",
            path.display(),
            e.mode,
            path.display()
        );
    }
}

/// Tells the running server (if any) to end the sessions of `account`,
/// and says how many ended. The database change is already done: a
/// failure here is only a warning.
fn end_sessions(config: &Config, account: BareJid, reason: EndReason) {
    let request = Request::EndSessions { account, reason };
    match admin_socket::notify(&config.data_dir, &request) {
        Ok(Notified::Ended(n)) => out(&format!("sessions ended: {n}")),
        Ok(Notified::NotRunning) => {}
        Err(e) => eprintln!(
            "starling: warning: could not tell the running server ({e}); sessions of the \
             account stay open until they end (a removed account's within 30 s)"
        ),
    }
}

fn out(line: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
}

fn user_command(config: &Config, cmd: UserCommand) -> Result<(), String> {
    let db = server::open_storage(config).map_err(|e| e.to_string())?;
    let db: &dyn Accounts = &*db;
    match cmd {
        UserCommand::Add { jid, password } => {
            let pw = read_password(password, true)?;
            let j = admin::add_user(db, config, &jid, &pw).map_err(|e| e.to_string())?;
            out(&format!("created {j}"));
        }
        UserCommand::Passwd { jid, password } => {
            let pw = read_password(password, true)?;
            let j = admin::set_password(db, config, &jid, &pw).map_err(|e| e.to_string())?;
            out(&format!("password changed for {j}"));
            end_sessions(config, j, EndReason::PasswordChanged);
        }
        UserCommand::Remove { jid } => {
            let j = admin::remove_user(db, config, &jid).map_err(|e| e.to_string())?;
            out(&format!("removed {j}"));
            end_sessions(config, j, EndReason::Removed);
        }
        UserCommand::List { domain } => {
            let d = match domain {
                Some(d) => Some(DomainPart::new(&d).map_err(|e| format!("{d}: {e}"))?),
                None => None,
            };
            for j in admin::list_users(db, d.as_ref()).map_err(|e| e.to_string())? {
                out(j.as_str());
            }
        }
        UserCommand::Import { file } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| e.to_string())?;
                s
            } else {
                warn_if_readable_by_others(&file);
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?
            };
            let mut n = 0usize;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((jid, pw)) = line.split_once(char::is_whitespace) else {
                    return Err(format!(
                        "{}:{}: expected \"JID PASSWORD\"",
                        file.display(),
                        i + 1
                    ));
                };
                admin::add_user(db, config, jid, pw.trim())
                    .map_err(|e| format!("{}:{}: {e}", file.display(), i + 1))?;
                n += 1;
            }
            out(&format!("created {n} accounts"));
        }
    }
    Ok(())
}

fn serve(mut config: Config, c2s: Vec<SocketAddr>, c2s_tls: Vec<SocketAddr>) -> Result<(), String> {
    if !c2s.is_empty() {
        config.c2s.listen = c2s;
    }
    if !c2s_tls.is_empty() {
        config.c2s.listen_tls = c2s_tls;
    }
    if !config.c2s.require_tls && !config.c2s.listen.iter().all(|a| a.ip().is_loopback()) {
        return Err(
            "require_tls = false is allowed only when every c2s listener is on loopback".to_owned(),
        );
    }
    init_logging(&config);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let domains: Vec<&str> = config.hosts.iter().map(|h| h.domain.as_str()).collect();
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            domains = ?domains,
            data_dir = %config.data_dir.display(),
            "starting"
        );
        let running = server::start(config).await.map_err(|e| e.to_string())?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        }
        running.shutdown(Duration::from_secs(5)).await;
        Ok(())
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("starling: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve { c2s, c2s_tls } => serve(config, c2s, c2s_tls),
        Command::User { command } => user_command(&config, command),
        Command::CheckConfig => {
            let mut ok = Ok(());
            if let Err(e) = server::certificate_files_exist(&config) {
                ok = Err(e);
            } else if let Err(e) = data_dir::check_existing(&config) {
                ok = Err(e.to_string());
            }
            if ok.is_ok() {
                out("configuration OK");
            }
            ok
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starling: {e}");
            ExitCode::FAILURE
        }
    }
}
