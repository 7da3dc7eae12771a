//! Delivering outbox records: how a claimed record is sent, checked or given up on.
//!
//! Every outbound message is an outbox record before it is sent. A sender claims it with a
//! lease; whatever happens next is recorded on it, and a record that is not finished is
//! found again by the sweep when it falls due:
//!
//! ```text
//! pending ──claim──> sending ──sent──────────────> sent
//!    ▲                 │ ├──certainly not sent───> pending (due after backoff / Retry-After)
//!    │                 │ ├──perhaps sent─────────> unknown (due after a short delay)
//!    │                 │ ├──refused / too old────> failed  (kept with its reason; ops alerted)
//!    │                 │ ├──no longer wanted─────> cancelled
//!    │                 │ └──window closed────────> cancelled, conversation flagged for a person
//!    │                 └──sender died: lease runs out, the sweep claims it as if unknown
//! unknown ──claim──> look on the platform first: found → sent; not found → send now
//! ```
//!
//! Nothing is ever sent twice on a guess: an attempt that may have gone out is looked for
//! on the platform before it is repeated.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{Error, Result, Retry};
use crate::ports::{
    Claim, Clock, ConversationId, OutboxEntry, OutboxKey, OutboxPurpose, OutboxStatus, OutboxStore, ReplySender,
    SendOutcome, SendWindow,
};

/// How far a platform's timestamps may be from our clock: the window a perhaps-sent attempt
/// is looked for in is widened by it at both ends. Both sides keep NTP time (Lambda's clock
/// is Amazon Time Sync's), so this mostly covers a claim write slowed by the SDK's retries
/// and a platform stamping a post a little after it was asked to make it.
const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(30);

/// When the earliest attempt of `previous` that may have gone out began: the one recorded
/// with its `Unknown`, or the claim a dead sender held; the record's creation when neither
/// is known (records written before attempts were marked).
fn perhaps_sent_from(previous: &OutboxEntry) -> DateTime<Utc> {
    let died_sending = match previous.status {
        OutboxStatus::Sending => previous.claimed_at,
        _ => None,
    };
    match (previous.perhaps_sent_since, died_sending) {
        (Some(since), Some(claimed)) => since.min(claimed),
        (Some(at), None) | (None, Some(at)) => at,
        (None, None) => previous.created_at,
    }
}

/// Where the platform is searched for what `previous`'s attempts may have posted: from the
/// earliest of them to the latest claim plus the attempt budget (an attempt starts once its
/// claim is written and is abandoned when the budget runs out, so nothing it sends is made
/// later). Bounded at both ends, the search reads the attempts' own seconds of a busy
/// account's posts, not everything since; a forward's desk is searched from the record's
/// creation.
pub fn send_window(previous: &OutboxEntry, attempt_budget: TimeDelta, now: DateTime<Utc>) -> SendWindow {
    let from = match previous.message.purpose {
        OutboxPurpose::Forward => previous.created_at,
        _ => perhaps_sent_from(previous),
    };
    let until = previous.claimed_at.map_or(now, |claimed| (claimed + attempt_budget).min(now));
    SendWindow { from: from - CLOCK_SKEW, until: until.max(from) + CLOCK_SKEW }
}

/// The outbox's timings. The defaults suit acknowledgements on social platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxPolicy {
    /// How long a claim is good for. Longer than any attempt can take (`attempt_budget`), so
    /// a live sender never loses its claim; a dead one's claim is taken over after it.
    pub lease: TimeDelta,
    /// How long one attempt may take (token refresh, lookup, send) before it is abandoned to
    /// the lease.
    pub attempt_budget: Duration,
    /// How long after a perhaps-sent attempt the platform is checked (its reads lag its writes).
    pub check_delay: TimeDelta,
    pub first_backoff: TimeDelta,
    pub max_backoff: TimeDelta,
    /// A record still not sent this long after it was written fails: an acknowledgement a
    /// day late helps nobody, and the SLA escalation has long told a person.
    pub give_up_after: TimeDelta,
}

impl Default for OutboxPolicy {
    fn default() -> Self {
        OutboxPolicy {
            lease: TimeDelta::seconds(60),
            attempt_budget: Duration::from_secs(40),
            check_delay: TimeDelta::seconds(20),
            first_backoff: TimeDelta::seconds(30),
            max_backoff: TimeDelta::minutes(30),
            give_up_after: TimeDelta::hours(24),
        }
    }
}

impl OutboxPolicy {
    /// The attempt budget as a span of time, for the window a perhaps-sent attempt is looked for in.
    pub fn attempt_window(&self) -> TimeDelta {
        TimeDelta::from_std(self.attempt_budget).unwrap_or(self.lease)
    }

    /// Exponential backoff for the `attempt`-th attempt (1-based), spread by a stable jitter
    /// of ±25 % so records that failed together do not all come back together.
    pub fn backoff(&self, attempt: u32, key: &str) -> TimeDelta {
        let doublings = attempt.saturating_sub(1).min(20);
        let base = self.first_backoff.num_milliseconds().saturating_mul(1i64 << doublings);
        let capped = base.min(self.max_backoff.num_milliseconds());
        let jitter = (crate::stable_hash(&format!("{key}#{attempt}")) % 501) as i64 - 250; // per mille
        TimeDelta::milliseconds(capped + capped * jitter / 1000)
    }

    /// The one place a failed attempt's error becomes the record's next state.
    /// `started`: when the attempt began, so a perhaps-sent one is looked for from then.
    pub fn after_failure(
        &self,
        error: &Error,
        attempt: u32,
        key: &str,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> SendOutcome {
        let reason = error.to_string();
        if let Error::WindowClosed { .. } = error {
            return SendOutcome::LeftToPerson { reason };
        }
        if let Some(deferred) = deferred(error, key, now) {
            return deferred;
        }
        match error.retry() {
            Retry::Soon => SendOutcome::Retry { reason, at: now + self.backoff(attempt, key) },
            Retry::After(wait) => {
                let wait = TimeDelta::from_std(wait).unwrap_or(self.max_backoff).max(TimeDelta::seconds(1));
                SendOutcome::Retry { reason, at: now + wait }
            }
            Retry::CheckFirst => SendOutcome::Unknown { reason, check_at: now + self.check_delay, since: started },
            Retry::Never => SendOutcome::Failed { reason },
        }
    }
}

/// A help-desk delivery's next state after a failure: the Standard Webhooks schedule
/// (its receivers deduplicate on the event id, so a delivery that may have arrived is
/// simply made again), failed once the schedule is spent or the endpoint is disabled.
/// Two answers are not failures and spend no attempt, for as long as the schedule would
/// have lasted: a desk's 429 comes back when its `Retry-After` says (at least 5 s), and a
/// delivery waiting for an earlier one (its ticket) looks again after a quarter of its age
/// (15 s to 10 min). `age`: since the record was written.
pub fn forward_after_failure(
    error: &Error,
    attempt: u32,
    key: &str,
    age: TimeDelta,
    now: DateTime<Utc>,
) -> SendOutcome {
    if let Some(deferred) = deferred(error, key, now) {
        return deferred;
    }
    let reason = error.to_string();
    let not_a_failure = match error {
        Error::RateLimited { retry_after, .. } => {
            Some(TimeDelta::from_std(*retry_after).unwrap_or(TimeDelta::hours(1)).max(TimeDelta::seconds(5)))
        }
        Error::Waiting { .. } => {
            let first = TimeDelta::from_std(crate::error::WAITING_FIRST).unwrap_or(TimeDelta::seconds(15));
            Some((age / 4).clamp(first, TimeDelta::minutes(10)))
        }
        _ => None,
    };
    if let Some(wait) = not_a_failure {
        let at = now + wait;
        let schedule: Duration = crate::helpdesks::standard_webhooks::RETRY_SCHEDULE.iter().sum();
        let schedule = TimeDelta::from_std(schedule).unwrap_or(TimeDelta::days(3));
        if age > schedule {
            let hours = schedule.num_hours();
            return SendOutcome::Failed { reason: format!("{reason}, for longer than the retry schedule ({hours} h)") };
        }
        // The desk's own 429 takes it up for everyone; a wait for a ticket concerns this one.
        return match error {
            Error::RateLimited { .. } => SendOutcome::Deferred { reason, at },
            _ => SendOutcome::Waiting { reason, at },
        };
    }
    // A refusal sending again cannot change (a native desk's 422, a record that is not an
    // event): failed now, with its reason, rather than at the schedule's end.
    if error.retry() == Retry::Never {
        return SendOutcome::Failed { reason };
    }
    match crate::helpdesks::standard_webhooks::next_wait(attempt) {
        Some(wait) => SendOutcome::Retry { reason, at: now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::days(1)) },
        None => SendOutcome::Failed {
            reason: format!("the retry schedule is spent after {attempt} attempts; last error: {reason}"),
        },
    }
}

/// A send held back by Hark's own rate keeping: due again when the destination's slot
/// frees up, spread over a further quarter of the wait (stably, by record) so the records
/// held back together do not all come back together.
fn deferred(error: &Error, key: &str, now: DateTime<Utc>) -> Option<SendOutcome> {
    let Error::Throttled { wait, .. } = error else { return None };
    let wait = TimeDelta::from_std(*wait).unwrap_or(TimeDelta::minutes(1)).max(TimeDelta::seconds(1));
    let spread = wait.num_milliseconds() / 4 * (crate::stable_hash(key) % 1001) as i64 / 1000;
    Some(SendOutcome::Deferred { reason: error.to_string(), at: now + wait + TimeDelta::milliseconds(spread) })
}

/// What one delivery did, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Sent,
    /// An earlier attempt had gone out after all; nothing was sent again.
    FoundSent,
    Retrying,
    Unknown,
    Failed,
    Cancelled,
    LeftToPerson,
    /// Held back by the destination's rate, without spending an attempt.
    Deferred,
    /// Waiting for an earlier send (its ticket), without spending an attempt.
    Waiting,
    /// The attempt ran past its budget; the lease hands the record to the sweep.
    Abandoned,
    /// A broadcast turned into one record per help-desk endpoint.
    FannedOut,
    /// Not due, already finished, or being sent by someone else.
    NotClaimed(OutboxStatus),
    NoRecord,
}

impl Delivered {
    fn of(outcome: &SendOutcome, found: bool) -> Self {
        match outcome {
            SendOutcome::Sent { .. } if found => Delivered::FoundSent,
            SendOutcome::Sent { .. } => Delivered::Sent,
            SendOutcome::Retry { .. } => Delivered::Retrying,
            SendOutcome::Unknown { .. } => Delivered::Unknown,
            SendOutcome::Failed { .. } => Delivered::Failed,
            SendOutcome::Cancelled { .. } => Delivered::Cancelled,
            SendOutcome::LeftToPerson { .. } => Delivered::LeftToPerson,
            SendOutcome::Deferred { .. } => Delivered::Deferred,
            SendOutcome::Waiting { .. } => Delivered::Waiting,
        }
    }

    /// The metric each result counts towards.
    pub fn metric(self) -> &'static str {
        match self {
            Delivered::Sent => "OutboxSent",
            Delivered::FoundSent => "OutboxFoundSent",
            Delivered::Retrying => "OutboxRetrying",
            Delivered::Unknown => "OutboxUnknown",
            Delivered::Failed => "OutboxFailed",
            Delivered::Cancelled => "OutboxCancelled",
            Delivered::LeftToPerson => "OutboxLeftToPerson",
            Delivered::Deferred => "OutboxDeferred",
            Delivered::Waiting => "OutboxWaiting",
            Delivered::Abandoned => "OutboxAbandoned",
            Delivered::FannedOut => "OutboxFannedOut",
            Delivered::NotClaimed(_) | Delivered::NoRecord => "OutboxNotClaimed",
        }
    }
}

/// Takes the record for a lease, or says why not.
async fn claim<S: OutboxStore>(
    store: &S,
    clock: &dyn Clock,
    policy: &OutboxPolicy,
    conversation: &ConversationId,
    key: &OutboxKey,
) -> Result<std::result::Result<(String, Box<OutboxEntry>), Delivered>> {
    let now = clock.now();
    Ok(match store.claim_outbox(conversation, key, now, now + policy.lease).await? {
        Claim::Claimed { token, previous } => Ok((token, previous)),
        Claim::NotClaimed(status) => Err(Delivered::NotClaimed(status)),
        Claim::NoRecord => Err(Delivered::NoRecord),
    })
}

/// Claims a broadcast record (an event written where the help-desk endpoints are not
/// known) and replaces it with one record per endpoint in `subscriptions` that takes it.
pub async fn fan_out<S: OutboxStore>(
    store: &S,
    clock: &dyn Clock,
    policy: &OutboxPolicy,
    conversation: &ConversationId,
    key: &OutboxKey,
    subscriptions: &[crate::domain::forward::Subscription],
) -> Result<Delivered> {
    let (token, previous) = match claim(store, clock, policy, conversation, key).await? {
        Ok(claimed) => claimed,
        Err(not_claimed) => return Ok(not_claimed),
    };
    let children = crate::domain::forward::fan_out(&previous.message, subscriptions);
    store.fan_out(conversation, &previous.message, &token, &children, clock.now()).await?;
    tracing::info!(conversation = %conversation, record = %key, endpoints = children.len(), "event fanned out to help desks");
    Ok(Delivered::FannedOut)
}

/// Whether `key` names a broadcast record, which [`fan_out`] takes rather than [`deliver`].
pub fn is_broadcast(key: &OutboxKey) -> bool {
    key.purpose == OutboxPurpose::Forward && key.id.starts_with("all.")
}

/// Claims the record `key` of `conversation` and delivers it, if it is due.
pub async fn deliver<S: OutboxStore, R: ReplySender>(
    store: &S,
    replies: &R,
    clock: &dyn Clock,
    policy: &OutboxPolicy,
    conversation: &ConversationId,
    key: &OutboxKey,
) -> Result<Delivered> {
    let (token, previous) = match claim(store, clock, policy, conversation, key).await? {
        Ok(claimed) => claimed,
        Err(not_claimed) => return Ok(not_claimed),
    };
    let attempt = attempt(store, replies, clock, policy, conversation, &previous);
    let Ok((outcome, found)) = tokio::time::timeout(policy.attempt_budget, attempt).await else {
        tracing::warn!(conversation = %conversation, record = %key, "send attempt ran out of time; its lease decides");
        return Ok(Delivered::Abandoned);
    };
    match &outcome {
        SendOutcome::Sent { platform_message_id } => {
            tracing::info!(conversation = %conversation, record = %key, platform_message_id, found, "outbox message sent")
        }
        SendOutcome::Failed { reason } => {
            tracing::error!(conversation = %conversation, record = %key, reason, "outbox message failed for good")
        }
        other => {
            tracing::warn!(conversation = %conversation, record = %key, outcome = ?other, "outbox message not sent yet")
        }
    }
    store.finish_outbox(conversation, &previous.message, &token, &outcome, clock.now()).await?;
    Ok(Delivered::of(&outcome, found))
}

/// One attempt on a claimed record; `true` with `Sent` when it was found already sent.
async fn attempt<S: OutboxStore, R: ReplySender>(
    store: &S,
    replies: &R,
    clock: &dyn Clock,
    policy: &OutboxPolicy,
    conversation: &ConversationId,
    previous: &OutboxEntry,
) -> (SendOutcome, bool) {
    let now = clock.now();
    let message = &previous.message;
    let attempt = previous.attempts + 1;
    let key = format!("{conversation}#{}", message.key());
    let perhaps_sent = matches!(previous.status, OutboxStatus::Unknown | OutboxStatus::Sending);
    if message.purpose == OutboxPurpose::Forward {
        // No give-up time but the schedule's. After an attempt that may have gone through,
        // the help desk is asked first: Standard Webhooks receivers deduplicate on the event
        // id (and the sender never looks), but Zendesk's updates and everything at Freshdesk
        // have no key, so their senders look for what the attempt made.
        if previous.attempts > 0 || perhaps_sent {
            match replies.find_sent(message, send_window(previous, policy.attempt_window(), now)).await {
                Ok(Some(id)) => return (SendOutcome::Sent { platform_message_id: id }, true),
                Ok(None) => {}
                Err(error) => {
                    let age = clock.now() - previous.created_at;
                    return (forward_after_failure(&error, attempt, &key, age, clock.now()), false);
                }
            }
        }
        return match replies.send(message).await {
            Ok(id) => (SendOutcome::Sent { platform_message_id: id }, false),
            Err(error) => {
                (forward_after_failure(&error, attempt, &key, clock.now() - previous.created_at, clock.now()), false)
            }
        };
    }
    if now - previous.created_at > policy.give_up_after {
        let last = previous.last_error.as_deref().unwrap_or("no error recorded");
        let hours = policy.give_up_after.num_hours();
        let reason = if perhaps_sent {
            format!("gave up after {hours} h without learning whether it was sent; last error: {last}")
        } else {
            format!("gave up after {} attempts over {hours} h; last error: {last}", previous.attempts)
        };
        return (SendOutcome::Failed { reason }, false);
    }
    if message.purpose.is_automatic_answer() && (previous.attempts > 0 || perhaps_sent) {
        match store.answered_at(conversation).await {
            Ok(Some(answered)) if answered >= previous.created_at => {
                let reason = format!("a person answered before the {} went out", message.purpose.as_str());
                return (SendOutcome::Cancelled { reason }, false);
            }
            Ok(_) => {}
            // Still perhaps sent: a retry must not forget to look first.
            Err(error) if perhaps_sent => return (still_unknown(policy, previous, &error, attempt, &key, now), false),
            Err(error) => return (policy.after_failure(&error, attempt, &key, now, now), false),
        }
    }
    if perhaps_sent {
        match replies.find_sent(message, send_window(previous, policy.attempt_window(), now)).await {
            Ok(Some(platform_message_id)) => return (SendOutcome::Sent { platform_message_id }, true),
            Ok(None) => {}
            // Without an answer, sending again could post twice: look again later.
            Err(error) => return (still_unknown(policy, previous, &error, attempt, &key, now), false),
        }
    }
    // Checked after the lookup: what went out in time counts as sent.
    if let Some(window) = replies.window(message)
        && now - message.customer_wrote_at.unwrap_or(previous.created_at) > window
    {
        let hours = window.num_hours();
        let reason = format!("the {hours}-hour messaging window closed before it could be sent; a person must answer");
        return (SendOutcome::LeftToPerson { reason }, false);
    }
    match replies.send(message).await {
        Ok(platform_message_id) => (SendOutcome::Sent { platform_message_id }, false),
        Err(error) => (policy.after_failure(&error, attempt, &key, now, clock.now()), false),
    }
}

/// A perhaps-sent record that could not be settled this time: looked for again later, from
/// the same earliest attempt.
fn still_unknown(
    policy: &OutboxPolicy,
    previous: &OutboxEntry,
    error: &Error,
    attempt: u32,
    key: &str,
    now: DateTime<Utc>,
) -> SendOutcome {
    let reason = format!("could not check whether it was sent: {error}");
    SendOutcome::Unknown { reason, check_at: now + policy.backoff(attempt, key), since: perhaps_sent_from(previous) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = OutboxPolicy::default();
        let secs = |attempt| policy.backoff(attempt, "k").num_seconds();
        assert!((22..=38).contains(&secs(1)), "{}", secs(1));
        assert!((45..=75).contains(&secs(2)), "{}", secs(2));
        assert!(secs(30) <= 30 * 60 * 5 / 4, "capped: {}", secs(30));
        assert_eq!(policy.backoff(3, "k"), policy.backoff(3, "k"), "stable per record and attempt");
        let spread: std::collections::HashSet<i64> =
            (0..20).map(|i| policy.backoff(4, &format!("k{i}")).num_milliseconds()).collect();
        assert!(spread.len() > 10, "records that failed together come back apart");
    }

    #[test]
    fn help_desk_deliveries_follow_the_standard_webhooks_schedule() {
        let down = || Error::PlatformUnavailable { platform: "help desk", message: "503".into() };
        let at = |outcome: SendOutcome| match outcome {
            SendOutcome::Retry { at, .. } => Some((at - now()).num_seconds()),
            _ => None,
        };
        assert_eq!(at(forward_after_failure(&down(), 1, "k", TimeDelta::zero(), now())), Some(5));
        assert_eq!(at(forward_after_failure(&down(), 2, "k", TimeDelta::zero(), now())), Some(300));
        assert_eq!(at(forward_after_failure(&down(), 9, "k", TimeDelta::zero(), now())), Some(24 * 3600));
        assert!(
            matches!(forward_after_failure(&down(), 10, "k", TimeDelta::zero(), now()), SendOutcome::Failed { reason } if reason.contains("spent"))
        );
        let limited = Error::RateLimited { platform: "help desk", retry_after: Duration::from_secs(120) };
        let deferred = |outcome: SendOutcome| match outcome {
            SendOutcome::Deferred { at, .. } => Some((at - now()).num_seconds()),
            _ => None,
        };
        // A 429 is the desk's pace, not a failure: back when Retry-After says, no attempt spent.
        assert_eq!(deferred(forward_after_failure(&limited, 2, "k", TimeDelta::zero(), now())), Some(120));
        assert_eq!(deferred(forward_after_failure(&limited, 9, "k", TimeDelta::hours(70), now())), Some(120));
        let hurried = Error::RateLimited { platform: "help desk", retry_after: Duration::from_secs(0) };
        assert_eq!(
            deferred(forward_after_failure(&hurried, 1, "k", TimeDelta::zero(), now())),
            Some(5),
            "not sooner than 5 s"
        );
        assert!(matches!(
            forward_after_failure(&limited, 1, "k", TimeDelta::days(4), now()),
            SendOutcome::Failed { reason } if reason.contains("longer than the retry schedule")
        ));
        let gone = Error::EndpointDisabled { endpoint: "desk".into(), message: "410 Gone".into() };
        assert!(matches!(forward_after_failure(&gone, 1, "k", TimeDelta::zero(), now()), SendOutcome::Failed { .. }));
        let refused = Error::PlatformRejected { platform: "Zendesk", status: 422, message: "RecordInvalid".into() };
        assert!(
            matches!(forward_after_failure(&refused, 1, "k", TimeDelta::zero(), now()), SendOutcome::Failed { reason } if reason.contains("422"))
        );
        let unknown = Error::PlatformOutcomeUnknown { platform: "Zendesk", message: "HTTP 500".into() };
        assert_eq!(
            at(forward_after_failure(&unknown, 1, "k", TimeDelta::zero(), now())),
            Some(5),
            "looked for, then made again"
        );
    }

    #[test]
    fn a_comment_waiting_for_its_ticket_looks_again_sooner_the_younger_it_is_and_spends_no_attempt() {
        let waiting = || Error::Waiting { platform: "Zendesk", what: "the conversation's ticket" };
        let due = |age: TimeDelta, attempt: u32| match forward_after_failure(&waiting(), attempt, "k", age, now()) {
            SendOutcome::Waiting { at, .. } => Some((at - now()).num_seconds()),
            _ => None,
        };
        for (age, attempt, wait) in [
            (TimeDelta::zero(), 1, 15),
            (TimeDelta::seconds(40), 9, 15),
            (TimeDelta::minutes(4), 10, 60),
            (TimeDelta::hours(3), 1, 600),
        ] {
            assert_eq!(due(age, attempt), Some(wait), "{age} old");
        }
        assert!(matches!(
            forward_after_failure(&waiting(), 1, "k", TimeDelta::days(4), now()),
            SendOutcome::Failed { reason } if reason.contains("longer than the retry schedule")
        ));
    }

    #[test]
    fn a_send_held_back_by_the_rate_comes_back_when_its_slot_frees_and_spends_no_attempt() {
        let policy = OutboxPolicy::default();
        let throttled = || Error::Throttled { platform: "Zendesk", wait: Duration::from_secs(40) };
        // Even the schedule's last attempt is not spent by it, for forwards and for the rest.
        for outcome in [
            forward_after_failure(&throttled(), 9, "a", TimeDelta::zero(), now()),
            forward_after_failure(&throttled(), 10, "a", TimeDelta::zero(), now()),
            policy.after_failure(&throttled(), 3, "a", now(), now()),
        ] {
            let SendOutcome::Deferred { at, .. } = outcome else { panic!("{outcome:?}") };
            assert!(at >= now() + TimeDelta::seconds(40) && at <= now() + TimeDelta::seconds(50), "{at}");
        }
        // Records held back together come back spread over a quarter of the wait.
        let due: std::collections::HashSet<_> = (0..50)
            .map(|n| match forward_after_failure(&throttled(), 1, &format!("r{n}"), TimeDelta::zero(), now()) {
                SendOutcome::Deferred { at, .. } => at,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(due.len() > 40, "{} distinct times", due.len());
    }

    #[test]
    fn each_kind_of_failure_becomes_its_next_state() {
        let policy = OutboxPolicy::default();
        let outcome = |error: Error| policy.after_failure(&error, 1, "k", now(), now());
        let limited = Error::RateLimited { platform: "X API", retry_after: Duration::from_secs(600) };
        assert!(matches!(outcome(limited), SendOutcome::Retry { at, .. } if at == now() + TimeDelta::minutes(10)));
        let down = Error::PlatformUnavailable { platform: "X API", message: "connect".into() };
        assert!(matches!(outcome(down), SendOutcome::Retry { at, .. } if at > now()));
        let unknown = Error::PlatformOutcomeUnknown { platform: "X API", message: "503".into() };
        assert!(
            matches!(outcome(unknown), SendOutcome::Unknown { check_at, .. } if check_at == now() + policy.check_delay)
        );
        let refused = Error::PlatformRejected { platform: "X API", status: 400, message: "bad".into() };
        assert!(matches!(outcome(refused), SendOutcome::Failed { .. }));
        let credentials = Error::CredentialsRejected { platform: "X API", account: "1".into(), message: "401".into() };
        assert!(matches!(outcome(credentials), SendOutcome::Retry { at, .. } if at == now() + TimeDelta::minutes(15)));
    }

    #[test]
    fn a_perhaps_sent_send_is_looked_for_from_when_its_attempt_began() {
        let started = now() - TimeDelta::seconds(8);
        let unknown = Error::PlatformOutcomeUnknown { platform: "X API", message: "503".into() };
        let outcome = OutboxPolicy::default().after_failure(&unknown, 1, "k", started, now());
        assert!(matches!(outcome, SendOutcome::Unknown { since, .. } if since == started));
    }

    fn entry(purpose: OutboxPurpose, status: OutboxStatus, claimed: Option<i64>, since: Option<i64>) -> OutboxEntry {
        let minutes_ago = |m: i64| now() - TimeDelta::minutes(m);
        OutboxEntry {
            message: crate::ports::OutboxMessage {
                purpose,
                record_id: "m1".into(),
                channel: crate::domain::mention::Channel::X,
                account_id: "brand".into(),
                answers_message_id: "m1".into(),
                target: crate::ports::ReplyTarget::Post { in_reply_to: "m1".into() },
                text: "Thanks".into(),
                customer_wrote_at: None,
            },
            status,
            attempts: 1,
            created_at: minutes_ago(60),
            last_error: None,
            claimed_at: claimed.map(minutes_ago),
            perhaps_sent_since: since.map(minutes_ago),
        }
    }

    #[test]
    fn the_search_for_a_perhaps_sent_attempt_covers_its_seconds_only() {
        use OutboxPurpose::{Acknowledgement as Ack, Forward};
        use OutboxStatus::{Sending, Unknown};
        let budget = OutboxPolicy::default().attempt_window();
        assert_eq!(budget, TimeDelta::seconds(40));
        // (purpose, status, latest claim, perhaps sent since: minutes ago) → window (seconds ago):
        // from the earliest attempt less 30 s of skew to the latest claim plus 40 s plus 30 s.
        let cases = [
            // Unknown after a send 30 min ago: that attempt's seconds.
            (Ack, Unknown, Some(30), Some(30), (1830, 1730)),
            // A later check failed (claimed 10 min ago): still from the send, up to that claim's attempt.
            (Ack, Unknown, Some(10), Some(30), (1830, 530)),
            // The sender died mid-send 20 min ago, after an earlier unsettled send.
            (Ack, Sending, Some(20), Some(30), (1830, 1130)),
            // The sender died on its first send: nothing before its claim.
            (Ack, Sending, Some(20), None, (1230, 1130)),
            // Written before attempts were marked: from the record's creation.
            (Ack, Unknown, Some(5), None, (3630, 230)),
            // A claim whose attempt may still be running: up to now.
            (Ack, Sending, Some(0), None, (30, -30)),
            // A desk is searched from the record's creation.
            (Forward, Unknown, Some(10), Some(10), (3630, 530)),
        ];
        for (purpose, status, claimed, since, (from, until)) in cases {
            let window = send_window(&entry(purpose, status, claimed, since), budget, now());
            let seconds = |at: DateTime<Utc>| (now() - at).num_seconds();
            assert_eq!(
                (seconds(window.from), seconds(window.until)),
                (from, until),
                "{purpose:?} {status:?} {claimed:?} {since:?}"
            );
        }
    }
}
