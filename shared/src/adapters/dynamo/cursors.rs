//! The listener's cursors: one item per feed, its state as JSON and a version that every
//! advance must find unchanged.

use aws_sdk_dynamodb::operation::put_item::PutItemError;

use super::{DynamoStore, get_n, get_s, key, n, s};
use crate::domain::listening::{Cursor, StoredCursor};
use crate::error::{Error, Result};
use crate::ports::CursorStore;

fn cursor_key(feed: &str) -> super::Item {
    key(format!("LISTEN#{feed}"), "CURSOR")
}

impl CursorStore for DynamoStore {
    async fn cursor(&self, feed: &str) -> Result<StoredCursor> {
        let Some(item) = self.get_consistent(cursor_key(feed), "read a listening cursor").await? else {
            return Ok(StoredCursor::default());
        };
        let state = get_s(&item, "state").unwrap_or("{}");
        let cursor: Cursor = serde_json::from_str(state).map_err(|e| Error::store("decode a listening cursor", e))?;
        Ok(StoredCursor { cursor, version: get_n(&item, "version").unwrap_or(0) })
    }

    async fn advance(&self, feed: &str, from: u64, to: &Cursor) -> Result<bool> {
        let mut item = cursor_key(feed);
        item.insert("item_type".into(), s("listening_cursor"));
        item.insert("feed".into(), s(feed));
        item.insert(
            "state".into(),
            s(serde_json::to_string(to).map_err(|e| Error::store("encode a listening cursor", e))?),
        );
        item.insert("version".into(), n(from + 1));
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        let put = if from == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :from").expression_attribute_values(":from", n(from))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(err) if matches!(err.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
                Ok(false)
            }
            Err(err) => Err(Error::store("advance a listening cursor", err.into_service_error())),
        }
    }
}
