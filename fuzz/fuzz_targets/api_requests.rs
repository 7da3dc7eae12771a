//! What the `/v1` API reads from its callers, on arbitrary bytes: the JSON bodies, a
//! listing's and the KPIs' queries, the cursor it hands out, path segments. Never a panic,
//! and what it accepts is within the bounds the store and the channels rely on.
#![no_main]

use chrono::{TimeZone, Utc};
use hark_shared::domain::api_request::{
    self as api, Approval, Listing, MAX_KPI_DAYS, MAX_LIMIT, ReplyRequest, ResolveRequest,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, input)) = data.split_first() else { return };
    let text = std::str::from_utf8(input).ok();
    match which % 6 {
        0 => {
            let _ = api::object_body::<ReplyRequest>(input, "reply");
        }
        1 => {
            let _ = api::object_body::<ResolveRequest>(input, "resolve");
        }
        2 => {
            let _ = api::object_body::<Approval>(input, "approval");
        }
        3 => {
            let Some(query) = text else { return };
            if let Ok(listing) = Listing::from_query(query) {
                assert!((1..=MAX_LIMIT).contains(&listing.limit));
                assert!(listing.filter.min_priority.is_none_or(|p| p <= 100));
                // A cursor taken is one this API could have made: it round-trips.
                if let Some(cursor) = listing.cursor {
                    assert_eq!(api::decode_cursor(&api::encode_cursor(&cursor)), Some(cursor));
                }
            }
        }
        4 => {
            let Some(query) = text else { return };
            let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
            if let Ok((since, until)) = api::kpi_period(query, now) {
                assert!(since <= until && until <= now);
                assert!(until - since <= chrono::TimeDelta::days(MAX_KPI_DAYS));
            }
        }
        _ => {
            let Some(segment) = text else { return };
            if let Some(cursor) = api::decode_cursor(segment) {
                assert_eq!(api::decode_cursor(&api::encode_cursor(&cursor)), Some(cursor));
            }
            if let Ok(id) = api::conversation_id(segment) {
                assert!(hark_shared::ports::ConversationId::parse(&id.0).is_some());
            }
            if let Some(decoded) = api::percent_decoded(segment) {
                assert!(decoded.len() <= segment.len());
            }
        }
    }
});
