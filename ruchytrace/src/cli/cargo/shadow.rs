//! The shadow copy of `ruchytrace cargo --instrument`: the workspace mirrored under
//! `target/ruchytrace/shadow/`, the selected members' sources instrumented, their manifests given the
//! `ruchytrace` dependency with `trace`, and `--deps` crates copied next to it and wired in with `[patch]`.
//!
//! Only files whose content changed are written, so cargo's fingerprints (which look at mtimes) rebuild only
//! what changed since the last run. The user's files are only ever read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use anyhow::Context;

use crate::instrument::{instrument_source_with, Instrumented, Options};

/// What to shadow and how.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Packages to instrument (`-p`); empty = every workspace member.
    pub packages: Vec<String>,
    /// Dependencies to copy, instrument and patch in (`--deps`).
    pub deps: Vec<String>,
    /// Files or directories (`PATH`) and items (`FILE:LINE`) to leave untraced.
    pub exclude: Vec<String>,
    /// See [`Options::min_body_tokens`].
    pub min_body_tokens: usize,
    /// The facade crate the shadow manifests depend on.
    pub facade: PathBuf,
}

/// A package of `cargo metadata`.
#[derive(Debug, Clone)]
struct Package {
    name: String,
    version: String,
    id: String,
    manifest: PathBuf,
    edition: String,
    /// (kinds, src_path)
    targets: Vec<(Vec<String>, PathBuf)>,
}

/// An instrumented file of the shadow copy.
#[derive(Debug)]
pub struct ShadowFile {
    /// The user's file it was made from.
    pub user: PathBuf,
    /// The rewrite (to map positions back).
    pub rewrite: Instrumented,
}

/// The prepared shadow copy.
#[derive(Debug, Default)]
pub struct Shadow {
    /// The user's workspace root.
    pub user_root: PathBuf,
    /// The mirror of the workspace root.
    pub root: PathBuf,
    /// Where copies of `--deps` crates live.
    pub deps_root: PathBuf,
    /// The user's target directory (shared by the shadow build).
    pub target_dir: PathBuf,
    /// Instrumented files by their shadow path.
    pub files: HashMap<PathBuf, ShadowFile>,
    /// Copies of `--deps` crates: shadow directory → the crate's own directory.
    pub dep_dirs: Vec<(PathBuf, PathBuf)>,
    /// One line per thing left untraced, and why.
    pub skipped: Vec<String>,
    /// Packages instrumented.
    pub packages: Vec<String>,
    /// Functions instrumented.
    pub functions: usize,
    /// Functions left alone as trivial.
    pub small: usize,
    /// Files written this time (changed since the last run).
    pub written: usize,
    /// Other things worth a line (changes made to the shadow's lock file).
    pub notes: Vec<String>,
    /// `const fn`s left untraced, by package.
    pub const_fns: BTreeMap<String, usize>,
}

impl Shadow {
    /// The user's path for a path of the shadow copy (absolute, or relative to the shadow root).
    pub fn user_path(&self, shadow: &Path) -> Option<PathBuf> {
        let abs = if shadow.is_absolute() {
            shadow.to_path_buf()
        } else {
            self.root.join(shadow)
        };
        if let Some(f) = self.files.get(&abs) {
            return Some(f.user.clone());
        }
        if let Ok(rel) = abs.strip_prefix(&self.root) {
            return Some(self.user_root.join(rel));
        }
        self.dep_dirs
            .iter()
            .find_map(|(s, u)| abs.strip_prefix(s).ok().map(|r| u.join(r)))
    }
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Runs `cargo metadata` in `cwd`.
pub fn metadata(cwd: &Path, no_deps: bool) -> anyhow::Result<serde_json::Value> {
    let mut cmd = std::process::Command::new(cargo());
    cmd.args(["metadata", "--format-version", "1"])
        .current_dir(cwd);
    if no_deps {
        cmd.arg("--no-deps");
    }
    let out = cmd.output().context("cannot run cargo metadata")?;
    if !out.status.success() {
        anyhow::bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("cannot read cargo metadata's output")
}

fn packages(meta: &serde_json::Value) -> Vec<Package> {
    let empty = Vec::new();
    meta["packages"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|p| Package {
            name: p["name"].as_str().unwrap_or_default().to_string(),
            version: p["version"].as_str().unwrap_or_default().to_string(),
            id: p["id"].as_str().unwrap_or_default().to_string(),
            manifest: PathBuf::from(p["manifest_path"].as_str().unwrap_or_default()),
            edition: p["edition"].as_str().unwrap_or("2015").to_string(),
            targets: p["targets"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|t| {
                    let kinds = t["kind"]
                        .as_array()
                        .unwrap_or(&empty)
                        .iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect();
                    (
                        kinds,
                        PathBuf::from(t["src_path"].as_str().unwrap_or_default()),
                    )
                })
                .collect(),
        })
        .collect()
}

/// Crates of ours: tracing them would trace the tracer.
const OWN_CRATES: &[&str] = &["ruchytrace", "ruchytrace-runtime", "ruchytrace-macros"];

/// Target kinds whose sources are the crate's code (not tests, examples, benches or build scripts).
fn is_code_kind(k: &str) -> bool {
    matches!(k, "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "bin")
}

/// Why a package cannot be traced, if it cannot.
fn untraceable(p: &Package) -> Option<String> {
    if p.targets
        .iter()
        .any(|(k, _)| k.iter().any(|k| k == "proc-macro"))
    {
        return Some(format!(
            "{}: a proc-macro crate runs inside the compiler, not in the traced program",
            p.name
        ));
    }
    if OWN_CRATES.contains(&p.name.as_str()) {
        return Some(format!("{}: part of ruchytrace itself", p.name));
    }
    let lib = p
        .targets
        .iter()
        .find(|(k, _)| k.iter().any(|k| is_code_kind(k)))?;
    let text = std::fs::read_to_string(&lib.1).ok()?;
    let no_std = text
        .lines()
        .any(|l| l.trim_start().starts_with("#![no_std]"));
    if no_std && !text.contains("extern crate alloc") && !text.contains("extern crate std") {
        return Some(format!(
            "{}: a `no_std` crate without `alloc` (the recorder needs an allocator and threads)",
            p.name
        ));
    }
    None
}

/// The parsed `--exclude` values: whole files or directories, and `FILE:LINE` items.
#[derive(Debug, Default)]
struct Excludes {
    paths: Vec<PathBuf>,
    lines: BTreeMap<PathBuf, Vec<usize>>,
}

impl Excludes {
    fn new(values: &[String], root: &Path) -> Excludes {
        let cwd = std::env::current_dir().unwrap_or_else(|_| root.to_path_buf());
        let abs = |p: &str| {
            let p = Path::new(p);
            let from_cwd = normalize(&cwd.join(p));
            if p.is_absolute() || from_cwd.exists() {
                from_cwd
            } else {
                normalize(&root.join(p))
            }
        };
        let mut out = Excludes::default();
        for v in values {
            match v.rsplit_once(':') {
                Some((file, line)) if line.parse::<usize>().is_ok() => out
                    .lines
                    .entry(abs(file))
                    .or_default()
                    .push(line.parse().unwrap_or(0)),
                _ => out.paths.push(abs(v)),
            }
        }
        out
    }

    fn excludes(&self, file: &Path) -> bool {
        self.paths.iter().any(|p| file.starts_with(p))
    }
}

/// Lexically resolves `.` and `..`.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes `bytes` to `path` unless it already holds them; returns whether it wrote.
fn write_if_changed(path: &Path, bytes: &[u8]) -> anyhow::Result<bool> {
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}

/// Every file under `dir`, skipping hidden directories and the directories in `skip`.
fn walk(dir: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let ft = std::fs::metadata(&path).map(|m| m.file_type());
        match ft {
            Ok(ft) if ft.is_dir() => {
                if name.to_string_lossy().starts_with('.') || skip.iter().any(|s| s == &path) {
                    continue;
                }
                walk(&path, skip, out)?;
            }
            Ok(ft) if ft.is_file() => out.push(path),
            _ => {}
        }
    }
    Ok(())
}

/// How the source files of one instrumented package are treated.
struct PackageSources {
    name: String,
    dir: PathBuf,
    /// Directories holding the package's code (of its lib and bin targets).
    code_dirs: Vec<PathBuf>,
    /// Files that are roots of other targets (tests, examples, benches, build script): never instrumented.
    other_roots: BTreeSet<PathBuf>,
    /// Crate roots of lib/bin targets.
    crate_roots: BTreeSet<PathBuf>,
    edition_2015: bool,
}

impl PackageSources {
    fn new(p: &Package) -> PackageSources {
        let dir = p.manifest.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut code_dirs = Vec::new();
        let mut other_roots = BTreeSet::new();
        let mut crate_roots = BTreeSet::new();
        for (kinds, src) in &p.targets {
            if kinds.iter().any(|k| is_code_kind(k)) {
                if let Some(d) = src.parent() {
                    code_dirs.push(d.to_path_buf());
                }
                crate_roots.insert(src.clone());
            } else {
                other_roots.insert(src.clone());
            }
        }
        PackageSources {
            name: p.name.clone(),
            dir,
            code_dirs,
            other_roots,
            crate_roots,
            edition_2015: p.edition == "2015",
        }
    }

    /// Is `file` (a `.rs` file of this package) part of the crate's code?
    fn is_code(&self, file: &Path) -> bool {
        if self.other_roots.contains(file) {
            return false;
        }
        if self.crate_roots.contains(file) {
            return true;
        }
        let Some(code_dir) = self.code_dirs.iter().find(|d| file.starts_with(d)) else {
            return false;
        };
        // A crate whose root sits at the package root: its tests/, examples/, benches/ are not its code.
        let rel = file.strip_prefix(code_dir).unwrap_or(file);
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy());
        !(code_dir == &self.dir
            && rel.components().count() > 1
            && matches!(
                first.as_deref(),
                Some("tests" | "examples" | "benches" | "target")
            ))
    }
}

/// Builds or refreshes the shadow copy.
pub fn prepare(cwd: &Path, plan: &Plan) -> anyhow::Result<Shadow> {
    let meta = metadata(cwd, plan.deps.is_empty())?;
    let user_root = PathBuf::from(meta["workspace_root"].as_str().unwrap_or_default());
    let target_dir = PathBuf::from(meta["target_directory"].as_str().unwrap_or_default());
    let base = target_dir.join("ruchytrace");
    let mut shadow = Shadow {
        root: base.join("shadow"),
        deps_root: base.join("deps"),
        user_root: user_root.clone(),
        target_dir: target_dir.clone(),
        ..Shadow::default()
    };
    let all = packages(&meta);
    let members: BTreeSet<String> = meta["workspace_members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let member_pkgs: Vec<&Package> = all.iter().filter(|p| members.contains(&p.id)).collect();
    for want in &plan.packages {
        if !member_pkgs.iter().any(|p| &p.name == want) {
            anyhow::bail!(
                "-p {want}: no such workspace member (members: {})",
                member_pkgs
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let excludes = Excludes::new(&plan.exclude, &user_root);
    let mut selected: Vec<&Package> = Vec::new();
    for p in &member_pkgs {
        if !plan.packages.is_empty() && !plan.packages.contains(&p.name) {
            continue;
        }
        match untraceable(p) {
            Some(why) => shadow.skipped.push(why),
            None => selected.push(p),
        }
    }
    let sources: Vec<PackageSources> = selected.iter().map(|p| PackageSources::new(p)).collect();

    // --deps: registry (or git) crates copied beside the shadow and patched in.
    let mut patches: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    let mut dep_jobs: Vec<(&Package, PathBuf)> = Vec::new();
    for name in &plan.deps {
        let found: Vec<&Package> = all
            .iter()
            .filter(|p| &p.name == name && !members.contains(&p.id))
            .collect();
        let Some(p) = found.first() else {
            anyhow::bail!("--deps {name}: not a dependency of this workspace");
        };
        if found.len() > 1 {
            shadow.skipped.push(format!(
                "{name}: {} versions in the graph; only {} is instrumented",
                found.len(),
                p.version
            ));
        }
        if let Some(why) = untraceable(p) {
            shadow.skipped.push(why);
            continue;
        }
        let source = meta["packages"]
            .as_array()
            .and_then(|a| a.iter().find(|q| q["id"] == p.id.as_str()))
            .and_then(|q| q["source"].as_str())
            .unwrap_or("");
        let registry = if source
            .starts_with("registry+https://github.com/rust-lang/crates.io-index")
            || source.starts_with("sparse+https://index.crates.io")
        {
            "crates-io".to_string()
        } else if let Some(url) = source.strip_prefix("git+") {
            url.split(['?', '#']).next().unwrap_or(url).to_string()
        } else {
            shadow.skipped.push(format!(
                "{name}: from {source:?}, which cannot be patched (a path dependency: put it in the workspace)"
            ));
            continue;
        };
        let dir = shadow.deps_root.join(format!("{}-{}", p.name, p.version));
        patches
            .entry(registry)
            .or_default()
            .insert(p.name.clone(), dir.clone());
        dep_jobs.push((p, dir));
    }

    // Mirror the workspace.
    let mut files = Vec::new();
    walk(&user_root, std::slice::from_ref(&target_dir), &mut files)?;
    let mut keep: BTreeSet<PathBuf> = BTreeSet::new();
    let root_manifest = user_root.join("Cargo.toml");
    for file in &files {
        let rel = file.strip_prefix(&user_root).unwrap_or(file);
        let dst = shadow.root.join(rel);
        keep.insert(dst.clone());
        if rel == Path::new("Cargo.lock") {
            continue;
        }
        let pkg = sources
            .iter()
            .enumerate()
            .filter(|(_, s)| file.starts_with(&s.dir))
            .max_by_key(|(_, s)| s.dir.components().count());
        let bytes = if file.file_name().is_some_and(|n| n == "Cargo.toml") {
            let is_selected = pkg.is_some_and(|(_, s)| s.dir.join("Cargo.toml") == *file);
            let is_root = *file == root_manifest;
            rewrite_manifest(
                file,
                &user_root,
                is_selected.then_some(plan.facade.as_path()),
                is_root,
                if is_root { Some(&patches) } else { None },
            )?
            .into_bytes()
        } else if let Some((_, s)) =
            pkg.filter(|(_, s)| file.extension().is_some_and(|e| e == "rs") && s.is_code(file))
        {
            let text =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let display = rel.to_string_lossy();
            match instrument_file(file, &display, &text, s, &excludes, plan, &mut shadow) {
                Some(rewrite) => {
                    let bytes = rewrite.source.clone().into_bytes();
                    shadow.files.insert(
                        dst.clone(),
                        ShadowFile {
                            user: file.clone(),
                            rewrite,
                        },
                    );
                    bytes
                }
                None => text,
            }
        } else {
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
        };
        if write_if_changed(&dst, &bytes)? {
            shadow.written += 1;
        }
    }
    let lock_copied = copy_lock(&user_root, &shadow.root, &mut keep)?;
    shadow.skipped.push(
        "build scripts and the tests/, examples/ and benches/ targets: built as they are, untraced"
            .to_string(),
    );
    remove_stale(&shadow.root, &keep)?;
    shadow.packages = selected.iter().map(|p| p.name.clone()).collect();
    if lock_copied && !selected.is_empty() {
        if let Some(line) = refresh_libc(&shadow.root) {
            shadow.notes.push(format!(
                "the shadow's Cargo.lock: {line} (the recorder needs a recent libc; your Cargo.lock is unchanged)"
            ));
        }
    }

    for (p, dir) in dep_jobs {
        let src_dir = p.manifest.parent().unwrap_or(Path::new("/")).to_path_buf();
        let s = PackageSources::new(p);
        let mut files = Vec::new();
        walk(&src_dir, &[src_dir.join("target")], &mut files)?;
        let mut keep = BTreeSet::new();
        for file in &files {
            let rel = file.strip_prefix(&src_dir).unwrap_or(file);
            let dst = dir.join(rel);
            keep.insert(dst.clone());
            let bytes = if rel == Path::new("Cargo.toml") {
                rewrite_manifest(file, &src_dir, Some(plan.facade.as_path()), false, None)?
                    .into_bytes()
            } else if file.extension().is_some_and(|e| e == "rs") && s.is_code(file) {
                let text = std::fs::read(file)?;
                let display = file.to_string_lossy();
                match instrument_file(file, &display, &text, &s, &excludes, plan, &mut shadow) {
                    Some(rewrite) => {
                        let bytes = rewrite.source.clone().into_bytes();
                        shadow.files.insert(
                            dst.clone(),
                            ShadowFile {
                                user: file.clone(),
                                rewrite,
                            },
                        );
                        bytes
                    }
                    None => text,
                }
            } else {
                std::fs::read(file)?
            };
            if write_if_changed(&dst, &bytes)? {
                shadow.written += 1;
            }
        }
        remove_stale(&dir, &keep)?;
        shadow
            .packages
            .push(format!("{} {} (--deps)", p.name, p.version));
        shadow.dep_dirs.push((dir, src_dir));
    }
    let consts = std::mem::take(&mut shadow.const_fns);
    for (name, n) in &consts {
        if *n > 0 {
            shadow.skipped.push(format!(
                "{name}: {n} const fn left untraced (a const fn cannot record anything)"
            ));
        }
    }
    shadow.const_fns = consts;
    Ok(shadow)
}

/// Instruments one source file; `None` (with a line in `skipped`) when it is excluded or not valid Rust.
fn instrument_file(
    file: &Path,
    display: &str,
    text: &[u8],
    s: &PackageSources,
    excludes: &Excludes,
    plan: &Plan,
    shadow: &mut Shadow,
) -> Option<Instrumented> {
    if excludes.excludes(file) {
        shadow
            .skipped
            .push(format!("{}: excluded (--exclude)", file.display()));
        return None;
    }
    let Ok(text) = std::str::from_utf8(text) else {
        shadow
            .skipped
            .push(format!("{}: not UTF-8, copied as is", file.display()));
        return None;
    };
    let no_lines = Vec::new();
    let lines = excludes.lines.get(file).unwrap_or(&no_lines);
    let opts = Options {
        same_line: true,
        min_body_tokens: plan.min_body_tokens,
        exclude_lines: lines,
        extern_crate: s.edition_2015 && s.crate_roots.contains(file),
        location_file: Some(display),
        ..Options::default()
    };
    match instrument_source_with(text, &opts) {
        Ok(r) => {
            shadow.functions += r.functions;
            shadow.small += r.small;
            *shadow.const_fns.entry(s.name.clone()).or_default() += count_const_fns(text);
            Some(r)
        }
        Err(e) => {
            shadow
                .skipped
                .push(format!("{}:{e}; copied as is", file.display()));
            None
        }
    }
}

/// `const fn` definitions (a rough count for the skip line).
fn count_const_fns(text: &str) -> usize {
    text.matches("const fn ").count() + text.matches("const unsafe fn ").count()
}

/// Copies the user's `Cargo.lock` when it changed since the last copy (cargo adds the facade's packages to
/// the shadow's copy; keeping that copy saves a resolution on every run).
fn copy_lock(user_root: &Path, root: &Path, keep: &mut BTreeSet<PathBuf>) -> anyhow::Result<bool> {
    let stamp = root.join(".ruchytrace-user-lock");
    let lock = root.join("Cargo.lock");
    keep.insert(stamp.clone());
    keep.insert(lock.clone());
    let user = std::fs::read(user_root.join("Cargo.lock")).ok();
    let previous = std::fs::read(&stamp).ok();
    if user != previous || !lock.exists() {
        match &user {
            Some(bytes) => {
                std::fs::write(&lock, bytes)?;
                std::fs::write(&stamp, bytes)?;
                return Ok(true);
            }
            None => {
                let _ = std::fs::remove_file(&lock);
                let _ = std::fs::remove_file(&stamp);
            }
        }
    }
    Ok(false)
}

/// The runtime calls libc functions that old `libc` releases lack (`memfd_create`): a lock file that pins
/// such a release (nom 7.1.3's does) gets `libc` updated in the shadow's copy only. Returns cargo's line.
fn refresh_libc(root: &Path) -> Option<String> {
    let out = std::process::Command::new(cargo())
        .args(["update", "-p", "libc"])
        .current_dir(root)
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .find(|l| l.contains("Updating libc"))
        .map(|l| l.trim().to_string())
}

/// Removes shadow files whose original is gone.
fn remove_stale(root: &Path, keep: &BTreeSet<PathBuf>) -> anyhow::Result<()> {
    let mut files = Vec::new();
    if root.exists() {
        walk(root, &[], &mut files)?;
    }
    for f in files {
        if !keep.contains(&f) {
            let _ = std::fs::remove_file(&f);
        }
    }
    Ok(())
}

const DEP_TABLES: &[&str] = &["dependencies", "dev-dependencies", "build-dependencies"];

/// The shadow version of a manifest: path dependencies that leave the mirrored tree made absolute, and, for
/// an instrumented package, the facade added with `trace`; for the root, a `[workspace]` of its own and the
/// `[patch]` entries of `--deps`.
fn rewrite_manifest(
    file: &Path,
    tree_root: &Path,
    facade: Option<&Path>,
    is_root: bool,
    patches: Option<&BTreeMap<String, BTreeMap<String, PathBuf>>>,
) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut doc: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("/"));
    let fix_paths = |deps: &mut toml::Table| {
        for (_, dep) in deps.iter_mut() {
            if let Some(path) = dep.get_mut("path") {
                if let Some(p) = path.as_str() {
                    let abs = normalize(&dir.join(p));
                    if !abs.starts_with(tree_root) {
                        *path = toml::Value::String(abs.to_string_lossy().into_owned());
                    }
                }
            }
        }
    };
    for t in DEP_TABLES {
        if let Some(toml::Value::Table(deps)) = doc.get_mut(*t) {
            fix_paths(deps);
        }
    }
    if let Some(toml::Value::Table(targets)) = doc.get_mut("target") {
        for (_, cfg) in targets.iter_mut() {
            for t in DEP_TABLES {
                if let Some(toml::Value::Table(deps)) = cfg.get_mut(*t) {
                    fix_paths(deps);
                }
            }
        }
    }
    if let Some(toml::Value::Table(ws)) = doc.get_mut("workspace") {
        if let Some(toml::Value::Table(deps)) = ws.get_mut("dependencies") {
            fix_paths(deps);
        }
    }
    if let Some(toml::Value::Table(patch)) = doc.get_mut("patch") {
        for (_, reg) in patch.iter_mut() {
            if let toml::Value::Table(deps) = reg {
                fix_paths(deps);
            }
        }
    }
    if let Some(facade) = facade {
        let deps = doc
            .entry("dependencies")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(deps) = deps {
            match deps.get_mut("ruchytrace") {
                // Already a dependency (of this checkout, presumably): only turn `trace` on.
                Some(toml::Value::Table(existing)) => {
                    let features = existing
                        .entry("features")
                        .or_insert_with(|| toml::Value::Array(Vec::new()));
                    if let toml::Value::Array(f) = features {
                        f.push(toml::Value::String("trace".into()));
                    }
                }
                _ => {
                    let mut dep = toml::Table::new();
                    dep.insert(
                        "path".into(),
                        toml::Value::String(facade.to_string_lossy().into_owned()),
                    );
                    dep.insert("default-features".into(), toml::Value::Boolean(false));
                    dep.insert(
                        "features".into(),
                        toml::Value::Array(vec![toml::Value::String("trace".into())]),
                    );
                    deps.insert("ruchytrace".into(), toml::Value::Table(dep));
                }
            }
        }
    }
    if is_root {
        doc.entry("workspace")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    if let Some(patches) = patches.filter(|p| !p.is_empty()) {
        let patch = doc
            .entry("patch")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(patch) = patch {
            for (registry, crates) in patches {
                let reg = patch
                    .entry(registry.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(reg) = reg {
                    for (name, dir) in crates {
                        let mut dep = toml::Table::new();
                        dep.insert(
                            "path".into(),
                            toml::Value::String(dir.to_string_lossy().into_owned()),
                        );
                        reg.insert(name.clone(), toml::Value::Table(dep));
                    }
                }
            }
        }
    }
    Ok(format!(
        "# Shadow copy written by `ruchytrace cargo --instrument` from {}; edits here are overwritten.\n{}",
        file.display(),
        toml::to_string(&doc).context("cannot write the shadow manifest")?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_gain_the_facade_and_keep_outside_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(root.join("a")).unwrap();
        let manifest = root.join("a/Cargo.toml");
        std::fs::write(
            &manifest,
            "[package]\nname = \"a\"\nversion = \"0.1.0\"\n[dependencies]\nb = { path = \"../b\" }\nc = { path = \"../../c\" }\n",
        )
        .unwrap();
        let out = rewrite_manifest(
            &manifest,
            &root,
            Some(Path::new("/f/ruchytrace")),
            false,
            None,
        )
        .unwrap();
        let doc: toml::Table = out.parse().unwrap();
        let deps = doc["dependencies"].as_table().unwrap();
        assert_eq!(deps["b"]["path"].as_str(), Some("../b"));
        assert_eq!(
            deps["c"]["path"].as_str(),
            Some(dir.path().join("c").to_str().unwrap())
        );
        assert_eq!(deps["ruchytrace"]["path"].as_str(), Some("/f/ruchytrace"));
        assert_eq!(
            deps["ruchytrace"]["default-features"].as_bool(),
            Some(false)
        );
        assert_eq!(
            deps["ruchytrace"]["features"].as_array().unwrap(),
            &vec![toml::Value::String("trace".into())]
        );
        assert!(doc.get("workspace").is_none());
        let mut patches = BTreeMap::new();
        patches.insert(
            "crates-io".to_string(),
            BTreeMap::from([("x".to_string(), PathBuf::from("/d/x-1.0.0"))]),
        );
        let out = rewrite_manifest(&manifest, &root, None, true, Some(&patches)).unwrap();
        let doc: toml::Table = out.parse().unwrap();
        assert!(doc["workspace"].is_table());
        assert_eq!(
            doc["patch"]["crates-io"]["x"]["path"].as_str(),
            Some("/d/x-1.0.0")
        );
        assert!(doc["dependencies"].get("ruchytrace").is_none());
    }

    #[test]
    fn excludes_paths_and_lines() {
        let ex = Excludes::new(
            &["src/zz_gen".to_string(), "src/zz.rs:12".to_string()],
            Path::new("/nonexistent-root"),
        );
        assert!(ex.excludes(Path::new("/nonexistent-root/src/zz_gen/a.rs")));
        assert!(!ex.excludes(Path::new("/nonexistent-root/src/zz.rs")));
        assert_eq!(ex.lines[Path::new("/nonexistent-root/src/zz.rs")], vec![12]);
    }
}
