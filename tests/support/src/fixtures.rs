//! The Lambda event fixtures in `tests/data/` and the HTTP result each must produce, shared by
//! the in-process event tests (`tests/integration/lambda_events.rs`) and the cargo-lambda
//! end-to-end test (`tests/external/lambda_watch.rs`).
use crate::TEST_SECRET;
use serde_json::Value;
use std::path::PathBuf;

/// The email in every fixture's credentials.
pub const EMAIL: &str = "user@example.com";
/// What fixtures that need a token carry instead (see `tests/data/README.md`).
pub const PLACEHOLDER: &str = "{{TOKEN}}";

/// Which event source a fixture comes from (and which response format it gets back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// API Gateway REST API (payload 1.0), with a stage.
    RestV1,
    /// API Gateway HTTP API (payload 2.0).
    HttpV2,
    /// Application Load Balancer target group.
    Alb,
    /// Lambda Function URL (payload 2.0 shape).
    FunctionUrl,
}

/// How lambda_http hands the request body to the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenBody {
    /// `Body::Empty`: `"body": null` or no `body` key.
    Empty,
    /// `Body::Text`.
    Text,
    /// `Body::Binary`: `isBase64Encoded: true`, already decoded.
    Binary,
}

/// The response body a fixture must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `"Healthy"`.
    Healthy,
    /// `{"token"}` for [`EMAIL`], verifying with the test secret.
    Token,
    /// `{"email", "exp", "nbf"}` of a token for [`EMAIL`].
    Claims,
    /// `{"message"}`.
    Message,
}

/// One event file and its expected outcome.
#[derive(Debug)]
pub struct Fixture {
    /// File name under `tests/data/`.
    pub file: &'static str,
    /// Event source.
    pub source: Source,
    /// Method as the dispatch function sees it.
    pub method: &'static str,
    /// Path as the dispatch function sees it (with `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH`).
    pub path: &'static str,
    /// Body variant lambda_http produces.
    pub body: SeenBody,
    /// Expected status.
    pub status: u16,
    /// Expected body.
    pub expect: Expect,
}

impl Fixture {
    /// Whether the event carries `Bearer {{TOKEN}}`.
    pub fn needs_token(&self) -> bool {
        self.raw().contains(PLACEHOLDER)
    }

    /// The file's text, unmodified.
    pub fn raw(&self) -> String {
        std::fs::read_to_string(data_dir().join(self.file))
            .unwrap_or_else(|err| panic!("read tests/data/{}: {err}", self.file))
    }

    /// The file's text with `{{TOKEN}}` replaced by `token`.
    pub fn with_token(&self, token: &str) -> String {
        self.raw().replace(PLACEHOLDER, token)
    }
}

/// Every event fixture (the table in `tests/data/README.md`).
pub const FIXTURES: &[Fixture] = &[
    Fixture {
        file: "apigw_rest_v1_stage.json",
        source: Source::RestV1,
        method: "POST",
        path: "/auth",
        body: SeenBody::Text,
        status: 200,
        expect: Expect::Token,
    },
    Fixture {
        file: "apigw_rest_v1_get_root.json",
        source: Source::RestV1,
        method: "GET",
        path: "/",
        body: SeenBody::Empty,
        status: 200,
        expect: Expect::Healthy,
    },
    Fixture {
        file: "apigw_rest_v1_contents.json",
        source: Source::RestV1,
        method: "GET",
        path: "/contents",
        body: SeenBody::Empty,
        status: 200,
        expect: Expect::Claims,
    },
    Fixture {
        file: "apigw_http_v2_base64_body.json",
        source: Source::HttpV2,
        method: "POST",
        path: "/auth",
        body: SeenBody::Binary,
        status: 200,
        expect: Expect::Token,
    },
    Fixture {
        file: "apigw_http_v2_text_body.json",
        source: Source::HttpV2,
        method: "POST",
        path: "/auth",
        body: SeenBody::Text,
        status: 200,
        expect: Expect::Token,
    },
    Fixture {
        file: "apigw_http_v2_bad_json.json",
        source: Source::HttpV2,
        method: "POST",
        path: "/auth",
        body: SeenBody::Text,
        status: 400,
        expect: Expect::Message,
    },
    Fixture {
        file: "apigw_http_v2_text_plain.json",
        source: Source::HttpV2,
        method: "POST",
        path: "/auth",
        body: SeenBody::Text,
        status: 415,
        expect: Expect::Message,
    },
    Fixture {
        file: "apigw_http_v2_contents.json",
        source: Source::HttpV2,
        method: "GET",
        path: "/contents",
        body: SeenBody::Empty,
        status: 200,
        expect: Expect::Claims,
    },
    Fixture {
        file: "alb.json",
        source: Source::Alb,
        method: "GET",
        path: "/contents",
        // ALB sends `"body": ""`, which lambda_http keeps as an empty text body.
        body: SeenBody::Text,
        status: 200,
        expect: Expect::Claims,
    },
    Fixture {
        file: "function_url.json",
        source: Source::FunctionUrl,
        method: "GET",
        path: "/",
        body: SeenBody::Empty,
        status: 200,
        expect: Expect::Healthy,
    },
];

/// Files in `tests/data/` that are not Lambda events.
pub const NOT_EVENTS: &[&str] = &["pyjwt_token.json"];

/// `tests/data/`.
pub fn data_dir() -> PathBuf {
    crate::repo_root().join("tests").join("data")
}

/// Checks a fixture's response: status, `application/json`, the expected body, and the
/// headers its status calls for. `header` looks a response header up by lower-case name.
pub fn check(
    fixture: &Fixture,
    status: u16,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<(), String> {
    if status != fixture.status {
        return Err(format!("status {status} != {}", fixture.status));
    }
    if header("content-type").as_deref() != Some("application/json") {
        return Err(format!("content-type is {:?}", header("content-type")));
    }
    if header("x-request-id").is_none_or(|id| id.is_empty()) {
        return Err("no x-request-id".into());
    }
    let json: Value =
        serde_json::from_slice(body).map_err(|err| format!("body is not JSON ({err})"))?;
    match fixture.expect {
        Expect::Healthy if json == "Healthy" => Ok(()),
        Expect::Token => {
            let token = json["token"].as_str().ok_or(format!("no token in {json}"))?;
            let claims = verify(token)?;
            if claims["email"] != EMAIL {
                return Err(format!("token claims are {claims}"));
            }
            if header("cache-control").as_deref() != Some("no-store") {
                return Err("token response is cacheable".into());
            }
            Ok(())
        }
        Expect::Claims => {
            let object = json.as_object().ok_or(format!("body is {json}"))?;
            if object.len() != 3
                || object["email"] != EMAIL
                || !object["exp"].is_u64()
                || !object["nbf"].is_u64()
            {
                return Err(format!("claims are {json}"));
            }
            Ok(())
        }
        Expect::Message
            if json.as_object().is_some_and(|o| o.len() == 1 && o["message"].is_string()) =>
        {
            Ok(())
        }
        _ => Err(format!("body {json} is not {:?}", fixture.expect)),
    }
}

/// Verifies an HS256 token with the test secret (exp and nbf required) and returns its claims.
pub fn verify(token: &str) -> Result<Value, String> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "nbf"]);
    validation.validate_nbf = true;
    let key = jsonwebtoken::DecodingKey::from_secret(TEST_SECRET.as_bytes())
        .map_err(|err| err.to_string())?;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|err| format!("token does not verify: {err}"))
}
