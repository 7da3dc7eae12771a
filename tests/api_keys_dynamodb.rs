//! The HTTP API's keys over DynamoDB Local: kept as hashes, checked, listed and revoked
//! through the store, and made and revoked by the `hark` command as an operator would.

use chrono::Utc;
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::domain::api_key::{KeyRefused, PresentedKey, Scope, new_key};
use hark_shared::ports::ApiKeyStore;
use hark_tests::*;

fn random(seed: u8) -> [u8; 40] {
    std::array::from_fn(|i| seed.wrapping_mul(97).wrapping_add(i as u8))
}

#[tokio::test]
async fn keys_are_kept_hashed_checked_listed_and_revoked() {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let store = DynamoStore::from_config(&aws, &table);
    let (reader, reader_record) = new_key(&random(1), "BI export", &[Scope::Read], Utc::now()).unwrap();
    let (agent, agent_record) =
        new_key(&random(2), "Zendesk bridge", &[Scope::Reply, Scope::Read], Utc::now()).unwrap();
    store.put_api_key(&reader_record).await.unwrap();
    store.put_api_key(&agent_record).await.unwrap();
    assert!(store.put_api_key(&reader_record).await.is_err(), "an id on record is never overwritten");

    // Nothing in the table is the key, or contains its secret.
    let items = items_of_type(&aws, &table, "api_key").await;
    assert_eq!(items.len(), 2);
    for item in &items {
        assert!(!format!("{item:?}").contains(&reader[19..]) && !format!("{item:?}").contains(&agent[19..]));
    }

    let presented = PresentedKey::parse(&agent).unwrap();
    let stored = store.api_key(presented.id).await.unwrap().expect("found by its id");
    // Times are kept to the millisecond.
    assert!((stored.created_at - agent_record.created_at).num_milliseconds().abs() < 1);
    assert_eq!(stored, hark_shared::domain::api_key::ApiKeyRecord { created_at: stored.created_at, ..agent_record });
    assert_eq!(presented.check(&stored, Scope::Reply), Ok(()));
    let presented_reader = PresentedKey::parse(&reader).unwrap();
    let stored_reader = store.api_key(presented_reader.id).await.unwrap().unwrap();
    assert_eq!(presented_reader.check(&stored_reader, Scope::Reply), Err(KeyRefused::Scope("reply")));
    assert_eq!(store.api_key("aaaaaaaaaaaaa").await.unwrap(), None);

    let listed: Vec<String> = store.api_keys().await.unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&"BI export".to_owned()) && listed.contains(&"Zendesk bridge".to_owned()));

    assert!(store.revoke_api_key(presented.id, Utc::now()).await.unwrap());
    let revoked = store.api_key(presented.id).await.unwrap().unwrap();
    assert_eq!(presented.check(&revoked, Scope::Read), Err(KeyRefused::Revoked));
    let first_revocation = revoked.revoked_at;
    assert!(store.revoke_api_key(presented.id, Utc::now()).await.unwrap(), "revoking again is harmless");
    assert_eq!(store.api_key(presented.id).await.unwrap().unwrap().revoked_at, first_revocation);
    assert!(!store.revoke_api_key("aaaaaaaaaaaaa", Utc::now()).await.unwrap());
}

#[tokio::test]
async fn the_hark_command_makes_a_key_once_lists_it_and_revokes_it() {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let store = DynamoStore::from_config(&aws, &table);

    let created = hark(&["api-key", "create", "--name", "Freshdesk bridge", "--scopes", "read,reply"], &table);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let presented = PresentedKey::parse(&key).expect("stdout is the key alone");
    let record = store.api_key(presented.id).await.unwrap().unwrap();
    assert_eq!(presented.check(&record, Scope::Reply), Ok(()));
    assert_eq!(record.name, "Freshdesk bridge");

    let listed = hark(&["api-key", "list"], &table);
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert!(listing.contains(presented.id) && listing.contains("read,reply"), "{listing}");
    assert!(!listing.contains(&key[19..]), "the list never shows a key");

    let revoked = hark(&["api-key", "revoke", presented.id], &table);
    assert!(revoked.status.success());
    let record = store.api_key(presented.id).await.unwrap().unwrap();
    assert_eq!(presented.check(&record, Scope::Read), Err(KeyRefused::Revoked));

    let unknown = hark(&["api-key", "revoke", "aaaaaaaaaaaaa"], &table);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key aaaaaaaaaaaaa"));
    let bad_scope = hark(&["api-key", "create", "--name", "x", "--scopes", "admin"], &table);
    assert!(!bad_scope.status.success());
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("unknown scope"));
}
