//! `hark-local listen`: how much one listener run takes in, through the real listener
//! binary behind the local stack. It fills the local X API's search, the local Mastodon
//! instance, the local Bluesky service and the local YouTube channel with matching posts
//! and comments, invokes the listener once (the schedule is off), and reports the run's pages, messages enqueued and their rate, the calls each
//! platform was asked, and a second run with nothing new (what a quiet poll costs).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::demo_channels::{BLUESKY_DID, BLUESKY_HANDLE, MASTODON_ACCOUNT, MASTODON_ACCT, YOUTUBE_CHANNEL};
use crate::{Error, LocalStack};

#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Matching public posts on X.
    pub posts: usize,
    /// Mentions of the Mastodon account, and as many public statuses naming the brand;
    /// as many Bluesky mentions (each also found by its search) and YouTube comments.
    pub statuses: usize,
}

/// One run as measured from outside, with the run's own summary.
#[derive(Debug)]
pub struct RunMeasure {
    pub elapsed: Duration,
    pub summary: Value,
    pub x_calls: usize,
    pub mastodon_calls: usize,
    pub bluesky_calls: usize,
    pub youtube_calls: usize,
}

impl RunMeasure {
    pub fn enqueued(&self) -> u64 {
        self.summary["enqueued"].as_u64().unwrap_or_default()
    }

    fn line(&self, label: &str) -> String {
        let pages: u64 =
            self.summary["feeds"].as_array().into_iter().flatten().filter_map(|f| f["pages"].as_u64()).sum();
        let rate = self.enqueued() as f64 / self.elapsed.as_secs_f64().max(1e-6);
        format!(
            "{label:<10} {:>6} enqueued ({:>5} hits) in {:>7.0} ms = {:>7.0} msg/s; {pages:>3} pages; calls: X {:>3}, Mastodon {:>3}, Bluesky {:>3}, YouTube {:>3}",
            self.enqueued(),
            self.summary["hits"].as_u64().unwrap_or_default(),
            self.elapsed.as_secs_f64() * 1000.0,
            rate,
            self.x_calls,
            self.mastodon_calls,
            self.bluesky_calls,
            self.youtube_calls,
        )
    }
}

async fn invoke(stack: &LocalStack) -> Result<RunMeasure, Error> {
    let (x_before, mastodon_before) = (stack.x_api.searches().len(), stack.mastodon.calls().len());
    let (bluesky_before, youtube_before) = (stack.bluesky.calls().len(), stack.youtube.calls().len());
    let started = Instant::now();
    let summary = stack
        .function("ListenerFunction")
        .invoke(serde_json::json!({"source": "aws.scheduler"}))
        .await
        .map_err(|e| Error::Usage(format!("the listener: {e}")))?;
    Ok(RunMeasure {
        elapsed: started.elapsed(),
        summary,
        x_calls: stack.x_api.searches().len() - x_before,
        mastodon_calls: stack.mastodon.calls().len() - mastodon_before,
        bluesky_calls: stack.bluesky.calls().len() - bluesky_before,
        youtube_calls: stack.youtube.calls().len() - youtube_before,
    })
}

/// Sets every feed's cursor with a first run over one item each, fills the platforms, runs
/// the listener over the burst, and once more with nothing new; returns the last two runs.
pub async fn run(stack: &LocalStack, options: &ListenOptions) -> Result<(RunMeasure, RunMeasure), Error> {
    let brand = (MASTODON_ACCOUNT, MASTODON_ACCT);
    stack.x_api.public_post(("9001", "ana_b"), "acme air, before the burst", None);
    stack.mastodon.mention(("971724", "zsc", "Zoe"), brand, "before the burst", "public");
    stack.mastodon.public_status(("971730", "pat", "Pat"), "acme air before the burst #acmeair");
    let (sky_brand, mia) =
        ((BLUESKY_DID, BLUESKY_HANDLE), ("did:plc:mia2c4st0mer5a6b7c8d9e0f1", "mia.bsky.social", "Mia"));
    stack.bluesky.mention(mia, sky_brand, "acme air, before the burst");
    stack.youtube.comment(YOUTUBE_CHANNEL, ("UCdanaViewer000000000000", "dana"), "before the burst");
    invoke(stack).await?;
    for n in 0..options.posts {
        stack.x_api.public_post(("9001", "ana_b"), &format!("acme air lost my bag, day {n}"), None);
    }
    for n in 0..options.statuses {
        stack.mastodon.mention(("971724", "zsc", "Zoe"), brand, &format!("refund please ({n})"), "public");
        stack.mastodon.public_status(("971730", "pat", "Pat"), &format!("acme air delayed again ({n}) #acmeair"));
        stack.bluesky.mention(mia, sky_brand, &format!("acme air lost my bag ({n})"));
        stack.youtube.comment(
            YOUTUBE_CHANNEL,
            ("UCdanaViewer000000000000", "dana"),
            &format!("refund form broken ({n})"),
        );
    }
    let full = invoke(stack).await?;
    let quiet = invoke(stack).await?;
    Ok((full, quiet))
}

pub fn report(options: &ListenOptions, full: &RunMeasure, quiet: &RunMeasure) -> String {
    format!(
        "One listener run over {} new X posts, {} Mastodon mentions + {} statuses (each found by a search and a hashtag), \
         {} Bluesky mentions (each also found by its search) and {} YouTube comments:\n{}\n{}",
        options.posts,
        options.statuses,
        options.statuses,
        options.statuses,
        options.statuses,
        full.line("burst run"),
        quiet.line("quiet run"),
    )
}
