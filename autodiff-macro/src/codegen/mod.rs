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
//! A loop whose backward sweep needs values of its iterations pushes them on a tape at the end
//! of each iteration and its backward loop pops them; a branch returns what its backward sweep
//! needs in a `Branch::Then(..)`/`Branch::Else(..)` record.
//!
//! Every name it introduces resolves at `Span::mixed_site()`, so no generated name can capture or
//! shadow one of the user's; adjoints keep readable names (`d_all_price`).

mod backward;
mod custom;
mod forward;
mod header;
mod mem_adjoint;
mod modes;
mod names;
mod pools;
mod public;
mod second_order;
mod sweeps;
mod used;
mod windows;
mod writer;

use backward::{Borrow, count_writes};
pub use custom::custom;
use header::Parts;
pub use modes::{Modes, forward_modes, hvp_ident, missing_modes, tangent_ident};
use names::Names;
use public::public_fns;
use sweeps::sweeps;
use used::{impure, used_values};
use writer::Writer;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use crate::analysis::Activity;
use crate::ir::Function;
use crate::reverse::Backward;
use crate::signature::Signature;

/// The hidden function the public ones call instead of `__f_vjp` when a loop can be fused
/// (see [`sweeps`]).
fn fused_ident(ident: &Ident) -> Ident {
    format_ident!("__{}_fused", ident, span = ident.span())
}

/// The hidden function behind the public ones: `__price_vjp` for `price`. A call of `price` in
/// another differentiated function reaches it by the same rule.
pub fn vjp_ident(ident: &Ident) -> Ident {
    format_ident!("__{}_vjp", ident, span = ident.span())
}

/// A function's forward mode, hidden: `__price_jvp` for `price`, which takes a
/// `Tangent` for every parameter. A call of `price` in another function's forward mode
/// reaches it by the same rule.
pub fn jvp_ident(ident: &Ident) -> Ident {
    format_ident!("__{}_jvp", ident, span = ident.span())
}

pub struct Input<'a> {
    pub item: &'a syn::ItemFn,
    pub sig: &'a Signature,
    pub function: &'a Function,
    pub activity: &'a Activity,
    pub backward: &'a Backward,
}

pub fn generate(input: &Input) -> TokenStream {
    let vjp = sweeps(input, None);
    // Interleaved sweeps only help the functions that know the seed first, which a function
    // returning a scalar has.
    let fused = input
        .sig
        .output
        .as_ref()
        .is_some_and(|output| output.scalar)
        .then(|| input.backward.interleaved())
        .flatten();
    let fused_fn = fused.map(|k| sweeps(input, Some(k)));
    let public = public_fns(input.item, input.sig, fused.is_some());
    quote!(#vjp #fused_fn #public)
}

/// On errors: the generated items with their signatures and no body, so that the user's calls
/// of them add no errors of their own.
pub fn fallback(item: &syn::ItemFn, sig: &Signature) -> TokenStream {
    match (&sig.output, &item.sig.output) {
        (Some(_), _) => hidden_stub(item, sig, true),
        // A return type that is not supported (reported): a method's hidden items return it as
        // written, so that a caller's `recv.m(..)` finds them (a free function's callers add no
        // errors of their own).
        (None, syn::ReturnType::Type(_, ty)) if item.sig.receiver().is_some() => {
            let mut sig = sig.clone();
            sig.output = Some(crate::signature::OutputType {
                ty: (**ty).clone(),
                array: None,
                scalar: false,
            });
            hidden_stub(item, &sig, false)
        }
        (None, _) => TokenStream::new(),
    }
}

/// The hidden forward sweep with its signature and no body, with the public items (or, for a
/// method, only the form its callers use).
fn hidden_stub(item: &syn::ItemFn, sig: &Signature, public: bool) -> TokenStream {
    let out_ty = &sig.output.as_ref().expect("given an output").ty;
    let parts = Parts::new(item, sig);
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        captures,
        ref_types,
        ..
    } = &parts;
    let vjp = vjp_ident(&item.sig.ident);
    let slot_types = slot_types(sig);
    let public = match public {
        true => public_fns(item, sig, false),
        false => public::method_vjp(item, sig, &parts),
    };
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[allow(unreachable_code, unused_variables, non_snake_case, clippy::all)]
        #vis fn #vjp #generics (#(#params),*) -> (#out_ty, impl ::core::ops::FnOnce(#(#ref_types,)* #out_ty, #(#slot_types),*) + #captures) #where_clause {
            (::core::unimplemented!(), move |#(_: #ref_types,)* _: #out_ty, #(_: #slot_types),*| {})
        }
        #public
    }
}

/// An identifier that resolves at `Span::mixed_site()`: a raw identifier (`r#type`) stays raw.
pub(super) fn mixed(name: &str, located_at: Span) -> Ident {
    let span = Span::mixed_site().located_at(located_at);
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, span),
        // A name of an edition-2021 crate that the macro's edition reserves; raw in both.
        None if name == "gen" => Ident::new_raw(name, span),
        None => Ident::new(name, span),
    }
}

pub(super) fn private() -> TokenStream {
    quote!(::autodiff_core::__private)
}

/// The type of the slot through which the pullback hands back each parameter's adjoint.
pub(super) fn slot_types(sig: &Signature) -> Vec<TokenStream> {
    let private = private();
    sig.params
        .iter()
        .map(|param| {
            if param.active {
                let target = param.slot_target_type();
                quote!(#private::Slot<'_, #target>)
            } else {
                quote!(#private::Ignore)
            }
        })
        .collect()
}
