//! X user tokens expire after two hours and their refresh token rotates on every use. These
//! tests run the real token manager (token store in the table, token endpoint at the local
//! X API, which expires, rotates and refuses as X does) under what production does to it.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hark_shared::adapters::secrets::SecretSeeds;
use hark_shared::credentials::Credentials;
use hark_shared::domain::oauth::TokenManager;
use hark_tests::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    x_api: LocalXApi,
}

async fn fixture() -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    Fixture { aws, table, x_api }
}

#[tokio::test]
async fn acknowledgements_keep_going_after_the_access_token_expires() {
    let f = fixture().await;
    let processor = processor(&f.aws, &f.table, &f.x_api, TestClock::at(t0()));
    let first = mention("9001", "301", "@acme my flight was cancelled, what now?", t0());
    assert!(processor.handle(sqs_event(&[("a", &first)])).await.batch_item_failures.is_empty());
    assert_eq!(f.x_api.refreshes(), 1, "the seed is renewed into a first access token");

    // Two hours later every access token has expired; the instance still holds its own.
    f.x_api.expire_access_tokens();
    let second = mention("9002", "302", "@acme where is my refund?", t0());
    assert!(processor.handle(sqs_event(&[("b", &second)])).await.batch_item_failures.is_empty());
    let outbox = items_of_type(&f.aws, &f.table, "outbox").await;
    assert!(outbox.iter().all(|o| attr_s(o, "status") == "sent"), "{outbox:?}");
    assert_eq!(f.x_api.posted_count(), 2);
    assert_eq!(f.x_api.refreshes(), 2, "the 401 renewed the token once");
    let unauthorised = f.x_api.requests().len() - f.x_api.posted_count();
    assert_eq!(unauthorised, 1, "one refused attempt, then the renewed one");
}

#[tokio::test]
async fn many_instances_renew_once_and_never_lose_the_rotated_refresh_token() {
    let f = fixture().await;
    let seed = brand_seed(&f.x_api);
    // A dozen cold function instances, each with the seed from the secret.
    let instances: Vec<_> = (0..12).map(|_| token_manager(&f.aws, &f.table, seed.clone())).collect();
    let mut current: Option<hark_shared::domain::secret::Secret> = None;
    for round in 1..=3 {
        // All at once: first with nothing stored, then each time X refuses the token they hold.
        let tokens = futures_util::future::join_all(instances.iter().map(|m| async {
            match &current {
                None => m.access_token(BRAND).await,
                Some(rejected) => m.after_rejection(BRAND, rejected).await,
            }
        }))
        .await;
        let tokens: Vec<String> = tokens.into_iter().map(|t| t.unwrap().expose().to_owned()).collect();
        assert!(tokens.iter().all(|t| *t == tokens[0]), "round {round}: one token for all: {tokens:?}");
        assert_eq!(f.x_api.refreshes(), round, "round {round}: renewed exactly once");
        // The chain is intact: exactly one refresh token is still valid, and it is the stored one.
        let valid = f.x_api.valid_refresh_tokens(BRAND_CLIENT);
        assert_eq!(valid.len(), 1, "{valid:?}");
        let stored = items_of_type(&f.aws, &f.table, "oauth_tokens").await;
        assert_eq!(attr_s(&stored[0], "refresh_token"), valid[0]);
        f.x_api.expire_access_tokens();
        current = Some(hark_shared::domain::secret::Secret::new(tokens[0].clone()));
    }
}

#[tokio::test]
async fn a_refused_refresh_token_alarms_waits_and_recovers_when_the_operator_reauthorises() {
    let logs = LogCapture::start();
    let f = fixture().await;
    // The real seed source: the credentials secret in Secrets Manager, read again on refusal.
    let secrets = aws_sdk_secretsmanager::Client::new(&f.aws);
    let token_url = format!("{}{}", f.x_api.base_url, hark_shared::channels::x::TOKEN_PATH);
    let secret_json = |refresh: &str| {
        serde_json::json!({"x": {"accounts": {BRAND: {"consumer_secret": "c",
            "oauth2": {"client_id": BRAND_CLIENT, "client_secret": BRAND_CLIENT_SECRET, "refresh_token": refresh}}}}})
        .to_string()
    };
    let first_consent = unique("consent");
    f.x_api.register_client(BRAND_CLIENT, Some(BRAND_CLIENT_SECRET), BRAND, &first_consent);
    let name = unique("hark-x-credentials");
    let arn = secrets.create_secret().name(&name).secret_string(secret_json(&first_consent)).send().await.unwrap();
    let arn = arn.arn().unwrap().to_owned();
    let credentials = Credentials::from_json(&secret_json(&first_consent)).unwrap();
    let seeds = credentials.x.seeds(&token_url, None);
    let source = SecretSeeds {
        client: Some(secrets.clone()),
        arn: Some(arn.clone()),
        token_url: token_url.clone(),
        seeds_of: Credentials::x_seeds,
        fallback: HashMap::new(),
    };
    let manager = TokenManager::new(
        "X API",
        "x",
        hark_shared::adapters::dynamo::DynamoStore::from_config(&f.aws, &f.table),
        hark_shared::adapters::http::HttpTokenEndpoint::new().unwrap(),
        source,
        seeds,
    );
    let client = hark_shared::channels::x::XApiClient::new(&f.x_api.base_url, manager).unwrap();
    let replies = hark_shared::channels::Outbound {
        x: client,
        meta: no_meta(),
        linkedin: no_linkedin(),
        mastodon: no_mastodon(),
        bluesky: no_bluesky(),
        youtube: no_youtube(),
        sources: no_sources(),
        help_desks: no_help_desks(),
    };
    let processor = processor_with(&f.aws, &f.table, replies, TestClock::at(t0()));
    let first = mention("9101", "401", "@acme my bag is lost", t0());
    processor.handle(sqs_event(&[("a", &first)])).await;
    assert_eq!(f.x_api.posted_count(), 1);

    // The brand revokes the app (or the refresh token lapses); two hours pass.
    f.x_api.revoke_refresh_tokens(BRAND_CLIENT);
    f.x_api.expire_access_tokens();
    let second = mention("9102", "402", "@acme charged twice, please help", t0());
    assert!(processor.handle(sqs_event(&[("b", &second)])).await.batch_item_failures.is_empty());
    let waiting = items_of_type(&f.aws, &f.table, "outbox").await;
    let waiting = waiting.iter().find(|o| attr_s(o, "answers_message_id") == "9102").unwrap();
    assert_eq!(attr_s(waiting, "status"), "pending", "the acknowledgement waits for the operator");
    assert!(attr_s(waiting, "last_error").contains("refused"), "{waiting:?}");
    let tokens = &items_of_type(&f.aws, &f.table, "oauth_tokens").await[0];
    assert!(attr_s(tokens, "refused").contains("invalid_request"), "{tokens:?}");
    assert!(logs.text().contains("access token cannot be renewed"), "the alarm's log line");
    assert!(!logs.text().contains(&first_consent), "no refresh token in the logs");

    // The operator re-authorises and puts the new refresh token in the secret; the running
    // instance picks it up on its next attempt, without a cold start.
    let second_consent = unique("consent");
    f.x_api.register_client(BRAND_CLIENT, Some(BRAND_CLIENT_SECRET), BRAND, &second_consent);
    secrets.put_secret_value().secret_id(&arn).secret_string(secret_json(&second_consent)).send().await.unwrap();
    let sweeper = sweeper_with(&f.aws, &f.table, processor.replies, TestClock::at(t0() + TimeDelta::minutes(16)));
    let summary = sweeper.run().await.unwrap();
    assert_eq!(summary.sent, 1, "{summary:?}");
    assert_eq!(f.x_api.posted_count(), 2);
    let tokens = &items_of_type(&f.aws, &f.table, "oauth_tokens").await[0];
    assert!(!tokens.contains_key("refused"), "{tokens:?}");
    assert!(!logs.text().contains(&second_consent));
}
