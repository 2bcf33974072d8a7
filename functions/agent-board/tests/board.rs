//! The board API end to end over agent-state's own items: on the memory store, and (ignored unless moto runs) on
//! DynamoDB through the event shape API Gateway's HTTP API sends.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_board::BoardService;
use agent_board::config::PageConfig;
use common::*;
use shared::adapters::intercept::{Call, Hook, Intercepted, Verdict};
use shared::adapters::memory::MemoryItemStore;
use shared::clock::ManualClock;
use shared::ports::{ItemStore, PortError};

fn service<S: ItemStore + Clone>(store: S, cache: Duration) -> BoardService<S, ManualClock> {
    BoardService::new(
        store,
        ManualClock::at("2026-12-04T09:30:00.000Z"),
        PageConfig::default(),
        Some(INSTANCE.to_owned()),
        cache,
    )
}

/// Records every table call, failing them all when told to.
#[derive(Debug, Clone, Default)]
struct Recorder {
    calls: Arc<Mutex<Vec<String>>>,
    fail: Arc<Mutex<bool>>,
}

impl Hook for Recorder {
    async fn before(&self, call: &Call<'_>) -> Verdict {
        self.calls.lock().unwrap().push(format!("{call:?}"));
        if *self.fail.lock().unwrap() {
            Verdict::Fail(PortError::transient("dynamodb", "throttled"))
        } else {
            Verdict::Pass
        }
    }
}

fn memory() -> MemoryItemStore {
    MemoryItemStore::new(&agent_state::INDEXES)
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios, run on both stores.

async fn every_agent_with_activity_since_contacts_and_counts<S: ItemStore + Clone>(store: S) {
    fleet(&store, INSTANCE, 20).await;
    fleet(&store, OTHER_INSTANCE, 3).await;
    let service = service(store, Duration::from_millis(2000));
    let response = service.respond(&get("/api/board")).await;
    assert_eq!(response.status(), 200);
    let board = json_of(&response);
    let agents = board["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 20, "every agent of the instance, none of the other");
    let names: Vec<&str> = agents.iter().map(|a| a["username"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "ordered by username");
    for (i, a) in agents.iter().enumerate() {
        let doing = Doing::of(i);
        assert_eq!(a["username"], username(i));
        assert_eq!(a["name"], format!("First{i} Last{i}"));
        assert_eq!(a["activity"], doing.label(), "{a}");
        assert_eq!(a["logged_in"], doing != Doing::LoggedOut);
        assert_eq!(a["since"], "2026-12-04T09:00:00.000Z", "{a}");
        assert_eq!(a["team"], TEAMS[i % 4].0);
        assert_eq!(a["routing_profile"], TEAMS[i % 4].1);
        assert_eq!(a["hierarchy"].as_array().unwrap().len(), 3);
        assert_eq!(a["agent_id"], agent_arn(INSTANCE, i).rsplit('/').next().unwrap());
        let contacts = a["contacts"].as_array().unwrap();
        match doing {
            Doing::OnContact | Doing::AfterContactWork => {
                assert_eq!(contacts.len(), 1);
                assert_eq!(contacts[0]["queue"], TEAMS[i % 4].2);
                assert_eq!(contacts[0]["channel"], "VOICE");
                assert_eq!(contacts[0]["state"], if doing == Doing::OnContact { "CONNECTED" } else { "ENDED" });
            }
            _ => assert!(contacts.is_empty(), "{a}"),
        }
    }
    let counts = &board["counts"];
    assert_eq!(counts["total"], 20);
    assert_eq!(counts["logged_in"], 16);
    for doing in Doing::ALL {
        assert_eq!(counts["activity"][doing.label()], 4, "{doing:?}: {counts}");
    }
    // Logged-in agents per team: 20 agents over 4 teams, one in five logged out (i = 4, 9, 14, 19 → teams 0,1,2,3).
    for (team, ..) in TEAMS {
        assert_eq!(counts["team"][team], 4, "{team}: {counts}");
    }
    // Agents with a contact (i % 5 in {2, 3}): queues by team i % 4.
    let with_contact: Vec<usize> =
        (0..20).filter(|i| matches!(Doing::of(*i), Doing::OnContact | Doing::AfterContactWork)).collect();
    for queue in ["Sales", "Support", "Billing"] {
        let expected = with_contact.iter().filter(|i| TEAMS[*i % 4].2 == queue).count();
        assert_eq!(counts["queue"][queue].as_u64().unwrap_or(0) as usize, expected, "{queue}: {counts}");
    }
}

async fn filters_narrow_the_board_and_its_counts<S: ItemStore + Clone>(store: S) {
    fleet(&store, INSTANCE, 20).await;
    let service = service(store, Duration::from_millis(2000));
    let count = |board: &serde_json::Value| board["agents"].as_array().unwrap().len();

    let blue = json_of(&service.respond(&get("/api/board?team=Team%20Blue")).await);
    assert_eq!(count(&blue), 5);
    assert!(blue["agents"].as_array().unwrap().iter().all(|a| a["team"] == "Team Blue"));
    assert_eq!(blue["counts"]["total"], 5);
    // A team at another level: EMEA is Level1 of teams 0 and 1.
    assert_eq!(count(&json_of(&service.respond(&get("/api/board?team=EMEA")).await)), 10);
    // Routing profile by name and by ARN, and two values at once.
    assert_eq!(count(&json_of(&service.respond(&get("/api/board?routing_profile=Voice+Sales")).await)), 5);
    let arn = routing_profile_arn(INSTANCE, 1);
    assert_eq!(count(&json_of(&service.respond(&get(&format!("/api/board?routing_profile={arn}"))).await)), 5);
    assert_eq!(
        count(&json_of(&service.respond(&get("/api/board?routing_profile=Voice%20Sales,Chat%20Support")).await)),
        10
    );
    // Queue: agents with a current contact from it.
    let sales = json_of(&service.respond(&get("/api/board?queue=Sales")).await);
    assert!(count(&sales) > 0);
    assert!(sales["agents"].as_array().unwrap().iter().all(|a| a["contacts"][0]["queue"] == "Sales"));
    // Activity, and filters combined.
    let on_break = json_of(&service.respond(&get("/api/board?activity=Break")).await);
    assert_eq!(count(&on_break), 4);
    assert_eq!(on_break["counts"]["activity"]["Break"], 4);
    assert_eq!(count(&json_of(&service.respond(&get("/api/board?activity=Break&team=Team%20Green")).await)), 1);
    assert_eq!(count(&json_of(&service.respond(&get("/api/board?team=Nobody")).await)), 0);
}

async fn an_unchanged_board_is_304_and_a_change_shows_after_the_cache<S: ItemStore + Clone>(store: S) {
    fleet(&store, INSTANCE, 10).await;
    let service = service(store.clone(), Duration::ZERO);
    let first = service.respond(&get("/api/board")).await;
    let etag = header(&first, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34, "{etag}");
    let again = service.respond(&get_with("/api/board", &[("if-none-match", &etag)])).await;
    assert_eq!(again.status(), 304);
    assert!(again.body().is_empty());
    assert_eq!(header(&again, "etag"), etag);
    assert_eq!(header(&again, "x-board-clock"), "2026-12-04T09:30:00.000Z");
    assert_eq!(header(&again, "x-board-clock-rate"), "1");
    // Weak form and lists are understood; another tag is not a match.
    assert_eq!(
        service.respond(&get_with("/api/board", &[("if-none-match", &format!("\"x\", W/{etag}"))])).await.status(),
        304
    );
    assert_eq!(service.respond(&get_with("/api/board", &[("if-none-match", "\"other\"")])).await.status(), 200);
    // Agent 0 goes on break: the board changes, so the old tag gets the new board.
    apply(
        &store,
        &[event(INSTANCE, 0, "STATE_CHANGE", Doing::Break, "2026-12-04T09:10:00.000Z", "2026-12-04T09:10:00.000Z")],
    )
    .await;
    let changed = service.respond(&get_with("/api/board", &[("if-none-match", &etag)])).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(header(&changed, "etag"), etag);
    assert_eq!(json_of(&changed)["agents"][0]["activity"], "Break");
}

async fn the_history_has_the_agents_episodes<S: ItemStore + Clone>(store: S) {
    fleet(&store, INSTANCE, 5).await;
    // Agent 1: on break since 09:00, back at 09:20.
    assert_eq!(Doing::of(1), Doing::Break);
    apply(
        &store,
        &[change(INSTANCE, 1, Doing::Break, "2026-12-04T09:00:00.000Z", Doing::Available, "2026-12-04T09:20:00.000Z")],
    )
    .await;
    let service = service(store, Duration::ZERO);
    let id = agent_arn(INSTANCE, 1).rsplit('/').next().unwrap().to_owned();
    let response = service.respond(&get(&format!("/api/agents/{id}/history?hours=4"))).await;
    assert_eq!(response.status(), 200);
    let history = json_of(&response);
    assert_eq!(history["username"], username(1));
    assert_eq!(history["current"]["activity"], "AVAILABLE");
    assert_eq!(history["from"], "2026-12-04T05:30:00.000Z");
    let episodes = history["episodes"].as_array().unwrap();
    let names: Vec<&str> = episodes.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Available", "Break"], "{history}");
    assert_eq!(episodes[1]["start"], "2026-12-04T09:00:00.000Z");
    assert_eq!(episodes[1]["end"], "2026-12-04T09:20:00.000Z");
    assert_eq!(episodes[1]["duration_ms"], 20 * 60 * 1000);

    let unknown = service.respond(&get("/api/agents/00000000-0000-4000-8000-999999999999/history")).await;
    assert_eq!(unknown.status(), 404);
    for bad in [
        "/api/agents/x/history?hours=0",
        "/api/agents/x/history?hours=25",
        "/api/agents/x/history?hours=many",
        "/api/agents/a%2Fb/history",
    ] {
        assert_eq!(service.respond(&get(bad)).await.status(), 400, "{bad}");
    }
}

macro_rules! on_memory {
    ($($name:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(memory()).await;
                }
            )*
        }
    };
}

macro_rules! on_moto {
    ($($name:ident),* $(,)?) => {
        mod moto {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                #[ignore = "needs moto: run scripts/test.sh"]
                async fn $name() {
                    super::$name(agent_state::testing::moto_table(stringify!($name)).await).await;
                }
            )*
        }
    };
}

on_memory!(
    every_agent_with_activity_since_contacts_and_counts,
    filters_narrow_the_board_and_its_counts,
    an_unchanged_board_is_304_and_a_change_shows_after_the_cache,
    the_history_has_the_agents_episodes,
);

on_moto!(
    every_agent_with_activity_since_contacts_and_counts,
    filters_narrow_the_board_and_its_counts,
    an_unchanged_board_is_304_and_a_change_shows_after_the_cache,
    the_history_has_the_agents_episodes,
);

// ---------------------------------------------------------------------------------------------------------------
// Reads, cache, errors, encoding.

#[tokio::test]
async fn twenty_screens_within_the_cache_window_cost_one_index_query_and_never_a_scan() {
    let recorder = Recorder::default();
    let store = Intercepted::new(memory(), recorder.clone());
    fleet(&store, INSTANCE, 50).await;
    recorder.calls.lock().unwrap().clear();
    let service = service(store, Duration::from_millis(2000));
    for screen in 0..20 {
        let team = TEAMS[screen % 4].0.replace(' ', "%20");
        assert_eq!(service.respond(&get(&format!("/api/board?team={team}"))).await.status(), 200);
    }
    let calls = recorder.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].starts_with("Query") && calls[0].contains("by-instance"), "{calls:?}");
    assert_eq!(service.stats.cache_hits.load(std::sync::atomic::Ordering::Relaxed), 19);
}

#[tokio::test]
async fn without_a_cache_every_poll_reads_and_the_history_reads_the_agents_partition_only() {
    let recorder = Recorder::default();
    let store = Intercepted::new(memory(), recorder.clone());
    fleet(&store, INSTANCE, 5).await;
    recorder.calls.lock().unwrap().clear();
    let service = service(store, Duration::ZERO);
    for _ in 0..3 {
        service.respond(&get("/api/board")).await;
    }
    let id = agent_arn(INSTANCE, 1).rsplit('/').next().unwrap().to_owned();
    service.respond(&get(&format!("/api/agents/{id}/history"))).await;
    let calls = recorder.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert!(calls.iter().all(|c| c.starts_with("Query")), "only queries: {calls:?}");
    assert!(calls[3].contains("HIST#") && calls[3].contains(&id), "{calls:?}");
}

#[tokio::test]
async fn a_table_that_cannot_be_read_is_503_and_the_next_poll_reads_again() {
    let recorder = Recorder::default();
    let store = Intercepted::new(memory(), recorder.clone());
    fleet(&store, INSTANCE, 3).await;
    let service = service(store, Duration::from_millis(2000));
    *recorder.fail.lock().unwrap() = true;
    let response = service.respond(&get("/api/board")).await;
    assert_eq!(response.status(), 503);
    assert!(json_of(&response)["error"].as_str().unwrap().contains("agent table"));
    *recorder.fail.lock().unwrap() = false;
    assert_eq!(service.respond(&get("/api/board")).await.status(), 200, "a failure is not cached");
}

#[tokio::test]
async fn bad_requests_are_named() {
    let store = memory();
    let no_default = BoardService::new(
        store.clone(),
        ManualClock::at("2026-12-04T09:30:00.000Z"),
        PageConfig::default(),
        None,
        Duration::ZERO,
    );
    let r = no_default.respond(&get("/api/board")).await;
    assert_eq!(r.status(), 400);
    assert!(json_of(&r)["error"].as_str().unwrap().contains("instance"));
    assert_eq!(no_default.respond(&get(&format!("/api/board?instance={INSTANCE}"))).await.status(), 200);
    assert_eq!(no_default.respond(&get("/api/board?instance=arn:aws:s3:::x")).await.status(), 400);
    let service = service(store, Duration::ZERO);
    assert_eq!(service.respond(&get("/api/nothing")).await.status(), 404);
    assert_eq!(service.respond(&get("/etc/passwd")).await.status(), 404);
    let post = http::Request::builder().method("POST").uri("/api/board").body(()).unwrap();
    assert_eq!(service.respond(&post).await.status(), 405);
}

#[tokio::test]
async fn the_page_and_its_config_are_served_and_bodies_are_compressed_when_asked() {
    let service = service(memory(), Duration::ZERO);
    let page = service.respond(&get("/")).await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(body_of(&page), agent_board::service::PAGE.as_bytes());
    let csp = header(&page, "content-security-policy");
    assert!(csp.starts_with("default-src 'none'; script-src 'sha256-"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let config = json_of(&service.respond(&get("/config.json")).await);
    assert_eq!(config["thresholds"]["Break"]["red_minutes"], 30.0);
    assert_eq!(config["auth"], serde_json::Value::Null);

    fleet(service_store(&service), INSTANCE, 40).await;
    let plain = service.respond(&get("/api/board")).await;
    let gzip = service.respond(&get_with("/api/board", &[("accept-encoding", "br, gzip;q=0.8")])).await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(header(&gzip, "content-encoding"), "gzip");
    assert!(gzip.body().len() * 4 < plain.body().len(), "{} vs {}", gzip.body().len(), plain.body().len());
    assert_eq!(body_of(&gzip), *plain.body());
    assert_eq!(header(&gzip, "etag"), header(&plain, "etag"), "the tag names the content, not its encoding");
    let refused = service.respond(&get_with("/api/board", &[("accept-encoding", "gzip;q=0")])).await;
    assert!(refused.headers().get("content-encoding").is_none());
}

#[test]
fn the_policy_allows_exactly_the_pages_own_inline_script_and_style() {
    let page = "<html><style>a{}</style><script>go()</script><script type=module>x</script></html>";
    let csp = agent_board::service::content_security_policy(page);
    // printf 'go()' | openssl dgst -sha256 -binary | base64, and likewise for the others.
    let b64 = |s: &str| {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s.as_bytes()))
    };
    assert!(csp.contains(&format!("script-src 'sha256-{}' 'sha256-{}';", b64("go()"), b64("x"))), "{csp}");
    assert!(csp.contains(&format!("style-src 'sha256-{}';", b64("a{}"))), "{csp}");
    assert_eq!(b64("go()").len(), 44);
    assert!(agent_board::service::content_security_policy("<p>no scripts</p>").contains("script-src 'none'"));
}

fn service_store<S: ItemStore, C: shared::clock::Clock>(service: &BoardService<S, C>) -> &S {
    service.store()
}

// ---------------------------------------------------------------------------------------------------------------
// The front door: API Gateway HTTP API (payload format 2.0, JWT authorizer) → front.rs → the service.

/// An API Gateway HTTP API event as the JWT-authorized `GET /api/{proxy+}` route sends it.
fn api_gateway_event(raw_path: &str, raw_query: &str, headers: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "version": "2.0",
        "routeKey": "GET /api/{proxy+}",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "queryStringParameters": form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect::<std::collections::HashMap<String, String>>(),
        "pathParameters": {"proxy": raw_path.trim_start_matches("/api/")},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": {"jwt": {"claims": {"sub": "user-1", "client_id": "board", "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x"}, "scopes": ["openid"]}},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": "GET", "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "wallboard"},
            "requestId": "id-1",
            "routeKey": "GET /api/{proxy+}",
            "stage": "$default",
            "time": "04/Dec/2026:09:30:00 +0000",
            "timeEpoch": 1796376600000_i64
        },
        "isBase64Encoded": false
    })
}

async fn through_api_gateway<S: ItemStore, C: shared::clock::Clock>(
    service: &BoardService<S, C>,
    event: serde_json::Value,
) -> aws_lambda_events::apigw::ApiGatewayV2httpResponse {
    let event = serde_json::from_value(event).expect("an HTTP API v2 event");
    let response = agent_board::front::answer(service, event).await;
    // What goes back to API Gateway is this JSON.
    let wire = serde_json::to_value(&response).expect("serialises");
    assert_eq!(wire["statusCode"], response.status_code);
    response
}

fn binary(response: &aws_lambda_events::apigw::ApiGatewayV2httpResponse) -> Vec<u8> {
    assert!(response.is_base64_encoded, "a compressed body goes as base64");
    match &response.body {
        Some(aws_lambda_events::encodings::Body::Binary(b)) => b.clone(),
        other => panic!("binary body expected: {other:?}"),
    }
}

fn text(response: &aws_lambda_events::apigw::ApiGatewayV2httpResponse) -> String {
    assert!(!response.is_base64_encoded);
    match &response.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => t.clone(),
        other => panic!("text body expected: {other:?}"),
    }
}

async fn the_function_answers_api_gateways_events<S: ItemStore + Clone>(store: S) {
    fleet(&store, INSTANCE, 12).await;
    let service = service(store, Duration::from_millis(2000));
    let event = api_gateway_event("/api/board", "", serde_json::json!({"accept-encoding": "gzip, deflate"}));
    let response = through_api_gateway(&service, event).await;
    assert_eq!(response.status_code, 200);
    assert_eq!(response.headers["content-encoding"], "gzip");
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(binary(&response).as_slice()), &mut json).unwrap();
    let board: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(board["agents"].as_array().unwrap().len(), 12);

    // The query string reaches the filters.
    let event = api_gateway_event("/api/board", "team=Team%20Blue&activity=AVAILABLE,Break", serde_json::json!({}));
    let response = through_api_gateway(&service, event).await;
    assert_eq!(response.status_code, 200);
    let board: serde_json::Value = serde_json::from_str(&text(&response)).unwrap();
    let agents = board["agents"].as_array().unwrap();
    // Team Blue is i % 4 == 0: i = 0 (available), 4 (logged out), 8 (on contact) → only agent 0 passes the filter.
    assert_eq!(agents.len(), 1, "{board}");
    assert_eq!(agents[0]["username"], username(0));
    let etag = response.headers["etag"].to_str().unwrap().to_owned();

    let event = api_gateway_event(
        "/api/board",
        "team=Team%20Blue&activity=AVAILABLE,Break",
        serde_json::json!({"if-none-match": etag}),
    );
    let response = through_api_gateway(&service, event).await;
    assert_eq!(response.status_code, 304);
    assert!(response.body.is_none());

    let id = agent_arn(INSTANCE, 0).rsplit('/').next().unwrap().to_owned();
    let event = api_gateway_event(&format!("/api/agents/{id}/history"), "hours=2", serde_json::json!({}));
    let response = through_api_gateway(&service, event).await;
    assert_eq!(response.status_code, 200);
    let history: serde_json::Value = serde_json::from_str(&text(&response)).unwrap();
    assert_eq!(history["episodes"][0]["name"], "Available", "{history}");

    // Hosts no URL parser would take (an emulator's `<api>.execute-api.127.0.0.1`) change nothing: no URL with a
    // host is ever parsed. A path that is no request target is a 400, not a failure.
    let mut event = api_gateway_event("/config.json", "", serde_json::json!({"host": "abc.execute-api.127.0.0.1"}));
    event["requestContext"]["domainName"] = serde_json::json!("abc.execute-api.127.0.0.1");
    assert_eq!(through_api_gateway(&service, event).await.status_code, 200);
    let bad = api_gateway_event("/api/board", "a=b c", serde_json::json!({}));
    assert_eq!(through_api_gateway(&service, bad).await.status_code, 400);
}

#[tokio::test]
async fn the_function_answers_api_gateways_events_on_memory() {
    the_function_answers_api_gateways_events(memory()).await;
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test.sh"]
async fn the_function_answers_api_gateways_events_on_dynamodb() {
    the_function_answers_api_gateways_events(agent_state::testing::moto_table("front-door").await).await;
}
