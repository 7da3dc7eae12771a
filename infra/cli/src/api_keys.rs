//! `hark api-key create|list|revoke`: the HTTP API's keys, kept in the stack's table.

use hark_shared::domain::api_key::{Scope, new_key};
use hark_shared::ports::ApiKeyStore;

use crate::{Args, CliError};

pub fn run(args: &Args) -> Result<(), CliError> {
    let command = args.positional.get(1).map(String::as_str);
    crate::on_table(args, async |store| match command {
        Some("create") => create(args, &store).await,
        Some("list") => list(&store).await,
        Some("revoke") => {
            let id = args.positional.get(2).ok_or_else(|| CliError::Usage("hark api-key revoke ID".into()))?;
            revoke(&store, id).await
        }
        _ => Err(CliError::Usage("hark api-key create|list|revoke; see hark --help".into())),
    })
}

async fn create(args: &Args, store: &impl ApiKeyStore) -> Result<(), CliError> {
    let name = args.flag("name").ok_or_else(|| CliError::Usage("--name NAME (who holds the key) is needed".into()))?;
    let scopes = args
        .flag("scopes")
        .unwrap_or("read")
        .split(',')
        .map(|s| {
            Scope::parse(s.trim())
                .ok_or_else(|| CliError::Usage(format!("unknown scope {s:?}; read, reply, configure")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut random = [0u8; 40];
    getrandom::fill(&mut random).map_err(|e| CliError::Usage(format!("no randomness from the system: {e}")))?;
    let (key, record) = new_key(&random, name, &scopes, chrono::Utc::now()).map_err(CliError::Usage)?;
    store.put_api_key(&record).await.map_err(|e| CliError::Usage(e.to_string()))?;
    let scopes: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
    eprintln!("created key {} ({}) with scopes {}; it is shown this once:", record.id, record.name, scopes.join(","));
    println!("{key}");
    Ok(())
}

async fn list(store: &impl ApiKeyStore) -> Result<(), CliError> {
    let records = store.api_keys().await.map_err(|e| CliError::Usage(e.to_string()))?;
    println!("{:<14} {:<12} {:<25} {:<25} name", "id", "scopes", "created", "revoked");
    for record in records {
        let scopes: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
        let revoked = record.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
        println!(
            "{:<14} {:<12} {:<25} {:<25} {}",
            record.id,
            scopes.join(","),
            record.created_at.to_rfc3339(),
            revoked,
            record.name
        );
    }
    Ok(())
}

async fn revoke(store: &impl ApiKeyStore, id: &str) -> Result<(), CliError> {
    if store.revoke_api_key(id, chrono::Utc::now()).await.map_err(|e| CliError::Usage(e.to_string()))? {
        println!("revoked {id}");
        Ok(())
    } else {
        Err(CliError::Usage(format!("no API key {id}")))
    }
}
