//! Which variables of the enclosing scopes a loop's body may assign, read from its syntax before
//! the body is lowered, so that each body is lowered once (and nested loops in linear time).
//!
//! The scan may find more than the body assigns (a name it takes for an outer variable that a
//! pattern it does not model shadows): such a variable is carried unchanged, which costs nothing
//! in correctness. It must never find less; lowering checks that after the body
//! (`check_assigned`), so a miss is reported as a bug instead of becoming a wrong derivative.
//!
//! ```text
//! for _ in 0..3 {                 assigns: prev, x
//!     prev = x;
//!     let y = x * 0.5;            (y is the body's own)
//!     x = 0.5 * (x + 2.0 / x);
//!     if x < 1e-9 { break; }      assigns: the loop's break flag
//! }
//! ```

use std::collections::BTreeSet;

use syn::visit::{self, Visit};
use syn::{Expr, Pat};

use super::LoopCtx;
use super::scope::{LoopIdx, Var};

pub(super) struct Assigned {
    /// The loops around the body, outermost first, with their labels; the last is the loop
    /// whose body is scanned.
    enclosing: Vec<(LoopIdx, Option<String>)>,
    /// The labels of the loops inside the body around the point being scanned, innermost last.
    inner: Vec<Option<String>>,
    /// The names the body declares, per block, innermost last: assigning them is not assigning
    /// an outer variable.
    declared: Vec<BTreeSet<String>>,
    /// How many closures are around the point being scanned: their `return` is their own.
    in_closure: usize,
    pub(super) vars: BTreeSet<Var>,
}

impl Assigned {
    pub(super) fn new(loops: &[LoopCtx]) -> Self {
        Assigned {
            enclosing: loops
                .iter()
                .map(|ctx| (ctx.idx, ctx.label.clone()))
                .collect(),
            inner: Vec::new(),
            declared: Vec::new(),
            in_closure: 0,
            vars: BTreeSet::new(),
        }
    }

    /// The body of the loop being lowered: the pattern it binds, a `while` condition, the block.
    pub(super) fn loop_body(&mut self, pat: Option<&Pat>, cond: Option<&Expr>, body: &syn::Block) {
        self.declared.push(BTreeSet::new());
        if let Some(pat) = pat {
            self.declare_pattern(pat);
        }
        if let Some(cond) = cond {
            self.visit_expr(cond);
        }
        self.visit_block(body);
        self.declared.pop();
    }

    /// The body of a closure: the variables it assigns that it did not declare.
    pub(super) fn closure_body(
        &mut self,
        inputs: &syn::punctuated::Punctuated<Pat, syn::Token![,]>,
        body: &Expr,
    ) {
        self.declared.push(BTreeSet::new());
        for input in inputs {
            self.declare_pattern(input);
        }
        self.visit_expr(body);
        self.declared.pop();
    }

    fn declare_pattern(&mut self, pat: &Pat) {
        struct Names<'a>(&'a mut BTreeSet<String>);
        impl<'ast> Visit<'ast> for Names<'_> {
            fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
                self.0.insert(pat.ident.to_string());
                visit::visit_pat_ident(self, pat);
            }
        }
        let top = self.declared.last_mut().expect("a block is open");
        Names(top).visit_pat(pat);
    }

    /// A name assigned: an outer variable unless the body declared it.
    fn assign_name(&mut self, name: String) {
        if !self.declared.iter().any(|names| names.contains(&name)) {
            self.vars.insert(Var::User(name));
        }
    }

    /// The variables a place expression names: `x`, `(a, b)`, `t.0`, `a[i]`.
    fn assign_place(&mut self, place: &Expr) {
        match place {
            Expr::Path(path) => {
                if let Some(ident) = path.path.get_ident() {
                    self.assign_name(ident.to_string());
                }
            }
            Expr::Tuple(tuple) => tuple.elems.iter().for_each(|e| self.assign_place(e)),
            Expr::Array(array) => array.elems.iter().for_each(|e| self.assign_place(e)),
            Expr::Paren(paren) => self.assign_place(&paren.expr),
            Expr::Field(field) => self.assign_place(&field.base),
            Expr::Index(index) => self.assign_place(&index.expr),
            _ => {}
        }
    }

    /// The loop a `break` or `continue` leaves, when it is the loop being lowered or one around
    /// it (a loop inside the body handles its own).
    fn target(&self, label: Option<&syn::Lifetime>) -> Option<LoopIdx> {
        match label {
            None if !self.inner.is_empty() => None,
            None => self.enclosing.last().map(|(idx, _)| *idx),
            Some(label) => {
                let name = label.ident.to_string();
                if self
                    .inner
                    .iter()
                    .any(|l| l.as_deref() == Some(name.as_str()))
                {
                    return None;
                }
                self.enclosing
                    .iter()
                    .rev()
                    .find(|(_, l)| l.as_deref() == Some(name.as_str()))
                    .map(|(idx, _)| *idx)
            }
        }
    }

    fn own(&self) -> Option<LoopIdx> {
        self.enclosing.last().map(|(idx, _)| *idx)
    }

    fn inner_loop(&mut self, label: Option<&syn::Label>, f: impl FnOnce(&mut Self)) {
        self.inner.push(label.map(|l| l.name.ident.to_string()));
        f(self);
        self.inner.pop();
    }
}

impl<'ast> Visit<'ast> for Assigned {
    fn visit_block(&mut self, block: &'ast syn::Block) {
        self.declared.push(BTreeSet::new());
        visit::visit_block(self, block);
        self.declared.pop();
    }

    fn visit_local(&mut self, local: &'ast syn::Local) {
        // The value is computed before the names exist.
        if let Some(init) = &local.init {
            self.visit_expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
        self.declare_pattern(&local.pat);
    }

    fn visit_expr_assign(&mut self, assign: &'ast syn::ExprAssign) {
        self.assign_place(&assign.left);
        visit::visit_expr_assign(self, assign);
    }

    fn visit_expr_binary(&mut self, binary: &'ast syn::ExprBinary) {
        if super::syntax::is_compound_assignment(&binary.op) {
            self.assign_place(&binary.left);
        }
        visit::visit_expr_binary(self, binary);
    }

    /// `&mut x` may write `x` (`std::mem::swap(&mut a, &mut b)`).
    fn visit_expr_reference(&mut self, reference: &'ast syn::ExprReference) {
        if reference.mutability.is_some() {
            self.assign_place(&reference.expr);
        }
        visit::visit_expr_reference(self, reference);
    }

    /// `pending.take()` assigns `None` to `pending`.
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if call.method == "take" && call.args.is_empty() {
            self.assign_place(&call.receiver);
        }
        visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_for_loop(&mut self, for_: &'ast syn::ExprForLoop) {
        self.visit_expr(&for_.expr);
        self.inner_loop(for_.label.as_ref(), |a| {
            a.declared.push(BTreeSet::new());
            a.declare_pattern(&for_.pat);
            a.visit_block(&for_.body);
            a.declared.pop();
        });
    }

    fn visit_expr_while(&mut self, while_: &'ast syn::ExprWhile) {
        self.inner_loop(while_.label.as_ref(), |a| {
            a.visit_expr(&while_.cond);
            a.visit_block(&while_.body);
        });
    }

    fn visit_expr_loop(&mut self, loop_: &'ast syn::ExprLoop) {
        self.inner_loop(loop_.label.as_ref(), |a| a.visit_block(&loop_.body));
    }

    fn visit_expr_break(&mut self, brk: &'ast syn::ExprBreak) {
        if self.in_closure == 0 {
            if let Some(idx) = self.target(brk.label.as_ref()) {
                self.vars.insert(Var::Break(idx));
                if brk.expr.is_some() {
                    self.vars.insert(Var::BreakValue(idx));
                }
            }
        }
        visit::visit_expr_break(self, brk);
    }

    fn visit_expr_continue(&mut self, cont: &'ast syn::ExprContinue) {
        // The loop's own `continue` flag is declared in its body; an outer loop's is carried.
        if self.in_closure == 0 {
            if let Some(idx) = self.target(cont.label.as_ref()) {
                if Some(idx) != self.own() {
                    self.vars.insert(Var::Continue(idx));
                }
            }
        }
    }

    fn visit_expr_return(&mut self, ret: &'ast syn::ExprReturn) {
        if self.in_closure == 0 {
            self.vars.insert(Var::Return);
            self.vars.insert(Var::ReturnValue);
        }
        visit::visit_expr_return(self, ret);
    }

    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        self.declared.push(BTreeSet::new());
        for input in &closure.inputs {
            self.declare_pattern(input);
        }
        self.in_closure += 1;
        self.visit_expr(&closure.body);
        self.in_closure -= 1;
        self.declared.pop();
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        self.declared.push(BTreeSet::new());
        self.declare_pattern(&arm.pat);
        visit::visit_arm(self, arm);
        self.declared.pop();
    }

    // Items declared in the body are not part of it; macros other than the assertions and
    // `vec!` are rejected, and those do not assign.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
    fn visit_macro(&mut self, _: &'ast syn::Macro) {}
}
