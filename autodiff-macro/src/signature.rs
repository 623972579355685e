//! Checks of the function's signature, and what each parameter and the return value are to the
//! derivative.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, ReturnType, Type};

use crate::ctxt::Ctxt;
use crate::options::Options;

#[derive(Clone)]
pub struct Signature {
    pub ident: Ident,
    pub params: Vec<Param>,
    /// What is returned, when it can be differentiated.
    pub output: Option<OutputType>,
    /// The generic parameters of the `impl` around a method, when `#[differentiate]` is on the
    /// `impl` too: the backward sweep's type captures them.
    pub impl_generics: Vec<syn::GenericParam>,
    /// A type parameter bounded by a float trait (`T: num_traits::Float`): generated code writes
    /// its constants through `Real` instead of as float literals.
    pub generic_float: Option<Ident>,
}

#[derive(Clone)]
pub struct Param {
    /// The parameter's name; a generated one for `_`.
    pub ident: Ident,
    pub ty: Type,
    pub kind: ParamKind,
    /// Declared `mut`: the body may write to it.
    pub mutable: bool,
    /// Whether the gradient has an entry for this parameter.
    pub active: bool,
    /// The tangent of parameter `k` in forward mode: shaped like it.
    pub tangent_of: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// `f32` or `f64`.
    Float,
    /// `[T; N]`, `[[T; M]; N]`, by value or by shared reference; `dims` indices per element.
    Array { dims: usize, by_ref: bool },
    /// `&[T]`, `&Vec<T>` or `Vec<T>`, where `T` is a float, or an array or `Vec` of them
    /// (`&[[f64; 3]]`, `&[Vec<f64>]`); `dims` indices per element.
    Slice { dims: usize, owned: bool },
    /// A struct (`&Model`, `Model`, `&self`), differentiated through `Differentiable`.
    Struct { by_ref: bool },
    /// Anything else: integers, `bool`, other types. Never differentiated.
    Other,
}

#[derive(Clone)]
pub struct OutputType {
    pub ty: Type,
    /// An array (`dims` indices) or a `Vec` (`true`).
    pub array: Option<(usize, bool)>,
    /// `f32` or `f64`: the function gets `_grad` and `_grad_into` as well as `_pullback`.
    pub scalar: bool,
}

/// `fn f(x: f64, v: &[f64], n: usize) -> f64` without `wrt` → `x` and `v` active.
pub fn check(cx: &Ctxt, sig: &syn::Signature, options: &Options) -> Signature {
    let ident = sig.ident.clone();
    if let Some(token) = &sig.asyncness {
        cx.error_spanned_by(
            token,
            "`async fn` cannot be differentiated; differentiate a synchronous function and call it from async code",
        );
    }
    if let syn::Safety::Unsafe(token) = &sig.safety {
        cx.error_spanned_by(
            token,
            "`unsafe fn` cannot be differentiated; keep the unsafe code in a function without `#[differentiate]`",
        );
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "variadic functions cannot be differentiated");
    }

    let mut params = Vec::new();
    let mut any_rejected = false;
    for (index, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(receiver) => params.push(receiver_param(cx, receiver, options)),
            FnArg::Typed(pat_type) => {
                let (param, rejected) = typed_param(cx, pat_type, index, sig, options);
                // A rejected parameter takes no part in the rest, so its error is the only one.
                any_rejected |= rejected;
                params.push(param);
            }
        }
    }

    match &options.wrt {
        Some(wrt) => check_wrt(cx, wrt, &mut params),
        None if params.iter().all(|p| p.kind == ParamKind::Other)
            && sig.receiver().is_none()
            && !any_rejected =>
        {
            cx.error_spanned_by(
                &sig.ident,
                "this function has no parameter to differentiate; `#[differentiate]` differentiates with respect to `f32`/`f64` parameters and arrays, slices and `Vec`s of them",
            )
        }
        None => {}
    }

    let output = check_output(cx, sig);

    Signature {
        ident,
        params,
        output,
        impl_generics: Vec::new(),
        generic_float: generic_float_param(&sig.generics).cloned(),
    }
}

/// `self` or `&self`; other receivers are reported.
fn receiver_param(cx: &Ctxt, receiver: &syn::Receiver, options: &Options) -> Param {
    let by_ref = match &receiver.kind {
        syn::ReceiverKind::Value => false,
        syn::ReceiverKind::Reference(_, _, None) => true,
        syn::ReceiverKind::Reference(_, _, Some(_)) => {
            cx.error_spanned_by(
                receiver,
                "methods with `&mut self` cannot be differentiated; take `&self` and return the result",
            );
            true
        }
        _ => {
            cx.error_spanned_by(
                receiver,
                "only `&self` and `self` receivers can be differentiated",
            );
            true
        }
    };
    let ty: Type = if by_ref {
        syn::parse_quote!(&Self)
    } else {
        syn::parse_quote!(Self)
    };
    Param {
        ident: Ident::new("self", receiver.self_token.span),
        ty,
        kind: ParamKind::Struct { by_ref },
        mutable: receiver.mutability.is_some(),
        active: options.wrt.is_none(),
        tangent_of: None,
    }
}

/// A typed parameter, and whether it is rejected (reported here).
fn typed_param(
    cx: &Ctxt,
    pat_type: &syn::PatType,
    index: usize,
    sig: &syn::Signature,
    options: &Options,
) -> (Param, bool) {
    let (ident, mutable, mut rejected) = param_ident(cx, &pat_type.pat, index);
    let ty = (*pat_type.ty).clone();
    if let Type::Reference(reference) = &ty {
        if reference.mutability.is_some() {
            cx.error_spanned_by(
                reference,
                "`&mut` parameters cannot be differentiated; take the value (or a shared reference) and return the result",
            );
            rejected = true;
        }
    }
    let kind = if rejected {
        ParamKind::Other
    } else {
        param_kind(&ty, &sig.generics)
    };
    let param = Param {
        ident,
        ty,
        active: kind != ParamKind::Other && options.wrt.is_none(),
        kind,
        mutable,
        tangent_of: None,
    };
    (param, rejected)
}

/// The output's type: a float, a tuple, array or `Vec` of floats, or a `Differentiable` struct;
/// anything else is reported.
fn check_output(cx: &Ctxt, sig: &syn::Signature) -> Option<OutputType> {
    let t = generic_float_param(&sig.generics);
    match &sig.output {
        ReturnType::Type(_, ty) if is_float(ty, t) => Some(OutputType {
            ty: (**ty).clone(),
            scalar: true,
            array: None,
        }),
        ReturnType::Type(_, ty) if float_aggregate(ty, t) => Some(OutputType {
            ty: (**ty).clone(),
            scalar: false,
            array: float_array_dims(ty, t)
                .map(|dims| (dims, false))
                .or_else(|| {
                    vec_elem(ty)
                        .is_some_and(|e| is_float(e, t))
                        .then_some((1, true))
                }),
        }),
        // A `Differentiable` struct: its pullback takes a seed of the same type.
        ReturnType::Type(_, ty) if matches!(strip(ty), Type::Path(p) if p.qself.is_none() && user_struct(&p.path, &sig.generics)) => {
            Some(OutputType {
                ty: (**ty).clone(),
                scalar: false,
                array: None,
            })
        }
        ReturnType::Type(_, ty) => {
            let alias = matches!(strip(ty), Type::Path(p) if p.path.get_ident().is_some_and(|i| i.to_string().starts_with(char::is_uppercase)));
            let hint = if alias {
                "; type aliases are not seen through, so write `f64` or `f32` itself"
            } else if matches!(strip(ty), Type::Reference(_)) {
                // `fn row(a: &[f64], i: usize, n: usize) -> &[f64]`
                "; a reference it returns (a row of a flat matrix) has no derivative of its own: slice where it is used (`&a[i * n..(i + 1) * n]`), or return the bounds (`fn bounds(i: usize, n: usize) -> (usize, usize)`, then `let (lo, hi) = bounds(i, n); &a[lo..hi]`)"
            } else {
                ""
            };
            cx.error_spanned_by(
                ty,
                format!("`#[differentiate]` needs a function that returns `f32` or `f64`, an array of them (`[f64; 3]`, `[[f64; 2]; 2]`), a `Vec<f64>`, a tuple of those, or a `Differentiable` struct (not a `Vec` of arrays or of `Vec`s); the derivative is taken of that value{hint}"),
            );
            None
        }
        ReturnType::Default => {
            cx.error_spanned_by(
                &sig.ident,
                "`#[differentiate]` needs a function that returns `f32` or `f64`; this one returns nothing",
            );
            None
        }
    }
}

fn check_wrt(cx: &Ctxt, wrt: &[Ident], params: &mut [Param]) {
    for name in wrt {
        match params.iter_mut().find(|p| p.ident == *name) {
            None => {
                let names: Vec<String> = params.iter().map(|p| format!("`{}`", p.ident)).collect();
                cx.error_spanned_by(
                    name,
                    format!(
                        "`wrt` names `{name}`, but the function has no parameter `{name}`; its parameters are {}",
                        names.join(", ")
                    ),
                )
            }
            Some(param) if param.kind == ParamKind::Other => {
                let ty = &param.ty;
                cx.error_spanned_by(
                    name,
                    format!(
                        "`{name}` has type `{}`, which has no derivative; `wrt` can name parameters of type `f32`, `f64`, or arrays, slices and `Vec`s of them",
                        quote!(#ty).to_string().replace(' ', "")
                    ),
                );
            }
            Some(param) if param.active => {
                cx.error_spanned_by(name, format!("`wrt` names `{name}` twice"))
            }
            Some(param) => param.active = true,
        }
    }
}

/// The parameter's name, whether it is `mut`, and whether its pattern was rejected.
fn param_ident(cx: &Ctxt, pat: &Pat, index: usize) -> (Ident, bool, bool) {
    match pat {
        Pat::Ident(pat_ident) if pat_ident.by_ref.is_none() && pat_ident.subpat.is_none() => (
            pat_ident.ident.clone(),
            pat_ident.mutability.is_some(),
            false,
        ),
        Pat::Wild(wild) => (
            Ident::new(&format!("_arg{index}"), wild.span()),
            false,
            false,
        ),
        _ => {
            cx.error_spanned_by(
                pat,
                "parameter patterns are not supported; bind the parameter to a name and destructure it in the body",
            );
            (
                Ident::new(&format!("_arg{index}"), Span::call_site()),
                false,
                true,
            )
        }
    }
}

/// Standard types with a name in upper case that have no derivative.
const NOT_DIFFERENTIABLE: &[&str] = &[
    "String", "Duration", "Instant", "Path", "PathBuf", "Ordering",
];

/// Generic standard types that have no derivative: written with their arguments
/// (`Cell<f64>`, `Range<usize>`); a struct of the user's may have the name (an RNN's `Cell`).
const NOT_DIFFERENTIABLE_GENERIC: &[&str] = &[
    "Option",
    "Result",
    "Box",
    "Rc",
    "Arc",
    "Cell",
    "RefCell",
    "HashMap",
    "BTreeMap",
    "HashSet",
    "BTreeSet",
    "VecDeque",
    "PhantomData",
    "Range",
    "RangeInclusive",
    "Vec",
];

fn param_kind(ty: &Type, generics: &syn::Generics) -> ParamKind {
    let ty = strip(ty);
    let t = generic_float_param(generics);
    if is_float(ty, t) {
        return ParamKind::Float;
    }
    let (ty, by_ref) = match ty {
        Type::Reference(reference) if reference.mutability.is_none() => {
            (strip(&reference.elem), true)
        }
        _ => (ty, false),
    };
    if let Some(dims) = float_array_dims(ty, t) {
        return ParamKind::Array { dims, by_ref };
    }
    // `&[T]`, `Vec<T>`, `&Vec<T>` of floats or arrays of floats: one index more than `T` has.
    let elem = match ty {
        Type::Slice(slice) if by_ref => Some(&*slice.elem),
        _ => vec_elem(ty),
    };
    let elem_dims = elem.and_then(|elem| element_dims(elem, t).map(|d| d + 1));
    if let Some(dims) = elem_dims {
        return ParamKind::Slice {
            dims,
            owned: !by_ref,
        };
    }
    match ty {
        Type::Path(path) if path.qself.is_none() && user_struct(&path.path, generics) => {
            ParamKind::Struct { by_ref }
        }
        _ => ParamKind::Other,
    }
}

/// The type parameter bounded by a float trait (`Float`, `FloatCore`, `Real`), inline or in the
/// `where` clause.
pub fn generic_float_param(generics: &syn::Generics) -> Option<&Ident> {
    let float_bound = |bound: &syn::TypeParamBound| match bound {
        syn::TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| {
            matches!(s.ident.to_string().as_str(), "Float" | "FloatCore" | "Real")
        }),
        _ => false,
    };
    generics
        .type_params()
        .find(|param| {
            param.bounds.iter().any(float_bound)
                || generics.where_clause.as_ref().is_some_and(|w| {
                    w.predicates.iter().any(|p| match p {
                        syn::WherePredicate::Type(t) => {
                            matches!(&t.bounded_ty, Type::Path(path) if path.path.is_ident(&param.ident))
                                && t.bounds.iter().any(float_bound)
                        }
                        _ => false,
                    })
                })
        })
        .map(|param| &param.ident)
}

/// A type named in upper case that is neither a standard type nor a type parameter: a struct
/// of the user's, assumed `Differentiable` (rustc checks it).
fn user_struct(path: &syn::Path, generics: &syn::Generics) -> bool {
    let Some(last) = path.segments.last() else {
        return false;
    };
    let name = last.ident.to_string();
    let type_param =
        generics.type_params().any(|p| p.ident == last.ident) && path.segments.len() == 1;
    let generic_std = NOT_DIFFERENTIABLE_GENERIC.contains(&name.as_str())
        && !matches!(last.arguments, syn::PathArguments::None);
    name.starts_with(char::is_uppercase)
        && !NOT_DIFFERENTIABLE.contains(&name.as_str())
        && !generic_std
        && !type_param
}

fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Paren(paren) => strip(&paren.elem),
        Type::Group(group) => strip(&group.elem),
        _ => ty,
    }
}

/// Whether a function belongs to an `impl`, as far as it shows: it has a receiver, or its
/// signature or body (outside items nested in it) mentions `Self`. Its generated functions are
/// then called as `Self::name`.
pub fn is_associated(item: &syn::ItemFn) -> bool {
    fn mentions_self(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => ident == "Self",
            proc_macro2::TokenTree::Group(group) => mentions_self(group.stream()),
            _ => false,
        })
    }
    let sig = &item.sig;
    let (inputs, output, generics) = (&sig.inputs, &sig.output, &sig.generics);
    let where_clause = &generics.where_clause;
    sig.receiver().is_some()
        || mentions_self(quote!(#inputs #output #generics #where_clause))
        || item
            .block
            .stmts
            .iter()
            .filter(|stmt| !matches!(stmt, syn::Stmt::Item(_)))
            .any(|stmt| mentions_self(quote!(#stmt)))
}

/// `f32` or `f64`, possibly in parentheses.
pub fn float_type(ty: &Type) -> bool {
    match strip(ty) {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .get_ident()
            .is_some_and(|ident| ident == "f64" || ident == "f32"),
        _ => false,
    }
}

/// `f32`, `f64`, or the generic float type `t`.
pub fn is_float(ty: &Type, t: Option<&Ident>) -> bool {
    float_type(ty)
        || matches!(strip(ty), Type::Path(path) if t.is_some_and(|t| path.path.is_ident(t)))
}

/// `[f64; N]` → 1, `[[f64; M]; N]` → 2 (`T` for `f64` with the generic float type `t`).
fn float_array_dims(ty: &Type, t: Option<&Ident>) -> Option<usize> {
    match strip(ty) {
        Type::Array(array) if is_float(&array.elem, t) => Some(1),
        Type::Array(array) => float_array_dims(&array.elem, t).map(|d| d + 1),
        _ => None,
    }
}

/// The indices an element of a slice or `Vec` takes: 0 for a float, one more for each array or
/// `Vec` around it (`[f64; 3]`, `Vec<f64>`: 1).
fn element_dims(ty: &Type, t: Option<&Ident>) -> Option<usize> {
    if is_float(ty, t) {
        return Some(0);
    }
    match strip(ty) {
        Type::Array(array) => element_dims(&array.elem, t).map(|d| d + 1),
        ty => vec_elem(ty)
            .and_then(|elem| element_dims(elem, t))
            .map(|d| d + 1),
    }
}

/// `Vec<T>` → `T`.
fn vec_elem(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = strip(ty) else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != "Vec" {
        return None;
    }
    match &last.arguments {
        syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => match &args.args[0] {
            syn::GenericArgument::Type(elem) => Some(elem),
            _ => None,
        },
        _ => None,
    }
}

/// A tuple, array or `Vec` whose leaves are floats.
fn float_aggregate(ty: &Type, t: Option<&Ident>) -> bool {
    match strip(ty) {
        Type::Tuple(tuple) => {
            !tuple.elems.is_empty()
                && tuple
                    .elems
                    .iter()
                    .all(|e| is_float(e, t) || float_aggregate(e, t))
        }
        _ => float_array_dims(ty, t).is_some() || vec_elem(ty).is_some_and(|e| is_float(e, t)),
    }
}

impl Param {
    /// `self`, `&self`.
    pub fn is_receiver(&self) -> bool {
        self.ident == "self"
    }

    /// A shared reference (`&[f64]`, `&Config`): the pullback takes it again rather than keep
    /// a borrow of the caller's data.
    pub fn by_ref(&self) -> bool {
        matches!(strip(&self.ty), Type::Reference(_))
    }

    /// A shared reference (`&[usize]`), not `&mut`: what it points to stays as it is.
    pub fn shared_ref(&self) -> bool {
        matches!(strip(&self.ty), Type::Reference(r) if r.mutability.is_none())
    }

    /// The type of this parameter's entry in the gradient: `f64`, `[f64; N]`, `Vec<f64>`.
    pub fn grad_type(&self) -> TokenStream {
        let ty = strip(&self.ty);
        match (&self.kind, ty) {
            (ParamKind::Float, _) => quote!(#ty),
            (ParamKind::Array { by_ref: true, .. }, Type::Reference(r)) => {
                let elem = strip(&r.elem);
                quote!(#elem)
            }
            (ParamKind::Array { .. }, _) => quote!(#ty),
            (ParamKind::Slice { .. }, _) => {
                let elem = self.elem_type();
                quote!(::std::vec::Vec<#elem>)
            }
            (ParamKind::Struct { by_ref: true }, Type::Reference(r)) => {
                let elem = strip(&r.elem);
                quote!(#elem)
            }
            (ParamKind::Struct { .. }, _) => quote!(#ty),
            (ParamKind::Other, _) => quote!(()),
        }
    }

    /// The type the pullback adds this parameter's adjoint into: `f64`, `[f64; N]`, `[f64]`.
    pub fn slot_target_type(&self) -> TokenStream {
        match &self.kind {
            ParamKind::Slice { .. } => {
                let elem = self.elem_type();
                quote!([#elem])
            }
            _ => self.grad_type(),
        }
    }

    /// The float type of the elements of a slice or `Vec` parameter.
    fn elem_type(&self) -> Type {
        let ty = match strip(&self.ty) {
            Type::Reference(r) => strip(&r.elem),
            ty => ty,
        };
        match ty {
            Type::Slice(slice) => (*slice.elem).clone(),
            ty => vec_elem(ty).cloned().unwrap_or_else(|| ty.clone()),
        }
    }
}

impl Signature {
    pub fn active_params(&self) -> impl Iterator<Item = (usize, &Param)> {
        self.params.iter().enumerate().filter(|(_, p)| p.active)
    }
}
