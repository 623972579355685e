//! Closures: bound to a local (`let sq = |v: f64| v * v;`) or given to an iterator adapter, and
//! inlined where they are called, so that they differentiate like the code they stand for.
//!
//! ```text
//! let m = x[0];                         m = load(x, 0)
//! let shift = |v: f64| v - m;     →     (shift holds its body, with m as it was here)
//! let y = shift(x[1]).exp();            v = load(x, 1); t = sub(v, m); y = exp(t)
//! ```
//!
//! A closure sees the variables it names as they were where it was written (Rust captures them
//! then), even if they are shadowed or reassigned before it is called; since lowering inlines it,
//! it may not assign them (an `FnMut` that counts calls), nor `return` from itself.

use std::rc::Rc;

use proc_macro2::Span;
use quote::ToTokens;
use syn::visit::Visit;
use syn::{Expr, Pat};

use super::scope::Binding;
use super::*;

/// A closure, with what it captured.
pub(super) struct Closure {
    pub(super) params: Vec<Pat>,
    pub(super) body: Expr,
    /// The variables of the enclosing scopes the body names, as they were where it was written.
    pub(super) captured: Scope,
}

/// Something an iterator adapter calls, and whether the adapter gives it its items by value
/// (`.copied().map(..)`) rather than as the references an iterator gives.
#[derive(Clone)]
pub(super) struct Callable {
    target: Target,
    by_value: bool,
    pub(super) items: ItemRefs,
}

/// What the parameters of a callable are given, beyond what `by_value` says.
#[derive(Clone, Default)]
pub(super) struct ItemRefs {
    /// The adapter gives the callable a reference to each item, and the items are references
    /// to rows (`pts.iter().min_by(..)`, `.filter(..)`): see [`Binding::behind_ref`].
    pub(super) behind_ref: bool,
    /// The parts of the tuple items (the last argument) that are copies (see
    /// [`super::loops::copied_parts`]).
    owned_parts: Vec<bool>,
}

/// A closure, or a path (`f64::max`, a `#[differentiate]` function).
#[derive(Clone)]
enum Target {
    Closure(Rc<Closure>),
    Path(syn::ExprPath),
}

impl Lowerer<'_> {
    /// `|params| body`: captures what the body names, and checks what cannot be inlined.
    pub(super) fn closure(&mut self, closure: &syn::ExprClosure) -> Val {
        if let Some(token) = closure.asyncness.as_ref() {
            self.error(token, "`async` closures cannot be differentiated");
            return Val::Poison;
        }
        let mut names = FreeNames::default();
        names.visit_expr(&closure.body);
        if let Some(ret) = names.returns.first() {
            self.error(
                ret,
                "`return` inside a closure is not supported in differentiated code; give the closure's body the value as its last expression",
            );
            return Val::Poison;
        }
        let mut captured = Scope::new();
        for name in &names.names {
            let var = Var::user(name.to_string());
            if let Some(binding) = self.lookup(&var) {
                let mut binding = binding.clone();
                // A `move` closure keeps a copy of an array, which later writes leave alone.
                if closure.capture.is_some() {
                    binding.val = binding
                        .val
                        .map(|val| self.copied_in(val, false, closure.span()));
                }
                captured.insert(var, binding);
            }
        }
        // A closure that assigns a captured variable keeps state between calls.
        let mut assigned = super::assigned::Assigned::new(&[]);
        assigned.closure_body(&closure.inputs, &closure.body);
        for var in &assigned.vars {
            if let Var::User(name) = var {
                if captured.contains_key(var) {
                    self.error(
                        &closure.body,
                        format!(
                            "this closure assigns `{name}`, a variable of the enclosing function, which differentiated code does not support; compute the new value in the function itself"
                        ),
                    );
                    return Val::Poison;
                }
            }
        }
        Val::Closure(Rc::new(Closure {
            params: closure.inputs.iter().cloned().collect(),
            body: (*closure.body).clone(),
            captured,
        }))
    }

    /// The value of `callable(args)`, inlined. An argument is taken as the reference an
    /// iterator gives, unless the items are copies or it is a value a call or an operation made
    /// (an item of `.map(sq)`), which the adapter passes on by value.
    pub(super) fn call_callable(&mut self, callable: &Callable, args: Vec<Val>, span: Span) -> Val {
        let written_ref: Vec<bool> = args
            .iter()
            .map(|arg| !callable.by_value && !self.owned_value(arg))
            .collect();
        let items = &callable.items;
        match &callable.target {
            Target::Closure(closure) => {
                self.call_closure_with(closure, args, &written_ref, items, span)
            }
            Target::Path(path) => self.call_path(path, args, &written_ref, items, span),
        }
    }

    /// [`Self::callable`] of an adapter of `receiver`, given its items by value when they are
    /// copies (`x.iter().copied().map(f)`, `.cloned().fold(..)`).
    pub(super) fn callable_of(&mut self, expr: &Expr, receiver: &Expr) -> Option<Callable> {
        let by_value = super::loops::copied_items(receiver);
        let owned_parts = super::loops::copied_parts(receiver);
        self.callable(expr).map(|callable| Callable {
            by_value,
            items: ItemRefs {
                owned_parts,
                ..callable.items
            },
            ..callable
        })
    }

    /// A value the function made (a call's result), not a part, element or borrow of
    /// something else.
    fn owned_value(&self, arg: &Val) -> bool {
        let Val::Scalar(Operand::Value(v)) = arg else {
            return false;
        };
        !self.parts.contains(v)
            && !self.struct_elements.contains_key(v)
            && !self.element_refs.contains(v)
            && !self.borrows.contains(v)
            && !self.values[v.index()].by_ref
            && !self.values[v.index()].cloned
    }

    /// `f64::max(a, b)` or `g(a, b)` for arguments already lowered: a float method by its rule,
    /// a function of numbers called, and one of struct elements or rows as the closure
    /// `|a, b| g(a, b)` would call it, so that they reach it as a closure's parameters do
    /// (`m.atoms.iter().map(energy)`).
    fn call_path(
        &mut self,
        path: &syn::ExprPath,
        args: Vec<Val>,
        written_ref: &[bool],
        items: &ItemRefs,
        span: Span,
    ) -> Val {
        let element = |l: &Self, arg: &Val| match arg {
            Val::Mem(..) => true,
            Val::Scalar(Operand::Value(v)) => {
                (l.values[v.index()].aggregate
                    || l.struct_elements.contains_key(v)
                    || l.element_refs.contains(v))
                    && !l.owned_value(arg)
            }
            _ => false,
        };
        let float_method = float_method_path(path, self.generic_float.as_ref());
        let elements = args.iter().any(|arg| element(self, arg))
            && !args.iter().any(|arg| matches!(arg, Val::Tuple(_)));
        if !elements || float_method.is_some() {
            let mut operands = Vec::new();
            for arg in args {
                match arg {
                    Val::Scalar(operand) => operands.push(operand),
                    Val::Poison => return Val::Poison,
                    _ => {
                        self.error(
                            path,
                            "a function given to an iterator adapter is called here with an array or a tuple; write a closure that takes it apart",
                        );
                        return Val::Poison;
                    }
                }
            }
            let Some(method) = float_method else {
                let n = operands.len();
                let op = Op::Call {
                    callee: Callee::Path(path.clone()),
                    written_ref: vec![false; n],
                    by_ref: vec![false; n],
                    cut: vec![false; n],
                    tangents: false,
                };
                return self.call_result(op, operands, span);
            };
            return match rules::lookup(&method.to_string(), operands.len()) {
                Some(rule) => {
                    let form = Form::Path(path.clone());
                    Val::Scalar(Operand::Value(self.emit(
                        Op::Rule { rule, form },
                        operands,
                        span,
                    )))
                }
                None => {
                    let name = path.to_token_stream().to_string().replace(' ', "");
                    self.error(path, format!("`{name}` has no derivative rule"));
                    Val::Poison
                }
            };
        }
        let names: Vec<syn::Ident> = (0..args.len())
            .map(|k| quote::format_ident!("__autodiff_arg{k}", span = span))
            .collect();
        let closure: syn::ExprClosure =
            syn::parse_quote_spanned!(span=> |#(#names),*| #path(#(#names),*));
        match self.closure(&closure) {
            Val::Closure(closure) => {
                self.call_closure_with(&closure, args, written_ref, items, span)
            }
            _ => Val::Poison,
        }
    }

    /// The closure's body, inlined with its parameters bound to `args`; `written_ref` tells
    /// which arguments a call wrote `&arg` (`f(a, &b)`), for an untyped parameter to take an
    /// array by value or by reference as the call gives it (adapters give references).
    pub(super) fn call_closure(
        &mut self,
        closure: &Closure,
        args: Vec<Val>,
        written_ref: &[bool],
        span: Span,
    ) -> Val {
        self.call_closure_with(closure, args, written_ref, &ItemRefs::default(), span)
    }

    /// [`Self::call_closure`] of an adapter's items, given as `items` says.
    fn call_closure_with(
        &mut self,
        closure: &Closure,
        args: Vec<Val>,
        written_ref: &[bool],
        items: &ItemRefs,
        span: Span,
    ) -> Val {
        let last = args.len().wrapping_sub(1);
        if closure.params.len() != args.len() {
            self.error_at(
                span,
                format!(
                    "this closure takes {} arguments but is given {}",
                    closure.params.len(),
                    args.len()
                ),
            );
            return Val::Poison;
        }
        self.scopes.push(closure.captured.clone());
        self.scopes.push(Scope::new());
        // The caller's exits (an earlier `return`, a loop's `break`) are not the body's: it runs
        // where it is called, which they already guard.
        let mut exits: Vec<Var> = self
            .loops
            .iter()
            .flat_map(|ctx| [Var::Break(ctx.idx), Var::Continue(ctx.idx)])
            .collect();
        if self.has_return {
            exits.push(Var::Return);
        }
        for exit in exits {
            self.declare(exit, Some(Val::Scalar(Operand::Bool(false))));
        }
        for (k, (param, arg)) in closure.params.iter().zip(args).enumerate() {
            // Arguments that are arrays are the caller's, borrowed for the call, unless the
            // parameter's type says it takes them by value (`|x: [f64; 2]|`), or the call
            // gives them by value (`g(p)`).
            self.binding_ref = match param {
                Pat::Type(typed) => matches!(&*typed.ty, syn::Type::Reference(_)),
                _ => written_ref.get(k).copied().unwrap_or(true),
            };
            // (A typed parameter says what it holds; `|a: &&[f64; 2]|` is not followed.)
            self.binding_behind_ref =
                items.behind_ref && self.binding_ref && !matches!(param, Pat::Type(_));
            if k == last {
                self.binding_owned_parts = items.owned_parts.clone();
            }
            self.bind(param, arg, None);
            self.binding_owned_parts = Vec::new();
        }
        self.binding_ref = false;
        self.binding_behind_ref = false;
        let val = self.expr(&closure.body);
        self.scopes.pop();
        self.scopes.pop();
        val
    }

    /// What an iterator adapter is given to call: a closure written there, a local closure, or
    /// a path to a function.
    pub(super) fn callable(&mut self, expr: &Expr) -> Option<Callable> {
        match strip_parens(expr) {
            Expr::Closure(closure) => match self.closure(closure) {
                Val::Closure(c) => Some(Callable::of(Target::Closure(c))),
                _ => None,
            },
            // `f64::total_cmp` as a comparator: the closure it stands for, which compares.
            Expr::Path(path)
                if path.qself.is_none()
                    && path.path.segments.len() == 2
                    && path.path.segments[1].ident == "total_cmp" =>
            {
                let closure: syn::ExprClosure =
                    syn::parse_quote_spanned!(path.span()=> |a, b| a.total_cmp(b));
                match self.closure(&closure) {
                    Val::Closure(c) => Some(Callable::of(Target::Closure(c))),
                    _ => None,
                }
            }
            Expr::Path(path) => match self.path(path) {
                Val::Closure(c) => Some(Callable::of(Target::Closure(c))),
                Val::Scalar(Operand::Const(_)) => Some(Callable::of(Target::Path(path.clone()))),
                Val::Poison => None,
                _ => {
                    self.error(path, "expected a closure or a function here");
                    None
                }
            },
            other => {
                self.error(
                    other,
                    "expected a closure (`|v| ..`) or the path of a function (`f64::max`) here",
                );
                None
            }
        }
    }
}

impl Callable {
    /// A target given the iterator's references.
    fn of(target: Target) -> Callable {
        Callable {
            target,
            by_value: false,
            items: ItemRefs::default(),
        }
    }
}

impl Binding {
    pub(super) fn closure(&self) -> Option<&Rc<Closure>> {
        match &self.val {
            Some(Val::Closure(c)) => Some(c),
            _ => None,
        }
    }
}

/// Whether a closure's body `return`s (from itself, not from a closure inside it): written as
/// a loop, the `return` would leave the function, so such closures keep the closure's error.
pub(super) fn returns_from(closure: &syn::ExprClosure) -> bool {
    let mut names = FreeNames::default();
    names.visit_expr(&closure.body);
    !names.returns.is_empty()
}

/// The single names a closure's body reads (a superset of what it captures), and its `return`s.
#[derive(Default)]
struct FreeNames {
    names: Vec<syn::Ident>,
    returns: Vec<syn::ExprReturn>,
}

impl<'ast> Visit<'ast> for FreeNames {
    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        if let Some(ident) = local_name(path) {
            if !self.names.contains(ident) {
                self.names.push(ident.clone());
            }
        }
    }

    fn visit_expr_return(&mut self, ret: &'ast syn::ExprReturn) {
        self.returns.push(ret.clone());
    }

    // A closure inside the closure returns from itself.
    fn visit_expr_closure(&mut self, closure: &'ast syn::ExprClosure) {
        let returns = self.returns.len();
        syn::visit::visit_expr_closure(self, closure);
        self.returns.truncate(returns);
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // The assertions, `panic!` and `vec!` take expressions; their names are read too, and
        // those a message names inline (`"{m}"`).
        for arg in macro_args(mac) {
            if let Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &arg
            {
                for name in super::opaque::inline_captures(&s.value()) {
                    let ident = syn::Ident::new(&name, s.span());
                    if !self.names.contains(&ident) {
                        self.names.push(ident);
                    }
                }
            }
            self.visit_expr(&arg);
        }
    }
}
