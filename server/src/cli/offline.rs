//! `licet-server offline …`: air-gapped activation from the vendor's shell, for a customer
//! who sends the request (or the deactivation proof) by email or on a USB stick.

use std::io::Read;
use std::path::Path;

use licet_proto::offline::MAX_TEXT_LEN;

use super::{OfflineCommand, print_json};
use crate::app::App;
use crate::auth::{Actor, Admin};
use crate::licensing::Caller;
use crate::licensing::offline::{self, Scope};
use crate::platform::error::{Error, Result};

/// Runs an `offline` command.
pub(super) async fn run(app: &App, operator: &Admin, action: OfflineCommand) -> Result<()> {
    let caller = Caller {
        ip: "127.0.0.1".into(),
    };
    let actor = Actor::Admin(operator).audit_name().into_owned();
    match action {
        OfflineCommand::Activate { request, out, json } => {
            let document = read(&request)?;
            let answer = offline::activate(app, &caller, Scope::Any, &actor, &document).await?;
            if let Some(path) = out {
                std::fs::write(&path, &answer.response)
                    .map_err(|e| Error::invalid(format!("cannot write {}: {e}", path.display())))?;
            }
            if json {
                print_json(&answer)?;
            } else {
                print!("{}", answer.response);
            }
        }
        OfflineCommand::Deactivate { proof } => {
            let document = read(&proof)?;
            print_json(&offline::deactivate(app, &caller, Scope::Any, &actor, &document).await?)?;
        }
    }
    Ok(())
}

/// A document from a file, or from standard input for `-`.
fn read(path: &Path) -> Result<String> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_TEXT_LEN as u64 + 1)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_TEXT_LEN as u64 + 1).read_to_string(&mut text))
    };
    read.map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
    Ok(text)
}
