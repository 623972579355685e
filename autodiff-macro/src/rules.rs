//! The derivative rules: one row per operation, apart from the traversal that applies them.
//!
//! A row gives, for each argument, the adjoint that flows back into that argument, written as a
//! Rust expression over the placeholders `a`, `b`, `c` (the arguments, receiver first), `y` (the
//! result) and `dy` (the result's adjoint). The reverse pass emits `d_a += <template>` with the
//! placeholders replaced; the analysis reads which placeholders a template mentions to know which
//! forward values the backward sweep must keep. `None` marks an argument that carries no
//! derivative (the integer exponent of `powi`); a row whose arguments are all `None` cuts the
//! derivative (`floor`, `signum`).
//!
//! Conventions where the derivative is undefined follow PyTorch: `abs` and `signum` have
//! derivative 0 at 0, `max`/`min` give the whole adjoint to the first argument on a tie, rounding
//! has derivative 0, `sqrt` at 0 gives infinity. Where a derivative is infinite at a finite point
//! (`sqrt`, `ln` at 0, a division by 0, `asin` at ±1, ...), a zero adjoint still contributes zero
//! (`unless_zero`), unlike PyTorch's NaN: a value computed but not used on the path taken
//! (`let r = x.sqrt(); if c { r } else { .. }`) adds nothing to the gradient.
//!
//! Invariant (tested below): the template of argument `k` calls methods only on its own argument,
//! `y` and `dy`, which are typed; another argument may be an unsuffixed literal whose float type
//! rustc could not infer from a method call alone.

use proc_macro2::{Group, TokenStream, TokenTree};
use std::str::FromStr;

#[derive(Debug)]
pub struct Rule {
    /// The method name (`sin`), or the operator's name (`mul`).
    pub name: &'static str,
    /// A function of `autodiff_core::__private` that the templates call, never a user's method:
    /// its row differentiates the tangents of forward mode (see [`crate::tangent`]).
    pub private: bool,
    /// One entry per argument, the receiver first.
    pub adjoints: &'static [Option<&'static str>],
    /// Whether a backward sweep computes the result again rather than keep it on a tape.
    pub recompute: Recompute,
    /// The result is one of the two arguments and the adjoint goes whole to it: to the first
    /// where `a == y`, else to the second (`max`, `min`; a unit test holds the templates to it).
    /// A loop whose running value is such a result (`m = m.max(v)`) keeps the iteration where
    /// the other argument last won instead of taping the running value
    /// (`reverse::Winner`).
    pub selects: bool,
}

/// When a loop's backward sweep computes an operation again instead of recording its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recompute {
    /// Costlier than a tape entry (`exp`, `sin`, ...): recorded.
    Never,
    /// A cycle or two (`+`, `*`, `max`): recomputed from its arguments.
    Always,
    /// Recomputed when it carries no derivative (`/` and `%` of indices), recorded otherwise.
    WhenPassive,
}

/// Index of a row of [`RULES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleId(usize);

/// Which operand positions a template reads.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Reads {
    pub args: [bool; 3],
    pub result: bool,
}

const fn r(name: &'static str, adjoints: &'static [Option<&'static str>]) -> Rule {
    Rule {
        name,
        private: false,
        adjoints,
        recompute: Recompute::Never,
        selects: false,
    }
}

/// A row for a helper that the templates call (`::autodiff_core::__private::name`).
const fn p(name: &'static str, adjoints: &'static [Option<&'static str>]) -> Rule {
    Rule {
        name,
        private: true,
        adjoints,
        recompute: Recompute::Never,
        selects: false,
    }
}

impl Rule {
    /// Recomputed in backward sweeps rather than recorded.
    const fn cheap(self) -> Rule {
        Rule {
            recompute: Recompute::Always,
            ..self
        }
    }

    /// Gives its adjoint whole to one of its two arguments (see [`Rule::selects`]).
    const fn selects(self) -> Rule {
        Rule {
            selects: true,
            ..self
        }
    }

    /// Recomputed where its result carries no derivative.
    const fn cheap_when_passive(self) -> Rule {
        Rule {
            recompute: Recompute::WhenPassive,
            ..self
        }
    }
}

pub static RULES: &[Rule] = &[
    // Operators. Multiplication swaps, addition passes through.
    r("add", &[Some("dy"), Some("dy")]).cheap(),
    r("sub", &[Some("dy"), Some("-dy")]).cheap(),
    r("mul", &[Some("b * dy"), Some("a * dy")]).cheap(),
    r(
        "div",
        &[
            Some("::autodiff_core::__private::unless_zero(dy, dy / b)"),
            Some("::autodiff_core::__private::unless_zero(dy, -(dy / b) * y)"),
        ],
    )
    .cheap_when_passive(),
    r("rem", &[Some("dy"), Some("-dy * (a / b).trunc()")]).cheap_when_passive(),
    r("neg", &[Some("-dy")]).cheap(),
    r(
        "cast",
        &[Some("::autodiff_core::__private::cast_like(dy, a)")],
    )
    .cheap(),
    // Exponentials and logarithms.
    r("exp", &[Some("dy * y")]),
    r(
        "exp2",
        &[Some("dy * y * ::autodiff_core::__private::ln_2(y)")],
    ),
    r("exp_m1", &[Some("dy * (y + 1.0)")]),
    r(
        "ln",
        &[Some("::autodiff_core::__private::unless_zero(dy, dy / a)")],
    ),
    r(
        "ln_1p",
        &[Some(
            "::autodiff_core::__private::unless_zero(dy, dy / (a + 1.0))",
        )],
    ),
    r(
        "log2",
        &[Some(
            "::autodiff_core::__private::unless_zero(dy, dy / (a * ::autodiff_core::__private::ln_2(a)))",
        )],
    ),
    r(
        "log10",
        &[Some(
            "::autodiff_core::__private::unless_zero(dy, dy / (a * ::autodiff_core::__private::ln_10(a)))",
        )],
    ),
    r(
        "log",
        &[
            Some(
                "::autodiff_core::__private::unless_zero(dy, dy / (a * ::autodiff_core::__private::ln_as(b, a)))",
            ),
            Some("::autodiff_core::__private::unless_zero(dy, -dy * y / (b * b.ln()))"),
        ],
    ),
    // Powers and roots.
    r(
        "sqrt",
        &[Some(
            "::autodiff_core::__private::unless_zero(dy, dy / (2.0 * y))",
        )],
    ),
    r(
        "cbrt",
        &[Some(
            "::autodiff_core::__private::unless_zero(dy, dy / (3.0 * y * y))",
        )],
    ),
    r(
        "powi",
        &[
            Some(
                "::autodiff_core::__private::unless_zero(dy, dy * ::autodiff_core::__private::powi_deriv(a, b))",
            ),
            None,
        ],
    ),
    r(
        "powf",
        &[
            Some("::autodiff_core::__private::unless_zero(dy, dy * b * a.powf(b - 1.0))"),
            Some(
                "::autodiff_core::__private::unless_zero(dy, dy * ::autodiff_core::__private::xlogy(y, a))",
            ),
        ],
    ),
    r(
        "recip",
        &[Some(
            "::autodiff_core::__private::unless_zero(dy, -dy * y * y)",
        )],
    ),
    r(
        "hypot",
        &[
            Some("::autodiff_core::__private::unless_zero(dy, dy * a / y)"),
            Some("::autodiff_core::__private::unless_zero(dy, dy * b / y)"),
        ],
    ),
    r("mul_add", &[Some("dy * b"), Some("dy * a"), Some("dy")]),
    // Trigonometric and hyperbolic functions.
    r("sin", &[Some("dy * a.cos()")]),
    r("cos", &[Some("-dy * a.sin()")]),
    r("tan", &[Some("dy * (1.0 + y * y)")]),
    r(
        "asin",
        &[Some(
            "::autodiff_core::__private::unless_zero(dy, dy / (1.0 - a * a).sqrt())",
        )],
    ),
    r(
        "acos",
        &[Some(
            "::autodiff_core::__private::unless_zero(dy, -dy / (1.0 - a * a).sqrt())",
        )],
    ),
    r("atan", &[Some("dy / (1.0 + a * a)")]),
    r(
        "atan2",
        &[
            Some("::autodiff_core::__private::unless_zero(dy, dy * b / (a * a + b * b))"),
            Some("::autodiff_core::__private::unless_zero(dy, -dy * a / (a * a + b * b))"),
        ],
    ),
    r("sinh", &[Some("dy * a.cosh()")]),
    r("cosh", &[Some("dy * a.sinh()")]),
    r("tanh", &[Some("dy * (1.0 - y * y)")]),
    r("asinh", &[Some("dy / (a * a + 1.0).sqrt()")]),
    r(
        "acosh",
        &[Some(
            "::autodiff_core::__private::unless_zero(dy, dy / ((a - 1.0).sqrt() * (a + 1.0).sqrt()))",
        )],
    ),
    r(
        "atanh",
        &[Some(
            "::autodiff_core::__private::unless_zero(dy, dy / ((1.0 - a) * (1.0 + a)))",
        )],
    ),
    r("to_degrees", &[Some("dy.to_degrees()")]),
    r("to_radians", &[Some("dy.to_radians()")]),
    // Piecewise functions.
    r("abs", &[Some("dy * ::autodiff_core::__private::sign(a)")]).cheap(),
    r(
        "max",
        &[
            Some("::autodiff_core::__private::pick(a == y, dy)"),
            Some("::autodiff_core::__private::pick(a != y, dy)"),
        ],
    )
    .cheap()
    .selects(),
    r(
        "min",
        &[
            Some("::autodiff_core::__private::pick(a == y, dy)"),
            Some("::autodiff_core::__private::pick(a != y, dy)"),
        ],
    )
    .cheap()
    .selects(),
    r(
        "clamp",
        &[
            Some("::autodiff_core::__private::pick(a == y, dy)"),
            Some("::autodiff_core::__private::pick(a < b, dy)"),
            Some("::autodiff_core::__private::pick(a > c, dy)"),
        ],
    ),
    r(
        "copysign",
        &[
            Some("dy * ::autodiff_core::__private::sign(a) * ::autodiff_core::__private::sign(y)"),
            None,
        ],
    ),
    r("midpoint", &[Some("dy * 0.5"), Some("dy * 0.5")]),
    r("fract", &[Some("dy")]),
    r("rem_euclid", &[Some("dy"), Some("-dy * ((a - y) / b)")]),
    r("signum", &[None]),
    r("div_euclid", &[None, None]),
    r("round_ties_even", &[None]),
    r("floor", &[None]),
    r("ceil", &[None]),
    r("round", &[None]),
    r("trunc", &[None]),
    // The helpers the templates above call. Forward mode turns templates into instructions
    // (a tangent is a template with `dy` replaced by the argument's tangent), and a Hessian
    // differentiates those instructions again, so each helper needs a row of its own.
    //
    // `unless_zero(dy, e)` is `e` wherever `e` is finite: `e` is `dy` times a factor, so the
    // derivative passes through to `e` even where `dy` is zero (where `e` is zero too).
    p("unless_zero", &[None, Some("dy")]),
    p(
        "pick",
        &[None, Some("::autodiff_core::__private::pick(a, dy)")],
    ),
    p("sign", &[None]),
    // `no_grad(e)` of an `e` lowered as usual (one with a closure inside): the value, cut.
    p("no_grad", &[None]),
    p("ln_2", &[None]),
    p("ln_10", &[None]),
    p(
        "ln_as",
        &[
            Some("::autodiff_core::__private::unless_zero(dy, dy / a)"),
            None,
        ],
    ),
    p(
        "powi_deriv",
        &[
            Some("dy * ::autodiff_core::__private::powi_deriv2(a, b)"),
            None,
        ],
    ),
    // `xlogy(y, x)` is `0` where `y` is (`x^p` at `x = 0`), in a neighbourhood too: no
    // derivative through `y` there, rather than `ln 0` times the zero tangent of `y`.
    p(
        "xlogy",
        &[
            Some(
                "::autodiff_core::__private::unless_zero(a, dy * ::autodiff_core::__private::ln_as(b, dy))",
            ),
            // Zero where `y` is, as `xlogy` itself: `y / x` is `0 / 0` at `x^p`'s `x = 0`.
            Some(
                "::autodiff_core::__private::unless_zero(a, ::autodiff_core::__private::unless_zero(dy, dy * a / b))",
            ),
        ],
    ),
    p(
        "cast_like",
        &[Some("::autodiff_core::__private::cast_like(dy, a)"), None],
    ),
];

impl RuleId {
    pub fn rule(self) -> &'static Rule {
        &RULES[self.0]
    }
}

/// The row for an operator or method called `name` with `arity` arguments (the receiver
/// included).
pub fn lookup(name: &str, arity: usize) -> Option<RuleId> {
    RULES
        .iter()
        .position(|rule| !rule.private && rule.name == name && rule.adjoints.len() == arity)
        .map(RuleId)
}

/// The row of the helper `::autodiff_core::__private::name` that the templates call.
pub fn lookup_private(name: &str, arity: usize) -> Option<RuleId> {
    RULES
        .iter()
        .position(|rule| rule.private && rule.name == name && rule.adjoints.len() == arity)
        .map(RuleId)
}

/// Whether a rule exists for `name` at some arity, to tell "wrong number of arguments" from
/// "no rule".
pub fn is_known(name: &str) -> bool {
    RULES.iter().any(|rule| !rule.private && rule.name == name)
}

impl Rule {
    /// What the template of argument `arg` reads; `None` when that argument has no derivative.
    pub fn reads(&self, arg: usize) -> Option<Reads> {
        let template = self.adjoints[arg]?;
        let mut reads = Reads::default();
        for ident in placeholders(template) {
            match ident {
                "a" => reads.args[0] = true,
                "b" => reads.args[1] = true,
                "c" => reads.args[2] = true,
                "y" => reads.result = true,
                _ => {}
            }
        }
        Some(reads)
    }

    /// Whether argument `arg`'s adjoint may be zero by a convention of the rule whatever `dy`
    /// is: a choice (`max`, `clamp`), a sign (`abs` at 0), a constant power (`powi(x, 0)`).
    pub fn may_vanish(&self, arg: usize) -> bool {
        self.adjoints[arg].is_some_and(|t| {
            t.starts_with(PICK) || t.contains("__private::sign(") || t.contains("powi_deriv(")
        })
    }

    /// Whether argument `arg`'s adjoint is zero wherever `dy` is, whatever the other operands
    /// are: a function of `dy` alone, a choice of it, a cast of it, or guarded by
    /// `unless_zero`.
    fn zero_safe(&self, arg: usize) -> bool {
        self.adjoints[arg].is_some_and(|t| {
            placeholders(t).all(|name| name == "dy")
                || [PICK, UNLESS_ZERO, CAST_LIKE]
                    .iter()
                    .any(|f| t.starts_with(f))
        })
    }

    /// The adjoint flowing into argument `arg`, with the placeholders replaced by `args`,
    /// `result` and `dy` (each already a single token tree, parenthesized where needed). With
    /// `guard`, zero wherever `dy` is (`unless_zero(dy, ..)`), even where a factor is not
    /// finite: for a `dy` that may be zero because the result is not used on the path taken.
    pub fn instantiate(
        &self,
        arg: usize,
        args: &[TokenStream],
        result: &TokenStream,
        dy: &TokenStream,
        guard: bool,
    ) -> Option<TokenStream> {
        let template = self.adjoints[arg]?;
        let template = if guard && !self.zero_safe(arg) {
            parse(&format!("{UNLESS_ZERO}dy, {template})"))
        } else {
            parse(template)
        };
        Some(substitute(template, &|name| match name {
            "a" => args.first().cloned(),
            "b" => args.get(1).cloned(),
            "c" => args.get(2).cloned(),
            "y" => Some(result.clone()),
            "dy" => Some(dy.clone()),
            _ => None,
        }))
    }
}

const UNLESS_ZERO: &str = "::autodiff_core::__private::unless_zero(";
const PICK: &str = "::autodiff_core::__private::pick(";
const CAST_LIKE: &str = "::autodiff_core::__private::cast_like(";

fn parse(template: &str) -> TokenStream {
    // The templates are constants of this file, checked by the tests below.
    TokenStream::from_str(template).expect("derivative template is valid Rust")
}

/// The identifiers of a template that are not a path segment or a method name (those follow
/// `::` or `.`). A scan of the text: the analysis asks this often, and parsing is slow.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    let bytes = template.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_alphabetic() || c == b'_' {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let before = template[..start].trim_end();
                if !(before.ends_with('.') || before.ends_with("::")) {
                    return Some(&template[start..i]);
                }
            } else if c.is_ascii_digit() {
                // A literal such as `1.0`: its digits are not an identifier.
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'_')
                {
                    i += 1;
                }
            } else {
                i += 1;
            }
        }
        None
    })
}

fn substitute(tokens: TokenStream, lookup: &impl Fn(&str) -> Option<TokenStream>) -> TokenStream {
    let mut out = TokenStream::new();
    let mut previous_was_path_sep = false;
    for tt in tokens {
        let is_sep = matches!(&tt, TokenTree::Punct(p) if p.as_char() == ':' || p.as_char() == '.');
        match tt {
            TokenTree::Ident(ident) if !previous_was_path_sep => match lookup(&ident.to_string()) {
                Some(replacement) => out.extend(replacement),
                None => out.extend([TokenTree::Ident(ident)]),
            },
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), substitute(group.stream(), lookup));
                new.set_span(group.span());
                out.extend([TokenTree::Group(new)]);
            }
            other => out.extend([other]),
        }
        previous_was_path_sep = is_sep;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_uses_only_known_placeholders() {
        for rule in RULES {
            assert!(
                rule.adjoints.len() <= 3,
                "{}: at most three arguments",
                rule.name
            );
            for (arg, template) in rule.adjoints.iter().enumerate() {
                let Some(template) = template else { continue };
                let expr: syn::Expr = syn::parse_str(template)
                    .unwrap_or_else(|e| panic!("{}: `{template}` does not parse: {e}", rule.name));
                let reads = rule.reads(arg).unwrap();
                for (k, read) in reads.args.iter().enumerate() {
                    assert!(
                        !read || k < rule.adjoints.len(),
                        "{}: reads a missing argument",
                        rule.name
                    );
                }
                drop(expr);
            }
        }
    }

    /// What the reverse pass assumes of a row that [`Rule::selects`].
    #[test]
    fn selecting_rows_give_the_adjoint_to_the_first_argument_where_it_is_the_result() {
        for rule in RULES.iter().filter(|rule| rule.selects) {
            assert_eq!(
                rule.adjoints,
                [
                    Some("::autodiff_core::__private::pick(a == y, dy)"),
                    Some("::autodiff_core::__private::pick(a != y, dy)"),
                ],
                "{}",
                rule.name
            );
        }
        assert_eq!(RULES.iter().filter(|rule| rule.selects).count(), 2);
    }

    #[test]
    fn templates_call_methods_only_on_typed_operands() {
        // A method call on another argument could be a call on an unsuffixed literal such as
        // `(10.0).ln()`, which does not compile.
        let names = ["a", "b", "c"];
        for rule in RULES {
            for (arg, template) in rule.adjoints.iter().enumerate() {
                let Some(template) = template else { continue };
                for (k, name) in names.iter().enumerate() {
                    if k == arg {
                        continue;
                    }
                    let call_on = format!("{name}.");
                    let compact = template.replace(' ', "");
                    assert!(
                        !compact.contains(&format!("({call_on}"))
                            && !compact.starts_with(&call_on)
                            && !compact.contains(&format!("*{call_on}"))
                            && !compact.contains(&format!("/{call_on}")),
                        "{}: the adjoint of argument {arg} calls a method on `{name}`",
                        rule.name
                    );
                }
            }
        }
    }

    #[test]
    fn names_are_unique_per_arity() {
        for (i, rule) in RULES.iter().enumerate() {
            let find = if rule.private { lookup_private } else { lookup };
            assert_eq!(
                find(rule.name, rule.adjoints.len()),
                Some(RuleId(i)),
                "{}",
                rule.name
            );
        }
    }

    #[test]
    fn instantiate_replaces_placeholders_but_not_paths_or_methods() {
        let div = lookup("div", 2).unwrap().rule();
        let args = [quote::quote!(x), quote::quote!(w)];
        let got = div
            .instantiate(1, &args, &quote::quote!(q), &quote::quote!(d_q), false)
            .unwrap();
        assert_eq!(
            got.to_string(),
            ":: autodiff_core :: __private :: unless_zero (d_q , - (d_q / w) * q)"
        );
        let pow = lookup("powi", 2).unwrap().rule();
        let got = pow
            .instantiate(0, &args, &quote::quote!(q), &quote::quote!(d_q), false)
            .unwrap();
        assert_eq!(
            got.to_string(),
            ":: autodiff_core :: __private :: unless_zero (d_q , d_q * :: autodiff_core :: __private :: powi_deriv (x , w))"
        );
        assert!(
            pow.instantiate(1, &args, &quote::quote!(q), &quote::quote!(d_q), false)
                .is_none()
        );
    }

    #[test]
    fn reads_tell_what_the_backward_sweep_keeps() {
        let exp = lookup("exp", 1).unwrap().rule();
        assert_eq!(
            exp.reads(0),
            Some(Reads {
                args: [false; 3],
                result: true
            })
        );
        let mul = lookup("mul", 2).unwrap().rule();
        assert_eq!(
            mul.reads(0),
            Some(Reads {
                args: [false, true, false],
                result: false
            })
        );
        let sin = lookup("sin", 1).unwrap().rule();
        assert_eq!(
            sin.reads(0),
            Some(Reads {
                args: [true, false, false],
                result: false
            })
        );
    }
}
