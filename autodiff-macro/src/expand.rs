//! The driver: runs the stages in order and reports every error of the function at once.
//!
//! options → signature checks → lowering to IR → activity analysis → reverse pass → codegen.
//! The user's function is always emitted unchanged; on errors, the generated items are emitted
//! as signatures only (see [`codegen::fallback`]) so that one mistake gives one error.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use syn::ReturnType;

use crate::{analysis, cfg, codegen, ir, lower, options, reverse, signature, tangent};

pub fn differentiate(args: TokenStream, input: TokenStream) -> TokenStream {
    match syn::parse2::<syn::Item>(input.clone()) {
        Ok(syn::Item::Fn(item)) => differentiate_fn(args, item, input, &syn::Generics::default()),
        Ok(syn::Item::Impl(impl_)) if args.is_empty() => differentiate_impl(impl_),
        Ok(syn::Item::Impl(impl_)) => {
            let error = syn::Error::new_spanned(
                &args,
                "`#[differentiate]` on an `impl` block takes no options; put them on the methods (`#[differentiate(hessian)] fn ..`)",
            )
            .to_compile_error();
            let impl_ = differentiate_impl(impl_);
            quote!(#impl_ #error)
        }
        _ => differentiate_fn(
            args,
            syn::parse_quote!(
                fn __autodiff_not_a_fn() {}
            ),
            input,
            &syn::Generics::default(),
        ),
    }
}

/// `#[differentiate] impl<..> T<..> { #[differentiate] fn f(&self, ..) .. }`: the methods marked
/// `#[differentiate]` are differentiated knowing the `impl`'s generic parameters, which the
/// generated backward sweep's type must name (a method-level attribute cannot see them).
fn differentiate_impl(mut impl_: syn::ItemImpl) -> TokenStream {
    if let Some((path, _)) = &impl_.trait_ {
        let error = syn::Error::new_spanned(
            path,
            "the items `#[differentiate]` generates are not the trait's, so they cannot go in a trait `impl`; differentiate the method in an inherent `impl` (`impl Spring { #[differentiate] fn .. }`) and call it from the trait's method",
        )
        .to_compile_error();
        // The methods kept as written, without the attribute that would generate them.
        for item in &mut impl_.items {
            if let syn::ImplItem::Fn(method) = item {
                method.attrs.retain(|attr| !is_differentiate(attr));
            }
        }
        return quote!(#impl_ #error);
    }
    let items = std::mem::take(&mut impl_.items);
    let marked = items.iter().any(|item| {
        matches!(item, syn::ImplItem::Fn(method) if method.attrs.iter().any(is_differentiate))
    });
    if !marked {
        let error = syn::Error::new_spanned(
            impl_.impl_token,
            "`#[differentiate]` on an `impl` differentiates the methods marked `#[differentiate]` inside it, and none is; mark the methods to differentiate",
        )
        .to_compile_error();
        impl_.items = items;
        return quote!(#impl_ #error);
    }
    for item in items {
        let syn::ImplItem::Fn(mut method) = item else {
            impl_.items.push(item);
            continue;
        };
        let Some(position) = method.attrs.iter().position(is_differentiate) else {
            impl_.items.push(syn::ImplItem::Fn(method));
            continue;
        };
        let attr = method.attrs.remove(position);
        let args = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            _ => TokenStream::new(),
        };
        let item = syn::ItemFn {
            attrs: method.attrs,
            vis: method.vis,
            modifiers: method.modifiers,
            sig: method.sig,
            block: Box::new(method.block),
        };
        let input = quote!(#item);
        // The method and the items generated for it, as the `impl`'s items.
        let generated = differentiate_fn(args, item, input, &impl_.generics);
        impl_.items.push(syn::ImplItem::Verbatim(generated));
    }
    quote!(#impl_)
}

/// `#[differentiate]` or `#[autodiff_core::differentiate(..)]`.
fn is_differentiate(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "differentiate")
}

fn differentiate_fn(
    args: TokenStream,
    item: syn::ItemFn,
    input: TokenStream,
    impl_generics: &syn::Generics,
) -> TokenStream {
    let cx = Ctxt::new();
    let options = options::parse(&cx, args);
    let item = match syn::parse2::<syn::Item>(input.clone()) {
        Ok(syn::Item::Fn(_)) => item,
        Ok(item) => {
            cx.error_at(
                item_keyword_span(&item),
                format!(
                    "`#[differentiate]` applies to functions, not to {}; put it on a `fn` that returns `f32` or `f64`",
                    item_kind(&item)
                ),
            );
            return with_errors(input, cx);
        }
        Err(err) => {
            cx.push(err);
            return with_errors(input, cx);
        }
    };

    // A second `#[differentiate]` would generate every item again.
    if let Some(again) = item.attrs.iter().find(|attr| {
        attr.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "differentiate")
    }) {
        cx.error_spanned_by(
            again,
            "`#[differentiate]` is applied twice to this function; remove one (options go in one attribute: `#[differentiate(wrt(x), ..)]`)",
        );
        return with_errors(input, cx);
    }
    // A method of a generic `impl` marked alone: the `impl`'s parameters are unknown here, and
    // the generated items would fail with errors of rustc's that do not say why.
    if impl_generics.params.is_empty() && item.sig.receiver().is_some() {
        if let Some(param) = impl_type_param(&item.sig) {
            cx.error_spanned_by(
                &param,
                format!(
                    "`{param}` looks like a type parameter of the `impl` block, which `#[differentiate]` on a method cannot see; put `#[differentiate]` on the `impl` instead (`#[differentiate] impl<{param}: Float> ..`), which differentiates its methods marked `#[differentiate]`"
                ),
            );
            return with_errors(input, cx);
        }
    }
    // The signature is read knowing the `impl`'s type parameters too (`x: T` of an
    // `impl<T: Float>` is a float, not a struct).
    let mut checked = item.sig.clone();
    let own = std::mem::take(&mut checked.generics.params);
    checked.generics.params = impl_generics.params.iter().cloned().chain(own).collect();
    if let Some(outer) = &impl_generics.where_clause {
        let clause = checked.generics.make_where_clause();
        clause.predicates.extend(outer.predicates.iter().cloned());
    }
    let mut sig = signature::check(&cx, &checked, &options);
    sig.impl_generics = impl_generics.params.iter().cloned().collect();
    if let Some(pullback) = &options.pullback {
        return custom_derivative(cx, &item, &sig, &options, pullback);
    }
    // A function that changes its `&mut` parameters is rejected whole (reported above); its
    // body's assignments to them would only repeat that, as errors of their own.
    let mutates = item.sig.inputs.iter().any(|input| match input {
        syn::FnArg::Receiver(r) => matches!(r.kind, syn::ReceiverKind::Reference(_, _, Some(_))),
        syn::FnArg::Typed(t) => matches!(&*t.ty, syn::Type::Reference(r) if r.mutability.is_some()),
    });
    if mutates {
        let fallback = codegen::fallback(&item, &sig);
        return with_errors(quote!(#item #fallback), cx);
    }
    // One version per combination of the `#[cfg]` predicates of the body (usually one), each
    // gated by its combination.
    let mut versions = Vec::new();
    for variant in cfg::variants(&cx, &item.block) {
        let mut item = item.clone();
        item.block = Box::new(variant.body);
        if let Some(predicate) = &variant.predicate {
            item.attrs.push(syn::parse_quote!(#[cfg(#predicate)]));
        }
        let function = lower::lower(&cx, &sig, &item.block);
        let activity = analysis::analyze(&cx, &function, &sig);
        let forward = options
            .jvp
            .then(|| forward_mode(&cx, &item, &sig, &function, &activity, options.hessian))
            .flatten();
        versions.push((item, function, activity, forward));
    }
    if cx.has_errors() || versions.is_empty() {
        let fallback = codegen::fallback(&item, &sig);
        return with_errors(quote!(#item #fallback), cx);
    }
    let mut generated = TokenStream::new();
    for (version, function, activity, forward) in &versions {
        let backward = reverse::reverse(function, activity);
        print_ir(&item.sig.ident, function, &backward, forward.as_ref());
        generated.extend(codegen::generate(&codegen::Input {
            item: version,
            sig: &sig,
            function,
            activity,
            backward: &backward,
        }));
        if let Some(forward) = forward {
            generated.extend(forward.generate(version, &sig));
        }
        generated.extend(codegen::missing_modes(
            version,
            &sig,
            options.jvp,
            options.hessian,
            None,
            false,
        ));
    }
    cx.check().expect("no errors were recorded");
    // Users often call only the generated functions; the original is their family's root.
    quote!(#[allow(dead_code)] #item #generated)
}

/// A function with a derivative the user wrote (`pullback = ..`): the body is not
/// differentiated.
fn custom_derivative(
    cx: Ctxt,
    item: &syn::ItemFn,
    sig: &signature::Signature,
    options: &options::Options,
    pullback: &syn::ExprPath,
) -> TokenStream {
    let generated_name = format!("{}_pullback", item.sig.ident);
    if pullback
        .path
        .segments
        .last()
        .is_some_and(|s| s.ident == generated_name)
    {
        cx.error_spanned_by(
            pullback,
            format!(
                "`{generated_name}` is the name `#[differentiate]` gives the function it generates; give the derivative another name, such as `{}_derivative`",
                item.sig.ident
            ),
        );
    }
    if cx.has_errors() {
        let fallback = codegen::fallback(item, sig);
        return with_errors(quote!(#item #fallback), cx);
    }
    if options.hessian {
        cx.error_spanned_by(
            pullback,
            "`hessian` differentiates the body twice, and a function with a custom derivative has its derivative from `pullback` instead; remove `hessian`, or remove `pullback` to differentiate the body",
        );
        let fallback = codegen::fallback(item, sig);
        return with_errors(quote!(#item #fallback), cx);
    }
    let mut generated = codegen::custom(item, sig, pullback);
    generated.extend(codegen::missing_modes(
        item,
        sig,
        options.jvp,
        false,
        options.custom_jvp.as_ref(),
        true,
    ));
    cx.check().expect("no errors were recorded");
    quote!(#[allow(dead_code)] #item #generated)
}

/// `AUTODIFF_PRINT_IR=name cargo build` prints the IR of the functions called `name`, the plan
/// of their backward sweep and their forward-mode IR, to stderr: what to attach to a bug report,
/// and a way to see what the macro made of a body.
fn print_ir(
    ident: &syn::Ident,
    function: &ir::Function,
    backward: &reverse::Backward,
    forward: Option<&ForwardMode>,
) {
    if std::env::var("AUTODIFF_PRINT_IR").is_ok_and(|name| *ident == name) {
        eprintln!("{}", function.print());
        eprintln!("{}", ir::print::print_plan(function, backward));
        if let Some(forward) = forward {
            eprintln!("{}", forward.function.print());
        }
    }
}

/// The forward-mode function of one version of the body, and what generating from it needs.
struct ForwardMode {
    item: syn::ItemFn,
    function: ir::Function,
    jvp: Stage,
    /// For `hessian`: the reverse pass over the forward-mode function, for callers.
    full: Option<Stage>,
    /// For `hessian` on a scalar function: the same with the value passive, for `_hvp`.
    hvp: Option<(syn::ItemFn, ir::Function, Stage)>,
}

/// A signature, and the activity and backward sweep of a function under it.
type Stage = (signature::Signature, analysis::Activity, reverse::Backward);

/// `jvp` and `hessian`: the forward-mode transformation and, for a Hessian, the reverse pass
/// over its result.
fn forward_mode(
    cx: &Ctxt,
    item: &syn::ItemFn,
    sig: &signature::Signature,
    function: &ir::Function,
    activity: &analysis::Activity,
    hessian: bool,
) -> Option<ForwardMode> {
    let output = sig.output.as_ref()?;
    let ReturnType::Type(_, ty) = &item.sig.output else {
        return None;
    };
    if !output.scalar && output.array.is_none() && !matches!(**ty, syn::Type::Tuple(_)) {
        cx.error_spanned_by(
            ty,
            "forward mode (`jvp`, `hessian`) needs a function that returns `f32`/`f64`, or an array, `Vec` or tuple of them",
        );
        return None;
    }
    let active: Vec<bool> = sig.params.iter().map(|p| p.active).collect();
    let tangents = match tangent::transform(function, activity, &active, sig.generic_float.as_ref())
    {
        Ok(tangents) => tangents,
        Err(unsupported) => {
            cx.error_at(unsupported.span, unsupported.message);
            return None;
        }
    };
    let mut core = item.clone();
    core.sig.ident = codegen::tangent_ident(&item.sig.ident);
    let stage = |second_order: bool| {
        let sig = tangent::signature(
            sig,
            &tangents.tangent_params,
            core.sig.ident.clone(),
            second_order,
        );
        let activity = analysis::analyze(cx, &tangents.function, &sig);
        let backward = reverse::reverse(&tangents.function, &activity);
        (sig, activity, backward)
    };
    let jvp = stage(false);
    let full = hessian.then(|| stage(true));
    // `_hvp` seeds only the tangent: a variant in which the value is passive leaves out the
    // adjoints the zero seed of the value would give, and can interleave its sweeps.
    let hvp = match (&tangents.function.output, output.scalar && hessian) {
        (ir::Output::Tuple(parts), true) => {
            let mut function = tangents.function.clone();
            if let ir::Output::Operand(value) = &parts[0] {
                function.output =
                    ir::Output::Tuple(vec![ir::Output::Passive(value.clone()), parts[1].clone()]);
            }
            let mut item = core.clone();
            item.sig.ident = codegen::hvp_ident(&item.sig.ident);
            let sig =
                tangent::signature(sig, &tangents.tangent_params, item.sig.ident.clone(), true);
            let activity = analysis::analyze(cx, &function, &sig);
            let backward = reverse::reverse(&function, &activity);
            Some((item, function, (sig, activity, backward)))
        }
        _ => None,
    };
    Some(ForwardMode {
        item: core,
        function: tangents.function,
        jvp,
        full,
        hvp,
    })
}

impl ForwardMode {
    fn generate(&self, item: &syn::ItemFn, sig: &signature::Signature) -> TokenStream {
        fn input<'a>(
            item: &'a syn::ItemFn,
            function: &'a ir::Function,
            (sig, activity, backward): &'a Stage,
        ) -> codegen::Input<'a> {
            codegen::Input {
                item,
                sig,
                function,
                activity,
                backward,
            }
        }
        codegen::forward_modes(&codegen::Modes {
            item,
            sig,
            jvp: input(&self.item, &self.function, &self.jvp),
            full: self
                .full
                .as_ref()
                .map(|full| input(&self.item, &self.function, full)),
            hvp: self
                .hvp
                .as_ref()
                .map(|(item, function, stage)| input(item, function, stage)),
        })
    }
}

/// A panic inside the macro is a bug of ours, never the user's: report it as a compile error
/// (keeping `keep`, the user's item) instead of the compiler's "proc macro panicked".
pub fn catch_internal_errors(
    keep: TokenStream,
    expand: impl FnOnce() -> TokenStream,
) -> TokenStream {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(expand)) {
        Ok(tokens) => tokens,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown");
            let error = syn::Error::new(
                proc_macro2::Span::call_site(),
                format!(
                    "internal error in autodiff ({message}); this is a bug in autodiff, not in your code: please report it with this function"
                ),
            )
            .to_compile_error();
            quote!(#keep #error)
        }
    }
}

/// A name in the signature that is written like a float type parameter (`T` or `F`) but is
/// not the function's own. (Other single letters are often a struct's name: `struct Q`.)
fn impl_type_param(sig: &syn::Signature) -> Option<syn::Ident> {
    struct Find<'a> {
        own: &'a syn::Generics,
        found: Option<syn::Ident>,
    }
    impl<'ast> syn::visit::Visit<'ast> for Find<'_> {
        fn visit_type_path(&mut self, ty: &'ast syn::TypePath) {
            if let Some(ident) = ty.path.get_ident() {
                let name = ident.to_string();
                let own = self.own.type_params().any(|p| p.ident == *ident);
                if matches!(name.as_str(), "T" | "F") && !own {
                    self.found.get_or_insert_with(|| ident.clone());
                }
            }
            syn::visit::visit_type_path(self, ty);
        }
    }
    let mut find = Find {
        own: &sig.generics,
        found: None,
    };
    for input in &sig.inputs {
        syn::visit::Visit::visit_fn_arg(&mut find, input);
    }
    syn::visit::Visit::visit_return_type(&mut find, &sig.output);
    find.found
}

fn with_errors(tokens: TokenStream, cx: Ctxt) -> TokenStream {
    let errors = cx.check().err().map(|e| e.to_compile_error());
    quote!(#tokens #errors)
}

fn item_kind(item: &syn::Item) -> &'static str {
    match item {
        syn::Item::Struct(_) => "structs",
        syn::Item::Enum(_) => "enums",
        syn::Item::Union(_) => "unions",
        syn::Item::Impl(_) => "`impl` blocks",
        syn::Item::Trait(_) => "traits",
        syn::Item::Mod(_) => "modules",
        syn::Item::Const(_) => "constants",
        syn::Item::Static(_) => "statics",
        syn::Item::Type(_) => "type aliases",
        syn::Item::Use(_) => "`use` declarations",
        _ => "this item",
    }
}

/// The span of the item's keyword and name, where the error belongs.
fn item_keyword_span(item: &syn::Item) -> proc_macro2::Span {
    let ident = match item {
        syn::Item::Struct(s) => Some(&s.ident),
        syn::Item::Enum(e) => Some(&e.ident),
        syn::Item::Union(u) => Some(&u.ident),
        syn::Item::Trait(t) => Some(&t.ident),
        syn::Item::Mod(m) => Some(&m.ident),
        syn::Item::Const(c) => Some(&c.ident),
        syn::Item::Static(s) => Some(&s.ident),
        syn::Item::Type(t) => Some(&t.ident),
        _ => None,
    };
    match ident {
        Some(ident) => ident.span(),
        None => item.span(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The expansion of `#[differentiate(args)] item`, pretty-printed.
    pub(crate) fn expand(args: &str, item: &str) -> String {
        let args: TokenStream = args.parse().expect("arguments tokenize");
        let item: TokenStream = item.parse().expect("item tokenizes");
        let tokens = differentiate(args, item);
        let file: syn::File = syn::parse2(tokens.clone())
            .unwrap_or_else(|e| panic!("expansion does not parse: {e}\n{tokens}"));
        prettyplease::unparse(&file)
    }

    /// Prints the expansion of the function in the file `$EXPAND_SRC` (args in `$EXPAND_ARGS`):
    /// `EXPAND_SRC=f.rs cargo test -p autodiff-macro print_expansion -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn print_expansion() {
        let src = std::fs::read_to_string(std::env::var("EXPAND_SRC").unwrap()).unwrap();
        let args = std::env::var("EXPAND_ARGS").unwrap_or_default();
        println!("{}", expand(&args, &src));
    }

    /// How long the macro takes on a 200-line function with loops, branches and arrays:
    /// `cargo test --release -p autodiff-macro expansion_time -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn expansion_time_of_a_200_line_function() {
        let mut body = String::from("let mut s = 0.0;\nlet mut a = vec![0.0; x.len()];\n");
        for k in 0..49 {
            body.push_str(&format!(
                "for i in 0..x.len() {{\n    let t{k} = (x[i] * {k}.5).sin() + s / (1.0 + s * s);\n    if t{k} > 0.0 {{ a[i] = a[i] * t{k}; }} else {{ s += t{k}.exp(); }}\n}}\n"
            ));
        }
        body.push_str("s + a[0]\n");
        let src = format!("fn big(x: &[f64]) -> f64 {{\n{body}}}");
        assert!(src.lines().count() >= 200, "{} lines", src.lines().count());
        let item: TokenStream = src.parse().unwrap();
        let runs = 20;
        let start = std::time::Instant::now();
        for _ in 0..runs {
            std::hint::black_box(differentiate(TokenStream::new(), item.clone()));
        }
        let per_run = start.elapsed() / runs;
        println!("{} lines: {per_run:?} per expansion", src.lines().count());
        // Per stage.
        let t = std::time::Instant::now();
        let item: syn::ItemFn = syn::parse2(item).unwrap();
        let parse = t.elapsed();
        let cx = Ctxt::new();
        let sig = signature::check(&cx, &item.sig, &options::Options::default());
        let t = std::time::Instant::now();
        let function = lower::lower(&cx, &sig, &item.block);
        let lowering = t.elapsed();
        let t = std::time::Instant::now();
        let activity = analysis::analyze(&cx, &function, &sig);
        let analysis = t.elapsed();
        let t = std::time::Instant::now();
        let backward = reverse::reverse(&function, &activity);
        let reverse = t.elapsed();
        let t = std::time::Instant::now();
        let tokens = codegen::generate(&codegen::Input {
            item: &item,
            sig: &sig,
            function: &function,
            activity: &activity,
            backward: &backward,
        });
        let codegen = t.elapsed();
        cx.check().unwrap();
        println!(
            "parse {parse:?}, lower {lowering:?}, analysis {analysis:?}, reverse {reverse:?}, codegen {codegen:?}, output {} lines",
            prettyplease::unparse(&syn::parse2(quote!(#tokens)).unwrap())
                .lines()
                .count()
        );
    }

    /// Compares the expansion of `#[differentiate(args)] source` with
    /// `tests/expand/{name}.expanded.rs`; `UPDATE_EXPECT=1` rewrites the file.
    fn golden(name: &str, args: &str, source: &str) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let actual = expand(args, source);
        let snapshot = root.join(format!("tests/expand/{name}.expanded.rs"));
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&snapshot, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
        assert!(
            actual == expected,
            "the expansion of {name} changed; if that is intended, rerun with UPDATE_EXPECT=1\n{actual}"
        );
    }

    /// A loop whose backward sweep needs a value of each iteration: it goes on a tape.
    #[test]
    fn a_taped_loop() {
        golden(
            "taped_loop",
            "",
            "fn running_max(x: &[f64]) -> f64 {
                let mut m = x[0];
                for i in 1..x.len() {
                    m = m.max(x[i]) * 0.5;
                }
                m
            }",
        );
    }

    /// A running maximum: the forward loop is the primal's, the winning iteration is found after
    /// it from the maximum, and the backward sweep runs that iteration alone.
    #[test]
    fn a_winner_scan() {
        golden(
            "winner_scan",
            "",
            "fn log_sum_exp(x: &[f64]) -> f64 {
                let mut m = x[0];
                for &v in x.iter() {
                    m = m.max(v);
                }
                let mut s = 0.0;
                for &v in x.iter() {
                    s += (v - m).exp();
                }
                m + s.ln()
            }",
        );
    }

    /// A branch whose backward sweep reads values computed in it: they go in its record.
    #[test]
    fn a_branch_record() {
        golden(
            "branch_record",
            "",
            "fn branch(x: f64, y: f64) -> f64 {
                let r = if x > y { (x * y).sin() } else { y.exp() };
                r * x
            }",
        );
    }

    /// A sum in a final loop: `_grad` runs each backward iteration right after its forward one.
    #[test]
    fn a_fused_sum() {
        golden(
            "fused_sum",
            "",
            "fn rosenbrock(x: &[f64]) -> f64 {
                let mut s = 0.0;
                for i in 0..x.len() - 1 {
                    s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
                }
                s
            }",
        );
    }

    /// A struct parameter: its gradient is a struct of the same type, filled through a slot.
    #[test]
    fn a_struct_parameter() {
        golden(
            "struct_param",
            "wrt(layer)",
            "fn loss(layer: &Layer, x: &[f64], target: f64) -> f64 {
                let mut z = layer.b;
                for i in 0..x.len() {
                    z += layer.w[i] * x[i];
                }
                (z.tanh() - target).powi(2)
            }",
        );
    }

    /// Forward mode and second order of a small function.
    #[test]
    fn forward_mode_and_hessian() {
        golden(
            "hessian",
            "hessian",
            "fn f(x: f64, y: f64) -> f64 {
                let s = x.sin() * y;
                s + x * x * y.exp()
            }",
        );
    }

    /// How expansion time grows with nesting: `for` loops, `if`s and `else if` chains nested
    /// `d` deep, on an 8 MiB stack (rustc's): `cargo test --release -p autodiff-macro
    /// expansion_time_by_nesting -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn expansion_time_by_nesting() {
        fn nested(kind: &str, d: usize) -> String {
            let mut body = String::from("let mut s = 0.0;\n");
            match kind {
                "for" => {
                    for k in 0..d {
                        body.push_str(&format!("for i{k} in 0..2 {{\n"));
                    }
                    body.push_str("s += x * s.sin();\n");
                    body.push_str(&"}\n".repeat(d));
                }
                "if" => {
                    for k in 0..d {
                        body.push_str(&format!("if x > {k}.0 {{\n s += x * {k}.5;\n"));
                    }
                    body.push_str(&"}\n".repeat(d));
                }
                _ => {
                    for k in 0..d {
                        body.push_str(&format!("if x > {k}.0 {{ s += x * {k}.5; }} else "));
                    }
                    body.push_str("{ s += x; }\n");
                }
            }
            body.push_str("s\n");
            format!("fn f(x: f64) -> f64 {{\n{body}}}")
        }
        let run = || {
            for kind in ["for", "if", "else if"] {
                for d in [8, 16, 32, 64, 128, 200] {
                    let item: TokenStream = nested(kind, d).parse().unwrap();
                    let start = std::time::Instant::now();
                    let out = differentiate(TokenStream::new(), item);
                    println!(
                        "{kind} nested {d}: {:?}, {} output tokens",
                        start.elapsed(),
                        out.into_iter().count()
                    );
                }
            }
        };
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
    }

    /// The generated code of the seed's example, as `cargo expand --example shopping` shows it,
    /// against `tests/expand/shopping.expanded.rs`. `UPDATE_EXPECT=1` rewrites the file.
    #[test]
    fn shopping_expansion_reads_like_the_hand_derivation() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let source = std::fs::read_to_string(root.join("examples/shopping.rs")).unwrap();
        let file: syn::File = syn::parse_str(&source).unwrap();
        let mut item = file
            .items
            .into_iter()
            .find_map(|item| match item {
                syn::Item::Fn(f) if f.attrs.iter().any(|a| a.path().is_ident("differentiate")) => {
                    Some(f)
                }
                _ => None,
            })
            .expect("the example has a #[differentiate] function");
        item.attrs.retain(|a| !a.path().is_ident("differentiate"));
        let actual = expand("", &quote!(#item).to_string());
        let snapshot = root.join("tests/expand/shopping.expanded.rs");
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(&snapshot, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
        assert!(
            actual == expected,
            "the expansion changed; if that is intended, rerun with UPDATE_EXPECT=1\n{actual}"
        );
    }
}
