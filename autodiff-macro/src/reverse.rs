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

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::Activity;
use crate::ir::{
    Block, Carried, Function, If, Inst, Loop, LoopKind, Mem, MemInitKind, Op, Operand, Output,
    Stmt, Value,
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
}

pub enum BwdStmt {
    /// The adjoint of `target` starts at zero: the next writes add into it.
    Zero(Value),
    /// The adjoint memory of a local array starts at zero.
    ZeroMem(Mem),
    /// `d_target += term`.
    Add {
        target: Value,
        term: Term,
    },
    /// `d_target.k += term` or `d_target[i] += term` for a tuple or array value.
    AddAt {
        target: Value,
        at: At,
        term: Term,
    },
    /// `d_mem[indices] += term`.
    AddToMem {
        mem: Mem,
        indices: Vec<Operand>,
        term: Term,
    },
    /// `d_mem[indices] = 0`.
    ResetMemElem {
        mem: Mem,
        indices: Vec<Operand>,
    },
    /// `d_target += d_source` elementwise.
    AddMem {
        target: Mem,
        source: Mem,
    },
    /// `d_target += d_source` elementwise, into the adjoint of an array value.
    AddMemToValue {
        target: Value,
        source: Mem,
    },
    /// `d_target[prefix] += d_source` elementwise, from the adjoint of a snapshot.
    AddSnapshot {
        target: Mem,
        prefix: Vec<Operand>,
        source: Value,
    },
    /// `d_mem = 0` elementwise.
    ResetMem(Mem),
    /// `d_target = 0`: a carried variable's adjoint at the start of an iteration.
    Reset(Value),
    /// The pullback of the call that defined `call`, adding into the adjoint of each argument
    /// that has a target.
    Pullback {
        call: Value,
        targets: Vec<Option<Target>>,
    },
    /// The adjoint of parameter `param` goes to the caller.
    Output {
        param: usize,
        value: Value,
    },
    If(BwdIf),
    Loop(BwdLoop),
}

pub enum At {
    Field(u32),
    Index(Operand),
}

pub enum Target {
    Value(Value),
    Mem(Mem, Vec<Operand>),
}

pub enum Term {
    /// The incoming adjoint of the output, at a path into a tuple output.
    Seed(Vec<u32>),
    /// Argument `arg` of the rule of the instruction that defined `inst`.
    Rule { inst: Value, arg: usize },
    /// The adjoint of another value.
    Adjoint(Value),
    /// An element of an adjoint memory.
    MemElem(Mem, Vec<Operand>),
}

pub struct BwdIf {
    /// The forward `if`, by its record value.
    pub record: Value,
    pub cond: Operand,
    pub then_stmts: Vec<BwdStmt>,
    pub else_stmts: Vec<BwdStmt>,
}

pub struct BwdLoop {
    /// The forward loop, by its count value.
    pub id: Value,
    pub body: Vec<BwdStmt>,
}

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
}

#[derive(Default)]
pub struct IfPlan {
    pub backward: bool,
    /// What each branch saves for its backward sweep; when both are empty, the backward `if`
    /// tests the forward condition again.
    pub then_record: Vec<Need>,
    pub else_record: Vec<Need>,
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

pub fn reverse(function: &Function, activity: &Activity) -> Backward {
    let mut pass = Reverse {
        function,
        activity,
        defs: definitions(function),
        written: BTreeSet::new(),
        local: BTreeSet::new(),
        alias: BTreeMap::new(),
        loops: BTreeMap::new(),
        ifs: BTreeMap::new(),
        written_mems: written_mems(&function.body),
        output_mem: match &function.output {
            Output::Mem(mem) => Some(*mem),
            _ => None,
        },
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
    Backward {
        stmts,
        loops: pass.loops,
        ifs: pass.ifs,
        written_mems: pass.written_mems,
        captured,
        top_remat,
    }
}

struct Reverse<'a> {
    function: &'a Function,
    activity: &'a Activity,
    defs: BTreeMap<Value, &'a Inst>,
    /// Adjoints that have received a contribution so far.
    written: BTreeSet<Value>,
    /// The values defined in the region being reversed (and the regions inside it).
    local: BTreeSet<Value>,
    /// A carried variable's parameter shares its adjoint with the loop's result.
    alias: BTreeMap<Value, Value>,
    loops: BTreeMap<Value, LoopPlan>,
    ifs: BTreeMap<Value, IfPlan>,
    written_mems: BTreeSet<Mem>,
    output_mem: Option<Mem>,
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
            Output::Tuple(parts) => {
                for (k, part) in parts.iter().enumerate() {
                    path.push(k as u32);
                    self.seed(part, path, out);
                    path.pop();
                }
            }
            Output::Mem(_) => {}
        }
    }

    fn block(&mut self, block: &Block, out: &mut Vec<BwdStmt>) {
        // The adjoint memories of the arrays this region declares.
        for stmt in &block.stmts {
            if let Stmt::MemInit(init) = stmt {
                if init.declare
                    && self.activity.active_mem(init.mem)
                    && Some(init.mem) != self.output_mem
                {
                    out.push(BwdStmt::ZeroMem(init.mem));
                }
            }
        }
        for stmt in block.stmts.iter().rev() {
            match stmt {
                Stmt::Inst(inst) => self.inst(inst, out),
                Stmt::Store(store) => {
                    if self.activity.active_mem(store.mem) {
                        if let Some(value) = self.activity.active_operand(&store.value) {
                            self.add(value, Term::MemElem(store.mem, store.indices.clone()), out);
                        }
                        out.push(BwdStmt::ResetMemElem {
                            mem: store.mem,
                            indices: store.indices.clone(),
                        });
                    }
                }
                Stmt::MemInit(init) => {
                    if !self.activity.active_mem(init.mem) {
                        continue;
                    }
                    match &init.kind {
                        MemInitKind::Repeat { .. } | MemInitKind::Placeholder => {}
                        MemInitKind::List { elems } => {
                            for (k, elem) in elems.iter().enumerate() {
                                if let Some(value) = self.activity.active_operand(elem) {
                                    let index = Operand::Const(crate::ir::Const {
                                        tokens: quote::quote!(#k),
                                        atomic: true,
                                    });
                                    self.add(value, Term::MemElem(init.mem, vec![index]), out);
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
                        out.push(BwdStmt::ResetMem(init.mem));
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
                for (arg, operand) in inst.args.iter().enumerate() {
                    let Some(target) = self.activity.active_operand(operand) else {
                        continue;
                    };
                    if rule.rule().adjoints[arg].is_some() {
                        self.add(target, Term::Rule { inst: result, arg }, out);
                    }
                }
            }
            Op::Call { .. } => {
                let mut targets = Vec::new();
                for arg in &inst.args {
                    targets.push(match arg {
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
            Op::Field(k) => {
                if let Some(agg) = self.activity.active_operand(&inst.args[0]) {
                    let target = self.declare(agg, out);
                    out.push(BwdStmt::AddAt {
                        target,
                        at: At::Field(*k),
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
                if self.activity.active_mem(*mem) {
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
        let then_stmts = self.region(&[&if_.then_block], |p, s| transfers(p, s, true), out);
        let else_stmts = self.region(&[&if_.else_block], |p, s| transfers(p, s, false), out);
        let mut plan = IfPlan::default();
        if !then_stmts.is_empty() || !else_stmts.is_empty() {
            plan.backward = true;
            plan.then_record = self.record_of(&then_stmts, &if_.then_block);
            plan.else_record = self.record_of(&else_stmts, &if_.else_block);
            out.push(BwdStmt::If(BwdIf {
                record: if_.record,
                cond: if_.cond.clone(),
                then_stmts,
                else_stmts,
            }));
        }
        self.ifs.insert(if_.record, plan);
    }

    /// The values a branch's backward sweep reads that the branch defines.
    fn record_of(&self, stmts: &[BwdStmt], block: &Block) -> Vec<Need> {
        let inside = defined_in(block);
        let mems_inside = mems_declared_in(block);
        self.needs(stmts)
            .into_iter()
            .filter(|need| match need {
                Need::Value(v) | Need::Pullback(v) => inside.contains(v),
                Need::Mem(m) => mems_inside.contains(m),
            })
            .collect()
    }

    fn loop_stmt(&mut self, loop_: &Loop, out: &mut Vec<BwdStmt>) {
        for c in &loop_.carried {
            self.alias.insert(c.param, c.result);
        }
        let carried: Vec<(Value, Option<Value>)> = loop_
            .carried
            .iter()
            .map(|c| (c.result, self.activity.active_operand(&c.next)))
            .collect();
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
                for (result, next) in &carried {
                    if !pass.activity.active(*result) && next.is_none() {
                        continue;
                    }
                    if let Some(next) = next {
                        pass.add(*next, Term::Adjoint(*result), stmts);
                    }
                    pass.written.insert(*result);
                    stmts.push(BwdStmt::Reset(*result));
                }
            },
            out,
        );
        let mut plan = LoopPlan::default();
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

    /// Splits what the backward body reads from the iteration into what is recomputed and what
    /// goes on the tape.
    fn plan_loop(&self, loop_: &Loop, body: &[BwdStmt], plan: &mut LoopPlan) {
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
    fn cheap(&self, inst: &Inst, loop_: &Loop) -> bool {
        match &inst.op {
            // Reading part of a value the backward sweep has (`row[k]` of `let row = x[s]`).
            Op::Copy | Op::Field(_) | Op::Index => true,
            Op::Load(mem) => self.stable_during(*mem, loop_),
            // Lengths do not change; a parameter's is there in the backward sweep.
            Op::Len(mem) => self.function.mems[self.root(*mem).index()].param.is_some(),
            Op::Rule { rule, .. } => match rule.rule().name {
                "add" | "sub" | "mul" | "neg" | "cast" | "max" | "min" | "abs" => true,
                "div" | "rem" => !self.activity.active(inst.result),
                _ => false,
            },
            _ => false,
        }
    }

    /// The captured values the closure recomputes instead (see [`Backward::top_remat`]).
    fn top_remat(&self, captured: &BTreeSet<Need>) -> Vec<Value> {
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
                    matches!(rule.rule().name, "add" | "sub" | "mul" | "div" | "rem")
                        && !self.activity.active(inst.result)
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
    fn stable_during(&self, mem: Mem, loop_: &Loop) -> bool {
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
    fn root(&self, mem: Mem) -> Mem {
        self.function.mems[mem.index()]
            .field
            .as_ref()
            .map_or(mem, |(root, _)| *root)
    }

    /// The forward values a list of backward statements reads, with what nested regions read
    /// from outside themselves.
    fn needs(&self, stmts: &[BwdStmt]) -> BTreeSet<Need> {
        let mut needs = BTreeSet::new();
        let operand = |needs: &mut BTreeSet<Need>, op: &Operand| {
            for v in op.values() {
                needs.insert(Need::Value(v));
            }
        };
        for stmt in stmts {
            match stmt {
                BwdStmt::Zero(v) => {
                    if self.function.values[v.index()].aggregate {
                        needs.insert(Need::Value(*v));
                    }
                }
                BwdStmt::ZeroMem(mem) => {
                    if let Some(MemInitKind::Repeat { lens, .. }) = self.mem_init(*mem) {
                        lens.iter().for_each(|len| operand(&mut needs, len));
                    }
                }
                BwdStmt::Add { term, .. } => self.term_needs(term, &mut needs),
                BwdStmt::AddAt { at, term, .. } => {
                    if let At::Index(index) = at {
                        operand(&mut needs, index);
                    }
                    self.term_needs(term, &mut needs);
                }
                BwdStmt::AddToMem { indices, term, .. } => {
                    indices.iter().for_each(|i| operand(&mut needs, i));
                    self.term_needs(term, &mut needs);
                }
                BwdStmt::ResetMemElem { indices, .. } => {
                    indices.iter().for_each(|i| operand(&mut needs, i))
                }
                BwdStmt::Pullback { call, targets } => {
                    needs.insert(Need::Pullback(*call));
                    // The arguments the callee takes again.
                    if let Op::Call { by_ref, .. } = &self.defs[call].op {
                        for (arg, by_ref) in self.defs[call].args.iter().zip(by_ref) {
                            if *by_ref {
                                operand(&mut needs, arg);
                            }
                        }
                    }
                    for target in targets.iter().flatten() {
                        if let Target::Mem(_, prefix) = target {
                            prefix.iter().for_each(|i| operand(&mut needs, i));
                        }
                    }
                }
                BwdStmt::AddSnapshot { prefix, .. } => {
                    prefix.iter().for_each(|i| operand(&mut needs, i))
                }
                BwdStmt::AddMemToValue { .. } => {}
                BwdStmt::AddMem { .. }
                | BwdStmt::ResetMem(_)
                | BwdStmt::Reset(_)
                | BwdStmt::Output { .. } => {}
                BwdStmt::If(bwd_if) => {
                    let plan = &self.ifs[&bwd_if.record];
                    if plan.by_cond() {
                        operand(&mut needs, &bwd_if.cond);
                    } else {
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
                BwdStmt::Loop(bwd_loop) => {
                    let plan = &self.loops[&bwd_loop.id];
                    let loop_ = self
                        .find_loop(bwd_loop.id)
                        .expect("a backward loop has a forward loop");
                    let inside = iteration_values(loop_);
                    if plan.by_count {
                        needs.insert(Need::Value(loop_.count));
                    } else if let LoopKind::Range { start, end, .. } = &loop_.kind {
                        operand(&mut needs, start);
                        operand(&mut needs, end);
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
            }
        }
        needs
    }

    fn term_needs(&self, term: &Term, needs: &mut BTreeSet<Need>) {
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
            Term::Seed(_) | Term::Adjoint(_) => {}
        }
    }

    fn mem_init(&self, mem: Mem) -> Option<&MemInitKind> {
        find_mem_init(&self.function.body, mem)
    }

    fn find_loop(&self, id: Value) -> Option<&Loop> {
        find_loop(&self.function.body, id)
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

/// Every value defined in a block and the blocks inside it.
pub fn defined_in(block: &Block) -> BTreeSet<Value> {
    let mut out = BTreeSet::new();
    block.walk(&mut |stmt| match stmt {
        Stmt::Inst(inst) => {
            out.insert(inst.result);
        }
        Stmt::If(if_) => {
            out.insert(if_.record);
            out.extend(if_.phis.iter().map(|p| p.result));
        }
        Stmt::Loop(loop_) => {
            out.insert(loop_.count);
            if let LoopKind::Range { index, .. } = &loop_.kind {
                out.insert(*index);
            }
            for c in &loop_.carried {
                out.insert(c.param);
                out.insert(c.result);
            }
        }
        Stmt::Store(_) | Stmt::MemInit(_) => {}
    });
    out
}

/// The values that are new in each iteration of a loop: its body's, its index, and the carried
/// variables' values at the start of the iteration.
fn iteration_values(loop_: &Loop) -> BTreeSet<Value> {
    let mut inside = defined_in(&loop_.body);
    if let LoopKind::Range { index, .. } = &loop_.kind {
        inside.insert(*index);
    }
    inside.extend(loop_.carried.iter().map(|c| c.param));
    inside
}

/// The memories a block declares, with those of the blocks inside it.
pub fn mems_declared_in(block: &Block) -> BTreeSet<Mem> {
    let mut out = BTreeSet::new();
    block.walk(&mut |stmt| {
        if let Stmt::MemInit(init) = stmt {
            if init.declare {
                out.insert(init.mem);
            }
        }
    });
    out
}

/// Whether the block's own statements (not nested blocks) declare `mem`.
fn declares_mem(block: &Block, mem: Mem) -> bool {
    block
        .stmts
        .iter()
        .any(|s| matches!(s, Stmt::MemInit(init) if init.mem == mem && init.declare))
}

/// Whether anything in the block (nested blocks included) writes `mem` after declaring it.
fn writes_mem(block: &Block, mem: Mem) -> bool {
    block.stmts.iter().any(|stmt| stmt.writes(mem))
}

/// The blocks from the function's body down to the loop `id`: each block, the position of the
/// statement leading to the loop, and whether the block is a loop's body.
fn path_to_loop(block: &Block, id: Value) -> Option<Vec<(&Block, usize, bool)>> {
    fn walk<'a>(
        block: &'a Block,
        id: Value,
        loop_body: bool,
        path: &mut Vec<(&'a Block, usize, bool)>,
    ) -> bool {
        for (position, stmt) in block.stmts.iter().enumerate() {
            path.push((block, position, loop_body));
            let found = match stmt {
                Stmt::Loop(loop_) if loop_.count == id => true,
                Stmt::Loop(loop_) => walk(&loop_.body, id, true, path),
                Stmt::If(if_) => {
                    walk(&if_.then_block, id, false, path) || walk(&if_.else_block, id, false, path)
                }
                _ => false,
            };
            if found {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    walk(block, id, false, &mut path).then_some(path)
}

/// Memories written after their declaration.
fn written_mems(block: &Block) -> BTreeSet<Mem> {
    let mut out = BTreeSet::new();
    block.walk(&mut |stmt| match stmt {
        Stmt::Store(store) => {
            out.insert(store.mem);
        }
        Stmt::MemInit(init) if !init.declare => {
            out.insert(init.mem);
        }
        _ => {}
    });
    out
}

pub fn find_mem_init(block: &Block, mem: Mem) -> Option<&MemInitKind> {
    let mut found = None;
    block.walk(&mut |stmt| match stmt {
        Stmt::MemInit(init) if init.mem == mem && init.declare && found.is_none() => {
            found = Some(&init.kind)
        }
        _ => {}
    });
    found
}

pub fn find_loop(block: &Block, id: Value) -> Option<&Loop> {
    let mut found = None;
    block.walk(&mut |stmt| match stmt {
        Stmt::Loop(loop_) if loop_.count == id => found = Some(loop_),
        _ => {}
    });
    found
}

/// The loop whose backward sweep can run inside its forward sweep, each iteration's right after
/// it, when the seed is known before the forward sweep starts (as in `_grad`, `_grad_into` and
/// `_pullback`): the function ends with a range loop whose only active carried variable is the
/// value it returns, to which each iteration only adds a term, and the loop keeps nothing on a
/// tape. The adjoint of such an accumulator is the seed in every iteration, and each iteration's
/// backward sweep reads only that iteration's values. Returns the backward loop's position in
/// `backward.stmts`.
pub fn fused_loop(function: &Function, backward: &Backward, activity: &Activity) -> Option<usize> {
    let Some(Stmt::Loop(loop_)) = function.body.stmts.last() else {
        return None;
    };
    let plan = backward.loops.get(&loop_.count)?;
    if !matches!(loop_.kind, LoopKind::Range { .. })
        || loop_.exit.is_some()
        || !plan.backward
        || plan.by_count
        || !plan.record.is_empty()
    {
        return None;
    }
    let Output::Operand(Operand::Value(output)) = &function.output else {
        return None;
    };
    let active: Vec<&Carried> = loop_
        .carried
        .iter()
        .filter(|c| activity.active(c.param) || activity.active(c.result))
        .collect();
    let [sum] = active[..] else {
        return None;
    };
    if sum.result != *output || !adds_only(&loop_.body, sum) {
        return None;
    }
    backward
        .stmts
        .iter()
        .position(|s| matches!(s, BwdStmt::Loop(l) if l.id == loop_.count))
}

/// `s = s + term` (or `term + s`, `s - term`) is the only read of the carried `s` in the body.
fn adds_only(body: &Block, sum: &Carried) -> bool {
    let Operand::Value(next) = sum.next else {
        return false;
    };
    let update = body.stmts.iter().any(|stmt| match stmt {
        Stmt::Inst(inst) if inst.result == next => match (&inst.op, &inst.args[..]) {
            (Op::Rule { rule, .. }, [a, b]) => match rule.rule().name {
                "add" => a.value() == Some(sum.param) || b.value() == Some(sum.param),
                "sub" => a.value() == Some(sum.param),
                _ => false,
            },
            _ => false,
        },
        _ => false,
    });
    let mut reads = 0;
    body.walk(&mut |stmt| {
        reads += operands(stmt)
            .into_iter()
            .filter(|op| op.values().contains(&sum.param))
            .count();
    });
    update && reads == 1
}

/// The operands a statement reads itself (not those of the blocks nested in it).
fn operands(stmt: &Stmt) -> Vec<&Operand> {
    match stmt {
        Stmt::Inst(inst) => inst.args.iter().collect(),
        Stmt::Store(store) => store.indices.iter().chain([&store.value]).collect(),
        Stmt::MemInit(init) => match &init.kind {
            MemInitKind::Repeat { elem, lens } => [elem].into_iter().chain(lens).collect(),
            MemInitKind::List { elems } => elems.iter().collect(),
            MemInitKind::Copy { .. } | MemInitKind::FromValue(_) | MemInitKind::Placeholder => {
                Vec::new()
            }
        },
        Stmt::If(if_) => [&if_.cond]
            .into_iter()
            .chain(if_.phis.iter().flat_map(|p| [&p.then_value, &p.else_value]))
            .collect(),
        Stmt::Loop(loop_) => {
            let range: Vec<&Operand> = match &loop_.kind {
                LoopKind::Range { start, end, .. } => vec![start, end],
                LoopKind::Forever => Vec::new(),
            };
            range
                .into_iter()
                .chain(loop_.carried.iter().flat_map(|c| [&c.init, &c.next]))
                .chain(&loop_.exit)
                .collect()
        }
    }
}
