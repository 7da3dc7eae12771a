//! The HTTP API's handler, fed API Gateway v2 events, over DynamoDB Local: conversations the
//! real processor stored, read back with keys made as `hark api-key create` makes them.

use chrono::{DateTime, TimeZone, Utc};
use hark_api::{State, handle};
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::domain::api_key::{Scope, new_key};
use hark_shared::ports::ApiKeyStore;
use hark_tests::*;
use lambda_http::Body;
use serde_json::Value;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

struct Fixture {
    state: State<DynamoStore>,
    processor: TestProcessor,
    read_key: String,
    reply_only_key: String,
    revoked_key: String,
}

async fn fixture() -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let processor = processor(&aws, &table, &x_api, TestClock::at(t0()));
    let store = DynamoStore::from_config(&aws, &table);
    let mut keys = Vec::new();
    for (seed, scopes) in [(1u8, vec![Scope::Read]), (2, vec![Scope::Reply]), (3, vec![Scope::Read, Scope::Reply])] {
        let random: [u8; 40] = std::array::from_fn(|i| seed.wrapping_mul(53).wrapping_add(i as u8));
        let (key, record) = new_key(&random, "tests", &scopes, Utc::now()).unwrap();
        store.put_api_key(&record).await.unwrap();
        keys.push((key, record.id));
    }
    assert!(store.revoke_api_key(&keys[2].1, Utc::now()).await.unwrap());
    let mut keys = keys.into_iter().map(|(key, _)| key);
    Fixture {
        state: State { store },
        processor,
        read_key: keys.next().unwrap(),
        reply_only_key: keys.next().unwrap(),
        revoked_key: keys.next().unwrap(),
    }
}

async fn get(f: &Fixture, path: &str, key: Option<&str>) -> (u16, Value) {
    let bearer = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("authorization", b.as_str())).collect();
    let response = handle(&f.state, apigw_request("GET", path, "", &headers, b"")).await.unwrap();
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("expected JSON text, got {other:?}"),
    };
    (status, body)
}

/// Every property the OpenAPI document calls required is in `value`, and nothing it does
/// not name: the document and the code cannot drift apart.
fn matches_schema(document: &Value, schema: &str, value: &Value) {
    let schema = &document["components"]["schemas"][schema];
    let object = value.as_object().unwrap_or_else(|| panic!("{value} is not an object"));
    for required in schema["required"].as_array().unwrap() {
        assert!(object.contains_key(required.as_str().unwrap()), "{required} missing from {value}");
    }
    for key in object.keys() {
        assert!(schema["properties"].get(key).is_some(), "{key} is not in the document");
    }
}

#[tokio::test]
async fn a_conversation_reads_back_with_its_classification_sla_and_acknowledgement() {
    let f = fixture().await;
    let complaint = mention("1001", "501", "@acme my card 4111 1111 1111 1111 was charged twice, fix it", t0());
    assert!(f.processor.handle(sqs_event(&[("sqs-1", &complaint)])).await.batch_item_failures.is_empty());
    let id = format!("x:{BRAND}:1001");

    for path in [format!("/v1/conversations/{id}"), format!("/v1/conversations/{}", id.replace(':', "%3A"))] {
        let (status, body) = get(&f, &path, Some(&f.read_key)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["status"], "awaiting_reply");
        assert_eq!(body["customer"]["handle"], "user501");
        assert_eq!(body["sla"]["escalation_level"], 0);
        let message = &body["messages"][0];
        assert_eq!(message["intent"], "complaint");
        assert!(!message["text"].as_str().unwrap().contains("4111"), "shown redacted: {message}");
        assert_eq!(message["redacted"], serde_json::json!(["card_number"]));
        assert_eq!(body["outbound"][0]["status"], "sent");

        let (status, document) = get(&f, "/v1/openapi.json", Some(&f.read_key)).await;
        assert_eq!(status, 200);
        matches_schema(&document, "Conversation", &body);
        matches_schema(&document, "Message", message);
        matches_schema(&document, "Outbound", &body["outbound"][0]);
        matches_schema(&document, "Sla", &body["sla"]);
        matches_schema(&document, "Customer", &body["customer"]);
    }
}

#[tokio::test]
async fn every_route_needs_a_valid_key_with_its_scope() {
    let f = fixture().await;
    let path = format!("/v1/conversations/x:{BRAND}:404");
    let forged = format!("{}AAAA", &f.read_key[..f.read_key.len() - 4]);
    let cases = [
        ("no key", None, 401, "unauthorized"),
        ("forged secret", Some(forged.as_str()), 401, "unauthorized"),
        ("not a key", Some("hunter2"), 401, "unauthorized"),
        ("unknown id", Some("hark_aaaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 401, "unauthorized"),
        ("revoked", Some(f.revoked_key.as_str()), 401, "unauthorized"),
        ("reply scope only", Some(f.reply_only_key.as_str()), 403, "lacks the read scope"),
        ("read scope", Some(f.read_key.as_str()), 404, "no conversation"),
    ];
    for (name, key, status, message) in cases {
        for route in [path.as_str(), "/v1/openapi.json"] {
            let (got, body) = get(&f, route, key).await;
            let expected = if route.ends_with("openapi.json") && status == 404 { 200 } else { status };
            assert_eq!(got, expected, "{name} {route}: {body}");
            if expected != 200 {
                assert!(body["error"].as_str().unwrap().contains(message), "{name}: {body}");
            }
        }
    }
    let (status, body) = get(&f, "/v1/conversations/not-an-id", Some(&f.read_key)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid conversation id")));
    let (status, _) = get(&f, "/v1/conversations/x%3Ab%3A%zz", Some(&f.read_key)).await;
    assert_eq!(status, 400);
    let (status, _) = get(&f, "/v1/elsewhere", Some(&f.read_key)).await;
    assert_eq!(status, 404);
    let response = handle(
        &f.state,
        apigw_request("DELETE", &path, "", &[("authorization", &format!("Bearer {}", f.read_key))], b""),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 405);
}
