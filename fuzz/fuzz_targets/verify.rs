//! `KeyStore::verify` (the service's one verification entry point; fixed key from the
//! environment) fed arbitrary strings. Asserts that it never panics and that
//! whatever it accepts is a correctly signed HS256 token with valid claims, re-checked by
//! `check_hs256`, which shares no code with the service (RustCrypto HMAC, base64, serde_json).
//!
//! Input: the first byte picks a mode, the rest is its material:
//! - 0: the rest, as text, is the token;
//! - 1: the rest is `header JSON 0xFF payload JSON`, base64url-encoded and correctly signed
//!   with the secret, so the claim and header rules are explored behind a valid signature;
//! - 2: like 1 but the signature is replaced by the bytes after a second `0xFF` (forgeries).
#![no_main]

use libfuzzer_sys::fuzz_target;
use simple_jwt_api::token::unix_now;
use simple_jwt_api_fuzz::{check_hs256, complete, keys, sign_segments};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = match mode % 3 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        mode => {
            let mut parts = rest.splitn(3, |b| *b == 0xFF);
            let header = parts.next().unwrap_or_default();
            let payload = parts.next().unwrap_or_default();
            let signed = sign_segments(header, payload);
            if mode == 1 {
                signed
            } else {
                let forged = String::from_utf8_lossy(parts.next().unwrap_or_default());
                let (unsigned, _) = signed.rsplit_once('.').unwrap();
                format!("{unsigned}.{forged}")
            }
        }
    };

    let before = unix_now();
    let verdict = complete(keys().verify(&token));
    let after = unix_now();

    if let Ok(claims) = verdict {
        // Accepted: it must be acceptable at some instant during the call.
        let checked = check_hs256(&token, before)
            .or_else(|_| check_hs256(&token, after))
            .unwrap_or_else(|err| panic!("accepted a bad token {token:?}: {err}"));
        assert_eq!(
            (claims.email.as_str(), claims.exp, claims.nbf),
            (checked.email.as_str(), checked.exp, checked.nbf),
            "returned claims differ from the token's"
        );
    }
});
