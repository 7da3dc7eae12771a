//! Per-message cost of the webhook's hot path and the care classifier, on one core.
//! `cargo bench -p hark-shared --bench hot_paths` prints the figures; nothing is asserted.

use std::hint::black_box;
use std::time::Instant;

use chrono::Utc;
use hark_shared::channels::x;
use hark_shared::domain::classify::{CareClassifier, Classifier, Context};

const SECRET: &str = "z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu";

fn delivery() -> String {
    serde_json::json!({
        "for_user_id": "2244994945",
        "tweet_create_events": [{
            "id_str": "1500000000000000001",
            "text": "@acme my flight was cancelled and nobody at the desk can tell me when the next one is…",
            "truncated": true,
            "extended_tweet": {"full_text": "@acme my flight was cancelled and nobody at the desk can tell me when the next one is. Three hours waiting!"},
            "user": {"id_str": "123", "screen_name": "alice", "name": "Alice", "followers_count": 1234, "verified": false},
            "in_reply_to_status_id_str": null,
            "created_at": "Wed Oct 10 20:19:24 +0000 2018",
            "lang": "en"
        }]
    })
    .to_string()
}

fn measure(name: &str, iterations: u32, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let per = start.elapsed() / iterations;
    println!("{name:<48} {:>8.2} µs/op  {:>10.0} op/s", per.as_secs_f64() * 1e6, 1.0 / per.as_secs_f64());
}

fn main() {
    let body = delivery();
    let signature = x::sign(SECRET, body.as_bytes());
    let now = Utc::now();
    println!("delivery body: {} bytes", body.len());
    measure("verify signature (HMAC-SHA256, constant time)", 200_000, || {
        x::verify_signature(SECRET, black_box(body.as_bytes()), Some(&signature)).unwrap();
    });
    measure("verify + parse + normalise one delivery", 100_000, || {
        x::verify_signature(SECRET, black_box(body.as_bytes()), Some(&signature)).unwrap();
        let out = x::parse(body.as_bytes()).unwrap().normalise(now, "apigw:bench");
        black_box(out.mentions);
    });
    let mention_json = {
        let out = x::parse(body.as_bytes()).unwrap().normalise(now, "apigw:bench");
        serde_json::to_string(&out.mentions[0]).unwrap()
    };
    println!("queued mention: {} bytes", mention_json.len());
    measure("serialise + deserialise the queued mention", 200_000, || {
        let m: hark_shared::domain::mention::Mention = serde_json::from_str(black_box(&mention_json)).unwrap();
        black_box(serde_json::to_string(&m).unwrap());
    });
    let text = "@acme thanks for nothing, my flight was cancelled and I'm stuck. Please help!!";
    let classifier = CareClassifier::default();
    let context = Context::default();
    measure("classify (care classifier)", 500_000, || {
        black_box(classifier.classify(black_box(text), &context));
    });
}
