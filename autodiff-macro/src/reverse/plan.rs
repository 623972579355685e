//! What each loop and branch keeps from the forward sweep, and what is recomputed instead.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::Activity;
use crate::ir::{
    Block, Carried, Function, Inst, Loop, LoopKind, Mem, MemInitKind, Op, Operand, Output, Stmt,
    Value, walk_stmts,
};
use crate::rules::Recompute;

/// What a loop's backward sweep needs from its forward iterations.
#[derive(Default)]
pub struct LoopPlan {
    /// Whether the loop has a backward sweep at all.
    pub backward: bool,
    /// Pushed at the end of each forward iteration, popped at the start of each backward one.
    pub record: Vec<Need>,
    /// Recomputed at the start of each backward iteration, in forward order.
    pub remat: Vec<Value>,
    /// The backward loop runs `count` times (else it runs the forward range reversed).
    pub by_count: bool,
    /// The reversed range binds the index: the backward body or a recomputation reads it.
    pub index_read: bool,
    /// How its backward iterations run relative to its forward ones.
    pub schedule: Schedule,
}

/// When a loop's backward iterations run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schedule {
    /// After the whole forward sweep, in reverse order (what every loop can do).
    #[default]
    Separate,
    /// Each right after its forward iteration, in the functions that know the seed before the
    /// forward sweep (`_grad`, `_grad_into`, `_pullback`, `_hvp`): the loop only adds terms
    /// into a sum whose adjoint follows from the seed (see [`super::Backward::seed_chain`]), so
    /// each backward iteration needs only its own iteration's values, which it reads in place
    /// instead of from a tape.
    Interleaved,
}

#[derive(Default)]
pub struct IfPlan {
    pub backward: bool,
    /// What each branch saves for its backward sweep; when both are empty, the backward `if`
    /// tests the forward condition again.
    pub then_record: Vec<Need>,
    pub else_record: Vec<Need>,
    /// The record goes on a tape of its own instead of into the enclosing branch's record: a
    /// record holding the records of `if`s nested in it has a type that nests as deep, and rustc
    /// stops at some depth.
    pub taped: bool,
}

impl IfPlan {
    pub fn by_cond(&self) -> bool {
        self.then_record.is_empty() && self.else_record.is_empty()
    }
}

/// A forward value the backward sweep reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Value(Value),
    /// The pullback closure of a call.
    Pullback(Value),
    /// A whole array, declared in a loop's body and read by recomputations in a loop nested in
    /// it: recorded once per iteration instead of once per element read.
    Mem(Mem),
}

impl Reverse<'_> {
    /// Splits what the backward body reads from the iteration into what is recomputed and what
    /// goes on the tape.
    pub(super) fn plan_loop(&self, loop_: &Loop, body: &[BwdStmt], plan: &mut LoopPlan) {
        let inside = iteration_values(loop_);
        let (range_index, by_count) = match &loop_.kind {
            LoopKind::Range { index, .. } if loop_.exit.is_none() => (Some(*index), false),
            _ => (None, true),
        };
        plan.by_count = by_count;
        let all_needs = self.needs(body);
        let mems_inside = mems_declared_in(&loop_.body);
        let needs: BTreeSet<Need> = all_needs
            .iter()
            .copied()
            .filter(|need| match need {
                Need::Value(v) => inside.contains(v) && Some(*v) != range_index,
                Need::Pullback(v) => inside.contains(v),
                Need::Mem(m) => mems_inside.contains(m),
            })
            .collect();

        // Candidates for recomputation: the needed values (and what they read) that are cheap
        // instructions directly in the body.
        let direct: BTreeMap<Value, &Inst> = loop_
            .body
            .stmts
            .iter()
            .filter_map(|s| match s {
                Stmt::Inst(inst) => Some((inst.result, inst)),
                _ => None,
            })
            .collect();
        let mut remat: BTreeSet<Value> = BTreeSet::new();
        let mut frontier: Vec<Value> = needs
            .iter()
            .filter_map(|n| match n {
                Need::Value(v) => Some(*v),
                Need::Pullback(_) | Need::Mem(_) => None,
            })
            .collect();
        while let Some(v) = frontier.pop() {
            if remat.contains(&v) {
                continue;
            }
            let Some(inst) = direct.get(&v) else { continue };
            if !self.cheap(inst, loop_) {
                continue;
            }
            remat.insert(v);
            for arg in inst.arg_values() {
                if inside.contains(&arg) && Some(arg) != range_index {
                    frontier.push(arg);
                }
            }
        }
        // Keep only those whose inputs are all available: outside the loop, the index, needed
        // anyway (recorded if not recomputed), or recomputed themselves.
        loop {
            let before = remat.len();
            let snapshot = remat.clone();
            remat.retain(|v| {
                direct[v].arg_values().all(|arg| {
                    !inside.contains(&arg)
                        || Some(arg) == range_index
                        || needs.contains(&Need::Value(arg))
                        || snapshot.contains(&arg)
                })
            });
            if remat.len() == before {
                break;
            }
        }
        plan.remat = loop_
            .body
            .stmts
            .iter()
            .filter_map(|s| match s {
                Stmt::Inst(inst) if remat.contains(&inst.result) => Some(inst.result),
                _ => None,
            })
            .collect();
        plan.index_read = range_index.is_some_and(|index| {
            all_needs.contains(&Need::Value(index))
                || plan
                    .remat
                    .iter()
                    .any(|v| direct[v].arg_values().any(|arg| arg == index))
        });
        plan.record = needs
            .into_iter()
            .filter(|need| !matches!(need, Need::Value(v) if remat.contains(v)))
            .collect();
    }

    /// Cheap to compute again in the backward sweep of `loop_`, from the same inputs.
    pub(super) fn cheap(&self, inst: &Inst, loop_: &Loop) -> bool {
        match &inst.op {
            // Reading part of a value the backward sweep has (`row[k]` of `let row = x[s]`).
            Op::Copy | Op::Field(_) | Op::Index => true,
            Op::Load(mem) => self.stable_during(*mem, loop_),
            Op::Opaque(opaque) => opaque.index,
            // Lengths do not change; a parameter's is there in the backward sweep.
            Op::Len(mem) => self.function.mems[self.root(*mem).index()].param.is_some(),
            Op::Rule { rule, .. } => match rule.rule().recompute {
                Recompute::Always => true,
                Recompute::WhenPassive => !self.activity.active(inst.result),
                Recompute::Never => false,
            },
            _ => false,
        }
    }

    /// The captured values the closure recomputes instead (see [`Backward::top_remat`]).
    pub(super) fn top_remat(&self, captured: &BTreeSet<Need>) -> Vec<Value> {
        let params: BTreeSet<Value> = self
            .function
            .params
            .iter()
            .filter_map(|p| match p {
                crate::ir::ParamRef::Value(v) => Some(*v),
                crate::ir::ParamRef::Mem(_) => None,
            })
            .collect();
        let top: Vec<&Inst> = self
            .function
            .body
            .stmts
            .iter()
            .filter_map(|s| match s {
                Stmt::Inst(inst) => Some(inst),
                _ => None,
            })
            .collect();
        let mut rematable = BTreeSet::new();
        for inst in &top {
            let cheap = match &inst.op {
                Op::Len(mem) => self.function.mems[self.root(*mem).index()].param.is_some(),
                Op::Rule { rule, .. } => {
                    rule.rule().recompute != Recompute::Never && !self.activity.active(inst.result)
                }
                _ => false,
            };
            if cheap
                && inst
                    .arg_values()
                    .all(|v| params.contains(&v) || rematable.contains(&v))
            {
                rematable.insert(inst.result);
            }
        }
        let mut needed: BTreeSet<Value> = captured
            .iter()
            .filter_map(|n| match n {
                Need::Value(v) if rematable.contains(v) => Some(*v),
                _ => None,
            })
            .collect();
        for inst in top.iter().rev() {
            if needed.contains(&inst.result) {
                needed.extend(inst.arg_values().filter(|v| rematable.contains(v)));
            }
        }
        top.iter()
            .map(|i| i.result)
            .filter(|v| needed.contains(v))
            .collect()
    }

    /// Whether the backward sweep of `loop_` finds `mem` as the loop's forward iterations read
    /// it: nothing writes it inside the loop, nor after the loop until the end of the region
    /// that declares it (whose end state the backward sweep sees), counting the repetitions of
    /// every loop in between.
    pub(super) fn stable_during(&self, mem: Mem, loop_: &Loop) -> bool {
        let mem = self.root(mem);
        if writes_mem(&loop_.body, mem) || declares_mem(&loop_.body, mem) {
            return false;
        }
        let Some(path) = path_to_loop(&self.function.body, loop_.count) else {
            return false;
        };
        for &(block, position, loop_body) in path.iter().rev() {
            if block.stmts[position + 1..]
                .iter()
                .any(|stmt| stmt.writes(mem))
            {
                return false;
            }
            let declared_here = declares_mem(block, mem)
                || (std::ptr::eq(block, &self.function.body)
                    && self.function.mems[mem.index()].param.is_some());
            if declared_here {
                return true;
            }
            if loop_body && block.stmts.iter().any(|stmt| stmt.writes(mem)) {
                return false;
            }
        }
        false
    }

    /// The struct a field belongs to (writes and declarations are of the whole).
    pub(super) fn root(&self, mem: Mem) -> Mem {
        self.function.mems[mem.index()]
            .field
            .as_ref()
            .map_or(mem, |(root, _)| *root)
    }

    /// The forward values a list of backward statements reads, with what nested regions read
    /// from outside themselves.
    pub(super) fn needs(&self, stmts: &[BwdStmt]) -> BTreeSet<Need> {
        let mut needs = BTreeSet::new();
        for stmt in stmts {
            match stmt {
                BwdStmt::Zero(v) => {
                    if self.function.values[v.index()].aggregate {
                        needs.insert(Need::Value(*v));
                    }
                }
                BwdStmt::ZeroMem { len: Some(len), .. }
                | BwdStmt::ResetMem { len: Some(len), .. } => {
                    needs.insert(Need::Value(*len));
                }
                BwdStmt::ZeroMem { mem, len: None } => match self.mem_init(*mem) {
                    Some(MemInitKind::Repeat { lens, .. }) => {
                        lens.iter().for_each(|len| need_operand(&mut needs, len));
                    }
                    // The adjoint is shaped like the call's result, which may be passive and
                    // otherwise not kept.
                    Some(MemInitKind::FromValue(value)) => {
                        needs.insert(Need::Value(*value));
                    }
                    _ => {}
                },
                BwdStmt::Add { term, .. } => self.term_needs(term, &mut needs),
                BwdStmt::AddAt { at, term, .. } => {
                    if let At::Index(index) = at {
                        need_operand(&mut needs, index);
                    }
                    self.term_needs(term, &mut needs);
                }
                BwdStmt::AddToMem { indices, term, .. } => {
                    indices.iter().for_each(|i| need_operand(&mut needs, i));
                    self.term_needs(term, &mut needs);
                }
                BwdStmt::ResetMemElem { indices, .. } => {
                    indices.iter().for_each(|i| need_operand(&mut needs, i))
                }
                BwdStmt::Pullback { call, targets } => {
                    needs.insert(Need::Pullback(*call));
                    // The arguments the callee takes again.
                    if let Op::Call { by_ref, .. } = &self.defs[call].op {
                        for (arg, by_ref) in self.defs[call].args.iter().zip(by_ref) {
                            if *by_ref {
                                need_operand(&mut needs, arg);
                            }
                        }
                    }
                    for target in targets.iter().flatten() {
                        if let Target::Mem(_, prefix) = target {
                            prefix.iter().for_each(|i| need_operand(&mut needs, i));
                        }
                    }
                }
                BwdStmt::AddSnapshot { prefix, .. } => {
                    prefix.iter().for_each(|i| need_operand(&mut needs, i))
                }
                BwdStmt::AddMemToValue { .. } => {}
                BwdStmt::Reset {
                    like: Some(like), ..
                } => {
                    needs.insert(Need::Value(*like));
                }
                BwdStmt::SeedMem { .. }
                | BwdStmt::AddMem { .. }
                | BwdStmt::ResetMem { len: None, .. }
                | BwdStmt::Reset { like: None, .. }
                | BwdStmt::Output { .. } => {}
                BwdStmt::If(bwd_if) => {
                    let plan = &self.ifs[&bwd_if.record];
                    if plan.by_cond() {
                        need_operand(&mut needs, &bwd_if.cond);
                    } else if !plan.taped {
                        needs.insert(Need::Value(bwd_if.record));
                    }
                    let inner: BTreeSet<Need> = self
                        .needs(&bwd_if.then_stmts)
                        .into_iter()
                        .chain(self.needs(&bwd_if.else_stmts))
                        .collect();
                    let recorded: BTreeSet<Need> = plan
                        .then_record
                        .iter()
                        .chain(&plan.else_record)
                        .copied()
                        .collect();
                    needs.extend(inner.difference(&recorded));
                }
                BwdStmt::Loop(bwd_loop) => self.loop_needs(bwd_loop, &mut needs),
            }
        }
        needs
    }

    /// What a backward loop reads from outside its iterations: its bounds or count, and what
    /// its body and its recomputed values read.
    fn loop_needs(&self, bwd_loop: &BwdLoop, needs: &mut BTreeSet<Need>) {
        let plan = &self.loops[&bwd_loop.id];
        let loop_ = self
            .find_loop(bwd_loop.id)
            .expect("a backward loop has a forward loop");
        let inside = iteration_values(loop_);
        if plan.by_count {
            needs.insert(Need::Value(loop_.count));
        } else if let LoopKind::Range { start, end, .. } = &loop_.kind {
            need_operand(needs, start);
            need_operand(needs, end);
        }
        let mems_inside = mems_declared_in(&loop_.body);
        for need in self.needs(&bwd_loop.body) {
            let outside = match need {
                Need::Value(v) | Need::Pullback(v) => !inside.contains(&v),
                Need::Mem(m) => !mems_inside.contains(&m),
            };
            if outside {
                needs.insert(need);
            }
        }
        // The recomputed values read what they read.
        for v in &plan.remat {
            let def = self.defs[v];
            for arg in def.arg_values() {
                if !inside.contains(&arg) {
                    needs.insert(Need::Value(arg));
                }
            }
            if let Op::Load(mem) = def.op {
                needs.insert(Need::Mem(self.root(mem)));
            }
        }
    }

    pub(super) fn term_needs(&self, term: &Term, needs: &mut BTreeSet<Need>) {
        match term {
            Term::Rule { inst, arg } => {
                let inst = self.defs[inst];
                let Op::Rule { rule, .. } = &inst.op else {
                    return;
                };
                let reads = rule
                    .rule()
                    .reads(*arg)
                    .expect("terms exist for differentiable arguments");
                for (operand, read) in inst.args.iter().zip(reads.args) {
                    if let (Some(value), true) = (operand.value(), read) {
                        needs.insert(Need::Value(value));
                    }
                }
                if reads.result {
                    needs.insert(Need::Value(inst.result));
                }
            }
            Term::MemElem(_, indices) => {
                for index in indices {
                    for v in index.values() {
                        needs.insert(Need::Value(v));
                    }
                }
            }
            Term::Seed(_) | Term::Adjoint(_) | Term::Part { .. } => {}
        }
    }

    pub(super) fn mem_init(&self, mem: Mem) -> Option<&MemInitKind> {
        find_mem_init(&self.function.body, mem)
    }

    pub(super) fn find_loop(&self, id: Value) -> Option<&Loop> {
        find_loop(&self.function.body, id)
    }
}

/// The loop whose backward sweep can run inside its forward sweep, each iteration's right after
/// it, when the seed is known before the forward sweep starts (as in `_grad`, `_grad_into` and
/// `_pullback`), and the values between it and the output (see [`Backward::seed_chain`]).
///
/// A top-level range loop qualifies when its only active carried variable is a sum to which
/// each iteration only adds a term, and that sum reaches the value returned through a chain of
/// statements after the loop that each pass their adjoint on as `dy` or `-dy` (`s + prior`,
/// `c - s`, `let t = s;`): the sum's adjoint is then known from the seed alone, the same in
/// every iteration, and each iteration's backward sweep reads only that iteration's values,
/// which are still there: what the loop would tape is read in place. Of several such loops,
/// the one with the largest body runs interleaved.
pub(super) fn interleavable(
    function: &Function,
    backward: &Backward,
    activity: &Activity,
) -> Option<(Value, Vec<Value>)> {
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
                let chain = seed_chain(after, sum.result, output, &uses)?;
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

/// Whether each iteration of `body` writes every element of the one-dimensional array `mem` it
/// reads before reading it: at the same index in the same block (`a[i] = ..; .. a[i]`), or
/// after a loop `for v in 0..len { a[v] = ..; }` over the array's whole length. Then the
/// adjoint the backward iteration leaves in `mem` is zero, and nothing flows to the iteration
/// before through it.
fn overwritten_before_read(function: &Function, body: &Block, mem: Mem) -> bool {
    let len = match find_mem_init(&function.body, mem) {
        Some(MemInitKind::Repeat { lens, .. }) if lens.len() == 1 => lens[0].value(),
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
    len: Value,
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
fn covers(loop_: &Loop, mem: Mem, len: Value) -> bool {
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
    let from_zero = match start {
        Operand::Index(0) => true,
        Operand::Const(c) => c.tokens.to_string() == "0",
        _ => false,
    };
    from_zero
        && loop_.exit.is_none()
        && end.value() == Some(len)
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

/// The values from `sum` to `output` (`output` excluded) when each is read once, by the next
/// one's top-level statement in `after`, which passes its adjoint on as `dy` or `-dy`.
fn seed_chain(
    after: &[Stmt],
    sum: Value,
    output: Value,
    uses: &BTreeMap<Value, usize>,
) -> Option<Vec<Value>> {
    let mut chain = Vec::new();
    let mut current = sum;
    for stmt in after {
        if current == output {
            break;
        }
        if let Stmt::Inst(inst) = stmt {
            if passes_adjoint(inst, current) {
                chain.push(current);
                current = inst.result;
            }
        }
    }
    let read_once = |v: &Value| uses.get(v) == Some(&1);
    (current == output && read_once(&output) && chain.iter().all(read_once)).then_some(chain)
}

/// Whether `inst` reads `value` once, with an adjoint of `dy` or `-dy`.
fn passes_adjoint(inst: &Inst, value: Value) -> bool {
    let reads: Vec<usize> = (0..inst.args.len())
        .filter(|&k| inst.args[k].values().contains(&value))
        .collect();
    let [k] = reads[..] else {
        return false;
    };
    match &inst.op {
        Op::Copy => true,
        Op::Rule { rule, .. } => {
            inst.args[k].value() == Some(value)
                && matches!(rule.rule().adjoints[k], Some("dy" | "-dy"))
        }
        _ => false,
    }
}

/// How many times each value is read, by statements and by the output.
fn use_counts(function: &Function) -> BTreeMap<Value, usize> {
    let mut uses = BTreeMap::new();
    let mut count = |op: &Operand| {
        for v in op.values() {
            *uses.entry(v).or_insert(0) += 1;
        }
    };
    function
        .body
        .walk(&mut |stmt| operands(stmt).into_iter().for_each(&mut count));
    fn output_operands<'o>(output: &'o Output, out: &mut Vec<&'o Operand>) {
        match output {
            Output::Operand(op) | Output::Passive(op) => out.push(op),
            Output::Tuple(parts) => parts.iter().for_each(|part| output_operands(part, out)),
            Output::Mem(_) => {}
        }
    }
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

/// The values an operand reads.
fn need_operand(needs: &mut BTreeSet<Need>, op: &Operand) {
    for v in op.values() {
        needs.insert(Need::Value(v));
    }
}
