//! `hark-local load --faults`: what goes wrong during the burst, in turn, one fault every
//! few seconds while the webhooks are first sent. Each is asked of the running stack from
//! outside (its control listener, the local platforms' `/_local/outage`), and Hark is judged
//! only by what the platforms, the desks and the table end up with.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use crate::Error;
use crate::load::StackFile;

/// What goes wrong, how often and for how long.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// In turn (empty: nothing goes wrong).
    pub faults: Vec<Fault>,
    /// The time between two faults.
    pub every: Duration,
    /// How long an API answers 429, or 5xx; how long SQS is unreachable.
    pub rate_limit_outage: Duration,
    pub error_outage: Duration,
    pub queue_outage: Duration,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            faults: Vec::new(),
            every: Duration::from_secs(15),
            rate_limit_outage: Duration::from_secs(20),
            error_outage: Duration::from_secs(20),
            queue_outage: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every environment of the function SIGKILLed, mid-batch or not.
    KillProcessor,
    KillOutbox,
    KillWebhook,
    /// The functions' SQS endpoint unreachable: the webhook answers 5xx and X retries.
    QueueDown,
    /// X's write API answers 429 with `x-rate-limit-reset`, or 503.
    X429,
    X5xx,
    /// Every help desk in use answers 429 with `Retry-After`, or 503.
    Desk429,
    Desk5xx,
}

impl Fault {
    const NAMES: [(&'static str, Fault); 8] = [
        ("kill-processor", Fault::KillProcessor),
        ("kill-outbox", Fault::KillOutbox),
        ("kill-webhook", Fault::KillWebhook),
        ("queue-down", Fault::QueueDown),
        ("x-429", Fault::X429),
        ("x-5xx", Fault::X5xx),
        ("desk-429", Fault::Desk429),
        ("desk-5xx", Fault::Desk5xx),
    ];

    /// `all`: every outage once a round, with a kill between any two, so the processor and
    /// the outbox are killed twice a round.
    const ALL: [Fault; 12] = [
        Fault::KillProcessor,
        Fault::X429,
        Fault::KillOutbox,
        Fault::QueueDown,
        Fault::KillWebhook,
        Fault::Desk429,
        Fault::KillProcessor,
        Fault::X5xx,
        Fault::KillOutbox,
        Fault::Desk5xx,
        Fault::KillProcessor,
        Fault::KillOutbox,
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, f)| *f == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// A comma-separated list of names, or `all`; the schedule goes through it in order.
    pub fn parse_list(list: &str) -> Result<Vec<Fault>, Error> {
        let mut faults = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                faults.extend(Self::ALL);
                continue;
            }
            let fault = Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).ok_or_else(|| {
                let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
                Error::Usage(format!("--faults: {name:?} is not all or one of {}", names.join(", ")))
            })?;
            faults.push(fault);
        }
        if faults.is_empty() {
            return Err(Error::Usage("--faults needs at least one fault".into()));
        }
        Ok(faults)
    }
}

/// One fault as it happened: seconds after the burst began, which, and how the stack took
/// the request (an error here means the fault did not happen).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Injected {
    pub at_seconds: f64,
    pub fault: &'static str,
    pub error: Option<String>,
}

/// Injects the plan's faults in turn, the first after `every`, then one every `every`,
/// until `sending_done` says the first attempts are all made.
pub async fn run(stack: StackFile, plan: FaultPlan, mut sending_done: watch::Receiver<bool>) -> Vec<Injected> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("HTTP client");
    let started = tokio::time::Instant::now();
    let mut injected = Vec::new();
    for (n, fault) in plan.faults.iter().cycle().enumerate() {
        let due = started + plan.every * (n as u32 + 1);
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = sending_done.wait_for(|done| *done) => break,
        }
        let error = inject(&http, &stack, &plan, *fault).await.err();
        injected.push(Injected { at_seconds: started.elapsed().as_secs_f64(), fault: fault.name(), error });
    }
    injected
}

async fn inject(http: &reqwest::Client, stack: &StackFile, plan: &FaultPlan, fault: Fault) -> Result<(), String> {
    let control = &stack.control_url;
    let outage = |status: u16| {
        let lasts = if status == 429 { plan.rate_limit_outage } else { plan.error_outage };
        json!({"status": status, "seconds": lasts.as_secs()})
    };
    let requests: Vec<(String, serde_json::Value)> = match fault {
        Fault::KillProcessor => vec![(format!("{control}/_local/kill/ProcessorFunction"), json!({}))],
        Fault::KillOutbox => vec![(format!("{control}/_local/kill/OutboxFunction"), json!({}))],
        Fault::KillWebhook => vec![(format!("{control}/_local/kill/WebhookFunction"), json!({}))],
        Fault::QueueDown => {
            vec![(format!("{control}/_local/sqs-outage"), json!({"seconds": plan.queue_outage.as_secs()}))]
        }
        Fault::X429 => vec![(format!("{}/_local/outage", stack.x_api), outage(429))],
        Fault::X5xx => vec![(format!("{}/_local/outage", stack.x_api), outage(503))],
        Fault::Desk429 => {
            desks(stack).into_iter().map(|(_, url)| (format!("{url}/_local/outage"), outage(429))).collect()
        }
        Fault::Desk5xx => {
            desks(stack).into_iter().map(|(_, url)| (format!("{url}/_local/outage"), outage(503))).collect()
        }
    };
    for (url, body) in requests {
        let answer = http.post(&url).json(&body).send().await.map_err(|e| format!("{url}: {e}"))?;
        if !answer.status().is_success() {
            return Err(format!("{url}: {}", answer.status()));
        }
    }
    Ok(())
}

/// The local help desks the stack forwards to: name and base URL.
pub(crate) fn desks(stack: &StackFile) -> Vec<(&'static str, String)> {
    let in_use = |desk: &str| stack.help_desks.is_empty() || stack.help_desks.iter().any(|d| d == desk);
    let webhook_base = stack.help_desk.strip_suffix("/hark").unwrap_or(&stack.help_desk);
    [("webhook", webhook_base), ("zendesk", stack.zendesk.as_str()), ("freshdesk", stack.freshdesk.as_str())]
        .into_iter()
        .filter(|(desk, _)| in_use(desk))
        .map(|(desk, url)| (desk, url.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_names_faults_in_order_and_all_interleaves_kills_with_every_outage() {
        assert_eq!(Fault::parse_list("kill-outbox, x-429").unwrap(), [Fault::KillOutbox, Fault::X429]);
        let all = Fault::parse_list("all").unwrap();
        for (_, fault) in Fault::NAMES {
            assert!(all.contains(&fault), "{fault:?}");
        }
        assert!(all.iter().filter(|f| **f == Fault::KillProcessor).count() >= 2);
        assert!(all.iter().filter(|f| **f == Fault::KillOutbox).count() >= 2);
        for bad in ["", "kill-everything", "all,nope"] {
            assert!(Fault::parse_list(bad).is_err(), "{bad:?}");
        }
    }
}
