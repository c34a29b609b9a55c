//! One unwind step: from a frame's registers to its caller's, by the module's CFI row when there
//! is one, else by the frame-pointer chain (and then the caller is marked as recovered that way).

use gimli::{Evaluation, EvaluationResult, Location, Value};

use super::memory::Memory;
use super::module::{Cfa, Row, Rule, R};
use super::regs::{Arch, Regs};

/// The outcome of one step.
// Not boxed: one step per frame, and an allocation per frame costs more than moving the
// register set.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The caller's registers.
    Caller(Regs),
    /// The CFI says there is no caller (the return address is undefined): the stack is complete.
    End,
    /// The walk cannot go on; the reason is shown to the user.
    Stop(String),
}

/// Largest distance between a frame pointer and the stack pointer we accept as plausible.
const MAX_FRAME: u64 = 16 << 20;

/// Applies a CFI row: computes the CFA, then every register rule, then the caller's pc.
pub fn step_cfi(regs: &Regs, row: &Row, mem: &mut dyn Memory, frame0: bool) -> Step {
    let arch = regs.arch;
    let cfa = match &row.cfa {
        Cfa::RegOffset(reg, off) => match regs.get(*reg) {
            Some(v) => v.wrapping_add(*off as u64),
            None => return Step::Stop(format!("CFA register {reg} unknown")),
        },
        Cfa::Expr(e) => match evaluate(e, row.encoding, regs, mem, None) {
            Some(v) => v,
            None => return Step::Stop("CFA expression could not be evaluated".into()),
        },
    };
    let mut caller = regs.clone();
    for (reg, rule) in &row.regs {
        let value = match rule {
            Rule::Offset(n) => mem.read_u64(cfa.wrapping_add(*n as u64)),
            Rule::ValOffset(n) => Some(cfa.wrapping_add(*n as u64)),
            Rule::Register(r) => regs.get(*r),
            Rule::Expr(e) => {
                evaluate(e, row.encoding, regs, mem, Some(cfa)).and_then(|a| mem.read_u64(a))
            }
            Rule::ValExpr(e) => evaluate(e, row.encoding, regs, mem, Some(cfa)),
            Rule::Same => regs.get(*reg),
            Rule::Unsupported => None,
        };
        if value.is_none() && *reg == row.ra {
            return Step::Stop("return address unreadable".into());
        }
        caller.set(*reg, value);
    }
    let ra_rule = row.regs.iter().any(|(r, _)| *r == row.ra);
    let pc = if ra_rule {
        caller.get(row.ra)
    } else if arch == Arch::Aarch64 && frame0 {
        // AArch64 leaf at entry: the return address is still in the link register.
        regs.get(row.ra)
    } else {
        // The return-address column is undefined: the outermost frame (`_start`, thread start).
        return Step::End;
    };
    let Some(pc) = pc else {
        return Step::Stop("return address unreadable".into());
    };
    if pc == 0 {
        return Step::End;
    }
    caller.set(arch.sp(), Some(cfa));
    caller.pc = pc;
    Step::Caller(caller)
}

/// Follows the frame-pointer chain one link (`[fp]` = caller's fp, `[fp+8]` = return address on
/// both x86-64 and AArch64), if the chain looks like one.
pub fn step_fp(regs: &Regs, mem: &mut dyn Memory) -> Step {
    let (Some(sp), Some(fp)) = (regs.sp(), regs.fp()) else {
        return Step::Stop("no frame pointer".into());
    };
    if fp < sp || fp - sp > MAX_FRAME || fp % 8 != 0 {
        return Step::Stop("no plausible frame pointer".into());
    }
    let (Some(next_fp), Some(ra)) = (mem.read_u64(fp), mem.read_u64(fp.wrapping_add(8))) else {
        return Step::Stop("frame pointer chain unreadable".into());
    };
    if ra == 0 {
        return Step::End;
    }
    let mut caller = Regs::new(regs.arch, ra);
    caller.set(regs.arch.sp(), Some(fp + 16));
    // The caller's frame pointer must lie above this frame, or the chain is not one.
    if next_fp != 0 && next_fp > fp {
        caller.set(regs.arch.fp(), Some(next_fp));
    }
    Step::Caller(caller)
}

/// Evaluates a DWARF expression (CFA expressions, PLT stubs, signal frames), with a step budget.
fn evaluate(
    expr: &R,
    encoding: gimli::Encoding,
    regs: &Regs,
    mem: &mut dyn Memory,
    cfa: Option<u64>,
) -> Option<u64> {
    let mut eval: Evaluation<R> = gimli::Expression(expr.clone()).evaluation(encoding);
    if let Some(c) = cfa {
        eval.set_initial_value(c);
    }
    let mut result = eval.evaluate().ok()?;
    for _ in 0..64 {
        result = match result {
            EvaluationResult::Complete => {
                let pieces = eval.result();
                return match pieces.first()?.location {
                    Location::Address { address } => Some(address),
                    Location::Value { value } => value.to_u64(u64::MAX).ok(),
                    _ => None,
                };
            }
            EvaluationResult::RequiresRegister { register, .. } => {
                let v = regs.get(register.0)?;
                eval.resume_with_register(Value::Generic(v)).ok()?
            }
            EvaluationResult::RequiresMemory { address, size, .. } => {
                let word = mem.read_u64(address)?;
                let v = if size >= 8 {
                    word
                } else {
                    word & ((1u64 << (u32::from(size) * 8)) - 1)
                };
                eval.resume_with_memory(Value::Generic(v)).ok()?
            }
            EvaluationResult::RequiresCallFrameCfa => eval.resume_with_call_frame_cfa(cfa?).ok()?,
            _ => return None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::memory::SliceMemory;

    fn enc() -> gimli::Encoding {
        gimli::Encoding {
            address_size: 8,
            format: gimli::Format::Dwarf32,
            version: 1,
        }
    }

    fn stack(base: u64, words: &[u64]) -> Vec<u8> {
        let _ = base;
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn x86(pc: u64, sp: u64, fp: u64) -> Regs {
        let mut r = Regs::new(Arch::X86_64, pc);
        r.set(7, Some(sp));
        r.set(6, Some(fp));
        r.set(3, Some(0xb));
        r
    }

    #[test]
    fn cfi_step_after_push_rbp() {
        // After `push rbp; mov rbp, rsp`: CFA = rbp + 16, rip at CFA-8, rbp at CFA-16.
        let base = 0x7000;
        let bytes = stack(base, &[0x1111, 0x2222, 0x3333, 0x4444]);
        let mut mem = SliceMemory {
            base,
            bytes: &bytes,
        };
        let row = Row {
            cfa: Cfa::RegOffset(6, 16),
            regs: vec![(16, Rule::Offset(-8)), (6, Rule::Offset(-16))],
            ra: 16,
            signal_frame: false,
            encoding: enc(),
        };
        let regs = x86(0x400100, base - 32, base);
        let Step::Caller(c) = step_cfi(&regs, &row, &mut mem, true) else {
            panic!("expected a caller")
        };
        assert_eq!(c.pc, 0x2222);
        assert_eq!(c.sp(), Some(base + 16));
        assert_eq!(c.fp(), Some(0x1111));
        assert_eq!(
            c.get(3),
            Some(0xb),
            "unmentioned callee-saved registers keep their value"
        );
    }

    #[test]
    fn undefined_return_address_ends_the_stack() {
        let mut mem = SliceMemory {
            base: 0,
            bytes: &[],
        };
        let row = Row {
            cfa: Cfa::RegOffset(7, 8),
            regs: vec![],
            ra: 16,
            signal_frame: false,
            encoding: enc(),
        };
        assert_eq!(
            step_cfi(&x86(1, 0x100, 0), &row, &mut mem, false),
            Step::End
        );
    }

    #[test]
    fn unreadable_return_address_stops_with_reason() {
        let mut mem = SliceMemory {
            base: 0,
            bytes: &[],
        };
        let row = Row {
            cfa: Cfa::RegOffset(7, 8),
            regs: vec![(16, Rule::Offset(-8))],
            ra: 16,
            signal_frame: false,
            encoding: enc(),
        };
        assert_eq!(
            step_cfi(&x86(1, 0x100, 0), &row, &mut mem, false),
            Step::Stop("return address unreadable".into())
        );
        let mut unknown = Regs::new(Arch::X86_64, 1);
        unknown.set(16, Some(1));
        let row2 = Row {
            cfa: Cfa::RegOffset(3, 8),
            ..row
        };
        assert_eq!(
            step_cfi(&unknown, &row2, &mut mem, false),
            Step::Stop("CFA register 3 unknown".into())
        );
    }

    #[test]
    fn cfa_expression_like_a_plt_stub() {
        // DW_OP_breg7 (rsp) 8; DW_OP_breg16 (rip) 0; DW_OP_lit15; DW_OP_and; DW_OP_lit11;
        // DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus — the expression glibc's PLT CIEs carry.
        let code = vec![
            0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22,
        ];
        let expr = R::new(
            crate::stack::module::SectionBytes::owned(code),
            gimli::RunTimeEndian::Little,
        );
        let base = 0x9000;
        let bytes = stack(base, &[0xdead, 0xbeef, 0xf00d]);
        let mut mem = SliceMemory {
            base,
            bytes: &bytes,
        };
        let row = Row {
            cfa: Cfa::Expr(expr),
            regs: vec![(16, Rule::Offset(-8))],
            ra: 16,
            signal_frame: false,
            encoding: enc(),
        };
        // rip & 15 = 4 (< 11): CFA = rsp + 8, return address at rsp.
        let mut regs = x86(0x1004, base, 0);
        regs.set(16, Some(0x1004));
        let Step::Caller(c) = step_cfi(&regs, &row, &mut mem, true) else {
            panic!()
        };
        assert_eq!((c.pc, c.sp()), (0xdead, Some(base + 8)));
        // rip & 15 = 12 (>= 11): CFA = rsp + 16, return address at rsp + 8.
        regs.set(16, Some(0x100c));
        let Step::Caller(c) = step_cfi(&regs, &row, &mut mem, true) else {
            panic!()
        };
        assert_eq!((c.pc, c.sp()), (0xbeef, Some(base + 16)));
    }

    #[test]
    fn frame_pointer_chain() {
        let base = 0x5000;
        // frame at base: [saved fp][return address]
        let bytes = stack(base, &[base + 0x40, 0x401234, 0, 0]);
        let mut mem = SliceMemory {
            base,
            bytes: &bytes,
        };
        let Step::Caller(c) = step_fp(&x86(1, base - 8, base), &mut mem) else {
            panic!()
        };
        assert_eq!(c.pc, 0x401234);
        assert_eq!(c.sp(), Some(base + 16));
        assert_eq!(c.fp(), Some(base + 0x40));
        assert_eq!(
            c.get(3),
            None,
            "other registers are unknown after a frame-pointer step"
        );
        // A frame pointer below the stack pointer is not a chain.
        assert!(matches!(
            step_fp(&x86(1, base, base - 16), &mut mem),
            Step::Stop(_)
        ));
        // Unreadable chain.
        assert!(matches!(
            step_fp(&x86(1, 0x100, 0x200), &mut mem),
            Step::Stop(_)
        ));
    }
}
