//! SASL steps run away from the negotiator (and the async worker threads):
//! the credential lookup and the key derivation of a `<auth/>` or
//! `<response/>` may read a database and hash for milliseconds.

use std::fmt;

use starling_xml::Element;

use super::{ServerHooks, ServerNegotiator};
use starling_jid::BareJid;

use crate::sasl::{Failure, SaslServer, ServerError, ServerStep};

/// Where an offloaded SASL step is.
pub(super) enum Job {
    None,
    /// Made, not yet taken.
    Waiting(Box<SaslJob>),
    /// Taken; its result is due.
    Running,
}

impl<H: ServerHooks> ServerNegotiator<H> {
    /// With [`ServerSettings::offload_sasl`](super::ServerSettings::offload_sasl):
    /// the SASL step to run now,
    /// if one is waiting. Check after [`next_event`](Self::next_event)
    /// returns `None`; while the job is out, input is still accepted but
    /// left unprocessed and no event comes (timeouts still apply). Run it
    /// with [`SaslJob::run`] where blocking is fine, and hand the result
    /// back with [`sasl_done`](Self::sasl_done).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Instant;
    /// use starling_auth::negotiate::{ServerHooks, ServerNegotiator, ServerSettings};
    /// use starling_auth::MemoryStore;
    /// # use starling_jid::{BareJid, DomainPart, FullJid};
    /// # use starling_stanza::StanzaError;
    /// # struct Hooks;
    /// # impl ServerHooks for Hooks {
    /// #     fn serves(&self, d: &DomainPart) -> bool { d.as_str() == "example.com" }
    /// #     fn bind(&mut self, u: &BareJid, _: Option<&str>) -> Result<FullJid, StanzaError> {
    /// #         Ok(u.with_resource_str("r").unwrap())
    /// #     }
    /// # }
    ///
    /// let mut store = MemoryStore::new();
    /// store.add_user("juliet", "r0m30myr0m30", 4096).unwrap();
    /// let mut settings = ServerSettings::new(Arc::new(store));
    /// settings.offload_sasl = true;
    /// // A connection on a direct TLS port, with no channel binding.
    /// let mut server = ServerNegotiator::new(settings, Hooks, Some(Vec::new()), Instant::now());
    /// server.feed(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
    ///     to='example.com' version='1.0'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' \
    ///     mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>");
    /// assert_eq!(server.next_event(), None);
    /// assert!(server.take_output().ends_with(b"</stream:features>"));
    /// // The password check is not done yet: it is a job.
    /// let job = server.take_sasl_job().unwrap();
    /// let done = std::thread::spawn(move || job.run()).join().unwrap();
    /// server.sasl_done(done);
    /// assert!(matches!(server.next_event(), Some(starling_auth::negotiate::ServerEvent::Authenticated(_))));
    /// assert!(String::from_utf8(server.take_output()).unwrap().contains("<success"));
    /// ```
    #[must_use = "the job must be run and its result handed back with `sasl_done`"]
    pub fn take_sasl_job(&mut self) -> Option<SaslJob> {
        match std::mem::replace(&mut self.job, Job::None) {
            Job::Waiting(job) => {
                self.job = Job::Running;
                Some(*job)
            }
            other => {
                self.job = other;
                None
            }
        }
    }

    /// Whether a SASL step is out as a job (waiting to be taken or
    /// running): input stays unprocessed until [`sasl_done`](Self::sasl_done).
    pub fn sasl_job_pending(&self) -> bool {
        !matches!(self.job, Job::None)
    }

    /// The result of the [`SaslJob`] taken last: its answer goes out and
    /// the input that waited is processed by the next calls to
    /// [`next_event`](Self::next_event). Ignored when no job is out, and
    /// when the stream closed meanwhile (a timeout, the peer gone).
    pub fn sasl_done(&mut self, done: SaslDone) {
        if matches!(self.job, Job::None) {
            return;
        }
        self.job = Job::None;
        self.c.hold(false);
        if self.c.is_closed() {
            return;
        }
        self.sasl = Some(done.sasl);
        self.sasl_step(done.step);
    }
}

/// One SASL step to run on a blocking thread: the server's SASL state and
/// the client's element, owned. Made by a [`ServerNegotiator`] with
/// [`ServerSettings::offload_sasl`] on, taken with
/// [`ServerNegotiator::take_sasl_job`]; its [`run`](Self::run) result goes
/// back through [`ServerNegotiator::sasl_done`].
///
/// [`ServerNegotiator`]: super::ServerNegotiator
/// [`ServerSettings::offload_sasl`]: super::ServerSettings::offload_sasl
/// [`ServerNegotiator::take_sasl_job`]: super::ServerNegotiator::take_sasl_job
/// [`ServerNegotiator::sasl_done`]: super::ServerNegotiator::sasl_done
#[must_use = "the job must be run and its result handed back with `sasl_done`"]
pub struct SaslJob {
    pub(super) sasl: SaslServer,
    pub(super) element: Element,
    /// Whether the step needs only what the exchange holds.
    pub(super) light: bool,
}

impl SaslJob {
    /// Runs the step: credential lookups and key derivation happen here.
    /// Call it where blocking is fine (`tokio::task::spawn_blocking`, a
    /// thread pool).
    pub fn run(mut self) -> SaslDone {
        let step = self.sasl.receive(&self.element);
        SaslDone {
            sasl: self.sasl,
            step,
        }
    }

    /// Whether the step needs only what the exchange already holds
    /// (SCRAM's client-final: a few HMACs, no lookup), so it may run
    /// inline. Only handed out with
    /// [`ServerSettings::offload_light_sasl`](super::ServerSettings::offload_light_sasl).
    pub fn is_light(&self) -> bool {
        self.light
    }

    /// The account the step tries to authenticate as, whether it exists
    /// or not (see [`SaslServer::claimed_account`]).
    pub fn claimed_account(&self) -> Option<BareJid> {
        self.sasl.claimed_account(&self.element)
    }

    /// Answers the step with `failure` without running it: no lookup, no
    /// key derivation (a caller's policy refuses it). It counts as a
    /// failed attempt.
    pub fn refuse(mut self, failure: Failure) -> SaslDone {
        let step = self.sasl.refuse(failure);
        SaslDone {
            sasl: self.sasl,
            step,
        }
    }
}

impl fmt::Debug for SaslJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The element may carry a password (PLAIN): only its name.
        f.debug_struct("SaslJob")
            .field("sasl", &self.sasl)
            .field("element", &self.element.name())
            .finish()
    }
}

/// The result of a [`SaslJob`], for [`ServerNegotiator::sasl_done`].
///
/// [`ServerNegotiator::sasl_done`]: super::ServerNegotiator::sasl_done
#[must_use = "the result must be handed back with `sasl_done`"]
pub struct SaslDone {
    pub(super) sasl: SaslServer,
    pub(super) step: Result<ServerStep, ServerError>,
}

impl SaslDone {
    /// What the step produced: the challenge, success or failure about to
    /// be sent; `None` when the exchange was already over.
    pub fn step(&self) -> Option<&ServerStep> {
        self.step.as_ref().ok()
    }
}

impl fmt::Debug for SaslDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match &self.step {
            Ok(ServerStep::Challenge(_)) => "challenge",
            Ok(ServerStep::Success { .. }) => "success",
            Ok(ServerStep::Failure { .. }) => "failure",
            Err(_) => "error",
        };
        f.debug_struct("SaslDone")
            .field("sasl", &self.sasl)
            .field("step", &step)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_static<T: Send + 'static>() {}

    use std::sync::Arc;
    use std::time::Instant;

    use starling_jid::{DomainPart, FullJid};
    use starling_stanza::StanzaError;

    use crate::MemoryStore;
    use crate::negotiate::ServerSettings;
    use crate::sasl::Condition;

    struct Hooks;

    impl ServerHooks for Hooks {
        fn serves(&self, d: &DomainPart) -> bool {
            d.as_str() == "example.com"
        }
        fn bind(&mut self, u: &BareJid, _: Option<&str>) -> Result<FullJid, StanzaError> {
            Ok(u.with_resource_str("r").unwrap())
        }
    }

    const HEADER: &[u8] = b"<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

    fn negotiator(light: bool) -> ServerNegotiator<Hooks> {
        let mut store = MemoryStore::new();
        store.add_user("juliet", "r0m30myr0m30", 4096).unwrap();
        let mut settings = ServerSettings::new(Arc::new(store));
        settings.offload_sasl = true;
        settings.offload_light_sasl = light;
        let mut s = ServerNegotiator::new(settings, Hooks, Some(Vec::new()), Instant::now());
        s.feed(HEADER);
        assert_eq!(s.next_event(), None);
        let _ = s.take_output();
        s
    }

    #[test]
    fn a_refused_job_answers_with_its_failure_unchecked() {
        let mut s = negotiator(true);
        // The right password, refused all the same.
        s.feed(
            b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\
            AGp1bGlldAByMG0zMG15cjBtMzA=</auth>",
        );
        assert_eq!(s.next_event(), None);
        let job = s.take_sasl_job().unwrap();
        assert!(!job.is_light());
        assert_eq!(
            job.claimed_account().unwrap().as_str(),
            "juliet@example.com"
        );
        let done = job.refuse(Failure::new(Condition::TemporaryAuthFailure));
        assert!(matches!(
            done.step(),
            Some(ServerStep::Failure { failure, .. }) if failure.condition == Condition::TemporaryAuthFailure
        ));
        s.sasl_done(done);
        assert_eq!(s.next_event(), None);
        let out = String::from_utf8(s.take_output()).unwrap();
        assert!(out.contains("<temporary-auth-failure/>"), "{out}");
        assert!(!s.is_closed());
    }

    #[test]
    fn light_steps_are_jobs_only_when_asked() {
        let first = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>\
            biwsbj1qdWxpZXQscj1hYmNkZWZnaA==</auth>";
        let fin = b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
            Yz1iaXdzLHI9YWJjZGVmZ2gscD1BQUFB</response>";
        for light in [false, true] {
            let mut s = negotiator(light);
            s.feed(first);
            assert_eq!(s.next_event(), None);
            let done = s.take_sasl_job().unwrap().run();
            assert!(matches!(done.step(), Some(ServerStep::Challenge(_))));
            s.sasl_done(done);
            assert_eq!(s.next_event(), None);
            let _ = s.take_output();
            // The client-final (with a wrong nonce and proof).
            s.feed(fin);
            assert_eq!(s.next_event(), None);
            match s.take_sasl_job() {
                Some(job) => {
                    assert!(light && job.is_light());
                    assert_eq!(
                        job.claimed_account().unwrap().as_str(),
                        "juliet@example.com"
                    );
                    s.sasl_done(job.run());
                }
                None => assert!(!light),
            }
            assert_eq!(s.next_event(), None);
            let out = String::from_utf8(s.take_output()).unwrap();
            assert!(out.contains("<failure"), "{light}: {out}");
        }
    }

    #[test]
    fn jobs_and_results_go_to_other_threads() {
        send_static::<SaslJob>();
        send_static::<SaslDone>();
    }
}
