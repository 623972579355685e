//! The pieces of the user's signature that every generated function repeats.

use super::*;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use crate::signature::Signature;

/// The pieces of the user's signature that every generated function repeats.
pub(super) struct Parts<'a> {
    /// `#[cfg(..)]`: the generated items exist exactly when the function does.
    pub(super) attrs: Vec<&'a syn::Attribute>,
    pub(super) vis: &'a syn::Visibility,
    pub(super) generics: TokenStream,
    /// The user's `where` clause, with `T: Real` for a generic float type `T`.
    pub(super) where_clause: TokenStream,
    /// `name: Type`.
    pub(super) params: Vec<TokenStream>,
    pub(super) param_names: Vec<Ident>,
    /// `::<T, N>`: the type and const parameters, passed explicitly to the hidden function.
    pub(super) turbofish: TokenStream,
    /// `use<T, N>`: the pullback closure captures the type and const parameters but no
    /// lifetime, so the caller's borrows end when the forward sweep returns.
    pub(super) captures: TokenStream,
    /// The names and types of the reference parameters, which the pullback takes again.
    pub(super) ref_names: Vec<Ident>,
    pub(super) ref_types: Vec<syn::Type>,
    /// Every parameter's type, with `impl Trait` named.
    pub(super) types: Vec<syn::Type>,
    /// For a function whose result keeps the reference parameters (`_vjp`): its generics with
    /// the lifetime `'__autodiff` first, its parameters with `'__autodiff` for every elided
    /// lifetime, and the `use<..>` that captures every generic parameter.
    pub(super) borrowing_generics: TokenStream,
    pub(super) borrowing_params: Vec<TokenStream>,
    pub(super) borrowing_captures: TokenStream,
}

impl<'a> Parts<'a> {
    pub(super) fn new(item: &'a syn::ItemFn, sig: &'a Signature) -> Self {
        let generics = &item.sig.generics;
        let param_names = param_names(sig);
        // `x: impl Trait` becomes a named type parameter, which `use<..>` and the turbofish
        // can mention.
        let mut desugar = ImplTraitParams::default();
        let types: Vec<syn::Type> = sig
            .params
            .iter()
            .map(|param| {
                let mut ty = param.ty.clone();
                syn::visit_mut::VisitMut::visit_type_mut(&mut desugar, &mut ty);
                ty
            })
            .collect();
        let params = typed_params(sig, &types, &param_names, None);
        let mut explicit: Vec<Ident> = generics
            .params
            .iter()
            .filter_map(|param| match param {
                syn::GenericParam::Type(t) => Some(t.ident.clone()),
                syn::GenericParam::Const(c) => Some(c.ident.clone()),
                _ => None,
            })
            .collect();
        explicit.extend(desugar.params.iter().map(|(ident, _)| ident.clone()));
        let impl_params = impl_params(sig);
        let (all_generics, real_inline) = all_generics(sig, generics, &desugar);
        let (ref_names, ref_types) = sig
            .params
            .iter()
            .zip(param_names.iter().zip(&types))
            .filter(|(p, _)| p.by_ref())
            .map(|(_, (name, ty))| {
                // The pullback takes the references again, for any lifetime: it captures none.
                let mut ty = ty.clone();
                syn::visit_mut::VisitMut::visit_type_mut(&mut ElideLifetimes, &mut ty);
                (name.clone(), ty)
            })
            .unzip();
        let lifetime = syn::Lifetime::new("'__autodiff", Span::call_site());
        let borrowing_params = typed_params(sig, &types, &param_names, Some(&lifetime));
        let lifetimes: Vec<&syn::Lifetime> =
            generics.lifetimes().map(|param| &param.lifetime).collect();
        let borrowing_generics = quote!(<#lifetime, #(#all_generics),*>);
        let borrowing_captures =
            quote!(use<#lifetime, #(#lifetimes,)* #(#impl_params,)* #(#explicit),*>);
        Parts {
            borrowing_generics,
            borrowing_params,
            borrowing_captures,
            attrs: item
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("cfg"))
                .collect(),
            vis: &item.vis,
            generics: if all_generics.is_empty() {
                quote!()
            } else {
                quote!(<#(#all_generics),*>)
            },
            where_clause: where_clause(sig, generics, real_inline),
            params,
            param_names,
            turbofish: if explicit.is_empty() {
                quote!()
            } else {
                quote!(::<#(#explicit),*>)
            },
            captures: quote!(use<#(#impl_params,)* #(#explicit),*>),
            ref_names,
            ref_types,
            types,
        }
    }
}

/// The receiver of a stub (a function that only names a missing mode in an error), followed by
/// a comma: as written, without `mut`, which a body that never runs does not use.
pub(super) fn stub_receiver(item: &syn::ItemFn) -> Option<TokenStream> {
    item.sig.receiver().map(|receiver| {
        let mut receiver = receiver.clone();
        receiver.mutability = None;
        quote!(#receiver,)
    })
}

/// The parameters' names as the generated functions bind them.
fn param_names(sig: &Signature) -> Vec<Ident> {
    sig.params
        .iter()
        .map(|p| {
            if p.is_receiver() {
                Ident::new("self", p.ident.span())
            } else {
                mixed(&p.ident.to_string(), p.ident.span())
            }
        })
        .collect()
}

/// `name: Type` for each parameter, `self` or `&self` for a receiver; with `lifetime`, every
/// elided lifetime of the types is named `lifetime`.
fn typed_params(
    sig: &Signature,
    types: &[syn::Type],
    param_names: &[Ident],
    lifetime: Option<&syn::Lifetime>,
) -> Vec<TokenStream> {
    types
        .iter()
        .zip(param_names)
        .zip(&sig.params)
        .map(|((ty, name), param)| {
            let mut ty = ty.clone();
            if let Some(lifetime) = lifetime {
                syn::visit_mut::VisitMut::visit_type_mut(&mut NameLifetimes(lifetime), &mut ty);
            }
            match param.kind {
                _ if !param.is_receiver() => quote!(#name: #ty),
                crate::signature::ParamKind::Struct { by_ref: true } => quote!(&#lifetime #name),
                _ => quote!(#name),
            }
        })
        .collect()
}

/// The `impl`'s generic parameters as arguments: the hidden closures capture them too (they are in
/// scope, not passed).
fn impl_params(sig: &Signature) -> Vec<TokenStream> {
    sig.impl_generics
        .iter()
        .map(|param| match param {
            syn::GenericParam::Type(t) => {
                let ident = &t.ident;
                quote!(#ident)
            }
            syn::GenericParam::Const(c) => {
                let ident = &c.ident;
                quote!(#ident)
            }
            syn::GenericParam::Lifetime(l) => {
                let lifetime = &l.lifetime;
                quote!(#lifetime)
            }
        })
        .collect()
}

/// The function's generic parameters and those of its `impl Trait` parameters; whether a generic
/// float type got its `Real` bound here (else the `where` clause adds it).
fn all_generics(
    sig: &Signature,
    generics: &syn::Generics,
    desugar: &ImplTraitParams,
) -> (Vec<TokenStream>, bool) {
    let added = desugar
        .params
        .iter()
        .map(|(ident, bounds)| quote!(#ident: #bounds));
    // A generic float type `T: Float` also needs `Real`, next to its other bounds.
    let mut real_inline = false;
    let all_generics = generics
        .params
        .iter()
        .map(|p| match p {
            syn::GenericParam::Type(t)
                if sig.generic_float.as_ref() == Some(&t.ident) && !t.bounds.is_empty() =>
            {
                real_inline = true;
                let mut t = t.clone();
                t.bounds
                    .push(syn::parse_quote!(::autodiff_core::__private::Real));
                quote!(#t)
            }
            p => quote!(#p),
        })
        .chain(added)
        .collect();
    (all_generics, real_inline)
}

/// The user's `where` clause, with `T: Real` for a generic float type `T` unless its bounds have
/// it.
fn where_clause(sig: &Signature, generics: &syn::Generics, real_inline: bool) -> TokenStream {
    let mut predicates: Vec<TokenStream> = generics
        .where_clause
        .iter()
        .flat_map(|w| w.predicates.iter().map(|p| quote!(#p)))
        .collect();
    if let (Some(t), false) = (&sig.generic_float, real_inline) {
        predicates.push(quote!(#t: ::autodiff_core::__private::Real));
    }
    if predicates.is_empty() {
        quote!()
    } else {
        quote!(where #(#predicates),*)
    }
}

/// Names the elided lifetimes of a type (`&T`, `Foo<'_>`).
struct NameLifetimes<'l>(&'l syn::Lifetime);

impl syn::visit_mut::VisitMut for NameLifetimes<'_> {
    fn visit_type_reference_mut(&mut self, reference: &mut syn::TypeReference) {
        if reference.lifetime.is_none() {
            reference.lifetime = Some(self.0.clone());
        }
        syn::visit_mut::visit_type_reference_mut(self, reference);
    }

    fn visit_lifetime_mut(&mut self, lifetime: &mut syn::Lifetime) {
        if lifetime.ident == "_" {
            *lifetime = self.0.clone();
        }
    }
}

/// Replaces the named lifetimes of a type by `'_`.
pub(super) struct ElideLifetimes;

impl syn::visit_mut::VisitMut for ElideLifetimes {
    fn visit_lifetime_mut(&mut self, lifetime: &mut syn::Lifetime) {
        if lifetime.ident != "static" {
            *lifetime = syn::Lifetime::new("'_", lifetime.span());
        }
    }
}

/// Replaces each `impl Trait` of parameter types by a named type parameter.
#[derive(Default)]
pub(super) struct ImplTraitParams {
    pub(super) params: Vec<(Ident, TokenStream)>,
}

impl syn::visit_mut::VisitMut for ImplTraitParams {
    fn visit_type_mut(&mut self, ty: &mut syn::Type) {
        if let syn::Type::ImplTrait(impl_trait) = ty {
            let ident = format_ident!("__AutodiffImpl{}", self.params.len());
            let bounds = &impl_trait.bounds;
            self.params.push((ident.clone(), quote!(#bounds)));
            *ty = syn::parse_quote!(#ident);
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}
