//! The corpus: the repository's own differentiated functions.

use super::*;

/// A `#[differentiate(args)]` item found in the repository.
pub(super) struct CorpusItem {
    pub(super) origin: String,
    pub(super) args: TokenStream,
    pub(super) item: TokenStream,
}

/// The corpus as text, parsed from the files once for all tests (token streams cannot be shared
/// between threads).
struct CorpusText {
    pub(super) origin: String,
    pub(super) args: String,
    pub(super) item: String,
}

pub(super) fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `#[differentiate]` functions and methods of `tests/`, `tests/ui/`, `examples/`.
pub(super) fn corpus() -> Vec<CorpusItem> {
    static CORPUS: std::sync::OnceLock<Vec<CorpusText>> = std::sync::OnceLock::new();
    let text = CORPUS.get_or_init(|| {
        let root = repository_root();
        let mut files = Vec::new();
        for dir in ["tests", "tests/ui", "examples"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                // The generated `random_functions_{2,3,4}.rs` are more of `random_functions_1.rs`
                // and would double the time it takes to parse the corpus.
                let more_of_the_same = path.file_name().is_some_and(|n| {
                    n.to_string_lossy().starts_with("random_functions_")
                        && !n.to_string_lossy().ends_with("_1.rs")
                });
                if path.extension().is_some_and(|e| e == "rs") && !more_of_the_same {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut items = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).expect("readable");
            let Ok(file) = syn::parse_file(&text) else {
                continue;
            };
            let mut finder = Finder {
                origin: path.file_name().unwrap().to_string_lossy().into_owned(),
                items: &mut items,
            };
            syn::visit::Visit::visit_file(&mut finder, &file);
        }
        assert!(
            items.len() > 100,
            "only {} differentiated functions found",
            items.len()
        );
        items
    });
    text.iter()
        .map(|t| CorpusItem {
            origin: t.origin.clone(),
            args: t.args.parse().unwrap(),
            item: t.item.parse().unwrap(),
        })
        .collect()
}

struct Finder<'a> {
    pub(super) origin: String,
    pub(super) items: &'a mut Vec<CorpusText>,
}

impl Finder<'_> {
    /// Takes the `#[differentiate]` attribute off `attrs`, returning its arguments.
    pub(super) fn take(attrs: &mut Vec<syn::Attribute>) -> Option<TokenStream> {
        let position = attrs.iter().position(|a| {
            a.path()
                .segments
                .last()
                .is_some_and(|s| s.ident == "differentiate")
        })?;
        let attr = attrs.remove(position);
        Some(match attr.meta {
            syn::Meta::List(list) => list.tokens,
            _ => TokenStream::new(),
        })
    }
}

impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        let mut item = f.clone();
        if let Some(args) = Finder::take(&mut item.attrs) {
            self.items.push(CorpusText {
                origin: format!("{}: fn {}", self.origin, f.sig.ident),
                args: args.to_string(),
                item: item.into_token_stream().to_string(),
            });
        }
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        let mut item = f.clone();
        if let Some(args) = Finder::take(&mut item.attrs) {
            self.items.push(CorpusText {
                origin: format!("{}: method {}", self.origin, f.sig.ident),
                args: args.to_string(),
                item: item.into_token_stream().to_string(),
            });
        }
        syn::visit::visit_impl_item_fn(self, f);
    }
}
