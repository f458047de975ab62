use std::os::unix::fs::PermissionsExt as _;

use sealift::sign::{PublicKey, SigningKey};

use crate::support::*;

#[test]
fn generated_keys_are_private_cosign_files_that_open_with_the_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let o = sealift(dir.path(), &["keys", "generate", "--dir", "k", "--name", "rel"]);
    assert!(o.status.success(), "{}", text(&o));
    let key_path = dir.path().join("k/rel.key");
    assert_eq!(std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777, 0o600);
    let pem = std::fs::read_to_string(&key_path).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----"));
    assert!(SigningKey::from_pem(&pem, b"wrong").is_err());
    let key = SigningKey::from_pem(&pem, KEY_PASSWORD.as_bytes()).unwrap();
    let public = PublicKey::from_pem(&std::fs::read_to_string(dir.path().join("k/rel.pub")).unwrap()).unwrap();
    public.verify(b"m", &key.sign(b"m")).unwrap();
    assert!(text(&o).contains(public.id().as_str()));

    let again = sealift(dir.path(), &["keys", "generate", "--dir", "k", "--name", "rel"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("refusing to overwrite"), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), pem);
}
