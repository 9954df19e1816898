//! What an exchange claims before it is checked: the account a step is
//! about (for login throttling, which must count guesses against existing
//! and non-existing accounts alike), and refusing a step without checking
//! it.

use starling_jid::{BareJid, NodePart};
use starling_xml::Element;

use super::{SaslServer, ServerError, ServerStep, State};
use crate::sasl::condition::Failure;
use crate::sasl::mechanism::Mechanism;
use crate::sasl::wire::SaslMessage;
use crate::sasl::{scram, simple};

impl SaslServer {
    /// The account (`user@domain`) that receiving `el` would try to
    /// authenticate as, whether it exists or not: the PLAIN authcid or
    /// the SCRAM user name of `<auth/>` (or of the `<response/>` after an
    /// empty challenge), the SCRAM user of the pending exchange for its
    /// client-final `<response/>`. `None` when the element names no
    /// account (EXTERNAL, ANONYMOUS, malformed data, a user name that is
    /// not a valid localpart). Nothing is looked up.
    pub fn claimed_account(&self, el: &Element) -> Option<BareJid> {
        let user = match (&self.state, SaslMessage::from_element(el).ok()?) {
            (
                State::Idle,
                SaslMessage::Auth {
                    mechanism,
                    initial_response: Some(data),
                },
            ) => user_in(Mechanism::from_name(&mechanism)?, &data)?,
            (State::AwaitInitial(m), SaslMessage::Response(data)) => user_in(*m, &data)?,
            (State::ScramFinal(p), SaslMessage::Response(_)) => p.user.clone()?,
            _ => return None,
        };
        Some(self.bare_jid(&user))
    }

    /// Answers the next step with `failure` instead of checking it (a
    /// caller's policy, such as login throttling, refuses it). It counts
    /// as a failed attempt, like any other, and ends a pending exchange.
    pub fn refuse(&mut self, failure: Failure) -> Result<ServerStep, ServerError> {
        if self.is_finished() {
            return Err(ServerError::Finished);
        }
        Ok(self.fail(failure))
    }
}

/// The user name in a mechanism's first message, normalized as a
/// localpart.
fn user_in(mechanism: Mechanism, data: &[u8]) -> Option<NodePart> {
    let name = match mechanism {
        Mechanism::Plain => simple::parse_plain(data).ok()?.authcid.to_owned(),
        m if m.scram_hash().is_some() => scram::parse_client_first(data).ok()?.username,
        _ => return None,
    };
    NodePart::new(&name).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sasl::condition::Condition;
    use crate::sasl::{MemoryStore, ServerConfig, ServerConnection};

    fn server() -> SaslServer {
        let mut store = MemoryStore::new();
        store.add_user("juliet", "r0m30myr0m30", 4096).unwrap();
        let mut conn = ServerConnection::new("example.com".parse().unwrap());
        conn.tls = true;
        SaslServer::new(Arc::new(ServerConfig::default()), Arc::new(store), conn)
    }

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    fn auth(mechanism: &str, data: &[u8]) -> Element {
        el(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism}'>{}</auth>",
            crate::sasl::wire::encode(data)
        ))
    }

    fn response(data: &[u8]) -> Element {
        el(&format!(
            "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
            crate::sasl::wire::encode(data)
        ))
    }

    #[test]
    fn accounts_claimed_by_first_messages() {
        let s = server();
        let table: [(Element, Option<&str>); 7] = [
            (auth("PLAIN", b"\0Juliet\0pw"), Some("juliet@example.com")),
            (auth("PLAIN", b"\0nobody\0pw"), Some("nobody@example.com")),
            (
                auth("SCRAM-SHA-256", b"n,,n=romeo,r=abcdefgh"),
                Some("romeo@example.com"),
            ),
            (auth("PLAIN", b"no separators"), None),
            (auth("PLAIN", b"\0a b@c\0pw"), None),
            (auth("ANONYMOUS", b"trace"), None),
            (response(b"\0juliet\0pw"), None),
        ];
        for (e, want) in table {
            let got = s.claimed_account(&e);
            assert_eq!(got.as_ref().map(BareJid::as_str), want, "{}", e.to_xml());
        }
    }

    #[test]
    fn accounts_claimed_later_in_the_exchange() {
        let mut s = server();
        // No initial response: the first message comes as a response.
        let empty = el("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>");
        assert_eq!(s.claimed_account(&empty), None);
        assert!(matches!(s.receive(&empty), Ok(ServerStep::Challenge(_))));
        let first = response(b"\0juliet\0pw");
        assert_eq!(
            s.claimed_account(&first).unwrap().as_str(),
            "juliet@example.com"
        );
        // SCRAM's client-final names nobody; the pending exchange does.
        let mut s = server();
        let start = auth("SCRAM-SHA-256", b"n,,n=nobody,r=abcdefgh");
        assert!(matches!(s.receive(&start), Ok(ServerStep::Challenge(_))));
        let fin = response(b"c=biws,r=abcdefgh,p=AAAA");
        assert_eq!(
            s.claimed_account(&fin).unwrap().as_str(),
            "nobody@example.com"
        );
    }

    #[test]
    fn a_refused_step_counts_as_a_failure_and_ends_the_exchange() {
        let mut s = server();
        let start = auth("SCRAM-SHA-256", b"n,,n=juliet,r=abcdefgh");
        assert!(matches!(s.receive(&start), Ok(ServerStep::Challenge(_))));
        let refused = s
            .refuse(Failure::new(Condition::TemporaryAuthFailure))
            .unwrap();
        let ServerStep::Failure { failure, retry, .. } = refused else {
            panic!("{refused:?}");
        };
        assert_eq!(failure.condition, Condition::TemporaryAuthFailure);
        assert!(retry);
        assert_eq!(s.failures(), 1);
        // The pending exchange is gone: a response is out of place now.
        let late = response(b"c=biws,r=abcdefgh,p=AAAA");
        assert_eq!(s.claimed_account(&late), None);
        for _ in 0..2 {
            let _ = s.refuse(Failure::new(Condition::TemporaryAuthFailure));
        }
        assert!(s.is_finished());
        assert_eq!(
            s.refuse(Failure::new(Condition::TemporaryAuthFailure)),
            Err(ServerError::Finished)
        );
    }
}
