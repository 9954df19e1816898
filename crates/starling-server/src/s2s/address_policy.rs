//! Which addresses outgoing s2s connections may go to (sans-IO).
//!
//! A local user (or a remote server asking for a dialback verification)
//! chooses the domain we connect to, and whoever runs that domain's DNS
//! chooses the addresses. Without a policy, `x@10.0.0.1` or a domain
//! resolving to `127.0.0.1` makes the server probe its own network. By
//! default (`[s2s] allow_private_addresses = false`) IP-literal domains
//! are refused outright and resolved addresses that are not globally
//! routable (loopback, RFC 1918, link-local, unique-local, CGNAT,
//! unspecified, multicast, broadcast, reserved; also inside IPv4-mapped
//! and NAT64 IPv6 forms, and IPv4-compatible IPv6) are skipped.
//! `[s2s.hosts]` entries are the administrator's choice and are not
//! checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of address an IP is, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressClass {
    /// Globally routable: allowed.
    Public,
    /// 127.0.0.0/8, `::1`.
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16), and the deprecated IPv6
    /// site-local fec0::/10.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// fc00::/7 (RFC 4193).
    UniqueLocal,
    /// 100.64/10, carrier-grade NAT (RFC 6598).
    SharedNat,
    /// 0.0.0.0/8, `::`.
    Unspecified,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255 and the rest of 240/4; IPv4-compatible IPv6
    /// (::/96 but `::` and `::1`).
    Reserved,
}

impl AddressClass {
    /// A short name for logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::UniqueLocal => "unique-local",
            AddressClass::SharedNat => "shared (CGNAT)",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast",
            AddressClass::Reserved => "reserved",
        }
    }
}

/// The class of `ip`.
pub(crate) fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, ..] = ip.octets();
    match (a, b) {
        (0, _) => AddressClass::Unspecified,
        (127, _) => AddressClass::Loopback,
        (10, _) | (192, 168) => AddressClass::Private,
        (172, b) if (16..32).contains(&b) => AddressClass::Private,
        (169, 254) => AddressClass::LinkLocal,
        (100, b) if (64..128).contains(&b) => AddressClass::SharedNat,
        (224..=239, _) => AddressClass::Multicast,
        (240..=255, _) => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let seg = ip.segments();
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    // ::ffff:a.b.c.d (mapped) and 64:ff9b::a.b.c.d (NAT64) reach an IPv4
    // address: the class of that address.
    let embedded = seg[..6] == [0, 0, 0, 0, 0, 0xffff] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if embedded {
        let [.., a, b, c, d] = ip.octets();
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    // The deprecated IPv4-compatible ::a.b.c.d (RFC 4291 §2.5.5.1).
    if seg[..6] == [0; 6] {
        return AddressClass::Reserved;
    }
    match seg[0] {
        s if s & 0xff00 == 0xff00 => AddressClass::Multicast,
        s if s & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        s if s & 0xffc0 == 0xfec0 => AddressClass::Private,
        s if s & 0xfe00 == 0xfc00 => AddressClass::UniqueLocal,
        _ => AddressClass::Public,
    }
}

/// Whether `domain` is an IP literal (`10.0.0.1`, `[::1]`) rather than a
/// DNS name.
pub(crate) fn is_ip_literal(domain: &str) -> bool {
    domain.starts_with('[') || domain.parse::<IpAddr>().is_ok()
}

/// The outgoing address policy (`[s2s] allow_private_addresses`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddressPolicy {
    /// Allow IP-literal domains and non-public addresses (tests, private
    /// federations).
    pub(crate) allow_private: bool,
}

impl AddressPolicy {
    /// Whether a connection to `domain` may be attempted at all.
    pub(crate) fn domain_allowed(self, domain: &str) -> bool {
        self.allow_private || !is_ip_literal(domain)
    }

    /// Whether a connection to `ip` may be made; `Err` with the class
    /// that refuses it.
    pub(crate) fn address_allowed(self, ip: IpAddr) -> Result<(), AddressClass> {
        match classify(ip) {
            AddressClass::Public => Ok(()),
            _ if self.allow_private => Ok(()),
            c => Err(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AddressClass as C;
    use super::*;

    #[test]
    fn classes() {
        let table: &[(&str, C)] = &[
            ("8.8.8.8", C::Public),
            ("1.1.1.1", C::Public),
            ("0.0.0.0", C::Unspecified),
            ("0.1.2.3", C::Unspecified),
            ("127.0.0.1", C::Loopback),
            ("127.0.0.2", C::Loopback),
            ("127.255.255.254", C::Loopback),
            ("10.0.0.1", C::Private),
            ("10.255.255.255", C::Private),
            ("172.15.255.255", C::Public),
            ("172.16.0.1", C::Private),
            ("172.31.255.255", C::Private),
            ("172.32.0.1", C::Public),
            ("192.168.1.1", C::Private),
            ("192.169.0.1", C::Public),
            ("169.254.169.254", C::LinkLocal),
            ("100.63.255.255", C::Public),
            ("100.64.0.1", C::SharedNat),
            ("100.127.255.255", C::SharedNat),
            ("100.128.0.1", C::Public),
            ("224.0.0.1", C::Multicast),
            ("239.255.255.250", C::Multicast),
            ("240.0.0.1", C::Reserved),
            ("255.255.255.255", C::Reserved),
            ("::", C::Unspecified),
            ("::1", C::Loopback),
            ("fe80::1", C::LinkLocal),
            ("febf::1", C::LinkLocal),
            ("fec0::1", C::Private),
            ("fc00::1", C::UniqueLocal),
            ("fd12:3456::1", C::UniqueLocal),
            ("ff02::1", C::Multicast),
            ("2001:4860:4860::8888", C::Public),
            ("2a00:1450::1", C::Public),
            ("::ffff:10.0.0.1", C::Private),
            ("::ffff:127.0.0.1", C::Loopback),
            ("::ffff:169.254.1.1", C::LinkLocal),
            ("::ffff:8.8.8.8", C::Public),
            ("64:ff9b::10.1.2.3", C::Private),
            ("64:ff9b::8.8.4.4", C::Public),
            ("::127.0.0.1", C::Reserved),
            ("::10.0.0.1", C::Reserved),
        ];
        for (ip, want) in table {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(classify(ip), *want, "{ip}");
        }
    }

    #[test]
    fn ip_literals() {
        for d in ["10.0.0.1", "127.0.0.2", "[::1]", "[fe80::1]", "::1"] {
            assert!(is_ip_literal(d), "{d}");
        }
        for d in ["example.org", "10.0.0.1.example", "localhost", "a1"] {
            assert!(!is_ip_literal(d), "{d}");
        }
    }

    #[test]
    fn the_policy() {
        let strict = AddressPolicy {
            allow_private: false,
        };
        let open = AddressPolicy {
            allow_private: true,
        };
        let table: &[(&str, bool, bool)] = &[
            // domain, strict allows, open allows
            ("example.org", true, true),
            ("127.0.0.2", false, true),
            ("8.8.8.8", false, true),
            ("[::1]", false, true),
        ];
        for (d, s, o) in table {
            assert_eq!(strict.domain_allowed(d), *s, "{d}");
            assert_eq!(open.domain_allowed(d), *o, "{d}");
        }
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let public: IpAddr = "8.8.8.8".parse().unwrap();
        assert_eq!(strict.address_allowed(lo), Err(C::Loopback));
        assert_eq!(strict.address_allowed(public), Ok(()));
        assert_eq!(open.address_allowed(lo), Ok(()));
    }
}
