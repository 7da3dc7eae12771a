//! The demo's LinkedIn organisation and signed source: their credentials in the local
//! secret, and what their customers do: a LinkedIn comment (answered as the organisation),
//! a comment whose notification leaves the text out (fetched), a post that mentions the
//! brand, and a shop app's web form and public review sent as Standard Webhooks (answered
//! back to the app, signed).

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::demo::Observer;
use crate::{Error, LocalStack};

/// The brand's LinkedIn organisation, the app's client secret, and an admin's token.
pub const LINKEDIN_ORG: &str = "96072893";
pub const LINKEDIN_CLIENT_SECRET: &str = "hark-local-linkedin-client-secret";
pub const LINKEDIN_TOKEN: &str = "hark-local-linkedin-admin-token";
/// The brand's own app, sending its in-app messages and reviews to Hark.
pub const SOURCE: &str = "shop-app";
pub const SOURCE_SECRET: &str = "whsec_aGFyay1sb2NhbC1zaG9wLWFwcC1zaWduaW5nLWtleSEh";
/// The brand's Mastodon account on the local instance, its handle and its app's token,
/// and what it listens for beyond its mentions.
pub const MASTODON_ACCOUNT: &str = "14715";
pub const MASTODON_ACCT: &str = "acme";
pub const MASTODON_TOKEN: &str = "hark-local-mastodon-token";
/// The brand's Bluesky account: its DID, handle and app password.
pub const BLUESKY_DID: &str = "did:plc:acme4irbr4nd2a2b3c4d5e6f";
pub const BLUESKY_HANDLE: &str = "acmeair.bsky.social";
pub const BLUESKY_APP_PASSWORD: &str = "hark-loca-lblu-esky";
/// The brand's YouTube channel and the Google OAuth grant its owner gave Hark.
pub const YOUTUBE_CHANNEL: &str = "UCacmeAirBrand0000000000";
pub const YOUTUBE_CLIENT_ID: &str = "hark-local-youtube.apps.googleusercontent.com";
pub const YOUTUBE_CLIENT_SECRET: &str = "hark-local-youtube-secret";
pub const YOUTUBE_REFRESH_TOKEN: &str = "1//hark-local-youtube-refresh";
/// The demo's Reddit client (the demo turns `ListenReddit` on; it is off by default).
pub const REDDIT_CLIENT_ID: &str = "hark-local-reddit-client";
pub const REDDIT_CLIENT_SECRET: &str = "hark-local-reddit-secret";

/// The credentials with the demo's LinkedIn organisation, Mastodon and Bluesky accounts,
/// Reddit client and source, unless they configure their own (`linkedin`, `mastodon`,
/// `bluesky`, `reddit` or `sources` given).
pub fn with_local_channels(
    credentials: &str,
    source_reply_url: &str,
    mastodon_url: &str,
    bluesky_url: &str,
) -> Result<String, Error> {
    let mut value: serde_json::Value =
        serde_json::from_str(credentials).map_err(|_| Error::Usage("the local credentials are not JSON".into()))?;
    if value.get("linkedin").is_none() {
        value["linkedin"] = json!({"client_secret": LINKEDIN_CLIENT_SECRET,
                                   "organizations": {LINKEDIN_ORG: {"access_token": LINKEDIN_TOKEN}}});
    }
    if value.get("mastodon").is_none() {
        value["mastodon"] = json!({"accounts": {MASTODON_ACCOUNT: {"instance": mastodon_url, "access_token": MASTODON_TOKEN,
                                                                  "listen": ["acme air", "#acmeair"]}}});
    }
    if value.get("bluesky").is_none() {
        value["bluesky"] = json!({"accounts": {BLUESKY_DID: {"service": bluesky_url, "identifier": BLUESKY_HANDLE,
                                                            "app_password": BLUESKY_APP_PASSWORD, "listen": ["acme air"]}}});
    }
    if value.get("youtube").is_none() {
        value["youtube"] = json!({"channels": {YOUTUBE_CHANNEL: {"client_id": YOUTUBE_CLIENT_ID,
                                  "client_secret": YOUTUBE_CLIENT_SECRET, "refresh_token": YOUTUBE_REFRESH_TOKEN}}});
    }
    if value.get("reddit").is_none() {
        value["reddit"] = json!({"client_id": REDDIT_CLIENT_ID, "client_secret": REDDIT_CLIENT_SECRET, "username": "acmeair",
                                 "user_agent": "rust:com.acme.hark:v1.0 (by /u/acmeair)",
                                 "searches": ["acme air"], "subreddits": ["acmeair"]});
    }
    if value.get("sources").is_none() {
        value["sources"] = json!({SOURCE: {"secret": SOURCE_SECRET, "reply_url": source_reply_url}});
    }
    Ok(value.to_string())
}

/// A message from the source, signed as the Standard Webhooks spec says.
pub async fn post_source_message(http_url: &str, id: &str, message: serde_json::Value) -> Result<u16, Error> {
    use hark_shared::helpdesks::standard_webhooks::{self, EndpointSecret};
    let body = json!({"type": "message.created", "data": message}).to_string();
    let secret = EndpointSecret::parse(SOURCE_SECRET).map_err(|e| Error::Usage(e.to_string()))?;
    let timestamp = Utc::now().timestamp();
    let answer = reqwest::Client::new()
        .post(format!("{http_url}/webhooks/generic/{SOURCE}"))
        .header(standard_webhooks::ID_HEADER, id)
        .header(standard_webhooks::TIMESTAMP_HEADER, timestamp.to_string())
        .header(standard_webhooks::SIGNATURE_HEADER, standard_webhooks::sign(&secret, id, timestamp, body.as_bytes()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| Error::Usage(format!("POST /webhooks/generic/{SOURCE}: {e}")))?;
    Ok(answer.status().as_u16())
}

/// Plays the LinkedIn and source customers through the HTTP listener.
pub async fn play(stack: &LocalStack, observer: &mut Observer) -> Result<(), Error> {
    let code = "890e4665-4dfe-4ab1-b689-ed553bceeed0";
    let challenge = reqwest::get(format!("{}/webhooks/linkedin?challengeCode={code}", stack.http_url))
        .await
        .map_err(|e| Error::Usage(format!("LinkedIn challenge: {e}")))?;
    println!(
        "\nLinkedIn       GET /webhooks/linkedin?challengeCode=… -> {} {}",
        challenge.status().as_u16(),
        challenge.text().await.unwrap_or_default()
    );
    let linkedin = &stack.linkedin_api;
    let webhook = format!("{}/webhooks/linkedin", stack.http_url);
    let post = linkedin.organization_post(LINKEDIN_ORG, "We now fly to Porto three times a day!");
    let deliveries = [
        (
            "a LinkedIn comment with a question",
            linkedin.member_comments(
                LINKEDIN_ORG,
                &post,
                "AbC123",
                "Does the Porto route take bikes as checked baggage?",
                true,
            ),
        ),
        (
            "a LinkedIn comment whose notification leaves the text out (fetched from the Comments API)",
            linkedin.member_comments(
                LINKEDIN_ORG,
                &post,
                "XyZ789",
                "My booking for Porto disappeared from the app and support never called back",
                false,
            ),
        ),
        (
            "a LinkedIn post that mentions the brand",
            linkedin.member_mentions(
                LINKEDIN_ORG,
                "Mnop42",
                "Three weeks waiting for @Acme Air to refund a cancelled flight.",
            ),
        ),
    ];
    for (says, delivery) in deliveries {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let status = linkedin.deliver(&webhook, &delivery).await?;
        println!("\nwebhook        {says} -> {status}");
        tokio::time::sleep(Duration::from_millis(800)).await;
        observer.report().await?;
    }
    let run = Utc::now().timestamp_micros();
    let messages = [
        (
            "the shop app's in-app chat (private)",
            json!({"customer": {"id": "shopper-4411", "name": "Rosa Diaz"}, "text": "I paid for seat 12A but the boarding pass says 31F. Can you fix it?"}),
        ),
        (
            "a public review on the shop app",
            json!({"customer": {"id": "shopper-5120", "name": "Omar F.", "handle": "omarf"}, "visibility": "public",
                   "text": "Checked bag fee was charged twice. Still no refund after 10 days."}),
        ),
    ];
    for (n, (says, message)) in messages.into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let status = post_source_message(&stack.http_url, &format!("msg_demo_{run}_{n}"), message).await?;
        println!("\nwebhook        {says} -> {status}");
        tokio::time::sleep(Duration::from_millis(800)).await;
        observer.report().await?;
    }
    Ok(())
}

/// Listening: a Mastodon and a Bluesky mention (acknowledged), and posts that talk about
/// the brand without addressing it, on X, Mastodon, Bluesky and Reddit (found by the
/// listener's searches, forwarded to the help desks, never answered automatically). The
/// listener runs on its schedule.
pub async fn listen(stack: &LocalStack, observer: &mut Observer) -> Result<(), Error> {
    let every = stack.template.parameter("ListenerSchedule").unwrap_or("?").to_owned();
    println!(
        "\n-- listening: the listener polls X search, Mastodon, Bluesky, YouTube and Reddit ({every}, sped up) --"
    );
    let x_hit =
        stack.x_api.public_post(("9101", "rita_flies"), "acme air lost my bag in Lisbon and nobody answers", None);
    let brand = (MASTODON_ACCOUNT, MASTODON_ACCT);
    let mention = stack.mastodon.mention(
        ("971724", "zsc@mastodon.social", "Zoe"),
        brand,
        "my refund never came, 3 weeks now",
        "public",
    );
    stack.mastodon.public_status(("971730", "pat@fosstodon.org", "Pat"), "Acme Air delayed 4 hours again #acmeair");
    let sky_brand = (BLUESKY_DID, BLUESKY_HANDLE);
    let sky_mention = stack.bluesky.mention(
        ("did:plc:mia2c4st0mer5a6b7c8d9e0f1", "mia.bsky.social", "Mia"),
        sky_brand,
        "my flight AC88 was cancelled and the app shows nothing",
    );
    stack.bluesky.public_post(
        ("did:plc:ola2c4st0mer5a6b7c8d9e0f1", "ola.bsky.social", "Ola"),
        "Acme Air wifi has been down on every flight this week",
    );
    let yt_comment = stack.youtube.comment(
        YOUTUBE_CHANNEL,
        ("UCdanaViewer000000000000", "dana"),
        "the refund form errors out on step 3",
    );
    stack.reddit.post(
        "travel",
        "sky_traveller",
        "Acme Air lost my luggage",
        "Three days and no answer from their desk.",
    );
    println!("X              @rita_flies posts \"acme air lost my bag…\" (no @AcmeAir: a listening hit, post {x_hit})");
    println!("Mastodon       @zsc@mastodon.social mentions @{MASTODON_ACCT}; @pat@fosstodon.org posts about #acmeair");
    println!("Bluesky        @mia.bsky.social mentions @{BLUESKY_HANDLE}; @ola.bsky.social posts about Acme Air");
    println!("YouTube        @dana comments on the brand's video: \"the refund form errors out on step 3\"");
    println!(
        "Reddit         u/sky_traveller posts \"Acme Air lost my luggage\" in r/travel (Reddit listening is on in the demo)"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        observer.report().await?;
        let acknowledged = !stack.mastodon.replies_to(MASTODON_ACCOUNT, &mention).is_empty()
            && !stack.bluesky.replies_to(BLUESKY_DID, &sky_mention).is_empty()
            && !stack.youtube.replies_by(YOUTUBE_CHANNEL, &yt_comment).is_empty();
        if acknowledged {
            for (text, _) in stack.bluesky.replies_to(BLUESKY_DID, &sky_mention) {
                println!("Bluesky        @{BLUESKY_HANDLE} answered @mia.bsky.social in the thread: \"{text}\"");
            }
            for text in stack.youtube.replies_by(YOUTUBE_CHANNEL, &yt_comment) {
                println!("YouTube        the channel answered @dana in the comment thread: \"{text}\"");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            observer.report().await?;
            return Ok(());
        }
    }
    println!("               (the listener found nothing within 90 s: see target/hark-local/logs/listener.log)");
    Ok(())
}

/// What the LinkedIn organisation and the source were sent.
pub fn summary(stack: &LocalStack) {
    let comments = stack.linkedin_api.requests().into_iter().filter(|r| r.method == "POST" && r.status == 201).count();
    let replies = stack.source_app.events();
    println!(
        "LinkedIn took {comments} comment(s) as the organisation; the shop app took {} signed reply event(s){}.",
        replies.len(),
        replies
            .first()
            .map_or(String::new(), |e| format!(", e.g. \"{}\"", e.body["data"]["text"].as_str().unwrap_or_default()))
    );
}
