//! Loop-local `vec![elem; len]`s whose storage the next iteration reuses: each iteration of the
//! primal allocates and frees them, and the allocations can cost more than the arithmetic (the
//! GMM objective's `xc`, `qxc` and `main_term`, per data point and component).
//!
//! The array is built by `reuse_vec(&mut pool, elem, len)`, the same elements in storage taken
//! from `pool` when it has some, and goes back to the pool where the code is done with it: at
//! the end of its forward iteration, or, when the loop tapes it whole, at the end of its
//! backward iteration, if that runs before the next forward one (inside the loop whose backward
//! iterations are interleaved with its forward ones); else it is dropped as before.

use std::collections::{BTreeMap, BTreeSet};

use crate::ir::visit::{find_loop, operands};
use crate::ir::{Function, Loop, Mem, MemInitKind, Operand, Output, Stmt, Value};
use crate::reverse::{Backward, Need};

/// A loop-local `Vec` built from a pool.
#[derive(Clone, Copy)]
pub(super) struct Pooled {
    /// The loop whose body declares it, by its count value.
    pub(super) of: Value,
    /// Its backward iteration pops it from the tape, and gives it back.
    pub(super) taped: bool,
}

/// The `Vec`s built from pools. `interleaved`: the loop whose backward iterations run inside
/// its forward ones, when the code being written has one.
pub(super) fn pooled_vecs(
    function: &Function,
    backward: &Backward,
    interleaved: Option<Value>,
) -> BTreeMap<Mem, Pooled> {
    let mut declared: Vec<(Mem, Value)> = Vec::new();
    function.body.walk(&mut |stmt| {
        if let Stmt::Loop(loop_) = stmt {
            for stmt in &loop_.body.stmts {
                if let Stmt::MemInit(init) = stmt {
                    let one_vec = matches!(&init.kind,
                        MemInitKind::Repeat { lens, vecs, .. } if lens.len() == 1 && vecs[..] == [true]);
                    if init.declare && one_vec {
                        declared.push((init.mem, loop_.count));
                    }
                }
            }
        }
    });
    let escaping = escaping_mems(function);
    let in_interleaved: BTreeSet<Value> = interleaved
        .and_then(|id| find_loop(&function.body, id))
        .map(loops_in)
        .unwrap_or_default();
    let mut pooled = BTreeMap::new();
    for (mem, of) in declared {
        if escaping.contains(&mem) {
            continue;
        }
        // Where the backward sweep keeps it whole: on the tape of its own loop, or nowhere.
        let kept = Need::Mem(mem);
        let elsewhere = backward.captured.contains(&kept)
            || backward.loops.iter().any(|(id, plan)| {
                (*id != of && plan.record.contains(&kept)) || plan.once.contains(&kept)
            })
            || backward
                .ifs
                .values()
                .any(|plan| plan.then_record.contains(&kept) || plan.else_record.contains(&kept));
        // The interleaved loop reads its iteration's arrays in place: its record is for
        // `__f_vjp`.
        let taped = Some(of) != interleaved
            && backward
                .loops
                .get(&of)
                .is_some_and(|plan| plan.record.contains(&kept));
        if elsewhere || (taped && !in_interleaved.contains(&of)) {
            continue;
        }
        pooled.insert(mem, Pooled { of, taped });
    }
    pooled
}

/// The memories used other than through elements, lengths and copies (a call takes an array
/// through a snapshot, which copies it or borrows it): taken whole by a call, a method or an
/// opaque expression (which may move them), assigned whole, or returned.
fn escaping_mems(function: &Function) -> BTreeSet<Mem> {
    let mut out = BTreeSet::new();
    function.body.walk(&mut |stmt| {
        for operand in operands(stmt) {
            if let Operand::Mem(mem, _) = operand {
                out.insert(*mem);
            }
        }
        if let Stmt::MemInit(init) = stmt {
            if !init.declare {
                out.insert(init.mem);
            }
        }
    });
    fn output_mems(output: &Output, out: &mut BTreeSet<Mem>) {
        match output {
            Output::Mem(mem) => {
                out.insert(*mem);
            }
            Output::Tuple(parts) => parts.iter().for_each(|part| output_mems(part, out)),
            Output::Operand(_) | Output::Passive(_) => {}
        }
    }
    output_mems(&function.output, &mut out);
    out
}

/// The loop and the loops inside it, by their count values.
fn loops_in(loop_: &Loop) -> BTreeSet<Value> {
    let mut out = BTreeSet::from([loop_.count]);
    loop_.body.walk(&mut |stmt| {
        if let Stmt::Loop(inner) = stmt {
            out.insert(inner.count);
        }
    });
    out
}
