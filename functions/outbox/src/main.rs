use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hark_shared::adapters::telemetry::init();
    let outbox = hark_outbox::AwsSweeper::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        outbox.handle(event.payload).await.map_err(Error::from)
    }))
    .await
}
