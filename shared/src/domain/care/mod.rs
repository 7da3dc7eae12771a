//! Care decisions, in one place: given a customer's message, what Hark knows of its
//! conversation, the account's policy and the time, whether a clock starts (and when it
//! falls due, in calendar or business time), and what Hark answers on its own (an
//! acknowledgement, an off-hours acknowledgement that says when a person will answer, a
//! thank-you for praise or feedback, or nothing). Pure: the functions do the I/O.

pub mod hours;
pub mod policy;
pub mod spike;
pub mod templates;
pub mod viral;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::channels::answer::{Wording, acknowledgement};
use crate::domain::classify::{Classification, Intent, Sentiment, ThankReason, UrgencyKind};
use crate::domain::mention::Mention;
use crate::domain::sla::{SlaClock, SlaPolicy, starts_clock};
use crate::ports::ReplyTarget;
pub use policy::{CarePolicies, CarePolicy};
use templates::{TemplateKind, Want};

/// What Hark knows when a customer's message arrives.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub mention: &'a Mention,
    pub classification: &'a Classification,
    /// The conversation already had its automatic reply for the clock now running.
    pub acknowledged: bool,
    /// When a person last answered in the conversation.
    pub answered_at: Option<DateTime<Utc>>,
    /// The thank-yous this customer was given (template id → when), to vary them.
    pub thanked: &'a HashMap<String, DateTime<Utc>>,
    /// The conversation as it stood before this message.
    pub conversation: &'a ConversationFacts,
}

/// What the conversation has gathered, for the viral fast track.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFacts {
    /// Whose conversation it is (others replying in it are engagement).
    pub customer_id: Option<String>,
    /// That customer's followers and verification, as their messages gave them.
    pub followers: Option<u64>,
    pub verified: bool,
    /// A tier the operator gave the customer ("vip").
    pub valued: Option<String>,
    pub engagement: u64,
    pub risks: Vec<UrgencyKind>,
    /// Fast-tracked already: once a conversation.
    pub viral: bool,
    /// The clock running, and the level it reached.
    pub running: Option<(SlaClock, u32)>,
}

/// A conversation fast-tracked by this message.
#[derive(Debug, Clone, PartialEq)]
pub struct FastTrack {
    pub reasons: Vec<String>,
    /// The conversation's clock, shortened (a running one) or started short (a new one).
    pub clock: SlaClock,
}

/// Why Hark sends what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Acknowledgement,
    /// Outside business hours: says when a person will answer.
    OffHoursAcknowledgement,
    Thanks,
}

/// A text Hark sends on its own, through the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoReply {
    pub kind: ReplyKind,
    pub target: ReplyTarget,
    pub text: String,
    /// For a thank-you: the template used, remembered for the customer.
    pub template_id: Option<String>,
}

/// What to do about one inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundDecision {
    /// The clock the message starts (or joins, if one runs), when it asks for an answer.
    pub clock: Option<SlaClock>,
    pub reply: Option<AutoReply>,
    /// The team was off when it arrived.
    pub off_hours: bool,
    /// Written before the latest human answer, which platforms may deliver first.
    pub answered_already: bool,
    /// Why there is no reply, for the log.
    pub quiet_because: Option<&'static str>,
    /// Someone else joined the thread: one more engagement.
    pub engagement_added: u64,
    /// The urgency flags this message adds to the conversation's.
    pub risks_added: Vec<UrgencyKind>,
    /// Fast-tracked now: escalate at once.
    pub fast_track: Option<FastTrack>,
}

/// The care rules for a customer's message.
pub fn decide_inbound(
    policy: &CarePolicy,
    sla: SlaPolicy,
    inbound: &Inbound<'_>,
    now: DateTime<Utc>,
) -> InboundDecision {
    let m = inbound.mention;
    let c = inbound.classification;
    // Strictly before: timestamps have a second's grain, and a tie is better read as a new
    // message than as answered.
    let answered_already = inbound.answered_at.is_some_and(|at| m.created_at < at);
    let urgent = c.urgency.iter().any(|u| u.kind.signals_a_problem());
    let off_hours = !policy.hours.is_open(m.received_at);
    let mut clock =
        (!answered_already && starts_clock(c.intent, urgent, inbound.answered_at, m.received_at)).then(|| {
            if policy.runs_in_business_time(m.channel) {
                SlaClock {
                    started_at: m.received_at,
                    ideal_due_at: policy.hours.add(m.received_at, sla.ideal),
                    breach_due_at: policy.hours.add(m.received_at, sla.breach),
                }
            } else {
                sla.start(m.received_at)
            }
        });
    let (fast_track, engagement_added, risks_added) = fast_track(policy, inbound, clock);
    if let (Some(track), Some(_)) = (&fast_track, clock) {
        clock = Some(track.clock);
    }
    let quiet = |why: &'static str| InboundDecision {
        clock,
        reply: None,
        off_hours,
        answered_already,
        quiet_because: Some(why),
        engagement_added,
        risks_added: risks_added.clone(),
        fast_track: fast_track.clone(),
    };
    if answered_already {
        return quiet("a person answered it already");
    }
    if inbound.acknowledged {
        return quiet("the conversation had its automatic answer");
    }
    if m.listening {
        return quiet("found by listening, not addressed to the brand: a person decides whether to answer");
    }
    let private_data = !c.privacy.is_empty();
    let Some((target, wording)) = acknowledgement(m, private_data) else {
        return quiet("another app owns the conversation, or it is not a customer's");
    };
    let language = (c.language.confidence >= 0.6).then_some(c.language.code);
    let (kind, template) = match c.intent {
        Intent::Complaint | Intent::Question => {
            let template = match (wording, c.intent) {
                (Wording::MoveToPrivate, _) => TemplateKind::Private,
                (_, Intent::Complaint) => TemplateKind::Complaint,
                _ => TemplateKind::Question,
            };
            let kind = if off_hours { ReplyKind::OffHoursAcknowledgement } else { ReplyKind::Acknowledgement };
            (kind, template)
        }
        Intent::Praise | Intent::Feedback => {
            if !c.thank.thank {
                return quiet("the thank-you decision says no");
            }
            if !policy.thanks {
                return quiet("the account does not thank automatically");
            }
            // Thanks to an agent ("thanks, sorted!") are the agent's to answer.
            if inbound.answered_at.is_some() {
                return quiet("a person is talking with the customer");
            }
            if private_data {
                return quiet("personal data in public: a person answers");
            }
            let template = match (c.intent, c.thank.reasons.first()) {
                (Intent::Feedback, _) => TemplateKind::Feedback,
                (_, Some(ThankReason::Gratitude { .. })) => TemplateKind::Gratitude,
                _ => TemplateKind::Praise,
            };
            (ReplyKind::Thanks, template)
        }
        Intent::Spam | Intent::Other => return quiet("nothing to answer"),
    };
    let when = off_hours.then(|| policy.hours.describe(policy.hours.next_open(m.received_at), m.received_at));
    let want = Want { kind: template, language, closed: off_hours, when: when.as_deref() };
    let Some(rendered) = policy.templates.render(want, m, inbound.thanked, now) else {
        return quiet("no text left that this customer was not given within the hour, or no name to thank");
    };
    let template_id = (kind == ReplyKind::Thanks).then_some(rendered.template_id);
    InboundDecision {
        clock,
        reply: Some(AutoReply { kind, target, text: rendered.text, template_id }),
        off_hours,
        answered_already,
        quiet_because: None,
        engagement_added,
        risks_added,
        fast_track,
    }
}

/// The viral rule over the conversation with this message in it: whether it is fast-tracked
/// now, one engagement more if someone else joined, and the risks it adds.
fn fast_track(
    policy: &CarePolicy,
    inbound: &Inbound<'_>,
    new_clock: Option<SlaClock>,
) -> (Option<FastTrack>, u64, Vec<UrgencyKind>) {
    let (m, c, before) = (inbound.mention, inbound.classification, inbound.conversation);
    let joined = before.customer_id.as_deref().is_some_and(|customer| customer != m.customer_id);
    let by_customer = !joined;
    let risks_added: Vec<UrgencyKind> =
        c.urgency.iter().map(|u| u.kind).filter(|k| k.signals_a_problem() && !before.risks.contains(k)).collect();
    let engagement_added = u64::from(joined);
    if before.viral {
        return (None, engagement_added, risks_added);
    }
    let negative =
        matches!(c.intent, Intent::Complaint) || c.sentiment == Sentiment::Negative || before.running.is_some();
    let exposure = viral::Exposure {
        followers: if by_customer { m.author.followers.or(before.followers) } else { before.followers },
        verified: before.verified || (by_customer && m.author.verified),
        valued: before.valued.clone(),
        engagement: before.engagement + engagement_added,
        risks: before.risks.iter().chain(&risks_added).copied().collect(),
        negative,
    };
    let Some(reasons) = viral::assess(&policy.viral, &exposure) else {
        return (None, engagement_added, risks_added);
    };
    // A fast track never waits for business hours, and never lengthens a clock.
    let now = m.received_at;
    let base = before.running.map(|(clock, _)| clock).or(new_clock).unwrap_or_else(|| policy.viral.sla.start(now));
    let clock = SlaClock {
        started_at: base.started_at,
        ideal_due_at: base.ideal_due_at.min(now + policy.viral.sla.ideal),
        breach_due_at: base.breach_due_at.min(now + policy.viral.sla.breach),
    };
    (Some(FastTrack { reasons, clock }), engagement_added, risks_added)
}

#[cfg(test)]
mod tests;
