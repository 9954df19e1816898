//! The framer and writer over tokio's `AsyncRead`/`AsyncWrite`.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{FramingError, StreamError};
use crate::features::Features;
use crate::framer::{Event, Framer, FramerConfig};
use crate::header::StreamHeader;
use crate::writer::StreamWriter;
use starling_xml::Element;

/// An error of [`AsyncStream`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AsyncStreamError {
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer violated the protocol; the stream error has been sent.
    #[error(transparent)]
    Framing(#[from] FramingError),
}

/// A [`Framer`] and a [`StreamWriter`] over one connection.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use starling_stream::{AsyncStream, ContentNamespace, Event, FramerConfig, StreamHeader};
///
/// let (a, b) = tokio::io::duplex(4096);
/// let mut client = AsyncStream::new(a, FramerConfig::default());
/// let mut server = AsyncStream::new(b, FramerConfig::default());
/// client.send_header(&StreamHeader::initial(ContentNamespace::Client, "example.com".parse().unwrap())).await.unwrap();
/// let Some(Event::Header(h)) = server.next_event().await.unwrap() else { panic!() };
/// assert_eq!(h.to.unwrap().to_string(), "example.com");
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncStream<S> {
    io: S,
    framer: Framer,
    writer: StreamWriter,
    read_buf: Vec<u8>,
    out: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncStream<S> {
    /// Wraps a connection.
    pub fn new(io: S, config: FramerConfig) -> Self {
        AsyncStream {
            io,
            framer: Framer::new(config),
            writer: StreamWriter::new(),
            read_buf: vec![0; 4096],
            out: Vec::new(),
        }
    }

    /// The next event; `Ok(None)` when the connection closed cleanly at a
    /// point where no element was pending. A protocol violation sends the
    /// stream error, closes the stream and returns the error.
    pub async fn next_event(&mut self) -> Result<Option<Event>, AsyncStreamError> {
        loop {
            match self.framer.next_event() {
                Ok(Some(e)) => return Ok(Some(e)),
                Ok(None) => {}
                Err(e) => {
                    if !self.writer.is_open() {
                        // A stream error needs an open stream (RFC 6120 §4.9.1.3).
                        return Err(e.into());
                    }
                    self.send_error(&e.error).await?;
                    return Err(e.into());
                }
            }
            let n = self.io.read(&mut self.read_buf).await?;
            if n == 0 {
                return Ok(None);
            }
            self.framer.feed(&self.read_buf[..n]);
        }
    }

    /// Sends a stream header.
    pub async fn send_header(&mut self, header: &StreamHeader) -> std::io::Result<()> {
        self.writer.open(header, &mut self.out);
        self.flush().await
    }

    /// Sends stream features.
    pub async fn send_features(&mut self, features: &Features) -> std::io::Result<()> {
        self.writer.features(features, &mut self.out);
        self.flush().await
    }

    /// Sends a top-level element.
    pub async fn send_element(&mut self, el: &Element) -> std::io::Result<()> {
        self.writer.element(el, &mut self.out);
        self.flush().await
    }

    /// Sends a stream error and closes the stream.
    pub async fn send_error(&mut self, error: &StreamError) -> std::io::Result<()> {
        self.writer.error(error, &mut self.out);
        self.flush().await
    }

    /// Closes the stream (`</stream:stream>`).
    pub async fn close(&mut self) -> std::io::Result<()> {
        self.writer.close(&mut self.out);
        self.flush().await
    }

    /// Restarts both directions (after STARTTLS or SASL success).
    pub fn restart(&mut self) {
        self.framer.restart();
        self.writer.restart();
    }

    /// The framer, for inspection.
    pub fn framer(&self) -> &Framer {
        &self.framer
    }

    /// Gives the connection back (for example to wrap it in TLS) with the
    /// framer, whose buffered bytes must be empty for a TLS upgrade.
    pub fn into_parts(self) -> (S, Framer, StreamWriter) {
        (self.io, self.framer, self.writer)
    }

    /// Reassembles a stream from parts (after a TLS upgrade).
    pub fn from_parts(io: S, framer: Framer, writer: StreamWriter) -> Self {
        AsyncStream {
            io,
            framer,
            writer,
            read_buf: vec![0; 4096],
            out: Vec::new(),
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.io.write_all(&self.out).await?;
        self.out.clear();
        self.io.flush().await
    }
}
