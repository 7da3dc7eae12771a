//! `hark customers import FILE`: what customers are worth, from the CRM's export (CSV or a
//! JSON array; `domain::customer_value` reads both). The same check as `PUT
//! /v1/customer-values`, without the API's 1 MiB body limit: the whole file is checked
//! first and one bad row refuses it, so an import is never half applied.

use hark_shared::domain::customer_value::parse_import;
use hark_shared::ports::CustomerValues;

use crate::{Args, CliError};

/// Bad rows listed before the rest are only counted.
const SHOWN_ERRORS: usize = 50;

pub fn run(args: &Args) -> Result<(), CliError> {
    let (Some("import"), Some(path)) = (args.positional.get(1).map(String::as_str), args.positional.get(2)) else {
        return Err(CliError::Usage("hark customers import FILE; see hark --help".into()));
    };
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Io(path.clone(), e))?;
    let rows = parse_import(&text).map_err(|errors| {
        let mut message = format!("{path}: nothing imported, {} bad row(s):", errors.len());
        for error in errors.iter().take(SHOWN_ERRORS) {
            message.push_str(&format!("\n  {error}"));
        }
        if errors.len() > SHOWN_ERRORS {
            message.push_str(&format!("\n  … and {} more", errors.len() - SHOWN_ERRORS));
        }
        CliError::Usage(message)
    })?;
    crate::on_table(args, async |store| {
        let stored = store.import_values(&rows).await.map_err(|e| CliError::Usage(e.to_string()))?;
        println!("{stored} customer value(s) stored; new messages from these customers use them within a minute");
        Ok(())
    })
}
