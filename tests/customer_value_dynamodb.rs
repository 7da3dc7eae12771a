//! What customers are worth, from the CRM: imported through the API's all-or-nothing check
//! into DynamoDB Local, then read by the real processor: a valued customer's message comes
//! first, counts as reach for the viral fast track, and reaches the help desk with its tier;
//! the customer profile shows it.

use chrono::{DateTime, TimeZone, Utc};
use hark_api::{State, handle};
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::credentials::{WebhookCredentials, WebhookEndpoint};
use hark_shared::domain::api_key::{Scope, new_key};
use hark_shared::domain::reply::{DEFAULT_FOLLOW_UP, FollowUpTemplates};
use hark_shared::domain::secret::Secret;
use hark_shared::ports::ApiKeyStore;
use hark_tests::*;
use lambda_http::Body;
use serde_json::{Value, json};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap()
}

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    state: State<DynamoStore>,
    processor: TestProcessor,
    _x_api: LocalXApi,
    read_key: String,
    configure_key: String,
}

async fn fixture() -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let mut processor = processor(&aws, &table, &x_api, TestClock::at(t0()));
    // Forwarded events are written to the outbox with the message; nothing here sends them.
    let endpoint = WebhookEndpoint {
        url: "http://127.0.0.1:9/hooks".into(),
        secret: Secret::new("whsec_C2FtcGxlLWtleS1mb3ItdGhlLWxvY2FsLWhlbHAtZGVzayE=".to_owned()),
        events: None,
    };
    processor.forwarding = WebhookCredentials { endpoints: [("desk".to_owned(), endpoint)].into() }.subscriptions();
    let store = DynamoStore::from_config(&aws, &table);
    let mut keys = Vec::new();
    for (seed, scope) in [(7u8, Scope::Read), (8, Scope::Configure)] {
        let random: [u8; 40] = std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8));
        let (key, record) = new_key(&random, "crm-sync", &[scope], Utc::now()).unwrap();
        store.put_api_key(&record).await.unwrap();
        keys.push(key);
    }
    let configure_key = keys.pop().unwrap();
    let read_key = keys.pop().unwrap();
    Fixture {
        state: State {
            store,
            clock: Box::new(TestClock::at(t0())),
            follow_ups: FollowUpTemplates::new(DEFAULT_FOLLOW_UP, "{}", "^HK").unwrap(),
            desks: Default::default(),
            due_shards: 4,
            follow_up_on_solved: true,
        },
        aws,
        table,
        processor,
        _x_api: x_api,
        read_key,
        configure_key,
    }
}

impl Fixture {
    async fn call(&self, method: &str, path: &str, key: &str, content_type: &str, body: &str) -> (u16, Value) {
        let bearer = format!("Bearer {key}");
        let headers = [("authorization", bearer.as_str()), ("content-type", content_type)];
        let response = handle(&self.state, apigw_request(method, path, "", &headers, body.as_bytes())).await.unwrap();
        let status = response.status().as_u16();
        let Body::Text(text) = response.body() else { panic!("expected JSON text") };
        (status, serde_json::from_str(text).unwrap())
    }

    async fn import(&self, key: &str, content_type: &str, body: &str) -> (u16, Value) {
        self.call("PUT", "/v1/customer-values", key, content_type, body).await
    }

    async fn values_stored(&self) -> usize {
        items_of_type(&self.aws, &self.table, "customer_value").await.len()
    }

    /// The message's stored priority.
    async fn priority(&self, message_id: &str) -> i64 {
        let messages = items_of_type(&self.aws, &self.table, "message").await;
        let message = messages.iter().find(|m| attr_s(m, "message_id") == message_id).expect("the message is stored");
        message["priority"].as_n().unwrap().parse().unwrap()
    }

    /// The help-desk event forwarded for the message.
    async fn forwarded(&self, message_id: &str) -> Value {
        let outbox = items_of_type(&self.aws, &self.table, "outbox").await;
        outbox
            .iter()
            .filter(|o| attr_s(o, "purpose") == "forward")
            .map(|o| serde_json::from_str::<Value>(&attr_s(o, "text")).unwrap())
            .find(|event| event["data"]["message"]["id"] == message_id)
            .unwrap_or_else(|| panic!("no forward for {message_id}"))
    }
}

/// Every property the OpenAPI document calls required is in `value`, and nothing it does not
/// name.
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
async fn an_import_is_checked_whole_and_needs_the_configure_scope() {
    let f = fixture().await;
    let csv = "channel,handle,id,tier,lifetime_value,crm_id\nx,@user801,,vip,12400.5,0031x00000abc\n";

    let (status, body) = f.import(&f.read_key, "text/csv", csv).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("configure"), "{body}");

    // One bad row among good ones: nothing is stored, and every bad row is named.
    let bad = "channel,handle,tier\nx,good_one,vip\nmyspace,tom,vip\nx,,gold\n";
    let (status, body) = f.import(&f.configure_key, "text/csv", bad).await;
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("row 3") && error.contains("row 4") && !error.contains("row 2"), "{error}");
    assert_eq!(f.values_stored().await, 0, "a refused import writes nothing");
    let (status, _) = f.import(&f.configure_key, "application/json", "{\"channel\": \"x\"}").await;
    assert_eq!(status, 400, "an object, not an array of rows");
    let oversized = format!("channel,handle,tier\n{}", "x,someone,vip\n".repeat(80_000));
    let (status, body) = f.import(&f.configure_key, "text/csv", &oversized).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("hark customers import"), "{body}");

    // 30 rows: more than one DynamoDB batch.
    let mut rows: Vec<Value> =
        (0..29).map(|i| json!({"channel": "x", "id": format!("70{i:02}"), "tier": "gold"})).collect();
    rows.push(json!({"channel": "instagram", "handle": "jo.wanders", "lifetime_value": 800}));
    let (status, body) = f.import(&f.configure_key, "application/json", &Value::from(rows).to_string()).await;
    assert_eq!(status, 200, "{body}");
    let (_, document) = f.call("GET", "/v1/openapi.json", &f.read_key, "application/json", "").await;
    matches_schema(&document, "CustomerValuesStored", &body);
    assert_eq!(body["stored"], 30);
    // The same import again replaces, it does not add.
    let (status, body) = f.import(&f.configure_key, "text/csv", csv).await;
    assert_eq!((status, body["stored"].as_u64()), (200, Some(1)));
    let (status, _) = f.import(&f.configure_key, "text/csv", csv).await;
    assert_eq!(status, 200);
    assert_eq!(f.values_stored().await, 31);
}

#[tokio::test]
async fn a_valued_customer_comes_first_counts_as_reach_and_reaches_the_desk_with_the_tier() {
    let f = fixture().await;
    // The CRM knows one customer by handle (as its export spells it) and one by id.
    let csv =
        "channel,handle,id,tier,lifetime_value,crm_id\nx,@User801,,VIP,12400.5,0031x00000abc\nx,,802,bronze,40,\n";
    let (status, body) = f.import(&f.configure_key, "text/csv", csv).await;
    assert_eq!(status, 200, "{body}");

    // The same words from three customers: a VIP, a customer in a tier that is not valued,
    // and one the CRM does not know.
    let text = "@acme where is my refund? it has been two weeks";
    let batch =
        [mention("6801", "801", text, t0()), mention("6802", "802", text, t0()), mention("6803", "803", text, t0())];
    process_batch(&f.processor, &batch).await;
    let (vip, bronze, unknown) = (f.priority("6801").await, f.priority("6802").await, f.priority("6803").await);
    assert!(vip > unknown, "vip {vip} vs unknown {unknown}");
    assert_eq!(bronze, unknown, "only the valued tiers come first");

    let event = f.forwarded("6801").await;
    assert_eq!(
        event["data"]["customer"]["value"],
        json!({"tier": "vip", "lifetime_value": 12400.5, "crm_id": "0031x00000abc"})
    );
    assert!(event["data"]["tags"].as_array().unwrap().contains(&json!("tier_vip")), "{event}");
    let bronze_event = f.forwarded("6802").await;
    assert_eq!(bronze_event["data"]["customer"]["value"]["tier"], "bronze", "the desk sees every tier");
    assert_eq!(f.forwarded("6803").await["data"]["customer"]["value"], Value::Null);

    // The profile shows it, as the document says.
    let (status, profile) =
        f.call("GET", &format!("/v1/customers/x/{BRAND}/801"), &f.read_key, "application/json", "").await;
    assert_eq!(status, 200, "{profile}");
    let (_, document) = f.call("GET", "/v1/openapi.json", &f.read_key, "application/json", "").await;
    matches_schema(&document, "CustomerProfile", &profile);
    assert_eq!(profile["value"]["crm_id"], "0031x00000abc");
    let (_, unknown) =
        f.call("GET", &format!("/v1/customers/x/{BRAND}/803"), &f.read_key, "application/json", "").await;
    assert_eq!(unknown["value"], Value::Null);

    // A VIP with a small following on an outage: reach (the tier) and risk make it viral.
    let outage = mention("6804", "801", "@acme the app is down, can't log in", t0());
    process_batch(&f.processor, std::slice::from_ref(&outage)).await;
    let conversation = items_of_type(&f.aws, &f.table, "conversation")
        .await
        .into_iter()
        .find(|c| attr_s(c, "conversation_id") == format!("x:{BRAND}:6804"))
        .unwrap();
    assert_eq!(attr_s(&conversation, "customer_tier"), "vip");
    assert!(conversation.contains_key("viral_at"), "{conversation:?}");
    let escalations = items_of_type(&f.aws, &f.table, "escalation").await;
    assert!(attr_s(&escalations[0], "notice").contains("a vip customer"), "{escalations:?}");
    // The same outage from a customer the CRM does not know, with as few followers: not viral.
    let outage = mention("6805", "803", "@acme the app is down, can't log in", t0());
    process_batch(&f.processor, std::slice::from_ref(&outage)).await;
    assert_eq!(items_of_type(&f.aws, &f.table, "escalation").await.len(), 1);
}

#[tokio::test]
async fn hark_customers_import_takes_a_file_of_any_size_and_refuses_a_bad_one_whole() {
    let f = fixture().await;
    let dir = std::env::temp_dir().join(unique("hark-crm"));
    std::fs::create_dir_all(&dir).unwrap();
    // Over the API's 1 MiB: the CLI's reason to exist.
    let mut csv = String::from("channel,id,tier,lifetime_value,crm_id\n");
    for i in 0..14_000 {
        csv.push_str(&format!(
            "facebook,{},gold,{i}.25,crm-account-0000000000000000000000000000{i:05}\n",
            5_566_000_000u64 + i
        ));
    }
    assert!(csv.len() > 1024 * 1024);
    let good = dir.join("crm.csv");
    std::fs::write(&good, &csv).unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "channel,handle,tier\nx,fine,vip\nx,,vip\nfriendster,joe,gold\n").unwrap();

    let out = hark(&["customers", "import", bad.to_str().unwrap()], &f.table);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("nothing imported, 2 bad row(s)") && stderr.contains("row 3") && stderr.contains("row 4"),
        "{stderr}"
    );
    assert_eq!(f.values_stored().await, 0);

    let out = hark(&["customers", "import", good.to_str().unwrap()], &f.table);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("14000 customer value(s) stored"));
    let store = DynamoStore::from_config(&f.aws, &f.table);
    let value = hark_shared::ports::CustomerValues::customer_value(
        &store,
        hark_shared::domain::mention::Channel::Facebook,
        "5566013999",
        None,
    )
    .await
    .unwrap()
    .expect("the last row is stored");
    assert_eq!((value.tier.as_deref(), value.lifetime_value), (Some("gold"), Some(13_999.25)));
    std::fs::remove_dir_all(dir).unwrap();
}
