//! `#[derive(Differentiable)]`: visits the differentiable fields of a struct in declaration
//! order, and copies the others.
//!
//! ```text
//! #[derive(Clone, Differentiable)]          impl Differentiable for Affine {
//! struct Affine {                              fn zero_like(&self) -> Self {
//!     w: Vec<f64>,                   →             Self { w: zero_like(&self.w), name: self.name.clone() }
//!     #[differentiable(skip)]                  }
//!     name: String,                            fn zip_mut(&mut self, other: &Self, f) {
//! }                                                zip_mut(&mut self.w, &other.w, f);
//!                                              } ...
//!                                          }
//! ```

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;

/// Field types that are never differentiable: carried along as they are.
const CARRIED: &[&str] = &[
    "bool",
    "char",
    "str",
    "String",
    "Option",
    "Result",
    "PhantomData",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
];

pub fn derive(input: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let item = match syn::parse2::<syn::DeriveInput>(input) {
        Ok(item) => item,
        Err(err) => {
            cx.push(err);
            return cx
                .check()
                .err()
                .map(|e| e.to_compile_error())
                .unwrap_or_default();
        }
    };
    let Some(fields) = struct_fields(&cx, &item) else {
        return cx
            .check()
            .err()
            .map(|e| e.to_compile_error())
            .unwrap_or_default();
    };
    let (differentiable, carried) = partition_fields(&cx, fields);
    if let Err(err) = cx.check() {
        return err.to_compile_error();
    }
    let mut out = impls(&item, &differentiable, &carried);
    out.extend(placeholder_impl(&item, fields));
    out
}

/// `impl Dummy`: a placeholder value of the struct, which the generated code holds where Rust
/// holds none yet (an `Option` of the struct before a `Some`, a value an early `return` gives).
/// Only when every field's type surely has one (numbers, arrays, `Vec`s, `String`s, `Option`s,
/// the struct's type parameters, bounded): a struct with other fields gets none, and code that
/// needs one says so.
fn placeholder_impl(item: &syn::DeriveInput, fields: &syn::Fields) -> TokenStream {
    let params: Vec<&syn::Ident> = item.generics.type_params().map(|p| &p.ident).collect();
    let mut bounds = Vec::new();
    if !fields
        .iter()
        .all(|field| has_placeholder(&field.ty, &params, &mut bounds))
    {
        return TokenStream::new();
    }
    let name = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let mut predicates: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    predicates.extend(bounds);
    let private = quote!(::autodiff_core::__private);
    let members = fields
        .iter()
        .enumerate()
        .map(|(index, field)| member(index, field));
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::Dummy for #name #ty_generics where #(#predicates,)* {
            fn dummy() -> Self {
                Self { #(#members: #private::Dummy::dummy(),)* }
            }
        }
    }
}

fn has_placeholder(ty: &syn::Type, params: &[&syn::Ident], bounds: &mut Vec<TokenStream>) -> bool {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => {
            if params.iter().any(|p| path.path.is_ident(*p)) {
                bounds.push(quote!(#ty: ::autodiff_core::__private::Dummy));
                return true;
            }
            path.path.segments.last().is_some_and(|s| {
                // The carried types but `str` (unsized) and `Result`, and the floats and `Vec`.
                let carried = CARRIED.iter().any(|name| s.ident == name)
                    && s.ident != "str"
                    && s.ident != "Result";
                carried || ["f32", "f64", "Vec"].iter().any(|name| s.ident == name)
            })
        }
        syn::Type::Array(array) => has_placeholder(&array.elem, params, bounds),
        syn::Type::Paren(p) => has_placeholder(&p.elem, params, bounds),
        syn::Type::Group(g) => has_placeholder(&g.elem, params, bounds),
        _ => false,
    }
}

/// The fields of a struct; `None` (with an error) for an enum or a union.
fn struct_fields<'a>(cx: &Ctxt, item: &'a syn::DeriveInput) -> Option<&'a syn::Fields> {
    match &item.data {
        syn::Data::Struct(data) => Some(&data.fields),
        syn::Data::Enum(data) => {
            cx.error_spanned_by(
                data.enum_token,
                "`Differentiable` can be derived for structs only; an enum has no fixed set of floats to differentiate. Put the floats in a struct",
            );
            None
        }
        syn::Data::Union(data) => {
            cx.error_spanned_by(
                data.union_token,
                "`Differentiable` can be derived for structs only, not unions",
            );
            None
        }
    }
}

/// The fields to differentiate (their members and types) and those carried along (their
/// members), in declaration order.
fn partition_fields<'a>(
    cx: &Ctxt,
    fields: &'a syn::Fields,
) -> (Vec<(TokenStream, &'a syn::Type)>, Vec<TokenStream>) {
    let mut differentiable = Vec::new();
    let mut carried = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        let member = member(index, field);
        if skipped(cx, field) || carried_type(&field.ty) {
            carried.push(member);
        } else {
            differentiable.push((member, &field.ty));
        }
    }
    (differentiable, carried)
}

/// How the struct's field `index` is named: `w`, or `0` for a tuple struct's.
fn member(index: usize, field: &syn::Field) -> TokenStream {
    match &field.ident {
        Some(ident) => quote!(#ident),
        None => {
            let index = syn::Index {
                index: index as u32,
                span: field.span(),
            };
            quote!(#index)
        }
    }
}

/// `impl Differentiable` and `impl Grad` for the struct.
fn impls(
    item: &syn::DeriveInput,
    differentiable: &[(TokenStream, &syn::Type)],
    carried: &[TokenStream],
) -> TokenStream {
    let name = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let core = quote!(::autodiff_core);
    // One bound per differentiable field, at the field's type: a field that is not
    // `Differentiable` is one error there, and generic structs get the bounds they need.
    let mut predicates: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    predicates.extend(
        differentiable
            .iter()
            .map(|(_, ty)| quote::quote_spanned!(ty.span()=> #ty: #core::Differentiable)),
    );
    // `Differentiable: Clone`, which `[T; 3]: Differentiable` does not give rustc for a
    // generic struct's `derive(Clone)` (that needs `T: Clone`).
    if !item.generics.params.is_empty() {
        predicates.push(quote!(Self: ::core::clone::Clone));
    }
    let d: Vec<&TokenStream> = differentiable.iter().map(|(m, _)| m).collect();
    let zero_fields = d
        .iter()
        .map(|m| quote!(#m: #core::Differentiable::zero_like(&self.#m)));
    let copied = carried
        .iter()
        .map(|m| quote!(#m: ::core::clone::Clone::clone(&self.#m)));
    quote! {
        #[automatically_derived]
        impl #impl_generics #core::Differentiable for #name #ty_generics where #(#predicates,)* {
            fn zero_like(&self) -> Self {
                Self { #(#zero_fields,)* #(#copied,)* }
            }
            fn for_each(&self, f: &mut impl ::core::ops::FnMut(f64)) {
                #(#core::Differentiable::for_each(&self.#d, f);)*
            }
            fn for_each_mut(&mut self, f: &mut impl ::core::ops::FnMut(&mut f64)) {
                #(#core::Differentiable::for_each_mut(&mut self.#d, f);)*
            }
            fn zip_mut(&mut self, other: &Self, f: &mut impl ::core::ops::FnMut(&mut f64, f64)) {
                #(#core::Differentiable::zip_mut(&mut self.#d, &other.#d, f);)*
            }
            fn __restore_carried(&self, grad: &mut Self) {
                #(::core::clone::Clone::clone_from(&mut grad.#carried, &self.#carried);)*
                #(#core::Differentiable::__restore_carried(&self.#d, &mut grad.#d);)*
            }
            fn __reset_like(&self, grad: &mut Self) {
                #(::core::clone::Clone::clone_from(&mut grad.#carried, &self.#carried);)*
                #(#core::Differentiable::__reset_like(&self.#d, &mut grad.#d);)*
            }
            fn __zero_carried_floats(&mut self) {
                // The floats of a skipped field, whatever its type (a float, an array, a
                // nested struct); a type without floats is left alone.
                #({
                    use #core::__private::{KeepSkipped as _, ZeroSkipped as _};
                    (&mut #core::__private::Skipped(&mut self.#carried)).zero_skipped();
                })*
                #(#core::Differentiable::__zero_carried_floats(&mut self.#d);)*
            }
        }

        #[automatically_derived]
        impl #impl_generics #core::__private::Grad for #name #ty_generics where Self: #core::Differentiable {
            type Grad = Self;
            fn zero_grad(&self) -> Self {
                #core::Differentiable::zero_like(self)
            }
            fn reset_grad(&self, grad: &mut Self) {
                #core::Differentiable::__reset_like(self, grad);
            }
            fn restore_carried(&self, grad: &mut Self) {
                #core::Differentiable::__restore_carried(self, grad);
            }
        }
    }
}

/// `#[differentiable(skip)]`.
fn skipped(cx: &Ctxt, field: &syn::Field) -> bool {
    let mut skip = false;
    for attr in &field.attrs {
        if !attr.path().is_ident("differentiable") {
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else {
                Err(meta.error(
                    "unknown option; `#[differentiable(skip)]` marks a field as not differentiated",
                ))
            }
        });
        if let Err(err) = result {
            cx.push(err);
        }
    }
    skip
}

/// Collections carried along when every type they hold is (`Vec<usize>`, index data).
const CARRIED_COLLECTIONS: &[&str] = &[
    "Vec", "VecDeque", "Box", "Rc", "Arc", "HashMap", "HashSet", "BTreeMap", "BTreeSet",
];

fn carried_type(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(path) => path.path.segments.last().is_some_and(|s| {
            if CARRIED.iter().any(|name| s.ident == name) {
                return true;
            }
            let syn::PathArguments::AngleBracketed(args) = &s.arguments else {
                return false;
            };
            CARRIED_COLLECTIONS.iter().any(|name| s.ident == name)
                && args.args.iter().all(|arg| match arg {
                    syn::GenericArgument::Type(ty) => carried_type(ty),
                    _ => true,
                })
        }),
        syn::Type::Reference(_) => true,
        syn::Type::Array(a) => carried_type(&a.elem),
        syn::Type::Slice(s) => carried_type(&s.elem),
        syn::Type::Tuple(t) => !t.elems.is_empty() && t.elems.iter().all(carried_type),
        syn::Type::Paren(p) => carried_type(&p.elem),
        syn::Type::Group(g) => carried_type(&g.elem),
        _ => false,
    }
}
