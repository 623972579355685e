//! Which values the generated code reads (liveness).

use std::collections::BTreeSet;

use crate::ir::visit::operands;
use crate::ir::{
    Block, Function, Inst, LoopKind, MemInit, MemInitKind, Op, Operand, Output, ParamRef, Stmt,
    Value,
};
use crate::reverse::{Backward, Need};

/// Which values the generated code reads: the output, what the backward sweep reads, and the
/// arguments of every statement that is kept. Instructions whose result is not read and that
/// have no side effect are dropped.
pub(super) fn used_values(function: &Function, backward: &Backward) -> BTreeSet<Value> {
    let mut used = BTreeSet::new();
    mark_output(&function.output, &mut used);
    used.extend(backward_needs(backward));
    loop {
        let before = used.len();
        mark_block(&function.body, &mut used);
        if used.len() == before {
            break;
        }
    }
    used
}

fn mark_output(output: &Output, used: &mut BTreeSet<Value>) {
    match output {
        Output::Operand(op) | Output::Passive(op) => used.extend(op.values()),
        Output::Tuple(parts) => parts.iter().for_each(|p| mark_output(p, used)),
        Output::Mem(_) => {}
    }
}

/// What the top level of the backward sweep reads, and what every loop and branch records.
fn backward_needs(backward: &Backward) -> BTreeSet<Value> {
    let mut used = BTreeSet::new();
    let mut mark_needs = |needs: &mut dyn Iterator<Item = &Need>| {
        used.extend(needs.filter_map(|need| match need {
            Need::Value(v) => Some(*v),
            _ => None,
        }))
    };
    mark_needs(&mut backward.captured.iter());
    for plan in backward.ifs.values() {
        mark_needs(&mut plan.then_record.iter().chain(&plan.else_record));
    }
    for plan in backward.loops.values() {
        mark_needs(&mut plan.record.iter().chain(&plan.once));
    }
    for plan in backward.loops.values() {
        // Read in place when the loop runs interleaved; else the second is bound to the first.
        for (load, first) in &plan.same {
            used.insert(*load);
            used.insert(*first);
        }
        // The forward loop keeps the index of the winning iteration (a scan after it binds
        // the index itself).
        if let Some(winner) = plan.winner.filter(|_| plan.backward && plan.scan.is_none()) {
            used.insert(winner.index);
        }
    }
    used
}

/// Elements of parameters, and fields of those and of borrowed data, read only for their own
/// fields (`goods[0].price` of a `&[Good]`) or in expressions kept as written (`match
/// it.kind`): borrowed rather than cloned or moved, so that nothing is copied and data structs
/// need not be `Clone`. Data cannot change while the borrow lives.
pub(super) fn element_refs(function: &Function, backward: &Backward) -> BTreeSet<Value> {
    let params: BTreeSet<Value> = function
        .params
        .iter()
        .filter_map(|p| match p {
            ParamRef::Value(v) => Some(*v),
            ParamRef::Mem(_) => None,
        })
        .collect();
    let mut refs = BTreeSet::new();
    // Borrowed data: parameters behind a reference and borrows of data (`it` of `items.iter()`).
    let mut borrowed: BTreeSet<Value> = params
        .iter()
        .copied()
        .filter(|v| function.values[v.index()].by_ref)
        .collect();
    function.body.for_each_inst(&mut |inst| {
        if inst.op.is_borrow() {
            borrowed.insert(inst.result);
        }
    });
    // Copies of borrows are the same borrows (`it: &Item` of a closure's annotated parameter).
    function.body.for_each_inst(&mut |inst| {
        if matches!(inst.op, Op::Copy)
            && inst.args[0].value().is_some_and(|v| borrowed.contains(&v))
        {
            borrowed.insert(inst.result);
        }
    });
    function.body.for_each_inst(&mut |inst| {
        let element_of_param = match inst.op {
            // An element of a parameter or of a borrowed slice (`w[0]` of `traj.windows(2)`).
            Op::Index => inst.args[0]
                .value()
                .is_some_and(|v| params.contains(&v) || borrowed.contains(&v)),
            // A struct parameter's field (`cfg.shape`), or an element of one.
            Op::Load(mem) => function.mems[mem.index()].param.is_some(),
            _ => false,
        };
        if element_of_param && function.values[inst.result.index()].aggregate {
            refs.insert(inst.result);
        }
    });
    let mut other = backward_needs(backward);
    mark_output(&function.output, &mut other);
    other_reads(&function.body, &mut other);
    refs.retain(|v| !other.contains(v));
    // Fields of those, and of borrowed data, read only as above (`recs[i].inner.scale`).
    loop {
        let before = refs.len();
        function.body.for_each_inst(&mut |inst| {
            if matches!(inst.op, Op::Field(_))
                && inst.args[0]
                    .value()
                    .is_some_and(|v| refs.contains(&v) || borrowed.contains(&v))
                && !other.contains(&inst.result)
            {
                refs.insert(inst.result);
            }
        });
        if refs.len() == before {
            break;
        }
    }
    refs
}

/// Every value read other than as the struct of a field access or in an expression kept as
/// written (which reads it through its borrow, see `element_refs`).
fn other_reads(block: &Block, out: &mut BTreeSet<Value>) {
    for stmt in &block.stmts {
        match stmt {
            // The array of an index too (`l.w` of `l.w[j]`): read through its borrow.
            Stmt::Inst(inst) if matches!(inst.op, Op::Field(_) | Op::Index) => {
                out.extend(inst.args[1..].iter().flat_map(Operand::values));
            }
            Stmt::Inst(inst) if matches!(inst.op, Op::Opaque(_)) => {}
            // `weight(&it.kind)`: an argument written `&arg` takes the borrow as it is (a
            // reference to it coerces).
            Stmt::Inst(Inst {
                op: Op::Call { written_ref, .. },
                args,
                ..
            }) => {
                for (arg, by_ref) in args.iter().zip(written_ref) {
                    match arg {
                        // `&pts[*i]`: the index is read as a number all the same.
                        Operand::Mem(..) => out.extend(arg.values()),
                        _ if !by_ref => out.extend(arg.values()),
                        _ => {}
                    }
                }
            }
            Stmt::MemInit(MemInit {
                kind: MemInitKind::FromValue(value),
                ..
            }) => {
                out.insert(*value);
            }
            _ => out.extend(operands(stmt).into_iter().flat_map(Operand::values)),
        }
        match stmt {
            Stmt::If(if_) => {
                other_reads(&if_.then_block, out);
                other_reads(&if_.else_block, out);
            }
            Stmt::Loop(loop_) => other_reads(&loop_.body, out),
            _ => {}
        }
    }
}

pub(super) fn mark_block(block: &Block, used: &mut BTreeSet<Value>) {
    for stmt in block.stmts.iter().rev() {
        match stmt {
            Stmt::Inst(inst) => {
                if used.contains(&inst.result) || impure(&inst.op) {
                    used.extend(inst.arg_values());
                }
            }
            Stmt::Store(store) => {
                used.extend(store.value.values());
                used.extend(store.indices.iter().flat_map(Operand::values));
            }
            Stmt::MemInit(init) => match &init.kind {
                MemInitKind::Repeat { elem, lens, .. } => {
                    used.extend(elem.values());
                    used.extend(lens.iter().flat_map(Operand::values));
                }
                MemInitKind::List { elems, .. } => {
                    used.extend(elems.iter().flat_map(Operand::values))
                }
                MemInitKind::Copy { .. } => {}
                MemInitKind::ZeroLike(like) => used.extend(like.values()),
                MemInitKind::RowsLike { like, cap } => used.extend(
                    like.values()
                        .into_iter()
                        .chain(cap.iter().flat_map(Operand::values)),
                ),
                MemInitKind::FromValue(value) => {
                    used.insert(*value);
                }
                MemInitKind::Placeholder => {}
                MemInitKind::Empty { capacity } => {
                    used.extend(capacity.iter().flat_map(Operand::values));
                }
            },
            Stmt::If(if_) => {
                used.extend(if_.cond.values());
                for phi in &if_.phis {
                    if used.contains(&phi.result) {
                        used.extend(phi.then_value.values());
                        used.extend(phi.else_value.values());
                    }
                }
                mark_block(&if_.then_block, used);
                mark_block(&if_.else_block, used);
            }
            Stmt::Loop(loop_) => {
                if let LoopKind::Range { start, end, .. } = &loop_.kind {
                    used.extend(start.values());
                    used.extend(end.values());
                }
                if let Some(exit) = &loop_.exit {
                    used.extend(exit.values());
                }
                for c in &loop_.carried {
                    if used.contains(&c.result) || used.contains(&c.param) {
                        used.insert(c.result);
                        used.insert(c.param);
                        used.extend(c.next.values());
                        used.extend(c.init.values());
                    }
                }
                mark_block(&loop_.body, used);
            }
        }
    }
}

/// Whether an instruction must run even when its value is not read: calls may have effects,
/// and so may expressions kept as written, unless they are positions, lengths or borrows.
pub(super) fn impure(op: &Op) -> bool {
    match op {
        Op::Call { .. } => true,
        Op::Opaque(opaque) => !opaque.index,
        _ => false,
    }
}
