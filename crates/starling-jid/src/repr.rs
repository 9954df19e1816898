//! Storage: one shared, immutable buffer holding the prepared address, plus
//! 16-bit offsets of the separators. Every type in the crate is a view into
//! such a buffer, so cloning is a reference-count increment and taking the
//! bare JID or a part of a JID never copies.

use std::sync::Arc;

use crate::domain;
use crate::error::JidError;
use crate::prep::{self, Prep};

/// Marker for "no `@`" in [`Repr::at`].
const NONE: u16 = u16::MAX;

/// Prepared addresses up to this length are assembled on the stack and
/// copied into their shared buffer with a single allocation; longer ones
/// (rare: the realistic maximum is a few hundred bytes) take one more.
const INLINE: usize = 256;

/// A span of a shared buffer: the representation of the part types.
#[derive(Clone)]
pub(crate) struct Span {
    buf: Arc<str>,
    start: u16,
    end: u16,
}

impl Span {
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        &self.buf[usize::from(self.start)..usize::from(self.end)]
    }

    /// Builds a span holding exactly `prep`.
    pub(crate) fn from_prep(prep: &Prep<'_>) -> Span {
        let buf = match prep {
            Prep::Verbatim(s) => Arc::from(*s),
            Prep::Owned(s) => Arc::from(s.as_str()),
            Prep::Lower(_) => build(prep.len(), |sink| sink.prep(prep)),
        };
        let end = to_u16(buf.len());
        Span { buf, start: 0, end }
    }
}

/// The representation of [`Jid`](crate::Jid), [`BareJid`](crate::BareJid)
/// and [`FullJid`](crate::FullJid): `buf[start..end]` is the address,
/// `buf[at]` its `@` (if `at != NONE`), `buf[dom_end]` its `/` (if
/// `dom_end < end`).
#[derive(Clone)]
pub(crate) struct Repr {
    buf: Arc<str>,
    start: u16,
    at: u16,
    dom_end: u16,
    end: u16,
}

fn to_u16(n: usize) -> u16 {
    // Prepared addresses are at most 3 * 1023 + 2 bytes long.
    u16::try_from(n).unwrap_or(NONE - 1)
}

/// Where the pieces of an address are written.
trait Sink {
    fn put(&mut self, s: &str);
    fn put_lower(&mut self, s: &str);
    fn len(&self) -> usize;

    fn prep(&mut self, p: &Prep<'_>) {
        match p {
            Prep::Verbatim(s) => self.put(s),
            Prep::Lower(s) => self.put_lower(s),
            Prep::Owned(s) => self.put(s),
        }
    }
}

impl Sink for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
    fn put_lower(&mut self, s: &str) {
        let n = self.len();
        self.push_str(s);
        self.as_mut_str()[n..].make_ascii_lowercase();
    }
    fn len(&self) -> usize {
        String::len(self)
    }
}

struct Stack {
    buf: [u8; INLINE],
    len: usize,
}

impl Sink for Stack {
    fn put(&mut self, s: &str) {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
    }
    fn put_lower(&mut self, s: &str) {
        let dst = &mut self.buf[self.len..self.len + s.len()];
        dst.copy_from_slice(s.as_bytes());
        dst.make_ascii_lowercase();
        self.len += s.len();
    }
    fn len(&self) -> usize {
        self.len
    }
}

/// Builds a shared buffer of `total` bytes from what `write` puts into a
/// sink, with one allocation when `total <= INLINE`.
fn build(total: usize, write: impl FnOnce(&mut dyn Sink)) -> Arc<str> {
    if total <= INLINE {
        let mut stack = Stack {
            buf: [0; INLINE],
            len: 0,
        };
        write(&mut stack);
        match core::str::from_utf8(&stack.buf[..stack.len]) {
            Ok(s) => Arc::from(s),
            // Only whole `str`s (and their ASCII lowercase) are written.
            Err(_) => unreachable!("concatenated strings are UTF-8"),
        }
    } else {
        let mut s = String::with_capacity(total);
        write(&mut s);
        Arc::from(s)
    }
}

impl Repr {
    /// Parses and prepares an address (RFC 7622 §3.1: the resourcepart is
    /// everything after the first `/`; the localpart everything before the
    /// first `@` in what remains).
    pub(crate) fn parse(s: &str) -> Result<Repr, JidError> {
        let (head, resource) = match s.find('/') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let (node, domain) = match head.find('@') {
            Some(i) => (Some(&head[..i]), &head[i + 1..]),
            None => (None, head),
        };
        let node = node.map(prep::localpart).transpose()?;
        let domain_prep = domain::domainpart(domain)?;
        let resource = resource.map(prep::resourcepart).transpose()?;

        let verbatim = node.as_ref().is_none_or(Prep::is_verbatim)
            && domain_prep.is_verbatim()
            && domain_prep.len() == domain.len()
            && resource.as_ref().is_none_or(Prep::is_verbatim);
        if verbatim {
            // Already in prepared form: share a copy of the input.
            let at = node.as_ref().map_or(NONE, |n| to_u16(n.len()));
            let dom_end = to_u16(head.len());
            return Ok(Repr {
                buf: Arc::from(s),
                start: 0,
                at,
                dom_end,
                end: to_u16(s.len()),
            });
        }
        Ok(Repr::assemble(
            node.as_ref(),
            &domain_prep,
            resource.as_ref(),
        ))
    }

    /// Joins prepared parts into a new buffer.
    pub(crate) fn assemble(
        node: Option<&Prep<'_>>,
        domain: &Prep<'_>,
        resource: Option<&Prep<'_>>,
    ) -> Repr {
        let node_len = node.map_or(0, |n| n.len() + 1);
        let dom_end = node_len + domain.len();
        let total = dom_end + resource.map_or(0, |r| r.len() + 1);
        let buf = build(total, |sink| {
            if let Some(n) = node {
                sink.prep(n);
                sink.put("@");
            }
            sink.prep(domain);
            if let Some(r) = resource {
                sink.put("/");
                sink.prep(r);
            }
            debug_assert_eq!(sink.len(), total);
        });
        Repr {
            buf,
            start: 0,
            at: if node.is_some() {
                to_u16(node_len - 1)
            } else {
                NONE
            },
            dom_end: to_u16(dom_end),
            end: to_u16(total),
        }
    }

    /// A domain-only address viewing a domain span.
    pub(crate) fn from_domain(d: &Span) -> Repr {
        Repr {
            buf: d.buf.clone(),
            start: d.start,
            at: NONE,
            dom_end: d.end,
            end: d.end,
        }
    }

    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        &self.buf[usize::from(self.start)..usize::from(self.end)]
    }

    fn domain_start(&self) -> u16 {
        if self.at == NONE {
            self.start
        } else {
            self.at + 1
        }
    }

    pub(crate) fn node(&self) -> Option<&str> {
        (self.at != NONE).then(|| &self.buf[usize::from(self.start)..usize::from(self.at)])
    }

    pub(crate) fn domain(&self) -> &str {
        &self.buf[usize::from(self.domain_start())..usize::from(self.dom_end)]
    }

    pub(crate) fn resource(&self) -> Option<&str> {
        (self.dom_end < self.end)
            .then(|| &self.buf[usize::from(self.dom_end) + 1..usize::from(self.end)])
    }

    pub(crate) fn has_resource(&self) -> bool {
        self.dom_end < self.end
    }

    pub(crate) fn node_span(&self) -> Option<Span> {
        (self.at != NONE).then(|| Span {
            buf: self.buf.clone(),
            start: self.start,
            end: self.at,
        })
    }

    pub(crate) fn domain_span(&self) -> Span {
        Span {
            buf: self.buf.clone(),
            start: self.domain_start(),
            end: self.dom_end,
        }
    }

    pub(crate) fn resource_span(&self) -> Option<Span> {
        self.has_resource().then(|| Span {
            buf: self.buf.clone(),
            start: self.dom_end + 1,
            end: self.end,
        })
    }

    /// The address without its resourcepart, sharing the buffer.
    pub(crate) fn bare(&self) -> Repr {
        Repr {
            end: self.dom_end,
            ..self.clone()
        }
    }

    /// Consumes `self` and drops the resourcepart, sharing the buffer.
    pub(crate) fn into_bare(mut self) -> Repr {
        self.end = self.dom_end;
        self
    }

    /// The bare part of `self` with `resource` appended, in a new buffer.
    pub(crate) fn with_resource(&self, resource: &str) -> Repr {
        let node = self.node().map(Prep::Verbatim);
        Repr::assemble(
            node.as_ref(),
            &Prep::Verbatim(self.domain()),
            Some(&Prep::Verbatim(resource)),
        )
    }
}
