//! Which loop runs interleaved ([`Schedule::Interleaved`]): its backward iterations inside its
//! forward ones, in the functions that know the seed before the forward sweep.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::Activity;
use crate::ir::{
    Block, Carried, Function, Inst, Loop, LoopKind, Mem, MemInitKind, Op, Operand, Output, Stmt,
    Value, same_indices, walk_stmts,
};

/// The loop whose backward sweep can run inside its forward sweep, each iteration's right after
/// it, when the seed is known before the forward sweep starts (as in `_grad`, `_grad_into` and
/// `_pullback`), and the values between it and the output (see [`Backward::seed_chain`]).
///
/// A top-level range loop qualifies when its only active carried variable is a sum to which
/// each iteration only adds a term, and that sum reaches the value returned through a chain of
/// statements after the loop that each pass their adjoint on as `dy` times what can be computed
/// before the loop (`s + prior`, `c - s`, `let t = s;`, `s / n as f64`): the sum's adjoint is
/// then known from the seed alone, the same in every iteration, and each iteration's backward sweep reads only that iteration's values,
/// which are still there: what the loop would tape is read in place. Of several such loops,
/// the one with the largest body runs interleaved.
pub(super) fn interleavable(
    function: &Function,
    backward: &Backward,
    activity: &Activity,
) -> Option<(Value, SeedChain)> {
    // The one value the seed reaches (next to passive ones, as in `_hvp`).
    let output = match &function.output {
        Output::Operand(Operand::Value(output)) => *output,
        Output::Tuple(parts) => match parts
            .iter()
            .filter(|part| !matches!(part, Output::Passive(_)))
            .collect::<Vec<_>>()[..]
        {
            [Output::Operand(Operand::Value(output))] => *output,
            _ => return None,
        },
        _ => return None,
    };
    let uses = use_counts(function);
    let stmts = &function.body.stmts;
    stmts
        .iter()
        .enumerate()
        .filter_map(|(position, stmt)| match stmt {
            Stmt::Loop(loop_) => {
                let after = &stmts[position + 1..];
                let sum = interleavable_sum(function, loop_, after, backward, activity)?;
                let chain = seed_chain(
                    loop_,
                    after,
                    sum.result,
                    output,
                    &uses,
                    &backward.written_mems,
                    activity,
                )?;
                // The backward statements of what follows the loop run after it; an array
                // declared before the loop keeps its length and its adjoint from the loop on.
                let mut declared_after = BTreeSet::new();
                let mut written_after = BTreeSet::new();
                walk_stmts(after, &mut |stmt| match stmt {
                    Stmt::MemInit(init) if init.declare => {
                        declared_after.insert(init.mem);
                    }
                    Stmt::MemInit(init) => {
                        written_after.insert(init.mem);
                    }
                    Stmt::Store(store) => {
                        written_after.insert(store.mem);
                    }
                    _ => {}
                });
                let written_after = !written_after.is_subset(&declared_after);
                // The adjoint of an array assigned whole is as long as the array at the end,
                // a length the code after the loop reads: it must exist before the loop.
                let late = defined_in_stmts(after);
                let late_length = backward.stmts.iter().any(|stmt| {
                    matches!(stmt, BwdStmt::ZeroMem { len: Some(len), .. } if late.contains(len))
                });
                let mut size = 0usize;
                loop_.body.walk(&mut |_| size += 1);
                (!written_after && !late_length).then_some((size, loop_.count, chain))
            }
            _ => None,
        })
        .max_by_key(|(size, ..)| *size)
        .map(|(_, id, chain)| (id, chain))
}

/// The loop's sum, if the loop can run interleaved wherever its sum's adjoint is known first.
fn interleavable_sum<'l>(
    function: &Function,
    loop_: &'l Loop,
    after: &[Stmt],
    backward: &Backward,
    activity: &Activity,
) -> Option<&'l Carried> {
    let plan = backward.loops.get(&loop_.count)?;
    if !matches!(loop_.kind, LoopKind::Range { .. })
        || loop_.exit.is_some()
        || !plan.backward
        || plan.by_count
        // Which iteration wins is known when the loop ends.
        || plan.winner.is_some()
    {
        return None;
    }
    let active: Vec<&Carried> = loop_
        .carried
        .iter()
        .filter(|c| activity.active(c.param) || activity.active(c.result))
        .collect();
    let [sum] = active[..] else {
        return None;
    };
    // An array the body writes and a later iteration reads carries derivatives from one
    // iteration to the one before, like a carried variable: its adjoint is not known until the
    // later iterations' backward sweeps have run. Not so for an array every iteration
    // overwrites before it reads it (a buffer hoisted out of the loop), if nothing after the
    // loop reads it.
    let local = mems_declared_in(&loop_.body);
    let mut written = BTreeSet::new();
    loop_.body.walk(&mut |stmt| match stmt {
        Stmt::Store(store) => {
            written.insert(store.mem);
        }
        Stmt::MemInit(init) if !init.declare => {
            written.insert(init.mem);
        }
        _ => {}
    });
    let carries_an_array = written.into_iter().any(|mem| {
        !local.contains(&mem)
            && activity.active_mem(mem)
            && (mentions(after, mem) || !overwritten_before_read(function, &loop_.body, mem))
    });
    (!carries_an_array && adds_only(&loop_.body, sum)).then_some(sum)
}

/// The snapshots that the interleaved loop `id` can read in place: an array passed by
/// reference to a call (`lse(&buf)`) is copied so that the call's pullback, which takes the
/// argument again, sees it as the call did. Interleaved, a call in the loop's body itself (not
/// in a loop or branch inside it) has its pullback run in the same iteration, right after the
/// forward statements that follow it; when none of those writes the array, it still holds what
/// the call read (nothing stores into it or takes it whole: only loads and other calls' copies
/// read it). The call and its pullback then take the array itself, and the pullback adds
/// into the array's adjoint directly: no copy and no adjoint of the copy per iteration.
pub(super) fn borrowed_snapshots(function: &Function, id: Value) -> BTreeSet<Value> {
    let Some(loop_) = crate::ir::visit::find_loop(&function.body, id) else {
        return BTreeSet::new();
    };
    let uses = use_counts(function);
    let stmts = &loop_.body.stmts;
    let mut borrowed = BTreeSet::new();
    for (position, stmt) in stmts.iter().enumerate() {
        let Stmt::Inst(Inst {
            op: Op::Snapshot(mem),
            result,
            ..
        }) = stmt
        else {
            continue;
        };
        let after = &stmts[position + 1..];
        let read_by_a_call = uses.get(result) == Some(&1)
            && after.iter().any(|stmt| {
                matches!(stmt, Stmt::Inst(Inst { op: Op::Call { by_ref, .. }, args, .. })
                if args.iter().zip(by_ref).any(|(arg, by_ref)| {
                    *by_ref && matches!(arg, Operand::Value(v) if v == result)
                }))
            });
        // Besides stores, anything that takes the array itself may change or move it: a
        // method the macro passes through (`buf.fill(0.0)`), a call taking it by value.
        let mut touched = false;
        walk_stmts(after, &mut |stmt| {
            touched |= match stmt {
                Stmt::Store(store) => store.mem == *mem,
                Stmt::MemInit(init) => init.mem == *mem,
                _ => false,
            } || operands(stmt)
                .into_iter()
                .any(|op| matches!(op, Operand::Mem(m, _) if m == mem));
        });
        if read_by_a_call && !touched {
            borrowed.insert(*result);
        }
    }
    borrowed
}

/// Whether each iteration of `body` writes every element of the one-dimensional array `mem` it
/// reads before reading it: at the same index in the same block (`a[i] = ..; .. a[i]`), or
/// after a loop `for v in 0..len { a[v] = ..; }` over the array's whole length. Then the
/// adjoint the backward iteration leaves in `mem` is zero, and nothing flows to the iteration
/// before through it.
fn overwritten_before_read(function: &Function, body: &Block, mem: Mem) -> bool {
    let len = match find_mem_init(&function.body, mem) {
        Some(MemInitKind::Repeat { lens, .. }) if lens.len() == 1 => Some(&lens[0]),
        _ => None,
    };
    // The array keeps its declared length: nothing pushes onto it or assigns it whole.
    let mut resized = false;
    function.body.walk(&mut |stmt| {
        resized |= match stmt {
            Stmt::Store(store) => store.mem == mem && store.push,
            Stmt::MemInit(init) => init.mem == mem && !init.declare,
            _ => false,
        };
    });
    match len {
        Some(len) if !resized => written_before_read(body, mem, len, false, &mut Vec::new()),
        _ => false,
    }
}

/// [`overwritten_before_read`] from a point where the whole array is `covered` (written) or
/// the elements at the indices `elems` are.
fn written_before_read(
    block: &Block,
    mem: Mem,
    len: &Operand,
    mut covered: bool,
    elems: &mut Vec<Value>,
) -> bool {
    let depth = elems.len();
    for stmt in &block.stmts {
        let reads_whole = operands(stmt)
            .into_iter()
            .any(|op| matches!(op, Operand::Mem(m, _) if *m == mem))
            || matches!(stmt, Stmt::Inst(inst) if matches!(inst.op, Op::Snapshot(m) if m == mem))
            || matches!(stmt, Stmt::MemInit(init)
                if matches!(init.kind, MemInitKind::Copy { src } if src == mem));
        if reads_whole && !covered {
            return false;
        }
        match stmt {
            Stmt::Inst(inst) if matches!(inst.op, Op::Load(m) if m == mem) => {
                let at_written = matches!(&inst.args[..], [Operand::Value(i)] if elems.contains(i));
                if !covered && !at_written {
                    return false;
                }
            }
            Stmt::Store(store) if store.mem == mem => match &store.indices[..] {
                [Operand::Value(i)] if !store.push => elems.push(*i),
                [_] if !store.push => {}
                _ => return false,
            },
            Stmt::MemInit(init) if init.mem == mem => return false,
            Stmt::If(if_) => {
                for branch in [&if_.then_block, &if_.else_block] {
                    if !written_before_read(branch, mem, len, covered, &mut elems.clone()) {
                        return false;
                    }
                }
            }
            Stmt::Loop(inner) => {
                if !written_before_read(&inner.body, mem, len, covered, &mut elems.clone()) {
                    return false;
                }
                covered |= covers(inner, mem, len);
            }
            _ => {}
        }
    }
    elems.truncate(depth);
    true
}

/// `for v in 0..len { a[v] = ..; }`: every iteration stores at its index, whatever else it
/// does.
fn covers(loop_: &Loop, mem: Mem, len: &Operand) -> bool {
    let LoopKind::Range {
        index,
        start,
        end,
        inclusive: false,
        ..
    } = &loop_.kind
    else {
        return false;
    };
    start.is_zero()
        && loop_.exit.is_none()
        && same_indices(std::slice::from_ref(end), std::slice::from_ref(len))
        && loop_.body.stmts.iter().any(|stmt| {
            matches!(stmt, Stmt::Store(store) if store.mem == mem && !store.push
                && matches!(&store.indices[..], [Operand::Value(i)] if i == index))
        })
}

/// Whether a statement of `stmts` (or of the blocks inside them) reads or writes `mem`, other
/// than its length.
fn mentions(stmts: &[Stmt], mem: Mem) -> bool {
    let mut found = false;
    walk_stmts(stmts, &mut |stmt| {
        found |= operands(stmt)
            .into_iter()
            .any(|op| matches!(op, Operand::Mem(m, _) if *m == mem))
            || match stmt {
                Stmt::Inst(inst) => matches!(inst.op, Op::Load(m) | Op::Snapshot(m) if m == mem),
                Stmt::Store(store) => store.mem == mem,
                Stmt::MemInit(init) => {
                    init.mem == mem || matches!(init.kind, MemInitKind::Copy { src } if src == mem)
                }
                Stmt::If(_) | Stmt::Loop(_) => false,
            };
    });
    found
}

/// The chain from `sum` to `output` (see [`SeedChain`]): each value read once, by the next one's
/// top-level statement in `after`, whose adjoint for it reads only `dy` and operands that can be
/// computed before the loop.
fn seed_chain(
    loop_: &Loop,
    after: &[Stmt],
    sum: Value,
    output: Value,
    uses: &BTreeMap<Value, usize>,
    written_mems: &BTreeSet<Mem>,
    activity: &Activity,
) -> Option<SeedChain> {
    let defs: BTreeMap<Value, &Inst> = after
        .iter()
        .filter_map(|stmt| match stmt {
            Stmt::Inst(inst) => Some((inst.result, inst)),
            _ => None,
        })
        .collect();
    // What the loop itself computes is not there before it either (`s * count` with `count`
    // carried by the loop).
    let mut late = defined_in_stmts(after);
    late.extend(loop_.carried.iter().map(|c| c.result));
    late.insert(loop_.count);
    let early = Early {
        defs: &defs,
        late: &late,
        late_mems: &mems_declared_in_stmts(after),
        written_mems,
        activity,
    };
    let mut chain = SeedChain::default();
    let mut current = sum;
    for stmt in after {
        if current == output {
            break;
        }
        let Stmt::Inst(inst) = stmt else {
            continue;
        };
        let Some(reads) = adjoint_reads(inst, current) else {
            continue;
        };
        for operand in reads {
            for v in operand.values() {
                if late.contains(&v) && !precompute(v, &early, &mut chain.precomputed) {
                    return None;
                }
            }
        }
        chain.values.push(current);
        current = inst.result;
    }
    let read_once = |v: &Value| uses.get(v) == Some(&1);
    (current == output && read_once(&output) && chain.values.iter().all(read_once)).then_some(chain)
}

/// When `inst` reads `value` once and its adjoint for it is `dy` times something that does not
/// depend on `value` or on the result (`s + t`, `c - s`, `s * c`, `s / n`, a copy): the other
/// operands that adjoint reads.
fn adjoint_reads(inst: &Inst, value: Value) -> Option<Vec<&Operand>> {
    let reads: Vec<usize> = (0..inst.args.len())
        .filter(|&k| inst.args[k].values().contains(&value))
        .collect();
    let [k] = reads[..] else {
        return None;
    };
    match &inst.op {
        Op::Copy => Some(Vec::new()),
        Op::Rule { rule, .. } if inst.args[k].value() == Some(value) => {
            let reads = rule.rule().reads(k)?;
            if reads.result || reads.args[k] {
                return None;
            }
            Some(
                (0..inst.args.len())
                    .filter(|&j| reads.args[j])
                    .map(|j| &inst.args[j])
                    .collect(),
            )
        }
        _ => None,
    }
}

/// What tells whether a value defined after the loop can be computed before it.
struct Early<'a> {
    /// The top-level instructions after the loop.
    defs: &'a BTreeMap<Value, &'a Inst>,
    /// Every value defined after the loop.
    late: &'a BTreeSet<Value>,
    /// The arrays declared after the loop.
    late_mems: &'a BTreeSet<Mem>,
    /// The arrays written after their declaration (their lengths may change).
    written_mems: &'a BTreeSet<Mem>,
    activity: &'a Activity,
}

/// Whether the late value `v` can be computed before the loop: a passive rule, copy, position
/// arithmetic, or length of an array that keeps its length, over values that can, each defined
/// at the top level after the loop. Adds what it needs to `out`, in order.
fn precompute(v: Value, early: &Early, out: &mut Vec<Value>) -> bool {
    if out.contains(&v) {
        return true;
    }
    let Some(inst) = early.defs.get(&v) else {
        return false;
    };
    let pure = match inst.op {
        Op::Rule { .. } | Op::Copy => true,
        Op::Len(mem) => !early.late_mems.contains(&mem) && !early.written_mems.contains(&mem),
        Op::Opaque(ref opaque) => opaque.index,
        _ => false,
    };
    if !pure || early.activity.active(v) {
        return false;
    }
    for operand in &inst.args {
        if matches!(operand, Operand::Mem(..) | Operand::Range(..)) {
            return false;
        }
        for w in operand.values() {
            if early.late.contains(&w) && !precompute(w, early, out) {
                return false;
            }
        }
    }
    out.push(v);
    true
}

/// How many times each value is read, by statements and by the output.
/// The operands the function returns.
pub(super) fn output_operands<'o>(output: &'o Output, out: &mut Vec<&'o Operand>) {
    match output {
        Output::Operand(op) | Output::Passive(op) => out.push(op),
        Output::Tuple(parts) => parts.iter().for_each(|part| output_operands(part, out)),
        Output::Mem(_) => {}
    }
}

pub(super) fn use_counts(function: &Function) -> BTreeMap<Value, usize> {
    let mut uses = BTreeMap::new();
    let mut count = |op: &Operand| {
        for v in op.values() {
            *uses.entry(v).or_insert(0) += 1;
        }
    };
    function
        .body
        .walk(&mut |stmt| operands(stmt).into_iter().for_each(&mut count));
    let mut outputs = Vec::new();
    output_operands(&function.output, &mut outputs);
    outputs.into_iter().for_each(count);
    uses
}

/// Each iteration only adds terms into the carried `s`: its value at the end of the body comes
/// from its value at the start through statements of the body that each read the one before
/// once and pass their adjoint back unchanged: `s + term`, `term + s`, `s - term`, or a nested
/// loop that only adds into a variable it starts as the sum so far. The sum's adjoint is then
/// the same in every iteration.
fn adds_only(body: &Block, sum: &Carried) -> bool {
    let mut reads = BTreeMap::<Value, usize>::new();
    body.walk(&mut |stmt| {
        for op in operands(stmt) {
            for v in op.values() {
                *reads.entry(v).or_insert(0) += 1;
            }
        }
    });
    let mut current = sum.param;
    for stmt in &body.stmts {
        let next = match stmt {
            Stmt::Inst(inst) => match &inst.op {
                Op::Rule { rule, .. }
                    if inst.args.iter().enumerate().any(|(k, arg)| {
                        arg.value() == Some(current) && rule.rule().adjoints[k] == Some("dy")
                    }) =>
                {
                    Some(inst.result)
                }
                _ => None,
            },
            Stmt::Loop(inner)
                if matches!(inner.kind, LoopKind::Range { .. }) && inner.exit.is_none() =>
            {
                match inner
                    .carried
                    .iter()
                    .find(|c| c.init.value() == Some(current))
                {
                    Some(c) if adds_only(&inner.body, c) => Some(c.result),
                    Some(_) => return false,
                    None => None,
                }
            }
            _ => None,
        };
        if let Some(next) = next {
            // The statement that adds is the only one that reads the sum so far.
            if reads.get(&current) != Some(&1) {
                return false;
            }
            current = next;
        }
    }
    current != sum.param && !reads.contains_key(&current) && sum.next.value() == Some(current)
}
