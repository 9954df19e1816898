//! The source key of a connection: the address an operator would block.
//! An IPv4 client is one address (/32); an IPv6 client usually holds a
//! whole /64, so its 2^64 addresses count as one source.

use std::net::{IpAddr, Ipv6Addr};

/// The source of a connection from `ip`: the IPv4 address itself (also
/// for an IPv4-mapped IPv6 address, `::ffff:a.b.c.d`), or the /64 of an
/// IPv6 address with its last 64 bits zeroed.
pub(crate) fn source_prefix(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !u128::from(u64::MAX);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let table = [
            ("127.0.0.1", "127.0.0.1"),
            ("192.0.2.77", "192.0.2.77"),
            ("::1", "::"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
            ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::"),
            ("2001:db8:1:3::1", "2001:db8:1:3::"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
            ("fe80::1", "fe80::"),
        ];
        for (ip, want) in table {
            let got = source_prefix(ip.parse().unwrap());
            assert_eq!(got, want.parse::<IpAddr>().unwrap(), "{ip}");
        }
    }

    #[test]
    fn one_slash_64_is_one_source_and_its_neighbour_another() {
        let a = source_prefix("2001:db8::1".parse().unwrap());
        let b = source_prefix("2001:db8::ffff:1".parse().unwrap());
        let c = source_prefix("2001:db8:0:1::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
