//! `/v1/incidents`: the outage spikes Hark noticed, and the one thing a person must do about
//! them: approve (or rewrite) the suggested proactive post. Approving writes one outbox
//! record per affected account, so however often it is asked, each account posts once.

use hark_shared::domain::api_request::{Approval, object_body};
use hark_shared::domain::care::spike;
use hark_shared::domain::mention::Channel;
use hark_shared::ports::{Incident, OutboxMessage, OutboxPurpose, ReplyTarget, due_shard, incident_conversation};
use http::StatusCode;
use lambda_http::Request;
use serde_json::json;

use crate::{Answer, ApiError, State, Store};

/// The incidents a listing shows, newest first.
const LISTED: usize = 20;
/// The largest approval body read: the longest post, escaped, with room.
const MAX_BODY: usize = 16 * 1024;

/// `inc-YYYYMMDD-HHMM`, as `spike::incident_id` names them.
fn incident_id(raw: &str) -> Result<&str, ApiError> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match raw.strip_prefix("inc-").and_then(|rest| rest.split_once('-')) {
        Some((day, time)) if digits(day, 8) && digits(time, 4) => Ok(raw),
        _ => Err(ApiError::BadRequest("an incident id looks like inc-20261204-1805".into())),
    }
}

async fn found<S: Store>(state: &State<S>, id: &str) -> Result<Incident, ApiError> {
    state.store.incident(id).await?.ok_or_else(|| ApiError::NoIncident(id.to_owned()))
}

pub async fn list<S: Store>(state: &State<S>) -> Result<String, ApiError> {
    let incidents = state.store.incidents(LISTED).await?;
    Ok(json!({ "incidents": incidents }).to_string())
}

pub async fn show<S: Store>(state: &State<S>, raw: &str) -> Result<String, ApiError> {
    let incident = found(state, incident_id(raw)?).await?;
    Ok(serde_json::to_string(&incident).expect("an incident serialises"))
}

pub async fn approve<S: Store>(
    state: &State<S>,
    request: &Request,
    raw: &str,
    api_key_id: &str,
) -> Result<Answer, ApiError> {
    let id = incident_id(raw)?;
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_BODY {
        return Err(ApiError::BadRequest(format!("the body is over {MAX_BODY} bytes")));
    }
    let approval: Approval = if body.iter().all(u8::is_ascii_whitespace) {
        Approval::default()
    } else {
        object_body(body, "the body is empty or {\"text\": \"…\", \"accounts\": [{\"channel\", \"account_id\"}]}")?
    };
    let incident = found(state, id).await?;
    let text = approval.text.as_deref().unwrap_or(&incident.suggested_post).trim().to_owned();
    if let Some(wanted) = &approval.accounts {
        for account in wanted {
            if !incident.accounts.iter().any(|a| a.channel == account.channel && a.account_id == account.account_id) {
                return Err(ApiError::BadRequest(format!(
                    "{} {} is not one of the incident's accounts",
                    account.channel, account.account_id
                )));
            }
        }
    }
    let chosen = incident.accounts.iter().filter(|a| {
        approval
            .accounts
            .as_ref()
            .is_none_or(|w| w.iter().any(|r| r.channel == a.channel && r.account_id == a.account_id))
    });
    let (mut posts, mut not_posted) = (Vec::new(), Vec::new());
    for account in chosen {
        let channel =
            Channel::parse(&account.channel).ok_or_else(|| ApiError::Unprocessable("unknown channel".into()))?;
        match spike::can_post(channel, &text) {
            Ok(()) => posts.push(OutboxMessage {
                purpose: OutboxPurpose::IncidentPost,
                // One post per account and incident, whoever approves it how often.
                record_id: format!("{}.{}", channel.as_str(), account.account_id),
                channel,
                account_id: account.account_id.clone(),
                answers_message_id: id.to_owned(),
                target: ReplyTarget::Announcement,
                text: text.clone(),
                customer_wrote_at: None,
            }),
            Err(reason) => {
                not_posted.push(json!({"channel": account.channel, "account_id": account.account_id, "reason": reason}))
            }
        }
    }
    if posts.is_empty() {
        return Err(ApiError::Unprocessable(format!(
            "nothing can be posted: {}",
            not_posted.iter().filter_map(|n| n["reason"].as_str()).collect::<Vec<_>>().join("; ")
        )));
    }
    let conversation = incident_conversation(id);
    let shard = due_shard(&conversation, state.due_shards);
    let queued = state.store.queue_incident_posts(id, &posts, api_key_id, shard, state.clock.now()).await?;
    let posts: Vec<_> = queued
        .into_iter()
        .map(|(post, created)| {
            let mut shown = serde_json::to_value(&post).expect("a post serialises");
            shown["queued_now"] = json!(created);
            shown
        })
        .collect();
    let body = json!({"id": id, "posts": posts, "not_posted": not_posted});
    Ok(Answer { status: StatusCode::ACCEPTED, body: body.to_string(), replayed: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_are_checked_at_the_edge() {
        assert_eq!(incident_id("inc-20261204-1805").unwrap(), "inc-20261204-1805");
        for bad in ["inc-2026124-1805", "inc-20261204-18:5", "20261204-1805", "inc-20261204-1805-x", "inc-../../x"] {
            assert!(incident_id(bad).is_err(), "{bad}");
        }
    }
}
