//! The `#[differentiate]` attribute of [autodiff](https://docs.rs/autodiff-core). Depend on
//! `autodiff-core`, which re-exports it and holds the runtime pieces the generated code calls.
//!
//! The stages, in data-flow order, are one file each: `options` (the attribute's arguments),
//! `signature` (checks of the signature), `lower` (the body into the IR of `ir`), `analysis`
//! (activity), `reverse` (the backward sweep, from the rules of `rules`), `codegen` (Rust
//! tokens). `expand` drives them; see ARCHITECTURE.md.

mod analysis;
mod cfg;
mod codegen;
mod ctxt;
mod derive;
mod expand;
#[cfg(test)]
mod fuzz;
mod ir;
mod lower;
mod options;
mod reverse;
mod rules;
mod signature;
#[cfg(test)]
mod snapshots;
mod tangent;

/// Differentiates a function; see `autodiff_core::differentiate` for the documentation.
#[proc_macro_attribute]
pub fn differentiate(
    args: proc_macro::TokenStream,
    input: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    // `AUTODIFF_TIMING=1 cargo build` reports the macro's own time per function.
    let start = std::env::var_os("AUTODIFF_TIMING").map(|_| std::time::Instant::now());
    let input = proc_macro2::TokenStream::from(input);
    let output =
        expand::catch_internal_errors(input.clone(), || expand::differentiate(args.into(), input));
    if let Some(start) = start {
        eprintln!(
            "#[differentiate]: {:?} for {} output tokens",
            start.elapsed(),
            output.clone().into_iter().count()
        );
    }
    output.into()
}

/// Derives `Differentiable`; see `autodiff_core::Differentiable` for the documentation.
#[proc_macro_derive(Differentiable, attributes(differentiable))]
pub fn derive_differentiable(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let input = proc_macro2::TokenStream::from(input);
    expand::catch_internal_errors(proc_macro2::TokenStream::new(), || derive::derive(input)).into()
}
