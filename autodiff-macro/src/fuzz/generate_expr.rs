//! Generated expressions: floats, conditions, what a function returns.

use super::*;

impl Gen<'_> {
    /// A float expression; `.1` says whether its type is known (an expression of literals only
    /// is `{float}` until something fixes it, and rustc calls no method on it).
    pub(super) fn fexpr(&mut self, depth: usize) -> (String, bool) {
        let t = self.t;
        if depth == 0 || self.rng.chance(0.3) {
            return self.leaf();
        }
        let control = if self.simple > 0 { 0 } else { 1 };
        match self.rng.weighted(&[
            30,
            6,
            14,
            8,
            5,
            5 * control,
            4 * control,
            4 * control,
            3,
            3,
            2,
            2,
            2,
            1,
        ]) {
            0 => {
                let (a, ta) = self.fexpr(depth - 1);
                let (b, tb) = self.fexpr(depth - 1);
                let op = self.rng.pick(&["+", "-", "*", "/", "+", "*", "%"]);
                (format!("({a} {op} {b})"), ta || tb)
            }
            1 => {
                let (a, ta) = self.fexpr(depth - 1);
                (format!("(-{a})"), ta)
            }
            2 => self.unary_method_call(depth),
            3 => self.binary_method_call(depth),
            4 => self.powi(depth),
            5 => {
                let c = self.cond(depth - 1);
                let (a, ta) = self.fexpr(depth - 1);
                let (b, tb) = self.fexpr(depth - 1);
                (format!("(if {c} {{ {a} }} else {{ {b} }})"), ta || tb)
            }
            6 => self.match_expr(depth),
            7 => self.block_with_local(depth),
            8 => self.mul_add(depth),
            9 => {
                self.simple += 1;
                let (a, ta) = self.fexpr(depth - 1);
                self.simple -= 1;
                (format!("no_grad({a})"), ta)
            }
            10 if t == "f64" => {
                let (a, _) = self.fexpr(depth - 1);
                let (b, _) = self.fexpr(depth - 1);
                (format!("helper({a}, {b})"), true)
            }
            11 => {
                let (a, _) = self.fexpr(depth - 1);
                let other = if t == "f64" { "f32" } else { "f64" };
                (format!("({a} as {other} as {t})"), true)
            }
            12 => self.clamp(depth),
            _ => {
                let (a, ta) = self.fexpr(depth - 1);
                let (b, tb) = self.fexpr(depth - 1);
                let field = self.rng.below(2);
                (format!("({a}, {b}).{field}"), [ta, tb][field])
            }
        }
    }

    /// `a.sin()` on a typed operand, `T::sin(a)` otherwise (or sometimes).
    fn unary_method_call(&mut self, depth: usize) -> (String, bool) {
        let t = self.t;
        let (a, ta) = self.fexpr(depth - 1);
        let m = self.rng.pick(UNARY_METHODS);
        if ta && self.rng.chance(0.7) {
            (format!("{a}.{m}()"), true)
        } else {
            (format!("{t}::{m}({a})"), true)
        }
    }

    /// `a.atan2(b)`, or `T::atan2(a, b)`.
    fn binary_method_call(&mut self, depth: usize) -> (String, bool) {
        let t = self.t;
        let (a, ta) = self.fexpr(depth - 1);
        let (b, _) = self.fexpr(depth - 1);
        let m = self.rng.pick(BINARY_METHODS);
        if ta && self.rng.chance(0.7) {
            (format!("{a}.{m}({b})"), true)
        } else {
            (format!("{t}::{m}({a}, {b})"), true)
        }
    }

    /// `a.powi(n)` with a small exponent, negative and zero included.
    fn powi(&mut self, depth: usize) -> (String, bool) {
        let t = self.t;
        let (a, ta) = self.fexpr(depth - 1);
        let n = self.rng.pick(&["2", "3", "-1", "0", "1", "-2"]);
        if ta {
            (format!("{a}.powi({n})"), true)
        } else {
            (format!("{t}::powi({a}, {n})"), true)
        }
    }

    /// A block with a local of its own.
    fn block_with_local(&mut self, depth: usize) -> (String, bool) {
        let t = self.t;
        let (a, ta) = self.fexpr(depth - 1);
        let name = self.new_name("b");
        self.scopes.push(vec![Var {
            name: name.clone(),
            kind: Kind::Float,
            mutable: false,
            writable: false,
            reference: false,
        }]);
        let (b, _) = self.fexpr(depth - 1);
        self.scopes.pop();
        let ann = if ta { String::new() } else { format!(": {t}") };
        (format!("{{ let {name}{ann} = {a}; {name} * {b} }}"), true)
    }

    /// `a.mul_add(b, c)`, or `T::mul_add(a, b, c)`.
    fn mul_add(&mut self, depth: usize) -> (String, bool) {
        let t = self.t;
        let (a, ta) = self.fexpr(depth - 1);
        let (b, _) = self.fexpr(depth - 1);
        let (c, _) = self.fexpr(depth - 1);
        if ta {
            (format!("{a}.mul_add({b}, {c})"), true)
        } else {
            (format!("{t}::mul_add({a}, {b}, {c})"), true)
        }
    }

    /// `a.clamp(lo, hi)`, or `T::clamp(a, lo, hi)`.
    fn clamp(&mut self, depth: usize) -> (String, bool) {
        let t = self.t;
        let (a, ta) = self.fexpr(depth - 1);
        let (lo, hi) = *self
            .rng
            .pick(&[("-1.0", "1.0"), ("0.0", "2.0"), ("-3.0", "0.5")]);
        if ta {
            (format!("{a}.clamp({lo}, {hi})"), true)
        } else {
            (format!("{t}::clamp({a}, {lo}, {hi})"), true)
        }
    }

    fn leaf(&mut self) -> (String, bool) {
        let t = self.t;
        for _ in 0..4 {
            let choice = self
                .rng
                .weighted(&[10, 30, 4, 10, 4, 3, 3, 3, 3, 2, 2, 2, 2]);
            let got = match choice {
                0 => Some((self.float_lit(), false)),
                1 => self.pick_var(&[Kind::Float]).map(|v| (v.name, true)),
                2 => self
                    .pick_var(&[Kind::FloatRef])
                    .map(|v| (format!("(*{})", v.name), true)),
                3 => self.pick_var(&[Kind::Array]).map(|v| {
                    let i = self.index(Some(3));
                    (format!("{}[{i}]", v.name), true)
                }),
                4 => self.pick_var(&[Kind::Slice]).map(|v| {
                    let i = self.index(None);
                    (format!("{}[{i}]", v.name), true)
                }),
                5 => self.pick_var(&[Kind::Matrix]).map(|v| {
                    let i = self.index(Some(3));
                    let j = self.index(Some(2));
                    (format!("{}[{i}][{j}]", v.name), true)
                }),
                6 => self.pick_var(&[Kind::Point]).map(|v| {
                    match self.rng.below(4) {
                        0 => (format!("{}.x", v.name), true),
                        1 => (format!("{}.y", v.name), true),
                        2 => (format!("{}.w[{}]", v.name, self.index(Some(3))), true),
                        // A differentiated method of `Point`.
                        _ => (format!("{}.norm2()", v.name), true),
                    }
                }),
                7 => self
                    .pick_var(&[Kind::Index, Kind::I32])
                    .map(|v| (format!("({} as {t})", v.name), true)),
                8 => self
                    .pick_var(&[Kind::Pair])
                    .map(|v| (format!("{}.{}", v.name, self.rng.below(2)), true)),
                9 => self
                    .pick_var(&[Kind::Slice, Kind::Array])
                    .map(|v| (format!("({}.len() as {t})", v.name), true)),
                10 => self.pick_var(&[Kind::Slice, Kind::Array]).map(|v| {
                    let m = self.rng.pick(&["sum", "product"]);
                    (format!("{}.iter().{m}::<{t}>()", v.name), true)
                }),
                11 if t == "f64" => self.pick_var(&[Kind::Slice, Kind::Array]).map(|v| {
                    let amp = if v.reference { "" } else { "&" };
                    (format!("helper_sum({amp}{})", v.name), true)
                }),
                12 => Some((
                    self.rng
                        .pick(&[
                            "std::f64::consts::PI",
                            "core::f64::consts::E",
                            "f64::EPSILON",
                            "std::f64::consts::LN_2",
                        ])
                        .replace("f64", t),
                    true,
                )),
                _ => None,
            };
            if let Some(got) = got {
                return got;
            }
        }
        (self.float_lit(), false)
    }

    pub(super) fn match_expr(&mut self, depth: usize) -> (String, bool) {
        let (scrutinee, arms): (String, &[&str]) = match self.pick_var(&[Kind::Index, Kind::I32]) {
            Some(v) if v.kind == Kind::Index => (v.name, &["0", "1 | 2", "3..=5"]),
            Some(v) => (v.name, &["0", "-1 | 1", "i32::MIN..=-2"]),
            None => match self.pick_var(&[Kind::Bool]) {
                Some(v) => (v.name, &["true"]),
                None => ("2usize".to_owned(), &["0", "1 | 2"]),
            },
        };
        let mut text = format!("(match {scrutinee} {{ ");
        let mut typed = false;
        for arm in arms {
            let (e, te) = self.fexpr(depth - 1);
            typed |= te;
            let guard = if self.rng.chance(0.2) {
                format!(" if {}", self.cond(0))
            } else {
                String::new()
            };
            let _ = write!(text, "{arm}{guard} => {e}, ");
        }
        let (e, te) = self.fexpr(depth - 1);
        let _ = write!(text, "_ => {e} }})");
        (text, typed || te)
    }

    pub(super) fn cond(&mut self, depth: usize) -> String {
        self.simple += 1;
        let cond = self.cond_inner(depth);
        self.simple -= 1;
        cond
    }

    fn cond_inner(&mut self, depth: usize) -> String {
        match self.rng.weighted(&[40, 10, 8, 8, 6, 6, 4, 4]) {
            0 => {
                let (a, ta) = self.fexpr(depth.min(2));
                let (b, _) = self.fexpr(depth.min(1));
                let op = self.rng.pick(&[">", "<", ">=", "<=", "==", "!="]);
                if ta {
                    format!("{a} {op} {b}")
                } else {
                    format!("{a} {op} {b} as {}", self.t)
                }
            }
            1 => match self.pick_var(&[Kind::Index]) {
                Some(v) => format!("{} % 2 == {}", v.name, self.rng.below(2)),
                None => "true".to_owned(),
            },
            2 => match self.pick_var(&[Kind::Bool]) {
                Some(v) if self.rng.chance(0.5) => format!("!{}", v.name),
                Some(v) => v.name,
                None => "false".to_owned(),
            },
            3 if depth > 0 => {
                let a = self.cond(depth - 1);
                let b = self.cond(depth - 1);
                let op = self.rng.pick(&["&&", "||"]);
                format!("({a}) {op} ({b})")
            }
            4 => match self.pick_var(&[Kind::I32]) {
                Some(v) => format!("{} > {}", v.name, self.rng.pick(&["0", "-1", "2"])),
                None => "1 < 2".to_owned(),
            },
            5 => {
                let (a, ta) = self.fexpr(1);
                if ta {
                    format!("{a}.is_finite()")
                } else {
                    "true".to_owned()
                }
            }
            6 => match self.pick_var(&[Kind::Slice]) {
                Some(v) => format!("{}.len() > {}", v.name, self.rng.below(3)),
                None => "!false".to_owned(),
            },
            _ => {
                let (a, ta) = self.fexpr(1);
                if ta {
                    format!("(!({a} < 0.0))")
                } else {
                    "true".to_owned()
                }
            }
        }
    }

    pub(super) fn ret_expr(&mut self) -> String {
        match self.ret {
            Ret::Scalar => self.fexpr(3).0,
            Ret::Pair => format!("({}, {})", self.fexpr(2).0, self.fexpr(2).0),
            Ret::Array => format!("[{}, {}]", self.fexpr(2).0, self.fexpr(2).0),
            Ret::Vec => format!("vec![{}, {}]", self.fexpr(2).0, self.fexpr(2).0),
        }
    }
}
