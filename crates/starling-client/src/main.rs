//! `starling-client`: a small XMPP command-line client.
//!
//! Exit codes: 0 success, 1 other error, 2 usage error, 3 connection
//! failure (DNS, TCP, TLS, stream), 4 authentication failure, 5 timeout.
#![forbid(unsafe_code)]
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use starling_client::{Client, Error, Event};
use starling_jid::Jid;
use starling_stanza::{LangText, Presence, PresenceType, Show};

/// A small XMPP client: send and receive messages, read the roster, ping.
///
/// TLS is required and the server certificate is verified for the domain of
/// --jid, against the webpki roots or the CA given with --ca.
#[derive(Debug, Parser)]
#[command(name = "starling-client", version)]
struct Cli {
    /// The account, e.g. juliet@example.com (a resource may be given).
    #[arg(long)]
    jid: Jid,
    /// The password (or set STARLING_PASSWORD).
    #[arg(long, env = "STARLING_PASSWORD", hide_env_values = true)]
    password: String,
    /// Connect to HOST:PORT instead of discovering the server via DNS SRV.
    #[arg(long, value_name = "HOST:PORT")]
    server: Option<String>,
    /// Use direct TLS (XEP-0368) to --server instead of STARTTLS.
    #[arg(long)]
    direct_tls: bool,
    /// Trust only the CA certificates in this PEM file.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca: Option<std::path::PathBuf>,
    /// Accept any server certificate (tests only: no protection against an
    /// active attacker).
    #[arg(long)]
    insecure: bool,
    /// Seconds to wait for connecting and for each answer.
    #[arg(long, default_value_t = 30)]
    connect_timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send a chat message.
    Send {
        /// Recipient JID.
        to: Jid,
        /// Message text.
        text: String,
    },
    /// Print incoming messages, one per line.
    Listen {
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<usize>,
        /// Stop after this many seconds (exit code 5 if --count was not reached).
        #[arg(long)]
        timeout: Option<u64>,
        /// Print each message as a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print the roster.
    Roster,
    /// Ping a JID (default: the server) and print the round-trip time.
    Ping {
        /// Whom to ping.
        jid: Option<Jid>,
    },
    /// Send presence.
    Presence {
        /// away, chat, dnd or xa.
        #[arg(long)]
        show: Option<String>,
        /// Status text.
        #[arg(long)]
        status: Option<String>,
    },
}

fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Auth(_) => 4,
        Error::Timeout => 5,
        Error::Dns(_)
        | Error::NoService(_)
        | Error::Connect(_)
        | Error::Tls(_)
        | Error::Stream(_)
        | Error::Io(_) => 3,
        Error::Negotiation(_) | Error::Closed => 3,
        _ => 1,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("starling-client: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("starling-client: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    let mut b = Client::builder(cli.jid.clone(), &cli.password)
        .timeout(Duration::from_secs(cli.connect_timeout));
    if let Some(s) = &cli.server {
        b = b.server(s).direct_tls(cli.direct_tls);
    }
    if let Some(ca) = &cli.ca {
        b = b.ca_file(ca);
    }
    if cli.insecure {
        b = b.insecure();
    }
    let mut client = b.connect().await?;
    let result = command(&mut client, cli.command).await;
    let _ = client.close().await;
    result
}

async fn command(client: &mut Client, cmd: Command) -> Result<(), Error> {
    match cmd {
        Command::Send { to, text } => client.send_message(to, &text).await,
        Command::Roster => {
            let roster = client.roster().await?;
            for item in roster.items {
                let groups = item.groups.join(",");
                println!(
                    "{}\t{}\t{}{}\t{}",
                    item.jid,
                    item.name.unwrap_or_default(),
                    item.subscription.as_str(),
                    if item.ask { "+ask" } else { "" },
                    groups
                );
            }
            Ok(())
        }
        Command::Ping { jid } => {
            let rtt = client.ping(jid).await?;
            println!("pong in {:.1} ms", rtt.as_secs_f64() * 1000.0);
            Ok(())
        }
        Command::Presence { show, status } => {
            let mut p = Presence::new(PresenceType::Available);
            if let Some(s) = show {
                p.show = Some(
                    s.parse::<Show>()
                        .map_err(|e| Error::Invalid(e.to_string()))?,
                );
            }
            if let Some(s) = status {
                p.statuses.push(LangText::new(s));
            }
            client.send_presence(p).await
        }
        Command::Listen {
            count,
            timeout,
            json,
        } => {
            // Available presence, so that the server routes messages here.
            client
                .send_presence(Presence::new(PresenceType::Available))
                .await?;
            let listen = async {
                let mut seen = 0usize;
                while let Some(ev) = client.next_event().await {
                    match ev {
                        Event::Message(m) => {
                            let Some(body) = m.body(None) else { continue };
                            let from = m
                                .header
                                .from
                                .as_ref()
                                .map(Jid::to_string)
                                .unwrap_or_default();
                            if json {
                                let obj = serde_json::json!({
                                    "from": from,
                                    "type": m.message_type.as_str(),
                                    "id": m.header.id,
                                    "body": body,
                                });
                                println!("{obj}");
                            } else {
                                println!("{from}: {body}");
                            }
                            seen += 1;
                            if count.is_some_and(|c| seen >= c) {
                                return Ok(());
                            }
                        }
                        Event::Disconnected(e) => {
                            return Err(e.map_or(Error::Closed, |e| Error::Stream(Box::new(e))));
                        }
                        _ => {}
                    }
                }
                Err(Error::Closed)
            };
            match timeout {
                Some(t) => match tokio::time::timeout(Duration::from_secs(t), listen).await {
                    Ok(r) => r,
                    Err(_) if count.is_none() => Ok(()),
                    Err(_) => Err(Error::Timeout),
                },
                None => listen.await,
            }
        }
    }
}
