//! The moto server the local stack stands on: reused when one already answers on the port,
//! else started from the project's virtualenv through `infra/moto_server.py` and stopped
//! with the stack. moto runs under a shell that waits on our end of a pipe, so it also
//! stops when hark-local is killed outright: no stray servers.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

pub struct Moto {
    pub endpoint: String,
    child: Option<Child>,
}

impl Moto {
    pub fn started_here(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Closing the pipe ends `cat`; the shell then kills moto.
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

async fn is_moto(endpoint: &str) -> bool {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build();
    match client {
        Ok(client) => {
            client.get(format!("{endpoint}/moto-api/data.json")).send().await.is_ok_and(|r| r.status().is_success())
        }
        Err(_) => false,
    }
}

/// An explicit endpoint must already be a moto server; otherwise use or start one on `port`.
pub async fn start_or_reuse(repo_root: &Path, endpoint: Option<&str>, port: u16) -> Result<Moto, Error> {
    if let Some(endpoint) = endpoint {
        if !is_moto(endpoint).await {
            return Err(Error::Usage(format!("no moto server answers at {endpoint}")));
        }
        return Ok(Moto { endpoint: endpoint.to_owned(), child: None });
    }
    let endpoint = format!("http://127.0.0.1:{port}");
    if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        if is_moto(&endpoint).await {
            return Ok(Moto { endpoint, child: None });
        }
        return Err(Error::Usage(format!("port {port} is taken by something that is not moto; pass --moto-port")));
    }
    let python = repo_root.join(".venv/bin/python");
    let script = repo_root.join("infra/moto_server.py");
    if !python.is_file() {
        return Err(Error::Usage(format!("{} is missing: run infra/venv.sh (infra/local.sh does)", python.display())));
    }
    let child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" "$1" -H 127.0.0.1 -p "$2" >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid; wait $pid"#)
        .arg(&python)
        .arg(&script)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(Error::io("start moto"))?;
    let moto = Moto { endpoint, child: Some(child) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !is_moto(&moto.endpoint).await {
        if Instant::now() > deadline {
            return Err(Error::Usage(format!("moto did not start on port {port} within 30 s")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(moto)
}
