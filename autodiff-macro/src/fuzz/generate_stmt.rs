//! Generated statements: bindings, assignments, loops, branches, exits.

use super::*;

impl Gen<'_> {
    pub(super) fn let_float(&mut self, name: &str, mutable: bool) {
        let (e, typed) = self.fexpr(3);
        let ann = if typed && self.rng.chance(0.8) {
            String::new()
        } else {
            format!(": {}", self.t)
        };
        let m = if mutable { "mut " } else { "" };
        self.line(&format!("let {m}{name}{ann} = {e};"));
        self.declare(name, Kind::Float, mutable, false);
    }

    /// Statements until the budget or `count` runs out.
    pub(super) fn stmts(&mut self, count: usize, depth: usize) {
        for _ in 0..count {
            if self.budget == 0 {
                return;
            }
            self.budget -= 1;
            self.stmt(depth);
        }
    }

    pub(super) fn stmt(&mut self, depth: usize) {
        let t = self.t;
        let nested = depth < 4;
        let in_loop = !self.loops.is_empty();
        let weights = [
            20,                                          // let
            14,                                          // assign
            5,                                           // local array
            6,                                           // store
            if nested { 8 } else { 0 },                  // if
            if nested { 6 } else { 0 },                  // for
            if nested { 3 } else { 0 },                  // while
            if nested { 3 } else { 0 },                  // loop
            if nested { 3 } else { 0 },                  // match
            4,                                           // tuples
            if nested { 2 } else { 0 },                  // block
            if t == "f64" { 3 } else { 0 },              // calls
            2,                                           // assertion
            3,                                           // attribute on a statement
            1,                                           // empty statement
            if depth > 0 { 3 } else { 1 },               // early return
            if in_loop { 6 } else { 0 },                 // break / continue
            2,                                           // let without a value
            3,                                           // shadowing
            if self.limits.unsupported { 1 } else { 0 }, // rejected by design
            1,                                           // diverging
            1,                                           // patterns, labelled blocks
        ];
        match self.rng.weighted(&weights) {
            0 => {
                let name = self.new_name("v");
                let mutable = self.rng.chance(0.4);
                self.let_float(&name, mutable);
            }
            1 => self.assign_float(),
            2 => self.local_array(),
            3 => self.store_element(),
            4 => self.if_stmt(depth),
            5 => self.for_stmt(depth),
            6 => self.while_stmt(depth),
            7 => self.loop_stmt(depth),
            8 => self.match_stmt(depth),
            9 => self.tuples(),
            10 => {
                self.open("{");
                let n = self.rng.range(1, 3);
                self.stmts(n, depth + 1);
                self.close("}");
            }
            11 => self.helper_call(),
            12 => {
                let c = self.cond(1);
                let m = self.rng.pick(&["assert", "debug_assert"]);
                self.line(&format!("{m}!({c} || true, \"checked\");"));
            }
            13 => self.attributed_stmt(),
            14 => self.line(";"),
            15 => {
                let c = self.cond(1);
                let e = self.ret_expr();
                self.line(&format!("if {c} {{ return {e}; }}"));
            }
            16 => self.loop_exit(),
            17 => self.let_without_value(),
            18 => self.shadow(),
            19 => self.unsupported(),
            21 => self.patterns(),
            _ => self.diverging(),
        }
    }

    /// Assigns to the innermost mutable float, or declares one.
    fn assign_float(&mut self) {
        match self
            .visible(&[Kind::Float])
            .into_iter()
            .rfind(|v| v.mutable)
        {
            Some(v) => {
                let (e, _) = self.fexpr(3);
                let op = self.rng.pick(&["=", "+=", "-=", "*=", "/=", "+=", "%="]);
                self.line(&format!("{} {op} {e};", v.name));
            }
            None => {
                let name = self.new_name("s");
                self.let_float(&name, true);
            }
        }
    }

    /// A local array, `Vec` or matrix, writable or not.
    fn local_array(&mut self) {
        let t = self.t;
        let name = self.new_name("a");
        match self.rng.below(6) {
            0 => {
                self.line(&format!("let mut {name}: [{t}; 3] = [0.0; 3];"));
                self.declare(&name, Kind::Array, true, true);
            }
            1 => {
                let (a, b, c) = (self.fexpr(2).0, self.fexpr(2).0, self.fexpr(2).0);
                self.line(&format!("let mut {name}: [{t}; 3] = [{a}, {b}, {c}];"));
                self.declare(&name, Kind::Array, true, true);
            }
            2 => {
                let len = match self.pick_var(&[Kind::Index]) {
                    Some(v) => format!("{} + 1", v.name),
                    None => "4".to_owned(),
                };
                self.line(&format!("let mut {name}: Vec<{t}> = vec![0.0; {len}];"));
                self.declare(&name, Kind::Slice, true, true);
            }
            3 => match self.pick_var(&[Kind::Slice, Kind::Array]) {
                Some(v) => {
                    self.line(&format!("let mut {name} = {}.to_vec();", v.name));
                    self.declare(&name, Kind::Slice, true, true);
                }
                None => {
                    self.line(&format!("let {name}: Vec<{t}> = Vec::new();"));
                    self.declare(&name, Kind::Slice, false, false);
                }
            },
            4 => {
                self.line(&format!("let mut {name} = [[0.0 as {t}; 2]; 3];"));
                self.declare(&name, Kind::Matrix, true, true);
            }
            _ => {
                let (a, _) = self.fexpr(2);
                self.line(&format!("let {name} = [{a} as {t}; 3];"));
                self.declare(&name, Kind::Array, false, false);
            }
        }
    }

    /// A store into an element of a writable array that no loop is iterating over.
    fn store_element(&mut self) {
        let targets: Vec<Var> = self
            .visible(&[Kind::Array, Kind::Slice, Kind::Matrix])
            .into_iter()
            .filter(|v| v.writable && !self.iterated.contains(&v.name))
            .collect();
        if targets.is_empty() {
            let name = self.new_name("v");
            return self.let_float(&name, false);
        }
        let v = targets[self.rng.below(targets.len())].clone();
        let place = match v.kind {
            Kind::Array => format!("{}[{}]", v.name, self.index(Some(3))),
            Kind::Matrix => {
                format!(
                    "{}[{}][{}]",
                    v.name,
                    self.index(Some(3)),
                    self.index(Some(2))
                )
            }
            _ => format!("{}[{}]", v.name, self.index(None)),
        };
        let (e, _) = self.fexpr(3);
        let op = self.rng.pick(&["=", "+=", "*=", "-="]);
        self.line(&format!("{place} {op} {e};"));
    }

    /// A `while` bounded by a counter.
    fn while_stmt(&mut self, depth: usize) {
        let k = self.new_name("k");
        self.line(&format!("let mut {k}: usize = 0;"));
        self.declare(&k, Kind::Index, true, false);
        let c = self.cond(1);
        let label = self.label();
        let prefix = label.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
        self.open(&format!("{prefix}while {k} < 3 && ({c}) {{"));
        self.line(&format!("{k} += 1;"));
        self.loop_body(label, false, depth);
        self.close("}");
    }

    /// `loop`, as a statement or as an expression whose `break` carries the value.
    fn loop_stmt(&mut self, depth: usize) {
        let t = self.t;
        if self.rng.chance(0.4) {
            // `loop` as an expression: `break` carries the value.
            let name = self.new_name("l");
            self.open(&format!("let {name}: {t} = loop {{"));
            self.loops.push(LoopCx {
                label: None,
                value: true,
            });
            let n = self.rng.range(1, 3);
            self.stmts(n, depth + 1);
            let (e, _) = self.fexpr(2);
            self.line(&format!("break {e};"));
            self.loops.pop();
            self.close("};");
            self.declare(&name, Kind::Float, false, false);
        } else {
            let label = self.label();
            let prefix = label.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
            self.open(&format!("{prefix}loop {{"));
            let c = self.cond(1);
            self.line(&format!("if {c} {{ break; }}"));
            self.loop_body(label, false, depth);
            self.line("break;");
            self.close("}");
        }
    }

    /// `match` as a float-valued expression, or on an index with arms of statements.
    fn match_stmt(&mut self, depth: usize) {
        let t = self.t;
        if self.rng.chance(0.5) {
            let name = self.new_name("m");
            let (e, typed) = self.match_expr(3);
            let ann = if typed {
                String::new()
            } else {
                format!(": {t}")
            };
            self.line(&format!("let {name}{ann} = {e};"));
            self.declare(&name, Kind::Float, false, false);
        } else {
            let scrutinee = match self.pick_var(&[Kind::Index]) {
                Some(v) => v.name,
                None => "1usize".to_owned(),
            };
            self.open(&format!("match {scrutinee} {{"));
            for arm in ["0 => {", "1 | 2 => {", "_ => {"] {
                self.open(arm);
                let n = self.rng.range(0, 2);
                self.stmts(n, depth + 1);
                self.close("}");
            }
            self.close("}");
        }
    }

    /// A tuple: taken apart at once, or bound and taken apart later.
    fn tuples(&mut self) {
        let t = self.t;
        let (a, ta) = self.fexpr(2);
        let (b, tb) = self.fexpr(2);
        let ann = if ta && tb {
            String::new()
        } else {
            format!(": ({t}, {t})")
        };
        if self.rng.chance(0.5) {
            let (p, q) = (self.new_name("p"), self.new_name("q"));
            let mutable = if self.rng.chance(0.3) { "mut " } else { "" };
            self.line(&format!("let ({mutable}{p}, {q}){ann} = ({a}, {b});"));
            self.declare(&p, Kind::Float, !mutable.is_empty(), false);
            self.declare(&q, Kind::Float, false, false);
        } else {
            let name = self.new_name("t");
            self.line(&format!("let {name}{ann} = ({a}, {b});"));
            self.declare(&name, Kind::Pair, false, false);
            if self.rng.chance(0.5) {
                let p = self.new_name("p");
                self.line(&format!("let ({p}, _) = {name};"));
                self.declare(&p, Kind::Float, false, false);
            }
        }
    }

    /// A call of the helpers every generated program defines.
    fn helper_call(&mut self) {
        let (a, _) = self.fexpr(2);
        if self.rng.chance(0.5) {
            let (p, q) = (self.new_name("h"), self.new_name("h"));
            self.line(&format!("let ({p}, {q}) = helper_pair({a});"));
            self.declare(&p, Kind::Float, false, false);
            self.declare(&q, Kind::Float, false, false);
        } else {
            let name = self.new_name("h");
            let (b, _) = self.fexpr(2);
            self.line(&format!("let {name} = helper({a}, {b});"));
            self.declare(&name, Kind::Float, false, false);
        }
    }

    /// A statement under an attribute: `cfg` ones remove or keep it.
    fn attributed_stmt(&mut self) {
        let t = self.t;
        // `#[cfg(any())]` removes the statement, `#[cfg(all())]` keeps it.
        let (attr, kept) = *self.rng.pick(&[
            ("#[cfg(any())]", false),
            ("#[cfg(all())]", true),
            ("#[cfg(not(all()))]", false),
            ("#[allow(unused_variables)]", true),
            ("#[cfg_attr(any(), allow(unused))]", true),
            ("#[rustfmt::skip]", true),
        ]);
        let target = self
            .visible(&[Kind::Float])
            .into_iter()
            .rfind(|v| v.mutable);
        match target {
            // Only `cfg` and lint attributes are stable on expression statements.
            Some(v) if self.rng.chance(0.6) && !attr.contains("rustfmt") => {
                let (e, _) = self.fexpr(2);
                self.line(&format!("{attr} {{ {} += {e}; }}", v.name));
            }
            _ => {
                let name = self.new_name("c");
                let (e, typed) = self.fexpr(2);
                let ann = if typed {
                    String::new()
                } else {
                    format!(": {t}")
                };
                self.line(&format!("{attr} let {name}{ann} = {e};"));
                if kept {
                    self.declare(&name, Kind::Float, false, false);
                }
            }
        }
    }

    /// `break` or `continue`, of the innermost loop or of a labelled outer one.
    fn loop_exit(&mut self) {
        let cx_index = self.rng.below(self.loops.len());
        let innermost = cx_index == self.loops.len() - 1;
        let cx = &self.loops[cx_index];
        let value = cx.value;
        let target = match (&cx.label, innermost) {
            (_, true) => String::new(),
            (Some(label), false) => format!(" {label}"),
            (None, false) => return,
        };
        // A `break` out of a `loop` expression carries its value.
        if value && !innermost {
            return;
        }
        let c = self.cond(1);
        let exit = match self.rng.below(3) {
            0 if !value => format!("continue{target}"),
            _ if value => format!("break {}", self.fexpr(2).0),
            _ => format!("break{target}"),
        };
        if self.rng.chance(0.8) {
            self.line(&format!("if {c} {{ {exit}; }}"));
        } else {
            self.line(&format!("if {c} {{ {exit}; }} else {{ {exit}; }}"));
        }
    }

    /// `let q: T;` assigned in both branches of an `if`.
    fn let_without_value(&mut self) {
        let t = self.t;
        let name = self.new_name("q");
        self.line(&format!("let {name}: {t};"));
        let c = self.cond(1);
        let (a, _) = self.fexpr(2);
        let (b, _) = self.fexpr(2);
        self.line(&format!(
            "if {c} {{ {name} = {a}; }} else {{ {name} = {b}; }}"
        ));
        self.declare(&name, Kind::Float, false, false);
    }

    /// Shadows an immutable float, or declares one; never a mutable one, which the loop-nest and
    /// deep-`if` shapes keep writing to by name.
    fn shadow(&mut self) {
        match self
            .visible(&[Kind::Float])
            .into_iter()
            .find(|v| !v.mutable)
        {
            Some(v) => {
                let (e, _) = self.fexpr(2);
                self.line(&format!("let {} = {} * {e};", v.name, v.name));
                self.declare(&v.name, Kind::Float, false, false);
            }
            None => {
                let name = self.new_name("v");
                self.let_float(&name, false);
            }
        }
    }

    /// A branch that diverges: exit, panic, an endless loop.
    fn diverging(&mut self) {
        let c = self.cond(1);
        let what = self.rng.pick(&[
            "std::process::exit(1)",
            "panic!(\"stop\")",
            "unreachable!()",
            "loop {}",
            "todo!()",
        ]);
        self.line(&format!("if {c} {{ {what}; }}"));
    }

    /// Less common bindings: nested and rest patterns, array patterns, `_`, a labelled block.
    fn patterns(&mut self) {
        let t = self.t;
        let (a, b, c) = (self.fexpr(2).0, self.fexpr(2).0, self.fexpr(2).0);
        let (p, q, r) = (self.new_name("p"), self.new_name("q"), self.new_name("r"));
        let declared: Vec<&String> = match self.rng.below(6) {
            0 => {
                self.line(&format!(
                    "let ({p}, ({q}, {r})): ({t}, ({t}, {t})) = ({a}, ({b}, {c}));"
                ));
                vec![&p, &q, &r]
            }
            1 => {
                self.line(&format!(
                    "let ({p}, ..): ({t}, {t}, {t}) = ({a}, {b}, {c});"
                ));
                vec![&p]
            }
            2 => {
                self.line(&format!("let [{p}, {q}, _]: [{t}; 3] = [{a}, {b}, {c}];"));
                vec![&p, &q]
            }
            3 => {
                self.line(&format!("let _ = {a};"));
                vec![]
            }
            4 => {
                let cond = self.cond(1);
                self.line(&format!(
                    "let {p}: {t} = 'blk: {{ if {cond} {{ break 'blk {a}; }} {b} }};"
                ));
                vec![&p]
            }
            _ => {
                let (c1, c2) = (self.cond(1), self.cond(1));
                self.line(&format!(
                    "let {p}: {t} = if {c1} {{ {a} }} else if {c2} {{ {b} }} else {{ {c} }};"
                ));
                vec![&p]
            }
        };
        for name in declared {
            self.declare(name, Kind::Float, false, false);
        }
    }

    /// A construct valid in Rust and rejected by the macro by design.
    pub(super) fn unsupported(&mut self) {
        let t = self.t;
        let x = self
            .pick_var(&[Kind::Float])
            .map(|v| v.name)
            .unwrap_or_else(|| format!("(1.0 as {t})"));
        let name = self.new_name("u");
        let text = match self.rng.below(9) {
            0 => format!("let {name} = (|a: {t}| a * 2.0)({x});"),
            1 => format!("let {name}: {t} = unsafe {{ {x} }};"),
            2 => format!("let {name}: {t} = if let Some(z) = Some({x}) {{ z }} else {{ 0.0 }};"),
            3 => format!("let Some({name}) = Some({x}) else {{ panic!() }};"),
            4 => format!("let mut {name}: {t} = {x}; {{ let r = &mut {name}; *r += 1.0; }}"),
            5 => format!("let {name} = {{ println!(\"{{}}\", {x}); {x} }};"),
            6 => format!("let {name} = [{x}, {x}][..].iter().map(|v| v * 2.0).sum::<{t}>();"),
            7 => format!("let {name} = Some({x}).unwrap_or(0.0);"),
            _ => format!("let {name} = {{ fn inner(a: {t}) -> {t} {{ a }} inner({x}) }};"),
        };
        self.line(&text);
        self.declare(&name, Kind::Float, false, false);
    }

    pub(super) fn label(&mut self) -> Option<String> {
        self.rng
            .chance(0.25)
            .then(|| format!("'l{}", self.fresh + self.loops.len()))
    }

    fn loop_body(&mut self, label: Option<String>, value: bool, depth: usize) {
        self.loops.push(LoopCx { label, value });
        let n = self.rng.range(1, 3);
        self.stmts(n, depth + 1);
        self.loops.pop();
    }

    fn if_stmt(&mut self, depth: usize) {
        let c = self.cond(2);
        self.open(&format!("if {c} {{"));
        let n = self.rng.range(1, 3);
        self.stmts(n, depth + 1);
        match self.rng.below(3) {
            0 => self.close("}"),
            1 => {
                self.close("} else {");
                self.indent += 1;
                self.scopes.push(Vec::new());
                let n = self.rng.range(1, 2);
                self.stmts(n, depth + 1);
                self.close("}");
            }
            _ => {
                self.else_if(1);
                let n = self.rng.range(1, 2);
                self.stmts(n, depth + 1);
                self.close("}");
            }
        }
    }

    /// Closes a branch and opens `else if c {`, with `c` drawn from the scope outside the branch.
    pub(super) fn else_if(&mut self, depth: usize) {
        self.indent -= 1;
        self.scopes.pop();
        let c = self.cond(depth);
        self.line(&format!("}} else if {c} {{"));
        self.indent += 1;
        self.scopes.push(Vec::new());
    }

    fn for_stmt(&mut self, depth: usize) {
        let label = self.label();
        let prefix = label.as_ref().map(|l| format!("{l}: ")).unwrap_or_default();
        let i = self.new_name("i");
        let slices = self.visible(&[Kind::Slice, Kind::Array]);
        let bound = match self.pick_var(&[Kind::Index]) {
            Some(v) if self.rng.chance(0.4) => v.name,
            _ => match slices.first() {
                Some(s) if self.rng.chance(0.5) => format!("{}.len()", s.name),
                _ => "3".to_owned(),
            },
        };
        let choice = if slices.is_empty() {
            self.rng.below(3)
        } else {
            self.rng.below(6)
        };
        let mut loop_vars = vec![];
        let mut iterated = vec![];
        let head = match choice {
            0 => {
                loop_vars.push((i.clone(), Kind::Index));
                format!("for {i} in 0..{bound} {{")
            }
            1 => {
                loop_vars.push((i.clone(), Kind::Index));
                format!("for {i} in (0..{bound}).rev() {{")
            }
            2 => {
                loop_vars.push((i.clone(), Kind::Index));
                format!("for {i} in 0..=2 {{")
            }
            3 => {
                let s = &slices[self.rng.below(slices.len())];
                loop_vars.push((i.clone(), Kind::FloatRef));
                iterated.push(s.name.clone());
                format!("for {i} in {}.iter() {{", s.name)
            }
            4 => {
                let s = &slices[self.rng.below(slices.len())];
                let e = self.new_name("e");
                loop_vars.push((i.clone(), Kind::Index));
                loop_vars.push((e.clone(), Kind::FloatRef));
                iterated.push(s.name.clone());
                format!("for ({i}, {e}) in {}.iter().enumerate() {{", s.name)
            }
            _ => {
                let a = &slices[self.rng.below(slices.len())];
                let b = &slices[self.rng.below(slices.len())];
                let e = self.new_name("e");
                loop_vars.push((i.clone(), Kind::FloatRef));
                loop_vars.push((e.clone(), Kind::FloatRef));
                iterated.push(a.name.clone());
                iterated.push(b.name.clone());
                format!(
                    "for ({i}, {e}) in {}.iter().zip({}.iter()) {{",
                    a.name, b.name
                )
            }
        };
        self.open(&format!("{prefix}{head}"));
        for (name, kind) in loop_vars {
            self.declare(&name, kind, false, false);
        }
        let outer = self.iterated.len();
        self.iterated.extend(iterated);
        self.loop_body(label, false, depth);
        self.iterated.truncate(outer);
        self.close("}");
    }
}
