use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hark_shared::adapters::telemetry::init();
    let sweeper = hark_outbox::AwsSweeper::from_env().await?;
    // The scheduled event carries nothing the run needs; the due index says what to send.
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        sweeper.run().await.map_err(Error::from)
    }))
    .await
}
