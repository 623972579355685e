//! Questions about syntax trees that lowering asks in several places.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use proc_macro2::TokenStream;
use quote::quote;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{BinOp, Expr, Pat, Token};

/// Whether the body has a `return` other than in tail position (nested functions excluded).
pub(super) fn contains_early_return(body: &syn::Block) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_expr_return(&mut self, _: &'ast syn::ExprReturn) {
            self.0 = true;
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_block(&mut finder, body);
    finder.0
}

/// Whether the body of the loop labelled `label` has a `break` that leaves it (nested
/// functions and closures excluded).
pub(super) fn breaks_loop(body: &syn::Block, label: Option<&syn::Label>) -> bool {
    jumps(body, label, false)
}

/// Whether the body of the loop labelled `label` leaves it other than by `return` or by
/// `continue` of the loop itself: a `break` of it, or a `break` or `continue` of an outer loop.
pub(super) fn leaves_loop(body: &syn::Block, label: Option<&syn::Label>) -> bool {
    jumps(body, label, true)
}

fn jumps(body: &syn::Block, label: Option<&syn::Label>, outer: bool) -> bool {
    struct Finder<'l> {
        label: Option<&'l syn::Lifetime>,
        /// Whether jumps to loops around this one count.
        outer: bool,
        /// The labels of the loops entered inside the body (`None` for one without), whose
        /// jumps stay inside it.
        inner: Vec<Option<syn::Lifetime>>,
        found: bool,
    }
    impl Finder<'_> {
        /// Whether a jump to `target` (the innermost loop for `None`) leaves the loop.
        fn leaves(&self, target: Option<&syn::Lifetime>, is_break: bool) -> bool {
            match target {
                None => self.inner.is_empty() && is_break,
                Some(t) if self.inner.iter().any(|l| l.as_ref() == Some(t)) => false,
                Some(t) if self.label == Some(t) => is_break,
                Some(_) => self.outer,
            }
        }
        fn inside(&mut self, label: Option<&syn::Label>, f: impl FnOnce(&mut Self)) {
            self.inner.push(label.map(|l| l.name.clone()));
            f(self);
            self.inner.pop();
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
        fn visit_expr_break(&mut self, brk: &'ast syn::ExprBreak) {
            self.found |= self.leaves(brk.label.as_ref(), true);
            syn::visit::visit_expr_break(self, brk);
        }
        fn visit_expr_continue(&mut self, cont: &'ast syn::ExprContinue) {
            self.found |= self.leaves(cont.label.as_ref(), false);
        }
        fn visit_expr_for_loop(&mut self, e: &'ast syn::ExprForLoop) {
            self.visit_expr(&e.expr);
            self.inside(e.label.as_ref(), |f| f.visit_block(&e.body));
        }
        fn visit_expr_while(&mut self, e: &'ast syn::ExprWhile) {
            self.inside(e.label.as_ref(), |f| syn::visit::visit_expr_while(f, e));
        }
        fn visit_expr_loop(&mut self, e: &'ast syn::ExprLoop) {
            self.inside(e.label.as_ref(), |f| syn::visit::visit_expr_loop(f, e));
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut finder = Finder {
        label: label.map(|l| &l.name),
        outer,
        inner: Vec::new(),
        found: false,
    };
    syn::visit::Visit::visit_block(&mut finder, body);
    finder.found
}

/// The name an iterator source made of names, fields, constant indices and ranges,
/// references and `.iter()`/`.into_iter()` reads (`&p.rows`, `b.iter()`, `m[k]`): evaluating
/// it later reads the same array unless that name is assigned.
pub(super) fn plain_source(expr: &Expr) -> Option<&syn::Ident> {
    match strip_parens(expr) {
        Expr::Path(path) => local_name(path),
        Expr::Field(field) => plain_source(&field.base),
        Expr::Reference(reference) if reference.mutability.is_none() => {
            plain_source(&reference.expr)
        }
        Expr::MethodCall(call)
            if call.args.is_empty() && (call.method == "iter" || call.method == "into_iter") =>
        {
            plain_source(&call.receiver)
        }
        Expr::Index(index) if constant_index(&index.index) => plain_source(&index.expr),
        _ => None,
    }
}

/// A literal index or a range of literals (`[2]`, `[..]`, `[1..3]`).
fn constant_index(index: &Expr) -> bool {
    match strip_parens(index) {
        Expr::Lit(_) => true,
        Expr::Range(range) => [&range.start, &range.end]
            .into_iter()
            .flatten()
            .all(|bound| matches!(strip_parens(bound), Expr::Lit(_))),
        _ => false,
    }
}

/// What the body assigns: the variables whose elements it assigns (`p[i] = v`,
/// `m[i][j] += v`), with the most indices seen, and the variables it assigns whole (`v = w`,
/// `(a, b) = ..`, `t.0 = ..` for the tuple `t`).
pub(super) struct Stores {
    /// A call's array result bound to one of them is kept as an array to write into.
    pub elements: BTreeMap<String, usize>,
    /// What another name holds of one of them (`let old = v;`) must be a copy.
    pub whole: BTreeSet<String>,
    /// Names assigned an array literal whole (`s = [s[0] * k, s[1]]`), with its indices.
    pub literals: BTreeMap<String, usize>,
    /// Names declared `let mut` that nothing assigns, writes into or borrows `&mut`: only
    /// their own methods (`&mut self`) can change them (`queue.push_back(i)`).
    pub changed_by_methods: BTreeSet<String>,
    /// Names declared `let mut` (and `mut` parameters): only their methods may change them.
    pub mutable: BTreeSet<String>,
    /// Names a range of which is taken (`&xs[t..t + 3]`, `h[1][1..]`), with the most indices
    /// a slice of them is taken with, the range's own included.
    pub sliced: BTreeMap<String, usize>,
}

impl Stores {
    /// The indices of an array the name holds, where the body writes its elements or assigns
    /// it an array literal: a value bound to it (a call's result, a struct's field) is kept as
    /// an array to write into.
    pub fn array_dims(&self, name: &str) -> Option<usize> {
        self.elements.get(name).or(self.literals.get(name)).copied()
    }

    /// The indices of an array the name holds, where the body takes a range of it: a value
    /// bound to it (a call's `Vec`) is kept as an array, which a slice views.
    pub fn sliced_dims(&self, name: &str) -> Option<usize> {
        self.sliced.get(name).copied()
    }
}

pub(super) fn stores(body: &syn::Block) -> Stores {
    struct Finder(Stores);
    impl Finder {
        /// `place` is assigned, or written into; an array literal (`p[1] = [a, b]`) has
        /// `rows` indices of its own.
        fn place(&mut self, place: &Expr) {
            self.place_of_rows(place, 0);
        }
        fn place_of_rows(&mut self, place: &Expr, rows: usize) {
            let mut depth = 0;
            let mut base = place;
            loop {
                match strip_parens(base) {
                    Expr::Index(index) => {
                        depth += 1;
                        base = &index.expr;
                    }
                    // `t.0 = ..` assigns the tuple `t` (a struct's field is not followed).
                    Expr::Field(field) if depth == 0 => base = &field.base,
                    Expr::Tuple(tuple) if depth == 0 => {
                        tuple.elems.iter().for_each(|e| self.place(e));
                        return;
                    }
                    _ => break,
                }
            }
            let Expr::Path(path) = strip_parens(base) else {
                return;
            };
            let Some(ident) = path.path.get_ident() else {
                return;
            };
            if depth > 0 {
                let entry = self.0.elements.entry(ident.to_string()).or_default();
                *entry = (*entry).max(depth + rows);
            } else {
                self.0.whole.insert(ident.to_string());
            }
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_expr_assign(&mut self, assign: &'ast syn::ExprAssign) {
            let literal = literal_dims(&assign.right);
            self.place_of_rows(&assign.left, literal.unwrap_or(0));
            if let (Expr::Path(path), Some(dims)) = (strip_parens(&assign.left), literal) {
                if let Some(ident) = path.path.get_ident() {
                    self.0.literals.insert(ident.to_string(), dims);
                }
            }
            syn::visit::visit_expr_assign(self, assign);
        }
        fn visit_expr_binary(&mut self, binary: &'ast syn::ExprBinary) {
            if compound_op(&binary.op).is_some() {
                self.place(&binary.left);
            }
            syn::visit::visit_expr_binary(self, binary);
        }
        // `s.sort_by(..)`, `f.fill(0.0)`, `v[1..].fill(0.0)`, `d.rotate_right(1)` write the
        // elements of `s`: a call's result bound to it is an array to write into (of numbers,
        // unless the body indexes it deeper).
        fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
            let writes = matches!(
                call.method.to_string().as_str(),
                "sort_by"
                    | "sort_unstable_by"
                    | "sort"
                    | "sort_unstable"
                    | "sort_by_key"
                    | "sort_unstable_by_key"
                    | "fill"
                    | "rotate_left"
                    | "rotate_right"
                    | "copy_within"
                    | "swap"
                    | "reverse"
            );
            // `c.push(e)` of `let mut c = p.c.clone();`: grows it (a row if `e` is written out).
            let pushed = match (call.method.to_string().as_str(), call.args.first()) {
                ("push", Some(arg)) => Some(literal_dims(arg).unwrap_or(0)),
                ("extend_from_slice", Some(_)) => Some(0),
                _ => None,
            };
            let (root, rows) = sliced_root(&call.receiver);
            if let (true, Expr::Path(path)) = (writes || pushed.is_some(), root) {
                if let Some(ident) = path.path.get_ident() {
                    let entry = self.0.elements.entry(ident.to_string()).or_default();
                    *entry = (*entry).max(rows + 1 + pushed.unwrap_or(0));
                }
            }
            // `y.windows(2)`, `y.chunks(3)`: slices of it, as `&y[a..b]` takes.
            let slices = matches!(
                call.method.to_string().as_str(),
                "windows" | "chunks" | "chunks_exact"
            );
            if let (true, Expr::Path(path)) = (slices, root) {
                if let Some(ident) = path.path.get_ident() {
                    let entry = self.0.sliced.entry(ident.to_string()).or_default();
                    *entry = (*entry).max(rows + 1);
                }
            }
            syn::visit::visit_expr_method_call(self, call);
        }
        fn visit_expr_index(&mut self, index: &'ast syn::ExprIndex) {
            let range = |i: &Expr| matches!(strip_parens(i), Expr::Range(_));
            // A range slices the dimension the indices inside it lead to: `h[1][1..]` a row of
            // a matrix (2), `y[1..][..2]` a vector twice (1), `h[1][..2][0]` a row, then one of
            // its elements read (2).
            let mut ranges = Vec::new();
            let mut place = index;
            loop {
                ranges.push(range(&place.index));
                match strip_parens(&place.expr) {
                    Expr::Index(inner) => place = inner,
                    Expr::Path(path) => {
                        let (mut inside, mut dims) = (0, 0);
                        for &range in ranges.iter().rev() {
                            match range {
                                true => dims = inside + 1,
                                false => inside += 1,
                            }
                        }
                        if let (true, Some(ident)) = (dims > 0, path.path.get_ident()) {
                            let entry = self.0.sliced.entry(ident.to_string()).or_default();
                            *entry = (*entry).max(dims);
                        }
                        break;
                    }
                    _ => break,
                }
            }
            syn::visit::visit_expr_index(self, index);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut finder = Finder(Stores {
        elements: BTreeMap::new(),
        whole: BTreeSet::new(),
        literals: BTreeMap::new(),
        changed_by_methods: BTreeSet::new(),
        mutable: BTreeSet::new(),
        sliced: BTreeMap::new(),
    });
    syn::visit::Visit::visit_block(&mut finder, body);
    let (declared, touched) = mutability(body);
    finder.0.changed_by_methods = declared.difference(&touched).cloned().collect();
    finder.0.mutable = declared;
    finder.0
}

/// The names declared `let mut`, and the names at the root of a place that is assigned,
/// written into or borrowed `&mut` (`p.v[0] = ..` touches `p`).
fn mutability(body: &syn::Block) -> (BTreeSet<String>, BTreeSet<String>) {
    #[derive(Default)]
    struct Finder {
        declared: BTreeSet<String>,
        touched: BTreeSet<String>,
    }
    impl Finder {
        fn touch(&mut self, place: &Expr) {
            match strip_parens(place) {
                Expr::Index(index) => self.touch(&index.expr),
                Expr::Field(field) => self.touch(&field.base),
                Expr::Tuple(tuple) => tuple.elems.iter().for_each(|e| self.touch(e)),
                Expr::Array(array) => array.elems.iter().for_each(|e| self.touch(e)),
                Expr::Unary(unary) => self.touch(&unary.expr),
                Expr::Path(path) => {
                    if let Some(ident) = path.path.get_ident() {
                        self.touched.insert(ident.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_local(&mut self, local: &'ast syn::Local) {
            let mut pat = &local.pat;
            if let Pat::Type(typed) = pat {
                pat = &typed.pat;
            }
            // An iterator kept in a variable has an error of its own.
            let stream = local
                .init
                .as_ref()
                .is_some_and(|init| super::Lowerer::is_stream(&init.expr));
            if let (Pat::Ident(ident), false) = (pat, stream) {
                if ident.mutability.is_some() {
                    self.declared.insert(ident.ident.to_string());
                }
            }
            syn::visit::visit_local(self, local);
        }
        fn visit_expr_assign(&mut self, assign: &'ast syn::ExprAssign) {
            self.touch(&assign.left);
            syn::visit::visit_expr_assign(self, assign);
        }
        fn visit_expr_binary(&mut self, binary: &'ast syn::ExprBinary) {
            if compound_op(&binary.op).is_some() || bit_op_of_assign(&binary.op).is_some() {
                self.touch(&binary.left);
            }
            syn::visit::visit_expr_binary(self, binary);
        }
        fn visit_expr_reference(&mut self, reference: &'ast syn::ExprReference) {
            if reference.mutability.is_some() {
                self.touch(&reference.expr);
            }
            syn::visit::visit_expr_reference(self, reference);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut finder = Finder::default();
    syn::visit::Visit::visit_block(&mut finder, body);
    (finder.declared, finder.touched)
}

/// The name under the indices of `expr` (`g` of `g[i][j]`) and how many indices it has;
/// `None` when one of them is a range.
pub(super) fn indexed_root(expr: &Expr) -> Option<(&Expr, usize)> {
    let (mut root, mut rows) = (strip_parens(expr), 0);
    while let Expr::Index(index) = root {
        if matches!(strip_parens(&index.index), Expr::Range(_)) {
            return None;
        }
        (root, rows) = (strip_parens(&index.expr), rows + 1);
    }
    Some((root, rows))
}

/// The name under the indices and sub-slices of `expr` (`v` of `v[i][1..]`) and how many
/// indices (not ranges) it has.
pub(super) fn sliced_root(expr: &Expr) -> (&Expr, usize) {
    let (mut root, mut rows) = (strip_parens(expr), 0);
    while let Expr::Index(index) = root {
        rows += usize::from(!matches!(strip_parens(&index.index), Expr::Range(_)));
        root = strip_parens(&index.expr);
    }
    (root, rows)
}

/// The bounds of a range written in a call (`copy_within(1..=k >> 1, ..)`, `a[2..].fill(..)`),
/// each parenthesized as the operand it is, the end exclusive; `len` stands for an open end.
pub(super) fn range_tokens(range: &syn::ExprRange, len: TokenStream) -> (TokenStream, TokenStream) {
    let start = range
        .start
        .as_deref()
        .map_or_else(|| quote::quote!(0), |s| quote::quote!((#s)));
    let end = match (&range.end, &range.limits) {
        (Some(e), syn::RangeLimits::HalfOpen(_)) => quote::quote!((#e)),
        (Some(e), syn::RangeLimits::Closed(_)) => quote::quote!((#e) + 1),
        (None, _) => len,
    };
    (start, end)
}

/// The indices of an array literal (`[a, b]`: 1, `[[a, b], [c, d]]`: 2).
fn literal_dims(expr: &Expr) -> Option<usize> {
    match strip_parens(expr) {
        Expr::Array(array) => Some(1 + array.elems.first().and_then(literal_dims).unwrap_or(0)),
        _ => None,
    }
}

/// The first name a pattern binds (other than constants, written in upper case).
pub(super) fn find_binding(pat: &Pat) -> Option<&Pat> {
    match pat {
        Pat::Ident(p) if starts_lowercase(&p.ident) => Some(pat),
        Pat::Ident(p) => p.subpat.as_ref().and_then(|(_, sub)| find_binding(sub)),
        Pat::Or(or) => or.cases.iter().find_map(find_binding),
        Pat::Paren(p) => find_binding(&p.pat),
        Pat::Reference(r) => find_binding(&r.pat),
        Pat::Tuple(t) => t.elems.iter().find_map(find_binding),
        Pat::TupleStruct(t) => t.elems.iter().find_map(find_binding),
        Pat::Slice(s) => s.elems.iter().find_map(find_binding),
        Pat::Struct(s) => s.fields.iter().find_map(|f| find_binding(&f.pat)),
        Pat::Type(t) => find_binding(&t.pat),
        Pat::Guard(g) => find_binding(&g.pat),
        _ => None,
    }
}

pub(super) fn starts_lowercase(ident: &syn::Ident) -> bool {
    ident
        .to_string()
        .starts_with(|c: char| c.is_lowercase() || c == '_')
        && ident != "_"
}

/// Whether constant tokens hold a float literal without a suffix (`0.2`, not `0.2_f32` or `PI`).
pub(super) fn untyped_float(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|tree| match tree {
        proc_macro2::TokenTree::Literal(lit) => {
            matches!(syn::Lit::new(lit), syn::Lit::Float(f) if f.suffix().is_empty())
        }
        proc_macro2::TokenTree::Group(group) => untyped_float(&group.stream()),
        _ => false,
    })
}

pub(super) fn strip_type_parens(ty: &syn::Type) -> &syn::Type {
    match ty {
        syn::Type::Paren(paren) => strip_type_parens(&paren.elem),
        ty => ty,
    }
}

/// `Atom` of `&Atom` and `[f64; 2]` of `&[f64; 2]`, which the macro holds by value (the
/// element of `Option<&Atom>`); other types (`&[f64]`, `&str`) as they are.
pub(super) fn struct_referent(ty: &syn::Type) -> &syn::Type {
    match ty {
        syn::Type::Reference(r) if r.mutability.is_none() => match strip_type_parens(&r.elem) {
            syn::Type::Path(path) if !path.path.is_ident("str") => &r.elem,
            syn::Type::Array(_) => &r.elem,
            _ => ty,
        },
        ty => ty,
    }
}

/// Whether `call` gives an `Option` of a reference to an element (`v.last()`,
/// `v.iter().max_by(..)`): no `cloned`/`copied` on the way.
pub(super) fn gives_element_reference(call: &syn::ExprMethodCall) -> bool {
    let gives = [
        "split_first",
        "split_last",
        "first",
        "last",
        "max_by",
        "min_by",
        "nth",
    ]
    .iter()
    .any(|m| call.method == m);
    let mut receiver = &*call.receiver;
    while let Expr::MethodCall(call) = strip_parens(receiver) {
        if call.method == "cloned" || call.method == "copied" {
            return false;
        }
        receiver = &call.receiver;
    }
    gives
}

/// `Some(..)` or `None` written out: an `Option` the function builds.
pub(super) fn written_option(expr: &Expr) -> bool {
    match strip_parens(expr) {
        Expr::Call(call) => matches!(&*call.func, Expr::Path(p) if p.path.is_ident("Some")),
        Expr::Path(p) => p.path.is_ident("None"),
        _ => false,
    }
}

pub(super) fn strip_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => strip_parens(&p.expr),
        Expr::Group(g) => strip_parens(&g.expr),
        e => e,
    }
}

pub(super) fn arithmetic_rule(op: &BinOp) -> Option<&'static str> {
    match op {
        BinOp::Add(_) => Some("add"),
        BinOp::Sub(_) => Some("sub"),
        BinOp::Mul(_) => Some("mul"),
        BinOp::Div(_) => Some("div"),
        BinOp::Rem(_) => Some("rem"),
        _ => None,
    }
}

/// `+=` → `+`.
pub(super) fn compound_op(op: &BinOp) -> Option<BinOp> {
    Some(match op {
        BinOp::AddAssign(t) => BinOp::Add(Token![+](t.span())),
        BinOp::SubAssign(t) => BinOp::Sub(Token![-](t.span())),
        BinOp::MulAssign(t) => BinOp::Mul(Token![*](t.span())),
        BinOp::DivAssign(t) => BinOp::Div(Token![/](t.span())),
        BinOp::RemAssign(t) => BinOp::Rem(Token![%](t.span())),
        _ => return None,
    })
}

pub(super) fn bit_op_of_assign(op: &BinOp) -> Option<TokenStream> {
    Some(match op {
        BinOp::BitXorAssign(_) => quote!(^),
        BinOp::BitAndAssign(_) => quote!(&),
        BinOp::BitOrAssign(_) => quote!(|),
        BinOp::ShlAssign(_) => quote!(<<),
        BinOp::ShrAssign(_) => quote!(>>),
        _ => return None,
    })
}

/// An expression that names a place: `x`, `p.w`, `m[i]`, `&x`.
pub(super) fn is_place(expr: &Expr) -> bool {
    match expr {
        Expr::Path(_) => true,
        Expr::Field(f) => is_place(&f.base),
        Expr::Index(i) => is_place(&i.expr),
        Expr::Reference(r) => is_place(&r.expr),
        Expr::Paren(p) => is_place(&p.expr),
        _ => false,
    }
}

/// `x` (not `a::x`, not `x::<T>`).
pub(super) fn local_name(path: &syn::ExprPath) -> Option<&syn::Ident> {
    if path.qself.is_some() {
        return None;
    }
    path.path.get_ident()
}

/// `self`.
pub(super) fn is_self(expr: &Expr) -> bool {
    matches!(strip_parens(expr), Expr::Path(path) if local_name(path).is_some_and(|i| i == "self"))
}

/// The names of a path's segments (`std::iter::zip` → `["std", "iter", "zip"]`).
pub(super) fn segment_names(path: &syn::ExprPath) -> Vec<String> {
    path.path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect()
}

/// `no_grad`, `autodiff_core::no_grad` or `::autodiff_core::no_grad`.
pub(super) fn is_no_grad(path: &syn::ExprPath) -> bool {
    let segments = segment_names(path);
    path.qself.is_none()
        && match segments.as_slice() {
            [last] => last == "no_grad",
            [krate, last] => krate == "autodiff_core" && last == "no_grad",
            _ => false,
        }
}

/// `f64::sin` → `sin`; also `T::sin` of the generic float type `T` and `Float::sin`.
pub(super) fn float_method_path<'p>(
    path: &'p syn::ExprPath,
    generic_float: Option<&syn::Ident>,
) -> Option<&'p syn::Ident> {
    if path.qself.is_some() || path.path.leading_colon.is_some() {
        return None;
    }
    let segments = &path.path.segments;
    if segments.iter().any(|s| !s.arguments.is_none()) {
        return None;
    }
    let names: Vec<&syn::Ident> = segments.iter().map(|s| &s.ident).collect();
    let float = |ty: &syn::Ident| {
        ty == "f64" || ty == "f32" || ty == "Float" || generic_float.is_some_and(|g| ty == g)
    };
    match names.as_slice() {
        [ty, name] if float(ty) => Some(name),
        [krate, ty, name] if *krate == "num_traits" && *ty == "Float" => Some(name),
        _ => None,
    }
}

/// `T` of `Name<T>` (`Option<T>`, `Vec<T>`).
pub(super) fn type_arg<'t>(ty: &'t syn::Type, name: &str) -> Option<&'t syn::Type> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    match &last.arguments {
        syn::PathArguments::AngleBracketed(args) if last.ident == name && args.args.len() == 1 => {
            match &args.args[0] {
                syn::GenericArgument::Type(inner) => Some(inner),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `Vec<usize>` → 1, `[[i32; 2]; 3]` → 2: a container of integers (or `bool`s), with its
/// number of indices; `None` for anything else (and 0 for a bare integer).
pub(super) fn integer_container_dims(ty: &syn::Type) -> Option<usize> {
    match ty {
        syn::Type::Array(array) => integer_container_dims(&array.elem).map(|d| d + 1),
        syn::Type::Paren(paren) => integer_container_dims(&paren.elem),
        ty => match type_arg(ty, "Vec") {
            Some(elem) => integer_container_dims(elem).map(|d| d + 1),
            None => matches!(ty, syn::Type::Path(path) if path.path.get_ident().is_some())
                .then_some(0)
                .filter(|_| !float_cast_target(ty)),
        },
    }
}

/// The primitive types that carry no derivative: integers, `char` and `bool`.
const NOT_FLOAT: &[&str] = &[
    "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize", "char",
    "bool",
];

/// Casts to integer types, `char` and `bool` cut the derivative; other targets are floats (or
/// float aliases, which rustc then checks).
pub(super) fn float_cast_target(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(path) => !path
            .path
            .get_ident()
            .is_some_and(|ident| NOT_FLOAT.iter().any(|name| ident == name)),
        syn::Type::Paren(paren) => float_cast_target(&paren.elem),
        syn::Type::Group(group) => float_cast_target(&group.elem),
        _ => false,
    }
}

impl Const {
    /// The constant as one token tree.
    pub fn parenthesized(&self) -> TokenStream {
        let tokens = &self.tokens;
        if self.atomic {
            tokens.clone()
        } else {
            quote!((#tokens))
        }
    }
}

/// The expressions a macro call takes: `a, b, c` or `value; len` (`vec!`).
pub(super) fn macro_args(mac: &syn::Macro) -> Vec<Expr> {
    if let Ok(args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
        return args.into_iter().collect();
    }
    mac.parse_body_with(|input: syn::parse::ParseStream| {
        let value: Expr = input.parse()?;
        input.parse::<Token![;]>()?;
        let len: Expr = input.parse()?;
        Ok(vec![value, len])
    })
    .unwrap_or_default()
}

/// How many dimensions of a memory a list of indices selects: a range (`x[a..b]`) keeps one.
pub(super) fn depth(indices: &[Operand]) -> usize {
    indices
        .iter()
        .filter(|i| !matches!(i, Operand::Range(..)))
        .count()
}

/// Whether `expr` has a closure inside.
pub(super) fn contains_closure(expr: &Expr) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {
            self.0 = true;
        }
    }
    let mut find = Find(false);
    syn::visit::Visit::visit_expr(&mut find, expr);
    find.0
}

/// The identifier a name bound in a pattern is (`r#try` is a raw one).
pub(super) fn ident_of(name: &str, span: Span) -> syn::Ident {
    match name.strip_prefix("r#") {
        Some(raw) => syn::Ident::new_raw(raw, span),
        None => syn::Ident::new(name, span),
    }
}

/// `+=`, `-=`, .. (`=` is an `Expr::Assign`).
pub(super) fn is_compound_assignment(op: &syn::BinOp) -> bool {
    use syn::BinOp::*;
    matches!(
        op,
        AddAssign(_)
            | SubAssign(_)
            | MulAssign(_)
            | DivAssign(_)
            | RemAssign(_)
            | BitXorAssign(_)
            | BitAndAssign(_)
            | BitOrAssign(_)
            | ShlAssign(_)
            | ShrAssign(_)
    )
}

/// A `HashMap`, `HashSet`, `BTreeMap` or `BTreeSet` (behind references or not).
pub(super) fn is_map_type(ty: &syn::Type) -> bool {
    let mut ty = ty;
    while let syn::Type::Reference(r) = ty {
        ty = &r.elem;
    }
    matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| {
        matches!(s.ident.to_string().as_str(), "HashMap" | "HashSet" | "BTreeMap" | "BTreeSet")
    }))
}

/// A type whose generic arguments are all integers, `bool`s, `char`s or strings
/// (`HashSet<usize>`, `HashMap<usize, (u32, bool)>`): nothing in it carries a derivative.
pub(super) fn holds_integers(ty: &syn::Type) -> bool {
    fn leaf(ty: &syn::Type) -> bool {
        match ty {
            syn::Type::Reference(r) => leaf(&r.elem),
            syn::Type::Tuple(t) => t.elems.iter().all(leaf),
            syn::Type::Path(p) => p.path.segments.last().is_some_and(|s| {
                NOT_FLOAT.iter().any(|name| s.ident == name)
                    || s.ident == "str"
                    || s.ident == "String"
            }),
            _ => false,
        }
    }
    let syn::Type::Path(p) = ty else {
        return false;
    };
    let Some(syn::PathArguments::AngleBracketed(args)) =
        p.path.segments.last().map(|s| &s.arguments)
    else {
        return false;
    };
    args.args
        .iter()
        .all(|arg| matches!(arg, syn::GenericArgument::Type(t) if leaf(t)))
}
