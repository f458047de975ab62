//! Go binaries: the build information the Go linker embeds (Go 1.18 and later) in the
//! `.go.buildinfo` section, found by its magic while the file streams past, never by
//! holding the binary in memory.
//!
//! Layout: a 32-byte header (`\xff Go buildinf:`, pointer size, flags; bit 2 of the flags says
//! the strings follow inline), then the Go version and the module information, each as a
//! varint length and bytes. The module information is framed by 16-byte sentinels and has one
//! line per module: `mod` (the main module), `dep` (a dependency) and `=>` (the dependency
//! above it is replaced by this one).

use std::io::{self, Read};

use memchr::memmem;

use crate::scan::package::{Found, Kind};

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER: usize = 32;
const FLAGS_INLINE: u8 = 2;
/// Largest module information read; real binaries with hundreds of modules hold tens of KiB.
const MAX_INFO: usize = 4 << 20;
const ELF: &[u8] = b"\x7fELF";

/// The build information of a Go binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// `go1.23.4`
    pub go_version: String,
    /// The main module, stdlib and every dependency, as packages.
    pub packages: Vec<Found>,
}

enum Parse {
    NeedMore,
    Invalid,
    Found(BuildInfo),
}

/// Read an executable to its end; its build information if it is a Go ELF binary.
pub fn read(mut r: impl Read) -> io::Result<Option<BuildInfo>> {
    let mut chunk = vec![0u8; 256 << 10];
    let mut window: Vec<u8> = Vec::new();
    let mut window_start: u64 = 0;
    let mut checked_elf = false;
    let finder = memmem::Finder::new(MAGIC);
    let mut from = 0usize;
    loop {
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        window.extend_from_slice(&chunk[..n]);
        if !checked_elf {
            if window.len() < ELF.len() {
                continue;
            }
            if !window.starts_with(ELF) {
                io::copy(&mut r, &mut io::sink())?;
                return Ok(None);
            }
            checked_elf = true;
        }
        let mut pending = None;
        while let Some(i) = finder.find(&window[from..]).map(|i| i + from) {
            if !(window_start + i as u64).is_multiple_of(16) {
                from = i + 1;
                continue;
            }
            match parse(&window[i..]) {
                Parse::Found(info) => {
                    io::copy(&mut r, &mut io::sink())?;
                    return Ok(Some(info));
                }
                Parse::NeedMore if window.len() - i < MAX_INFO => {
                    pending = Some(i);
                    break;
                }
                Parse::NeedMore | Parse::Invalid => from = i + 1,
            }
        }
        // Keep what a candidate still needs, or a tail that a magic could start in.
        let keep_from = pending.unwrap_or_else(|| from.max(window.len().saturating_sub(MAGIC.len() - 1)));
        window.drain(..keep_from);
        window_start += keep_from as u64;
        from = if pending.is_some() { 0 } else { from - keep_from.min(from) };
    }
}

fn parse(data: &[u8]) -> Parse {
    if data.len() < HEADER {
        return Parse::NeedMore;
    }
    let pointer_size = data[14];
    let flags = data[15];
    if !matches!(pointer_size, 4 | 8) || flags & FLAGS_INLINE == 0 {
        return Parse::Invalid; // not a header, or a pre-1.18 binary that points into its data
    }
    let rest = &data[HEADER..];
    let Some((version, rest)) = varint_string(rest) else {
        return Parse::NeedMore;
    };
    let Some((modinfo, _)) = varint_string(rest) else {
        return Parse::NeedMore;
    };
    // The module information is framed by 16 binary sentinel bytes on each side.
    let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        modinfo
    };
    let (Ok(version), Ok(modinfo)) = (std::str::from_utf8(version), std::str::from_utf8(modinfo)) else {
        return Parse::Invalid;
    };
    if !version.starts_with("go") && !version.starts_with("devel") {
        return Parse::Invalid;
    }
    Parse::Found(BuildInfo {
        go_version: version.to_owned(),
        packages: modules(version, modinfo),
    })
}

/// A uvarint length and that many bytes; None if `data` ends first.
fn varint_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut len: u64 = 0;
    for (i, &b) in data.iter().enumerate().take(10) {
        len |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let start = i + 1;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            return (end <= data.len()).then(|| (&data[start..end], &data[end..]));
        }
    }
    None
}

fn modules(go_version: &str, text: &str) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    if let Some(v) = stdlib_version(go_version) {
        out.push(Found::new(Kind::Golang, "stdlib", v));
    }
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod", path, version, ..] if *version != "(devel)" && !version.is_empty() => {
                out.push(Found::new(Kind::Golang, *path, *version));
            }
            ["dep", path, version, ..] => out.push(Found::new(Kind::Golang, *path, *version)),
            ["=>", path, version, ..] => {
                // The module above is replaced; by a local directory (no version) it is not a
                // module from anywhere a vulnerability database knows.
                out.pop();
                if !version.is_empty() {
                    out.push(Found::new(Kind::Golang, *path, *version));
                }
            }
            _ => {}
        }
    }
    out
}

/// `go1.23.4` → `1.23.4`, `go1.20` → `1.20.0`, `go1.21rc2` → `1.21.0-rc.2`: the versions the Go
/// vulnerability database uses for the standard library.
fn stdlib_version(go: &str) -> Option<String> {
    let v = go.split_whitespace().next()?.strip_prefix("go")?;
    let (release, pre) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&v[..i], Some(&v[i..])),
        None => (v, None),
    };
    let mut parts: Vec<&str> = release.split('.').collect();
    if parts.is_empty() || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    while parts.len() < 3 {
        parts.push("0");
    }
    let mut out = parts.join(".");
    if let Some(pre) = pre {
        let split = pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len());
        out.push_str(&format!("-{}.{}", &pre[..split], &pre[split..]));
        out = out.trim_end_matches('.').to_owned();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(offset: usize, version: &str, modinfo: &[u8]) -> Vec<u8> {
        let mut out = b"\x7fELF".to_vec();
        out.resize(offset, 0);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[8, FLAGS_INLINE]);
        out.resize(offset + HEADER, 0);
        for s in [version.as_bytes(), modinfo] {
            let mut len = s.len();
            while len >= 0x80 {
                out.push((len as u8) | 0x80);
                len >>= 7;
            }
            out.push(len as u8);
            out.extend_from_slice(s);
        }
        out.extend_from_slice(&[0; 1000]);
        out
    }

    #[test]
    fn finds_modules_and_applies_replacements() {
        // The sentinels real binaries carry around the text (not valid UTF-8).
        let mut info = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6".to_vec();
        info.extend_from_slice(
            b"path\texample.com/app\nmod\texample.com/app\t(devel)\t\ndep\tgolang.org/x/net\tv0.1.0\th1:x\n\
              dep\tgithub.com/a/b\tv1.0.0\th1:y\n=>\tgithub.com/fork/b\tv1.0.1\th1:z\ndep\tlocal.dev/c\tv0.0.0\n=>\t../c\t\t\n",
        );
        info.extend_from_slice(b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2");
        // Put the header across the boundary of the 256 KiB read buffer.
        let data = binary((256 << 10) - 16, "go1.23.4", &info);
        let found = read(&data[..]).unwrap().unwrap();
        assert_eq!(found.go_version, "go1.23.4");
        let names: Vec<String> = found.packages.iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
        assert_eq!(names, ["stdlib@1.23.4", "golang.org/x/net@v0.1.0", "github.com/fork/b@v1.0.1"]);
    }

    #[test]
    fn ignores_unaligned_magic_non_elf_files_and_old_layouts() {
        assert_eq!(read(&binary(4099, "go1.22", b"")[..]).unwrap(), None);
        let mut script = binary(4096, "go1.22", b"");
        script[0] = b'#';
        assert_eq!(read(&script[..]).unwrap(), None);
        let mut old = binary(4096, "go1.16", b"");
        old[4096 + 15] = 0;
        assert_eq!(read(&old[..]).unwrap(), None);
    }

    #[test]
    fn stdlib_versions_are_semver() {
        assert_eq!(stdlib_version("go1.20").as_deref(), Some("1.20.0"));
        assert_eq!(stdlib_version("go1.21rc2").as_deref(), Some("1.21.0-rc.2"));
        assert_eq!(stdlib_version("go1.22.1 X:boringcrypto").as_deref(), Some("1.22.1"));
        assert_eq!(stdlib_version("devel +abc"), None);
    }
}
