use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hark_shared::adapters::telemetry::init();
    let state = hark_api::State::from_env().await?;
    lambda_http::run(service_fn(|request| hark_api::handle(&state, request))).await
}
