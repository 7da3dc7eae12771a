//! The domain: what Hark knows about customer care, with no I/O. Everything here is tested
//! without a database or a network.

pub mod agent_reply;
pub mod api_key;
pub mod api_request;
pub mod care;
pub mod classify;
pub mod customer_value;
pub mod forward;
pub mod kpi;
pub mod listening;
pub mod mention;
pub mod notice;
pub mod oauth;
pub mod outbox;
pub mod rate;
pub mod reply;
pub mod secret;
pub mod sla;
