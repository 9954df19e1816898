//! The load generator: one task per simulated user, which logs in, sends
//! initial presence, then sends chat messages to random online users at the
//! rate the current [`Phase`] asks for, and times the messages it receives.
//!
//! Besides messages, a [`Mix`] can have users change their presence and
//! ask for their roster now and then, and send a share of their messages
//! to one JID (`cargo xtask soak`'s never-reader); `cargo xtask load` uses
//! messages only. A user reads while its own output waits to be written,
//! so a server that stops reading from a user does not stop it reading.
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

use super::mix::{self, Mix, MixCounters, SmCounts};
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

/// How long a user's goodbye may take to write.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// A user whose unwritten output (the server is not reading it) reaches
/// this many bytes sends nothing more until it goes down.
const MAX_PENDING: usize = 64 * 1024;

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
    /// What the users do besides messages.
    pub(crate) mix: Mix,
    /// What came of it.
    pub(crate) mixed: MixCounters,
}

impl Shared {
    /// State for `accounts.len()` users with `windows` measurement windows.
    #[cfg(test)]
    pub(crate) fn new(accounts: &[Account], windows: usize) -> Result<Shared, String> {
        Shared::with_mix(DOMAIN, accounts, windows, Mix::default())
    }

    /// State for `accounts.len()` users of `domain` doing `mix`, with
    /// `windows` measurement windows.
    pub(crate) fn with_mix(
        domain: &str,
        accounts: &[Account],
        windows: usize,
        mix: Mix,
    ) -> Result<Shared, String> {
        let jids = accounts
            .iter()
            .map(|a| format!("{}@{domain}", a.user).parse::<Jid>())
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
            mix,
            mixed: MixCounters::default(),
        })
    }

    /// The JID of user `index`.
    pub(crate) fn jid(&self, index: usize) -> &Jid {
        &self.jids[index]
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

    /// Microseconds since the generator's origin.
    pub(crate) fn now_micros(&self) -> u64 {
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
        Target::for_domain(address, ca_file, DOMAIN)
    }

    /// Connect to `address` serving `domain`, trusting only `ca_file`.
    pub(crate) fn for_domain(
        address: &str,
        ca_file: &Path,
        domain: &str,
    ) -> Result<Target, String> {
        let config = ClientTlsBuilder::new(Trust::CaFile(ca_file.to_owned()))
            .build()
            .map_err(|e| format!("TLS configuration: {e}"))?;
        Ok(Target {
            address: address.to_owned(),
            connector: TlsConnector::from(config),
            server_name: starling_auth::tls::server_name(domain).map_err(|e| e.to_string())?,
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
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub(crate) fn new(seed: usize) -> Rng {
        Rng((seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The generator of user `index` for the run seed `seed` (seed 0: the
    /// sequence `cargo xtask load` has always used).
    fn for_user(index: usize, seed: u64) -> Rng {
        let mixed = (index as u64 + 1).wrapping_add(seed.wrapping_mul(0x0001_0000_0001));
        Rng::new(usize::try_from(mixed).unwrap_or(index + 1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A fraction in `[0, 1)`.
    pub(crate) fn fraction(&mut self) -> f64 {
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
pub(crate) async fn write_output<S>(
    stream: &mut S,
    negotiator: &mut ClientNegotiator,
) -> Result<(), String>
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

/// Connects as `jid`, negotiates STARTTLS, SCRAM-SHA-1 and binding, and
/// sends initial presence.
pub(crate) async fn login(
    jid: &Jid,
    account: &Account,
    target: &Target,
    buf: &mut [u8],
) -> Result<(TlsStream<TcpStream>, ClientNegotiator), String> {
    let mut tcp = TcpStream::connect(&target.address)
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut settings = ClientSettings::new(jid.clone());
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
///
/// Reading never waits for writing: what the user sends goes to a buffer
/// written while the socket takes it, so a server that stops reading from
/// one user (backpressure) does not also stop that user from reading what
/// is sent to it. The send time in a message is when it was queued.
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
        login(&shared.jids[index], &account, &target, &mut buf),
    )
    .await
    .unwrap_or_else(|_| Err("timed out".to_owned()));
    let (tls, mut negotiator) = match login {
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

    let (mut reader, mut writer) = tokio::io::split(tls);
    let mut rng = Rng::for_user(index, shared.mix.seed);
    let mut interval = None;
    let far = || tokio::time::Instant::now() + Duration::from_secs(86_400);
    let timer = tokio::time::sleep_until(far());
    tokio::pin!(timer);
    // Output not yet taken by the socket, and whether TLS holds some.
    let mut out = Vec::with_capacity(256);
    let mut unflushed = false;
    let mut presence_changes = 0;
    let mut sm = SmCounts::default();
    if shared.mix.sm {
        out.extend_from_slice(b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    }
    // Take the phase that is already set, then follow the changes.
    phase.mark_changed();
    let ended = loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                match read {
                    Ok(0) => negotiator.eof(),
                    Ok(n) => negotiator.feed(&buf[..n]),
                    Err(error) => break Some(format!("reading: {error}")),
                }
                if let Some(why) = incoming(&shared, index, &mut negotiator, &mut sm, &mut out) {
                    break Some(why);
                }
                out.extend_from_slice(&negotiator.take_output());
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
                if out.len() >= MAX_PENDING {
                    MixCounters::bump(&shared.mixed.write_blocked);
                } else {
                    tick(&shared, index, &mut rng, &mut presence_changes, &mut out);
                    sm.sent(&mut out);
                }
                let now = tokio::time::Instant::now();
                let mut next = timer.deadline() + every;
                if now.saturating_duration_since(next) > MAX_LAG {
                    next = now;
                }
                timer.as_mut().reset(next);
            }
            step = write_step(&mut writer, &out), if !out.is_empty() || unflushed => match step {
                Ok(Wrote::Bytes(0)) => break Some("writing: the connection is closed".to_owned()),
                Ok(Wrote::Bytes(n)) => {
                    out.drain(..n);
                    unflushed = true;
                }
                Ok(Wrote::Flushed) => unflushed = false,
                Err(error) => break Some(format!("writing: {error}")),
            },
        }
    };
    shared.online[index].store(false, Ordering::Relaxed);
    match ended {
        Some(why) => {
            shared.disconnects.fetch_add(1, Ordering::Relaxed);
            shared.problem(format!("session ended: {why}"));
        }
        // With stream management the connection is dropped without
        // closing the stream: the server keeps the session for its
        // resumption (the report's RSS after is then that of N detached
        // sessions).
        None if shared.mix.sm => {}
        None => {
            negotiator.close();
            out.extend_from_slice(&negotiator.take_output());
            let _ = tokio::time::timeout(CLOSE_LIMIT, async {
                let _ = writer.write_all(&out).await;
                let _ = writer.shutdown().await;
            })
            .await;
        }
    }
}

/// What one [`write_step`] did.
enum Wrote {
    /// Took this many bytes of the output.
    Bytes(usize),
    /// Flushed what TLS held.
    Flushed,
}

/// Writes some of `out`, or flushes when it is empty. Cancel-safe: one
/// `write` or one `flush`, nothing taken when cancelled.
async fn write_step<W: AsyncWrite + Unpin>(writer: &mut W, out: &[u8]) -> std::io::Result<Wrote> {
    if out.is_empty() {
        writer.flush().await.map(|()| Wrote::Flushed)
    } else {
        writer.write(out).await.map(Wrote::Bytes)
    }
}

/// Whom a message went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addressee {
    /// Another user of the generator.
    User,
    /// The [`Mix::sink`].
    Sink,
    /// Nobody: no other user was online.
    Nobody,
}

/// One tick of user `index`: a message, and the mix's extras, into `out`.
fn tick(
    shared: &Shared,
    index: usize,
    rng: &mut Rng,
    presence_changes: &mut u64,
    out: &mut Vec<u8>,
) {
    match message(shared, index, rng, out) {
        Addressee::User => {
            shared.sent.fetch_add(1, Ordering::Relaxed);
            if let Some(window) = shared.current_window() {
                window.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        Addressee::Sink => MixCounters::bump(&shared.mixed.sent_to_sink),
        Addressee::Nobody => {}
    }
    let mix = &shared.mix;
    if mix.presence <= 0.0 && mix.roster <= 0.0 {
        return;
    }
    let extras = mix.extras(rng.fraction(), rng.fraction());
    if extras.presence {
        out.extend_from_slice(mix::presence_change(*presence_changes).as_bytes());
        *presence_changes += 1;
        MixCounters::bump(&shared.mixed.presence_sent);
    }
    if extras.roster {
        out.extend_from_slice(mix::roster_get(shared.now_micros()).as_bytes());
        MixCounters::bump(&shared.mixed.roster_sent);
    }
}

/// Writes a message from user `index` into `out`: to the mix's sink for
/// its share of the draws while it is online, else to a random other
/// online user.
fn message(shared: &Shared, index: usize, rng: &mut Rng, out: &mut Vec<u8>) -> Addressee {
    let to = match &shared.mix.sink {
        // The draw is made whether the sink is online or not, so that the
        // users make the same choices in a run with and without it.
        Some((sink, _))
            if shared.mix.to_sink(
                rng.fraction(),
                shared.mixed.sink_online.load(Ordering::Relaxed),
            ) =>
        {
            Some((sink, Addressee::Sink))
        }
        _ => {
            let n = shared.jids.len();
            (0..8)
                .map(|_| rng.below(n))
                .find(|&j| j != index && shared.online[j].load(Ordering::Relaxed))
                .map(|j| (&shared.jids[j], Addressee::User))
        }
    };
    let Some((to, addressee)) = to else {
        return Addressee::Nobody;
    };
    let _ = write!(
        out,
        "<message type='chat' to='{to}'><body>{index} {}</body></message>",
        shared.now_micros()
    );
    addressee
}

/// Handles what the server sent to user `index`; `Some(reason)` when the
/// session is over.
fn incoming(
    shared: &Shared,
    index: usize,
    negotiator: &mut ClientNegotiator,
    sm: &mut SmCounts,
    out: &mut Vec<u8>,
) -> Option<String> {
    while let Some(event) = negotiator.next_event() {
        match event {
            ClientEvent::Stanza(stanza) if sm.incoming(&stanza, out) => {}
            ClientEvent::Stanza(stanza) => match (stanza.name(), stanza.attr("type")) {
                ("message", _) => on_message(shared, &stanza),
                ("presence", Some("subscribe")) => {
                    if let Some(reply) = on_subscribe(shared, index, &stanza) {
                        negotiator.send(&reply);
                    }
                }
                ("iq", Some("get" | "set")) => {
                    // Answer requests (a ping, say) with an empty result.
                    if let Ok(iq) = Iq::from_element(&stanza) {
                        negotiator.send(&iq.result(None).to_element());
                    }
                }
                ("iq", Some("result" | "error")) => on_iq_answer(shared, &stanza),
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

/// A subscription request to user `index`: approved (the reply returned)
/// when it comes from the user's own domain, else counted and left
/// pending.
fn on_subscribe(shared: &Shared, index: usize, presence: &Element) -> Option<Element> {
    let (bare, domain) = mix::bare_and_domain(presence.attr("from")?);
    if domain != shared.jids[index].domain() {
        MixCounters::bump(&shared.mixed.remote_subscription_requests);
        return None;
    }
    MixCounters::bump(&shared.mixed.local_subscriptions_approved);
    Some(
        Element::builder("presence", CLIENT_NS)
            .attr("type", "subscribed")
            .attr("to", bare)
            .build(),
    )
}

/// Counts and times the answer to a roster get.
fn on_iq_answer(shared: &Shared, iq: &Element) {
    if let Some(sent) = iq.attr("id").and_then(mix::roster_sent_at) {
        MixCounters::bump(&shared.mixed.roster_answered);
        shared
            .mixed
            .roster_latency
            .record_micros(shared.now_micros().saturating_sub(sent));
    }
}

/// Counts and times a received message.
fn on_message(shared: &Shared, message: &Element) {
    if message.attr("type") == Some("error") {
        let from_sink = shared.mix.sink.as_ref().is_some_and(|(sink, _)| {
            message
                .attr("from")
                .is_some_and(|from| mix::bare_and_domain(from).0 == sink.as_str())
        });
        if from_sink {
            MixCounters::bump(&shared.mixed.sink_bounces);
        } else {
            shared.error_replies.fetch_add(1, Ordering::Relaxed);
        }
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
        assert_eq!(
            message(&shared, 0, &mut Rng::new(1), &mut out),
            Addressee::User
        );
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

    fn parse(xml: &str) -> Element {
        let mut element = Element::parse(xml.as_bytes()).unwrap();
        element.rename_namespace("", CLIENT_NS);
        element
    }

    #[test]
    fn the_mix_sends_to_the_sink_and_answers_subscriptions() {
        let mix = Mix {
            presence: 1.0,
            roster: 1.0,
            sink: Some(("sink@localhost".parse().unwrap(), 1.0)),
            seed: 3,
            sm: false,
        };
        let accounts = super::super::servers::accounts(2);
        let shared = Shared::with_mix(DOMAIN, &accounts, 1, mix).unwrap();
        shared.online[1].store(true, Ordering::Relaxed);
        // The sink offline: to a user; online: to the sink, counted apart.
        let mut out = Vec::new();
        let mut rng = Rng::for_user(0, 3);
        let mut changes = 0;
        tick(&shared, 0, &mut rng, &mut changes, &mut out);
        shared.mixed.sink_online.store(true, Ordering::Relaxed);
        tick(&shared, 0, &mut rng, &mut changes, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("to='u1@localhost'"), "{text}");
        assert!(text.contains("to='sink@localhost'"), "{text}");
        assert!(text.contains("<iq type='get' id='roster-"), "{text}");
        assert_eq!(shared.sent.load(Ordering::Relaxed), 1);
        assert_eq!(shared.mixed.sent_to_sink.load(Ordering::Relaxed), 1);
        assert_eq!(shared.mixed.presence_sent.load(Ordering::Relaxed), 2);
        assert_eq!(shared.mixed.roster_sent.load(Ordering::Relaxed), 2);
        assert_eq!(changes, 2);

        let local = parse("<presence type='subscribe' from='sink@localhost/x'/>");
        let reply = on_subscribe(&shared, 0, &local).unwrap();
        assert_eq!(reply.attr("type"), Some("subscribed"));
        assert_eq!(reply.attr("to"), Some("sink@localhost"));
        let remote = parse("<presence type='subscribe' from='f1@remote.soak.test'/>");
        assert!(on_subscribe(&shared, 0, &remote).is_none());
        assert_eq!(
            shared
                .mixed
                .remote_subscription_requests
                .load(Ordering::Relaxed),
            1
        );

        on_iq_answer(&shared, &parse("<iq type='result' id='roster-0'/>"));
        on_iq_answer(&shared, &parse("<iq type='result' id='ping-1'/>"));
        assert_eq!(shared.mixed.roster_answered.load(Ordering::Relaxed), 1);
        assert_eq!(shared.mixed.roster_latency.count(), 1);

        on_message(
            &shared,
            &parse("<message type='error' from='sink@localhost'/>"),
        );
        assert_eq!(shared.mixed.sink_bounces.load(Ordering::Relaxed), 1);
        assert_eq!(shared.error_replies.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn seed_zero_is_the_old_sequence() {
        let (mut a, mut b) = (Rng::for_user(4, 0), Rng::new(5));
        assert_eq!(a.next(), b.next());
        assert_ne!(Rng::for_user(4, 1).next(), Rng::new(5).next());
    }
}
