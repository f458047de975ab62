//! cosign's encrypted private key file: a PEM whose body is JSON holding scrypt parameters,
//! a NaCl secretbox nonce and the sealed PKCS#8 DER key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Error;

const WRITE_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// `ENCRYPTED COSIGN PRIVATE KEY` (older cosign, and the only one containers/image reads) and
/// `ENCRYPTED SIGSTORE PRIVATE KEY` (current cosign).
const READ_LABELS: [&str; 2] = ["ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED SIGSTORE PRIVATE KEY"];

/// Is this PEM one of cosign's encrypted private keys (rather than plain PKCS#8)?
pub(super) fn is_encrypted(pem: &str) -> bool {
    let text = pem.trim_start();
    READ_LABELS.iter().any(|l| text.starts_with(&format!("-----BEGIN {l}-----")))
}

// cosign's parameters: N = 2^15, r = 8, p = 1, 32-byte salt and key.
const LOG_N: u8 = 15;
const R: u32 = 8;
const P: u32 = 1;
// Refuse work factors that would take minutes or gigabytes: cosign itself only writes 2^15.
const MAX_LOG_N: u8 = 20;

#[derive(Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: KdfParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[expect(non_snake_case, reason = "cosign's JSON field names")]
struct KdfParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn derive_key(passphrase: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<Zeroizing<[u8; 32]>, Error> {
    let params = scrypt::Params::new(log_n, r, p).map_err(|e| Error::InvalidPrivateKey(format!("scrypt parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase, salt, &params, key.as_mut()).map_err(|e| Error::InvalidPrivateKey(format!("scrypt: {e}")))?;
    Ok(key)
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| Error::Random(e.to_string()))?;
    Ok(buf)
}

/// Seal PKCS#8 DER bytes into cosign's encrypted PEM.
pub(super) fn encrypt(pkcs8_der: &[u8], passphrase: &[u8]) -> Result<String, Error> {
    let salt = random::<32>()?;
    let nonce = random::<24>()?;
    let key = derive_key(passphrase, &salt, LOG_N, R, P)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), pkcs8_der)
        .map_err(|_| Error::InvalidPrivateKey("secretbox seal failed".into()))?;
    let envelope = Envelope {
        kdf: Kdf {
            name: "scrypt".into(),
            params: KdfParams { N: 1 << LOG_N, r: R, p: P },
            salt: STANDARD.encode(salt),
        },
        cipher: Cipher {
            name: "nacl/secretbox".into(),
            nonce: STANDARD.encode(nonce),
        },
        ciphertext: STANDARD.encode(sealed),
    };
    let json = serde_json::to_vec(&envelope).map_err(|e| Error::InvalidPrivateKey(e.to_string()))?;
    Ok(pem_encode(WRITE_LABEL, &json))
}

/// Open cosign's encrypted PEM into PKCS#8 DER bytes.
pub(super) fn decrypt(pem: &str, passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let json = pem_decode(pem)?;
    let env: Envelope = serde_json::from_slice(&json).map_err(|e| Error::InvalidPrivateKey(format!("key JSON: {e}")))?;
    if env.kdf.name != "scrypt" || env.cipher.name != "nacl/secretbox" {
        return Err(Error::InvalidPrivateKey(format!(
            "unsupported kdf `{}` or cipher `{}`",
            env.kdf.name, env.cipher.name
        )));
    }
    let n = env.kdf.params.N;
    if !n.is_power_of_two() || n < 2 || n.trailing_zeros() > u32::from(MAX_LOG_N) {
        return Err(Error::InvalidPrivateKey(format!(
            "scrypt N={n} is not a power of two up to 2^{MAX_LOG_N}"
        )));
    }
    let log_n = u8::try_from(n.trailing_zeros()).map_err(|_| Error::InvalidPrivateKey("scrypt N".into()))?;
    let b64 = |field: &str, s: &str| STANDARD.decode(s).map_err(|e| Error::InvalidPrivateKey(format!("{field}: {e}")));
    let salt = b64("salt", &env.kdf.salt)?;
    let nonce = b64("nonce", &env.cipher.nonce)?;
    let sealed = b64("ciphertext", &env.ciphertext)?;
    if nonce.len() != 24 {
        return Err(Error::InvalidPrivateKey("nonce must be 24 bytes".into()));
    }
    let key = derive_key(passphrase, &salt, log_n, env.kdf.params.r, env.kdf.params.p)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let der = cipher
        .decrypt(Nonce::from_slice(&nonce), sealed.as_slice())
        .map_err(|_| Error::WrongPassphrase)?;
    Ok(Zeroizing::new(der))
}

fn pem_encode(label: &str, body: &[u8]) -> String {
    let b64 = STANDARD.encode(body);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_decode(pem: &str) -> Result<Vec<u8>, Error> {
    let text = pem.trim();
    let label = READ_LABELS
        .iter()
        .find(|l| text.starts_with(&format!("-----BEGIN {l}-----")))
        .ok_or_else(|| Error::InvalidPrivateKey("unknown PEM label".into()))?;
    let body = text
        .strip_prefix(&format!("-----BEGIN {label}-----"))
        .and_then(|rest| rest.strip_suffix(&format!("-----END {label}-----")))
        .ok_or_else(|| Error::InvalidPrivateKey(format!("PEM `{label}` has no matching END line")))?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(b64)
        .map_err(|e| Error::InvalidPrivateKey(format!("PEM base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let secret = b"pkcs8 bytes stand-in";
        let pem = encrypt(secret, b"pw").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"));
        assert_eq!(decrypt(&pem, b"pw").unwrap().as_slice(), secret);
        assert!(matches!(decrypt(&pem, b"nope"), Err(Error::WrongPassphrase)));
        let sigstore = pem.replace("COSIGN", "SIGSTORE");
        assert_eq!(decrypt(&sigstore, b"pw").unwrap().as_slice(), secret);
    }
}
