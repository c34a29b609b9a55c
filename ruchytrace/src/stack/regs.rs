//! Register sets the unwinder works on, indexed by DWARF register number, and how the kernel's
//! ptrace register structures map onto them.

/// The machine a register set belongs to; it decides the DWARF numbers of the stack pointer,
/// frame pointer and return address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// x86-64 (System V psABI DWARF numbering: rax=0 … rsp=7, r8..r15=8..15, rip=16).
    X86_64,
    /// AArch64 (DWARF numbering: x0..x30 = 0..30, sp = 31).
    Aarch64,
}

impl Arch {
    /// The architecture this binary was built for (the tracee's: ptrace cannot cross it).
    pub const fn native() -> Arch {
        #[cfg(target_arch = "aarch64")]
        {
            Arch::Aarch64
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            Arch::X86_64
        }
    }

    /// DWARF number of the stack pointer.
    pub const fn sp(self) -> u16 {
        match self {
            Arch::X86_64 => 7,
            Arch::Aarch64 => 31,
        }
    }

    /// DWARF number of the frame pointer (rbp / x29).
    pub const fn fp(self) -> u16 {
        match self {
            Arch::X86_64 => 6,
            Arch::Aarch64 => 29,
        }
    }

    /// DWARF number of the return-address column (rip / x30).
    pub const fn ra(self) -> u16 {
        match self {
            Arch::X86_64 => 16,
            Arch::Aarch64 => 30,
        }
    }
}

/// Number of DWARF registers tracked (enough for both architectures' integer registers).
pub const NREGS: usize = 33;

/// A register set: program counter plus integer registers by DWARF number. `None` is a register
/// whose value is unknown in this frame (never guessed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regs {
    /// Which numbering the registers use.
    pub arch: Arch,
    /// Program counter of this frame.
    pub pc: u64,
    /// Values by DWARF number; only those whose bit is set in `known` are meaningful (half the
    /// size of `[Option<u64>; NREGS]`, and the walk copies a register set per frame).
    vals: [u64; NREGS],
    known: u64,
}

impl Regs {
    /// An empty register set (every register unknown).
    pub fn new(arch: Arch, pc: u64) -> Regs {
        Regs {
            arch,
            pc,
            vals: [0; NREGS],
            known: 0,
        }
    }

    /// Value of DWARF register `reg`, when known.
    pub fn get(&self, reg: u16) -> Option<u64> {
        let v = *self.vals.get(reg as usize)?;
        (self.known & (1 << reg) != 0).then_some(v)
    }

    /// Sets DWARF register `reg` (registers beyond the tracked range are ignored).
    pub fn set(&mut self, reg: u16, value: Option<u64>) {
        if let Some(slot) = self.vals.get_mut(reg as usize) {
            match value {
                Some(v) => {
                    *slot = v;
                    self.known |= 1 << reg;
                }
                None => {
                    *slot = 0;
                    self.known &= !(1 << reg);
                }
            }
        }
    }

    /// Stack pointer, when known.
    pub fn sp(&self) -> Option<u64> {
        self.get(self.arch.sp())
    }

    /// Frame pointer, when known.
    pub fn fp(&self) -> Option<u64> {
        self.get(self.arch.fp())
    }

    /// From the x86-64 `struct user_regs_struct` (`PTRACE_GETREGS`), given as its fields.
    pub fn from_x86_64(r: &X86_64UserRegs) -> Regs {
        let mut out = Regs::new(Arch::X86_64, r.rip);
        let order = [
            r.rax, r.rdx, r.rcx, r.rbx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11,
            r.r12, r.r13, r.r14, r.r15, r.rip,
        ];
        for (i, v) in order.into_iter().enumerate() {
            out.set(i as u16, Some(v));
        }
        out
    }

    /// From the AArch64 `struct user_pt_regs` (`PTRACE_GETREGSET`, `NT_PRSTATUS`).
    pub fn from_aarch64(r: &Aarch64UserRegs) -> Regs {
        let mut out = Regs::new(Arch::Aarch64, r.pc);
        for (i, v) in r.regs.iter().enumerate() {
            out.set(i as u16, Some(*v));
        }
        out.set(31, Some(r.sp));
        out
    }
}

/// The integer registers of x86-64's `struct user_regs_struct` that the unwinder uses (field names
/// as in `<sys/user.h>`), so the mapping can be written and tested on any host.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct X86_64UserRegs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
}

/// AArch64's `struct user_pt_regs` (`<asm/ptrace.h>`): x0..x30, sp, pc, pstate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Aarch64UserRegs {
    /// x0..x30 (x29 is the frame pointer, x30 the link register).
    pub regs: [u64; 31],
    /// Stack pointer.
    pub sp: u64,
    /// Program counter.
    pub pc: u64,
    /// Processor state.
    pub pstate: u64,
}

/// Reads the registers of a ptrace-stopped thread.
#[cfg(target_arch = "x86_64")]
pub fn read_regs(tid: i32) -> Option<Regs> {
    let r = nix::sys::ptrace::getregs(nix::unistd::Pid::from_raw(tid)).ok()?;
    Some(Regs::from_x86_64(&X86_64UserRegs {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rbp: r.rbp,
        rsp: r.rsp,
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rip: r.rip,
    }))
}

/// Reads the registers of a ptrace-stopped thread.
#[cfg(target_arch = "aarch64")]
pub fn read_regs(tid: i32) -> Option<Regs> {
    let r = nix::sys::ptrace::getregs(nix::unistd::Pid::from_raw(tid)).ok()?;
    Some(Regs::from_aarch64(&Aarch64UserRegs {
        regs: r.regs,
        sp: r.sp,
        pc: r.pc,
        pstate: r.pstate,
    }))
}

/// Reads the registers of a ptrace-stopped thread (unsupported architecture: never).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub fn read_regs(_tid: i32) -> Option<Regs> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_user_regs_map_to_dwarf_numbers() {
        let u = X86_64UserRegs {
            rax: 100,
            rdx: 101,
            rcx: 102,
            rbx: 103,
            rsi: 104,
            rdi: 105,
            rbp: 106,
            rsp: 107,
            r8: 108,
            r9: 109,
            r10: 110,
            r11: 111,
            r12: 112,
            r13: 113,
            r14: 114,
            r15: 115,
            rip: 116,
        };
        let r = Regs::from_x86_64(&u);
        for n in 0..=16u16 {
            assert_eq!(r.get(n), Some(100 + u64::from(n)), "DWARF register {n}");
        }
        assert_eq!(r.pc, 116);
        assert_eq!(r.sp(), Some(107));
        assert_eq!(r.fp(), Some(106));
        assert_eq!(r.get(Arch::X86_64.ra()), Some(116));
        assert_eq!(r.get(17), None);
    }

    #[test]
    fn aarch64_user_pt_regs_map_to_dwarf_numbers() {
        let mut regs = [0u64; 31];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = 1000 + i as u64;
        }
        let u = Aarch64UserRegs {
            regs,
            sp: 0x7fff_0000,
            pc: 0x4000_1234,
            pstate: 0x6000_0000,
        };
        let r = Regs::from_aarch64(&u);
        for n in 0..=30u16 {
            assert_eq!(r.get(n), Some(1000 + u64::from(n)), "x{n}");
        }
        assert_eq!(r.get(31), Some(0x7fff_0000), "sp is DWARF 31");
        assert_eq!(r.sp(), Some(0x7fff_0000));
        assert_eq!(r.fp(), Some(1029), "x29 is the frame pointer");
        assert_eq!(
            r.get(Arch::Aarch64.ra()),
            Some(1030),
            "x30 is the link register"
        );
        assert_eq!(r.pc, 0x4000_1234);
        assert_eq!(r.get(32), None, "pc has no DWARF register: kept apart");
    }

    #[test]
    fn unknown_registers_stay_unknown() {
        let mut r = Regs::new(Arch::X86_64, 1);
        assert_eq!(r.sp(), None);
        r.set(7, Some(5));
        r.set(200, Some(9));
        assert_eq!(r.sp(), Some(5));
        assert_eq!(r.get(200), None);
    }
}
