//! The generic tokio driver of a sans-IO stream machine.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use starling_auth::negotiate::Machine;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::budget::ReadBudget;
use crate::transport::{Socket, TlsInfo, Transport, write_flush};

/// The default size of one read.
pub const READ_CHUNK: usize = 4096;

/// How long a TLS handshake may take when the machine has no earlier
/// deadline.
pub const TLS_TIMEOUT: Duration = Duration::from_secs(30);

/// What ended a [`Driver::wait`].
#[derive(Debug)]
pub enum Wake<T> {
    /// Bytes were read and fed to the machine: take its events.
    Input,
    /// The connection ended (with the read error, if one ended it); the
    /// machine was told ([`Machine::eof`]) and nothing more is read.
    Eof(Option<io::Error>),
    /// The machine's deadline passed and [`Machine::handle_timeout`] was
    /// called: take its events.
    Timeout,
    /// Nothing was read for the idle timeout: close the stream with the
    /// error that suits it (the machine was not told). The idle clock
    /// starts over.
    Idle,
    /// The caller's own future completed first, with this value.
    Other(T),
}

/// A read handed over as it is when it filled at least half its buffer;
/// a smaller one copied into a buffer of its own size. What the tokenizer
/// makes of a read (the elements of a stanza) are slices of its buffer and
/// keep all of it alive: a stanza kept for long, such as a session's last
/// presence, must not hold on to a mostly empty 4 KiB buffer. Copying a
/// small read costs little; a large one is never copied.
fn right_sized(data: BytesMut) -> BytesMut {
    if data.len() >= data.capacity() / 2 {
        data
    } else {
        BytesMut::from(&data[..])
    }
}

/// What the one timer of [`Driver::wait`] is for.
#[derive(Debug, Clone, Copy)]
enum Timer {
    /// The machine's deadline.
    Deadline,
    /// The idle timeout.
    Idle,
    /// The end of a read-rate pause.
    Pause,
}

/// Why a STARTTLS upgrade failed; the connection is unusable after it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// Writing the output that precedes the handshake failed.
    #[error("writing before the TLS handshake: {0}")]
    Io(io::Error),
    /// The handshake failed (for example the certificate did not verify).
    #[error("TLS handshake: {0}")]
    Handshake(io::Error),
    /// The handshake did not finish in time.
    #[error("the TLS handshake timed out")]
    Timeout,
}

/// Runs a sans-IO [`Machine`] on a [`Transport`]: one driver for every
/// connection loop of the client and the server.
///
/// It owns the connection and the machine, and does the I/O side of the
/// [driving contract](starling_auth::negotiate#driving-a-machine):
/// [`flush`](Self::flush) writes the machine's output;
/// [`wait`](Self::wait) reads straight into the machine (waiting for
/// readiness first, then reading into a fresh buffer that is handed over
/// with [`Machine::feed_bytes`] — no buffer is held while idle and nothing
/// is copied), sleeps until the machine's deadline and handles it, applies
/// an optional idle timeout and read-rate limit, and races all that
/// against a future of the caller's (its queue, a close request, the
/// shutdown signal); [`accept_tls`](Self::accept_tls) and
/// [`connect_tls`](Self::connect_tls) run STARTTLS after writing what
/// precedes it. A caller's loop is then:
///
/// 1. take the machine's events and act on them
///    ([`machine_mut`](Self::machine_mut));
/// 2. [`flush`](Self::flush);
/// 3. stop if the machine [is closed](Machine::is_closed)
///    ([`shutdown`](Self::shutdown) the connection);
/// 4. `driver.wait(other).await`, and act on what woke it.
///
/// Time is tokio's clock, so tests may pause and advance it.
///
/// See the [crate documentation](crate) for a complete example.
pub struct Driver<M, S = TcpStream> {
    io: Transport<S>,
    machine: M,
    read_chunk: usize,
    idle_timeout: Option<Duration>,
    last_input: Instant,
    budget: Option<ReadBudget>,
    tls_timeout: Duration,
    /// End of file (or a read error) was seen: nothing more is read.
    read_done: bool,
    /// How long a write may make no progress before it fails.
    write_timeout: Option<Duration>,
    /// Bytes taken from the machine's output since the start.
    produced: u64,
    /// Of those, bytes the connection accepted.
    written: u64,
    /// A write failed: every later flush fails at once.
    write_failed: bool,
}

impl<M, S> std::fmt::Debug for Driver<M, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("transport", &self.io)
            .field("read_chunk", &self.read_chunk)
            .field("idle_timeout", &self.idle_timeout)
            .field("read_rate", &self.budget.is_some())
            .field("read_done", &self.read_done)
            .field("write_timeout", &self.write_timeout)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<M: Machine, S: Socket> Driver<M, S> {
    /// Drives `machine` on `transport`: reads of [`READ_CHUNK`] bytes, no
    /// idle timeout, no read-rate limit.
    pub fn new(transport: Transport<S>, machine: M) -> Self {
        Driver {
            io: transport,
            machine,
            read_chunk: READ_CHUNK,
            idle_timeout: None,
            last_input: Instant::now(),
            budget: None,
            tls_timeout: TLS_TIMEOUT,
            read_done: false,
            write_timeout: None,
            produced: 0,
            written: 0,
            write_failed: false,
        }
    }

    /// A write that makes no progress for `after` fails with
    /// [`io::ErrorKind::TimedOut`] (a peer that stopped reading cannot
    /// hold the connection's task forever); `None` (the default) waits as
    /// long as the connection stays open.
    pub fn set_write_timeout(&mut self, after: Option<Duration>) {
        self.write_timeout = after;
    }

    /// Bytes of the machine's output produced so far: those already taken
    /// by [`flush`](Self::flush) and those waiting. The position just after
    /// something the machine was asked to send.
    pub fn produced(&self) -> u64 {
        self.produced + self.machine.output_len() as u64
    }

    /// Bytes of the machine's output written and flushed so far (counted
    /// per flush: TLS and the socket buffer what they take, and only a
    /// completed flush says it left). After a failed flush, what was
    /// [produced](Self::produced) beyond it may not have reached the peer.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Reads at most `bytes` at a time (default [`READ_CHUNK`]).
    pub fn set_read_chunk(&mut self, bytes: usize) {
        self.read_chunk = bytes.max(1);
    }

    /// After `after` without input, [`wait`](Self::wait) returns
    /// [`Wake::Idle`]; `None` (the default) never.
    pub fn set_idle_timeout(&mut self, after: Option<Duration>) {
        self.idle_timeout = after;
        self.last_input = Instant::now();
    }

    /// Limits reading to `bytes_per_second` on average, with bursts of
    /// `burst` bytes: once that is spent, nothing is read until it has
    /// refilled. `None` (or a rate of 0) removes the limit.
    pub fn set_read_rate(&mut self, rate: Option<(u64, usize)>) {
        self.budget = rate
            .filter(|&(r, _)| r > 0)
            .map(|(r, burst)| ReadBudget::new(r, burst, Instant::now()));
    }

    /// How long a STARTTLS handshake may take when the machine's own
    /// deadline is later (default [`TLS_TIMEOUT`]).
    pub fn set_tls_timeout(&mut self, timeout: Duration) {
        self.tls_timeout = timeout;
    }

    /// The machine.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The machine, to take events and make calls.
    pub fn machine_mut(&mut self) -> &mut M {
        &mut self.machine
    }

    /// The connection.
    pub fn transport(&self) -> &Transport<S> {
        &self.io
    }

    /// The connection and the machine, taken apart.
    pub fn into_parts(self) -> (Transport<S>, M) {
        (self.io, self.machine)
    }

    /// Restarts the idle clock, as input does (for activity the caller
    /// counts, such as stanzas it sends).
    pub fn touch(&mut self) {
        self.last_input = Instant::now();
    }

    /// Writes the machine's output, if any, and flushes it, within the
    /// [write timeout](Self::set_write_timeout) of no progress. Once a
    /// write failed, every later flush fails at once (the output is
    /// dropped).
    pub async fn flush(&mut self) -> io::Result<()> {
        let out = self.machine.take_output();
        self.produced += out.len() as u64;
        if self.write_failed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "an earlier write failed",
            ));
        }
        if out.is_empty() {
            return Ok(());
        }
        let result = write_flush(&mut self.io, &out, self.write_timeout).await;
        match result {
            Ok(()) => self.written += out.len() as u64,
            Err(_) => self.write_failed = true,
        }
        result
    }

    /// When a handshake must be done: the machine's deadline or the TLS
    /// timeout, whichever is first.
    fn tls_deadline(&self) -> Instant {
        let own = Instant::now() + self.tls_timeout;
        match self.machine.poll_timeout() {
            Some(d) => own.min(Instant::from_std(d)),
            None => own,
        }
    }

    fn upgraded(
        &mut self,
        result: Result<io::Result<TlsInfo>, tokio::time::error::Elapsed>,
    ) -> Result<TlsInfo, UpgradeError> {
        match result {
            Ok(Ok(info)) => {
                self.last_input = Instant::now();
                Ok(info)
            }
            Ok(Err(e)) => Err(UpgradeError::Handshake(e)),
            Err(_) => Err(UpgradeError::Timeout),
        }
    }

    /// STARTTLS, server side: writes the output (the `<proceed/>`), then
    /// accepts TLS on the connection, by the machine's deadline or the TLS
    /// timeout. Report the result to the machine (`tls_established`).
    pub async fn accept_tls(&mut self, acceptor: &TlsAcceptor) -> Result<TlsInfo, UpgradeError> {
        self.flush().await.map_err(UpgradeError::Io)?;
        let deadline = self.tls_deadline();
        let result = tokio::time::timeout_at(deadline, self.io.accept_tls(acceptor)).await;
        self.upgraded(result)
    }

    /// STARTTLS, client side: writes the output, then starts TLS on the
    /// connection, verifying the peer for `name`, by the machine's deadline
    /// or the TLS timeout. Report the result to the machine
    /// (`tls_established`).
    pub async fn connect_tls(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> Result<TlsInfo, UpgradeError> {
        self.flush().await.map_err(UpgradeError::Io)?;
        let deadline = self.tls_deadline();
        let result = tokio::time::timeout_at(deadline, self.io.connect_tls(connector, name)).await;
        self.upgraded(result)
    }

    /// Writes the output (the end of the stream, usually), then ends the
    /// connection: TLS `close_notify` when TLS is on, then the socket's
    /// shutdown.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.flush().await?;
        match self.write_timeout {
            Some(t) => tokio::time::timeout(t, self.io.shutdown())
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
            None => self.io.shutdown().await,
        }
    }

    /// Waits for the next thing to happen and handles it as far as the
    /// machine is concerned: input is read and fed, end of file is
    /// reported, the deadline is handled. `extra` is the caller's own
    /// reason to wake (its queue, a close request, a shutdown signal); it
    /// is dropped if something else happens first, so it must be
    /// cancel-safe. When several things are ready at once, `extra` comes
    /// first (a close request or a queued stanza is not kept waiting behind
    /// a client that keeps sending), then input, then the timer.
    ///
    /// Output still waiting is written first (a write error counts as the
    /// end of the connection), and the machine is
    /// [shrunk](Machine::shrink) before sleeping.
    pub async fn wait<T>(&mut self, extra: impl Future<Output = T>) -> Wake<T> {
        if self.machine.has_output() {
            if let Err(e) = self.flush().await {
                return self.ended(Some(e));
            }
        }
        self.machine.shrink();
        let mut extra = pin!(extra);
        loop {
            let now = Instant::now();
            let pause = match (&mut self.budget, self.read_done) {
                (Some(b), false) => b.pause(now),
                _ => None,
            };
            let reading = !self.read_done && pause.is_none();
            // One timer: the earliest of the deadline, the idle timeout and
            // the end of a read-rate pause.
            let timers = [
                (
                    self.machine.poll_timeout().map(Instant::from_std),
                    Timer::Deadline,
                ),
                (self.idle_timeout.map(|d| self.last_input + d), Timer::Idle),
                (pause.map(|p| now + p), Timer::Pause),
            ];
            let timer = timers
                .into_iter()
                .filter_map(|(at, what)| at.map(|at| (at, what)))
                .min_by_key(|(at, _)| *at);
            let chunk = self.read_chunk;
            let io = &mut self.io;
            tokio::select! {
                // In this order: the caller's reasons (a close request, its
                // queue) before more input, and the timer only when
                // nothing else is ready, so that it is armed only when the
                // connection really goes to sleep.
                biased;
                value = &mut extra => return Wake::Other(value),
                read = io.read_chunk(chunk), if reading => return self.on_read(read),
                () = sleep_until(timer.map_or(now, |t| t.0)), if timer.is_some() => {
                    match timer.map(|t| t.1) {
                        Some(Timer::Deadline) => {
                            self.machine.handle_timeout(Instant::now().into_std());
                            return Wake::Timeout;
                        }
                        Some(Timer::Idle) => {
                            self.last_input = Instant::now();
                            return Wake::Idle;
                        }
                        Some(Timer::Pause) | None => {}
                    }
                }
            }
        }
    }

    fn on_read<T>(&mut self, read: io::Result<BytesMut>) -> Wake<T> {
        match read {
            Ok(data) if data.is_empty() => self.ended(None),
            Ok(data) => {
                if let Some(b) = &mut self.budget {
                    b.spend(data.len());
                }
                self.last_input = Instant::now();
                self.machine.feed_bytes(right_sized(data));
                Wake::Input
            }
            Err(e) => self.ended(Some(e)),
        }
    }

    fn ended<T>(&mut self, error: Option<io::Error>) -> Wake<T> {
        if !self.read_done {
            self.read_done = true;
            self.machine.eof();
        }
        Wake::Eof(error)
    }
}
