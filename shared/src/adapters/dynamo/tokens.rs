//! OAuth tokens (`TOKEN#{provider}#{account}`): seeded from the credentials secret, then
//! renewed under a version check and a lease so no two instances spend a refresh token.

use super::*;

fn tokens_key(key: &str) -> Item {
    self::key(format!("TOKEN#{key}"), "TOKEN")
}

/// OAuth tokens, one item per provider account (`TOKEN#{provider}#{account}`). The table is
/// encrypted at rest; the item holds the only valid refresh token once X has rotated it.
impl TokenStore for DynamoStore {
    async fn load_tokens(&self, key: &str) -> Result<Option<StoredTokens>> {
        let Some(item) = self.get_consistent(tokens_key(key), "GetItem tokens").await? else { return Ok(None) };
        let what = "tokens";
        Ok(Some(StoredTokens {
            access_token: get_s(&item, "access_token").map(Secret::new),
            access_expires_at: get_n::<i64>(&item, "access_expires_at")
                .and_then(|t| DateTime::from_timestamp(t, 0))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            refresh_token: Secret::new(required(get_s(&item, "refresh_token"), what, "refresh_token")?),
            version: required(get_n(&item, "version"), what, "version")?,
            seed_fingerprint: get_s(&item, "seed_fingerprint").unwrap_or_default().to_owned(),
            seeded_at: get_ts(&item, "seeded_at"),
            refused: get_s(&item, "refused").map(str::to_owned),
        }))
    }

    async fn seed_tokens(&self, key: &str, seed: &Seed, replacing: Option<u64>) -> Result<bool> {
        let mut item = tokens_key(key);
        item.extend([
            ("item_type".to_owned(), s("oauth_tokens")),
            ("refresh_token".to_owned(), s(seed.refresh_token.expose())),
            ("version".to_owned(), n(replacing.map_or(1, |v| v + 1))),
            ("seed_fingerprint".to_owned(), s(seed.fingerprint())),
            ("access_expires_at".to_owned(), n(0)),
        ]);
        if let Some(at) = seed.issued_at {
            item.insert("seeded_at".into(), ts(at));
        }
        let mut request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        request = match replacing {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(version) => request
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":version", n(version)),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(Error::store("PutItem tokens", err.into_service_error())),
        }
    }

    async fn lease_tokens(
        &self,
        key: &str,
        version: u64,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let lease = UpdateBuilder::default()
            .set("lease_owner", s(owner))
            .set("lease_until", n(until.timestamp()))
            .name("version")
            .name("refused")
            .value(":version", n(version))
            .value(":now", n(now.timestamp()))
            .build(
                &self.table,
                tokens_key(key),
                Some(
                    "#version = :version AND attribute_not_exists(#refused) \
                     AND (attribute_not_exists(#lease_until) OR #lease_until < :now)",
                ),
            )?;
        match self.update_item(lease).await {
            Ok(_) => Ok(true),
            Err(err) if is_conditional_failure(&err) => Ok(false),
            Err(err) => Err(Error::store("UpdateItem lease tokens", err.into_service_error())),
        }
    }

    async fn store_refreshed(
        &self,
        key: &str,
        version: u64,
        access_token: &Secret,
        access_expires_at: DateTime<Utc>,
        refresh_token: &Secret,
    ) -> Result<bool> {
        let write = UpdateBuilder::default()
            .set("access_token", s(access_token.expose()))
            .set("access_expires_at", n(access_expires_at.timestamp()))
            .set("refresh_token", s(refresh_token.expose()))
            .set("version", n(version + 1))
            .remove("lease_owner")
            .remove("lease_until")
            .remove("refused")
            .value(":seen", n(version))
            .build(&self.table, tokens_key(key), Some("#version = :seen"))?;
        match self.update_item(write).await {
            Ok(_) => Ok(true),
            Err(err) if is_conditional_failure(&err) => Ok(false),
            Err(err) => Err(Error::store("UpdateItem store tokens", err.into_service_error())),
        }
    }

    async fn release_tokens(&self, key: &str, owner: &str) -> Result<()> {
        let release = UpdateBuilder::default()
            .remove("lease_owner")
            .remove("lease_until")
            .value(":owner", s(owner))
            .build(&self.table, tokens_key(key), Some("#lease_owner = :owner"))?;
        match self.update_item(release).await {
            Ok(_) => Ok(()),
            Err(err) if is_conditional_failure(&err) => Ok(()),
            Err(err) => Err(Error::store("UpdateItem release tokens", err.into_service_error())),
        }
    }

    async fn mark_refused(&self, key: &str, version: u64, reason: &str) -> Result<()> {
        let mark = UpdateBuilder::default()
            .set("refused", s(reason))
            .remove("lease_owner")
            .remove("lease_until")
            .name("version")
            .value(":version", n(version))
            .build(&self.table, tokens_key(key), Some("#version = :version"))?;
        match self.update_item(mark).await {
            Ok(_) => Ok(()),
            Err(err) if is_conditional_failure(&err) => Ok(()),
            Err(err) => Err(Error::store("UpdateItem mark tokens refused", err.into_service_error())),
        }
    }
}
