//! Token-level mutations of an input, and the attribute's arguments.

use super::*;

const KEYWORDS: &[&str] = &[
    "fn",
    "let",
    "mut",
    "if",
    "else",
    "for",
    "in",
    "while",
    "loop",
    "match",
    "return",
    "break",
    "continue",
    "self",
    "Self",
    "super",
    "crate",
    "as",
    "ref",
    "move",
    "unsafe",
    "async",
    "await",
    "dyn",
    "impl",
    "where",
    "type",
    "struct",
    "const",
    "static",
    "true",
    "false",
    "_",
    "pub",
    "use",
    "mod",
    "enum",
    "trait",
    "extern",
    "box",
    "yield",
    "macro_rules",
    "union",
    "default",
    "try",
];

const IDENTS: &[&str] = &[
    "f64",
    "f32",
    "usize",
    "i32",
    "u8",
    "bool",
    "no_grad",
    "vec",
    "Vec",
    "sin",
    "cos",
    "powi",
    "powf",
    "max",
    "iter",
    "enumerate",
    "zip",
    "rev",
    "len",
    "sum",
    "to_vec",
    "x",
    "y",
    "s",
    "i",
    "n",
    "self_",
    "differentiate",
    "wrt",
    "pullback",
    "assert",
    "compile_error",
    "std",
    "core",
    "autodiff_core",
    "Point",
    "helper",
    "println",
    "Some",
    "None",
    "unwrap",
    "abs",
    "exp",
    "ln",
    "Option",
    "String",
    "mul_add",
    "clamp",
    "atan2",
    "hypot",
    "PI",
    "EPSILON",
    "NAN",
    "is_nan",
];

const LITERALS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "0.0",
    "1.0",
    "2.5",
    "-1.0",
    "1e308",
    "1e400",
    "1e-320",
    "0.0f32",
    "1f64",
    "2.5e10f32",
    "3usize",
    "18446744073709551616",
    "0x10",
    "0b101",
    "0o7",
    "1_000.5",
    "1.",
    "\"s\"",
    "'c'",
    "b'x'",
    "b\"bytes\"",
    "r\"raw\"",
    "c\"cstr\"",
    "1u8",
    "255u8",
    "1i128",
    "-0.0",
    "1e1_0",
    "0.1e-3f64",
];

const PUNCTS: &[&str] = &[
    "+", "-", "*", "/", "%", "=", "==", "!=", "+=", "-=", "*=", "/=", "%=", "<", ">", "<=", ">=",
    "&", "&&", "|", "||", "!", "?", ".", "..", "..=", "...", "::", ";", ",", "#", "@", "^", "~",
    "$", "->", "=>", "<<", ">>", "<<=", "^=", "|=", "&=", "<-", ":",
];

/// Snippets inserted whole.
const SNIPPETS: &[&str] = &[
    "let z = 1.0;",
    "return x;",
    "break;",
    "continue;",
    "'outer:",
    "'a",
    "'static",
    "#[cfg(any())]",
    "#[cfg(all())]",
    "#[allow(unused)]",
    "#[differentiate]",
    "#![allow(unused)]",
    "?",
    "&mut",
    "unsafe { }",
    "|a| a",
    "move |a: f64| a * 2.0",
    "vec![1.0]",
    "vec![0.0; 3]",
    "loop {}",
    "x.iter()",
    ".iter().enumerate()",
    ".sum::<f64>()",
    "as usize",
    "as f64",
    "1..2",
    "..=",
    "no_grad(x)",
    "f64::sin(x)",
    "std::process::exit(0)",
    "panic!()",
    "println!(\"{}\", x)",
    "assert!(x > 0.0)",
    "match x { _ => 1.0 }",
    "if x > 0.0 { 1.0 } else { 2.0 }",
    "while false {}",
    "for i in 0..3 {}",
    "r#type",
    "r#match",
    "Point { x: 1.0, y: 2.0, w: [0.0; 3] }",
    "(1.0, 2.0)",
    "[1.0, 2.0]",
    "x[0]",
    "x[1..]",
    "&x[..2]",
    "*x",
    "self.w[0]",
    "Self::f",
    "fn inner() {}",
    "struct S;",
    "impl S {}",
    "const K: f64 = 1.0;",
    "static S: f64 = 1.0;",
    "use std::f64::consts::PI;",
    "macro_rules! m { () => {} }",
    "async { }",
    "x.await",
    "try { }",
    "yield x",
    "const { 1.0 }",
    "let else",
    "let Some(q) = Some(x) else { return 0.0; };",
    "if let Some(q) = Some(x) { q } else { 0.0 }",
    "<f64 as Into<f64>>::into(x)",
    "x as i32 as f64",
    "-> f64",
    "-> (f64, f64)",
    "-> [f64; 2]",
    "-> Vec<f64>",
    "-> !",
    "-> impl Fn()",
    "where T: Copy",
    "<T>",
    "<'a>",
    "<const N: usize>",
    "&self",
    "self",
    "&mut self",
    "mut self",
    "self: Box<Self>",
    "x: f64",
    "_: f64",
    "mut v: Vec<f64>",
    "p: &Point",
    "..",
    "$x",
    "x!",
    "#",
];

/// Tokens for mutations: the input's own identifiers and literals, and the fixed lists.
pub(super) struct Pool {
    pub(super) idents: Vec<Ident>,
    pub(super) literals: Vec<Literal>,
    snippets: Vec<TokenStream>,
    /// Token trees of other inputs, spliced in.
    pub(super) donors: Vec<TokenTree>,
}

impl Pool {
    pub(super) fn new(donors: Vec<TokenTree>) -> Pool {
        let span = Span::call_site();
        let mut idents: Vec<Ident> = KEYWORDS
            .iter()
            .chain(IDENTS)
            .map(|name| Ident::new(name, span))
            .collect();
        for raw in RAW_NAMES {
            idents.push(Ident::new_raw(&raw[2..], span));
        }
        idents.push(Ident::new("délta", span));
        Pool {
            idents,
            literals: LITERALS
                .iter()
                .map(|l| l.parse().expect("literal"))
                .collect(),
            snippets: SNIPPETS
                .iter()
                .map(|s| s.parse().expect("snippet tokenizes"))
                .collect(),
            donors,
        }
    }

    /// Every token tree of `tokens`, at every depth.
    pub(super) fn collect(tokens: &TokenStream, out: &mut Vec<TokenTree>) {
        for tt in tokens.clone() {
            if let TokenTree::Group(g) = &tt {
                Pool::collect(&g.stream(), out);
            }
            out.push(tt);
        }
    }
}

pub(super) fn count_trees(tokens: &TokenStream) -> usize {
    tokens
        .clone()
        .into_iter()
        .map(|tt| match &tt {
            TokenTree::Group(g) => 1 + count_trees(&g.stream()),
            _ => 1,
        })
        .sum()
}

/// Applies `edit` to the token list that holds the `target`-th token tree (in pre-order), with
/// that tree's position in it.
fn edit_at(
    tokens: TokenStream,
    target: &mut usize,
    edit: &mut dyn FnMut(&mut Vec<TokenTree>, usize),
) -> (TokenStream, bool) {
    let mut trees: Vec<TokenTree> = tokens.into_iter().collect();
    for i in 0..trees.len() {
        if *target == 0 {
            edit(&mut trees, i);
            return (trees.into_iter().collect(), true);
        }
        *target -= 1;
        if let TokenTree::Group(g) = &trees[i] {
            let (inner, done) = edit_at(g.stream(), target, edit);
            if done {
                let mut group = Group::new(g.delimiter(), inner);
                group.set_span(g.span());
                trees[i] = TokenTree::Group(group);
                return (trees.into_iter().collect(), true);
            }
        }
    }
    (trees.into_iter().collect(), false)
}

fn pick_str(rng: &mut Rng, items: &[&'static str]) -> &'static str {
    items[rng.below(items.len())]
}

fn puncts(text: &str) -> Vec<TokenTree> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .iter()
        .enumerate()
        .map(|(k, &c)| {
            let spacing = if k + 1 < chars.len() {
                Spacing::Joint
            } else {
                Spacing::Alone
            };
            TokenTree::Punct(Punct::new(c, spacing))
        })
        .collect()
}

/// Every identifier of `tokens`.
pub(super) fn idents(tokens: &TokenStream, out: &mut Vec<Ident>) {
    for tt in tokens.clone() {
        match tt {
            TokenTree::Ident(i) => out.push(i),
            TokenTree::Group(g) => idents(&g.stream(), out),
            _ => {}
        }
    }
}

/// One random token-level mutation of `tokens`; `own_idents` are the identifiers of the input.
pub(super) fn mutate(
    rng: &mut Rng,
    tokens: TokenStream,
    pool: &Pool,
    own_idents: &[Ident],
) -> TokenStream {
    let total = count_trees(&tokens);
    if total == 0 {
        return pool.snippets[rng.below(pool.snippets.len())].clone();
    }
    let mut target = rng.below(total);
    let op = rng.weighted(&[14, 6, 6, 12, 8, 8, 8, 6, 5, 3, 3, 5, 3]);
    let mut edit = |trees: &mut Vec<TokenTree>, i: usize| {
        let span = trees[i].span();
        match op {
            0 => {
                trees.remove(i);
            }
            1 => {
                let tt = trees[i].clone();
                trees.insert(i, tt);
            }
            2 => {
                let j = rng.below(trees.len());
                trees.swap(i, j);
            }
            3 => {
                // Another identifier: one of the input's own, or from the pool.
                let mut ident = if !own_idents.is_empty() && rng.chance(0.5) {
                    own_idents[rng.below(own_idents.len())].clone()
                } else {
                    pool.idents[rng.below(pool.idents.len())].clone()
                };
                ident.set_span(span);
                trees[i] = TokenTree::Ident(ident);
            }
            4 => {
                let mut lit = pool.literals[rng.below(pool.literals.len())].clone();
                lit.set_span(span);
                trees[i] = TokenTree::Literal(lit);
            }
            5 => {
                let replacement = puncts(pick_str(rng, PUNCTS));
                trees.splice(i..=i, replacement);
            }
            6 => {
                let insert: Vec<TokenTree> = match rng.below(3) {
                    0 => vec![TokenTree::Ident(Ident::new(pick_str(rng, KEYWORDS), span))],
                    1 => puncts(pick_str(rng, PUNCTS)),
                    _ => pool.snippets[rng.below(pool.snippets.len())]
                        .clone()
                        .into_iter()
                        .collect(),
                };
                trees.splice(i..i, insert);
            }
            7 => {
                // Wrap a few trees in a group; `Delimiter::None` is what `macro_rules!` makes of
                // a `$x:expr`.
                let len = rng.range(1, 3).min(trees.len() - i);
                let inner: TokenStream = trees.drain(i..i + len).collect();
                let delimiter = *rng.pick(&[
                    Delimiter::Parenthesis,
                    Delimiter::Brace,
                    Delimiter::Bracket,
                    Delimiter::None,
                ]);
                trees.insert(i, TokenTree::Group(Group::new(delimiter, inner)));
            }
            8 => {
                // Unwrap a group, or change its delimiter.
                if let TokenTree::Group(g) = trees[i].clone() {
                    if rng.chance(0.5) {
                        trees.splice(i..=i, g.stream());
                    } else {
                        let delimiter = *rng.pick(&[
                            Delimiter::Parenthesis,
                            Delimiter::Brace,
                            Delimiter::Bracket,
                            Delimiter::None,
                        ]);
                        trees[i] = TokenTree::Group(Group::new(delimiter, g.stream()));
                    }
                } else {
                    trees.remove(i);
                }
            }
            9 => trees.truncate(i),
            10 => {
                trees.drain(i..);
            }
            11 => {
                // Splice in a tree from another input.
                if !pool.donors.is_empty() {
                    trees[i] = pool.donors[rng.below(pool.donors.len())].clone();
                }
            }
            _ => {
                // An empty group.
                let delimiter = *rng.pick(&[Delimiter::Parenthesis, Delimiter::Brace]);
                trees[i] = TokenTree::Group(Group::new(delimiter, TokenStream::new()));
            }
        }
    };
    edit_at(tokens, &mut target, &mut edit).0
}

/// Odd and garbage arguments; `{p}` stands for a parameter of the function.
const ODD_ARGS: &[&str] = &[
    "",
    "wrt({p})",
    "wrt({p}, {p})",
    "wrt({p},)",
    "wrt()",
    "wrt(,)",
    "wrt(missing)",
    "wrt(self)",
    "wrt(Self)",
    "wrt(_)",
    "wrt(1)",
    "wrt({p} {p})",
    "wrt({p}::{p})",
    "wrt('a)",
    "wrt(r#type)",
    "wrt(-)",
    "wrt",
    "wrt = {p}",
    "wrt[{p}]",
    "wrt{{{p}}}",
    "wrt({p})({p})",
    "wrt({p}), wrt({p})",
    "wrt(({p}))",
    "wrt(&{p})",
    "wrt(\"{p}\")",
    "wrt({p}: f64)",
    "pullback = g",
    "pullback = a::b::c",
    "pullback = ::g",
    "pullback = 1",
    "pullback = \"g\"",
    "pullback = g, pullback = h",
    "pullback",
    "pullback()",
    "pullback(g)",
    "pullback = f_pullback",
    "pullback = <T as Tr>::g",
    "pullback = g::<f64>",
    "pullback = |x| x",
    "pullback = self::g",
    "pullback = Self::g",
    "pullback = crate::g",
    "pullback = super::g",
    "pullback = r#type",
    "pullback = g, wrt({p})",
    "wrt({p}), pullback = g",
    "jvp",
    "hessian",
    "jvp, hessian, wrt({p})",
    "foo",
    "foo = 1",
    "foo(bar)",
    "a::b",
    "a::b(c)",
    "r#wrt({p})",
    "WRT({p})",
    "#",
    "=",
    ",",
    ",,",
    "1",
    "\"wrt\"",
    "wrt({p}) garbage",
    "(wrt({p}))",
    "[wrt]",
    "{}",
    "'a",
    "wrt({p}),",
    "pullback = g,",
];

pub(super) fn random_args(rng: &mut Rng, params: &[String], pool: &Pool) -> TokenStream {
    let template = rng.pick(ODD_ARGS);
    let mut text = String::new();
    let mut rest = *template;
    while let Some(at) = rest.find("{p}") {
        text.push_str(&rest[..at]);
        match params.get(rng.below(params.len() + 1)) {
            Some(p) => text.push_str(p),
            None => text.push_str("nope"),
        }
        rest = &rest[at + 3..];
    }
    text.push_str(rest);
    let text = text.replace("{{", "{").replace("}}", "}");
    let mut args: TokenStream = text
        .parse()
        .unwrap_or_else(|e| panic!("arguments `{text}` do not tokenize: {e}"));
    if rng.chance(0.3) {
        for _ in 0..rng.range(1, 3) {
            args = mutate(rng, args, pool, &[]);
        }
    }
    args
}

/// The names of a function's parameters, for `wrt(..)`.
pub(super) fn param_names(item: &TokenStream) -> Vec<String> {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(f)) => f
            .sig
            .inputs
            .iter()
            .map(|input| match input {
                syn::FnArg::Receiver(_) => "self".to_owned(),
                syn::FnArg::Typed(t) => t.pat.to_token_stream().to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}
