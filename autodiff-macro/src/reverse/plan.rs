//! What each loop and branch keeps from the forward sweep, and what is recomputed instead.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use crate::ir::{Inst, Loop, LoopKind, Mem, MemInitKind, Op, Operand, Stmt, Value};
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

/// The values an operand reads.
fn need_operand(needs: &mut BTreeSet<Need>, op: &Operand) {
    for v in op.values() {
        needs.insert(Need::Value(v));
    }
}
