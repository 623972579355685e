//! Expressions: operands, paths, arithmetic, casts, fields and indexing.

use super::opaque::unsupported_message;
use super::syntax::*;
use super::*;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{BinOp, Expr, UnOp};

/// The error of a borrow kept as written whose value depends on a differentiated parameter.
const NUMBER_REFERENCE: &str =
    "references to numbers cannot be differentiated; use the value itself";

impl Lowerer<'_> {
    /// A field of a struct put into a tuple or an `Option` (`(p.b, 0.0)`, `Some(p.w)`): read
    /// now, as Rust copies it then; `(&p.w, x)` keeps naming it.
    pub(super) fn field_read_now(&mut self, e: &Expr, val: Val) -> Val {
        match val {
            Val::Mem(mem, prefix)
                if self.mems[mem.index()].structured
                    && !matches!(e, Expr::Reference(_))
                    && (!prefix.is_empty() || self.mems[mem.index()].field.is_some()) =>
            {
                let value = self.emit(Op::Load(mem), prefix, e.span());
                self.values[value.index()].aggregate = true;
                self.whole_fields.insert(value);
                Val::Scalar(Operand::Value(value))
            }
            val => val,
        }
    }

    pub(super) fn expr(&mut self, expr: &Expr) -> Val {
        match expr {
            Expr::Lit(lit) => Val::Scalar(Operand::Const(Const {
                tokens: lit.to_token_stream(),
                atomic: true,
            })),
            Expr::Path(path) => self.path(path),
            Expr::Paren(paren) => self.expr(&paren.expr),
            Expr::Group(group) => self.expr(&group.expr),
            Expr::Binary(binary) => self.binary(binary),
            Expr::Unary(unary) => self.unary(unary),
            Expr::MethodCall(call) => self.method_call(call),
            Expr::Call(call) => self.call(call),
            Expr::Cast(cast) => self.cast(cast),
            Expr::Tuple(tuple) => {
                // A tuple holds values: `(p.b, 0.0)` reads the field now, and `(&p.w, x)` keeps
                // naming it. The field may be a number or an array (`(p.w, x)`), so its value
                // and adjoint take the field's shape.
                let parts: Vec<Val> = tuple
                    .elems
                    .iter()
                    .map(|e| {
                        let val = self.expr(e);
                        self.field_read_now(e, val)
                    })
                    .collect();
                if parts.is_empty() {
                    Val::Unit
                } else {
                    Val::Tuple(parts)
                }
            }
            Expr::Block(block) => {
                if let Some(label) = &block.label {
                    self.error(
                        label,
                        "labelled blocks are not supported; use a labelled `loop` that ends with `break`",
                    );
                    return Val::Poison;
                }
                self.block(&block.block)
            }
            Expr::Assign(assign) => {
                self.assign_expr(&assign.left, &assign.right);
                Val::Unit
            }
            Expr::Return(ret) => {
                let val = match &ret.expr {
                    Some(e) => self.expr(e),
                    None => Val::Unit,
                };
                let span = ret.return_token.span;
                // A row (`return m[i]`) as an array of its own; a struct field's row (`return
                // l.w[j]` into the function's array) read whole.
                let val = match (self.ret_mem, self.owned_rows(val, span)) {
                    (Some(_), Val::Mem(mem, prefix))
                        if self.mems[mem.index()].structured && !prefix.is_empty() =>
                    {
                        let value = self.load_field(mem, prefix, span);
                        Val::Scalar(Operand::Value(value))
                    }
                    (_, val) => val,
                };
                match (self.ret_mem, val) {
                    (Some(out), Val::Mem(src, prefix)) if prefix.is_empty() => {
                        self.push(ir::Stmt::MemInit(MemInit {
                            mem: out,
                            kind: MemInitKind::Copy { src },
                            declare: false,
                            len: None,
                            ty: None,
                            span,
                        }));
                    }
                    (Some(out), Val::Scalar(Operand::Value(value))) => {
                        self.values[value.index()].aggregate = true;
                        self.push(ir::Stmt::MemInit(MemInit {
                            mem: out,
                            kind: MemInitKind::FromValue(value),
                            declare: false,
                            len: None,
                            ty: None,
                            span,
                        }));
                    }
                    // A field of a struct returned as a number (`return p.b`): loaded here, as
                    // the function's last expression is, so the value carried out of loops is a
                    // number.
                    (None, Val::Mem(mem, prefix)) if self.mems[mem.index()].structured => {
                        let value = self.load_field(mem, prefix, span);
                        self.assign_var(&Var::ReturnValue, Val::Scalar(Operand::Value(value)));
                    }
                    (Some(_), Val::Poison) => {}
                    (Some(_), _) => self.error(
                        ret,
                        "this `return` gives a value of another shape than the function's array",
                    ),
                    // The arrays of a tuple (`return (t, [x, y])`) copied into the same arrays
                    // at every `return`, which outlive the loops it may be in.
                    (None, val) => {
                        let val = self.outliving(0, true, val, &mut 0, span);
                        self.assign_var(&Var::ReturnValue, val);
                    }
                }
                self.assign_var(&Var::Return, Val::Scalar(const_bool(true)));
                Val::Unit
            }
            Expr::Field(field) => self.field(field),
            Expr::Struct(literal) => self.struct_literal(literal),
            Expr::Closure(closure) => self.closure(closure),
            Expr::If(if_) => self.if_expr(if_),
            Expr::Match(match_) => self.match_expr(match_),
            Expr::ForLoop(for_) => self.for_loop(for_),
            Expr::While(while_) => self.while_loop(while_),
            Expr::Loop(loop_) => self.forever_loop(loop_),
            Expr::Break(brk) => self.break_expr(brk),
            Expr::Continue(cont) => self.continue_expr(cont),
            Expr::Index(index) => self.index(index),
            Expr::Repeat(repeat) => self.repeat(&repeat.expr, &repeat.len, false, expr.span()),
            Expr::Array(array) => self.list(array.elems.iter(), false, expr.span()),
            Expr::Reference(reference) if reference.mutability.is_none() => {
                let val = match strip_parens(&reference.expr) {
                    // `&g.home`, `&games[i].home` of data (`ids[&g.home]`, a `String`): a
                    // borrow of the field, not a copy.
                    Expr::Field(field) => {
                        let member = &field.member;
                        let data = |l: &Self, e: &Expr| matches!(l.local_val(e), Some(Val::Scalar(Operand::Value(b))) if l.borrowed(*b));
                        let (template, args, base) = match strip_parens(&field.base) {
                            Expr::Index(ix) if data(self, &ix.expr) => {
                                let args = vec![self.operand(&ix.expr), self.operand(&ix.index)];
                                (quote!(&H0[H1].#member), args, None)
                            }
                            base => match self.expr(base) {
                                Val::Scalar(Operand::Value(v)) if self.borrows.contains(&v) => {
                                    (quote!(&H0.#member), vec![Operand::Value(v)], None)
                                }
                                Val::Mem(mem, prefix)
                                    if !self.mems[mem.index()].structured && !prefix.is_empty() =>
                                {
                                    let arg = Operand::Mem(mem, prefix);
                                    (quote!(&H0.#member), vec![arg], None)
                                }
                                base => (TokenStream::new(), Vec::new(), Some(base)),
                            },
                        };
                        match base {
                            Some(base) => self.field_of(field, base),
                            None => {
                                let opaque = Opaque {
                                    cut: false,
                                    error: NUMBER_REFERENCE.to_owned(),
                                    at: reference.to_token_stream(),
                                    ..Opaque::cut(super::iter::rename_holes(template))
                                };
                                return self.borrow_as(opaque, args, expr.span());
                            }
                        }
                    }
                    inner => self.expr(inner),
                };
                match val {
                    mem @ Val::Mem(..) => mem,
                    Val::Poison => Val::Poison,
                    // `&s.w` of a struct value: read like the value (`for v in &s.w`); and
                    // `&obs[1..]`, already a borrow.
                    Val::Scalar(Operand::Value(value))
                        if self.values[value.index()].aggregate
                            || self.parts.contains(&value)
                            || self.borrows.contains(&value) =>
                    {
                        Val::Scalar(Operand::Value(value))
                    }
                    // `&nbrs[i]` of data that is not differentiated: a borrow, which a
                    // backward sweep takes again rather than tape (its closure holds no borrow
                    // of the arguments).
                    _ => {
                        let val = self.opaque_with(expr, false, NUMBER_REFERENCE.to_owned());
                        if let Val::Scalar(Operand::Value(value)) = val {
                            if let Some(Inst {
                                op: Op::Opaque(opaque),
                                ..
                            }) = self.last_inst_mut(value)
                            {
                                opaque.index = true;
                                opaque.borrow = true;
                            }
                            self.borrows.insert(value);
                        }
                        val
                    }
                }
            }
            Expr::Macro(mac) => self.macro_expr(&mac.mac),
            _ => {
                self.error(expr, unsupported_message(expr));
                Val::Poison
            }
        }
    }

    pub(super) fn operand(&mut self, expr: &Expr) -> Operand {
        let val = self.expr(expr);
        self.as_operand(val, expr)
    }

    /// `val`, which `expr` gave, as a number; an error at `expr` when it is not one.
    pub(super) fn as_operand(&mut self, val: Val, expr: &Expr) -> Operand {
        match val {
            Val::Scalar(operand) => operand,
            Val::Poison => poison(),
            Val::Tuple(_) => {
                self.error(expr, "expected a number here, found a tuple");
                poison()
            }
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                // A field of a struct (`p.bias`, `p.w[i]`) used as a number: a load.
                Operand::Value(self.emit(Op::Load(mem), prefix, expr.span()))
            }
            Val::Mem(..) => {
                self.error(expr, "expected a number here, found an array; index it");
                poison()
            }
            Val::Unit => {
                self.error(expr, "expected a number here, found `()`");
                poison()
            }
            Val::Closure(_) => {
                self.error(expr, "expected a number here, found a closure; call it");
                poison()
            }
            Val::Option(..) => {
                self.error(
                    expr,
                    "expected a number here, found an `Option`; unwrap it (`.unwrap()`, `.unwrap_or(..)`, `if let Some(..)`)",
                );
                poison()
            }
        }
    }

    pub(super) fn path(&mut self, path: &syn::ExprPath) -> Val {
        if path.path.is_ident("None") && self.lookup_user("None").is_none() {
            return Val::Option(Box::new(Val::Scalar(Operand::Undef)), Operand::Bool(false));
        }
        if let Some(ident) = local_name(path) {
            match self.lookup_user(&ident.to_string()) {
                Some(Binding { val: Some(val), .. }) => return val.clone(),
                Some(Binding { val: None, .. }) => {
                    self.error(
                        path,
                        format!("`{ident}` is used before it is given a value"),
                    );
                    return Val::Poison;
                }
                None => {}
            }
        }
        // A constant, a unit struct or a function item: not a variable of this function.
        Val::Scalar(Operand::Const(Const {
            tokens: path.to_token_stream(),
            atomic: true,
        }))
    }

    /// The `Option` the function builds that `o == None` / `o != None` tests.
    fn tested_option<'e>(&self, binary: &'e syn::ExprBinary) -> Option<&'e Expr> {
        if !matches!(binary.op, syn::BinOp::Eq(_) | syn::BinOp::Ne(_)) {
            return None;
        }
        let none = |e: &Expr| matches!(strip_parens(e), Expr::Path(p) if p.path.is_ident("None"));
        match (&*binary.left, &*binary.right) {
            (o, n) | (n, o) if none(n) && self.gives_option(o) => Some(o),
            _ => None,
        }
    }

    pub(super) fn binary(&mut self, binary: &syn::ExprBinary) -> Val {
        let span = binary.op.span();
        if let Some(name) = arithmetic_rule(&binary.op) {
            let a = self.operand(&binary.left);
            let b = self.operand(&binary.right);
            return Val::Scalar(self.arithmetic(name, binary.op, a, b, span));
        }
        if let Some(op) = compound_op(&binary.op) {
            // `x += e` → `x_1 = add(x, e)`; the right side is evaluated first, as rustc does for
            // primitive types (and where it leaves, `x += if c { continue } else { 1.0 }`,
            // nothing is written).
            let before = self.exit_flags(&self.loops);
            let b = self.operand(&binary.right);
            let name = arithmetic_rule(&op).expect("compound operators are arithmetic");
            self.unless_left(&before, span, |l| {
                if let Some((mem, indices)) = l.local_element(&binary.left) {
                    // `a[i] += e` reads and writes one element, its indices evaluated once.
                    let a = l.emit(Op::Load(mem), indices.clone(), binary.left.span());
                    let value = l.arithmetic(name, op, Operand::Value(a), b, span);
                    l.push(ir::Stmt::Store(ir::Store {
                        mem,
                        indices,
                        value,
                        push: false,
                        span: binary.left.span(),
                    }));
                    return;
                }
                let a = l.operand(&binary.left);
                let result = l.arithmetic(name, op, a, b, span);
                l.assign(&binary.left, Val::Scalar(result));
            });
            return Val::Unit;
        }
        if let Some(op) = bit_op_of_assign(&binary.op) {
            // Integer bit operations: the new value is an opaque expression of the old one.
            let (left, right) = (&binary.left, &binary.right);
            let expr: Expr = syn::parse_quote_spanned!(span=> (#left) #op (#right));
            let val = self.opaque(&expr, true, "bit operation");
            self.assign(&binary.left, val);
            return Val::Unit;
        }
        // `o == None`, `o != None` of an `Option` the function builds: `o.is_none()`.
        if let Some(o) = self.tested_option(binary) {
            let test: Expr = match binary.op {
                syn::BinOp::Eq(_) => syn::parse_quote_spanned!(span=> (#o).is_none()),
                _ => syn::parse_quote_spanned!(span=> (#o).is_some()),
            };
            return self.expr(&test);
        }
        // `a || !y.iter().all(|&v| v > 0.0)`: a side with a closure is lowered (the chain is
        // not kept as written), short-circuiting as the `if` it stands for.
        if let syn::BinOp::And(_) | syn::BinOp::Or(_) = binary.op {
            if [&binary.left, &binary.right]
                .iter()
                .any(|side| self.lowered_apart(side))
            {
                let (a, b) = (&binary.left, &binary.right);
                let if_: Expr = match binary.op {
                    syn::BinOp::And(_) => {
                        syn::parse_quote_spanned!(span=> if #a { #b } else { false })
                    }
                    _ => syn::parse_quote_spanned!(span=> if #a { true } else { #b }),
                };
                return self.expr(&if_);
            }
        }
        // `f(c) < f(d)` of a local closure `f`, `x.iter().map(|v| v * v).sum::<f64>() > 2.0`:
        // the sides are lowered, as a `let` lowers them, and their values compared.
        if is_comparison(&binary.op)
            && [&binary.left, &binary.right]
                .iter()
                .any(|side| self.lowered_apart(side))
        {
            let (a, b, op) = (&binary.left, &binary.right, &binary.op);
            let block: Expr = syn::parse_quote_spanned!(span=> {
                let __autodiff_left = #a;
                let __autodiff_right = #b;
                __autodiff_left #op __autodiff_right
            });
            return self.expr(&block);
        }
        // Comparisons, `&&`, `||` and bit operations give a bool or an integer: evaluated as
        // written (keeping short-circuiting), never differentiated.
        self.opaque(&Expr::Binary(binary.clone()), true, "comparison")
    }

    /// Whether a side of a comparison or of `&&` / `||` is lowered on its own rather than kept
    /// as written with the rest: it has a closure (`x.iter().map(|v| v * v).sum::<f64>()`),
    /// calls one the function binds, or names a built `Option`.
    fn lowered_apart(&self, side: &Expr) -> bool {
        contains_closure(side) || self.calls_local_closure(side) || self.mentions_option(side)
    }

    /// Whether `expr` names a variable holding an `Option` the function builds
    /// (`v > best.unwrap()` of `let mut best = None;`), which a comparison kept as written
    /// could not hold; not an `Option` itself (`best == Some(v)`, which lowered side by side
    /// would compare two `Option`s again).
    fn mentions_option(&self, expr: &Expr) -> bool {
        if self.gives_option(expr) || written_option(expr) {
            return false;
        }
        struct Find<'l, 'a>(&'l Lowerer<'a>, bool);
        impl<'ast> syn::visit::Visit<'ast> for Find<'_, '_> {
            fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
                self.1 |= local_name(path).is_some_and(|name| {
                    matches!(
                        self.0.lookup_user(&name.to_string()),
                        Some(Binding {
                            val: Some(Val::Option(..)),
                            ..
                        })
                    )
                });
            }
            fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        }
        let mut find = Find(self, false);
        syn::visit::Visit::visit_expr(&mut find, expr);
        find.1
    }

    /// Whether `expr` calls a closure the function binds (`f(c)` of `let f = |x| ..`).
    pub(super) fn calls_local_closure(&self, expr: &Expr) -> bool {
        struct Find<'l, 'a>(&'l Lowerer<'a>, bool);
        impl<'ast> syn::visit::Visit<'ast> for Find<'_, '_> {
            fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
                if let Expr::Path(path) = strip_parens(&call.func) {
                    self.1 |= local_name(path).is_some_and(|name| {
                        matches!(
                            self.0.lookup_user(&name.to_string()),
                            Some(Binding {
                                val: Some(Val::Closure(_)),
                                ..
                            })
                        )
                    });
                }
                syn::visit::visit_expr_call(self, call);
            }
        }
        let mut find = Find(self, false);
        syn::visit::Visit::visit_expr(&mut find, expr);
        find.1
    }

    /// `a[i]`, `m[i][j]`, `row[j]` of `let row = &mut m[i]`: an element of a local array of
    /// numbers (not a parameter's, not a struct's), with its indices lowered.
    fn local_element(&mut self, place: &Expr) -> Option<(Mem, Vec<Operand>)> {
        let mut index_exprs = Vec::new();
        let mut base = strip_parens(place);
        while let Expr::Index(index) = base {
            if matches!(strip_parens(&index.index), Expr::Range(_)) {
                return None;
            }
            index_exprs.push(&*index.index);
            base = strip_parens(&index.expr);
        }
        let Expr::Path(path) = base else { return None };
        let binding = self.lookup_user(&local_name(path)?.to_string())?;
        let Some(Val::Mem(mem, prefix)) = &binding.val else {
            return None;
        };
        let data = &self.mems[mem.index()];
        let element = data.param.is_none()
            && !data.structured
            && depth(prefix) + index_exprs.len() == data.dims;
        let (mem, mut indices) = (*mem, prefix.clone());
        element.then(|| {
            indices.extend(index_exprs.iter().rev().map(|i| self.operand(i)));
            (mem, indices)
        })
    }

    pub(super) fn arithmetic(
        &mut self,
        name: &str,
        op: BinOp,
        a: Operand,
        b: Operand,
        span: Span,
    ) -> Operand {
        if let (Operand::Const(a), Operand::Const(b)) = (&a, &b) {
            let (a, b) = (a.parenthesized(), b.parenthesized());
            return Operand::Const(Const {
                tokens: quote!(#a #op #b),
                atomic: false,
            });
        }
        let (a, b) = (self.by_value(a, span), self.by_value(b, span));
        let rule = rules::lookup(name, 2).expect("arithmetic rules are in the table");
        Operand::Value(self.emit(
            Op::Rule {
                rule,
                form: Form::Binary(op),
            },
            vec![a, b],
            span,
        ))
    }

    /// The result of a computation kept as written may be a reference the user's arithmetic
    /// takes as it is (`Some(v) => v * x` of a `HashMap`'s `get`); a backward sweep that needs
    /// it must tape the number, not the borrow, so it is copied out (`.clone()` dereferences a
    /// `&f64` and copies an `f64`). Such a result is never active (see `opaque_results`).
    fn by_value(&mut self, a: Operand, span: Span) -> Operand {
        match a {
            Operand::Value(v) if self.opaque_results.contains(&v) => {
                // (Bound first: a copy nothing reads is written as a statement, and `clone`'s
                // result must be used.)
                let (hole, copy) = (Opaque::hole(0), quote::format_ident!("__autodiff_copy"));
                let op = Op::Opaque(Opaque::cut(quote!({ let #copy = #hole.clone(); #copy })));
                Operand::Value(self.emit(op, vec![a], span))
            }
            a => a,
        }
    }

    pub(super) fn unary(&mut self, unary: &syn::ExprUnary) -> Val {
        match unary.op {
            UnOp::Neg(_) => {
                let a = self.operand(&unary.expr);
                if let Operand::Const(c) = &a {
                    let c = c.parenthesized();
                    return Val::Scalar(Operand::Const(Const {
                        tokens: quote!(-#c),
                        atomic: false,
                    }));
                }
                let rule = rules::lookup("neg", 1).expect("neg is in the table");
                let value = self.emit(
                    Op::Rule {
                        rule,
                        form: Form::Neg,
                    },
                    vec![a],
                    unary.op.span(),
                );
                Val::Scalar(Operand::Value(value))
            }
            // `!flag`, `!y.iter().all(..)`: the operand lowered first (it may be a chain the
            // lowering knows), then negated.
            UnOp::Not(_) => match self.operand(&unary.expr) {
                Operand::Poison => Val::Poison,
                operand => Val::Scalar(self.int(quote!(!H0), vec![operand], unary.span())),
            },
            _ => {
                // `*v`: a number or an array the macro holds by value is itself (an element of
                // `x.iter()`, a closure's `&v`, `*h0` of `h0: &[f64; N]`); a reference parameter
                // that is not differentiated is dereferenced as written, all of `**k` at once.
                let (mut inner, mut derefs) = (&*unary.expr, 1);
                while let Expr::Unary(syn::ExprUnary {
                    op: UnOp::Deref(_),
                    expr,
                    ..
                }) = strip_parens(inner)
                {
                    (inner, derefs) = (expr, derefs + 1);
                }
                match self.expr(inner) {
                    Val::Scalar(Operand::Value(v))
                        if self.values[v.index()].by_ref || self.kept_as_written.contains(&v) =>
                    {
                        self.opaque(&Expr::Unary(unary.clone()), true, "dereference `*`")
                    }
                    Val::Scalar(Operand::Const(c)) => {
                        let (c, stars) = (c.parenthesized(), (0..derefs).map(|_| quote!(*)));
                        Val::Scalar(Operand::Const(Const {
                            tokens: quote!(#(#stars)* #c),
                            atomic: false,
                        }))
                    }
                    val => val,
                }
            }
        }
    }

    pub(super) fn cast(&mut self, cast: &syn::ExprCast) -> Val {
        if !float_cast_target(&cast.ty) {
            // `v.iter().filter(..).count() as i32`: the chain lowered first, then cast.
            if let Expr::MethodCall(call) = strip_parens(&cast.expr) {
                if super::opaque::adapters_with_closures(&call.receiver) {
                    let ty = &cast.ty;
                    return match self.operand(&cast.expr) {
                        Operand::Poison => Val::Poison,
                        n => Val::Scalar(self.int(quote!(H0 as #ty), vec![n], cast.span())),
                    };
                }
            }
            return self.opaque(&Expr::Cast(cast.clone()), true, "cast");
        }
        let a = self.operand(&cast.expr);
        if let Operand::Const(c) = &a {
            let c = c.parenthesized();
            let ty = &cast.ty;
            return Val::Scalar(Operand::Const(Const {
                tokens: quote!(#c as #ty),
                atomic: false,
            }));
        }
        let rule = rules::lookup("cast", 1).expect("cast is in the table");
        let form = Form::Cast((*cast.ty).clone());
        let value = self.emit(Op::Rule { rule, form }, vec![a], cast.as_token.span());
        Val::Scalar(Operand::Value(value))
    }

    pub(super) fn field(&mut self, field: &syn::ExprField) -> Val {
        let base = self.expr(&field.base);
        self.field_of(field, base)
    }

    /// `field` of its base's value, `base`.
    fn field_of(&mut self, field: &syn::ExprField, base: Val) -> Val {
        match (&field.member, base) {
            (syn::Member::Unnamed(index), Val::Tuple(parts)) => {
                match parts.get(index.index as usize) {
                    Some(part) => part.clone(),
                    None => {
                        self.error(field, "no such tuple element");
                        Val::Poison
                    }
                }
            }
            // `.0` of a tuple a call returned, `.x` of a struct value.
            (member, Val::Scalar(Operand::Value(value))) => self.field_of_value(value, member),
            (_, Val::Poison) => Val::Poison,
            // `m.ch[c].d`, `buf.items[i].s`: the element, as `for ch in &m.ch` reads it, and
            // its field.
            (member, Val::Mem(mem, prefix))
                if self.mems[mem.index()].structured && !prefix.is_empty() =>
            {
                let element = self.load_field(mem, prefix.clone(), field.span());
                if self.mems[mem.index()].param.is_some() {
                    self.struct_elements.insert(element, (mem, prefix));
                }
                self.field_of_value(element, member)
            }
            (member, Val::Mem(mem, _)) if self.mems[mem.index()].structured => {
                Val::Mem(self.field_mem(mem, member), Vec::new())
            }
            (syn::Member::Named(name), _) => {
                let what = format!("field access `.{name}`");
                self.opaque(&Expr::Field(field.clone()), false, &what)
            }
            _ => self.opaque(&Expr::Field(field.clone()), false, "field access"),
        }
    }

    /// `value[i]` of an array the function holds as a value.
    pub(super) fn element_of_value(&mut self, value: Value, i: Operand, span: Span) -> Value {
        self.values[value.index()].aggregate = true;
        let result = self.emit(Op::Index, vec![Operand::Value(value), i], span);
        // An element of a struct's field read whole may be a row or a struct (`(p.m, x).0[1]`,
        // `let p = s.pos.clone(); p[0]`, `for a in &r.atoms`): its adjoint takes its shape.
        if self.whole_fields.contains(&value) || self.parts.contains(&value) {
            self.values[result.index()].aggregate = true;
            self.whole_fields.insert(result);
        }
        // An element of borrowed data (`b[b.len() - 1]` of `no_grad(&self.buf)`) may be a
        // struct that is not `Copy`: cloned, not moved out.
        if self.borrows.contains(&value) {
            self.values[result.index()].aggregate = true;
        }
        result
    }

    /// Marks `value` read whole if it is an element of a value (`ss[i]` of a call's `Vec`),
    /// which may be a struct that is not `Copy`: cloned out (`wt(&ss[i])`, `ss[i].clone()`),
    /// not moved.
    pub(super) fn element_read_whole(&mut self, value: Value) {
        if self
            .last_inst_mut(value)
            .is_some_and(|inst| matches!(inst.op, Op::Index))
        {
            self.values[value.index()].cloned = true;
        }
    }

    /// A field of a value read whole (a tuple, a struct, an element of a `Vec` of them).
    pub(super) fn field_of_value(&mut self, value: Value, member: &syn::Member) -> Val {
        self.values[value.index()].aggregate = true;
        let result = self.emit(
            Op::Field(member.clone()),
            vec![Operand::Value(value)],
            member.span(),
        );
        self.parts.insert(result);
        Val::Scalar(Operand::Value(result))
    }

    /// `Layer { w, b: 2.0 * b0 }`: a struct value built from its fields.
    pub(super) fn struct_literal(&mut self, literal: &syn::ExprStruct) -> Val {
        // `State { v: nv, ..s }`: the fields' values (first, as Rust evaluates them), then a
        // copy of `s` with those fields assigned.
        if let Some(rest) = &literal.rest {
            let span = literal.span();
            let updated = quote::format_ident!("__autodiff_updated", span = span);
            let values: Vec<syn::Ident> = (0..literal.fields.len())
                .map(|k| quote::format_ident!("__autodiff_field_{}", k, span = span))
                .collect();
            let exprs = literal.fields.iter().map(|field| &field.expr);
            let members = literal.fields.iter().map(|field| &field.member);
            // `..Default::default()` as `..Path::default()`, whose type (and generic arguments)
            // the path gives.
            let path = &literal.path;
            let rest: Expr = match &**rest {
                Expr::Call(call)
                    if call.args.is_empty()
                        && matches!(&*call.func, Expr::Path(f)
                            if f.path.segments.len() >= 2
                                && f.path.segments.iter().rev().take(2).map(|s| s.ident.to_string()).eq(["default", "Default"])) =>
                {
                    syn::parse_quote_spanned!(span=> #path::default())
                }
                rest => rest.clone(),
            };
            let block: Expr = syn::parse_quote_spanned!(span=> {
                #(let #values = #exprs;)*
                let mut #updated = #rest;
                #(#updated.#members = #values;)*
                #updated
            });
            return self.expr(&block);
        }
        if literal.qself.is_some() {
            self.error(
                literal,
                "a struct expression with a qualified path is not supported",
            );
            return Val::Poison;
        }
        let mut members = Vec::new();
        let mut args = Vec::new();
        for field in &literal.fields {
            members.push(field.member.clone());
            args.push(self.field_value(&field.expr));
        }
        self.struct_value(literal.path.clone(), members, args, literal.span())
    }

    /// A field's value: a number, or an array or struct (held whole).
    pub(super) fn field_value(&mut self, expr: &Expr) -> Operand {
        let val = self.expr(expr);
        self.field_operand(val, expr)
    }

    /// A field's value `val` of the expression `expr`.
    pub(super) fn field_operand(&mut self, val: Val, expr: &Expr) -> Operand {
        match val {
            Val::Mem(mem, prefix) => {
                // An array or struct of the function, or an element of one (`p.a[0]`, a number
                // or a row), put whole into the new struct.
                let value = self.emit(Op::Load(mem), prefix, expr.span());
                self.values[value.index()].aggregate = true;
                Operand::Value(value)
            }
            Val::Scalar(operand) => operand,
            Val::Poison => Operand::Poison,
            _ => {
                self.error(
                    expr,
                    "a field of a struct built here must be a number, an array or a struct",
                );
                Operand::Poison
            }
        }
    }

    /// `Path { members: args }`.
    pub(super) fn struct_value(
        &mut self,
        path: syn::Path,
        members: Vec<syn::Member>,
        args: Vec<Operand>,
        span: Span,
    ) -> Val {
        let op = Op::Struct {
            path,
            members,
            tangent: false,
        };
        let value = self.emit(op, args, span);
        self.values[value.index()].aggregate = true;
        self.structs.insert(value);
        Val::Scalar(Operand::Value(value))
    }

    /// The bounds of `a..b`, `a..=b`, `..b`, `a..` used as an index; `len` gives the length
    /// an open end stands for.
    fn range_bounds(
        &mut self,
        range: &syn::ExprRange,
        len: impl FnOnce(&mut Self) -> Operand,
    ) -> (Operand, Operand) {
        let start = match &range.start {
            Some(start) => self.operand(start),
            None => Operand::Const(Const {
                tokens: quote!(0usize),
                atomic: true,
            }),
        };
        let end = match (&range.end, &range.limits) {
            (Some(end), syn::RangeLimits::HalfOpen(_)) => self.operand(end),
            (Some(end), syn::RangeLimits::Closed(_)) => {
                let end = self.operand(end);
                self.int(quote!(H0 + 1), vec![end], range.span())
            }
            (None, _) => len(self),
        };
        (start, end)
    }

    /// `a[i]`: an element of an array (a load), a row of a matrix, or an element of an array
    /// value returned by a call.
    pub(super) fn index(&mut self, index: &syn::ExprIndex) -> Val {
        let base = self.expr(&index.expr);
        // `x[a..b]`: a view of part of an array, indexed, iterated and passed on as itself.
        if let Expr::Range(range) = strip_parens(&index.index) {
            // `&me.w[1..]` of a local struct's `Vec` field: an array to view, as a field of a
            // parameter is.
            let base = match (base, strip_parens(&index.expr)) {
                (Val::Scalar(Operand::Value(value)), Expr::Field(field))
                    if self.known_struct(&field.base) || self.holds_value(&field.base) =>
                {
                    let mem = self.array_from_value(value, 1, None, None, index.expr.span());
                    Val::Mem(mem, Vec::new())
                }
                // `&C[1..]` of a constant table: data, borrowed as it is.
                (Val::Scalar(Operand::Const(c)), _) => {
                    let span = index.expr.span();
                    let table = self.emit(Op::Opaque(Opaque::cut(c.tokens)), Vec::new(), span);
                    Val::Scalar(Operand::Value(table))
                }
                (base, _) => base,
            };
            // `obs[1..]` of data that is not differentiated: borrowed.
            if let Val::Scalar(Operand::Value(value)) = base {
                let (start, end) = self.range_bounds(range, |l| {
                    l.int(quote!(H0.len()), vec![Operand::Value(value)], range.span())
                });
                return self.borrowed_slice(value, start, end, index.expr.span());
            }
            let Val::Mem(mem, mut prefix) = base else {
                if !matches!(base, Val::Poison) {
                    self.error(
                        index,
                        "only arrays, slices and `Vec`s of the function can be sliced with a range here; index the elements",
                    );
                }
                return Val::Poison;
            };
            let (start, end) = self.range_bounds(range, |l| {
                Operand::Value(l.emit(Op::Len(mem), prefix.clone(), range.span()))
            });
            prefix.push(Operand::Range(Box::new(start), Box::new(end)));
            return Val::Mem(mem, prefix);
        }
        let i = self.operand(&index.index);
        match base {
            Val::Mem(mem, mut prefix) => {
                prefix.push(i);
                if depth(&prefix) < self.mems[mem.index()].dims || self.mems[mem.index()].structured
                {
                    return Val::Mem(mem, prefix);
                }
                let value = self.emit(Op::Load(mem), prefix, index.bracket_token.span.join());
                Val::Scalar(Operand::Value(value))
            }
            Val::Scalar(Operand::Value(value)) => Val::Scalar(Operand::Value(
                self.element_of_value(value, i, index.bracket_token.span.join()),
            )),
            Val::Poison => Val::Poison,
            _ => self.opaque(&Expr::Index(index.clone()), false, "indexing"),
        }
    }
}

pub(super) fn is_comparison(op: &BinOp) -> bool {
    matches!(
        op,
        BinOp::Lt(_) | BinOp::Le(_) | BinOp::Gt(_) | BinOp::Ge(_) | BinOp::Eq(_) | BinOp::Ne(_)
    )
}
