//! ES256, EdDSA and RS256 tokens against independent JOSE implementations and a real SSM API:
//! PyJWT's `PyJWKClient` fetching our `jwks_uri`, jwcrypto starting from our discovery
//! document, our verifier accepting PyJWT-minted tokens, a key rotation end to end through
//! moto with short settings, and the refusal of a parameter that is not a `SecureString`.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use support::client::{contents, issue_token, json, request, send};
use support::moto::{Moto, free_port, put_secret};
use support::public_keys::{ALL, AUDIENCE, ES256, ES256_NEXT_PEM, TestKey};
use support::server::{ServerProcess, run_to_exit};
use support::until;

/// A server signing with `key` whose issuer is its own loopback URL (so discovery works).
fn start(key: TestKey) -> (ServerProcess, String) {
    let address = free_port();
    let issuer = format!("http://{address}");
    let mut env = key.env();
    env.retain(|(name, _)| name != "JWT_ISSUER");
    env.push(("JWT_ISSUER".into(), issuer.clone()));
    env.push(("PORT".into(), address.port().to_string()));
    (ServerProcess::start(&env), issuer)
}

async fn issue(address: SocketAddr) -> String {
    issue_token(address, "pk@b.c").await
}

async fn jwks_kids(address: SocketAddr) -> Vec<String> {
    let response = send(address, request("GET", "/.well-known/jwks.json", "")).await;
    assert_eq!(response.status(), 200);
    json(&response)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Runs `script` with the JOSE venv's Python and returns its standard output as JSON.
fn python(script: &str, args: &[&str]) -> serde_json::Value {
    let output = Command::new(support::tools::jose_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// PyJWT's `PyJWKClient`, pointed at our `jwks_uri`, picks the key by `kid` and verifies our
/// ES256, EdDSA and RS256 tokens with the issuer and audience required; it rejects a token from a
/// key outside our set.
#[tokio::test]
async fn pyjwt_jwks_client_verifies_our_tokens() {
    let script = r#"
import json, sys, jwt
token, jwks_uri, issuer, audience, alg = sys.argv[1:6]
client = jwt.PyJWKClient(jwks_uri, cache_keys=False)
key = client.get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=[alg], issuer=issuer, audience=audience,
                    options={"require": ["exp", "nbf", "iss", "aud"]})
print(json.dumps({"kid": key.key_id, "claims": claims}))
"#;
    for key in ALL {
        let (server, issuer) = start(key);
        let token = issue(server.address).await;
        let jwks_uri = format!("{issuer}/.well-known/jwks.json");
        let alg = key.algorithm.name();
        let seen = python(script, &[&token, &jwks_uri, &issuer, AUDIENCE, alg]);
        assert_eq!(seen["kid"], key.kid().as_str());
        assert_eq!(seen["claims"]["email"], "pk@b.c");
        assert_eq!(seen["claims"]["iss"], issuer.as_str());

        // Not a formality: a token from another key with our kid fails in PyJWT too.
        let mut header = jsonwebtoken::Header::new(key.alg);
        header.kid = Some(key.kid());
        let claims = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
        let forged = key.sign(&header, &claims, true);
        let output = Command::new(support::tools::jose_python())
            .args(["-c", script, &forged, &jwks_uri, &issuer, AUDIENCE, alg])
            .output()
            .unwrap();
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("InvalidSignatureError"));
    }
}

/// jwcrypto, starting from nothing but the issuer: it fetches the discovery document, checks
/// its `issuer`, follows `jwks_uri`, verifies our token with the key set (issuer and audience
/// checked), and computes each key's RFC 7638 thumbprint itself — equal to our `kid`.
#[tokio::test]
async fn jwcrypto_from_the_discovery_document() {
    let script = r#"
import json, sys, urllib.request
from jwcrypto import jwk, jwt
token, issuer, audience = sys.argv[1:4]
def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)
config = get(issuer + "/.well-known/openid-configuration")
assert config["issuer"] == issuer, config
keys = jwk.JWKSet.from_json(json.dumps(get(config["jwks_uri"])))
verified = jwt.JWT(jwt=token, key=keys, algs=config["id_token_signing_alg_values_supported"],
                   check_claims={"iss": issuer, "aud": audience, "exp": None, "nbf": None})
print(json.dumps({
    "claims": json.loads(verified.claims),
    "thumbprints": [k.thumbprint() for k in keys["keys"]],
    "kids": [k.get("kid") for k in keys["keys"]],
    "private": [k.has_private for k in keys["keys"]],
}))
"#;
    for key in ALL {
        let (server, issuer) = start(key);
        let token = issue(server.address).await;
        let seen = python(script, &[&token, &issuer, AUDIENCE]);
        assert_eq!(seen["claims"]["email"], "pk@b.c");
        assert_eq!(seen["thumbprints"], serde_json::json!([key.kid()]));
        assert_eq!(seen["kids"], seen["thumbprints"]);
        assert_eq!(seen["private"], serde_json::json!([false]));
    }
}

/// Tokens minted by PyJWT with the same private key (with or without our `kid`) verify here,
/// and `/contents` returns exactly their email, exp and nbf.
#[tokio::test]
async fn pyjwt_minted_tokens_verify_here() {
    let script = r#"
import json, sys, time, jwt
pem, alg, issuer, audience, kid = sys.argv[1:6]
now = int(time.time())
claims = {"email": "py@b.c", "exp": now + 300, "nbf": now, "iss": issuer, "aud": audience}
headers = {"kid": kid} if kid else None
print(json.dumps({"token": jwt.encode(claims, pem, algorithm=alg, headers=headers),
                  "exp": now + 300, "nbf": now}))
"#;
    for key in ALL {
        let (server, issuer) = start(key);
        for with_kid in [key.kid(), String::new()] {
            let alg = key.algorithm.name();
            let minted = python(script, &[key.pem, alg, &issuer, AUDIENCE, &with_kid]);
            let response = contents(server.address, minted["token"].as_str().unwrap()).await;
            assert_eq!(response.status(), 200, "{alg} kid {with_kid:?}");
            assert_eq!(
                json(&response),
                serde_json::json!({"email": "py@b.c", "exp": minted["exp"], "nbf": minted["nbf"]})
            );
        }
    }
}

fn ssm_env(moto: &Moto, parameter: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = moto.env();
    env.push(("JWT_ALGORITHM".into(), "ES256".into()));
    env.push(("JWT_PRIVATE_KEY_PARAMETER".into(), parameter.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// Rotation through SSM, end to end with short settings (refresh 1 s, JWKS max-age 1 s,
/// activation 4 s, grace 3 s): version 1 signs; version 2 is put and appears in the JWKS
/// (beside v1) while v1 still signs; after the activation delay v2 signs; v1's tokens verify
/// until the grace period ends; then v1 leaves the JWKS and its tokens are refused.
#[tokio::test]
async fn rotation_through_ssm_keeps_verifiers_working() {
    let moto = Moto::shared();
    let ssm = moto.client();
    let name = "/simple-jwt-api/public-keys/rotation";
    put_secret(&ssm, name, ES256.pem).await;
    let server = ServerProcess::start(&ssm_env(
        moto,
        name,
        &[
            ("JWT_SECRET_REFRESH_SECONDS", "1"),
            ("JWKS_MAX_AGE_SECONDS", "1"),
            ("JWT_KEY_ACTIVATION_SECONDS", "4"),
            ("JWT_SECRET_GRACE_SECONDS", "3"),
        ],
    ));
    let address = server.address;
    let (k1, k2) = (ES256.kid(), TestKey { pem: ES256_NEXT_PEM, ..ES256 }.kid());
    let v1_token = issue(address).await;
    assert_eq!(kid(&v1_token), k1);
    assert_eq!(jwks_kids(address).await, [k1.as_str()]);

    assert_eq!(put_secret(&ssm, name, ES256_NEXT_PEM).await, 2);
    let published = until(Duration::from_secs(5), "v2 in the JWKS", async || {
        jwks_kids(address).await.contains(&k2)
    })
    .await;
    assert_eq!(jwks_kids(address).await, [k1.as_str(), k2.as_str()]);
    assert_eq!(kid(&issue(address).await), k1, "v1 still signs while v2 is only published");

    let signing =
        until(Duration::from_secs(8), "v2 signing", async || kid(&issue(address).await) == k2)
            .await;
    let delay = signing - published;
    eprintln!("v2 published, then signing {delay:?} later (activation 4 s)");
    assert!(delay >= Duration::from_secs(3), "signed {delay:?} after being published");
    assert_eq!(jwks_kids(address).await, [k2.as_str(), k1.as_str()]);
    assert_eq!(contents(address, &v1_token).await.status(), 200, "v1 within its grace");
    assert_eq!(contents(address, &issue(address).await).await.status(), 200);

    until(Duration::from_secs(6), "v1's grace to end", async || {
        contents(address, &v1_token).await.status() == 401
    })
    .await;
    assert_eq!(jwks_kids(address).await, [k2.as_str()], "v1 left the JWKS");
    let logs = server.logs().join("\n");
    assert!(logs.contains("JWT signing key published"), "{logs}");
    for line in [ES256.pem, ES256_NEXT_PEM].iter().flat_map(|pem| pem.lines()) {
        assert!(line.starts_with("-----") || !logs.contains(line), "key material logged");
    }
}

/// A plaintext `String` parameter is refused at start-up (exit status 2, naming the variable
/// and the parameter, never its value), for the private key and for the HMAC secret alike.
#[tokio::test]
async fn string_parameter_is_refused_at_start_up() {
    let moto = Moto::shared();
    let ssm = moto.client();
    let cases = [
        ("/simple-jwt-api/public-keys/plain-key", ES256.pem, "JWT_PRIVATE_KEY_PARAMETER"),
        (
            "/simple-jwt-api/public-keys/plain-secret",
            "a-plaintext-secret-0123456789abcdef-0123",
            "JWT_SECRET_PARAMETER",
        ),
    ];
    for (name, value, variable) in cases {
        put_plain(&ssm, name, value).await;
        let mut env = moto.env();
        if variable == "JWT_PRIVATE_KEY_PARAMETER" {
            env.push(("JWT_ALGORITHM".into(), "ES256".into()));
        }
        env.push((variable.into(), name.into()));
        let (status, output) = run_to_exit(&env);
        assert_eq!(status.code(), Some(2), "{output}");
        for expected in [variable, name, "not SecureString"] {
            assert!(output.contains(expected), "{expected:?} not in {output}");
        }
        for line in value.lines().filter(|line| !line.starts_with("-----")) {
            assert!(!output.contains(line), "the value is in {output}");
        }
    }
}

/// A parameter replaced by a plaintext `String` while the server runs: each refresh warns and
/// the last good key keeps signing and verifying.
#[tokio::test]
async fn string_parameter_at_refresh_keeps_the_last_good_key() {
    let moto = Moto::shared();
    let ssm = moto.client();
    let name = "/simple-jwt-api/public-keys/becomes-plain";
    put_secret(&ssm, name, ES256.pem).await;
    let server = ServerProcess::start(&ssm_env(moto, name, &[("JWT_SECRET_REFRESH_SECONDS", "1")]));
    let token = issue(server.address).await;
    ssm.delete_parameter().name(name).send().await.expect("delete_parameter on moto");
    put_plain(&ssm, name, ES256_NEXT_PEM).await;
    until(Duration::from_secs(5), "a warning about the String parameter", async || {
        server.logs().iter().any(|line| line.contains("WARN") && line.contains("not SecureString"))
    })
    .await;
    assert_eq!(kid(&issue(server.address).await), ES256.kid());
    assert_eq!(contents(server.address, &token).await.status(), 200);
}

async fn put_plain(client: &aws_sdk_ssm::Client, name: &str, value: &str) {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("put_parameter on moto");
}
