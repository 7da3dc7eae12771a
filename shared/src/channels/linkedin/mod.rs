//! LinkedIn organisation pages: social-action webhooks in (comments on the organisation's
//! posts, posts that mention it), the Comments API out.

pub mod inbound;
#[cfg(feature = "aws")]
pub mod outbound;
pub mod urn;

pub use inbound::LinkedInInbound;
#[cfg(feature = "aws")]
pub use outbound::LinkedInClient;
pub use urn::is_valid_organization;

#[cfg(test)]
mod tests;
