//! A listing as one line per post, with the skip reasons.

use chrono::{TimeZone, Utc};

use super::listing::{ListingContext, parse_listing};
use crate::channels::testing::{fixture, line};

#[test]
fn a_listing_s_posts_are_listening_hits() {
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let context = ListingContext { account: "acmeair", reference: "reddit:search" };
    let page = parse_listing(&fixture("reddit", "listing.json"), context, at).unwrap();
    let lines: Vec<String> = page.mentions.iter().map(|m| format!("{} listening={}", line(m), m.listening)).collect();
    assert_eq!(
        lines,
        [
            "reddit acmeair Post Inbound t3_1h2xb1 parent=- customer=t2_8k3j2 Created listening=true",
            "reddit acmeair Post Inbound t3_1h2xa7 parent=- customer=u_pat Created listening=true",
        ]
    );
    assert_eq!(page.mentions[0].text, "Acme Air lost my luggage\n\nThree days and no answer from their desk.");
    assert_eq!(page.mentions[0].author.handle.as_deref(), Some("sky_traveller"));
    assert_eq!(page.ids, ["t3_1h2xb1", "t3_1h2xa9", "t3_1h2xa8", "t3_1h2xa7"]);
    assert_eq!(page.next.as_deref(), Some("t3_1h2x9z"));
    let reasons: Vec<&str> = page.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].contains("brand's own") && reasons[1].contains("no author") && reasons[2].contains("not a post")
    );
    assert!(parse_listing(b"[]", context, at).is_err());
}
