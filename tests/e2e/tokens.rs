//! Forged and tampered access tokens: each is refused with 401 `invalid_token`, while the
//! same forging code with the real key and claims is accepted (so the refusals mean something).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{JWT_SECRET, TestServer, expect_json, expect_problem};

/// The payload of a JWT, unverified.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

fn sign(claims: &Value, alg: Algorithm, key: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn forged_tokens_are_rejected_and_an_honest_one_is_accepted() {
    let server = TestServer::start().await;
    let tokens = server.register_as("forged").await;
    let genuine = claims_of(&tokens.access);
    let with = |patch: Value| {
        let mut claims = genuine.clone();
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let key = JWT_SECRET.as_bytes();

    let honest = sign(&with(json!({"iat": now(), "exp": now() + 60})), Algorithm::HS256, key);
    expect_json(server.get_as("/api/v1/auth/me", &honest).await, StatusCode::OK).await;

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&genuine).unwrap());
    let forgeries = [
        ("alg none", format!("{header_none}.{payload}.")),
        ("alg none, signature kept", {
            let signature = tokens.access.rsplit('.').next().unwrap();
            format!("{header_none}.{payload}.{signature}")
        }),
        ("wrong key", sign(&genuine, Algorithm::HS256, b"another-secret-of-at-least-32-bytes!!")),
        ("other algorithm", sign(&genuine, Algorithm::HS512, key)),
        ("wrong audience", sign(&with(json!({"aud": "veza-chat"})), Algorithm::HS256, key)),
        ("wrong issuer", sign(&with(json!({"iss": "someone-else"})), Algorithm::HS256, key)),
        (
            "expired",
            sign(&with(json!({"iat": now() - 3600, "exp": now() - 1})), Algorithm::HS256, key),
        ),
        ("old token version", sign(&with(json!({"ver": -1})), Algorithm::HS256, key)),
        (
            "another user's id",
            sign(&with(json!({"sub": uuid::Uuid::now_v7()})), Algorithm::HS256, key),
        ),
        (
            "unknown session",
            sign(&with(json!({"sid": uuid::Uuid::now_v7()})), Algorithm::HS256, key),
        ),
        ("payload tampered", {
            let mut parts: Vec<String> = tokens.access.split('.').map(str::to_owned).collect();
            parts[1] = URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&with(json!({"role": "admin"}))).unwrap());
            parts.join(".")
        }),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in forgeries {
        let response = server.get_as("/api/v1/auth/me", &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what} was accepted");
        expect_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

#[tokio::test]
async fn access_tokens_carry_the_documented_claims() {
    let server = TestServer::start().await;
    let tokens = server.register_as("claimed").await;
    let claims = claims_of(&tokens.access);
    for claim in ["sub", "sid", "role", "ver", "iat", "exp", "iss", "aud"] {
        assert!(claims.get(claim).is_some(), "missing {claim}: {claims}");
    }
    assert_eq!(claims["sub"].as_str().unwrap(), tokens.user_id);
    assert_eq!(claims["role"], "listener");
    assert_eq!(claims["aud"], "veza-api");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD.decode(tokens.access.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "HS256");
}
