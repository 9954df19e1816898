//! # starling-stream
//!
//! XMPP stream framing (RFC 6120 §4), sans-IO: the layer between the XML
//! tokenizer ([`starling_xml`]) and stanzas.
//!
//! * [`Framer`] takes the bytes read from a connection and yields [`Event`]s:
//!   the peer's [`StreamHeader`] (validated: streams namespace, content
//!   namespace, version, addresses), [`Features`], one complete top-level
//!   [`Element`](starling_xml::Element) at a time, whitespace keepalives,
//!   the peer's [`StreamError`], and the close. It restarts for a new stream
//!   after STARTTLS or SASL without losing buffered bytes.
//! * Problems become a [`FramingError`] that carries the stream error to
//!   send: every tokenizer error maps to its RFC 6120 §4.9.3 condition
//!   (`not-well-formed`, `restricted-xml`, `policy-violation` for limits,
//!   `unsupported-encoding`, `bad-namespace-prefix`, `invalid-namespace`, …).
//! * [`StreamWriter`] writes headers, features, elements, errors and the
//!   close into a buffer.
//! * With the `tokio` feature, [`AsyncStream`] drives both over an
//!   `AsyncRead + AsyncWrite`.
//!
//! No I/O, no TLS and no async runtime are needed with default features.
//!
//! ```
//! use starling_stream::{ContentNamespace, Event, Framer, FramerConfig, StreamHeader, StreamWriter};
//!
//! // What a client writes…
//! let mut wire = Vec::new();
//! let mut writer = StreamWriter::new();
//! writer.open(&StreamHeader::initial(ContentNamespace::Client, "example.com".parse().unwrap()), &mut wire);
//! // …is what the server's framer reads, cut into any chunks.
//! let mut server = Framer::new(FramerConfig { expected: Some(ContentNamespace::Client), ..Default::default() });
//! for chunk in wire.chunks(7) {
//!     server.feed(chunk);
//! }
//! let Some(Event::Header(h)) = server.next_event().unwrap() else { panic!() };
//! assert_eq!(h.content, ContentNamespace::Client);
//! ```
#![forbid(unsafe_code)]

mod error;
mod features;
mod framer;
mod header;
pub mod ns;
#[cfg(feature = "tokio")]
mod tokio_io;
mod writer;

pub use error::{Condition, FramingError, StreamError};
pub use features::{Features, Session, StartTls};
pub use framer::{Event, Framer, FramerConfig};
pub use header::{ContentNamespace, StreamHeader};
#[cfg(feature = "tokio")]
pub use tokio_io::{AsyncStream, AsyncStreamError};
pub use writer::{StreamWriter, random_id};
