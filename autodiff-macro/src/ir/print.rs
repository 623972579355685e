//! The IR as text, for snapshot tests and for reading what lowering made of a body.
//!
//! ```text
//! fn(x: %0, y: %1) -> %6
//!   %2 = sin %0                        rule instructions by their row's name
//!   s = mul %2, %1                     a value is named after the user's variable, if any
//!   a[%3] = s                          stores; `a = [0.0; %4]` declarations
//!   if %5 { .. } else { .. }           phis after the branches: `r = phi(then, else)`
//!   loop for i in 0..%4 (count %7) {  carried: `acc = carried(init) next %8 -> acc_1`
//! ```

use std::fmt::Write;

use super::*;

impl Function {
    /// The function as text, one statement per line.
    pub fn print(&self) -> String {
        let mut p = Printer {
            function: self,
            out: String::new(),
            depth: 0,
        };
        let params: Vec<String> = self
            .params
            .iter()
            .map(|param| match param {
                ParamRef::Value(v) => p.value(*v),
                ParamRef::Mem(m) => p.mem(*m),
            })
            .collect();
        let output = p.output(&self.output);
        let _ = writeln!(p.out, "fn({}) -> {output}", params.join(", "));
        p.depth = 1;
        p.block(&self.body);
        p.out
    }
}

struct Printer<'a> {
    function: &'a Function,
    out: String,
    depth: usize,
}

impl Printer<'_> {
    fn value(&self, v: Value) -> String {
        match &self.function.values[v.index()].name {
            Some(name) => format!("{name}%{}", v.0),
            None => format!("%{}", v.0),
        }
    }

    fn mem(&self, m: Mem) -> String {
        let data = &self.function.mems[m.index()];
        match (&data.field, &data.name) {
            (Some((root, path)), _) => {
                let path: Vec<String> = path.iter().map(member).collect();
                format!("{}.{}", self.mem(*root), path.join("."))
            }
            (None, Some(name)) => format!("{name}@{}", m.0),
            (None, None) => format!("@{}", m.0),
        }
    }

    fn operand(&self, operand: &Operand) -> String {
        match operand {
            Operand::Value(v) => self.value(*v),
            Operand::Const(c) => c.tokens.to_string(),
            Operand::Mem(m, indices) => {
                let mut s = self.mem(*m);
                for i in indices {
                    let _ = write!(s, "[{}]", self.operand(i));
                }
                s
            }
            Operand::Range(start, end) => {
                format!("{}..{}", self.operand(start), self.operand(end))
            }
            Operand::Bool(b) => b.to_string(),
            Operand::Index(k) => format!("#{k}"),
            Operand::Undef => "undef".into(),
            Operand::Poison => "poison".into(),
        }
    }

    fn operands(&self, operands: &[Operand]) -> String {
        let parts: Vec<String> = operands.iter().map(|o| self.operand(o)).collect();
        parts.join(", ")
    }

    fn output(&self, output: &Output) -> String {
        match output {
            Output::Operand(o) => self.operand(o),
            Output::Passive(o) => format!("passive {}", self.operand(o)),
            Output::Mem(m) => self.mem(*m),
            Output::Tuple(parts) => {
                let parts: Vec<String> = parts.iter().map(|p| self.output(p)).collect();
                format!("({})", parts.join(", "))
            }
        }
    }

    fn line(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.out, "{}{}", "  ".repeat(self.depth), text.as_ref());
    }

    fn block(&mut self, block: &Block) {
        for stmt in &block.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Inst(inst) => self.inst(inst),
            Stmt::Store(store) => self.store(store),
            Stmt::MemInit(init) => self.mem_init(init),
            Stmt::If(if_) => self.if_stmt(if_),
            Stmt::Loop(loop_) => self.loop_stmt(loop_),
        }
    }

    fn inst(&mut self, inst: &Inst) {
        let op = match &inst.op {
            Op::Copy => "copy".to_string(),
            Op::Rule { rule, .. } => rule.rule().name.to_string(),
            Op::Opaque(opaque) if opaque.cut => "opaque".into(),
            Op::Opaque(_) => "opaque?".into(),
            Op::Call {
                callee, tangents, ..
            } => {
                let name = match callee {
                    Callee::Path(path) => quote::quote!(#path).to_string().replace(' ', ""),
                    Callee::Method(method) => format!(".{method}"),
                };
                if *tangents {
                    format!("call jvp {name}")
                } else {
                    format!("call {name}")
                }
            }
            Op::Field(m) => format!("field .{}", member(m)),
            Op::Struct { members, .. } => {
                let members: Vec<String> = members.iter().map(member).collect();
                format!("struct {{{}}}", members.join(", "))
            }
            Op::WithField { member: m, .. } => format!("with .{}", member(m)),
            Op::Index => "index".into(),
            Op::Load(m) => format!("load {}", self.mem(*m)),
            Op::Len(m) => format!("len {}", self.mem(*m)),
            Op::Snapshot(m) => format!("snapshot {}", self.mem(*m)),
        };
        let args = self.operands(&inst.args);
        let text = if args.is_empty() {
            format!("{} = {op}", self.value(inst.result))
        } else {
            format!("{} = {op} {args}", self.value(inst.result))
        };
        self.line(text);
    }

    fn store(&mut self, store: &Store) {
        let mut place = self.mem(store.mem);
        for i in &store.indices {
            let _ = write!(place, "[{}]", self.operand(i));
        }
        let verb = if store.push { "push" } else { "=" };
        let text = format!("{place} {verb} {}", self.operand(&store.value));
        self.line(text);
    }

    fn mem_init(&mut self, init: &MemInit) {
        let kind = match &init.kind {
            MemInitKind::Repeat { elem, lens, vecs } => {
                let mut s = self.operand(elem);
                for (len, vec) in lens.iter().zip(vecs).rev() {
                    let vec = if *vec { "vec!" } else { "" };
                    s = format!("{vec}[{s}; {}]", self.operand(len));
                }
                s
            }
            MemInitKind::List { elems, .. } => format!("[{}]", self.operands(elems)),
            MemInitKind::Copy { src } => format!("copy {}", self.mem(*src)),
            MemInitKind::ZeroLike(like) => format!("zeros like {}", self.operand(like)),
            MemInitKind::RowsLike { like, cap } => match cap {
                Some(cap) => format!(
                    "rows of zeros like {}, at most {}",
                    self.operand(like),
                    self.operand(cap)
                ),
                None => format!("rows of zeros like {}", self.operand(like)),
            },
            MemInitKind::FromValue(v) => format!("from {}", self.value(*v)),
            MemInitKind::Placeholder => "placeholder".into(),
            MemInitKind::Empty { .. } => "vec![]".into(),
        };
        let let_ = if init.declare { "let " } else { "" };
        let text = format!("{let_}{} = {kind}", self.mem(init.mem));
        self.line(text);
    }

    fn if_stmt(&mut self, if_: &If) {
        let text = format!(
            "if {} (record {}) {{",
            self.operand(&if_.cond),
            self.value(if_.record)
        );
        self.line(text);
        self.depth += 1;
        self.block(&if_.then_block);
        self.depth -= 1;
        if !if_.else_block.stmts.is_empty() {
            self.line("} else {");
            self.depth += 1;
            self.block(&if_.else_block);
            self.depth -= 1;
        }
        self.line("}");
        for phi in &if_.phis {
            let text = format!(
                "{} = phi({}, {})",
                self.value(phi.result),
                self.operand(&phi.then_value),
                self.operand(&phi.else_value)
            );
            self.line(text);
        }
    }

    fn loop_stmt(&mut self, loop_: &Loop) {
        let head = match &loop_.kind {
            LoopKind::Range {
                index,
                start,
                end,
                inclusive,
                reversed,
            } => {
                let dots = if *inclusive { "..=" } else { ".." };
                let rev = if *reversed { " rev" } else { "" };
                format!(
                    "loop for {} in {}{dots}{}{rev}",
                    self.value(*index),
                    self.operand(start),
                    self.operand(end)
                )
            }
            LoopKind::Forever => "loop".into(),
        };
        let text = format!("{head} (count {}) {{", self.value(loop_.count));
        self.line(text);
        self.depth += 1;
        for c in &loop_.carried {
            let text = format!(
                "{} = carried({})",
                self.value(c.param),
                self.operand(&c.init)
            );
            self.line(text);
        }
        self.block(&loop_.body);
        for c in &loop_.carried {
            let text = format!("next {} -> {}", self.operand(&c.next), self.value(c.result));
            self.line(text);
        }
        if let Some(exit) = &loop_.exit {
            let text = format!("exit if {}", self.operand(exit));
            self.line(text);
        }
        self.depth -= 1;
        self.line("}");
    }
}

fn member(member: &syn::Member) -> String {
    match member {
        syn::Member::Named(ident) => ident.to_string(),
        syn::Member::Unnamed(index) => index.index.to_string(),
    }
}

/// The plan of the backward sweep as text: what each loop and branch keeps, in the order of
/// the function's statements.
pub fn print_plan(function: &Function, backward: &crate::reverse::Backward) -> String {
    use crate::reverse::Need;
    let p = Printer {
        function,
        out: String::new(),
        depth: 0,
    };
    let needs = |needs: &[Need]| -> String {
        let parts: Vec<String> = needs
            .iter()
            .map(|need| match need {
                Need::Value(v) => p.value(*v),
                Need::Pullback(v) => format!("pullback of {}", p.value(*v)),
                Need::Mem(m) => format!("all of {}", p.mem(*m)),
                Need::Winner(of) => format!("winner of {}", p.value(*of)),
            })
            .collect();
        format!("[{}]", parts.join(", "))
    };
    let mut out = String::new();
    function.body.walk(&mut |stmt| match stmt {
        Stmt::Loop(loop_) => {
            let Some(plan) = backward.loops.get(&loop_.count) else {
                return;
            };
            if !plan.backward {
                let _ = writeln!(out, "loop {}: no backward sweep", p.value(loop_.count));
                return;
            }
            let order = if plan.sparse {
                "the winning iteration alone"
            } else if plan.by_count {
                "counted"
            } else {
                "range reversed"
            };
            let mut extra = String::new();
            for (load, first) in &plan.same {
                let _ = write!(extra, ", reads {} as {}", p.value(*load), p.value(*first));
            }
            for snapshot in &plan.borrowed {
                let _ = write!(extra, ", reads {} in place", p.value(*snapshot));
            }
            if let Some(winner) = plan.winner {
                let how = if plan.scan.is_some() {
                    "finds after the loop"
                } else {
                    "keeps"
                };
                let _ = write!(extra, ", {how} where {} last won", p.value(winner.inst));
            }
            if !plan.once.is_empty() {
                let _ = write!(extra, ", keeps {} once", needs(&plan.once));
            }
            if !plan.counters.is_empty() {
                let counters: Vec<String> =
                    plan.counters.iter().map(|c| p.value(c.param)).collect();
                let _ = write!(extra, ", counts back [{}]", counters.join(", "));
            }
            for (mem, indices) in &plan.sums {
                let indices: Vec<String> = indices.iter().map(|i| p.operand(i)).collect();
                let _ = write!(
                    extra,
                    ", sums d_{}[{}] locally",
                    p.mem(*mem),
                    indices.join("][")
                );
            }
            let _ = writeln!(
                out,
                "loop {}: {:?}, {order}, tape {} per iteration, recomputes {}{extra}",
                p.value(loop_.count),
                plan.schedule,
                needs(&plan.record),
                needs(
                    &plan
                        .remat
                        .iter()
                        .map(|v| Need::Value(*v))
                        .collect::<Vec<_>>()
                ),
            );
        }
        Stmt::If(if_) => {
            let Some(plan) = backward.ifs.get(&if_.record) else {
                return;
            };
            if !plan.backward {
                return;
            }
            let how = if plan.by_cond() {
                "tests its condition again".to_string()
            } else {
                let taped = if plan.taped { " on a tape" } else { "" };
                format!(
                    "records then {} else {}{taped}",
                    needs(&plan.then_record),
                    needs(&plan.else_record)
                )
            };
            let _ = writeln!(out, "if {}: {how}", p.value(if_.record));
        }
        _ => {}
    });
    let captured: Vec<Need> = backward.captured.iter().copied().collect();
    let _ = writeln!(out, "the backward sweep keeps {}", needs(&captured));
    out
}
