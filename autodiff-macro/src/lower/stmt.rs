//! Statements, `let` patterns and bindings, and assignments to variables and array elements.

use super::branch::ExitState;
use super::scope::same_operand;
use super::syntax::*;
use super::*;
use proc_macro2::Span;
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{Expr, Pat, Stmt, UnOp};

/// `let a: [T; N] = std::array::from_fn(|i| f(i));` as `{ let mut a = [0.0; N]; for i in 0..N
/// { a[i] = f(i); } a }` (the type gives the length).
fn array_from_fn<'l>(
    local: &'l syn::Local,
    generic_float: Option<&syn::Ident>,
) -> Option<(Expr, &'l syn::ExprClosure)> {
    let (Pat::Type(typed), Some(init)) = (&local.pat, &local.init) else {
        return None;
    };
    let (syn::Type::Array(array), Expr::Call(call)) = (&*typed.ty, strip_parens(&init.expr)) else {
        return None;
    };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let [Expr::Closure(f)] = &call.args.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let [index] = &f.inputs.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    if func
        .path
        .segments
        .last()
        .is_none_or(|s| s.ident != "from_fn")
    {
        return None;
    }
    let (len, body, span) = (&array.len, &f.body, call.span());
    // The element type's zero: a generic float's (`T: Float`) is `T::zero()`.
    let zero: Expr = match &*array.elem {
        syn::Type::Path(p) if generic_float.is_some_and(|t| p.path.is_ident(t)) => {
            let elem = &array.elem;
            syn::parse_quote_spanned!(span=> <#elem>::zero())
        }
        syn::Type::Path(p) if p.path.is_ident("bool") => syn::parse_quote!(false),
        syn::Type::Path(_) if !float_cast_target(&array.elem) => syn::parse_quote!(0),
        _ => syn::parse_quote!(0.0),
    };
    // The closure's parameter (`|i|`, `|i: usize|`, `|_|`) bound to the position.
    let index = match index {
        Pat::Type(typed) => &*typed.pat,
        index => index,
    };
    let filled = syn::parse_quote_spanned!(span=> {
        let mut __autodiff_filled = [#zero; #len];
        for __autodiff_k in 0..#len {
            let #index = __autodiff_k;
            __autodiff_filled[__autodiff_k] = #body;
        }
        __autodiff_filled
    });
    Some((filled, f))
}

/// Writing into a struct element of a `Vec` (`n.layers[0] = ..`, `n.layers[0].b = ..`).
const ELEMENT_OF_STRUCTS: &str = "the elements of a `Vec` of structs can be read, not assigned (whole or a field); compute with the new value where it is used, or build a new struct (`Net { layers: vec![..] }`)";

impl Lowerer<'_> {
    /// `{ stmts; tail }` → the tail's value, in a new scope.
    pub(super) fn block(&mut self, block: &syn::Block) -> Val {
        self.scopes.push(Scope::new());
        let val = self.block_contents(&block.stmts);
        self.scopes.pop();
        val
    }

    pub(super) fn block_contents(&mut self, stmts: &[Stmt]) -> Val {
        for (index, stmt) in stmts.iter().enumerate() {
            let is_last = index + 1 == stmts.len();
            let val = match stmt {
                Stmt::Local(local) => {
                    self.local(local);
                    Val::Unit
                }
                // An empty statement `;`.
                Stmt::Expr(Expr::Verbatim(tokens), Some(_)) if tokens.is_empty() => Val::Unit,
                Stmt::Expr(expr, semi) => {
                    let v = self.expr(expr);
                    if semi.is_none() && is_last {
                        v
                    } else {
                        Val::Unit
                    }
                }
                Stmt::Item(item) => {
                    self.item(item);
                    Val::Unit
                }
                Stmt::Macro(mac) => {
                    self.macro_expr(&mac.mac);
                    Val::Unit
                }
            };
            if is_last {
                return val;
            }
            // After a `break`, `continue` or `return` that may have run, the rest of the block
            // runs only if it did not.
            match self.exit_state() {
                ExitState::Running => {}
                ExitState::Exited => return Val::Scalar(dummy()),
                ExitState::Maybe(flags) => {
                    let rest = &stmts[index + 1..];
                    let cond = self.not_any(&flags, stmt.span());
                    let span = stmt.span();
                    return self.lower_if(
                        cond,
                        |l| l.block_contents(rest),
                        |_| Val::Scalar(dummy()),
                        span,
                    );
                }
            }
        }
        Val::Unit
    }

    pub(super) fn item(&mut self, item: &syn::Item) {
        match item {
            syn::Item::Const(_) | syn::Item::Fn(_) | syn::Item::Use(_) | syn::Item::Static(_) => {
                if !self.muted {
                    self.items.push(item.clone())
                }
            }
            _ => self.error(
                item,
                "only `const`, `static`, `fn` and `use` items may be declared inside a differentiated function; move this item out of the function",
            ),
        }
    }

    pub(super) fn local(&mut self, local: &syn::Local) {
        let Some(init) = &local.init else {
            self.declare_uninit(&local.pat, None);
            return;
        };
        // `let a: [f64; 3] = std::array::from_fn(|i| ..);`: the loop that fills it (not with a
        // `return` in the closure, which leaves the closure, not the loop: the closure's error).
        if let Some((filled, f)) = array_from_fn(local, self.generic_float.as_ref()) {
            if super::closure::returns_from(f) {
                self.closure(f);
                self.bind(&local.pat, Val::Poison, None);
                return;
            }
            let mut local = local.clone();
            if let Some(init) = &mut local.init {
                *init.expr = filled;
            }
            return self.local(&local);
        }
        // `let b = *a;` of an array behind a reference: a copy, an array of its own by value.
        if let Some(copy) = self.deref_param_array(&init.expr) {
            let mut local = local.clone();
            if let Some(init) = &mut local.init {
                *init.expr = copy;
            }
            return self.local(&local);
        }
        // `let [first, rest @ ..] = x else { return w };` of an array: the length tested, the
        // elements bound.
        if let (Pat::Slice(slice), Some((_, diverge))) = (&local.pat, &init.diverge) {
            let span = local.let_token.span();
            let val = self.expr(&init.expr);
            if !matches!(val, Val::Mem(..)) {
                self.error(&init.expr, "`let [..] = .. else` takes an array or slice the function holds; bind a call's result with `let` first");
                return;
            }
            let len = self.length(&val, span);
            if let Some(test) = self.slice_length_test(slice, len, span) {
                let missing = self.int(quote!(!H0), vec![test], span);
                self.lower_if(missing, |l| l.expr(diverge), |_| Val::Unit, span);
                self.bind(&local.pat, val, None);
            }
            return;
        }
        // `let Some(v) = o else { return 0.0 };`: the names the pattern binds, given by the
        // `if let` it stands for, whose `else` diverges.
        if let Some((_, diverge)) = &init.diverge {
            let pat = &local.pat;
            let expr = &init.expr;
            let names = let_else_names(pat);
            let (bound, made): (Vec<proc_macro2::TokenStream>, Vec<proc_macro2::TokenStream>) =
                names
                    .iter()
                    .map(|(ident, mutable)| {
                        let bound = if *mutable {
                            quote!(mut #ident)
                        } else {
                            quote!(#ident)
                        };
                        (bound, quote!(#ident))
                    })
                    .unzip();
            let span = local.let_token.span();
            let stmt: syn::Stmt = match (&bound[..], &made[..]) {
                ([], _) => syn::parse_quote_spanned!(span=>
                    if let #pat = #expr {} else #diverge
                ),
                ([bound], [made]) => syn::parse_quote_spanned!(span=>
                    let #bound = if let #pat = #expr { #made } else #diverge;
                ),
                _ => syn::parse_quote_spanned!(span=>
                    let (#(#bound),*) = if let #pat = #expr { (#(#made),*) } else #diverge;
                ),
            };
            match &stmt {
                syn::Stmt::Local(desugared) => self.local(desugared),
                syn::Stmt::Expr(expr, _) => {
                    self.expr(expr);
                }
                _ => {}
            }
            return;
        }
        // `let perm: Vec<usize> = (0..n).collect();`: integers, collected as written into an
        // array of the function (which `perm.swap(i, j)` may write); `let lk: HashMap<usize,
        // f64> = pairs.into_iter().collect();`: a map of data, kept as written.
        if let (Pat::Type(typed), Expr::MethodCall(call)) = (&local.pat, strip_parens(&init.expr)) {
            let map = is_map_type(&typed.ty);
            let dims = integer_container_dims(&typed.ty).filter(|&dims| dims > 0);
            if let (true, Pat::Ident(name), "collect") = (
                map || dims.is_some(),
                &*typed.pat,
                call.method.to_string().as_str(),
            ) {
                // Typed as the `let` is, which the collected value's own binding is not.
                let mut call = call.clone();
                if call.turbofish.is_none() {
                    let ty = &typed.ty;
                    call.turbofish = Some(syn::parse_quote!(::<#ty>));
                }
                // Closures in the chain (`.map(|&i| i + 1)`, an active set's `filter`) compute
                // integers too: cut. A map of numbers is data, or an error.
                let collected = self.opaque_keeping_closures(
                    &Expr::MethodCall(call),
                    !map || holds_integers(&typed.ty),
                    "a map or a set of differentiated values cannot be differentiated; keep the values in a `Vec` and the map of their positions (`HashMap<usize, usize>`)".to_owned(),
                    true,
                );
                let Some(dims) = dims.filter(|_| !map) else {
                    let var = Var::user(name.ident.to_string());
                    self.declare_binding(var, Binding::new(Some(collected)));
                    return;
                };
                if let Val::Scalar(Operand::Value(value)) = collected {
                    let (ty, span) = (Some((*typed.ty).clone()), name.ident.span());
                    let mem =
                        self.array_from_value(value, dims, Some(name.ident.to_string()), ty, span);
                    self.integer_arrays.insert(mem, (*typed.ty).clone());
                    let var = Var::user(name.ident.to_string());
                    self.declare_binding(var, Binding::new(Some(Val::Mem(mem, Vec::new()))));
                }
                return;
            }
        }
        self.integer_sum = match (&local.pat, strip_parens(&init.expr)) {
            (Pat::Type(typed), Expr::MethodCall(call))
                if !float_cast_target(&typed.ty) && call.turbofish.is_none() =>
            {
                Some(call as *const _)
            }
            _ => None,
        };
        let val = self.expr(&init.expr);
        self.integer_sum = None;
        // `let mut idx: Vec<usize> = vec![0, 1];`: integers, whatever is assigned later.
        if let (Pat::Type(typed), Val::Mem(mem, prefix)) = (&local.pat, &val) {
            if prefix.is_empty() && integer_container_dims(&typed.ty).is_some() {
                self.integer_arrays.insert(*mem, (*typed.ty).clone());
            }
        }
        // `let r = &v;`, or `let r = p;` of a name bound by reference (`p` of `for p in pts`).
        self.binding_ref = match strip_parens(&init.expr) {
            Expr::Reference(_) => true,
            // `(&a[0], &a[1..])`, `v.split_last().unwrap()`: references, bound as such.
            Expr::Tuple(t) => {
                !t.elems.is_empty() && t.elems.iter().all(|e| matches!(e, Expr::Reference(_)))
            }
            // ... and `v.last().unwrap()`, `v.iter().max_by(..).unwrap()`, a reference to the
            // element; `v.iter().max_by(..)` itself, an `Option` of one (as is a variable
            // declared `Option<&Atom>`).
            Expr::MethodCall(unwrap) => {
                gives_element_reference(unwrap)
                    || match strip_parens(&unwrap.receiver) {
                        Expr::MethodCall(inner) => gives_element_reference(inner),
                        Expr::Path(path) => {
                            matches!(unwrap.method.to_string().as_str(), "unwrap" | "expect")
                                && self.bound_by_ref(path)
                        }
                        _ => false,
                    }
            }
            Expr::Path(path) => self.bound_by_ref(path),
            _ => false,
        } || matches!(&local.pat, Pat::Type(typed) if self.struct_option(&typed.ty));
        self.bind(&local.pat, val, None);
        self.binding_ref = false;
    }

    /// Whether `ty` is `Option<&Atom>` or `Option<&Vec<f64>>`, of a reference to a struct or a
    /// row (not to a number, a slice or a `str`).
    fn struct_option(&self, ty: &syn::Type) -> bool {
        type_arg(strip_type_parens(ty), "Option").is_some_and(|inner| {
            let referent = struct_referent(inner);
            !std::ptr::eq(referent, inner)
                && float_cast_target(referent)
                && !crate::signature::is_float(referent, self.generic_float.as_ref())
        })
    }

    /// The struct element at `prefix` of `mem` (of `Some(&m.atoms[i])`, `m.atoms.first()`) as
    /// a value, read only where `some` holds: a computed `Option` (`nth(i)`, `first()`) may
    /// point past the end where it is `None`.
    pub(super) fn element_where(
        &mut self,
        mem: Mem,
        prefix: Vec<Operand>,
        some: &Operand,
        span: Span,
    ) -> Val {
        let load = move |l: &mut Self| {
            let value = l.emit(Op::Load(mem), prefix, span);
            l.values[value.index()].aggregate = true;
            l.element_refs.insert(value);
            Val::Scalar(Operand::Value(value))
        };
        let val = match some {
            Operand::Bool(true) => load(self),
            some => self.lower_if(some.clone(), load, |_| Val::Scalar(dummy()), span),
        };
        if let Val::Scalar(Operand::Value(v)) = val {
            self.element_refs.insert(v);
        }
        val
    }

    /// `value`, the payload of an `Option` whose flag is `some`: a struct element (of
    /// `m.atoms.first()`, `Some(&m.atoms[i])`) read as a value where the flag holds (see
    /// [`Self::element_where`]); any other payload as it is.
    pub(super) fn element_value(&mut self, value: Val, some: &Operand, span: Span) -> Val {
        match value {
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured && !prefix.is_empty() => {
                self.element_where(mem, prefix, some, span)
            }
            value => value,
        }
    }

    /// Whether `path` names a variable bound by reference.
    pub(super) fn bound_by_ref(&self, path: &syn::ExprPath) -> bool {
        local_name(path)
            .and_then(|ident| self.lookup_user(&ident.to_string()))
            .is_some_and(|binding| binding.by_ref)
    }

    /// `*a` of a name that holds a reference to a reference to a row, or `a.1` of one that
    /// holds a reference to an item holding a reference to a row (see [`Binding::behind_ref`]):
    /// a reference to the row.
    pub(super) fn deref_behind_ref(&self, expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::Field(syn::ExprField {
                base,
                member: syn::Member::Unnamed(index),
                ..
            }) => match strip_parens(base) {
                Expr::Path(path) => {
                    match local_name(path).and_then(|ident| self.lookup_user(&ident.to_string())) {
                        Some(Binding {
                            val: Some(Val::Tuple(parts)),
                            behind_ref: true,
                            ..
                        }) => match parts.get(index.index as usize) {
                            Some(Val::Mem(..)) => true,
                            Some(Val::Scalar(Operand::Value(v))) => {
                                self.struct_elements.contains_key(v)
                            }
                            _ => false,
                        },
                        _ => false,
                    }
                }
                _ => false,
            },
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Deref(_),
                expr: inner,
                ..
            }) => match strip_parens(inner) {
                Expr::Path(path) => local_name(path)
                    .and_then(|ident| self.lookup_user(&ident.to_string()))
                    .is_some_and(|binding| binding.behind_ref),
                _ => false,
            },
            _ => false,
        }
    }

    /// `let x;`, `let x: T;` (the type is kept for the constants assigned later, `x = 0.5;`,
    /// which need one), `let (a, b);`.
    pub(super) fn declare_uninit(&mut self, pat: &Pat, ty: Option<&syn::Type>) {
        match pat {
            Pat::Ident(pat_ident) => self.declare_binding(
                Var::user(pat_ident.ident.to_string()),
                Binding {
                    declared_ty: ty.cloned(),
                    ..Binding::new(None)
                },
            ),
            Pat::Type(pat_type) => self.declare_uninit(&pat_type.pat, Some(&pat_type.ty)),
            Pat::Tuple(tuple) => tuple
                .elems
                .iter()
                .for_each(|p| self.declare_uninit(p, None)),
            _ => self.unsupported_pattern(pat),
        }
    }

    /// `let PAT: TY = val;`
    pub(super) fn bind(&mut self, pat: &Pat, val: Val, ty: Option<&syn::Type>) {
        match pat {
            Pat::Ident(pat_ident) => self.bind_ident(pat_ident, val, ty),
            Pat::Type(pat_type) => self.bind(&pat_type.pat, val, Some(&pat_type.ty)),
            Pat::Paren(paren) => self.bind(&paren.pat, val, ty),
            // `&v`: the macro holds numbers and arrays by value; a borrow of data that is not
            // differentiated (an item of `tokens.iter()`) is dereferenced, and the reference a
            // `filter` gives taken off.
            Pat::Reference(reference) => {
                let val = match (self.unreferenced(&val), val) {
                    (Some(unreferenced), _) => unreferenced,
                    (None, Val::Scalar(Operand::Value(value))) if self.borrows.contains(&value) => {
                        let hole = Opaque::hole(0);
                        let op = Op::Opaque(Opaque::cut(quote!(*#hole)));
                        let span = reference.span();
                        let value = self.emit(op, vec![Operand::Value(value)], span);
                        self.kept_as_written.insert(value);
                        Val::Scalar(Operand::Value(value))
                    }
                    (None, val) => val,
                };
                // What `&(u, v)` binds is by value, not a part of a borrowed item; but `&a` of
                // a reference to a reference to a row (a comparator's `|&a, &b|` over
                // `pts.iter()`) is still a reference to the row.
                let behind_ref = std::mem::replace(&mut self.binding_behind_ref, false);
                let binding_ref = std::mem::replace(&mut self.binding_ref, behind_ref);
                self.bind(&reference.pat, val, ty);
                self.binding_ref = binding_ref;
                self.binding_behind_ref = behind_ref;
            }
            // `let Polar(r, theta) = p;`, `let State { x, v } = s;`
            Pat::TupleStruct(ts) => {
                // `Polar(r, ..)`: the fields before a last `..` (the ones after it would need
                // the count).
                let rest = ts.elems.iter().position(|p| matches!(p, Pat::Rest(_)));
                if rest.is_some_and(|r| r + 1 != ts.elems.len()) {
                    self.error(
                        pat,
                        "`..` in a tuple struct's pattern is supported at its end (`Polar(r, ..)`); before other fields, write `_` for each field it stands for (`Polar(r, _, z)`)",
                    );
                    return;
                }
                for (k, elem) in ts
                    .elems
                    .iter()
                    .take(rest.unwrap_or(ts.elems.len()))
                    .enumerate()
                {
                    let member = syn::Member::Unnamed(syn::Index::from(k));
                    let part = self.member_of(val.clone(), &member, ts.paren_token.span.join());
                    self.bind(elem, part, None);
                }
            }
            // `let Params { mu, log_s, .. } = *self;`: the fields named.
            Pat::Struct(ps) => {
                for field in &ps.fields {
                    let part = self.member_of(val.clone(), &field.member, field.member.span());
                    self.bind(&field.pat, part, None);
                }
            }
            // `let [x, y] = p;`, `let [first, .., last] = v;`
            Pat::Slice(slice) => self.bind_slice(slice, val),
            Pat::Wild(_) => {}
            Pat::Tuple(tuple) => {
                let elem_types: Option<Vec<&syn::Type>> = match ty {
                    Some(syn::Type::Tuple(t)) if t.elems.len() == tuple.elems.len() => {
                        Some(t.elems.iter().collect())
                    }
                    _ => None,
                };
                if tuple.elems.iter().any(|p| matches!(p, Pat::Rest(_))) {
                    self.error(
                        pat,
                        "`..` in tuple patterns is not supported; name every element",
                    );
                    return;
                }
                let Some(parts) = self.tuple_parts(val, tuple.elems.len(), pat) else {
                    for elem in &tuple.elems {
                        self.bind(elem, Val::Poison, None);
                    }
                    return;
                };
                let owned_parts = std::mem::take(&mut self.binding_owned_parts);
                let (binding_ref, behind_ref) = (self.binding_ref, self.binding_behind_ref);
                for (index, (elem, part)) in tuple.elems.iter().zip(parts).enumerate() {
                    // A part the chain copies (`a` of `.cloned().zip(x)`) is a value.
                    if owned_parts.get(index).copied().unwrap_or(false) {
                        self.binding_ref = false;
                        self.binding_behind_ref = false;
                    }
                    // `|(_, &e)|` of `filter`'s `&(&f64, &bool)` (edition 2021): the tuple's
                    // reference is matched through, and `&e` takes off the part's own.
                    let part = match (elem, self.unreferenced(&part)) {
                        (Pat::Reference(_), Some(unreferenced)) => unreferenced,
                        _ => part,
                    };
                    self.bind(elem, part, elem_types.as_ref().map(|t| t[index]));
                    (self.binding_ref, self.binding_behind_ref) = (binding_ref, behind_ref);
                }
            }
            _ => self.unsupported_pattern(pat),
        }
    }

    /// `let x = val;`, `let mut x: TY = val;`
    fn bind_ident(&mut self, pat_ident: &syn::PatIdent, val: Val, ty: Option<&syn::Type>) {
        if let Some(by_ref) = &pat_ident.by_ref {
            self.error(
                by_ref,
                "`ref` bindings are not supported; bind the value itself",
            );
        }
        if let Some((at, _)) = &pat_ident.subpat {
            self.error(at, "`@` patterns are not supported");
        }
        let name = pat_ident.ident.to_string();
        let val = match val {
            // `let b = p.bias;` reads a number from a struct; `let w = &p.w;` names
            // its field.
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                // `let q = p;` names the whole struct; `let mut q = *p;` copies it into a
                // value of its own.
                let whole = prefix.is_empty() && self.mems[mem.index()].field.is_none();
                if whole && pat_ident.mutability.is_some() && !self.binding_ref {
                    let value = self.emit(Op::Load(mem), prefix, pat_ident.span());
                    self.values[value.index()].aggregate = true;
                    self.name_value(
                        &name,
                        Val::Scalar(Operand::Value(value)),
                        ty,
                        pat_ident.span(),
                    )
                } else if whole || (self.binding_ref && pat_ident.mutability.is_none()) {
                    Val::Mem(mem, prefix)
                } else {
                    // A field read whole may be a struct (`let a = s.p; a.e(x)`).
                    let part = prefix.is_empty();
                    let param_row = !part && self.mems[mem.index()].param.is_some();
                    let value = self.emit(Op::Load(mem), prefix.clone(), pat_ident.span());
                    if part {
                        self.parts.insert(value);
                    }
                    // `let mut prev = &m.atoms[0];`, which a loop moves on (`prev = a`): a
                    // struct value, whose joins are too (of the type `&Atom` refers to).
                    let referent;
                    let ty = match ty {
                        Some(syn::Type::Reference(r)) if self.binding_ref => {
                            referent = (*r.elem).clone();
                            Some(&referent)
                        }
                        ty => ty,
                    };
                    if self.binding_ref {
                        self.values[value.index()].aggregate = true;
                    }
                    // An element or row of a parameter's field (`let wp = ag.waypoints[1];`),
                    // which cannot change: a call takes it as the place it is, a row.
                    if param_row {
                        self.struct_elements.insert(value, (mem, prefix));
                    }
                    // `let mut q = s.pos; q[0] += ..`: an array of its own, as a copy would be.
                    if pat_ident.mutability.is_some() && self.stores.array_dims(&name).is_some() {
                        let val = Val::Scalar(Operand::Value(value));
                        return self.bind_ident(pat_ident, val, ty);
                    }
                    self.name_value(
                        &name,
                        Val::Scalar(Operand::Value(value)),
                        ty,
                        pat_ident.span(),
                    )
                }
            }
            Val::Mem(mem, prefix) => self.bind_mem(mem, prefix, &name, ty, pat_ident),
            // A value kept in an array of its own: `let xs = roll(us);` of which a range is
            // taken (`cost(&xs[t..t + 3])`), which a slice views; `let mut p = f(x);` whose
            // elements are assigned later, an array to write.
            Val::Scalar(Operand::Value(value))
                if self.kept_array_dims(value, &name, pat_ident, ty).is_some() =>
            {
                let dims = self
                    .kept_array_dims(value, &name, pat_ident, ty)
                    .expect("checked");
                let (name, ty) = (Some(name.clone()), ty.cloned());
                let mem = self.array_from_value(value, dims, name, ty, pat_ident.span());
                Val::Mem(mem, Vec::new())
            }
            // `let mut h: [f64; 2] = BIAS;`: a copy of the constant array.
            Val::Scalar(constant @ Operand::Const(_))
                if pat_ident.mutability.is_some()
                    && ty.is_some_and(|t| array_shape(t).is_some()) =>
            {
                let span = pat_ident.span();
                let value = self.emit(Op::Copy, vec![constant], span);
                self.values[value.index()].aggregate = true;
                let dims = ty.and_then(array_shape).map_or(1, |(dims, _)| dims);
                let (name, ty) = (Some(name.clone()), ty.cloned());
                let mem = self.array_from_value(value, dims, name, ty, span);
                Val::Mem(mem, Vec::new())
            }
            // `let mut cur = m.atoms.first();`, which a loop may move on (`cur = m.atoms.last()`):
            // an `Option` of a struct value, as `best = Some(a)` makes.
            Val::Option(payload, some) if pat_ident.mutability.is_some() => {
                let payload = self.element_value(*payload, &some, pat_ident.span());
                let val = Val::Option(Box::new(payload), some);
                self.name_value(&name, val, ty, pat_ident.span())
            }
            // `let mut second = (f64::MAX, pts[0]);`: a row in a tuple assigned later is an
            // array of its own, as a copy would be.
            Val::Tuple(parts) if pat_ident.mutability.is_some() => {
                let span = pat_ident.span();
                let parts = self.owned_rows(Val::Tuple(parts), span);
                self.name_value(&name, parts, ty, span)
            }
            val => self.name_value(&name, val, ty, pat_ident.span()),
        };
        // Bound by reference: an array, or a part of an item the macro holds a copy of (`x` of
        // `for (x, y) in data.iter()`), which a call takes as `&x`.
        let by_ref = self.binding_ref
            && match &val {
                Val::Mem(..) | Val::Option(..) => true,
                Val::Scalar(Operand::Value(v)) => {
                    self.parts.contains(v)
                        || self.values[v.index()].aggregate
                        || self.values[v.index()].cloned
                        || self.struct_elements.contains_key(v)
                }
                _ => false,
            };
        let behind_ref = self.binding_behind_ref
            && match &val {
                Val::Mem(..) => by_ref,
                Val::Scalar(Operand::Value(v)) => by_ref && self.struct_elements.contains_key(v),
                Val::Tuple(_) => true,
                _ => false,
            };
        self.declare_binding(
            Var::user(name),
            Binding {
                by_ref,
                behind_ref,
                ..Binding::new(Some(val))
            },
        );
    }

    /// The indices of the array a value bound to `name` is kept in, if it is kept in one (see
    /// `bind_ident`).
    /// (A value the `let` types as an array is one: `let row: [f64; 3] = h[1];` of a call's
    /// matrix `h`.)
    fn kept_array_dims(
        &self,
        value: Value,
        name: &str,
        pat: &syn::PatIdent,
        ty: Option<&syn::Type>,
    ) -> Option<usize> {
        let array = self.values[value.index()].aggregate
            || self.parts.contains(&value)
            || ty.is_some_and(|t| array_shape(t).is_some());
        let sliced = array.then(|| self.stores.sliced_dims(name)).flatten();
        let written = pat.mutability.and_then(|_| self.stores.array_dims(name));
        sliced.max(written)
    }

    /// Writes `ty` (an array's, or what a reference to one refers to) on `mem`'s declaration, in
    /// a block still open, if it has none.
    fn type_untyped_declaration(&mut self, mem: Mem, ty: &syn::Type) {
        let ty = match ty {
            syn::Type::Reference(r) => &*r.elem,
            ty => ty,
        };
        if !matches!(ty, syn::Type::Array(_)) {
            return;
        }
        for block in self.blocks.iter_mut().rev() {
            for stmt in block.iter_mut() {
                if let ir::Stmt::MemInit(init) = stmt {
                    if init.mem == mem && init.declare {
                        if init.ty.is_none() {
                            init.ty = Some(ty.clone());
                        }
                        return;
                    }
                }
            }
        }
    }

    /// `let [x, y] = p;`, `let [first, .., last] = v;`, `let [first, rest @ ..] = v;`
    fn bind_slice(&mut self, slice: &syn::PatSlice, val: Val) {
        if matches!(val, Val::Poison) {
            return;
        }
        let span = slice.bracket_token.span.join();
        let n = slice.elems.len();
        let rest = slice.elems.iter().position(is_rest);
        let len = rest.map(|_| self.length(&val, span));
        for (k, elem) in slice.elems.iter().enumerate() {
            if matches!(elem, Pat::Wild(_)) {
                continue;
            }
            let index = match (rest, &len) {
                // `rest @ ..`: the elements between, a slice of `val`.
                (Some(r), Some(len)) if k == r => {
                    if let (Pat::Ident(name), Val::Mem(mem, prefix)) = (elem, &val) {
                        let (hole, after) = (Opaque::hole(0), n - k - 1);
                        let op = Op::Opaque(Opaque::cut(quote!(#hole - #after)));
                        let end = Operand::Value(self.emit(op, vec![len.clone()], span));
                        let mut view = prefix.clone();
                        view.push(Operand::Range(Box::new(Operand::Index(k)), Box::new(end)));
                        let name = name.ident.to_string();
                        self.declare(Var::user(&name), Some(Val::Mem(*mem, view)));
                    }
                    continue;
                }
                (Some(r), Some(len)) if k > r => {
                    let (hole, from_end) = (Opaque::hole(0), n - k);
                    let op = Op::Opaque(Opaque::cut(quote!(#hole - #from_end)));
                    Operand::Value(self.emit(op, vec![len.clone()], span))
                }
                _ => Operand::Index(k),
            };
            let item = self.element(val.clone(), index, span);
            self.bind(elem, item, None);
        }
    }

    /// `let a = <array>;`: a new array takes the name; a local array is copied, as Rust copies
    /// arrays (a `Vec` moves, so it is the same memory); a parameter is read-only, so it is
    /// the same memory unless the binding is `mut`.
    pub(super) fn bind_mem(
        &mut self,
        mem: Mem,
        prefix: Vec<Operand>,
        name: &str,
        ty: Option<&syn::Type>,
        pat: &syn::PatIdent,
    ) -> Val {
        // `|z: [f64; 2]| ..` called with `s` of `let s = [0.5, 0.0];`: the parameter's type is
        // the only one the literal has, which the generated code must then write on it.
        if let (Some(ty), true) = (ty, prefix.is_empty()) {
            self.type_untyped_declaration(mem, ty);
        }
        let data = &self.mems[mem.index()];
        let fresh = data.name.is_none() && data.param.is_none() && prefix.is_empty();
        let mutable = pat.mutability.is_some();
        if fresh {
            self.mems[mem.index()].name = Some(name.to_owned());
            if let Some(ir::Stmt::MemInit(init)) = self.blocks.last_mut().and_then(|b| b.last_mut())
            {
                if init.mem == mem {
                    // `let p: &[f64; 2] = &[a, b];` declares the array `[a, b]` itself (of a
                    // length only the elements tell, for `&[f64]`).
                    init.ty = ty.and_then(|ty| match ty {
                        syn::Type::Reference(r) => {
                            matches!(&*r.elem, syn::Type::Array(_)).then(|| (*r.elem).clone())
                        }
                        ty => Some(ty.clone()),
                    });
                }
            }
            return Val::Mem(mem, prefix);
        }
        // A reference (`let r = &m[i];`, an item of `m.iter()`) names the array it borrows,
        // which cannot change while it is borrowed.
        if self.binding_ref && !mutable {
            return Val::Mem(mem, prefix);
        }
        // A `Vec` is moved, not copied: the new name may hold it unless either name is assigned
        // again, which writes into it (`let old = v; v = w;`), or a tuple holds it (assigning
        // the tuple writes into it).
        let reassigned = [data.name.as_deref(), Some(name)]
            .into_iter()
            .flatten()
            .any(|n| self.stores.whole.contains(n))
            || self.tuple_arrays.contains(&mem);
        // A row taken by value (`let old = p[i];`) is an array, which Rust copies.
        let alias = match data.param {
            Some(_) => !mutable,
            None => {
                data.vec && prefix.is_empty() && !reassigned && !self.maybe_arrays.contains(&mem)
            }
        };
        if alias {
            return Val::Mem(mem, prefix);
        }
        self.copy_mem(mem, &prefix, Some(name.to_owned()), pat.span())
    }

    pub(super) fn copy_mem(
        &mut self,
        src: Mem,
        prefix: &[Operand],
        name: Option<String>,
        span: Span,
    ) -> Val {
        if !prefix.is_empty() {
            let dims = self.mems[src.index()].dims - depth(prefix);
            // A sub-slice: its elements, collected into a `Vec`.
            if matches!(prefix.last(), Some(Operand::Range(..))) {
                if dims != 1 {
                    self.error_at(
                        span,
                        "copying several rows of an array is not supported; copy the whole array, or its rows one by one",
                    );
                    return Val::Poison;
                }
                return self.copy_view(src, prefix.to_vec(), name, span);
            }
            // A row (a matrix of a `Vec` of matrices): a clone of it, of its own type (an array,
            // which a call may take by value).
            let row = self.row_value(src, prefix.to_vec(), span);
            return Val::Mem(
                self.array_from_value(row, dims, name, None, span),
                Vec::new(),
            );
        }
        let data = &self.mems[src.index()];
        let mem = self.new_mem(name, data.dims, data.vec, None);
        if self.maybe_arrays.contains(&src) {
            self.maybe_arrays.insert(mem);
        }
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::Copy { src },
            declare: true,
            len: None,
            ty: None,
            span,
        }));
        Val::Mem(mem, Vec::new())
    }

    /// An array put into a tuple, an `Option` or a `move` closure, or iterated by value: a copy,
    /// as Rust makes one (arrays are `Copy`), so that later writes to the array leave it alone.
    /// A `Vec` is moved instead (or a slice borrowed), and a temporary has no other name: they
    /// are kept. With `params`, an array parameter is copied too: a tuple writes it when it is
    /// assigned again (`st = (xn, l)`).
    pub(super) fn copied_in(&mut self, val: Val, params: bool, span: Span) -> Val {
        match val {
            Val::Mem(mem, prefix) if prefix.is_empty() => {
                let data = &self.mems[mem.index()];
                // A local `Vec` is moved, unless its name is assigned again later.
                let moved = data.vec
                    && !self.maybe_arrays.contains(&mem)
                    && !data
                        .name
                        .as_ref()
                        .is_some_and(|n| self.stores.whole.contains(n));
                let copy = !data.structured
                    && !moved
                    && match data.param {
                        Some(_) => params && !data.vec,
                        None => data.name.is_some(),
                    };
                if !copy {
                    return Val::Mem(mem, prefix);
                }
                self.copy_mem(mem, &[], None, span)
            }
            // A row of a local matrix (`Some(m[0])`, `for v in m[0]`), and with `params` of a
            // parameter's (`best = Some(pts[i])`).
            Val::Mem(mem, prefix)
                if self.is_local_row(mem, &prefix) || params && self.is_row(mem, &prefix) =>
            {
                self.copy_mem(mem, &prefix, None, span)
            }
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .into_iter()
                    .map(|part| self.copied_in(part, params, span))
                    .collect(),
            ),
            val => val,
        }
    }

    /// `x.to_vec()`, `x.clone()`, `x.to_owned()` of an array: `to_vec` of an array makes a `Vec`,
    /// whose type later assignments (`v = f(&v)`) and `push` rely on.
    pub(super) fn copy_of(
        &mut self,
        method: &str,
        src: Mem,
        prefix: &[Operand],
        span: Span,
    ) -> Val {
        let data = &self.mems[src.index()];
        // Of an array, or of a row, which may be one.
        if method == "to_vec" && (!prefix.is_empty() || !data.vec && data.dims == 1) {
            return self.copy_view(src, prefix.to_vec(), None, span);
        }
        self.copy_mem(src, prefix, None, span)
    }

    /// The elements of a tuple value: a tuple expression's parts, or projections of a value.
    pub(super) fn tuple_parts(
        &mut self,
        val: Val,
        len: usize,
        at: &impl ToTokens,
    ) -> Option<Vec<Val>> {
        match val {
            Val::Tuple(parts) if parts.len() == len => Some(parts),
            Val::Scalar(Operand::Value(value)) => {
                self.values[value.index()].aggregate = true;
                let span = at.to_token_stream().span();
                Some(
                    (0..len)
                        .map(|index| {
                            let field = self.emit(
                                Op::Field(syn::Member::Unnamed(syn::Index {
                                    index: index as u32,
                                    span,
                                })),
                                vec![Operand::Value(value)],
                                span,
                            );
                            self.parts.insert(field);
                            Val::Scalar(Operand::Value(field))
                        })
                        .collect(),
                )
            }
            Val::Scalar(_) if is_dummy(&val) => Some(vec![Val::Scalar(dummy()); len]),
            Val::Poison => None,
            _ => {
                self.error(at, format!("expected a tuple of {len} elements here"));
                None
            }
        }
    }

    /// Gives `val` the user's name and type annotation: the instruction that just computed it
    /// takes both; otherwise a copy is made when there is an annotation to keep.
    pub(super) fn name_value(
        &mut self,
        name: &str,
        val: Val,
        ty: Option<&syn::Type>,
        span: Span,
    ) -> Val {
        let operand = match val {
            Val::Scalar(operand) => operand,
            // `let t: (f64, f64) = (0.7, x);`: each element keeps its annotation.
            Val::Tuple(parts) => {
                let parts = self.owned_parts(name, parts, span);
                let types: Vec<Option<&syn::Type>> = match ty.map(strip_type_parens) {
                    Some(syn::Type::Tuple(t)) if t.elems.len() == parts.len() => {
                        t.elems.iter().map(Some).collect()
                    }
                    _ => vec![None; parts.len()],
                };
                let parts = parts
                    .into_iter()
                    .zip(types)
                    .enumerate()
                    .map(|(k, (part, ty))| self.name_value(&format!("{name}_{k}"), part, ty, span))
                    .collect();
                return Val::Tuple(parts);
            }
            // `let mut best: Option<f64> = None;`: the value inside takes the annotation, which
            // a method called on it later (`b.max(v)`) needs.
            Val::Option(value, some) => {
                let struct_option = ty.is_some_and(|ty| self.struct_option(ty));
                let inner = ty
                    .map(strip_type_parens)
                    .and_then(|ty| type_arg(ty, "Option"))
                    .map(|inner| match struct_referent(inner) {
                        // `Option<&[f64; 2]>` of a row: an array of the variable's own.
                        array @ syn::Type::Array(_) => array,
                        _ if !struct_option => inner,
                        referent => referent,
                    });
                // `None` of an annotated tuple or array type: the shape a later `Some(..)` has.
                let value = match (*value, inner) {
                    (value, Some(inner)) if is_dummy(&value) => self.nothing_of_type(inner, span),
                    (value, _) => value,
                };
                // An array inside is the variable's own (`let got = stash;` is a copy, which
                // `stash = Some([..])` leaves alone), as a tuple's are.
                let value = match value {
                    array @ Val::Mem(..) => self
                        .owned_parts(name, vec![array], span)
                        .pop()
                        .expect("one part"),
                    value => value,
                };
                let value = self.name_value(name, value, inner, span);
                // `let mut best: Option<&Atom> = None;`: a struct value, which loops carry.
                if let (true, Val::Scalar(Operand::Value(v))) = (struct_option, &value) {
                    self.values[v.index()].aggregate = true;
                    self.element_refs.insert(*v);
                }
                return Val::Option(Box::new(value), some);
            }
            val => return val,
        };
        // A number is held by value: `|x: &f64|` of an item of `xs.iter()`, `|v: &&f64|` of
        // `filter`, binds the number.
        let generic = self.generic_float.clone();
        let generic = generic.as_ref();
        let ty = ty.map(|ty| {
            let mut inner = strip_type_parens(ty);
            while let syn::Type::Reference(r) = inner {
                inner = strip_type_parens(&r.elem);
            }
            if crate::signature::is_float(inner, generic) {
                inner
            } else {
                ty
            }
        });
        if let Operand::Value(value) = &operand {
            let value = *value;
            if self.values[value.index()].name.is_none() {
                if let Some(inst) = self.last_inst_mut(value) {
                    if inst.ty.is_none() {
                        inst.ty = ty.cloned();
                    }
                    self.values[value.index()].name = Some(name.to_owned());
                    return Val::Scalar(operand);
                }
            }
            // An alias: `let y = x;` reads the same value; so does `|a: &Atom|` of a struct
            // the macro holds by value, which a copy of the annotated type would not fit.
            let struct_ref = matches!(ty.map(strip_type_parens), Some(syn::Type::Reference(_)))
                && (self.values[value.index()].aggregate
                    || self.structs.contains(&value)
                    || self.struct_elements.contains_key(&value));
            // `|a: Atom|` of an element of a struct's `Vec` (`.cloned()`): the element, read
            // in place (and cloned where passed by value), not a copy typed as a number.
            let element = self.struct_elements.contains_key(&value)
                && !ty.is_some_and(|ty| crate::signature::is_float(ty, generic));
            if ty.is_none() || struct_ref || element {
                return Val::Scalar(operand);
            }
        }
        // A constant, or an annotated alias whose annotation may drive inference: a struct
        // or an array stays one (`let mut q: State = s;`).
        let like = operand.value();
        let copy = self.emit(Op::Copy, vec![operand], span);
        if let Some(v) = like {
            self.values[copy.index()].aggregate = self.values[v.index()].aggregate;
            for set in [&mut self.structs, &mut self.parts] {
                if set.contains(&v) {
                    set.insert(copy);
                }
            }
        }
        self.values[copy.index()].name = Some(name.to_owned());
        if let Some(inst) = self.last_inst_mut(copy) {
            inst.ty = ty.cloned();
        }
        Val::Scalar(Operand::Value(copy))
    }

    /// `name = 0.2;`: a float literal alone has no type, and a method called on it later
    /// (`name.cos()`) would not compile. It takes the type of the variable's current value
    /// (`cast_like`), or of its declaration (`let v: f64;`).
    pub(super) fn typed_const(
        &mut self,
        name: &str,
        current: Option<Val>,
        c: Const,
        span: Span,
    ) -> Val {
        if let Some(Val::Scalar(Operand::Value(like))) = current {
            let hole = Opaque::hole(0);
            let tokens = c.parenthesized();
            let expr = quote!(::autodiff_core::__private::cast_like(#tokens, #hole));
            let value = self.emit(
                Op::Opaque(Opaque::cut(expr)),
                vec![Operand::Value(like)],
                span,
            );
            return self.name_value(name, Val::Scalar(Operand::Value(value)), None, span);
        }
        let declared = self
            .lookup_user(name)
            .and_then(|binding| binding.declared_ty.clone());
        self.name_value(
            name,
            Val::Scalar(Operand::Const(c)),
            declared.as_ref(),
            span,
        )
    }

    pub(super) fn unsupported_pattern(&self, pat: &Pat) {
        self.error(
            pat,
            "this pattern is not supported here; bind a name, a tuple of names, or `_`",
        );
    }

    /// `x = e`, `a[i] = e`, `(a, b) = e`.
    pub(super) fn assign_expr(&mut self, place: &Expr, value: &Expr) {
        // `[p, q] = [q * 2.0, p];`: the tuple assignment it is, element by element.
        if let (Expr::Array(places), Expr::Array(values)) =
            (strip_parens(place), strip_parens(value))
        {
            if places.elems.len() == values.elems.len() {
                let (places, values) = (places.elems.iter(), values.elems.iter());
                let place: Expr = syn::parse_quote!((#(#places,)*));
                let value: Expr = syn::parse_quote!((#(#values,)*));
                return self.assign_expr(&place, &value);
            }
        }
        // `idx = idx.iter().map(|&i| (i + 1) % n).collect();` of an array of integers: collected
        // as written, with the array's type.
        if let (Expr::Path(path), Expr::MethodCall(call)) = (place, strip_parens(value)) {
            let ty =
                local_name(path).and_then(|ident| match self.lookup_user(&ident.to_string()) {
                    Some(Binding {
                        val: Some(Val::Mem(mem, prefix)),
                        ..
                    }) if prefix.is_empty() => self.integer_arrays.get(mem).cloned(),
                    _ => None,
                });
            if let (Some(ty), "collect") = (ty, call.method.to_string().as_str()) {
                let mut call = call.clone();
                call.turbofish
                    .get_or_insert_with(|| syn::parse_quote!(::<#ty>));
                let val = self.opaque_keeping_closures(
                    &Expr::MethodCall(call),
                    true,
                    String::new(),
                    true,
                );
                self.assign(place, val);
                return;
            }
        }
        let before = self.exit_flags(&self.loops);
        let val = self.expr(value);
        self.unless_left(&before, place.span(), |l| l.assign(place, val));
    }

    /// Runs `write`, an assignment of a value just computed, only where computing it did not
    /// leave the block (`last = if x < -1.0 { continue } else { x };` keeps `last` on the
    /// `continue`); `before`: the exit flags before the value was computed.
    pub(super) fn unless_left(
        &mut self,
        before: &[Operand],
        span: Span,
        write: impl FnOnce(&mut Self),
    ) {
        let after = self.exit_flags(&self.loops);
        let unchanged = after.len() == before.len()
            && after.iter().zip(before).all(|(a, b)| same_operand(a, b));
        match self.exit_state() {
            _ if unchanged => write(self),
            ExitState::Exited => {}
            ExitState::Running => write(self),
            ExitState::Maybe(flags) => {
                let stay = self.not_any(&flags, span);
                self.lower_if(
                    stay,
                    |l| {
                        write(l);
                        Val::Unit
                    },
                    |_| Val::Unit,
                    span,
                );
            }
        }
    }

    pub(super) fn assign(&mut self, place: &Expr, val: Val) {
        match place {
            Expr::Path(path) => {
                let Some(ident) = local_name(path) else {
                    self.error(place, "only local variables can be assigned to");
                    return;
                };
                let name = ident.to_string();
                let var = Var::user(&name);
                // `h = pair(..)` for a tuple variable: the call's result taken apart, so that
                // `h` is a tuple of values wherever branches and loops merge it.
                let val = match (self.lookup(&var).map(|binding| &binding.val), val) {
                    (Some(Some(Val::Tuple(parts))), val @ Val::Scalar(Operand::Value(_))) => {
                        let len = parts.len();
                        match self.tuple_parts(val, len, place) {
                            Some(parts) => Val::Tuple(parts),
                            None => return,
                        }
                    }
                    // `acc = BIAS;` for an array `acc`: the constant array, copied in.
                    (Some(Some(Val::Mem(_, prefix))), Val::Scalar(constant @ Operand::Const(_)))
                        if prefix.is_empty() =>
                    {
                        let value = self.emit(Op::Copy, vec![constant], place.span());
                        Val::Scalar(Operand::Value(value))
                    }
                    (_, val) => val,
                };
                match (self.lookup(&var).map(|binding| &binding.val), val) {
                    (None, _) => self.error(place, format!("`{name}` is not a local variable of this function")),
                    // `a = b` for arrays copies the contents into `a`.
                    (Some(Some(Val::Mem(dst, prefix))), Val::Mem(src, src_prefix)) => {
                        let (dst, prefix) = (*dst, prefix.clone());
                        // A row, or a matrix of a `Vec` of matrices (`prev = world[i];`).
                        let row = self.is_row(src, &src_prefix)
                            || self.is_part(src, &src_prefix, self.mems[dst.index()].dims);
                        if matches!(src_prefix.last(), Some(Operand::Range(..))) {
                            self.error(place, "moving a slice variable on to a sub-slice (`rest = &rest[1..];`, `cur = tail;`) is not supported; keep an index into the slice instead (`x[i]`, `x[i + 1]`, `i += 1;`)");
                            return;
                        }
                        if !prefix.is_empty() || !src_prefix.is_empty() && !row {
                            self.error(place, "assigning rows of arrays is not supported; assign the elements");
                            return;
                        }
                        let len = self.length_before_assignment(dst, place.span());
                        // `keep = p[i]`: the row, read whole, written into the array.
                        let kind = if row {
                            MemInitKind::FromValue(self.row_value(src, src_prefix, place.span()))
                        } else {
                            MemInitKind::Copy { src }
                        };
                        self.push(ir::Stmt::MemInit(MemInit {
                            mem: dst,
                            kind,
                            declare: false,
                            len,
                            ty: None,
                            span: place.span(),
                        }));
                    }
                    // `v = f(v, x)` for an array `v`: the call's result is written into `v`.
                    (Some(Some(Val::Mem(dst, prefix))), Val::Scalar(Operand::Value(value))) if prefix.is_empty() => {
                        let dst = *dst;
                        self.values[value.index()].aggregate = true;
                        let len = self.length_before_assignment(dst, place.span());
                        self.push(ir::Stmt::MemInit(MemInit {
                            mem: dst,
                            kind: MemInitKind::FromValue(value),
                            declare: false,
                            len,
                            ty: None,
                            span: place.span(),
                        }));
                    }
                    // `u = p.w[1];` for a number `u` (or one declared by `let u;`) reads it.
                    (Some(None | Some(Val::Scalar(_))), Val::Mem(mem, prefix))
                        if self.mems[mem.index()].structured =>
                    {
                        let value = self.emit(Op::Load(mem), prefix, place.span());
                        let val = self.name_value(&name, Val::Scalar(Operand::Value(value)), None, place.span());
                        self.assign_var(&var, val);
                    }
                    // `st = (xn, l)` for a tuple holding an array (`prev = Some(cur)` for an
                    // `Option` holding one): the array is written into the variable's own, as
                    // `a = b` for arrays (which a loop then carries); `o = obs[i]` for one
                    // holding an `Option` the function builds.
                    (Some(Some(current @ Val::Tuple(_))), val @ Val::Tuple(_))
                    | (Some(Some(current @ Val::Option(..))), val @ Val::Option(..))
                    | (
                        Some(Some(current @ Val::Option(..))),
                        val @ Val::Scalar(Operand::Value(_)),
                    ) => {
                        let current = current.clone();
                        let val = self.assign_parts(&current, val, place.span());
                        let val = self.name_value(&name, val, None, place.span());
                        self.assign_var(&var, val);
                    }
                    (Some(current), Val::Scalar(Operand::Const(c))) if untyped_float(&c.tokens) => {
                        let val = self.typed_const(&name, current.clone(), c, place.span());
                        self.assign_var(&var, val);
                    }
                    (_, val) => {
                        let val = self.name_value(&name, val, None, place.span());
                        self.assign_var(&var, val);
                    }
                }
            }
            Expr::Index(_) => self.store(place, val),
            Expr::Tuple(tuple) => {
                if let Some(parts) = self.tuple_parts(val, tuple.elems.len(), place) {
                    // `(u, v) = (v, u)`, `(m[0], m[1]) = (m[1], m[0])`: the right side is whole
                    // before any place is assigned, so an array a place writes into is copied
                    // first.
                    let mut written = Vec::new();
                    self.written_arrays(place, &mut written);
                    let parts: Vec<Val> = parts
                        .into_iter()
                        .map(|part| self.copied_apart(part, &written, place.span()))
                        .collect();
                    for (elem, part) in tuple.elems.iter().zip(parts) {
                        self.assign(elem, part);
                    }
                }
            }
            // `h.0 = v` is `h = (v, h.1)` for a tuple variable (or a tuple inside one); `s.v = e`
            // is `s = s with .v = e` for a struct value (or a struct inside one, `s.p.x = e`).
            // `n.layers[0].b = x`: a field of an element of an array.
            Expr::Field(field) if matches!(strip_parens(&field.base), Expr::Index(_)) => {
                self.error(place, ELEMENT_OF_STRUCTS)
            }
            Expr::Field(field) => match (self.expr(&field.base), &field.member) {
                (Val::Tuple(mut parts), syn::Member::Unnamed(index))
                    if (index.index as usize) < parts.len() =>
                {
                    parts[index.index as usize] = val;
                    self.assign(&field.base, Val::Tuple(parts));
                }
                (Val::Poison, _) => {}
                (Val::Scalar(Operand::Value(whole)), member)
                    if self.values[whole.index()].aggregate
                        || self.structs.contains(&whole)
                        || self.parts.contains(&whole) =>
                {
                    // A struct: read whole, it is copied out of what holds it (`o.inner`).
                    self.values[whole.index()].aggregate = true;
                    let value = self.field_operand(val, place);
                    let op = Op::WithField {
                        member: member.clone(),
                        tangent: false,
                    };
                    let new = self.emit(op, vec![Operand::Value(whole), value], place.span());
                    self.values[new.index()].aggregate = true;
                    if self.structs.contains(&whole) {
                        self.structs.insert(new);
                    }
                    if self.parts.contains(&whole) {
                        self.parts.insert(new);
                    }
                    self.assign(&field.base, Val::Scalar(Operand::Value(new)));
                }
                (Val::Tuple(_), _) | (_, syn::Member::Unnamed(_)) => self.error(place, "assignment to an element of this is not supported; assign the whole tuple (`t = (a, b)`), or keep the element in a variable of its own"),
                _ => self.error(place, "assignment to a field of this is not supported; assign to a field of a local struct value"),
            },
            Expr::Infer(_) => {}
            Expr::Paren(paren) => self.assign(&paren.expr, val),
            Expr::Unary(unary) if matches!(unary.op, UnOp::Deref(_)) => self.error(
                place,
                "assignment through a reference is not supported; assign to a local variable",
            ),
            _ => self.error(place, "assignment to this place is not supported; assign to a local variable or an array element"),
        }
    }

    /// The local arrays the places of a tuple assignment write into (whole, or a row or an
    /// element of them).
    fn written_arrays(&self, place: &Expr, out: &mut Vec<Mem>) {
        match strip_parens(place) {
            Expr::Tuple(tuple) => tuple.elems.iter().for_each(|e| self.written_arrays(e, out)),
            mut base => {
                while let Expr::Index(index) = strip_parens(base) {
                    base = &index.expr;
                }
                if let Some(Val::Mem(mem, _)) = self.local_val(base) {
                    out.push(*mem);
                }
            }
        }
    }

    /// `val` with the arrays (or rows) it takes from `written` copied out.
    fn copied_apart(&mut self, val: Val, written: &[Mem], span: Span) -> Val {
        match val {
            Val::Mem(src, prefix)
                if written.contains(&src) && !self.mems[src.index()].structured =>
            {
                self.copy_mem(src, &prefix, None, span)
            }
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .into_iter()
                    .map(|part| self.copied_apart(part, written, span))
                    .collect(),
            ),
            val => val,
        }
    }

    /// The parts of a tuple variable's new value, the arrays among them written into the arrays
    /// the variable holds, and an `Option` the function was given where the variable holds one
    /// it builds taken apart (its flag and value), so that branches and loops join it.
    fn assign_parts(&mut self, current: &Val, val: Val, span: Span) -> Val {
        match (current, val) {
            // `cur = m.atoms.iter().nth(i)`: the element where there is one.
            (Val::Option(current, _), Val::Option(value, some)) => {
                let value = match **current {
                    Val::Scalar(_) => self.element_value(*value, &some, span),
                    _ => *value,
                };
                Val::Option(Box::new(self.assign_parts(current, value, span)), some)
            }
            // Of a number or an index (one of an array or a tuple cannot be carried: the loop
            // reports it).
            (Val::Option(payload, _), Val::Scalar(given @ Operand::Value(_)))
                if matches!(**payload, Val::Scalar(_)) =>
            {
                let some = self.int(quote!(H0.is_some()), vec![given.clone()], span);
                let value = Opaque::cut(super::iter::rename_holes(quote!(
                    H0.unwrap_or_else(::autodiff_core::__private::dummy)
                )));
                let value = self.emit(Op::Opaque(value), vec![given], span);
                Val::Option(Box::new(Val::Scalar(Operand::Value(value))), some)
            }
            // `best = None` of an `Option<&Atom>`: the struct value it held stays as the
            // placeholder, of the struct's type (a `dummy()` would have none).
            (Val::Scalar(Operand::Value(current)), part)
                if is_dummy(&part) && self.values[current.index()].aggregate =>
            {
                Val::Scalar(Operand::Value(*current))
            }
            // `best = Some(a)` of an item of `&m.atoms`: a struct value, which the variable
            // carries (as `prev = a` of a reference does).
            (Val::Scalar(_), element @ Val::Mem(..)) => {
                self.element_value(element, &Operand::Bool(true), span)
            }
            (Val::Tuple(current), Val::Tuple(parts)) if current.len() == parts.len() => Val::Tuple(
                current
                    .iter()
                    .zip(parts)
                    .map(|(current, part)| self.assign_parts(current, part, span))
                    .collect(),
            ),
            // A `Vec` parameter moved into the tuple, which cannot be written.
            (Val::Mem(dst, prefix), Val::Mem(src, _))
                if prefix.is_empty() && !self.owned_array(*dst) && *dst != src =>
            {
                self.error_at(span, "a tuple holding a `Vec` parameter cannot be assigned again here; put a copy in it (`(x.clone(), ..)`)");
                Val::Poison
            }
            (Val::Mem(dst, prefix), part) if prefix.is_empty() && self.owned_array(*dst) => {
                let dst = *dst;
                let kind = match part {
                    Val::Mem(src, src_prefix) if src_prefix.is_empty() => MemInitKind::Copy { src },
                    // `best = (d, *p)` of a row `p`: the row, read whole.
                    Val::Mem(src, src_prefix)
                        if self.is_part(src, &src_prefix, self.mems[dst.index()].dims) =>
                    {
                        MemInitKind::FromValue(self.row_value(src, src_prefix, span))
                    }
                    Val::Scalar(Operand::Value(value)) => {
                        self.values[value.index()].aggregate = true;
                        MemInitKind::FromValue(value)
                    }
                    // `best = None`: the array stays, unread until a `Some(..)` writes it.
                    part if is_dummy(&part) => return Val::Mem(dst, Vec::new()),
                    part => return part,
                };
                if !matches!(kind, MemInitKind::Copy { src } if src == dst) {
                    let len = self.length_before_assignment(dst, span);
                    self.push(ir::Stmt::MemInit(MemInit {
                        mem: dst,
                        kind,
                        declare: false,
                        len,
                        ty: None,
                        span,
                    }));
                }
                Val::Mem(dst, Vec::new())
            }
            (_, part) => part,
        }
    }

    /// The arrays of a tuple about to be named `name`: those no variable holds yet become its
    /// own; those another variable or a parameter holds (`let t = (w, l);`, `let old = st;`)
    /// are copied, as Rust copies (or moves) them: writes to either, and assigning the tuple
    /// later, which writes into its arrays, leave the other alone.
    fn owned_parts(&mut self, name: &str, parts: Vec<Val>, span: Span) -> Vec<Val> {
        parts
            .into_iter()
            .enumerate()
            .map(|(k, part)| match part {
                Val::Mem(mem, prefix)
                    if prefix.is_empty() && !self.mems[mem.index()].structured =>
                {
                    let own = format!("{name}_{k}");
                    match &self.mems[mem.index()].name {
                        None => {
                            self.mems[mem.index()].name = Some(own);
                            self.tuple_arrays.insert(mem);
                            Val::Mem(mem, prefix)
                        }
                        // Assigned again (`st = (xn, l)`): the arrays it already has.
                        Some(held) if *held == own => Val::Mem(mem, prefix),
                        Some(_) => {
                            let copy = self.copy_mem(mem, &[], Some(own), span);
                            if let Val::Mem(copy, _) = &copy {
                                self.tuple_arrays.insert(*copy);
                            }
                            copy
                        }
                    }
                }
                Val::Mem(mem, prefix) if self.is_local_row(mem, &prefix) => {
                    self.copy_mem(mem, &prefix, Some(format!("{name}_{k}")), span)
                }
                Val::Tuple(inner) => {
                    Val::Tuple(self.owned_parts(&format!("{name}_{k}"), inner, span))
                }
                part => part,
            })
            .collect()
    }

    /// Whether `mem[prefix]` is a whole row of an array (not a sub-slice, not a struct's).
    pub(super) fn is_row(&self, mem: Mem, prefix: &[Operand]) -> bool {
        self.is_part(mem, prefix, 1)
    }

    /// Whether `mem[prefix]` is a whole part of an array with `dims` indices of its own: a row
    /// (1), a matrix of a `Vec` of matrices (2).
    pub(super) fn is_part(&self, mem: Mem, prefix: &[Operand], dims: usize) -> bool {
        let data = &self.mems[mem.index()];
        !prefix.is_empty()
            && !data.structured
            // A range inside (`rest[k]` of `let rest = &p[1..]`) is part of the row's place;
            // one at the end makes a slice of it.
            && !matches!(prefix.last(), Some(Operand::Range(..)))
            && depth(prefix) + dims == data.dims
    }

    /// Whether `mem[prefix]` is a whole row of a local array (which later writes may change).
    fn is_local_row(&self, mem: Mem, prefix: &[Operand]) -> bool {
        self.is_row(mem, prefix) && self.mems[mem.index()].param.is_none()
    }

    /// A row read whole (`p[i]`): a value of the row's own type, copied out.
    pub(super) fn row_value(&mut self, mem: Mem, prefix: Vec<Operand>, span: Span) -> Value {
        let row = self.emit(Op::Load(mem), prefix, span);
        self.values[row.index()].aggregate = true;
        row
    }

    /// A new array of `dims` indices holding `value`, an array the function computed (a call's
    /// result, a row, a field read whole), to be written element by element.
    pub(super) fn array_from_value(
        &mut self,
        value: Value,
        dims: usize,
        name: Option<String>,
        ty: Option<syn::Type>,
        span: Span,
    ) -> Mem {
        self.values[value.index()].aggregate = true;
        let mem = self.new_mem(name, dims, true, None);
        self.maybe_arrays.insert(mem);
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::FromValue(value),
            declare: true,
            len: None,
            ty,
            span,
        }));
        mem
    }

    /// A local array that is not a struct's.
    fn owned_array(&self, mem: Mem) -> bool {
        let data = &self.mems[mem.index()];
        data.param.is_none() && !data.structured
    }

    /// The length of a `Vec` about to be assigned whole, which may change it: the backward sweep
    /// gives the adjoint that length again. (An array's length cannot change.)
    fn length_before_assignment(&mut self, mem: Mem, span: Span) -> Option<Value> {
        let data = &self.mems[mem.index()];
        if !data.vec || data.dims != 1 {
            return None;
        }
        self.resized.insert(mem);
        Some(self.emit(Op::Len(mem), Vec::new(), span))
    }

    /// Element `index` of an array (or a row view of one), or of an array a call returned.
    pub(super) fn element(&mut self, val: Val, index: Operand, span: Span) -> Val {
        match val {
            Val::Mem(mem, mut prefix) => {
                prefix.push(index);
                if depth(&prefix) < self.mems[mem.index()].dims || self.mems[mem.index()].structured
                {
                    return Val::Mem(mem, prefix);
                }
                Val::Scalar(Operand::Value(self.emit(Op::Load(mem), prefix, span)))
            }
            Val::Scalar(Operand::Value(value)) => {
                self.values[value.index()].aggregate = true;
                let args = vec![Operand::Value(value), index];
                Val::Scalar(Operand::Value(self.emit(Op::Index, args, span)))
            }
            // `let [c0, c1] = C;` of a constant table: constants.
            Val::Scalar(Operand::Const(table)) => {
                let table = table.tokens;
                Val::Scalar(match index {
                    Operand::Index(k) => Operand::Const(Const {
                        tokens: quote!(#table[#k]),
                        atomic: true,
                    }),
                    index => {
                        let hole = Opaque::hole(0);
                        let op = Op::Opaque(Opaque::cut(quote!(#table[#hole])));
                        Operand::Value(self.emit(op, vec![index], span))
                    }
                })
            }
            Val::Poison => Val::Poison,
            _ => {
                self.error_at(span, "only arrays can be taken apart with `[a, b, ..]`");
                Val::Poison
            }
        }
    }

    /// Field `member` of a struct value, or of a struct the function was given.
    pub(super) fn member_of(&mut self, val: Val, member: &syn::Member, span: Span) -> Val {
        match val {
            // `let Cam { pose, f } = cam.clone();`: a field of a struct value, as `.pose` reads
            // it (a struct itself, maybe).
            Val::Scalar(Operand::Value(value)) if matches!(member, syn::Member::Named(_)) => {
                self.field_of_value(value, member)
            }
            // `let Cam { f, c } = &s.cams[1];`: a field of an element of a struct's `Vec`.
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured && !prefix.is_empty() => {
                let element = self.load_field(mem, prefix.clone(), span);
                if self.mems[mem.index()].param.is_some() {
                    self.struct_elements.insert(element, (mem, prefix));
                }
                self.field_of_value(element, member)
            }
            Val::Scalar(Operand::Value(value)) => {
                self.values[value.index()].aggregate = true;
                let args = vec![Operand::Value(value)];
                Val::Scalar(Operand::Value(self.emit(
                    Op::Field(member.clone()),
                    args,
                    span,
                )))
            }
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured && prefix.is_empty() => {
                Val::Mem(self.field_mem(mem, member), Vec::new())
            }
            Val::Tuple(parts) => match member {
                syn::Member::Unnamed(index) => parts
                    .get(index.index as usize)
                    .cloned()
                    .unwrap_or(Val::Poison),
                syn::Member::Named(_) => Val::Poison,
            },
            Val::Poison => Val::Poison,
            _ => {
                self.error_at(span, "this value has no fields to take apart");
                Val::Poison
            }
        }
    }

    /// The length of an array (or a view of one), or of an array a call returned.
    pub(super) fn length(&mut self, val: &Val, span: Span) -> Operand {
        match val {
            Val::Mem(mem, prefix) => Operand::Value(self.emit(Op::Len(*mem), prefix.clone(), span)),
            Val::Scalar(operand) => {
                let hole = Opaque::hole(0);
                let op = Op::Opaque(Opaque::cut(quote!(#hole.len())));
                Operand::Value(self.emit(op, vec![operand.clone()], span))
            }
            _ => Operand::Poison,
        }
    }

    /// `std::mem::swap(&mut a, &mut b)` of two variables or two elements: each takes the
    /// other's value (an array's contents are copied through a temporary).
    pub(super) fn swap(&mut self, a: &Expr, b: &Expr, span: Span) {
        let (val_a, val_b) = (self.expr(a), self.expr(b));
        let a_array = matches!(val_a, Val::Mem(..));
        let val_a = match val_a {
            Val::Mem(mem, prefix) if !self.mems[mem.index()].structured => {
                self.copy_mem(mem, &prefix, None, span)
            }
            val => val,
        };
        // `a` holds a value (a call's result): it would name `b`'s array, which `b = a`
        // then overwrites in place.
        let val_b = match val_b {
            Val::Mem(mem, prefix) if !a_array && !self.mems[mem.index()].structured => {
                self.copy_mem(mem, &prefix, None, span)
            }
            val => val,
        };
        self.assign(a, val_b);
        self.assign(b, val_a);
    }

    /// `std::mem::replace(&mut place, value)`: the old value (an array's contents copied out, as
    /// in [`Self::swap`]), and `value` assigned to `place`.
    pub(super) fn replace(&mut self, place: &Expr, value: &Expr, span: Span) -> Val {
        let new = self.expr(value);
        let old = self.expr(place);
        let place_array = matches!(old, Val::Mem(..));
        let old = match old {
            Val::Mem(mem, prefix) if !self.mems[mem.index()].structured => {
                self.copy_mem(mem, &prefix, None, span)
            }
            val => val,
        };
        let new = match new {
            Val::Mem(mem, prefix) if !place_array && !self.mems[mem.index()].structured => {
                self.copy_mem(mem, &prefix, None, span)
            }
            val => val,
        };
        self.assign(place, new);
        old
    }

    /// `s.pos[i] = val`, `s.g[i][j] += val` of a struct value: the field copied out, written, and
    /// put back. Whether `place` was one.
    fn store_in_field(&mut self, place: &Expr, val: &Val) -> bool {
        let mut index_exprs = Vec::new();
        let mut root = place;
        while let Expr::Index(index) = strip_parens(root) {
            index_exprs.push(&*index.index);
            root = &index.expr;
        }
        if !matches!(strip_parens(root), Expr::Field(_)) {
            return false;
        }
        let Val::Scalar(Operand::Value(array)) = self.expr(root) else {
            return false;
        };
        let span = place.span();
        let indices = index_exprs
            .iter()
            .rev()
            .map(|index| self.operand(index))
            .collect::<Vec<_>>();
        let value = match val {
            // `n.layers[0] = Layer { .. }`: the field would be an array of structs.
            Val::Scalar(Operand::Value(v)) if self.structs.contains(v) => {
                self.error(place, ELEMENT_OF_STRUCTS);
                return true;
            }
            Val::Scalar(value) => value.clone(),
            Val::Poison => return true,
            // A whole row (`c.vel[i] = [0.0, 0.0]`): the field has the row's indices too.
            Val::Mem(src, src_prefix) if !self.mems[src.index()].structured => {
                let (src, src_prefix) = (*src, src_prefix.clone());
                let row_dims = self.mems[src.index()].dims - depth(&src_prefix);
                let dims = indices.len() + row_dims;
                let mem = self.array_from_value(array, dims, None, None, span);
                self.store_row((mem, indices), (src, src_prefix), span);
                self.assign(root, Val::Mem(mem, Vec::new()));
                return true;
            }
            _ => {
                self.error(
                    place,
                    "only numbers and rows can be stored in array elements",
                );
                return true;
            }
        };
        let mem = self.array_from_value(array, indices.len(), None, None, span);
        self.push(ir::Stmt::Store(Store {
            mem,
            indices,
            value,
            push: false,
            span,
        }));
        self.assign(root, Val::Mem(mem, Vec::new()));
        true
    }

    /// `a[i][j] = val`.
    pub(super) fn store(&mut self, place: &Expr, val: Val) {
        let Expr::Index(index) = place else {
            unreachable!("called with an index expression")
        };
        if self.store_in_field(place, &val) {
            return;
        }
        let base = self.expr(&index.expr);
        let i = self.operand(&index.index);
        let span = place.span();
        // The place is a whole row of a local matrix (`m[i] = ..`), and its number of indices.
        let row_dims = match &base {
            Val::Mem(dst, indices)
                if self.mems[dst.index()].param.is_none()
                    && !self.mems[dst.index()].structured
                    && depth(indices) + 1 < self.mems[dst.index()].dims =>
            {
                Some(self.mems[dst.index()].dims - depth(indices) - 1)
            }
            _ => None,
        };
        let val = match val {
            // A field of a struct (`n.s`, `p.arr[k]`): its number, or its row read whole.
            Val::Mem(src, prefix) if self.mems[src.index()].structured => match row_dims {
                Some(_) => Val::Scalar(Operand::Value(self.row_value(src, prefix, span))),
                None => Val::Scalar(self.val_operand(Val::Mem(src, prefix), span)),
            },
            val => val,
        };
        // A row the function holds as a value (a call's result, a field's row bound by `let`):
        // an array to copy the row from.
        let val = match (val, row_dims) {
            (Val::Scalar(Operand::Value(row)), Some(dims)) => Val::Mem(
                self.array_from_value(row, dims, None, None, span),
                Vec::new(),
            ),
            (val, _) => val,
        };
        let value = match (val, &base) {
            (Val::Scalar(value), _) => value,
            (Val::Poison, _) => return,
            // `m[i] = [a, b]`, `m[i] = r`: a whole row of a local matrix, element by element.
            (Val::Mem(src, src_prefix), Val::Mem(dst, indices))
                if !self.mems[src.index()].structured
                    && self.mems[dst.index()].param.is_none()
                    && !self.mems[dst.index()].structured
                    && depth(indices) + 1 < self.mems[dst.index()].dims =>
            {
                let mut row = indices.clone();
                row.push(i);
                self.store_row((*dst, row), (src, src_prefix), place.span());
                return;
            }
            _ => {
                self.error(place, "only numbers can be stored in array elements");
                return;
            }
        };
        match base {
            Val::Mem(mem, mut indices) => {
                indices.push(i);
                if depth(&indices) != self.mems[mem.index()].dims {
                    self.error(place, "assign to an element, with one index per dimension");
                    return;
                }
                if self.mems[mem.index()].param.is_some() {
                    self.error(
                        place,
                        "this array is a parameter, which the function may not modify; declare the parameter `mut` to work on a copy, or copy it with `let mut a = x.to_vec();`",
                    );
                    return;
                }
                self.push(ir::Stmt::Store(Store {
                    mem,
                    indices,
                    value,
                    push: false,
                    span: place.span(),
                }));
            }
            Val::Poison => {}
            _ => self.error(
                place,
                format!(
                    "only elements of local arrays and vectors can be assigned to{}",
                    self.struct_aliases
                ),
            ),
        }
    }
}

impl Lowerer<'_> {
    /// A new array with nothing in it yet (`dummy()`), declared at the end of block `block`
    /// (of `self.blocks`), to be assigned whole later: the join of two branches' arrays, a
    /// `break` value's, an annotated `None`'s.
    pub(super) fn placeholder_array(
        &mut self,
        (dims, vec): (usize, bool),
        name: Option<String>,
        ty: Option<syn::Type>,
        block: usize,
        span: Span,
    ) -> Mem {
        let mem = self.new_mem(name, dims, vec, None);
        self.blocks[block].push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::Placeholder,
            declare: true,
            len: None,
            ty,
            span,
        }));
        if vec {
            self.resized.insert(mem);
        }
        mem
    }

    /// `dst = src` for a placeholder array (`kind` a copy of an array or a call's result); its
    /// length before, were it a `Vec`, is not needed, and its type may not be known yet.
    pub(super) fn fill_placeholder(&self, dst: Mem, kind: MemInitKind, span: Span) -> ir::Stmt {
        ir::Stmt::MemInit(MemInit {
            mem: dst,
            kind,
            declare: false,
            len: None,
            ty: None,
            span,
        })
    }

    /// No value yet, in the shape of `ty`: a tuple of them for a tuple type, an array declared
    /// here (to be assigned whole) for an array or `Vec` of floats, else a number.
    fn nothing_of_type(&mut self, ty: &syn::Type, span: Span) -> Val {
        match strip_type_parens(ty) {
            syn::Type::Tuple(tuple) if !tuple.elems.is_empty() => Val::Tuple(
                tuple
                    .elems
                    .iter()
                    .map(|elem| self.nothing_of_type(elem, span))
                    .collect(),
            ),
            ty => match array_shape(ty) {
                Some(shape) => {
                    let block = self.blocks.len() - 1;
                    let mem = self.placeholder_array(shape, None, Some(ty.clone()), block, span);
                    Val::Mem(mem, Vec::new())
                }
                None => Val::Scalar(Operand::Undef),
            },
        }
    }
}

/// The number of indices and whether the outermost is a `Vec`, for an array or `Vec` type of
/// floats (`[f64; 2]`: `(1, false)`, `Vec<[f64; 3]>`: `(2, true)`).
fn array_shape(ty: &syn::Type) -> Option<(usize, bool)> {
    match strip_type_parens(ty) {
        syn::Type::Array(array) => {
            Some((array_shape(&array.elem).map_or(1, |(d, _)| d + 1), false))
        }
        ty => type_arg(ty, "Vec").map(|elem| (array_shape(elem).map_or(1, |(d, _)| d + 1), true)),
    }
}

/// The names a `let .. else` pattern binds, and whether each is `mut`.
fn let_else_names(pat: &Pat) -> Vec<(syn::Ident, bool)> {
    struct Names(Vec<(syn::Ident, bool)>);
    impl<'ast> syn::visit::Visit<'ast> for Names {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            if starts_lowercase(&p.ident) {
                self.0.push((p.ident.clone(), p.mutability.is_some()));
            }
            syn::visit::visit_pat_ident(self, p);
        }
    }
    let mut names = Names(Vec::new());
    syn::visit::Visit::visit_pat(&mut names, pat);
    names.0
}

/// `..` in a slice pattern, also bound (`rest @ ..`).
pub(super) fn is_rest(pat: &Pat) -> bool {
    match pat {
        Pat::Rest(_) => true,
        Pat::Ident(p) => p.subpat.as_ref().is_some_and(|(_, sub)| is_rest(sub)),
        _ => false,
    }
}
