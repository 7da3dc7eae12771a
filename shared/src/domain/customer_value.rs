//! What a customer is worth to the company, as its CRM says: a tier, a lifetime value and
//! the CRM's own id, keyed by channel and the customer's platform id or handle. Operators
//! import it (`hark customers import`, `PUT /v1/customer-values`); priority, the viral fast
//! track and help-desk routing read it; tickets and the API show it.
//!
//! An import is checked whole before anything is written: one bad row refuses the file,
//! with every bad row's line and reason, so a half-applied import never happens.

use serde::{Deserialize, Serialize};

use crate::domain::mention::Channel;

/// Rows one import may hold.
pub const MAX_ROWS: usize = 100_000;
const MAX_TIER_CHARS: usize = 32;
const MAX_CRM_ID_CHARS: usize = 64;
/// Platform handles are at most 30 characters (Instagram), ids at most 32 digits.
const MAX_KEY_CHARS: usize = 64;

/// A customer's worth.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifetime_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crm_id: Option<String>,
}

/// How the CRM names the customer on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CustomerKey {
    Id(String),
    /// Lower-cased, without the leading @.
    Handle(String),
}

impl CustomerKey {
    /// The key's text in storage: `id#…` or `handle#…`.
    pub fn stored(&self) -> String {
        match self {
            CustomerKey::Id(id) => format!("id#{id}"),
            CustomerKey::Handle(handle) => format!("handle#{handle}"),
        }
    }

    pub fn handle(handle: &str) -> Self {
        CustomerKey::Handle(handle.trim().trim_start_matches('@').to_lowercase())
    }
}

/// One imported row.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueRow {
    pub channel: Channel,
    pub key: CustomerKey,
    pub value: CustomerValue,
}

/// A row as a file gives it, before it is checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    channel: Option<String>,
    id: Option<String>,
    handle: Option<String>,
    tier: Option<String>,
    lifetime_value: Option<serde_json::Value>,
    crm_id: Option<String>,
}

/// A row the import refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based: the CSV line (the header is line 1) or the JSON array's element.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}: {}", self.line, self.message)
    }
}

/// The rows of a CSV file (header `channel,id,handle,tier,lifetime_value,crm_id`, in any
/// order, `id` or `handle` or both) or of a JSON array of objects with those fields.
pub fn parse_import(text: &str) -> Result<Vec<ValueRow>, Vec<RowError>> {
    let trimmed = text.trim_start();
    let raw: Vec<(usize, RawRow)> = if trimmed.starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(trimmed)
            .map_err(|e| vec![RowError { line: 0, message: format!("not a JSON array of rows: {e}") }])?;
        let mut rows = Vec::with_capacity(values.len());
        let mut errors = Vec::new();
        for (i, value) in values.into_iter().enumerate() {
            match serde_json::from_value::<RawRow>(value) {
                Ok(row) => rows.push((i + 1, row)),
                Err(e) => errors.push(RowError { line: i + 1, message: e.to_string() }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        rows
    } else {
        parse_csv(text)?
    };
    if raw.len() > MAX_ROWS {
        return Err(vec![RowError { line: 0, message: format!("{} rows: at most {MAX_ROWS} an import", raw.len()) }]);
    }
    let mut rows = Vec::with_capacity(raw.len());
    let mut errors = Vec::new();
    for (line, row) in raw {
        match check(row) {
            Ok(mut checked) => rows.append(&mut checked),
            Err(message) => errors.push(RowError { line, message }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(last_row_wins(rows))
}

/// A customer listed twice (an export that appends changes) keeps the later row, as a
/// re-import would; storage writes each customer once.
fn last_row_wins(rows: Vec<ValueRow>) -> Vec<ValueRow> {
    let mut latest = std::collections::HashMap::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        latest.insert((row.channel, row.key.clone()), i);
    }
    rows.into_iter()
        .enumerate()
        .filter(|(i, row)| latest[&(row.channel, row.key.clone())] == *i)
        .map(|(_, row)| row)
        .collect()
}

fn parse_csv(text: &str) -> Result<Vec<(usize, RawRow)>, Vec<RowError>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let header_error = |message: String| vec![RowError { line: 1, message }];
    let headers = reader.headers().map_err(|e| header_error(format!("not a CSV header: {e}")))?.clone();
    const KNOWN: [&str; 6] = ["channel", "id", "handle", "tier", "lifetime_value", "crm_id"];
    if let Some(unknown) = headers.iter().find(|h| !KNOWN.contains(h)) {
        return Err(header_error(format!("unknown column {unknown:?}; the columns are {}", KNOWN.join(", "))));
    }
    let column = |name: &str| headers.iter().position(|h| h == name);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                errors.push(RowError { line, message: format!("not a CSV row: {e}") });
                continue;
            }
        };
        let field = |name: &str| column(name).and_then(|c| record.get(c)).map(str::to_owned).filter(|v| !v.is_empty());
        rows.push((
            line,
            RawRow {
                channel: field("channel"),
                id: field("id"),
                handle: field("handle"),
                tier: field("tier"),
                lifetime_value: field("lifetime_value").map(serde_json::Value::String),
                crm_id: field("crm_id"),
            },
        ));
    }
    if errors.is_empty() { Ok(rows) } else { Err(errors) }
}

/// One row as stored: a row naming both an id and a handle is stored under each.
fn check(row: RawRow) -> Result<Vec<ValueRow>, String> {
    let channel = row.channel.as_deref().ok_or("no channel")?;
    let channel = Channel::parse(channel.trim()).ok_or_else(|| format!("{channel:?} is not a channel Hark serves"))?;
    let mut keys = Vec::new();
    if let Some(id) = row.id.as_deref().map(str::trim).filter(|i| !i.is_empty()) {
        if id.len() > MAX_KEY_CHARS || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
            return Err(format!("id {id:?} is not a platform id"));
        }
        keys.push(CustomerKey::Id(id.to_owned()));
    }
    if let Some(handle) = row.handle.as_deref().map(str::trim).filter(|h| !h.is_empty()) {
        let key = CustomerKey::handle(handle);
        let CustomerKey::Handle(h) = &key else { unreachable!() };
        if h.is_empty()
            || h.len() > MAX_KEY_CHARS
            || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.".contains(&b))
        {
            return Err(format!("handle {handle:?} is not a handle (letters, digits, _ and .)"));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err("an id or a handle is needed".into());
    }
    let tier = match row.tier.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if t.len() > MAX_TIER_CHARS || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b)) => {
            return Err(format!("tier {t:?}: up to {MAX_TIER_CHARS} letters, digits, _ and -"));
        }
        Some(t) => Some(t.to_lowercase()),
        None => None,
    };
    let lifetime_value = match row.lifetime_value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => {
            Some(s.trim().parse::<f64>().map_err(|_| format!("lifetime_value {s:?} is not a number"))?)
        }
        Some(other) => return Err(format!("lifetime_value {other} is not a number")),
    };
    if lifetime_value.is_some_and(|v| !v.is_finite() || v < 0.0) {
        return Err("lifetime_value must be a number of at least 0".into());
    }
    let crm_id = match row.crm_id.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) if c.chars().count() > MAX_CRM_ID_CHARS || c.chars().any(char::is_control) => {
            return Err(format!("crm_id: up to {MAX_CRM_ID_CHARS} printable characters"));
        }
        other => other.map(str::to_owned),
    };
    if tier.is_none() && lifetime_value.is_none() && crm_id.is_none() {
        return Err("nothing to import: give a tier, a lifetime_value or a crm_id".into());
    }
    let value = CustomerValue { tier, lifetime_value, crm_id };
    Ok(keys.into_iter().map(|key| ValueRow { channel, key, value: value.clone() }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_say_the_same_thing() {
        let csv = "channel,handle,id,tier,lifetime_value,crm_id\n\
                   x,@Maria_Travels,,VIP,12400.50,0031x00000abc\n\
                   facebook,,5566770002,gold,,\n\
                   instagram,jo.wanders,17841400000000009,,800,\n";
        let json = r#"[
            {"channel": "x", "handle": "@Maria_Travels", "tier": "VIP", "lifetime_value": 12400.5, "crm_id": "0031x00000abc"},
            {"channel": "facebook", "id": "5566770002", "tier": "gold"},
            {"channel": "instagram", "handle": "jo.wanders", "id": "17841400000000009", "lifetime_value": "800"}
        ]"#;
        let from_csv = parse_import(csv).unwrap();
        assert_eq!(from_csv, parse_import(json).unwrap());
        assert_eq!(from_csv.len(), 4, "the Instagram row is stored under its id and its handle");
        assert_eq!(from_csv[0].key, CustomerKey::Handle("maria_travels".into()));
        assert_eq!(from_csv[0].value.tier.as_deref(), Some("vip"));
        assert_eq!(from_csv[0].value.lifetime_value, Some(12400.5));
    }

    #[test]
    fn a_bad_row_refuses_the_file_with_every_reason() {
        let csv = "channel,handle,tier,lifetime_value\n\
                   x,ok_handle,vip,10\n\
                   myspace,tom,vip,\n\
                   x,,gold,\n\
                   x,dana,gold,-5\n\
                   x,pat,gold;drop,\n\
                   x,sam,,\n";
        let errors = parse_import(csv).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7], "{errors:?}");
        assert!(errors[0].message.contains("not a channel"));
        assert!(errors[1].message.contains("an id or a handle"));
        assert!(errors[2].message.contains("at least 0"));
        assert!(errors[3].message.contains("tier"));
        assert!(errors[4].message.contains("nothing to import"));
        assert!(parse_import("channel,phone\nx,123").unwrap_err()[0].message.contains("unknown column"));
        assert!(
            parse_import("[{\"channel\": \"x\", \"handle\": \"a\", \"tier\": \"vip\", \"ssn\": 1}]").unwrap_err()[0]
                .message
                .contains("unknown field")
        );
        assert!(parse_import("[1, 2").unwrap_err()[0].message.contains("JSON"));
    }

    #[test]
    fn a_customer_listed_twice_keeps_the_later_row() {
        let rows = parse_import("channel,handle,tier\nx,dana,silver\nx,pat,gold\nx,@DANA,vip\n").unwrap();
        let tiers: Vec<_> = rows.iter().map(|r| (r.key.stored(), r.value.tier.clone().unwrap())).collect();
        assert_eq!(tiers, [("handle#pat".to_owned(), "gold".to_owned()), ("handle#dana".to_owned(), "vip".to_owned())]);
    }
}
