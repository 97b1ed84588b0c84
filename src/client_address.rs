//! The client's address, as the throttling of `POST /auth` counts it.
//!
//! Each adapter puts the address it knows into the request's extensions as a [`PeerAddress`]:
//! the server the socket's peer, Lambda the event's source IP (API Gateway's `sourceIp`). Behind
//! proxies the deployment trusts (`TRUSTED_PROXY_HOPS`: the ALB in front of the pods is one),
//! the client is the entry that many hops from the right of `X-Forwarded-For`, the part of the
//! header those proxies wrote; everything left of it is the client's own word and is ignored.
//! With no trusted hop the header is ignored altogether (a client could write anything in it).

use http::HeaderMap;
use std::net::IpAddr;

/// The address of whoever sent the request to this process (socket peer, or Lambda's source IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddress(pub IpAddr);

/// The client's address: the `hops`-th entry from the right of `X-Forwarded-For` when `hops`
/// proxies are trusted and they wrote that many entries, else the peer. `None` when nothing
/// is known (a request built without an adapter).
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<PeerAddress>,
    hops: usize,
) -> Option<IpAddr> {
    if hops > 0 {
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        if let Some(entry) = forwarded.len().checked_sub(hops).map(|index| forwarded[index])
            && let Ok(address) = entry.parse::<IpAddr>()
        {
            return Some(address);
        }
    }
    peer.map(|PeerAddress(address)| address)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trusted proxies' entry is used; the client's own entries and an unparsable or
    /// missing header fall back to the peer; with no trusted hop the header is ignored.
    #[test]
    fn trusted_hops() {
        let peer = Some(PeerAddress("10.0.0.5".parse().unwrap()));
        let headers = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for value in values {
                map.append("x-forwarded-for", value.parse().unwrap());
            }
            map
        };
        let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());
        let spoofed = headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(client_address(&spoofed, peer, 1), ip("203.0.113.7"));
        assert_eq!(client_address(&spoofed, peer, 2), ip("6.6.6.6"));
        assert_eq!(client_address(&spoofed, peer, 0), ip("10.0.0.5"), "not trusted");
        assert_eq!(client_address(&spoofed, peer, 3), ip("10.0.0.5"), "fewer entries than hops");
        assert_eq!(
            client_address(&headers(&["1.1.1.1", "2001:db8::1"]), peer, 1),
            ip("2001:db8::1")
        );
        assert_eq!(client_address(&headers(&["garbage"]), peer, 1), ip("10.0.0.5"));
        assert_eq!(client_address(&HeaderMap::new(), peer, 1), ip("10.0.0.5"));
        assert_eq!(client_address(&HeaderMap::new(), None, 1), None);
    }
}
