//! Finding the server for a domain (RFC 6120 §3.2, §13.9.1; XEP-0368).
//!
//! SRV records for direct TLS (`_xmpps-…`) and STARTTLS (`_xmpp-…`) are
//! looked up together and ordered as RFC 2782 says, for the client service
//! or the server one; without records, the domain itself on the default
//! port.
//!
//! ```
//! use starling_net::discovery::{SrvRecord, order_srv};
//!
//! let record = |priority, weight, target: &str, direct_tls| SrvRecord {
//!     priority, weight, port: 5222, target: target.into(), direct_tls,
//! };
//! let records = vec![record(20, 0, "c", false), record(10, 60, "a", true), record(10, 40, "b", false)];
//! // A "random" source that always picks the first candidate.
//! let order = order_srv(records, |_| 0);
//! let hosts: Vec<_> = order.iter().map(|t| t.host.as_str()).collect();
//! assert_eq!(hosts, ["a", "b", "c"]);
//! assert!(order[0].direct_tls);
//! ```

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;

/// The DNS resolver (hickory's, on tokio) the lookups use; make one with
/// [`resolver`].
pub use hickory_resolver::TokioResolver;

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Looking up the records failed (or the resolver could not be set
    /// up).
    #[error("DNS: {0}")]
    Dns(String),
    /// The domain publishes "no service" (a single SRV target of `.`).
    #[error("the domain {0} offers no XMPP client service")]
    NoService(String),
}

/// One place to try: a host, a port, and whether to start TLS at once
/// (XEP-0368) or with STARTTLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Direct TLS (`_xmpps-client`) rather than STARTTLS (`_xmpp-client`).
    pub direct_tls: bool,
}

/// An SRV record as read from DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative chance among records of the same priority.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Target host, without the trailing dot; `"."` becomes empty.
    pub target: String,
    /// Whether the record came from `_xmpps-client._tcp`.
    pub direct_tls: bool,
}

/// A random number in `0..=max` from the process's randomly keyed hasher.
fn random_upto(max: u32) -> u32 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(max);
    (h.finish() % (u64::from(max) + 1)) as u32
}

/// Orders SRV records as RFC 2782 says: by priority, and within a priority
/// by a weighted random choice (records of weight 0 first in the running
/// list, as the RFC prescribes). `_xmpps-client` and `_xmpp-client` records
/// are ordered together (XEP-0368 §3). `random(max)` returns a number in
/// `0..=max`.
pub fn order_srv(mut records: Vec<SrvRecord>, mut random: impl FnMut(u32) -> u32) -> Vec<Target> {
    records.sort_by_key(|r| (r.priority, r.weight != 0));
    let mut out = Vec::with_capacity(records.len());
    let mut i = 0;
    while i < records.len() {
        let prio = records[i].priority;
        let end = records[i..]
            .iter()
            .position(|r| r.priority != prio)
            .map_or(records.len(), |p| i + p);
        let mut group: Vec<SrvRecord> = records[i..end].to_vec();
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let pick = random(total);
            let mut running = 0u32;
            let idx = group
                .iter()
                .position(|r| {
                    running += u32::from(r.weight);
                    running >= pick
                })
                .unwrap_or(0);
            let r = group.remove(idx);
            out.push(Target {
                host: r.target,
                port: r.port,
                direct_tls: r.direct_tls,
            });
        }
        i = end;
    }
    out
}

/// A resolver using the system's configuration, or the given name servers.
pub fn resolver(name_servers: Option<&[SocketAddr]>) -> Result<TokioResolver, DiscoveryError> {
    match name_servers {
        None => TokioResolver::builder_tokio()
            .map(|b| b.build())
            .map_err(|e| DiscoveryError::Dns(e.to_string())),
        Some(addrs) => {
            let mut group = NameServerConfigGroup::new();
            for a in addrs {
                group.merge(NameServerConfigGroup::from_ips_clear(
                    &[a.ip()],
                    a.port(),
                    true,
                ));
            }
            let config = ResolverConfig::from_parts(None, vec![], group);
            Ok(
                TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                    .build(),
            )
        }
    }
}

async fn srv(
    resolver: &TokioResolver,
    name: &str,
    direct_tls: bool,
) -> Result<Vec<SrvRecord>, DiscoveryError> {
    match resolver.srv_lookup(name).await {
        Ok(l) => Ok(l
            .iter()
            .map(|s| {
                let t = s.target().to_utf8();
                let t = t.trim_end_matches('.').to_owned();
                SrvRecord {
                    priority: s.priority(),
                    weight: s.weight(),
                    port: s.port(),
                    target: t,
                    direct_tls,
                }
            })
            .collect()),
        Err(e) if e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(DiscoveryError::Dns(e.to_string())),
    }
}

/// Which service to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Client-to-server: `_xmpps-client._tcp`, `_xmpp-client._tcp`, port
    /// 5222 by default.
    Client,
    /// Server-to-server: `_xmpps-server._tcp`, `_xmpp-server._tcp`, port
    /// 5269 by default.
    Server,
}

impl Service {
    fn labels(self) -> (&'static str, &'static str, u16) {
        match self {
            Service::Client => ("_xmpps-client._tcp", "_xmpp-client._tcp", 5222),
            Service::Server => ("_xmpps-server._tcp", "_xmpp-server._tcp", 5269),
        }
    }
}

/// The targets to try for `domain`, in order: SRV records for direct TLS
/// and STARTTLS ordered together, else the domain itself on port 5222
/// (RFC 6120 §3.2.2). A single SRV record whose target is `.` means the
/// domain offers no service.
pub async fn discover(
    resolver: &TokioResolver,
    domain: &str,
) -> Result<Vec<Target>, DiscoveryError> {
    discover_service(resolver, domain, Service::Client).await
}

/// [`discover`] for either service: client-to-server or server-to-server
/// (RFC 6120 §3.2, §13.9.1; XEP-0368).
pub async fn discover_service(
    resolver: &TokioResolver,
    domain: &str,
    service: Service,
) -> Result<Vec<Target>, DiscoveryError> {
    let (direct_label, starttls_label, default_port) = service.labels();
    if domain.parse::<IpAddr>().is_ok() || domain.starts_with('[') {
        let host = domain
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        return Ok(vec![Target {
            host,
            port: default_port,
            direct_tls: false,
        }]);
    }
    let fqdn = format!("{}.", domain.trim_end_matches('.'));
    let mut records = srv(resolver, &format!("{direct_label}.{fqdn}"), true).await?;
    records.extend(srv(resolver, &format!("{starttls_label}.{fqdn}"), false).await?);
    if records.is_empty() {
        return Ok(vec![Target {
            host: domain.to_owned(),
            port: default_port,
            direct_tls: false,
        }]);
    }
    if records.iter().all(|r| r.target.is_empty()) {
        return Err(DiscoveryError::NoService(domain.to_owned()));
    }
    records.retain(|r| !r.target.is_empty());
    Ok(order_srv(records, random_upto))
}

/// The addresses of a target host.
pub async fn addresses(
    resolver: &TokioResolver,
    target: &Target,
) -> Result<Vec<SocketAddr>, DiscoveryError> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, target.port)]);
    }
    let fqdn = format!("{}.", target.host.trim_end_matches('.'));
    let ips = resolver
        .lookup_ip(fqdn)
        .await
        .map_err(|e| DiscoveryError::Dns(e.to_string()))?;
    Ok(ips
        .iter()
        .map(|ip| SocketAddr::new(ip, target.port))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(priority: u16, weight: u16, target: &str, direct_tls: bool) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 5222,
            target: target.into(),
            direct_tls,
        }
    }

    #[test]
    fn priority_first_then_weight() {
        let records = vec![
            rec(20, 0, "c", false),
            rec(10, 60, "a", true),
            rec(10, 40, "b", false),
        ];
        // random() returning 0 picks the first record of the running list.
        let order = order_srv(records.clone(), |_| 0);
        assert_eq!(
            order.iter().map(|t| t.host.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        // Returning the total weight picks the last of the running list.
        let order = order_srv(records, |max| max);
        assert_eq!(
            order.iter().map(|t| t.host.as_str()).collect::<Vec<_>>(),
            ["b", "a", "c"]
        );
    }

    #[test]
    fn weights_are_respected_over_many_draws() {
        let records = vec![rec(10, 90, "heavy", false), rec(10, 10, "light", false)];
        let mut heavy_first = 0;
        for _ in 0..2000 {
            if order_srv(records.clone(), random_upto)[0].host == "heavy" {
                heavy_first += 1;
            }
        }
        // 90 % expected; a wide band keeps this deterministic in practice.
        assert!((1500..=1950).contains(&heavy_first), "{heavy_first}");
    }

    #[test]
    fn zero_weights_still_all_tried() {
        let records = vec![
            rec(5, 0, "x", false),
            rec(5, 0, "y", false),
            rec(5, 0, "z", true),
        ];
        let order = order_srv(records, random_upto);
        let mut hosts: Vec<_> = order.iter().map(|t| t.host.clone()).collect();
        hosts.sort();
        assert_eq!(hosts, ["x", "y", "z"]);
    }
}
