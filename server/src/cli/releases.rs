//! `licet-server release …`: the vendor's release chores from a build machine or CI,
//! straight against the database (like `file add`).

use std::path::{Path, PathBuf};

use licet_proto::ErrorCode;
use licet_proto::admin::Page;
use licet_proto::releases::{
    CreateRelease, MAX_UPDATER_SIGNATURE_LEN, PublishRelease, Release, ReleaseState, valid_platform,
};

use super::{ReleaseCommand, print_json};
use crate::app::App;
use crate::auth::Admin;
use crate::platform::error::{Error, Result};
use crate::releases::{self, MAX_NOTES_BYTES, NewArtifact};

/// Runs a `release` command.
pub(super) async fn run(app: &App, operator: &Admin, action: ReleaseCommand) -> Result<()> {
    match action {
        ReleaseCommand::Publish {
            product,
            version,
            channel,
            platform,
            signature,
            notes_file,
            entitlement,
            name,
            draft,
            path,
        } => {
            let wanted = Wanted {
                product: &product,
                version: &version,
                channel,
                entitlement,
                notes_file,
            };
            let file = FileToAttach {
                platform: &platform,
                path: &path,
                name,
                signature,
            };
            let release = publish(app, operator, wanted, file, draft).await?;
            eprintln!(
                "{} {} is {}, with files for {}",
                release.product,
                release.version,
                release.state.as_str(),
                platforms(&release)
            );
            print_json(&release)
        }
        ReleaseCommand::Yank { product, version } => {
            let found = releases::find(app, &product, &version).await?;
            let release = releases::yank(app, operator, &found.id).await?;
            eprintln!("{} {} is yanked", release.product, release.version);
            print_json(&release)
        }
        ReleaseCommand::List { product } => print_json(&Page {
            items: releases::list(app, &product).await?,
        }),
    }
}

/// The version a `release publish` is for, with what a new one is created with.
struct Wanted<'a> {
    product: &'a str,
    version: &'a str,
    channel: Option<String>,
    entitlement: Option<String>,
    notes_file: Option<PathBuf>,
}

/// The file a `release publish` attaches.
struct FileToAttach<'a> {
    platform: &'a str,
    path: &'a Path,
    name: Option<String>,
    signature: Option<PathBuf>,
}

/// Finds or creates the version, attaches the file, publishes unless `draft` or already
/// published. The platform is checked and every file opened and read before anything is
/// written, so a typo leaves no draft behind.
async fn publish(
    app: &App,
    operator: &Admin,
    wanted: Wanted<'_>,
    file: FileToAttach<'_>,
    draft: bool,
) -> Result<Release> {
    if !valid_platform(file.platform) {
        return Err(Error::invalid(
            "platform must be os-arch, e.g. linux-x86_64, darwin-aarch64, windows-x86_64",
        ));
    }
    let name = match file.name {
        Some(n) => n,
        None => file
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::invalid("the path has no file name"))?,
    };
    let body = tokio::fs::File::open(file.path)
        .await
        .map_err(|e| unreadable(file.path, &e))?;
    let signature = match &file.signature {
        Some(p) => Some(read_small(p, MAX_UPDATER_SIGNATURE_LEN, "the signature file").await?),
        None => None,
    };
    let notes = match &wanted.notes_file {
        Some(p) => Some(read_small(p, MAX_NOTES_BYTES, "the notes file").await?),
        None => None,
    };
    let release = match releases::find(app, wanted.product, wanted.version).await {
        Ok(existing) => {
            check_same(&existing, &wanted, notes.as_deref())?;
            existing
        }
        // No such version (or no such product, which `create` reports).
        Err(e) if e.code() == ErrorCode::NotFound => {
            let req = CreateRelease {
                version: wanted.version.to_owned(),
                channel: wanted.channel.clone(),
                notes: notes.unwrap_or_default(),
                entitlement: wanted.entitlement.clone(),
            };
            releases::create(app, operator, wanted.product, req).await?
        }
        Err(e) => return Err(e),
    };
    let new = NewArtifact {
        platform: file.platform,
        name: &name,
        content_type: None,
        signature: signature.as_deref(),
    };
    let stream = tokio_util::io::ReaderStream::with_capacity(body, 256 * 1024);
    let release = releases::attach(app, operator, &release.id, new, stream).await?;
    if draft || release.state != ReleaseState::Draft {
        return Ok(release);
    }
    releases::publish(app, operator, &release.id, PublishRelease::default()).await
}

/// A version that exists is only added to: a channel or entitlement that differs from its
/// own is a mistake worth stopping for (the file would reach other customers than meant);
/// different notes are kept as they were, with a warning.
fn check_same(existing: &Release, wanted: &Wanted<'_>, notes: Option<&str>) -> Result<()> {
    let conflict = |what: &str, has: &str, asked: &str| {
        Error::new(
            ErrorCode::Conflict,
            format!(
                "{} {} exists with {what} {has}, not {asked}; a version's {what} is set when \
                 it is created",
                existing.product, existing.version
            ),
        )
    };
    if let Some(channel) = wanted.channel.as_deref().map(str::trim)
        && channel != existing.channel
    {
        return Err(conflict("channel", &existing.channel, channel));
    }
    if let Some(entitlement) = wanted.entitlement.as_deref().map(str::trim)
        && Some(entitlement).filter(|e| !e.is_empty()) != existing.entitlement.as_deref()
    {
        let has = existing.entitlement.as_deref().unwrap_or("(none)");
        return Err(conflict("entitlement", has, entitlement));
    }
    if notes.is_some_and(|n| n != existing.notes) {
        eprintln!(
            "warning: {} {} exists; its notes are kept (notes are set when a version is \
             created)",
            existing.product, existing.version
        );
    }
    Ok(())
}

/// A small text file, refused above `max` bytes before it is read.
async fn read_small(path: &Path, max: usize, what: &str) -> Result<String> {
    let len = tokio::fs::metadata(path)
        .await
        .map_err(|e| unreadable(path, &e))?
        .len();
    if len > u64::try_from(max).unwrap_or(u64::MAX) {
        return Err(Error::invalid(format!(
            "{what} {} is larger than {max} bytes",
            path.display()
        )));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| unreadable(path, &e))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::invalid(format!("{what} {} is not UTF-8 text", path.display())))
}

fn unreadable(path: &Path, e: &std::io::Error) -> Error {
    Error::invalid(format!("cannot read {}: {e}", path.display()))
}

fn platforms(release: &Release) -> String {
    let names: Vec<&str> = release
        .artifacts
        .iter()
        .map(|a| a.platform.as_str())
        .collect();
    names.join(", ")
}
