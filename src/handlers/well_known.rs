//! The public-key documents: the JWKS and the OpenID discovery document that points at it.
//! Both 404 in HS256 mode: a shared secret is never published.

use crate::error::ApiError;
use crate::response::{cache_publicly, json_response};
use crate::route::JWKS_PATH;
use crate::state::AppState;
use bytes::Bytes;
use http::{Response, StatusCode};

/// `GET /.well-known/jwks.json`: the public keys that verify our tokens now (signing, next,
/// and in grace). 404 in HS256 mode: a shared secret is never published.
pub fn jwks(state: &AppState) -> Result<Response<Bytes>, ApiError> {
    if !state.keys.rules().algorithm().is_public_key() {
        return Err(ApiError::NotFound);
    }
    let body = serde_json::to_vec(&serde_json::json!({ "keys": state.keys.jwks() }))
        .map_err(|_| ApiError::Internal)?;
    Ok(cache_publicly(json_response(StatusCode::OK, body.into()), state.jwks_max_age))
}

/// `GET /.well-known/openid-configuration`: where verifiers find the JWKS. Only the members
/// verifiers read (API Gateway's JWT authorizer: `issuer`, `jwks_uri`; OpenID clients such as
/// go-oidc also `id_token_signing_alg_values_supported`); nothing that would promise an OAuth
/// flow this service does not implement. 404 without `JWT_ISSUER` or in HS256 mode.
pub fn discovery(state: &AppState) -> Result<Response<Bytes>, ApiError> {
    let rules = state.keys.rules();
    let Some(issuer) = rules.issuer().filter(|_| rules.algorithm().is_public_key()) else {
        return Err(ApiError::NotFound);
    };
    // OpenID Connect Discovery 1.0 §4: a terminating `/` of the issuer is removed before a
    // well-known path is appended.
    let base = issuer.trim_end_matches('/');
    let body = serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "id_token_signing_alg_values_supported": [rules.algorithm().name()],
    });
    let body = serde_json::to_vec(&body).map_err(|_| ApiError::Internal)?;
    Ok(cache_publicly(json_response(StatusCode::OK, body.into()), state.jwks_max_age))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch;
    use crate::route::DISCOVERY_PATH;
    use http::Request;
    use http::header::CACHE_CONTROL;
    use serde_json::Value;

    async fn state(vars: &[(&str, &str)]) -> std::sync::Arc<AppState> {
        let config = crate::Config::from_lookup(|name| {
            vars.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string())
        })
        .unwrap();
        crate::startup::build_state(&config).await.unwrap()
    }

    async fn get(state: &AppState, path: &str) -> Response<Bytes> {
        let request = Request::get(path).body(Bytes::new()).unwrap();
        dispatch(state, request).await
    }

    /// In a public-key mode the JWKS lists the signing key with a public cache lifetime, and
    /// the discovery document (with `JWT_ISSUER`) points at it; a trailing `/` of the issuer
    /// is not doubled. Without an issuer there is no discovery document; in HS256 mode
    /// neither document exists.
    #[tokio::test]
    async fn well_known_documents() {
        let pem = include_str!("../../tests/data/keys/es256-1.pem");
        let es256 = [
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_PRIVATE_KEY", pem),
            ("JWT_ISSUER", "https://auth.example.com/"),
            ("JWKS_MAX_AGE_SECONDS", "120"),
        ];
        let state = state(&es256).await;
        let jwks = get(&state, JWKS_PATH).await;
        assert_eq!(jwks.status(), 200);
        assert_eq!(jwks.headers()[CACHE_CONTROL], "public, max-age=120");
        let body: Value = serde_json::from_slice(jwks.body()).unwrap();
        let token = state.keys.issue("a@b.c").unwrap();
        let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        assert_eq!(body["keys"].as_array().unwrap().len(), 1);
        assert_eq!(body["keys"][0]["kid"], kid.as_str());
        assert!(body["keys"][0].get("d").is_none(), "never a private member");

        let discovery = get(&state, DISCOVERY_PATH).await;
        assert_eq!(discovery.status(), 200);
        assert_eq!(discovery.headers()[CACHE_CONTROL], "public, max-age=120");
        let body: Value = serde_json::from_slice(discovery.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "issuer": "https://auth.example.com/",
                "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
                "id_token_signing_alg_values_supported": ["ES256"],
            })
        );
        let post = Request::post(JWKS_PATH).body(Bytes::new()).unwrap();
        assert_eq!(dispatch(&state, post).await.status(), 405);

        let no_issuer = self::state(&es256[..2]).await;
        assert_eq!(get(&no_issuer, JWKS_PATH).await.status(), 200);
        assert_eq!(get(&no_issuer, DISCOVERY_PATH).await.status(), 404);

        let hs256 = self::state(&[
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_ISSUER", "https://auth.example.com"),
        ])
        .await;
        assert_eq!(get(&hs256, JWKS_PATH).await.status(), 404);
        assert_eq!(get(&hs256, DISCOVERY_PATH).await.status(), 404);
    }
}
