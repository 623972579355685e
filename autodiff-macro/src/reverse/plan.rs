//! What each loop and branch keeps from the forward sweep, and what is recomputed instead.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use crate::ir::visit::operands;
use crate::ir::{Inst, Loop, LoopKind, Mem, MemInitKind, Op, Operand, Stmt, Value, same_indices};
use crate::rules::Recompute;

/// What a loop's backward sweep needs from its forward iterations.
#[derive(Default)]
pub struct LoopPlan {
    /// Whether the loop has a backward sweep at all.
    pub backward: bool,
    /// Pushed at the end of each forward iteration, popped at the start of each backward one.
    pub record: Vec<Need>,
    /// Read from arrays the loop does not write, at indices fixed for the whole loop
    /// (`x[i]` in a loop over `j`): the same in every iteration, so kept once per run of the
    /// loop.
    pub once: Vec<Need>,
    /// Recomputed at the start of each backward iteration, in forward order.
    pub remat: Vec<Value>,
    /// Loads that read what a recorded load of the same iteration read (`q[l] * q[l]`, the same
    /// array at the same indices, not written in between): `(load, recorded)`, bound to the
    /// recorded value instead of taking a place on the tape of their own.
    pub same: Vec<(Value, Value)>,
    /// The backward loop runs `count` times (else it runs the forward range reversed).
    pub by_count: bool,
    /// The reversed range binds the index: the backward body or a recomputation reads it.
    pub index_read: bool,
    /// How its backward iterations run relative to its forward ones.
    pub schedule: Schedule,
    /// Interleaved: the snapshots of arrays passed to calls (`f(&buf)`) that the call and its
    /// pullback read in place instead (see `interleave::borrowed_snapshots`).
    pub borrowed: BTreeSet<Value>,
    /// Array elements the backward loop only adds into, each at indices that are the same in
    /// every iteration (`d_x[i] += ..` in a loop over `j`): summed in a local and added to the
    /// array once after the loop, so that the sum stays in a register (through the array, each
    /// addition would wait for the store of the one before).
    pub sums: Vec<(Mem, Vec<Operand>)>,
    /// Carried integers the body only steps by constants (`idx += 1`), which the backward loop
    /// counts back from their values after the loop instead of taping them.
    pub counters: Vec<Counter>,
    /// The loop's running maximum or minimum, kept as the iteration where it last changed.
    pub winner: Option<Winner>,
    /// With a winner, nothing else in the loop has an adjoint: the backward sweep runs the
    /// winning iteration alone, as every other one would only add zeros.
    pub sparse: bool,
    /// Sparse, with a winner whose other argument is cheap to compute again from what the loop
    /// does not change: the instructions of the body that compute it, in order. The forward
    /// loop then keeps nothing (a loop that only takes a maximum compiles as the primal's does,
    /// vectorised), and a scan after it finds the winning iteration from the final value, stopping
    /// there (see [`Winner`]).
    pub scan: Option<Vec<Value>>,
}

/// A carried variable that each iteration replaces by the result of a rule that
/// [`selects`](crate::rules::Rule::selects) between it and another value, `m = m.max(v)`, and
/// that the body reads nowhere else. Its adjoint after the loop goes whole to one place: to `v`
/// in the last iteration where `v` won (where the result was not the running value), or to the
/// value before the loop if `v` never won. The forward loop keeps that iteration's index
/// (`Need::Winner`), so nothing is taped per iteration and the backward sweep compares indices
/// instead of values.
///
/// The index can also be found after the loop from the final value `m` ([`LoopPlan::scan`]).
/// With the running value first (`m.max(v)`, ties keep it), `v` wins where it exceeds the
/// running value, so the last win is the first iteration whose `v == m`, and there is none if
/// `m` equals the start value. With it second (`v.max(m)`, ties go to `v`), `v` wins wherever it
/// is at least the running value, so the last win is the last iteration whose `v == m` (`min`
/// mirrors both). The two agree for every input whose result is a number; when every value is
/// NaN, the scan gives the adjoint to the start value.
#[derive(Clone, Copy, Debug)]
pub struct Winner {
    /// The loop, by its count value.
    pub of: Value,
    /// The instruction that computes the next running value.
    pub inst: Value,
    /// Which of its two arguments is the running value.
    pub running: usize,
    /// The loop's index.
    pub index: Value,
}

/// A carried variable whose value at the end of an iteration is its value at the start plus a
/// constant integer `step` (positive or negative).
#[derive(Clone, Copy, Debug)]
pub struct Counter {
    pub param: Value,
    pub result: Value,
    pub step: i128,
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
    /// Borrows of the branch (`&nbrs[i]`) its backward sweep computes again, in forward order,
    /// after binding the record (which holds what they read): a borrow is never taped.
    pub then_remat: Vec<Value>,
    pub else_remat: Vec<Value>,
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
    /// The index of the iteration where the running value of the loop with this `count` last
    /// changed ([`Winner`]); `None` if it never did.
    Winner(Value),
}

impl Need {
    /// Whether the forward sweep computes it inside the region whose values are `inside` and
    /// whose declared memories are `mems_inside`.
    pub fn inside(&self, inside: &BTreeSet<Value>, mems_inside: &BTreeSet<Mem>) -> bool {
        match self {
            Need::Value(v) | Need::Pullback(v) | Need::Winner(v) => inside.contains(v),
            Need::Mem(m) => mems_inside.contains(m),
        }
    }
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
        plan.counters = if loop_.exit.is_none() {
            loop_
                .carried
                .iter()
                .filter(|c| all_needs.contains(&Need::Value(c.param)))
                .filter_map(|c| self.counter(loop_, c))
                .collect()
        } else {
            Vec::new()
        };
        let mems_inside = mems_declared_in(&loop_.body);
        let mut needs: BTreeSet<Need> = all_needs
            .iter()
            .copied()
            .filter(|need| match need {
                Need::Value(v) => inside.contains(v) && Some(*v) != range_index,
                _ => need.inside(&inside, &mems_inside),
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
                Need::Pullback(_) | Need::Mem(_) | Need::Winner(_) => None,
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
            let borrow = inst.op.is_borrow();
            for arg in inst.arg_values() {
                if inside.contains(&arg) && Some(arg) != range_index {
                    frontier.push(arg);
                    // A borrow is recomputed whatever it reads, so that is kept.
                    if borrow {
                        needs.insert(Need::Value(arg));
                    }
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
        plan.remat = in_body_order(loop_, &remat);
        plan.index_read = range_index.is_some_and(|index| {
            all_needs.contains(&Need::Value(index))
                || plan
                    .remat
                    .iter()
                    .any(|v| direct[v].arg_values().any(|arg| arg == index))
        });
        let counted: BTreeSet<Value> = plan.counters.iter().map(|c| c.param).collect();
        let invariant = |v: &Value| match direct.get(v) {
            Some(Inst {
                op: Op::Load(mem),
                args,
                ..
            }) => {
                let mem = self.root(*mem);
                range_index.is_some()
                    && !writes_mem(&loop_.body, mem)
                    && !declares_mem(&loop_.body, mem)
                    && args.iter().all(|arg| match arg {
                        Operand::Value(index) => !inside.contains(index),
                        Operand::Index(_) | Operand::Const(_) => true,
                        _ => false,
                    })
            }
            _ => false,
        };
        (plan.once, plan.record) = needs
            .into_iter()
            .filter(
                |need| !matches!(need, Need::Value(v) if remat.contains(v) || counted.contains(v)),
            )
            .partition(|need| matches!(need, Need::Value(v) if invariant(v)));
        plan.same = self.repeated_loads(loop_, &plan.record);
        plan.record
            .retain(|need| !plan.same.iter().any(|(v, _)| *need == Need::Value(*v)));
        plan.sums = self.invariant_sums(&inside, body);
        plan.sparse = plan.winner.is_some()
            && !by_count
            && plan.record.is_empty()
            // What is kept once or summed exists only if the loop ran.
            && plan.once.is_empty()
            && plan.sums.is_empty()
            && plan.counters.is_empty()
            && loop_.carried.iter().all(|c| {
                Some(c.next.value()) == plan.winner.map(|w| Some(w.inst))
                    || !(self.activity.active(c.param) || self.activity.active(c.result))
            })
            && only_adjoint_arithmetic(body);
        plan.scan = plan
            .winner
            .filter(|_| plan.sparse)
            .and_then(|winner| self.winner_scan(loop_, winner));
    }

    /// See [`LoopPlan::scan`]: the body's instructions that compute the winner's other argument,
    /// if they are all cheap and read nothing carried.
    fn winner_scan(&self, loop_: &Loop, winner: Winner) -> Option<Vec<Value>> {
        let inside = iteration_values(loop_);
        let other = &body_inst(loop_, winner.inst)?.args[1 - winner.running];
        let mut slice = BTreeSet::new();
        let mut frontier: Vec<Value> = other.values();
        while let Some(v) = frontier.pop() {
            if !inside.contains(&v) || v == winner.index || !slice.insert(v) {
                continue;
            }
            // A carried variable, or a value of a nested block, is not there after the loop.
            let inst = body_inst(loop_, v).filter(|inst| self.cheap(inst, loop_))?;
            frontier.extend(inst.arg_values());
        }
        Some(in_body_order(loop_, &slice))
    }

    /// The loop's [`Winner`]: a range loop without an exit whose active carried variable's next
    /// value is a selecting rule (`max`, `min`) of it and another value, where the body reads
    /// neither the variable nor that result anywhere else.
    pub(super) fn winner(&self, loop_: &Loop) -> Option<Winner> {
        let LoopKind::Range { index, .. } = loop_.kind else {
            return None;
        };
        if loop_.exit.is_some() {
            return None;
        }
        let mut uses: BTreeMap<Value, usize> = BTreeMap::new();
        let mut count = |operand: &Operand| {
            for v in operand.values() {
                *uses.entry(v).or_default() += 1;
            }
        };
        loop_
            .body
            .walk(&mut |stmt| operands(stmt).into_iter().for_each(&mut count));
        loop_.carried.iter().for_each(|c| count(&c.next));
        loop_.carried.iter().find_map(|c| {
            if !self.activity.active(c.result) {
                return None;
            }
            let next = c.next.value()?;
            let inst = body_inst(loop_, next)?;
            let Op::Rule { rule, .. } = &inst.op else {
                return None;
            };
            let running = inst
                .args
                .iter()
                .position(|arg| arg.value() == Some(c.param))?;
            (rule.rule().selects
                && inst.args.len() == 2
                && uses.get(&c.param) == Some(&1)
                && uses.get(&next) == Some(&1))
            .then_some(Winner {
                of: loop_.count,
                inst: next,
                running,
                index,
            })
        })
    }

    /// See [`LoopPlan::same`]: pairs of recorded loads, statements of the body itself, from one
    /// array at the same indices with no write to it between them.
    fn repeated_loads(&self, loop_: &Loop, record: &[Need]) -> Vec<(Value, Value)> {
        let recorded: BTreeSet<Value> = record
            .iter()
            .filter_map(|need| match need {
                Need::Value(v) => Some(*v),
                _ => None,
            })
            .collect();
        let stmts = &loop_.body.stmts;
        let mut same: Vec<(Value, Value)> = Vec::new();
        for (later, stmt) in stmts.iter().enumerate() {
            let Stmt::Inst(
                inst @ Inst {
                    op: Op::Load(mem), ..
                },
            ) = stmt
            else {
                continue;
            };
            if !recorded.contains(&inst.result) {
                continue;
            }
            let root = self.root(*mem);
            let earlier = (0..later).rev().find_map(|k| match &stmts[k] {
                _ if stmts[k + 1..later]
                    .iter()
                    .any(|s| s.writes(root) || s.writes(*mem)) =>
                {
                    Some(None)
                }
                Stmt::Inst(
                    first @ Inst {
                        op: Op::Load(m), ..
                    },
                ) if m == mem
                    && recorded.contains(&first.result)
                    && !same.iter().any(|(v, _)| *v == first.result)
                    && same_indices(&first.args, &inst.args) =>
                {
                    Some(Some(first.result))
                }
                _ => None,
            });
            if let Some(Some(first)) = earlier {
                same.push((inst.result, first));
            }
        }
        same
    }

    /// See [`LoopPlan::sums`]: the elements of plain arrays that `body` adds into at indices
    /// read from outside the loop (`inside` holds the values of an iteration), when nothing else
    /// in `body` reads or writes that array's adjoint.
    fn invariant_sums(
        &self,
        inside: &BTreeSet<Value>,
        body: &[BwdStmt],
    ) -> Vec<(Mem, Vec<Operand>)> {
        let mut places: BTreeMap<Mem, Vec<&[Operand]>> = BTreeMap::new();
        let mut other = BTreeSet::new();
        let aggregate = |v: Value| self.function.values[v.index()].aggregate;
        mem_adjoint_uses(body, &aggregate, &mut places, &mut other);
        places
            .into_iter()
            .filter(|(mem, places)| {
                let data = &self.function.mems[mem.index()];
                let first = places[0];
                // Added into every iteration, not only in a branch: the index may be out of
                // bounds where the branch does not run (`xs.iter().nth(2)` of two elements).
                let every_iteration = body
                    .iter()
                    .any(|stmt| matches!(stmt, BwdStmt::AddToMem { mem: m, .. } if m == mem));
                every_iteration
                    && !other.contains(mem)
                    && data.field.is_none()
                    && !data.structured
                    && !first.is_empty()
                    && first.iter().all(|index| match index {
                        Operand::Value(v) => !inside.contains(v),
                        Operand::Index(_) | Operand::Const(_) => true,
                        _ => false,
                    })
                    && places.iter().all(|place| same_indices(place, first))
            })
            .map(|(mem, places)| (mem, places[0].to_vec()))
            .collect()
    }

    /// The carried variable as a [`Counter`]: passive, and its next value its parameter with
    /// integer literals added or subtracted by instructions the body runs every iteration.
    /// Integer arithmetic is exact (a literal without a point or exponent is an integer in
    /// Rust), so the backward loop finds each iteration's value by subtracting the step again.
    fn counter(&self, loop_: &Loop, carried: &crate::ir::Carried) -> Option<Counter> {
        if self.activity.active(carried.param) || self.activity.active(carried.result) {
            return None;
        }
        let literal = |operand: &Operand| match operand {
            Operand::Const(c) => syn::parse2::<syn::LitInt>(c.tokens.clone())
                .ok()
                .and_then(|lit| lit.base10_parse::<i128>().ok()),
            _ => None,
        };
        let mut step: i128 = 0;
        let mut current = carried.next.value()?;
        while current != carried.param {
            let inst = body_inst(loop_, current)?;
            let Op::Rule { rule, .. } = &inst.op else {
                return None;
            };
            let (previous, delta) = match (rule.rule().name, &inst.args[..]) {
                ("add", [Operand::Value(v), c]) | ("add", [c, Operand::Value(v)]) => {
                    (*v, literal(c)?)
                }
                ("sub", [Operand::Value(v), c]) => (*v, -literal(c)?),
                _ => return None,
            };
            step = step.checked_add(delta)?;
            current = previous;
        }
        Some(Counter {
            param: carried.param,
            result: carried.result,
            step,
        })
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
            // A borrow is never captured: computed again from what it reads, which the closure
            // captures.
            let borrow = inst.op.is_borrow();
            if borrow
                || cheap
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
                BwdStmt::ZeroMem {
                    mem,
                    len: Some(len),
                } => {
                    needs.insert(Need::Value(*len));
                    // `zero_of_len(&value, len)`: shaped like the value it was made from (a
                    // constant array copied, `let mut h: [f64; 2] = BIAS;`, in a branch).
                    if let Some(MemInitKind::FromValue(value)) = self.mem_init(*mem) {
                        needs.insert(Need::Value(*value));
                    }
                }
                BwdStmt::ResetMem { len: Some(len), .. } => {
                    needs.insert(Need::Value(*len));
                }
                BwdStmt::ZeroMem { mem, len: None } => match self.mem_init(*mem) {
                    Some(MemInitKind::Repeat { lens, .. }) => {
                        lens.iter().for_each(|len| need_operand(&mut needs, len));
                    }
                    // Shaped like a parameter's rows (at the indices `like` holds), at most `cap`.
                    Some(MemInitKind::RowsLike { like, cap }) => {
                        need_operand(&mut needs, like);
                        cap.iter().for_each(|cap| need_operand(&mut needs, cap));
                    }
                    // The adjoint is shaped like the call's result, which may be passive and
                    // otherwise not kept.
                    Some(MemInitKind::FromValue(value)) => {
                        needs.insert(Need::Value(*value));
                    }
                    // An array a branch chose, declared before it, or a copy of a `Vec` that
                    // grows after it: shaped like itself.
                    Some(MemInitKind::Placeholder) => {
                        needs.insert(Need::Mem(self.root(*mem)));
                    }
                    Some(MemInitKind::Copy { src })
                        if crate::ir::visit::may_grow(&self.function.body, *src) =>
                    {
                        needs.insert(Need::Mem(self.root(*mem)));
                    }
                    _ => {}
                },
                BwdStmt::Add { term, .. } => self.term_needs(term, &mut needs),
                BwdStmt::AddAt { at, term, .. } => {
                    if let At::Index(index) | At::FieldIndex(_, index) = at {
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
                | BwdStmt::ZeroCarried(_)
                | BwdStmt::ZeroField { .. }
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
                    let remat = plan.then_remat.iter().chain(&plan.else_remat);
                    let recorded: BTreeSet<Need> = plan
                        .then_record
                        .iter()
                        .chain(&plan.else_record)
                        .copied()
                        .chain(remat.clone().map(|v| Need::Value(*v)))
                        .collect();
                    needs.extend(inner.difference(&recorded));
                    // The recomputed borrows read what they read.
                    for v in remat {
                        for arg in self.defs[v].arg_values() {
                            if !recorded.contains(&Need::Value(arg)) {
                                needs.insert(Need::Value(arg));
                            }
                        }
                    }
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
        } else if let (LoopKind::Range { start, end, .. }, false) = (&loop_.kind, plan.sparse) {
            need_operand(needs, start);
            need_operand(needs, end);
        }
        let mems_inside = mems_declared_in(&loop_.body);
        for need in self.needs(&bwd_loop.body) {
            if !need.inside(&inside, &mems_inside) {
                needs.insert(need);
            }
        }
        // A counter counts back from its value after the loop.
        for counter in &plan.counters {
            needs.insert(Need::Value(counter.result));
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
            Term::Winner { winner, .. } => {
                needs.insert(Need::Value(winner.index));
                needs.insert(Need::Winner(winner.of));
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

/// Where `stmts` add into an element of an array's adjoint (`AddToMem` of a number), by array;
/// in `other`, the arrays whose adjoints they use in any other way.
pub fn mem_adjoint_uses<'s>(
    stmts: &'s [BwdStmt],
    aggregate: &dyn Fn(Value) -> bool,
    places: &mut BTreeMap<Mem, Vec<&'s [Operand]>>,
    other: &mut BTreeSet<Mem>,
) {
    let term_uses = |term: &Term, other: &mut BTreeSet<Mem>| {
        if let Term::MemElem(mem, _) = term {
            other.insert(*mem);
        }
    };
    for stmt in stmts {
        match stmt {
            BwdStmt::AddToMem { mem, indices, term } => {
                term_uses(term, other);
                match term {
                    Term::Adjoint(v) if !aggregate(*v) => {
                        places.entry(*mem).or_default().push(indices)
                    }
                    Term::Rule { .. } => places.entry(*mem).or_default().push(indices),
                    _ => {
                        other.insert(*mem);
                    }
                }
            }
            BwdStmt::Add { term, .. } | BwdStmt::AddAt { term, .. } => term_uses(term, other),
            BwdStmt::ZeroMem { mem, .. }
            | BwdStmt::ResetMemElem { mem, .. }
            | BwdStmt::ResetMem { mem, .. }
            | BwdStmt::SeedMem { mem, .. }
            | BwdStmt::AddSnapshot { target: mem, .. }
            | BwdStmt::AddMemToValue { source: mem, .. } => {
                other.insert(*mem);
            }
            BwdStmt::AddMem { target, source } => {
                other.insert(*target);
                other.insert(*source);
            }
            BwdStmt::Pullback { targets, .. } => {
                for target in targets.iter().flatten() {
                    if let Target::Mem(mem, _) = target {
                        other.insert(*mem);
                    }
                }
            }
            BwdStmt::If(bwd_if) => {
                mem_adjoint_uses(&bwd_if.then_stmts, aggregate, places, other);
                mem_adjoint_uses(&bwd_if.else_stmts, aggregate, places, other);
            }
            BwdStmt::Loop(bwd_loop) => mem_adjoint_uses(&bwd_loop.body, aggregate, places, other),
            BwdStmt::Zero(_)
            | BwdStmt::ZeroCarried(_)
            | BwdStmt::ZeroField { .. }
            | BwdStmt::Reset { .. }
            | BwdStmt::Output { .. } => {}
        }
    }
}

/// The instructions of `loop_`'s body among `values`, in the body's order.
fn in_body_order(loop_: &Loop, values: &BTreeSet<Value>) -> Vec<Value> {
    loop_
        .body
        .stmts
        .iter()
        .filter_map(|s| match s {
            Stmt::Inst(inst) if values.contains(&inst.result) => Some(inst.result),
            _ => None,
        })
        .collect()
}

/// The instruction of the loop's body itself (not of a block nested in it) that defines `value`.
fn body_inst(loop_: &Loop, value: Value) -> Option<&Inst> {
    loop_.body.stmts.iter().find_map(|stmt| match stmt {
        Stmt::Inst(inst) if inst.result == value => Some(inst),
        _ => None,
    })
}

/// Whether `stmts` only move adjoints between values (no arrays' adjoints, calls, branches or
/// loops): in a backward iteration whose incoming adjoints are zero, they are all zero.
fn only_adjoint_arithmetic(stmts: &[BwdStmt]) -> bool {
    let plain = |term: &Term| {
        matches!(
            term,
            Term::Rule { .. } | Term::Winner { .. } | Term::Adjoint(_) | Term::Part { .. }
        )
    };
    stmts.iter().all(|stmt| match stmt {
        BwdStmt::Zero(_) | BwdStmt::Reset { .. } => true,
        BwdStmt::Add { term, .. } | BwdStmt::AddAt { term, .. } => plain(term),
        BwdStmt::AddToMem { term, .. } => plain(term),
        _ => false,
    })
}

/// The values an operand reads.
fn need_operand(needs: &mut BTreeSet<Need>, op: &Operand) {
    for v in op.values() {
        needs.insert(Need::Value(v));
    }
}
