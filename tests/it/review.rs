//! The review page (`--format html` of `bundle inspect`, `verify` and `check`), opened in
//! Debian's headless Chromium: its screenshot is taken and the text it shows is read from the
//! DOM after its script ran. A bundle full of markup and control characters runs nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::*;

const MINIMIST: &str = "GHSA-xvch-5gv4-984h";
const LODASH: &str = "GHSA-35jh-r3h4-6jhm";

/// minimist 1.2.0 (one critical advisory) and lodash 4.17.15 (two high ones) in a lockfile.
const LOCKFILE: &str = r#"{"name":"shop","lockfileVersion":3,"packages":{"":{"name":"shop"},"node_modules/minimist":{"version":"1.2.0"},"node_modules/lodash":{"version":"4.17.15"}}}"#;

/// Chromium with every background feature off and a profile of its own, on a local file.
fn chromium(profile: &Path, extra: &[&str], page: &Path) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--metrics-recording-only",
            "--disable-features=Translate,OptimizationHints,MediaRouter",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (scripts/install-deps.sh installs Debian's)")
}

/// The page's DOM after its script ran, as Chromium serialises it.
fn dom(page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = chromium(profile.path(), &["--dump-dom", "--virtual-time-budget=2000"], page);
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The text a reader sees on `page` once Chromium ran it.
pub fn shown(page: &Path) -> String {
    visible_text(&dom(page))
}

/// The banner's words, from the DOM.
pub fn headline(page: &Path) -> String {
    let dom = dom(page);
    let open = "<h1 class=\"headline\" role=\"status\">";
    let start = dom.find(open).expect("a banner") + open.len();
    let end = start + dom[start..].find("</h1>").unwrap();
    visible_text(&format!("<body>{}", &dom[start..end]))
}

/// The text between `<tag>` and `</tag>` in `html`.
fn inline(html: &str, tag: &str) -> String {
    let start = html.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
    let end = start + html[start..].find(&format!("</{tag}>")).unwrap();
    html[start..end].to_owned()
}

/// A PNG of the page's first screen.
fn screenshot(page: &Path, png: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let shot = format!("--screenshot={}", png.display());
    let out = chromium(profile.path(), &["--window-size=1280,1600", &shot, "--hide-scrollbars"], page);
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000, "{} bytes", bytes.len());
}

/// The text a reader sees in a serialised DOM: the body only, tags, styles and scripts
/// dropped, entities decoded, whitespace collapsed.
fn visible_text(dom: &str) -> String {
    let mut out = String::new();
    let mut rest = &dom[dom.find("<body").expect("a body")..];
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        for hidden in ["<style", "<script"] {
            if rest.starts_with(hidden) {
                let close = format!("</{}>", &hidden[1..]);
                rest = rest.find(&close).map_or("", |at| &rest[at..]);
            }
        }
        rest = rest.find('>').map_or("", |gt| &rest[gt + 1..]);
        out.push(' ');
    }
    out.push_str(rest);
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A release with the lockfile image, one Deployment and a policy that allows minimist until
/// 2099 and lodash's two advisories until 2030-06-30, made into `shop.tar`. `deployment`
/// names the Deployment; `extra_allow` adds allowances (YAML list items).
fn release(deployment: &str, records: &[&Path], extra_allow: &str) -> Release {
    let release = Release::with_yaml("");
    let root = release.path("image");
    std::fs::create_dir_all(root.join("srv/shop")).unwrap();
    std::fs::write(root.join("srv/shop/package-lock.json"), LOCKFILE).unwrap();
    crate::scan::make_image(&release.path("layout"), "shop", &[&root]);
    let mut args = vec!["db", "build", "--from"];
    let npm = shared("vulndata/osv/npm");
    args.push(npm.to_str().unwrap());
    let records: Vec<String> = records.iter().map(|r| r.display().to_string()).collect();
    for r in &records {
        args.extend(["--from", r]);
    }
    args.extend(["-o", "vulndb"]);
    let o = sealift(release.dir.path(), &args);
    assert!(o.status.success(), "{}", text(&o));
    release.write(
        "sealift.yaml",
        &format!(
            "name: shop\nimages:\n  - ref: oci:{}:shop\n    name: shop/app:1\nmanifests: [deploy/]\nscan:\n  vuln-db: vulndb\n  fail-on: high\n  allow:\n    - {{id: {MINIMIST}, reason: minimist only parses our own argv, expires: 2099-12-31}}\n    - {{id: {LODASH}, reason: upgrade planned for the next release, expires: 2030-06-30}}\n    - {{id: GHSA-p6mc-m468-83gw, reason: upgrade planned for the next release, expires: 2030-06-30}}\n{extra_allow}",
            release.path("layout").display()
        ),
    );
    release.write(
        "deploy/app.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {deployment}, namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: main\n        image: shop/app:1\n        livenessProbe: {{tcpSocket: {{port: 8080}}}}\n        readinessProbe: {{tcpSocket: {{port: 8080}}}}\n"
        ),
    );
    let o = sealift(
        release.dir.path(),
        &[
            "bundle",
            "create",
            "-f",
            "sealift.yaml",
            "-o",
            "shop.tar",
            "--key",
            "keys/sealift.key",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    release
}

/// The scanned and hardened release the page tests share.
fn shop() -> &'static Release {
    static SHOP: OnceLock<Release> = OnceLock::new();
    SHOP.get_or_init(|| release("web", &[], ""))
}

fn page(release: &Release, args: &[&str], file: &str) -> (Option<i32>, PathBuf) {
    let mut all = args.to_vec();
    all.extend(["--format", "html", "-o", file]);
    let o = sealift(release.dir.path(), &all);
    let path = release.path(file);
    assert!(path.exists(), "{}", text(&o));
    (o.status.code(), path)
}

#[test]
fn the_review_page_shows_each_section_in_chromium() {
    let r = shop();
    let index = r.bundle_json("shop.tar");
    let digest = index.images[0].digest.to_string();

    // verify, today: VERIFIED, minimist allowed, lodash allowed until 2030-06-30.
    let (code, verified) = page(r, &["verify", "shop.tar", "--key", "keys/sealift.pub"], "verified.html");
    assert_eq!(code, Some(0));
    let png = r.path("verified.png");
    screenshot(&verified, &png);
    if let Ok(dir) = std::env::var("SEALIFT_REVIEW_SCREENSHOT") {
        std::fs::copy(&png, Path::new(&dir).join("review.png")).unwrap();
    }
    assert_eq!(headline(&verified), "VERIFIED");
    let verified_dom = dom(&verified);
    // The page's own script ran under its Content-Security-Policy (allowed by its hash): it
    // shows the filter boxes it hides without JavaScript.
    assert!(verified_dom.contains("<p class=\"filter\"><label>"), "the script did not run");
    assert!(verified_dom.contains("default-src 'none'"), "no Content-Security-Policy");
    let shown = visible_text(&verified_dom);
    for expected in [
        "VERIFIED",
        "1 of 1 required valid signature(s): met",
        digest.as_str(),
        "shop/app@",
        "release key",
        &format!("{MINIMIST} minimist 1.2.0"),
        "until 2099-12-31: minimist only parses our own argv",
        // Below fail-on, named all the same.
        "Other findings (1)",
        "GHSA-vh95-rmgr-6w4m minimist 1.2.0 1.2.3",
        "Signed by sealift (",
        // The image runs as root and no UID was set: baseline, with the check that fails.
        "Deployment/shop/web baseline runAsNonRoot",
        "IMAGE_RUNS_AS_ROOT",
        "sealift-cluster/namespaces.yaml",
    ] {
        assert!(shown.contains(expected), "`{expected}` not shown in:\n{shown}");
    }
    assert!(!shown.contains("VERIFICATION FAILED") && !shown.contains("NOT VERIFIED"), "{shown}");

    // verify on 2031-01-01: lodash's allowances have expired, so its findings are blocked.
    let (code, failed) = page(
        r,
        &["verify", "shop.tar", "--key", "keys/sealift.pub", "--at", "2031-01-01"],
        "failed.html",
    );
    assert_eq!(code, Some(1));
    assert_eq!(headline(&failed), "VERIFICATION FAILED");
    let shown = visible_text(&dom(&failed));
    assert!(
        shown.starts_with("VERIFICATION FAILED 2 problem(s)"),
        "the banner, then the problems: {shown}"
    );
    for expected in [
        "vulnerability-blocked",
        "Blocked findings (2)",
        &format!("high {LODASH} lodash 4.17.15"),
        "expired 2030-06-30: upgrade planned for the next release",
    ] {
        assert!(shown.contains(expected), "`{expected}` not shown in:\n{shown}");
    }

    // inspect: nothing checked, and the page says so before anything else.
    let (code, inspected) = page(r, &["bundle", "inspect", "shop.tar"], "inspected.html");
    assert_eq!(code, Some(0));
    assert_eq!(headline(&inspected), "NOT VERIFIED");
    let shown = visible_text(&dom(&inspected));
    assert!(!shown.contains("VERIFIED Every") && shown.contains(&digest), "{shown}");
    assert!(shown.contains("NOT verified"), "findings judged by the page say so: {shown}");

    // -o never replaces the bundle it describes.
    let before = std::fs::read(r.path("shop.tar")).unwrap();
    let o = sealift(
        r.dir.path(),
        &[
            "verify",
            "shop.tar",
            "--key",
            "keys/sealift.pub",
            "--format",
            "html",
            "-o",
            "shop.tar",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(std::fs::read(r.path("shop.tar")).unwrap(), before);

    // Self-contained: no URL the page would load, and a policy that forbids loading any.
    let html = std::fs::read_to_string(&verified).unwrap();
    // The page's own style and script are exactly what its policy's hashes allow.
    use base64::Engine as _;
    use sha2::Digest as _;
    for tag in ["style", "script"] {
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(inline(&html, tag).as_bytes()));
        assert!(verified_dom.contains(&format!("{tag}-src 'sha256-{hash}'")), "{tag} hash");
    }
    for outside in ["src=\"http", "href=\"http", "url(", "@import"] {
        assert!(!html.contains(outside), "{outside}");
    }
}

#[test]
fn markup_and_control_characters_from_the_bundle_are_shown_as_text() {
    const MARK: &str = "<script>document.title='pwned'</script>\"'";
    // An advisory id and a Deployment name carrying markup, a quote and control characters.
    let dir = tempfile::tempdir().unwrap();
    let evil_id = format!("GHSA-{MARK}\u{1b}[31m");
    let record = serde_json::json!({
        "id": evil_id,
        "database_specific": {"severity": "CRITICAL"},
        "affected": [{"package": {"ecosystem": "npm", "name": "minimist"}, "versions": ["1.2.0"]}],
    });
    std::fs::write(dir.path().join("evil.json"), record.to_string()).unwrap();
    let allow = format!(
        "    - {{id: {}, reason: {}, expires: 2099-12-31}}\n",
        serde_json::to_string(&evil_id).unwrap(),
        serde_json::to_string(&format!("reason {MARK}\u{7}")).unwrap()
    );
    let r = release(&serde_json::to_string("web<b>bold</b>\u{202e}").unwrap(), &[dir.path()], &allow);
    // The image's name and tag, changed in a properly signed bundle.json.
    rebundle(r.dir.path(), "shop.tar", "evil.tar", |index, _, _| {
        index.images[0].repository = format!("shop/{MARK}");
        index.images[0].tag = Some(format!("1{MARK}\u{1b}]0;title\u{7}\nline\u{202e}"));
        Vec::new()
    });
    for (args, file) in [
        (vec!["bundle", "inspect", "evil.tar"], "inspect.html"),
        (vec!["verify", "evil.tar", "--key", "keys/sealift.pub"], "verify.html"),
    ] {
        let (_, path) = page(&r, &args, file);
        let html = std::fs::read_to_string(&path).unwrap();
        assert!(!html.contains("<script>document"), "{file}: markup reached the page unescaped");
        assert!(
            !html.contains('\u{1b}') && !html.contains('\u{7}'),
            "{file}: raw control characters"
        );
        let dom = dom(&path);
        assert!(!dom.contains("<title>pwned"), "{file}: a script ran");
        assert!(!dom.contains("<b>bold</b>"), "{file}: markup was parsed");
        let shown = visible_text(&dom);
        assert!(shown.contains(&format!("shop/{MARK}")), "{file}: the image name as text:\n{shown}");
        assert!(
            shown.contains("GHSA-<script>document.title='pwned'</script>\"'\\u{1b}[31m"),
            "{file}:\n{shown}"
        );
        assert!(
            shown.contains("web<b>bold</b>\\u{202e}"),
            "{file}: the Deployment name as text:\n{shown}"
        );
        assert!(
            shown.contains(r"\u{1b}]0;title\u{7}\u{a}line\u{202e}"),
            "{file}: the tag's control characters shown:\n{shown}"
        );
        assert!(!dom.contains('\u{202e}'), "{file}: a raw bidi override");
    }
}
