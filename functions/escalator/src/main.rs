use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hark_shared::adapters::telemetry::init();
    let escalator = hark_escalator::AwsEscalator::from_env().await?;
    // The scheduled event carries nothing the run needs; the clock decides what is due.
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        escalator.run().await.map_err(Error::from)
    }))
    .await
}
