//! The webhook handler, fed API Gateway v2 events, enqueueing on a real (LocalStack) FIFO queue.

use chrono::TimeZone;
use hark_shared::adapters::sqs::SqsQueue;
use hark_shared::credentials::Credentials;
use hark_shared::domain::mention::{Direction, Mention};
use hark_tests::{TestClock, aws_config, create_queues, drain, repo_root};
use hark_webhook::{State, handle};
use lambda_http::Body;
use serde_json::Value;

// Vectors from ../shared/platform-contracts.md.
const CONSUMER_SECRET: &str = "z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu";
const ACCOUNT: &str = "2244994945";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures").join(name)).unwrap()
}

fn request(event_json: &str) -> lambda_http::Request {
    lambda_http::request::from_str(event_json).expect("fixture is an API Gateway v2 event")
}

/// A POST built from the delivery fixture with another body and signature.
fn delivery(body: &str, signature: Option<&str>) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(&fixture("apigw_x_delivery.json")).unwrap();
    event["body"] = Value::String(body.to_owned());
    match signature {
        Some(sig) => event["headers"]["x-twitter-webhooks-signature"] = Value::String(sig.to_owned()),
        None => {
            event["headers"].as_object_mut().unwrap().remove("x-twitter-webhooks-signature");
        }
    }
    request(&event.to_string())
}

async fn state(queue_url: &str) -> State<SqsQueue> {
    let aws = aws_config().await;
    State {
        queue: SqsQueue::from_config(&aws, queue_url),
        channels: hark_shared::channels::Inbound::new(
            &Credentials::from_json(
                &serde_json::json!({"x": {"accounts": {ACCOUNT: {"consumer_secret": CONSUMER_SECRET}}}}).to_string(),
            )
            .unwrap(),
        ),
        max_body_bytes: 4096,
        clock: Box::new(TestClock::at(chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap())),
    }
}

fn body_json(response: &lambda_http::Response<Body>) -> Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("expected a text body, got {other:?}"),
    }
}

#[tokio::test]
async fn crc_challenge_answers_with_the_published_token() {
    let state = state("http://127.0.0.1:9/unused").await;
    let response = handle(&state, request(&fixture("apigw_x_crc.json"))).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response)["response_token"], "sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8=");

    let mut event: Value = serde_json::from_str(&fixture("apigw_x_crc.json")).unwrap();
    event["queryStringParameters"] = serde_json::json!({});
    event["rawQueryString"] = Value::String(String::new());
    let response = handle(&state, request(&event.to_string())).await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(body_json(&response)["error"].as_str().unwrap().contains("crc_token"));
}

#[tokio::test]
async fn signed_delivery_is_enqueued_once_with_group_and_deduplication_ids() {
    let aws = aws_config().await;
    let queues = create_queues(&aws, 30, 3).await;
    let state = state(&queues.url).await;

    let response = handle(&state, request(&fixture("apigw_x_delivery.json"))).await.unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(body_json(&response)["enqueued"], 1);
    // X redelivers: the FIFO deduplication id absorbs the repeat.
    let again = handle(&state, request(&fixture("apigw_x_delivery_base64.json"))).await.unwrap();
    assert_eq!(again.status(), 200, "{:?}", again.body());

    let messages = drain(&aws, &queues.url).await;
    assert_eq!(messages.len(), 1);
    let attributes = messages[0].attributes().unwrap();
    let attr = |name: &str| attributes[&aws_sdk_sqs::types::MessageSystemAttributeName::from(name)].clone();
    assert_eq!(attr("MessageGroupId"), "x:2244994945:123");
    assert_eq!(attr("MessageDeduplicationId"), "x:2244994945:1500000000000000001");
    let mention: Mention = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(mention.direction, Direction::Inbound);
    assert_eq!(mention.text, "@acme help");
    assert_eq!(mention.raw_ref, "apigw:req-fixture-1#tweet0");
}

#[tokio::test]
async fn unverifiable_or_bad_deliveries_are_refused_and_nothing_is_enqueued() {
    let aws = aws_config().await;
    let queues = create_queues(&aws, 30, 3).await;
    let state = state(&queues.url).await;
    let body = r#"{"for_user_id":"2244994945","tweet_create_events":[{"id_str":"1500000000000000001","text":"@acme help","user":{"id_str":"123","screen_name":"alice"},"in_reply_to_status_id_str":null}]}"#;
    let good = "sha256=pX9gsymmIC3e8FcR5+SOBR9IRN7FNYikc+ODnZPwWLs=";
    let signed = |body: &str| hark_shared::channels::x::sign(CONSUMER_SECRET, body.as_bytes());
    let other_account = body.replace(ACCOUNT, "999");

    let cases: Vec<(&str, lambda_http::Request, u16, &str)> = vec![
        // Before the signature checks out every refusal is the same answer.
        ("tampered body", delivery(&body.replace("help", "hello"), Some(good)), 401, "unauthorized"),
        ("missing signature", delivery(body, None), 401, "unauthorized"),
        ("malformed signature", delivery(body, Some("md5=abc")), 401, "unauthorized"),
        ("unsigned malformed JSON", delivery("{\"for_user_id\": ", Some(good)), 401, "unauthorized"),
        // Signed by the app, for an account Hark holds no secret for.
        ("account without secret", delivery(&other_account, Some(&signed(&other_account))), 401, "unauthorized"),
        (
            "signed malformed JSON",
            delivery("{\"for_user_id\": ", Some(&signed("{\"for_user_id\": "))),
            400,
            "malformed",
        ),
        ("too large", delivery(&" ".repeat(5000), Some(good)), 413, "exceeds the limit"),
    ];
    for (name, request, status, message) in cases {
        let response = handle(&state, request).await.unwrap();
        assert_eq!(response.status(), status, "{name}: {:?}", response.body());
        let error = body_json(&response)["error"].as_str().unwrap().to_owned();
        assert!(error.contains(message), "{name}: {error}");
        assert!(!error.contains(CONSUMER_SECRET), "{name} leaks the secret");
    }
    assert!(drain(&aws, &queues.url).await.is_empty(), "nothing may be enqueued");
}

#[tokio::test]
async fn enqueue_failure_answers_5xx_so_x_retries() {
    let missing = format!("{}/queue/us-east-1/000000000000/no-such-queue.fifo", hark_tests::engines().aws);
    let state = state(&missing).await;
    let response = handle(&state, request(&fixture("apigw_x_delivery.json"))).await.unwrap();
    assert_eq!(response.status(), 503, "{:?}", response.body());
    // The queue's name and the emulator's endpoint stay in the logs, not in the answer.
    let error = body_json(&response)["error"].as_str().unwrap().to_owned();
    assert_eq!(error, "temporarily unavailable, please retry");
}

#[tokio::test]
async fn path_account_must_be_known_and_match_the_body() {
    let state = state("http://127.0.0.1:9/unused").await;
    let at_path = |path: &str, body: &str| {
        let mut event: Value = serde_json::from_str(&fixture("apigw_x_delivery.json")).unwrap();
        event["rawPath"] = Value::String(path.into());
        event["requestContext"]["http"]["path"] = Value::String(path.into());
        event["body"] = Value::String(body.into());
        event["isBase64Encoded"] = Value::Bool(false);
        event["headers"]["x-twitter-webhooks-signature"] =
            Value::String(hark_shared::channels::x::sign(CONSUMER_SECRET, body.as_bytes()));
        request(&event.to_string())
    };
    let body = r#"{"for_user_id":"999","tweet_create_events":[]}"#;
    // An account Hark does not know is refused like a bad signature.
    assert_eq!(handle(&state, at_path("/webhooks/x/42", body)).await.unwrap().status(), 401);
    // A known account's URL carrying another account's delivery.
    let response = handle(&state, at_path(&format!("/webhooks/x/{ACCOUNT}"), body)).await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(body_json(&response)["error"].as_str().unwrap().contains("names account"));
    assert_eq!(handle(&state, at_path("/webhooks/x/abc", body)).await.unwrap().status(), 400);
    assert_eq!(handle(&state, at_path("/elsewhere", body)).await.unwrap().status(), 404);
}

async fn meta_state(queue_url: &str) -> State<SqsQueue> {
    let aws = aws_config().await;
    let credentials = serde_json::json!({ "meta": hark_tests::meta_credentials_json() }).to_string();
    State {
        queue: SqsQueue::from_config(&aws, queue_url),
        channels: hark_shared::channels::Inbound::new(&Credentials::from_json(&credentials).unwrap()),
        max_body_bytes: 64 * 1024,
        clock: Box::new(TestClock::at(chrono::Utc::now())),
    }
}

fn text_body(response: &lambda_http::Response<Body>) -> String {
    match response.body() {
        Body::Text(text) => text.clone(),
        other => panic!("expected a text body, got {other:?}"),
    }
}

#[tokio::test]
async fn meta_handshake_answers_only_a_configured_verify_token_with_a_numeric_challenge() {
    use hark_tests::{META_APP, META_VERIFY_TOKEN, apigw_request};
    let state = meta_state("http://127.0.0.1:9/unused").await;
    let handshake = |path: &str, token: &str, challenge: &str| {
        let query = format!("hub.mode=subscribe&hub.verify_token={token}&hub.challenge={challenge}");
        apigw_request("GET", path, &query, &[], b"")
    };
    let response = handle(&state, handshake("/webhooks/meta", META_VERIFY_TOKEN, "1158201444")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(text_body(&response), "1158201444");
    let at_app = format!("/webhooks/meta/{META_APP}");
    assert_eq!(handle(&state, handshake(&at_app, META_VERIFY_TOKEN, "42")).await.unwrap().status(), 200);

    // A challenge is echoed only as digits: never a string an attacker chose.
    let cases = [
        ("wrong token", handshake("/webhooks/meta", "guess", "1158201444"), 403),
        ("JSON as challenge", handshake("/webhooks/meta", META_VERIFY_TOKEN, "%7B%22object%22%3A1%7D"), 400),
        ("unknown app", handshake("/webhooks/meta/999", META_VERIFY_TOKEN, "1"), 401),
    ];
    for (name, request, status) in cases {
        let response = handle(&state, request).await.unwrap();
        assert_eq!(response.status(), status, "{name}: {:?}", response.body());
        assert!(!format!("{:?}", response.body()).contains(META_VERIFY_TOKEN), "{name}");
    }
}

#[tokio::test]
async fn a_signed_meta_batch_for_two_pages_enqueues_every_event_and_a_reserialised_one_is_refused() {
    use hark_shared::channels::meta::inbound::sign;
    use hark_tests::{META_APP_SECRET, OTHER_PAGE, PAGE, apigw_request, graph_api, graph_api::delivery_body};
    let aws = aws_config().await;
    let queues = create_queues(&aws, 30, 3).await;
    let state = meta_state(&queues.url).await;
    let graph = graph_api().await;
    let post = graph.page_post(PAGE, "Winter schedule");
    let other_post = graph.page_post(OTHER_PAGE, "Cargo rates");
    let events = [
        graph.comment(PAGE, &post, ("6100000000001", "Zoë"), "vol annulé à Lisbonne ✈️, aidez-moi"),
        graph.comment(OTHER_PAGE, &other_post, ("6100000000002", "Sam"), "my pallet is stuck in customs"),
        graph.message(PAGE, "6100000000003", "hello, where is my bag?"),
    ];
    let body = delivery_body(&events).unwrap();
    assert!(body.contains("\\u00eb") && body.contains("\\u2708"), "Meta escapes non-ASCII: {body}");
    let post_body = |body: &str, signature: &str| {
        apigw_request("POST", "/webhooks/meta", "", &[("x-hub-signature-256", signature)], body.as_bytes())
    };

    // The same events signed over a re-serialised body (what a careless verifier would
    // compare against) and over a tampered one are refused; nothing is enqueued.
    let reserialised = serde_json::to_string(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    assert_ne!(reserialised, body);
    let signature = sign(META_APP_SECRET, body.as_bytes());
    for (name, request) in [
        ("re-serialised", post_body(&reserialised, &signature)),
        ("tampered", post_body(&body.replace("customs", "custom"), &signature)),
        ("other secret", post_body(&body, &sign("not-the-app-secret", body.as_bytes()))),
        ("sha1 only", post_body(&body, "sha1=0123456789abcdef0123456789abcdef01234567")),
    ] {
        assert_eq!(handle(&state, request).await.unwrap().status(), 401, "{name}");
    }
    assert!(drain(&aws, &queues.url).await.is_empty());

    let response = handle(&state, post_body(&body, &signature)).await.unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.body());
    let enqueued: Vec<Mention> =
        drain(&aws, &queues.url).await.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect();
    let mut ids: Vec<&str> = enqueued.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    let mut expected: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(ids, expected, "every entry of the batch, not only the first");
    let accounts: std::collections::BTreeSet<&str> = enqueued.iter().map(|m| m.account_id.as_str()).collect();
    assert_eq!(accounts, [OTHER_PAGE, PAGE].into_iter().collect());
    let zoe = enqueued.iter().find(|m| m.author.name.as_deref() == Some("Zoë")).unwrap();
    assert_eq!(zoe.text, "vol annulé à Lisbonne ✈️, aidez-moi", "the escaped text reads back as written");
}
