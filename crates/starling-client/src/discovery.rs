//! Finding the server for a domain (RFC 6120 §3.2, XEP-0368): the SRV
//! ordering and lookups of [`starling_net::discovery`], reporting this
//! crate's [`Error`].

use std::net::SocketAddr;

pub use starling_net::discovery::{Service, SrvRecord, Target, TokioResolver, order_srv};

use crate::error::Error;

/// A resolver using the system's configuration, or the given name servers.
pub fn resolver(name_servers: Option<&[SocketAddr]>) -> Result<TokioResolver, Error> {
    Ok(starling_net::discovery::resolver(name_servers)?)
}

/// The targets to try for `domain`, in order: SRV records for direct TLS
/// and STARTTLS ordered together, else the domain itself on port 5222
/// (RFC 6120 §3.2.2). A single SRV record whose target is `.` means the
/// domain offers no service ([`Error::NoService`]).
pub async fn discover(resolver: &TokioResolver, domain: &str) -> Result<Vec<Target>, Error> {
    Ok(starling_net::discovery::discover(resolver, domain).await?)
}

/// [`discover`] for either service: client-to-server or server-to-server
/// (RFC 6120 §3.2, §13.9.1; XEP-0368).
pub async fn discover_service(
    resolver: &TokioResolver,
    domain: &str,
    service: Service,
) -> Result<Vec<Target>, Error> {
    Ok(starling_net::discovery::discover_service(resolver, domain, service).await?)
}

/// The addresses of a target host.
pub async fn addresses(
    resolver: &TokioResolver,
    target: &Target,
) -> Result<Vec<SocketAddr>, Error> {
    Ok(starling_net::discovery::addresses(resolver, target).await?)
}
