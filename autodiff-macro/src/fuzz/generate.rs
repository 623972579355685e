//! The grammar of generated functions: what a variable holds, the generator's state, and the
//! function as a whole.

use super::*;

/// What a variable of a generated function holds, which says how it may be read and written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    /// The float type `T` of the function.
    Float,
    /// `&T`, an element of `x.iter()`: read as `*e`.
    FloatRef,
    /// `usize`.
    Index,
    I32,
    Bool,
    /// `[T; 3]` or `&[T; 3]`: constant indices below 3.
    Array,
    /// `[[T; 2]; 3]` or a reference to one.
    Matrix,
    /// `&[T]`, `Vec<T>`, `&Vec<T>`, `[T; N]`: any index.
    Slice,
    /// `Point` (`f64` only): fields `x`, `y`, `w: [f64; 3]`.
    Point,
    /// `(T, T)`.
    Pair,
}

#[derive(Clone)]
pub(super) struct Var {
    pub(super) name: String,
    pub(super) kind: Kind,
    pub(super) mutable: bool,
    /// An owned array or `Vec` whose elements may be written (`b[i] = ..`).
    pub(super) writable: bool,
    /// A reference (`&[T]`, `&Point`, ...): passed on as it is, not as `&v`.
    pub(super) reference: bool,
}

pub(super) struct LoopCx {
    pub(super) label: Option<String>,
    /// `let z = loop { .. break value .. }`.
    pub(super) value: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ret {
    Scalar,
    Pair,
    Array,
    Vec,
}

/// The limits of a generated function.
#[derive(Clone, Copy)]
pub(super) struct Limits {
    /// The deepest loop nest of the `loops` shape (each level doubles the expansion's time).
    pub(super) max_loop_nest: usize,
    /// The deepest `if` nest and the longest `else if` chain (from 60).
    pub(super) max_if_depth: usize,
    /// Whether constructs the macro rejects by design appear (closures, `unsafe`, `&mut`, ...).
    pub(super) unsupported: bool,
}

/// A generated function: its text (an item, possibly a method of `impl Point`), the arguments
/// of its attribute, and the names of its parameters.
pub(super) struct Generated {
    pub(super) text: String,
    pub(super) args: String,
    /// A method (`&self`/`self`): it belongs in `impl Point { .. }`.
    pub(super) method: bool,
    pub(super) shape: &'static str,
}

/// Identifiers that are keywords, usable raw (`r#type`).
pub(super) const RAW_NAMES: &[&str] = &[
    "r#type",
    "r#match",
    "r#loop",
    "r#struct",
    "r#as",
    "r#in",
    "r#move",
    "r#ref",
    "r#fn",
    "r#yield",
    "r#abstract",
    "r#try",
    "r#dyn",
    "r#async",
    "r#box",
    "r#final",
    "r#foo",
];

/// Names the generated code uses for its own locals and items.
const GENERATED_LIKE_NAMES: &[&str] = &[
    "d_x", "t0", "t1", "tape", "grad", "d_out", "x_grad", "seed", "slot", "__f_vjp", "d_s", "flag",
    "value", "result", "out", "_x", "__A0", "Slot",
];

pub(super) const UNARY_METHODS: &[&str] = &[
    "sin",
    "cos",
    "tan",
    "tanh",
    "exp",
    "exp2",
    "exp_m1",
    "sqrt",
    "cbrt",
    "abs",
    "ln",
    "ln_1p",
    "log2",
    "log10",
    "atan",
    "asinh",
    "sinh",
    "cosh",
    "recip",
    "signum",
    "floor",
    "ceil",
    "round",
    "trunc",
    "asin",
    "acos",
    "atanh",
    "to_degrees",
    "to_radians",
    // Without a rule: rejected unless on a constant.
    "fract",
];
pub(super) const BINARY_METHODS: &[&str] = &[
    "powf", "max", "min", "hypot", "atan2", "log", "powf", "max", "min", "hypot", "atan2", "log",
    // Without a rule.
    "copysign",
];

pub(super) struct Gen<'r> {
    pub(super) rng: &'r mut Rng,
    pub(super) limits: Limits,
    /// `f64` or `f32`.
    pub(super) t: &'static str,
    pub(super) scopes: Vec<Vec<Var>>,
    pub(super) loops: Vec<LoopCx>,
    pub(super) out: String,
    pub(super) indent: usize,
    /// Statements left to write.
    pub(super) budget: usize,
    pub(super) fresh: usize,
    pub(super) ret: Ret,
    /// Raw names already used.
    raw_used: Vec<&'static str>,
    /// Inside a condition or `no_grad(..)`, where the macro takes no control flow.
    pub(super) simple: usize,
    /// The arrays that loops around iterate over (`for e in a.iter()`): not to be written.
    pub(super) iterated: Vec<String>,
}

impl Gen<'_> {
    pub(super) fn line(&mut self, text: &str) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    pub(super) fn open(&mut self, text: &str) {
        self.line(text);
        self.indent += 1;
        self.scopes.push(Vec::new());
    }

    pub(super) fn close(&mut self, text: &str) {
        self.indent -= 1;
        self.scopes.pop();
        self.line(text);
    }

    pub(super) fn declare(&mut self, name: &str, kind: Kind, mutable: bool, writable: bool) {
        self.scopes.last_mut().unwrap().push(Var {
            name: name.to_owned(),
            kind,
            mutable,
            writable,
            reference: false,
        });
    }

    fn declare_reference(&mut self, name: &str, kind: Kind) {
        self.declare(name, kind, false, false);
        self.scopes
            .last_mut()
            .unwrap()
            .last_mut()
            .unwrap()
            .reference = true;
    }

    /// A name for a new local: mostly plain, sometimes raw, Unicode, or like a generated local.
    pub(super) fn new_name(&mut self, prefix: &str) -> String {
        self.fresh += 1;
        let roll = self.rng.below(100);
        if roll < 4 {
            let free: Vec<&'static str> = RAW_NAMES
                .iter()
                .copied()
                .filter(|n| !self.raw_used.contains(n))
                .collect();
            if let Some(&name) = free.get(self.rng.below(free.len().max(1))) {
                self.raw_used.push(name);
                return name.to_owned();
            }
        } else if roll < 7 {
            return format!("{}{}", self.rng.pick(GENERATED_LIKE_NAMES), self.fresh);
        } else if roll < 8 {
            return format!("délta{}", self.fresh);
        }
        format!("{prefix}{}", self.fresh)
    }

    /// The visible variables of `kinds` (a shadowed one is not visible).
    pub(super) fn visible(&self, kinds: &[Kind]) -> Vec<Var> {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for scope in self.scopes.iter().rev() {
            for var in scope.iter().rev() {
                if seen.contains(&var.name.as_str()) {
                    continue;
                }
                seen.push(&var.name);
                if kinds.contains(&var.kind) {
                    out.push(var.clone());
                }
            }
        }
        out
    }

    pub(super) fn pick_var(&mut self, kinds: &[Kind]) -> Option<Var> {
        let vars = self.visible(kinds);
        (!vars.is_empty()).then(|| vars[self.rng.below(vars.len())].clone())
    }

    pub(super) fn float_lit(&mut self) -> String {
        self.rng
            .pick(&[
                "0.5", "1.0", "2.0", "0.25", "3.0", "1.5", "0.1", "10.0", "1e-3", "0.0",
            ])
            .to_string()
    }

    /// An index expression of type `usize` below `len` (`None`: any index).
    pub(super) fn index(&mut self, len: Option<usize>) -> String {
        if self.rng.chance(0.5)
            && let Some(v) = self.pick_var(&[Kind::Index])
        {
            return v.name;
        }
        match len {
            Some(len) => self.rng.below(len).to_string(),
            None => self.rng.pick(&["0", "1", "2"]).to_string(),
        }
    }
}

/// Writes a random function. `index` names it.
pub(super) fn generate(rng: &mut Rng, index: u64, limits: Limits) -> Generated {
    let t = if rng.chance(0.8) { "f64" } else { "f32" };
    let mut g = Gen {
        rng,
        limits,
        t,
        simple: 0,
        iterated: Vec::new(),
        scopes: vec![Vec::new()],
        loops: Vec::new(),
        out: String::new(),
        indent: 1,
        budget: 0,
        fresh: 0,
        ret: Ret::Scalar,
        raw_used: Vec::new(),
    };
    let ret_ty = g.return_type();
    let signature = g.signature();
    let shape = g.body();
    let tail = if g.rng.chance(0.03) {
        // A body that ends with `return`, not with its value.
        format!("    return {};\n", g.ret_expr())
    } else {
        format!("    {}\n", g.ret_expr())
    };
    g.out.push_str(&tail);
    let head = g.head(index, &signature, &ret_ty);
    let args = g.wrt_args(&signature.names);
    Generated {
        text: format!("{head}{}}}\n", g.out),
        args,
        method: signature.method,
        shape,
    }
}

/// A generated function's signature, as written in its head.
struct Signature {
    /// A method (`&self`/`self`) of `Point`.
    method: bool,
    params: Vec<String>,
    /// The parameters' names, for a `wrt(..)`.
    names: Vec<String>,
    /// `<'a, const N: usize>`, or nothing.
    generics: String,
}

impl Gen<'_> {
    /// Picks what the function returns; its type.
    fn return_type(&mut self) -> String {
        let t = self.t;
        self.ret = match self.rng.weighted(&[85, 6, 5, 4]) {
            0 => Ret::Scalar,
            1 => Ret::Pair,
            2 => Ret::Array,
            _ => Ret::Vec,
        };
        match self.ret {
            Ret::Scalar => t.to_owned(),
            Ret::Pair => format!("({t}, {t})"),
            Ret::Array => format!("[{t}; 2]"),
            Ret::Vec => format!("Vec<{t}>"),
        }
    }

    /// The parameters (declared in the outermost scope) and the generics they need.
    fn signature(&mut self) -> Signature {
        let t = self.t;
        let method = t == "f64" && self.rng.chance(0.08);
        let mut params: Vec<String> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut lifetime = false;
        let mut const_n = false;
        if method {
            params.push(self.rng.pick(&["&self", "&self", "self"]).to_string());
            names.push("self".to_owned());
            self.declare("self", Kind::Point, false, false);
        }
        let count = self.rng.range(if method { 0 } else { 1 }, 4);
        for _ in 0..count {
            let name = self.new_name("x");
            let lt = if self.rng.chance(0.15) {
                lifetime = true;
                "'a "
            } else {
                ""
            };
            let (ty, kind, mutable, writable) = self.parameter_type(lt, &mut const_n);
            let m = if mutable { "mut " } else { "" };
            params.push(format!("{m}{name}: {ty}"));
            names.push(name.clone());
            if ty.starts_with('&') {
                self.declare_reference(&name, kind);
            } else {
                self.declare(&name, kind, mutable, writable);
            }
        }
        if self.limits.unsupported && self.rng.chance(0.03) {
            // Patterns in parameters: valid Rust, rejected by the macro.
            if t == "f64" && self.rng.chance(0.5) {
                params.push("Point { x: px, y: py, .. }: Point".to_owned());
                self.declare("px", Kind::Float, false, false);
                self.declare("py", Kind::Float, false, false);
            } else {
                params.push(format!("(pa, pb): ({t}, {t})"));
                self.declare("pa", Kind::Float, false, false);
                self.declare("pb", Kind::Float, false, false);
            }
        }
        let mut generics = Vec::new();
        if lifetime {
            generics.push("'a".to_owned());
            if self.rng.chance(0.3) {
                generics.push("'b: 'a".to_owned());
            }
        }
        if const_n {
            generics.push("const N: usize".to_owned());
        }
        let generics = if generics.is_empty() {
            String::new()
        } else {
            format!("<{}>", generics.join(", "))
        };
        Signature {
            method,
            params,
            names,
            generics,
        }
    }

    /// A parameter's type (`lt` is its lifetime, if a reference), its kind, whether it is
    /// `mut`, whether the body may store into it. `[T; N]` sets `const_n`.
    fn parameter_type(&mut self, lt: &str, const_n: &mut bool) -> (String, Kind, bool, bool) {
        let t = self.t;
        let choice = self.rng.weighted(&[40, 8, 12, 5, 6, 5, 3, 6, 2, 2, 2]);
        match choice {
            0 => {
                let mutable = self.rng.chance(0.2);
                (t.to_owned(), Kind::Float, mutable, false)
            }
            1 => match self.rng.below(3) {
                0 => (format!("[{t}; 3]"), Kind::Array, false, false),
                1 => (format!("&{lt}[{t}; 3]"), Kind::Array, false, false),
                // Written to: a parameter the body stores into.
                _ => (format!("[{t}; 3]"), Kind::Array, true, true),
            },
            2 => match self.rng.below(4) {
                0 | 1 => (format!("&{lt}[{t}]"), Kind::Slice, false, false),
                2 => (format!("Vec<{t}>"), Kind::Slice, false, false),
                _ => (format!("&{lt}Vec<{t}>"), Kind::Slice, false, false),
            },
            3 => match self.rng.below(2) {
                0 => (format!("[[{t}; 2]; 3]"), Kind::Matrix, false, false),
                _ => (format!("&{lt}[[{t}; 2]; 3]"), Kind::Matrix, false, false),
            },
            4 => ("usize".to_owned(), Kind::Index, false, false),
            5 => ("i32".to_owned(), Kind::I32, false, false),
            6 => ("bool".to_owned(), Kind::Bool, false, false),
            7 if t == "f64" => match self.rng.below(3) {
                0 => ("Point".to_owned(), Kind::Point, false, false),
                _ => (format!("&{lt}Point"), Kind::Point, false, false),
            },
            8 => {
                *const_n = true;
                (format!("[{t}; N]"), Kind::Slice, false, false)
            }
            9 => (format!("({t}, {t})"), Kind::Pair, false, false),
            _ => (t.to_owned(), Kind::Float, false, false),
        }
    }

    /// The body's statements, in one of the shapes; its name.
    fn body(&mut self) -> &'static str {
        match self.rng.weighted(&[84, 4, 3, 5, 4]) {
            0 => {
                self.budget = self.rng.range(1, 24);
                let n = self.budget;
                self.stmts(n, 0);
                "statements"
            }
            1 => self.deep_ifs(),
            2 => self.else_if_chain(),
            3 => self.loop_nest(),
            _ => self.straight_line(),
        }
    }

    /// `if`s nested 60 deep or more.
    fn deep_ifs(&mut self) -> &'static str {
        let depth = self.rng.range(60, self.limits.max_if_depth);
        let s = self.new_name("s");
        self.let_float(&s, true);
        for _ in 0..depth {
            let c = self.cond(0);
            self.open(&format!("if {c} {{"));
            let (e, _) = self.fexpr(1);
            self.line(&format!("{s} += {e};"));
        }
        for _ in 0..depth {
            self.close("}");
        }
        "deep ifs"
    }

    /// An `else if` chain 60 long or more.
    fn else_if_chain(&mut self) -> &'static str {
        let length = self.rng.range(60, self.limits.max_if_depth);
        let s = self.new_name("s");
        self.let_float(&s, true);
        let c = self.cond(0);
        self.open(&format!("if {c} {{"));
        for _ in 0..length {
            let (e, _) = self.fexpr(1);
            self.line(&format!("{s} *= {e};"));
            self.else_if(0);
        }
        self.line(&format!("{s} -= 1.0;"));
        self.close("}");
        "else-if chain"
    }

    /// A loop nest (only compiled, never run: a `loop` level may not end).
    fn loop_nest(&mut self) -> &'static str {
        let depth = self.rng.range(2, self.limits.max_loop_nest.max(2));
        let s = self.new_name("s");
        self.let_float(&s, true);
        for level in 0..depth {
            let i = self.new_name("i");
            let kind = self.rng.below(3);
            match kind {
                0 => self.open(&format!("for {i} in 0..2 {{")),
                1 => {
                    self.line(&format!("let mut {i}: usize = 0;"));
                    self.declare(&i, Kind::Index, true, false);
                    self.open(&format!("while {i} < 2 {{"));
                    self.line(&format!("{i} += 1;"));
                }
                _ => {
                    self.open("loop {");
                    let c = self.cond(0);
                    self.line(&format!("if {c} {{ break; }}"));
                }
            }
            if kind == 0 {
                self.declare(&i, Kind::Index, false, false);
            }
            self.loops.push(LoopCx {
                label: None,
                value: false,
            });
            self.budget = 1;
            if level + 1 == depth || self.rng.chance(0.3) {
                self.stmt(3);
            }
            let (e, _) = self.fexpr(1);
            self.line(&format!("{s} += {e};"));
        }
        for _ in 0..depth {
            self.loops.pop();
            self.close("}");
        }
        "loop nest"
    }

    /// Long straight-line code.
    fn straight_line(&mut self) -> &'static str {
        let s = self.new_name("s");
        self.let_float(&s, true);
        for _ in 0..self.rng.range(30, 80) {
            let (e, _) = self.fexpr(2);
            let op = self.rng.pick(&["+=", "*=", "-="]);
            self.line(&format!("{s} {op} {e};"));
        }
        "straight line"
    }

    /// Attributes, visibility, qualifiers, name and signature: everything before the body.
    fn head(&mut self, index: u64, signature: &Signature, ret_ty: &str) -> String {
        let mut head = String::new();
        let attr_roll = self.rng.below(100);
        let attr = match attr_roll {
            0..=2 => "#[inline]\n",
            3..=4 => "/// Documented.\n",
            5..=6 => "#[must_use]\n",
            7 => "#[cfg(all())]\n",
            8 => "#[allow(clippy::all)]\n",
            9 => "#[differentiate]\n",
            10 => "#[cfg_attr(all(), inline)]\n",
            _ => "",
        };
        head.push_str(attr);
        let vis = *self.rng.pick(&["", "pub ", "pub(crate) "]);
        let qualifiers = match self.rng.below(60) {
            0 => "const ",
            1 => "extern \"C\" ",
            _ => "",
        };
        let name = if self.rng.chance(0.03) {
            format!("r#f{index}")
        } else {
            format!("f{index}")
        };
        let _ = writeln!(
            head,
            "{vis}{qualifiers}fn {name}{}({}) -> {ret_ty} {{",
            signature.generics,
            signature.params.join(", ")
        );
        head
    }

    /// The attribute's arguments: mostly none, sometimes a `wrt` of some parameters.
    fn wrt_args(&mut self, names: &[String]) -> String {
        if self.rng.chance(0.15) && !names.is_empty() {
            let mut chosen: Vec<String> = names
                .iter()
                .filter(|_| self.rng.chance(0.6))
                .cloned()
                .collect();
            if chosen.is_empty() {
                chosen.push(names[0].clone());
            }
            format!("wrt({})", chosen.join(", "))
        } else {
            String::new()
        }
    }
}
