//! Connections as the session tasks see them: plain TCP until STARTTLS,
//! then TLS (either side of the handshake).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection in one of its states.
pub(crate) enum Io {
    /// Plain TCP (before STARTTLS).
    Plain(TcpStream),
    /// TLS, we accepted.
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// TLS, we connected.
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Taken for a TLS handshake (or closed).
    Gone,
}

impl Io {
    /// Reads some bytes; 0 at end of file.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Io::Plain(s) => s.read(buf).await,
            Io::ServerTls(s) => s.read(buf).await,
            Io::ClientTls(s) => s.read(buf).await,
            Io::Gone => Ok(0),
        }
    }

    /// Waits until a read will make progress, then reads into a buffer
    /// made for this read only: an idle connection holds no read buffer.
    /// An empty result is the end of the stream.
    pub(crate) async fn read_chunk(&mut self, max: usize) -> std::io::Result<Vec<u8>> {
        match self {
            Io::Plain(s) => loop {
                s.readable().await?;
                let mut buf = vec![0u8; max];
                match s.try_read(&mut buf) {
                    Ok(n) => {
                        buf.truncate(n);
                        return Ok(buf);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            },
            Io::ServerTls(s) => {
                // Decrypted bytes may already wait inside rustls.
                let pending = s.get_mut().1.process_new_packets().map_or(true, |st| {
                    st.plaintext_bytes_to_read() > 0 || st.peer_has_closed()
                });
                if !pending {
                    s.get_ref().0.readable().await?;
                }
                let mut buf = vec![0u8; max];
                let n = s.read(&mut buf).await?;
                buf.truncate(n);
                Ok(buf)
            }
            Io::ClientTls(s) => {
                let mut buf = vec![0u8; max];
                let n = s.read(&mut buf).await?;
                buf.truncate(n);
                Ok(buf)
            }
            Io::Gone => Ok(Vec::new()),
        }
    }

    /// Writes and flushes.
    pub(crate) async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Io::Plain(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Io::ServerTls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Io::ClientTls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
            Io::Gone => Ok(()),
        }
    }

    /// Shuts the connection down (TLS close_notify, then FIN).
    pub(crate) async fn shutdown(&mut self) {
        let _ = match self {
            Io::Plain(s) => s.shutdown().await,
            Io::ServerTls(s) => s.shutdown().await,
            Io::ClientTls(s) => s.shutdown().await,
            Io::Gone => Ok(()),
        };
    }

    /// Takes the plain TCP stream out (for a TLS handshake).
    pub(crate) fn take_plain(&mut self) -> Option<TcpStream> {
        match std::mem::replace(self, Io::Gone) {
            Io::Plain(t) => Some(t),
            other => {
                *self = other;
                None
            }
        }
    }
}
