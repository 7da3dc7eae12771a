use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hark_shared::adapters::telemetry::init();
    let listener = hark_listener::AwsListener::from_env().await?;
    // The scheduled event carries nothing the run needs: the cursors say where each feed stands.
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| {
        let listener = &listener;
        async move { Ok::<_, Error>(listener.run().await) }
    }))
    .await
}
