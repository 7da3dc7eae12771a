//! Any source that signs Standard Webhooks (`POST /webhooks/generic/{source}`): a company's
//! own app, a review-site bridge, a web form. Messages in as one documented JSON shape,
//! answers out as Standard Webhooks events to the source's reply URL.

pub mod inbound;
#[cfg(feature = "aws")]
pub mod outbound;

pub use inbound::{GenericInbound, is_valid_message_id, is_valid_source};
#[cfg(feature = "aws")]
pub use outbound::GenericClient;

#[cfg(test)]
mod tests;
