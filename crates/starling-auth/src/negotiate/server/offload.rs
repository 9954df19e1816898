//! SASL steps run away from the negotiator (and the async worker threads):
//! the credential lookup and the key derivation of a `<auth/>` or
//! `<response/>` may read a database and hash for milliseconds.

use std::fmt;

use starling_xml::Element;

use crate::sasl::{SaslServer, ServerError, ServerStep};

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

    #[test]
    fn jobs_and_results_go_to_other_threads() {
        send_static::<SaslJob>();
        send_static::<SaslDone>();
    }
}
