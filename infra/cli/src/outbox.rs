//! `hark outbox failed|redrive` and `hark webhooks enable`: what the outbox gave up on
//! (every purpose: acknowledgements, agents' replies, help-desk deliveries), sent again once
//! its cause is fixed, and a help-desk endpoint switched back on after a 410.

use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::ports::{OutboxPurpose, due_shard};

use crate::{Args, CliError};

fn store_error(error: hark_shared::Error) -> CliError {
    CliError::Usage(error.to_string())
}

/// The most failed records one command reads.
const LIMIT: i32 = 1000;

pub fn run(args: &Args) -> Result<(), CliError> {
    let command = args.positional.get(1).map(String::as_str);
    let purpose = match args.flag("purpose") {
        None => None,
        Some(name) => Some(OutboxPurpose::parse(name).ok_or_else(|| {
            let purposes: Vec<&str> = OutboxPurpose::ALL.iter().map(|p| p.as_str()).collect();
            CliError::Usage(format!("unknown purpose {name:?}: one of {}", purposes.join(", ")))
        })?),
    };
    let shards: u32 = match args.flag("shards") {
        None => 4,
        Some(n) => n.parse().ok().filter(|n| *n > 0).ok_or_else(|| CliError::Usage("--shards N, N > 0".into()))?,
    };
    crate::on_table(args, async |store| match command {
        Some("failed") => failed(&store).await,
        Some("redrive") => redrive(&store, purpose, shards).await,
        _ => Err(CliError::Usage("hark outbox failed|redrive; see hark --help".into())),
    })
}

async fn failed(store: &DynamoStore) -> Result<(), CliError> {
    let failed = store.failed_outbox(LIMIT).await.map_err(store_error)?;
    println!("{:<16} {:<44} {:<40} reason", "purpose", "conversation", "record");
    for (conversation, entry) in &failed {
        let reason = entry.last_error.as_deref().unwrap_or("-");
        println!("{:<16} {:<44} {:<40} {reason}", entry.message.purpose.as_str(), conversation, entry.message.key());
    }
    eprintln!("{} failed record(s)", failed.len());
    Ok(())
}

async fn redrive(store: &DynamoStore, purpose: Option<OutboxPurpose>, shards: u32) -> Result<(), CliError> {
    let now = chrono::Utc::now();
    let mut redriven = 0;
    for (conversation, entry) in store.failed_outbox(LIMIT).await.map_err(store_error)? {
        if purpose.is_some_and(|p| p != entry.message.purpose) {
            continue;
        }
        let key = entry.message.key();
        if store
            .redrive_outbox(&conversation, &key, due_shard(&conversation, shards), now)
            .await
            .map_err(store_error)?
        {
            redriven += 1;
        }
    }
    println!("{redriven} record(s) due again; the outbox function sends them on its next run");
    Ok(())
}

pub fn run_webhooks(args: &Args) -> Result<(), CliError> {
    let (Some("enable"), Some(endpoint)) = (args.positional.get(1).map(String::as_str), args.positional.get(2)) else {
        return Err(CliError::Usage("hark webhooks enable ENDPOINT; see hark --help".into()));
    };
    crate::on_table(args, async |store| {
        if store.enable_endpoint(endpoint).await.map_err(store_error)? {
            println!("{endpoint} enabled; hark outbox redrive --purpose forward sends what failed meanwhile");
        } else {
            println!("{endpoint} was not disabled");
        }
        Ok(())
    })
}
