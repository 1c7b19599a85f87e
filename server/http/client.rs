//! Who is on the other end of a request: the client address that per-address limits count.
//!
//! It is the connection's peer, unless berth is told (`--client-ip-header`) which header a
//! reverse proxy puts the client's address in, and the peer is one of the proxies trusted to
//! set it (`--trusted-proxies`). A header from anyone else is ignored: it is never assumed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, HeaderName};
use ipnet::IpNet;

/// The address a client counts as: IPv4 as it is; IPv6 by its /64, the block one subscriber
/// usually holds whole (and can pick any address in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(IpAddr);

impl ClientAddr {
    pub fn of(ip: IpAddr) -> ClientAddr {
        match canonical(ip) {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                ClientAddr(IpAddr::V6(Ipv6Addr::new(
                    s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                )))
            }
            v4 => ClientAddr(v4),
        }
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// `::ffff:192.0.2.1` is 192.0.2.1.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Finds the client address of requests, as configured.
#[derive(Debug)]
pub struct ClientIp {
    header: Option<HeaderName>,
    trusted: Vec<IpNet>,
    warned: AtomicBool,
}

impl ClientIp {
    pub fn new(header: Option<HeaderName>, trusted: Vec<IpNet>) -> ClientIp {
        ClientIp {
            header,
            trusted,
            warned: AtomicBool::new(false),
        }
    }

    pub fn from_config(config: &crate::config::Config) -> ClientIp {
        ClientIp::new(
            config.client_ip_header.clone(),
            config.trusted_proxies.clone(),
        )
    }

    /// A peer that speaks for many clients: a proxy trusted to name them in the header.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.header.is_some() && self.trusted(peer)
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client a request counts as; its peer comes from the connection (see `http::serve`).
    pub fn of_request(&self, headers: &HeaderMap, extensions: &Extensions) -> ClientAddr {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        self.client(peer, headers)
    }

    /// The client a request from `peer` counts as.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        let Some(header) = self.header.as_ref().filter(|_| self.trusted(peer)) else {
            self.warn_about_untrusted_forwarding(peer, headers);
            return ClientAddr::of(peer);
        };
        let forwarded = header.as_str() == "forwarded";
        // Bytes a client made up may not be text; the hops our proxies added still are.
        let values: Vec<String> = headers
            .get_all(header)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect();
        let hops: Vec<&str> = values.iter().flat_map(|value| value.split(',')).collect();
        // From the nearest hop outwards, past the proxies we trust: the first address that is
        // not one of them is the client. Anything further left could have been made up.
        let mut nearest = canonical(peer);
        for hop in hops.iter().rev() {
            let parsed = if forwarded {
                forwarded_for(hop)
            } else {
                parse_address(hop)
            };
            match parsed {
                Some(ip) if self.trusted(ip) => nearest = canonical(ip),
                Some(ip) => return ClientAddr::of(ip),
                None => break,
            }
        }
        ClientAddr::of(nearest)
    }

    /// Requests that came through a proxy, with berth not told which header names the client:
    /// every learner then counts as the proxy's address. Say so once.
    fn warn_about_untrusted_forwarding(&self, peer: IpAddr, headers: &HeaderMap) {
        if self.header.is_some() || !canonical(peer).is_loopback() {
            return;
        }
        let proxied = ["x-forwarded-for", "forwarded", "x-real-ip"]
            .iter()
            .find(|name| headers.contains_key(**name));
        if let Some(name) = proxied {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    header = name,
                    %peer,
                    "requests come through a proxy, but berth counts them all as one client; \
                     set --client-ip-header (and --trusted-proxies) so per-address limits \
                     apply to each learner"
                );
            }
        }
    }
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`, `"[2001:db8::1]"`.
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The `for=` of one element of an RFC 7239 `Forwarded` header.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.eq_ignore_ascii_case("for")
            .then(|| parse_address(value))
            .flatten()
    })
}

/// Parses `--trusted-proxies` entries: an address (`127.0.0.1`, `::1`) or a network
/// (`10.0.0.0/8`).
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not an address or a network like 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    fn behind(proxies: &[&str]) -> ClientIp {
        ClientIp::new(
            Some(HeaderName::from_static("x-forwarded-for")),
            proxies.iter().map(|p| parse_network(p).unwrap()).collect(),
        )
    }

    #[test]
    fn without_a_configured_header_the_peer_is_the_client() {
        let clients = ClientIp::new(None, vec![parse_network("127.0.0.1").unwrap()]);
        let forged = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            clients.client(ip("127.0.0.1"), &forged),
            ClientAddr::of(ip("127.0.0.1"))
        );
        assert!(!clients.is_trusted_proxy(ip("127.0.0.1")));
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let clients = behind(&["127.0.0.1", "10.0.0.0/8"]);
        let forwarded = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            clients.client(ip("127.0.0.1"), &forwarded),
            ClientAddr::of(ip("203.0.113.9"))
        );
        assert_eq!(
            clients.client(ip("192.0.2.7"), &forwarded),
            ClientAddr::of(ip("192.0.2.7"))
        );
        assert!(clients.is_trusted_proxy(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn the_client_is_the_nearest_hop_no_trusted_proxy_vouches_for() {
        let clients = behind(&["127.0.0.1", "10.0.0.0/8"]);
        // The client wrote a made-up first hop; our two proxies appended the real ones.
        let chain = headers("x-forwarded-for", &["1.1.1.1, 198.51.100.4", "10.0.0.2"]);
        assert_eq!(
            clients.client(ip("127.0.0.1"), &chain),
            ClientAddr::of(ip("198.51.100.4"))
        );
        let garbage = headers("x-forwarded-for", &["198.51.100.4, nonsense, 10.0.0.2"]);
        assert_eq!(
            clients.client(ip("127.0.0.1"), &garbage),
            ClientAddr::of(ip("10.0.0.2"))
        );
        let mut binary = HeaderMap::new();
        binary.insert(
            "x-forwarded-for",
            axum::http::HeaderValue::from_bytes(b"\xff\xfe, 198.51.100.5").unwrap(),
        );
        assert_eq!(
            clients.client(ip("127.0.0.1"), &binary),
            ClientAddr::of(ip("198.51.100.5"))
        );
        let none = HeaderMap::new();
        assert_eq!(
            clients.client(ip("127.0.0.1"), &none),
            ClientAddr::of(ip("127.0.0.1"))
        );
    }

    #[test]
    fn forwarded_and_ports_and_ipv6_prefixes() {
        let clients = ClientIp::new(
            Some(HeaderName::from_static("forwarded")),
            vec![parse_network("::1").unwrap()],
        );
        let forwarded = headers(
            "forwarded",
            &[r#"for=192.0.2.60;proto=https, For="[2001:db8:cafe:1:2:3:4:5]:4711""#],
        );
        let client = clients.client(ip("::1"), &forwarded);
        assert_eq!(client, ClientAddr::of(ip("2001:db8:cafe:1::9")));
        assert_eq!(client.to_string(), "2001:db8:cafe:1::/64");
        assert_eq!(parse_address("192.0.2.1:80"), Some(ip("192.0.2.1")));
        assert!(parse_network("10.0.0.0/33").is_err());
    }
}
