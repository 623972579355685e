//! The public functions: `_grad`, `_pullback`, `_grad_into`.

use super::*;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use crate::signature::Signature;

/// For a function that does not return a scalar: `_grad` and `_grad_into` that exist only to say,
/// where they are called, that they need one (`ScalarOutput` has no impls, and its bound names
/// the arguments' types so that it is checked at each call, not here). A generic function gets
/// none: its type parameters could not be inferred at the call.
pub(super) fn non_scalar_stubs(
    item: &syn::ItemFn,
    sig: &Signature,
    out_ty: &syn::Type,
    names: [&Ident; 2],
    trait_: &str,
) -> TokenStream {
    let trait_ = Ident::new(trait_, proc_macro2::Span::call_site());
    if !item.sig.generics.params.is_empty() {
        return TokenStream::new();
    }
    let private = private();
    let vis = &item.vis;
    let receiver = header::stub_receiver(item);
    let n = sig.params.iter().filter(|p| !p.is_receiver()).count();
    let [grad_fn, grad_into_fn] = names;
    let stub = |name: &Ident, extra: usize| {
        let args: Vec<Ident> = (0..n + extra).map(|k| format_ident!("__A{}", k)).collect();
        if args.is_empty() {
            // A bound without parameters would be checked here, failing at once.
            return TokenStream::new();
        }
        quote! {
            #[doc(hidden)]
            #[allow(dead_code, non_snake_case, clippy::too_many_arguments)]
            #vis fn #name<#(#args),*>(#receiver #(_: #args),*) -> ::core::convert::Infallible
            where
                #out_ty: #private::#trait_<(#(#args,)*)>,
            {
                ::core::unreachable!()
            }
        }
    };
    let grad = stub(grad_fn, 0);
    let grad_into = stub(grad_into_fn, 1);
    quote!(#grad #grad_into)
}

/// `_pullback`, and for a scalar output `_grad` and `_grad_into`: each a few lines around the
/// hidden function.
pub(super) fn public_fns(item: &syn::ItemFn, sig: &Signature, fused: bool) -> TokenStream {
    let Some(output) = &sig.output else {
        return TokenStream::new();
    };
    let out_ty = &output.ty;
    let parts = Parts::new(item, sig);
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        turbofish,
        ref_names,
        borrowing_generics,
        borrowing_params,
        borrowing_captures,
        ..
    } = &parts;
    let ident = &item.sig.ident;
    let (vjp, fused_fn) = hidden_paths(item);
    let private = private();

    let mut names = Names::avoiding(param_names);
    let span = ident.span();
    let grad = names.fresh("grad", span);
    let value = names.fresh("value", span);
    let pullback = names.fresh("pullback", span);
    let d_out = names.fresh("d_out", span);

    let shape = GradShape::new(sig, param_names);
    let (single, grad_ty, zero) = (shape.single, &shape.ty, &shape.zero);
    let resets = shape.resets(sig, param_names, &grad);
    let slots_owned = shape.slots(sig, &grad, false);
    let slots_ref = shape.slots(sig, &grad, true);

    let wrt = super::modes::wrt_list(sig);
    // How the docs describe the gradient's shape.
    let shape = if single {
        ""
    } else {
        ", one entry per parameter in that order"
    };
    let pullback_fn = format_ident!("{}_pullback", ident);
    let doc_pullback = public_doc("pullback", ident, &wrt, shape);
    // The sweeps with a given seed, as statements that leave the value in `value`: the pullback
    // closure, or the fused sweeps that take the seed first.
    let sweep = |seed: TokenStream, slots: &[TokenStream], keep: bool| -> TokenStream {
        let value = if keep { quote!(#value) } else { quote!(_) };
        if fused {
            quote!(let #value = #fused_fn #turbofish(#(#param_names,)* #seed, #(#slots),*);)
        } else {
            quote! {
                let (#value, #pullback) = #vjp #turbofish(#(#param_names),*);
                #pullback(#(#ref_names,)* #seed, #(#slots),*);
            }
        }
    };
    let pullback_sweep = sweep(quote!(#d_out), &slots_owned, false);
    // `_vjp`: the forward sweep now, the backward sweep when the seed is known. The gradient's
    // zeros are made before the parameters move into the forward sweep.
    let vjp_fn = format_ident!("{}_vjp", ident);
    let doc_vjp = public_doc("vjp", ident, &wrt, shape);
    let vjp_item = quote! {
        #(#attrs)*
        #[doc = #doc_vjp]
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #vjp_fn #borrowing_generics (#(#borrowing_params),*) -> (#out_ty, impl ::core::ops::FnOnce(#out_ty) -> #grad_ty + #borrowing_captures) #where_clause {
            let mut #grad = #zero;
            let (#value, #pullback) = #vjp #turbofish(#(#param_names),*);
            (#value, move |#d_out: #out_ty| {
                // A zero seed gives zeros, even where a factor of the sweep is not finite.
                if #private::nonzero(&#d_out) {
                    #pullback(#(#ref_names,)* #d_out, #(#slots_owned),*);
                }
                #grad
            })
        }
    };
    let pullback_item = quote! {
        #(#attrs)*
        #[doc = #doc_pullback]
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #pullback_fn #generics (#(#params,)* #d_out: #out_ty) -> #grad_ty #where_clause {
            let mut #grad = #zero;
            if #private::nonzero(&#d_out) {
                #pullback_sweep
            }
            #grad
        }
    };
    let grad_fn = format_ident!("{}_grad", ident);
    let grad_into_fn = format_ident!("{}_grad_into", ident);
    let one = match &sig.generic_float {
        Some(t) => quote!(#private::lit::<#t>(1.0)),
        None => quote!(1.0),
    };
    let grad_sweep = sweep(one.clone(), &slots_owned, true);
    let grad_into_sweep = sweep(one, &slots_ref, true);
    let method_vjp = method_vjp(item, sig, &parts);
    if !output.scalar {
        let stubs = non_scalar_stubs(item, sig, out_ty, [&grad_fn, &grad_into_fn], "ScalarOutput");
        return quote!(#pullback_item #vjp_item #stubs #method_vjp);
    }
    let doc_grad = public_doc("grad", ident, &wrt, shape);
    let doc_grad_into = public_doc("grad_into", ident, &wrt, shape);
    quote! {
        #method_vjp

        #(#attrs)*
        #[doc = #doc_grad]
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #grad_fn #generics (#(#params),*) -> (#out_ty, #grad_ty) #where_clause {
            let mut #grad = #zero;
            #grad_sweep
            (#value, #grad)
        }

        #pullback_item

        #vjp_item

        #(#attrs)*
        #[doc = #doc_grad_into]
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #grad_into_fn #generics (#(#params,)* #grad: &mut #grad_ty) -> #out_ty #where_clause {
            #(#resets)*
            #grad_into_sweep
            #value
        }
    }
}

/// The doc comment of the public function `f_{kind}`; `shape` describes the gradient's.
fn public_doc(kind: &str, ident: &Ident, wrt: &str, shape: &str) -> String {
    match kind {
        "pullback" => format!(
            "The gradient of [`{ident}`] with respect to {wrt}{shape}, scaled by `d_out`: the vector-Jacobian product that carries the chain rule through a call.\n\nGenerated by `#[differentiate]`."
        ),
        "vjp" => format!(
            "The value of [`{ident}`] and its backward sweep, to run later: calling it with `d_out` returns the gradient with respect to {wrt}{shape}, scaled by `d_out` (JAX's `vjp`).\n\nGenerated by `#[differentiate]`."
        ),
        "grad" => format!(
            "The value of [`{ident}`] and its gradient with respect to {wrt}{shape}.\n\nGenerated by `#[differentiate]`."
        ),
        "grad_into" => format!(
            "The value of [`{ident}`]; its gradient with respect to {wrt} is written into `grad`, overwriting it (vectors are resized to fit, so a reused `grad` allocates nothing).\n\nGenerated by `#[differentiate]`."
        ),
        _ => unreachable!("no public function `{kind}`"),
    }
}

/// The name a caller that writes `recv.m(args)` calls: `__m_method_vjp`.
pub(super) fn method_vjp_ident(ident: &Ident) -> Ident {
    format_ident!("__{}_method_vjp", ident, span = ident.span())
}

/// `__m_method_vjp(&self, args)`: a method's forward sweep as a caller writing `recv.m(args)`
/// calls it. That caller cannot see whether `m` takes `&self` or `self`, so every method has
/// this form, which borrows the receiver and whose pullback takes it again: a `&self` method's
/// `__m_vjp` already is it; a `self` method's is called on a copy of the receiver, and its
/// pullback ignores the receiver given again (it keeps what it captured).
pub(super) fn method_vjp(item: &syn::ItemFn, sig: &Signature, parts: &Parts) -> TokenStream {
    if item.sig.receiver().is_none() {
        return TokenStream::new();
    }
    let by_value = !sig.params[0].by_ref();
    // A `self` method needs a copy of the receiver, which only an active one (`Differentiable`,
    // so `Clone`) is sure to have.
    if by_value && !sig.params[0].active {
        return TokenStream::new();
    }
    let Some(output) = &sig.output else {
        return TokenStream::new();
    };
    let out_ty = &output.ty;
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        turbofish,
        captures,
        ref_names,
        ref_types,
        ..
    } = parts;
    let (vjp, _) = hidden_paths(item);
    let name = method_vjp_ident(&item.sig.ident);
    let rest = &params[1..];
    let rest_names = &param_names[1..];
    let slot_types = slot_types(sig);
    // A `&self` method's pullback takes the receiver again already.
    let again = by_value.then(|| quote!(&Self,));
    let closure = quote!(impl ::core::ops::FnOnce(#again #(#ref_types,)* #out_ty, #(#slot_types),*) + #captures);
    let head = quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[inline(always)]
        #[allow(dead_code, non_snake_case, clippy::all, clippy::pedantic)]
        #vis fn #name #generics (&self, #(#rest),*) -> (#out_ty, #closure) #where_clause
    };
    if !by_value {
        return quote!(#head { #vjp #turbofish(self, #(#rest_names),*) });
    }
    let mut names = Names::avoiding(param_names);
    let span = item.sig.ident.span();
    let (value, pullback, d_out) = (
        names.fresh("value", span),
        names.fresh("pullback", span),
        names.fresh("d_out", span),
    );
    let slots: Vec<Ident> = (0..slot_types.len())
        .map(|k| names.fresh(&format!("slot{k}"), span))
        .collect();
    quote! {
        #head {
            let (#value, #pullback) = #vjp #turbofish(::core::clone::Clone::clone(self), #(#rest_names),*);
            (#value, move |_: &Self, #(#ref_names: #ref_types,)* #d_out: #out_ty, #(#slots: #slot_types),*| {
                #pullback(#(#ref_names,)* #d_out, #(#slots),*)
            })
        }
    }
}

/// The paths of the hidden `__f_vjp` and `__f_fused`: a method's are associated functions of the
/// same `impl`.
fn hidden_paths(item: &syn::ItemFn) -> (TokenStream, TokenStream) {
    let ident = &item.sig.ident;
    let vjp = vjp_ident(ident);
    let fused_fn = fused_ident(ident);
    if crate::signature::is_associated(item) {
        (quote!(Self::#vjp), quote!(Self::#fused_fn))
    } else {
        (quote!(#vjp), quote!(#fused_fn))
    }
}

/// The gradient's type `G` (one entry per active parameter, a tuple unless there is one) and
/// a zero of it shaped like the parameters.
pub(super) struct GradShape {
    pub(super) ty: TokenStream,
    pub(super) zero: TokenStream,
    pub(super) single: bool,
}

impl GradShape {
    pub(super) fn new(sig: &Signature, param_names: &[Ident]) -> Self {
        let private = private();
        let active: Vec<(usize, &crate::signature::Param)> = sig.active_params().collect();
        let single = active.len() == 1;
        let types: Vec<TokenStream> = active.iter().map(|(_, p)| p.grad_type()).collect();
        let zeros: Vec<TokenStream> = active
            .iter()
            .map(|(index, param)| {
                let name = &param_names[*index];
                if Self::is_generic_scalar(sig, param) {
                    let t = &sig.generic_float;
                    quote!(#private::zero::<#t>())
                } else {
                    quote!(#private::zero_grad(&#name))
                }
            })
            .collect();
        let (ty, zero) = if single {
            (quote!(#(#types)*), quote!(#(#zeros)*))
        } else {
            (quote!((#(#types,)*)), quote!((#(#zeros,)*)))
        };
        GradShape { ty, zero, single }
    }

    /// `.k`, the entry of the `k`-th active parameter (nothing for a single one).
    pub(super) fn field(&self, k: usize) -> TokenStream {
        if self.single {
            quote!()
        } else {
            let index = syn::Index::from(k);
            quote!(.#index)
        }
    }

    /// `_grad_into`'s statements that zero `grad`, keeping the allocations of its vectors.
    fn resets(&self, sig: &Signature, param_names: &[Ident], grad: &Ident) -> Vec<TokenStream> {
        let private = private();
        let single = self.single;
        sig.active_params()
            .enumerate()
            .map(|(k, (index, param))| {
                let name = &param_names[index];
                let field = self.field(k);
                if self.generic_scalar(sig, param) {
                    if single {
                        quote!(#private::reset_zero(#grad);)
                    } else {
                        quote!(#private::reset_zero(&mut #grad #field);)
                    }
                } else if single {
                    quote!(#private::reset_grad(&#name, #grad);)
                } else {
                    quote!(#private::reset_grad(&#name, &mut #grad #field);)
                }
            })
            .collect()
    }

    /// The slots into which the pullback adds: one per parameter, in order, each just zeroed.
    /// `grad_is_ref`: `grad` is a `&mut` (in `_grad_into`).
    fn slots(&self, sig: &Signature, grad: &Ident, grad_is_ref: bool) -> Vec<TokenStream> {
        let private = private();
        let mut k = 0;
        sig.params
            .iter()
            .map(|param| {
                if !param.active {
                    return quote!(#private::Ignore);
                }
                let field = self.field(k);
                k += 1;
                if grad_is_ref && self.single {
                    quote!(#private::zeroed_slot(&mut *#grad))
                } else {
                    quote!(#private::zeroed_slot(&mut #grad #field))
                }
            })
            .collect()
    }

    /// A float of a generic type has no `Grad`: its zero is written through `Real`.
    pub(super) fn generic_scalar(&self, sig: &Signature, param: &crate::signature::Param) -> bool {
        Self::is_generic_scalar(sig, param)
    }

    fn is_generic_scalar(sig: &Signature, param: &crate::signature::Param) -> bool {
        sig.generic_float.is_some() && param.kind == crate::signature::ParamKind::Float
    }
}
