//! The consumers of iterator chains (see `iter.rs`): `sum`, `product`, `fold`, `count`, `any`,
//! `all`, `collect`, `max_by`, `min_by`, `reduce`, `last`, each lowered as a loop that carries
//! an accumulator, and the methods of the `Option`s some of them give.

use proc_macro2::Span;
use quote::quote;
use syn::Expr;

use super::array::{RowsLoop, defining_inst, is_template};
use super::iter::{Stream, rename_holes};
use super::*;

impl Lowerer<'_> {
    /// The consumers: `chain.sum()`, `.fold(..)`, ... Returns `None` when `call` is not one on a
    /// stream.
    pub(super) fn consume(&mut self, call: &syn::ExprMethodCall) -> Option<Val> {
        let name = call.method.to_string();
        let consumer = matches!(
            name.as_str(),
            "sum"
                | "product"
                | "fold"
                | "count"
                | "any"
                | "all"
                | "collect"
                | "max_by"
                | "min_by"
                | "reduce"
                | "last"
                | "nth"
        );
        if !consumer || !Self::is_stream(&call.receiver) {
            return None;
        }
        // `m.keys().copied().collect()` of a map: data, kept as written.
        if name == "collect" && self.map_source(&call.receiver).is_some() {
            return None;
        }
        if let Some(loop_) = self.fold_of_array(call) {
            return Some(self.expr(&loop_));
        }
        if let Some(loops) = self.fold_of_flattened_rows(call) {
            return Some(self.expr(&loops));
        }
        let span = call.method.span();
        let Some(stream) = self.stream(&call.receiver) else {
            return Some(Val::Poison);
        };
        let args = &call.args;
        Some(match name.as_str() {
            "sum" | "product" if args.is_empty() => self.sum_or_product(call, &stream),
            "fold" if args.len() == 2 => {
                let init = self.expr(&args[0]);
                let f = self.callable_of(&args[1], &call.receiver)?;
                self.accumulate(&stream, init, span, &mut |l, acc, item| {
                    l.call_callable(&f, vec![acc, item], span)
                })
            }
            "count" if args.is_empty() && !stream.filtered() => Val::Scalar(stream.count.clone()),
            "count" if args.is_empty() => {
                let init = Val::Scalar(Operand::Const(Const {
                    tokens: quote!(0usize),
                    atomic: true,
                }));
                self.accumulate(&stream, init, span, &mut |l, acc, _| {
                    let acc = l.val_operand(acc, span);
                    Val::Scalar(l.int(quote!(H0 + 1), vec![acc], span))
                })
            }
            "any" | "all" if args.len() == 1 => {
                let f = self.callable_of(&args[0], &call.receiver)?;
                let any = name == "any";
                let init = Val::Scalar(Operand::Bool(!any));
                self.accumulate(&stream, init, span, &mut |l, acc, item| {
                    let test = l.call_callable(&f, vec![item], span);
                    let test = l.val_operand(test, span);
                    let acc = l.val_operand(acc, span);
                    let expr = if any {
                        quote!(H0 || H1)
                    } else {
                        quote!(H0 && H1)
                    };
                    Val::Scalar(l.int(expr, vec![acc, test], span))
                })
            }
            "collect" if args.is_empty() => self.collect(&stream, span),
            "max_by" | "min_by" if args.len() == 1 => {
                let mut cmp = self.callable(&args[0])?;
                cmp.items.behind_ref = self.referenced_items(&call.receiver);
                let max = name == "max_by";
                self.select(&stream, span, &mut |l, best, item| {
                    // `max_by` keeps the last of equal items, `min_by` the first.
                    let order = l.call_callable(&cmp, vec![best, item], span);
                    let order = l.val_operand(order, span);
                    let expr = if max {
                        quote!(H0 != ::core::cmp::Ordering::Greater)
                    } else {
                        quote!(H0 == ::core::cmp::Ordering::Greater)
                    };
                    l.int(expr, vec![order], span)
                })
            }
            "reduce" if args.len() == 1 => {
                let f = self.callable_of(&args[0], &call.receiver)?;
                self.fold_rest(&stream, span, &mut |l, acc, item| {
                    l.call_callable(&f, vec![acc, item], span)
                })
            }
            // After `filter`: the position of the last item kept.
            "last" if args.is_empty() && stream.filtered() => {
                self.select_kept(&stream, span, &mut |_, _, _| Operand::Bool(true))
            }
            "last" if args.is_empty() => {
                let some = self.int(quote!(H0 > 0), vec![stream.count.clone()], span);
                let pos = self.int(quote!(H0.wrapping_sub(1)), vec![stream.count.clone()], span);
                self.item_if(&stream, some, pos, span)
            }
            // `x.iter().nth(k)`: the item at `k`, if there is one.
            "nth" if args.len() == 1 && !stream.filtered() => {
                let pos = self.operand(&args[0]);
                let some = self.int(
                    quote!(H0 < H1),
                    vec![pos.clone(), stream.count.clone()],
                    span,
                );
                self.item_if(&stream, some, pos, span)
            }
            _ => {
                self.error(
                    &call.method,
                    format!(
                        "`.{name}(..)` with these arguments is not supported on an iterator here"
                    ),
                );
                Val::Poison
            }
        })
    }

    /// The `Option` of the item at `pos`, read only where `some` holds (an empty stream has
    /// none to read; [`Self::place_at`]).
    fn item_if(&mut self, stream: &Stream, some: Operand, pos: Operand, span: Span) -> Val {
        let item = self.place_at(stream, some.clone(), pos, span);
        Val::Option(Box::new(item), some)
    }

    /// `chain.sum()`, `chain.product()` (of floats, or of integers with a turbofish or bound to
    /// a `let` of an integer type).
    fn sum_or_product(&mut self, call: &syn::ExprMethodCall, stream: &Stream) -> Val {
        let name = call.method.to_string();
        let span = call.method.span();
        let integer = self.integer_result(call);
        // The starting values of `Sum` and `Product` for floats: `-0.0` keeps the sign of
        // a sum of negative zeros.
        let start = match (name.as_str(), integer) {
            ("sum", false) => quote!(-0.0),
            ("sum", true) => quote!(0),
            (_, false) => quote!(1.0),
            (_, true) => quote!(1),
        };
        let start = match (&self.generic_float, integer) {
            (Some(t), false) => quote!(::autodiff_core::__private::lit::<#t>(#start)),
            _ => start,
        };
        let init = Val::Scalar(Operand::Const(Const {
            tokens: start,
            atomic: false,
        }));
        let op: syn::BinOp = if name == "sum" {
            syn::parse_quote_spanned!(span=> +)
        } else {
            syn::parse_quote_spanned!(span=> *)
        };
        let rule = if name == "sum" { "add" } else { "mul" };
        self.accumulate(stream, init, span, &mut |l, acc, item| {
            let item = l.val_operand(item, span);
            let acc = l.val_operand(acc, span);
            Val::Scalar(l.arithmetic(rule, op, acc, item, span))
        })
    }

    /// `.unwrap()`, `.expect(..)`, `.unwrap_or(..)`, `.unwrap_or_else(..)`, `.is_some()`,
    /// `.is_none()`, `.copied()`, `.cloned()`, `.map(..)` of an `Option` an iterator gave; `None`
    /// when `call` is not one of them.
    pub(super) fn option_method(&mut self, call: &syn::ExprMethodCall) -> Option<Val> {
        let name = call.method.to_string();
        if !matches!(
            name.as_str(),
            "unwrap"
                | "expect"
                | "unwrap_or"
                | "unwrap_or_else"
                | "unwrap_or_default"
                | "is_some"
                | "is_none"
                | "copied"
                | "cloned"
                | "map"
                | "map_or"
                | "is_some_and"
                | "is_none_or"
                | "take"
                | "or"
        ) {
            return None;
        }
        // Only a receiver that gives an `Option` is lowered here (lowering is not repeated).
        if !self.gives_option(&call.receiver) {
            return None;
        }
        let span = call.method.span();
        let (value, some) = match self.expr(&call.receiver) {
            Val::Option(value, some) => (*value, some),
            Val::Poison => return Some(Val::Poison),
            // A parameter whose type does not say what the `Option` holds (`idx: Option`).
            _ => {
                self.error(&call.receiver, "expected an `Option` here");
                return Some(Val::Poison);
            }
        };
        Some(match (name.as_str(), call.args.len()) {
            // The macro holds the item by value already.
            ("copied" | "cloned", 0) => Val::Option(Box::new(value), some),
            // `.map(|(j, _)| j)` of the `Option` of a `max_by`: the closure applied where
            // there is a value.
            ("map", 1) => {
                let Some(f) = self.callable(&call.args[0]) else {
                    return Some(Val::Poison);
                };
                let mapped = self.lower_if(
                    some.clone(),
                    move |l| l.call_callable(&f, vec![value], span),
                    |_| Val::Scalar(dummy()),
                    span,
                );
                Val::Option(Box::new(mapped), some)
            }
            // `pending.take()`: the value, and `None` left in the variable.
            ("take", 0) => {
                self.assign_expr(&call.receiver, &syn::parse_quote!(None));
                Val::Option(Box::new(value), some)
            }
            // `o.is_some_and(f)` is `o.map_or(false, f)`; `o.is_none_or(f)`, `o.map_or(true, f)`.
            ("map_or", 2) | ("is_some_and" | "is_none_or", 1) => {
                let args: Vec<&Expr> = call.args.iter().collect();
                let (default, f): (Expr, _) = match args[..] {
                    [default, f] => (default.clone(), f),
                    [f] => {
                        let none = name == "is_none_or";
                        (syn::parse_quote_spanned!(span=> #none), f)
                    }
                    _ => unreachable!("one or two arguments"),
                };
                let Some(f) = self.callable(f) else {
                    return Some(Val::Poison);
                };
                let default = self.expr(&default);
                self.lower_if(
                    some,
                    move |l| l.call_callable(&f, vec![value], span),
                    move |_| default,
                    span,
                )
            }
            // `a.or(b)` of two `Option`s the function builds: `a` where it has a value.
            ("or", 1) => {
                let (other, other_some) = match self.expr(&call.args[0]) {
                    Val::Option(other, other_some) => (*other, other_some),
                    Val::Poison => return Some(Val::Poison),
                    _ => {
                        self.error(
                            &call.args[0],
                            "`.or(..)` takes an `Option` the function builds here (`if c { Some(x) } else { None }`, an iterator's `max_by`)",
                        );
                        return Some(Val::Poison);
                    }
                };
                // A struct element of either read only where it is there.
                let (value, other) = (
                    self.element_value(value, &some, span),
                    self.element_value(other, &other_some, span),
                );
                let either = self.int(quote!(H0 || H1), vec![some.clone(), other_some], span);
                let value = self.lower_if(some, move |_| value, move |_| other, span);
                Val::Option(Box::new(value), either)
            }
            ("is_some", 0) => Val::Scalar(some),
            ("is_none", 0) => Val::Scalar(self.int(quote!(!H0), vec![some], span)),
            ("unwrap", 0) | ("expect", 1) => {
                // Panics as the `Option` would, with its message.
                let fail = match call.args.first() {
                    Some(message) => quote!(::core::option::Option::<()>::None.expect(#message)),
                    None => quote!(::core::option::Option::<()>::None.unwrap()),
                };
                let check = rename_holes(quote!(if !H0 { #fail; }));
                self.emit(Op::Opaque(Opaque::cut(check)), vec![some], span);
                value
            }
            ("unwrap_or", 1) => {
                // `.unwrap_or(&0.0)` of an iterator's `&f64`, which the macro holds by value.
                let default = match strip_parens(&call.args[0]) {
                    Expr::Reference(r) if r.mutability.is_none() => &*r.expr,
                    default => default,
                };
                let default = self.expr(default);
                self.lower_if(some, move |_| value, move |_| default, span)
            }
            ("unwrap_or_default", 0) => {
                let default = self.expr(&syn::parse_quote_spanned!(span=>
                    ::core::default::Default::default()
                ));
                self.lower_if(some, move |_| value, move |_| default, span)
            }
            ("unwrap_or_else", 1) => {
                let Some(f) = self.callable(&call.args[0]) else {
                    return Some(Val::Poison);
                };
                self.lower_if(
                    some,
                    move |_| value,
                    move |l| l.call_callable(&f, Vec::new(), span),
                    span,
                )
            }
            _ => {
                self.error(&call.method, format!("`.{name}(..)` takes other arguments"));
                Val::Poison
            }
        })
    }

    /// `obs.unwrap_or(x)`, `obs[i].map_or(x, |v| v)`, `o.map(|y| y - x)`, `obs[i].or(o)` of an
    /// `Option` the function is given (data that is not differentiated): the `match` they stand
    /// for, whose arms may be.
    pub(super) fn given_option(&self, call: &syn::ExprMethodCall) -> Option<Expr> {
        // A place, or an element of data held by `no_grad` (`no_grad(&self.ko)[i]`).
        let held = matches!(indexed_root(&call.receiver), Some((Expr::Call(c), rows))
            if rows > 0 && matches!(&*c.func, Expr::Path(f) if is_no_grad(f)));
        if !(is_place(&call.receiver) || held) || self.gives_option(&call.receiver) {
            return None;
        }
        // Not an array of numbers (`a.map(|v| ..)` is the array's).
        let numbers = indexed_root(&call.receiver).is_some_and(|(root, _)| {
            matches!(self.local_val(root), Some(Val::Mem(mem, _)) if !self.mems[mem.index()].structured)
        });
        if numbers {
            return None;
        }
        let (option, span) = (&call.receiver, call.method.span());
        // A closure written in place, with as many parameters as the `Option` gives it.
        let closure = |arg: &Expr, params: usize| match strip_parens(arg) {
            Expr::Closure(c) if c.inputs.len() == params && c.capture.is_none() => {
                // `|v: f64|`: the pattern, which `Some(..)` takes without its type.
                let pat = c.inputs.first().map(|p| match p {
                    syn::Pat::Type(typed) => (*typed.pat).clone(),
                    p => p.clone(),
                });
                Some((pat, arm_body(&c.body)))
            }
            _ => None,
        };
        let (some, none): (Expr, Expr) = match (
            call.method.to_string().as_str(),
            &call.args.iter().collect::<Vec<_>>()[..],
        ) {
            ("unwrap_or", [default]) => (syn::parse_quote!(__autodiff_v), (*default).clone()),
            ("unwrap_or_default", []) => (
                syn::parse_quote!(__autodiff_v),
                syn::parse_quote!(::core::default::Default::default()),
            ),
            ("unwrap_or_else", [default]) => {
                (syn::parse_quote!(__autodiff_v), closure(default, 0)?.1)
            }
            ("map", [f]) => {
                let (pat, body) = closure(f, 1)?;
                return Some(syn::parse_quote_spanned!(span=> match #option {
                    ::core::option::Option::Some(#pat) => Some(#body),
                    ::core::option::Option::None => None,
                }));
            }
            // `obs[i].or(o)` of one the function builds (last observation carried forward); of
            // two it is given, data kept as written.
            ("or", [other]) if self.gives_option(other) || written_option(other) => {
                (syn::parse_quote!(Some(__autodiff_v)), (*other).clone())
            }
            ("map_or", [default, f]) => {
                let (pat, body) = closure(f, 1)?;
                return Some(syn::parse_quote_spanned!(span=> match #option {
                    ::core::option::Option::Some(#pat) => #body,
                    ::core::option::Option::None => #default,
                }));
            }
            // `o.is_some_and(f)`, `o.is_none_or(f)`: `map_or` with `false` / `true`.
            (name @ ("is_some_and" | "is_none_or"), [f]) => {
                let (pat, body) = closure(f, 1)?;
                let none = name == "is_none_or";
                return Some(syn::parse_quote_spanned!(span=> match #option {
                    ::core::option::Option::Some(#pat) => #body,
                    ::core::option::Option::None => #none,
                }));
            }
            _ => return None,
        };
        Some(syn::parse_quote_spanned!(span=> match #option {
            ::core::option::Option::Some(__autodiff_v) => #some,
            ::core::option::Option::None => #none,
        }))
    }

    /// Whether `expr` gives an `Option` of an iterator's item (`max_by(..)`, `.copied()` of
    /// one) or is a variable holding one.
    pub(super) fn gives_option(&self, expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::MethodCall(inner) => match inner.method.to_string().as_str() {
                "reduce" | "max_by" | "min_by" | "nth" => Self::is_stream(&inner.receiver),
                "last" => {
                    Self::is_stream(&inner.receiver)
                        || self.element_access(inner)
                        || self.field_element_option(inner).is_some()
                }
                "first" | "get" => {
                    self.element_access(inner) || self.field_element_option(inner).is_some()
                }
                "split_first" | "split_last" => self.split_option(inner).is_some(),
                "copied" | "cloned" => self.gives_option(&inner.receiver),
                // Also of an `Option` the function is given (`obs[i].or(o)`).
                "map" | "or" => {
                    self.gives_option(&inner.receiver) || self.given_option(inner).is_some()
                }
                "take" if inner.args.is_empty() => {
                    matches!(strip_parens(&inner.receiver), Expr::Path(_))
                        && self.gives_option(&inner.receiver)
                }
                _ => self.element_access(inner),
            },
            expr @ (Expr::Path(_) | Expr::Field(_)) => {
                matches!(self.local_val(expr), Some(Val::Option(..)))
            }
            _ => false,
        }
    }

    /// `acc = init; for item { acc = step(acc, item) }; acc`.
    pub(super) fn accumulate(
        &mut self,
        stream: &Stream,
        init: Val,
        span: Span,
        step: &mut dyn FnMut(&mut Self, Val, Val) -> Val,
    ) -> Val {
        // The accumulator holds a number: a field of a struct (`p.bias`, an element of `p.w`)
        // is read once, before the loop, as `let acc = p.bias;` reads it.
        let Some(init) = self.accumulator(init, span) else {
            return Val::Poison;
        };
        self.carry(stream, init, span, &mut |l, acc, item, _| {
            step(l, acc, item)
        })
    }

    /// `chain.fold(init, |acc, item| body)` whose accumulator is an array the function holds
    /// (`fold(s0, |s, u| step(s, *u))`, a state stepped): the loop it stands for, written out,
    /// which carries arrays as any loop does.
    fn fold_of_array(&self, call: &syn::ExprMethodCall) -> Option<Expr> {
        if call.method != "fold" || call.args.len() != 2 {
            return None;
        }
        let [init, Expr::Closure(f)] = [&call.args[0], &call.args[1]].map(strip_parens) else {
            return None;
        };
        if f.inputs.len() != 2 {
            return None;
        }
        // A `Vec` accumulator changed in place (`|mut acc, p| { acc[0] += ..; acc }`) is not
        // rewritten: the loop would write into the `Vec` it reads.
        let vec_init = matches!(init, Expr::Macro(_) | Expr::MethodCall(_));
        let mutated = matches!(&f.inputs[0], syn::Pat::Ident(p) if p.mutability.is_some());
        let array = self.holds_array(init) && !(vec_init && mutated);
        if !array || super::closure::returns_from(f) {
            return None;
        }
        // A `for` pattern has no type annotation.
        let untyped = |p: &syn::Pat| match p {
            syn::Pat::Type(t) => (*t.pat).clone(),
            p => p.clone(),
        };
        let (acc, item) = (&f.inputs[0], untyped(&f.inputs[1]));
        let (chain, body) = (&call.receiver, &f.body);
        Some(syn::parse_quote_spanned!(call.method.span()=> {
            let mut __autodiff_acc = #init;
            for #item in #chain {
                let #acc = __autodiff_acc;
                __autodiff_acc = #body;
            }
            __autodiff_acc
        }))
    }

    /// Whether `sum()`/`product()` gives an integer: by its turbofish (`sum::<usize>()`) or
    /// the type of the `let` it is bound in.
    fn integer_result(&self, call: &syn::ExprMethodCall) -> bool {
        call.turbofish.as_ref().is_some_and(|t| {
            t.args
                .iter()
                .any(|a| matches!(a, syn::GenericArgument::Type(ty) if !float_cast_target(ty)))
        }) || self.integer_sum == Some(call as *const _)
    }

    /// `rows.flatten()`, then adapters of the elements, consumed by `sum`, `product`, `fold` or
    /// `collect` (`w.iter().flatten().map(|v| v * v).sum::<f64>()`, weight decay): the loop over
    /// the rows with the loop over each row's elements inside, written out. The elements are
    /// taken in the same order, so the value is the chain's, bit for bit.
    fn fold_of_flattened_rows(&self, call: &syn::ExprMethodCall) -> Option<Expr> {
        let (rows, elements) = self.flattened_rows(&call.receiver)?;
        let span = call.method.span();
        let method = call.method.to_string();
        // Untyped float literals in generic code would not be the function's float type.
        if self.generic_float.is_some() && !matches!(method.as_str(), "fold" | "collect") {
            return None;
        }
        let integer = self.integer_result(call);
        let (init, step): (Expr, syn::Stmt) =
            match (method.as_str(), &call.args.iter().collect::<Vec<_>>()[..]) {
                // `Sum` and `Product` of floats start from `-0.0` and `1.0`.
                ("sum", []) if !integer => (
                    syn::parse_quote!(-0.0),
                    syn::parse_quote!(__autodiff_acc += __autodiff_item;),
                ),
                ("product", []) if !integer => (
                    syn::parse_quote!(1.0),
                    syn::parse_quote!(__autodiff_acc *= __autodiff_item;),
                ),
                ("collect", []) => (
                    syn::parse_quote!(::std::vec::Vec::new()),
                    syn::parse_quote!(__autodiff_acc.push(__autodiff_item);),
                ),
                ("fold", [init, f]) => match strip_parens(f) {
                    Expr::Closure(f) if f.inputs.len() == 2 && !super::closure::returns_from(f) => {
                        let (acc, item, body) = (&f.inputs[0], &f.inputs[1], &f.body);
                        (
                            (*init).clone(),
                            syn::parse_quote_spanned!(span=> {
                                let #acc = __autodiff_acc;
                                let #item = __autodiff_item;
                                __autodiff_acc = #body;
                            }),
                        )
                    }
                    f @ Expr::Path(_) => (
                        (*init).clone(),
                        syn::parse_quote_spanned!(span=>
                            __autodiff_acc = #f(__autodiff_acc, __autodiff_item);
                        ),
                    ),
                    _ => return None,
                },
                _ => return None,
            };
        Some(syn::parse_quote_spanned!(span=> {
            let mut __autodiff_acc = #init;
            for __autodiff_row in #rows {
                for __autodiff_item in #elements {
                    #step
                }
            }
            __autodiff_acc
        }))
    }

    /// An array written out, one the function holds, or a tuple with one (`(s0, 0.0)`); or a
    /// call's value, which may be one (the loop is the `fold` whatever it holds).
    fn holds_array(&self, expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::Array(_) | Expr::Repeat(_) | Expr::Call(_) => true,
            Expr::Macro(m) => m.mac.path.is_ident("vec"),
            // `x.to_vec()`: a `Vec` of the function's own.
            Expr::MethodCall(m) if m.args.is_empty() => {
                m.method == "to_vec"
                    || (matches!(m.method.to_string().as_str(), "clone" | "to_owned")
                        && self.holds_array(&m.receiver))
            }
            Expr::Tuple(t) => t.elems.iter().any(|e| self.holds_array(e)),
            // A row copied (`*x` of `for x in data`, `m[i]`): an array of its own.
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Deref(_),
                expr: row,
                ..
            }) => self.is_row_of_numbers(row),
            Expr::Index(_) => self.is_row_of_numbers(expr),
            _ => match self.local_val(expr) {
                Some(Val::Mem(mem, prefix)) => {
                    prefix.is_empty() && !self.mems[mem.index()].structured
                }
                Some(Val::Scalar(Operand::Value(v))) => self.values[v.index()].aggregate,
                _ => false,
            },
        }
    }

    /// A row of an array of numbers (`m[i]`, `x` of `for x in data`), not a number.
    fn is_row_of_numbers(&self, expr: &Expr) -> bool {
        let Some((root, rows)) = indexed_root(expr) else {
            return false;
        };
        matches!(self.local_val(root), Some(Val::Mem(mem, prefix))
            if !self.mems[mem.index()].structured
                && depth(prefix) + rows < self.mems[mem.index()].dims)
    }

    /// `acc = init; for (pos, item) { acc = step(acc, item, pos) }; acc`, for any `init`.
    fn carry(
        &mut self,
        stream: &Stream,
        init: Val,
        span: Span,
        step: &mut dyn FnMut(&mut Self, Val, Val, Operand) -> Val,
    ) -> Val {
        self.scopes.push(Scope::new());
        let acc = self.temp(init);
        let scanned = acc.clone();
        self.stream_loop(
            stream,
            span,
            None,
            |a| {
                a.vars.insert(scanned);
            },
            &mut |l, item, pos| {
                let current = l.var(&acc);
                let next = step(l, current, item, pos);
                l.assign_var(&acc, next);
            },
        );
        let result = self.var(&acc);
        self.scopes.pop();
        result
    }

    /// The starting value of an accumulator, with the fields of structs in it (`p.bias`, or
    /// `(p.bias, 0.0)`) read once; `None` (the error reported) for an array.
    fn accumulator(&mut self, init: Val, span: Span) -> Option<Val> {
        Some(match init {
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                Val::Scalar(Operand::Value(self.emit(Op::Load(mem), prefix, span)))
            }
            Val::Mem(..) => {
                self.error_at(
                    span,
                    "an array or `Vec` as the accumulator of `fold` is supported with the closure written in the `fold`, taking the accumulator without `mut` (`fold(s0, |s, u| step(s, *u))`); otherwise write the loop",
                );
                return None;
            }
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .into_iter()
                    .map(|part| self.accumulator(part, span))
                    .collect::<Option<_>>()?,
            ),
            Val::Scalar(Operand::Const(c)) if untyped_float(&c.tokens) => {
                match &self.output_float {
                    Some(ty) => {
                        let tokens = &c.tokens;
                        Val::Scalar(Operand::Const(Const {
                            tokens: quote!((#tokens as #ty)),
                            atomic: true,
                        }))
                    }
                    None => Val::Scalar(Operand::Const(c)),
                }
            }
            init => init,
        })
    }

    /// `reduce`: the first item, then `acc = step(acc, item)` over the others; `None` when empty.
    pub(super) fn fold_rest(
        &mut self,
        stream: &Stream,
        span: Span,
        step: &mut dyn FnMut(&mut Self, Val, Val) -> Val,
    ) -> Val {
        if stream.filtered() {
            return self.fold_kept(stream, span, step);
        }
        let first = self.first_item(stream, span);
        let rest = self.rest(stream, span);
        let value = self.accumulate(&rest, first, span, step);
        let some = self.int(quote!(H0 > 0), vec![stream.count.clone()], span);
        Val::Option(Box::new(value), some)
    }

    /// `fold_rest` after `filter`: the first item kept (read where there is one, so that the
    /// accumulator has its type before a closure calls methods on it), then
    /// `acc = step(acc, item)` over the later ones kept.
    fn fold_kept(
        &mut self,
        stream: &Stream,
        span: Span,
        step: &mut dyn FnMut(&mut Self, Val, Val) -> Val,
    ) -> Val {
        if self.gives_rows(&self.unfiltered(stream)) {
            self.error_at(
                span,
                "`.reduce(..)` of rows, windows or structs after `.filter(..)` is not supported; use `.max_by(..)` / `.min_by(..)`, or write the loop",
            );
            return Val::Poison;
        }
        let Val::Option(first, some) =
            self.select_kept(stream, span, &mut |_, _, _| Operand::Bool(false))
        else {
            return Val::Poison;
        };
        let Some(first) = self.accumulator(*first, span) else {
            return Val::Poison;
        };
        let start = Val::Tuple(vec![Val::Scalar(Operand::Bool(false)), first]);
        let folded = self.carry(stream, start, span, &mut |l, state, item, _| {
            let Val::Tuple(state) = state else {
                return Val::Poison;
            };
            let started = l.val_operand(state[0].clone(), span);
            let (acc, kept) = (state[1].clone(), state[1].clone());
            let acc = l.lower_if(started, |l| step(l, acc, item), |_| kept, span);
            Val::Tuple(vec![Val::Scalar(Operand::Bool(true)), acc])
        });
        let Val::Tuple(folded) = folded else {
            return Val::Poison;
        };
        Val::Option(Box::new(folded[1].clone()), some)
    }

    /// `max_by`/`min_by`: the first item, replaced by each later one for which `better` holds.
    pub(super) fn select(
        &mut self,
        stream: &Stream,
        span: Span,
        better: &mut dyn FnMut(&mut Self, Val, Val) -> Operand,
    ) -> Val {
        if stream.filtered() {
            return self.select_kept(stream, span, better);
        }
        let some = self.int(quote!(H0 > 0), vec![stream.count.clone()], span);
        // Items holding rows (`dst.iter().enumerate()` of a `&[[f64; 3]]`): the best one's
        // position is kept instead, and its item read again where needed.
        if self.gives_rows(stream) {
            let zero = Operand::Const(Const {
                tokens: quote!(0usize),
                atomic: true,
            });
            let best = self.carry(
                stream,
                Val::Scalar(zero),
                span,
                &mut |l, best, item, pos| {
                    let best_pos = l.val_operand(best, span);
                    let best_item = l.item_at(stream, best_pos.clone(), span);
                    let take = better(l, best_item, item);
                    Val::Scalar(l.int(
                        quote!(if H0 { H1 } else { H2 }),
                        vec![take, pos, best_pos],
                        span,
                    ))
                },
            );
            let best_pos = self.val_operand(best, span);
            // Rows are views, read only where the `Option` is `Some`.
            let value = self.place_at(stream, some.clone(), best_pos, span);
            return Val::Option(Box::new(value), some);
        }
        let first = self.first_item(stream, span);
        let rest = self.rest(stream, span);
        let value = self.accumulate(&rest, first, span, &mut |l, best, item| {
            let take = better(l, best.clone(), item.clone());
            l.lower_if(take, move |_| item, move |_| best, span)
        });
        Val::Option(Box::new(value), some)
    }

    /// `select` after `filter`: the position of the first item kept, then of each later one
    /// for which `better` holds, with whether any was kept; the best item is read again there.
    fn select_kept(
        &mut self,
        stream: &Stream,
        span: Span,
        better: &mut dyn FnMut(&mut Self, Val, Val) -> Operand,
    ) -> Val {
        let all = self.unfiltered(stream);
        let zero = Operand::Const(Const {
            tokens: quote!(0usize),
            atomic: true,
        });
        let none = Val::Tuple(vec![Val::Scalar(Operand::Bool(false)), Val::Scalar(zero)]);
        let found = self.carry(stream, none, span, &mut |l, state, item, pos| {
            let Val::Tuple(state) = state else {
                return Val::Poison;
            };
            let seen = l.val_operand(state[0].clone(), span);
            let best = l.val_operand(state[1].clone(), span);
            let all = &all;
            let at = best.clone();
            // `better` is not asked before an item is kept (it may `unwrap` a comparison
            // that the `filter` guards).
            let take = l.lower_if(
                seen,
                |l| {
                    let best_item = l.item_at(all, at, span);
                    Val::Scalar(better(l, best_item, item))
                },
                |_| Val::Scalar(Operand::Bool(true)),
                span,
            );
            let take = l.val_operand(take, span);
            let best = l.int(
                quote!(if H0 { H1 } else { H2 }),
                vec![take, pos, best],
                span,
            );
            Val::Tuple(vec![Val::Scalar(Operand::Bool(true)), Val::Scalar(best)])
        });
        let Val::Tuple(found) = found else {
            return Val::Poison;
        };
        let some = self.val_operand(found[0].clone(), span);
        let best = self.val_operand(found[1].clone(), span);
        let value = self.place_at(&all, some.clone(), best, span);
        Val::Option(Box::new(value), some)
    }

    /// The item at position 0 of a non-empty stream (an empty one never reads it: the `Option`
    /// is `None`), read only when there is one.
    pub(super) fn first_item(&mut self, stream: &Stream, span: Span) -> Val {
        let nonempty = self.int(quote!(H0 > 0), vec![stream.count.clone()], span);
        let zero = Operand::Const(Const {
            tokens: quote!(0usize),
            atomic: true,
        });
        self.lower_if(
            nonempty,
            |l| l.item_at(stream, zero, span),
            |_| Val::Scalar(Operand::Undef),
            span,
        )
    }

    /// `collect()` into a new `Vec` of numbers.
    pub(super) fn collect(&mut self, stream: &Stream, span: Span) -> Val {
        if stream.filtered() {
            let mem = self.new_mem(None, 1, true, None);
            self.push(ir::Stmt::MemInit(MemInit {
                mem,
                kind: MemInitKind::Empty { capacity: None },
                declare: true,
                len: None,
                ty: None,
                span,
            }));
            self.resized.insert(mem);
            self.stream_loop(stream, span, None, |_| {}, &mut |l, item, _| {
                let value = l.collected(item, span);
                l.push_elem(mem, value, span);
            });
            return Val::Mem(mem, Vec::new());
        }
        let mem = self.new_mem(None, 1, true, None);
        let zero = match &self.generic_float {
            Some(t) => quote!(::autodiff_core::__private::lit::<#t>(0.0)),
            None => quote!(0.0),
        };
        let zero = Operand::Const(Const {
            tokens: zero,
            atomic: true,
        });
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::Repeat {
                elem: zero,
                lens: vec![stream.count.clone()],
                vecs: vec![true],
            },
            declare: true,
            len: None,
            ty: None,
            span,
        }));
        // Rows of one length for all items: written out (`|&t| [r * t.cos(), r * t.sin()]`,
        // `vec![a, b]`) or of a length known before the loop (`|i| (0..n).map(..).collect()`,
        // `|_| x.iter().map(..).collect()`). The matrix becomes `vec![[0.0; len]; count]`, each
        // row stored whole.
        let before = self.values.len();
        let mut rows = None;
        self.stream_loop(stream, span, None, |_| {}, &mut |l, item, pos| {
            // The body is lowered once (a `chain`'s two parts give one merged item).
            if let Val::Mem(row, prefix) = &item {
                if let Some(len) = prefix.is_empty().then(|| l.row_len(*row)).flatten() {
                    let vec = l.mems[row.index()].vec;
                    rows = Some(Rows {
                        len,
                        vec,
                        pos: pos.clone(),
                    });
                    l.mems[mem.index()].dims = 2;
                    l.store_row((mem, vec![pos]), (*row, Vec::new()), span);
                    return;
                }
            }
            let value = l.collected(item, span);
            l.push(ir::Stmt::Store(ir::Store {
                mem,
                indices: vec![pos],
                value,
                push: false,
                span,
            }));
        });
        if let Some(rows) = rows {
            self.declare_rows(mem, &rows, stream, before, span);
        }
        Val::Mem(mem, Vec::new())
    }

    /// Gives `mem`, declared as a `Vec` of numbers and then filled with `rows` by the loop after
    /// it over `stream`, the rows' shape in its declaration: their length computed ahead of the
    /// loop, or the shape of the rows they are made from (`m.iter().map(|row| row.iter()..)`,
    /// a parameter's); an error where neither is known there.
    fn declare_rows(&mut self, mem: Mem, rows: &Rows, stream: &Stream, before: usize, span: Span) {
        let Some(block) = self.blocks.pop() else {
            return;
        };
        let at = block.iter().rposition(
            |stmt| matches!(stmt, ir::Stmt::MemInit(init) if init.mem == mem && init.declare),
        );
        let mut ahead = Vec::new();
        let kind = at.and_then(|at| {
            let lp = RowsLoop {
                before,
                earlier: &block[..at],
                after: &block[at + 1..],
            };
            if let Some(len) = self.hoisted_len(&rows.len, &lp, &mut ahead) {
                return Some(Err(len));
            }
            ahead.clear();
            let (like, prefix) = stream.rows_of()?;
            let cap = self.len_of_item(&rows.len, (like, prefix, &rows.pos), &lp, &mut ahead)?;
            let like = Operand::Mem(like, prefix.to_vec());
            Some(Ok(MemInitKind::RowsLike { like, cap }))
        });
        self.blocks.push(block);
        let (Some(at), Some(kind)) = (at, kind) else {
            self.error_at(span, super::array::ROWS_NOT_YET);
            return;
        };
        let block = self.blocks.last_mut().expect("pushed back above");
        let ir::Stmt::MemInit(init) = &mut block[at] else {
            unreachable!("found above")
        };
        match (kind, &mut init.kind) {
            (Err(len), MemInitKind::Repeat { lens, vecs, .. }) => {
                lens.push(len);
                vecs.push(rows.vec);
            }
            (Ok(kind), init) => *init = kind,
            _ => {}
        }
        block.splice(at..at, ahead);
    }

    /// Where `len` (computed in the statements `after`) is the length of the item at `pos`, a
    /// row of a parameter `like[prefix]` (`row.iter()` of `m.iter().map(|row| ..)`), or the
    /// smaller of that and lengths known before the loop (`row.iter().zip(g)`): those lengths,
    /// their smallest computed ahead of the loop onto `ahead` (`Some(None)` when there are
    /// none).
    fn len_of_item(
        &mut self,
        len: &Operand,
        (like, prefix, pos): (Mem, &[Operand], &Operand),
        lp: &RowsLoop,
        ahead: &mut Vec<ir::Stmt>,
    ) -> Option<Option<Operand>> {
        let data = &self.mems[like.index()];
        if data.param.is_none() || data.field.is_some() || data.structured {
            return None;
        }
        let Operand::Value(len) = len else {
            return None;
        };
        let mut inst = defining_inst(lp.after, *len)?;
        match (&inst.op, &inst.args[..]) {
            // The length of an array the loop makes from the item (`let e: Vec<f64> =
            // row.iter()..collect(); e.iter()..`).
            (Op::Len(mem), []) if self.mems[mem.index()].param.is_none() => {
                let made = self.made_len(*mem, lp.after)?;
                self.len_of_item(&made, (like, prefix, pos), lp, ahead)
            }
            (Op::Len(mem), [outer @ .., last])
                if *mem == like
                    && ir::same_indices(outer, prefix)
                    && ir::same_indices(std::slice::from_ref(last), std::slice::from_ref(pos)) =>
            {
                Some(None)
            }
            (Op::Opaque(opaque), [a, b])
                if opaque.index && is_template(&opaque.expr, "::core::cmp::min(H0, H1)") =>
            {
                let mark = ahead.len();
                let (item_len, other) = match self.hoisted_len(b, lp, ahead) {
                    Some(other) => (a.clone(), other),
                    None => (b.clone(), self.hoisted_len(a, lp, ahead)?),
                };
                let item = (like, prefix, pos);
                let Some(cap) = self.len_of_item(&item_len, item, lp, ahead) else {
                    ahead.truncate(mark);
                    return None;
                };
                let Some(cap) = cap else {
                    return Some(Some(other));
                };
                inst.args = vec![cap, other];
                inst.result = self.new_value(None);
                let result = Operand::Value(inst.result);
                ahead.push(ir::Stmt::Inst(inst));
                Some(Some(result))
            }
            _ => None,
        }
    }

    /// An item collected into a `Vec` of numbers.
    fn collected(&mut self, item: Val, span: Span) -> Operand {
        match item {
            Val::Mem(mem, _) if !self.mems[mem.index()].structured => {
                self.error_at(span, super::array::ROWS_NOT_YET);
                Operand::Poison
            }
            Val::Tuple(_) => {
                self.error_at(span, "collecting tuples into a `Vec` is not supported; collect each element into a `Vec` of its own (`.map(|(a, _)| a).collect()`)");
                Operand::Poison
            }
            item => self.val_operand(item, span),
        }
    }
}

/// `body` as a `match` arm's: parenthesized where it starts with a block (`|v: f64| { v } * k`),
/// which would end the arm there.
fn arm_body(body: &Expr) -> Expr {
    fn starts_with_block(e: &Expr) -> bool {
        match e {
            Expr::Block(_)
            | Expr::If(_)
            | Expr::Match(_)
            | Expr::Loop(_)
            | Expr::While(_)
            | Expr::ForLoop(_)
            | Expr::Unsafe(_)
            | Expr::Const(_) => true,
            Expr::Binary(b) => starts_with_block(&b.left),
            Expr::MethodCall(m) => starts_with_block(&m.receiver),
            Expr::Field(f) => starts_with_block(&f.base),
            Expr::Index(i) => starts_with_block(&i.expr),
            Expr::Cast(c) => starts_with_block(&c.expr),
            Expr::Try(t) => starts_with_block(&t.expr),
            Expr::Call(c) => starts_with_block(&c.func),
            Expr::Range(r) => r.start.as_deref().is_some_and(starts_with_block),
            _ => false,
        }
    }
    match body {
        Expr::Block(_) | Expr::If(_) | Expr::Match(_) => body.clone(),
        _ if starts_with_block(body) => syn::parse_quote!((#body)),
        _ => body.clone(),
    }
}

/// The rows a `collect()` stores into its matrix: their length (an operand of the loop) and
/// whether they are `Vec`s, and the loop's position.
struct Rows {
    len: Operand,
    vec: bool,
    pos: Operand,
}
