//! What a mobile client needs besides stream management: message carbons
//! (XEP-0280), client state indication (XEP-0352) and blocking
//! (XEP-0191).

use starling_jid::Jid;
use starling_stanza::{Block, BlockList, CarbonsDisable, CarbonsEnable, CsiState, Iq, Unblock, ns};
use tokio::sync::oneshot;

use crate::client::{ClientHandle, Command};
use crate::error::Error;

impl ClientHandle {
    /// Turns message carbons on (XEP-0280 §4): copies of the messages the
    /// account's other resources send and receive arrive as
    /// [`Event::Carbon`](crate::Event::Carbon).
    pub async fn enable_carbons(&self) -> Result<(), Error> {
        self.request(Iq::set(self.new_id(), CarbonsEnable))
            .await
            .map(|_| ())
    }

    /// Turns message carbons off (XEP-0280 §5).
    pub async fn disable_carbons(&self) -> Result<(), Error> {
        self.request(Iq::set(self.new_id(), CarbonsDisable))
            .await
            .map(|_| ())
    }

    /// Tells the server whether the user is using the client (XEP-0352):
    /// `<active/>` or `<inactive/>`. [`Error::Unsupported`] when the server
    /// did not offer `urn:xmpp:csi:0`. The state is sent again on a new
    /// session after a reconnection.
    pub async fn set_active(&self, active: bool) -> Result<(), Error> {
        let state = if active {
            CsiState::Active
        } else {
            CsiState::Inactive
        };
        let (reply, rx) = oneshot::channel();
        self.command(Command::Nonza {
            el: state.to_element(),
            feature: ("csi", ns::CSI),
            reply,
        })
        .await?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// The JIDs the account blocks (XEP-0191 §3.2).
    pub async fn blocklist(&self) -> Result<Vec<Jid>, Error> {
        let reply = self
            .request(Iq::get(self.new_id(), BlockList::default()))
            .await?;
        match reply.payload_as::<BlockList>() {
            Some(Ok(list)) => Ok(list.items),
            Some(Err(e)) => Err(Error::Invalid(e.to_string())),
            None => Ok(Vec::new()),
        }
    }

    /// Blocks these JIDs (XEP-0191 §3.3); at least one.
    pub async fn block(&self, jids: Vec<Jid>) -> Result<(), Error> {
        if jids.is_empty() {
            return Err(Error::Invalid("block: no JID given".to_owned()));
        }
        self.request(Iq::set(self.new_id(), Block { items: jids }))
            .await
            .map(|_| ())
    }

    /// Unblocks these JIDs (XEP-0191 §3.4); at least one (see
    /// [`unblock_all`](Self::unblock_all)).
    pub async fn unblock(&self, jids: Vec<Jid>) -> Result<(), Error> {
        if jids.is_empty() {
            return Err(Error::Invalid(
                "unblock: no JID given (unblock_all unblocks every JID)".to_owned(),
            ));
        }
        self.request(Iq::set(self.new_id(), Unblock { items: jids }))
            .await
            .map(|_| ())
    }

    /// Unblocks every JID (XEP-0191 §3.4).
    pub async fn unblock_all(&self) -> Result<(), Error> {
        self.request(Iq::set(self.new_id(), Unblock::all()))
            .await
            .map(|_| ())
    }
}
