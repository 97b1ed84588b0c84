//! Tokens interoperate both ways with PyJWT, an independent HS256 implementation, using the
//! same secret bytes.

use std::process::Command;
use support::TEST_SECRET;
use support::client::{json, request, send};
use support::server::{ServerProcess, env_with_secret};

/// A token minted by PyJWT (checked in, with its secret; it carries extra `iat`/`iss` claims)
/// verifies here, and `/contents` returns exactly its email/exp/nbf.
#[tokio::test]
async fn pyjwt_token_verifies_here() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../data/pyjwt_token.json")).unwrap();
    let server = ServerProcess::start(&env_with_secret(fixture["secret"].as_str().unwrap()));
    let contents = http::Request::builder()
        .uri("/contents")
        .header("authorization", format!("Bearer {}", fixture["token"].as_str().unwrap()))
        .body(bytes::Bytes::new())
        .unwrap();
    let response = send(server.address, contents).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(&response), fixture["expected_contents"]);
}

/// A token issued by the server verifies in PyJWT (signature, exp and nbf required), and
/// PyJWT sees the expected header and exactly the three claims.
#[tokio::test]
async fn our_token_verifies_in_pyjwt() {
    let python = support::tools::pyjwt_python();
    let server = ServerProcess::start(&env_with_secret(TEST_SECRET));
    let response =
        send(server.address, request("POST", "/auth", r#"{"email":"py@b.c","password":"x"}"#))
            .await;
    let token = json(&response)["token"].as_str().unwrap().to_owned();
    let script = r#"
import json, sys, jwt
token, secret = sys.argv[1], sys.argv[2]
claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "nbf"]})
print(json.dumps({"header": jwt.get_unverified_header(token), "claims": claims}))
"#;
    let output = Command::new(python).args(["-c", script, &token, TEST_SECRET]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seen["header"], serde_json::json!({"alg": "HS256", "typ": "JWT"}));
    let claims = seen["claims"].as_object().unwrap();
    assert_eq!(claims.len(), 3);
    assert_eq!(claims["email"], "py@b.c");

    // And PyJWT rejects it under a different secret: the check above is a real verification.
    let output = Command::new(support::tools::pyjwt_python())
        .args(["-c", script, &token, "a-different-secret-0123456789abcdef"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("InvalidSignatureError"));
}
