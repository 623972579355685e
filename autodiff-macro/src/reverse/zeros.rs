//! Which rule instructions and calls have an adjoint that the seed surely reaches.
//!
//! A value computed but not used on the path taken (`let r = x / y; let s = r * z;` with `s`
//! used in the branch not taken) has a zero adjoint, and its rule must contribute zero even
//! where a factor of it is not finite (`d_z += r * d_s` is `inf * 0`, NaN). The rules that can
//! meet an infinite derivative at a finite point guard themselves (`unless_zero`); the cheap
//! ones (`*`, `exp`, `sin`, ...) are guarded by code generation only where this pass cannot
//! show that the seed reaches the adjoint on every path: straight-line code, the hot loops and
//! the seed's example keep `d_a += b * d_y`. A call's pullback, whose callee trusts its seed,
//! is skipped there when its seed is zero.

use std::collections::{BTreeMap, BTreeSet};

use super::{BwdStmt, Term};
use crate::ir::{Inst, Op, Operand, Value};

/// The rule instructions and calls whose adjoint, where their terms are written or their
/// pullback called, has a contribution from the seed on every path through the backward sweep (not one that only a branch or a
/// loop adds, nor one a `max` may send elsewhere).
pub fn reached(stmts: &[BwdStmt], defs: &BTreeMap<Value, &Inst>) -> BTreeSet<Value> {
    let mut walk = Walk {
        defs,
        reached: BTreeSet::new(),
        record: true,
    };
    walk.block(stmts, &mut BTreeSet::new());
    walk.reached
}

struct Walk<'a, 'f> {
    defs: &'a BTreeMap<Value, &'f Inst>,
    reached: BTreeSet<Value>,
    /// Off while a loop's body is walked to find what its iterations start from.
    record: bool,
}

impl Walk<'_, '_> {
    /// `sure`: the values whose adjoint the seed has reached so far on every path.
    fn block(&mut self, stmts: &[BwdStmt], sure: &mut BTreeSet<Value>) {
        for stmt in stmts {
            match stmt {
                // A struct's adjoint with a field zeroed: parts of it may be zero.
                BwdStmt::Zero(value)
                | BwdStmt::Reset { target: value, .. }
                | BwdStmt::ZeroField { target: value, .. } => {
                    sure.remove(value);
                }
                BwdStmt::Add { target, term } => {
                    self.note(term, sure);
                    if self.carries_seed(term, sure) {
                        sure.insert(*target);
                    }
                }
                BwdStmt::AddAt { term, .. } | BwdStmt::AddToMem { term, .. } => {
                    self.note(term, sure);
                }
                // What the callee adds may be zero (an argument it does not use).
                BwdStmt::Pullback { call, .. } if self.record && sure.contains(call) => {
                    self.reached.insert(*call);
                }
                BwdStmt::If(if_) => {
                    let mut then_sure = sure.clone();
                    self.block(&if_.then_stmts, &mut then_sure);
                    let mut else_sure = sure.clone();
                    self.block(&if_.else_stmts, &mut else_sure);
                    *sure = &then_sure & &else_sure;
                }
                // Each backward iteration starts from what the one before left (a carried
                // variable the body overwrites without reading gets nothing), and a loop may
                // run no iteration.
                BwdStmt::Loop(loop_) => {
                    let record = std::mem::replace(&mut self.record, false);
                    let mut start = sure.clone();
                    loop {
                        let mut end = start.clone();
                        self.block(&loop_.body, &mut end);
                        let next = &start & &end;
                        if next == start {
                            break;
                        }
                        start = next;
                    }
                    self.record = record;
                    self.block(&loop_.body, &mut start);
                    *sure = &*sure & &start;
                }
                _ => {}
            }
        }
    }

    /// Records whether the instruction of a rule term is reached where the term is written.
    fn note(&mut self, term: &Term, sure: &BTreeSet<Value>) {
        if let Term::Rule { inst, .. } = term {
            if self.record && sure.contains(inst) {
                self.reached.insert(*inst);
            }
        }
    }

    fn carries_seed(&self, term: &Term, sure: &BTreeSet<Value>) -> bool {
        match term {
            // The seed of a scalar; a part of a tuple's may be zero (the caller ignores it).
            Term::Seed(path) => path.is_empty(),
            Term::Adjoint(value) => sure.contains(value),
            Term::Rule { inst, arg } => {
                sure.contains(inst)
                    && self.defs.get(inst).is_some_and(|inst| match &inst.op {
                        Op::Rule { rule, .. } => {
                            !rule.rule().may_vanish(*arg) || nonzero_power(rule.rule(), inst)
                        }
                        _ => false,
                    })
            }
            // An element of an array's adjoint, a field, the winner of a running `max`: maybe
            // never written.
            Term::MemElem(..) | Term::Part { .. } | Term::Winner { .. } => false,
        }
    }
}

/// `x.powi(2)`: a power that is a literal other than 0, whose derivative (`n x^(n-1)`) is zero
/// only where `x` is, never by convention.
fn nonzero_power(rule: &crate::rules::Rule, inst: &Inst) -> bool {
    rule.name == "powi"
        && matches!(inst.args.get(1), Some(Operand::Const(c))
            if c.tokens.to_string().trim_start_matches('-').parse::<u32>().is_ok_and(|n| n != 0))
}
