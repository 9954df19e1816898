//! What a module sees of a local session inside its own task.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use starling_jid::FullJid;
use starling_xml::Element;

use crate::registry::SessionHandle;

/// Per-session state of the modules, one value per type.
///
/// ```
/// use starling_server::module::Extensions;
///
/// #[derive(Default)]
/// struct Counter(u32);
///
/// let mut ext = Extensions::default();
/// ext.get_or_default::<Counter>().0 += 1;
/// assert_eq!(ext.get::<Counter>().map(|c| c.0), Some(1));
/// ```
#[derive(Default)]
pub struct Extensions {
    map: HashMap<TypeId, Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("len", &self.map.len())
            .finish()
    }
}

impl Extensions {
    /// The value of type `T`, if set.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref())
    }

    /// The value of type `T`, created with its default if absent.
    pub fn get_or_default<T: Default + Send + Sync + 'static>(&mut self) -> &mut T {
        self.map
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut()
            .expect("the entry of TypeId::of::<T>() holds a T")
    }

    /// Removes and returns the value of type `T`.
    pub fn take<T: Send + Sync + 'static>(&mut self) -> Option<T> {
        self.map
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast().ok())
            .map(|b| *b)
    }
}

/// A future that writes out what a session has buffered.
pub type FlushFuture<'a> = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send + 'a>>;

/// Work to run once the client has acknowledged (XEP-0198) everything
/// sent before it was registered: see [`Session::after_ack`].
pub type AckAction = Box<dyn FnOnce() + Send>;

/// The session's own connection, as modules may use it: queue an element
/// on its stream, and write out everything queued.
pub trait SessionIo: Send {
    /// Queues `el` on the session's stream (written at the next flush).
    fn send(&mut self, el: &Element);

    /// Queues a stanza a store still holds until the client has it (an
    /// offline message): if the session ends before the client
    /// acknowledges it, it is not routed again (the store keeps it).
    fn send_stored(&mut self, el: &Element) {
        self.send(el);
    }

    /// Keeps `action` until the client has acknowledged everything sent
    /// so far, and runs it then; gives it back when there is nothing to
    /// wait for (no stream management, or nothing unacknowledged). An
    /// action of a session that ends first is dropped, never run.
    fn after_ack(&mut self, action: AckAction) -> Option<AckAction> {
        Some(action)
    }

    /// Writes what is queued to the connection.
    fn flush(&mut self) -> FlushFuture<'_>;
}

/// A local session, in its own task: its handle, the modules' state for
/// it, and its stream.
pub struct Session<'a> {
    handle: &'a Arc<SessionHandle>,
    ext: &'a mut Extensions,
    io: &'a mut dyn SessionIo,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("jid", &self.handle.jid)
            .finish_non_exhaustive()
    }
}

impl<'a> Session<'a> {
    /// A session context for one call.
    pub fn new(
        handle: &'a Arc<SessionHandle>,
        ext: &'a mut Extensions,
        io: &'a mut dyn SessionIo,
    ) -> Session<'a> {
        Session { handle, ext, io }
    }

    /// The bound full JID.
    pub fn jid(&self) -> &FullJid {
        &self.handle.jid
    }

    /// The session as other tasks see it.
    pub fn handle(&self) -> &Arc<SessionHandle> {
        self.handle
    }

    /// The modules' per-session state.
    pub fn ext(&mut self) -> &mut Extensions {
        self.ext
    }

    /// Queues an element on this session's own stream.
    pub fn send(&mut self, el: &Element) {
        self.io.send(el);
    }

    /// Queues a stanza a store keeps until the client has it (see
    /// [`SessionIo::send_stored`]).
    pub fn send_stored(&mut self, el: &Element) {
        self.io.send_stored(el);
    }

    /// Runs `action` once the client has acknowledged everything sent so
    /// far (XEP-0198), or now when the session does not acknowledge or
    /// nothing waits; never when the session ends first. Use it to delete
    /// what a store holds for the client only once the client has it.
    pub fn after_ack(&mut self, action: AckAction) {
        if let Some(a) = self.io.after_ack(action) {
            a();
        }
    }

    /// Writes everything queued on this session's stream.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.io.flush().await
    }
}

/// What a delivery filter sees of the receiving session.
#[derive(Debug, Clone, Copy)]
pub struct SessionView<'a> {
    /// The session.
    pub handle: &'a SessionHandle,
    /// The modules' state for it.
    pub ext: &'a Extensions,
}
