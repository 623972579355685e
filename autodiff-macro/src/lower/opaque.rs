//! Computations kept as written: assertions, passive expressions with holes for variables, and
//! the messages for what cannot be differentiated.

use super::syntax::*;
use super::*;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Token, UnOp};

impl Lowerer<'_> {
    /// `assert!`, `assert_eq!`, `assert_ne!` and their `debug_` forms, and `panic!`,
    /// `unreachable!`, `todo!`, `unimplemented!`: checks and exits that have no derivative, kept
    /// as written in the forward sweep with each variable replaced by a hole (also a variable the
    /// message names inline, `"{x}"`). Returns whether `mac` is one of them.
    pub(super) fn passive_macro(&mut self, mac: &syn::Macro) -> bool {
        const PASSIVE: &[&str] = &[
            "assert",
            "assert_eq",
            "assert_ne",
            "debug_assert",
            "debug_assert_eq",
            "debug_assert_ne",
            "panic",
            "unreachable",
            "todo",
            "unimplemented",
        ];
        let Some(last) = mac.path.segments.last() else {
            return false;
        };
        if !PASSIVE.iter().any(|name| last.ident == name) {
            return false;
        }
        let Ok(args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) else {
            return false;
        };
        let mut exprs: Vec<Expr> = args.into_iter().collect();
        // `"{x}"` reads `x` by name, where generated code has no `x`: name it as an argument.
        let named: Vec<String> = exprs
            .iter()
            .filter_map(|e| match e {
                Expr::Assign(a) => match &*a.left {
                    Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let format = exprs.iter().find_map(|e| match e {
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.clone()),
            _ => None,
        });
        if let Some(format) = format {
            for name in inline_captures(&format.value()) {
                if !named.contains(&name) && self.lookup_user(&name).is_some() {
                    let ident = syn::Ident::new(&name, format.span());
                    exprs.push(syn::parse_quote!(#ident = #ident));
                }
            }
        }
        let mut holes = Holes::new(self, false);
        for expr in &mut exprs {
            match expr {
                // A named argument: only its value is an expression.
                Expr::Assign(named) => holes.visit_expr_mut(&mut named.right),
                expr => holes.visit_expr_mut(expr),
            }
        }
        let Holes { args, failed, .. } = holes;
        if !failed {
            let path = &mac.path;
            let expr = quote!(#path!(#(#exprs),*));
            self.emit(Op::Opaque(Opaque::cut(expr)), args, mac.span());
        }
        true
    }

    /// A macro call as an expression: the passive ones (whose value, if any, is `()` or never
    /// used since they exit), `vec!`, and an error for the others.
    pub(super) fn macro_expr(&mut self, mac: &syn::Macro) -> Val {
        if mac.path.is_ident("vec") {
            return self.vec_macro(mac);
        }
        if let Some(checked) = assertion_with_closure(mac) {
            return self.expr(&checked);
        }
        if self.passive_macro(mac) {
            return Val::Unit;
        }
        // `cfg!(debug_assertions)`: a constant.
        if mac.path.is_ident("cfg") {
            return Val::Scalar(Operand::Const(Const {
                tokens: quote!(::core::#mac),
                atomic: true,
            }));
        }
        // `matches!(k, 1 | 2)`: the `match` it stands for.
        if mac.path.is_ident("matches") {
            if let Ok((scrutinee, pat, guard)) = mac.parse_body_with(parse_matches) {
                let guard = guard.map(|guard| quote!(if #guard));
                let span = mac.path.span();
                let match_: Expr = syn::parse_quote_spanned!(span=>
                    match #scrutinee { #pat #guard => true, _ => false }
                );
                return self.expr(&match_);
            }
        }
        self.macro_error(mac);
        Val::Poison
    }

    pub(super) fn macro_error(&self, mac: &syn::Macro) {
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let message = if matches!(name.as_str(), "asm" | "global_asm" | "naked_asm") {
            "inline assembly cannot be differentiated; move it into a function without `#[differentiate]`".to_owned()
        } else {
            format!(
                "macro calls such as `{name}!` cannot be differentiated, because the macro cannot see what they expand to; write the expression out, or move the call into a function without `#[differentiate]`"
            )
        };
        self.error(mac, message);
    }

    /// Keeps `expr` as written, with each variable replaced by a hole. `cut`: see [`Opaque`];
    /// `what` names the construct in the error if it is not cut and meets an active value.
    pub(super) fn opaque(&mut self, expr: &Expr, cut: bool, what: &str) -> Val {
        self.opaque_with(expr, cut, no_rule(what))
    }

    /// `func(args)` of a float function without a rule (`T::from(n)`, `f64::from_bits(b)`),
    /// its arguments lowered first: what they are computed from (`x.len()`) is not what the
    /// call depends on. `error`: see [`Opaque::error`].
    pub(super) fn opaque_call(&mut self, call: &syn::ExprCall, error: String) -> Val {
        let args: Vec<Operand> = call.args.iter().map(|arg| self.operand(arg)).collect();
        let func = &call.func;
        let holes = (0..args.len()).map(Opaque::hole);
        let op = Op::Opaque(Opaque {
            expr: quote::quote!(#func(#(#holes),*)),
            cut: false,
            error,
            at: call.to_token_stream(),
            index: false,
            borrow: false,
        });
        Val::Scalar(Operand::Value(self.emit(op, args, call.span())))
    }

    pub(super) fn opaque_with(&mut self, expr: &Expr, cut: bool, error: String) -> Val {
        self.opaque_keeping_closures(expr, cut, error, false)
    }

    /// [`Self::opaque_with`]; `closures`: closures in `expr` are kept (their parameters are
    /// not holes), for calls whose result cannot be a number.
    pub(super) fn opaque_keeping_closures(
        &mut self,
        expr: &Expr,
        cut: bool,
        error: String,
        closures: bool,
    ) -> Val {
        let at = expr.to_token_stream();
        let Some((expr, args)) = self.with_holes(expr, closures) else {
            return Val::Poison;
        };
        let span = expr.span();
        let op = Op::Opaque(Opaque {
            expr: expr.to_token_stream(),
            cut,
            error,
            at,
            index: false,
            borrow: false,
        });
        let value = self.emit(op, args, span);
        self.kept_as_written.insert(value);
        self.opaque_results.insert(value);
        Val::Scalar(Operand::Value(value))
    }

    /// `&s.buffer` of data a struct value holds (`no_grad(&p.buffer)` of a `mut p` parameter's
    /// copy): a borrow that the backward sweep takes again from the struct value.
    pub(super) fn held_borrow(&mut self, expr: &Expr, span: Span) -> Val {
        let Some((expr, args)) = self.with_holes(expr, false) else {
            return Val::Poison;
        };
        self.borrow_as(Opaque::cut(expr.to_token_stream()), args, span)
    }

    /// `expr` with each variable replaced by a hole, and the holes' operands; `None` after
    /// reporting what cannot be kept as written.
    fn with_holes(&self, expr: &Expr, closures: bool) -> Option<(Expr, Vec<Operand>)> {
        let mut expr = expr.clone();
        let mut holes = Holes::new(self, closures);
        holes.visit_expr_mut(&mut expr);
        let Holes { args, failed, .. } = holes;
        (!failed).then_some((expr, args))
    }

    /// A bool built from operands: `!(a || b)`.
    pub(super) fn not_any(&mut self, flags: &[Operand], span: Span) -> Operand {
        let holes: Vec<TokenStream> = (0..flags.len()).map(Opaque::hole).collect();
        let expr = quote!(!(#(#holes)||*));
        let op = Op::Opaque(Opaque::cut(expr));
        Operand::Value(self.emit(op, flags.to_vec(), span))
    }

    pub(super) fn any(&mut self, flags: &[Operand], span: Span) -> Operand {
        if let [flag] = flags {
            return flag.clone();
        }
        let holes: Vec<TokenStream> = (0..flags.len()).map(Opaque::hole).collect();
        let expr = quote!(#(#holes)||*);
        let op = Op::Opaque(Opaque::cut(expr));
        Operand::Value(self.emit(op, flags.to_vec(), span))
    }
}

/// Replaces the variables of an opaque expression by holes, and rejects what cannot be kept
/// opaque (closures and blocks bind their own names; macros hide theirs).
pub(super) struct Holes<'l, 'a> {
    lowerer: &'l Lowerer<'a>,
    args: Vec<Operand>,
    failed: bool,
    /// Closures are kept, their parameters left as written (a predicate of a search).
    closures: bool,
    /// The parameters of the closures being visited, and the names their bodies bind.
    bound: Vec<String>,
    /// How many kept closures the visit is inside.
    closure_depth: usize,
}

impl<'l, 'a> Holes<'l, 'a> {
    fn new(lowerer: &'l Lowerer<'a>, closures: bool) -> Self {
        Holes {
            lowerer,
            args: Vec::new(),
            failed: false,
            closures,
            bound: Vec::new(),
            closure_depth: 0,
        }
    }

    /// Whether `place` is rooted in a name the kept closure binds itself (`t` of
    /// `let mut t = *a; t += 1.0;`).
    fn binds(&self, place: &Expr) -> bool {
        let mut root = strip_parens(place);
        while let Expr::Field(syn::ExprField { base, .. })
        | Expr::Index(syn::ExprIndex { expr: base, .. }) = root
        {
            root = strip_parens(base);
        }
        matches!(root, Expr::Path(p)
            if p.path.get_ident().is_some_and(|i| self.bound.iter().any(|b| i == b)))
    }

    /// A block inside a kept closure: its `let`s bind names of its own until its end.
    fn kept_block(&mut self, block: &mut syn::Block) {
        let depth = self.bound.len();
        for stmt in &mut block.stmts {
            match stmt {
                syn::Stmt::Local(local) => {
                    if let Some(init) = &mut local.init {
                        self.visit_expr_mut(&mut init.expr);
                        if let Some((_, diverge)) = &mut init.diverge {
                            self.visit_expr_mut(diverge);
                        }
                    }
                    self.bound.extend(super::branch::binding_names(&local.pat));
                }
                syn::Stmt::Expr(expr, _) => self.visit_expr_mut(expr),
                syn::Stmt::Item(_) | syn::Stmt::Macro(_) => {
                    self.lowerer.error(&*stmt, "items and macros inside a comparator are not supported; compute the value first with a `let`");
                    self.failed = true;
                }
            }
        }
        self.bound.truncate(depth);
    }

    /// A variable (under derefs), or a tuple's part (`t.1` of a `zip`'s item), that lowering
    /// holds as a number by value, not a reference.
    fn held_by_value(&self, expr: &Expr) -> bool {
        // (Not an element of a struct's `Vec`, which holes take by reference.)
        let number = |v: &Value| {
            !self.lowerer.values[v.index()].by_ref
                && !self.lowerer.kept_as_written.contains(v)
                && !self.lowerer.struct_elements.contains_key(v)
        };
        match strip_parens(expr) {
            Expr::Unary(syn::ExprUnary {
                op: UnOp::Deref(_),
                expr: inner,
                ..
            }) => self.held_by_value(inner),
            Expr::Field(syn::ExprField {
                base,
                member: syn::Member::Unnamed(index),
                ..
            }) => matches!(self.tuple_part(base, index),
                Some((Val::Scalar(Operand::Value(v)), _)) if number(&v)),
            _ => matches!(self.outer_binding(expr),
                Some((Binding { val: Some(Val::Scalar(Operand::Value(v))), .. }, _)) if number(v)),
        }
    }

    /// The binding of the function's variable `expr` names, with the name's span: not a
    /// variable of the same name the kept closure binds itself (its parameter, its `let`).
    fn outer_binding(&self, expr: &Expr) -> Option<(&Binding, Span)> {
        let Expr::Path(path) = strip_parens(expr) else {
            return None;
        };
        let ident = local_name(path)?;
        if self.bound.iter().any(|name| ident == name) {
            return None;
        }
        Some((self.lowerer.lookup_user(&ident.to_string())?, ident.span()))
    }

    /// Part `index` of the tuple a variable `base` holds (`t.1` of a `zip`'s item), with the
    /// variable's span.
    fn tuple_part(&self, base: &Expr, index: &syn::Index) -> Option<(Val, Span)> {
        match self.outer_binding(base)? {
            (
                Binding {
                    val: Some(Val::Tuple(parts)),
                    ..
                },
                span,
            ) => Some((parts.get(index.index as usize)?.clone(), span)),
            _ => None,
        }
    }

    /// A variable (under derefs) bound to a row or an array, or a tuple's part that is one
    /// (`y.1` of an `enumerate`'s item), with its value.
    fn row_reference(&self, expr: &Expr) -> Option<(Val, Span)> {
        match strip_parens(expr) {
            Expr::Unary(syn::ExprUnary {
                op: UnOp::Deref(_),
                expr: inner,
                ..
            }) => self.row_reference(inner),
            Expr::Field(syn::ExprField {
                base,
                member: syn::Member::Unnamed(index),
                ..
            }) => self
                .tuple_part(base, index)
                .filter(|(part, _)| matches!(part, Val::Mem(..))),
            // (By reference or not: `x` of a comparator's `|&(_, x), &(_, y)|` is one too.)
            _ => match self.outer_binding(expr)? {
                (
                    Binding {
                        val: Some(val @ Val::Mem(..)),
                        ..
                    },
                    span,
                ) => Some((val.clone(), span)),
                _ => None,
            },
        }
    }

    fn hole_for(&mut self, val: &Val, span: Span) -> Option<Expr> {
        match val {
            Val::Scalar(Operand::Const(c)) => Some(Expr::Verbatim(c.parenthesized())),
            // An element of a struct's `Vec` field (`a` of `for a in &g.arcs`), which may be a
            // struct that is not `Copy`: read in place (`g.arcs[i].to`), not moved out.
            Val::Scalar(Operand::Value(v)) if self.lowerer.struct_elements.contains_key(v) => {
                let (mem, indices) = self.lowerer.struct_elements[v].clone();
                Some(self.hole(Operand::Mem(mem, indices), span))
            }
            Val::Scalar(operand) => Some(self.hole(operand.clone(), span)),
            Val::Mem(mem, prefix) => Some(self.hole(Operand::Mem(*mem, prefix.clone()), span)),
            Val::Tuple(parts) => {
                let parts = parts
                    .iter()
                    .map(|part| match part {
                        // An item of `g.arcs.iter().enumerate()` holds a reference to the
                        // element, as in Rust.
                        Val::Scalar(Operand::Value(v))
                            if self.lowerer.struct_elements.contains_key(v) =>
                        {
                            let place = self.hole_for(part, span)?;
                            Some(Expr::Verbatim(quote!(&#place)))
                        }
                        part => self.hole_for(part, span),
                    })
                    .collect::<Option<Vec<_>>>()?;
                // Tokens, not a parse: the parts hold holes, which are not Rust syntax.
                Some(Expr::Verbatim(quote!((#(#parts,)*))))
            }
            Val::Unit => Some(syn::parse_quote!(())),
            Val::Poison => None,
            Val::Option(..) => {
                self.lowerer.error_at(
                    span,
                    "an `Option` the function builds (`Some(..)`, `None`, an iterator's `max_by`) cannot be used here as a whole (compared with another `Option`, in a match guard, a cast or a macro); test it with `.is_some()` / `.is_none()`, or unwrap it in a `let` first",
                );
                None
            }
            Val::Closure(_) => {
                self.lowerer.error_at(
                    span,
                    "a closure used inside a comparison or `no_grad(..)` cannot be differentiated; call it in a `let` first",
                );
                None
            }
        }
    }

    fn hole(&mut self, operand: Operand, span: Span) -> Expr {
        let hole = Opaque::hole(self.args.len());
        self.args.push(operand);
        Expr::Verbatim(quote::quote_spanned!(span=> #hole))
    }
}

impl VisitMut for Holes<'_, '_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Path(path) => {
                let Some(ident) = local_name(path) else {
                    return;
                };
                if self.bound.iter().any(|name| ident == name) {
                    return;
                }
                match self.lowerer.lookup_user(&ident.to_string()) {
                    Some(Binding {
                        val: Some(val),
                        by_ref,
                        behind_ref,
                        ..
                    }) => {
                        // A name bound by reference to a place (`a` of `for a in &m.atoms`) is
                        // the reference (`energy(a) > 1.0`).
                        let reference = *by_ref
                            && match val {
                                Val::Mem(..) => true,
                                Val::Scalar(Operand::Value(v)) => {
                                    self.lowerer.struct_elements.contains_key(v)
                                        || self.lowerer.element_refs.contains(v)
                                }
                                _ => false,
                            };
                        let (val, behind_ref) = (val.clone(), *behind_ref);
                        match self.hole_for(&val, ident.span()) {
                            Some(place) if reference && behind_ref => {
                                *expr = Expr::Verbatim(quote!((&&#place)));
                            }
                            Some(place) if reference => {
                                *expr = Expr::Verbatim(quote!((&#place)));
                            }
                            Some(replacement) => *expr = replacement,
                            None => self.failed = true,
                        }
                    }
                    Some(Binding { val: None, .. }) => {
                        self.lowerer.error(
                            &*path,
                            format!("`{ident}` is used before it is given a value"),
                        );
                        self.failed = true;
                    }
                    None => {}
                }
            }
            // `*v`, `**v` of a number held by value is the number, as in `unary`.
            Expr::Unary(syn::ExprUnary {
                op: UnOp::Deref(_),
                expr: inner,
                ..
            }) if self.held_by_value(inner) => {
                let mut inner = (**inner).clone();
                self.visit_expr_mut(&mut inner);
                *expr = inner;
            }
            // `**y` of a row a comparator is given (`&&[f64; 2]` of `b.iter().min_by(..)`),
            // `*r` of a row bound by reference: the row itself, however many references the
            // user's name holds.
            Expr::Unary(syn::ExprUnary {
                op: UnOp::Deref(_),
                expr: inner,
                ..
            }) if self.row_reference(inner).is_some() => {
                let (val, span) = self.row_reference(inner).expect("checked");
                let still_ref = matches!(
                    self.outer_binding(inner),
                    Some((
                        Binding {
                            behind_ref: true,
                            ..
                        },
                        _
                    ))
                );
                // `*p` of a parameter `p: &[f64; 2]`, whose place is the reference.
                let param_ref = match &val {
                    Val::Mem(mem, prefix) if prefix.is_empty() => self.lowerer.ref_param(*mem),
                    _ => false,
                };
                match self.hole_for(&val, span) {
                    // `*a` of a `&&[f64; 2]`: a reference to the row.
                    Some(place) if still_ref => *expr = Expr::Verbatim(quote!((&#place))),
                    Some(place) if param_ref => *expr = Expr::Verbatim(quote!((*#place))),
                    Some(place) => *expr = Expr::Verbatim(quote!((#place))),
                    None => self.failed = true,
                }
            }
            // `a.1` of a tuple holding a reference to a row (`&(usize, &[f64; 2])` of
            // `pts.iter().enumerate().min_by(..)`): the reference.
            Expr::Field(syn::ExprField {
                base,
                member: syn::Member::Unnamed(index),
                ..
            }) if matches!(
                self.outer_binding(base),
                Some((
                    Binding {
                        behind_ref: true,
                        ..
                    },
                    _
                ))
            ) && self
                .tuple_part(base, index)
                .is_some_and(|(part, _)| match part {
                    Val::Mem(..) => true,
                    Val::Scalar(Operand::Value(v)) => self.lowerer.struct_elements.contains_key(&v),
                    _ => false,
                }) =>
            {
                let (part, span) = self.tuple_part(base, index).expect("checked");
                match self.hole_for(&part, span) {
                    Some(place) => *expr = Expr::Verbatim(quote!((&#place))),
                    None => self.failed = true,
                }
            }
            // `matches!(k, 0 | 2)` inside a condition: a test, kept as written with holes in
            // its scrutinee and guard; the names its pattern binds are the guard's own.
            Expr::Macro(mac) if mac.mac.path.is_ident("matches") => {
                match mac.mac.parse_body_with(parse_matches) {
                    Ok((mut scrutinee, pat, guard)) => {
                        self.visit_expr_mut(&mut scrutinee);
                        let guard = guard.map(|mut guard| {
                            let depth = self.bound.len();
                            self.bound.extend(super::branch::binding_names(&pat));
                            self.visit_expr_mut(&mut guard);
                            self.bound.truncate(depth);
                            quote!(if #guard)
                        });
                        let path = &mac.mac.path;
                        *expr = Expr::Verbatim(quote!(#path!(#scrutinee, #pat #guard)));
                    }
                    Err(_) => {
                        self.lowerer.macro_error(&mac.mac);
                        self.failed = true;
                    }
                }
            }
            Expr::Macro(mac) => {
                self.lowerer.macro_error(&mac.mac);
                self.failed = true;
            }
            // `hit.is_none()` of an `Option` the function builds: its flag.
            Expr::MethodCall(call)
                if call.args.is_empty()
                    && matches!(call.method.to_string().as_str(), "is_some" | "is_none") =>
            {
                let flag = match strip_parens(&call.receiver) {
                    Expr::Path(path) => local_name(path).and_then(|ident| {
                        match self.lowerer.lookup_user(&ident.to_string()) {
                            Some(Binding {
                                val: Some(Val::Option(_, some)),
                                ..
                            }) if !self.bound.iter().any(|name| ident == name) => {
                                Some((some.clone(), ident.span()))
                            }
                            _ => None,
                        }
                    }),
                    _ => None,
                };
                match flag {
                    Some((some, span)) => {
                        let hole = self.hole(some, span);
                        *expr = if call.method == "is_none" {
                            Expr::Verbatim(quote!((!#hole)))
                        } else {
                            hole
                        };
                    }
                    None => visit_mut::visit_expr_mut(self, expr),
                }
            }
            Expr::Closure(closure) if self.closures => {
                let depth = self.bound.len();
                for input in &closure.inputs {
                    self.bound.extend(super::branch::binding_names(input));
                }
                self.closure_depth += 1;
                self.visit_expr_mut(&mut closure.body);
                self.closure_depth -= 1;
                self.bound.truncate(depth);
            }
            // A kept closure's own blocks, `if`s and `match`es (a comparator's `let`s, a NaN
            // guard), as written, the names they bind left alone.
            Expr::Block(block) if self.closure_depth > 0 => self.kept_block(&mut block.block),
            // What a kept closure assigns would change the function's own variables behind
            // the sweeps' back (`cmps += 1` in a comparator).
            Expr::Assign(assign) if self.closure_depth > 0 && !self.binds(&assign.left) => {
                self.lowerer.error(&*expr, "a comparator or a predicate that assigns a variable is not supported; compute what it counts in a loop of its own");
                self.failed = true;
            }
            Expr::Binary(binary)
                if self.closure_depth > 0
                    && is_compound_assignment(&binary.op)
                    && !self.binds(&binary.left) =>
            {
                self.lowerer.error(&*expr, "a comparator or a predicate that assigns a variable is not supported; compute what it counts in a loop of its own");
                self.failed = true;
            }
            Expr::Return(_) if self.closure_depth > 0 => {
                self.lowerer.error(&*expr, "`return` inside a comparator or a predicate is not supported here; write its body as an `if` / `else` expression");
                self.failed = true;
            }
            Expr::If(if_) if self.closure_depth > 0 => {
                let depth = self.bound.len();
                match &mut *if_.cond {
                    Expr::Let(let_) => {
                        self.visit_expr_mut(&mut let_.expr);
                        self.bound.extend(super::branch::binding_names(&let_.pat));
                    }
                    cond => self.visit_expr_mut(cond),
                }
                self.kept_block(&mut if_.then_branch);
                self.bound.truncate(depth);
                if let Some((_, else_)) = &mut if_.else_branch {
                    self.visit_expr_mut(else_);
                }
            }
            Expr::Match(match_) if self.closure_depth > 0 => {
                self.visit_expr_mut(&mut match_.expr);
                for arm in &mut match_.arms {
                    let depth = self.bound.len();
                    self.bound.extend(super::branch::binding_names(&arm.pat));
                    if let syn::Pat::Guard(guarded) = &mut arm.pat {
                        self.visit_expr_mut(&mut guarded.guard);
                    }
                    self.visit_expr_mut(&mut arm.body);
                    self.bound.truncate(depth);
                }
            }
            // `x.iter().map(..).unzip()`: the chain's adapters are supported, its end is not.
            Expr::MethodCall(call)
                if !self.closures
                    && !call.args.iter().any(|a| matches!(a, Expr::Closure(_)))
                    && adapters_with_closures(&call.receiver) =>
            {
                let method = &call.method;
                self.lowerer.error(
                    method,
                    format!("`.{method}(..)` at the end of an iterator chain is not supported in differentiated code; write it as a loop, or end the chain with a consumer that is (`sum`, `product`, `fold`, `max_by`, `collect` into a `Vec` of numbers, ...)"),
                );
                self.failed = true;
            }
            // `s.sort_by(|a, b| ..)`: the method is what is missing.
            Expr::MethodCall(call)
                if !self.closures && call.args.iter().any(|a| matches!(a, Expr::Closure(_))) =>
            {
                let method = &call.method;
                let message = if ADAPTERS.contains(&method.to_string().as_str()) {
                    // `opt.map(|i| x[i])` of an `Option`: the adapter of iterators only.
                    format!(
                        "`.{method}(..)` with a closure is supported on iterators of arrays, slices and `Vec`s (`x.iter().{method}(..)`); for an `Option` or another value, write it as a `match` or `if let`"
                    )
                } else {
                    format!(
                        "`.{method}(..)` with a closure is not supported in differentiated code; write it as a loop, or with the adapters that are (`map`, `filter`, `zip`, `fold`, `sum`, `max_by`, ...)"
                    )
                };
                self.lowerer.error(method, message);
                self.failed = true;
            }
            Expr::Closure(_)
            | Expr::Block(_)
            | Expr::Unsafe(_)
            | Expr::Async(_)
            | Expr::If(_)
            | Expr::Match(_)
            | Expr::ForLoop(_)
            | Expr::While(_)
            | Expr::Loop(_)
            | Expr::Let(_)
            | Expr::Assign(_)
            | Expr::Return(_)
            | Expr::Break(_)
            | Expr::Continue(_)
            | Expr::Struct(_)
            | Expr::Try(_)
            | Expr::TryBlock(_)
            | Expr::Await(_)
            | Expr::Yield(_)
            | Expr::Const(_) => {
                self.lowerer.error(&*expr, unsupported_message(expr));
                self.failed = true;
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }
}

pub(super) fn unsupported_message(expr: &Expr) -> String {
    let message = match expr {
        Expr::Unsafe(_) => {
            "`unsafe` blocks cannot be differentiated; move the unsafe code into a function without `#[differentiate]`"
        }
        Expr::Closure(_) => {
            "closures are not supported in a `#[differentiate]` function; write the computation inline, or as a separate `#[differentiate]` function"
        }
        Expr::Async(_) | Expr::Await(_) => {
            "`async` code cannot be differentiated; differentiate a synchronous function"
        }
        Expr::If(_)
        | Expr::Match(_)
        | Expr::Block(_)
        | Expr::ForLoop(_)
        | Expr::While(_)
        | Expr::Loop(_) => {
            "control flow inside a comparison, `no_grad(..)` or a call of a function that is not differentiated is not supported; compute the value first with a `let`"
        }
        Expr::Break(_) | Expr::Continue(_) | Expr::Return(_) | Expr::Assign(_) => {
            "this statement cannot appear inside an expression here; make it a statement of its own"
        }
        Expr::Reference(r) if r.mutability.is_some() => {
            "a `&mut` reference is supported to an element or a sub-slice (`let e = &mut acc[k];`, `let ch = &mut buf[a..b];`), not to a variable or a choice of them; write to the variable where it is chosen (`if c { s += v } else { t += v }`), or keep the accumulators in an array and take `&mut acc[k]`; a function that writes through a `&mut` argument (`rhs(&y, k, &mut dy)`) is not differentiated: return what it writes (`fn rhs(y: &[f64], k: f64) -> Vec<f64>`, with `#[differentiate]`)"
        }
        Expr::Reference(_) | Expr::RawAddr(_) => {
            "references to this are not supported; pass the value"
        }
        Expr::Struct(_) => "struct expressions are not supported yet; until then use tuples",
        Expr::Try(_) | Expr::TryBlock(_) => {
            "the `?` operator is not supported in a `#[differentiate]` function; handle errors outside it"
        }
        Expr::Let(_) => "`let` expressions are not supported; use a `let` statement",
        Expr::Yield(_) => "`yield` cannot be differentiated",
        Expr::Const(_) => "`const` blocks are not supported; use a `const` item",
        Expr::Infer(_) => "`_` is not a value; write the value",
        Expr::Range(_) => "ranges are supported only as the iterator of a `for` loop",
        _ => {
            "this expression is not supported in a `#[differentiate]` function; rewrite it with the constructs listed on `#[differentiate]`"
        }
    };
    message.to_owned()
}

/// The names a format string reads inline: `x` and `y` in `"{x} and {y:.3}"`.
pub(super) fn inline_captures(format: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = format.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|(_, c)| *c == '{') => {
                chars.next();
            }
            '{' => {
                let rest = &format[i + 1..];
                let end = rest.find(['}', ':']).unwrap_or(rest.len());
                let name = rest[..end].trim();
                let is_ident = name.starts_with(|c: char| c.is_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_alphanumeric() || c == '_');
                if is_ident && !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
            _ => {}
        }
    }
    names
}

/// The error for an operation without a rule whose argument turns out to be active.
pub(super) fn no_rule(what: &str) -> String {
    format!(
        "{what} has no derivative rule, and here it is applied to a value that depends on a differentiated parameter; write it with the operations listed on `#[differentiate]`, or compute it in a function with a custom derivative (`#[differentiate(pullback = ..)]`); `no_grad(..)` around the value would make it a constant, with derivative zero"
    )
}

/// The body of `matches!`: scrutinee, pattern, and guard (and maybe a last `,`).
fn parse_matches(input: syn::parse::ParseStream) -> syn::Result<(Expr, syn::Pat, Option<Expr>)> {
    let scrutinee: Expr = input.parse()?;
    input.parse::<Token![,]>()?;
    let pat = syn::Pat::parse_multi_with_leading_vert(input)?;
    let guard = if input.parse::<Option<Token![if]>>()?.is_some() {
        Some(input.parse()?)
    } else {
        None
    };
    input.parse::<Option<Token![,]>>()?;
    Ok((scrutinee, pat, guard))
}

/// Iterator adapters given a closure that differentiated code supports.
const ADAPTERS: &[&str] = &["map", "filter"];

/// Whether a receiver chain holds an adapter that differentiated code supports, given a closure
/// (`x.iter().map(|v| ..)`), and nothing unsupported with one.
pub(super) fn adapters_with_closures(mut expr: &Expr) -> bool {
    let (mut adapter, mut iterator) = (false, false);
    while let Expr::MethodCall(call) = strip_parens(expr) {
        let method = call.method.to_string();
        if call.args.iter().any(|a| matches!(a, Expr::Closure(_))) {
            if !ADAPTERS.contains(&method.as_str()) {
                return false;
            }
            adapter = true;
        }
        iterator |= matches!(
            method.as_str(),
            "iter" | "into_iter" | "windows" | "chunks" | "zip" | "enumerate"
        );
        expr = &call.receiver;
    }
    adapter && (iterator || matches!(strip_parens(expr), Expr::Range(_)))
}

/// `assert!(x.iter().all(|&v| v > 0.0), ..)` (or `debug_assert!`): a condition with a closure,
/// which holes cannot keep as written, as the `if` it stands for, lowered (`debug_assert!`'s
/// only where debug assertions are on, as its condition is evaluated).
fn assertion_with_closure(mac: &syn::Macro) -> Option<Expr> {
    let name = mac.path.segments.last()?.ident.to_string();
    if name != "assert" && name != "debug_assert" {
        return None;
    }
    let args = mac
        .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
        .ok()?;
    let mut args = args.into_iter();
    let cond = args.next()?;
    if !contains_closure(&cond) {
        return None;
    }
    let message: Vec<Expr> = args.collect();
    let span = mac.span();
    let panic: Expr = if message.is_empty() {
        let text = format!("assertion failed: {}", cond.to_token_stream());
        syn::parse_quote_spanned!(span=> ::core::panic!("{}", #text))
    } else {
        syn::parse_quote_spanned!(span=> ::core::panic!(#(#message),*))
    };
    let check: Expr = syn::parse_quote_spanned!(span=> if !(#cond) { #panic; });
    Some(if name == "debug_assert" {
        syn::parse_quote_spanned!(span=> if cfg!(debug_assertions) { #check })
    } else {
        check
    })
}
