//! The demo: a realistic stream of signed X, Meta, LinkedIn and shop-app webhooks played through the HTTP
//! listener, and an observer that prints what a care team wants to see as it happens
//! (classification, the conversation joined, the acknowledgement sent, SLA due times,
//! escalations), ending with a summary table. The webhook builders are what the end-to-end
//! tests send too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::graph_api::{Event, LocalGraphApi};
use crate::{Error, LocalStack};

/// The demo brand, @AcmeAir, and the credentials the local stack puts in its secret.
pub const BRAND_ID: &str = "2244994945";
pub const BRAND_HANDLE: &str = "AcmeAir";
pub const CONSUMER_SECRET: &str = "hark-local-consumer-secret";
pub const CLIENT_ID: &str = "hark-local-client";
pub const CLIENT_SECRET: &str = "hark-local-client-secret";
/// The X app's bearer token for recent search, and what the brand listens for.
pub const X_SEARCH_TOKEN: &str = "hark-local-x-app-bearer-token";
pub const X_SEARCH_QUERY: &str = "\"acme air\" OR acmeair -from:AcmeAir -is:retweet";

/// The brand on Meta: one app, its Facebook Page, a second Page (cargo), and the Instagram
/// account linked to the first.
pub const META_APP_ID: &str = "555000111222";
pub const META_APP_SECRET: &str = "hark-local-meta-app-secret";
pub const META_VERIFY_TOKEN: &str = "hark-local-verify-token";
pub const PAGE_ID: &str = "1234567890321";
pub const CARGO_PAGE_ID: &str = "1234567890999";
pub const INSTAGRAM_ID: &str = "17841400000000001";

/// The credentials secret's value: the X brand account, with an OAuth 2.0 client and a
/// refresh token the local X API issues afresh for every run, and the Meta app with its
/// Pages and Instagram account.
pub fn credentials_json() -> String {
    let refresh_token = format!("hark-local-refresh-{}", Utc::now().timestamp_micros());
    json!({
        "x": {"accounts": {BRAND_ID: {
            "consumer_secret": CONSUMER_SECRET,
            "oauth2": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": refresh_token},
            "search": {"bearer_token": X_SEARCH_TOKEN, "handle": BRAND_HANDLE, "query": X_SEARCH_QUERY},
        }}},
        "meta": {
            "apps": {META_APP_ID: {"app_secret": META_APP_SECRET, "verify_token": META_VERIFY_TOKEN}},
            "accounts": {
                PAGE_ID: {"app_id": META_APP_ID, "access_token": "hark-local-page-token-acme"},
                CARGO_PAGE_ID: {"app_id": META_APP_ID, "access_token": "hark-local-page-token-cargo"},
                INSTAGRAM_ID: {"app_id": META_APP_ID, "access_token": "hark-local-page-token-acme", "page_id": PAGE_ID},
            },
        },
    })
    .to_string()
}

/// The local help desk's endpoint secret (Standard Webhooks, 32 bytes).
pub const HELP_DESK_SECRET: &str = "whsec_aGFyay1sb2NhbC1oZWxwLWRlc2stc2lnbmluZy1rZXkhIQ==";
/// Its endpoint id in the credentials.
pub const HELP_DESK_ENDPOINT: &str = "local-desk";

/// The local Zendesk's OAuth client, and the signing secret of its webhook to Hark.
pub const ZENDESK_CLIENT_ID: &str = "hark-local-zendesk";
pub const ZENDESK_CLIENT_SECRET: &str = "hark-local-zendesk-client-secret";
pub const ZENDESK_SIGNING_SECRET: &str = "hark-local-zendesk-webhook-signing-secret";
/// The local Freshdesk's API key, and its automation rule's secret header (32+ characters).
pub const FRESHDESK_API_KEY: &str = "hark-local-freshdesk-api-key";
pub const FRESHDESK_WEBHOOK_SECRET: &str = "hark-local-freshdesk-rule-secret-0123456789";
pub const FRESHDESK_FIELD: &str = "cf_hark_conversation";

/// Where the local help desks are, for the credentials.
pub struct LocalDesks<'a> {
    pub webhook_url: &'a str,
    pub zendesk_url: &'a str,
    /// A refresh token the local Zendesk has just issued to the client.
    pub zendesk_refresh_token: &'a str,
    pub freshdesk_url: &'a str,
    /// The desks the credentials name (`webhook`, `zendesk`, `freshdesk`); empty: all.
    pub only: &'a [String],
}

/// The credentials with the local help desks (the Standard Webhooks one, Zendesk and
/// Freshdesk), unless they configure help desks themselves: any of `webhooks`, `zendesk`
/// or `freshdesk` given means those and no others (`"webhooks": {"endpoints": {}}`: none).
pub fn with_local_help_desks(credentials: &str, desks: &LocalDesks<'_>) -> Result<String, crate::Error> {
    let mut value: serde_json::Value = serde_json::from_str(credentials)
        .map_err(|_| crate::Error::Usage("the local credentials are not JSON".into()))?;
    if ["webhooks", "zendesk", "freshdesk"].iter().any(|section| value.get(section).is_some()) {
        return Ok(value.to_string());
    }
    value["webhooks"] =
        json!({"endpoints": {HELP_DESK_ENDPOINT: {"url": desks.webhook_url, "secret": HELP_DESK_SECRET}}});
    value["zendesk"] = json!({"url": desks.zendesk_url, "oauth2": {"client_id": ZENDESK_CLIENT_ID,
        "client_secret": ZENDESK_CLIENT_SECRET, "refresh_token": desks.zendesk_refresh_token}});
    value["freshdesk"] = json!({"url": desks.freshdesk_url, "api_key": FRESHDESK_API_KEY});
    for (desk, section) in [("webhook", "webhooks"), ("zendesk", "zendesk"), ("freshdesk", "freshdesk")] {
        if !desks.only.is_empty() && !desks.only.iter().any(|d| d == desk) {
            value.as_object_mut().expect("an object").remove(section);
        }
    }
    Ok(value.to_string())
}

/// The help desks' webhook secrets, as the API function reads them (`HelpDeskSecret`).
pub fn help_desk_secrets_json() -> String {
    json!({
        "zendesk": {"signing_secret": ZENDESK_SIGNING_SECRET,
                    "hark_user_id": crate::zendesk::HARK_USER_ID.to_string()},
        "freshdesk": {"secret": FRESHDESK_WEBHOOK_SECRET},
    })
    .to_string()
}

/// Template parameters that make the demo show escalations within a few minutes, and the
/// cargo Page's team off duty (one hour a day, six hours from now) so its messages get the
/// off-hours acknowledgement.
pub fn parameters() -> Vec<(String, String)> {
    let opens = (Utc::now() + chrono::TimeDelta::hours(6)).format("%H").to_string();
    let closes = (Utc::now() + chrono::TimeDelta::hours(7)).format("%H").to_string();
    let cargo_hours = json!({CARGO_PAGE_ID: {"time_zone": "UTC", "hours": format!("mon-sun {opens}:00-{closes}:00"),
                                              "business_time": ["facebook"]}})
    .to_string();
    // Breaches and viral complaints move unowned tickets to the escalations group.
    let escalations = crate::zendesk::GROUPS[1].0;
    let desk_actions = json!({
        "breach": {"groups": {"zendesk": escalations, "freshdesk": crate::freshdesk::GROUPS[1].0}},
        "viral": {"groups": {"zendesk": escalations, "freshdesk": crate::freshdesk::GROUPS[1].0}},
    })
    .to_string();
    [
        ("AccountCarePolicies", cargo_hours.as_str()),
        ("EscalationDeskActions", desk_actions.as_str()),
        ("XSlaIdealMinutes", "1"),
        ("XSlaBreachMinutes", "2"),
        ("FacebookSlaIdealMinutes", "1"),
        ("FacebookSlaBreachMinutes", "2"),
        ("InstagramSlaIdealMinutes", "1"),
        ("InstagramSlaBreachMinutes", "2"),
        ("MastodonSlaIdealMinutes", "1"),
        ("MastodonSlaBreachMinutes", "2"),
        ("BlueskySlaIdealMinutes", "1"),
        ("BlueskySlaBreachMinutes", "2"),
        ("YouTubeSlaIdealMinutes", "1"),
        ("YouTubeSlaBreachMinutes", "2"),
        ("ListeningSlaIdealMinutes", "1"),
        ("ListeningSlaBreachMinutes", "2"),
        ("ListenerSchedule", "rate(1 minute)"),
        ("ListenReddit", "on"),
        ("LinkedInSlaIdealMinutes", "1"),
        ("LinkedInSlaBreachMinutes", "2"),
        ("GenericSlaIdealMinutes", "1"),
        ("GenericSlaBreachMinutes", "2"),
        ("EscalationRepeatMinutes", "1"),
        ("AckSignature", "^HK"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A customer on X.
#[derive(Debug, Clone, Copy)]
pub struct Customer {
    pub id: &'static str,
    pub handle: &'static str,
    pub name: &'static str,
    pub followers: u64,
}

pub const MARIA: Customer = Customer { id: "1001", handle: "maria_travels", name: "Maria Lopez", followers: 812 };
pub const DEVON: Customer = Customer { id: "1002", handle: "devon_k", name: "Devon King", followers: 95 };
pub const SAM: Customer = Customer { id: "1003", handle: "sam_flies", name: "Sam Ortiz", followers: 40_210 };
pub const PRIYA: Customer = Customer { id: "1004", handle: "priya_r", name: "Priya Raman", followers: 230 };
pub const LEO: Customer = Customer { id: "1005", handle: "leo_travels_far", name: "Leo Brandt", followers: 182_000 };

/// An Account Activity delivery with one tweet by `author` (the brand when `None`).
pub fn tweet_delivery(id: &str, author: Option<Customer>, text: &str, in_reply_to: Option<(&str, &str)>) -> Value {
    let user = match author {
        Some(c) => {
            json!({"id_str": c.id, "screen_name": c.handle, "name": c.name, "followers_count": c.followers, "verified": false})
        }
        None => {
            json!({"id_str": BRAND_ID, "screen_name": BRAND_HANDLE, "name": "Acme Air", "followers_count": 120_000, "verified": true})
        }
    };
    json!({
        "for_user_id": BRAND_ID,
        "tweet_create_events": [{
            "id_str": id,
            "text": text,
            "user": user,
            "in_reply_to_status_id_str": in_reply_to.map(|(tweet, _)| tweet),
            "in_reply_to_user_id_str": in_reply_to.map(|(_, user)| user),
            "timestamp_ms": Utc::now().timestamp_millis().to_string(),
            "lang": "en",
        }],
    })
}

/// An Account Activity delivery with one direct message from `customer` to the brand.
pub fn dm_delivery(id: &str, customer: Customer, text: &str) -> Value {
    json!({
        "for_user_id": BRAND_ID,
        "direct_message_events": [{
            "type": "message_create",
            "id": id,
            "created_timestamp": Utc::now().timestamp_millis().to_string(),
            "message_create": {
                "target": {"recipient_id": BRAND_ID},
                "sender_id": customer.id,
                "message_data": {"text": text},
            },
        }],
        "users": {
            customer.id: {"id": customer.id, "name": customer.name, "screen_name": customer.handle, "followers_count": customer.followers},
            BRAND_ID: {"id": BRAND_ID, "name": "Acme Air", "screen_name": BRAND_HANDLE},
        },
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Valid,
    Tampered,
}

/// POSTs a delivery to `/webhooks/x` as X does, signed with the demo consumer secret.
pub async fn post_webhook(http_url: &str, body: &[u8], signing: Signing) -> Result<(u16, String), Error> {
    let mut signature = hark_shared::channels::x::sign(CONSUMER_SECRET, body);
    if signing == Signing::Tampered {
        signature = hark_shared::channels::x::sign("not-the-consumer-secret", body);
    }
    let response = reqwest::Client::new()
        .post(format!("{http_url}/webhooks/x"))
        .header("content-type", "application/json")
        .header("x-twitter-webhooks-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| Error::Usage(format!("POST {http_url}/webhooks/x: {e}")))?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

/// What Meta customers do, played against the local Graph API: each returns the events of
/// one delivery.
type MetaAction = Box<dyn Fn(&LocalGraphApi) -> Vec<Event> + Send>;

enum Delivery {
    X { body: Vec<u8>, signing: Signing },
    Meta(MetaAction),
}

struct Step {
    says: &'static str,
    delivery: Delivery,
    /// What to look for when the step itself prints nothing new.
    note: Option<&'static str>,
}

fn step(says: &'static str, delivery: Value) -> Step {
    Step {
        says,
        delivery: Delivery::X { body: delivery.to_string().into_bytes(), signing: Signing::Valid },
        note: None,
    }
}

fn meta_step(says: &'static str, action: impl Fn(&LocalGraphApi) -> Vec<Event> + Send + 'static) -> Step {
    Step { says, delivery: Delivery::Meta(Box::new(action)), note: None }
}

/// A Facebook customer: (app-scoped id, name).
pub const ANA: (&str, &str) = ("5566778899", "Ana Berg");
pub const TOMAS: (&str, &str) = ("5566770001", "Tomás Silva");
pub const LEA: (&str, &str) = ("5566770002", "Lea Novak");
/// Instagram customers: (IGSID, username).
pub const JO: (&str, &str) = ("1789000000000101", "jo.wanders");
pub const KAI: (&str, &str) = ("1789000000000102", "kai_on_tour");
/// A Messenger customer's page-scoped id.
pub const MESSENGER_PSID: &str = "24008800112233";

/// The Meta part of the stream.
fn meta_stream() -> Vec<Step> {
    // What the customers and agents write, shared between steps through the Graph's state.
    let shared = std::sync::Arc::new(std::sync::Mutex::new(HashMap::<&'static str, String>::new()));
    let (s1, s2, s3) = (shared.clone(), shared.clone(), shared);
    vec![
        meta_step("a Facebook comment with an order number (personal data in public)", |graph| {
            let post = graph.page_post(PAGE_ID, "Our winter timetable is out!");
            vec![graph.comment(PAGE_ID, &post, ANA, "Where is my refund? order #4821337 was cancelled 3 weeks ago")]
        }),
        meta_step("a Messenger complaint", move |graph| {
            s1.lock().expect("demo").insert("messenger", MESSENGER_PSID.to_owned());
            vec![graph.message(
                PAGE_ID,
                MESSENGER_PSID,
                "My bag was damaged on arrival and nobody at the desk helped. Unacceptable.",
            )]
        }),
        meta_step("a person answers the Messenger complaint from Business Suite", move |graph| {
            let user = s2.lock().expect("demo").get("messenger").cloned().unwrap_or_default();
            vec![graph.person_messages(PAGE_ID, &user, "Hi, this is Kim from Acme Air. I've opened a damage claim for you: you'll get an e-mail within the hour.")]
        }),
        meta_step("an Instagram comment with a question", move |graph| {
            let media = graph.instagram_media(INSTAGRAM_ID, "Sunset over Lisbon");
            s3.lock().expect("demo").insert("media", media.clone());
            vec![graph.instagram_comment(INSTAGRAM_ID, &media, JO, "Is the Lisbon route coming back this summer?")]
        }),
        meta_step("an Instagram @mention (the text is fetched from the Graph API)", |graph| {
            vec![graph.instagram_mention(
                INSTAGRAM_ID,
                KAI,
                "@acmeair lost my luggage in Madrid and nobody answers the phone",
            )]
        }),
        meta_step("one delivery batching comments for two Pages", |graph| {
            let post = graph.page_post(PAGE_ID, "Holiday sale!");
            let cargo = graph.page_post(CARGO_PAGE_ID, "Cargo schedules for December");
            vec![
                graph.comment(PAGE_ID, &post, TOMAS, "Why can't I check in online? The app keeps crashing"),
                graph.comment(CARGO_PAGE_ID, &cargo, LEA, "How do I ship a bicycle with you?"),
            ]
        }),
        meta_step("the customer edits their comment", |graph| {
            let post = graph.page_post(PAGE_ID, "New lounge in Porto");
            let comment = graph.comment(PAGE_ID, &post, TOMAS, "The lounge was closed when we arrived");
            let edited = graph
                .edit_comment(&comment.id, "The lounge was closed when we arrived, at 6pm on a Friday")
                .expect("the comment exists");
            vec![comment, edited]
        }),
    ]
}

/// The stream: ids are fresh per run so a reused engine does not swallow them as duplicates.
fn stream() -> Vec<Step> {
    let base = Utc::now().timestamp_millis() as u64 * 1000;
    let id = |n: u64| (1_860_000_000_000_000_000u64 + base % 1_000_000_000_000_000 + n).to_string();
    let (complaint, question, praise, follow_up, brand_reply, stray) = (id(1), id(2), id(3), id(4), id(5), id(6));
    let (dm1, dm2, outage) = (id(7), id(8), id(9));
    let complaint_delivery = tweet_delivery(
        &complaint,
        Some(MARIA),
        "@AcmeAir my flight to Denver was cancelled and nobody at the gate can tell me anything. 2 hours in line!",
        None,
    );
    vec![
        step("a complaint", complaint_delivery.clone()),
        step(
            "a question",
            tweet_delivery(&question, Some(DEVON), "@AcmeAir how do I add a checked bag to my booking?", None),
        ),
        step(
            "praise",
            tweet_delivery(
                &praise,
                Some(SAM),
                "@AcmeAir the crew on flight 212 were wonderful with my kids. Thank you!",
                None,
            ),
        ),
        step("a DM", dm_delivery(&dm1, PRIYA, "Hi, I was charged twice for my seat upgrade. Can you refund one?")),
        Step {
            note: Some("182,000 followers and an outage: two of reach, spreading and risk, so it is fast-tracked"),
            ..step(
                "a complaint that could go viral",
                tweet_delivery(
                    &outage,
                    Some(LEO),
                    "@AcmeAir your app is down and I can't check in, flight leaves in 2 hours!",
                    None,
                ),
            )
        },
        step(
            "a reply in the complaint's thread",
            tweet_delivery(
                &follow_up,
                Some(MARIA),
                "@AcmeAir still waiting. This is ridiculous",
                Some((&complaint, MARIA.id)),
            ),
        ),
        Step {
            note: Some("accepted again, so X stops retrying; stored once, acknowledged once: nothing new below"),
            ..step("the same complaint delivered again", complaint_delivery)
        },
        Step {
            says: "a forged delivery (bad signature)",
            delivery: Delivery::X {
                body: tweet_delivery(&stray, Some(DEVON), "@AcmeAir free flights for everyone!", None)
                    .to_string()
                    .into_bytes(),
                signing: Signing::Tampered,
            },
            note: Some("refused before anything is queued"),
        },
        step(
            "the brand's agent answering the question",
            tweet_delivery(
                &brand_reply,
                None,
                "@devon_k Manage Booking > Bags lets you add one up to 3h before departure. ^HK",
                Some((&question, DEVON.id)),
            ),
        ),
        step("a second DM from the same customer", dm_delivery(&dm2, PRIYA, "The booking reference is ACM4KZ")),
    ]
    .into_iter()
    .chain(meta_stream())
    .collect()
}

/// Plays the stream, then watches until each unanswered conversation has breached its SLA
/// (or `patience` runs out), and prints the summary.
pub async fn run(stack: &LocalStack, observer: &mut Observer, api_key: &str, patience: Duration) -> Result<(), Error> {
    println!(
        "\n== Demo: @{BRAND_HANDLE} on X, Facebook, Instagram, LinkedIn and its own shop app; SLA warning after 1 min, breach after 2 min ==\n"
    );
    let crc = reqwest::get(format!("{}/webhooks/x?crc_token=hark-demo", stack.http_url))
        .await
        .map_err(|e| Error::Usage(format!("CRC challenge: {e}")))?;
    println!(
        "CRC challenge  GET /webhooks/x?crc_token=hark-demo -> {} {}",
        crc.status().as_u16(),
        crc.text().await.unwrap_or_default()
    );
    let handshake = format!("hub.mode=subscribe&hub.verify_token={META_VERIFY_TOKEN}&hub.challenge=1158201444");
    let meta = reqwest::get(format!("{}/webhooks/meta?{handshake}", stack.http_url))
        .await
        .map_err(|e| Error::Usage(format!("Meta handshake: {e}")))?;
    println!(
        "Meta handshake GET /webhooks/meta?hub.mode=subscribe&… -> {} {}",
        meta.status().as_u16(),
        meta.text().await.unwrap_or_default()
    );
    import_customer_values(stack, api_key).await?;
    let meta_url = format!("{}/webhooks/meta", stack.http_url);
    for step in stream() {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (status, answer) = match &step.delivery {
            Delivery::X { body, signing } => post_webhook(&stack.http_url, body, *signing).await?,
            Delivery::Meta(action) => {
                let events = action(&stack.graph_api);
                (stack.graph_api.deliver(&meta_url, META_APP_SECRET, &events).await?, String::new())
            }
        };
        let answer = if answer.is_empty() { String::new() } else { format!(" {answer}") };
        println!("\nwebhook        {} -> {status}{answer}", step.says);
        if let Some(note) = step.note {
            println!("               ({note})");
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        observer.report().await?;
    }
    crate::demo_channels::play(stack, observer).await?;
    crate::demo_channels::listen(stack, observer).await?;
    agent_answers(stack, observer, api_key).await?;
    outage(stack, observer, api_key).await?;
    println!("\n-- waiting for the SLA clocks (the escalator runs on its schedule, sped up) --");
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        observer.report().await?;
        if observer.all_breached() || tokio::time::Instant::now() > deadline {
            break;
        }
    }
    observer.summary();
    let events = stack.help_desk.events();
    let created = events.iter().filter(|e| e.body["type"] == "conversation.created").count();
    println!(
        "The local help desk took {} event(s), each signature checked: {created} new ticket(s), {} comment(s).",
        events.len(),
        events.len() - created
    );
    let conversations = observer.conversations.keys().filter(|id| !id.contains(":dm:")).count();
    println!(
        "Zendesk holds {} ticket(s) and Freshdesk {}, one per conversation ({} public, {} DM), however often a platform redelivered.",
        stack.zendesk.tickets().len(),
        stack.freshdesk.tickets().len(),
        conversations,
        observer.conversations.len() - conversations
    );
    crate::demo_channels::summary(stack);
    let moved: Vec<_> = stack.zendesk.tickets().into_iter().filter(|t| t.group_id.is_some()).collect();
    if let Some(t) = moved.first() {
        let group = crate::zendesk::GROUPS.iter().find(|(id, _)| Some(*id) == t.group_id).map_or("?", |(_, name)| name);
        println!(
            "{} Zendesk ticket(s) were raised and moved to a group by their escalations, e.g. #{} \"{}\": {} in {group}.",
            moved.len(),
            t.id,
            excerpt(&t.subject, 50),
            t.priority
        );
    }
    Ok(())
}

/// An outage: complaints about the app pour in on X. Hark opens an incident, escalates it,
/// and suggests a post; an operator approves it through the API and it goes out once.
async fn outage(stack: &LocalStack, observer: &mut Observer, api_key: &str) -> Result<(), Error> {
    println!("\n-- an outage: the app goes down and customers say so on X --");
    let base = Utc::now().timestamp_millis() as u64 * 1000 % 1_000_000_000_000_000;
    let stranded = [("2001", "ana_at_gate"), ("2002", "ben_travels"), ("2003", "cara_k"), ("2004", "dev_on_the_go")];
    for n in 0..12u64 {
        let (id, handle) = stranded[n as usize % stranded.len()];
        let customer = Customer { id, handle, name: "Stranded traveller", followers: 120 };
        let id = (1_861_000_000_000_000_000u64 + base + n).to_string();
        let text =
            ["@AcmeAir the app is down, can't check in", "@AcmeAir website not working, can't log in!"][n as usize % 2];
        let delivery = tweet_delivery(&id, Some(customer), &format!("{text} ({n})"), None);
        post_webhook(&stack.http_url, delivery.to_string().as_bytes(), Signing::Valid).await?;
    }
    let http = reqwest::Client::new();
    let get = |path: String| http.get(format!("{}{path}", stack.http_url)).bearer_auth(api_key).send();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let incident = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        observer.report().await?;
        let listed: Value = get("/v1/incidents".into())
            .await
            .map_err(|e| Error::Usage(format!("GET /v1/incidents: {e}")))?
            .json()
            .await
            .unwrap_or_default();
        if let Some(incident) = listed["incidents"].get(0).cloned() {
            break incident;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(Error::Usage("the outage opened no incident within a minute".into()));
        }
    };
    let id = incident["id"].as_str().unwrap_or_default().to_owned();
    println!(
        "HTTP API       GET /v1/incidents -> {id}: {} mentions on {}; suggested post: \"{}\"",
        incident["mentions"],
        incident["channels"],
        incident["suggested_post"].as_str().unwrap_or_default()
    );
    let approved = http
        .post(format!("{}/v1/incidents/{id}/post", stack.http_url))
        .bearer_auth(api_key)
        .send()
        .await
        .map_err(|e| Error::Usage(format!("POST /v1/incidents/{id}/post: {e}")))?;
    println!("HTTP API       an operator approves it: POST /v1/incidents/{id}/post -> {}", approved.status().as_u16());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        observer.report().await?;
        let shown: Value = get(format!("/v1/incidents/{id}"))
            .await
            .map_err(|e| Error::Usage(e.to_string()))?
            .json()
            .await
            .unwrap_or_default();
        if shown["posts"].as_array().is_some_and(|p| !p.is_empty() && p.iter().all(|p| p["status"] == "sent")) {
            break;
        }
    }
    Ok(())
}

/// The CRM's word on who matters: Maria is a VIP, so her complaint comes first, and her
/// ticket says so.
async fn import_customer_values(stack: &LocalStack, api_key: &str) -> Result<(), Error> {
    let csv = format!("channel,handle,tier,lifetime_value,crm_id\nx,@{},vip,12400.50,0031x00000abc\n", MARIA.handle);
    let answer = reqwest::Client::new()
        .put(format!("{}/v1/customer-values", stack.http_url))
        .bearer_auth(api_key)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .map_err(|e| Error::Usage(format!("customer values: {e}")))?;
    println!(
        "CRM import     PUT /v1/customer-values (@{} is a VIP) -> {} {}",
        MARIA.handle,
        answer.status().as_u16(),
        answer.text().await.unwrap_or_default()
    );
    Ok(())
}

/// The help desks at work: the conversations arrive as tickets in the local Zendesk and
/// Freshdesk; an agent answers the X complaint in Zendesk and a Facebook comment in
/// Freshdesk, solves the ticket of the comment Hark answered privately (the thread gets
/// the follow-up), and another answers Priya's DM through the HTTP API, as any other help
/// desk's integration would. Each answer goes out once, from the outbox, and stops the clock.
async fn agent_answers(stack: &LocalStack, observer: &mut Observer, api_key: &str) -> Result<(), Error> {
    let open = |observer: &Observer, prefix: &str, customer: Option<&str>| {
        observer
            .conversations
            .iter()
            .filter(|(id, c)| id.starts_with(prefix) && !id.contains(":dm:") && text(c, "status") == "awaiting_reply")
            .filter(|(_, c)| customer.is_none_or(|name| text(c, "customer_name") == name))
            .map(|(id, _)| id.clone())
            .next()
    };
    let complaint = observer
        .conversations
        .iter()
        .find(|(id, c)| id.starts_with("x:") && !id.contains(":dm:") && text(c, "last_intent") == "complaint")
        .map(|(id, _)| id.clone())
        .or_else(|| open(observer, "x:", None));
    let facebook_prefix = format!("facebook:{PAGE_ID}:");
    let private = open(observer, &facebook_prefix, Some(ANA.1));
    let facebook = open(observer, &facebook_prefix, Some(TOMAS.1));

    println!(
        "
-- the help desks: tickets in the local Zendesk and Freshdesk (the outbox forwards every 10 s) --"
    );
    let wanted: Vec<&String> = [&complaint, &facebook, &private].into_iter().flatten().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (zendesk, freshdesk) = (&stack.zendesk, &stack.freshdesk);
    let zendesk_ticket = |id: &str| zendesk.tickets().into_iter().find(|t| t.external_id.as_deref() == Some(id));
    let freshdesk_ticket = |id: &str| {
        freshdesk
            .tickets()
            .into_iter()
            .find(|t| t.custom_fields.get(FRESHDESK_FIELD).and_then(|v| v.as_str()) == Some(id))
    };
    while !wanted.iter().all(|id| zendesk_ticket(id).is_some() && freshdesk_ticket(id).is_some())
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_secs(2)).await;
        observer.report().await?;
    }
    for t in zendesk.tickets() {
        println!(
            "  Zendesk        ticket #{} \"{}\" priority {}, {} comment(s), requester {}",
            t.id,
            excerpt(&t.subject, 60),
            t.priority,
            t.comments.len(),
            zendesk.users().iter().find(|u| u.id == t.requester_id).map(|u| u.external_id.clone()).unwrap_or_default()
        );
    }
    for t in freshdesk.tickets() {
        println!(
            "  Freshdesk      ticket #{} \"{}\" priority {}, {} note(s), {FRESHDESK_FIELD} {}",
            t.id,
            excerpt(&t.subject, 60),
            t.priority,
            t.notes.len(),
            t.custom_fields.get(FRESHDESK_FIELD).and_then(|v| v.as_str()).unwrap_or_default()
        );
    }

    let mut waiting_for = Vec::new();
    if let Some(ticket) = complaint.as_deref().and_then(zendesk_ticket) {
        let text = "So sorry about this, Maria. I have rebooked you on tomorrow's 9:40 flight, no charge.";
        let status = zendesk.agent_reply(ticket.id, text).await?;
        println!(
            "
Zendesk        an agent answers ticket #{} in public (signed webhook to /helpdesks/zendesk -> {status})",
            ticket.id
        );
        waiting_for.extend(complaint.clone());
    }
    if let Some(ticket) = facebook.as_deref().and_then(freshdesk_ticket) {
        let text = "Sorry, Tomás: the app is fixed now. Update it and online check-in will work.";
        let status = freshdesk.agent_reply(ticket.id, text).await?;
        println!(
            "Freshdesk      an agent answers ticket #{} (rule webhook to /helpdesks/freshdesk -> {status})",
            ticket.id
        );
        waiting_for.extend(facebook.clone());
    }
    if let Some(ticket) = private.as_deref().and_then(freshdesk_ticket) {
        let status = freshdesk.resolve(ticket.id).await?;
        println!(
            "Freshdesk      ticket #{} solved after Hark answered in private: the thread gets the follow-up (-> {status})",
            ticket.id
        );
    }
    let dm = observer.conversations.keys().find(|id| id.starts_with("x:") && id.contains(":dm:")).cloned();
    if let Some(id) = &dm {
        let reply = reqwest::Client::new()
            .post(format!("{}/v1/conversations/{id}/replies", stack.http_url))
            .bearer_auth(api_key)
            .header("idempotency-key", "demo-ticket-1-comment-1")
            .json(&serde_json::json!({"text": "Refund for the second upgrade charge is on its way, Priya."}))
            .send()
            .await
            .map_err(|e| Error::Usage(format!("the agent's reply: {e}")))?;
        println!(
            "HTTP API       an agent answers the DM {id} (POST /v1/conversations/…/replies) -> {}",
            reply.status().as_u16()
        );
        waiting_for.push(id.clone());
    }
    // The outbox function runs every 10 s in the demo.
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        observer.report().await?;
        let answered = |id: &String| observer.conversations.get(id).is_some_and(|c| text(c, "status") == "answered");
        if waiting_for.iter().all(answered) {
            break;
        }
    }
    Ok(())
}

type Item = HashMap<String, AttributeValue>;

fn text(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(AttributeValue::N(n)) => n.clone(),
        _ => String::new(),
    }
}

fn clock(item: &Item, name: &str) -> String {
    DateTime::parse_from_rfc3339(&text(item, name)).map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_default()
}

/// `@handle` where the platform gives one, else the name (Facebook).
fn who(item: &Item, handle: &str, name: &str) -> String {
    match text(item, handle) {
        h if !h.is_empty() => format!("@{h}"),
        _ => text(item, name),
    }
}

/// One line of `text`, at most `max` characters.
fn excerpt(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max { text } else { format!("{}…", text.chars().take(max).collect::<String>()) }
}

/// Prints what changed in the table since the last look. (A scan: fine for a demo table;
/// Hark itself never scans.)
pub struct Observer {
    table: String,
    client: aws_sdk_dynamodb::Client,
    seen: HashSet<String>,
    conversations: BTreeMap<String, Item>,
    outbox_states: HashMap<String, String>,
    escalations: Vec<Item>,
}

impl Observer {
    pub fn new(stack: &LocalStack) -> Self {
        Observer {
            table: stack.resource("Table").to_owned(),
            client: aws_sdk_dynamodb::Client::new(&stack.aws),
            seen: HashSet::new(),
            conversations: BTreeMap::new(),
            outbox_states: HashMap::new(),
            escalations: Vec::new(),
        }
    }

    async fn scan(&self) -> Result<Vec<Item>, Error> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Error::Aws(format!("Scan: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    pub async fn report(&mut self) -> Result<(), Error> {
        let mut items = self.scan().await?;
        // Messages first, then what they caused, oldest first.
        let rank = |item: &Item| match text(item, "item_type").as_str() {
            "message" => 0,
            "conversation" => 1,
            "outbox" => 2,
            _ => 3,
        };
        items.sort_by_key(|i| (rank(i), text(i, "sk")));
        for item in items {
            let key = format!("{}|{}", text(&item, "pk"), text(&item, "sk"));
            match text(&item, "item_type").as_str() {
                "message" if self.seen.insert(key.clone()) => self.print_message(&item),
                "conversation" => self.print_conversation(item),
                "outbox" => self.print_outbox(key, &item),
                "escalation" if self.seen.insert(key) => {
                    let conversation = self.conversations.get(&text(&item, "conversation_id"));
                    let who = conversation.map(|c| who(c, "customer_handle", "customer_name")).unwrap_or_default();
                    let whom = if who.is_empty() { String::new() } else { format!(" for {who}") };
                    println!(
                        "  ESCALATION     {}{whom} (conversation {}) at {}",
                        text(&item, "level_name").to_uppercase(),
                        text(&item, "conversation_id"),
                        clock(&item, "escalated_at")
                    );
                    let notice: Value = serde_json::from_str(&text(&item, "notice")).unwrap_or_default();
                    let reasons: Vec<&str> =
                        notice["reasons"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                    if !reasons.is_empty() {
                        println!("                 because {}", reasons.join("; "));
                    }
                    self.escalations.push(item);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn print_message(&self, item: &Item) {
        let who = who(item, "author_handle", "author_name");
        let channel = text(item, "conversation_id").split(':').next().unwrap_or_default().to_owned();
        if text(item, "direction") == "outbound" {
            let by = if item.get("automated") == Some(&AttributeValue::Bool(true)) { "Hark" } else { "a person" };
            println!("  brand reply    {channel}, by {by}: \"{}\"", excerpt(&text(item, "text"), 70));
            return;
        }
        let edited = match (item.contains_key("edited_at"), item.contains_key("listening")) {
            (true, _) => ", edited",
            (false, true) => ", found by listening: left to a person",
            _ => "",
        };
        let score: f64 = text(item, "sentiment_score").parse().unwrap_or_default();
        println!(
            "  message        {channel} {who} ({}{edited}): \"{}\"\n  classified     {} / {} ({score:+.2}), priority {} -> conversation {}",
            text(item, "kind"),
            excerpt(&text(item, "text"), 70),
            text(item, "intent"),
            text(item, "sentiment"),
            text(item, "priority"),
            text(item, "conversation_id"),
        );
    }

    fn print_conversation(&mut self, item: Item) {
        let id = text(&item, "conversation_id");
        let flagged = |c: &Item| c.contains_key("needs_person");
        if flagged(&item) && !self.conversations.get(&id).is_some_and(flagged) {
            println!("  for a person   conversation {id}: {}", text(&item, "needs_person"));
        }
        let previous = self.conversations.get(&id).map(|c| (text(c, "status"), text(c, "sla_started_at")));
        let status = text(&item, "status");
        let started = text(&item, "sla_started_at");
        match previous {
            Some((was, was_started)) if was == status && was_started == started => {}
            _ if status == "awaiting_reply" => println!(
                "  SLA            conversation {id}: warning at {}, breach at {}",
                clock(&item, "ideal_due_at"),
                clock(&item, "breach_due_at")
            ),
            Some(_) if status == "answered" => {
                println!("  answered       conversation {id}: a human replied, SLA clock stopped")
            }
            _ => {}
        }
        self.conversations.insert(id, item);
    }

    fn print_outbox(&mut self, key: String, item: &Item) {
        let status = text(item, "status");
        if self.outbox_states.get(&key) == Some(&status) {
            return;
        }
        let target: Value = serde_json::from_str(&text(item, "target")).unwrap_or_default();
        let channel = match target["type"].as_str().unwrap_or_default() {
            "direct" => "DM",
            "private_reply" | "private_reply_to_post" => "private reply",
            "instagram_mention" => "reply to the @mention",
            "webhook" => "help desk",
            _ => "reply",
        };
        let what = match text(item, "purpose").as_str() {
            "forward" => "forward",
            "agent_reply" => "agent reply",
            "follow_up" => "follow-up",
            "thanks" => "thanks",
            "incident_post" => "incident post",
            _ => "ack",
        };
        match (what, status.as_str()) {
            // A broadcast, turned into one record per endpoint: those are shown as they go.
            ("forward", _) if target["endpoint"] == "*" => {}
            ("forward", "sent") => {
                let event: Value = serde_json::from_str(&text(item, "text")).unwrap_or_default();
                let kind = event["type"].as_str().unwrap_or_default();
                match target["endpoint"].as_str().unwrap_or_default() {
                    desk @ ("zendesk" | "freshdesk") => {
                        println!("  help desk      {kind} -> {desk}: {}", text(item, "sent_message_id"))
                    }
                    endpoint => {
                        let tags = event["data"].get("tags").map(|t| format!(", tags {t}")).unwrap_or_default();
                        println!("  help desk      {kind} -> {endpoint}, signed (Standard Webhooks){tags}")
                    }
                }
            }
            ("follow-up", "sent") => {
                println!("  follow-up      ({channel}) \"{}\" closes the thread", excerpt(&text(item, "text"), 140))
            }
            ("incident post", "sent") => println!(
                "  posted         {} {}, approved: \"{}\"",
                text(item, "channel"),
                text(item, "account_id"),
                excerpt(&text(item, "text"), 120)
            ),
            ("thanks", "sent") => {
                println!("  thanked        ({channel}) \"{}\"", excerpt(&text(item, "text"), 140))
            }
            ("agent reply", "sent") => {
                println!("  agent reply    ({channel}) \"{}\" posted by the outbox", excerpt(&text(item, "text"), 140))
            }
            (_, "sent") => println!("  acknowledged   ({channel}) \"{}\"", excerpt(&text(item, "text"), 140)),
            (_, "failed" | "cancelled") => println!("  {what} {status}  {}", text(item, "last_error")),
            (_, "pending" | "unknown") if !text(item, "last_error").is_empty() => {
                println!("  {what} {status} (the outbox retries)  {}", text(item, "last_error"))
            }
            _ => {}
        }
        self.outbox_states.insert(key, status);
    }

    fn all_breached(&self) -> bool {
        let awaiting: Vec<_> = self.conversations.values().filter(|c| text(c, "status") == "awaiting_reply").collect();
        !awaiting.is_empty()
            && awaiting
                .iter()
                .all(|c| text(c, "escalation_level").parse::<u32>().unwrap_or(0) >= hark_shared::domain::sla::BREACH)
    }

    pub fn summary(&self) {
        println!("\n== Summary ==\n");
        println!(
            "{:<10} {:<44} {:<16} {:>4} {:<10} {:<9} {:<15} {:<10}",
            "channel", "conversation", "customer", "msgs", "intent", "ack", "status", "escalated"
        );
        for (id, c) in &self.conversations {
            let acked = self
                .outbox_states
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("CONV#{id}|OUTBOX#ack#")))
                .map(|(_, s)| s.as_str())
                .next()
                .unwrap_or("-");
            let level: u32 = text(c, "escalation_level").parse().unwrap_or(0);
            println!(
                "{:<10} {:<44} {:<16} {:>4} {:<10} {:<9} {:<15} {:<10}",
                text(c, "channel"),
                excerpt(id, 44),
                excerpt(&who(c, "customer_handle", "customer_name"), 16),
                text(c, "message_count"),
                text(c, "last_intent"),
                acked,
                text(c, "status"),
                hark_shared::domain::sla::level_name(level),
            );
        }
        println!("\n{} escalation(s) raised and published to the escalation topic.", self.escalations.len());
    }
}
