//! `sealift keys generate`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use sealift::sign::{Algorithm, SigningKey};

use super::{Outcome, secrets};

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Generate a key pair in cosign's formats: NAME.key (encrypted, 0600) and NAME.pub.
    Generate {
        /// Directory for the key files.
        #[arg(long, default_value = "keys")]
        dir: PathBuf,
        /// Base name of the key files.
        #[arg(long, default_value = "sealift")]
        name: String,
        /// Key type. P-256 signs bundles and images; Ed25519 only co-signs bundles (cosign
        /// verifiers disagree on Ed25519 image signatures).
        #[arg(long = "type", value_enum, default_value_t = KeyType::P256)]
        key_type: KeyType,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum KeyType {
    /// ECDSA P-256 (cosign's default).
    P256,
    /// Ed25519.
    Ed25519,
}

pub(crate) fn run(cmd: KeysCommand) -> anyhow::Result<Outcome> {
    let KeysCommand::Generate { dir, name, key_type } = cmd;
    let key_path = dir.join(format!("{name}.key"));
    let pub_path = dir.join(format!("{name}.pub"));
    for p in [&key_path, &pub_path] {
        anyhow::ensure!(!p.exists(), "{} already exists; refusing to overwrite a key", p.display());
    }
    let passphrase = secrets::passphrase(true)?;
    let key = SigningKey::generate(match key_type {
        KeyType::P256 => Algorithm::EcdsaP256,
        KeyType::Ed25519 => Algorithm::Ed25519,
    })?;
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
    println!("key id:      {} ({})", public.id(), public.algorithm());
    Ok(Outcome::Success)
}
