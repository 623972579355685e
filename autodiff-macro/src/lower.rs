//! Lowering of the function body into the IR: one instruction per operation, one fresh value per
//! assignment, so that shadowing and reassignment become new values the backward sweep can still
//! read.
//!
//! ```text
//! let mut s = x * y;          s   = mul(x, y)
//! s += x.sin();         →     t0  = sin(x)
//! s                           s_1 = add(s, t0)        output: s_1
//! ```
//!
//! Unsupported constructs are recorded as errors at their span; lowering goes on with a poison
//! value so that every error of the function is reported at once.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{BinOp, Expr, Pat, Stmt, UnOp};

use crate::ctxt::Ctxt;
use crate::ir::{self, Const, Form, Inst, Op, Opaque, Operand, Value, ValueData};
use crate::rules;
use crate::signature::Signature;

/// Methods whose result is an integer or a bool: never differentiable, allowed on any value.
const CUT_METHODS: &[&str] = &[
    "len",
    "is_empty",
    "is_nan",
    "is_finite",
    "is_infinite",
    "is_normal",
    "is_subnormal",
    "is_sign_positive",
    "is_sign_negative",
    "to_bits",
    "total_cmp",
    "partial_cmp",
    "classify",
];

pub fn lower(cx: &Ctxt, sig: &Signature, body: &syn::Block) -> ir::Function {
    let mut lowerer = Lowerer {
        cx,
        values: Vec::new(),
        stmts: Vec::new(),
        scopes: vec![HashMap::new()],
        items: Vec::new(),
        returned: None,
    };
    let params = sig
        .params
        .iter()
        .map(|param| {
            let value = lowerer.new_value(Some(param.ident.to_string()));
            lowerer.declare(
                &param.ident.to_string(),
                Some(Val::Scalar(Operand::Value(value))),
            );
            value
        })
        .collect();

    let tail = lowerer.block_contents(body);
    let result = lowerer.returned.take().unwrap_or(tail);
    let output = match result {
        Val::Scalar(operand) => operand,
        Val::Poison => poison(),
        Val::Tuple(_) => {
            cx.error_at(
                tail_span(body),
                "this function returns a tuple; `#[differentiate]` supports a float return value",
            );
            poison()
        }
        Val::Unit => {
            cx.error_at(
                tail_span(body),
                "the body must end with the float value it returns",
            );
            poison()
        }
    };

    ir::Function {
        params,
        body: ir::Block {
            stmts: lowerer.stmts,
        },
        output,
        values: lowerer.values,
        items: lowerer.items,
    }
}

/// Where the function's result comes from, for errors about it.
fn tail_span(body: &syn::Block) -> Span {
    match body.stmts.last() {
        Some(stmt) => stmt.span(),
        None => body.brace_token.span.join(),
    }
}

/// What an expression evaluates to, at compile time.
#[derive(Clone)]
enum Val {
    Scalar(Operand),
    /// A tuple expression; tuples are taken apart during lowering.
    Tuple(Vec<Val>),
    /// `()`, the value of a statement.
    Unit,
    /// The value of an expression that had an error, already reported.
    Poison,
}

fn poison() -> Operand {
    Operand::Const(Const {
        tokens: quote!(()),
        atomic: true,
    })
}

struct Lowerer<'a> {
    cx: &'a Ctxt,
    values: Vec<ValueData>,
    stmts: Vec<ir::Stmt>,
    /// Innermost last. `None` for a variable declared without a value (`let x;`).
    scopes: Vec<HashMap<String, Option<Val>>>,
    items: Vec<syn::Item>,
    /// Set by `return`: what the function returns. Statements after it are not lowered.
    returned: Option<Val>,
}

impl Lowerer<'_> {
    fn new_value(&mut self, name: Option<String>) -> Value {
        let value = Value(self.values.len() as u32);
        self.values.push(ValueData { name });
        value
    }

    fn emit(&mut self, op: Op, args: Vec<Operand>, span: Span) -> Value {
        let result = self.new_value(None);
        self.stmts.push(ir::Stmt::Inst(Inst {
            result,
            op,
            args,
            span,
            ty: None,
        }));
        result
    }

    fn last_inst_mut(&mut self, value: Value) -> Option<&mut Inst> {
        match self.stmts.last_mut() {
            Some(ir::Stmt::Inst(inst)) if inst.result == value => Some(inst),
            _ => None,
        }
    }

    // Scopes -----------------------------------------------------------------------------------

    fn declare(&mut self, name: &str, val: Option<Val>) {
        let scope = self.scopes.last_mut().expect("a scope is always open");
        scope.insert(name.to_owned(), val);
    }

    fn lookup(&self, name: &str) -> Option<&Option<Val>> {
        self.scopes.iter().rev().find_map(|scope| scope.get(name))
    }

    /// Reassignment updates the variable in the scope that declared it.
    fn assign_var(&mut self, name: &str, val: Val) -> bool {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = Some(val);
                return true;
            }
        }
        false
    }

    // Blocks and statements --------------------------------------------------------------------

    /// `{ stmts; tail }` → the tail's value, in a new scope.
    fn block(&mut self, block: &syn::Block) -> Val {
        self.scopes.push(HashMap::new());
        let val = self.block_contents(block);
        self.scopes.pop();
        val
    }

    fn block_contents(&mut self, block: &syn::Block) -> Val {
        let mut val = Val::Unit;
        for (index, stmt) in block.stmts.iter().enumerate() {
            if self.returned.is_some() {
                // Unreachable; rustc already warns about it in the original function.
                break;
            }
            let is_last = index + 1 == block.stmts.len();
            val = Val::Unit;
            match stmt {
                Stmt::Local(local) => self.local(local),
                Stmt::Expr(expr, semi) => {
                    let v = self.expr(expr);
                    if semi.is_none() && is_last {
                        val = v;
                    }
                }
                Stmt::Item(item) => self.item(item),
                Stmt::Macro(mac) => self.macro_error(&mac.mac),
            }
        }
        val
    }

    fn item(&mut self, item: &syn::Item) {
        match item {
            syn::Item::Const(_) | syn::Item::Fn(_) | syn::Item::Use(_) | syn::Item::Static(_) => {
                self.items.push(item.clone())
            }
            _ => self.cx.error_spanned_by(
                item,
                "only `const`, `static`, `fn` and `use` items may be declared inside a differentiated function; move this item out of the function",
            ),
        }
    }

    fn local(&mut self, local: &syn::Local) {
        let Some(init) = &local.init else {
            self.declare_uninit(&local.pat);
            return;
        };
        if let Some((else_token, _)) = &init.diverge {
            self.cx.error_spanned_by(
                else_token,
                "`let ... else` is not supported; bind the value with a plain `let`",
            );
        }
        let val = self.expr(&init.expr);
        self.bind(&local.pat, val, None);
    }

    fn declare_uninit(&mut self, pat: &Pat) {
        match pat {
            Pat::Ident(pat_ident) => self.declare(&pat_ident.ident.to_string(), None),
            Pat::Type(pat_type) => self.declare_uninit(&pat_type.pat),
            Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| self.declare_uninit(p)),
            _ => self.unsupported_pattern(pat),
        }
    }

    /// `let PAT: TY = val;`
    fn bind(&mut self, pat: &Pat, val: Val, ty: Option<&syn::Type>) {
        match pat {
            Pat::Ident(pat_ident) => {
                if let Some(by_ref) = &pat_ident.by_ref {
                    self.cx.error_spanned_by(
                        by_ref,
                        "`ref` bindings are not supported; bind the value itself",
                    );
                }
                if let Some((at, _)) = &pat_ident.subpat {
                    self.cx
                        .error_spanned_by(at, "`@` patterns are not supported");
                }
                let name = pat_ident.ident.to_string();
                let val = self.name_value(&name, val, ty, pat_ident.span());
                self.declare(&name, Some(val));
            }
            Pat::Type(pat_type) => self.bind(&pat_type.pat, val, Some(&pat_type.ty)),
            Pat::Paren(paren) => self.bind(&paren.pat, val, ty),
            Pat::Wild(_) => {}
            Pat::Tuple(tuple) => {
                let elem_types: Option<Vec<&syn::Type>> = match ty {
                    Some(syn::Type::Tuple(t)) if t.elems.len() == tuple.elems.len() => {
                        Some(t.elems.iter().collect())
                    }
                    _ => None,
                };
                if tuple.elems.iter().any(|p| matches!(p, Pat::Rest(_))) {
                    self.cx.error_spanned_by(
                        pat,
                        "`..` in tuple patterns is not supported; name every element",
                    );
                    return;
                }
                let Some(parts) = self.tuple_parts(val, tuple.elems.len(), pat) else {
                    for elem in &tuple.elems {
                        self.bind(elem, Val::Poison, None);
                    }
                    return;
                };
                for (index, (elem, part)) in tuple.elems.iter().zip(parts).enumerate() {
                    self.bind(elem, part, elem_types.as_ref().map(|t| t[index]));
                }
            }
            _ => self.unsupported_pattern(pat),
        }
    }

    /// The elements of a tuple value: a tuple expression's parts, or projections of an opaque
    /// tuple value.
    fn tuple_parts(&mut self, val: Val, len: usize, at: &impl ToTokens) -> Option<Vec<Val>> {
        match val {
            Val::Tuple(parts) if parts.len() == len => Some(parts),
            Val::Scalar(Operand::Value(value)) => Some(
                (0..len)
                    .map(|index| {
                        let span = at.to_token_stream().span();
                        let field =
                            self.emit(Op::Field(index as u32), vec![Operand::Value(value)], span);
                        Val::Scalar(Operand::Value(field))
                    })
                    .collect(),
            ),
            Val::Poison => None,
            _ => {
                self.cx
                    .error_spanned_by(at, format!("expected a tuple of {len} elements here"));
                None
            }
        }
    }

    /// Gives `val` the user's name and type annotation: the instruction that just computed it
    /// takes both; otherwise a copy is made when there is an annotation to keep.
    fn name_value(&mut self, name: &str, val: Val, ty: Option<&syn::Type>, span: Span) -> Val {
        let Val::Scalar(operand) = val else {
            return val;
        };
        if let Operand::Value(value) = &operand {
            let value = *value;
            let fresh = self.values[value.index()].name.is_none();
            if fresh {
                if let Some(inst) = self.last_inst_mut(value) {
                    if inst.ty.is_none() {
                        inst.ty = ty.cloned();
                    }
                    self.values[value.index()].name = Some(name.to_owned());
                    return Val::Scalar(operand);
                }
            }
            if ty.is_none() {
                // An alias: `let y = x;` reads the same value.
                return Val::Scalar(operand);
            }
        }
        // A constant, or an annotated alias whose annotation may drive inference.
        let copy = self.emit(Op::Copy, vec![operand], span);
        self.values[copy.index()].name = Some(name.to_owned());
        if let Some(inst) = self.last_inst_mut(copy) {
            inst.ty = ty.cloned();
        }
        Val::Scalar(Operand::Value(copy))
    }

    fn unsupported_pattern(&self, pat: &Pat) {
        self.cx.error_spanned_by(
            pat,
            "this pattern is not supported here; bind a name, a tuple of names, or `_`",
        );
    }

    // Expressions ------------------------------------------------------------------------------

    fn expr(&mut self, expr: &Expr) -> Val {
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
                let parts: Vec<Val> = tuple.elems.iter().map(|e| self.expr(e)).collect();
                if parts.is_empty() {
                    Val::Unit
                } else {
                    Val::Tuple(parts)
                }
            }
            Expr::Block(block) => {
                if let Some(label) = &block.label {
                    self.cx
                        .error_spanned_by(label, "labelled blocks are not supported yet");
                }
                self.block(&block.block)
            }
            Expr::Assign(assign) => {
                let val = self.expr(&assign.right);
                self.assign(&assign.left, val);
                Val::Unit
            }
            Expr::Return(ret) => {
                let val = match &ret.expr {
                    Some(e) => self.expr(e),
                    None => Val::Unit,
                };
                self.returned = Some(val);
                Val::Unit
            }
            Expr::Field(field) => self.field(field),
            Expr::Macro(mac) => {
                self.macro_error(&mac.mac);
                Val::Poison
            }
            _ => {
                self.cx.error_spanned_by(expr, unsupported_message(expr));
                Val::Poison
            }
        }
    }

    fn operand(&mut self, expr: &Expr) -> Operand {
        match self.expr(expr) {
            Val::Scalar(operand) => operand,
            Val::Poison => poison(),
            Val::Tuple(_) => {
                self.cx
                    .error_spanned_by(expr, "expected a number here, found a tuple");
                poison()
            }
            Val::Unit => {
                self.cx
                    .error_spanned_by(expr, "expected a number here, found `()`");
                poison()
            }
        }
    }

    fn path(&mut self, path: &syn::ExprPath) -> Val {
        if let Some(ident) = local_name(path) {
            match self.lookup(&ident.to_string()) {
                Some(Some(val)) => return val.clone(),
                Some(None) => {
                    self.cx.error_spanned_by(
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

    fn binary(&mut self, binary: &syn::ExprBinary) -> Val {
        let span = binary.op.span();
        let arithmetic = match binary.op {
            BinOp::Add(_) => Some("add"),
            BinOp::Sub(_) => Some("sub"),
            BinOp::Mul(_) => Some("mul"),
            BinOp::Div(_) => Some("div"),
            BinOp::Rem(_) => Some("rem"),
            _ => None,
        };
        if let Some(name) = arithmetic {
            let a = self.operand(&binary.left);
            let b = self.operand(&binary.right);
            return Val::Scalar(self.arithmetic(name, binary.op, a, b, span));
        }
        let compound = match binary.op {
            BinOp::AddAssign(_) => Some(("add", BinOp::Add(Default::default()))),
            BinOp::SubAssign(_) => Some(("sub", BinOp::Sub(Default::default()))),
            BinOp::MulAssign(_) => Some(("mul", BinOp::Mul(Default::default()))),
            BinOp::DivAssign(_) => Some(("div", BinOp::Div(Default::default()))),
            BinOp::RemAssign(_) => Some(("rem", BinOp::Rem(Default::default()))),
            _ => None,
        };
        if let Some((name, op)) = compound {
            // `x += e` → `x_1 = add(x, e)`; the right side is evaluated first, as rustc does for
            // primitive types.
            let b = self.operand(&binary.right);
            let a = self.operand(&binary.left);
            let result = self.arithmetic(name, op, a, b, span);
            self.assign(&binary.left, Val::Scalar(result));
            return Val::Unit;
        }
        let is_assign = matches!(
            binary.op,
            BinOp::BitXorAssign(_)
                | BinOp::BitAndAssign(_)
                | BinOp::BitOrAssign(_)
                | BinOp::ShlAssign(_)
                | BinOp::ShrAssign(_)
        );
        if is_assign {
            // Integer bit operations: the new value is an opaque expression of the old one.
            let right = &binary.right;
            let left = &binary.left;
            let op = bit_op_of_assign(&binary.op);
            let expr: Expr = syn::parse_quote_spanned!(span=> (#left) #op (#right));
            let val = self.opaque(&expr, true, "bit operation");
            self.assign(&binary.left, val);
            return Val::Unit;
        }
        // Comparisons, `&&`, `||` and bit operations give a bool or an integer: evaluated as
        // written (keeping short-circuiting), never differentiated.
        self.opaque(&Expr::Binary(binary.clone()), true, "comparison")
    }

    fn arithmetic(&mut self, name: &str, op: BinOp, a: Operand, b: Operand, span: Span) -> Operand {
        if let (Operand::Const(a), Operand::Const(b)) = (&a, &b) {
            let (a, b) = (a.parenthesized(), b.parenthesized());
            return Operand::Const(Const {
                tokens: quote!(#a #op #b),
                atomic: false,
            });
        }
        let rule = rules::lookup(name, 2).expect("arithmetic rules are in the table");
        let value = self.emit(
            Op::Rule {
                rule,
                form: Form::Binary(op),
            },
            vec![a, b],
            span,
        );
        Operand::Value(value)
    }

    fn unary(&mut self, unary: &syn::ExprUnary) -> Val {
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
            UnOp::Not(_) => self.opaque(&Expr::Unary(unary.clone()), true, "`!`"),
            _ => self.opaque(&Expr::Unary(unary.clone()), false, "dereference `*`"),
        }
    }

    fn method_call(&mut self, call: &syn::ExprMethodCall) -> Val {
        let name = call.method.to_string();
        if call.turbofish.is_none() {
            if let Some(rule) = rules::lookup(&name, call.args.len() + 1) {
                let mut args = vec![self.operand(&call.receiver)];
                args.extend(call.args.iter().map(|arg| self.operand(arg)));
                let form = Form::Method(call.method.clone());
                let value = self.emit(Op::Rule { rule, form }, args, call.method.span());
                return Val::Scalar(Operand::Value(value));
            }
        }
        let expr = Expr::MethodCall(call.clone());
        if CUT_METHODS.contains(&name.as_str()) {
            return self.opaque(&expr, true, &format!("method `{name}`"));
        }
        let what = if rules::is_known(&name) {
            format!("method `{name}` with {} arguments", call.args.len())
        } else {
            format!("method `{name}`")
        };
        self.opaque(&expr, false, &what)
    }

    fn call(&mut self, call: &syn::ExprCall) -> Val {
        let Expr::Path(func) = &*call.func else {
            return self.opaque(
                &Expr::Call(call.clone()),
                false,
                "call of a closure or function value",
            );
        };
        if is_no_grad(func) {
            if call.args.len() != 1 {
                self.cx
                    .error_spanned_by(call, "`no_grad` takes one argument");
                return Val::Poison;
            }
            return self.opaque(&Expr::Call(call.clone()), true, "no_grad");
        }
        if let Some(method) = float_method_path(func) {
            let name = method.to_string();
            if let Some(rule) = rules::lookup(&name, call.args.len()) {
                let args = call.args.iter().map(|arg| self.operand(arg)).collect();
                let form = Form::Path(func.clone());
                let value = self.emit(Op::Rule { rule, form }, args, method.span());
                return Val::Scalar(Operand::Value(value));
            }
            let path = func.to_token_stream().to_string().replace(' ', "");
            return self.opaque(&Expr::Call(call.clone()), false, &format!("`{path}`"));
        }
        let mut args = Vec::new();
        for arg in &call.args {
            args.push(self.operand(arg));
        }
        let span = func.span();
        let value = self.emit(Op::Call { func: func.clone() }, args, span);
        Val::Scalar(Operand::Value(value))
    }

    fn cast(&mut self, cast: &syn::ExprCast) -> Val {
        if !float_cast_target(&cast.ty) {
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

    fn field(&mut self, field: &syn::ExprField) -> Val {
        let base = self.expr(&field.base);
        match (&field.member, base) {
            (syn::Member::Unnamed(index), Val::Tuple(parts)) => {
                match parts.get(index.index as usize) {
                    Some(part) => part.clone(),
                    None => {
                        self.cx.error_spanned_by(field, "no such tuple element");
                        Val::Poison
                    }
                }
            }
            (syn::Member::Unnamed(index), Val::Scalar(Operand::Value(value))) => {
                let result = self.emit(
                    Op::Field(index.index),
                    vec![Operand::Value(value)],
                    index.span,
                );
                Val::Scalar(Operand::Value(result))
            }
            (_, Val::Poison) => Val::Poison,
            (syn::Member::Named(name), _) => {
                let what = format!("field access `.{name}`");
                self.opaque(&Expr::Field(field.clone()), false, &what)
            }
            _ => self.opaque(&Expr::Field(field.clone()), false, "field access"),
        }
    }

    /// `x = val`, `(a, b) = val`, `_ = val`.
    fn assign(&mut self, place: &Expr, val: Val) {
        match place {
            Expr::Path(path) => {
                let Some(ident) = local_name(path) else {
                    self.cx
                        .error_spanned_by(place, "only local variables can be assigned to");
                    return;
                };
                let name = ident.to_string();
                let val = self.name_value(&name, val, None, place.span());
                if !self.assign_var(&name, val) {
                    self.cx.error_spanned_by(
                        place,
                        format!("`{name}` is not a local variable of this function"),
                    );
                }
            }
            Expr::Tuple(tuple) => {
                if let Some(parts) = self.tuple_parts(val, tuple.elems.len(), place) {
                    for (elem, part) in tuple.elems.iter().zip(parts) {
                        self.assign(elem, part);
                    }
                }
            }
            Expr::Infer(_) => {}
            Expr::Paren(paren) => self.assign(&paren.expr, val),
            _ => self.cx.error_spanned_by(
                place,
                "assignment to this place is not supported yet; assign to a local variable",
            ),
        }
    }

    fn macro_error(&self, mac: &syn::Macro) {
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let message = if name == "asm" || name == "global_asm" || name == "naked_asm" {
            "inline assembly cannot be differentiated; move it into a function without `#[differentiate]`".to_owned()
        } else {
            format!(
                "macro calls such as `{name}!` cannot be differentiated, because the macro cannot see what they expand to; write the expression out, or move the call into a function without `#[differentiate]`"
            )
        };
        self.cx.error_spanned_by(mac, message);
    }

    /// Keeps `expr` as written, with each variable replaced by a hole. `cut`: see [`Opaque`].
    fn opaque(&mut self, expr: &Expr, cut: bool, what: &str) -> Val {
        let mut expr = expr.clone();
        let mut holes = Holes {
            lowerer: self,
            args: Vec::new(),
            failed: false,
        };
        holes.visit_expr_mut(&mut expr);
        let Holes { args, failed, .. } = holes;
        if failed {
            return Val::Poison;
        }
        let span = expr.span();
        let op = Op::Opaque(Opaque {
            expr,
            cut,
            what: what.to_owned(),
        });
        Val::Scalar(Operand::Value(self.emit(op, args, span)))
    }
}

/// Replaces the variables of an opaque expression by holes, and rejects what cannot be kept
/// opaque (closures and blocks bind their own names; macros hide theirs).
struct Holes<'l, 'a> {
    lowerer: &'l Lowerer<'a>,
    args: Vec<Operand>,
    failed: bool,
}

impl Holes<'_, '_> {
    fn hole_for(&mut self, val: &Val, span: Span) -> Option<Expr> {
        match val {
            Val::Scalar(Operand::Value(value)) => {
                let hole = Opaque::hole(self.args.len());
                self.args.push(Operand::Value(*value));
                let hole = syn::Ident::new(&hole.to_string(), span);
                Some(syn::parse_quote!(#hole))
            }
            Val::Scalar(Operand::Const(c)) => {
                let tokens = c.parenthesized();
                Some(Expr::Verbatim(tokens))
            }
            Val::Tuple(parts) => {
                let parts = parts
                    .iter()
                    .map(|part| self.hole_for(part, span))
                    .collect::<Option<Vec<_>>>()?;
                Some(syn::parse_quote!((#(#parts,)*)))
            }
            Val::Unit => Some(syn::parse_quote!(())),
            Val::Poison => None,
        }
    }
}

impl VisitMut for Holes<'_, '_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Path(path) => {
                let Some(ident) = local_name(path) else {
                    return;
                };
                match self.lowerer.lookup(&ident.to_string()) {
                    Some(Some(val)) => {
                        let val = val.clone();
                        match self.hole_for(&val, ident.span()) {
                            Some(replacement) => *expr = replacement,
                            None => self.failed = true,
                        }
                    }
                    Some(None) => {
                        self.lowerer.cx.error_spanned_by(
                            &*path,
                            format!("`{ident}` is used before it is given a value"),
                        );
                        self.failed = true;
                    }
                    None => {}
                }
            }
            Expr::Macro(mac) => {
                self.lowerer.macro_error(&mac.mac);
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
                self.lowerer
                    .cx
                    .error_spanned_by(&*expr, unsupported_message(expr));
                self.failed = true;
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }
}

fn unsupported_message(expr: &Expr) -> String {
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
        Expr::If(_) | Expr::Match(_) => {
            "`if` and `match` are not supported yet; until then compute both values and select with `max`/`min`, or split the function"
        }
        Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) | Expr::Break(_) | Expr::Continue(_) => {
            "loops are not supported yet; until then unroll the loop"
        }
        Expr::Index(_) | Expr::Array(_) | Expr::Repeat(_) | Expr::Range(_) => {
            "arrays and indexing are not supported yet; until then pass the elements as separate parameters"
        }
        Expr::Reference(_) | Expr::RawAddr(_) => {
            "references are not supported in a `#[differentiate]` function; pass values"
        }
        Expr::Struct(_) => "struct expressions are not supported yet; until then use tuples",
        Expr::Try(_) | Expr::TryBlock(_) => {
            "the `?` operator is not supported in a `#[differentiate]` function; handle errors outside it"
        }
        Expr::Let(_) => "`let` expressions are not supported; use a `let` statement",
        Expr::Yield(_) => "`yield` cannot be differentiated",
        Expr::Const(_) => "`const` blocks are not supported; use a `const` item",
        Expr::Infer(_) => "`_` is not a value; write the value",
        _ => {
            "this expression is not supported in a `#[differentiate]` function; rewrite it with the constructs listed on `#[differentiate]`"
        }
    };
    message.to_owned()
}

/// `x` (not `a::x`, not `x::<T>`).
fn local_name(path: &syn::ExprPath) -> Option<&syn::Ident> {
    if path.qself.is_some() {
        return None;
    }
    path.path.get_ident()
}

/// `no_grad`, `autodiff_core::no_grad` or `::autodiff_core::no_grad`.
fn is_no_grad(path: &syn::ExprPath) -> bool {
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    path.qself.is_none()
        && match segments.as_slice() {
            [last] => last == "no_grad",
            [krate, last] => krate == "autodiff_core" && last == "no_grad",
            _ => false,
        }
}

/// `f64::sin` → `sin`.
fn float_method_path(path: &syn::ExprPath) -> Option<&syn::Ident> {
    if path.qself.is_some() || path.path.leading_colon.is_some() {
        return None;
    }
    let segments = &path.path.segments;
    if segments.len() != 2 || !segments[0].arguments.is_none() || !segments[1].arguments.is_none() {
        return None;
    }
    let ty = &segments[0].ident;
    (ty == "f64" || ty == "f32").then_some(&segments[1].ident)
}

/// Casts to integer types, `char` and `bool` cut the derivative; other targets are floats (or
/// float aliases, which rustc then checks).
fn float_cast_target(ty: &syn::Type) -> bool {
    const NOT_FLOAT: &[&str] = &[
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
        "char", "bool",
    ];
    match ty {
        syn::Type::Path(path) => !path
            .path
            .get_ident()
            .is_some_and(|ident| NOT_FLOAT.iter().any(|name| ident == name)),
        syn::Type::Paren(paren) => float_cast_target(&paren.elem),
        syn::Type::Group(group) => float_cast_target(&group.elem),
        _ => false,
    }
}

fn bit_op_of_assign(op: &BinOp) -> TokenStream {
    match op {
        BinOp::BitXorAssign(_) => quote!(^),
        BinOp::BitAndAssign(_) => quote!(&),
        BinOp::BitOrAssign(_) => quote!(|),
        BinOp::ShlAssign(_) => quote!(<<),
        _ => quote!(>>),
    }
}

impl Const {
    /// The constant as one token tree.
    pub fn parenthesized(&self) -> TokenStream {
        let tokens = &self.tokens;
        if self.atomic {
            tokens.clone()
        } else {
            quote!((#tokens))
        }
    }
}
