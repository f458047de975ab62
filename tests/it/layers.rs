//! Layer decoding against GNU tar: a tar stream split into several gzip members, several zstd
//! frames with a skippable frame between them, or left plain, must list the same entries
//! through sealift's decoder as through `tar -t`, and a package database in the last member or
//! frame must be found.

use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use sealift::scan::inventory::Collector;
use sealift::scan::inventory::layer::decompress;

/// A tar made by GNU tar from a small tree whose Alpine package database is the last entry.
fn plain_tar(dir: &Path) -> Vec<u8> {
    let root = dir.join("root");
    for (path, body) in [
        ("etc/os-release", "ID=alpine\nVERSION_ID=3.14.0\n".to_owned()),
        ("usr/bin/tool", "x".repeat(70_000)),
        ("usr/share/doc/readme.txt", "hello\n".repeat(3000)),
        ("lib/apk/db/installed", "P:musl\nV:1.2.2-r3\nA:x86_64\no:musl\n\n".to_owned()),
    ] {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let out = dir.join("plain.tar");
    let st = Command::new("tar")
        .args(["--format=ustar", "--sort=name", "--owner=0", "--group=0", "--mtime=@0", "-cf"])
        .arg(&out)
        .arg("-C")
        .arg(&root)
        .args(["etc", "usr", "lib"])
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(out).unwrap()
}

/// Where the last entry's header starts: the split point whose first half is a tar of its own.
fn last_header(tar_bytes: &[u8]) -> usize {
    let mut a = tar::Archive::new(tar_bytes);
    let last = a.entries().unwrap().map(|e| e.unwrap().raw_header_position()).max().unwrap();
    usize::try_from(last).unwrap()
}

fn compress(tool: &str, bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(["-c", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input).unwrap());
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    out
}

/// GNU tar's listing of a layer file (`-z`, `--zstd` or plain).
fn gnu_list(path: &Path, flag: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new("tar");
    if let Some(f) = flag {
        cmd.arg(f);
    }
    let out = cmd.arg("-tf").arg(path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect()
}

const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// sealift's listing: the decoder, then the tar crate.
fn sealift_list(bytes: &[u8], media_type: &str) -> Vec<String> {
    let mut a = tar::Archive::new(decompress(bytes, media_type).unwrap());
    a.entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).trim_end_matches('/').to_owned())
        .collect()
}

fn packages(bytes: &[u8], media_type: &str) -> usize {
    let mut c = Collector::new();
    c.add_layer("sha256:layer", media_type, || Ok(bytes)).unwrap();
    c.finish().packages.len()
}

#[test]
fn multi_member_gzip_multi_frame_zstd_and_plain_tar_list_like_gnu_tar() {
    let dir = tempfile::tempdir().unwrap();
    let tar_bytes = plain_tar(dir.path());
    let split = last_header(&tar_bytes);
    let (first, second) = tar_bytes.split_at(split);
    assert!(first.len() > 70_000 && !second.is_empty());

    let mut gz = compress("gzip", first);
    gz.extend(compress("gzip", second));
    let mut zst = compress("zstd", first);
    // A skippable frame (magic 0x184D2A53, 6 bytes of payload) between the two frames.
    zst.extend([0x53, 0x2a, 0x4d, 0x18, 6, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
    zst.extend(compress("zstd", second));

    for (name, bytes, flag, media_type) in [
        ("layer.tar", &tar_bytes, None, TAR),
        ("layer.tar.gz", &gz, Some("-z"), GZ),
        ("layer.tar.zst", &zst, Some("--zstd"), ZSTD),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let gnu = gnu_list(&path, flag);
        assert!(gnu.iter().any(|p| p == "lib/apk/db/installed"), "{name}: {gnu:?}");
        assert_eq!(sealift_list(bytes, media_type), gnu, "{name}");
        assert_eq!(
            packages(bytes, media_type),
            1,
            "{name}: the package in the last member/frame is found"
        );
    }
    // The first member or frame alone would have listed everything but the database: the
    // decoder must not stop there.
    assert_eq!(packages(&compress("zstd", first), ZSTD), 0);
    // Only skippable frames: no content at all is an error, not an empty layer.
    let skippable_only = [0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 1, 2];
    assert!(
        Collector::new()
            .add_layer("sha256:empty", ZSTD, || Ok(&skippable_only[..]))
            .is_err()
    );

    // Bytes after the last frame that are not a frame are an error, not ignored.
    let mut trailing = zst.clone();
    trailing.extend(b"not a frame");
    let err = Collector::new()
        .add_layer("sha256:trailing", ZSTD, || Ok(&trailing[..]))
        .unwrap_err();
    assert!(err.to_string().contains("zstd"), "{err}");
    // A corrupted second frame is an error too.
    let mut broken = zst.clone();
    let n = broken.len();
    broken[n - 6] ^= 0xff;
    assert!(Collector::new().add_layer("sha256:broken", ZSTD, || Ok(&broken[..])).is_err());
}
