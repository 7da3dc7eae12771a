//! Hark on one machine. `LocalStack::start` stands up what `sam deploy` would, from the
//! same template.yaml: resources in the local engines (DynamoDB Local, and LocalStack's SQS,
//! SNS and Secrets Manager), each function's real binary behind a Lambda
//! Runtime API emulator with the environment the template gives it, and the function's
//! event sources (HTTP API routes, the SQS queue, the table's stream, the schedules). The `hark-local` binary
//! adds the demo stream; the end-to-end tests drive the same stack.

pub mod bluesky_api;
pub mod cost;
pub mod demo;
pub mod demo_channels;
pub mod engines;
pub mod escalation_burst;
pub mod event_sources;
pub mod fault_schedule;
pub mod faults;
pub mod freshdesk;
pub mod gateway;
pub mod graph_api;
pub mod helpdesk_webhooks;
pub mod linkedin_api;
pub mod listen_bench;
pub mod load;
pub mod mastodon_api;
pub mod reddit_api;
pub mod resources;
pub mod runtime;
pub mod stream_source;
pub mod template;
pub mod usage;
pub mod x_api;
pub mod x_search;
pub mod youtube_api;
pub mod zendesk;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{broadcast, watch};

use crate::event_sources::{BatchOutcome, Schedule, SqsSource, parse_rate};
use crate::gateway::Route;
use crate::graph_api::LocalGraphApi;
use crate::helpdesk_webhooks::LocalHelpDesk;
use crate::resources::PropertyOverride;
use crate::runtime::{FunctionSpec, LambdaFunction};
use crate::template::{Template, scalar};
use crate::x_api::LocalXApi;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("AWS (local engines): {0}")]
    Aws(String),
    #[error("{what}: {source}")]
    Io { what: &'static str, source: std::io::Error },
}

impl Error {
    fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Io { what, source }
    }
}

/// What the stack does, as it happens; the demo prints these, tests may watch them.
#[derive(Debug, Clone)]
pub enum StackEvent {
    Http { method: String, path: String, status: u16, elapsed: Duration },
    Batch { function: String, outcome: BatchOutcome },
    Scheduled { function: String, result: Result<Value, String> },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub repo_root: PathBuf,
    /// Where the webhook, processor and escalator binaries are.
    pub bin_dir: PathBuf,
    pub stack_name: String,
    /// Port of the HTTP API listener; 0 picks a free one.
    pub http_port: u16,
    /// The engines: reused when given (or found on their ports), else started here.
    pub engines: engines::EngineOptions,
    pub x_api_port: u16,
    pub graph_api_port: u16,
    /// Template parameter overrides, checked against the template's constraints.
    pub parameters: Vec<(String, String)>,
    pub property_overrides: Vec<PropertyOverride>,
    /// Values for secrets, by logical id (local credentials).
    pub secret_values: HashMap<String, String>,
    /// Environments per function when the template sets no `ReservedConcurrentExecutions`.
    pub max_environments: usize,
    /// The local help desks Hark forwards to (`webhook`, `zendesk`, `freshdesk`); empty: all.
    pub help_desks: Vec<String>,
    /// Schedules run this many times faster than declared.
    pub schedule_speedup: u32,
    /// Off: only the HTTP listener drives functions (the cold start bench invokes directly).
    pub event_sources: bool,
    pub log_dir: PathBuf,
}

pub struct LocalStack {
    pub aws: aws_config::SdkConfig,
    pub template: Template,
    /// `http://127.0.0.1:PORT`, where the HTTP API routes are served.
    pub http_url: String,
    pub x_api: LocalXApi,
    pub graph_api: LocalGraphApi,
    /// A help desk taking Hark's events by Standard Webhooks (endpoint `local-desk`).
    pub help_desk: LocalHelpDesk,
    /// A local LinkedIn (Comments API, and its signed webhooks).
    pub linkedin_api: linkedin_api::LocalLinkedInApi,
    /// A local Reddit (token endpoint and listings).
    pub reddit: reddit_api::LocalReddit,
    /// A local Mastodon instance with the brand's account.
    pub mastodon: mastodon_api::LocalMastodon,
    /// A local Bluesky service with the brand's account.
    pub bluesky: bluesky_api::LocalBluesky,
    /// A local YouTube Data API with the brand's channel.
    pub youtube: youtube_api::LocalYouTube,
    /// The demo's own app, taking Hark's replies to its messages (Standard Webhooks).
    pub source_app: LocalHelpDesk,
    /// A local Zendesk and Freshdesk, whose agents' answers come back to the HTTP API.
    pub zendesk: zendesk::LocalZendesk,
    pub freshdesk: freshdesk::LocalFreshdesk,
    pub endpoints: engines::Endpoints,
    /// The functions' way to SQS, which the load tool's fault schedules can cut.
    pub sqs_link: faults::Link,
    /// The stack's control listener (kills, the SQS outage), for the load tool.
    pub control_url: String,
    help_desks: Vec<String>,
    pub events: broadcast::Sender<StackEvent>,
    /// Where each function's output goes (`<binary>.log`).
    pub log_dir: PathBuf,
    functions: HashMap<String, LambdaFunction>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    engines: engines::Engines,
}

impl LocalStack {
    pub async fn start(options: Options) -> Result<Self, Error> {
        if options.schedule_speedup == 0 {
            return Err(Error::Usage("the schedule speed-up must be at least 1".into()));
        }
        std::fs::create_dir_all(&options.log_dir).map_err(Error::io("create the log directory"))?;
        let engines = {
            let (root, engine_options) = (options.repo_root.clone(), options.engines.clone());
            tokio::task::spawn_blocking(move || engines::Engines::start_or_reuse(&root, &engine_options))
                .await
                .map_err(|e| Error::Usage(format!("starting the engines: {e}")))??
        };
        let x_api = LocalXApi::start(options.x_api_port).await?;
        let graph_api = LocalGraphApi::start(options.graph_api_port).await?;
        let help_desk = LocalHelpDesk::start(0, demo::HELP_DESK_SECRET).await?;
        let linkedin_api = linkedin_api::LocalLinkedInApi::start(0, demo_channels::LINKEDIN_CLIENT_SECRET).await?;
        let source_app = LocalHelpDesk::start(0, demo_channels::SOURCE_SECRET).await?;
        let mastodon = mastodon_api::LocalMastodon::start(0).await?;
        let bluesky = bluesky_api::LocalBluesky::start(0).await?;
        let youtube = youtube_api::LocalYouTube::start(0).await?;
        let reddit = reddit_api::LocalReddit::start(0).await?;
        let zendesk = zendesk::LocalZendesk::start(0, demo::ZENDESK_CLIENT_ID, demo::ZENDESK_CLIENT_SECRET).await?;
        let freshdesk = freshdesk::LocalFreshdesk::start(0, demo::FRESHDESK_API_KEY, demo::FRESHDESK_FIELD).await?;
        // The plans the template's defaults assume: Suite Team, and Growth.
        zendesk.limit_rate(Some(200));
        freshdesk.limit_rate(Some(200), Some(80));
        let mut secret_values = options.secret_values.clone();
        if let Some(json) = secret_values.get_mut("CredentialsSecret") {
            let desks = demo::LocalDesks {
                webhook_url: &help_desk.url,
                zendesk_url: &zendesk.url,
                zendesk_refresh_token: &zendesk.consent(),
                freshdesk_url: &freshdesk.url,
                only: &options.help_desks,
            };
            *json = demo::with_local_help_desks(json, &desks)?;
            *json = demo_channels::with_local_channels(json, &source_app.url, &mastodon.url, &bluesky.url)?;
        }
        secret_values.entry("HelpDeskSecret".to_owned()).or_insert_with(demo::help_desk_secrets_json);
        // The local platforms know the OAuth clients, refresh tokens and Page tokens the local
        // secret holds, as X and Meta know the ones they issued.
        let credentials = match secret_values.get("CredentialsSecret") {
            Some(json) => hark_shared::credentials::Credentials::from_json(json)
                .map_err(|e| Error::Usage(format!("the local credentials: {e}")))?,
            None => Default::default(),
        };
        for (account, creds) in &credentials.x.accounts {
            if let Some(oauth) = &creds.oauth2 {
                let secret = oauth.client_secret.as_ref().map(|s| s.expose());
                x_api.register_client(&oauth.client_id, secret, account, oauth.refresh_token.expose());
            }
        }
        for search in credentials.x.accounts.values().filter_map(|a| a.search.as_ref()) {
            x_api.register_search_token(search.bearer_token.expose());
        }
        if let Some(r) = &credentials.reddit {
            reddit.register_client(&r.client_id, r.client_secret.expose());
        }
        for (id, account) in credentials.mastodon.iter().flat_map(|m| &m.accounts) {
            mastodon.register_account(id, demo_channels::MASTODON_ACCT, account.access_token.expose());
        }
        for (did, account) in credentials.bluesky.iter().flat_map(|b| &b.accounts) {
            bluesky.register_account(did, &account.identifier, account.app_password.expose());
        }
        for (channel, oauth) in credentials.youtube.iter().flat_map(|y| &y.channels) {
            let secret = oauth.client_secret.as_ref().map(|s| s.expose()).unwrap_or_default();
            youtube.register_channel(channel, &oauth.client_id, secret, oauth.refresh_token.expose());
        }
        for (organization, creds) in credentials.linkedin.iter().flat_map(|l| &l.organizations) {
            linkedin_api.register_organization(organization, creds.access_token.expose());
        }
        for (account, creds) in &credentials.meta.accounts {
            match &creds.page_id {
                Some(page) if page != account => graph_api.register_instagram(account, page),
                _ => graph_api.register_page(account, creds.access_token.expose(), &creds.app_id),
            }
        }

        // The functions call the local platforms; everything else is the operator's to override.
        let mut parameters = vec![
            ("XApiBaseUrl".to_owned(), x_api.base_url.clone()),
            ("MetaGraphBaseUrl".to_owned(), graph_api.base_url.clone()),
            ("LinkedInApiBaseUrl".to_owned(), linkedin_api.base_url.clone()),
            ("RedditAuthBaseUrl".to_owned(), reddit.url.clone()),
            ("YouTubeApiBaseUrl".to_owned(), youtube.url.clone()),
            ("YouTubeTokenUrl".to_owned(), youtube.token_url()),
            ("RedditApiBaseUrl".to_owned(), reddit.url.clone()),
        ];
        parameters.extend(options.parameters.iter().cloned());
        let mut template = Template::load(&options.repo_root.join("template.yaml"), &options.stack_name, &parameters)?;

        let aws = aws_config(&engines.endpoints).await;
        resources::deploy(&aws, &mut template, &options.property_overrides, &secret_values).await?;

        let (shutdown, shutdown_rx) = watch::channel(false);
        let (events, _) = broadcast::channel(1024);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.http_port))
            .await
            .map_err(Error::io("bind the HTTP API listener"))?;
        let http_url = format!("http://{}", listener.local_addr().map_err(Error::io("listener address"))?);
        // Meta sends the echoes of Hark's own messages to the app's callback URL, signed.
        for (app_id, app) in &credentials.meta.apps {
            graph_api.subscribe(graph_api::Subscriber {
                app_id: app_id.clone(),
                url: format!("{http_url}/webhooks/meta"),
                app_secret: app.app_secret.expose().to_owned(),
            });
        }
        linkedin_api.subscribe(&format!("{http_url}/webhooks/linkedin"));
        // The local desks' agents answer through the HTTP API, as the README sets them up.
        zendesk.send_webhooks_to(&format!("{http_url}/helpdesks/zendesk"), demo::ZENDESK_SIGNING_SECRET);
        freshdesk.send_webhooks_to(&format!("{http_url}/helpdesks/freshdesk"), demo::FRESHDESK_WEBHOOK_SECRET);
        for (id, _) in template.resources_of_type("AWS::Serverless::HttpApi")? {
            template.created(&id, template::Physical { reference: "local".into(), ..Default::default() });
        }

        let mut functions = HashMap::new();
        let mut routes = Vec::new();
        let mut tasks = Vec::new();
        let meters = usage::Meters::new();
        // Lambda's pollers' requests are billed to the account: their client counts them.
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&aws)
                .interceptor(hark_shared::adapters::aws_usage::UsageInterceptor::new(meters.event_sources.clone()))
                .build(),
        );
        // The functions reach SQS through a link the fault schedules can cut; Lambda's own
        // pollers (the event sources here) do not go through it.
        let sqs_link = faults::Link::start(&engines.endpoints.aws).await?;
        for (id, resource) in template.resources_of_type("AWS::Serverless::Function")? {
            let mut spec = function_spec(&template, &options, &engines.endpoints, &id, &resource)?;
            spec.environment.push(("AWS_ENDPOINT_URL_SQS".into(), sqs_link.url.clone()));
            let function = LambdaFunction::start(spec, shutdown_rx.clone()).await?;
            for (event_name, event) in resource["Properties"]["Events"].as_object().into_iter().flatten() {
                let props = template.resolve(&event["Properties"])?;
                match event["Type"].as_str().unwrap_or_default() {
                    "HttpApi" => routes.push(Route {
                        method: props["Method"].as_str().map(str::to_ascii_uppercase).unwrap_or_else(|| "ANY".into()),
                        path: props["Path"].as_str().unwrap_or("$default").to_owned(),
                        function: function.clone(),
                    }),
                    "SQS" | "DynamoDB" | "Schedule" | "ScheduleV2" if !options.event_sources => {}
                    "DynamoDB" => {
                        let source = stream_source(&aws, &props, &function)
                            .map_err(|e| Error::Template(format!("{id}.Events.{event_name}: {e}")))?;
                        tasks.push(tokio::spawn(source.run(events.clone(), shutdown_rx.clone())));
                    }
                    "SQS" => {
                        let source = sqs_source(&template, &sqs, &props, &function)
                            .map_err(|e| Error::Template(format!("{id}.Events.{event_name}: {e}")))?;
                        tasks.push(tokio::spawn(source.run(events.clone(), shutdown_rx.clone())));
                    }
                    "Schedule" | "ScheduleV2" => {
                        let expression = scalar(&props["ScheduleExpression"]);
                        let period = parse_rate(&expression)? / options.schedule_speedup;
                        let schedule_arn = format!(
                            "arn:aws:scheduler:{}:{}:schedule/default/{}-{event_name}",
                            template::REGION,
                            template::ACCOUNT_ID,
                            template.physical_name(&id)
                        );
                        let schedule = Schedule { period, function: function.clone(), schedule_arn };
                        tasks.push(tokio::spawn(schedule.run(events.clone(), shutdown_rx.clone())));
                    }
                    other => {
                        return Err(Error::Template(format!(
                            "{id}.Events.{event_name}: event type {other} is not run by the local stack"
                        )));
                    }
                }
            }
            functions.insert(id, function);
        }
        let control_url = faults::serve_control(functions.clone(), sqs_link.clone(), meters.clone()).await?;
        let gateway =
            gateway::serve(listener, routes, meters.gateway_requests.clone(), events.clone(), shutdown_rx.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = gateway.await {
                eprintln!("hark-local: {e}");
            }
        }));
        Ok(LocalStack {
            aws,
            template,
            http_url,
            x_api,
            graph_api,
            help_desk,
            linkedin_api,
            mastodon,
            bluesky,
            youtube,
            reddit,
            source_app,
            zendesk,
            freshdesk,
            endpoints: engines.endpoints.clone(),
            sqs_link,
            control_url,
            help_desks: options.help_desks.clone(),
            events,
            log_dir: options.log_dir.clone(),
            functions,
            shutdown,
            tasks,
            engines,
        })
    }

    pub fn function(&self, logical_id: &str) -> &LambdaFunction {
        self.functions.get(logical_id).unwrap_or_else(|| panic!("template.yaml has no function {logical_id}"))
    }

    /// What the tools that attach to this stack (`hark-local load`) need to know of it.
    pub fn stack_file(&self) -> load::StackFile {
        load::StackFile {
            http_url: self.http_url.clone(),
            control_url: self.control_url.clone(),
            dynamodb: self.endpoints.dynamodb.clone(),
            aws: self.endpoints.aws.clone(),
            table: self.resource("Table").to_owned(),
            queue_url: self.resource("MentionsQueue").to_owned(),
            dead_letter_queue_url: self.resource("MentionsDeadLetterQueue").to_owned(),
            x_api: self.x_api.base_url.clone(),
            help_desk: self.help_desk.url.clone(),
            zendesk: self.zendesk.url.clone(),
            freshdesk: self.freshdesk.url.clone(),
            help_desks: self.help_desks.clone(),
            engine_pids: self.engine_pids().into_iter().map(|(n, p)| (n.to_owned(), p)).collect(),
        }
    }

    /// The physical id (`Ref`) of a resource the stack created: table name, queue URL, topic ARN.
    pub fn resource(&self, logical_id: &str) -> &str {
        self.template
            .physical(logical_id)
            .map(|p| p.reference.as_str())
            .unwrap_or_else(|| panic!("template.yaml has no resource {logical_id}"))
    }

    /// The engines this stack started (not reused), by name.
    pub fn engines_started_here(&self) -> Vec<&'static str> {
        self.engines.started_here()
    }

    /// Process ids of the engines this stack started, for measuring them.
    pub fn engine_pids(&self) -> Vec<(&'static str, u32)> {
        self.engines.pids()
    }

    /// Stops every environment, listener and poller, then the engines started here.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        // One deadline for all: under load the HTTP listener would go on serving keep-alive
        // clients, and a poller may be mid-invocation. What has not finished by then is
        // dropped; nothing is lost, since SQS keeps what was not deleted.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
        // Environments are killed by their supervisors on the same signal.
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(self.engines);
    }
}

/// Answers a test scripts for a local help desk's next API calls, in order: a status and
/// a `Retry-After`, with the desk's own error body.
#[derive(Default)]
pub(crate) struct Script(std::collections::VecDeque<(u16, Option<u64>)>);

impl Script {
    pub(crate) fn push(&mut self, status: u16, retry_after: Option<u64>) {
        self.0.push_back((status, retry_after));
    }

    /// The next scripted answer, if one is left.
    pub(crate) fn next(&mut self, body: serde_json::Value) -> Option<axum::response::Response> {
        use axum::response::IntoResponse;
        let (status, retry_after) = self.0.pop_front()?;
        let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        Some(response)
    }
}

/// A local desk's documented per-minute rate limit, as the desks count it: fixed one-minute
/// windows per account; a request over the limit is answered 429 with `Retry-After` (the
/// seconds left in the window) and does nothing. Counts what it saw, for the load tool.
#[derive(Debug, Default, Clone)]
pub(crate) struct RateWindow {
    limit: Option<u32>,
    window: i64,
    in_window: u32,
    stats: RateStats,
}

/// What a local desk's rate limit saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RateStats {
    pub requests: u64,
    /// Answered 429: over the limit.
    pub rate_limited: u64,
    /// The most requests admitted in one minute.
    pub busiest_minute: u32,
}

impl RateWindow {
    pub(crate) fn limit(&mut self, per_minute: Option<u32>) {
        self.limit = per_minute;
    }

    /// `Err(retry_after_seconds)` when the request is over the limit.
    pub(crate) fn admit(&mut self, now: chrono::DateTime<chrono::Utc>) -> Result<(), u64> {
        self.stats.requests += 1;
        let window = now.timestamp().div_euclid(60);
        if window != self.window {
            (self.window, self.in_window) = (window, 0);
        }
        if self.limit.is_some_and(|limit| self.in_window >= limit) {
            self.stats.rate_limited += 1;
            return Err((60 - now.timestamp().rem_euclid(60)) as u64);
        }
        self.in_window += 1;
        self.stats.busiest_minute = self.stats.busiest_minute.max(self.in_window);
        Ok(())
    }

    pub(crate) fn stats(&self) -> RateStats {
        self.stats
    }
}

/// A 429 as a desk answers it.
pub(crate) fn too_many(retry_after: u64, body: serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (axum::http::StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    response.headers_mut().insert("retry-after", retry_after.into());
    response
}

/// The SDK configuration for the local engines: DynamoDB to DynamoDB Local, the rest to
/// LocalStack, with throwaway credentials.
/// Serves `app` on `127.0.0.1:port` (0 picks a free port) until the runtime stops; returns
/// its base URL. For the local stand-ins of third-party APIs, named by `what`.
pub(crate) async fn serve_loopback(what: &'static str, port: u16, app: axum::Router) -> Result<String, Error> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(Error::io(what))?;
    let base_url = format!("http://{}", listener.local_addr().map_err(Error::io(what))?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("hark-local: {what} stopped: {e}");
        }
    });
    Ok(base_url)
}

pub async fn aws_config(endpoints: &engines::Endpoints) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(template::REGION))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "hark-local"))
        .load()
        .await
        .into_builder()
        .service_config(endpoints.clone())
        .build()
}

fn setting<'a>(
    template: &Template,
    resource: &'a Value,
    globals: &'a Value,
    name: &str,
) -> Result<Option<Value>, Error> {
    match resource["Properties"].get(name).or_else(|| globals.get(name)) {
        Some(value) => template.resolve(value).map(Some),
        None => Ok(None),
    }
}

fn function_spec(
    template: &Template,
    options: &Options,
    endpoints: &engines::Endpoints,
    id: &str,
    resource: &Value,
) -> Result<FunctionSpec, Error> {
    let globals = template.globals("Function");
    let binary = resource["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .ok_or_else(|| Error::Template(format!("{id}: Metadata.BuildProperties.Binary names no binary")))?;
    let timeout: f64 = setting(template, resource, &globals, "Timeout")?
        .map(|v| scalar(&v))
        .unwrap_or("3".into())
        .parse()
        .map_err(|_| Error::Template(format!("{id}: Timeout is not a number")))?;
    let memory: u32 = setting(template, resource, &globals, "MemorySize")?
        .map(|v| scalar(&v))
        .unwrap_or("128".into())
        .parse()
        .map_err(|_| Error::Template(format!("{id}: MemorySize is not a number")))?;
    let logging = setting(template, resource, &globals, "LoggingConfig")?.unwrap_or_default();
    let function_name = template.physical_name(id);
    let max_environments = match setting(template, resource, &globals, "ReservedConcurrentExecutions")? {
        Some(v) => scalar(&v)
            .parse()
            .map_err(|_| Error::Template(format!("{id}: ReservedConcurrentExecutions is not a number")))?,
        None => options.max_environments,
    };

    let mut environment: Vec<(String, String)> = Vec::new();
    for variables in [&globals["Environment"]["Variables"], &resource["Properties"]["Environment"]["Variables"]] {
        for (name, value) in variables.as_object().into_iter().flatten() {
            environment.retain(|(n, _)| n != name);
            environment.push((name.clone(), template.resolve_string(value)?));
        }
    }
    // What Lambda itself sets, and the emulator's endpoint for every AWS client.
    let log_format = logging["LogFormat"].as_str().unwrap_or("Text").to_owned();
    let lambda = [
        ("AWS_LAMBDA_FUNCTION_NAME", function_name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function_name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "local".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
        ("LAMBDA_TASK_ROOT", options.bin_dir.display().to_string()),
        ("_HANDLER", "bootstrap".into()),
        ("AWS_REGION", template::REGION.into()),
        ("AWS_DEFAULT_REGION", template::REGION.into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("TZ", ":UTC".into()),
        ("LANG", "C.UTF-8".into()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
    ];
    environment.extend(lambda.into_iter().map(|(k, v)| (k.to_owned(), v)));
    environment.extend(endpoints.environment().into_iter().map(|(k, v)| (k.to_owned(), v)));
    if log_format == "JSON" {
        environment.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
        if let Some(level) = logging["ApplicationLogLevel"].as_str() {
            environment.push(("AWS_LAMBDA_LOG_LEVEL".into(), level.to_owned()));
        }
    }
    Ok(FunctionSpec {
        logical_id: id.to_owned(),
        function_name,
        binary: options.bin_dir.join(binary),
        environment,
        timeout: Duration::from_secs_f64(timeout),
        max_environments,
        log_file: options.log_dir.join(format!("{binary}.log")),
        memory_mb: memory,
    })
}

fn stream_source(
    aws: &aws_config::SdkConfig,
    props: &Value,
    function: &LambdaFunction,
) -> Result<stream_source::StreamSource, String> {
    let stream_arn = scalar(&props["Stream"]);
    if !stream_arn.contains("/stream/") {
        return Err(format!("{stream_arn} is not a table's stream (does the table have a StreamSpecification?)"));
    }
    let number = |name: &str| -> Result<Option<i64>, String> {
        match props.get(name).filter(|v| !v.is_null()) {
            Some(v) => scalar(v).parse().map(Some).map_err(|_| format!("{name} is not a number")),
            None => Ok(None),
        }
    };
    let from_oldest = match scalar(&props["StartingPosition"]).as_str() {
        "TRIM_HORIZON" => true,
        "LATEST" => false,
        other => return Err(format!("StartingPosition {other:?}: TRIM_HORIZON or LATEST")),
    };
    let flag = |name: &str| props[name] == true || props[name] == "true";
    Ok(stream_source::StreamSource {
        client: aws_sdk_dynamodbstreams::Client::new(aws),
        stream_arn,
        from_oldest,
        batch_size: number("BatchSize")?.unwrap_or(100).clamp(1, 10_000) as usize,
        batching_window: Duration::from_secs(number("MaximumBatchingWindowInSeconds")?.unwrap_or(0).max(0) as u64),
        parallelization: number("ParallelizationFactor")?.unwrap_or(1).clamp(1, 10) as usize,
        report_batch_item_failures: props["FunctionResponseTypes"]
            .as_array()
            .is_some_and(|types| types.iter().any(|t| t == "ReportBatchItemFailures")),
        bisect_on_error: flag("BisectBatchOnFunctionError"),
        // -1 (Lambda's default): until the record expires.
        max_retries: number("MaximumRetryAttempts")?.and_then(|n| u32::try_from(n).ok()),
        max_record_age: number("MaximumRecordAgeInSeconds")?
            .and_then(|n| u64::try_from(n).ok())
            .map(Duration::from_secs),
        filter: stream_source::Filter::parse(&props["FilterCriteria"])?,
        function: function.clone(),
    })
}

fn sqs_source(
    template: &Template,
    client: &aws_sdk_sqs::Client,
    props: &Value,
    function: &LambdaFunction,
) -> Result<SqsSource, String> {
    let queue_arn = scalar(&props["Queue"]);
    let queue_url = template
        .resources_of_type("AWS::SQS::Queue")
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|(id, _)| template.physical(&id).cloned())
        .find(|p| p.attributes.get("Arn") == Some(&queue_arn))
        .map(|p| p.reference)
        .ok_or_else(|| format!("queue {queue_arn} is not one the template declares"))?;
    let number = |name: &str, default: u64| -> Result<u64, String> {
        match props.get(name).filter(|v| !v.is_null()) {
            Some(v) => scalar(v).parse().map_err(|_| format!("{name} is not a number")),
            None => Ok(default),
        }
    };
    let report = props["FunctionResponseTypes"]
        .as_array()
        .is_some_and(|types| types.iter().any(|t| t == "ReportBatchItemFailures"));
    // As many batches at once as the mapping allows, and never more than the function runs.
    let cap = function.max_environments();
    let pollers = match props["ScalingConfig"].get("MaximumConcurrency").filter(|v| !v.is_null()) {
        Some(v) => scalar(v).parse::<usize>().map_err(|_| "MaximumConcurrency is not a number".to_owned())?.min(cap),
        None => cap,
    };
    Ok(SqsSource {
        pollers: pollers.max(1),
        client: client.clone(),
        queue_url,
        queue_arn,
        batch_size: number("BatchSize", 10)?.max(1) as usize,
        batching_window: Duration::from_secs(number("MaximumBatchingWindowInSeconds", 0)?),
        report_batch_item_failures: report,
        function: function.clone(),
    })
}
