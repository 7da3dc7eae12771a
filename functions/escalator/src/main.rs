use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};

/// Time kept back from the invocation's deadline to finish the items already started.
const FINISH_MARGIN: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Error> {
    hark_shared::adapters::telemetry::init();
    let escalator = hark_escalator::AwsEscalator::from_env().await?;
    // The scheduled event carries nothing the run needs; the clock decides what is due.
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let deadline = Duration::from_millis(event.context.deadline);
        let escalator = &escalator;
        async move { run_within_deadline(escalator, deadline).await }
    }))
    .await
}

async fn run_within_deadline(
    escalator: &hark_escalator::AwsEscalator,
    deadline: Duration,
) -> Result<hark_escalator::RunSummary, Error> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let time = deadline.saturating_sub(now).saturating_sub(FINISH_MARGIN);
    escalator.run_for(Some(time)).await.map_err(Error::from)
}
