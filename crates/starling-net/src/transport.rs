//! One connection type for every stream: plain until STARTTLS, TLS after
//! (either side of the handshake), or TLS from the start.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::BytesMut;
use rustls::pki_types::{CertificateDer, ServerName};
use starling_auth::sasl::ChannelBinding;
use starling_auth::tls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A byte stream a [`Transport`] runs on: a TCP stream, or anything else
/// that reads and writes (an in-memory pipe in tests).
///
/// [`poll_read_ready`](Self::poll_read_ready) lets a reader wait until a
/// read will make progress without holding a buffer meanwhile. The
/// default says "ready" at once: the read then waits itself, holding its
/// buffer only while it is polled.
pub trait Socket: AsyncRead + AsyncWrite + Unpin {
    /// Whether a read would make progress now; when not, arranges for the
    /// task to be woken when it would.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }
}

impl Socket for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
}

#[cfg(unix)]
impl Socket for tokio::net::UnixStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::net::UnixStream::poll_read_ready(self, cx)
    }
}

impl Socket for tokio::io::DuplexStream {}

/// What a TLS handshake established, for channel bindings (SASL `-PLUS`),
/// peer certificate checks and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version.
    pub version: Option<rustls::ProtocolVersion>,
    /// The `tls-exporter` channel binding data (RFC 9266): TLS 1.3 only.
    pub tls_exporter: Option<Vec<u8>>,
    /// The peer's certificate chain, leaf first; empty if it sent none.
    pub peer_certificates: Vec<CertificateDer<'static>>,
    /// The server name the client asked for (SNI), on an accepted
    /// connection.
    pub server_name: Option<String>,
    /// The application protocol agreed with ALPN (XEP-0368 direct TLS).
    pub alpn: Option<Vec<u8>>,
}

impl TlsInfo {
    fn of<D>(conn: &rustls::ConnectionCommon<D>, server_name: Option<&str>) -> TlsInfo {
        TlsInfo {
            version: conn.protocol_version(),
            tls_exporter: tls::tls_exporter(conn),
            peer_certificates: conn
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            server_name: server_name.map(str::to_owned),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        }
    }

    /// The `tls-exporter` channel binding, what a client offers
    /// (`ClientNegotiator::tls_established`).
    pub fn exporter_binding(&self) -> Option<ChannelBinding> {
        self.tls_exporter.clone().map(ChannelBinding::tls_exporter)
    }

    /// The channel bindings a server accepts on this connection
    /// (`ServerNegotiator::tls_established`): `tls-exporter` on TLS 1.3,
    /// and `tls-server-end-point` when `own_certificate` (the DER of the
    /// certificate this server presented) is given.
    pub fn server_bindings(&self, own_certificate: Option<&[u8]>) -> Vec<ChannelBinding> {
        let end_point =
            own_certificate.and_then(|der| ChannelBinding::tls_server_end_point(der, None).ok());
        self.exporter_binding()
            .into_iter()
            .chain(end_point)
            .collect()
    }
}

enum State<S> {
    Plain(S),
    /// TLS, we accepted.
    Accepted(Box<tokio_rustls::server::TlsStream<S>>),
    /// TLS, we connected.
    Connected(Box<tokio_rustls::client::TlsStream<S>>),
    /// Taken for a TLS handshake (or lost in a failed one).
    Upgrading,
}

/// A connection: plain until a TLS handshake upgrades it, then TLS, on
/// either side of the handshake. It reads and writes like its socket.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use starling_net::Transport;
///
/// let (a, b) = tokio::io::duplex(1024);
/// let (mut a, mut b) = (Transport::new(a), Transport::new(b));
/// a.write_all(b"<stream:stream>").await.unwrap();
/// let chunk = b.read_chunk(4096).await.unwrap();
/// assert_eq!(&chunk[..], b"<stream:stream>");
/// assert!(!a.is_tls());
/// # });
/// ```
pub struct Transport<S = TcpStream> {
    state: State<S>,
}

impl<S> std::fmt::Debug for Transport<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Plain(_) => "plain",
            State::Accepted(_) => "TLS (accepted)",
            State::Connected(_) => "TLS (connected)",
            State::Upgrading => "upgrading",
        };
        f.debug_struct("Transport").field("state", &state).finish()
    }
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the connection is being upgraded",
    )
}

impl<S: Socket> Transport<S> {
    /// A plain connection.
    pub fn new(socket: S) -> Self {
        Transport {
            state: State::Plain(socket),
        }
    }

    /// A connection on which we accept TLS at once (XEP-0368 direct TLS).
    /// Apply a timeout around it.
    pub async fn accept(socket: S, acceptor: &TlsAcceptor) -> io::Result<(Self, TlsInfo)> {
        let mut t = Transport::new(socket);
        let info = t.accept_tls(acceptor).await?;
        Ok((t, info))
    }

    /// A connection on which we start TLS at once (XEP-0368 direct TLS),
    /// verifying the peer for `name`. Apply a timeout around it.
    pub async fn connect(
        socket: S,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> io::Result<(Self, TlsInfo)> {
        let mut t = Transport::new(socket);
        let info = t.connect_tls(connector, name).await?;
        Ok((t, info))
    }

    /// Whether TLS is on.
    pub fn is_tls(&self) -> bool {
        matches!(self.state, State::Accepted(_) | State::Connected(_))
    }

    /// The socket underneath (`None` after a failed handshake).
    pub fn socket(&self) -> Option<&S> {
        match &self.state {
            State::Plain(s) => Some(s),
            State::Accepted(t) => Some(t.get_ref().0),
            State::Connected(t) => Some(t.get_ref().0),
            State::Upgrading => None,
        }
    }

    /// The rustls connection, when we accepted TLS.
    pub fn server_connection(&self) -> Option<&rustls::ServerConnection> {
        match &self.state {
            State::Accepted(t) => Some(t.get_ref().1),
            _ => None,
        }
    }

    /// The rustls connection, when we started TLS.
    pub fn client_connection(&self) -> Option<&rustls::ClientConnection> {
        match &self.state {
            State::Connected(t) => Some(t.get_ref().1),
            _ => None,
        }
    }

    /// What the TLS handshake established; `None` on a plain connection.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        match &self.state {
            State::Accepted(t) => {
                let conn = t.get_ref().1;
                Some(TlsInfo::of(conn, conn.server_name()))
            }
            State::Connected(t) => Some(TlsInfo::of(t.get_ref().1, None)),
            _ => None,
        }
    }

    fn take_plain(&mut self) -> io::Result<S> {
        match std::mem::replace(&mut self.state, State::Upgrading) {
            State::Plain(s) => Ok(s),
            other => {
                self.state = other;
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS is already on (or the connection is gone)",
                ))
            }
        }
    }

    /// Runs the server side of a TLS handshake on this plain connection.
    /// After a failure the connection is gone. Apply a timeout around it.
    pub async fn accept_tls(&mut self, acceptor: &TlsAcceptor) -> io::Result<TlsInfo> {
        let socket = self.take_plain()?;
        let tls = acceptor.accept(socket).await?;
        let conn = tls.get_ref().1;
        let info = TlsInfo::of(conn, conn.server_name());
        self.state = State::Accepted(Box::new(tls));
        Ok(info)
    }

    /// Runs the client side of a TLS handshake on this plain connection,
    /// verifying the peer for `name`. After a failure the connection is
    /// gone. Apply a timeout around it.
    pub async fn connect_tls(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
    ) -> io::Result<TlsInfo> {
        let socket = self.take_plain()?;
        let tls = connector.connect(name, socket).await?;
        let info = TlsInfo::of(tls.get_ref().1, None);
        self.state = State::Connected(Box::new(tls));
        Ok(info)
    }

    /// Whether a read would make progress now, without reading: TLS
    /// plaintext is already waiting inside rustls, or the socket is
    /// readable. When not, the task is woken when it would.
    pub fn poll_read_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        fn tls_pending<D>(conn: &mut rustls::ConnectionCommon<D>) -> bool {
            // An error is reported by the read itself.
            conn.process_new_packets().map_or(true, |state| {
                state.plaintext_bytes_to_read() > 0 || state.peer_has_closed()
            })
        }
        match &mut self.state {
            State::Plain(s) => s.poll_read_ready(cx),
            State::Accepted(t) => {
                let (socket, conn) = t.get_mut();
                if tls_pending(conn) {
                    return Poll::Ready(Ok(()));
                }
                socket.poll_read_ready(cx)
            }
            State::Connected(t) => {
                let (socket, conn) = t.get_mut();
                if tls_pending(conn) {
                    return Poll::Ready(Ok(()));
                }
                socket.poll_read_ready(cx)
            }
            State::Upgrading => Poll::Ready(Ok(())),
        }
    }

    /// Waits until a read will make progress, then reads up to `max`
    /// bytes into a buffer made for this read: no buffer is held while
    /// waiting. An empty buffer is the end of the stream.
    pub fn poll_read_chunk(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<io::Result<BytesMut>> {
        ready!(self.poll_read_ready(cx))?;
        let mut buf = BytesMut::with_capacity(max.max(1));
        let read = {
            let fut = pin!(self.read_buf(&mut buf));
            fut.poll(cx)
        };
        match read {
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(buf)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // Not ready after all: the buffer goes, the waker stays.
            Poll::Pending => Poll::Pending,
        }
    }

    /// [`poll_read_chunk`](Self::poll_read_chunk) as a future. Cancelling
    /// it loses nothing.
    pub async fn read_chunk(&mut self, max: usize) -> io::Result<BytesMut> {
        poll_fn(|cx| self.poll_read_chunk(cx, max)).await
    }
}

impl<S: Socket> AsyncRead for Transport<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_read(cx, buf),
            State::Accepted(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
            State::Connected(t) => Pin::new(t.as_mut()).poll_read(cx, buf),
            State::Upgrading => Poll::Ready(Err(gone())),
        }
    }
}

impl<S: Socket> AsyncWrite for Transport<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_write(cx, data),
            State::Accepted(t) => Pin::new(t.as_mut()).poll_write(cx, data),
            State::Connected(t) => Pin::new(t.as_mut()).poll_write(cx, data),
            State::Upgrading => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_flush(cx),
            State::Accepted(t) => Pin::new(t.as_mut()).poll_flush(cx),
            State::Connected(t) => Pin::new(t.as_mut()).poll_flush(cx),
            State::Upgrading => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Pin::new(s).poll_shutdown(cx),
            State::Accepted(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
            State::Connected(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
            State::Upgrading => Poll::Ready(Ok(())),
        }
    }
}

/// Writes `data` and flushes, failing with [`io::ErrorKind::TimedOut`]
/// when one write (or the flush) makes no progress for `stall`.
pub(crate) async fn write_flush<S: Socket>(
    t: &mut Transport<S>,
    data: &[u8],
    stall: Option<Duration>,
) -> io::Result<()> {
    let mut done = 0;
    while done < data.len() {
        match within(stall, t.write(&data[done..])).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => done += n,
        }
    }
    within(stall, t.flush()).await
}

/// `io` within `limit`, a timeout being [`io::ErrorKind::TimedOut`]. An
/// operation ready at once (the common case: the socket has room) costs
/// no timer.
async fn within<T>(
    limit: Option<Duration>,
    io: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let mut io = pin!(io);
    let first = poll_fn(|cx| match io.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(Some(r)),
        Poll::Pending => Poll::Ready(None),
    })
    .await;
    if let Some(r) = first {
        return r;
    }
    match limit {
        Some(limit) => tokio::time::timeout(limit, io)
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no write progress"))),
        None => io.await,
    }
}
