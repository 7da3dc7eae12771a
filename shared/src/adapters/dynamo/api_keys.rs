//! The HTTP API's keys, in one partition (`APIKEYS`): hashes and scopes, never the keys.

use super::*;

/// Every key in one partition: there are few, and listing them is one query.
const API_KEYS_PK: &str = "APIKEYS";

fn api_key_key(id: &str) -> Item {
    key(API_KEYS_PK.to_owned(), &format!("KEY#{id}"))
}

fn parse_api_key(item: &Item) -> Result<ApiKeyRecord> {
    let what = "api key";
    let mut scopes: Vec<Scope> = item
        .get("scopes")
        .and_then(|v| v.as_ss().ok())
        .map(|scopes| scopes.iter().filter_map(|scope| Scope::parse(scope)).collect())
        .unwrap_or_default();
    scopes.sort();
    Ok(ApiKeyRecord {
        id: required(get_s(item, "key_id"), what, "key_id")?.to_owned(),
        name: get_s(item, "name").unwrap_or_default().to_owned(),
        scopes,
        key_hash: required(get_s(item, "key_hash"), what, "key_hash")?.to_owned(),
        created_at: required(get_ts(item, "created_at"), what, "created_at")?,
        revoked_at: get_ts(item, "revoked_at"),
    })
}

impl ApiKeyStore for DynamoStore {
    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<()> {
        let mut item = api_key_key(&record.id);
        item.extend([
            ("item_type".to_owned(), s("api_key")),
            ("key_id".to_owned(), s(&record.id)),
            ("name".to_owned(), s(&record.name)),
            ("scopes".to_owned(), AttributeValue::Ss(record.scopes.iter().map(|s| s.as_str().to_owned()).collect())),
            ("key_hash".to_owned(), s(&record.key_hash)),
            ("created_at".to_owned(), ts(record.created_at)),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| Error::store("PutItem api key", e.into_service_error()))?;
        Ok(())
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        // Consistent: a revocation takes effect at once.
        let item = self.get_consistent(api_key_key(id), "GetItem api key").await?;
        item.as_ref().map(parse_api_key).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let items = self.partition(API_KEYS_PK.to_owned(), "Query api keys").await?;
        let mut records = items.iter().map(parse_api_key).collect::<Result<Vec<_>>>()?;
        records.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(records)
    }

    async fn revoke_api_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let update = UpdateBuilder::default().set_if_absent("revoked_at", ts(now)).build(
            &self.table,
            api_key_key(id),
            Some("attribute_exists(pk)"),
        )?;
        match self.update_item(update).await {
            Ok(_) => Ok(true),
            Err(err) if is_conditional_failure(&err) => Ok(false),
            Err(err) => Err(Error::store("UpdateItem revoke api key", err.into_service_error())),
        }
    }
}
