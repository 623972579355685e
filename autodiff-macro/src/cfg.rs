//! `#[cfg]` and `#[cfg_attr]` inside the body: the macro cannot evaluate a configuration
//! predicate (features, target, `test`), so it differentiates the body once per combination of
//! the predicates it meets, with the gated statements kept or removed, and gates each version of
//! the generated functions with the same combination. rustc then keeps exactly the version it
//! would have compiled, and a gated statement may name items that exist only under its
//! configuration.
//!
//! ```text
//! fn f(x: f64) -> f64 {                    #[cfg(all(feature = "a"))]       fn f_grad .. { acc = x; acc += x; .. }
//!     let mut acc = x;               →     #[cfg(all(not(feature = "a")))]  fn f_grad .. { acc = x; .. }
//!     #[cfg(feature = "a")]
//!     { acc += x; }
//!     acc
//! }
//! ```
//!
//! Lint and tool attributes (`allow`, `expect`, `rustfmt::skip`, ...) on statements change
//! nothing here and are left out; any other attribute on a statement or an expression is an error.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Expr, Meta, Token};

use crate::ctxt::Ctxt;

/// At most this many different predicates: the body is differentiated `2^n` times.
const MAX_PREDICATES: usize = 4;

/// One version of the body, and the predicate under which it is the one rustc compiles (`None`
/// when the body has no configuration-dependent statement).
pub struct Variant {
    pub predicate: Option<TokenStream>,
    pub body: syn::Block,
}

pub fn variants(cx: &Ctxt, body: &syn::Block) -> Vec<Variant> {
    let mut collect = Collect {
        cx,
        predicates: Vec::new(),
    };
    collect.visit_block_mut(&mut body.clone());
    let predicates = collect.predicates;
    if predicates.is_empty() {
        return vec![Variant {
            predicate: None,
            body: body.clone(),
        }];
    }
    if predicates.len() > MAX_PREDICATES {
        cx.error_at(
            body.brace_token.span.join(),
            format!(
                "a differentiated function may depend on at most {MAX_PREDICATES} different `#[cfg]` conditions inside its body; move the configuration-dependent code into functions of their own"
            ),
        );
        return Vec::new();
    }
    (0..1usize << predicates.len())
        .map(|bits| {
            let truth: Vec<bool> = (0..predicates.len())
                .map(|k| bits & (1 << k) != 0)
                .collect();
            let mut body = body.clone();
            Select {
                predicates: &predicates,
                truth: &truth,
            }
            .visit_block_mut(&mut body);
            let parts = predicates.iter().zip(&truth).map(|(p, holds)| {
                let p: TokenStream = p.parse().expect("a predicate that was parsed");
                if *holds { quote!(#p) } else { quote!(not(#p)) }
            });
            Variant {
                predicate: Some(quote!(all(#(#parts),*))),
                body,
            }
        })
        .collect()
}

/// What an attribute of a statement or an expression means here.
enum Gate {
    /// Kept only where the predicate holds (by its text).
    Cfg(String),
    /// No effect on the derivative.
    Ignored,
}

fn gates(cx: Option<&Ctxt>, attrs: &[Attribute]) -> Vec<Gate> {
    attrs.iter().flat_map(|attr| gate(cx, attr)).collect()
}

fn gate(cx: Option<&Ctxt>, attr: &Attribute) -> Vec<Gate> {
    let path = attr.path();
    if path.is_ident("cfg") {
        return match &attr.meta {
            Meta::List(list) => vec![Gate::Cfg(list.tokens.to_string())],
            _ => vec![Gate::Ignored],
        };
    }
    if path.is_ident("cfg_attr") {
        let Meta::List(list) = &attr.meta else {
            return vec![Gate::Ignored];
        };
        // `cfg_attr(P, a, b)`: each of `a`, `b` applies where `P` holds.
        let Ok(args) = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else {
            return vec![Gate::Ignored];
        };
        let mut args = args.into_iter();
        let Some(condition) = args.next() else {
            return vec![Gate::Ignored];
        };
        let condition = condition.to_token_stream();
        return args
            .filter_map(|meta| {
                let inner: Attribute = syn::parse_quote!(#[#meta]);
                let inner = gate(cx, &inner);
                let cfg = inner.into_iter().find_map(|g| match g {
                    Gate::Cfg(p) => Some(p),
                    Gate::Ignored => None,
                })?;
                let p: TokenStream = cfg.parse().ok()?;
                Some(Gate::Cfg(quote!(any(not(#condition), #p)).to_string()))
            })
            .collect();
    }
    const LINTS: &[&str] = &["allow", "warn", "deny", "forbid", "expect", "doc"];
    let is_lint = LINTS.iter().any(|name| path.is_ident(name));
    let is_tool = path.segments.len() > 1;
    if !is_lint && !is_tool {
        if let Some(cx) = cx {
            cx.error_spanned_by(
                attr,
                format!(
                    "the attribute `#[{}]` on a statement or expression is not supported in a differentiated function; `#[cfg]`, `#[cfg_attr]` and lint attributes are",
                    path.to_token_stream().to_string().replace(' ', "")
                ),
            );
        }
    }
    vec![Gate::Ignored]
}

/// Finds the predicates (and reports unsupported attributes).
struct Collect<'a> {
    cx: &'a Ctxt,
    predicates: Vec<String>,
}

impl Collect<'_> {
    fn attrs(&mut self, attrs: &[Attribute]) {
        for g in gates(Some(self.cx), attrs) {
            if let Gate::Cfg(p) = g {
                if !self.predicates.contains(&p) {
                    self.predicates.push(p);
                }
            }
        }
    }
}

impl VisitMut for Collect<'_> {
    fn visit_stmt_mut(&mut self, stmt: &mut syn::Stmt) {
        match stmt {
            syn::Stmt::Local(local) => self.attrs(&local.attrs),
            syn::Stmt::Macro(mac) => self.attrs(&mac.attrs),
            // Items keep their attributes: rustc reads them where the item is copied.
            syn::Stmt::Item(_) => return,
            syn::Stmt::Expr(..) => {}
        }
        visit_mut::visit_stmt_mut(self, stmt);
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        self.attrs(expr_attrs(expr));
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        self.attrs(&arm.attrs);
        visit_mut::visit_arm_mut(self, arm);
    }

    fn visit_field_value_mut(&mut self, field: &mut syn::FieldValue) {
        self.attrs(&field.attrs);
        visit_mut::visit_field_value_mut(self, field);
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Keeps what holds under one truth assignment, without its gating attributes.
struct Select<'a> {
    predicates: &'a [String],
    truth: &'a [bool],
}

impl Select<'_> {
    /// Whether a node with these attributes is kept; strips the attributes that are not items'.
    fn keep(&self, attrs: &mut Vec<Attribute>) -> bool {
        let holds = gates(None, attrs).into_iter().all(|g| match g {
            Gate::Cfg(p) => {
                let k = self
                    .predicates
                    .iter()
                    .position(|q| *q == p)
                    .expect("every predicate was collected");
                self.truth[k]
            }
            Gate::Ignored => true,
        });
        attrs.clear();
        holds
    }

    fn keep_expr(&self, expr: &mut Expr) -> bool {
        expr_attrs_mut(expr).is_none_or(|attrs| self.keep(attrs))
    }

    fn keep_exprs<P>(&self, exprs: &mut Punctuated<Expr, P>)
    where
        P: Default,
    {
        let kept: Punctuated<Expr, P> = std::mem::take(exprs)
            .into_iter()
            .filter_map(|mut e| self.keep_expr(&mut e).then_some(e))
            .collect();
        *exprs = kept;
    }
}

impl VisitMut for Select<'_> {
    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        block.stmts.retain_mut(|stmt| match stmt {
            syn::Stmt::Local(local) => self.keep(&mut local.attrs),
            syn::Stmt::Macro(mac) => self.keep(&mut mac.attrs),
            syn::Stmt::Expr(expr, _) => self.keep_expr(expr),
            syn::Stmt::Item(_) => true,
        });
        visit_mut::visit_block_mut(self, block);
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Array(array) => self.keep_exprs(&mut array.elems),
            Expr::Tuple(tuple) => self.keep_exprs(&mut tuple.elems),
            Expr::Call(call) => self.keep_exprs(&mut call.args),
            Expr::MethodCall(call) => self.keep_exprs(&mut call.args),
            Expr::Match(match_) => match_.arms.retain_mut(|arm| self.keep(&mut arm.attrs)),
            Expr::Struct(struct_) => {
                let fields = std::mem::take(&mut struct_.fields);
                struct_.fields = fields
                    .into_iter()
                    .filter_map(|mut f| self.keep(&mut f.attrs).then_some(f))
                    .collect();
            }
            _ => {}
        }
        // What remains carries no gate of its own (a tail expression's was read with its block).
        if let Some(attrs) = expr_attrs_mut(expr) {
            attrs.clear();
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Both views of an expression's outer attributes, from one list of its variants.
macro_rules! expr_attrs {
    ($($variant:ident),* $(,)?) => {
        /// The outer attributes of an expression.
        fn expr_attrs(expr: &Expr) -> &[Attribute] {
            match expr {
                $(Expr::$variant(e) => &e.attrs,)*
                _ => &[],
            }
        }

        fn expr_attrs_mut(expr: &mut Expr) -> Option<&mut Vec<Attribute>> {
            match expr {
                $(Expr::$variant(e) => Some(&mut e.attrs),)*
                _ => None,
            }
        }
    };
}

expr_attrs!(
    Array, Assign, Async, Await, Binary, Block, Break, Call, Cast, Closure, Const, Continue, Field,
    ForLoop, Group, If, Index, Infer, Let, Lit, Loop, Macro, Match, MethodCall, Paren, Path, Range,
    RawAddr, Reference, Repeat, Return, Struct, Try, TryBlock, Tuple, Unary, Unsafe, While, Yield,
);
