//! The reverse pass: walks the IR backwards and, for each active operation, emits the adjoint
//! contribution of its rule into each active argument.
//!
//! ```text
//! apple_price = mul(apple, apple_num)      d_price         = seed
//! all_price   = add(apple_price, ...)  →   d_all_price    += mul.b(tax, d_price)  (tax * d_price)
//! price       = mul(all_price, tax)        d_tax          += mul.a(all_price, d_price)
//!                                          d_apple_price  += add.a(d_all_price)   ...
//! ```
//!
//! An `if` reverses into an `if` over the same condition (or over a record of which branch ran),
//! each branch reversed; a loop into a loop that runs its iterations backwards, carrying the
//! adjoints of the carried variables. The result is a list of statements over values and rule
//! rows; code generation chooses the names and the Rust syntax (`let` for a first contribution,
//! `+=` after).
//!
//! The pass also decides what each loop and branch must keep from the forward sweep: the values
//! its backward sweep reads that are defined inside it. A loop pushes them on a tape at the end
//! of each iteration, unless they are cheap to recompute from what the backward sweep already has
//! (a load from an array nobody writes, index arithmetic): a loop that only accumulates
//! (`s += w[i] * x[i]`) keeps nothing.

mod interleave;
mod plan;
mod stmt;
mod zeros;

use crate::ir::visit::*;
pub use plan::{IfPlan, LoopPlan, Need, Schedule, Winner, mem_adjoint_uses};
pub use stmt::{At, BwdIf, BwdLoop, BwdStmt, Target, Term};

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::Activity;
use crate::ir::{
    Block, Function, If, Inst, Loop, Mem, MemInitKind, Op, Operand, Output, Stmt, Value,
};

pub struct Backward {
    /// In execution order.
    pub stmts: Vec<BwdStmt>,
    /// What each loop keeps, by the loop's `count` value.
    pub loops: BTreeMap<Value, LoopPlan>,
    /// What each branch keeps, by the `if`'s `record` value.
    pub ifs: BTreeMap<Value, IfPlan>,
    /// Every memory some statement writes after its declaration.
    pub written_mems: BTreeSet<Mem>,
    /// What the backward sweep reads from the forward sweep outside any loop or branch: the
    /// closure captures it.
    pub captured: BTreeSet<Need>,
    /// Of those, what the closure computes again from its parameters instead, in order: lengths
    /// of parameters and integer arithmetic on them. Computed next to the parameters they come
    /// from, they let the compiler see that the backward loops' indices are in bounds.
    pub top_remat: Vec<Value>,
    /// With a loop that runs interleaved (see [`Schedule::Interleaved`]): how its sum's adjoint
    /// follows from the seed.
    pub seed_chain: SeedChain,
    /// The rule instructions and calls whose adjoint the seed surely reaches: their terms and
    /// pullbacks need no guard against a zero adjoint (see [`zeros`]).
    pub reached: BTreeSet<Value>,
}

/// The values from the interleaved loop's sum to the output, the output excluded. Each is read
/// once, by the next one's statement, whose adjoint for it is `dy` times something computable
/// before the loop (`s + prior`, `c - s`, `s / n`), so their adjoints follow from the seed
/// before the forward sweep reaches them, and the loop's from theirs.
#[derive(Default)]
pub struct SeedChain {
    pub values: Vec<Value>,
    /// The passive values after the loop those adjoints read (`n as f64`), computed before the
    /// loop too, in order.
    pub precomputed: Vec<Value>,
}

pub fn reverse(function: &Function, activity: &Activity) -> Backward {
    let mut pass = Reverse {
        function,
        activity,
        defs: definitions(function),
        if_depth: 0,
        written: BTreeSet::new(),
        local: BTreeSet::new(),
        alias: BTreeMap::new(),
        loops: BTreeMap::new(),
        ifs: BTreeMap::new(),
        written_mems: written_mems(&function.body),
        output_mems: BTreeSet::new(),
        winners: BTreeMap::new(),
        uses: interleave::use_counts(function),
        in_place: BTreeSet::new(),
        views: views(function),
    };
    let mut stmts = Vec::new();
    pass.local = defined_in(&function.body);
    for value in function.params.iter().filter_map(|p| match p {
        crate::ir::ParamRef::Value(v) => Some(*v),
        crate::ir::ParamRef::Mem(_) => None,
    }) {
        pass.local.insert(value);
    }
    pass.seed(&function.output, &mut Vec::new(), &mut stmts);
    pass.block(&function.body, &mut stmts);
    for (param, param_ref) in function.params.iter().enumerate() {
        if let crate::ir::ParamRef::Value(value) = param_ref {
            if pass.written.contains(value) {
                stmts.push(BwdStmt::Output {
                    param,
                    value: *value,
                });
            }
        }
    }
    let captured = pass.needs(&stmts);
    let top_remat = pass.top_remat(&captured);
    let reached = zeros::reached(&stmts, &pass.defs);
    let mut backward = Backward {
        reached,
        stmts,
        loops: pass.loops,
        ifs: pass.ifs,
        written_mems: pass.written_mems,
        captured,
        top_remat,
        seed_chain: SeedChain::default(),
    };
    if let Some((id, chain)) = interleave::interleavable(function, &backward, activity) {
        if let Some(plan) = backward.loops.get_mut(&id) {
            plan.schedule = Schedule::Interleaved;
            plan.borrowed = interleave::borrowed_snapshots(function, id);
            backward.seed_chain = chain;
        }
    }
    backward
}

/// The fields of struct values read only as the array of an index (`l.w` of `l.w[j]`), with the
/// struct and the member: every use of the field's value is an `Index` of it.
fn views(function: &Function) -> BTreeMap<Value, (Value, syn::Member)> {
    let mut fields = BTreeMap::new();
    let mut indexed = BTreeMap::<Value, usize>::new();
    let mut other = BTreeSet::new();
    function.body.walk(&mut |stmt| match stmt {
        Stmt::Inst(inst) => {
            if let (Op::Field(member), Some(of)) =
                (&inst.op, inst.args.first().and_then(Operand::value))
            {
                fields.insert(inst.result, (of, member.clone()));
            }
            for (k, arg) in inst.args.iter().enumerate() {
                for v in arg.values() {
                    if k == 0 && matches!(inst.op, Op::Index) {
                        *indexed.entry(v).or_default() += 1;
                    } else if !matches!(inst.op, Op::Opaque(_)) {
                        // (What is kept as written, `l.w.len()`, takes no adjoint.)
                        other.insert(v);
                    }
                }
            }
        }
        Stmt::MemInit(crate::ir::MemInit {
            kind: MemInitKind::FromValue(value),
            ..
        }) => {
            other.insert(*value);
        }
        stmt => other.extend(operands(stmt).into_iter().flat_map(Operand::values)),
    });
    let mut outputs = Vec::new();
    interleave::output_operands(&function.output, &mut outputs);
    other.extend(outputs.into_iter().flat_map(Operand::values));
    fields.retain(|field, _| indexed.contains_key(field) && !other.contains(field));
    fields
}

impl Backward {
    /// The position in `stmts` of the backward loop that runs interleaved with its forward
    /// loop, if there is one.
    pub fn interleaved(&self) -> Option<usize> {
        self.stmts.iter().position(|s| {
            matches!(s, BwdStmt::Loop(l)
                if self.loops.get(&l.id).is_some_and(|p| p.schedule == Schedule::Interleaved))
        })
    }
}

struct Reverse<'a> {
    function: &'a Function,
    activity: &'a Activity,
    defs: BTreeMap<Value, &'a Inst>,
    /// How many branches enclose the statement being reversed.
    if_depth: usize,
    /// Adjoints that have received a contribution so far.
    written: BTreeSet<Value>,
    /// The values defined in the region being reversed (and the regions inside it).
    local: BTreeSet<Value>,
    /// A carried variable's parameter shares its adjoint with the loop's result.
    alias: BTreeMap<Value, Value>,
    loops: BTreeMap<Value, LoopPlan>,
    ifs: BTreeMap<Value, IfPlan>,
    written_mems: BTreeSet<Mem>,
    /// The arrays the function returns: their adjoints start as the seed, not at zero.
    output_mems: BTreeSet<Mem>,
    /// The running values, by their instructions.
    winners: BTreeMap<Value, Winner>,
    uses: BTreeMap<Value, usize>,
    /// The loads of `a[i] += e` (see [`Reverse::in_place_sums`]).
    in_place: BTreeSet<Value>,
    /// Fields read only by index (`l.w` of `l.w[j]`), by their struct and member: an element's
    /// adjoint goes straight into the struct's (`d_l.w[j] += ..`), so that the field has no
    /// adjoint of its own to zero and add back at each read.
    views: BTreeMap<Value, (Value, syn::Member)>,
}

impl Reverse<'_> {
    fn adj(&self, value: Value) -> Value {
        self.alias.get(&value).copied().unwrap_or(value)
    }

    fn add(&mut self, target: Value, term: Term, out: &mut Vec<BwdStmt>) {
        let target = self.adj(target);
        self.written.insert(target);
        out.push(BwdStmt::Add { target, term });
    }

    /// Makes sure the adjoint of `target` exists before a write that adds into it in place.
    fn declare(&mut self, target: Value, out: &mut Vec<BwdStmt>) -> Value {
        let target = self.adj(target);
        if !self.written.contains(&target) && self.local.contains(&target) {
            out.push(BwdStmt::Zero(target));
        }
        self.written.insert(target);
        target
    }

    fn seed(&mut self, output: &Output, path: &mut Vec<u32>, out: &mut Vec<BwdStmt>) {
        match output {
            Output::Operand(operand) => {
                if let Some(value) = self.activity.active_operand(operand) {
                    self.add(value, Term::Seed(path.clone()), out);
                }
            }
            Output::Passive(_) => {}
            Output::Tuple(parts) => {
                for (k, part) in parts.iter().enumerate() {
                    path.push(k as u32);
                    self.seed(part, path, out);
                    path.pop();
                }
            }
            // The whole output: the closure's seed parameter is the array's adjoint.
            Output::Mem(mem) if path.is_empty() => {
                self.output_mems.insert(*mem);
            }
            Output::Mem(mem) => {
                let first = self.output_mems.insert(*mem);
                if self.activity.active_mem(*mem) {
                    out.push(BwdStmt::SeedMem {
                        mem: *mem,
                        path: path.clone(),
                        first,
                    });
                }
            }
        }
    }

    fn block(&mut self, block: &Block, out: &mut Vec<BwdStmt>) {
        // The adjoint memories of the arrays this region declares.
        for stmt in &block.stmts {
            if let Stmt::MemInit(init) = stmt {
                if init.declare
                    && self.activity.active_mem(init.mem)
                    && !self.output_mems.contains(&init.mem)
                {
                    out.push(BwdStmt::ZeroMem {
                        mem: init.mem,
                        len: init.len,
                    });
                }
            }
        }
        let sums = self.in_place_sums(block);
        self.in_place.extend(sums.values());
        for stmt in block.stmts.iter().rev() {
            match stmt {
                Stmt::Inst(inst) => self.inst(inst, out),
                Stmt::Store(store) => {
                    if self.activity.active_mem(store.mem) {
                        if let Some(value) = self.activity.active_operand(&store.value) {
                            self.add(value, Term::MemElem(store.mem, store.indices.clone()), out);
                            if sums.contains_key(&value) {
                                continue;
                            }
                        }
                        out.push(BwdStmt::ResetMemElem {
                            mem: store.mem,
                            indices: store.indices.clone(),
                            pop: store.push,
                        });
                    }
                }
                Stmt::MemInit(init) => {
                    if !self.activity.active_mem(init.mem) {
                        continue;
                    }
                    match &init.kind {
                        MemInitKind::Repeat { .. }
                        | MemInitKind::Placeholder
                        | MemInitKind::Empty { .. }
                        | MemInitKind::ZeroLike(_)
                        | MemInitKind::RowsLike { .. } => {}
                        MemInitKind::List { elems, row } => {
                            for (k, elem) in elems.iter().enumerate() {
                                if let Some(value) = self.activity.active_operand(elem) {
                                    let indices = match row {
                                        Some((n, _)) => {
                                            vec![Operand::Index(k / n), Operand::Index(k % n)]
                                        }
                                        None => vec![Operand::Index(k)],
                                    };
                                    self.add(value, Term::MemElem(init.mem, indices), out);
                                }
                            }
                        }
                        MemInitKind::Copy { src } => {
                            if self.activity.active_mem(*src) {
                                out.push(BwdStmt::AddMem {
                                    target: *src,
                                    source: init.mem,
                                });
                            }
                        }
                        MemInitKind::FromValue(value) => {
                            if self.activity.active(*value) {
                                let target = self.declare(*value, out);
                                out.push(BwdStmt::AddMemToValue {
                                    target,
                                    source: init.mem,
                                });
                            }
                        }
                    }
                    if !init.declare {
                        out.push(BwdStmt::ResetMem {
                            mem: init.mem,
                            len: init.len,
                        });
                    }
                }
                Stmt::If(if_) => self.if_stmt(if_, out),
                Stmt::Loop(loop_) => self.loop_stmt(loop_, out),
            }
        }
    }

    fn inst(&mut self, inst: &Inst, out: &mut Vec<BwdStmt>) {
        if !self.activity.active(inst.result) {
            return;
        }
        let result = inst.result;
        match &inst.op {
            Op::Copy => {
                if let Some(arg) = self.activity.active_operand(&inst.args[0]) {
                    self.add(arg, Term::Adjoint(result), out);
                }
            }
            Op::Rule { rule, .. } => {
                let winner = self.winners.get(&result).copied();
                for (arg, operand) in inst.args.iter().enumerate() {
                    let Some(target) = self.activity.active_operand(operand) else {
                        continue;
                    };
                    // `a[i] += e`: the element keeps its adjoint (see `in_place_sums`).
                    if rule.rule().adjoints[arg].is_some() && !self.in_place.contains(&target) {
                        let term = match winner {
                            Some(winner) => Term::Winner { winner, arg },
                            None => Term::Rule { inst: result, arg },
                        };
                        self.add(target, term, out);
                    }
                }
            }
            Op::Call { cut, .. } => {
                let mut targets = Vec::new();
                for (arg, &cut) in inst.args.iter().zip(cut) {
                    targets.push(match arg {
                        _ if cut => None,
                        Operand::Value(v) if self.activity.active(*v) => {
                            Some(Target::Value(self.declare(*v, out)))
                        }
                        Operand::Mem(mem, prefix) if self.activity.active_mem(*mem) => {
                            Some(Target::Mem(*mem, prefix.clone()))
                        }
                        _ => None,
                    });
                }
                out.push(BwdStmt::Pullback {
                    call: result,
                    targets,
                });
            }
            Op::Struct { members, .. } => {
                if inst
                    .args
                    .iter()
                    .any(|arg| self.activity.active_operand(arg).is_some())
                {
                    let target = self.declare(result, out);
                    out.push(BwdStmt::ZeroCarried(target));
                }
                for (arg, member) in inst.args.iter().zip(members) {
                    if let Some(target) = self.activity.active_operand(arg) {
                        self.add(
                            target,
                            Term::Part {
                                of: result,
                                member: member.clone(),
                                take: false,
                            },
                            out,
                        );
                    }
                }
            }
            // `r = a with .member = v`: `d_v += d_r.member`, and `d_a += d_r` but for that field.
            Op::WithField { member, .. } => {
                let v = self.activity.active_operand(&inst.args[1]);
                let a = self.activity.active_operand(&inst.args[0]);
                if v.is_none() && a.is_none() {
                    return;
                }
                // The skipped fields of the adjoint hold copies of values: zero, as constants.
                let target = self.declare(result, out);
                out.push(BwdStmt::ZeroCarried(target));
                if let Some(v) = v {
                    let term = Term::Part {
                        of: result,
                        member: member.clone(),
                        take: a.is_some(),
                    };
                    self.add(v, term, out);
                }
                if let Some(a) = a {
                    if v.is_none() {
                        out.push(BwdStmt::ZeroField {
                            target,
                            member: member.clone(),
                        });
                    }
                    self.add(a, Term::Adjoint(result), out);
                }
            }
            Op::Field(_) if self.views.contains_key(&result) => {}
            Op::Field(k) => {
                if let Some(agg) = self.activity.active_operand(&inst.args[0]) {
                    let target = self.declare(agg, out);
                    out.push(BwdStmt::AddAt {
                        target,
                        at: At::Field(k.clone()),
                        term: Term::Adjoint(result),
                    });
                }
            }
            Op::Index
                if inst.args[0]
                    .value()
                    .is_some_and(|v| self.views.contains_key(&v)) =>
            {
                let view = inst.args[0].value().expect("checked");
                let (of, member) = self.views[&view].clone();
                if self.activity.active(view) && self.activity.active(of) {
                    let target = self.declare(of, out);
                    out.push(BwdStmt::AddAt {
                        target,
                        at: At::FieldIndex(member, inst.args[1].clone()),
                        term: Term::Adjoint(result),
                    });
                }
            }
            Op::Index => {
                if let Some(agg) = self.activity.active_operand(&inst.args[0]) {
                    let target = self.declare(agg, out);
                    let at = At::Index(inst.args[1].clone());
                    out.push(BwdStmt::AddAt {
                        target,
                        at,
                        term: Term::Adjoint(result),
                    });
                }
            }
            Op::Snapshot(mem) => {
                if self.activity.active_mem(*mem) && self.written.contains(&result) {
                    out.push(BwdStmt::AddSnapshot {
                        target: *mem,
                        prefix: inst.args.clone(),
                        source: result,
                    });
                }
            }
            Op::Load(mem) => {
                if self.activity.active_mem(*mem) && !self.in_place.contains(&result) {
                    out.push(BwdStmt::AddToMem {
                        mem: *mem,
                        indices: inst.args.clone(),
                        term: Term::Adjoint(result),
                    });
                }
            }
            Op::Opaque(_) | Op::Len(_) => {}
        }
    }

    /// The stores of `block` that add into the element they read, `a[i] += e` (`a[i] = a[i] + e`,
    /// `e + a[i]`, `a[i] - e`), by their sums, with their loads: the load is read only by the sum,
    /// the sum only by the store, and nothing writes the array in between. The element's
    /// adjoint goes to the sum and, through it, back to the element unchanged, so the backward
    /// sweep reads it and leaves it (instead of resetting it and adding it back).
    fn in_place_sums(&self, block: &Block) -> BTreeMap<Value, Value> {
        let stmts = &block.stmts;
        let position = |value: Value| {
            stmts
                .iter()
                .position(|s| matches!(s, Stmt::Inst(inst) if inst.result == value))
        };
        let once = |value: Value| self.uses.get(&value) == Some(&1);
        let mut sums = BTreeMap::new();
        for (at, stmt) in stmts.iter().enumerate() {
            let Stmt::Store(store) = stmt else { continue };
            let Some(sum) = store.value.value().filter(|v| once(*v) && !store.push) else {
                continue;
            };
            let Some(Stmt::Inst(add)) = position(sum).map(|k| &stmts[k]) else {
                continue;
            };
            let Op::Rule { rule, .. } = &add.op else {
                continue;
            };
            // The arguments whose adjoint is the sum's own.
            let load = add.args.iter().enumerate().find_map(|(k, arg)| {
                let load = arg
                    .value()
                    .filter(|v| once(*v) && self.activity.active(*v))?;
                let from = position(load)?;
                let Stmt::Inst(Inst {
                    op: Op::Load(mem),
                    args,
                    ..
                }) = &stmts[from]
                else {
                    return None;
                };
                let passes = rule.rule().adjoints.get(k) == Some(&Some("dy"));
                (passes
                    && *mem == store.mem
                    && crate::ir::same_indices(args, &store.indices)
                    && !stmts[from + 1..at].iter().any(|s| s.writes(store.mem)))
                .then_some(load)
            });
            if let Some(load) = load {
                sums.insert(sum, load);
            }
        }
        sums
    }

    /// Reverses a nested region: its statements go to a vector of their own, and the adjoints of
    /// enclosing values it writes first are declared (zero) before it.
    fn region(
        &mut self,
        blocks: &[&Block],
        prefix: impl FnOnce(&mut Self, &mut Vec<BwdStmt>),
        out: &mut Vec<BwdStmt>,
    ) -> Vec<BwdStmt> {
        let before = self.written.clone();
        let outer_local = std::mem::take(&mut self.local);
        let mut inside = BTreeSet::new();
        for block in blocks {
            inside.extend(defined_in(block));
        }
        self.local = inside.clone();
        let mut stmts = Vec::new();
        prefix(self, &mut stmts);
        for block in blocks {
            self.block(block, &mut stmts);
        }
        self.local = outer_local;
        let newly: Vec<Value> = self
            .written
            .difference(&before)
            .copied()
            .filter(|v| !inside.contains(v))
            .collect();
        for value in newly {
            if self.local.contains(&value) {
                out.push(BwdStmt::Zero(value));
            }
        }
        stmts
    }

    fn if_stmt(&mut self, if_: &If, out: &mut Vec<BwdStmt>) {
        /// Branches nested deeper than this record on a tape (see `IfPlan::taped`).
        const TAPED_DEPTH: usize = 16;
        let active_phis: Vec<(Value, Operand, Operand)> = if_
            .phis
            .iter()
            .filter(|phi| self.activity.active(phi.result))
            .map(|phi| (phi.result, phi.then_value.clone(), phi.else_value.clone()))
            .collect();
        let transfers = |pass: &mut Self, stmts: &mut Vec<BwdStmt>, pick_then: bool| {
            for (result, then_value, else_value) in &active_phis {
                let value = if pick_then { then_value } else { else_value };
                if let Some(value) = pass.activity.active_operand(value) {
                    if pass.written.contains(&pass.adj(*result)) {
                        pass.add(value, Term::Adjoint(*result), stmts);
                    }
                }
            }
        };
        // Each branch is its own region, with its own declarations.
        self.if_depth += 1;
        let then_stmts = self.region(&[&if_.then_block], |p, s| transfers(p, s, true), out);
        let else_stmts = self.region(&[&if_.else_block], |p, s| transfers(p, s, false), out);
        self.if_depth -= 1;
        let mut plan = IfPlan {
            taped: self.if_depth >= TAPED_DEPTH,
            ..IfPlan::default()
        };
        if !then_stmts.is_empty() || !else_stmts.is_empty() {
            plan.backward = true;
            (plan.then_record, plan.then_remat) = self.record_of(&then_stmts, &if_.then_block);
            (plan.else_record, plan.else_remat) = self.record_of(&else_stmts, &if_.else_block);
            out.push(BwdStmt::If(BwdIf {
                record: if_.record,
                cond: if_.cond.clone(),
                then_stmts,
                else_stmts,
            }));
        }
        self.ifs.insert(if_.record, plan);
    }

    /// The values a branch's backward sweep reads that the branch defines: those it records,
    /// and the borrows it computes again instead (see [`IfPlan::then_remat`]).
    fn record_of(&self, stmts: &[BwdStmt], block: &Block) -> (Vec<Need>, Vec<Value>) {
        let inside = defined_in(block);
        let mems_inside = mems_declared_in(block);
        let mut frontier: Vec<Need> = self
            .needs(stmts)
            .into_iter()
            .filter(|need| need.inside(&inside, &mems_inside))
            .collect();
        let (mut record, mut remat) = (BTreeSet::new(), BTreeSet::new());
        while let Some(need) = frontier.pop() {
            match need {
                Need::Value(v) if self.defs.get(&v).is_some_and(|inst| inst.op.is_borrow()) => {
                    if remat.insert(v) {
                        let args = self.defs[&v].arg_values();
                        frontier.extend(args.filter(|a| inside.contains(a)).map(Need::Value));
                    }
                }
                need => {
                    record.insert(need);
                }
            }
        }
        // Values are numbered in the order lowering made them: what a borrow reads comes first.
        (record.into_iter().collect(), remat.into_iter().collect())
    }

    fn loop_stmt(&mut self, loop_: &Loop, out: &mut Vec<BwdStmt>) {
        for c in &loop_.carried {
            self.alias.insert(c.param, c.result);
        }
        let carried: Vec<(Value, Option<Value>, Option<Value>)> = loop_
            .carried
            .iter()
            .map(|c| {
                let like = self.function.values[c.param.index()]
                    .aggregate
                    .then_some(c.param);
                (c.result, self.activity.active_operand(&c.next), like)
            })
            .collect();
        let winner = self.winner(loop_);
        if let Some(winner) = winner {
            self.winners.insert(winner.inst, winner);
        }
        let any_active = loop_
            .carried
            .iter()
            .any(|c| self.activity.active(c.param) || self.activity.active(c.result));
        let body = self.region(
            &[&loop_.body],
            |pass, stmts| {
                if !any_active {
                    return;
                }
                // At the start of a backward iteration the carried adjoints belong to the
                // iteration's next values; the parameters' adjoints start again from zero.
                for (result, next, like) in &carried {
                    if !pass.activity.active(*result) && next.is_none() {
                        continue;
                    }
                    if let Some(next) = next {
                        pass.add(*next, Term::Adjoint(*result), stmts);
                    }
                    pass.written.insert(*result);
                    stmts.push(BwdStmt::Reset {
                        target: *result,
                        like: *like,
                    });
                }
            },
            out,
        );
        let mut plan = LoopPlan {
            winner,
            ..LoopPlan::default()
        };
        if !body.is_empty() {
            plan.backward = true;
            self.plan_loop(loop_, &body, &mut plan);
            out.push(BwdStmt::Loop(BwdLoop {
                id: loop_.count,
                body,
            }));
        }
        self.loops.insert(loop_.count, plan);
        for c in &loop_.carried {
            if let Some(init) = self.activity.active_operand(&c.init) {
                if self.written.contains(&c.result) {
                    self.add(init, Term::Adjoint(c.result), out);
                }
            }
        }
    }
}

/// The instruction defining each value.
fn definitions(function: &Function) -> BTreeMap<Value, &Inst> {
    let mut defs = BTreeMap::new();
    function.body.for_each_inst(&mut |inst| {
        defs.insert(inst.result, inst);
    });
    defs
}
