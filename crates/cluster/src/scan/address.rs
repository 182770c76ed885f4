//! Which address of a Node to dial for its kubelet: the choice is explicit and reported.
//! Order: `InternalIP`, then `ExternalIP`, then the `Hostname` address if it is an IP literal or
//! resolves, then the caller's `--default-address` (for clusters whose nodes publish no
//! address, such as kubelets bound to loopback); otherwise the node is reported without one.

use std::net::IpAddr;

use serde::Serialize;

/// A Node's `status.addresses` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeAddress {
    /// `InternalIP`, `ExternalIP`, `Hostname`, `InternalDNS`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The value.
    pub address: String,
}

/// Where an endpoint's IP came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressSource {
    /// `status.addresses` InternalIP.
    InternalIp,
    /// `status.addresses` ExternalIP.
    ExternalIp,
    /// `status.addresses` Hostname (an IP literal or resolved).
    Hostname,
    /// `--default-address`: the Node publishes no usable address.
    Default,
}

/// The IP to dial and why, or `None`. `resolve` turns a host name into IPs (pass a resolver
/// that returns nothing to never touch DNS).
pub fn choose(addresses: &[NodeAddress], default: Option<IpAddr>, resolve: impl Fn(&str) -> Vec<IpAddr>) -> Option<(IpAddr, AddressSource)> {
    let ip_of = |kind: &str| addresses.iter().filter(|a| a.kind == kind).find_map(|a| a.address.parse::<IpAddr>().ok());
    if let Some(ip) = ip_of("InternalIP") {
        return Some((ip, AddressSource::InternalIp));
    }
    if let Some(ip) = ip_of("ExternalIP") {
        return Some((ip, AddressSource::ExternalIp));
    }
    for a in addresses.iter().filter(|a| a.kind == "Hostname") {
        if let Ok(ip) = a.address.parse::<IpAddr>() {
            return Some((ip, AddressSource::Hostname));
        }
        if let Some(ip) = resolve(&a.address).into_iter().next() {
            return Some((ip, AddressSource::Hostname));
        }
    }
    default.map(|ip| (ip, AddressSource::Default))
}

/// Resolves `host` with the system resolver (port 0), IPv4 first.
pub(crate) fn system_resolve(host: &str) -> Vec<IpAddr> {
    use std::net::ToSocketAddrs;
    let mut ips: Vec<IpAddr> = (host, 0).to_socket_addrs().map(|it| it.map(|s| s.ip()).collect()).unwrap_or_default();
    ips.sort_by_key(|ip| !ip.is_ipv4());
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(kind: &str, address: &str) -> NodeAddress {
        NodeAddress { kind: kind.into(), address: address.into() }
    }
    fn none(_: &str) -> Vec<IpAddr> {
        Vec::new()
    }
    const LO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn internal_ip_wins_over_external_and_hostname() {
        let addrs = [a("Hostname", "127.0.0.9"), a("ExternalIP", "127.0.0.8"), a("InternalIP", "127.0.0.7")];
        assert_eq!(choose(&addrs, Some(LO), none), Some(("127.0.0.7".parse().unwrap(), AddressSource::InternalIp)));
        assert_eq!(choose(&addrs[..2], Some(LO), none), Some(("127.0.0.8".parse().unwrap(), AddressSource::ExternalIp)));
    }

    #[test]
    fn hostname_literal_or_resolved_then_default() {
        assert_eq!(choose(&[a("Hostname", "127.0.0.5")], None, none), Some(("127.0.0.5".parse().unwrap(), AddressSource::Hostname)));
        assert_eq!(choose(&[a("Hostname", "n1")], None, |_| vec![LO]), Some((LO, AddressSource::Hostname)));
        assert_eq!(choose(&[a("Hostname", "n1")], Some(LO), none), Some((LO, AddressSource::Default)));
        assert_eq!(choose(&[], Some(LO), none), Some((LO, AddressSource::Default)));
        assert_eq!(choose(&[a("Hostname", "n1"), a("InternalIP", "not-an-ip")], None, none), None);
    }
}
