//! `sealift keys generate`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use sealift::sign::SigningKey;

use super::{Outcome, secrets};

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate a P-256 key pair in cosign's formats: NAME.key (encrypted, 0600) and NAME.pub.
    Generate {
        /// Directory for the key files.
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
        /// Base name of the key files.
        #[arg(long, default_value = "sealift")]
        name: String,
    },
}

pub(crate) fn run(cmd: KeysCommand) -> anyhow::Result<Outcome> {
    let KeysCommand::Generate { dir, name } = cmd;
    let key_path = dir.join(format!("{name}.key"));
    let pub_path = dir.join(format!("{name}.pub"));
    for p in [&key_path, &pub_path] {
        anyhow::ensure!(!p.exists(), "{} already exists; refusing to overwrite a key", p.display());
    }
    let passphrase = secrets::passphrase(true)?;
    let key = SigningKey::generate()?;
    let private_pem = key.to_encrypted_pem(passphrase.as_bytes())?;
    let public = key.public_key()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .with_context(|| format!("creating {}", key_path.display()))?;
    f.write_all(private_pem.as_bytes())?;
    f.sync_all()?;
    std::fs::write(&pub_path, public.to_pem()?).with_context(|| format!("writing {}", pub_path.display()))?;
    println!("private key: {} (encrypted, mode 0600)", key_path.display());
    println!("public key:  {}", pub_path.display());
    println!("key id:      {}", public.id());
    Ok(Outcome::Success)
}
