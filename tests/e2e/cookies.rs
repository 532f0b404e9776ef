//! Browser sessions: cookie sign-in, the double-submit CSRF rule on unsafe methods, refresh
//! from the cookie, logout clearing the cookies, and bearer requests left as they were.
//! Cookies are sent and read as plain headers, so their attributes can be asserted.

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::json;
use veza_core::clock::Clock;
use veza_server::ServerConfig;

use crate::support::{PASSWORD, TestServer, expect_json, expect_problem};
use crate::two_factor::{challenge, clocked_server, code_at, with_two_factor};

/// The cookies a response set, by name: `(value, attributes after the value)`.
struct SetCookies(Vec<(String, String, String)>);

impl SetCookies {
    fn of(response: &Response) -> Self {
        Self(
            response
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| {
                    let line = v.to_str().unwrap();
                    let (pair, attributes) = line.split_once(';').unwrap_or((line, ""));
                    let (name, value) = pair.split_once('=').unwrap();
                    (name.to_owned(), value.to_owned(), attributes.trim().to_owned())
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> (&str, &str) {
        let (_, value, attributes) = self
            .0
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", self.0));
        (value, attributes)
    }

    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.0.iter().map(|(n, _, _)| n.as_str()).collect();
        names.sort_unstable();
        names
    }
}

/// What a browser holds after a cookie sign-in.
struct Jar {
    session: String,
    refresh: String,
    csrf: String,
}

impl Jar {
    fn from(set: &SetCookies) -> Self {
        Self {
            session: set.get("veza_session").0.to_owned(),
            refresh: set.get("veza_refresh").0.to_owned(),
            csrf: set.get("veza_csrf").0.to_owned(),
        }
    }

    /// The cookies a browser sends to every path but the refresh endpoint.
    fn send(&self, request: RequestBuilder) -> RequestBuilder {
        request.header("cookie", format!("veza_session={}; veza_csrf={}", self.session, self.csrf))
    }

    /// The cookies a browser sends to the refresh endpoint (its path matches all three).
    fn send_to_refresh(&self, request: RequestBuilder) -> RequestBuilder {
        request.header(
            "cookie",
            format!(
                "veza_refresh={}; veza_session={}; veza_csrf={}",
                self.refresh, self.session, self.csrf
            ),
        )
    }
}

async fn cookie_login(server: &TestServer, name: &str) -> (serde_json::Value, SetCookies) {
    let body = json!({"login": name, "password": PASSWORD, "cookie": true});
    let response = server.post("/api/v1/auth/login", body).await;
    let set = SetCookies::of(&response);
    (expect_json(response, StatusCode::OK).await, set)
}

#[tokio::test]
async fn a_cookie_login_sets_session_refresh_and_csrf_cookies_besides_the_tokens() {
    let server = TestServer::start().await;
    server.register_as("cookie_ana").await;
    let (body, set) = cookie_login(&server, "cookie_ana").await;
    assert_eq!(set.names(), ["veza_csrf", "veza_refresh", "veza_session"]);

    let (session, attributes) = set.get("veza_session");
    assert_eq!(session, body["access_token"].as_str().unwrap());
    assert_eq!(attributes, "Path=/; Max-Age=900; SameSite=Lax; HttpOnly");
    let (refresh, attributes) = set.get("veza_refresh");
    assert_eq!(refresh, body["refresh_token"].as_str().unwrap());
    assert_eq!(attributes, "Path=/api/v1/auth/refresh; Max-Age=2592000; SameSite=Strict; HttpOnly");
    let (csrf, attributes) = set.get("veza_csrf");
    assert_eq!(csrf.len(), 43, "256 random bits, base64url: {csrf}");
    assert_eq!(attributes, "Path=/; Max-Age=2592000; SameSite=Lax", "scripts must read it");

    for cookie in [json!(false), json!(null)] {
        let body = json!({"login": "cookie_ana", "password": PASSWORD, "cookie": cookie});
        let response = server.post("/api/v1/auth/login", body).await;
        assert!(SetCookies::of(&response).0.is_empty(), "no cookies unless asked");
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_session_cookie_reads_without_a_csrf_token_but_changes_nothing_without_it() {
    let server = TestServer::start().await;
    server.register_as("cookie_bob").await;
    let (_, set) = cookie_login(&server, "cookie_bob").await;
    let jar = Jar::from(&set);

    let me = jar.send(server.request(Method::GET, "/api/v1/auth/me")).send().await.unwrap();
    assert_eq!(expect_json(me, StatusCode::OK).await["username"], "cookie_bob");

    let chat = || jar.send(server.request(Method::POST, "/api/v1/auth/chat/token"));
    for (what, request) in [
        ("no header", chat()),
        ("wrong header", chat().header("x-csrf-token", "not-the-cookie")),
        ("empty header", chat().header("x-csrf-token", "")),
        ("header, no csrf cookie", {
            server
                .request(Method::POST, "/api/v1/auth/chat/token")
                .header("cookie", format!("veza_session={}", jar.session))
                .header("x-csrf-token", jar.csrf.clone())
        }),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
        expect_problem(response, StatusCode::FORBIDDEN, "csrf_failed").await;
    }
    let revoke = jar.send(
        server.request(Method::DELETE, &format!("/api/v1/auth/sessions/{}", uuid::Uuid::now_v7())),
    );
    expect_problem(revoke.send().await.unwrap(), StatusCode::FORBIDDEN, "csrf_failed").await;

    let response = chat().header("x-csrf-token", jar.csrf.clone()).send().await.unwrap();
    expect_json(response, StatusCode::OK).await;
}

#[tokio::test]
async fn bearer_requests_need_no_csrf_token_even_beside_a_session_cookie() {
    let server = TestServer::start().await;
    let tokens = server.register_as("cookie_cy").await;
    let (_, set) = cookie_login(&server, "cookie_cy").await;
    let jar = Jar::from(&set);

    expect_json(server.post_as("/api/v1/auth/chat/token", &tokens.access).await, StatusCode::OK)
        .await;
    let both = jar
        .send(server.request(Method::POST, "/api/v1/auth/chat/token"))
        .bearer_auth(&tokens.access);
    expect_json(both.send().await.unwrap(), StatusCode::OK).await;
    let response = server.post_as("/api/v1/auth/logout", &tokens.access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_refresh_cookie_refreshes_once_with_the_csrf_token_and_keeps_it() {
    let server = TestServer::start().await;
    server.register_as("cookie_dee").await;
    let (_, set) = cookie_login(&server, "cookie_dee").await;
    let jar = Jar::from(&set);
    let refresh = || jar.send_to_refresh(server.request(Method::POST, "/api/v1/auth/refresh"));

    let response = refresh().json(&json!({})).send().await.unwrap();
    expect_problem(response, StatusCode::FORBIDDEN, "csrf_failed").await;
    let response =
        refresh().header("x-csrf-token", jar.csrf.clone()).json(&json!({})).send().await.unwrap();
    let renewed = SetCookies::of(&response);
    let body = expect_json(response, StatusCode::OK).await;
    let next = Jar::from(&renewed);
    assert_eq!(next.session, body["access_token"].as_str().unwrap());
    assert_eq!(next.refresh, body["refresh_token"].as_str().unwrap());
    assert_ne!(next.refresh, jar.refresh);
    assert_eq!(next.csrf, jar.csrf, "other tabs keep their CSRF token");
    let me = next.send(server.request(Method::GET, "/api/v1/auth/me")).send().await.unwrap();
    expect_json(me, StatusCode::OK).await;

    let reused =
        refresh().header("x-csrf-token", jar.csrf.clone()).json(&json!({})).send().await.unwrap();
    expect_problem(reused, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    let without_cookie = server.post("/api/v1/auth/refresh", json!({})).await;
    expect_problem(without_cookie, StatusCode::UNAUTHORIZED, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_by_cookie_needs_the_csrf_token_then_expires_the_cookies() {
    let server = TestServer::start().await;
    server.register_as("cookie_eve").await;
    let (_, set) = cookie_login(&server, "cookie_eve").await;
    let jar = Jar::from(&set);
    let logout = || jar.send(server.request(Method::POST, "/api/v1/auth/logout"));

    expect_problem(logout().send().await.unwrap(), StatusCode::FORBIDDEN, "csrf_failed").await;
    let response = logout().header("x-csrf-token", jar.csrf.clone()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = SetCookies::of(&response);
    assert_eq!(cleared.names(), ["veza_csrf", "veza_refresh", "veza_session"]);
    for name in ["veza_csrf", "veza_refresh", "veza_session"] {
        let (value, attributes) = cleared.get(name);
        assert_eq!(value, "", "{name}");
        assert!(attributes.contains("Max-Age=0"), "{name}: {attributes}");
    }
    let me = jar.send(server.request(Method::GET, "/api/v1/auth/me")).send().await.unwrap();
    expect_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn cookies_are_secure_when_the_server_is_reached_over_https() {
    let config = ServerConfig { secure_cookies: true, ..ServerConfig::default() };
    let server = TestServer::start_with(config).await;
    server.register_as("cookie_fay").await;
    let (_, set) = cookie_login(&server, "cookie_fay").await;
    for name in ["veza_csrf", "veza_refresh", "veza_session"] {
        assert!(set.get(name).1.ends_with("; Secure"), "{name}: {}", set.get(name).1);
    }
    let jar = Jar::from(&set);
    let response = jar
        .send(server.request(Method::POST, "/api/v1/auth/logout"))
        .header("x-csrf-token", jar.csrf.clone())
        .send()
        .await
        .unwrap();
    let cleared = SetCookies::of(&response);
    assert!(cleared.get("veza_session").1.ends_with("; Secure"));
}

#[tokio::test]
async fn a_second_factor_sign_in_sets_the_cookies_when_asked() {
    let (server, clock) = clocked_server().await;
    let account = with_two_factor(&server, "cookie_gus", clock.now()).await;
    clock.advance(time::Duration::seconds(30));
    let token = challenge(&server, "cookie_gus").await;
    let body = json!({
        "challenge_token": token,
        "code": code_at(&account.totp, clock.now()),
        "cookie": true,
    });
    let response = server.post("/api/v1/auth/2fa/verify", body).await;
    let jar = Jar::from(&SetCookies::of(&response));
    expect_json(response, StatusCode::OK).await;
    let me = jar.send(server.request(Method::GET, "/api/v1/auth/me")).send().await.unwrap();
    assert_eq!(expect_json(me, StatusCode::OK).await["two_factor_enabled"], true);
}

#[tokio::test]
async fn a_forged_or_empty_session_cookie_is_not_a_session() {
    let server = TestServer::start().await;
    let me = |cookie: &'static str| {
        server.request(Method::GET, "/api/v1/auth/me").header("cookie", cookie).send()
    };
    expect_problem(
        me("veza_session=not.a.jwt").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    expect_problem(me("veza_session=").await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated")
        .await;
}
