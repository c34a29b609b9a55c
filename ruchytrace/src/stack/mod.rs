//! User-stack unwinding and symbolization of stopped tracees (`ruchytrace syscalls -k`).
//!
//! At a kept syscall-entry stop the tracer hands the thread to a [`StackUnwinder`], which reads
//! its registers (`PTRACE_GETREGS`), walks the stack with the DWARF CFI of each module
//! (`.eh_frame`, then `.debug_frame`; frame pointers where a module has none) reading memory with
//! `process_vm_readv`, and symbolizes every frame with its module's DWARF (inlined calls expanded
//! innermost first) or, without debug info, its symbol table.
//!
//! Trust: a walk stops where it can no longer be trusted and says why ([`Stack::truncated`]);
//! frames recovered through frame pointers are marked ([`Unwound::Fp`]), never passed off as CFI,
//! and so is every frame beyond such a guess (its CFI step started from guessed registers).
//! Every loop is bounded (depth limit, a stack pointer that must grow, bounded memory cache), so
//! corrupt input cannot crash or hang the tracer.
//!
//! Cost: modules are parsed once per file (keyed by path, device and inode) and shared by every
//! process that maps them; symbolization results are kept in an LRU keyed by module and address;
//! `/proc/PID/maps` is read once per process and again after an exec, a mapping change the tracer
//! reports, or a pc that falls outside every known mapping (a `dlopen`).

pub mod maps;
pub mod memory;
pub mod module;
pub mod regs;
pub mod unwind;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHasher};

use serde::{Deserialize, Serialize};

use maps::Mapping;
use memory::{Memory, ProcessMemory};
use module::{Module, Symbolized};
use regs::Regs;
use unwind::Step;

/// Default `--stack-depth`.
pub const DEFAULT_DEPTH: usize = 64;

/// How a frame's pc was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unwound {
    /// Read from the stopped thread's registers (the innermost frame).
    Regs,
    /// Recovered with the module's DWARF call-frame information.
    Cfi,
    /// Recovered by following frame pointers, or found beyond such a frame: plausible, not
    /// proven (a frame may be missing).
    Fp,
}

/// One frame of a user stack (an entry of `stack` in `sys.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Program counter (`"0x…"`): the return address for caller frames; inlined entries repeat the
    /// pc of the frame they were inlined into.
    #[serde(with = "hex")]
    pub pc: u64,
    /// Path of the module (executable or shared library) containing `pc`.
    pub module: Option<Arc<str>>,
    /// `pc` in the module's own addresses (`"0x…"`, what `addr2line -e MODULE` takes).
    #[serde(with = "hex_opt", default, skip_serializing_if = "Option::is_none")]
    pub module_address: Option<u64>,
    /// Function (demangled; Rust hashes dropped): from DWARF when present, else the symbol table.
    pub function: Option<Arc<str>>,
    /// The symbol-table function containing `pc` (non-inlined entries), as strace names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Arc<str>>,
    /// Offset of `pc` into `symbol`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_offset: Option<u64>,
    /// Source file, relative to the compilation directory when under it (like `file!()`).
    pub file: Option<Arc<str>>,
    /// Source line.
    pub line: Option<u32>,
    /// This entry is a call inlined into the next entry (same pc).
    pub inlined: bool,
    /// How the pc was recovered.
    pub unwound: Unwound,
    /// Offset of `pc` in the module's file (strace's bracketed number); text output only.
    #[serde(skip)]
    pub file_offset: Option<u64>,
}

/// An unwound and symbolized stack, innermost frame first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// Frames, innermost first, inlined calls as their own entries. Shared: a stack seen again
    /// (a loop's syscall) is the same allocation.
    pub frames: Arc<[Frame]>,
    /// Why the walk stopped before the outermost frame (`None`: complete).
    pub truncated: Option<String>,
}

impl Default for Stack {
    fn default() -> Stack {
        Stack {
            frames: Arc::from(Vec::new()),
            truncated: None,
        }
    }
}

/// A stack taken at a stop: symbolized, or walked and waiting for a module's symbolizer.
#[derive(Debug)]
pub enum Taken {
    /// Unwound and symbolized.
    Ready(Stack),
    /// Walked (every pc known, the tracee free to go on) but not symbolized yet: a module it
    /// passes through is still having its debug info parsed on its own thread.
    /// [`SyscallStacks::is_ready`] says when [`SyscallStacks::resolve`] will not wait.
    Pending(Box<PendingStack>),
}

/// A walked stack waiting for its symbolization (see [`Taken::Pending`]): the walk with the
/// mappings its frames lie in, as they were at the stop (the maps may be read again before it
/// is symbolized).
#[derive(Debug)]
pub struct PendingStack {
    generation: u64,
    raw: Box<[RawFrame]>,
    placed: Box<[Option<Placed>]>,
    truncated: Option<String>,
    /// The modules whose symbolizers it needs.
    modules: Box<[usize]>,
}

/// A mapping of a module in one process.
#[derive(Debug, Clone)]
struct Placed {
    start: u64,
    end: u64,
    path: Arc<str>,
    /// File offset of `start`.
    offset: u64,
    /// Index into the module table, and the bias; `None` when the file cannot be used.
    module: Option<(usize, u64)>,
}

struct Process {
    placed: Vec<Placed>,
    stale: bool,
    /// Unique per reading of the maps: stacks symbolized under one reading are valid for it only.
    generation: u64,
}

/// One frame found by the walk, before symbolization: the pc, how it was found, whether it is
/// looked up as is (innermost frame, caller of a signal frame) or as `pc - 1` (a return
/// address), and the mapping it lies in (`None`: outside every mapped file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RawFrame {
    pc: u64,
    how: Unwound,
    exact: bool,
    placed: Option<u32>,
}

/// A symbolized stack, kept with the walk it came from (the key's full value: the cache is
/// indexed by its hash).
struct CachedStack {
    generation: u64,
    raw: Box<[RawFrame]>,
    truncated: Option<String>,
    frames: Arc<[Frame]>,
}

/// Unwinds and symbolizes the stacks of stopped threads; one per tracer, caching across
/// processes.
pub struct StackUnwinder {
    depth: usize,
    modules: Vec<ModuleSlot>,
    by_file: HashMap<(String, String, u64), usize>,
    procs: FxHashMap<i32, Process>,
    generations: u64,
    ctx: Box<gimli::UnwindContext<usize>>,
    symbols: lru::LruCache<(usize, u64), Arc<Symbolized>, BuildHasherDefault<FxHasher>>,
    /// CFI rows by module and address (cleared when full): a hot loop's stack is the same walk.
    rows: FxHashMap<(usize, u64), Arc<module::Row>>,
    /// Whole symbolized stacks by the hash of their walk: a loop's syscall is walked (registers,
    /// one read of the stack, cached rows) but not symbolized again.
    stacks: lru::LruCache<u64, CachedStack, BuildHasherDefault<FxHasher>>,
    /// The current walk (reused: no allocation per frame).
    raw: Vec<RawFrame>,
    mem: ProcessMemory,
}

/// Rows kept before the row cache is cleared.
const MAX_ROWS: usize = 1 << 16;
/// Symbolized addresses kept.
const MAX_SYMBOLS: usize = 8192;
/// Symbolized stacks kept.
const MAX_STACKS: usize = 4096;

enum ModuleSlot {
    Loaded(Box<Module>),
    Failed(String),
}

impl StackUnwinder {
    /// An unwinder that keeps at most `depth` frames (inlined entries not counted) per stack.
    pub fn new(depth: usize) -> StackUnwinder {
        StackUnwinder {
            depth: depth.max(1),
            modules: Vec::new(),
            by_file: HashMap::new(),
            procs: FxHashMap::default(),
            generations: 0,
            ctx: Box::new(gimli::UnwindContext::new()),
            symbols: lru_cache(MAX_SYMBOLS),
            rows: FxHashMap::default(),
            stacks: lru_cache(MAX_STACKS),
            raw: Vec::new(),
            mem: ProcessMemory::new(0),
        }
    }

    /// Forgets the mappings of `pid` (after an `execve`, `mmap`, `munmap`, `mremap`, `mprotect`):
    /// they are read again at its next stack.
    pub fn invalidate(&mut self, pid: i32) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.stale = true;
        }
    }

    /// Hands over what freeing the unwinder costs (every module's parsed tables and debug info,
    /// the caches), leaving it empty but usable.
    fn take_contents(&mut self) -> impl Send {
        (
            std::mem::take(&mut self.modules),
            std::mem::take(&mut self.by_file),
            std::mem::take(&mut self.procs),
            std::mem::replace(&mut self.symbols, lru_cache(1)),
            std::mem::take(&mut self.rows),
            std::mem::replace(&mut self.stacks, lru_cache(1)),
        )
    }

    /// Forgets a process that exited.
    pub fn forget(&mut self, pid: i32) {
        self.procs.remove(&pid);
    }

    /// Unwinds the stack of stopped thread `tid` of process `pid`.
    pub fn unwind(&mut self, pid: i32, tid: i32) -> Stack {
        match self.take(pid, tid, false) {
            Taken::Ready(stack) => stack,
            Taken::Pending(p) => self.resolve(&p),
        }
    }

    /// Unwinds the stack of stopped thread `tid` of process `pid`, symbolizing it unless that
    /// would wait for a module's symbolizer to be built: then the walk is returned, to be
    /// symbolized by [`StackUnwinder::resolve`] once the thread is running again.
    pub fn unwind_or_defer(&mut self, pid: i32, tid: i32) -> Taken {
        self.take(pid, tid, true)
    }

    fn take(&mut self, pid: i32, tid: i32, defer: bool) -> Taken {
        let Some(regs) = regs::read_regs(tid) else {
            return Taken::Ready(Stack {
                frames: Arc::from(Vec::new()),
                truncated: Some("registers unreadable".into()),
            });
        };
        let mut mem = std::mem::replace(&mut self.mem, ProcessMemory::new(0));
        mem.reset(tid, regs.sp());
        let mut raw = std::mem::take(&mut self.raw);
        raw.clear();
        let truncated = self.walk(pid, regs, &mut mem, &mut raw);
        self.mem = mem;
        let waiting = if defer {
            self.waiting_modules(pid, &raw)
        } else {
            Vec::new()
        };
        let taken = if waiting.is_empty() {
            Taken::Ready(self.symbolized(pid, &raw, truncated))
        } else {
            let placed = self.placed_of(pid, &raw);
            Taken::Pending(Box::new(PendingStack {
                generation: self.procs.get(&pid).map_or(0, |p| p.generation),
                raw: raw.as_slice().into(),
                placed: placed.into(),
                truncated,
                modules: waiting.into(),
            }))
        };
        self.raw = raw;
        taken
    }

    /// The modules of a walk whose symbolizers are still being built.
    fn waiting_modules(&self, pid: i32, raw: &[RawFrame]) -> Vec<usize> {
        let mut out = Vec::new();
        let Some(p) = self.procs.get(&pid) else {
            return out;
        };
        for r in raw {
            let Some((idx, _)) = r.placed.and_then(|i| p.placed.get(i as usize)?.module) else {
                continue;
            };
            if let ModuleSlot::Loaded(m) = &self.modules[idx] {
                if !m.symbolizer_ready() && !out.contains(&idx) {
                    out.push(idx);
                }
            }
        }
        out
    }

    /// Whether [`StackUnwinder::resolve`] would symbolize `p` without waiting.
    pub fn is_ready(&self, p: &PendingStack) -> bool {
        p.modules.iter().all(|&i| match &self.modules[i] {
            ModuleSlot::Loaded(m) => m.symbolizer_ready(),
            ModuleSlot::Failed(_) => true,
        })
    }

    /// Symbolizes a deferred walk (waiting for the symbolizers it needs, if they are still
    /// being built): the stack [`StackUnwinder::unwind`] would have returned at its stop.
    pub fn resolve(&mut self, p: &PendingStack) -> Stack {
        if let Some(stack) = self.cached_stack(p.generation, &p.raw, &p.truncated) {
            return stack;
        }
        self.symbolize_uncached(p.generation, &p.raw, &p.placed, p.truncated.clone())
    }

    /// Unwinds from given registers and memory (the maps of `pid` locate modules).
    pub fn unwind_from(&mut self, pid: i32, regs: Regs, mem: &mut dyn Memory) -> Stack {
        let mut raw = std::mem::take(&mut self.raw);
        raw.clear();
        let truncated = self.walk(pid, regs, mem, &mut raw);
        let stack = self.symbolized(pid, &raw, truncated);
        self.raw = raw;
        stack
    }

    /// Walks the stack from `regs`, filling `raw`; returns why the walk stopped early, if so.
    fn walk(
        &mut self,
        pid: i32,
        regs: Regs,
        mem: &mut dyn Memory,
        raw: &mut Vec<RawFrame>,
    ) -> Option<String> {
        let mut refreshed = false;
        if self.procs.get(&pid).is_none_or(|p| p.stale) {
            self.refresh(pid);
            refreshed = true;
        }
        let mut regs = regs;
        let mut how = Unwound::Regs;
        // Caller frames look up `pc - 1` (the call instruction); the innermost frame and the
        // caller of a signal trampoline use the pc itself.
        let mut exact_pc = true;
        loop {
            if raw.len() >= self.depth {
                return Some(format!("depth limit {} reached", self.depth));
            }
            let pc = regs.pc;
            let mut placed = self.locate(pid, pc);
            if placed.is_none() && !refreshed {
                self.refresh(pid);
                refreshed = true;
                placed = self.locate(pid, pc);
                // The frames found so far point into the maps just replaced.
                for r in raw.iter_mut() {
                    r.placed = self.locate(pid, r.pc).map(|i| i as u32);
                }
            }
            let Some(placed) = placed else {
                if raw.is_empty() {
                    raw.push(RawFrame {
                        pc,
                        how,
                        exact: exact_pc,
                        placed: None,
                    });
                    return Some("pc outside any mapped file".into());
                }
                return Some(format!("return address {pc:#x} outside any mapped file"));
            };
            raw.push(RawFrame {
                pc,
                how,
                exact: exact_pc,
                placed: Some(placed as u32),
            });
            let probe = if exact_pc { pc } else { pc.wrapping_sub(1) };
            let module = self.procs.get(&pid).and_then(|p| p.placed[placed].module);
            let frame0 = raw.len() == 1;
            // Step to the caller.
            let step = match module.map(|(i, bias)| (i, bias, &self.modules[i])) {
                Some((idx, bias, ModuleSlot::Loaded(m))) => match cached_row(
                    &mut self.rows,
                    &mut self.ctx,
                    m,
                    idx,
                    probe.wrapping_sub(bias),
                ) {
                    Some(Ok(row)) => {
                        exact_pc = row.signal_frame;
                        // Beyond a frame-pointer guess every frame rests on it: still a guess.
                        if how != Unwound::Fp {
                            how = Unwound::Cfi;
                        }
                        unwind::step_cfi(&regs, &row, mem, frame0)
                    }
                    Some(Err(e)) => Step::Stop(format!("corrupt CFI for pc: {e}")),
                    None => {
                        exact_pc = false;
                        how = Unwound::Fp;
                        match unwind::step_fp(&regs, mem) {
                            Step::Stop(why) => Step::Stop(match &m.cfi_error {
                                Some(e) => format!("no CFI for pc ({e}); {why}"),
                                None => format!("no CFI for pc; {why}"),
                            }),
                            s => s,
                        }
                    }
                },
                Some((_, _, ModuleSlot::Failed(e))) => {
                    exact_pc = false;
                    how = Unwound::Fp;
                    match unwind::step_fp(&regs, mem) {
                        Step::Stop(why) => Step::Stop(format!("no CFI for pc ({e}); {why}")),
                        s => s,
                    }
                }
                None => {
                    exact_pc = false;
                    how = Unwound::Fp;
                    match unwind::step_fp(&regs, mem) {
                        Step::Stop(why) => Step::Stop(format!("no CFI for pc; {why}")),
                        s => s,
                    }
                }
            };
            match step {
                Step::End => return None,
                Step::Stop(why) => return Some(why),
                Step::Caller(next) => {
                    // The stack grows down: a caller's frame lies above. Anything else is a loop
                    // or garbage.
                    match (regs.sp(), next.sp()) {
                        (Some(a), Some(b)) if b > a => {}
                        (Some(_), Some(_)) => return Some("stack pointer did not advance".into()),
                        _ => return Some("stack pointer unknown".into()),
                    }
                    regs = next;
                }
            }
        }
    }

    /// The symbolized stack of a walk: from the stack cache when the same walk was symbolized
    /// under the same reading of the maps, else frame by frame (each address through the
    /// symbol cache).
    fn symbolized(&mut self, pid: i32, raw: &[RawFrame], truncated: Option<String>) -> Stack {
        let generation = self.procs.get(&pid).map_or(0, |p| p.generation);
        if let Some(stack) = self.cached_stack(generation, raw, &truncated) {
            return stack;
        }
        let placed = self.placed_of(pid, raw);
        self.symbolize_uncached(generation, raw, &placed, truncated)
    }

    /// The mapping of each frame of a walk under the current reading of the maps of `pid`.
    fn placed_of(&self, pid: i32, raw: &[RawFrame]) -> Vec<Option<Placed>> {
        let p = self.procs.get(&pid);
        raw.iter()
            .map(|r| r.placed.and_then(|i| p?.placed.get(i as usize).cloned()))
            .collect()
    }

    fn stack_key(generation: u64, raw: &[RawFrame], truncated: &Option<String>) -> u64 {
        let mut h = FxHasher::default();
        (generation, raw, truncated).hash(&mut h);
        h.finish()
    }

    fn cached_stack(
        &mut self,
        generation: u64,
        raw: &[RawFrame],
        truncated: &Option<String>,
    ) -> Option<Stack> {
        let key = Self::stack_key(generation, raw, truncated);
        let c = self.stacks.get(&key)?;
        (c.generation == generation && *c.raw == *raw && c.truncated == *truncated).then(|| Stack {
            frames: c.frames.clone(),
            truncated: truncated.clone(),
        })
    }

    /// Symbolizes a walk whose frames lie in `placed` (one per frame), under reading
    /// `generation` of the maps, and keeps it in the stack cache.
    fn symbolize_uncached(
        &mut self,
        generation: u64,
        raw: &[RawFrame],
        placed: &[Option<Placed>],
        truncated: Option<String>,
    ) -> Stack {
        let key = Self::stack_key(generation, raw, &truncated);
        let mut frames = Vec::with_capacity(raw.len() * 2);
        for (r, placed) in raw.iter().zip(placed) {
            match placed {
                Some(p) => self.push_frames(&mut frames, r, p),
                None => frames.push(unknown_frame(r.pc, r.how)),
            }
        }
        let frames: Arc<[Frame]> = Arc::from(frames);
        self.stacks.put(
            key,
            CachedStack {
                generation,
                raw: raw.into(),
                truncated: truncated.clone(),
                frames: frames.clone(),
            },
        );
        Stack { frames, truncated }
    }

    fn push_frames(&mut self, out: &mut Vec<Frame>, r: &RawFrame, placed: &Placed) {
        let (pc, how) = (r.pc, r.how);
        let probe = if r.exact { pc } else { pc.wrapping_sub(1) };
        let module = Some(placed.path.clone());
        let file_offset = Some(pc - placed.start + placed.offset);
        let Some((idx, bias)) = placed.module else {
            out.push(Frame {
                module,
                file_offset,
                ..unknown_frame(pc, how)
            });
            return;
        };
        let addr = probe.wrapping_sub(bias);
        let sym = match self.symbols.get(&(idx, addr)) {
            Some(s) => s.clone(),
            None => {
                let s = match &mut self.modules[idx] {
                    ModuleSlot::Loaded(m) => Arc::new(m.symbolize(addr)),
                    ModuleSlot::Failed(_) => Arc::new(Symbolized::default()),
                };
                self.symbols.put((idx, addr), s.clone());
                s
            }
        };
        let module_address = Some(pc.wrapping_sub(bias));
        // Offset from the symbol start to the pc itself (as strace prints it), not to the probe.
        let symbol_offset = sym.symbol.as_ref().map(|(_, off)| off + (pc - probe));
        let symbol = sym.symbol.as_ref().map(|(n, _)| n.clone());
        if sym.frames.is_empty() {
            out.push(Frame {
                pc,
                module,
                module_address,
                function: symbol.clone(),
                symbol,
                symbol_offset,
                file_offset,
                file: None,
                line: None,
                inlined: false,
                unwound: how,
            });
            return;
        }
        let last = sym.frames.len() - 1;
        for (i, f) in sym.frames.iter().enumerate() {
            let outer = i == last;
            let function = match (&f.function, outer) {
                (Some(n), _) => Some(n.clone()),
                (None, true) => symbol.clone(),
                (None, false) => None,
            };
            out.push(Frame {
                pc,
                module: module.clone(),
                module_address,
                symbol: if outer { symbol.clone() } else { None },
                symbol_offset: if outer { symbol_offset } else { None },
                file_offset,
                function,
                file: f.file.clone(),
                line: f.line,
                inlined: f.inlined,
                unwound: how,
            });
        }
    }

    /// Index of the mapping of `pid` that contains `pc`.
    fn locate(&self, pid: i32, pc: u64) -> Option<usize> {
        let p = self.procs.get(&pid)?;
        let i = p.placed.partition_point(|m| m.start <= pc);
        let m = p.placed[..i].last()?;
        (pc < m.end).then_some(i - 1)
    }

    fn refresh(&mut self, pid: i32) {
        let mappings = maps::read_maps(pid).unwrap_or_default();
        let mut placed = Vec::new();
        for m in mappings.iter().filter(|m| m.exec) {
            // A deleted file is still readable through /proc/PID/map_files.
            let module = if m.is_file() {
                self.module_for(pid, m)
            } else {
                None
            };
            placed.push(Placed {
                start: m.start,
                end: m.end,
                path: Arc::from(m.path.as_str()),
                offset: m.offset,
                module,
            });
        }
        self.generations += 1;
        self.procs.insert(
            pid,
            Process {
                placed,
                stale: false,
                generation: self.generations,
            },
        );
    }

    fn module_for(&mut self, pid: i32, m: &Mapping) -> Option<(usize, u64)> {
        let key = (m.path.clone(), m.dev.clone(), m.inode);
        let idx = match self.by_file.get(&key) {
            Some(&i) => i,
            None => {
                // Open through /proc/PID/map_files when possible: it is the mapped file even if
                // the path was replaced since; fall back to the path (needs no privilege).
                let via_proc = format!("/proc/{pid}/map_files/{:x}-{:x}", m.start, m.end);
                let loaded = match Module::load(&via_proc) {
                    Ok(module) => Ok(module),
                    Err(_) if m.is_deleted() => Err(format!("{} unreadable", m.path)),
                    Err(_) => Module::load(&m.path),
                };
                let slot = match loaded {
                    Ok(mut module) => {
                        module.path = m.path.clone();
                        ModuleSlot::Loaded(Box::new(module))
                    }
                    Err(e) => ModuleSlot::Failed(e),
                };
                self.modules.push(slot);
                let i = self.modules.len() - 1;
                self.by_file.insert(key, i);
                i
            }
        };
        match &self.modules[idx] {
            ModuleSlot::Loaded(module) => Some((idx, module.bias_for(m)?)),
            ModuleSlot::Failed(_) => Some((idx, 0)),
        }
    }
}

fn lru_cache<K: Hash + Eq, V>(n: usize) -> lru::LruCache<K, V, BuildHasherDefault<FxHasher>> {
    lru::LruCache::with_hasher(NonZeroUsize::new(n).expect("non-zero"), Default::default())
}

fn cached_row(
    rows: &mut FxHashMap<(usize, u64), Arc<module::Row>>,
    ctx: &mut gimli::UnwindContext<usize>,
    m: &Module,
    idx: usize,
    addr: u64,
) -> Option<Result<Arc<module::Row>, gimli::Error>> {
    if let Some(r) = rows.get(&(idx, addr)) {
        return Some(Ok(r.clone()));
    }
    let row = match m.row(ctx, addr)? {
        Ok(r) => Arc::new(r),
        Err(e) => return Some(Err(e)),
    };
    if rows.len() >= MAX_ROWS {
        rows.clear();
    }
    rows.insert((idx, addr), row.clone());
    Some(Ok(row))
}

fn unknown_frame(pc: u64, how: Unwound) -> Frame {
    Frame {
        pc,
        module: None,
        module_address: None,
        function: None,
        symbol: None,
        symbol_offset: None,
        file: None,
        line: None,
        inlined: false,
        unwound: how,
        file_offset: None,
    }
}

/// Text lines of a stack in strace's `-k` layout: ` > /path/module(symbol+0xoff) [0xoffset]`
/// (the symbol-table name and the file offset, as strace prints them; the DWARF function name
/// where there is no symbol), with ` at file:line` when known; inlined calls add ` (inlined)`,
/// frames found through frame pointers ` (frame pointer)`; a truncated walk ends with
/// ` > (stack truncated: reason)`.
pub fn text_lines(frames: &[Frame], truncated: Option<&str>) -> Vec<String> {
    let mut out = Vec::with_capacity(frames.len() + 1);
    for f in frames {
        let mut s = String::from(" > ");
        s.push_str(f.module.as_deref().unwrap_or("?"));
        s.push('(');
        match (&f.symbol, f.symbol_offset, &f.function) {
            (Some(sym), Some(off), _) => s.push_str(&format!("{sym}+{off:#x}")),
            (_, _, Some(func)) => s.push_str(func),
            _ => {}
        }
        s.push(')');
        let at = f.file_offset.or(f.module_address).unwrap_or(f.pc);
        s.push_str(&format!(" [{at:#x}]"));
        if let (Some(file), Some(line)) = (&f.file, f.line) {
            s.push_str(&format!(" at {file}:{line}"));
        }
        if f.inlined {
            s.push_str(" (inlined)");
        }
        if f.unwound == Unwound::Fp {
            s.push_str(" (frame pointer)");
        }
        out.push(s);
    }
    if let Some(why) = truncated {
        out.push(format!(" > (stack truncated: {why})"));
    }
    out
}

/// Serde for `u64` as a `"0x…"` string.
mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:#x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a 0x… address: {s}")))
    }

    pub fn parse(s: &str) -> Option<u64> {
        u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
    }
}

/// Serde for `Option<u64>` as a `"0x…"` string.
mod hex_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&format!("{v:#x}")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            super::hex::parse(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("not a 0x… address: {s}")))
        })
        .transpose()
    }
}

/// The tracer's side of `syscalls -k`: when to unwind, when mappings change, how to print.
pub struct SyscallStacks {
    unwinder: StackUnwinder,
    /// Text blocks by the address of the frames they print: a stack the unwinder returned from
    /// its cache is the same allocation, so it is formatted once. Holding the `Arc` keeps the
    /// address from being reused while the entry lives.
    texts: FxHashMap<usize, TextEntry>,
}

impl Drop for SyscallStacks {
    /// Freeing the parsed debug info of every module is tens of thousands of deallocations
    /// (milliseconds for a system libc): done on a thread of its own, so the end of a trace does
    /// not wait for it (a process that exits right after does not do it at all).
    fn drop(&mut self) {
        let contents = (
            self.unwinder.take_contents(),
            std::mem::take(&mut self.texts),
        );
        // If no thread can be started, the closure, and everything with it, is dropped here.
        let _ = std::thread::Builder::new()
            .name("ruchytrace-free".into())
            .spawn(move || drop(contents));
    }
}

/// A text cache entry: the frames (kept alive), the truncation reason, the text.
type TextEntry = (Arc<[Frame]>, Option<String>, Arc<str>);

/// Text blocks kept before the text cache is cleared.
const MAX_TEXTS: usize = 4096;

impl SyscallStacks {
    /// Stacks of at most `depth` frames.
    pub fn new(depth: usize) -> SyscallStacks {
        SyscallStacks {
            unwinder: StackUnwinder::new(depth),
            texts: FxHashMap::default(),
        }
    }

    /// The text block of a stack ([`text_block`]), formatted once per distinct stack.
    pub fn text(&mut self, frames: &Arc<[Frame]>, truncated: Option<&str>) -> Arc<str> {
        let key = Arc::as_ptr(frames) as *const Frame as usize;
        if let Some((f, t, text)) = self.texts.get(&key) {
            if Arc::ptr_eq(f, frames) && t.as_deref() == truncated {
                return text.clone();
            }
        }
        let text: Arc<str> = Arc::from(text_lines_block(frames, truncated));
        if self.texts.len() >= MAX_TEXTS {
            self.texts.clear();
        }
        self.texts.insert(
            key,
            (frames.clone(), truncated.map(str::to_string), text.clone()),
        );
        text
    }

    /// At a kept syscall-entry stop of `tid` (process `pid`) entering syscall `nr`: the stack,
    /// for calls after which the stack is gone or replaced (exit, exec, sigreturn, clone);
    /// `None` for the others, which are unwound at their exit stop instead so that the time
    /// spent unwinding does not count as the call's duration (the stack is the same there).
    /// A stack through a module whose debug info is still being parsed comes back
    /// [`Taken::Pending`]: the thread need not wait for it (see [`SyscallStacks::resolve`]).
    pub fn at_entry(&mut self, pid: i32, tid: i32, nr: u64) -> Option<Taken> {
        let stack = no_normal_return(nr).then(|| self.unwinder.unwind_or_defer(pid, tid));
        if changes_mappings(nr) {
            // The mapping changes after this stop; the next stack reads the maps again.
            self.unwinder.invalidate(pid);
        }
        stack
    }

    /// At the exit stop of a kept call that [`SyscallStacks::at_entry`] did not unwind.
    pub fn at_exit(&mut self, pid: i32, tid: i32) -> Taken {
        self.unwinder.unwind_or_defer(pid, tid)
    }

    /// Whether [`SyscallStacks::resolve`] would return without waiting.
    pub fn is_ready(&self, p: &PendingStack) -> bool {
        self.unwinder.is_ready(p)
    }

    /// The symbolized stack of a pending walk, waiting for the symbolizers it needs if they
    /// are not built yet: exactly what an undeferred unwind at its stop would have returned.
    pub fn resolve(&mut self, p: &PendingStack) -> Stack {
        self.unwinder.resolve(p)
    }

    /// A process appeared (fork) or replaced its image (exec): its old mappings are void.
    pub fn new_image(&mut self, pid: i32) {
        self.unwinder.forget(pid);
    }
}

fn no_normal_return(nr: u64) -> bool {
    [
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_rt_sigreturn,
        libc::SYS_clone,
        libc::SYS_clone3,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_vfork,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_fork,
    ]
    .iter()
    .any(|&n| n as u64 == nr)
}

fn changes_mappings(nr: u64) -> bool {
    [
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_mprotect,
        libc::SYS_execve,
        libc::SYS_execveat,
    ]
    .iter()
    .any(|&n| n as u64 == nr)
}

/// [`text_lines`] of a stack as one block of newline-terminated lines.
pub fn text_block(stack: &Stack) -> String {
    text_lines_block(&stack.frames, stack.truncated.as_deref())
}

fn text_lines_block(frames: &[Frame], truncated: Option<&str>) -> String {
    let mut s = String::new();
    for l in text_lines(frames, truncated) {
        s.push_str(&l);
        s.push('\n');
    }
    s
}
