//! `for`, `while` and `loop`, and what a `for` loop iterates over.

use super::scope::same_opt;
use super::syntax::*;
use super::*;
use proc_macro2::Span;
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Expr, Pat};

impl Lowerer<'_> {
    pub(super) fn new_loop_ctx(&mut self, label: Option<&syn::Label>) -> LoopCtx {
        let k = self.n_loops;
        self.n_loops += 1;
        LoopCtx {
            label: label.map(|l| l.name.ident.to_string()),
            brk: format!("#brk{k}"),
            cont: format!("#cont{k}"),
            brk_val: format!("#brk_val{k}"),
        }
    }

    pub(super) fn for_loop(&mut self, for_: &syn::ExprForLoop) -> Val {
        let span = for_.for_token.span;
        let Some(iter) = self.iteration(&for_.expr, &for_.pat) else {
            return Val::Poison;
        };
        let ctx = self.new_loop_ctx(for_.label.as_ref());
        self.lower_loop(ctx, span, iter.range, |l, index| {
            // Bind the loop variable(s) at the start of each iteration.
            if let Some(index) = index {
                if let Some(name) = &iter.index_name {
                    l.values[index.index()]
                        .name
                        .get_or_insert_with(|| name.clone());
                    l.declare(name, Some(Val::Scalar(Operand::Value(index))));
                }
                for (name, source) in &iter.elems {
                    let i = Operand::Value(index);
                    let val = match source {
                        Source::Mem(mem) if l.mems[mem.index()].dims > 1 => Val::Mem(*mem, vec![i]),
                        Source::Mem(mem) => {
                            Val::Scalar(Operand::Value(l.emit(Op::Load(*mem), vec![i], span)))
                        }
                        Source::Value(value) => {
                            let args = vec![Operand::Value(*value), i];
                            Val::Scalar(Operand::Value(l.emit(Op::Index, args, span)))
                        }
                    };
                    if let Some(name) = name {
                        let val = l.name_value(name, val, None, span);
                        l.declare(name, Some(val));
                        // `*v` reads the element itself.
                        l.declare(&format!("#elem {name}"), Some(Val::Unit));
                    }
                }
            }
            l.block(&for_.body)
        })
    }

    pub(super) fn while_loop(&mut self, while_: &syn::ExprWhile) -> Val {
        if let Expr::Let(let_) = &*while_.cond {
            self.error(
                let_,
                "`while let` is not supported; use `loop` with `match` and `break`",
            );
            return Val::Poison;
        }
        let span = while_.while_token.span;
        let ctx = self.new_loop_ctx(while_.label.as_ref());
        let brk = ctx.brk.clone();
        self.lower_loop(ctx, span, None, |l, _| {
            let cond = l.operand(&while_.cond);
            let not_cond = l.not_any(std::slice::from_ref(&cond), span);
            // `while c { body }` is `loop { if !c { break } body }`.
            l.lower_if(
                not_cond,
                |l| {
                    l.assign_var(&brk, Val::Scalar(const_bool(true)));
                    Val::Unit
                },
                |l| l.block(&while_.body),
                span,
            )
        })
    }

    pub(super) fn forever_loop(&mut self, loop_: &syn::ExprLoop) -> Val {
        let span = loop_.loop_token.span;
        let ctx = self.new_loop_ctx(loop_.label.as_ref());
        let brk_val = ctx.brk_val.clone();
        self.declare(&brk_val, Some(Val::Scalar(dummy())));
        self.lower_loop(ctx, span, None, |l, _| l.block(&loop_.body));
        self.var(&brk_val)
    }

    /// The loop targeted by `break`/`continue` with this label (the innermost without one).
    pub(super) fn target_loop(
        &self,
        label: Option<&syn::Lifetime>,
        at: &impl ToTokens,
    ) -> Option<usize> {
        let found = match label {
            None => self.loops.len().checked_sub(1),
            Some(label) => {
                let name = label.ident.to_string();
                self.loops
                    .iter()
                    .rposition(|ctx| ctx.label.as_deref() == Some(name.as_str()))
            }
        };
        if found.is_none() {
            self.error(at, "`break`/`continue` outside of a loop");
        }
        found
    }

    pub(super) fn break_expr(&mut self, brk: &syn::ExprBreak) -> Val {
        let Some(k) = self.target_loop(brk.label.as_ref(), brk) else {
            return Val::Poison;
        };
        if let Some(value) = &brk.expr {
            let val = self.expr(value);
            let name = self.loops[k].brk_val.clone();
            if !self.assign_var(&name, val) {
                self.error(value, "`break` with a value is only supported in `loop`");
            }
        }
        let name = self.loops[k].brk.clone();
        self.assign_var(&name, Val::Scalar(const_bool(true)));
        Val::Unit
    }

    pub(super) fn continue_expr(&mut self, cont: &syn::ExprContinue) -> Val {
        let Some(k) = self.target_loop(cont.label.as_ref(), cont) else {
            return Val::Poison;
        };
        let name = self.loops[k].cont.clone();
        self.assign_var(&name, Val::Scalar(const_bool(true)));
        Val::Unit
    }

    /// Lowers a loop: once, muted, to find the variables the body assigns; then for real, with
    /// those variables carried from one iteration to the next.
    pub(super) fn lower_loop(
        &mut self,
        ctx: LoopCtx,
        span: Span,
        range: Option<RangeSpec>,
        body: impl Fn(&mut Self, Option<Value>) -> Val,
    ) -> Val {
        self.declare(&ctx.brk, Some(Val::Scalar(const_bool(false))));
        let (brk, cont) = (ctx.brk.clone(), ctx.cont.clone());
        self.loops.push(ctx);

        // Discovery: which variables of the enclosing scopes does the body assign?
        let saved = (
            self.values.len(),
            self.mems.len(),
            self.scopes.clone(),
            self.muted,
            self.n_loops,
        );
        self.muted = true;
        let index = range.as_ref().map(|_| self.new_value(None));
        self.blocks.push(Vec::new());
        self.run_body(&cont, index, &body);
        self.blocks.pop();
        // With the value each has after the body, for its shape.
        let assigned: Vec<(usize, String, Option<Val>)> = (0..saved.2.len())
            .flat_map(|depth| {
                let before = &saved.2[depth];
                let after = &self.scopes[depth];
                before
                    .iter()
                    .filter(|(name, val)| !same_opt(&after.get(*name).cloned().flatten(), val))
                    .map(|(name, _)| (depth, name.clone(), after.get(name).cloned().flatten()))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.values.truncate(saved.0);
        self.mems.truncate(saved.1);
        self.scopes = saved.2;
        self.muted = saved.3;
        self.n_loops = saved.4;

        // The body for real: each assigned variable is a parameter of the iteration.
        let mut carried_vars = Vec::new();
        for (depth, name, after) in &assigned {
            let mut init = self.scopes[*depth][name]
                .clone()
                .unwrap_or(Val::Scalar(dummy()));
            // A placeholder (a variable the loop assigns first) takes the shape of what it is
            // assigned: `return (a, b)` inside a loop carries a tuple.
            if is_dummy(&init) {
                if let Some(Val::Tuple(parts)) = after {
                    init = Val::Tuple(vec![Val::Scalar(dummy()); parts.len()]);
                }
            }
            let param = self.fresh_like(name, &init);
            self.scopes[*depth].insert(name.clone(), Some(param.clone()));
            carried_vars.push((*depth, name.clone(), init, param));
        }
        let index = range.as_ref().map(|_| self.new_value(None));
        self.blocks.push(Vec::new());
        self.run_body(&cont, index, &body);
        // The loop ends after an iteration that breaks it, an enclosing loop, or the function.
        let outer = self.loops.len() - 1;
        let mut exit_flags: Vec<Operand> = self.exit_flags(&self.loops[..outer]);
        if let Val::Scalar(flag) = self.var(&brk) {
            if !is_const(&flag, "false") {
                exit_flags.push(flag);
            }
        }
        let exit = if exit_flags.is_empty() {
            None
        } else {
            Some(self.any(&exit_flags, span))
        };
        let mut carried = Vec::new();
        let mut results = Vec::new();
        // The carried variables move to their next values all at once (`(a, b) = (b, a)`): a
        // next value that is itself a carried parameter is copied first, so that the backward
        // sweep's transfers of adjoints do not overlap either.
        let params: Vec<Value> = carried_vars
            .iter()
            .flat_map(|(_, _, _, param)| val_values(param))
            .collect();
        let nexts: Vec<Val> = carried_vars
            .iter()
            .map(|(depth, name, _, _)| {
                let next = self.scopes[*depth][name]
                    .clone()
                    .unwrap_or(Val::Scalar(dummy()));
                self.copy_carried(next, &params, span)
            })
            .collect();
        for ((depth, name, init, param), next) in carried_vars.into_iter().zip(nexts) {
            let result = self.fresh_like(&name, &init);
            flatten_carried(&init, &param, &next, &result, &mut carried);
            results.push((depth, name, result));
        }
        let stmts = self.blocks.pop().expect("the loop body's block");
        self.loops.pop();
        for (depth, name, result) in results {
            self.scopes[depth].insert(name, Some(result));
        }
        let kind = match (range, index) {
            (Some(range), Some(index)) => LoopKind::Range {
                index,
                start: range.start,
                end: range.end,
                inclusive: range.inclusive,
                reversed: range.reversed,
            },
            _ => LoopKind::Forever,
        };
        let count = self.new_value(Some("iterations".to_owned()));
        self.push(ir::Stmt::Loop(Loop {
            kind,
            carried,
            body: ir::Block { stmts },
            exit,
            count,
            span,
        }));
        Val::Unit
    }

    pub(super) fn run_body(
        &mut self,
        cont: &str,
        index: Option<Value>,
        body: &impl Fn(&mut Self, Option<Value>) -> Val,
    ) {
        self.blocks.push(Vec::new());
        self.scopes.push(BTreeMap::new());
        self.declare(cont, Some(Val::Scalar(const_bool(false))));
        body(self, index);
        self.scopes.pop();
        let stmts = self.blocks.pop().expect("the body's block");
        self.blocks
            .last_mut()
            .expect("a block is open")
            .extend(stmts);
    }

    /// `val`, with each of its scalars that is one of `params` replaced by a copy.
    pub(super) fn copy_carried(&mut self, val: Val, params: &[Value], span: Span) -> Val {
        match val {
            Val::Scalar(Operand::Value(v)) if params.contains(&v) => Val::Scalar(Operand::Value(
                self.emit(Op::Copy, vec![Operand::Value(v)], span),
            )),
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .into_iter()
                    .map(|p| self.copy_carried(p, params, span))
                    .collect(),
            ),
            val => val,
        }
    }

    /// New values with the shape of `val` (a scalar, or a tuple of them), named `name`.
    pub(super) fn fresh_like(&mut self, name: &str, val: &Val) -> Val {
        let name = (!name.starts_with('#')).then(|| name.to_owned());
        match val {
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .iter()
                    .map(|p| self.fresh_like(name.as_deref().unwrap_or("#"), p))
                    .collect(),
            ),
            Val::Mem(..) => val.clone(),
            _ => Val::Scalar(Operand::Value(self.new_value(name))),
        }
    }

    /// What a `for` loop iterates over: a range, or the elements of arrays.
    pub(super) fn iteration(&mut self, expr: &Expr, pat: &Pat) -> Option<Iteration> {
        // `for i in a..b`, `a..=b`, `(a..b).rev()`
        let (range_expr, reversed) = match strip_parens(expr) {
            Expr::MethodCall(call) if call.method == "rev" && call.args.is_empty() => {
                (strip_parens(&call.receiver), true)
            }
            e => (e, false),
        };
        if let Expr::Range(range) = range_expr {
            let (Some(start), Some(end)) = (&range.start, &range.end) else {
                self.error(range, "ranges in `for` need both bounds");
                return None;
            };
            let start = self.operand(start);
            let end = self.operand(end);
            let index_name = match pat {
                Pat::Ident(p) => Some(p.ident.to_string()),
                Pat::Wild(_) => None,
                _ => {
                    self.error(pat, "bind the index of a range to a name or `_`");
                    return None;
                }
            };
            let inclusive = matches!(range.limits, syn::RangeLimits::Closed(_));
            return Some(Iteration {
                range: Some(RangeSpec {
                    start,
                    end,
                    inclusive,
                    reversed,
                }),
                index_name,
                elems: Vec::new(),
            });
        }
        if reversed {
            self.error(expr, "only ranges can be reversed in a `for` loop; iterate over the indices `(0..x.len()).rev()`");
            return None;
        }
        // `x.iter()`, `&x`, `x`, `.iter().enumerate()`, `.iter().zip(y.iter())`
        let (sources, enumerate) = self.iter_sources(expr)?;
        let span = expr.span();
        // Element bindings from the pattern.
        let elem_pat = |p: &Pat| -> Result<Option<String>, ()> {
            match p {
                Pat::Ident(i) => Ok(Some(i.ident.to_string())),
                Pat::Reference(r) => match &*r.pat {
                    Pat::Ident(i) => Ok(Some(i.ident.to_string())),
                    _ => Err(()),
                },
                Pat::Wild(_) => Ok(None),
                _ => Err(()),
            }
        };
        let (index_name, elem_pats): (Option<String>, Vec<&Pat>) = match (enumerate, pat) {
            (true, Pat::Tuple(t)) if t.elems.len() == 2 => {
                let index = match &t.elems[0] {
                    Pat::Ident(i) => Some(i.ident.to_string()),
                    _ => None,
                };
                let rest = match (&t.elems[1], sources.len()) {
                    (Pat::Tuple(inner), n) if n > 1 && inner.elems.len() == n => {
                        inner.elems.iter().collect()
                    }
                    (p, 1) => vec![p],
                    _ => {
                        self.error(
                            pat,
                            "the pattern does not match what the loop iterates over",
                        );
                        return None;
                    }
                };
                (index, rest)
            }
            (false, Pat::Tuple(t)) if sources.len() > 1 && t.elems.len() == sources.len() => {
                (None, t.elems.iter().collect())
            }
            (false, p) if sources.len() == 1 => (None, vec![p]),
            _ => {
                self.error(
                    pat,
                    "the pattern does not match what the loop iterates over",
                );
                return None;
            }
        };
        let mut elems = Vec::new();
        for (p, source) in elem_pats.into_iter().zip(&sources) {
            match elem_pat(p) {
                Ok(name) => elems.push((name, *source)),
                Err(()) => {
                    self.error(p, "bind each element to a name, `&name` or `_`");
                    return None;
                }
            }
        }
        // The length: the shortest of the arrays.
        let lens: Vec<Operand> = sources
            .iter()
            .map(|source| {
                let len = match source {
                    Source::Mem(mem) => self.emit(Op::Len(*mem), Vec::new(), span),
                    Source::Value(value) => {
                        let hole = Opaque::hole(0);
                        let op = Op::Opaque(Opaque::cut(quote!(#hole.len())));
                        self.emit(op, vec![Operand::Value(*value)], span)
                    }
                };
                Operand::Value(len)
            })
            .collect();
        let mut end = lens[0].clone();
        for len in &lens[1..] {
            let (a, b) = (Opaque::hole(0), Opaque::hole(1));
            let op = Op::Opaque(Opaque::cut(quote!(#a.min(#b))));
            end = Operand::Value(self.emit(op, vec![end, len.clone()], span));
        }
        let start = Operand::Const(Const {
            tokens: quote!(0usize),
            atomic: true,
        });
        Some(Iteration {
            range: Some(RangeSpec {
                start,
                end,
                inclusive: false,
                reversed: false,
            }),
            index_name,
            elems,
        })
    }

    /// The arrays a `for` iterates over, and whether it is `.enumerate()`d.
    pub(super) fn iter_sources(&mut self, expr: &Expr) -> Option<(Vec<Source>, bool)> {
        match strip_parens(expr) {
            Expr::MethodCall(call) if call.method == "enumerate" && call.args.is_empty() => {
                let (sources, enumerate) = self.iter_sources(&call.receiver)?;
                if enumerate {
                    self.error(expr, "`.enumerate()` twice is not supported");
                    return None;
                }
                Some((sources, true))
            }
            Expr::MethodCall(call) if call.method == "zip" && call.args.len() == 1 => {
                let (mut sources, e1) = self.iter_sources(&call.receiver)?;
                let (more, e2) = self.iter_sources(&call.args[0])?;
                if e1 || e2 {
                    self.error(
                        expr,
                        "`.enumerate()` inside `.zip(..)` is not supported; put it outside",
                    );
                    return None;
                }
                sources.extend(more);
                Some((sources, false))
            }
            Expr::MethodCall(call)
                if matches!(
                    call.method.to_string().as_str(),
                    "iter" | "into_iter" | "copied" | "cloned"
                ) && call.args.is_empty() =>
            {
                self.iter_sources(&call.receiver)
            }
            // Only a name of an array (or a reference to one) is lowered here; other
            // iterators are reported once, as unsupported loops.
            e @ (Expr::Path(_) | Expr::Reference(_) | Expr::Field(_) | Expr::Index(_)) => {
                match self.expr(e) {
                    Val::Mem(mem, prefix) if prefix.is_empty() => {
                        Some((vec![Source::Mem(mem)], false))
                    }
                    // An array or `Vec` returned by a call.
                    Val::Scalar(Operand::Value(value)) => {
                        self.values[value.index()].aggregate = true;
                        Some((vec![Source::Value(value)], false))
                    }
                    Val::Mem(..) => {
                        self.error(e, "iterating over a row of an array is not supported; iterate over its indices");
                        None
                    }
                    Val::Poison => None,
                    _ => {
                        self.error(
                        expr,
                        "a `for` loop here iterates over a range (`0..n`, `a..=b`, `(0..n).rev()`) or over the elements of an array, slice or `Vec` (`x.iter()`, `x.iter().enumerate()`, `x.iter().zip(y.iter())`)",
                    );
                        None
                    }
                }
            }
            _ => {
                self.error(
                    expr,
                    "a `for` loop here iterates over a range (`0..n`, `a..=b`, `(0..n).rev()`) or over the elements of an array, slice or `Vec` (`x.iter()`, `x.iter().enumerate()`, `x.iter().zip(y.iter())`)",
                );
                None
            }
        }
    }
}

pub(super) struct RangeSpec {
    start: Operand,
    end: Operand,
    inclusive: bool,
    reversed: bool,
}

pub(super) struct Iteration {
    range: Option<RangeSpec>,
    index_name: Option<String>,
    /// Each element binding (`None` for `_`) and what it reads.
    elems: Vec<(Option<String>, Source)>,
}

/// What a `for` loop reads its elements from.
#[derive(Clone, Copy)]
pub(super) enum Source {
    Mem(Mem),
    /// An array value returned by a call.
    Value(Value),
}

/// The values of a scalar or tuple.
pub(super) fn val_values(val: &Val) -> Vec<Value> {
    match val {
        Val::Scalar(Operand::Value(v)) => vec![*v],
        Val::Tuple(parts) => parts.iter().flat_map(val_values).collect(),
        _ => Vec::new(),
    }
}

/// One `Carried` per scalar of a carried variable (tuples are carried element by element).
pub(super) fn flatten_carried(
    init: &Val,
    param: &Val,
    next: &Val,
    result: &Val,
    out: &mut Vec<Carried>,
) {
    match (param, result) {
        (Val::Scalar(Operand::Value(param)), Val::Scalar(Operand::Value(result))) => {
            let init = match init {
                Val::Scalar(op) => op.clone(),
                _ => dummy(),
            };
            let next = match next {
                Val::Scalar(op) => op.clone(),
                _ => dummy(),
            };
            out.push(Carried {
                init,
                param: *param,
                next,
                result: *result,
            });
        }
        (Val::Tuple(params), Val::Tuple(results)) => {
            for (k, (param, result)) in params.iter().zip(results).enumerate() {
                let pick = |v: &Val| match v {
                    Val::Tuple(parts) => parts.get(k).cloned().unwrap_or(Val::Scalar(dummy())),
                    _ => Val::Scalar(dummy()),
                };
                flatten_carried(&pick(init), param, &pick(next), result, out);
            }
        }
        _ => {}
    }
}
