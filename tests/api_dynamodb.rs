//! The HTTP API's handler, fed API Gateway v2 events, over DynamoDB Local: conversations the
//! real processor stored, read back with keys made as `hark api-key create` makes them.

use chrono::{DateTime, TimeZone, Utc};
use hark_api::{State, handle};
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::domain::api_key::{Scope, new_key};
use hark_shared::domain::reply::{DEFAULT_FOLLOW_UP, FollowUpTemplates};
use hark_shared::ports::ApiKeyStore;
use hark_tests::*;
use lambda_http::Body;
use serde_json::{Value, json};

const ZENDESK_SECRET: &str = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
const FRESHDESK_SECRET: &str = "freshdesk-rule-secret-0123456789abcdef";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    x_api: LocalXApi,
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
        aws,
        table,
        x_api,
        state: State {
            store,
            clock: Box::new(TestClock::at(t0() + chrono::TimeDelta::days(20))),
            follow_ups: FollowUpTemplates::new(DEFAULT_FOLLOW_UP, "{}", "^HK").unwrap(),
            desks: hark_shared::helpdesks::DeskSecrets::from_json(
                &serde_json::json!({"zendesk": {"signing_secret": ZENDESK_SECRET, "hark_user_id": "900"},
                                    "freshdesk": {"secret": FRESHDESK_SECRET}})
                .to_string(),
            )
            .unwrap(),
            due_shards: 4,
            follow_up_on_solved: true,
        },
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

#[tokio::test]
async fn conversations_list_newest_first_across_months_filtered_and_paged() {
    let f = fixture().await;
    // Five conversations: three in November, two in October; complaints and a question.
    let october = t0() - chrono::TimeDelta::days(30);
    let cases = [
        ("2001", "601", "@acme my flight was cancelled, this is a disgrace", t0()),
        ("2002", "602", "@acme how do I add a bag?", t0() + chrono::TimeDelta::hours(1)),
        ("2003", "603", "@acme lost my luggage and nobody answers, furious", t0() + chrono::TimeDelta::hours(2)),
        ("2004", "604", "@acme charged twice for my seat, awful", october),
        ("2005", "605", "@acme what time does check-in open?", october + chrono::TimeDelta::hours(1)),
    ];
    for (id, customer, text, at) in cases {
        let m = mention(id, customer, text, at);
        assert!(f.processor.handle(sqs_event(&[(id, &m)])).await.batch_item_failures.is_empty());
    }
    let list = |query: &str| format!("/v1/conversations{query}");
    let ids = |body: &Value| -> Vec<String> {
        body["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
    };
    let x = |n: &str| format!("x:{BRAND}:{n}");

    let (status, all) = get(&f, &list(""), Some(&f.read_key)).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), vec![x("2003"), x("2002"), x("2001"), x("2005"), x("2004")]);
    assert_eq!(all["next_cursor"], Value::Null);
    let (_, document) = get(&f, "/v1/openapi.json", Some(&f.read_key)).await;
    matches_schema(&document, "ConversationPage", &all);
    for conversation in all["conversations"].as_array().unwrap() {
        matches_schema(&document, "ConversationSummary", conversation);
    }

    // Pages of two walk the whole listing once, across the month boundary.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let (status, page) = get(&f, &list(&query), Some(&f.read_key)).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ids(&all), "every conversation once, in order");

    let (_, questions) = get(&f, &list("?min_priority=1&channel=x&status=awaiting_reply"), Some(&f.read_key)).await;
    let priorities: Vec<u64> =
        questions["conversations"].as_array().unwrap().iter().map(|c| c["priority"].as_u64().unwrap()).collect();
    assert!(!priorities.is_empty() && priorities.iter().all(|p| *p >= 1), "{questions}");
    let high = all["conversations"].as_array().unwrap().iter().filter_map(|c| c["priority"].as_u64()).max().unwrap();
    let (_, top) = get(&f, &list(&format!("?min_priority={high}")), Some(&f.read_key)).await;
    assert!(ids(&top).len() < 5 && !ids(&top).is_empty(), "{top}");
    let (_, breached) = get(&f, &list("?breached=true"), Some(&f.read_key)).await;
    assert!(ids(&breached).is_empty(), "nothing escalated in this test: {breached}");
    let (_, not_breached) = get(&f, &list("?breached=false&channel=facebook"), Some(&f.read_key)).await;
    assert!(ids(&not_breached).is_empty());

    for bad in ["?limit=0", "?status=closed", "?cursor=Zm9yZ2Vk", "?channel=tiktok", "?breached=1", "?sort=asc"] {
        let (status, body) = get(&f, &list(bad), Some(&f.read_key)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = get(&f, &list(""), Some(&f.reply_only_key)).await;
    assert_eq!(status, 403);
}

async fn post(f: &Fixture, path: &str, key: &str, body: &[u8]) -> (u16, Value) {
    post_with(f, path, key, &[], body).await.0
}

/// A POST with more headers; also says whether the answer repeats an earlier one.
async fn post_with(f: &Fixture, path: &str, key: &str, headers: &[(&str, &str)], body: &[u8]) -> ((u16, Value), bool) {
    let bearer = format!("Bearer {key}");
    let mut all = vec![("authorization", bearer.as_str())];
    all.extend_from_slice(headers);
    let response = handle(&f.state, apigw_request("POST", path, "", &all, body)).await.unwrap();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("expected JSON text, got {other:?}"),
    };
    ((status, body), replayed)
}

#[tokio::test]
async fn an_agent_s_reply_is_sent_once_per_key_where_the_customer_wrote_and_stops_the_clock() {
    use hark_shared::domain::mention::{Direction, MentionKind};
    let f = fixture().await;
    let complaint = mention("4001", "801", "@acme my parcel is two weeks late, nobody answers", t0());
    let dm = hark_shared::domain::mention::Mention {
        kind: MentionKind::DirectMessage,
        direction: Direction::Inbound,
        ..mention("4002", "802", "where is my refund? order 5521", t0())
    };
    assert!(f.processor.handle(sqs_event(&[("a", &complaint), ("b", &dm)])).await.batch_item_failures.is_empty());
    let acknowledgements = f.x_api.requests().len();
    let public = format!("x:{BRAND}:4001");
    let replies = format!("/v1/conversations/{public}/replies");
    let agent = f.reply_only_key.clone();
    let text = br#"{"text": "Sorry Pat, the courier has it now: it arrives tomorrow."}"#;
    let key = |k: &'static str| [("idempotency-key", k)];

    // Queued once; the same request again is the same reply; another under its key is refused.
    let ((status, queued), replayed) = post_with(&f, &replies, &agent, &key("ticket-77-1"), text).await;
    assert_eq!((status, replayed), (202, false), "{queued}");
    assert_eq!(queued["status"], "pending");
    assert_eq!(queued["target"], serde_json::json!({"type": "post", "in_reply_to": "4001"}));
    let (_, document) = get(&f, "/v1/openapi.json", Some(&f.read_key)).await;
    matches_schema(&document, "Reply", &queued);
    let ((status, again), replayed) = post_with(&f, &replies, &agent, &key("ticket-77-1"), text).await;
    assert_eq!((status, replayed, &again["id"]), (202, true, &queued["id"]), "{again}");
    let other = br#"{"text": "Something else entirely"}"#;
    let ((status, refused), _) = post_with(&f, &replies, &agent, &key("ticket-77-1"), other).await;
    assert_eq!(status, 422, "{refused}");
    assert!(f.x_api.requests().len() == acknowledgements, "the API itself sends nothing");

    // The outbox sends it, once, however often it runs.
    let clock = TestClock::at(t0() + chrono::TimeDelta::days(20) + chrono::TimeDelta::minutes(1));
    let sweeper = sweeper(&f.aws, &f.table, &f.x_api, clock.clone());
    assert_eq!(sweeper.run().await.unwrap().sent, 1);
    clock.set(t0() + chrono::TimeDelta::days(20) + chrono::TimeDelta::minutes(5));
    assert_eq!(sweeper.run().await.unwrap().due, 0);
    let sent = f.x_api.requests();
    assert_eq!(sent.len(), acknowledgements + 1, "{sent:?}");
    let reply = sent.last().unwrap();
    assert_eq!(reply.path, "/2/tweets");
    assert_eq!(reply.body["reply"]["in_reply_to_tweet_id"], "4001");
    assert_eq!(reply.body["text"], "Sorry Pat, the courier has it now: it arrives tomorrow.");
    let ((_, after), replayed) = post_with(&f, &replies, &agent, &key("ticket-77-1"), text).await;
    assert_eq!((replayed, &after["status"]), (true, &Value::from("sent")), "{after}");
    assert_eq!(sweeper.run().await.unwrap().sent, 0);
    assert_eq!(f.x_api.requests().len(), acknowledgements + 1, "nothing sent twice");

    // The customer is answered: the clock stopped, and the reply shows on the conversation.
    let (_, view) = get(&f, &format!("/v1/conversations/{public}"), Some(&f.read_key)).await;
    assert_eq!(view["status"], "answered", "{view}");
    assert_eq!(view["sla"], Value::Null);
    let outbound = view["outbound"].as_array().unwrap();
    let answer = outbound.iter().find(|o| o["purpose"] == "agent_reply").unwrap();
    assert_eq!((&answer["status"], &answer["id"]), (&Value::from("sent"), &queued["id"]));
    assert!(answer["sent_message_id"].is_string(), "{answer}");
    matches_schema(&document, "Outbound", answer);

    // Privately on X is a DM; a DM conversation is answered by DM whatever is asked.
    let private = br#"{"text": "I have sent you the tracking link.", "visibility": "private"}"#;
    let ((status, queued), _) = post_with(&f, &replies, &agent, &key("ticket-77-2"), private).await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["target"], serde_json::json!({"type": "direct", "participant_id": "801"}));
    let dm_replies = format!("/v1/conversations/x:{BRAND}:dm:4002/replies");
    let ((status, queued), _) = post_with(&f, &dm_replies, &agent, &key("ticket-78-1"), text).await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["target"], serde_json::json!({"type": "direct", "participant_id": "802"}));
    assert_eq!(sweeper.run().await.unwrap().sent, 2);
    let paths: Vec<String> = f.x_api.requests().iter().skip(acknowledgements + 1).map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 2);
    assert!(paths.iter().all(|p| p.starts_with("/2/dm_conversations/with/80")), "{paths:?}");

    // What is refused, and why.
    let long = format!(r#"{{"text": "{}"}}"#, "a".repeat(281));
    // (path, key, headers, body, status)
    type Case<'a> = (String, String, Vec<(&'a str, &'a str)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        (replies.clone(), agent.clone(), vec![], text.to_vec(), 400),
        (replies.clone(), agent.clone(), vec![("idempotency-key", "has space")], text.to_vec(), 400),
        (replies.clone(), agent.clone(), key("k3").to_vec(), long.into_bytes(), 400),
        (replies.clone(), agent.clone(), key("k4").to_vec(), br#"{"text": "  "}"#.to_vec(), 400),
        (replies.clone(), agent.clone(), key("k5").to_vec(), br#"{"text": "hi", "cc": "x"}"#.to_vec(), 400),
        (replies.clone(), agent.clone(), key("k6").to_vec(), br#"{"text": "hi", "visibility": "loud"}"#.to_vec(), 400),
        (replies.clone(), agent.clone(), key("k7").to_vec(), b"not json".to_vec(), 400),
        (replies.clone(), f.read_key.clone(), key("k8").to_vec(), text.to_vec(), 403),
        (format!("/v1/conversations/x:{BRAND}:404/replies"), agent.clone(), key("k9").to_vec(), text.to_vec(), 404),
    ];
    for (path, key, headers, body, expected) in cases {
        let ((status, answer), _) = post_with(&f, &path, &key, &headers, &body).await;
        assert_eq!(status, expected, "{path} {headers:?}: {answer}");
        assert!(answer["error"].is_string());
    }
    assert_eq!(sweeper.run().await.unwrap().due, 0, "nothing refused was queued");
}

#[tokio::test]
async fn resolving_with_a_follow_up_closes_the_thread_in_public_once_and_it_stays_resolved() {
    let f = fixture().await;
    let complaint = mention("4501", "851", "@acme my bag never arrived in Lisbon", t0());
    assert!(f.processor.handle(sqs_event(&[("a", &complaint)])).await.batch_item_failures.is_empty());
    let acknowledgements = f.x_api.requests().len();
    let resolve = format!("/v1/conversations/x:{BRAND}:4501/resolve");
    let agent = f.reply_only_key.clone();

    let (status, body) = post(&f, &resolve, &agent, br#"{"follow_up": true}"#).await;
    assert_eq!((status, &body["changed"]), (200, &Value::Bool(true)), "{body}");
    let follow_up = &body["follow_up"];
    assert_eq!(follow_up["target"], serde_json::json!({"type": "post", "in_reply_to": "4501"}));
    let text = follow_up["text"].as_str().unwrap();
    assert!(text.starts_with("Thanks for your patience, Pat.") && text.ends_with("^HK"), "{text}");
    let (_, document) = get(&f, "/v1/openapi.json", Some(&f.read_key)).await;
    matches_schema(&document, "Resolved", &body);
    matches_schema(&document, "Reply", follow_up);
    // Resolving again, with or without asking, sends no second follow-up.
    let (status, again) = post(&f, &resolve, &agent, br#"{"follow_up": true}"#).await;
    assert_eq!((status, &again["changed"], &again["follow_up"]["id"]), (200, &Value::Bool(false), &follow_up["id"]));
    let (status, _) = post(&f, &resolve, &agent, br#"{"follow_up": "Other words"}"#).await;
    assert_eq!(status, 422);

    let clock = TestClock::at(t0() + chrono::TimeDelta::days(20) + chrono::TimeDelta::minutes(1));
    assert_eq!(sweeper(&f.aws, &f.table, &f.x_api, clock).run().await.unwrap().sent, 1);
    let sent = f.x_api.requests();
    assert_eq!(sent.len(), acknowledgements + 1);
    assert_eq!(sent.last().unwrap().body["text"], text);
    assert_eq!(sent.last().unwrap().body["reply"]["in_reply_to_tweet_id"], "4501");
    let (_, view) = get(&f, &format!("/v1/conversations/x:{BRAND}:4501"), Some(&f.read_key)).await;
    assert_eq!(view["status"], "resolved", "a follow-up going out changes nothing: {view}");
}

/// A help desk's webhook: no API key, only its own headers.
async fn desk_post(f: &Fixture, method: &str, desk: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let response =
        handle(&f.state, apigw_request(method, &format!("/helpdesks/{desk}"), "", headers, body)).await.unwrap();
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("expected JSON text, got {other:?}"),
    };
    (status, body)
}

#[tokio::test]
async fn a_help_desk_agent_s_public_comment_reaches_the_customer_once_and_a_solved_ticket_resolves() {
    use hark_shared::helpdesks::zendesk;
    let f = fixture().await;
    let complaint = mention("4701", "871", "@acme two weeks and no refund, this is a joke", t0());
    assert!(f.processor.handle(sqs_event(&[("a", &complaint)])).await.batch_item_failures.is_empty());
    let acknowledgements = f.x_api.requests().len();
    let conversation = format!("x:{BRAND}:4701");
    let event = |id: &str, kind: &str, change: Value| {
        serde_json::json!({"id": id, "type": kind, "time": "2026-12-11T09:00:00Z",
                           "detail": {"id": "5158", "external_id": conversation, "status": "OPEN"}, "event": change})
        .to_string()
    };
    let comment = |public: bool, author: &str, body: &str| {
        serde_json::json!({"comment": {"id": "9001", "body": body, "is_public": public,
                                       "author": {"id": author, "is_staff": true, "name": "Kim"}}})
    };
    // The API's clock is twenty days on: Zendesk signs its own time, within five minutes of ours.
    let now = (t0() + chrono::TimeDelta::days(20)).to_rfc3339();
    let stale = (t0() + chrono::TimeDelta::days(20) - chrono::TimeDelta::minutes(10)).to_rfc3339();
    let signed = |body: &str, at: &str| (at.to_owned(), zendesk::sign(ZENDESK_SECRET, at, body.as_bytes()));
    let f = &f;
    let send = |body: String, (at, signature): (String, String)| async move {
        let headers = [(zendesk::TIMESTAMP_HEADER, at.as_str()), (zendesk::SIGNATURE_HEADER, signature.as_str())];
        desk_post(f, "POST", "zendesk", &headers, body.as_bytes()).await
    };

    let answer =
        event("e-1", "zen:event-type:ticket.comment_added", comment(true, "77", "Refunded today, Pat. Sorry!"));
    let (status, taken) = send(answer.clone(), signed(&answer, &now)).await;
    assert_eq!((status, &taken["outcome"]), (200, &Value::from("queued")), "{taken}");
    let (status, again) = send(answer.clone(), signed(&answer, &now)).await;
    assert_eq!((status, &again["replayed"]), (200, &Value::Bool(true)), "Zendesk's redelivery: {again}");
    let forged = (now.clone(), zendesk::sign("not-the-secret", &now, answer.as_bytes()));
    assert_eq!(send(answer.clone(), forged).await.0, 401);
    assert_eq!(send(answer.clone(), signed(&answer, &stale)).await.0, 401, "outside the replay window");
    assert_eq!(desk_post(f, "POST", "zendesk", &[], answer.as_bytes()).await.0, 401);
    for (ignored, why) in [
        (event("e-2", "zen:event-type:ticket.comment_added", comment(false, "77", "note to self")), "internal"),
        (event("e-3", "zen:event-type:ticket.comment_added", comment(true, "900", "a Hark-written comment")), "Hark"),
    ] {
        let (status, body) = send(ignored.clone(), signed(&ignored, &now)).await;
        assert_eq!((status, &body["outcome"]), (200, &Value::from("ignored")), "{why}: {body}");
    }

    let clock = TestClock::at(t0() + chrono::TimeDelta::days(20) + chrono::TimeDelta::minutes(1));
    let sweeper = sweeper(&f.aws, &f.table, &f.x_api, clock);
    assert_eq!(sweeper.run().await.unwrap().sent, 1);
    let sent = f.x_api.requests();
    assert_eq!(sent.len(), acknowledgements + 1, "posted once");
    assert_eq!(sent.last().unwrap().body["text"], "Refunded today, Pat. Sorry!");
    assert_eq!(sent.last().unwrap().body["reply"]["in_reply_to_tweet_id"], "4701");

    // Freshdesk: the rule's secret header; the same reply delivered twice is one reply.
    let reply = serde_json::json!({"event": "reply", "ticket_id": 42, "conversation_id": conversation,
                                   "text": "And the voucher is in your inbox."})
    .to_string();
    let secret = [(hark_shared::helpdesks::freshdesk::SECRET_HEADER, FRESHDESK_SECRET)];
    for _ in 0..2 {
        let (status, body) = desk_post(f, "POST", "freshdesk", &secret, reply.as_bytes()).await;
        assert_eq!((status, &body["outcome"]), (200, &Value::from("queued")), "{body}");
    }
    let wrong = [(hark_shared::helpdesks::freshdesk::SECRET_HEADER, "freshdesk-rule-secret-0123456789abcdeX")];
    assert_eq!(desk_post(f, "POST", "freshdesk", &wrong, reply.as_bytes()).await.0, 401);
    assert_eq!(sweeper.run().await.unwrap().sent, 1);

    // The ticket is solved: the conversation is resolved.
    let solved = event("e-4", "zen:event-type:ticket.status_changed", serde_json::json!({"current": "SOLVED"}));
    let (status, body) = send(solved.clone(), signed(&solved, &now)).await;
    assert_eq!((status, &body["outcome"], &body["changed"]), (200, &Value::from("resolved"), &Value::Bool(true)));
    assert_eq!(body["follow_up"], Value::Null, "answered in public already: no follow-up");
    let (_, view) = get(f, &format!("/v1/conversations/{conversation}"), Some(&f.read_key)).await;
    assert_eq!(view["status"], "resolved");
    assert_eq!(desk_post(f, "GET", "zendesk", &[], b"").await.0, 405);
    assert_eq!(desk_post(f, "POST", "kayako", &[], b"{}").await.0, 404);
}

#[tokio::test]
async fn a_ticket_solved_after_a_private_answer_closes_the_public_thread_with_one_follow_up() {
    let f = fixture().await;
    let complaint = mention("4801", "881", "@acme my booking vanished from the app", t0());
    let mut dm = mention("4802", "882", "my booking vanished too", t0());
    dm.kind = hark_shared::domain::mention::MentionKind::DirectMessage;
    dm.parent_id = None;
    assert!(f.processor.handle(sqs_event(&[("a", &complaint), ("b", &dm)])).await.batch_item_failures.is_empty());
    let thread = format!("x:{BRAND}:4801");
    // The agent answers in private (a DM), then solves the ticket: the thread gets the follow-up.
    let private = serde_json::json!({"text": "Sent you a DM with the details.", "visibility": "private"}).to_string();
    let ((status, _), _) = post_with(
        &f,
        &format!("/v1/conversations/{thread}/replies"),
        &f.reply_only_key,
        &[("idempotency-key", "private-1")],
        private.as_bytes(),
    )
    .await;
    assert_eq!(status, 202);
    let solved = |id: &str, conversation: &str| {
        serde_json::json!({"event": "resolved", "ticket_id": id, "conversation_id": conversation}).to_string()
    };
    let secret = [(hark_shared::helpdesks::freshdesk::SECRET_HEADER, FRESHDESK_SECRET)];
    let (status, body) = desk_post(&f, "POST", "freshdesk", &secret, solved("51", &thread).as_bytes()).await;
    assert_eq!((status, &body["outcome"]), (200, &Value::from("resolved")), "{body}");
    let follow_up = body["follow_up"]["text"].as_str().expect("a follow-up").to_owned();
    assert!(follow_up.starts_with("Thanks for your patience"), "{follow_up}");
    // Solved again (a reopened and re-solved ticket, a redelivery): no second follow-up.
    let (_, again) = desk_post(&f, "POST", "freshdesk", &secret, solved("51", &thread).as_bytes()).await;
    assert_eq!(again["changed"], Value::Bool(false), "{again}");
    // A DM conversation is closed without one.
    let dm_conversation = format!("x:{BRAND}:dm:4802");
    let (_, body) = desk_post(&f, "POST", "freshdesk", &secret, solved("52", &dm_conversation).as_bytes()).await;
    assert_eq!((&body["outcome"], &body["follow_up"]), (&Value::from("resolved"), &Value::Null), "{body}");

    let before = f.x_api.requests().len();
    let clock = TestClock::at(t0() + chrono::TimeDelta::days(20) + chrono::TimeDelta::minutes(1));
    let summary = sweeper(&f.aws, &f.table, &f.x_api, clock).run().await.unwrap();
    assert_eq!(summary.sent, 2, "the private answer and the follow-up: {summary:?}");
    let posts: Vec<_> = f.x_api.requests()[before..].iter().filter(|r| r.body["reply"].is_object()).cloned().collect();
    assert_eq!(posts.len(), 1, "one public post: the follow-up");
    assert_eq!(posts[0].body["text"], follow_up.as_str());
    assert_eq!(posts[0].body["reply"]["in_reply_to_tweet_id"], "4801");
}

#[tokio::test]
async fn resolving_stops_the_clock_once_and_the_customer_s_next_dm_opens_a_new_conversation() {
    use hark_shared::domain::mention::{Direction, MentionKind};
    let f = fixture().await;
    let dm = |id: &str, text: &str, at| hark_shared::domain::mention::Mention {
        kind: MentionKind::DirectMessage,
        direction: Direction::Inbound,
        ..mention(id, "701", text, at)
    };
    let first = dm("3001", "my refund never arrived, this is awful", t0());
    assert!(f.processor.handle(sqs_event(&[("a", &first)])).await.batch_item_failures.is_empty());
    let id = format!("x:{BRAND}:dm:3001");
    let (_, before) = get(&f, &format!("/v1/conversations/{id}"), Some(&f.read_key)).await;
    assert_eq!(before["status"], "awaiting_reply");
    assert!(before["sla"].is_object());

    let resolve = format!("/v1/conversations/{id}/resolve");
    // A key with the reply scope alone may resolve.
    let agent = f.reply_only_key.clone();
    let (status, body) = post(&f, &resolve, &agent, b"").await;
    assert_eq!((status, &body["changed"]), (200, &Value::Bool(true)), "{body}");
    let (status, again) = post(&f, &resolve, &agent, b"").await;
    assert_eq!((status, &again["changed"]), (200, &Value::Bool(false)), "idempotent: {again}");
    let (_, after) = get(&f, &format!("/v1/conversations/{id}"), Some(&f.read_key)).await;
    assert_eq!(after["status"], "resolved");
    assert_eq!(after["sla"], Value::Null, "the clock stopped");
    let (_, document) = get(&f, "/v1/openapi.json", Some(&f.read_key)).await;
    matches_schema(&document, "Resolved", &body);
    let (_, resolved) = get(&f, "/v1/conversations?status=resolved", Some(&f.read_key)).await;
    assert_eq!(resolved["conversations"][0]["id"], id.as_str());

    // The customer writes again: a new conversation, with a clock of its own.
    let next = dm("3002", "another problem: my seat was given away", t0() + chrono::TimeDelta::hours(1));
    assert!(f.processor.handle(sqs_event(&[("b", &next)])).await.batch_item_failures.is_empty());
    let (status, new) = get(&f, &format!("/v1/conversations/x:{BRAND}:dm:3002"), Some(&f.read_key)).await;
    assert_eq!((status, &new["status"]), (200, &Value::from("awaiting_reply")), "{new}");

    let cases = [
        (format!("/v1/conversations/x:{BRAND}:dm:9999/resolve"), f.reply_only_key.clone(), b"".as_slice(), 404),
        (resolve.clone(), f.read_key.clone(), b"".as_slice(), 403),
        (resolve.clone(), f.reply_only_key.clone(), b"{\"follow_up\":true}".as_slice(), 422),
        (resolve.clone(), f.reply_only_key.clone(), b"{\"follow_up\":1}".as_slice(), 400),
        (resolve.clone(), f.reply_only_key.clone(), b"{\"close\":true}".as_slice(), 400),
        ("/v1/conversations/nope/resolve".to_owned(), f.reply_only_key.clone(), b"".as_slice(), 400),
    ];
    for (path, key, body, expected) in cases {
        let (status, answer) = post(&f, &path, &key, body).await;
        assert_eq!(status, expected, "{path}: {answer}");
    }
    let response = handle(&f.state, apigw_request("GET", &resolve, "", &[], b"")).await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn a_customer_profile_lists_their_conversations_newest_first() {
    let f = fixture().await;
    // Two threads of the same customer, a day apart, and one of someone else.
    let first = mention("4001", "801", "@acme my flight was cancelled, awful", t0());
    let second = mention("4002", "801", "@acme and now my bag is lost too", t0() + chrono::TimeDelta::days(1));
    let other = mention("4003", "802", "@acme how do I add a bag?", t0());
    for (sqs, m) in [("a", &first), ("b", &second), ("c", &other)] {
        assert!(f.processor.handle(sqs_event(&[(sqs, m)])).await.batch_item_failures.is_empty());
    }
    let (status, profile) = get(&f, &format!("/v1/customers/x/{BRAND}/801"), Some(&f.read_key)).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["handle"], "user801");
    assert_eq!(profile["conversation_count"], 2);
    let ids: Vec<&str> =
        profile["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![format!("x:{BRAND}:4002"), format!("x:{BRAND}:4001")]);
    let (_, document) = get(&f, "/v1/openapi.json", Some(&f.read_key)).await;
    matches_schema(&document, "CustomerProfile", &profile);
    matches_schema(&document, "CustomerConversation", &profile["conversations"][0]);

    for (path, expected) in [
        (format!("/v1/customers/x/{BRAND}/999"), 404),
        (format!("/v1/customers/tiktok/{BRAND}/801"), 400),
        (format!("/v1/customers/x/{BRAND}/80%201"), 400),
        (format!("/v1/customers/x/{BRAND}"), 404),
    ] {
        let (status, body) = get(&f, &path, Some(&f.read_key)).await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    let (status, _) = get(&f, &format!("/v1/customers/x/{BRAND}/801"), Some(&f.reply_only_key)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn kpis_count_the_period_s_conversations_first_responses_and_breaches() {
    use hark_shared::domain::mention::{Direction, MentionKind};
    let f = fixture().await;
    let complaint = mention("5001", "901", "@acme my flight was cancelled, furious", t0());
    let question = mention("5002", "902", "@acme how do I add a bag?", t0() + chrono::TimeDelta::minutes(1));
    let earlier = mention("5003", "903", "@acme lost my bag, awful", t0() - chrono::TimeDelta::days(40));
    // A person answers the complaint 12 minutes later.
    let answer = hark_shared::domain::mention::Mention {
        direction: Direction::Outbound,
        kind: MentionKind::Reply,
        parent_id: Some("5001".into()),
        customer_id: "901".into(),
        author: hark_shared::domain::mention::Author { id: BRAND.into(), ..complaint.author.clone() },
        ..mention(
            "5004",
            "901",
            "@user901 so sorry, we have rebooked you on the 18:05",
            t0() + chrono::TimeDelta::minutes(12),
        )
    };
    for (sqs, m) in [("a", &complaint), ("b", &question), ("c", &earlier), ("d", &answer)] {
        assert!(f.processor.handle(sqs_event(&[(sqs, m)])).await.batch_item_failures.is_empty());
    }
    // The question waits past its warning and its breach, then a person answers it.
    let (topic, _inbox) = create_topic_with_inbox(&f.aws).await;
    for minutes in [16, 31] {
        let escalator = hark_escalator::Escalator {
            store: DynamoStore::from_config(&f.aws, &f.table),
            notifier: hark_shared::adapters::sns::SnsNotifier::from_config(&f.aws, &topic),
            clock: Box::new(TestClock::at(t0() + chrono::TimeDelta::minutes(minutes))),
            ladder: hark_shared::domain::sla::Ladder::new(30, 4).unwrap(),
            due_shards: 4,
            page_size: 100,
            concurrency: 8,
            lookahead: chrono::TimeDelta::zero(),
            care: Default::default(),
        };
        // (The conversation from 40 days ago, long overdue, climbs its own ladder too.)
        assert!(escalator.run().await.unwrap().escalated >= 1, "at {minutes} min");
    }
    let late_answer = hark_shared::domain::mention::Mention {
        direction: Direction::Outbound,
        kind: MentionKind::Reply,
        parent_id: Some("5002".into()),
        customer_id: "902".into(),
        author: hark_shared::domain::mention::Author { id: BRAND.into(), ..question.author.clone() },
        ..mention(
            "5005",
            "902",
            "@user902 Manage Booking > Bags lets you add one",
            t0() + chrono::TimeDelta::minutes(41),
        )
    };
    assert!(f.processor.handle(sqs_event(&[("e", &late_answer)])).await.batch_item_failures.is_empty());

    let since = (t0() - chrono::TimeDelta::days(1)).to_rfc3339();
    let query = format!("?since={}", since.replace('+', "%2B"));
    let (status, kpis) = get(&f, &format!("/v1/kpis{query}"), Some(&f.read_key)).await;
    assert_eq!(status, 200, "{kpis}");
    let all = &kpis["all"];
    assert_eq!(all["conversations"], 2, "the one from 40 days ago is outside: {kpis}");
    let expected = [
        ("asked", json!(2)),
        ("answered", json!(2)),
        ("response_rate", json!(1.0)),
        // Breached, then answered: the breach still counts.
        ("breached", json!(1)),
        ("sla_compliance", json!(0.5)),
        ("escalations", json!(2)),
        ("backlog", json!(0)),
        ("first_response_minutes_median", json!(12.0)),
        ("first_response_minutes_p90", json!(40.0)),
        ("sentiment", json!({"negative": 1, "neutral": 1})),
    ];
    for (name, value) in expected {
        assert_eq!(all[name], value, "{name}: {all}");
    }
    assert_eq!(kpis["channels"]["x"]["conversations"], 2);
    assert_eq!(kpis["by_hour"]["x"][9], 2, "both opened at 09:xx UTC");
    let days = kpis["days"].as_array().unwrap();
    assert_eq!(days.iter().map(|d| d["conversations"].as_u64().unwrap()).sum::<u64>(), 2);
    let (_, document) = get(&f, "/v1/openapi.json", Some(&f.read_key)).await;
    matches_schema(&document, "KpiSummary", &kpis);
    matches_schema(&document, "Kpis", &kpis["all"]);

    let (_, wider) = get(
        &f,
        &format!("/v1/kpis?since={}", (t0() - chrono::TimeDelta::days(60)).format("%Y-%m-%dT%H:%M:%SZ")),
        Some(&f.read_key),
    )
    .await;
    assert_eq!(wider["all"]["conversations"], 3, "{wider}");
    let (status, _) = get(&f, "/v1/kpis?since=2020-01-01T00:00:00Z", Some(&f.read_key)).await;
    assert_eq!(status, 400, "longer than 92 days");
}
