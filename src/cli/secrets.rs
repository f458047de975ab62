//! Passphrases and registry passwords: from the environment, standard input or a prompt.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, bail};
use sealift::registry::{Credentials, default_auth_files};
use zeroize::Zeroizing;

use super::RegistryArgs;

/// The key passphrase: `SEALIFT_PASSWORD`, else a prompt on the terminal.
pub(crate) fn passphrase(confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var("SEALIFT_PASSWORD") {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase: set SEALIFT_PASSWORD or run on a terminal to be prompted");
    }
    let first = Zeroizing::new(rpassword::prompt_password("key passphrase: ")?);
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("again: ")?);
        if *again != *first {
            bail!("the passphrases do not match");
        }
    }
    Ok(first)
}

/// Registry credentials from flags, then the environment, then auth files.
pub(crate) fn credentials(args: &RegistryArgs) -> anyhow::Result<Credentials> {
    let env_user = std::env::var("SEALIFT_REGISTRY_USERNAME").ok().filter(|u| !u.is_empty());
    let user = args.username.clone().or(env_user);
    let explicit = match (user, args.password_stdin) {
        (Some(u), true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            Some((u, line.trim_end_matches(['\r', '\n']).to_owned()))
        }
        (Some(u), false) => {
            let p = std::env::var("SEALIFT_REGISTRY_PASSWORD")
                .context("a username was given but no password: use --password-stdin or SEALIFT_REGISTRY_PASSWORD")?;
            Some((u, p))
        }
        (None, true) => bail!("--password-stdin needs --username (or SEALIFT_REGISTRY_USERNAME)"),
        (None, false) => None,
    };
    Ok(Credentials {
        explicit,
        auth_files: default_auth_files(),
    })
}

/// Registry options for the library.
pub(crate) fn registry_options(args: &RegistryArgs) -> anyhow::Result<sealift::registry::RegistryOptions> {
    let mut ca_files = args.ca_files.clone();
    if let Some(f) = std::env::var_os("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
        ca_files.push(f.into());
    }
    Ok(sealift::registry::RegistryOptions {
        ca_files,
        credentials: credentials(args)?,
        jobs: args.jobs,
        upload_chunk: args.upload_chunk.saturating_mul(1024 * 1024),
        retry: sealift::registry::RetryPolicy {
            attempts: args.retries.saturating_add(1),
            total: std::time::Duration::from_secs(args.retry_max_time),
            ..sealift::registry::RetryPolicy::default()
        },
    })
}
