//! The load generator: one task per simulated user, which logs in, sends
//! initial presence, then sends chat messages to random online users at the
//! rate the current [`Phase`] asks for, and times the messages it receives.
//!
//! A message's body is `<sender index> <send time>`, the send time in
//! microseconds since the generator's origin; the receiver (in the same
//! process) takes the delivery latency from it.
//!
//! Each user is a lean client rather than a [`starling_client::Client`]:
//! the same sans-IO negotiator (`starling-auth`) and stream parser, but one
//! task per connection that writes its messages straight to the TLS stream
//! and reads only the body of what arrives, with one CA configuration for
//! all. The library's client spends two tasks, two channels and a full
//! stanza conversion (JID preparation included) on every message, which
//! on a two-core machine took CPU time from the server under test.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::io::Write as _;

use rustls::pki_types::ServerName;
use starling_auth::negotiate::{ClientEvent, ClientNegotiator, ClientSettings};
use starling_auth::sasl::{ClientConfig as SaslConfig, Mechanism};
use starling_auth::tls::{ClientTlsBuilder, Trust};
use starling_jid::Jid;
use starling_stanza::Iq;
use starling_xml::Element;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::servers::{Account, DOMAIN};
use super::stats::Histogram;

/// The namespace of the stanzas' children.
const CLIENT_NS: &str = "jabber:client";

/// No measurement window is open.
const NO_WINDOW: usize = usize::MAX;

/// How long a login, and each client request, may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// A sender this far behind its schedule skips ahead rather than bursting.
const MAX_LAG: Duration = Duration::from_secs(1);

/// What the users are doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Phase {
    /// Logged in, sending nothing.
    Idle,
    /// Each user sends one message per this interval.
    Send(Duration),
    /// Disconnect.
    Quit,
}

/// The counters of one measurement window.
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// Messages sent while the window was open.
    pub(crate) sent: AtomicU64,
    /// Messages received while the window was open.
    pub(crate) received: AtomicU64,
    /// Delivery latency of the messages received while it was open.
    pub(crate) latency: Histogram,
}

/// What every user task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    origin: Instant,
    jids: Vec<Jid>,
    online: Vec<AtomicBool>,
    /// Time from opening the TCP connection to sending initial presence
    /// (TLS, SASL and binding done).
    pub(crate) logins: Histogram,
    /// Users logged in.
    pub(crate) logged_in: AtomicUsize,
    /// Users whose login failed.
    pub(crate) login_failed: AtomicUsize,
    window: AtomicUsize,
    /// The measurement windows, opened one after the other.
    pub(crate) windows: Vec<Window>,
    /// Messages sent, in all.
    pub(crate) sent: AtomicU64,
    /// Messages received, in all.
    pub(crate) received: AtomicU64,
    /// Messages that came back as `type="error"`.
    pub(crate) error_replies: AtomicU64,
    /// Sessions that ended before the generator closed them.
    pub(crate) disconnects: AtomicU64,
    /// Why logins failed or sessions ended, with counts.
    pub(crate) problems: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    /// State for `accounts.len()` users with `windows` measurement windows.
    pub(crate) fn new(accounts: &[Account], windows: usize) -> Result<Shared, String> {
        let jids = accounts
            .iter()
            .map(|a| format!("{}@{DOMAIN}", a.user).parse::<Jid>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("a load-test JID: {e}"))?;
        Ok(Shared {
            origin: Instant::now(),
            jids,
            online: accounts.iter().map(|_| AtomicBool::new(false)).collect(),
            logins: Histogram::default(),
            logged_in: AtomicUsize::new(0),
            login_failed: AtomicUsize::new(0),
            window: AtomicUsize::new(NO_WINDOW),
            windows: (0..windows).map(|_| Window::default()).collect(),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            error_replies: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            problems: Mutex::new(BTreeMap::new()),
        })
    }

    /// Opens measurement window `index` (closing any other).
    pub(crate) fn open_window(&self, index: usize) {
        self.window.store(index, Ordering::SeqCst);
    }

    /// Closes the open window.
    pub(crate) fn close_window(&self) {
        self.window.store(NO_WINDOW, Ordering::SeqCst);
    }

    fn current_window(&self) -> Option<&Window> {
        self.windows.get(self.window.load(Ordering::Relaxed))
    }

    fn now_micros(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn problem(&self, what: String) {
        if let Ok(mut problems) = self.problems.lock() {
            *problems.entry(what).or_default() += 1;
        }
    }
}

/// Where and how the users connect.
#[derive(Clone)]
pub(crate) struct Target {
    /// `127.0.0.1:PORT`.
    address: String,
    /// TLS trusting only the server's CA.
    connector: TlsConnector,
    /// The name the certificate must have: the domain.
    server_name: ServerName<'static>,
}

impl Target {
    /// Connect to `address`, trusting only `ca_file`.
    pub(crate) fn new(address: &str, ca_file: &Path) -> Result<Target, String> {
        let config = ClientTlsBuilder::new(Trust::CaFile(ca_file.to_owned()))
            .build()
            .map_err(|e| format!("TLS configuration: {e}"))?;
        Ok(Target {
            address: address.to_owned(),
            connector: TlsConnector::from(config),
            server_name: starling_auth::tls::server_name(DOMAIN).map_err(|e| e.to_string())?,
        })
    }
}

/// Starts the users' tasks at `rate` logins per second; returns when the
/// last one has been started (the logins may still be going on).
pub(crate) async fn start_users(
    shared: &Arc<Shared>,
    accounts: &[Account],
    target: &Target,
    rate: u32,
    phase: &watch::Sender<Phase>,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let start = tokio::time::Instant::now();
    let spacing = Duration::from_secs(1) / rate.max(1);
    for (index, account) in accounts.iter().enumerate() {
        tokio::time::sleep_until(start + spacing * u32::try_from(index).unwrap_or(u32::MAX)).await;
        tasks.spawn(user(
            Arc::clone(shared),
            index,
            account.clone(),
            target.clone(),
            phase.subscribe(),
        ));
    }
    tasks
}

/// A small fast generator of random numbers (xorshift64*), one per user.
struct Rng(u64);

impl Rng {
    fn new(seed: usize) -> Rng {
        Rng((seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A fraction in `[0, 1)`.
    fn fraction(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Why a login stopped.
enum Negotiated {
    /// The server said `<proceed/>`: start TLS.
    StartTls,
    /// Bound: the session is ready.
    Bound,
}

/// Drives the negotiator over `stream` until it wants TLS, is bound, or
/// fails.
async fn negotiate<S>(
    stream: &mut S,
    negotiator: &mut ClientNegotiator,
    buf: &mut [u8],
) -> Result<Negotiated, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let mut outcome = None;
        while let Some(event) = negotiator.next_event() {
            match event {
                ClientEvent::StartTls => outcome = Some(Negotiated::StartTls),
                ClientEvent::Bound(_) => outcome = Some(Negotiated::Bound),
                ClientEvent::Failed(error) => return Err(error.to_string()),
                _ => {}
            }
            if outcome.is_some() {
                break;
            }
        }
        write_output(stream, negotiator).await?;
        if let Some(outcome) = outcome {
            return Ok(outcome);
        }
        match stream.read(buf).await {
            Ok(0) => negotiator.eof(),
            Ok(n) => negotiator.feed(&buf[..n]),
            Err(error) => return Err(format!("reading: {error}")),
        }
    }
}

/// Writes what the negotiator has queued.
async fn write_output<S>(stream: &mut S, negotiator: &mut ClientNegotiator) -> Result<(), String>
where
    S: AsyncWrite + Unpin,
{
    let out = negotiator.take_output();
    if !out.is_empty() {
        stream
            .write_all(&out)
            .await
            .map_err(|e| format!("writing: {e}"))?;
    }
    Ok(())
}

/// Connects, negotiates STARTTLS, SCRAM-SHA-1 and binding, and sends
/// initial presence.
async fn login(
    shared: &Shared,
    index: usize,
    account: &Account,
    target: &Target,
    buf: &mut [u8],
) -> Result<(TlsStream<TcpStream>, ClientNegotiator), String> {
    let mut tcp = TcpStream::connect(&target.address)
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut settings = ClientSettings::new(shared.jids[index].clone());
    settings.timeout = CLIENT_TIMEOUT;
    let mut sasl = SaslConfig::password(account.user.clone(), account.password.clone());
    // The same mechanism on both servers: Prosody's internal_hashed stores
    // SCRAM-SHA-1 keys only.
    sasl.mechanisms = vec![Mechanism::ScramSha1];
    let mut negotiator = ClientNegotiator::new(settings, sasl, None, Instant::now());
    negotiator.start();
    let Negotiated::StartTls = negotiate(&mut tcp, &mut negotiator, buf).await? else {
        return Err("bound without TLS".to_owned());
    };
    let mut tls = target
        .connector
        .connect(target.server_name.clone(), tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    negotiator.tls_established(None);
    let Negotiated::Bound = negotiate(&mut tls, &mut negotiator, buf).await? else {
        return Err("STARTTLS twice".to_owned());
    };
    tls.write_all(b"<presence/>")
        .await
        .map_err(|e| format!("writing: {e}"))?;
    Ok((tls, negotiator))
}

/// One user: logs in, then follows the phase until told to quit.
async fn user(
    shared: Arc<Shared>,
    index: usize,
    account: Account,
    target: Target,
    mut phase: watch::Receiver<Phase>,
) {
    let started = Instant::now();
    let mut buf = vec![0u8; 8192];
    let login = tokio::time::timeout(
        CLIENT_TIMEOUT,
        login(&shared, index, &account, &target, &mut buf),
    )
    .await
    .unwrap_or_else(|_| Err("timed out".to_owned()));
    let (mut tls, mut negotiator) = match login {
        Ok(session) => session,
        Err(error) => {
            shared.login_failed.fetch_add(1, Ordering::Relaxed);
            shared.problem(format!("login failed: {error}"));
            return;
        }
    };
    shared.logins.record(started.elapsed());
    shared.online[index].store(true, Ordering::Relaxed);
    shared.logged_in.fetch_add(1, Ordering::Relaxed);

    let mut rng = Rng::new(index + 1);
    let mut interval = None;
    let far = || tokio::time::Instant::now() + Duration::from_secs(86_400);
    let timer = tokio::time::sleep_until(far());
    tokio::pin!(timer);
    let mut out = Vec::with_capacity(256);
    // Take the phase that is already set, then follow the changes.
    phase.mark_changed();
    let ended = loop {
        tokio::select! {
            read = tls.read(&mut buf) => {
                match read {
                    Ok(0) => negotiator.eof(),
                    Ok(n) => negotiator.feed(&buf[..n]),
                    Err(error) => break Some(format!("reading: {error}")),
                }
                if let Some(why) = incoming(&shared, &mut negotiator) {
                    break Some(why);
                }
                if let Err(error) = write_output(&mut tls, &mut negotiator).await {
                    break Some(error);
                }
            }
            changed = phase.changed() => {
                let current = *phase.borrow_and_update();
                if changed.is_err() || current == Phase::Quit {
                    break None;
                }
                interval = match current {
                    Phase::Send(every) => {
                        // Spread the users' sends over the interval.
                        timer.as_mut().reset(tokio::time::Instant::now() + every.mul_f64(rng.fraction()));
                        Some(every)
                    }
                    _ => {
                        timer.as_mut().reset(far());
                        None
                    }
                };
            }
            () = &mut timer, if interval.is_some() => {
                let every = interval.unwrap_or(Duration::from_secs(1));
                out.clear();
                if message(&shared, index, &mut rng, &mut out) {
                    if let Err(error) = tls.write_all(&out).await {
                        break Some(format!("writing: {error}"));
                    }
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                    if let Some(window) = shared.current_window() {
                        window.sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let now = tokio::time::Instant::now();
                let mut next = timer.deadline() + every;
                if now.saturating_duration_since(next) > MAX_LAG {
                    next = now;
                }
                timer.as_mut().reset(next);
            }
        }
    };
    shared.online[index].store(false, Ordering::Relaxed);
    match ended {
        Some(why) => {
            shared.disconnects.fetch_add(1, Ordering::Relaxed);
            shared.problem(format!("session ended: {why}"));
        }
        None => {
            negotiator.close();
            let _ = write_output(&mut tls, &mut negotiator).await;
            let _ = tls.shutdown().await;
        }
    }
}

/// Writes a message from user `index` to a random other online user into
/// `out`; `false` when no such user was found.
fn message(shared: &Shared, index: usize, rng: &mut Rng, out: &mut Vec<u8>) -> bool {
    let n = shared.jids.len();
    let Some(to) = (0..8)
        .map(|_| rng.below(n))
        .find(|&j| j != index && shared.online[j].load(Ordering::Relaxed))
    else {
        return false;
    };
    let _ = write!(
        out,
        "<message type='chat' to='{}'><body>{index} {}</body></message>",
        shared.jids[to],
        shared.now_micros()
    );
    true
}

/// Handles what the server sent; `Some(reason)` when the session is over.
fn incoming(shared: &Shared, negotiator: &mut ClientNegotiator) -> Option<String> {
    while let Some(event) = negotiator.next_event() {
        match event {
            ClientEvent::Stanza(stanza) => match stanza.name() {
                "message" => on_message(shared, &stanza),
                "iq" if matches!(stanza.attr("type"), Some("get" | "set")) => {
                    // Answer requests (a ping, say) with an empty result.
                    if let Ok(iq) = Iq::from_element(&stanza) {
                        negotiator.send(&iq.result(None).to_element());
                    }
                }
                _ => {}
            },
            ClientEvent::Closed { error } => {
                return Some(error.map_or_else(
                    || "the server closed the stream".to_owned(),
                    |e| format!("stream error: {e}"),
                ));
            }
            ClientEvent::Failed(error) => return Some(error.to_string()),
            _ => {}
        }
    }
    None
}

/// Counts and times a received message.
fn on_message(shared: &Shared, message: &Element) {
    if message.attr("type") == Some("error") {
        shared.error_replies.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let sent = message
        .get_child("body", CLIENT_NS)
        .and_then(|body| body.text().rsplit(' ').next()?.parse::<u64>().ok());
    let Some(sent) = sent else {
        shared.problem("a message without a load-test body".to_owned());
        return;
    };
    shared.received.fetch_add(1, Ordering::Relaxed);
    if let Some(window) = shared.current_window() {
        window.received.fetch_add(1, Ordering::Relaxed);
        window
            .latency
            .record_micros(shared.now_micros().saturating_sub(sent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_stays_in_range() {
        let mut rng = Rng::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            seen[rng.below(10)] = true;
            let f = rng.fraction();
            assert!((0.0..1.0).contains(&f));
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn windows_count_only_while_open() {
        let shared = Shared::new(&super::super::servers::accounts(2), 2).unwrap();
        let mut out = Vec::new();
        shared.online[1].store(true, Ordering::Relaxed);
        assert!(message(&shared, 0, &mut Rng::new(1), &mut out));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("<message type='chat' to='u1@localhost'><body>0 "),
            "{text}"
        );
        let mut message = Element::parse(text.as_bytes()).unwrap();
        message.rename_namespace("", CLIENT_NS);
        on_message(&shared, &message);
        shared.open_window(1);
        on_message(&shared, &message);
        message.set_attr("type", Some("error"));
        on_message(&shared, &message);
        shared.close_window();
        assert_eq!(shared.received.load(Ordering::Relaxed), 2);
        assert_eq!(shared.windows[0].received.load(Ordering::Relaxed), 0);
        assert_eq!(shared.windows[1].received.load(Ordering::Relaxed), 1);
        assert_eq!(shared.windows[1].latency.count(), 1);
        assert_eq!(shared.error_replies.load(Ordering::Relaxed), 1);
    }
}
