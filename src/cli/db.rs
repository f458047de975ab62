//! `sealift db build`.

use std::path::PathBuf;

use clap::Subcommand;

use super::{Format, Outcome};

#[derive(Subcommand)]
pub(crate) enum DbCommand {
    /// Build the offline vulnerability database from advisory files: OSV records, Debian
    /// security tracker JSON, Alpine secdb. Directories are searched at any depth and each
    /// file's format is told from its content; other files are skipped and listed.
    Build {
        /// A directory (or file) of advisory records; repeatable.
        #[arg(long = "from", value_name = "DIR", required = true)]
        from: Vec<PathBuf>,
        /// Directory to write the database to.
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

pub(crate) fn run(cmd: DbCommand) -> anyhow::Result<Outcome> {
    let DbCommand::Build { from, output, format } = cmd;
    let report = sealift::scan::db::build(&from, &output)?;
    let m = &report.metadata;
    if format == Format::Json {
        let skipped: Vec<String> = report.skipped.iter().map(|p| p.display().to_string()).collect();
        println!("{}", serde_json::json!({"database": output, "metadata": m, "skipped": skipped}));
        return Ok(Outcome::Success);
    }
    println!("BUILT {} ({} advisories)", output.display(), m.advisories);
    println!("  digest:     {}", m.digest);
    println!("  newest:     {}", m.newest.as_deref().unwrap_or("(no record carries a date)"));
    for (ecosystem, n) in &m.ecosystems {
        println!("  ecosystem:  {ecosystem:<14} {n}");
    }
    for (fmt, n) in &m.files {
        println!("  read:       {n} {fmt} file(s)");
    }
    if !report.skipped.is_empty() {
        println!(
            "  skipped:    {} file(s) that are not advisory records, e.g. {}",
            report.skipped.len(),
            report.skipped[0].display()
        );
    }
    Ok(Outcome::Success)
}
