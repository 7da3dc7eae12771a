//! Reading platform bodies: an envelope whose values stay raw, so each event is read on its
//! own and one odd event costs only itself; and errors that never quote the body.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Why an envelope could not be read; never quotes the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectError {
    Json(String),
    DuplicateKey(String),
}

/// A JSON object whose values stay raw, refusing repeated keys (which JSON parsers resolve
/// differently, so a body that repeats one means different things to different readers).
pub struct RawObject<'a>(Vec<(String, &'a RawValue)>);

impl<'a> RawObject<'a> {
    pub fn parse(raw: &'a [u8]) -> Result<Self, ObjectError> {
        serde_json::from_slice(raw).map_err(|e| {
            // The duplicate-key message names a key, never a value.
            match e.to_string().strip_prefix("duplicate key ") {
                Some(rest) => ObjectError::DuplicateKey(rest.split('"').nth(1).unwrap_or_default().to_owned()),
                None => ObjectError::Json(json_error(&e)),
            }
        })
    }

    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    pub fn into_fields(self) -> Vec<(String, &'a RawValue)> {
        self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut fields: Vec<(String, &'de RawValue)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    if fields.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format_args!("duplicate key {key:?}")));
                    }
                    fields.push((key, value));
                }
                Ok(RawObject(fields))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// A list of raw values; `null` is an empty list.
pub fn raw_list(value: &RawValue) -> Option<Vec<&RawValue>> {
    match value.get() {
        "null" => Some(Vec::new()),
        list => serde_json::from_str(list).ok(),
    }
}

/// A JSON error by category and position only.
pub fn json_error(error: &serde_json::Error) -> String {
    crate::error::json_error_summary(error)
}
