//! `ruchytrace snapshot PID [-o FILE]`: copies the trace a running program is recording — in
//! `ring` mode its flight recorder, the last events of every thread — without stopping it.
//!
//! The trace file is found among the process's memory mappings (`/proc/PID/maps`; a text or
//! JSON output records into an anonymous memory file, reached through `/proc/PID/map_files`),
//! copied, and read as a partial trace. Threads go on writing while the copy is taken: a record
//! is published by its first byte, stored last, so the copy holds whole records only, and a
//! segment that a thread started over (ring mode) while it was being copied is left out — its
//! header's sequence number is read again after the copy and compared.
//!
//! `FILE` ending in `.json` or `.txt` gets the trace converted; otherwise (default
//! `snapshot-PID.rtrace`) the copy itself. Exit status 0, or 2 when no trace is found.

use anyhow::{anyhow, bail, Context};
use ruchytrace_runtime::format::{self, Format};
use ruchytrace_runtime::segment::{file_off, seg_off, FILE_HEADER, FILE_MAGIC, SEG_HEADER};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Arguments of `ruchytrace snapshot`.
#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// The recording process.
    pub pid: u32,
    /// Where to write (default: snapshot-PID.rtrace; `.json` or `.txt` converts).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The trace file process `pid` has mapped: an open handle and a name to show.
pub fn find_trace_file(pid: u32) -> anyhow::Result<(File, String)> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .with_context(|| format!("cannot read the mappings of process {pid}"))?;
    let mut seen = std::collections::HashSet::new();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(_perms), Some(offset), Some(_dev), Some(inode)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let name: Vec<&str> = f.collect();
        let name = name.join(" ");
        // The header page is mapped from offset 0 of a file (inode != 0).
        if inode == "0" || u64::from_str_radix(offset, 16) != Ok(0) || !seen.insert(inode) {
            continue;
        }
        let via_map = format!("/proc/{pid}/map_files/{range}");
        let file = File::open(&via_map).or_else(|e| {
            if name.starts_with('/') && !name.ends_with("(deleted)") {
                File::open(&name)
            } else {
                Err(e)
            }
        });
        let Ok(file) = file else { continue };
        let mut head = [0u8; 32];
        if file.read_exact_at(&mut head, 0).is_err() || head[..8] != FILE_MAGIC {
            continue;
        }
        let owner = u32::from_le_bytes(head[file_off::PID..][..4].try_into().expect("4 bytes"));
        if owner != pid {
            // A file inherited from a parent across fork(), not this process's trace.
            continue;
        }
        return Ok((file, name));
    }
    bail!(
        "process {pid} has no ruchytrace trace file mapped (is it recording? started with \
         RUCHYTRACE=1 and a build with tracing compiled in?)"
    )
}

/// Copies the trace file of a running process, leaving out segments that were started over
/// while they were copied. A copy that lost segments that way is taken again (a few times at
/// most): a snapshot taken while the copying process was preempted for a few milliseconds
/// would otherwise miss every segment a busy thread reused meanwhile; the copy that lost
/// fewest is kept.
pub fn copy_consistent(file: &File) -> anyhow::Result<Vec<u8>> {
    const ATTEMPTS: usize = 8;
    let mut best: Option<(Vec<u8>, usize)> = None;
    for _ in 0..ATTEMPTS {
        let (bytes, dropped) = copy_once(file)?;
        if dropped == 0 {
            return Ok(bytes);
        }
        if best.as_ref().is_none_or(|(_, d)| dropped < *d) {
            best = Some((bytes, dropped));
        }
    }
    Ok(best.expect("at least one attempt").0)
}

/// One copy of the file; also returns how many segments were left out.
fn copy_once(mut file: &File) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    if bytes.len() < FILE_HEADER {
        bail!(
            "the trace file is shorter than its header ({} bytes)",
            bytes.len()
        );
    }
    let seg_size = u32::from_le_bytes(
        bytes[file_off::SEG_SIZE..][..4]
            .try_into()
            .expect("4 bytes"),
    ) as usize;
    if seg_size < 4096 {
        bail!("bad segment size {seg_size} in the trace file header");
    }
    let mut dropped = 0;
    let mut off = FILE_HEADER;
    while off + SEG_HEADER <= bytes.len() {
        let mut now = [0u8; seg_off::SEQ + 4];
        file.read_exact_at(&mut now, off as u64)?;
        if bytes[off..off + now.len()] != now {
            // Magic, kind, pid, tid or sequence number changed: the segment was being reused.
            bytes[off..off + 4].fill(0);
            dropped += 1;
        }
        off += seg_size;
    }
    Ok((bytes, dropped))
}

/// Entry point of `ruchytrace snapshot`.
pub fn run(args: SnapshotArgs) -> anyhow::Result<i32> {
    let pid = args.pid;
    let (file, name) = match find_trace_file(pid) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ruchytrace: {e:#}");
            return Ok(super::EXIT_USAGE);
        }
    };
    let bytes = copy_consistent(&file)?;
    let trace = format::read_trace_from(&bytes).map_err(|e| anyhow!("{name}: {e}"))?;
    let out = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("snapshot-{pid}.rtrace")));
    match Format::from_path(&out) {
        Some(fmt @ (Format::Json | Format::Text)) => {
            let f =
                File::create(&out).with_context(|| format!("cannot create {}", out.display()))?;
            let mut w = format::writer(fmt, Box::new(f));
            format::write_trace(&trace, &mut *w)
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
        _ => std::fs::write(&out, &bytes)
            .with_context(|| format!("cannot write {}", out.display()))?,
    }
    let threads: std::collections::BTreeSet<(u32, u32)> =
        trace.events.iter().map(|e| e.pid_tid()).collect();
    eprintln!(
        "ruchytrace: snapshot of process {pid} ({name}): {} events of {} threads in {}",
        trace.events.len(),
        threads.len(),
        out.display()
    );
    Ok(0)
}
