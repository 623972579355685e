//! Mutable references to elements, rewritten into the places they name before the body is
//! scanned and lowered:
//! `let e = &mut v[i % 3]; *e += x;` is `let k = i % 3; v[k] += x;`, and
//! `for (g, xi) in grad.iter_mut().zip(x) { *g += xi }` loops over `grad`'s indices and writes
//! `grad[k]`. Rust's borrow rules make this exact: while the reference lives, nothing else
//! reads or writes what it points to, and its index was fixed when it was taken (the rewrite
//! fixes it in a variable of its own).

use quote::format_ident;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Expr, Pat, Stmt, parse_quote};

use super::syntax::{contains_early_return, range_tokens, strip_parens};

/// The body with its mutable references to elements (`let e = &mut v[i]`, `v.iter_mut()`,
/// also in `.for_each(..)`, which is rewritten as the `for` loop it stands for) replaced by the
/// places they name.
pub(super) fn rewritten(body: &syn::Block) -> syn::Block {
    let mut body = body.clone();
    Rewrite.visit_block_mut(&mut body);
    body
}

struct Rewrite;

impl VisitMut for Rewrite {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        let mut k = 0;
        while k < block.stmts.len() {
            if let Some(rewritten) = element_ref(&block.stmts[k], &block.stmts[k + 1..]) {
                block.stmts.truncate(k);
                block.stmts.extend(rewritten);
                continue;
            }
            if let Some(halves) = split_at_mut(&block.stmts[k]) {
                block.stmts.splice(k..=k, halves);
                continue;
            }
            self.visit_stmt_mut(&mut block.stmts[k]);
            k += 1;
        }
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::MethodCall(call) = expr {
            if let Some(loop_) = for_each_loop(call) {
                *expr = loop_;
            }
        }
        if let Expr::If(if_) = expr {
            if let Some(checked) = element_if_let(if_) {
                *expr = checked;
            }
        }
        if let Some(element) = unwrapped_element(expr) {
            *expr = element;
        }
        if let Expr::ForLoop(for_) = expr {
            if let Some(indexed) = iter_mut_loop(for_).or_else(|| chunks_mut_loop(for_)) {
                *expr = indexed;
            }
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// `if let Some(e) = v.last_mut() { .. }` (or `first_mut()`, `get_mut(i)`): the test of the
/// index, and `let e = &mut v[k];` in the branch.
fn element_if_let(if_: &syn::ExprIf) -> Option<Expr> {
    let Expr::Let(let_) = &*if_.cond else {
        return None;
    };
    let Pat::TupleStruct(some) = &*let_.pat else {
        return None;
    };
    if !some.path.is_ident("Some") || some.elems.len() != 1 {
        return None;
    }
    let name = simple_name(&some.elems[0])?;
    let Expr::MethodCall(call) = strip_parens(&let_.expr) else {
        return None;
    };
    let v = &call.receiver;
    let (test, index): (Expr, Expr) = match (call.method.to_string().as_str(), call.args.len()) {
        ("first_mut", 0) => (parse_quote!(!#v.is_empty()), parse_quote!(0)),
        ("last_mut", 0) => (parse_quote!(!#v.is_empty()), parse_quote!(#v.len() - 1)),
        ("get_mut", 1) => {
            let index = &call.args[0];
            (parse_quote!((#index) < #v.len()), parse_quote!(#index))
        }
        _ => return None,
    };
    let mut then = if_.then_branch.clone();
    then.stmts
        .insert(0, parse_quote!(let #name = &mut #v[#index];));
    let else_ = if_
        .else_branch
        .as_ref()
        .map(|(token, e)| quote::quote!(#token #e));
    Some(parse_quote!(if #test #then #else_))
}

/// `*v.last_mut().unwrap()` (or `first_mut()`, `.expect(..)`): `v[v.len() - 1]`, which panics
/// where the `unwrap` would.
fn unwrapped_element(expr: &Expr) -> Option<Expr> {
    let Expr::Unary(syn::ExprUnary {
        op: syn::UnOp::Deref(_),
        expr: inner,
        ..
    }) = expr
    else {
        return None;
    };
    let Expr::MethodCall(unwrap) = strip_parens(inner) else {
        return None;
    };
    if !matches!(unwrap.method.to_string().as_str(), "unwrap" | "expect") {
        return None;
    }
    let Expr::MethodCall(call) = strip_parens(&unwrap.receiver) else {
        return None;
    };
    let v = &call.receiver;
    match (call.method.to_string().as_str(), call.args.is_empty()) {
        ("first_mut", true) => Some(parse_quote!(#v[0])),
        ("last_mut", true) => Some(parse_quote!(#v[#v.len() - 1])),
        _ => None,
    }
}

/// `chain.for_each(|item| body)`: `for item in chain { body }` (not when the closure has a
/// `return`, which would be the loop's `continue`).
fn for_each_loop(call: &syn::ExprMethodCall) -> Option<Expr> {
    let [Expr::Closure(closure)] = call.args.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    // A `move` closure adds to copies of what it captures.
    if call.method != "for_each" || closure.inputs.len() != 1 || closure.capture.is_some() {
        return None;
    }
    let pat = &closure.inputs[0];
    let pat = match pat {
        Pat::Type(typed) => &*typed.pat,
        pat => pat,
    };
    let chain = &call.receiver;
    let body = &closure.body;
    let body: syn::Block = match strip_parens(body) {
        Expr::Block(block) if block.label.is_none() => block.block.clone(),
        body => parse_quote!({ #body; }),
    };
    if contains_early_return(&body) {
        return None;
    }
    Some(parse_quote!(for #pat in #chain #body))
}

/// `let e = &mut PLACE;` followed by `rest`: the statements that fix `PLACE`'s indices, then
/// `rest` with `e` replaced by the place; `None` when the statement is not such a `let` or the
/// rest uses `e` in a way the rewrite cannot follow (in a format string, in a macro other than
/// an assertion) or binds `PLACE`'s variable again.
fn element_ref(stmt: &Stmt, rest: &[Stmt]) -> Option<Vec<Stmt>> {
    let Stmt::Local(local) = stmt else {
        return None;
    };
    let init = local.init.as_ref().filter(|init| init.diverge.is_none())?;
    let Expr::Reference(reference) = strip_parens(&init.expr) else {
        return None;
    };
    reference.mutability?;
    let name = match &local.pat {
        Pat::Type(typed) => simple_name(&typed.pat)?,
        pat => simple_name(pat)?,
    };
    let mut fixed = Vec::new();
    let (place, first) = match strip_parens(&reference.expr) {
        // `let ch = &mut buf[a..b];`: the bounds fixed, `ch[j]` is `buf[a + j]`.
        Expr::Index(index) if matches!(strip_parens(&index.index), Expr::Range(_)) => {
            let Expr::Range(range) = strip_parens(&index.index) else {
                return None;
            };
            let base = fixed_place(&index.expr, &name, &mut fixed)?;
            let (lo, hi) = (
                format_ident!("__{}_lo", name),
                format_ident!("__{}_hi", name),
            );
            let (start, end) = range_tokens(range, quote::quote!(#base.len()));
            let private = quote::quote!(::autodiff_core::__private);
            fixed.push(parse_quote!(let #lo: usize = #start;));
            fixed.push(
                parse_quote!(let #hi: usize = #private::sub_slice_end(#lo, #end, #base.len());),
            );
            (parse_quote!(#base[#lo..#hi]), Some((base, lo, hi)))
        }
        place => (fixed_place(place, &name, &mut fixed)?, None),
    };
    let mut rest = rest.to_vec();
    replace_in_stmts(&mut rest, &name, &place, first.as_ref())?;
    fixed.extend(rest);
    Some(fixed)
}

/// `let (a, b) = buf.split_at_mut(k);` as `let a = &mut buf[..k]; let b = &mut buf[k..];`
/// (see [`element_ref`]), `k` fixed first.
fn split_at_mut(stmt: &Stmt) -> Option<Vec<Stmt>> {
    let Stmt::Local(local) = stmt else {
        return None;
    };
    let init = local.init.as_ref().filter(|init| init.diverge.is_none())?;
    let (Pat::Tuple(halves), Expr::MethodCall(call)) = (&local.pat, strip_parens(&init.expr))
    else {
        return None;
    };
    let ([a, b], [k]) = (
        &halves.elems.iter().collect::<Vec<_>>()[..],
        &call.args.iter().collect::<Vec<_>>()[..],
    ) else {
        return None;
    };
    let (a, b) = (simple_name(a)?, simple_name(b)?);
    if call.method != "split_at_mut" {
        return None;
    }
    let mut fixed = Vec::new();
    let base = fixed_place(&call.receiver, &a, &mut fixed)?;
    let at = format_ident!("__{}_split", a);
    fixed.push(parse_quote!(let #at: usize = #k;));
    fixed.push(parse_quote!(let #a = &mut #base[..#at];));
    fixed.push(parse_quote!(let #b = &mut #base[#at..];));
    Some(fixed)
}

/// `for ch in buf.chunks_mut(k)` (or `chunks_exact_mut`): the loop over the chunks' positions,
/// each chunk taken as `let ch = &mut buf[lo..hi];` (see [`element_ref`]).
fn chunks_mut_loop(for_: &syn::ExprForLoop) -> Option<Expr> {
    let Expr::MethodCall(call) = strip_parens(&for_.expr) else {
        return None;
    };
    let mut call = call;
    // `.enumerate()`: the chunk's position bound too (`for (i, ch) in ..`).
    let mut position = None;
    let mut pat = &*for_.pat;
    if call.method == "enumerate" && call.args.is_empty() {
        let (Expr::MethodCall(inner), Pat::Tuple(pair)) = (strip_parens(&call.receiver), pat)
        else {
            return None;
        };
        let [at, item] = &pair.elems.iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        (call, pat, position) = (inner, item, Some(*at));
    }
    let exact = match call.method.to_string().as_str() {
        "chunks_mut" => false,
        "chunks_exact_mut" => true,
        _ => return None,
    };
    let (name, [size]) = (simple_name(pat)?, &call.args.iter().collect::<Vec<_>>()[..]) else {
        return None;
    };
    let mut fixed = Vec::new();
    let base = fixed_place(&call.receiver, &name, &mut fixed)?;
    let (k, at) = (
        format_ident!("__{}_size", name),
        format_ident!("__{}_chunk", name),
    );
    fixed.push(parse_quote!(let #k: usize = #size;));
    let (count, end): (Expr, Expr) = match exact {
        true => (parse_quote!(#base.len() / #k), parse_quote!(#at * #k + #k)),
        false => (
            parse_quote!(#base.len().div_ceil(#k)),
            parse_quote!(::core::cmp::min(#at * #k + #k, #base.len())),
        ),
    };
    let (body, label) = (&for_.body.stmts, &for_.label);
    let position = position.map(|p| -> Stmt { parse_quote!(let #p = #at;) });
    Some(parse_quote!({
        #(#fixed)*
        #label for #at in 0..#count {
            #position
            let #name = &mut #base[#at * #k..#end];
            #(#body)*
        }
    }))
}

/// `for PAT in X.iter_mut()...` (or `&mut X`), through `enumerate`, `zip`, `rev`, `skip`,
/// `take` and `step_by`: the same loop over `X`'s indices, the item's name replaced by `X[k]`
/// in the body; `None` for any other loop.
fn iter_mut_loop(for_: &syn::ExprForLoop) -> Option<Expr> {
    let mut expr = (*for_.expr).clone();
    let mut fixed = Vec::new();
    let (source, position) = indices_source(&mut expr, &mut fixed)?;
    let mut pat = (*for_.pat).clone();
    let item = item_pattern(&mut pat, &position)?;
    let name = simple_name(item)?;
    let index = format_ident!("__{}_at", name);
    *item = parse_quote!(#index);
    let mut body = for_.body.clone();
    let base = &source.base;
    let place = match &source.first {
        Some(first) => parse_quote!(#base[#first + #index]),
        None => parse_quote!(#base[#index]),
    };
    replace_in_stmts(&mut body.stmts, &name, &place, None)?;
    let label = &for_.label;
    Some(parse_quote!({
        #(#fixed)*
        #label for #pat in #expr #body
    }))
}

/// A name bound plainly (`e`, `mut e`).
fn simple_name(pat: &Pat) -> Option<syn::Ident> {
    match pat {
        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(p.ident.clone()),
        _ => None,
    }
}

/// `place` with each index that is not a literal fixed in a `let` of its own (`v[i % 3]` →
/// `let __e_0 = i % 3;` and `v[__e_0]`); `None` unless the place is a variable, its fields and
/// elements (not a range of them).
fn fixed_place(place: &Expr, name: &syn::Ident, fixed: &mut Vec<Stmt>) -> Option<Expr> {
    match place {
        Expr::Path(path) if path.path.get_ident().is_some() => Some(place.clone()),
        Expr::Paren(paren) => fixed_place(&paren.expr, name, fixed),
        Expr::Field(field) => {
            let mut field = field.clone();
            *field.base = fixed_place(&field.base, name, fixed)?;
            Some(Expr::Field(field))
        }
        Expr::Index(index) => {
            if matches!(strip_parens(&index.index), Expr::Range(_)) {
                return None;
            }
            let mut index = index.clone();
            *index.expr = fixed_place(&index.expr, name, fixed)?;
            if !matches!(strip_parens(&index.index), Expr::Lit(_)) {
                let at = format_ident!("__{}_{}", name, fixed.len());
                let value = &index.index;
                fixed.push(parse_quote!(let #at = #value;));
                *index.index = parse_quote!(#at);
            }
            Some(Expr::Index(index))
        }
        _ => None,
    }
}

/// The mutable source of a chain (`X.iter_mut()`, `&mut X`) replaced by `0..X.len()`: `X`
/// (its indices fixed in `fixed`), and where its item sits in the chain's item (tuple indices:
/// `[1]` for `.enumerate()`'s, `[0]` for the receiver of `.zip(..)`).
fn indices_source(expr: &mut Expr, fixed: &mut Vec<Stmt>) -> Option<(Source, Vec<usize>)> {
    let base = match strip_parens(expr) {
        Expr::Reference(r) if r.mutability.is_some() => &*r.expr,
        Expr::MethodCall(call) if call.method == "iter_mut" && call.args.is_empty() => {
            &*call.receiver
        }
        _ => return chain_source(expr, fixed),
    };
    // `v[1..].iter_mut()`, `&mut v[a..b]`: the elements from the range's start.
    if let Expr::Index(index) = strip_parens(base)
        && let Expr::Range(range) = strip_parens(&index.index)
    {
        let base = fixed_place(&index.expr, &format_ident!("iter"), fixed)?;
        let first = format_ident!("__iter_from{}", fixed.len());
        let start = range.start.clone().unwrap_or_else(|| parse_quote!(0));
        fixed.push(parse_quote!(let #first: usize = #start;));
        *expr = parse_quote!((0..#base[#range].len()));
        let first = Some(first);
        return Some((Source { base, first }, Vec::new()));
    }
    let base = fixed_place(base, &format_ident!("iter"), fixed)?;
    *expr = parse_quote!((0..#base.len()));
    Some((Source { base, first: None }, Vec::new()))
}

/// The array a mutable loop source iterates, from the position `first` if it is a range of it.
struct Source {
    base: Expr,
    first: Option<syn::Ident>,
}

/// `indices_source` through the adapters that keep the item or put it in a tuple.
fn chain_source(expr: &mut Expr, fixed: &mut Vec<Stmt>) -> Option<(Source, Vec<usize>)> {
    let Expr::MethodCall(call) = expr else {
        return None;
    };
    match (call.method.to_string().as_str(), call.args.len()) {
        ("rev" | "into_iter", 0) | ("skip" | "take" | "step_by", 1) => {
            indices_source(&mut call.receiver, fixed)
        }
        ("enumerate", 0) => {
            let (base, position) = indices_source(&mut call.receiver, fixed)?;
            Some((base, [vec![1], position].concat()))
        }
        ("zip", 1) => match indices_source(&mut call.receiver, fixed) {
            Some((base, position)) => Some((base, [vec![0], position].concat())),
            None => {
                fixed.clear();
                let (base, position) = indices_source(call.args.iter_mut().next()?, fixed)?;
                Some((base, [vec![1], position].concat()))
            }
        },
        _ => None,
    }
}

/// The part of a loop's pattern that binds the item at `position`.
fn item_pattern<'p>(pat: &'p mut Pat, position: &[usize]) -> Option<&'p mut Pat> {
    match (pat, position) {
        (pat, []) => Some(pat),
        (Pat::Paren(paren), position) => item_pattern(&mut paren.pat, position),
        (Pat::Tuple(tuple), [k, rest @ ..]) if tuple.elems.len() == 2 => {
            item_pattern(tuple.elems.iter_mut().nth(*k)?, rest)
        }
        _ => None,
    }
}

/// Replaces the reference `name` by `place` in `stmts` (`*e`, `e.f`, `e[j]`, `e.method()`;
/// `&mut place` elsewhere), up to a binding that shadows it; `None` if a macro names it.
fn replace_in_stmts(
    stmts: &mut [Stmt],
    name: &syn::Ident,
    place: &Expr,
    first: Option<&(Expr, syn::Ident, syn::Ident)>,
) -> Option<()> {
    // `let v = ..;` after `let e = &mut v[i];`: `*e` is still the first `v`'s, which the place
    // written out would not name.
    if let Some(root) = root_name(place) {
        let mut shadows = Shadows {
            name: &root,
            found: false,
        };
        stmts
            .iter()
            .for_each(|stmt| syn::visit::Visit::visit_stmt(&mut shadows, stmt));
        if shadows.found {
            return None;
        }
    }
    let mut replace = Replace {
        name,
        place,
        first,
        in_macro: false,
    };
    replace.stmts(stmts);
    (!replace.in_macro).then_some(())
}

struct Replace<'a> {
    name: &'a syn::Ident,
    place: &'a Expr,
    /// For a sub-slice `base[lo..hi]`: the array and the bounds (`e[j]` is `base[lo + j]`).
    first: Option<&'a (Expr, syn::Ident, syn::Ident)>,
    in_macro: bool,
}

impl Replace<'_> {
    fn is_name(&self, expr: &Expr) -> bool {
        matches!(expr, Expr::Path(p) if p.qself.is_none() && p.path.is_ident(self.name))
    }

    fn binds(&self, pat: &Pat) -> bool {
        super::branch::binding_names(pat)
            .iter()
            .any(|n| self.name == n)
    }

    /// Whether a condition's `let` (also in a `&&` chain) binds the name.
    fn let_binds(&self, cond: &Expr) -> bool {
        match cond {
            Expr::Let(let_) => self.binds(&let_.pat),
            Expr::Binary(binary) => self.let_binds(&binary.left) || self.let_binds(&binary.right),
            Expr::Paren(paren) => self.let_binds(&paren.expr),
            _ => false,
        }
    }

    fn stmts(&mut self, stmts: &mut [Stmt]) {
        for stmt in stmts {
            self.visit_stmt_mut(stmt);
            if matches!(stmt, Stmt::Local(local) if self.binds(&local.pat)) {
                return;
            }
        }
    }

    /// The place in parentheses, spanned where the name was written (an error about the
    /// place points there, not at the attribute).
    fn place(&self, at: &Expr) -> Expr {
        let place = self.place;
        syn::parse_quote_spanned!(at.span()=> (#place))
    }
}

impl VisitMut for Replace<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Unary(unary)
                if matches!(unary.op, syn::UnOp::Deref(_)) && self.is_name(&unary.expr) =>
            {
                *expr = self.place(&unary.expr);
            }
            // Passed on whole: what lowering says of `&mut v[k]` is said at `e`.
            Expr::Path(_) if self.is_name(expr) => {
                let place = self.place;
                *expr = syn::parse_quote_spanned!(expr.span()=> &mut #place);
            }
            Expr::Field(field) if self.is_name(&field.base) => {
                *field.base = self.place(&field.base)
            }
            Expr::Index(index) if self.is_name(&index.expr) => {
                self.visit_expr_mut(&mut index.index);
                let Some((base, lo, hi)) = self.first else {
                    *index.expr = self.place(&index.expr);
                    return;
                };
                // Checked against the sub-slice's bounds, not only the array's (a panic there
                // names the user's index).
                let private =
                    quote::quote_spanned!(index.index.span()=> ::autodiff_core::__private);
                *index.index = match strip_parens(&index.index) {
                    Expr::Range(range) => {
                        let (start, end) = range_tokens(range, quote::quote!((#hi - #lo)));
                        parse_quote!(#lo + #start..#lo + #private::sub_slice_end(#start, #end, #hi - #lo))
                    }
                    j => parse_quote!(#lo + #private::sub_index(#j, #hi - #lo)),
                };
                *index.expr = parse_quote!(#base);
            }
            Expr::MethodCall(call) if self.is_name(&call.receiver) => {
                *call.receiver = self.place(&call.receiver);
                call.args
                    .iter_mut()
                    .for_each(|arg| self.visit_expr_mut(arg));
            }
            Expr::Closure(closure) if closure.inputs.iter().any(|p| self.binds(p)) => {}
            Expr::ForLoop(for_) if self.binds(&for_.pat) => self.visit_expr_mut(&mut for_.expr),
            // `if let Some(e) = ..`, `while let Some(e) = ..`: a name of their own in the body.
            Expr::If(if_) if self.let_binds(&if_.cond) => {
                self.visit_expr_mut(&mut if_.cond);
                if let Some((_, else_)) = &mut if_.else_branch {
                    self.visit_expr_mut(else_);
                }
            }
            Expr::While(while_) if self.let_binds(&while_.cond) => {
                self.visit_expr_mut(&mut while_.cond)
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        self.stmts(&mut block.stmts);
    }

    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        if !self.binds(&arm.pat) {
            visit_mut::visit_arm_mut(self, arm);
        }
    }

    /// `assert!(*e > 0.0)`: the arguments rewritten as any expression; a name inside a format
    /// string (`"{e}"`), or another macro naming it, stops the rewrite.
    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        fn names(tokens: proc_macro2::TokenStream, name: &syn::Ident) -> bool {
            let inline = [format!("{{{name}}}"), format!("{{{name}:")];
            tokens.into_iter().any(|tt| match tt {
                proc_macro2::TokenTree::Ident(ident) => ident == *name,
                proc_macro2::TokenTree::Literal(lit) => {
                    let lit = lit.to_string();
                    inline.iter().any(|inline| lit.contains(inline.as_str()))
                }
                proc_macro2::TokenTree::Group(group) => names(group.stream(), name),
                _ => false,
            })
        }
        if !names(mac.tokens.clone(), self.name) {
            return;
        }
        const ASSERTIONS: &[&str] = &[
            "assert",
            "debug_assert",
            "assert_eq",
            "assert_ne",
            "debug_assert_eq",
            "debug_assert_ne",
        ];
        let assertion = mac
            .path
            .segments
            .last()
            .is_some_and(|s| ASSERTIONS.iter().any(|m| s.ident == m));
        let args = assertion
            .then(|| {
                mac.parse_body_with(
                    syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated,
                )
                .ok()
            })
            .flatten();
        let in_message = |args: &syn::punctuated::Punctuated<Expr, syn::Token![,]>| {
            args.iter()
                .any(|arg| matches!(arg, Expr::Lit(lit) if names(quote::quote!(#lit), self.name)))
        };
        match args {
            Some(mut args) if !in_message(&args) => {
                args.iter_mut().for_each(|arg| self.visit_expr_mut(arg));
                mac.tokens = quote::quote!(#args);
            }
            _ => self.in_macro = true,
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// The variable a place is in (`m` of `m[i].w`).
fn root_name(place: &Expr) -> Option<syn::Ident> {
    match place {
        Expr::Path(path) => path.path.get_ident().cloned(),
        Expr::Paren(paren) => root_name(&paren.expr),
        Expr::Field(field) => root_name(&field.base),
        Expr::Index(index) => root_name(&index.expr),
        _ => None,
    }
}

/// Whether a pattern anywhere binds `name` again.
struct Shadows<'a> {
    name: &'a syn::Ident,
    found: bool,
}

impl<'ast> syn::visit::Visit<'ast> for Shadows<'_> {
    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        self.found |= pat.ident == *self.name;
        syn::visit::visit_pat_ident(self, pat);
    }

    fn visit_item(&mut self, _: &'ast syn::Item) {}
}
