//! Activity analysis, run once; its facts drive the checks, the reverse pass and code generation.
//!
//! A value (or memory) is *varied* when it depends differentiably on an active parameter,
//! *useful* when the output depends differentiably on it, and *active* when both: only active
//! values get an adjoint. Memories are tracked as a whole (a store of a varied value makes the
//! memory varied). Loops make both facts fixpoints: a carried value is varied if its initial or
//! its next value is.
//!
//! The analysis also reports what needs activity to be known: an operation without a derivative
//! rule applied to a varied value.

use crate::ctxt::Ctxt;
use crate::ir::{Block, Function, MemInitKind, Op, Operand, Output, ParamRef, Stmt, Value};
use crate::signature::Signature;

pub struct Activity {
    varied: Vec<bool>,
    useful: Vec<bool>,
    mem_varied: Vec<bool>,
    mem_useful: Vec<bool>,
    /// The memory whose facts each memory shares: a struct's fields share the struct's.
    roots: Vec<usize>,
    /// Values never varied (`ValueData::passive`).
    passive: Vec<bool>,
}

impl Activity {
    pub fn active(&self, value: Value) -> bool {
        self.varied[value.index()] && self.useful[value.index()]
    }

    /// Whether the value depends differentiably on an active parameter.
    pub fn varied(&self, value: Value) -> bool {
        self.varied[value.index()]
    }

    pub fn active_operand(&self, operand: &Operand) -> Option<Value> {
        operand.value().filter(|v| self.active(*v))
    }

    pub fn active_mem(&self, mem: crate::ir::Mem) -> bool {
        let root = self.roots[mem.index()];
        self.mem_varied[root] && self.mem_useful[root]
    }

    fn mem_is_varied(&self, mem: crate::ir::Mem) -> bool {
        self.mem_varied[self.roots[mem.index()]]
    }

    fn mark_mem_varied(&mut self, mem: crate::ir::Mem) -> bool {
        let root = self.roots[mem.index()];
        let changed = !self.mem_varied[root];
        self.mem_varied[root] = true;
        changed
    }

    fn varied_operand(&self, operand: &Operand) -> bool {
        match operand {
            Operand::Value(v) => self.varied[v.index()],
            Operand::Mem(mem, _) => self.mem_is_varied(*mem),
            _ => false,
        }
    }
}

pub fn analyze(cx: &Ctxt, function: &Function, sig: &Signature) -> Activity {
    let mut activity = Activity {
        varied: vec![false; function.values.len()],
        useful: vec![false; function.values.len()],
        mem_varied: vec![false; function.mems.len()],
        mem_useful: vec![false; function.mems.len()],
        roots: function
            .mems
            .iter()
            .enumerate()
            .map(|(i, m)| m.field.as_ref().map_or(i, |(root, _)| root.index()))
            .collect(),
        passive: function.values.iter().map(|v| v.passive).collect(),
    };
    for (param, param_ref) in sig.params.iter().zip(&function.params) {
        match param_ref {
            ParamRef::Value(v) => activity.varied[v.index()] = param.active,
            ParamRef::Mem(m) => activity.mem_varied[m.index()] = param.active,
        }
    }
    // Facts only turn from false to true, so the passes reach a fixpoint.
    while activity.forward(&function.body) {}
    mark_output(&mut activity, &function.output);
    while activity.backward(&function.body) {}
    activity.report(cx, &function.body);
    activity
}

fn mark_output(activity: &mut Activity, output: &Output) {
    match output {
        Output::Operand(operand) => {
            if let Some(v) = operand.value() {
                activity.useful[v.index()] = true;
            }
        }
        Output::Tuple(parts) => parts.iter().for_each(|part| mark_output(activity, part)),
        Output::Passive(_) => {}
        Output::Mem(mem) => activity.mem_useful[mem.index()] = true,
    }
}

impl Activity {
    fn set_varied(&mut self, value: Value, varied: bool) -> bool {
        let changed = varied && !self.varied[value.index()];
        self.varied[value.index()] |= varied;
        changed
    }

    /// One forward pass over the block; whether anything changed.
    fn forward(&mut self, block: &Block) -> bool {
        let mut changed = false;
        for stmt in &block.stmts {
            match stmt {
                Stmt::Inst(inst) => {
                    let varied = match &inst.op {
                        Op::Copy | Op::Field(_) | Op::Index => self.varied_operand(&inst.args[0]),
                        Op::Rule { rule, .. } => inst
                            .args
                            .iter()
                            .zip(rule.rule().adjoints)
                            .any(|(arg, adjoint)| adjoint.is_some() && self.varied_operand(arg)),
                        Op::Call { cut, .. } => inst
                            .args
                            .iter()
                            .zip(cut)
                            .any(|(arg, &cut)| !cut && self.varied_operand(arg)),
                        Op::Struct { .. } | Op::WithField { .. } => {
                            inst.args.iter().any(|arg| self.varied_operand(arg))
                        }
                        Op::Load(mem) | Op::Snapshot(mem) => self.mem_is_varied(*mem),
                        Op::Opaque(_) | Op::Len(_) => false,
                    };
                    let varied = varied && !self.passive[inst.result.index()];
                    changed |= self.set_varied(inst.result, varied);
                }
                Stmt::Store(store) => {
                    if self.varied_operand(&store.value) {
                        changed |= self.mark_mem_varied(store.mem);
                    }
                }
                Stmt::MemInit(init) => {
                    let varied = match &init.kind {
                        MemInitKind::Repeat { elem, .. } => self.varied_operand(elem),
                        MemInitKind::List { elems, .. } => {
                            elems.iter().any(|e| self.varied_operand(e))
                        }
                        MemInitKind::Copy { src } => self.mem_is_varied(*src),
                        MemInitKind::FromValue(value) => self.varied[value.index()],
                        MemInitKind::Placeholder
                        | MemInitKind::Empty { .. }
                        | MemInitKind::ZeroLike(_)
                        | MemInitKind::RowsLike { .. } => false,
                    };
                    if varied {
                        changed |= self.mark_mem_varied(init.mem);
                    }
                }
                Stmt::If(if_) => {
                    changed |= self.forward(&if_.then_block);
                    changed |= self.forward(&if_.else_block);
                    for phi in &if_.phis {
                        let varied = self.varied_operand(&phi.then_value)
                            || self.varied_operand(&phi.else_value);
                        changed |= self.set_varied(phi.result, varied);
                    }
                }
                Stmt::Loop(loop_) => {
                    for c in &loop_.carried {
                        let varied = self.varied_operand(&c.init) || self.varied_operand(&c.next);
                        changed |= self.set_varied(c.param, varied);
                    }
                    changed |= self.forward(&loop_.body);
                    for c in &loop_.carried {
                        let varied = self.varied[c.param.index()] || self.varied_operand(&c.next);
                        changed |= self.set_varied(c.result, varied);
                    }
                }
            }
        }
        changed
    }

    fn set_useful(&mut self, operand: &Operand) -> bool {
        match operand {
            Operand::Value(v) if !self.useful[v.index()] => {
                self.useful[v.index()] = true;
                true
            }
            Operand::Mem(mem, _) if !self.mem_useful[self.roots[mem.index()]] => {
                self.mem_useful[self.roots[mem.index()]] = true;
                true
            }
            _ => false,
        }
    }

    /// One backward pass over the block; whether anything changed.
    fn backward(&mut self, block: &Block) -> bool {
        let mut changed = false;
        for stmt in block.stmts.iter().rev() {
            match stmt {
                Stmt::Inst(inst) => {
                    if !(self.useful[inst.result.index()] && self.varied[inst.result.index()]) {
                        continue;
                    }
                    match &inst.op {
                        Op::Rule { rule, .. } => {
                            for (arg, adjoint) in inst.args.iter().zip(rule.rule().adjoints) {
                                if adjoint.is_some() {
                                    changed |= self.set_useful(arg);
                                }
                            }
                        }
                        Op::Copy | Op::Field(_) | Op::Index => {
                            changed |= self.set_useful(&inst.args[0])
                        }
                        Op::Call { cut, .. } => {
                            for (arg, &cut) in inst.args.iter().zip(cut) {
                                if !cut {
                                    changed |= self.set_useful(arg);
                                }
                            }
                        }
                        Op::Struct { .. } | Op::WithField { .. } => {
                            for arg in &inst.args {
                                changed |= self.set_useful(arg);
                            }
                        }
                        Op::Load(mem) | Op::Snapshot(mem) => {
                            changed |= self.set_useful(&Operand::Mem(*mem, Vec::new()))
                        }
                        Op::Opaque(_) | Op::Len(_) => {}
                    }
                }
                Stmt::Store(store) => {
                    if self.mem_useful[self.roots[store.mem.index()]] {
                        changed |= self.set_useful(&store.value);
                    }
                }
                Stmt::MemInit(init) => {
                    if !self.mem_useful[self.roots[init.mem.index()]] {
                        continue;
                    }
                    match &init.kind {
                        MemInitKind::Repeat { elem, .. } => changed |= self.set_useful(elem),
                        MemInitKind::List { elems, .. } => {
                            for elem in elems {
                                changed |= self.set_useful(elem);
                            }
                        }
                        MemInitKind::Copy { src } => {
                            changed |= self.set_useful(&Operand::Mem(*src, Vec::new()))
                        }
                        MemInitKind::FromValue(value) => {
                            changed |= self.set_useful(&Operand::Value(*value))
                        }
                        MemInitKind::Placeholder
                        | MemInitKind::Empty { .. }
                        | MemInitKind::ZeroLike(_)
                        | MemInitKind::RowsLike { .. } => {}
                    }
                }
                Stmt::If(if_) => {
                    for phi in &if_.phis {
                        if self.useful[phi.result.index()] {
                            changed |= self.set_useful(&phi.then_value);
                            changed |= self.set_useful(&phi.else_value);
                        }
                    }
                    changed |= self.backward(&if_.then_block);
                    changed |= self.backward(&if_.else_block);
                }
                Stmt::Loop(loop_) => {
                    for c in &loop_.carried {
                        if self.useful[c.result.index()] || self.useful[c.param.index()] {
                            changed |= self.set_useful(&Operand::Value(c.param));
                            changed |= self.set_useful(&Operand::Value(c.result));
                            changed |= self.set_useful(&c.next);
                            changed |= self.set_useful(&c.init);
                        }
                    }
                    changed |= self.backward(&loop_.body);
                }
            }
        }
        changed
    }

    /// Errors for operations without a rule applied to varied values.
    fn report(&self, cx: &Ctxt, block: &Block) {
        block.for_each_inst(&mut |inst| {
            if let Op::Opaque(opaque) = &inst.op {
                if !opaque.cut && inst.args.iter().any(|arg| self.varied_operand(arg)) {
                    cx.error_spanned_by(&opaque.at, &opaque.error);
                }
            }
        });
        report_repeat(self, cx, block);
    }
}

/// `[x; n]` with a varied `x` would need the sum of the adjoints, which no rule gives: lowering
/// fills such arrays with `x` held constant and stores `x` in each element. A fill left varied
/// is an error rather than a derivative lost.
fn report_repeat(activity: &Activity, cx: &Ctxt, block: &Block) {
    for stmt in &block.stmts {
        match stmt {
            Stmt::MemInit(init) => {
                if let MemInitKind::Repeat { elem, .. } = &init.kind {
                    if activity.varied_operand(elem) {
                        cx.error_at(
                            init.span,
                            "an array filled with a value that carries a derivative is not supported; fill it with a constant and assign the elements",
                        );
                    }
                }
            }
            Stmt::If(if_) => {
                report_repeat(activity, cx, &if_.then_block);
                report_repeat(activity, cx, &if_.else_block);
            }
            Stmt::Loop(loop_) => report_repeat(activity, cx, &loop_.body),
            _ => {}
        }
    }
}
