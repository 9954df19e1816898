//! The server's features, one module each, on the interface of
//! [`crate::module`]. [`build`] is the one place that lists them: the
//! order of the list is the order their hooks run in.
//!
//! | module | what | configuration |
//! |---|---|---|
//! | [`blocking`] | XEP-0191 blocking command | `[modules.blocking]` |
//! | [`caps`] | XEP-0115 entity capabilities (before `presence`: it sees clients' presence first, and takes nothing) | `[modules.caps]` |
//! | [`presence`] | RFC 6121 §3–4 subscriptions and presence | `[modules.presence]` |
//! | [`roster`] | RFC 6121 §2 roster | `[modules.roster]` |
//! | [`push`] | XEP-0357 push notifications (before `offline`: it sees offline messages first and passes them on) | `[modules.push]` |
//! | [`pep`] | XEP-0163 personal eventing on a XEP-0060 core | `[modules.pep]` |
//! | [`offline`] | XEP-0160 offline messages | `[modules.offline]` |
//! | [`disco`] | XEP-0030 service discovery | `[modules.disco]` |
//! | [`ping`] | XEP-0199 ping | `[modules.ping]` |
//! | [`version`] | XEP-0092 software version | `[modules.version]` |
//! | [`carbons`] | XEP-0280 message carbons | `[modules.carbons]` |
//! | [`csi`] | XEP-0352 client state indication | `[modules.csi]` |
//! | [`vcard`] | XEP-0054 vcard-temp | `[modules.vcard]` |
//! | [`private`] | XEP-0049 private XML storage | `[modules.private]` |
//! | [`federation`] | routing to other domains | `[s2s]` |

pub mod blocking;
pub mod caps;
pub mod carbons;
pub mod csi;
pub mod disco;
pub mod federation;
pub mod offline;
pub mod pep;
pub mod ping;
pub mod presence;
pub mod private;
pub mod push;
pub mod roster;
#[cfg(test)]
pub(crate) mod test_world;
pub mod vcard;
pub mod version;

use std::sync::Arc;

use crate::config::Config;
use crate::module::{Module, ModuleSet};
use crate::s2s::S2s;
use crate::storage::Stores;

/// The enabled modules of `config`, on `stores`; federation when `s2s` is
/// given.
pub fn build(config: &Config, stores: &Stores, s2s: Option<Arc<S2s>>) -> ModuleSet {
    let m = &config.modules;
    let mut list: Vec<Arc<dyn Module>> = Vec::new();
    // First: it refuses what clients send to blocked JIDs before presence
    // and the others act on it.
    if m.blocking.enabled {
        list.push(Arc::new(blocking::Blocking::new(
            stores.blocklists.clone(),
            stores.rosters.clone(),
            m.blocking.max_items,
        )));
    }
    // Before presence, which takes clients' presence: caps only looks.
    if m.caps.enabled {
        list.push(Arc::new(caps::CapsModule::new(m.caps)));
    }
    if m.presence.enabled {
        let limits = config.limits.subscription_requests();
        list.push(Arc::new(presence::Presence::new(
            stores.rosters.clone(),
            limits,
        )));
    }
    if m.roster.enabled {
        list.push(Arc::new(roster::Roster::new(stores.rosters.clone())));
    }
    if m.push.enabled {
        list.push(Arc::new(push::Push::new(stores.push.clone(), m.push)));
    }
    if m.pep.enabled {
        list.push(Arc::new(pep::Pep::new(m.pep)));
    }
    if m.offline.enabled {
        let quota = config.limits.offline_quota();
        list.push(Arc::new(offline::Offline::new(
            stores.offline.clone(),
            quota,
        )));
    }
    if m.disco.enabled {
        list.push(Arc::new(disco::Disco));
    }
    if m.ping.enabled {
        list.push(Arc::new(ping::Ping));
    }
    if m.version.enabled {
        list.push(Arc::new(version::Version));
    }
    if m.carbons.enabled {
        list.push(Arc::new(carbons::Carbons));
    }
    if m.csi.enabled {
        list.push(Arc::new(csi::Csi::new(m.csi)));
    }
    if m.vcard.enabled {
        list.push(Arc::new(vcard::VCards::new(
            stores.vcards.clone(),
            m.vcard.max_bytes,
        )));
    }
    if m.private.enabled {
        list.push(Arc::new(private::Private::new(
            stores.private.clone(),
            m.private,
        )));
    }
    if let Some(s2s) = s2s {
        list.push(Arc::new(federation::Federation::new(s2s)));
    }
    ModuleSet::new(list)
}
