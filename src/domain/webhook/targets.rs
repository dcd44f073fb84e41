//! Which addresses webhooks may be sent to. Public addresses are allowed; loopback,
//! private, link-local and other special-purpose addresses are refused unless
//! `webhooks.allowed_targets` lists them: a host name (whatever it resolves to), an
//! address or a CIDR range. The check applies to every address a target's host
//! resolves to, and the delivery connects only to checked addresses.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// An entry of `webhooks.allowed_targets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedTarget {
    /// A host name, lower case, without a trailing dot: allowed whatever it resolves to.
    Host(String),
    /// An address or a CIDR range (an address is a range of one).
    Net(IpNet),
}

impl FromStr for AllowedTarget {
    type Err = String;

    fn from_str(raw: &str) -> Result<AllowedTarget, String> {
        let s = raw.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(AllowedTarget::Net(net.trunc()));
        }
        if let Ok(ip) = s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(AllowedTarget::Net(IpNet::from(ip)));
        }
        let host = s.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(format!(
                "`{raw}` is neither a host name, an IP address nor a CIDR range (e.g. 10.0.0.0/8)"
            ));
        }
        Ok(AllowedTarget::Host(host))
    }
}

impl fmt::Display for AllowedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedTarget::Host(h) => f.write_str(h),
            AllowedTarget::Net(n) => write!(f, "{n}"),
        }
    }
}

/// A target that may not be sent to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{host} is {ip}, a {kind} address: refused unless webhooks.allowed_targets lists the host or the address"
)]
pub struct Refused {
    /// The URL's host.
    pub host: String,
    /// The address it is (or resolved to).
    pub ip: IpAddr,
    /// What kind of address it is (`loopback`, `private`, …).
    pub kind: &'static str,
}

/// The allow-list applied to every target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    allowed: Vec<AllowedTarget>,
}

impl TargetPolicy {
    /// The policy of `webhooks.allowed_targets`.
    pub fn new(allowed: Vec<AllowedTarget>) -> TargetPolicy {
        TargetPolicy { allowed }
    }

    /// Whether `host` itself is listed (then any address it resolves to is allowed).
    pub fn host_is_listed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed
            .iter()
            .any(|a| matches!(a, AllowedTarget::Host(h) if *h == host))
    }

    /// Whether the URL host `host` may be reached at `ip` (an address it is or resolved
    /// to): a listed host, a listed address, or a public address.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        let ip = ip.to_canonical();
        if self.host_is_listed(host)
            || self
                .allowed
                .iter()
                .any(|a| matches!(a, AllowedTarget::Net(n) if n.contains(&ip)))
        {
            return Ok(());
        }
        match special_purpose(ip) {
            None => Ok(()),
            Some(kind) => Err(Refused {
                host: host.to_owned(),
                ip,
                kind,
            }),
        }
    }
}

/// `None` for a public (globally routed unicast) address, else what it is.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const TABLE: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "\"this network\""),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "shared (carrier-grade NAT)"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "IETF protocol"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "6to4 relay"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, kind)| *kind)
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // NAT64 and 6to4 carry an IPv4 address: judged by it.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return special_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return special_v4(embedded_v4(s[1], s[2]));
    }
    match s[0] {
        0x0000..=0x00ff => Some("reserved"),
        0x0100 if s[1..4] == [0, 0, 0] => Some("discard"),
        0x2001 if s[1] < 0x0200 => Some("IETF protocol (Teredo, benchmarking, ORCHID)"),
        0x2001 if s[1] == 0x0db8 => Some("documentation"),
        0x3fff if s[1] < 0x1000 => Some("documentation"),
        0xfc00..=0xfdff => Some("unique local (private)"),
        0xfe80..=0xfebf => Some("link-local"),
        0xfec0..=0xfeff => Some("site-local"),
        0xff00..=0xffff => Some("multicast"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_purpose_addresses_are_named_and_public_ones_pass() {
        for (addr, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.255.1.2", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("0.0.0.0", "\"this network\""),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("fd00::1", "unique local (private)"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            // An IPv4 address in IPv6 clothing is judged as IPv4.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::a00:1", "private"),
            ("2002:7f00:1::", "loopback"),
        ] {
            assert_eq!(special_purpose(ip(addr)), Some(kind), "{addr}");
        }
        for addr in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "192.169.0.1",
            "2606:4700::1111",
            "2a00:1450::1",
            "64:ff9b::5db8:d822",
        ] {
            assert_eq!(special_purpose(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn listed_hosts_addresses_and_ranges_are_allowed() {
        let policy = TargetPolicy::new(
            [
                "hooks.internal.",
                "127.0.0.1",
                "10.0.0.0/8",
                "[::1]",
                "fd00::/8",
            ]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect(),
        );
        assert!(policy.check("HOOKS.internal", ip("192.168.9.9")).is_ok());
        assert!(policy.check("x", ip("127.0.0.1")).is_ok());
        assert!(policy.check("x", ip("::ffff:127.0.0.1")).is_ok());
        assert!(policy.check("x", ip("10.200.0.1")).is_ok());
        assert!(policy.check("x", ip("::1")).is_ok());
        assert!(policy.check("x", ip("fd12::1")).is_ok());
        assert!(policy.check("x", ip("93.184.216.34")).is_ok());
        let refused = policy.check("lms", ip("127.0.0.2")).unwrap_err();
        assert_eq!(refused.kind, "loopback");
        assert!(
            refused.to_string().contains("lms is 127.0.0.2"),
            "{refused}"
        );
        assert!(policy.check("x", ip("192.168.0.1")).is_err());
        assert!(
            TargetPolicy::default()
                .check("localhost", ip("::1"))
                .is_err()
        );
    }

    #[test]
    fn entries_are_parsed_or_refused_clearly() {
        assert_eq!(
            "10.1.2.3/8".parse::<AllowedTarget>().unwrap(),
            AllowedTarget::Net("10.0.0.0/8".parse().unwrap())
        );
        assert_eq!(
            "LMS.Example.org".parse::<AllowedTarget>().unwrap(),
            AllowedTarget::Host("lms.example.org".to_owned())
        );
        for bad in ["", "http://x", "a b", "10.0.0.0/33", "-x.org", "x/8"] {
            assert!(bad.parse::<AllowedTarget>().is_err(), "{bad}");
        }
    }
}
