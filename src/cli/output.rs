//! Everything the binary writes: progress on stderr (bars on a terminal, plain lines
//! otherwise), reports on stdout, errors on stderr.

use std::io::IsTerminal as _;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sealift::progress::{Reporter, Task};

/// Print an error with its chain of causes. Errors quote registries, bundles and images
/// (media types, paths, reasons), so control characters other than line breaks are escaped,
/// and continuation lines are indented so none can pass for a line of sealift's own.
pub(crate) fn error(e: &anyhow::Error) {
    let text: String = chain(e).split('\n').map(escape).collect::<Vec<_>>().join("\n  ");
    eprintln!("error: {text}");
}

/// An error and its causes, `outer: inner: ...`, as `{e:#}` writes them, except that a cause
/// an error already quotes at the end of its own message is not repeated
/// (`x.tar: not a regular file`, not `x.tar: not a regular file: not a regular file`).
pub(crate) fn chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let line = cause.to_string();
        if !text.is_empty() && text.ends_with(&line) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&line);
    }
    text
}

/// Progress reporter for the terminal.
pub(crate) struct Progress {
    bars: Option<MultiProgress>,
}

impl Progress {
    pub(crate) fn new() -> Self {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self { bars }
    }
}

struct Bar(ProgressBar);

impl Task for Bar {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
    fn skip(&self) {
        self.0.finish_and_clear();
    }
}

struct Line {
    label: String,
    total: u64,
}

impl Task for Line {
    fn advance(&self, _: u64) {}
    fn finish(&self) {
        // Only large items get a line: hundreds of small blobs would drown the log.
        if self.total >= 1 << 20 {
            eprintln!("{} ({:.1} MB)", self.label, self.total as f64 / 1e6);
        }
    }
}

impl Reporter for Progress {
    fn start(&self, label: &str, total: u64) -> Box<dyn Task> {
        match &self.bars {
            Some(m) => {
                let bar = m.add(ProgressBar::new(total));
                bar.set_style(
                    ProgressStyle::with_template("{msg:40!} {bar:30} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_message(escape(label));
                Box::new(Bar(bar))
            }
            None => Box::new(Line {
                label: escape(label),
                total,
            }),
        }
    }

    fn note(&self, line: &str) {
        // Notes name images, repositories and files from bundles and registries.
        let line = escape(line);
        match &self.bars {
            Some(m) => {
                let _ = m.println(line);
            }
            None => eprintln!("{line}"),
        }
    }
}

/// Human-readable size.
pub(crate) fn size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

/// Text from a bundle or a registry, with control characters escaped (`\u{1b}` for ESC), so it
/// cannot move the cursor or fake a line on a terminal; bidirectional overrides and invisible
/// format characters too, so it cannot reorder or hide what is printed around it.
pub(crate) fn escape(text: &str) -> String {
    let hidden = |c: char| {
        matches!(
            c,
            '\u{ad}'
                | '\u{61c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0000}'..='\u{e007f}'
        )
    };
    text.chars()
        .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
            if c.is_control() || hidden(c) {
                Box::new(c.escape_unicode())
            } else {
                Box::new(std::iter::once(c))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_the_message_already_ends_with_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file");
        let quoting = sealift::bundle::Error::Io {
            path: "x.tar".into(),
            source: io,
        };
        let e = anyhow::Error::from(quoting).context("verifying");
        assert_eq!(chain(&e), "verifying: x.tar: not a regular file");
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(chain(&plain), "outer: inner");
    }
}
