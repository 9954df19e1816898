//! Writing a stream.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use starling_xml::{Element, Writer};

use crate::error::StreamError;
use crate::features::Features;
use crate::header::StreamHeader;
use crate::ns;

/// A fresh, unpredictable stream id (RFC 6120 §4.7.3): 128 bits from the
/// process's randomly keyed hasher over a counter, in hex.
///
/// Any other source can be used instead: the id is just a string passed to
/// [`StreamHeader::response`].
pub fn random_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut out = String::with_capacity(32);
    for half in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u64(half);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// A sans-IO stream writer: appends the bytes of stream-level output to a
/// buffer the caller sends.
///
/// Stanzas written inside the stream do not repeat the content namespace.
///
/// ```
/// use starling_stream::{ContentNamespace, StreamHeader, StreamWriter};
/// use starling_xml::Element;
///
/// let mut out = Vec::new();
/// let mut w = StreamWriter::new();
/// w.open(&StreamHeader::initial(ContentNamespace::Client, "example.com".parse().unwrap()), &mut out);
/// w.element(&Element::builder("presence", "jabber:client").build(), &mut out);
/// w.close(&mut out);
/// let s = String::from_utf8(out).unwrap();
/// assert!(s.starts_with("<?xml version='1.0'?><stream:stream xmlns:stream="));
/// assert!(s.ends_with("><presence/></stream:stream>"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct StreamWriter {
    w: Writer,
}

impl StreamWriter {
    /// A writer with no stream open.
    pub fn new() -> Self {
        StreamWriter::default()
    }

    /// Whether a stream header has been written and not closed.
    pub fn is_open(&self) -> bool {
        self.w.depth() > 0
    }

    /// Writes the XML declaration and the stream header.
    pub fn open(&mut self, header: &StreamHeader, out: &mut Vec<u8>) {
        self.w.reset();
        self.w.declaration(out);
        let mut decls: Vec<(&str, &str)> = vec![("", header.content.as_str())];
        if header.dialback {
            decls.push(("db", ns::DIALBACK));
        }
        self.w.open(&header.to_element(), "stream", &decls, out);
    }

    /// Writes `<stream:features/>`.
    pub fn features(&mut self, features: &Features, out: &mut Vec<u8>) {
        self.w.element(&features.to_element(), out);
    }

    /// Writes a top-level element.
    pub fn element(&mut self, el: &Element, out: &mut Vec<u8>) {
        self.w.element(el, out);
    }

    /// Writes a whitespace keepalive.
    pub fn keepalive(&self, out: &mut Vec<u8>) {
        out.push(b' ');
    }

    /// Writes `<stream:error/>` and closes the stream (RFC 6120 §4.9.1.1).
    pub fn error(&mut self, error: &StreamError, out: &mut Vec<u8>) {
        self.w.element(&error.to_element(), out);
        self.close(out);
    }

    /// Writes `</stream:stream>`.
    pub fn close(&mut self, out: &mut Vec<u8>) {
        while self.w.depth() > 0 {
            self.w.close(out);
        }
    }

    /// Forgets the open stream, for a restart: the next call is
    /// [`open`](Self::open).
    pub fn restart(&mut self) {
        self.w.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::random_id;

    #[test]
    fn ids_differ() {
        let a = random_id();
        let b = random_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
