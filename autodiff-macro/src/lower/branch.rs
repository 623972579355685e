//! `if`, `match`, and the flags of `break`, `continue` and `return`.

use super::scope::{same_operand, same_opt};
use super::syntax::*;
use super::*;
use crate::ir::visit::mems_declared_in;
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use quote::quote;
use syn::{Expr, Pat};

impl Lowerer<'_> {
    // Control flow -----------------------------------------------------------------------------

    /// The flags that end the current block early, with their current values.
    pub(super) fn exit_flags(&self, loops: &[LoopCtx]) -> Vec<Operand> {
        let mut vars: Vec<Var> = Vec::new();
        if self.has_return {
            vars.push(Var::Return);
        }
        for ctx in loops {
            vars.push(Var::Break(ctx.idx));
            vars.push(Var::Continue(ctx.idx));
        }
        vars.iter()
            .filter_map(|var| match self.var(var) {
                Val::Scalar(flag) if !matches!(flag, Operand::Bool(false)) => Some(flag),
                _ => None,
            })
            .collect()
    }

    pub(super) fn exit_state(&self) -> ExitState {
        let flags = self.exit_flags(&self.loops);
        if flags.is_empty() {
            ExitState::Running
        } else if flags.iter().any(|flag| matches!(flag, Operand::Bool(true))) {
            ExitState::Exited
        } else {
            ExitState::Maybe(flags)
        }
    }

    pub(super) fn if_expr(&mut self, if_: &syn::ExprIf) -> Val {
        let span = if_.if_token.span;
        // `if let Some(b) = best && b > 0.0 { .. }`: nested `if`s, each with the `else`.
        let mut conds = Vec::new();
        chain_conditions(&if_.cond, &mut conds);
        if conds.len() > 1 && conds.iter().any(|c| matches!(c, Expr::Let(_))) {
            let else_expr = if_.else_branch.as_ref().map(|(_, e)| &**e);
            return self.let_chain(&conds, &if_.then_branch, else_expr, span);
        }
        if let Expr::Let(let_) = &*if_.cond {
            let else_expr = if_.else_branch.as_ref().map(|(_, e)| (**e).clone());
            return self.if_let(
                let_,
                |l| l.block(&if_.then_branch),
                move |l| match &else_expr {
                    Some(e) => l.expr(e),
                    None => Val::Unit,
                },
                span,
            );
        }
        let cond = self.operand(&if_.cond);
        match &if_.else_branch {
            Some((_, else_expr)) => {
                let else_expr = (**else_expr).clone();
                self.lower_if(
                    cond,
                    |l| l.block(&if_.then_branch),
                    move |l| l.expr(&else_expr),
                    span,
                )
            }
            None => self.lower_if(cond, |l| l.block(&if_.then_branch), |_| Val::Unit, span),
        }
    }

    /// The conditions of a chain from the first: a `let` binds for the ones after it.
    fn let_chain(
        &mut self,
        conds: &[&Expr],
        then: &syn::Block,
        else_expr: Option<&Expr>,
        span: Span,
    ) -> Val {
        let Some((first, rest)) = conds.split_first() else {
            return self.block(then);
        };
        let else_branch = move |l: &mut Self| match else_expr {
            Some(e) => l.expr(e),
            None => Val::Unit,
        };
        let rest_branch = move |l: &mut Self| l.let_chain(rest, then, else_expr, span);
        match first {
            Expr::Let(let_) => self.if_let(let_, rest_branch, else_branch, span),
            cond => {
                let cond = self.operand(cond);
                self.lower_if(cond, rest_branch, else_branch, span)
            }
        }
    }

    /// `if let PAT = EXPR { then } else { else }`: on an `Option` an iterator gave (`Some(m)`),
    /// or on a value that is not differentiated (an index, a count), whose pattern's bindings
    /// are read out of it as written; on a tuple of them (`if let (Some(a), Some(b)) = (p, q)`),
    /// part by part.
    pub(super) fn if_let(
        &mut self,
        let_: &syn::ExprLet,
        then_branch: impl FnOnce(&mut Self) -> Val,
        else_branch: impl FnOnce(&mut Self) -> Val,
        span: Span,
    ) -> Val {
        let pat = &*let_.pat;
        let scrutinee = self.expr(self.undereferenced(&let_.expr));
        // Each part with its expression where the tuple is written out (`(f, l)`).
        let exprs: Vec<&Expr> = match strip_parens(&let_.expr) {
            Expr::Tuple(tuple) => tuple.elems.iter().collect(),
            _ => Vec::new(),
        };
        let parts: Vec<(Pat, Val, &Expr)> = match (pat, scrutinee) {
            (Pat::Tuple(tuple), Val::Tuple(vals)) if tuple.elems.len() == vals.len() => tuple
                .elems
                .iter()
                .cloned()
                .zip(vals)
                .enumerate()
                .map(|(k, (pat, val))| (pat, val, exprs.get(k).copied().unwrap_or(&let_.expr)))
                .collect(),
            (pat, val) => vec![(pat.clone(), val, &*let_.expr)],
        };
        let mut conds = Vec::new();
        let mut binds = Vec::new();
        for (pat, val, expr) in parts {
            let Some((cond, bind)) = self.let_test(pat, val, expr, span) else {
                return Val::Poison;
            };
            conds.extend(cond);
            binds.push(bind);
        }
        let cond = match &conds[..] {
            [] => Operand::Bool(true),
            [cond] => cond.clone(),
            _ => {
                let holes = (0..conds.len()).map(Opaque::hole);
                let op = Op::Opaque(Opaque::cut(quote!(#(#holes)&&*)));
                Operand::Value(self.emit(op, conds, span))
            }
        };
        self.lower_if(
            cond,
            move |l| {
                l.scopes.push(Scope::new());
                for bind in binds {
                    l.let_bind(bind);
                }
                let val = then_branch(l);
                l.scopes.pop();
                val
            },
            else_branch,
            span,
        )
    }

    /// Whether `val` (of `expr`) matches `pat`, and how the branch binds its names; `None`
    /// after an error.
    fn let_test(
        &mut self,
        pat: Pat,
        val: Val,
        expr: &Expr,
        span: Span,
    ) -> Option<(Option<Operand>, LetBind)> {
        if let Val::Option(value, some) = val {
            // `Some(p)`, or `None`.
            return match &pat {
                Pat::TupleStruct(ts)
                    if ts.path.segments.last().is_some_and(|s| s.ident == "Some")
                        && ts.elems.len() == 1 =>
                {
                    // `Some(a)` of `m.atoms.iter().max_by(..)`: a reference to the element.
                    // Also of a name bound to one (`let p = ..max_by(..); if let Some(a) = p`).
                    let by_ref = match strip_parens(expr) {
                        Expr::MethodCall(call) => gives_element_reference(call),
                        Expr::Path(path) => self.bound_by_ref(path),
                        _ => false,
                    } || matches!(&*value,
                        Val::Scalar(Operand::Value(v)) if self.element_refs.contains(v));
                    let bind = LetBind::Value(ts.elems[0].clone(), *value, by_ref);
                    Some((Some(some), bind))
                }
                Pat::Ident(p) if p.ident == "None" => {
                    let none = self.not_any(std::slice::from_ref(&some), span);
                    Some((Some(none), LetBind::Nothing))
                }
                _ => {
                    self.error(&pat, "expected `Some(..)` or `None` here");
                    None
                }
            };
        }
        // `_`: nothing tested.
        if matches!(&pat, Pat::Wild(_)) {
            return Some((None, LetBind::Nothing));
        }
        // `if let [first, rest @ ..] = us`: the length tested, the elements bound.
        if let (Pat::Slice(slice), Val::Mem(..)) = (&pat, &val) {
            let len = self.length(&val, span);
            let cond = self.slice_length_test(slice, len, span)?;
            return Some((Some(cond), LetBind::Value(pat, val, false)));
        }
        let Some(scrutinee) = self.matched_value(val, variant_pattern(&pat), expr.span()) else {
            self.error(
                expr,
                "`if let` here takes a value that is not differentiated (an `Option<usize>`, an enum), or a tuple of them; destructure arrays and tuples with `let`",
            );
            return None;
        };
        // The test, with the pattern's bindings as `_`.
        let names = binding_names(&pat);
        let mut test = pat.clone();
        syn::visit_mut::VisitMut::visit_pat_mut(&mut Unbind, &mut test);
        let hole = Opaque::hole(0);
        let cond = quote!(match #hole { #test => true, _ => false });
        let cond =
            Operand::Value(self.emit(Op::Opaque(Opaque::cut(cond)), vec![scrutinee.clone()], span));
        // `if let v @ 0.0..=1.0 = x` names the value itself; other bindings are read out of it.
        let bind = match self.match_bindings(&pat, std::slice::from_ref(&scrutinee)) {
            Some(bindings) => LetBind::Named(bindings),
            None => LetBind::Read {
                pat,
                names,
                by_ref: scrutinee.value().is_some_and(|v| self.borrowed(v)),
                scrutinee,
                at: expr.to_token_stream(),
            },
        };
        Some((Some(cond), bind))
    }

    /// Declares the names of a matched `if let` part in the branch's scope.
    fn let_bind(&mut self, bind: LetBind) {
        match bind {
            LetBind::Nothing => {}
            LetBind::Value(pat, value, by_ref) => {
                self.binding_ref = by_ref;
                self.bind(&pat, value, None);
                self.binding_ref = false;
            }
            LetBind::Named(bindings) => {
                for (name, val) in bindings {
                    self.declare(Var::user(&name), Some(val));
                }
            }
            LetBind::Read {
                pat,
                names,
                scrutinee,
                by_ref,
                at,
            } => self.read_bindings(&pat, &names, &[scrutinee], &[false], by_ref, at),
        }
    }

    /// `*iv` of a borrow `iv` (an item of `ivs.iter()`): `iv`, whose pattern's bindings are then
    /// read by reference, as `*iv`'s are (an enum that is not `Copy` is not moved out); `&best`
    /// of an `Option` the function builds: `best`.
    fn undereferenced<'e>(&self, expr: &'e Expr) -> &'e Expr {
        match strip_parens(expr) {
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Deref(_),
                expr: inner,
                ..
            }) if matches!(self.local_val(inner), Some(Val::Scalar(Operand::Value(v))) if self.borrowed(*v)) => {
                inner
            }
            // `match &best` of an `Option` the function builds: its bindings name the payload,
            // which the macro holds by value.
            Expr::Reference(r) if r.mutability.is_none() && self.gives_option(&r.expr) => &r.expr,
            _ => expr,
        }
    }

    /// The value an `if let` or `match` tests: a number or another value the macro holds, or a
    /// parameter the macro takes for a struct (an enum, `prior: Prior`), read whole.
    /// `variants`: the patterns match it against an enum's variants.
    fn matched_value(&mut self, val: Val, variants: bool, span: Span) -> Option<Operand> {
        match val {
            Val::Scalar(operand) => {
                if let (true, Some(v)) = (variants, operand.value()) {
                    self.variant_matched.insert(v);
                }
                Some(operand)
            }
            // A struct parameter's field matched against an enum's variants (`match &self.kind
            // { Kind::Linear(a) => .. }`): read whole, and data (see `enum_data`).
            Val::Mem(mem, prefix) if variants && self.mems[mem.index()].param.is_some() => {
                let field = self.load_field(mem, prefix, span);
                self.values[field.index()].aggregate = true;
                self.variant_matched.insert(field);
                Some(Operand::Value(field))
            }
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                Some(Operand::Value(self.load_field(mem, prefix, span)))
            }
            Val::Poison => Some(poison()),
            _ => None,
        }
    }

    /// Declares the `names` that `pat` binds, read out of the `scrutinee` (one value, or a
    /// tuple's elements) as written: a value that depends on a differentiated parameter has no
    /// derivative through this, which is then a compile error at `at`.
    fn read_bindings(
        &mut self,
        pat: &Pat,
        names: &[String],
        scrutinee: &[Operand],
        cloned: &[bool],
        by_ref: bool,
        at: TokenStream,
    ) {
        if names.is_empty() {
            return;
        }
        let span = pat.span();
        let idents: Vec<syn::Ident> = names
            .iter()
            .map(|n| ident_of(n, Span::call_site()))
            .collect();
        let value = holes_of(cloned);
        // `match &it.kind`, `match ev` of a borrow: the pattern binds references, as the
        // user's does, and what they refer to is copied out (a number the backward sweep may
        // keep). `.clone()` as a method: a `&x` pattern binds the value itself.
        let read = if by_ref {
            quote!(match &#value {
                #pat => (#(#idents.clone(),)*),
                _ => ::core::unreachable!(),
            })
        } else {
            quote!(match #value { #pat => (#(#idents,)*), _ => ::core::unreachable!() })
        };
        let op = Op::Opaque(Opaque {
            expr: read,
            cut: false,
            error: "a pattern that binds a value depending on a differentiated parameter inside another pattern (a struct's field, an enum's payload, an `|` pattern) is not supported; bind the value itself (`(v, 0) => ..`, `let State { x, v } = s;`) and compare it in the arm; a struct's field that is not differentiated (an enum, a `#[differentiable(skip)]` field) is matched as `match no_grad(self.kind)`".to_owned(),
            at,
            index: false,
            borrow: false,
        });
        // Of a value held as written (`demand.get(&i)` of a `HashMap`), the bindings are the
        // user's, references too: `*v` of one is kept.
        let as_written = !by_ref
            && scrutinee.iter().all(|s| {
                s.value()
                    .is_some_and(|v| self.kept_as_written.contains(&v) || self.borrowed(v))
            });
        let tuple = self.emit(op, scrutinee.to_vec(), span);
        self.values[tuple.index()].aggregate = true;
        for (k, name) in names.iter().enumerate() {
            let member = syn::Member::Unnamed(syn::Index {
                index: k as u32,
                span,
            });
            let part = self.emit(Op::Field(member), vec![Operand::Value(tuple)], span);
            if as_written {
                self.kept_as_written.insert(part);
                self.opaque_results.insert(part);
            }
            self.values[part.index()].name = Some(name.clone());
            self.declare(Var::user(name), Some(Val::Scalar(Operand::Value(part))));
        }
    }

    /// Lowers `if cond { then } else { else }` and joins the variables both sides assign.
    pub(super) fn lower_if(
        &mut self,
        cond: Operand,
        then_branch: impl FnOnce(&mut Self) -> Val,
        else_branch: impl FnOnce(&mut Self) -> Val,
        span: Span,
    ) -> Val {
        let before = self.scopes.clone();
        let (mut then_block, then_val, then_scopes) = self.branch(then_branch);
        self.scopes = before.clone();
        let (mut else_block, else_val, else_scopes) = self.branch(else_branch);
        self.scopes = before;
        let then_val = self.number_in_branch(&mut then_block, then_val, &else_val, span);
        let else_val = self.number_in_branch(&mut else_block, else_val, &then_val, span);
        let then_val = self.tuple_in_branch(&mut then_block, then_val, &else_val);
        let else_val = self.tuple_in_branch(&mut else_block, else_val, &then_val);
        let then_val = self.element_in_branch(&mut then_block, then_val, &else_val);
        let else_val = self.element_in_branch(&mut else_block, else_val, &then_val);

        let mut phis = Joins {
            inside: &mems_declared_in(&then_block) | &mems_declared_in(&else_block),
            ..Joins::default()
        };
        // Every variable of the enclosing scopes that either branch changed gets a phi.
        for depth in 0..self.scopes.len() {
            let vars: Vec<Var> = self.scopes[depth].keys().cloned().collect();
            for var in vars {
                let old = self.scopes[depth][&var].val.clone();
                let then_v = then_scopes[depth].get(&var).and_then(|b| b.val.clone());
                let else_v = else_scopes[depth].get(&var).and_then(|b| b.val.clone());
                if same_opt(&then_v, &old) && same_opt(&else_v, &old) {
                    continue;
                }
                let then_v = then_v.unwrap_or(Val::Scalar(dummy()));
                let else_v = else_v.unwrap_or(Val::Scalar(dummy()));
                let joined = self.phi(var.name(), then_v, else_v, &mut phis, span);
                if let Some(binding) = self.scopes[depth].get_mut(&var) {
                    binding.val = Some(joined);
                }
            }
        }
        let value = match (then_val, else_val) {
            (Val::Unit, Val::Unit) => Val::Unit,
            (then_v, else_v) => self.phi(None, then_v, else_v, &mut phis, span),
        };
        for (result, then_src, else_src) in phis.arrays {
            if let Some(src) = then_src {
                then_block
                    .stmts
                    .push(self.fill_placeholder(result, src, span));
            }
            if let Some(src) = else_src {
                else_block
                    .stmts
                    .push(self.fill_placeholder(result, src, span));
            }
        }
        let record = self.new_value(None);
        self.push(ir::Stmt::If(If {
            cond,
            then_block,
            else_block,
            phis: phis.values,
            record,
            span,
        }));
        value
    }

    /// An array shaped like `like`, declared before the `if`, that each branch copies its
    /// array (if it has one) into at its end.
    fn joined_array(
        &mut self,
        like: Mem,
        then_src: Option<MemInitKind>,
        else_src: Option<MemInitKind>,
        name: Option<&str>,
        phis: &mut Joins,
        span: Span,
    ) -> Val {
        let shape = (self.mems[like.index()].dims, self.mems[like.index()].vec);
        let block = self.blocks.len() - 1;
        let result = self.placeholder_array(shape, name.map(str::to_owned), None, block, span);
        if self.maybe_arrays.contains(&like) {
            self.maybe_arrays.insert(result);
        }
        phis.arrays.push((result, then_src, else_src));
        Val::Mem(result, Vec::new())
    }

    /// Whether two arrays can be joined into one: local ones of the same shape.
    fn joinable(&self, a: Mem, b: Mem) -> bool {
        let (a, b) = (&self.mems[a.index()], &self.mems[b.index()]);
        !a.structured && !b.structured && a.dims == b.dims && a.vec == b.vec
    }

    /// A branch's value that is a view into a struct (`p.w[1]`) while the other branch's is a
    /// number or another view is itself a number: it is loaded at the end of its branch.
    pub(super) fn number_in_branch(
        &mut self,
        block: &mut ir::Block,
        val: Val,
        other: &Val,
        span: Span,
    ) -> Val {
        let Val::Mem(mem, prefix) = &val else {
            return val;
        };
        let other_is_number = match other {
            Val::Scalar(_) => true,
            Val::Mem(m, p) => {
                self.mems[m.index()].structured
                    && !(m == mem
                        && p.len() == prefix.len()
                        && p.iter().zip(prefix).all(|(a, b)| same_operand(a, b)))
                    // A whole field against an array (`if c { b.x } else { [b.m, c] }`).
                    || !self.mems[m.index()].structured && p.is_empty() && prefix.is_empty()
            }
            _ => false,
        };
        if !self.mems[mem.index()].structured || !other_is_number {
            return val;
        }
        self.blocks.push(std::mem::take(&mut block.stmts));
        let value = self.emit(Op::Load(*mem), prefix.clone(), span);
        block.stmts = self.blocks.pop().expect("the branch's block");
        // A struct chosen whole (`if c { *a } else { *b }`): a copy, its adjoint a struct.
        if prefix.is_empty() {
            self.values[value.index()].aggregate = true;
            if self.mems[mem.index()].field.is_none() {
                self.structs.insert(value);
            }
        }
        Val::Scalar(Operand::Value(value))
    }

    /// `Some(&m.atoms[i])` as a branch's value: the element read in the branch, a struct
    /// value (read after the join, it would be read where `i` may be out of bounds).
    fn element_in_branch(&mut self, block: &mut ir::Block, val: Val, other: &Val) -> Val {
        let (value, some) = match val {
            // `Some(p) => p, None => return ..` (a `let .. else` too): the element read in the
            // branch that has it, a reference to it.
            element @ Val::Mem(..) if matches!(other, Val::Unit) || is_dummy(other) => {
                (element, None)
            }
            // Read where the `Option` is `Some` (`m.atoms.first()` of an empty `Vec` is not).
            Val::Option(payload, some) => (*payload, Some(some)),
            val => return val,
        };
        self.blocks.push(std::mem::take(&mut block.stmts));
        let flag = some.clone().unwrap_or(Operand::Bool(true));
        let value = self.element_value(value, &flag, Span::call_site());
        block.stmts = self.blocks.pop().expect("the branch's block");
        match some {
            Some(some) => Val::Option(Box::new(value), some),
            None => value,
        }
    }

    /// A tuple value the macro holds whole (a tuple parameter, a call's tuple) against a tuple
    /// the other branch writes out (`if t { (m, v) } else { running }`): its elements, read in
    /// the branch.
    fn tuple_in_branch(&mut self, block: &mut ir::Block, val: Val, other: &Val) -> Val {
        let (Val::Scalar(Operand::Value(value)), Val::Tuple(parts)) = (&val, other) else {
            return val;
        };
        if is_dummy(&val) {
            return val;
        }
        self.blocks.push(std::mem::take(&mut block.stmts));
        let parts = self.tuple_parts(Val::Scalar(Operand::Value(*value)), parts.len(), &quote!());
        block.stmts = self.blocks.pop().expect("the branch's block");
        parts.map_or(val, Val::Tuple)
    }

    /// Lowers one branch in a block and scope of its own.
    pub(super) fn branch(
        &mut self,
        f: impl FnOnce(&mut Self) -> Val,
    ) -> (ir::Block, Val, Vec<Scope>) {
        self.blocks.push(Vec::new());
        self.scopes.push(Scope::new());
        let val = f(self);
        self.scopes.pop();
        let stmts = self.blocks.pop().expect("the branch's block");
        (ir::Block { stmts }, val, self.scopes.clone())
    }

    /// The join of two values of a variable (`name` is the user's name, if it has one).
    pub(super) fn phi(
        &mut self,
        name: Option<&str>,
        then_v: Val,
        else_v: Val,
        phis: &mut Joins,
        span: Span,
    ) -> Val {
        match (then_v, else_v) {
            (Val::Scalar(a), Val::Scalar(b)) => {
                if same_operand(&a, &b) {
                    return Val::Scalar(a);
                }
                let result = self.new_value(name.map(str::to_owned));
                // A struct or array value from either branch (a call's result, a struct
                // literal) makes the joined value one, whose adjoint is shaped like it.
                let aggregate =
                    |v: &Operand| v.value().is_some_and(|v| self.values[v.index()].aggregate);
                self.values[result.index()].aggregate = aggregate(&a) || aggregate(&b);
                let is_struct = |v: &Operand| v.value().is_some_and(|v| self.structs.contains(&v));
                if is_struct(&a) && is_struct(&b) {
                    self.structs.insert(result);
                }
                // Maybe a reference where each branch's is (or gives nothing).
                let kept =
                    |v: &Operand| v.value().is_some_and(|v| self.kept_as_written.contains(&v));
                let nothing = |v: &Operand| matches!(v, Operand::Undef);
                let either_kept = kept(&a) || kept(&b);
                if either_kept && (kept(&a) || nothing(&a)) && (kept(&b) || nothing(&b)) {
                    self.kept_as_written.insert(result);
                }
                // Never active where neither branch's is (`Some(b) => b, None => &0.0` of a
                // `HashMap`'s `get`): copied out where arithmetic takes it, as each would be.
                let opaque = |v: &Operand| match v {
                    Operand::Value(v) => self.opaque_results.contains(v),
                    Operand::Const(_) | Operand::Undef => true,
                    _ => false,
                };
                if either_kept && opaque(&a) && opaque(&b) {
                    self.opaque_results.insert(result);
                }
                // A struct element standing for a reference, from either branch.
                let element =
                    |v: &Operand| v.value().is_some_and(|v| self.element_refs.contains(&v));
                if element(&a) || element(&b) {
                    self.element_refs.insert(result);
                }
                phis.values.push(Phi {
                    result,
                    then_value: a,
                    else_value: b,
                });
                Val::Scalar(Operand::Value(result))
            }
            (Val::Option(a, sa), Val::Option(b, sb)) => {
                let value = self.phi(name, *a, *b, phis, span);
                let Val::Scalar(some) =
                    self.phi(None, Val::Scalar(sa), Val::Scalar(sb), phis, span)
                else {
                    return Val::Poison;
                };
                Val::Option(Box::new(value), some)
            }
            // A branch that left (`continue`, `return`) gives nothing.
            (Val::Unit, option @ Val::Option(..)) => {
                self.phi(name, Val::Scalar(dummy()), option, phis, span)
            }
            (option @ Val::Option(..), Val::Unit) => {
                self.phi(name, option, Val::Scalar(dummy()), phis, span)
            }
            (Val::Option(a, sa), other) if is_dummy(&other) => {
                let dummy = Val::Option(Box::new(Val::Scalar(dummy())), dummy());
                self.phi(name, Val::Option(a, sa), dummy, phis, span)
            }
            (other, Val::Option(b, sb)) if is_dummy(&other) => {
                let dummy = Val::Option(Box::new(Val::Scalar(dummy())), dummy());
                self.phi(name, dummy, Val::Option(b, sb), phis, span)
            }
            (Val::Tuple(a), Val::Tuple(b)) if a.len() == b.len() => Val::Tuple(
                a.into_iter()
                    .zip(b)
                    .map(|(a, b)| self.phi(name, a, b, phis, span))
                    .collect(),
            ),
            (Val::Tuple(a), dummy_v) if is_dummy(&dummy_v) => {
                let dummies = vec![Val::Scalar(dummy()); a.len()];
                self.phi(name, Val::Tuple(a), Val::Tuple(dummies), phis, span)
            }
            (dummy_v, Val::Tuple(b)) if is_dummy(&dummy_v) => {
                let dummies = vec![Val::Scalar(dummy()); b.len()];
                self.phi(name, Val::Tuple(dummies), Val::Tuple(b), phis, span)
            }
            (Val::Mem(a, pa), Val::Mem(b, pb))
                if a == b
                    && pa.len() == pb.len()
                    && pa.iter().zip(&pb).all(|(x, y)| same_operand(x, y)) =>
            {
                Val::Mem(a, pa)
            }
            // An array one branch made (`if c { Some(cur) } else { None }`), and nothing: an
            // array declared before the `if`, which that branch copies its one into.
            (Val::Mem(a, pa), other)
                if pa.is_empty() && phis.inside.contains(&a) && is_nothing(&other) =>
            {
                self.joined_array(
                    a,
                    Some(MemInitKind::Copy { src: a }),
                    None,
                    name,
                    phis,
                    span,
                )
            }
            (other, Val::Mem(b, pb))
                if pb.is_empty() && phis.inside.contains(&b) && is_nothing(&other) =>
            {
                self.joined_array(
                    b,
                    None,
                    Some(MemInitKind::Copy { src: b }),
                    name,
                    phis,
                    span,
                )
            }
            (Val::Mem(a, pa), other) | (other, Val::Mem(a, pa)) if is_nothing(&other) => {
                Val::Mem(a, pa)
            }
            // Two arrays (`if c { u } else { v }`, `(x, a)` against `(x, b)`): an array of its
            // own, declared before the `if`, into which each branch copies its one.
            (Val::Mem(a, pa), Val::Mem(b, pb))
                if pa.is_empty() && pb.is_empty() && self.joinable(a, b) =>
            {
                self.joined_array(
                    a,
                    Some(MemInitKind::Copy { src: a }),
                    Some(MemInitKind::Copy { src: b }),
                    name,
                    phis,
                    span,
                )
            }
            // A call's array result, or a struct's field read whole, against an array
            // (`if c { h_pair(t) } else { q }`).
            (Val::Scalar(Operand::Value(v)), Val::Mem(b, pb))
                if pb.is_empty() && self.maybe_array(v) && self.joinable(b, b) =>
            {
                self.joined_array(
                    b,
                    Some(MemInitKind::FromValue(v)),
                    Some(MemInitKind::Copy { src: b }),
                    name,
                    phis,
                    span,
                )
            }
            (Val::Mem(a, pa), Val::Scalar(Operand::Value(v)))
                if pa.is_empty() && self.maybe_array(v) && self.joinable(a, a) =>
            {
                self.joined_array(
                    a,
                    Some(MemInitKind::Copy { src: a }),
                    Some(MemInitKind::FromValue(v)),
                    name,
                    phis,
                    span,
                )
            }
            (Val::Poison, _) | (_, Val::Poison) => Val::Poison,
            (Val::Unit, other) | (other, Val::Unit) if is_dummy(&other) => Val::Unit,
            (Val::Unit, Val::Scalar(b)) => {
                self.phi(name, Val::Scalar(dummy()), Val::Scalar(b), phis, span)
            }
            (Val::Scalar(a), Val::Unit) => {
                self.phi(name, Val::Scalar(a), Val::Scalar(dummy()), phis, span)
            }
            (Val::Unit, Val::Tuple(b)) => {
                self.phi(name, Val::Scalar(dummy()), Val::Tuple(b), phis, span)
            }
            (Val::Tuple(a), Val::Unit) => {
                self.phi(name, Val::Tuple(a), Val::Scalar(dummy()), phis, span)
            }
            (a, b) => {
                // `neg = Some(&emb[i])` in a loop: the row, copied, against nothing.
                let row_or_nothing = matches!(
                    (&a, &b),
                    (Val::Mem(..), Val::Scalar(_)) | (Val::Scalar(_), Val::Mem(..))
                );
                let hint = if row_or_nothing {
                    "; for an `Option` of a row carried by a loop (`best = Some(&emb[i])`), declare its type (`let mut best: Option<&Vec<f64>> = None;`), or keep the row's index instead (`best = Some(i)`) and index after (`emb[b]`)"
                } else {
                    ""
                };
                self.error_at(
                    span,
                    format!("the branches give values of different shapes (a number, a tuple or an array), or rows or parts of arrays; an `if` that chooses between rows is not supported: index the row inside each branch, or choose between whole arrays{hint}"),
                );
                Val::Poison
            }
        }
    }

    /// `if cond { a } else { b }` for values already computed.
    pub(super) fn join(&mut self, cond: Operand, a: Val, b: Val, span: Span) -> Val {
        self.lower_if(cond, |_| a, |_| b, span)
    }

    /// `match x { 0 | 1 => a, n if n > 5 => b, _ => c }` → `if`s on `matches!`.
    pub(super) fn match_expr(&mut self, match_: &syn::ExprMatch) -> Val {
        // `match best { Some(b) => .., None => .. }` of an `Option` the function builds: the
        // `if let` it means.
        if let Some(if_let) = option_match(match_) {
            if self.gives_option(self.undereferenced(&match_.expr)) {
                return self.if_expr(&if_let);
            }
        }
        // More arms, on a variable holding one (`Some(b) if b > 0.0 => .., Some(b) => ..,
        // None => ..`): the first arm's `if let`, the others' `match` in its `else`.
        if let Some(chain) = option_arms(match_) {
            if self.gives_option(&match_.expr) {
                // Of an expression (`match v.iter().max_by(..) { .. }`): bound to a name first,
                // evaluated once.
                if !matches!(strip_parens(&match_.expr), Expr::Path(_)) {
                    let (scrutinee, span) = (&match_.expr, match_.match_token.span);
                    let arms = &match_.arms;
                    let bound: Expr = syn::parse_quote_spanned!(span=> {
                        let __autodiff_option = #scrutinee;
                        match __autodiff_option { #(#arms)* }
                    });
                    return self.expr(&bound);
                }
                return self.expr(&chain);
            }
        }
        // `match &it.kind { Kind::Poly(cs) => .. }`: the place matched by reference, its
        // bindings references (a payload that is not `Copy` is not moved out). `&res[i]` of
        // data is lowered as the borrow it is, and matched as one below.
        let (expr, by_ref) = match strip_parens(&match_.expr) {
            Expr::Reference(r)
                if r.mutability.is_none() && matches!(strip_parens(&r.expr), Expr::Field(_)) =>
            {
                (&*r.expr, true)
            }
            expr => (self.undereferenced(expr), false),
        };
        let val = self.expr(expr);
        // `match us { [] => .., [u] => .., [first, .., last] => .. }` of an array or slice.
        if let Val::Mem(..) = val {
            if match_
                .arms
                .iter()
                .any(|arm| matches!(arm.pat, Pat::Slice(_)))
            {
                let len = self.length(&val, match_.match_token.span);
                return self.slice_arms(val, len, &match_.arms, match_.match_token.span);
            }
        }
        // `match (a > 0.0, n) { .. }`: a tuple of values, matched element by element.
        let parts = match val {
            Val::Tuple(parts) if parts.len() > 1 => parts,
            val => vec![val],
        };
        let n = parts.len();
        let mut scrutinee = Vec::new();
        for (k, part) in parts.into_iter().enumerate() {
            if let Val::Option(..) = part {
                self.error(expr, "this `match` on an `Option` the function builds (or on a tuple of them) is not supported: match the `Option` itself (`match o { Some(x) if .. => .., Some(x) => .., None => .. }`), and test a tuple with `if let (Some(a), Some(b)) = (p, q)`");
                return Val::Poison;
            }
            let variants = match_.arms.iter().any(|arm| {
                let pat = match &arm.pat {
                    Pat::Guard(guarded) => &*guarded.pat,
                    pat => pat,
                };
                match pat {
                    Pat::Tuple(tuple) if n > 1 => {
                        tuple.elems.iter().nth(k).is_some_and(variant_pattern)
                    }
                    pat => n == 1 && variant_pattern(pat),
                }
            });
            match self.matched_value(part, variants, expr.span()) {
                Some(operand) => scrutinee.push(operand),
                None => {
                    self.error(expr, "`match` takes a number, or another value that is not differentiated (an integer, an enum), or a tuple of them");
                    return Val::Poison;
                }
            }
        }
        // `match (kind, x > 0.0)` of a `&Kind` parameter, `match (&self.kind, ..)`: the tuple
        // holds a borrow, as the user's does (the place, moved into a tuple, would be moved
        // out of the borrow). A value the user's tuple holds by value is cloned into each
        // tuple the generated code makes, which tests and reads the pattern apart.
        let mut cloned = vec![false; scrutinee.len()];
        if scrutinee.len() > 1 {
            let written: Vec<bool> = match strip_parens(expr) {
                Expr::Tuple(tuple) => tuple
                    .elems
                    .iter()
                    .map(|e| matches!(strip_parens(e), Expr::Reference(_)))
                    .collect(),
                _ => Vec::new(),
            };
            for (k, part) in scrutinee.iter_mut().enumerate() {
                let Some(v) = part.value() else {
                    continue;
                };
                if !self.values[v.index()].aggregate || self.borrowed(v) {
                    continue;
                }
                let referenced =
                    written.get(k).copied().unwrap_or(false) || self.loaded_from_reference(v);
                cloned[k] = !referenced;
                if referenced
                    && let Val::Scalar(borrow) = self.borrow(
                        quote!(&H0),
                        vec![Operand::Value(v)],
                        match_.match_token.span,
                    )
                {
                    *part = borrow;
                }
            }
        }
        let span = match_.match_token.span;
        // `match *o { Some(v) if v > 0.0 => .. }` of a borrow: the borrow matched against
        // `&(Some(v))`, which binds what `*o` would (the user's guard reads `v` by value).
        let dereferenced = matches!(
            strip_parens(&match_.expr),
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Deref(_),
                ..
            })
        );
        if dereferenced && !std::ptr::eq(expr, strip_parens(&match_.expr)) {
            let arms: Vec<syn::Arm> = match_.arms.iter().map(dereferencing_arm).collect();
            return self.match_arms(&scrutinee, &cloned, &arms, false, span);
        }
        // A borrow (`ev` of `for ev in events`, a `&Kind` parameter) binds references too.
        let by_ref = by_ref
            || scrutinee
                .iter()
                .any(|s| s.value().is_some_and(|v| self.borrowed(v)));
        self.match_arms(&scrutinee, &cloned, &match_.arms, by_ref, span)
    }

    /// Whether `value` was read whole from a parameter behind a reference (`kind: &Kind`).
    fn loaded_from_reference(&mut self, value: Value) -> bool {
        let Some(Inst {
            op: Op::Load(mem),
            args,
            ..
        }) = self.last_inst_mut(value).map(|inst| inst.clone())
        else {
            return false;
        };
        args.is_empty() && self.ref_param(mem)
    }

    /// The arms of a `match` on an array or slice: each slice pattern a test of the length,
    /// its elements bound as `let` binds them.
    fn slice_arms(&mut self, val: Val, len: Operand, arms: &[syn::Arm], span: Span) -> Val {
        let Some((arm, rest)) = arms.split_first() else {
            return Val::Scalar(dummy());
        };
        let test = match &arm.pat {
            Pat::Slice(slice) => match self.slice_length_test(slice, len.clone(), span) {
                Some(test) => Some(test),
                None => return Val::Poison,
            },
            Pat::Wild(_) => None,
            Pat::Ident(p) if p.subpat.is_none() => None,
            Pat::Guard(guarded) => {
                self.error(&*guarded.guard, "a guard on a slice pattern is not supported; test the condition inside the arm");
                return Val::Poison;
            }
            pat => {
                self.error(
                    pat,
                    "expected a slice pattern (`[a, b]`, `[first, .., last]`) or `_` here",
                );
                return Val::Poison;
            }
        };
        let (pat, body, whole) = (arm.pat.clone(), (*arm.body).clone(), val.clone());
        let bind_and_lower = move |l: &mut Self| {
            l.scopes.push(Scope::new());
            l.bind(&pat, whole, None);
            let val = l.expr(&body);
            l.scopes.pop();
            val
        };
        match test {
            None => bind_and_lower(self),
            Some(cond) => {
                let rest = rest.to_vec();
                self.lower_if(
                    cond,
                    bind_and_lower,
                    move |l| l.slice_arms(val, len, &rest, span),
                    span,
                )
            }
        }
    }

    /// Whether a slice of length `len` has the elements `slice` names.
    pub(super) fn slice_length_test(
        &mut self,
        slice: &syn::PatSlice,
        len: Operand,
        span: Span,
    ) -> Option<Operand> {
        let mut named = true;
        for elem in &slice.elems {
            let binds = match elem {
                Pat::Ident(p) => p.subpat.is_none() || super::stmt::is_rest(elem),
                Pat::Wild(_) | Pat::Rest(_) => true,
                _ => false,
            };
            if !binds {
                named = false;
                self.error(elem, "a slice pattern here tests the length and names the elements; an element tested against a value is not supported: name it and compare it in the arm (`[a, b] => if b == 0.0 { .. }`)");
            }
        }
        let rest = slice.elems.iter().any(super::stmt::is_rest);
        let n = slice.elems.len() - usize::from(rest);
        let test = if rest {
            quote!(H0 >= #n)
        } else {
            quote!(H0 == #n)
        };
        named.then(|| self.int(test, vec![len], span))
    }

    /// The arms of a `match` on `scrutinee` (one value, or the elements of a tuple).
    pub(super) fn match_arms(
        &mut self,
        scrutinee: &[Operand],
        cloned: &[bool],
        arms: &[syn::Arm],
        by_ref: bool,
        span: Span,
    ) -> Val {
        let Some((arm, rest)) = arms.split_first() else {
            return Val::Scalar(dummy());
        };
        let (pat, guard) = match &arm.pat {
            Pat::Guard(guarded) => (&*guarded.pat, Some(&*guarded.guard)),
            pat => (pat, None),
        };
        // Bindings of the value or a tuple's elements name them; others (`Prior::Normal(s)`) are
        // read out of the value in the arm.
        let bindings = self.match_bindings(pat, scrutinee);
        let read_out = match &bindings {
            Some(_) => Vec::new(),
            None => binding_names(pat),
        };
        let bindings = bindings.unwrap_or_default();
        let mut test = pat.clone();
        syn::visit_mut::VisitMut::visit_pat_mut(&mut Unbind, &mut test);
        let always = guard.is_none() && irrefutable(&test);
        let body = (*arm.body).clone();
        let arm_bindings = bindings.clone();
        let (arm_pat, arm_scrutinee, arm_read_out, arm_cloned) = (
            pat.clone(),
            scrutinee.to_vec(),
            read_out.clone(),
            cloned.to_vec(),
        );
        let bind_and_lower = move |l: &mut Self| {
            l.scopes.push(Scope::new());
            for (name, val) in &arm_bindings {
                l.declare(Var::user(name), Some(val.clone()));
            }
            let at = arm_pat.to_token_stream();
            l.read_bindings(
                &arm_pat,
                &arm_read_out,
                &arm_scrutinee,
                &arm_cloned,
                by_ref,
                at,
            );
            let val = l.expr(&body);
            l.scopes.pop();
            val
        };
        if always || rest.is_empty() && guard.is_none() {
            return bind_and_lower(self);
        }
        // The condition: the pattern matches, and then the guard holds.
        let value = holes_of(cloned);
        let mut cond_expr = quote!((match #value { #test => true, _ => false }));
        let mut args = scrutinee.to_vec();
        // A guard that calls a local closure (`0 if f(x) > 0.0`) or holds a chain with one
        // (`0 if x.iter().map(..).sum::<f64>() > 0.1`), on values the arm names whole: lowered as
        // any condition, inside an `if` on the pattern's test, as the `&&` it
        // stands for (it may index with what the pattern tests).
        let mut cond = None;
        if let Some(guard) = guard
            .filter(|g| read_out.is_empty() && (self.calls_local_closure(g) || contains_closure(g)))
        {
            let test = Op::Opaque(Opaque::cut(cond_expr.clone()));
            let test = Operand::Value(self.emit(test, std::mem::take(&mut args), span));
            let guard = guard.clone();
            let guard_bindings = bindings.clone();
            let holds = self.lower_if(
                test,
                move |l| {
                    l.scopes.push(Scope::new());
                    for (name, val) in &guard_bindings {
                        l.declare(Var::user(name), Some(val.clone()));
                    }
                    let holds = l.expr(&guard);
                    l.scopes.pop();
                    holds
                },
                |_| Val::Scalar(Operand::Bool(false)),
                span,
            );
            cond = Some(self.val_operand(holds, span));
        } else if let Some(guard) = guard {
            self.scopes.push(Scope::new());
            for (name, val) in &bindings {
                self.declare(Var::user(name), Some(val.clone()));
            }
            // The parts the pattern binds are the pattern's in the guard, which is written
            // inside the test's `match`.
            for name in &read_out {
                let ident = ident_of(name, Span::call_site());
                let own = Operand::Const(Const {
                    tokens: quote!(#ident),
                    atomic: true,
                });
                self.declare(Var::user(name), Some(Val::Scalar(own)));
            }
            let guard_val = self.opaque(guard, true, "match guard");
            self.scopes.pop();
            if !matches!(guard_val, Val::Scalar(Operand::Value(_))) {
                return Val::Poison;
            }
            // The guard was lowered as its own opaque instruction; fold it into the condition
            // so that it is evaluated only when the pattern matches.
            let Some(ir::Stmt::Inst(Inst {
                op: Op::Opaque(guard_op),
                args: guard_args,
                ..
            })) = self.blocks.last_mut().and_then(|b| b.pop())
            else {
                return Val::Poison;
            };
            let offset = scrutinee.len();
            let guard_expr = Opaque::map_holes(guard_op.expr, &mut |k| Opaque::hole(k + offset));
            cond_expr = if read_out.is_empty() {
                quote!(#cond_expr && (#guard_expr))
            } else {
                let value = if by_ref {
                    quote!(&#value)
                } else {
                    value.clone()
                };
                quote!((match #value {
                    #[allow(unused_variables)]
                    #pat if #guard_expr => true,
                    _ => false,
                }))
            };
            args.extend(guard_args);
        }
        let cond = match cond {
            Some(cond) => cond,
            None => Operand::Value(self.emit(Op::Opaque(Opaque::cut(cond_expr)), args, span)),
        };
        let rest = rest.to_vec();
        let (scrutinee_rest, cloned_rest) = (scrutinee.to_vec(), cloned.to_vec());
        self.lower_if(
            cond,
            bind_and_lower,
            move |l| l.match_arms(&scrutinee_rest, &cloned_rest, &rest, by_ref, span),
            span,
        )
    }

    /// The names an arm's pattern binds, with their values: the whole value (`n => ..`, a
    /// tuple's elements together), or elements of a tuple (`(x, true) => ..`). `None` for a
    /// binding deeper inside.
    fn match_bindings(&self, pat: &Pat, scrutinee: &[Operand]) -> Option<Vec<(String, Val)>> {
        // `x`, or `x @ 0.0..=1.0`: the value, named.
        let simple = |pat: &Pat| match pat {
            Pat::Ident(p)
                if p.by_ref.is_none()
                    && starts_lowercase(&p.ident)
                    && p.subpat
                        .as_ref()
                        .is_none_or(|(_, sub)| find_binding(sub).is_none()) =>
            {
                Some(p.ident.to_string())
            }
            _ => None,
        };
        let scalar = |k: usize| Val::Scalar(scrutinee[k].clone());
        if let Some(name) = simple(pat) {
            let whole = match scrutinee {
                [one] => Val::Scalar(one.clone()),
                _ => Val::Tuple((0..scrutinee.len()).map(scalar).collect()),
            };
            return Some(vec![(name, whole)]);
        }
        let mut bindings = Vec::new();
        match pat {
            Pat::Tuple(tuple) if scrutinee.len() > 1 && tuple.elems.len() == scrutinee.len() => {
                for (k, elem) in tuple.elems.iter().enumerate() {
                    match simple(elem) {
                        Some(name) => bindings.push((name, scalar(k))),
                        None if find_binding(elem).is_some() => return None,
                        None => {}
                    }
                }
            }
            pat if find_binding(pat).is_some() => return None,
            _ => {}
        }
        Some(bindings)
    }
}

/// `match e { Some(p) => a, None => b }` (either order, `_` for `None`; a guard is a
/// `Pat::Guard`, which is neither) as
/// `if let Some(p) = e { a } else { b }`.
fn option_match(match_: &syn::ExprMatch) -> Option<syn::ExprIf> {
    let [first, second] = &match_.arms[..] else {
        return None;
    };
    // `Some(b) if b > s`: the pattern, and the guard the `if let` chain adds.
    fn some_pattern(arm: &syn::Arm) -> Option<(&Pat, Option<&Expr>)> {
        let (pat, guard) = match &arm.pat {
            Pat::Guard(guarded) => (&*guarded.pat, Some(&*guarded.guard)),
            pat => (pat, None),
        };
        matches!(pat, Pat::TupleStruct(ts)
            if ts.path.segments.last().is_some_and(|s| s.ident == "Some") && ts.elems.len() == 1)
        .then_some((pat, guard))
    }
    let is_none = |arm: &syn::Arm| {
        matches!(&arm.pat, Pat::Wild(_))
            || matches!(&arm.pat, Pat::Ident(p) if p.ident == "None" && p.subpat.is_none())
            || matches!(&arm.pat, Pat::Path(p) if p.path.is_ident("None"))
    };
    let ((pat, guard), some, none) = match (some_pattern(first), some_pattern(second)) {
        (Some(pattern), None) if is_none(second) => (pattern, first, second),
        (None, Some(pattern)) if is_none(first) => (pattern, second, first),
        _ => return None,
    };
    let scrutinee = &match_.expr;
    let (then, otherwise) = (&some.body, &none.body);
    let guard = guard.map(|guard| quote!(&& (#guard)));
    Some(syn::parse_quote_spanned!(match_.match_token.span=>
        if let #pat = #scrutinee #guard { #then } else { #otherwise }
    ))
}

/// `match o { .. }` of three or more arms on an `Option`: an `if let` per `Some(p)` arm (with
/// its guard), the test for a `None` arm, each the `else` of the one before; a last `_` or
/// `None` arm is its body.
fn option_arms(match_: &syn::ExprMatch) -> Option<Expr> {
    if match_.arms.len() < 3 {
        return None;
    }
    fn chain(scrutinee: &Expr, arms: &[syn::Arm], span: Span) -> Option<Expr> {
        let (first, others) = arms.split_first()?;
        let (pat, guard) = match &first.pat {
            Pat::Guard(guarded) => (&*guarded.pat, Some(&*guarded.guard)),
            pat => (pat, None),
        };
        let body = &first.body;
        let last = others.is_empty();
        if guard.is_none() && (matches!(pat, Pat::Wild(_)) || none_pattern(pat) && last) {
            return Some((**body).clone());
        }
        let otherwise = match last {
            true => syn::parse_quote_spanned!(span=> ::core::unreachable!()),
            false => chain(scrutinee, others, span)?,
        };
        if none_pattern(pat) && guard.is_none() {
            return Some(syn::parse_quote_spanned!(span=>
                if #scrutinee.is_none() { #body } else { #otherwise }
            ));
        }
        let some = matches!(pat, Pat::TupleStruct(ts)
            if ts.path.segments.last().is_some_and(|s| s.ident == "Some") && ts.elems.len() == 1);
        if !some {
            return None;
        }
        let guard = guard.map(|guard| quote!(&& (#guard)));
        Some(syn::parse_quote_spanned!(span=>
            if let #pat = #scrutinee #guard { #body } else { #otherwise }
        ))
    }
    chain(&match_.expr, &match_.arms, match_.match_token.span)
}

/// `None`, as a pattern.
fn none_pattern(pat: &Pat) -> bool {
    matches!(pat, Pat::Ident(p) if p.ident == "None" && p.subpat.is_none())
        || matches!(pat, Pat::Path(p) if p.path.is_ident("None"))
}

/// The conditions of `a && b && ..`, in order.
fn chain_conditions<'e>(cond: &'e Expr, out: &mut Vec<&'e Expr>) {
    match cond {
        Expr::Binary(binary) if matches!(binary.op, syn::BinOp::And(_)) => {
            chain_conditions(&binary.left, out);
            chain_conditions(&binary.right, out);
        }
        Expr::Paren(paren) if !matches!(&*paren.expr, Expr::Let(_)) && out.is_empty() => {
            out.push(cond)
        }
        cond => out.push(cond),
    }
}

/// `arm` with its pattern `p` (before a guard) written `&(p)`.
fn dereferencing_arm(arm: &syn::Arm) -> syn::Arm {
    let reference = |pat: &Pat| -> Pat { syn::parse_quote!(&(#pat)) };
    let mut arm = arm.clone();
    arm.pat = match &arm.pat {
        Pat::Guard(guarded) => {
            let mut guarded = guarded.clone();
            *guarded.pat = reference(&guarded.pat);
            Pat::Guard(guarded)
        }
        pat => reference(pat),
    };
    arm
}

/// The holes of a scrutinee's values: one, or a tuple of them, those `cloned` cloned (a tuple
/// holding them by value is made once per test, and they stay where they are).
fn holes_of(cloned: &[bool]) -> TokenStream {
    let holes: Vec<TokenStream> = cloned
        .iter()
        .enumerate()
        .map(|(k, &cloned)| {
            let hole = Opaque::hole(k);
            if cloned {
                quote!(::core::clone::Clone::clone(&#hole))
            } else {
                hole
            }
        })
        .collect();
    match holes.as_slice() {
        [one] => one.clone(),
        holes => quote!((#(#holes),*)),
    }
}

/// `Kind::Linear(a)`, `Shape::Rect { w, .. }`, `Some(x)`: a pattern of an enum's variant (not
/// a constant's path, which may name a number).
fn variant_pattern(pat: &Pat) -> bool {
    let path = match pat {
        Pat::TupleStruct(p) => &p.path,
        Pat::Struct(p) => &p.path,
        Pat::Reference(r) => return variant_pattern(&r.pat),
        Pat::Paren(p) => return variant_pattern(&p.pat),
        Pat::Or(or) => return or.cases.iter().any(variant_pattern),
        Pat::Ident(p) => {
            return p
                .subpat
                .as_ref()
                .is_some_and(|(_, sub)| variant_pattern(sub));
        }
        _ => return false,
    };
    let segments: Vec<&syn::PathSegment> = path.segments.iter().collect();
    match segments.as_slice() {
        [one] => ["Some", "Ok", "Err"].iter().any(|v| one.ident == v),
        [.., ty, _] => !starts_lowercase(&ty.ident),
        [] => false,
    }
}

/// A pattern that matches every value: `_`, or a tuple of them.
fn irrefutable(pat: &Pat) -> bool {
    match pat {
        Pat::Wild(_) => true,
        Pat::Paren(p) => irrefutable(&p.pat),
        Pat::Tuple(t) => t.elems.iter().all(irrefutable),
        _ => false,
    }
}

pub(super) enum ExitState {
    Running,
    Exited,
    Maybe(Vec<Operand>),
}

/// The names a pattern binds (not constants and unit variants, written in upper case).
pub(super) fn binding_names(pat: &Pat) -> Vec<String> {
    struct Names(Vec<String>);
    impl<'ast> syn::visit::Visit<'ast> for Names {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            if starts_lowercase(&p.ident) {
                self.0.push(p.ident.to_string());
            }
            syn::visit::visit_pat_ident(self, p);
        }
        // A guard binds nothing (its closures' parameters are their own).
        fn visit_pat_guard(&mut self, g: &'ast syn::PatGuard) {
            self.visit_pat(&g.pat);
        }
    }
    let mut names = Names(Vec::new());
    syn::visit::Visit::visit_pat(&mut names, pat);
    names.0
}

/// How a matched part of an `if let` binds its names.
enum LetBind {
    Nothing,
    /// `Some(p)` of an `Option` the function builds: `p` bound to the value it holds (by
    /// reference, with `true`).
    Value(Pat, Val, bool),
    /// Names given values directly (`v @ 0.0..=1.0`).
    Named(Vec<(String, Val)>),
    /// Names read out of a value that is not differentiated, as written.
    Read {
        pat: Pat,
        names: Vec<String>,
        scrutinee: Operand,
        /// The value is a borrow: its pattern binds references.
        by_ref: bool,
        at: TokenStream,
    },
}

/// Replaces the bindings of a pattern by `_`.
struct Unbind;

impl syn::visit_mut::VisitMut for Unbind {
    // `Laplace { scale }` becomes `Laplace { scale: _ }`.
    fn visit_field_pat_mut(&mut self, field: &mut syn::FieldPat) {
        field.colon_token.get_or_insert_with(Default::default);
        syn::visit_mut::visit_field_pat_mut(self, field);
    }

    fn visit_pat_mut(&mut self, pat: &mut Pat) {
        if let Pat::Ident(p) = pat {
            if starts_lowercase(&p.ident) {
                // `x @ sub` tests `sub`.
                *pat = match p.subpat.take() {
                    Some((_, sub)) => *sub,
                    None => syn::parse_quote!(_),
                };
                self.visit_pat_mut(pat);
                return;
            }
        }
        syn::visit_mut::visit_pat_mut(self, pat);
    }
}

/// What joining two branches makes: a phi per value, and per pair of arrays an array of its
/// own (`(result, then_array, else_array)`) that each branch copies its array (if any) into.
#[derive(Default)]
pub(super) struct Joins {
    values: Vec<Phi>,
    arrays: Vec<(Mem, Option<MemInitKind>, Option<MemInitKind>)>,
    /// The arrays the branches declare, which do not outlive them.
    inside: BTreeSet<Mem>,
}

/// A value a branch does not give (a variable it leaves unset, `None`'s value).
fn is_nothing(val: &Val) -> bool {
    is_dummy(val) || matches!(val, Val::Unit)
}
