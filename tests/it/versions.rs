//! Version ordering: sealift against the golden files in tests/golden/versions, and the golden
//! files against the package managers' own code, so neither is written from sealift's output.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use sealift::scan::version::Scheme;

enum Line {
    Relation(String, Ordering, String),
    Invalid(String),
}

fn golden(scheme: Scheme) -> Vec<Line> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/versions/{}.txt", scheme.name()));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = Vec::new();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(v) = line.strip_prefix("invalid") {
            lines.push(Line::Invalid(v.trim().to_owned()));
            continue;
        }
        let parts: Vec<&str> = line.split(' ').filter(|p| !p.is_empty()).collect();
        let [a, op, b] = parts[..] else {
            panic!("{}: bad line `{raw}`", path.display())
        };
        let order = match op {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            _ => panic!("{}: bad operator in `{raw}`", path.display()),
        };
        lines.push(Line::Relation(a.to_owned(), order, b.to_owned()));
    }
    assert!(lines.len() >= 10, "{} has only {} lines", path.display(), lines.len());
    lines
}

const SCHEMES: [Scheme; 5] = [Scheme::Dpkg, Scheme::Apk, Scheme::Rpm, Scheme::Semver, Scheme::Pep440];

#[test]
fn versions_are_ordered_as_the_golden_files_say() {
    let mut wrong = Vec::new();
    for scheme in SCHEMES {
        for line in golden(scheme) {
            match line {
                Line::Relation(a, order, b) => {
                    let got = (scheme.compare(&a, &b), scheme.compare(&b, &a));
                    if got != (Ok(order), Ok(order.reverse())) {
                        wrong.push(format!("{scheme}: {a} {order:?} {b}, got {got:?}"));
                    }
                }
                Line::Invalid(v) => {
                    if scheme.validate(&v).is_ok() {
                        wrong.push(format!("{scheme}: `{v}` accepted"));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} wrong:\n{}", wrong.len(), wrong.join("\n"));
}

/// Run `program` with `script` on stdin and return its stdout lines.
fn run(program: &str, args: &[&str], script: &str) -> Vec<String> {
    use std::io::Write as _;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} ({e}): run scripts/install-deps.sh"));
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// What the package manager says for each relation line, as -1, 0 or 1, and for each invalid
/// line, "invalid" or "valid".
fn oracle(scheme: Scheme, lines: &[Line]) -> Vec<String> {
    let python = |body: &str| {
        // `'\\t'` reaches Python as its tab escape.
        let script = format!(
            "import sys\n{body}\nfor line in sys.stdin.read().splitlines():\n    kind, a, b = line.split('\\t')\n    if kind == 'rel':\n        print(cmp(a, b))\n    else:\n        try:\n            parse(a)\n            print('valid')\n        except Exception:\n            print('invalid')\n"
        );
        let stdin: String = lines
            .iter()
            .map(|l| match l {
                Line::Relation(a, _, b) => format!("rel\t{a}\t{b}\n"),
                Line::Invalid(v) => format!("inv\t{v}\t\n"),
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("oracle.py");
        std::fs::write(&file, script).unwrap();
        run("/usr/bin/python3", &[file.to_str().unwrap()], &stdin)
    };
    match scheme {
        Scheme::Dpkg => lines
            .iter()
            .map(|l| {
                let ok = |args: &[&str]| Command::new("dpkg").args(args).stderr(Stdio::null()).status().unwrap().success();
                match l {
                    Line::Relation(a, _, b) => {
                        if ok(&["--compare-versions", a, "lt", b]) {
                            "-1"
                        } else if ok(&["--compare-versions", a, "eq", b]) {
                            "0"
                        } else {
                            "1"
                        }
                    }
                    Line::Invalid(v) => {
                        if ok(&["--validate-version", v]) {
                            "valid"
                        } else {
                            "invalid"
                        }
                    }
                }
                .to_owned()
            })
            .collect(),
        Scheme::Rpm => {
            let calls: String = lines
                .iter()
                .map(|l| match l {
                    Line::Relation(a, _, b) => format!("print(rpm.vercmp('{a}', '{b}') .. ' ')\n"),
                    Line::Invalid(_) => "print('unchecked ')\n".into(),
                })
                .collect();
            // rpm's Lua `print` adds no newline inside a macro.
            run("rpm", &["--eval", &format!("%{{lua:\n{calls}}}")], "")
                .concat()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        }
        Scheme::Pep440 => python(
            "from packaging.version import Version as parse\ndef cmp(a, b):\n    x, y = parse(a), parse(b)\n    return (x > y) - (x < y)",
        ),
        Scheme::Semver => python(
            "import semver\ndef parse(v):\n    return semver.VersionInfo.parse(v[1:] if v.startswith('v') else v)\ndef cmp(a, b):\n    return parse(a).compare(parse(b))",
        ),
        Scheme::Apk => unreachable!("Debian has no apk"),
    }
}

#[test]
fn golden_files_agree_with_the_package_managers() {
    let mut wrong = Vec::new();
    for scheme in [Scheme::Dpkg, Scheme::Rpm, Scheme::Semver, Scheme::Pep440] {
        let lines = golden(scheme);
        let said = oracle(scheme, &lines);
        assert_eq!(said.len(), lines.len(), "{scheme}: {said:?}");
        for (line, said) in lines.iter().zip(&said) {
            let (what, expected) = match line {
                Line::Relation(a, order, b) => (format!("{a} {order:?} {b}"), (*order as i8).to_string()),
                Line::Invalid(v) if scheme == Scheme::Rpm => (format!("invalid `{v}`"), "unchecked".into()),
                Line::Invalid(v) => (format!("invalid `{v}`"), "invalid".into()),
            };
            if *said != expected {
                wrong.push(format!("{scheme}: {what}: the package manager says {said}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{} disagreements:\n{}", wrong.len(), wrong.join("\n"));
}
