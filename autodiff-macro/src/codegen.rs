//! Code generation: the only stage that chooses generated names and spans.
//!
//! For `fn price(apple: f64, ..., tax: f64) -> f64` it writes
//!
//! ```text
//! #[doc(hidden)]
//! fn __price_vjp(apple: f64, ..., tax: f64) -> (f64, impl FnOnce(f64, Slot<f64>, ...)) {
//!     let apple_price = apple * apple_num;          // forward sweep; what the backward
//!     ...                                           // sweep reads, the closure captures
//!     (price, move |d_price: f64, grad_apple: Slot<f64>, ...| {
//!         let d_all_price = tax * d_price;          // backward sweep: one rule per line
//!         ...
//!         grad_apple.accumulate(d_apple);
//!     })
//! }
//! fn price_grad(...) -> (f64, (f64, ...))            // the public items call it
//! fn price_pullback(..., d_out: f64) -> (f64, ...)
//! fn price_grad_into(..., grad: &mut (f64, ...)) -> f64
//! ```
//!
//! Every name it introduces resolves at `Span::mixed_site()`, so no generated name can capture or
//! shadow one of the user's; adjoints keep readable names (`d_all_price`).

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::visit_mut::VisitMut;
use syn::{Expr, Ident};

use crate::analysis::Activity;
use crate::ir::{Form, Function, Inst, Op, Opaque, Operand, Value};
use crate::reverse::{Backward, BwdStmt, Term};
use crate::signature::Signature;

/// The hidden function behind the public ones: `__price_vjp` for `price`. A call of `price` in
/// another differentiated function reaches it by the same rule.
pub fn vjp_ident(ident: &Ident) -> Ident {
    format_ident!("__{}_vjp", ident, span = ident.span())
}

pub struct Input<'a> {
    pub item: &'a syn::ItemFn,
    pub sig: &'a Signature,
    pub function: &'a Function,
    pub activity: &'a Activity,
    pub backward: &'a Backward,
}

pub fn generate(input: &Input) -> TokenStream {
    let vjp = vjp_fn(input);
    let public = public_fns(input.item, input.sig);
    quote!(#vjp #public)
}

/// On errors: the generated items with their signatures and no body, so that the user's calls
/// of them add no errors of their own.
pub fn fallback(item: &syn::ItemFn, sig: &Signature) -> TokenStream {
    let Some(out_ty) = &sig.output else {
        return TokenStream::new();
    };
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        ..
    } = Parts::new(item, sig);
    let vjp = vjp_ident(&item.sig.ident);
    let slot_types = slot_types(sig);
    let public = public_fns(item, sig);
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[allow(unreachable_code, unused_variables, clippy::all)]
        #vis fn #vjp #generics (#(#params),*) -> (#out_ty, impl ::core::ops::FnOnce(#out_ty, #(#slot_types),*)) #where_clause {
            (::core::unimplemented!(), move |_: #out_ty, #(_: #slot_types),*| {})
        }
        #public
    }
}

/// The pieces of the user's signature that every generated function repeats.
struct Parts<'a> {
    /// `#[cfg(..)]`: the generated items exist exactly when the function does.
    attrs: Vec<&'a syn::Attribute>,
    vis: &'a syn::Visibility,
    generics: TokenStream,
    where_clause: Option<&'a syn::WhereClause>,
    /// `name: Type`.
    params: Vec<TokenStream>,
    param_names: Vec<Ident>,
    /// `::<T, N>`: the type and const parameters, passed explicitly to the hidden function.
    turbofish: TokenStream,
}

impl<'a> Parts<'a> {
    fn new(item: &'a syn::ItemFn, sig: &'a Signature) -> Self {
        let generics = &item.sig.generics;
        let declared = &generics.params;
        let param_names: Vec<Ident> = sig
            .params
            .iter()
            .map(|p| mixed(&p.ident.to_string(), p.ident.span()))
            .collect();
        let params = sig
            .params
            .iter()
            .zip(&param_names)
            .map(|(param, name)| {
                let ty = &param.ty;
                quote!(#name: #ty)
            })
            .collect();
        let explicit: Vec<&Ident> = declared
            .iter()
            .filter_map(|param| match param {
                syn::GenericParam::Type(t) => Some(&t.ident),
                syn::GenericParam::Const(c) => Some(&c.ident),
                _ => None,
            })
            .collect();
        Parts {
            attrs: item
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("cfg"))
                .collect(),
            vis: &item.vis,
            generics: if declared.is_empty() {
                quote!()
            } else {
                quote!(<#declared>)
            },
            where_clause: generics.where_clause.as_ref(),
            params,
            param_names,
            turbofish: if explicit.is_empty() {
                quote!()
            } else {
                quote!(::<#(#explicit),*>)
            },
        }
    }
}

fn mixed(name: &str, located_at: Span) -> Ident {
    Ident::new(name, Span::mixed_site().located_at(located_at))
}

fn private() -> TokenStream {
    quote!(::autodiff_core::__private)
}

/// The type of the slot through which the pullback hands back each parameter's adjoint.
fn slot_types(sig: &Signature) -> Vec<TokenStream> {
    let private = private();
    sig.params
        .iter()
        .map(|param| {
            let ty = &param.ty;
            if param.active {
                quote!(#private::Slot<'_, #ty>)
            } else {
                quote!(#private::Ignore)
            }
        })
        .collect()
}

// The hidden function: the forward sweep, then the backward sweep as a closure ----------------

fn vjp_fn(input: &Input) -> TokenStream {
    let Input {
        item,
        sig,
        function,
        activity,
        backward,
    } = *input;
    let out_ty = sig.output.as_ref().expect("checked before code generation");
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        ..
    } = Parts::new(item, sig);
    let vjp = vjp_ident(&item.sig.ident);

    let mut names = Names::default();
    for (value, name) in function.params.iter().zip(&param_names) {
        names.bind(*value, name.to_string());
    }
    // An unnamed result is named after the function: `price`.
    if let Some(output) = function.output.value() {
        if function.values[output.index()].name.is_none() {
            names.bind_fresh(output, &item.sig.ident.to_string());
        }
    }
    let used = used_values(function, backward);

    let mut writer = Writer {
        function,
        activity,
        names,
        used,
    };
    let forward: Vec<TokenStream> = function
        .insts()
        .filter_map(|inst| writer.forward_stmt(inst))
        .collect();
    let output = writer.operand(&function.output, Span::call_site());

    let slot_types = slot_types(sig);
    let slot_names: Vec<TokenStream> = sig
        .params
        .iter()
        .enumerate()
        .map(|(index, param)| {
            let returns_adjoint = backward
                .stmts
                .iter()
                .any(|s| matches!(s, BwdStmt::Output { param, .. } if *param == index));
            if returns_adjoint {
                let name = writer
                    .names
                    .fresh(&format!("grad_{}", param.ident), param.ident.span());
                quote!(#name)
            } else {
                quote!(_)
            }
        })
        .collect();
    let (seed, backward) = writer.backward(backward, &slot_names);
    let items = &function.items;

    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[inline]
        #[allow(clippy::all, clippy::pedantic)]
        #vis fn #vjp #generics (#(#params),*) -> (#out_ty, impl ::core::ops::FnOnce(#out_ty, #(#slot_types),*)) #where_clause {
            #(#items)*
            #(#forward)*
            (#output, move |#seed: #out_ty, #(#slot_names: #slot_types),*| {
                #(#backward)*
            })
        }
    }
}

/// Which values the generated code reads: the output, the operands the backward sweep's rules
/// mention, and the arguments of every instruction that is kept. Instructions whose result is
/// not read and that have no side effect are dropped.
fn used_values(function: &Function, backward: &Backward) -> Vec<bool> {
    let mut used = vec![false; function.values.len()];
    let insts: Vec<&Inst> = function.insts().collect();
    let def = |value: Value| insts.iter().find(|inst| inst.result == value).copied();
    if let Some(output) = function.output.value() {
        used[output.index()] = true;
    }
    for stmt in &backward.stmts {
        let BwdStmt::Add {
            term: Term::Rule { inst, arg },
            ..
        } = stmt
        else {
            continue;
        };
        let inst = def(*inst).expect("a rule term names an instruction");
        let Op::Rule { rule, .. } = &inst.op else {
            continue;
        };
        let reads = rule
            .rule()
            .reads(*arg)
            .expect("terms exist for differentiable arguments");
        for (operand, read) in inst.args.iter().zip(reads.args) {
            if let (Some(value), true) = (operand.value(), read) {
                used[value.index()] = true;
            }
        }
        if reads.result {
            used[inst.result.index()] = true;
        }
    }
    for inst in insts.iter().rev() {
        if used[inst.result.index()] || impure(&inst.op) {
            for value in inst.arg_values() {
                used[value.index()] = true;
            }
        }
    }
    used
}

/// Whether an instruction must run even when its value is not read: calls may have effects.
fn impure(op: &Op) -> bool {
    matches!(op, Op::Call { .. } | Op::Opaque(_))
}

#[derive(Default)]
struct Names {
    taken: HashSet<String>,
    /// The name of each value, once it has one.
    values: std::collections::HashMap<Value, Ident>,
    adjoints: std::collections::HashMap<Value, Ident>,
    pullbacks: std::collections::HashMap<Value, Ident>,
    n_temps: usize,
}

impl Names {
    /// A name no other generated name has: `base`, else `base_1`, `base_2`, ...
    fn fresh(&mut self, base: &str, span: Span) -> Ident {
        let mut name = base.to_owned();
        let mut k = 0;
        while self.taken.contains(&name) || is_keyword(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.taken.insert(name.clone());
        mixed(&name, span)
    }

    fn bind(&mut self, value: Value, name: String) {
        self.taken.insert(name.clone());
        self.values.insert(value, mixed(&name, Span::call_site()));
    }

    fn bind_fresh(&mut self, value: Value, base: &str) {
        let ident = self.fresh(base, Span::call_site());
        self.values.insert(value, ident);
    }

    fn value(&mut self, function: &Function, value: Value) -> Ident {
        if let Some(ident) = self.values.get(&value) {
            return ident.clone();
        }
        let ident = match &function.values[value.index()].name {
            Some(name) => self.fresh(name, Span::call_site()),
            None => loop {
                let name = format!("t{}", self.n_temps);
                self.n_temps += 1;
                if !self.taken.contains(&name) {
                    break self.fresh(&name, Span::call_site());
                }
            },
        };
        self.values.insert(value, ident.clone());
        ident
    }

    fn adjoint(&mut self, function: &Function, value: Value) -> Ident {
        if let Some(ident) = self.adjoints.get(&value) {
            return ident.clone();
        }
        let primal = self.value(function, value);
        let ident = self.fresh(&format!("d_{primal}"), Span::call_site());
        self.adjoints.insert(value, ident.clone());
        ident
    }

    fn pullback(&mut self, function: &Function, value: Value) -> Ident {
        if let Some(ident) = self.pullbacks.get(&value) {
            return ident.clone();
        }
        let primal = self.value(function, value);
        let ident = self.fresh(&format!("{primal}_pullback"), Span::call_site());
        self.pullbacks.insert(value, ident.clone());
        ident
    }
}

fn is_keyword(name: &str) -> bool {
    syn::parse_str::<Ident>(name).is_err()
}

struct Writer<'a> {
    function: &'a Function,
    activity: &'a Activity,
    names: Names,
    used: Vec<bool>,
}

impl Writer<'_> {
    fn name(&mut self, value: Value) -> Ident {
        self.names.value(self.function, value)
    }

    /// An operand as one token tree.
    fn operand(&mut self, operand: &Operand, span: Span) -> TokenStream {
        match operand {
            Operand::Value(value) => {
                let mut ident = self.name(*value);
                ident.set_span(ident.span().located_at(span));
                quote!(#ident)
            }
            Operand::Const(c) => c.parenthesized(),
        }
    }

    /// `let apple_price = apple * apple_num;`
    fn forward_stmt(&mut self, inst: &Inst) -> Option<TokenStream> {
        let used = self.used[inst.result.index()];
        if !used && !impure(&inst.op) {
            return None;
        }
        let span = inst.span;
        if let Op::Call { func } = &inst.op {
            if self.activity.active(inst.result) {
                let args: Vec<TokenStream> =
                    inst.args.iter().map(|a| self.operand(a, span)).collect();
                let pullback = self.names.pullback(self.function, inst.result);
                let value = if used {
                    self.name(inst.result).into_token_stream()
                } else {
                    quote!(_)
                };
                let mut vjp = func.clone();
                let last = vjp.path.segments.last_mut().expect("a path has a segment");
                last.ident = vjp_ident(&last.ident);
                return Some(quote_spanned!(span=> let (#value, #pullback) = #vjp(#(#args),*);));
            }
        }
        let expr = self.forward_expr(inst);
        if !used {
            return Some(quote_spanned!(span=> #expr;));
        }
        let name = self.name(inst.result);
        Some(match &inst.ty {
            Some(ty) => quote_spanned!(span=> let #name: #ty = #expr;),
            None => quote_spanned!(span=> let #name = #expr;),
        })
    }

    fn forward_expr(&mut self, inst: &Inst) -> TokenStream {
        let span = inst.span;
        let args: Vec<TokenStream> = inst.args.iter().map(|a| self.operand(a, span)).collect();
        match &inst.op {
            Op::Copy => args[0].clone(),
            Op::Rule { form, .. } => match form {
                Form::Binary(op) => {
                    let (a, b) = (&args[0], &args[1]);
                    quote!(#a #op #b)
                }
                Form::Neg => {
                    let a = &args[0];
                    quote_spanned!(span=> -#a)
                }
                Form::Method(method) => {
                    let receiver = &args[0];
                    let rest = &args[1..];
                    quote!(#receiver.#method(#(#rest),*))
                }
                Form::Path(path) => quote!(#path(#(#args),*)),
                Form::Cast(ty) => {
                    let a = &args[0];
                    quote!(#a as #ty)
                }
            },
            Op::Call { func } => quote!(#func(#(#args),*)),
            Op::Field(index) => {
                let a = &args[0];
                let index = syn::Index {
                    index: *index,
                    span,
                };
                quote!(#a.#index)
            }
            Op::Opaque(opaque) => {
                let mut expr = opaque.expr.clone();
                FillHoles { args: &args }.visit_expr_mut(&mut expr);
                quote!(#expr)
            }
        }
    }

    /// The backward sweep's statements, and the pattern that binds the seed (the output's
    /// adjoint) as the closure's first parameter.
    fn backward(
        &mut self,
        backward: &Backward,
        slot_names: &[TokenStream],
    ) -> (TokenStream, Vec<TokenStream>) {
        let function = self.function;
        let mut writes = std::collections::HashMap::<Value, usize>::new();
        for stmt in &backward.stmts {
            match stmt {
                BwdStmt::Zero(target) | BwdStmt::Add { target, .. } => {
                    *writes.entry(*target).or_default() += 1
                }
                BwdStmt::Pullback { targets, .. } => {
                    for target in targets.iter().flatten() {
                        *writes.entry(*target).or_default() += 1;
                    }
                }
                BwdStmt::Output { .. } => {}
            }
        }
        let mutable = |value: &Value| writes.get(value).copied().unwrap_or(0) > 1;
        let mut declared = HashSet::new();
        let mut seed = quote!(_);
        let mut stmts = Vec::new();
        let private = private();
        for stmt in &backward.stmts {
            match stmt {
                BwdStmt::Add {
                    target,
                    term: Term::Seed,
                } => {
                    let name = self.names.adjoint(function, *target);
                    declared.insert(*target);
                    seed = if mutable(target) {
                        quote!(mut #name)
                    } else {
                        quote!(#name)
                    };
                }
                BwdStmt::Zero(target) => {
                    let name = self.names.adjoint(function, *target);
                    declared.insert(*target);
                    stmts.push(quote!(let mut #name = 0.0;));
                }
                BwdStmt::Add { target, term } => {
                    let term = self.term(term);
                    let name = self.names.adjoint(function, *target);
                    if declared.insert(*target) {
                        stmts.push(if mutable(target) {
                            quote!(let mut #name = #term;)
                        } else {
                            quote!(let #name = #term;)
                        });
                    } else {
                        stmts.push(quote!(#name += #term;));
                    }
                }
                BwdStmt::Pullback { call, targets } => {
                    let pullback = self.names.pullback(function, *call);
                    let d_call = self.names.adjoint(function, *call);
                    let slots: Vec<TokenStream> = targets
                        .iter()
                        .map(|target| match target {
                            Some(target) => {
                                let name = self.names.adjoint(function, *target);
                                quote!(#private::slot(&mut #name))
                            }
                            None => quote!(#private::no_slot()),
                        })
                        .collect();
                    stmts.push(quote!(#pullback(#d_call, #(#slots),*);));
                }
                BwdStmt::Output { param, value } => {
                    let slot = &slot_names[*param];
                    let name = self.names.adjoint(function, *value);
                    stmts.push(quote!(#slot.accumulate(#name);));
                }
            }
        }
        (seed, stmts)
    }

    fn term(&mut self, term: &Term) -> TokenStream {
        let function = self.function;
        match term {
            Term::Seed => unreachable!("the seed is the closure's parameter"),
            Term::Adjoint(value) => {
                let name = self.names.adjoint(function, *value);
                quote!(#name)
            }
            Term::Rule { inst, arg } => {
                let inst = function
                    .insts()
                    .find(|i| i.result == *inst)
                    .expect("a rule term names an instruction");
                let Op::Rule { rule, .. } = &inst.op else {
                    unreachable!("rule terms come from rule instructions")
                };
                let args: Vec<TokenStream> = inst
                    .args
                    .iter()
                    .map(|a| self.operand(a, Span::call_site()))
                    .collect();
                let result = self.name(inst.result);
                let dy = self.names.adjoint(function, inst.result);
                rule.rule()
                    .instantiate(*arg, &args, &quote!(#result), &quote!(#dy))
                    .expect("terms exist for differentiable arguments")
            }
        }
    }
}

/// Replaces the holes of an opaque expression with the names of their values.
struct FillHoles<'a> {
    args: &'a [TokenStream],
}

impl VisitMut for FillHoles<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::Path(path) = expr {
            if let Some(k) = path.path.get_ident().and_then(Opaque::hole_index) {
                *expr = Expr::Verbatim(self.args[k].clone());
                return;
            }
        }
        syn::visit_mut::visit_expr_mut(self, expr);
    }
}

// The public functions --------------------------------------------------------------------------

/// `_grad`, `_pullback` and `_grad_into`, each a few lines around the hidden function.
fn public_fns(item: &syn::ItemFn, sig: &Signature) -> TokenStream {
    let Some(out_ty) = &sig.output else {
        return TokenStream::new();
    };
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        turbofish,
    } = Parts::new(item, sig);
    let ident = &item.sig.ident;
    let vjp = vjp_ident(ident);
    let private = private();

    // Locals of these functions must not collide with the parameters, whatever their names.
    let mut names = Names::default();
    for name in &param_names {
        names.taken.insert(name.to_string());
    }
    let span = ident.span();
    let grad = names.fresh("grad", span);
    let value = names.fresh("value", span);
    let pullback = names.fresh("pullback", span);
    let d_out = names.fresh("d_out", span);

    let active: Vec<(usize, &crate::signature::Param)> = sig.active_params().collect();
    let single = active.len() == 1;
    let grad_types: Vec<&syn::Type> = active.iter().map(|(_, p)| &p.ty).collect();
    let grad_ty = if single {
        quote!(#(#grad_types)*)
    } else {
        quote!((#(#grad_types,)*))
    };
    let field = |k: usize| -> TokenStream {
        if single {
            quote!()
        } else {
            let index = syn::Index::from(k);
            quote!(.#index)
        }
    };
    let zeros: Vec<TokenStream> = active
        .iter()
        .map(|(index, _)| {
            let name = &param_names[*index];
            quote!(#private::zero_grad(&#name))
        })
        .collect();
    let zero = if single {
        quote!(#(#zeros)*)
    } else {
        quote!((#(#zeros,)*))
    };
    let resets: Vec<TokenStream> = active
        .iter()
        .enumerate()
        .map(|(k, (index, _))| {
            let name = &param_names[*index];
            let field = field(k);
            if single {
                quote!(#private::reset_grad(&#name, #grad);)
            } else {
                quote!(#private::reset_grad(&#name, &mut #grad #field);)
            }
        })
        .collect();
    // The slots into which the pullback adds: one per parameter, in order.
    let slots_into = |grad_is_ref: bool| -> Vec<TokenStream> {
        let mut k = 0;
        sig.params
            .iter()
            .map(|param| {
                if !param.active {
                    return quote!(#private::Ignore);
                }
                let field = field(k);
                k += 1;
                if grad_is_ref && single {
                    quote!(#private::Slot::new(&mut *#grad))
                } else {
                    quote!(#private::Slot::new(&mut #grad #field))
                }
            })
            .collect()
    };
    let slots_owned = slots_into(false);
    let slots_ref = slots_into(true);

    let wrt: Vec<String> = active
        .iter()
        .map(|(_, p)| format!("`{}`", p.ident))
        .collect();
    let wrt = wrt.join(", ");
    let shape = if single {
        ""
    } else {
        ", one entry per parameter in that order"
    };
    let grad_fn = format_ident!("{}_grad", ident);
    let pullback_fn = format_ident!("{}_pullback", ident);
    let grad_into_fn = format_ident!("{}_grad_into", ident);
    let doc_grad = format!(
        "The value of [`{ident}`] and its gradient with respect to {wrt}{shape}.\n\nGenerated by `#[differentiate]`."
    );
    let doc_pullback = format!(
        "The gradient of [`{ident}`] with respect to {wrt}, scaled by `d_out`: the vector-Jacobian product that carries the chain rule through a call.\n\nGenerated by `#[differentiate]`."
    );
    let doc_grad_into = format!(
        "The value of [`{ident}`]; its gradient with respect to {wrt} is written into `grad`, overwriting it.\n\nGenerated by `#[differentiate]`."
    );

    quote! {
        #(#attrs)*
        #[doc = #doc_grad]
        #[allow(clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #grad_fn #generics (#(#params),*) -> (#out_ty, #grad_ty) #where_clause {
            let mut #grad = #zero;
            let (#value, #pullback) = #vjp #turbofish(#(#param_names),*);
            #pullback(1.0, #(#slots_owned),*);
            (#value, #grad)
        }

        #(#attrs)*
        #[doc = #doc_pullback]
        #[allow(clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #pullback_fn #generics (#(#params,)* #d_out: #out_ty) -> #grad_ty #where_clause {
            let mut #grad = #zero;
            let (_, #pullback) = #vjp #turbofish(#(#param_names),*);
            #pullback(#d_out, #(#slots_owned),*);
            #grad
        }

        #(#attrs)*
        #[doc = #doc_grad_into]
        #[allow(clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #grad_into_fn #generics (#(#params,)* #grad: &mut #grad_ty) -> #out_ty #where_clause {
            #(#resets)*
            let (#value, #pullback) = #vjp #turbofish(#(#param_names),*);
            #pullback(1.0, #(#slots_ref),*);
            #value
        }
    }
}
