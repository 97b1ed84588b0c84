//! The routes of the public API, decided once per request from its path.
//!
//! [`Route::from_path`] is the only place that reads a request's path. The dispatch function
//! matches on the [`Route`] (and the method) to answer; the access log and the metrics take the
//! same value for their `route` label ([`Route::label`]), so no other layer compares paths.

/// Where the JWKS is served (the path every JWKS client defaults to after discovery).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Where the OpenID discovery document is served (OpenID Connect Discovery 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// A route of the public API, or [`Route::Unknown`] for every other path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET|POST /`: the health answer.
    Health,
    /// `POST /auth`: credentials in, a token out.
    Auth,
    /// `GET /contents`: a bearer token's claims.
    Contents,
    /// `GET /.well-known/jwks.json`: the public keys (public-key modes).
    Jwks,
    /// `GET /.well-known/openid-configuration`: the discovery document (public-key modes).
    Discovery,
    /// Any other path (404).
    Unknown,
}

impl Route {
    /// Every route, [`Route::Unknown`] last; `Route::ALL[route.index()] == route`.
    pub const ALL: [Route; 6] = [
        Route::Health,
        Route::Auth,
        Route::Contents,
        Route::Jwks,
        Route::Discovery,
        Route::Unknown,
    ];

    /// The route of `path` (the path alone: the query string is not part of it). Paths are
    /// exact: `/auth/` is not `/auth`.
    pub fn from_path(path: &str) -> Route {
        match path {
            "/" => Route::Health,
            "/auth" => Route::Auth,
            "/contents" => Route::Contents,
            JWKS_PATH => Route::Jwks,
            DISCOVERY_PATH => Route::Discovery,
            _ => Route::Unknown,
        }
    }

    /// The route's path; `None` for [`Route::Unknown`].
    pub fn path(self) -> Option<&'static str> {
        match self {
            Route::Health => Some("/"),
            Route::Auth => Some("/auth"),
            Route::Contents => Some("/contents"),
            Route::Jwks => Some(JWKS_PATH),
            Route::Discovery => Some(DISCOVERY_PATH),
            Route::Unknown => None,
        }
    }

    /// The methods the route answers, as the `Allow` header of its 405 (empty for
    /// [`Route::Unknown`], which answers 404 to every method).
    pub fn allow(self) -> &'static str {
        match self {
            Route::Health => "GET, POST",
            Route::Auth => "POST",
            Route::Contents | Route::Jwks | Route::Discovery => "GET",
            Route::Unknown => "",
        }
    }

    /// The `route` label of the metrics: the path, or `other` for [`Route::Unknown`], so that
    /// no client-chosen path ever becomes a label.
    pub fn label(self) -> &'static str {
        self.path().unwrap_or("other")
    }

    /// The position of the route in [`Route::ALL`], for tables indexed by route.
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route is found from its own path and labelled with it; anything else, including
    /// near misses, is `Unknown`, labelled `other`; `ALL` is in `index` order.
    #[test]
    fn paths_labels_and_indexes() {
        for (index, route) in Route::ALL.into_iter().enumerate() {
            assert_eq!(route.index(), index);
            match route.path() {
                Some(path) => {
                    assert_eq!(Route::from_path(path), route);
                    assert_eq!(route.label(), path);
                    assert!(!route.allow().is_empty());
                }
                None => {
                    assert_eq!((route, route.label(), route.allow()), (Route::Unknown, "other", ""))
                }
            }
        }
        for path in ["", "/auth/", "/Auth", "//", "/contents?x", "/.well-known/", "/metrics"] {
            assert_eq!(Route::from_path(path), Route::Unknown, "{path:?}");
        }
    }
}
