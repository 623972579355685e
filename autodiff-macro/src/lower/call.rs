//! Calls of functions and methods: rules, differentiated calls, and the `.iter().sum()`
//! desugaring.

use super::syntax::*;
use super::*;
use proc_macro2::Span;
use quote::ToTokens;
use syn::Expr;
use syn::spanned::Spanned;

/// `Vec` methods that remove elements: not supported on differentiated numbers.
const VEC_SHRINKERS: &[&str] = &[
    "pop",
    "insert",
    "remove",
    "swap_remove",
    "truncate",
    "drain",
    "retain",
    "dedup",
    "clear",
    "resize",
    "split_off",
];

/// Methods whose result is an integer or a bool: never differentiable, allowed on any value.
const CUT_METHODS: &[&str] = &[
    "len",
    "is_empty",
    "is_nan",
    "is_finite",
    "is_infinite",
    "is_normal",
    "is_subnormal",
    "is_sign_positive",
    "is_sign_negative",
    "to_bits",
    "total_cmp",
    "partial_cmp",
    // Of integers (floats have no `Ord`): `max_by(|p, q| p.1.cmp(&q.1))` of zipped keys.
    "cmp",
    "classify",
    // Integers' own: `x.len().saturating_sub(1)`.
    "saturating_sub",
    "saturating_add",
    "saturating_mul",
    "wrapping_sub",
    "wrapping_add",
    "wrapping_mul",
    "abs_diff",
    "div_ceil",
    "is_power_of_two",
    "next_power_of_two",
    "count_ones",
    "leading_zeros",
    "trailing_zeros",
    "ilog2",
    "ilog10",
];

/// Methods of what a comparison gives (an `Option<Ordering>` or an `Ordering`).
const ORDERING_METHODS: &[&str] = &[
    "unwrap",
    "expect",
    "unwrap_or",
    "reverse",
    "then",
    "is_lt",
    "is_le",
    "is_gt",
    "is_ge",
    "is_eq",
    "is_ne",
];

/// `a.partial_cmp(b)`, also unwrapped or turned (`.unwrap_or(Ordering::Equal).reverse()`).
fn cut_chain(expr: &Expr) -> bool {
    let Expr::MethodCall(call) = strip_parens(expr) else {
        return false;
    };
    let name = call.method.to_string();
    CUT_METHODS.contains(&name.as_str())
        || ORDERING_METHODS.contains(&name.as_str()) && cut_chain(&call.receiver)
}

impl Lowerer<'_> {
    /// `a.total_cmp(b)` with `b: &f64` in Rust (an item of an iterator, a closure's argument)
    /// reads a number the macro holds by value: it is passed by reference.
    fn numbers_by_reference(&self, call: &syn::ExprMethodCall) -> syn::ExprMethodCall {
        let mut call = call.clone();
        if matches!(
            call.method.to_string().as_str(),
            "total_cmp" | "partial_cmp"
        ) {
            for arg in call.args.iter_mut() {
                let by_value = !matches!(arg, Expr::Reference(_))
                    && self.held_number(arg).is_some_and(|by_ref| !by_ref);
                if by_value {
                    *arg = syn::parse_quote!(&#arg);
                }
            }
        }
        call
    }

    /// The value of a passive parameter behind a shared reference that `expr` names.
    fn frozen_param(&self, expr: &Expr) -> Option<Value> {
        match self.local_val(expr)? {
            Val::Scalar(Operand::Value(value)) if self.frozen.contains(value) => Some(*value),
            _ => None,
        }
    }
}

/// Methods of slices, vectors and `Option`s: on a field of a struct they are not the struct's
/// own methods.
const SLICE_METHODS: &[&str] = &[
    "unwrap",
    "unwrap_or",
    "unwrap_or_default",
    "expect",
    "is_some",
    "is_none",
    "iter",
    "iter_mut",
    "first",
    "last",
    "get",
    "contains",
    "windows",
    "chunks",
    "into_iter",
    "copied",
    "cloned",
    "as_slice",
    "to_vec",
    "clone",
    "to_owned",
];

/// Methods of slices and `Vec`s that change them in place.
const IN_PLACE_METHODS: &[&str] = &[
    "rotate_left",
    "rotate_right",
    "fill",
    "fill_with",
    "reverse",
    "sort",
    "sort_unstable",
    "sort_by",
    "sort_unstable_by",
    "sort_by_key",
    "sort_unstable_by_key",
    "copy_within",
    "copy_from_slice",
    "clone_from_slice",
    "swap",
    "push",
    "pop",
    "insert",
    "remove",
    "swap_remove",
    "truncate",
    "clear",
    "extend",
    "extend_from_slice",
    "retain",
    "dedup",
    "resize",
    "append",
    "drain",
    "split_off",
];

/// Methods named like an operator: float code writes the operator, so on a struct they are the
/// struct's (`a.sub(b)` of two vectors).
const OPERATOR_METHODS: &[&str] = &["add", "sub", "mul", "div", "rem", "neg"];

/// Searches whose predicate is a closure: they give a position (`usize`, `Option<usize>`,
/// `Result<usize, usize>`), never a number.
const SEARCHES: &[&str] = &[
    "partition_point",
    "position",
    "rposition",
    "binary_search_by",
    "binary_search_by_key",
];

/// What takes the position out of a search's `Option` or `Result`, or moves it on (`.map(|i| i +
/// 1)`, `.saturating_sub(1)` of a spline's span search).
const ON_POSITIONS: &[&str] = &[
    "unwrap",
    "expect",
    "unwrap_or",
    "unwrap_or_else",
    "unwrap_or_default",
    "map",
    "saturating_sub",
    "saturating_add",
    "checked_sub",
    "checked_add",
    "wrapping_sub",
    "wrapping_add",
];

/// `knots.partition_point(|&k| k <= x)`, `v.iter().position(|&e| e > x).unwrap_or(0)`,
/// `knots.binary_search_by(|k| k.total_cmp(&x)).unwrap_or_else(|i| i)`,
/// `knots.partition_point(..).saturating_sub(1)`, with the search's result and what is made of
/// it checked to be a position (`found`): a method of the same name that gave a number would
/// be a type error, not a derivative dropped.
fn search(call: &syn::ExprMethodCall) -> Option<Expr> {
    let is_search = |call: &syn::ExprMethodCall| {
        SEARCHES.contains(&call.method.to_string().as_str())
            && call.args.iter().any(|a| matches!(a, Expr::Closure(_)))
    };
    let found = |call: &syn::ExprMethodCall| -> Expr {
        let span = call.method.span();
        let found = quote::quote_spanned!(span=> ::autodiff_core::__private::found);
        syn::parse_quote_spanned!(span=> #found(#call))
    };
    // The search, under the methods of `ON_POSITIONS`.
    fn wrapped(
        call: &mut syn::ExprMethodCall,
        is_search: &dyn Fn(&syn::ExprMethodCall) -> bool,
        found: &dyn Fn(&syn::ExprMethodCall) -> Expr,
    ) -> bool {
        if !ON_POSITIONS.contains(&call.method.to_string().as_str()) {
            return false;
        }
        let Expr::MethodCall(inner) = &mut *call.receiver else {
            return false;
        };
        if is_search(inner) {
            *call.receiver = found(inner);
            return true;
        }
        wrapped(inner, is_search, found)
    }
    if is_search(call) {
        return Some(found(call));
    }
    // (A `map` last may give a number: `position(..).map(|i| x[i])` is an `Option` of one.)
    if call.method == "map" {
        return None;
    }
    let mut call = call.clone();
    wrapped(&mut call, &is_search, &found).then(|| found(&call))
}

impl Lowerer<'_> {
    pub(super) fn method_call(&mut self, call: &syn::ExprMethodCall) -> Val {
        let val = self.method_call_of(call);
        let mutable = match strip_parens(&call.receiver) {
            Expr::Path(path) => {
                local_name(path).is_some_and(|i| self.stores.mutable.contains(&i.to_string()))
            }
            _ => false,
        };
        if let (true, Val::Scalar(Operand::Value(v))) = (mutable, &val) {
            self.mutable_receivers.insert(*v);
        }
        val
    }

    fn method_call_of(&mut self, call: &syn::ExprMethodCall) -> Val {
        let name = call.method.to_string();
        if self.in_impl && name == self.fn_name && is_self(&call.receiver) {
            self.error(
                &call.method,
                "recursive methods cannot be differentiated; write the recursion as a loop",
            );
            return Val::Poison;
        }
        // `queue.push_back(i)` of a `let mut queue` that nothing else changes: a method that
        // changes it in place, which the generated code, holding values as they were made,
        // would apply to a copy.
        if let Expr::Path(path) = strip_parens(&call.receiver) {
            if let Some(ident) = local_name(path) {
                let var = ident.to_string();
                // (A number's methods, `s.tanh()` of a `let mut s = a;` nothing has assigned
                // yet, change nothing; a struct's `add(&mut self, ..)` does. One named like a
                // rule whose result is unused is `dropped_methods`' error; used, on a struct, a
                // type error.)
                let number_method = rules::lookup(&name, 1 + call.args.len()).is_some()
                    || CUT_METHODS.contains(&name.as_str());
                let own_methods = match self.lookup_user(&var) {
                    Some(Binding {
                        val: Some(Val::Scalar(Operand::Value(v))),
                        ..
                    }) => {
                        !self.numbers.contains(v)
                            && (!number_method
                                || self.structs.contains(v)
                                || self.kept_as_written.contains(v))
                    }
                    _ => false,
                };
                if self.stores.changed_by_methods.contains(&var) && own_methods {
                    // Once per variable.
                    self.stores.changed_by_methods.remove(&var);
                    self.error(
                        &call.method,
                        format!("`{var}` is declared `mut` and changed only by its own methods (`&mut self`, such as a queue's `push_back` or a random generator's `next`), which differentiated code cannot follow; keep that state outside the function and pass in what it gives (the draws, the visiting order), or use a `Vec` the function indexes"),
                    );
                    return Val::Poison;
                }
            }
        }
        if let Some(option) = self.field_element_option(call) {
            return self.expr(&option);
        }
        // `self.layers.last().unwrap().forward(x)`: the method of the element itself.
        if let Expr::MethodCall(unwrap) = strip_parens(&call.receiver) {
            if matches!(unwrap.method.to_string().as_str(), "unwrap" | "expect") {
                if let Some(element) = first_or_last(unwrap) {
                    let mut call = call.clone();
                    *call.receiver = element;
                    return self.method_call(&call);
                }
            }
        }
        // `v.split_first().unwrap()`, `v.split_last().unwrap()`: the element and the rest.
        if let (true, Expr::MethodCall(split)) = (
            matches!(name.as_str(), "unwrap" | "expect"),
            strip_parens(&call.receiver),
        ) {
            let v = &split.receiver;
            let bounds = (syn::parse_quote!(#v.len()), syn::parse_quote!(#v.len() - 1));
            if let Some(parts) = self.split_parts(split, &bounds) {
                return self.expr(&parts);
            }
        }
        // `if let Some((last, rest)) = v.split_last()`: an `Option` of them.
        if let Some(option) = self.split_option(call) {
            return self.expr(&option);
        }
        // `no_grad(m.prior).unwrap_or(0.0)`: a method without a rule of a value held constant,
        // as with a `let` first (the receiver's variables then are not its arguments).
        if let Expr::Call(inner) = strip_parens(&call.receiver) {
            if matches!(&*inner.func, Expr::Path(f) if is_no_grad(f))
                && rules::lookup(&name, call.args.len() + 1).is_none()
            {
                // `no_grad(&self.env).step(s, u)`: a method of a struct held constant (a skipped
                // field's), differentiated in its other arguments through its pullback.
                if let Some(held) = self.constant_struct_receiver(inner, &name) {
                    let receiver = match self.expr(held) {
                        Val::Mem(mem, prefix) => Operand::Mem(mem, prefix),
                        val => self.val_operand(val, held.span()),
                    };
                    // A struct value's part (`p.env` of a `mut p`): a struct of its own, cloned
                    // out, not moved.
                    if let Operand::Value(v) = receiver {
                        self.values[v.index()].aggregate = true;
                    }
                    return self.method_of(call, receiver, true);
                }
                let (method, turbofish, args) = (&call.method, &call.turbofish, &call.args);
                let turbofish = turbofish.as_ref().map(|t| quote::quote!(::#t));
                let block: Expr = if name == "unwrap_or" && args.len() == 1 {
                    // The default may be differentiated: the `match` it stands for.
                    syn::parse_quote_spanned!(call.method.span()=> {
                        let __autodiff_held = #inner;
                        match __autodiff_held {
                            ::core::option::Option::Some(__autodiff_v) => __autodiff_v,
                            ::core::option::Option::None => #args,
                        }
                    })
                } else {
                    syn::parse_quote_spanned!(call.method.span()=> {
                        let __autodiff_held = #inner;
                        __autodiff_held.#method #turbofish (#args)
                    })
                };
                return self.expr(&block);
            }
        }
        if let Some(option) = self.element_option(call) {
            return option;
        }
        // A position: piecewise constant in what the predicate reads, as a comparison is.
        if let Some(search) = search(call) {
            let what = format!("method `{name}`");
            return self.opaque_keeping_closures(
                &search,
                true,
                super::opaque::no_rule(&what),
                true,
            );
        }
        // A method of a struct is the struct's, whatever slice method it is named like
        // (`p.sum()`, `p.last()`). One named like a float method stays the rule, which checks
        // its operand is a float (so an alias of `f64` works), and `len` is checked to count;
        // but an operator's name (`a.sub(b)` of two vectors) is the struct's: float code
        // writes the operator.
        let operator = OPERATOR_METHODS.contains(&name.as_str());
        // ... also after another such method of a struct (`v.add(&w, h).mul(k)`).
        let struct_operator = operator && self.operator_chain_of_struct(&call.receiver);
        // (Of `cur.unwrap()`, an `Option<&Vec<f64>>`'s too, whose slice methods are its own.)
        let unwrapped = matches!(strip_parens(&call.receiver), Expr::MethodCall(u)
            if matches!(u.method.to_string().as_str(), "unwrap" | "expect"));
        let slice_method = unwrapped && SLICE_METHODS.contains(&name.as_str());
        if (self.known_struct(&call.receiver) && !slice_method || struct_operator)
            && !matches!(name.as_str(), "clone" | "to_owned")
            && (operator || !rules::is_known(&name))
            && !CUT_METHODS.contains(&name.as_str())
        {
            return match self.expr(&call.receiver) {
                Val::Mem(mem, prefix) => self.struct_method(call, Operand::Mem(mem, prefix)),
                Val::Scalar(Operand::Value(value)) if self.struct_elements.contains_key(&value) => {
                    let (mem, indices) = self.struct_elements[&value].clone();
                    self.struct_method(call, Operand::Mem(mem, indices))
                }
                // A struct read out of a place (`b.pos` of a loop's item): a struct value.
                Val::Scalar(Operand::Value(value)) => {
                    self.values[value.index()].aggregate = true;
                    self.struct_method(call, Operand::Value(value))
                }
                Val::Scalar(operand) => self.struct_method(call, operand),
                _ => Val::Poison,
            };
        }
        if call.turbofish.is_none() {
            if let Some(rule) = rules::lookup(&name, call.args.len() + 1) {
                let mut args = vec![self.operand(&call.receiver)];
                args.extend(call.args.iter().map(|arg| self.operand(arg)));
                let form = Form::Method(call.method.clone());
                let value = self.emit(Op::Rule { rule, form }, args, call.method.span());
                return Val::Scalar(Operand::Value(value));
            }
        }
        // `x.sin_cos()` is `(x.sin(), x.cos())`.
        if name == "sin_cos" && call.args.is_empty() && call.turbofish.is_none() {
            let x = self.operand(&call.receiver);
            let span = call.method.span();
            let parts = ["sin", "cos"].map(|part| {
                let rule = rules::lookup(part, 1).expect("sin and cos are in the table");
                let form = Form::Method(syn::Ident::new(part, span));
                let value = self.emit(Op::Rule { rule, form }, vec![x.clone()], span);
                Val::Scalar(Operand::Value(value))
            });
            return Val::Tuple(parts.into());
        }
        // An iterator chain's consumer (`x.iter().map(..).sum()`): the loop it stands for.
        if let Some(val) = self.consume(call) {
            return val;
        }
        // `v.first().unwrap()`, `*v.last().expect(..)` of an array: its first or last element
        // (or row); an empty one panics, as the `unwrap` would.
        if matches!(name.as_str(), "unwrap" | "expect") {
            if let Some(element) = first_or_last(call) {
                return self.expr(&element);
            }
        }
        if let Some(val) = self.option_method(call) {
            return val;
        }
        if let Some(matched) = self.given_option(call) {
            return self.expr(&matched);
        }
        if let Some(mapped) = self.array_map(call) {
            return mapped;
        }
        if let Some(val) = self.grow_vec(call) {
            return val;
        }
        if let Some(val) = self.copy_from_slice(call) {
            return val;
        }
        // `f(x).to_vec()`, `t.clone()`: a value the macro holds is immutable, so its copy is
        // itself.
        if matches!(name.as_str(), "to_vec" | "clone" | "to_owned")
            && call.args.is_empty()
            && !is_place(&call.receiver)
        {
            return match self.expr(&call.receiver) {
                // `v.iter().max_by(..).unwrap().clone()` of structs: a struct value.
                Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                    self.struct_copy(mem, prefix, call.method.span())
                }
                Val::Mem(mem, prefix) => self.copy_of(&name, mem, &prefix, call.method.span()),
                val => val,
            };
        }
        // `v.reverse()` of a local array: the swaps it makes.
        if name == "reverse" && call.args.is_empty() && self.local_array_of_numbers(&call.receiver)
        {
            let (v, span) = (&call.receiver, call.method.span());
            let swaps: Expr = syn::parse_quote_spanned!(span=> {
                let __autodiff_n = #v.len();
                for __autodiff_i in 0..__autodiff_n / 2 {
                    #v.swap(__autodiff_i, __autodiff_n - 1 - __autodiff_i);
                }
            });
            return self.expr(&swaps);
        }
        // `v.swap(i, j)` of a local array or `Vec`.
        if name == "swap" && call.args.len() == 2 && is_place(&call.receiver) {
            let receiver = &call.receiver;
            let (i, j) = (&call.args[0], &call.args[1]);
            let a: Expr = syn::parse_quote_spanned!(call.method.span()=> #receiver[#i]);
            let b: Expr = syn::parse_quote_spanned!(call.method.span()=> #receiver[#j]);
            self.swap(&a, &b, call.method.span());
            return Val::Unit;
        }
        // `buf.rotate_right(k)`, `rotate_left(k)`, `copy_within(a..b, d)` of a local array of
        // numbers (a delay line shifted): each element stored from a copy of the old ones.
        if let Some(moved) = self.moved_elements(call) {
            return moved;
        }
        // `x.split_at(k)`: the two sub-slices.
        if name == "split_at" && call.args.len() == 1 && is_place(&call.receiver) {
            let (x, k) = (&call.receiver, &call.args[0]);
            let halves: Expr =
                syn::parse_quote_spanned!(call.method.span()=> (&#x[..(#k)], &#x[(#k)..]));
            return self.expr(&halves);
        }
        // `f.fill(0.0)` of a local array (a force accumulator reset each step): every element
        // stored, so that the old values' adjoints stop there.
        // `a[2..].fill(0.0)`: the elements of the range stored one by one.
        if let (true, Expr::Index(part)) = (
            name == "fill" && call.args.len() == 1,
            strip_parens(&call.receiver),
        ) {
            if let (Expr::Range(range), true) = (
                strip_parens(&part.index),
                self.local_array_of_numbers(&part.expr),
            ) {
                let (array, value) = (&part.expr, &call.args[0]);
                let (start, end) = range_tokens(range, quote::quote!(#array.len()));
                let fill: Expr = syn::parse_quote_spanned!(call.method.span()=> {
                    let __autodiff_fill = #value;
                    for __autodiff_i in #start..#end {
                        #array[__autodiff_i] = __autodiff_fill;
                    }
                });
                self.expr(&fill);
                return Val::Unit;
            }
        }
        if name == "fill" && call.args.len() == 1 && self.local_array_of_numbers(&call.receiver) {
            let array = self.expr(&call.receiver);
            let value = self.expr(&call.args[0]);
            self.fill_elements(array, value, call.method.span());
            return Val::Unit;
        }
        if let (Some(order), true) = (sort_order(call), is_place(&call.receiver)) {
            return self.sorted(call, &order);
        }
        // `me.a.rotate_left(1)`, `a[1..].fill(0.0)`: a method that changes a struct's field or
        // a sub-slice in place, which the generated code, holding values as they were made,
        // would apply to a copy.
        if IN_PLACE_METHODS.contains(&name.as_str())
            && (matches!(strip_parens(&call.receiver), Expr::Field(_))
                || matches!(strip_parens(&call.receiver), Expr::Index(i)
                    if matches!(strip_parens(&i.index), Expr::Range(_))))
        {
            // Methods that the function's own arrays support.
            let own = matches!(
                name.as_str(),
                "rotate_left"
                    | "rotate_right"
                    | "fill"
                    | "copy_within"
                    | "swap"
                    | "sort_by"
                    | "sort_unstable_by"
                    | "copy_from_slice"
            );
            let instead = if own {
                format!(
                    "copy it into an array of the function's own (`let mut a = p.w.clone(); a.{name}(..)`), or write the loop that assigns its elements"
                )
            } else {
                "write the loop that assigns its elements".to_owned()
            };
            self.error(
                call,
                format!("`.{name}(..)` changes a struct's field or a sub-slice in place, which differentiated code cannot follow; {instead}"),
            );
            return Val::Poison;
        }
        let expr = Expr::MethodCall(call.clone());
        // `x.len()` of an array: its own instruction, which the backward sweep can recompute.
        if name == "len" && call.args.is_empty() && is_place(&call.receiver) {
            if let Val::Mem(mem, prefix) = self.expr(&call.receiver) {
                if !self.mems[mem.index()].structured {
                    let value = self.emit(Op::Len(mem), prefix, call.method.span());
                    return Val::Scalar(Operand::Value(value));
                }
            }
        }
        // The length of a parameter behind a shared reference is fixed for the whole call: the
        // backward sweep computes it again, and it can be computed before a loop that it
        // follows.
        if matches!(name.as_str(), "len" | "is_empty") && call.args.is_empty() {
            if let Some(value) = self.frozen_param(&call.receiver) {
                let hole = Opaque::hole(0);
                let method = &call.method;
                let opaque = Opaque {
                    index: true,
                    borrow: false,
                    ..Opaque::cut(quote::quote!(#hole.#method()))
                };
                let value = self.emit(
                    Op::Opaque(opaque),
                    vec![Operand::Value(value)],
                    call.method.span(),
                );
                return Val::Scalar(Operand::Value(value));
            }
        }
        // `a.partial_cmp(b).unwrap()`, `.unwrap_or(Ordering::Equal)`, `.reverse()`: what
        // `partial_cmp` gives, unwrapped or turned, is no number either.
        if ORDERING_METHODS.contains(&name.as_str()) && cut_chain(&call.receiver) {
            let mut call = call.clone();
            let mut inner = &mut *call.receiver;
            while let Expr::MethodCall(method) = inner {
                if CUT_METHODS.contains(&method.method.to_string().as_str()) {
                    *method = self.numbers_by_reference(method);
                    break;
                }
                inner = &mut *method.receiver;
            }
            return self.opaque(&Expr::MethodCall(call), true, &format!("method `{name}`"));
        }
        // A method of a value the function computes (`Spring::new(k, r).energy(x)`): the
        // receiver is lowered once, bound to a name, and the method called on the name.
        if self.computed_struct(&call.receiver) {
            let receiver = self.expr(&call.receiver);
            let name = syn::Ident::new("__autodiff_receiver", call.receiver.span());
            self.scopes.push(Scope::new());
            self.declare(Var::user(name.to_string()), Some(receiver));
            let mut call = call.clone();
            *call.receiver = syn::parse_quote!(#name);
            let val = self.method_call(&call);
            self.scopes.pop();
            return val;
        }
        // A length the macro cannot see (of a struct's field, a call's result, a struct with a
        // `len` of its own) is checked to be an integer: a struct's `len` that is a vector's
        // norm would be taken for a constant.
        if name == "len" && call.args.is_empty() {
            let count: Expr = syn::parse_quote_spanned!(call.method.span()=>
                ::autodiff_core::__private::count(#call)
            );
            return self.opaque(&count, true, "method `len`");
        }
        if CUT_METHODS.contains(&name.as_str()) {
            let call = self.numbers_by_reference(call);
            return self.opaque(&Expr::MethodCall(call), true, &format!("method `{name}`"));
        }
        // A method of a sub-slice of structs (`m.atoms[1..].split_first()`): the slice's own
        // method, which the macro has no rule for at a range, so its message says what works.
        let mut sub_slice_of_structs = false;
        if is_place(&call.receiver) {
            let receiver = self.expr(&call.receiver);
            // `t.clone()` of a tuple holding arrays: copies of them.
            if matches!(name.as_str(), "clone" | "to_owned") && call.args.is_empty() {
                if let Val::Tuple(parts) = &receiver {
                    let span = call.method.span();
                    return Val::Tuple(
                        parts
                            .clone()
                            .into_iter()
                            .map(|part| match part {
                                Val::Mem(mem, prefix) if !self.mems[mem.index()].structured => {
                                    self.copy_mem(mem, &prefix, None, span)
                                }
                                part => part,
                            })
                            .collect(),
                    );
                }
            }
            // `x.clone()` of a number is itself; of a field of a struct value (`l.w.clone()`,
            // maybe a `Vec`), a copy, which leaves the struct whole.
            if matches!(name.as_str(), "clone" | "to_owned")
                && call.args.is_empty()
                && matches!(receiver, Val::Scalar(_))
            {
                if let Val::Scalar(Operand::Value(value)) = receiver {
                    if self.parts.contains(&value) {
                        self.values[value.index()].aggregate = true;
                    }
                    if matches!(strip_parens(&call.receiver), Expr::Index(_)) {
                        self.element_read_whole(value);
                    }
                    // A struct value the function holds (`inn.clone()`): a copy of its own.
                    if self.values[value.index()].aggregate {
                        let span = call.method.span();
                        let copy = self.emit(Op::Copy, vec![Operand::Value(value)], span);
                        self.values[copy.index()].aggregate = true;
                        if self.structs.contains(&value) {
                            self.structs.insert(copy);
                        }
                        return Val::Scalar(Operand::Value(copy));
                    }
                }
                return receiver;
            }
            if let Val::Mem(mem, prefix) = &receiver {
                let (mem, prefix) = (*mem, prefix.clone());
                // Copies of an array.
                if call.args.is_empty() && matches!(name.as_str(), "to_vec" | "clone" | "to_owned")
                {
                    if self.mems[mem.index()].structured {
                        return self.struct_copy(mem, prefix, call.method.span());
                    }
                    return self.copy_of(&name, mem, &prefix, call.method.span());
                }
                // A method of a struct: differentiated through its pullback. Not of a `Vec` of
                // structs or a sub-slice of one (`m.atoms[1..].split_first()`), whose methods
                // are the slice's.
                if self.mems[mem.index()].structured && !SLICE_METHODS.contains(&name.as_str()) {
                    if !matches!(prefix.last(), Some(Operand::Range(..))) {
                        return self.struct_method(call, Operand::Mem(mem, prefix));
                    }
                    sub_slice_of_structs = true;
                }
            }
            // A method of a struct the function built (`let s = Spring { .. }; s.energy(x)`),
            // or of a call's result: as `Spring::energy(&s, x)`; also of such a struct's field
            // (`o.inner.f(y)`), which is a struct too.
            if let Val::Scalar(Operand::Value(value)) = receiver {
                if (self.values[value.index()].aggregate || self.parts.contains(&value))
                    && !SLICE_METHODS.contains(&name.as_str())
                {
                    self.values[value.index()].aggregate = true;
                    return self.struct_method(call, Operand::Value(value));
                }
            }
        }
        // `T::from(x.len()).unwrap()`: the conversion is lowered first, so that its argument
        // (a length) is what the result depends on, not `x`.
        if let Some(val) = self.method_of_conversion(call) {
            return val;
        }
        // An iterator of differentiated numbers kept as a value (`let mut it = x.iter();`).
        if Self::is_stream(&expr) {
            return self.opaque_with(
                &expr,
                false,
                "an iterator kept in a variable (`let mut it = x.iter();`, then `it.next()`) is not supported; iterate in a `for` loop (`for v in x.iter()`), or consume the chain where it is made (`x.iter().map(..).sum()`)".to_owned(),
            );
        }
        if rules::is_known(&name) {
            let what = format!("method `{name}` with {} arguments", call.args.len());
            return self.opaque(&expr, false, &what);
        }
        // `theta.try_into().unwrap()`: the conversion is what is missing, not the `unwrap`.
        let conversion = match strip_parens(&call.receiver) {
            Expr::MethodCall(inner) if inner.method == "try_into" => true,
            Expr::Call(inner) => matches!(&*inner.func, Expr::Path(f)
                if f.path.segments.last().is_some_and(|s| s.ident == "try_from")),
            _ => false,
        };
        if conversion && matches!(name.as_str(), "unwrap" | "expect") {
            let error = "`try_into()` / `try_from(..)` of a slice into an array is not supported in differentiated code; index the elements (`let [a, b, c] = [x[0], x[1], x[2]];`)";
            return self.opaque_with(&expr, false, error.to_owned());
        }
        // Maybe a `#[differentiate]` method of data (`t.resid(p)` of a `&[Trip]`'s item): its
        // receiver is not a struct the macro differentiates, so it is called by path.
        let mut error = super::opaque::no_rule(&format!("method `{name}`"));
        if name == "into" {
            error = "`.into()` of a differentiated number is not differentiated; convert it with `as` (`x as f64`) or `f64::from(x)`, which are differentiated".to_owned();
        }
        if VEC_SHRINKERS.contains(&name.as_str()) {
            error = format!(
                "`.{name}(..)` changes the length of a collection of differentiated numbers, which is not supported (a `Vec`'s `push` and `extend` are); index it instead, keeping the length in a variable (`while n > 0 {{ n -= 1; let v = st[n]; .. }}` for a stack)"
            );
        }
        let data = match strip_parens(&call.receiver) {
            Expr::Index(_) => true,
            receiver => matches!(self.local_val(receiver),
                Some(Val::Scalar(Operand::Value(v))) if self.borrows.contains(v)),
        };
        if sub_slice_of_structs {
            error = format!(
                "`.{name}(..)` of a sub-slice of structs is not supported; bind the sub-slice to a variable first (`let rest = &atoms[1..];`, then `rest.{name}(..)`), or index its elements"
            );
        } else if data {
            let receiver = call.receiver.to_token_stream();
            error += &format!(
                "; if `{name}` is a `#[differentiate]` method of data (an item of a slice that is not differentiated), call it by path: `Type::{name}({receiver}, ..)`"
            );
        }
        self.opaque_with(&expr, false, error)
    }

    /// `s.sort_by(|a, b| a.total_cmp(b))` (and the other sorts, [`sort_order`]) of a local
    /// array or `Vec`: the order the sort gives (no derivative, as a comparison has none), then
    /// the elements gathered in that order, which the backward sweep scatters back.
    fn sorted(&mut self, call: &syn::ExprMethodCall, order: &Expr) -> Val {
        let (span, receiver) = (call.method.span(), &call.receiver);
        let error = super::opaque::no_rule(&format!("the order of `{}`", call.method));
        let order = self.opaque_keeping_closures(order, true, error, true);
        let unsorted = match self.expr(receiver) {
            Val::Mem(mem, prefix) if !self.mems[mem.index()].structured => {
                self.copy_mem(mem, &prefix, None, span)
            }
            Val::Poison => return Val::Poison,
            _ => {
                self.error(
                    receiver,
                    "only the function's own arrays and `Vec`s of numbers can be sorted here; sort a copy (`let mut v = s.v.clone(); v.sort_by(..)`)",
                );
                return Val::Poison;
            }
        };
        self.scopes.push(Scope::new());
        self.declare(Var::user("__autodiff_order"), Some(order));
        self.declare(Var::user("__autodiff_unsorted"), Some(unsorted));
        let gather: Expr = syn::parse_quote_spanned!(span=>
            for __autodiff_i in 0..__autodiff_order.len() {
                #receiver[__autodiff_i] = __autodiff_unsorted[__autodiff_order[__autodiff_i]];
            }
        );
        self.expr(&gather);
        self.scopes.pop();
        Val::Unit
    }

    /// `receiver.method(args)` of a struct: through the method's pullback, which takes the
    /// receiver by reference as `&self` does (autoref makes it fit `self` too).
    fn struct_method(&mut self, call: &syn::ExprMethodCall, receiver: Operand) -> Val {
        self.method_of(call, receiver, false)
    }

    /// [`Self::struct_method`], with the receiver's derivative `cut` or not.
    fn method_of(&mut self, call: &syn::ExprMethodCall, receiver: Operand, cut: bool) -> Val {
        let (mut args, mut written_ref, mut by_ref, mut cuts) = self.call_args(call.args.iter());
        args.insert(0, receiver);
        written_ref.insert(0, false);
        by_ref.insert(0, true);
        cuts.insert(0, cut);
        let op = Op::Call {
            callee: Callee::Method(call.method.clone()),
            written_ref,
            by_ref,
            cut: cuts,
            tangents: false,
        };
        self.call_result(op, args, call.method.span())
    }

    /// A copy of a struct (or of a part of one, with the indices in `prefix`): a value of its
    /// own; a copy of a whole struct is a struct for sure.
    fn struct_copy(&mut self, mem: Mem, prefix: Vec<Operand>, span: Span) -> Val {
        let whole = prefix.is_empty() && self.mems[mem.index()].field.is_none();
        let value = self.emit(Op::Load(mem), prefix, span);
        self.values[value.index()].aggregate = true;
        if whole {
            self.structs.insert(value);
        } else {
            // A field's copy (`s.pos.clone()`): a struct or an array, as the field read whole.
            self.parts.insert(value);
        }
        Val::Scalar(Operand::Value(value))
    }

    /// `expr`, where `*s` of a struct behind a reference (`f(*s)`, `Some(*o)`) is a copy of it.
    fn expr_copying_struct(&mut self, expr: &Expr) -> Val {
        let deref = matches!(
            strip_parens(expr),
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Deref(_),
                ..
            })
        );
        match self.expr(expr) {
            Val::Mem(mem, prefix)
                if deref && prefix.is_empty() && self.mems[mem.index()].structured =>
            {
                self.struct_copy(mem, prefix, expr.span())
            }
            val => val,
        }
    }

    /// What the local variable `expr` names holds.
    pub(super) fn local_val(&self, expr: &Expr) -> Option<&Val> {
        match strip_parens(expr) {
            Expr::Path(path) => self
                .lookup_user(&local_name(path)?.to_string())?
                .val
                .as_ref(),
            // A part of a local tuple (`st.0`).
            Expr::Field(field) => match (&field.member, self.local_val(&field.base)?) {
                (syn::Member::Unnamed(k), Val::Tuple(parts)) => parts.get(k.index as usize),
                _ => None,
            },
            _ => None,
        }
    }

    /// `m.atoms.last()`, `m.w.first()` of a struct parameter's `Vec` field: the `Option` of the
    /// element, as `m.atoms.iter().last()` gives it.
    pub(super) fn field_element_option(&self, call: &syn::ExprMethodCall) -> Option<Expr> {
        let name = call.method.to_string();
        let Expr::Field(field) = strip_parens(&call.receiver) else {
            return None;
        };
        let struct_param = matches!(self.local_val(&field.base), Some(Val::Mem(mem, prefix))
            if prefix.is_empty() && self.mems[mem.index()].structured);
        if !struct_param {
            return None;
        }
        let (receiver, span) = (&call.receiver, call.method.span());
        match (name.as_str(), &call.args.iter().collect::<Vec<_>>()[..]) {
            ("first", []) => Some(syn::parse_quote_spanned!(span=> #receiver.iter().nth(0))),
            ("last", []) => Some(syn::parse_quote_spanned!(span=> #receiver.iter().last())),
            // An index (not a map's key, `names.get("a")`, `get(&k)`, nor a range).
            ("get", [i])
                if !matches!(
                    strip_parens(i),
                    Expr::Reference(_)
                        | Expr::Range(_)
                        | Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(_),
                            ..
                        })
                ) =>
            {
                Some(syn::parse_quote_spanned!(span=> #receiver.iter().nth(#i)))
            }
            _ => None,
        }
    }

    /// `x.get(i)`, `x.first()`, `x.last()` of an array of numbers the function names: whether
    /// `call` is one.
    pub(super) fn element_access(&self, call: &syn::ExprMethodCall) -> bool {
        let arity = match call.method.to_string().as_str() {
            "get" => 1,
            "first" | "last" => 0,
            _ => return false,
        };
        // The receiver is a name or a row of one (`g[i].get(j)`).
        let Some((base, rows)) = indexed_root(&call.receiver) else {
            return false;
        };
        call.args.len() == arity
            && matches!(self.local_val(base), Some(Val::Mem(mem, prefix))
                if !self.mems[mem.index()].structured
                    && depth(prefix) + rows < self.mems[mem.index()].dims)
    }

    /// The function's own array of numbers (not a parameter's, nor a struct's), or a row of
    /// one (`m[2]` of a local matrix).
    fn local_array_of_numbers(&self, expr: &Expr) -> bool {
        let Some((root, rows)) = indexed_root(expr) else {
            return false;
        };
        matches!(self.local_val(root), Some(Val::Mem(mem, prefix))
            if prefix.is_empty()
                && self.mems[mem.index()].param.is_none()
                && !self.mems[mem.index()].structured
                && self.mems[mem.index()].dims == rows + 1)
    }

    /// `a.map(|v| f(v))` of an array of numbers (`log_ell.map(|l| l.exp())`): a copy of the
    /// array with each element replaced in a loop.
    fn array_map(&mut self, call: &syn::ExprMethodCall) -> Option<Val> {
        let [Expr::Closure(f)] = &call.args.iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        let [pat] = &f.inputs.iter().collect::<Vec<_>>()[..] else {
            return None;
        };
        let (root, rows) = indexed_root(&call.receiver)?;
        let array = matches!(root, Expr::Array(_) | Expr::Repeat(_))
            || matches!(self.local_val(root), Some(Val::Mem(mem, prefix))
                if prefix.is_empty()
                    && !self.mems[mem.index()].structured
                    && self.mems[mem.index()].dims > rows);
        if call.method != "map" || !array {
            return None;
        }
        // A `return` in the closure leaves the closure, not the loop written for it.
        if super::closure::returns_from(f) {
            return Some(self.closure(f));
        }
        // `x.map(|v| v > 0.0)`: an array of bools or integers, without derivative.
        if passive_value(&f.body) {
            let map = Expr::MethodCall(call.clone());
            return Some(self.opaque_keeping_closures(&map, true, String::new(), true));
        }
        let (a, body, span) = (&call.receiver, &f.body, call.method.span());
        Some(self.expr(&syn::parse_quote_spanned!(span=> {
            let mut __autodiff_mapped = #a;
            for __autodiff_k in 0..__autodiff_mapped.len() {
                let #pat = __autodiff_mapped[__autodiff_k];
                __autodiff_mapped[__autodiff_k] = #body;
            }
            __autodiff_mapped
        })))
    }

    /// [`Self::element_access`] as the `Option` it gives: `Some` of the element where the index
    /// is in bounds (`x.get(i).copied().unwrap_or(0.0)`, `if let Some(&v) = x.get(i + 1)`, the
    /// zero padding of a stencil).
    fn element_option(&mut self, call: &syn::ExprMethodCall) -> Option<Val> {
        if !self.element_access(call) {
            return None;
        }
        let (x, span) = (&call.receiver, call.method.span());
        let option: Expr = match call.method.to_string().as_str() {
            "get" => {
                let i = &call.args[0];
                syn::parse_quote_spanned!(span=> {
                    let __autodiff_at = #i;
                    if __autodiff_at < #x.len() { Some(#x[__autodiff_at]) } else { None }
                })
            }
            "first" => syn::parse_quote_spanned!(span=>
                if #x.is_empty() { None } else { Some(#x[0]) }
            ),
            _ => syn::parse_quote_spanned!(span=>
                if #x.is_empty() { None } else { Some(#x[#x.len() - 1]) }
            ),
        };
        Some(self.expr(&option))
    }

    /// `(&v[0], &v[1..len])` of `v.split_first()`, `(&v[last], &v[..last])` of
    /// `v.split_last()`, of a place `v`, with `(len, last)` its length and last index: an
    /// element that is a number is read (`let (&a, rest)` and `*a` read it as well); a struct
    /// is borrowed.
    fn split_parts(&self, split: &syn::ExprMethodCall, (len, last): &(Expr, Expr)) -> Option<Expr> {
        if !split.args.is_empty() || !is_place(&split.receiver) || !self.held_array(&split.receiver)
        {
            return None;
        }
        let (v, span) = (&split.receiver, split.method.span());
        let element = if self.numbers_of(v) {
            quote::quote!()
        } else {
            quote::quote!(&)
        };
        match split.method.to_string().as_str() {
            "split_first" => Some(syn::parse_quote_spanned!(span=> (#element #v[0], &#v[1..#len]))),
            "split_last" => Some(syn::parse_quote_spanned!(span=>
                (#element #v[#last], &#v[..#last])
            )),
            _ => None,
        }
    }

    /// `v.split_first()` / `v.split_last()` of a name or a struct's field (`x`, `m.atoms`) as the
    /// `Option` it gives, the bounds taken before the test, where the `Some` can read them (not
    /// of a sub-slice, whose bounds would be computed where the `Some` is).
    pub(super) fn split_option(&self, call: &syn::ExprMethodCall) -> Option<Expr> {
        let (v, span) = (&call.receiver, call.method.span());
        if !matches!(strip_parens(v), Expr::Path(_) | Expr::Field(_)) {
            return None;
        }
        let bounds = (
            syn::parse_quote_spanned!(span=> __autodiff_len),
            syn::parse_quote_spanned!(span=> __autodiff_last),
        );
        let parts = self.split_parts(call, &bounds)?;
        let last = (call.method == "split_last").then(
            || quote::quote_spanned!(span=> let __autodiff_last = __autodiff_len.wrapping_sub(1);),
        );
        Some(syn::parse_quote_spanned!(span=> {
            let __autodiff_len = #v.len();
            #last
            if __autodiff_len == 0 { None } else { Some(#parts) }
        }))
    }

    /// Whether `place` is an array the function holds, a row of one, or a struct's field
    /// (`x`, `m[i]`, `m.atoms`), not data held as a value (`names: &[String]`).
    fn held_array(&self, place: &Expr) -> bool {
        match strip_parens(place) {
            Expr::Field(field) => self.held_array(&field.base),
            Expr::Index(index) => self.held_array(&index.expr),
            place => matches!(self.local_val(place), Some(Val::Mem(..))),
        }
    }

    /// A receiver that is a struct for sure: a struct parameter or `self`, a struct literal, a
    /// local bound to one or to a copy of one, or a copy (`p.clone()`) of one of these.
    /// `v.rotate_right(k)`, `v.rotate_left(k)` and `v.copy_within(range, dest)` of a local
    /// array of numbers, as the loops they stand for.
    fn moved_elements(&mut self, call: &syn::ExprMethodCall) -> Option<Val> {
        let name = call.method.to_string();
        let arity = match name.as_str() {
            "rotate_right" | "rotate_left" => 1,
            "copy_within" => 2,
            _ => return None,
        };
        if call.args.len() != arity || !self.local_array_of_numbers(&call.receiver) {
            return None;
        }
        let (v, span) = (&call.receiver, call.method.span());
        let copy = quote::quote_spanned!(span=> __autodiff_old);
        let i = quote::quote_spanned!(span=> __autodiff_i);
        let k = quote::quote_spanned!(span=> __autodiff_k);
        let (range, target) = match name.as_str() {
            "rotate_right" | "rotate_left" => {
                let shift = if name == "rotate_right" {
                    quote::quote!(#k)
                } else {
                    quote::quote!(#copy.len() - #k)
                };
                (
                    quote::quote!(0..#copy.len()),
                    quote::quote!((#i + #shift) % #copy.len()),
                )
            }
            _ => {
                let Expr::Range(source) = strip_parens(&call.args[0]) else {
                    return None;
                };
                let (start, end) = range_tokens(source, quote::quote!(#copy.len()));
                let dest = &call.args[1];
                (
                    quote::quote!(#start..#end),
                    quote::quote!((#dest) + #i - #start),
                )
            }
        };
        // The count, read once, and no larger than the length, as the methods assert.
        let count = match name.as_str() {
            "copy_within" => None,
            _ => {
                let arg = &call.args[0];
                Some(quote::quote!(
                    let #k: usize = #arg;
                    ::core::assert!(#k <= #copy.len(), "the rotation is longer than the array");
                ))
            }
        };
        let moved: Expr = syn::parse_quote_spanned!(span=> {
            let #copy = #v.clone();
            #count
            for #i in #range {
                #v[#target] = #copy[#i];
            }
        });
        self.expr(&moved);
        Some(Val::Unit)
    }

    pub(super) fn known_struct(&self, expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::Struct(_) => true,
            Expr::Reference(r) => self.known_struct(&r.expr),
            Expr::MethodCall(copy)
                if matches!(copy.method.to_string().as_str(), "clone" | "to_owned")
                    && copy.args.is_empty() =>
            {
                self.known_struct(&copy.receiver)
            }
            // `b.vel.add(&b.pos)` of a struct's field: the struct's method gives one.
            Expr::MethodCall(operator)
                if OPERATOR_METHODS.contains(&operator.method.to_string().as_str()) =>
            {
                self.operator_chain_of_struct(expr)
            }
            Expr::MethodCall(unwrap)
                if matches!(unwrap.method.to_string().as_str(), "unwrap" | "expect") =>
            {
                // `cur.unwrap()` of an `Option` of a struct element (`m.atoms.first()`), and
                // `m.atoms.iter().max_by(..).unwrap()`.
                if self.struct_item_option(&unwrap.receiver) {
                    return true;
                }
                match self.local_val(&unwrap.receiver) {
                    Some(Val::Option(payload, _)) => match &**payload {
                        Val::Mem(mem, prefix) => {
                            self.mems[mem.index()].structured
                                && !matches!(prefix.last(), Some(Operand::Range(..)))
                        }
                        Val::Scalar(Operand::Value(v)) => {
                            self.structs.contains(v)
                                || self.struct_elements.contains_key(v)
                                || self.element_refs.contains(v)
                        }
                        _ => false,
                    },
                    _ => false,
                }
            }
            _ => match self.local_val(expr) {
                Some(Val::Mem(mem, prefix)) => {
                    let data = &self.mems[mem.index()];
                    prefix.is_empty() && data.structured && data.field.is_none()
                }
                Some(Val::Scalar(Operand::Value(value))) => {
                    self.structs.contains(value) || self.struct_elements.contains_key(value)
                }
                _ => false,
            },
        }
    }

    /// Whether `expr` is an `Option` of an item of a `Vec` of structs the iterator chain
    /// keeps as they are (`m.atoms.iter().filter(..).max_by(..)`).
    fn struct_item_option(&self, expr: &Expr) -> bool {
        let Expr::MethodCall(call) = strip_parens(expr) else {
            return false;
        };
        if !matches!(
            call.method.to_string().as_str(),
            "max_by" | "min_by" | "max_by_key" | "min_by_key" | "nth" | "last"
        ) {
            return false;
        }
        let mut receiver = strip_parens(&call.receiver);
        while let Expr::MethodCall(adapter) = receiver {
            if !matches!(
                adapter.method.to_string().as_str(),
                "iter" | "into_iter" | "filter" | "rev" | "skip" | "take" | "step_by"
            ) {
                return false;
            }
            receiver = strip_parens(&adapter.receiver);
            if adapter.method == "iter" || adapter.method == "into_iter" {
                return matches!(receiver, Expr::Field(_) | Expr::Index(_))
                    && matches!(self.local_val(root_of(receiver)), Some(Val::Mem(mem, _))
                        if self.mems[mem.index()].structured);
            }
        }
        false
    }

    /// `no_grad(&s.f)` given a method that is not the standard library's (`step`): the
    /// struct place held, that the method is called on with the struct's derivative cut.
    fn constant_struct_receiver<'e>(
        &self,
        no_grad: &'e syn::ExprCall,
        method: &str,
    ) -> Option<&'e Expr> {
        // (An `Option`'s own, `no_grad(self.cut).map_or(3.0, |c| c * 2.0)`, are not.)
        let option: &[&str] = &[
            "map",
            "map_or",
            "map_or_else",
            "and_then",
            "unwrap_or_else",
            "ok_or",
            "filter",
            "is_some_and",
            "is_none_or",
            "or",
            "or_else",
            "xor",
            "zip",
            "copied",
            "cloned",
        ];
        let standard = rules::is_known(method)
            || [
                SLICE_METHODS,
                CUT_METHODS,
                IN_PLACE_METHODS,
                OPERATOR_METHODS,
                option,
            ]
            .iter()
            .any(|methods| methods.contains(&method));
        match self.cut_struct(no_grad)? {
            _ if standard => None,
            Expr::Reference(r) => Some(&r.expr),
            held => Some(held),
        }
    }

    /// `no_grad(&s.f)`, `no_grad(s.layers[i])` of a struct or a part of one: the place (as
    /// written, borrowed or not), which a call is given with its derivative cut.
    pub(super) fn cut_struct<'e>(&self, no_grad: &'e syn::ExprCall) -> Option<&'e Expr> {
        let (Expr::Path(func), [held]) =
            (&*no_grad.func, &no_grad.args.iter().collect::<Vec<_>>()[..])
        else {
            return None;
        };
        let place = match strip_parens(held) {
            Expr::Reference(r) if r.mutability.is_none() => &*r.expr,
            held => held,
        };
        let root = root_of(place);
        // A struct parameter, or a struct value the function holds (`let e = Env { .. }`, a
        // `mut p` parameter's copy).
        let of_struct = match self.local_val(root) {
            Some(Val::Mem(mem, _)) => self.mems[mem.index()].structured,
            Some(Val::Scalar(Operand::Value(v))) => {
                self.structs.contains(v) || self.values[v.index()].aggregate
            }
            _ => false,
        };
        (is_no_grad(func) && is_place(place) && of_struct).then_some(held)
    }

    /// A struct, a field of a struct parameter or an element of its `Vec` field (`b.pos.sub(&t)`,
    /// `rope.pts[i].sub(..)`: float code writes the operator), or methods named like operators
    /// applied to one (`v.add(&w, k)`): what such a method gives is the struct's too. (Not any
    /// value the function holds, or a call's: a number there may have `std::ops`'s
    /// `y.mul(2.0)`.)
    fn operator_chain_of_struct(&self, expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::MethodCall(inner)
                if OPERATOR_METHODS.contains(&inner.method.to_string().as_str()) =>
            {
                self.operator_chain_of_struct(&inner.receiver)
            }
            // `b.pos`, `w.body.pos`, `w.bodies[i].pos`, `r.pts[i]` of a struct, of an element
            // of a struct's `Vec`, or of a struct value the function holds.
            field @ Expr::Field(_) => self.field_of_struct(field),
            Expr::Index(index) => self.field_of_struct(&index.expr),
            expr => self.known_struct(expr),
        }
    }

    /// A named field of a struct, of an element of a struct's `Vec` (a loop's item, `&m.atoms[0]`)
    /// or of a struct value the function holds, or of such a field (`w.body.pos`).
    fn field_of_struct(&self, expr: &Expr) -> bool {
        let Expr::Field(field) = strip_parens(expr) else {
            return false;
        };
        if !matches!(field.member, syn::Member::Named(_)) || !is_place(expr) {
            return false;
        }
        match self.local_val(root_of(expr)) {
            Some(Val::Mem(mem, _)) => self.mems[mem.index()].structured,
            // (A struct value's own field: not a field of one of its fields, `w.body.pos`.)
            Some(Val::Scalar(Operand::Value(v))) => {
                matches!(strip_parens(&field.base), Expr::Path(_))
                    && (self.structs.contains(v) || self.struct_elements.contains_key(v))
            }
            _ => false,
        }
    }

    /// An array, slice, row or sub-slice of numbers (not of structs).
    fn numbers_of(&self, expr: &Expr) -> bool {
        let (root, rows) = sliced_root(expr);
        matches!(self.local_val(root), Some(Val::Mem(mem, prefix))
            if !self.mems[mem.index()].structured
                && depth(prefix) + rows + 1 == self.mems[mem.index()].dims)
    }

    /// A local holding a number (not an array, a call's value or a borrow of data).
    fn holds_number(&self, expr: &Expr) -> bool {
        match self.local_val(expr) {
            Some(Val::Scalar(Operand::Value(v))) => {
                !self.values[v.index()].aggregate
                    && !self.values[v.index()].by_ref
                    && !self.parts.contains(v)
                    && !self.borrows.contains(v)
            }
            Some(Val::Scalar(Operand::Const(_))) => true,
            _ => false,
        }
    }

    /// A local bound to a value the macro cannot see the type of (a call's result).
    pub(super) fn holds_value(&self, expr: &Expr) -> bool {
        matches!(self.local_val(expr), Some(Val::Scalar(Operand::Value(value)))
            if self.values[value.index()].aggregate)
    }

    /// A receiver that may be a struct the function computes: a struct literal, a call of a
    /// function by its path, or a method the macro does not know of such a value or variable.
    fn computed_struct(&self, expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::Struct(_) => true,
            Expr::Call(call) => match &*call.func {
                Expr::Path(func) => {
                    !is_no_grad(func)
                        && float_method_path(func, self.generic_float.as_ref()).is_none()
                        && local_name(func).is_none_or(|name| {
                            self.lookup_user(&name.to_string()).is_none()
                                && !self.local_fns.contains(&name.to_string())
                        })
                }
                _ => false,
            },
            // A copy of a field, which may be a struct (`o.inner.clone().f(y)`).
            Expr::MethodCall(copy)
                if matches!(copy.method.to_string().as_str(), "clone" | "to_owned")
                    && copy.args.is_empty()
                    && matches!(strip_parens(&copy.receiver), Expr::Field(_)) =>
            {
                true
            }
            // A method of a struct or of such a value (`t.stiffer(1.5)`), not of an array.
            Expr::MethodCall(inner) => {
                let method = inner.method.to_string();
                // A struct's method named like an operator is the struct's (`v.add(&w, h)`), as
                // `method_call` takes it.
                let struct_operator = OPERATOR_METHODS.contains(&method.as_str())
                    && self.operator_chain_of_struct(&inner.receiver);
                inner.turbofish.is_none()
                    && (struct_operator || !rules::is_known(&method))
                    && !SLICE_METHODS.contains(&method.as_str())
                    && !CUT_METHODS.contains(&method.as_str())
                    && (self.known_struct(&inner.receiver)
                        || self.holds_value(&inner.receiver)
                        || self.computed_struct(&inner.receiver))
            }
            _ => false,
        }
    }

    /// For a variable, or an element of a tuple variable (`b.1`), that holds a number: whether
    /// it is a reference parameter.
    fn held_number(&self, expr: &Expr) -> Option<bool> {
        match self.held_val(expr)? {
            Val::Scalar(Operand::Value(v)) => Some(self.values[v.index()].by_ref),
            _ => None,
        }
    }

    /// What a variable, or an element of a tuple variable, holds.
    fn held_val(&self, expr: &Expr) -> Option<&Val> {
        match strip_parens(expr) {
            Expr::Field(syn::ExprField {
                base,
                member: syn::Member::Unnamed(index),
                ..
            }) => match self.held_val(base)? {
                Val::Tuple(parts) => parts.get(index.index as usize),
                _ => None,
            },
            _ => self.local_val(expr),
        }
    }

    pub(super) fn call(&mut self, call: &syn::ExprCall) -> Val {
        let Expr::Path(func) = &*call.func else {
            return self.opaque(
                &Expr::Call(call.clone()),
                false,
                "call of a closure or function value",
            );
        };
        let segments = segment_names(func);
        if matches!(segments.as_slice(), [ty, name] if ty == "Self" && *name == self.fn_name) {
            self.error(
                func,
                "recursive methods cannot be differentiated; write the recursion as a loop",
            );
            return Val::Poison;
        }
        if segments.last().is_some_and(|s| s == "from_fn") {
            self.error(
                func,
                "`std::array::from_fn` is supported as the value of a `let` that gives the array's type (`let a: [f64; 3] = std::array::from_fn(|i| ..);`); here, fill the array in a loop",
            );
            return Val::Poison;
        }
        // `f64::from(x)`, `Vec::from(x)`, `Vec::from_iter(it)`: the cast, copy or `collect`
        // they are.
        if let ([ty, name], 1) = (segments.as_slice(), call.args.len()) {
            let (arg, span) = (&call.args[0], call.span());
            let same: Option<Expr> = match (ty.as_str(), name.as_str()) {
                ("f64", "from") => Some(syn::parse_quote_spanned!(span=> (#arg) as f64)),
                ("Vec", "from") => Some(syn::parse_quote_spanned!(span=> (#arg).to_vec())),
                // A chain with a closure (of numbers); others keep their error.
                ("Vec", "from_iter") if contains_closure(arg) => {
                    Some(syn::parse_quote_spanned!(span=> (#arg).collect::<Vec<_>>()))
                }
                _ => None,
            };
            if let Some(same) = same.filter(|_| func.qself.is_none()) {
                return self.expr(&same);
            }
        }
        // `Point(x, y)`, `V2(a, b)`: a tuple struct (or variant) built from its fields; not a
        // constant's function of a type (`T::PI()`, `T::E()` of `FloatConst`).
        let tuple_struct = func.qself.is_none()
            && segments
                .last()
                .is_some_and(|s| s.starts_with(char::is_uppercase) && s != "Some")
            && !(call.args.is_empty() && segments.len() > 1);
        if tuple_struct {
            let members = (0..call.args.len())
                .map(|k| syn::Member::Unnamed(syn::Index::from(k)))
                .collect();
            let args = call.args.iter().map(|arg| self.field_value(arg)).collect();
            return self.struct_value(func.path.clone(), members, args, call.span());
        }
        // `Some(e)`: an `Option` the function builds.
        if matches!(segments.as_slice(), [some] | [_, some] if some == "Some")
            && call.args.len() == 1
        {
            // `Some(&xs[i])` of a number, for an `Option<&f64>`: the number, as the macro holds
            // numbers by value.
            let arg = match strip_parens(&call.args[0]) {
                Expr::Reference(r)
                    if r.mutability.is_none()
                        && (matches!(strip_parens(&r.expr), Expr::Index(ix) if self.numbers_of(&ix.expr))
                            || self.holds_number(&r.expr)) =>
                {
                    &*r.expr
                }
                arg => arg,
            };
            let value = self.expr_copying_struct(arg);
            let value = self.field_read_now(arg, value);
            let value = self.copied_in(value, true, arg.span());
            return Val::Option(Box::new(value), Operand::Bool(true));
        }
        // `std::mem::swap(&mut a, &mut b)`.
        if segments.ends_with(&["mem".to_owned(), "swap".to_owned()]) && call.args.len() == 2 {
            let places: Vec<&Expr> = call
                .args
                .iter()
                .filter_map(|arg| match arg {
                    Expr::Reference(r) if r.mutability.is_some() => Some(&*r.expr),
                    _ => None,
                })
                .collect();
            if let [a, b] = places[..] {
                self.swap(a, b, call.span());
                return Val::Unit;
            }
        }
        // `std::mem::replace(&mut a, v)`: `a`'s value, and `v` in its place.
        if segments.ends_with(&["mem".to_owned(), "replace".to_owned()]) && call.args.len() == 2 {
            if let Expr::Reference(r) = &call.args[0] {
                if r.mutability.is_some() {
                    return self.replace(&r.expr, &call.args[1], call.span());
                }
            }
        }
        // `std::mem::take(&mut v)` of a local `Vec`: `replace(&mut v, Vec::new())`.
        if segments.ends_with(&["mem".to_owned(), "take".to_owned()]) && call.args.len() == 1 {
            let local_vec = match &call.args[0] {
                Expr::Reference(r) if r.mutability.is_some() => {
                    matches!(self.local_val(&r.expr), Some(Val::Mem(mem, prefix))
                        if prefix.is_empty()
                            && self.mems[mem.index()].vec
                            && self.mems[mem.index()].param.is_none()
                            && !self.mems[mem.index()].structured)
                    .then_some(&*r.expr)
                }
                _ => None,
            };
            let Some(place) = local_vec else {
                self.error(
                    call,
                    "`std::mem::take` is supported on a local `Vec` (`mem::take(&mut v)`); write `std::mem::replace(&mut a, value)` with the value to leave",
                );
                return Val::Poison;
            };
            let empty: Expr = syn::parse_quote_spanned!(call.span()=> ::std::vec::Vec::new());
            return self.replace(place, &empty, call.span());
        }
        // `Vec::new()`, `Vec::with_capacity(n)`.
        if let [.., ty, ctor] = segments.as_slice() {
            if ty == "Vec"
                && (ctor == "new" && call.args.is_empty()
                    || ctor == "with_capacity" && call.args.len() == 1)
            {
                return self.empty_vec(call.args.first(), call.span());
            }
        }
        if is_no_grad(func) {
            if call.args.len() != 1 {
                self.error(call, "`no_grad` takes one argument");
                return Val::Poison;
            }
            // `no_grad(&self.buffer)`: a borrow of the struct's data, held constant, which the
            // backward sweep takes again from the struct rather than tape.
            if let Some(held @ Expr::Reference(reference)) = self.cut_struct(call) {
                // Of a struct value the function holds (a `mut p` parameter's copy).
                if matches!(
                    self.local_val(root_of(&reference.expr)),
                    Some(Val::Scalar(_))
                ) {
                    return self.held_borrow(held, call.span());
                }
                if let Val::Mem(mem, prefix) = self.expr(&reference.expr) {
                    let hole = Opaque::hole(0);
                    let opaque = Opaque::cut(quote::quote!(&#hole));
                    let place = vec![Operand::Mem(mem, prefix)];
                    return self.borrow_as(opaque, place, call.span());
                }
            }
            // A closure inside (`no_grad(x.iter().fold(0.0, |m, v| m.max(*v)))`), which the
            // value's copy cannot hold: lowered as usual, and its value cut.
            if contains_closure(&call.args[0]) {
                let span = call.span();
                // A row the chain chose (`.max_by(..).unwrap()` of a `&[[f64; 2]]`): read whole.
                let (value, row) = match self.expr(&call.args[0]) {
                    Val::Mem(mem, prefix) if self.is_row(mem, &prefix) => {
                        (Operand::Value(self.row_value(mem, prefix, span)), true)
                    }
                    val => (self.val_operand(val, span), false),
                };
                let rule = rules::lookup_private("no_grad", 1).expect("no_grad has a row");
                let form = Form::Path(func.clone());
                let cut = self.emit(Op::Rule { rule, form }, vec![value], span);
                self.values[cut.index()].aggregate = row;
                return Val::Scalar(Operand::Value(cut));
            }
            return self.opaque(&Expr::Call(call.clone()), true, "no_grad");
        }
        if let Some(method) = float_method_path(func, self.generic_float.as_ref()) {
            let name = method.to_string();
            if let Some(rule) = rules::lookup(&name, call.args.len()) {
                let args = call.args.iter().map(|arg| self.operand(arg)).collect();
                let value = self.emit(
                    Op::Rule {
                        rule,
                        form: Form::Path(func.clone()),
                    },
                    args,
                    method.span(),
                );
                return Val::Scalar(Operand::Value(value));
            }
            let path = func.to_token_stream().to_string().replace(' ', "");
            return self.opaque_call(call, super::opaque::no_rule(&format!("`{path}`")));
        }
        if let Some(name) = local_name(func).map(ToString::to_string) {
            let call_expr = Expr::Call(call.clone());
            if name == self.fn_name && !self.in_impl {
                self.error(
                    func,
                    "recursive functions cannot be differentiated; write the recursion as a loop",
                );
                return Val::Poison;
            }
            if let Some(closure) = self.lookup_user(&name).and_then(|b| b.closure()).cloned() {
                // `c(&x)` of a number `x` for `|t: &f64|`: the closure reads the number.
                let args = call
                    .args
                    .iter()
                    .map(|arg| match strip_parens(arg) {
                        Expr::Reference(r)
                            if r.mutability.is_none() && self.holds_number(&r.expr) =>
                        {
                            self.expr(&r.expr)
                        }
                        _ => self.expr(arg),
                    })
                    .collect();
                let written_ref: Vec<bool> = call
                    .args
                    .iter()
                    .map(|arg| matches!(strip_parens(arg), Expr::Reference(_)))
                    .collect();
                return self.call_closure(&closure, args, &written_ref, func.span());
            }
            if self.lookup_user(&name).is_some() {
                let error = format!(
                    "`{name}` is a variable (a parameter or a local) holding a closure or function, and a call through it cannot be differentiated: the macro sees the name, not the code; call a `#[differentiate]` function by its name"
                );
                return self.opaque_with(&call_expr, false, error);
            }
            if self.local_fns.contains(&name) {
                let error = format!(
                    "`{name}` is declared inside this function, so it cannot be differentiated; move it out of the function and put `#[differentiate]` on it"
                );
                // `idx(i, x.len())`: the length of an array is an integer, given as one.
                self.scopes.push(Scope::new());
                let mut call = call.clone();
                for (k, arg) in call.args.iter_mut().enumerate() {
                    let Expr::MethodCall(m) = strip_parens(arg) else {
                        continue;
                    };
                    if m.method != "len" || !m.args.is_empty() {
                        continue;
                    }
                    if let Some(Val::Mem(mem, prefix)) = self.local_val(&m.receiver).cloned() {
                        let len = self.emit(Op::Len(mem), prefix, m.method.span());
                        let ident = quote::format_ident!("__autodiff_len{}", k);
                        self.declare(
                            Var::user(ident.to_string()),
                            Some(Val::Scalar(Operand::Value(len))),
                        );
                        *arg = syn::parse_quote!(#ident);
                    }
                }
                let val = self.opaque_with(&Expr::Call(call), false, error);
                self.scopes.pop();
                return val;
            }
        }
        // A function of the standard library is no `#[differentiate]` function: kept as
        // written, and an error if it meets a differentiated value (`std::iter::successors(..)`).
        let root = func.path.segments.first().map(|s| s.ident.to_string());
        if matches!(root.as_deref(), Some("std" | "core" | "alloc")) {
            let path = func.to_token_stream().to_string().replace(' ', "");
            let error = format!(
                "`{path}` is a function of the standard library, which cannot be differentiated, and here it is given a value that depends on a differentiated parameter; write what it computes with the operations listed on `#[differentiate]`"
            );
            return self.opaque_call(call, error);
        }
        let (args, written_ref, by_ref, cut) = self.call_args(call.args.iter());
        let callee = Callee::Path(func.clone());
        let op = Op::Call {
            callee,
            written_ref,
            by_ref,
            cut,
            tangents: false,
        };
        self.call_result(op, args, func.span())
    }

    /// A call's value, which may be a tuple, an array or a `Vec` the macro cannot see: its
    /// adjoint starts as a zero shaped like it.
    pub(super) fn call_result(&mut self, op: Op, args: Vec<Operand>, span: Span) -> Val {
        let value = self.emit(op, args, span);
        self.values[value.index()].aggregate = true;
        Val::Scalar(Operand::Value(value))
    }

    /// The arguments of a call, with which were written `&arg` and which the callee receives
    /// as references: the caller's own reference parameters as they are, a local array as a
    /// snapshot (the callee's pullback takes them again).
    pub(super) fn call_args<'e>(
        &mut self,
        call_args: impl Iterator<Item = &'e Expr>,
    ) -> (Vec<Operand>, Vec<bool>, Vec<bool>, Vec<bool>) {
        let mut args = Vec::new();
        let mut by_ref = Vec::new();
        let mut written_ref = Vec::new();
        let mut cut = Vec::new();
        for arg in call_args {
            // `no_grad(&self.env)`: the place, given without its adjoint.
            let held = match strip_parens(arg) {
                Expr::Call(call) => self.cut_struct(call),
                _ => None,
            };
            cut.push(held.is_some());
            let arg = held.unwrap_or(arg);
            let owned;
            let arg = match self
                .no_grad_of_reference(arg)
                .or_else(|| self.deref_param_array(arg))
            {
                Some(rewritten) => {
                    owned = rewritten;
                    &owned
                }
                None => arg,
            };
            let (arg, is_ref) = match arg {
                Expr::Reference(r) if r.mutability.is_none() => (&*r.expr, true),
                arg => (arg, false),
            };
            // A name bound to a reference to a local array (`let s = &v; f(s)`), and the
            // element of an `Option` of references (`f(best.unwrap())`).
            let bound_ref = match strip_parens(arg) {
                Expr::Path(path) => {
                    self.bound_by_ref(path)
                        || matches!(self.local_val(arg),
                            Some(Val::Scalar(Operand::Value(v))) if self.element_refs.contains(v))
                }
                Expr::MethodCall(unwrap)
                    if matches!(unwrap.method.to_string().as_str(), "unwrap" | "expect") =>
                {
                    matches!(strip_parens(&unwrap.receiver), Expr::Path(path) if self.bound_by_ref(path))
                }
                _ => false,
            };
            // `&adj[i]` of data that is not differentiated: the borrow itself, passed as it is.
            if let (true, Expr::Index(index)) = (is_ref, strip_parens(arg)) {
                if let Some(Val::Scalar(Operand::Value(base))) = self.local_val(&index.expr) {
                    if self.borrowed(*base) {
                        let borrowed: Expr = syn::parse_quote!(&#arg);
                        let val = self.expr(&borrowed);
                        args.push(self.as_operand(val, &borrowed));
                        by_ref.push(true);
                        written_ref.push(false);
                        continue;
                    }
                }
            }
            // `*a` of a comparator's `&&[f64; 2]`: still a reference to the row.
            let bound_ref = bound_ref || self.deref_behind_ref(arg);
            let written = is_ref;
            let mut val = self.expr_copying_struct(arg);
            if let (true, Expr::Index(_), Val::Scalar(Operand::Value(v))) =
                (is_ref, strip_parens(arg), &val)
            {
                self.element_read_whole(*v);
            }
            // A row of a struct's field (`row` of `l.w.iter()`): passed as the place it is.
            if let Val::Scalar(Operand::Value(v)) = val {
                if let Some((mem, indices)) = self.struct_elements.get(&v) {
                    val = Val::Mem(*mem, indices.clone());
                }
            }
            let is_ref = is_ref
                || bound_ref
                || match &val {
                    // A parameter behind a reference, or a borrow of data (`nb` of
                    // `adj.iter()`), passed again to the pullback.
                    Val::Scalar(Operand::Value(v)) => self.borrowed(*v),
                    // A sub-slice (`&x[a..b]`, or a name bound to one) is a reference.
                    Val::Mem(_, prefix) if matches!(prefix.last(), Some(Operand::Range(..))) => {
                        true
                    }
                    // A row written `*row` or `m[i]`, or a name bound to one by value
                    // (`let a = m[i];`), is an array passed by value.
                    Val::Mem(_, prefix)
                        if !prefix.is_empty()
                            && !bound_ref
                            && matches!(
                                strip_parens(arg),
                                Expr::Index(_)
                                    | Expr::Path(_)
                                    | Expr::Unary(syn::ExprUnary {
                                        op: syn::UnOp::Deref(_),
                                        ..
                                    })
                            ) =>
                    {
                        false
                    }
                    Val::Mem(mem, _) => self.ref_param(*mem),
                    _ => false,
                };
            by_ref.push(is_ref);
            // A row bound by reference (`row` of `m.iter()`) is written `&m[i]` in the call.
            written_ref.push(
                written || bound_ref || (is_ref && matches!(&val, Val::Mem(_, p) if !p.is_empty())),
            );
            args.push(match val {
                // `&o.inner`, `s.q` of a struct value: its adjoint has the field's shape (a
                // struct, an array).
                Val::Scalar(Operand::Value(v)) if self.parts.contains(&v) => {
                    self.values[v.index()].aggregate = true;
                    Operand::Value(v)
                }
                Val::Scalar(operand) => operand,
                Val::Mem(mem, prefix) if is_ref && self.mems[mem.index()].param.is_none() => {
                    let snapshot = self.emit(Op::Snapshot(mem), prefix, arg.span());
                    self.values[snapshot.index()].aggregate = true;
                    Operand::Value(snapshot)
                }
                Val::Mem(mem, prefix) => Operand::Mem(mem, prefix),
                Val::Poison => poison(),
                Val::Tuple(_) | Val::Unit => {
                    self.error(
                        arg,
                        "tuple arguments are not supported; pass the elements separately",
                    );
                    poison()
                }
                Val::Closure(_) => {
                    self.error(
                        arg,
                        "a closure given to another function cannot be differentiated through; call the closure here, or write the computation as a `#[differentiate]` function",
                    );
                    poison()
                }
                Val::Option(..) => {
                    self.error(arg, "an `Option` argument is not supported here; unwrap it first");
                    poison()
                }
            });
        }
        (args, written_ref, by_ref, cut)
    }
}

impl Lowerer<'_> {
    /// `T::from(n).unwrap()`, `.expect("..")`: a method with literal arguments (or none) on a
    /// call of a float function without a rule, applied to the lowered call.
    fn method_of_conversion(&mut self, call: &syn::ExprMethodCall) -> Option<Val> {
        let Expr::Call(inner) = strip_parens(&call.receiver) else {
            return None;
        };
        let Expr::Path(func) = &*inner.func else {
            return None;
        };
        let method = float_method_path(func, self.generic_float.as_ref())?;
        if rules::lookup(&method.to_string(), inner.args.len()).is_some()
            || !call.args.iter().all(|arg| matches!(arg, Expr::Lit(_)))
        {
            return None;
        }
        let Val::Scalar(receiver) = self.expr(&call.receiver) else {
            return Some(Val::Poison);
        };
        let (hole, name, args) = (Opaque::hole(0), &call.method, &call.args);
        let op = Op::Opaque(Opaque {
            expr: quote::quote!(#hole.#name(#args)),
            cut: false,
            error: super::opaque::no_rule(&format!("method `{name}`")),
            at: call.to_token_stream(),
            index: false,
            borrow: false,
        });
        let value = self.emit(op, vec![receiver], call.method.span());
        Some(Val::Scalar(Operand::Value(value)))
    }

    /// `*a` of an array parameter behind a reference (`a: &[f64; 2]`), which the user's code
    /// copies: `a.clone()`, an array of the function's own, passed and bound by value.
    pub(super) fn deref_param_array(&self, expr: &Expr) -> Option<Expr> {
        let Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Deref(_),
            expr: inner,
            ..
        }) = strip_parens(expr)
        else {
            return None;
        };
        let param_array = matches!(self.local_val(inner), Some(Val::Mem(mem, prefix))
            if prefix.is_empty()
                && !self.mems[mem.index()].structured
                && !self.mems[mem.index()].vec
                && self.ref_param(*mem));
        param_array.then(|| syn::parse_quote_spanned!(expr.span()=> #inner.clone()))
    }

    /// `no_grad(x)` of an array parameter behind a reference (or `no_grad(&a)` of a local one),
    /// given to a call, as `&no_grad(x.to_owned())`: a constant copy the backward sweep can
    /// keep, handed on by reference as `x` was.
    fn no_grad_of_reference(&self, arg: &Expr) -> Option<Expr> {
        let Expr::Call(call) = strip_parens(arg) else {
            return None;
        };
        let Expr::Path(func) = &*call.func else {
            return None;
        };
        if !is_no_grad(func) || call.args.len() != 1 {
            return None;
        }
        // `no_grad(y)` of a parameter behind a reference, or `no_grad(&a)` of a local array.
        let (inner, borrowed) = match &call.args[0] {
            Expr::Reference(r) if r.mutability.is_none() => (&*r.expr, true),
            inner => (inner, false),
        };
        let array = match self.local_val(inner) {
            Some(Val::Mem(mem, prefix)) => {
                let data = &self.mems[mem.index()];
                prefix.is_empty() && !data.structured && (borrowed || self.ref_param(*mem))
            }
            _ => false,
        };
        array.then(|| syn::parse_quote_spanned!(arg.span()=> &#func(#inner.to_owned())))
    }
}

/// The order a sort in place puts `v` in: `v.sort_by(compare)`, `v.sort()`,
/// `v.sort_by_key(|&i| key[i])` (of integers, indices: their keys are `Ord`), and their
/// unstable forms.
fn sort_order(call: &syn::ExprMethodCall) -> Option<Expr> {
    let (span, v) = (call.method.span(), &call.receiver);
    let args: Vec<&Expr> = call.args.iter().collect();
    let private = quote::quote!(::autodiff_core::__private);
    Some(match (call.method.to_string().as_str(), &args[..]) {
        ("sort_by", [compare]) => {
            syn::parse_quote_spanned!(span=> #private::sorted_order(&#v, #compare))
        }
        ("sort_unstable_by", [compare]) => {
            syn::parse_quote_spanned!(span=> #private::unstable_sorted_order(&#v, #compare))
        }
        ("sort", []) => {
            syn::parse_quote_spanned!(span=> #private::sorted_order(&#v, ::core::cmp::Ord::cmp))
        }
        ("sort_unstable", []) => syn::parse_quote_spanned!(span=>
            #private::unstable_sorted_order(&#v, ::core::cmp::Ord::cmp)
        ),
        ("sort_by_key", [key]) => {
            syn::parse_quote_spanned!(span=> #private::sorted_order_by_key(&#v, #key))
        }
        ("sort_unstable_by_key", [key]) => {
            syn::parse_quote_spanned!(span=> #private::unstable_sorted_order_by_key(&#v, #key))
        }
        _ => return None,
    })
}

/// `v.first().unwrap()` as `v[0]`, `v.last().unwrap()` as `v[v.len() - 1]`, for a receiver
/// that is a place (an array, a row, a field).
fn first_or_last(call: &syn::ExprMethodCall) -> Option<Expr> {
    let Expr::MethodCall(inner) = strip_parens(&call.receiver) else {
        return None;
    };
    if !inner.args.is_empty() || !is_place(&inner.receiver) {
        return None;
    }
    let v = &inner.receiver;
    let span = inner.method.span();
    match inner.method.to_string().as_str() {
        "first" => Some(syn::parse_quote_spanned!(span=> #v[0])),
        "last" => Some(syn::parse_quote_spanned!(span=> #v[#v.len() - 1])),
        _ => None,
    }
}

/// The variable a place names (`p` of `p.buf[i].w`).
fn root_of(place: &Expr) -> &Expr {
    let mut root = strip_parens(place);
    loop {
        root = match root {
            Expr::Field(field) => strip_parens(&field.base),
            Expr::Index(index) => strip_parens(&index.expr),
            _ => return root,
        };
    }
}

/// Whether `expr` gives a `bool` or an integer (a comparison, a cast to an integer, `is_nan()`).
fn passive_value(expr: &Expr) -> bool {
    match strip_parens(expr) {
        Expr::Binary(binary) => {
            super::expr::is_comparison(&binary.op)
                || matches!(binary.op, syn::BinOp::And(_) | syn::BinOp::Or(_))
        }
        Expr::Unary(unary) => matches!(unary.op, syn::UnOp::Not(_)),
        Expr::Cast(cast) => {
            !matches!(&*cast.ty, syn::Type::Path(t) if t.path.is_ident("f64") || t.path.is_ident("f32"))
        }
        Expr::MethodCall(call) => call.method.to_string().starts_with("is_"),
        Expr::Lit(lit) => matches!(lit.lit, syn::Lit::Bool(_) | syn::Lit::Int(_)),
        _ => false,
    }
}
