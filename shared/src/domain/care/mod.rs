//! Care decisions, in one place: given a customer's message, what Hark knows of its
//! conversation, the account's policy and the time, whether a clock starts (and when it
//! falls due, in calendar or business time), and what Hark answers on its own (an
//! acknowledgement, an off-hours acknowledgement that says when a person will answer, a
//! thank-you for praise or feedback, or nothing). Pure: the functions do the I/O.

pub mod hours;
pub mod policy;
pub mod templates;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::channels::answer::{Wording, acknowledgement};
use crate::domain::classify::{Classification, Intent, ThankReason};
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
    let clock = (!answered_already && starts_clock(c.intent, urgent, inbound.answered_at, m.received_at)).then(|| {
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
    let quiet = |why: &'static str| InboundDecision {
        clock,
        reply: None,
        off_hours,
        answered_already,
        quiet_because: Some(why),
    };
    if answered_already {
        return quiet("a person answered it already");
    }
    if inbound.acknowledged {
        return quiet("the conversation had its automatic answer");
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
    }
}

#[cfg(test)]
mod tests;
