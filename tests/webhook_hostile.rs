//! The webhook handler under hostile input: what a sender without the secret, or with a
//! broken or malicious body, can make it sign, store or send. Each case is refused or
//! skipped with a clear answer, nothing is enqueued that should not be, and no log line
//! carries a secret (the logs are captured as the function writes them in Lambda).

use chrono::TimeZone;
use hark_shared::adapters::sqs::SqsQueue;
use hark_shared::channels::x;
use hark_shared::credentials::Credentials;
use hark_tests::{LogCapture, TestClock, apigw_request, aws_config, create_queues, drain};
use hark_webhook::{State, handle};
use lambda_http::Body;
use serde_json::{Value, json};

const SECRET: &str = "hostile-suite-consumer-secret-4b1d";
const ACCOUNT: &str = "2244994945";
const OTHER_APP_SECRET: &str = "another-app-secret-9c2e";
const OTHER_APP_ACCOUNT: &str = "777000777";

async fn state(queue_url: &str) -> State<SqsQueue> {
    State {
        queue: SqsQueue::from_config(&aws_config().await, queue_url),
        channels: hark_shared::channels::Inbound::new(
            &Credentials::from_json(
                &serde_json::json!({"x": {"accounts": {
                    ACCOUNT: {"consumer_secret": SECRET},
                    OTHER_APP_ACCOUNT: {"consumer_secret": OTHER_APP_SECRET}}}})
                .to_string(),
            )
            .unwrap(),
        ),
        max_body_bytes: 256 * 1024,
        clock: Box::new(TestClock::at(chrono::Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap())),
    }
}

fn post(path: &str, body: &[u8], signature: Option<String>) -> lambda_http::Request {
    let mut headers = vec![("content-type", "application/json")];
    let signature = signature.unwrap_or_default();
    if !signature.is_empty() {
        headers.push(("x-twitter-webhooks-signature", signature.as_str()));
    }
    apigw_request("POST", path, "", &headers, body)
}

fn signed(body: &[u8]) -> Option<String> {
    Some(x::sign(SECRET, body))
}

fn tweet(id: &str, text: &str) -> Value {
    json!({"id_str": id, "text": text, "user": {"id_str": "123", "screen_name": "alice"}})
}

fn delivery(events: Vec<Value>) -> Vec<u8> {
    json!({"for_user_id": ACCOUNT, "tweet_create_events": events}).to_string().into_bytes()
}

async fn answer(state: &State<SqsQueue>, request: lambda_http::Request) -> (u16, Value) {
    let response = handle(state, request).await.unwrap();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        other => panic!("unexpected body {other:?}"),
    };
    (response.status().as_u16(), body)
}

#[tokio::test]
async fn hostile_deliveries_are_refused_or_skipped_and_never_enqueued() {
    let logs = LogCapture::start();
    let aws = aws_config().await;
    let queues = create_queues(&aws, 30, 3).await;
    let state = state(&queues.url).await;
    let route = "/webhooks/x";
    let good = delivery(vec![tweet("1500000000000000001", "@acme my bag is lost")]);

    let deep = format!(
        r#"{{"for_user_id":"{ACCOUNT}","tweet_create_events":[{}{}]}}"#,
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let many: Vec<Value> = (0..40_000).map(|_| json!({})).collect();
    let huge_array = delivery(many);
    let mut binary: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    binary[0] = 0xff;
    let invalid_utf8 = [b"{\"for_user_id\":\"".as_slice(), &[0xc3, 0x28], b"\"}"].concat();
    let duplicate_keys = format!(r#"{{"for_user_id":"{ACCOUNT}","for_user_id":"{OTHER_APP_ACCOUNT}"}}"#).into_bytes();
    let for_unknown = json!({"for_user_id": "31337", "tweet_create_events": [tweet("1500000000000000009", "hi")]})
        .to_string()
        .into_bytes();
    let oversized = delivery(vec![tweet("1500000000000000002", &"a".repeat(300 * 1024))]);
    let other_app_body =
        json!({"for_user_id": OTHER_APP_ACCOUNT, "tweet_create_events": [tweet("1500000000000000003", "hi")]})
            .to_string()
            .into_bytes();

    // (case, request, expected status, expected text in the answer)
    let cases: Vec<(&str, lambda_http::Request, u16, &str)> = vec![
        ("unsigned", post(route, &good, None), 401, "unauthorized"),
        ("wrong signature", post(route, &good, Some(x::sign("guess", &good))), 401, "unauthorized"),
        ("signature of another body", post(route, &good, signed(b"{}")), 401, "unauthorized"),
        ("signature not base64", post(route, &good, Some("sha256=%%%".into())), 401, "unauthorized"),
        ("signature in hex", post(route, &good, Some(format!("sha256={}", "ab".repeat(32)))), 401, "unauthorized"),
        ("ambiguous app without account in URL", post(route, &good, signed(&good)), 401, "unauthorized"),
        ("unknown account in URL", post("/webhooks/x/31337", &good, signed(&good)), 401, "unauthorized"),
        (
            "another app's secret for this account",
            post(&format!("/webhooks/x/{ACCOUNT}"), &good, Some(x::sign(OTHER_APP_SECRET, &good))),
            401,
            "unauthorized",
        ),
        (
            "this app's signature on another app's account",
            post(&format!("/webhooks/x/{ACCOUNT}"), &other_app_body, signed(&other_app_body)),
            400,
            "names account",
        ),
        (
            "signed for an account with no secret",
            post(&format!("/webhooks/x/{ACCOUNT}"), &for_unknown, signed(&for_unknown)),
            400,
            "names account",
        ),
        ("oversized", post(&format!("/webhooks/x/{ACCOUNT}"), &oversized, signed(&oversized)), 413, "exceeds"),
        ("binary, unsigned", post(&format!("/webhooks/x/{ACCOUNT}"), &binary, None), 401, "unauthorized"),
        ("binary, signed", post(&format!("/webhooks/x/{ACCOUNT}"), &binary, signed(&binary)), 400, "malformed"),
        (
            "invalid UTF-8, signed",
            post(&format!("/webhooks/x/{ACCOUNT}"), &invalid_utf8, signed(&invalid_utf8)),
            400,
            "malformed",
        ),
        (
            "duplicate keys, signed",
            post(&format!("/webhooks/x/{ACCOUNT}"), &duplicate_keys, signed(&duplicate_keys)),
            400,
            "repeats the key",
        ),
        ("empty body, signed", post(&format!("/webhooks/x/{ACCOUNT}"), b"", signed(b"")), 400, "malformed"),
        ("wrong method", apigw_request("PUT", route, "", &[], b""), 405, "not allowed"),
        ("bad account segment", post("/webhooks/x/..%2Fetc", &good, signed(&good)), 400, "invalid account"),
    ];
    for (case, request, status, text) in cases {
        let (got, body) = answer(&state, request).await;
        assert_eq!(got, status, "{case}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(text), "{case}: {error}");
        assert!(error.len() < 300, "{case}: answers stay short");
    }

    // Signed and readable, but nothing in them is a mention: 200 with every event skipped.
    for (case, body) in [("deep nesting", deep.into_bytes()), ("huge array of junk events", huge_array)] {
        let (got, answer) = answer(&state, post(&format!("/webhooks/x/{ACCOUNT}"), &body, signed(&body))).await;
        assert_eq!(got, 200, "{case}: {answer}");
        assert_eq!(answer["enqueued"], 0, "{case}");
        assert!(answer["skipped"].as_u64().unwrap() >= 1, "{case}");
    }
    assert!(drain(&aws, &queues.url).await.is_empty(), "nothing may be enqueued");

    // The control: the same route accepts the genuine article.
    let (got, body) = answer(&state, post(&format!("/webhooks/x/{ACCOUNT}"), &good, signed(&good))).await;
    assert_eq!((got, body["enqueued"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(drain(&aws, &queues.url).await.len(), 1);

    let text = logs.text();
    assert!(text.contains("webhook refused"), "refusals are logged");
    for secret in [SECRET, OTHER_APP_SECRET] {
        assert!(!text.contains(secret), "a log line carries a secret");
    }
}

#[tokio::test]
async fn crc_tokens_of_every_shape() {
    let logs = LogCapture::start();
    let state = state("http://127.0.0.1:9/unused").await;
    let crc = |path: &str, query: &str| apigw_request("GET", path, query, &[], b"");
    let forged = String::from_utf8(delivery(vec![tweet("1500000000000000001", "@mallory says hi")])).unwrap();
    let encoded_forgery = serde_urlencoded::to_string([("crc_token", forged.as_str())]).unwrap();
    let path = format!("/webhooks/x/{ACCOUNT}");
    let cases: Vec<(String, u16)> = vec![
        (encoded_forgery, 400),
        ("crc_token=".into(), 400),
        ("crc_token=%7B%7D".into(), 400),
        ("crc_token=a%20b".into(), 400),
        ("crc_token=%00abc".into(), 400),
        ("crc_token=%C3%A9t%C3%A9".into(), 400),
        (format!("crc_token={}", "a".repeat(129)), 400),
        ("nothing=here".into(), 400),
        ("crc_token=9b4507b3-9040-4669-9ca3-6b94edb50553".into(), 200),
        ("crc_token=NDI0OTI4OTktMjc2Yi00ZWQy%2B%2F%3D".into(), 200),
    ];
    for (query, status) in cases {
        let (got, body) = answer(&state, crc(&path, &query)).await;
        assert_eq!(got, status, "{query}: {body}");
        if status == 200 {
            let token = serde_urlencoded::from_str::<Vec<(String, String)>>(&query).unwrap().remove(0).1;
            let expected = x::crc_response(SECRET, x::CrcToken::parse(&token).unwrap());
            assert_eq!(body, expected);
        }
    }
    // Unknown accounts and an ambiguous app look exactly like each other.
    let unknown = answer(&state, crc("/webhooks/x/31337", "crc_token=abc")).await;
    let ambiguous = answer(&state, crc("/webhooks/x", "crc_token=abc")).await;
    assert_eq!(unknown, ambiguous);
    assert_eq!(unknown.0, 401);
    assert!(!logs.text().contains(SECRET));
}
