//! One loaded module (an ELF executable or shared library on disk): its load segments, its
//! unwind tables (`.eh_frame` and `.debug_frame`, indexed by address once), its symbol table and,
//! its DWARF symbolizer, built on a thread of its own from the moment the module is loaded (the
//! first stack through a module with large, compressed debug info would otherwise wait for all of
//! it to be inflated and indexed while the tracee is stopped).
//!
//! Addresses inside a module are the file's own ("stated") virtual addresses; a mapping's bias
//! turns them into the process's addresses.

use std::sync::Arc;

use gimli::{
    BaseAddresses, CfaRule, DebugFrame, EhFrame, Reader, RegisterRule, RunTimeEndian,
    UnwindContext, UnwindSection,
};
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, SymbolKind};

use super::maps::Mapping;

/// The byte reader every parsed section uses (cheap to clone, no copy of the file's bytes).
pub type R = gimli::EndianReader<RunTimeEndian, SectionBytes>;

/// The bytes of a section: a range of the mapped file when stored uncompressed (nothing copied
/// or allocated), else the inflated copy (moved in, not copied again).
#[derive(Debug, Clone)]
pub enum SectionBytes {
    /// `map[start..end]`.
    Mapped {
        /// The mapped file.
        map: Arc<memmap2::Mmap>,
        /// First byte.
        start: usize,
        /// One past the last byte.
        end: usize,
    },
    /// Bytes held in memory (inflated sections, test data).
    Owned(Arc<Vec<u8>>),
}

impl std::ops::Deref for SectionBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            SectionBytes::Mapped { map, start, end } => &map[*start..*end],
            SectionBytes::Owned(v) => v,
        }
    }
}

// SAFETY: both variants point into a heap or mapped buffer owned through an `Arc`: moving or
// cloning a `SectionBytes` never moves the bytes, and they live as long as any clone (the map
// is private and read-only; `Vec`s are never mutated once wrapped).
unsafe impl gimli::StableDeref for SectionBytes {}
// SAFETY: as above; a clone shares the same `Arc`, so it derefs to the same address.
unsafe impl gimli::CloneStableDeref for SectionBytes {}

impl SectionBytes {
    /// Bytes held in memory.
    pub fn owned(bytes: Vec<u8>) -> SectionBytes {
        SectionBytes::Owned(Arc::new(bytes))
    }
}

/// The bytes of `section` of the ELF file mapped at `map`: borrowed from the map when the
/// section is stored as is, inflated otherwise; `None` when they cannot be read.
fn section_bytes<'d>(
    map: &Arc<memmap2::Mmap>,
    section: &impl ObjectSection<'d>,
) -> Option<SectionBytes> {
    let range = section.compressed_file_range().ok()?;
    if range.format == object::CompressionFormat::None {
        let start = usize::try_from(range.offset).ok()?;
        let end = start.checked_add(usize::try_from(range.uncompressed_size).ok()?)?;
        if end > map.len() {
            return None;
        }
        return Some(SectionBytes::Mapped {
            map: map.clone(),
            start,
            end,
        });
    }
    let compressed = section.compressed_data().ok()?;
    if compressed.format == object::CompressionFormat::Zlib {
        if let Some(map) = inflate_zlib(compressed.data, compressed.uncompressed_size) {
            return Some(map);
        }
    }
    let data = section.uncompressed_data().ok()?;
    Some(SectionBytes::owned(data.into_owned()))
}

/// Inflates a zlib stream of `size` bytes into an anonymous map asked to be backed by huge
/// pages: a large debug section then costs a few page faults instead of one per 4 KiB (each
/// fault is dear in a VM, and there are thousands for a system library's DWARF). `None` when
/// the map cannot be made or the stream is not `size` bytes of valid zlib (the caller then
/// inflates the usual way, which reports the error).
fn inflate_zlib(data: &[u8], size: u64) -> Option<SectionBytes> {
    let len = usize::try_from(size).ok()?;
    if len == 0 {
        return None;
    }
    let mut out = memmap2::MmapMut::map_anon(len).ok()?;
    // Advisory: without transparent huge pages the map is ordinary memory.
    let _ = out.advise(memmap2::Advice::HugePage);
    let mut z = flate2::Decompress::new(true);
    match z.decompress(data, &mut out[..], flate2::FlushDecompress::Finish) {
        Ok(flate2::Status::StreamEnd) if z.total_out() == size => {}
        _ => return None,
    }
    let map = out.make_read_only().ok()?;
    Some(SectionBytes::Mapped {
        map: Arc::new(map),
        start: 0,
        end: len,
    })
}

/// A `PT_LOAD` segment.
#[derive(Debug, Clone, Copy)]
struct Segment {
    vaddr: u64,
    offset: u64,
    filesz: u64,
    exec: bool,
}

/// A function symbol from `.symtab` / `.dynsym`, demangled.
#[derive(Debug, Clone)]
struct Symbol {
    addr: u64,
    size: u64,
    name: Arc<str>,
}

/// One unwind section with its address index: `(start, end, entry offset)` sorted by start.
struct CfiTable<S> {
    section: S,
    bases: BaseAddresses,
    index: Vec<(u64, u64, usize)>,
}

/// How to find the caller's register values, for one address: a row of the CFI table with its
/// expressions copied out, so it can be evaluated without borrowing the section.
#[derive(Debug, Clone)]
pub struct Row {
    /// Rule for the canonical frame address.
    pub cfa: Cfa,
    /// Rules of the registers the row mentions; unmentioned registers keep their value.
    pub regs: Vec<(u16, Rule)>,
    /// The return-address column of the CIE.
    pub ra: u16,
    /// The FDE describes a signal trampoline: its caller's pc is exact, not a return address.
    pub signal_frame: bool,
    /// Address size and DWARF version, for evaluating expressions.
    pub encoding: gimli::Encoding,
}

/// Canonical frame address rule.
#[derive(Debug, Clone)]
pub enum Cfa {
    /// Register plus offset.
    RegOffset(u16, i64),
    /// A DWARF expression.
    Expr(R),
}

/// Register rule (see DWARF 5 §6.4.1).
#[derive(Debug, Clone)]
pub enum Rule {
    /// Saved at CFA + n.
    Offset(i64),
    /// Value is CFA + n.
    ValOffset(i64),
    /// Value is in another register.
    Register(u16),
    /// Saved at the address the expression computes.
    Expr(R),
    /// Value is what the expression computes.
    ValExpr(R),
    /// Value unchanged.
    Same,
    /// No rule we can evaluate (architectural rules).
    Unsupported,
}

/// A loaded module.
pub struct Module {
    /// Path of the file.
    pub path: String,
    endian: RunTimeEndian,
    segments: Vec<Segment>,
    eh: Option<CfiTable<EhFrame<R>>>,
    debug: Option<CfiTable<DebugFrame<R>>>,
    symbols: Vec<Symbol>,
    symbolizer: SymbolizerState,
    /// Why CFI could not be read (corrupt section), if so.
    pub cfi_error: Option<String>,
}

/// Function, file and line of an address, inlined calls expanded innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymFrame {
    /// Demangled function name (Rust hashes dropped).
    pub function: Option<Arc<str>>,
    /// Source file (relative to the compilation directory when under it, like `file!()`).
    pub file: Option<Arc<str>>,
    /// Line.
    pub line: Option<u32>,
    /// Whether this frame was inlined into the next one.
    pub inlined: bool,
}

/// Symbolization of one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Symbolized {
    /// DWARF frames, innermost first (empty without debug info).
    pub frames: Vec<SymFrame>,
    /// Containing symbol-table function and the offset into it.
    pub symbol: Option<(Arc<str>, u64)>,
}

struct Symbolizer {
    ctx: addr2line::Context<R>,
}

enum SymbolizerState {
    /// Being built on its own thread.
    Building(std::thread::JoinHandle<Option<Symbolizer>>),
    /// Not started (no thread could be spawned): built on first use from these bytes.
    Later(Arc<memmap2::Mmap>),
    /// Built (`None`: no debug info).
    Ready(Option<Symbolizer>),
}

/// Held (written) by a test to keep symbolizers from being built while it observes deferred
/// stacks.
#[cfg(test)]
pub(crate) static BUILD_GATE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn section_reader(data: SectionBytes, endian: RunTimeEndian) -> R {
    R::new(data, endian)
}

impl Module {
    /// Opens and indexes the ELF file at `path`.
    pub fn load(path: &str) -> Result<Module, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
        // SAFETY: the map is read-only and private; a concurrent truncation of the file could
        // fault, the same risk every debugger and addr2line takes with mapped binaries.
        let map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("cannot map {path}: {e}"))?;
        let map = Arc::new(map);
        Module::parse(path, map)
    }

    fn parse(path: &str, map: Arc<memmap2::Mmap>) -> Result<Module, String> {
        let obj = object::File::parse(&map[..]).map_err(|e| format!("{path}: not ELF: {e}"))?;
        let endian = if obj.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let segments = obj
            .segments()
            .map(|s| {
                let (offset, filesz) = s.file_range();
                let exec = match s.flags() {
                    object::SegmentFlags::Elf { p_flags } => p_flags & object::elf::PF_X != 0,
                    _ => false,
                };
                Segment {
                    vaddr: s.address(),
                    offset,
                    filesz,
                    exec,
                }
            })
            .collect();
        let addr = |name: &str| obj.section_by_name(name).map(|s| s.address());
        let mut bases = BaseAddresses::default();
        if let Some(a) = addr(".text") {
            bases = bases.set_text(a);
        }
        if let Some(a) = addr(".got") {
            bases = bases.set_got(a);
        }
        if let Some(a) = addr(".eh_frame_hdr") {
            bases = bases.set_eh_frame_hdr(a);
        }
        let mut cfi_error = None;
        let eh = obj.section_by_name(".eh_frame").and_then(|s| {
            let data = section_bytes(&map, &s)?;
            let mut section = EhFrame::from(section_reader(data, endian));
            section.set_address_size(if obj.is_64() { 8 } else { 4 });
            let bases = bases.clone().set_eh_frame(s.address());
            match index_cfi(&section, &bases) {
                Ok(index) => Some(CfiTable {
                    section,
                    bases,
                    index,
                }),
                Err(e) => {
                    cfi_error = Some(format!("corrupt .eh_frame: {e}"));
                    None
                }
            }
        });
        let debug = obj.section_by_name(".debug_frame").and_then(|s| {
            let data = section_bytes(&map, &s)?;
            let mut section = DebugFrame::from(section_reader(data, endian));
            section.set_address_size(if obj.is_64() { 8 } else { 4 });
            match index_cfi(&section, &bases) {
                Ok(index) => Some(CfiTable {
                    section,
                    bases: bases.clone(),
                    index,
                }),
                Err(e) => {
                    cfi_error = Some(format!("corrupt .debug_frame: {e}"));
                    None
                }
            }
        });
        let mut symbols: Vec<Symbol> = obj
            .symbols()
            .chain(obj.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0 && s.address() != 0)
            .filter_map(|s| {
                let name = s.name().ok()?;
                Some(Symbol {
                    addr: s.address(),
                    size: s.size(),
                    name: Arc::from(demangle(name).as_str()),
                })
            })
            .collect();
        symbols.sort_by_key(|s| (s.addr, std::cmp::Reverse(s.size)));
        symbols.dedup_by_key(|s| s.addr);
        Ok(Module {
            path: path.to_string(),
            endian,
            segments,
            eh,
            debug,
            symbols,
            symbolizer: SymbolizerState::start(map.clone(), endian),
            cfi_error,
        })
    }

    /// The bias of `m` (a mapping of this file): process address minus module address.
    pub fn bias_for(&self, m: &Mapping) -> Option<u64> {
        // Segments can share a file page (the end of one, the start of the next): prefer the one
        // the mapping starts at, with the same permission to execute.
        let covers = |s: &&Segment| {
            let page_start = s.offset & !0xfff;
            page_start <= m.offset && m.offset < s.offset + s.filesz.max(1)
        };
        let seg = self
            .segments
            .iter()
            .filter(covers)
            .max_by_key(|s| ((s.offset & !0xfff) == m.offset, s.exec == m.exec, s.offset))?;
        Some(
            m.start
                .wrapping_sub(m.offset)
                .wrapping_sub(seg.vaddr.wrapping_sub(seg.offset)),
        )
    }

    /// Whether the module has any unwind table.
    pub fn has_cfi(&self) -> bool {
        self.eh.is_some() || self.debug.is_some()
    }

    /// The CFI row for module address `addr`: `None` when no table covers it, `Some(Err)` when the
    /// covering entry does not parse.
    pub fn row(
        &self,
        ctx: &mut UnwindContext<usize>,
        addr: u64,
    ) -> Option<Result<Row, gimli::Error>> {
        if let Some(t) = &self.eh {
            if let Some(r) = row_in(t, ctx, addr) {
                return Some(r);
            }
        }
        if let Some(t) = &self.debug {
            if let Some(r) = row_in(t, ctx, addr) {
                return Some(r);
            }
        }
        None
    }

    /// The symbol-table function containing module address `addr`, and the offset into it.
    pub fn symbol(&self, addr: u64) -> Option<(Arc<str>, u64)> {
        let i = self.symbols.partition_point(|s| s.addr <= addr);
        // Symbols may nest (aliases, local labels): look back a few for one that covers addr.
        self.symbols[..i]
            .iter()
            .rev()
            .take(8)
            .find(|s| addr < s.addr + s.size)
            .map(|s| (s.name.clone(), addr - s.addr))
    }

    /// Whether [`Module::symbolize`] would run without waiting for the symbolizer's thread.
    pub fn symbolizer_ready(&self) -> bool {
        match &self.symbolizer {
            SymbolizerState::Building(h) => h.is_finished(),
            SymbolizerState::Later(_) | SymbolizerState::Ready(_) => true,
        }
    }

    /// Function, file and line of module address `addr` (`probe` is the address looked up: the
    /// return address minus one for caller frames).
    pub fn symbolize(&mut self, probe: u64) -> Symbolized {
        let symbol = self.symbol(probe);
        let frames = match self.symbolizer.ready(self.endian) {
            Some(s) => s.frames(probe),
            None => Vec::new(),
        };
        Symbolized { frames, symbol }
    }
}

impl SymbolizerState {
    fn start(map: Arc<memmap2::Mmap>, endian: RunTimeEndian) -> SymbolizerState {
        let bytes = map.clone();
        match std::thread::Builder::new()
            .name("ruchytrace-symbols".into())
            .spawn(move || {
                #[cfg(test)]
                let _gate = BUILD_GATE.read();
                build_symbolizer(&bytes, endian)
            }) {
            Ok(h) => SymbolizerState::Building(h),
            Err(_) => SymbolizerState::Later(map),
        }
    }

    /// The symbolizer, waiting for its thread if it is still being built.
    fn ready(&mut self, endian: RunTimeEndian) -> Option<&Symbolizer> {
        let built = match std::mem::replace(self, SymbolizerState::Ready(None)) {
            // A thread that panicked (corrupt DWARF the parser did not expect) leaves no
            // symbolizer: frames keep their symbol-table names.
            SymbolizerState::Building(h) => h.join().ok().flatten(),
            SymbolizerState::Later(map) => build_symbolizer(&map, endian),
            SymbolizerState::Ready(s) => s,
        };
        *self = SymbolizerState::Ready(built);
        match self {
            SymbolizerState::Ready(s) => s.as_ref(),
            _ => None,
        }
    }
}

fn build_symbolizer(map: &Arc<memmap2::Mmap>, endian: RunTimeEndian) -> Option<Symbolizer> {
    let obj = object::File::parse(&map[..]).ok()?;
    let own_debug = obj.section_by_name(".debug_info").is_some();
    let separate = if own_debug {
        None
    } else {
        separate_debug_file(&obj).map(Arc::new)
    };
    let load_from = |m: &Arc<memmap2::Mmap>, o: &object::File<'_>, id: gimli::SectionId| -> R {
        let data = symbolizer_needs(id)
            .then(|| o.section_by_name(id.name()))
            .flatten()
            .and_then(|s| section_bytes(m, &s))
            .unwrap_or_else(|| SectionBytes::owned(Vec::new()));
        section_reader(data, endian)
    };
    let dwarf = match &separate {
        Some(m) => {
            let o = object::File::parse(&m[..]).ok()?;
            gimli::Dwarf::load(|id| Ok::<_, gimli::Error>(load_from(m, &o, id))).ok()?
        }
        None if own_debug => {
            gimli::Dwarf::load(|id| Ok::<_, gimli::Error>(load_from(map, &obj, id))).ok()?
        }
        None => return None,
    };
    let mut dwarf = dwarf;
    // Units sharing an abbreviation table parse it once (as addr2line's own loader does).
    dwarf.populate_abbreviations_cache(gimli::AbbreviationsCacheStrategy::Duplicates);
    let ctx = addr2line::Context::from_dwarf(dwarf).ok()?;
    Some(Symbolizer { ctx })
}

/// Whether the symbolizer reads section `id`: variable locations, macros and type units are
/// never needed for function, file and line, and decompressing them is most of the cost of the
/// first stack in a module with compressed debug info.
fn symbolizer_needs(id: gimli::SectionId) -> bool {
    use gimli::SectionId as S;
    !matches!(
        id,
        S::DebugLoc | S::DebugLocLists | S::DebugMacinfo | S::DebugMacro | S::DebugTypes
    )
}

/// A separate debug file in `/usr/lib/debug/.build-id/` for a stripped system library.
fn separate_debug_file(obj: &object::File<'_>) -> Option<memmap2::Mmap> {
    let id = obj.build_id().ok()??;
    if id.len() < 2 {
        return None;
    }
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let path = format!("/usr/lib/debug/.build-id/{}/{}.debug", &hex[..2], &hex[2..]);
    let f = std::fs::File::open(path).ok()?;
    // SAFETY: read-only private map of a debug file, as in `Module::load`.
    unsafe { memmap2::Mmap::map(&f) }.ok()
}

impl Symbolizer {
    fn frames(&self, probe: u64) -> Vec<SymFrame> {
        let comp_dir = self
            .ctx
            .find_dwarf_and_unit(probe)
            .skip_all_loads()
            .and_then(|u| {
                u.comp_dir
                    .as_ref()
                    .and_then(|d| d.to_string_lossy().ok().map(|d| d.into_owned()))
            });
        let Ok(mut iter) = self.ctx.find_frames(probe).skip_all_loads() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        // Bounded: corrupt DWARF cannot make an endless inline chain.
        while let Ok(Some(f)) = iter.next() {
            if out.len() >= 64 {
                break;
            }
            let function = f
                .function
                .as_ref()
                .and_then(|n| n.raw_name().ok())
                .map(|n| Arc::from(demangle(n.as_ref())));
            let (file, line) = match &f.location {
                Some(l) => (
                    l.file
                        .map(|p| Arc::from(relative_to(p, comp_dir.as_deref()))),
                    l.line,
                ),
                None => (None, None),
            };
            out.push(SymFrame {
                function,
                file,
                line,
                inlined: true,
            });
        }
        if let Some(last) = out.last_mut() {
            last.inlined = false;
        }
        out
    }
}

fn relative_to(path: &str, dir: Option<&str>) -> String {
    if let Some(d) = dir {
        let d = d.trim_end_matches('/');
        if let Some(rest) = path.strip_prefix(d).and_then(|r| r.strip_prefix('/')) {
            return rest.to_string();
        }
    }
    path.to_string()
}

/// Demangles a Rust symbol without its hash (`app::log::flush`); other names are returned as they
/// are.
pub fn demangle(name: &str) -> String {
    match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        Err(_) => name.to_string(),
    }
}

fn index_cfi<S: UnwindSection<R>>(
    section: &S,
    bases: &BaseAddresses,
) -> Result<Vec<(u64, u64, usize)>, gimli::Error>
where
    S::Offset: gimli::UnwindOffset<usize>,
{
    let mut out = Vec::new();
    let mut entries = section.entries(bases);
    while let Some(entry) = entries.next()? {
        if let gimli::CieOrFde::Fde(partial) = entry {
            let offset = partial.offset();
            // An FDE whose CIE is broken is skipped: its range then has no CFI, said so at use.
            if let Ok(fde) = partial.parse(S::cie_from_offset) {
                if fde.len() > 0 {
                    out.push((fde.initial_address(), fde.end_address(), offset));
                }
            }
        }
    }
    out.sort_by_key(|e| e.0);
    Ok(out)
}

fn row_in<S: UnwindSection<R>>(
    t: &CfiTable<S>,
    ctx: &mut UnwindContext<usize>,
    addr: u64,
) -> Option<Result<Row, gimli::Error>>
where
    S::Offset: gimli::UnwindOffset<usize>,
{
    let i = t.index.partition_point(|e| e.0 <= addr);
    let &(_, end, offset) = t.index[..i].last()?;
    if addr >= end {
        return None;
    }
    Some(row_at(t, ctx, addr, offset))
}

fn row_at<S: UnwindSection<R>>(
    t: &CfiTable<S>,
    ctx: &mut UnwindContext<usize>,
    addr: u64,
    offset: usize,
) -> Result<Row, gimli::Error>
where
    S::Offset: gimli::UnwindOffset<usize>,
{
    let fde = t
        .section
        .fde_from_offset(&t.bases, offset.into(), S::cie_from_offset)?;
    let mut table = gimli::UnwindTable::new(&t.section, &t.bases, ctx, &fde)?;
    // Bounded by the FDE's instruction count; each row advances the address.
    while let Some(row) = table.next_row()? {
        if row.contains(addr) {
            let expr = |e: &gimli::UnwindExpression<usize>| e.get(&t.section).map(|x| x.0);
            let cfa = match row.cfa() {
                CfaRule::RegisterAndOffset { register, offset } => {
                    Cfa::RegOffset(register.0, offset.to_owned())
                }
                CfaRule::Expression(e) => Cfa::Expr(expr(e)?),
            };
            let mut regs = Vec::new();
            for (reg, rule) in row.registers() {
                let r = match rule {
                    RegisterRule::Offset(n) => Rule::Offset(n.to_owned()),
                    RegisterRule::ValOffset(n) => Rule::ValOffset(n.to_owned()),
                    RegisterRule::Register(r) => Rule::Register(r.0),
                    RegisterRule::Expression(e) => Rule::Expr(expr(e)?),
                    RegisterRule::ValExpression(e) => Rule::ValExpr(expr(e)?),
                    RegisterRule::SameValue => Rule::Same,
                    _ => Rule::Unsupported,
                };
                regs.push((reg.0, r));
            }
            return Ok(Row {
                cfa,
                regs,
                ra: fde.cie().return_address_register().0,
                signal_frame: fde.is_signal_trampoline(),
                encoding: fde.cie().encoding(),
            });
        }
    }
    Err(gimli::Error::NoUnwindInfoForAddress)
}
