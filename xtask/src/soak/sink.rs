//! The never-reader: logs in, sends initial presence, asks many users for
//! their presence (they approve, so it gets their presence changes), is
//! sent a share of their messages and a steady stream of large ones by a
//! feeder ([`feed`]) — and never reads its socket. It
//! writes a whitespace keepalive every second, which fails soon after the
//! server closes the connection: that is how it learns it was closed
//! without reading. Then it logs in again after a pause, until the run
//! ends.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use starling_jid::Jid;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::plan::Plan;
use crate::load::generator::{self, Shared, Target};
use crate::load::servers::Account;

/// The longest a login, or one keepalive write, may take.
const LIMIT: Duration = Duration::from_secs(30);

/// One session of the never-reader.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SinkSession {
    /// When it logged in, seconds since the traffic started.
    pub(crate) started: f64,
    /// How long it lasted, seconds (to within a keepalive interval).
    pub(crate) lasted: f64,
    /// How it ended: `None` when it was still open at the end of the run.
    pub(crate) ended: Option<String>,
}

/// What the never-reader saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct SinkReport {
    /// Its sessions, in order.
    pub(crate) sessions: Vec<SinkSession>,
    /// Subscription requests it sent (in its first session).
    pub(crate) subscriptions_sent: usize,
    /// Logins that failed, with why.
    pub(crate) login_failures: Vec<String>,
}

/// What the feeder did.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FeedReport {
    /// Large messages it sent to the never-reader.
    pub(crate) sent: u64,
    /// The longest one write of it waited, seconds (the server not
    /// reading the feeder while the never-reader's queue is full), a write
    /// still waiting at the end included.
    pub(crate) longest_wait: f64,
    /// Why it stopped early, if it did.
    pub(crate) ended: Option<String>,
}

/// A message of about `size` bytes to `to`.
fn large_message(to: &Jid, size: usize) -> String {
    format!(
        "<message type='chat' to='{to}'><body>{}</body></message>",
        "x".repeat(size)
    )
}

impl SinkReport {
    /// The sessions the server closed.
    pub(crate) fn closed(&self) -> impl Iterator<Item = &SinkSession> {
        self.sessions.iter().filter(|s| s.ended.is_some())
    }
}

/// The subscription requests to `contacts`.
fn subscriptions(contacts: &[Jid]) -> String {
    contacts.iter().fold(String::new(), |mut out, jid| {
        let _ = write!(out, "<presence type='subscribe' to='{jid}'/>");
        out
    })
}

/// Runs the never-reader as `account` until `stop` turns true. `shared`
/// is told when it is online (the users send to it only then).
pub(crate) async fn run(
    shared: Arc<Shared>,
    (jid, account): (Jid, Account),
    target: Target,
    contacts: Vec<Jid>,
    plan: Plan,
    mut stop: watch::Receiver<bool>,
) -> SinkReport {
    let origin = Instant::now();
    let mut report = SinkReport::default();
    let mut buf = vec![0u8; 8192];
    while !*stop.borrow() {
        let login = tokio::select! {
            login = tokio::time::timeout(LIMIT, generator::login(&jid, &account, &target, &mut buf)) => login,
            _ = stop.changed() => break,
        };
        let mut tls = match login {
            Ok(Ok((tls, _negotiator))) => tls,
            Ok(Err(error)) => {
                report.login_failures.push(error);
                pause(plan.sink_reconnect_after, &mut stop).await;
                continue;
            }
            Err(_) => {
                report.login_failures.push("timed out".to_owned());
                pause(plan.sink_reconnect_after, &mut stop).await;
                continue;
            }
        };
        let started = origin.elapsed();
        if report.sessions.is_empty() {
            let requests = subscriptions(&contacts);
            if tls.write_all(requests.as_bytes()).await.is_ok() && tls.flush().await.is_ok() {
                report.subscriptions_sent = contacts.len();
            }
        }
        shared.mixed.sink_online.store(true, Ordering::Relaxed);
        let ended = hold(&mut tls, plan.sink_probe_every, &mut stop).await;
        shared.mixed.sink_online.store(false, Ordering::Relaxed);
        report.sessions.push(SinkSession {
            started: started.as_secs_f64(),
            lasted: (origin.elapsed() - started).as_secs_f64(),
            ended,
        });
        // Dropping the connection unread resets it.
        drop(tls);
        pause(plan.sink_reconnect_after, &mut stop).await;
    }
    report
}

/// The feeder: logs in as `account` and, while the never-reader is
/// online, sends it [`Plan::feed_rate`] messages of [`Plan::feed_size`]
/// bytes a second, reading (and dropping) what it is sent, until `stop`.
pub(crate) async fn feed(
    shared: Arc<Shared>,
    (jid, account): (Jid, Account),
    target: Target,
    sink: Jid,
    plan: Plan,
    mut stop: watch::Receiver<bool>,
) -> FeedReport {
    let mut report = FeedReport::default();
    let mut buf = vec![0u8; 16 * 1024];
    let login = tokio::select! {
        login = tokio::time::timeout(LIMIT, generator::login(&jid, &account, &target, &mut buf)) => login,
        _ = stop.changed() => return report,
    };
    let mut tls = match login {
        Ok(Ok((tls, _negotiator))) => tls,
        Ok(Err(error)) => {
            report.ended = Some(format!("login failed: {error}"));
            return report;
        }
        Err(_) => {
            report.ended = Some("login timed out".to_owned());
            return report;
        }
    };
    let message = large_message(&sink, plan.feed_size);
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / plan.feed_rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            read = tls.read(&mut buf) => match read {
                Ok(0) | Err(_) => {
                    report.ended = Some("the server closed the feeder's connection".to_owned());
                    break;
                }
                Ok(_) => {}
            },
            _ = ticks.tick() => {
                if !shared.mixed.sink_online.load(Ordering::Relaxed) {
                    continue;
                }
                let started = Instant::now();
                let written = tokio::select! {
                    written = tls.write_all(message.as_bytes()) => written,
                    _ = stop.changed() => {
                        let waited = started.elapsed().as_secs_f64();
                        report.longest_wait = report.longest_wait.max(waited);
                        report.ended = Some(format!(
                            "a write was still waiting when the run ended, after {waited:.1} s"
                        ));
                        break;
                    }
                };
                if let Err(error) = written {
                    report.ended = Some(format!("writing: {error}"));
                    break;
                }
                report.sent += 1;
                report.longest_wait = report.longest_wait.max(started.elapsed().as_secs_f64());
            }
        }
    }
    report
}

/// Holds a connection without reading it, writing a space every `every`,
/// until a write fails (the server closed it: `Some(why)`) or `stop`
/// changes (`None`).
async fn hold<W: AsyncWrite + Unpin>(
    writer: &mut W,
    every: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Option<String> {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return None,
        }
        let probe = async {
            writer.write_all(b" ").await?;
            writer.flush().await
        };
        match tokio::time::timeout(LIMIT, probe).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Some(format!("closed by the server ({error})")),
            Err(_) => return Some("its keepalive could not be written for 30 s".to_owned()),
        }
    }
}

/// Sleeps for `length` or until `stop` changes.
async fn pause(length: Duration, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        () = tokio::time::sleep(length) => {}
        _ = stop.changed() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keepalive notices a peer (on loopback) that closed the
    /// connection, without reading; and `stop` ends the hold.
    #[tokio::test]
    async fn hold_ends_when_the_peer_closes_or_on_stop() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (_stop, mut stop) = watch::channel(false);
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        drop(server);
        let every = Duration::from_millis(20);
        let why =
            tokio::time::timeout(Duration::from_secs(10), hold(&mut client, every, &mut stop))
                .await
                .expect("the close is noticed");
        assert!(why.is_some_and(|w| w.starts_with("closed by the server")));

        let (stopper, mut stop) = watch::channel(false);
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (_server, _) = listener.accept().await.unwrap();
        let held = tokio::spawn(async move { hold(&mut client, every, &mut stop).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        stopper.send(true).unwrap();
        let why = tokio::time::timeout(Duration::from_secs(10), held)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(why, None, "an open connection is held until stop");
    }

    #[test]
    fn requests_and_closed_sessions() {
        let contacts: Vec<Jid> = ["u0@localhost", "u1@localhost"]
            .iter()
            .map(|j| j.parse().unwrap())
            .collect();
        assert_eq!(
            subscriptions(&contacts),
            "<presence type='subscribe' to='u0@localhost'/>\
             <presence type='subscribe' to='u1@localhost'/>"
        );
        let report = SinkReport {
            sessions: vec![
                SinkSession {
                    started: 0.0,
                    lasted: 11.0,
                    ended: Some("closed by the server".to_owned()),
                },
                SinkSession {
                    started: 13.0,
                    lasted: 5.0,
                    ended: None,
                },
            ],
            ..SinkReport::default()
        };
        assert_eq!(report.closed().count(), 1);
        let message = large_message(&contacts[0], 10);
        assert_eq!(
            message,
            "<message type='chat' to='u0@localhost'><body>xxxxxxxxxx</body></message>"
        );
    }
}
