//! A Lambda Runtime API emulator: the real bootstrap binary of a function runs in execution
//! environments, each a process talking to its own `/2018-06-01/runtime/...` on loopback.
//!
//! As in Lambda, an environment takes one invocation at a time, and a function scales out:
//! an invocation that finds no idle environment starts a new one (cold), up to the function's
//! concurrency cap; environments then stay warm. An invocation that outlives the function's
//! timeout kills its environment; an environment that exits (crash, init error, killed)
//! fails its in-flight invocation and is replaced by a fresh one, which starts cold again.
//! The spawn → first `next` → first response times of every environment are kept, which is
//! what the cold start bench reports.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use crate::Error;

const KILLED: &str = "killed on request";

/// How long a new environment may take to start before an invocation waiting for it fails.
const INIT_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The template's logical id, e.g. `ProcessorFunction`.
    pub logical_id: String,
    pub function_name: String,
    pub binary: PathBuf,
    pub environment: Vec<(String, String)>,
    pub timeout: Duration,
    /// Most environments at once: the function's concurrency.
    pub max_environments: usize,
    /// stdout and stderr of every environment are appended here.
    pub log_file: PathBuf,
    /// `MemorySize`: what a GB-second of this function is billed on.
    pub memory_mb: u32,
}

/// What Lambda would bill a function for: invocations, and their durations rounded up to the
/// millisecond, plus each environment's init (billed for custom runtimes like Hark's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FunctionUsage {
    pub memory_mb: u32,
    pub invocations: u64,
    pub billed_ms: u64,
    pub inits: u64,
    pub init_ms: u64,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvokeError {
    /// The handler returned an error (`/invocation/{id}/error`).
    #[error("{error_type}: {message}")]
    Function { error_type: String, message: String },
    /// The environment exited or was killed mid-invocation.
    #[error("the function's process exited: {0}")]
    Crashed(String),
    #[error("the invocation timed out")]
    Timeout,
    #[error("the function is stopped")]
    Stopped,
}

/// One environment's start-up, for the cold start bench.
#[derive(Debug, Clone, Copy)]
pub struct ColdStart {
    pub pid: Option<u32>,
    pub spawned: Instant,
    /// Init done: the runtime asked for its first event.
    pub first_next: Option<Instant>,
    /// The first event handed to it (later than `first_next` when nothing was waiting).
    pub first_invocation: Option<Instant>,
    pub first_response: Option<Instant>,
}

impl ColdStart {
    pub fn init(&self) -> Option<Duration> {
        self.first_next.map(|t| t - self.spawned)
    }
    /// The first invocation's duration, from hand-over to response.
    pub fn first_invoke(&self) -> Option<Duration> {
        Some(self.first_response? - self.first_invocation?)
    }
}

struct Invocation {
    payload: Value,
    reply: oneshot::Sender<Result<Value, InvokeError>>,
}

struct InFlight {
    request_id: String,
    started: Instant,
    deadline: Instant,
    reply: oneshot::Sender<Result<Value, InvokeError>>,
}

/// What every environment of a function shares.
struct Function {
    spec: FunctionSpec,
    queue: mpsc::UnboundedSender<Invocation>,
    pending: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    cold_starts: Mutex<Vec<ColdStart>>,
    log_size_at_start: u64,
    /// Invocations ended (answered, failed, crashed or timed out) and their billed time.
    invocations: AtomicU64,
    billed_ms: AtomicU64,
    next_request: AtomicU64,
    /// Environments started (live or being replaced).
    environments: AtomicUsize,
    /// Environments waiting in `next` for work.
    idle: AtomicUsize,
    kills: Mutex<Vec<Arc<tokio::sync::Notify>>>,
    shutdown: watch::Receiver<bool>,
}

/// One execution environment: its Runtime API, its invocation in flight, its process.
struct Environment {
    function: Arc<Function>,
    runtime_api: String,
    in_flight: Mutex<Option<InFlight>>,
    kill: Arc<tokio::sync::Notify>,
    /// This environment's current process in `cold_starts`.
    cold_start: Mutex<Option<usize>>,
}

impl Environment {
    fn mark(&self, set: impl FnOnce(&mut ColdStart)) {
        if let Some(index) = *self.cold_start.lock().expect("cold start index") {
            set(&mut self.function.cold_starts.lock().expect("cold starts")[index]);
        }
    }
}

/// A running function: invoke it, kill its environments, read its cold starts.
#[derive(Clone)]
pub struct LambdaFunction {
    inner: Arc<Function>,
}

impl LambdaFunction {
    /// Starts the function with one (warm) environment; more start as invocations need them.
    pub async fn start(spec: FunctionSpec, shutdown: watch::Receiver<bool>) -> Result<Self, Error> {
        if !spec.binary.is_file() {
            return Err(Error::Usage(format!(
                "{} is missing: build the functions first (infra/local.sh does)",
                spec.binary.display()
            )));
        }
        let (queue, pending) = mpsc::unbounded_channel();
        let log_size_at_start = std::fs::metadata(&spec.log_file).map(|m| m.len()).unwrap_or_default();
        let inner = Arc::new(Function {
            log_size_at_start,
            spec,
            queue,
            pending: tokio::sync::Mutex::new(pending),
            cold_starts: Mutex::new(Vec::new()),
            invocations: AtomicU64::new(0),
            billed_ms: AtomicU64::new(0),
            next_request: AtomicU64::new(1),
            environments: AtomicUsize::new(1),
            idle: AtomicUsize::new(0),
            kills: Mutex::new(Vec::new()),
            shutdown,
        });
        start_environment(inner.clone()).await?;
        Ok(LambdaFunction { inner })
    }

    pub fn logical_id(&self) -> &str {
        &self.inner.spec.logical_id
    }

    pub fn log_file(&self) -> &std::path::Path {
        &self.inner.spec.log_file
    }

    /// How long its log was when the function started.
    pub fn log_size_at_start(&self) -> u64 {
        self.inner.log_size_at_start
    }

    /// A synchronous invocation, as an event source or API Gateway makes it.
    pub async fn invoke(&self, payload: Value) -> Result<Value, InvokeError> {
        let (reply, answer) = oneshot::channel();
        self.inner.queue.send(Invocation { payload, reply }).map_err(|_| InvokeError::Stopped)?;
        self.scale_out();
        match tokio::time::timeout(self.inner.spec.timeout + INIT_GRACE, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(InvokeError::Stopped),
            Err(_) => Err(InvokeError::Timeout),
        }
    }

    /// With no environment idle, starts one more, up to the cap.
    fn scale_out(&self) {
        let function = &self.inner;
        if function.idle.load(Ordering::Acquire) > 0 {
            return;
        }
        let cap = function.spec.max_environments.max(1);
        let grown = function
            .environments
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cap).then_some(n + 1))
            .is_ok();
        if grown {
            let function = function.clone();
            tokio::spawn(async move {
                if let Err(e) = start_environment(function.clone()).await {
                    function.environments.fetch_sub(1, Ordering::AcqRel);
                    eprintln!("hark-local: {}: {e}", function.spec.logical_id);
                }
            });
        }
    }

    /// Kills every environment (SIGKILL), as a crash would; each is replaced by a cold one.
    pub fn kill_environments(&self) {
        for kill in self.inner.kills.lock().expect("kills").iter() {
            kill.notify_one();
        }
    }

    /// The function's concurrency cap.
    pub fn max_environments(&self) -> usize {
        self.inner.spec.max_environments.max(1)
    }

    /// How many environments the function runs now.
    pub fn environments(&self) -> usize {
        self.inner.environments.load(Ordering::Acquire)
    }

    pub fn cold_starts(&self) -> Vec<ColdStart> {
        self.inner.cold_starts.lock().expect("cold starts").clone()
    }

    /// What Lambda would bill so far.
    pub fn usage(&self) -> FunctionUsage {
        let inits: Vec<Duration> = self.cold_starts().iter().filter_map(ColdStart::init).collect();
        FunctionUsage {
            memory_mb: self.inner.spec.memory_mb,
            invocations: self.inner.invocations.load(Ordering::Acquire),
            billed_ms: self.inner.billed_ms.load(Ordering::Acquire),
            inits: inits.len() as u64,
            init_ms: inits.iter().map(billed_ms).sum(),
        }
    }
}

/// Lambda bills each invocation's duration rounded up to the next millisecond.
fn billed_ms(duration: &Duration) -> u64 {
    duration.as_nanos().div_ceil(1_000_000) as u64
}

impl Function {
    fn bill(&self, in_flight: &InFlight) {
        self.invocations.fetch_add(1, Ordering::AcqRel);
        self.billed_ms.fetch_add(billed_ms(&in_flight.started.elapsed()), Ordering::AcqRel);
    }
}

/// Binds the environment's Runtime API and starts its supervisor.
async fn start_environment(function: Arc<Function>) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(Error::io("bind Runtime API"))?;
    let runtime_api = listener.local_addr().map_err(Error::io("Runtime API address"))?.to_string();
    let kill = Arc::new(tokio::sync::Notify::new());
    function.kills.lock().expect("kills").push(kill.clone());
    let environment = Arc::new(Environment {
        function: function.clone(),
        runtime_api,
        in_flight: Mutex::new(None),
        kill,
        cold_start: Mutex::new(None),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(invocation_error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(environment.clone());
    let mut server_shutdown = function.shutdown.clone();
    tokio::spawn(async move {
        let stop = async move {
            let _ = server_shutdown.wait_for(|stop| *stop).await;
        };
        let _ = axum::serve(listener, app).with_graceful_shutdown(stop).await;
    });
    tokio::spawn(supervise(environment, function.shutdown.clone()));
    Ok(())
}

async fn supervise(environment: Arc<Environment>, mut shutdown: watch::Receiver<bool>) {
    let function = environment.function.clone();
    let spec = &function.spec;
    let mut backoff = Duration::from_millis(100);
    while !*shutdown.borrow() {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&spec.log_file);
        let (stdout, stderr) = match log.and_then(|f| Ok((f.try_clone()?, f))) {
            Ok((out, err)) => (Stdio::from(out), Stdio::from(err)),
            Err(e) => {
                eprintln!("hark-local: cannot open {}: {e}", spec.log_file.display());
                (Stdio::null(), Stdio::null())
            }
        };
        let spawned = Instant::now();
        let child = tokio::process::Command::new(&spec.binary)
            .env_clear()
            .envs(spec.environment.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_RUNTIME_API", &environment.runtime_api)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            // Out of the terminal's process group: Ctrl-C reaches hark-local, which stops us in order.
            .process_group(0)
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(e) => {
                eprintln!("hark-local: cannot start {}: {e}", spec.binary.display());
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let start =
            ColdStart { pid: child.id(), spawned, first_next: None, first_invocation: None, first_response: None };
        {
            let mut starts = function.cold_starts.lock().expect("cold starts");
            starts.push(start);
            *environment.cold_start.lock().expect("cold start index") = Some(starts.len() - 1);
        }

        let ended = loop {
            tokio::select! {
                status = child.wait() => break match status {
                    Ok(status) => format!("exited with {status}"),
                    Err(e) => format!("lost: {e}"),
                },
                _ = environment.kill.notified() => {
                    let _ = child.kill().await;
                    break KILLED.to_owned();
                }
                _ = shutdown.changed() => {
                    let _ = child.kill().await;
                    fail_in_flight(&environment, InvokeError::Stopped);
                    return;
                }
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    let overdue = environment.in_flight.lock().expect("in flight").as_ref().is_some_and(|f| Instant::now() > f.deadline);
                    if overdue {
                        let _ = child.kill().await;
                        fail_in_flight(&environment, InvokeError::Timeout);
                        break format!("killed after the {}s timeout", spec.timeout.as_secs());
                    }
                }
            }
        };
        fail_in_flight(&environment, InvokeError::Crashed(ended.clone()));
        if *shutdown.borrow() {
            return;
        }
        let served = {
            let index = *environment.cold_start.lock().expect("cold start index");
            index.is_some_and(|i| function.cold_starts.lock().expect("cold starts")[i].first_response.is_some())
        };
        if ended == KILLED {
            // Asked for (a test or the bench): nothing to report.
        } else if served {
            eprintln!("hark-local: {} environment {ended}; the next one starts cold", spec.logical_id);
        } else {
            eprintln!(
                "hark-local: {} environment {ended} before answering; its log: {}",
                spec.logical_id,
                spec.log_file.display()
            );
        }
        // A function that cannot even start is retried ever more slowly, as Lambda does.
        backoff = if served { Duration::from_millis(100) } else { (backoff * 2).min(Duration::from_secs(5)) };
        tokio::time::sleep(backoff).await;
    }
}

fn fail_in_flight(environment: &Environment, error: InvokeError) {
    if let Some(in_flight) = environment.in_flight.lock().expect("in flight").take() {
        environment.function.bill(&in_flight);
        let _ = in_flight.reply.send(Err(error));
    }
}

/// Counts an environment as idle while it waits for work, however the wait ends.
struct Idle<'a>(&'a AtomicUsize);

impl<'a> Idle<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Idle(count)
    }
}

impl Drop for Idle<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn next(State(environment): State<Arc<Environment>>) -> Response {
    environment.mark(|start| {
        start.first_next.get_or_insert_with(Instant::now);
    });
    let function = &environment.function;
    let invocation = {
        let _idle = Idle::enter(&function.idle);
        let mut pending = function.pending.lock().await;
        loop {
            match pending.recv().await {
                // Its caller gave up while it waited for an environment.
                Some(invocation) if invocation.reply.is_closed() => continue,
                Some(invocation) => break invocation,
                None => return StatusCode::GONE.into_response(),
            }
        }
    };
    environment.mark(|start| {
        start.first_invocation.get_or_insert_with(Instant::now);
    });
    let request_id =
        format!("{:08x}-local-{}", std::process::id(), function.next_request.fetch_add(1, Ordering::Relaxed));
    let deadline = Instant::now() + function.spec.timeout;
    let deadline_ms = chrono::Utc::now().timestamp_millis() + function.spec.timeout.as_millis() as i64;
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{}",
        crate::template::REGION,
        crate::template::ACCOUNT_ID,
        function.spec.function_name
    );
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", request_id.clone()),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", arn),
        ("lambda-runtime-trace-id", format!("Root=1-{:08x}-{request_id}", deadline_ms / 1000)),
        ("content-type", "application/json".to_owned()),
    ] {
        headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
    }
    let body = invocation.payload.to_string();
    *environment.in_flight.lock().expect("in flight") =
        Some(InFlight { request_id, started: Instant::now(), deadline, reply: invocation.reply });
    (StatusCode::OK, headers, body).into_response()
}

fn complete(environment: &Environment, id: &str, result: Result<Value, InvokeError>) -> Response {
    let mut in_flight = environment.in_flight.lock().expect("in flight");
    match in_flight.take_if(|f| f.request_id == id) {
        Some(f) => {
            environment.function.bill(&f);
            environment.mark(|start| {
                start.first_response.get_or_insert_with(Instant::now);
            });
            let _ = f.reply.send(result);
            (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
        }
        None => (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"errorType": "InvalidRequestID", "errorMessage": format!("no invocation {id} in flight")}),
            ),
        )
            .into_response(),
    }
}

async fn response(State(environment): State<Arc<Environment>>, Path(id): Path<String>, body: Bytes) -> Response {
    // Handlers may return any JSON value, or nothing.
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    complete(&environment, &id, Ok(value))
}

async fn invocation_error(
    State(environment): State<Arc<Environment>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let report: Value = serde_json::from_slice(&body).unwrap_or_default();
    let error = InvokeError::Function {
        error_type: report["errorType"].as_str().unwrap_or("Unhandled").to_owned(),
        message: report["errorMessage"].as_str().unwrap_or_default().to_owned(),
    };
    complete(&environment, &id, Err(error))
}

async fn init_error(State(environment): State<Arc<Environment>>, body: Bytes) -> Response {
    let report: Value = serde_json::from_slice(&body).unwrap_or_default();
    eprintln!(
        "hark-local: {} failed to initialise: {} {}",
        environment.function.spec.logical_id,
        report["errorType"].as_str().unwrap_or("Unknown"),
        report["errorMessage"].as_str().unwrap_or_default()
    );
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}
