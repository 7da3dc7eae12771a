//! The engines the local stack and the tests stand on, as `infra/engines.sh` installs them:
//! Amazon's DynamoDB Local for DynamoDB, and LocalStack's own SQS, SNS and Secrets Manager
//! (`infra/localstack_server.py`) for the rest. Each is reused when one already answers on
//! its port, or started here; an engine started here runs under a shell that waits on our end
//! of a pipe, so it stops with us even when we are killed outright: its process group gets
//! SIGTERM, then SIGKILL if the engine has not gone within two seconds.
//!
//! Starting is synchronous (plain processes and a loopback health check) so a test binary's
//! static can start its engines without a runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::Error;

/// Where each AWS service is served. Given to the SDK as service configuration, so one
/// `SdkConfig` routes DynamoDB to DynamoDB Local and everything else to LocalStack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub dynamodb: String,
    pub aws: String,
}

impl LoadServiceConfig for Endpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.env() == "AWS_ENDPOINT_URL").then(|| match key.service_id() {
            // DynamoDB Local serves its tables' streams on the same endpoint.
            "DynamoDB" | "DynamoDB Streams" => self.dynamodb.clone(),
            _ => self.aws.clone(),
        })
    }
}

impl Endpoints {
    /// The environment a function process needs for the same routing.
    pub fn environment(&self) -> [(&'static str, String); 2] {
        [("AWS_ENDPOINT_URL", self.aws.clone()), ("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb.clone())]
    }
}

/// Which engines to use: explicit endpoints are reused as they are; otherwise the ports are
/// tried (0 picks free ones).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub dynamodb_endpoint: Option<String>,
    pub aws_endpoint: Option<String>,
    pub dynamodb_port: u16,
    pub aws_port: u16,
    /// Where engines started here write their output.
    pub log_dir: PathBuf,
}

struct Running {
    name: &'static str,
    pid: u32,
    guard: Child,
    stdin: Option<ChildStdin>,
}

pub struct Engines {
    pub endpoints: Endpoints,
    running: Vec<Running>,
}

impl Engines {
    pub fn start_or_reuse(repo_root: &Path, options: &EngineOptions) -> Result<Self, Error> {
        std::fs::create_dir_all(&options.log_dir).map_err(Error::io("create the engines' log directory"))?;
        let mut running = Vec::new();
        let dynamodb = match &options.dynamodb_endpoint {
            Some(endpoint) => require(endpoint, "DynamoDB Local", is_dynamodb)?,
            None => {
                let (endpoint, started) = reuse_or_start(
                    options.dynamodb_port,
                    "DynamoDB Local",
                    is_dynamodb,
                    |port| dynamodb_command(repo_root, port),
                    &options.log_dir,
                )?;
                running.extend(started);
                endpoint
            }
        };
        let aws = match &options.aws_endpoint {
            Some(endpoint) => require(endpoint, "LocalStack", is_localstack)?,
            None => {
                let (endpoint, started) = reuse_or_start(
                    options.aws_port,
                    "LocalStack",
                    is_localstack,
                    |port| localstack_command(repo_root, port),
                    &options.log_dir,
                )?;
                running.extend(started);
                endpoint
            }
        };
        Ok(Engines { endpoints: Endpoints { dynamodb, aws }, running })
    }

    /// The engines started here (not reused), by name.
    pub fn started_here(&self) -> Vec<&'static str> {
        self.running.iter().map(|r| r.name).collect()
    }

    /// Process ids of the engines started here, for measuring them.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.running.iter().map(|r| (r.name, r.pid)).collect()
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        // Closing the pipe ends the guard's `cat`; it then stops the engine (TERM, then KILL).
        for engine in &mut self.running {
            drop(engine.stdin.take());
        }
        for engine in &mut self.running {
            let _ = engine.guard.wait();
        }
    }
}

fn require(endpoint: &str, name: &str, check: fn(&str) -> bool) -> Result<String, Error> {
    if !endpoint.starts_with("http://127.0.0.1:") && !endpoint.starts_with("http://localhost:") {
        return Err(Error::Usage(format!("{name} endpoint {endpoint} is not on loopback")));
    }
    if !check(endpoint) {
        return Err(Error::Usage(format!("no {name} answers at {endpoint}")));
    }
    Ok(endpoint.trim_end_matches('/').to_owned())
}

fn reuse_or_start(
    port: u16,
    name: &'static str,
    check: fn(&str) -> bool,
    command: impl Fn(u16) -> Result<Command, Error>,
    log_dir: &Path,
) -> Result<(String, Option<Running>), Error> {
    if port != 0 {
        let endpoint = format!("http://127.0.0.1:{port}");
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            if check(&endpoint) {
                return Ok((endpoint, None));
            }
            return Err(Error::Usage(format!("port {port} is taken by something that is not {name}")));
        }
    }
    let port = if port == 0 { free_port()? } else { port };
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut command = command(port)?;
    // DynamoDB Local writes a metadata file where it runs: keep it with the logs.
    command.current_dir(log_dir);
    let running = start(name, command, &log_dir.join(format!("{}.log", name.replace(' ', "-"))))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check(&endpoint) {
        if Instant::now() > deadline {
            return Err(Error::Usage(format!(
                "{name} did not start on port {port} within 60 s; see {}",
                log_dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((endpoint, Some(running)))
}

fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(Error::io("find a free port"))?;
    Ok(listener.local_addr().map_err(Error::io("find a free port"))?.port())
}

/// Runs `command` under a shell that prints the engine's pid, waits for our end of its stdin
/// to close, then stops the engine: SIGTERM, and SIGKILL after two seconds.
fn start(name: &'static str, command: Command, log: &Path) -> Result<Running, Error> {
    // The guard leads a process group of its own (so a Ctrl-C or `timeout` aimed at ours does
    // not end it before it has stopped the engine), and stops the whole group, so whatever
    // the engine forked goes too. It survives its own TERM through a handler, which the
    // engine, unlike an ignored signal, does not inherit. (`env kill`: dash's own kill takes
    // no process groups.)
    const GUARD: &str = r#"trap : TERM; log="$1"; shift; "$@" >>"$log" 2>&1 & pid=$!; echo "$pid"; cat >/dev/null
env kill -s TERM -- "-$$" 2>/dev/null; i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
env kill -s KILL -- "-$$" 2>/dev/null; exit 0"#;
    let program = command.get_program().to_owned();
    let mut guard = Command::new("sh");
    if let Some(dir) = command.get_current_dir() {
        guard.current_dir(dir);
    }
    let mut guard = guard
        .arg("-c")
        .arg(GUARD)
        .arg("engine-guard")
        .arg(log)
        .arg(program)
        .args(command.get_args())
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(Error::io("start an engine"))?;
    let mut first_line = String::new();
    BufReader::new(guard.stdout.take().expect("piped stdout"))
        .read_line(&mut first_line)
        .map_err(Error::io("read an engine's pid"))?;
    let pid =
        first_line.trim().parse().map_err(|_| Error::Usage(format!("{name} did not start: see {}", log.display())))?;
    let stdin = guard.stdin.take();
    Ok(Running { name, pid, guard, stdin })
}

fn dynamodb_command(repo_root: &Path, port: u16) -> Result<Command, Error> {
    let home = repo_root.join(".engines/dynamodb-local");
    let jar = home.join("DynamoDBLocal.jar");
    if !jar.is_file() {
        return Err(Error::Usage(format!("{} is missing: run infra/engines.sh", jar.display())));
    }
    let mut command = Command::new("java");
    command
        // A small heap and the serial collector: the tables live in SQLite's memory, not Java's.
        .args(["-Xmx384m", "-XX:+UseSerialGC"])
        .arg(format!("-Djava.library.path={}", home.join("DynamoDBLocal_lib").display()))
        .arg("-jar")
        .arg(jar)
        .args(["-inMemory", "-sharedDb", "-disableTelemetry", "-port"])
        .arg(port.to_string());
    Ok(command)
}

fn localstack_command(repo_root: &Path, port: u16) -> Result<Command, Error> {
    let python = repo_root.join(".engines/localstack/bin/python");
    if !python.is_file() {
        return Err(Error::Usage(format!("{} is missing: run infra/engines.sh", python.display())));
    }
    let data = std::env::temp_dir().join(format!("hark-localstack-{port}"));
    let mut command = Command::new(python);
    command
        .arg(repo_root.join("infra/localstack_server.py"))
        .args(["--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .arg("--data")
        .arg(data);
    Ok(command)
}

/// One HTTP/1.0 request on loopback; the status line and body, or nothing.
fn http(endpoint: &str, request: &str) -> Option<(u16, String)> {
    let address = endpoint.strip_prefix("http://")?.trim_end_matches('/');
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// DynamoDB Local answers a ListTables call with a table list.
fn is_dynamodb(endpoint: &str) -> bool {
    let body = "{}";
    let request = format!(
        "POST / HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.ListTables\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http(endpoint, &request).is_some_and(|(status, body)| status == 200 && body.contains("TableNames"))
}

/// LocalStack says its SQS is running.
fn is_localstack(endpoint: &str) -> bool {
    http(endpoint, "GET /_localstack/health HTTP/1.0\r\nHost: localhost\r\n\r\n").is_some_and(|(status, body)| {
        status == 200
            && ["sqs", "sns", "secretsmanager"].iter().all(|s| body.contains(&format!("\"{s}\": \"running\"")))
    })
}
