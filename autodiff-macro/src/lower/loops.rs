//! `for`, `while` and `loop`, and what a `for` loop iterates over.
//!
//! A loop carries the variables its body assigns: each is a parameter of the iteration (its
//! value at the start), with a next value (at the end) and a result (after the loop). Which
//! variables those are is read from the body's syntax first ([`super::assigned`]), so that the
//! body is lowered once:
//!
//! ```text
//! let mut x = x0;                       x_p = param, init x0
//! let mut prev = x0;                    prev_p = param, init x0
//! for _ in 0..3 {                →      for _ in 0..3 {
//!     prev = x;                             t = copy(x_p)              (prev's next value)
//!     x = 0.5 * (x + 2.0 / x);              x_1 = mul(0.5, add(x_p, div(2.0, x_p)))
//! }                                     } carried (x_p → x_1), (prev_p → t)
//! ```

use super::assigned::Assigned;
use super::scope::same_opt;
use super::syntax::*;
use super::*;
use proc_macro2::Span;
use quote::ToTokens;
use syn::{Expr, Pat};

/// A variable of an enclosing scope that the loop body assigns.
struct CarriedVar {
    depth: usize,
    var: Var,
    init: Option<Val>,
    /// Its value at the start of an iteration; `None` for a variable that each iteration
    /// assigns before reading it (declared without a value, or a flag's value).
    param: Option<Val>,
}

impl Lowerer<'_> {
    pub(super) fn new_loop_ctx(&mut self, label: Option<&syn::Label>) -> LoopCtx {
        let idx = LoopIdx(self.n_loops);
        self.n_loops += 1;
        LoopCtx {
            label: label.map(|l| l.name.ident.to_string()),
            idx,
            outer_block: self.blocks.len() - 1,
            break_arrays: Vec::new(),
        }
    }

    pub(super) fn for_loop(&mut self, for_: &syn::ExprForLoop) -> Val {
        let span = for_.for_token.span;
        let scan = |a: &mut Assigned| a.loop_body(Some(&for_.pat), None, &for_.body);
        // A range bound to a name: the loop variable is the loop's index itself.
        if let Some((range, index_name)) = self.index_range(&for_.expr, &for_.pat) {
            let ctx = self.new_loop_ctx(for_.label.as_ref());
            return self.lower_loop(ctx, span, Some(range), scan, |l, index| {
                if let (Some(index), Some(name)) = (index, &index_name) {
                    l.values[index.index()]
                        .name
                        .get_or_insert_with(|| name.clone());
                    l.declare(Var::user(name), Some(Val::Scalar(Operand::Value(index))));
                }
                l.block(&for_.body)
            });
        }
        // `for row in a.iter().chain(b.iter())` of rows: the loop over `a`, then the same loop
        // over `b` (a stream's item cannot be a row of either array).
        if let Some((first, second)) = self.chained_rows(for_) {
            let mut over = for_.clone();
            *over.expr = first.clone();
            self.for_loop(&over);
            *over.expr = second.clone();
            return self.for_loop(&over);
        }
        // `for v in rows.flatten()`: the loop over the rows, the loop over a row's elements
        // inside (a stream's item cannot come from two rows); a `break` would leave only the
        // inner loop, so the loop may have none.
        if let Some((rows, elements)) = self.flattened_rows(&for_.expr) {
            if !breaks_loop(&for_.body, for_.label.as_ref()) {
                let mut inner = for_.clone();
                *inner.expr = elements;
                let outer: Expr = syn::parse_quote_spanned!(span=>
                    for __autodiff_row in #rows { #inner }
                );
                return self.expr(&outer);
            }
        }
        // Anything else: the items of an iterator chain, bound to the pattern.
        let Some(stream) = self.stream(&for_.expr) else {
            return Val::Poison;
        };
        self.stream_loop(
            &stream,
            span,
            for_.label.as_ref(),
            scan,
            &mut |l, item, _| {
                l.scopes.push(Scope::new());
                // The items of an iterator borrow what they come from, unless copied.
                l.binding_ref = !copied_items(&for_.expr);
                l.binding_owned_parts = copied_parts(&for_.expr);
                l.bind(&for_.pat, item, None);
                l.binding_ref = false;
                l.binding_owned_parts = Vec::new();
                l.block(&for_.body);
                l.scopes.pop();
            },
        );
        Val::Unit
    }

    /// The two halves of a `for` loop's `a.chain(b)` of rows, where two loops in sequence do
    /// what it does: the body leaves the loop by no `break` and jumps to no outer loop (which
    /// would skip the second loop too), and `b` names an array the body cannot change (it is
    /// evaluated after the first loop, not before it).
    fn chained_rows<'e>(&self, for_: &'e syn::ExprForLoop) -> Option<(&'e Expr, &'e Expr)> {
        let Expr::MethodCall(call) = strip_parens(&for_.expr) else {
            return None;
        };
        let [second] = call.args.iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        if call.method != "chain" {
            return None;
        }
        let root = plain_source(second)?;
        let rows = self.iterates_rows(&call.receiver) || self.iterates_rows(second);
        // (The walks of the body last: most loops are not over chained rows.)
        (rows
            && !stores(&for_.body).whole.contains(&root.to_string())
            && !leaves_loop(&for_.body, for_.label.as_ref()))
        .then_some((&*call.receiver, second))
    }

    pub(super) fn while_loop(&mut self, while_: &syn::ExprWhile) -> Val {
        let span = while_.while_token.span;
        let ctx = self.new_loop_ctx(while_.label.as_ref());
        let brk = Var::Break(ctx.idx);
        let scan = |a: &mut Assigned| {
            // The condition's `break` is implicit.
            a.vars.insert(brk.clone());
            a.loop_body(None, Some(&while_.cond), &while_.body);
        };
        self.lower_loop(ctx, span, None, scan, |l, _| {
            // `while let PAT = e { body }` is `loop { if let PAT = e { body } else { break } }`.
            if let Expr::Let(let_) = &*while_.cond {
                return l.if_let(
                    let_,
                    |l| l.block(&while_.body),
                    |l| {
                        l.assign_var(&brk, Val::Scalar(const_bool(true)));
                        Val::Unit
                    },
                    span,
                );
            }
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
        let brk_val = Var::BreakValue(ctx.idx);
        self.declare(brk_val.clone(), Some(Val::Scalar(dummy())));
        let scan = |a: &mut Assigned| a.loop_body(None, None, &loop_.body);
        self.lower_loop(ctx, span, None, scan, |l, _| l.block(&loop_.body));
        self.var(&brk_val)
    }

    /// The loop targeted by `break`/`continue` with this label (the innermost without one), as
    /// a position in `self.loops`.
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
        let idx = self.loops[k].idx;
        if let Some(value) = &brk.expr {
            let val = self.expr(value);
            let val = self.owned_rows(val, value.span());
            let val = self.outliving(k, false, val, &mut 0, value.span());
            if !self.assign_var(&Var::BreakValue(idx), val) {
                self.error(value, "`break` with a value is only supported in `loop`");
            }
        }
        self.assign_var(&Var::Break(idx), Val::Scalar(const_bool(true)));
        Val::Unit
    }

    /// A `break` value's arrays (`break a`, `break (w, s)`; rows copied first, `owned_rows`)
    /// copied into arrays declared before
    /// loop `k`, the same for every `break` of it: a copy, as Rust makes, that outlives the loop.
    /// With `returned`, a `return` value's, the same for every `return` of the function, which
    /// outlive the loops it may be in. `position` counts the arrays met so far in the value.
    pub(super) fn outliving(
        &mut self,
        k: usize,
        returned: bool,
        val: Val,
        position: &mut usize,
        span: Span,
    ) -> Val {
        match val {
            // A struct's field read whole (`s.x`): maybe an array, its adjoint added whole.
            Val::Scalar(Operand::Value(v)) if self.maybe_array(v) => val,
            Val::Mem(mem, prefix) if prefix.is_empty() && !self.mems[mem.index()].structured => {
                let shape = (self.mems[mem.index()].dims, self.mems[mem.index()].vec);
                let known = match returned {
                    true => self.return_arrays.get(*position),
                    false => self.loops[k].break_arrays.get(*position),
                };
                let dst = match known {
                    Some(dst) => *dst,
                    None => {
                        // A `return`'s arrays are declared in the function's own block, before
                        // every loop that returns them.
                        let outer = if returned {
                            0
                        } else {
                            self.loops[k].outer_block
                        };
                        let dst = self.placeholder_array(shape, None, None, outer, span);
                        if self.maybe_arrays.contains(&mem) {
                            self.maybe_arrays.insert(dst);
                        }
                        match returned {
                            true => self.return_arrays.push(dst),
                            false => self.loops[k].break_arrays.push(dst),
                        }
                        dst
                    }
                };
                *position += 1;
                let fill = self.fill_placeholder(dst, MemInitKind::Copy { src: mem }, span);
                self.push(fill);
                Val::Mem(dst, Vec::new())
            }
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .into_iter()
                    .map(|part| self.outliving(k, returned, part, position, span))
                    .collect(),
            ),
            val => val,
        }
    }

    pub(super) fn continue_expr(&mut self, cont: &syn::ExprContinue) -> Val {
        let Some(k) = self.target_loop(cont.label.as_ref(), cont) else {
            return Val::Poison;
        };
        let idx = self.loops[k].idx;
        self.assign_var(&Var::Continue(idx), Val::Scalar(const_bool(true)));
        Val::Unit
    }

    /// Lowers a loop whose body assigns (at most) the variables `scan` finds in its syntax:
    /// each is carried from one iteration to the next.
    pub(super) fn lower_loop(
        &mut self,
        ctx: LoopCtx,
        span: Span,
        range: Option<RangeSpec>,
        scan: impl FnOnce(&mut Assigned),
        body: impl FnOnce(&mut Self, Option<Value>) -> Val,
    ) -> Val {
        let own = ctx.idx;
        self.declare(Var::Break(own), Some(Val::Scalar(const_bool(false))));
        self.loops.push(ctx);
        let mut assigned = Assigned::new(&self.loops);
        scan(&mut assigned);
        let before = self.scopes.clone();

        // Each variable the body may assign is a parameter of the iteration.
        let mut carried_vars = Vec::new();
        for var in assigned.vars {
            let Some(depth) = self.depth_of(&var) else {
                continue;
            };
            let init = self.scopes[depth][&var].val.clone();
            let param = match &init {
                Some(val @ (Val::Scalar(_) | Val::Tuple(_) | Val::Option(..)))
                    if !is_dummy(val) =>
                {
                    let param = self.fresh_like(var.name(), val);
                    self.share_marks(&param, val);
                    if let Some(binding) = self.scopes[depth].get_mut(&var) {
                        binding.val = Some(param.clone());
                    }
                    Some(param)
                }
                _ => None,
            };
            carried_vars.push(CarriedVar {
                depth,
                var,
                init,
                param,
            });
        }
        let index = range.as_ref().map(|_| self.new_value(None));
        self.blocks.push(Vec::new());
        self.run_body(own, index, body);

        // The loop ends after an iteration that breaks it, an enclosing loop, or the function.
        let outer = self.loops.len() - 1;
        let mut exit_flags: Vec<Operand> = self.exit_flags(&self.loops[..outer]);
        if let Val::Scalar(flag) = self.var(&Var::Break(own)) {
            if !matches!(flag, Operand::Bool(false)) {
                exit_flags.push(flag);
            }
        }
        let exit = if exit_flags.is_empty() {
            None
        } else {
            Some(self.any(&exit_flags, span))
        };

        // A variable without a parameter is assigned before it is read in every iteration: it
        // is carried only for its value after the loop, with a parameter no one reads.
        let mut carried_vars: Vec<(usize, Var, Val, Val, Val)> = carried_vars
            .into_iter()
            .filter_map(|cv| {
                let next = self.scopes[cv.depth][&cv.var].val.clone();
                let (init, param) = match cv.param {
                    Some(param) => (cv.init.unwrap_or(Val::Scalar(dummy())), param),
                    None if same_opt(&next, &cv.init) => return None,
                    None => {
                        let shape = next.clone().unwrap_or(Val::Scalar(dummy()));
                        let param = self.fresh_like(cv.var.name(), &shape);
                        (dummy_like(&shape), param)
                    }
                };
                let next = next.unwrap_or(Val::Scalar(dummy()));
                Some((cv.depth, cv.var, init, param, next))
            })
            .collect();
        // The carried variables move to their next values all at once (`(a, b) = (b, a)`): a
        // next value that is itself a carried parameter is copied first, so that the backward
        // sweep's transfers of adjoints do not overlap either.
        let params: Vec<Value> = carried_vars
            .iter()
            .flat_map(|(_, _, _, param, _)| val_values(param))
            .collect();
        for (_, _, _, param, next) in &mut carried_vars {
            *next = self.copy_carried(next.clone(), &params, span);
            // An array value (a struct's field read whole, a call's array) whose next value is
            // a local array (`cur = if c { rot(cur) } else { [cur[1], cur[0]] }`): carried as
            // a value, the array's copy.
            if let (Val::Scalar(Operand::Value(p)), Val::Mem(mem, prefix)) = (&*param, &*next) {
                if self.values[p.index()].aggregate && !self.mems[mem.index()].structured {
                    let copy = self.emit(Op::Snapshot(*mem), prefix.clone(), span);
                    self.values[copy.index()].aggregate = true;
                    *next = Val::Scalar(Operand::Value(copy));
                }
            }
        }
        let mut carried = Vec::new();
        let mut results = Vec::new();
        for (depth, var, init, param, next) in carried_vars {
            self.share_marks(&param, &next);
            let result = self.fresh_like(var.name(), &param);
            self.share_marks(&result, &param);
            let mut lost = None;
            flatten_carried(&init, &param, &next, &result, &mut carried, &mut lost);
            let name = var.name().unwrap_or("a variable");
            match lost {
                Some(Lost::Array) => self.error_at(
                    span,
                    format!("this loop puts an array into `{name}`, which held no array before the loop (`prev = Some(cur)` after `let mut prev = None;`); give it an array before the loop (`let mut prev = Some(cur);`) or its type (`let mut prev: Option<[f64; 2]> = None;`), or keep the array in a variable of its own"),
                ),
                Some(Lost::Option) => self.error_at(
                    span,
                    format!("this loop puts an `Option` it builds (`{name} = Some(x)`) into `{name}`, which held one the function was given before the loop (`let mut {name} = start;`); build that one too: `let mut {name} = None; if let Some(v) = start {{ {name} = Some(v); }}`"),
                ),
                Some(Lost::GivenOption) => self.error_at(
                    span,
                    format!("this loop puts an `Option` of an array or a tuple the function was given (`{name} = obs[i]`) into `{name}`, which held one it builds; take it apart: `{name} = match obs[i] {{ Some(p) => Some(p), None => None }};` (of a tuple, `Some((a, b)) => Some((a, b))`)"),
                ),
                Some(Lost::Other) => self.error_at(
                    span,
                    format!("this loop gives `{name}` a value of another kind than the one it held before the loop (a tuple written out where a call's value was); give it its value the same way before the loop, or keep the two in variables of their own"),
                ),
                None => {}
            }
            results.push((depth, var, result));
        }
        let stmts = self.blocks.pop().expect("the loop body's block");
        self.loops.pop();
        let mut carried_names = Vec::new();
        for (depth, var, result) in results {
            if let Some(binding) = self.scopes[depth].get_mut(&var) {
                binding.val = Some(result);
            }
            carried_names.push(var);
        }
        self.check_assigned(&before, &carried, &carried_names, span);
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

    /// The guard against a variable the body assigns but the scan missed, which would be read
    /// with its value from the first iteration: every variable of the enclosing scopes is either
    /// carried or unchanged. An error here is a bug in the scan, reported instead of a wrong
    /// derivative.
    fn check_assigned(&self, before: &[Scope], carried: &[Carried], vars: &[Var], span: Span) {
        let results: Vec<Value> = carried.iter().map(|c| c.result).collect();
        for (depth, scope) in before.iter().enumerate() {
            for (var, binding) in scope {
                let now = self.scopes[depth].get(var).and_then(|b| b.val.clone());
                // Carried: its values are the loop's results, or it is an array declared before
                // the loop that the body writes (a `break` value's).
                let carried_out = vars.contains(var)
                    && now.as_ref().is_some_and(|val| {
                        holds_array(val) || val_values(val).iter().any(|v| results.contains(v))
                    });
                if !carried_out && !same_opt(&now, &binding.val) {
                    self.error_at(
                        span,
                        format!(
                            "internal error in autodiff: the loop assigns {var:?} but was not found to; this is a bug in autodiff, not in your code: please report it with this function"
                        ),
                    );
                }
            }
        }
    }

    /// Marks the values of `val` as the values of `like` in the same place are marked: as
    /// standing for call results (tuples, arrays, structs), as kept as written (maybe
    /// references, see `Lowerer::kept_as_written`), as struct elements standing for
    /// references (`Lowerer::element_refs`), and as structs (`q` of `q = q.mul(&dq)`).
    fn share_marks(&mut self, val: &Val, like: &Val) {
        match (val, like) {
            (Val::Scalar(Operand::Value(v)), Val::Scalar(Operand::Value(l))) => {
                if self.values[l.index()].aggregate {
                    self.values[v.index()].aggregate = true;
                }
                if self.kept_as_written.contains(l) {
                    self.kept_as_written.insert(*v);
                }
                if self.element_refs.contains(l) {
                    self.element_refs.insert(*v);
                }
                if self.structs.contains(l) {
                    self.structs.insert(*v);
                }
            }
            (Val::Tuple(vs), Val::Tuple(ls)) => {
                for (v, l) in vs.iter().zip(ls) {
                    self.share_marks(v, l);
                }
            }
            (Val::Option(v, _), Val::Option(l, _)) => self.share_marks(v, l),
            _ => {}
        }
    }

    pub(super) fn run_body(
        &mut self,
        own: LoopIdx,
        index: Option<Value>,
        body: impl FnOnce(&mut Self, Option<Value>) -> Val,
    ) {
        self.blocks.push(Vec::new());
        self.scopes.push(Scope::new());
        self.declare(Var::Continue(own), Some(Val::Scalar(const_bool(false))));
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
            Val::Scalar(Operand::Value(v)) if params.contains(&v) => {
                let copy = self.emit(Op::Copy, vec![Operand::Value(v)], span);
                self.values[copy.index()].aggregate = self.values[v.index()].aggregate;
                Val::Scalar(Operand::Value(copy))
            }
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .into_iter()
                    .map(|p| self.copy_carried(p, params, span))
                    .collect(),
            ),
            Val::Option(value, some) => {
                let value = self.copy_carried(*value, params, span);
                let Val::Scalar(some) = self.copy_carried(Val::Scalar(some), params, span) else {
                    unreachable!("a scalar stays one")
                };
                Val::Option(Box::new(value), some)
            }
            val => val,
        }
    }

    /// New values with the shape of `val` (a scalar, or a tuple of them), named `name`.
    pub(super) fn fresh_like(&mut self, name: Option<&str>, val: &Val) -> Val {
        match val {
            Val::Tuple(parts) => {
                Val::Tuple(parts.iter().map(|p| self.fresh_like(None, p)).collect())
            }
            Val::Mem(..) => val.clone(),
            Val::Option(value, _) => {
                let value = self.fresh_like(name, value);
                Val::Option(Box::new(value), Operand::Value(self.new_value(None)))
            }
            _ => Val::Scalar(Operand::Value(self.new_value(name.map(str::to_owned)))),
        }
    }

    /// `for i in a..b`, `a..=b`, `(a..b).rev()` with `i` a name or `_`: a range loop whose
    /// index is the variable.
    pub(super) fn index_range(
        &mut self,
        expr: &Expr,
        pat: &Pat,
    ) -> Option<(RangeSpec, Option<String>)> {
        let (range_expr, reversed) = match strip_parens(expr) {
            Expr::MethodCall(call) if call.method == "rev" && call.args.is_empty() => {
                (strip_parens(&call.receiver), true)
            }
            e => (e, false),
        };
        let Expr::Range(range) = range_expr else {
            return None;
        };
        let index_name = match pat {
            Pat::Ident(p) if p.subpat.is_none() => Some(p.ident.to_string()),
            Pat::Wild(_) => None,
            _ => return None,
        };
        let (Some(start), Some(end)) = (&range.start, &range.end) else {
            return None;
        };
        let start = self.operand(start);
        let end = self.operand(end);
        let inclusive = matches!(range.limits, syn::RangeLimits::Closed(_));
        Some((
            RangeSpec {
                start,
                end,
                inclusive,
                reversed,
            },
            index_name,
        ))
    }
}

pub(super) struct RangeSpec {
    pub(super) start: Operand,
    pub(super) end: Operand,
    pub(super) inclusive: bool,
    pub(super) reversed: bool,
}

/// Placeholders in the shape of `val`: the initial value of a variable each iteration assigns
/// before reading it.
fn dummy_like(val: &Val) -> Val {
    match val {
        Val::Tuple(parts) => Val::Tuple(parts.iter().map(dummy_like).collect()),
        Val::Option(value, _) => Val::Option(Box::new(dummy_like(value)), dummy()),
        _ => Val::Scalar(dummy()),
    }
}

/// Whether a value is or holds an array (`(a, b)` of a `break` or a `return`).
fn holds_array(val: &Val) -> bool {
    match val {
        Val::Mem(..) => true,
        Val::Tuple(parts) => parts.iter().any(holds_array),
        Val::Option(value, _) => holds_array(value),
        _ => false,
    }
}

/// The values of a scalar or tuple.
pub(super) fn val_values(val: &Val) -> Vec<Value> {
    match val {
        Val::Scalar(Operand::Value(v)) => vec![*v],
        Val::Tuple(parts) => parts.iter().flat_map(val_values).collect(),
        Val::Option(value, some) => {
            let mut values = val_values(value);
            values.extend(some.value());
            values
        }
        _ => Vec::new(),
    }
}

/// What a carried variable's next value is that its parameter cannot hold.
pub(super) enum Lost {
    Array,
    Option,
    GivenOption,
    Other,
}

/// One `Carried` per scalar of a carried variable (tuples are carried element by element).
pub(super) fn flatten_carried(
    init: &Val,
    param: &Val,
    next: &Val,
    result: &Val,
    out: &mut Vec<Carried>,
    lost: &mut Option<Lost>,
) {
    match (param, result) {
        (Val::Scalar(Operand::Value(param)), Val::Scalar(Operand::Value(result))) => {
            let init = match init {
                Val::Scalar(op) => op.clone(),
                _ => dummy(),
            };
            let next = match next {
                Val::Scalar(op) => op.clone(),
                // An array where the variable held a number or nothing (`prev = Some(cur)` after
                // `None`): it cannot be carried, and must not be dropped.
                Val::Mem(..) => {
                    *lost = Some(Lost::Array);
                    dummy()
                }
                // An `Option` built where the variable held a value the function was given (an
                // `Option` parameter): carried as that value, it would be lost.
                Val::Option(..) => {
                    *lost = Some(Lost::Option);
                    dummy()
                }
                Val::Tuple(_) | Val::Closure(_) => {
                    *lost = Some(Lost::Other);
                    dummy()
                }
                Val::Unit | Val::Poison => dummy(),
            };
            out.push(Carried {
                init,
                param: *param,
                next,
                result: *result,
            });
        }
        (Val::Tuple(params), Val::Tuple(results)) => {
            // Another shape there (not left unassigned) would be lost.
            let joined = match next {
                Val::Tuple(parts) => parts.len() == params.len(),
                next => is_dummy(next) || matches!(next, Val::Unit | Val::Poison),
            };
            if !joined {
                *lost = Some(Lost::Other);
            }
            for (k, (param, result)) in params.iter().zip(results).enumerate() {
                let pick = |v: &Val| match v {
                    Val::Tuple(parts) => parts.get(k).cloned().unwrap_or(Val::Scalar(dummy())),
                    _ => Val::Scalar(dummy()),
                };
                flatten_carried(&pick(init), param, &pick(next), result, out, lost);
            }
        }
        // An array the body wrote in place stays the same array; another one would be lost.
        (Val::Mem(param, _), _) => match next {
            Val::Mem(next, _) if next == param => {}
            Val::Scalar(Operand::Undef) | Val::Unit | Val::Poison => {}
            _ => *lost = Some(Lost::Array),
        },
        // An `Option`: its value and whether there is one.
        (Val::Option(param, param_some), Val::Option(result, result_some)) => {
            let parts = |v: &Val| match v {
                Val::Option(value, some) => ((**value).clone(), Val::Scalar(some.clone())),
                _ => (Val::Scalar(dummy()), Val::Scalar(dummy())),
            };
            // Anything else there (not left unassigned) would be lost: an `Option` the
            // function was given, of an array.
            if !matches!(next, Val::Option(..)) && !is_dummy(next) {
                *lost = Some(Lost::GivenOption);
            }
            let ((init_value, init_some), (next_value, next_some)) = (parts(init), parts(next));
            flatten_carried(&init_value, param, &next_value, result, out, lost);
            // A given `Option` of a tuple rebuilt whole (`Some(p) => Some(p)`) holds a value
            // where the variable's has the tuple's parts.
            if matches!(**param, Val::Tuple(_))
                && !matches!(next_value, Val::Tuple(_))
                && !is_dummy(&next_value)
            {
                *lost = Some(Lost::GivenOption);
            }
            flatten_carried(
                &init_some,
                &Val::Scalar(param_some.clone()),
                &next_some,
                &Val::Scalar(result_some.clone()),
                out,
                lost,
            );
        }
        _ => {}
    }
}

impl Lowerer<'_> {
    /// Whether the items of the chain `expr` are surely references to the elements of what it
    /// iterates, rows in tuples too (`pts.iter().enumerate()`, `a.iter().zip(&b)`): no adapter
    /// that makes values on the way. A name given to `zip` gives references when it holds one
    /// (a reference parameter, a borrow); a local array given by value gives its rows.
    pub(super) fn referenced_items(&self, expr: &syn::Expr) -> bool {
        match strip_parens(expr) {
            syn::Expr::MethodCall(call) => match call.method.to_string().as_str() {
                "iter" | "windows" | "chunks" | "chunks_exact" => call.args.len() <= 1,
                "enumerate" | "rev" | "skip" | "take" | "step_by" | "filter" => {
                    self.referenced_items(&call.receiver)
                }
                "zip" => {
                    self.referenced_items(&call.receiver)
                        && call.args.iter().all(|arg| match strip_parens(arg) {
                            syn::Expr::Path(_) => self.holds_reference(arg),
                            arg => self.referenced_items(arg),
                        })
                }
                _ => false,
            },
            syn::Expr::Reference(r) => r.mutability.is_none(),
            _ => false,
        }
    }

    /// Whether the name is a reference parameter or holds a borrow.
    fn holds_reference(&self, name: &syn::Expr) -> bool {
        match self.local_val(name) {
            Some(Val::Mem(mem, prefix)) => prefix.is_empty() && self.ref_param(*mem),
            Some(Val::Scalar(Operand::Value(v))) => self.borrowed(*v),
            _ => false,
        }
    }
}

/// Which parts of the tuples a chain gives are copies, where the chain says (`a` of
/// `m.atoms.iter().cloned().zip(x)`, a value; `xi`, a reference); empty if it does not.
pub(super) fn copied_parts(expr: &syn::Expr) -> Vec<bool> {
    match strip_parens(expr) {
        syn::Expr::MethodCall(call) => match call.method.to_string().as_str() {
            "zip" if call.args.len() == 1 => {
                vec![copied_items(&call.receiver), copied_items(&call.args[0])]
            }
            // (The position is a number either way.)
            "enumerate" => vec![true, copied_items(&call.receiver)],
            "rev" | "skip" | "take" | "step_by" | "filter" => copied_parts(&call.receiver),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Whether a loop's items are copies (`data.iter().copied()`, also enumerated, reversed,
/// skipped, taken, stepped or filtered) or values a `map` makes, not borrows of what they come
/// from.
pub(super) fn copied_items(expr: &syn::Expr) -> bool {
    match strip_parens(expr) {
        syn::Expr::MethodCall(call) => match call.method.to_string().as_str() {
            "copied" | "cloned" => true,
            // `map`'s items are what its function gives: values (`x.iter().map(sq)`), unless
            // its closure borrows (`.map(|i| &rows[i])`).
            "map" => match call.args.first().map(strip_parens) {
                Some(syn::Expr::Path(_)) => true,
                Some(syn::Expr::Closure(f)) => {
                    !matches!(strip_parens(&f.body), syn::Expr::Reference(_))
                }
                _ => false,
            },
            "enumerate" | "rev" | "skip" | "take" | "step_by" | "filter" => {
                copied_items(&call.receiver)
            }
            _ => false,
        },
        _ => false,
    }
}
