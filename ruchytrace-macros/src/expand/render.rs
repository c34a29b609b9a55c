//! Rendering tokens as readable Rust (for the expansion tests and `cargo expand`-like output).

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// Renders tokens the way people write Rust (`Vec<u8>`, `&'a mut T`, `impl Iterator<Item = u32>`), not the
/// token-spaced form of `to_string()` (`Vec < u8 >`), for type and pattern names in the trace.
pub fn render_tokens(tokens: TokenStream) -> String {
    let mut out = String::new();
    render_into(tokens, &mut out);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Prev {
    Start,
    Word,
    /// `mut`, `dyn`, `impl`, `const`, `ref`, `as`: always followed by a space.
    Keyword,
    /// A punctuation character, and whether it is joined to the next one.
    Punct(char, bool),
    Group,
}

fn render_into(tokens: TokenStream, out: &mut String) {
    let mut prev = Prev::Start;
    // Set by tokens that are followed by a space: `,`, `;`, `=`, `+`, the `>` of `->`, a single `:`.
    let mut space_after = false;
    for tt in tokens {
        let space_before = match (&tt, prev) {
            (_, Prev::Start) | (_, Prev::Punct('\'', _)) => false,
            _ if space_after => true,
            (_, Prev::Keyword) => true,
            (TokenTree::Ident(_) | TokenTree::Literal(_), p) => {
                matches!(p, Prev::Word) || matches!(p, Prev::Punct('>', false))
            }
            (TokenTree::Punct(pu), p) => match pu.as_char() {
                '=' | '+' => true,
                '-' => pu.spacing() == proc_macro2::Spacing::Joint,
                '\'' | '&' | '*' => matches!(p, Prev::Word),
                _ => false,
            },
            (TokenTree::Group(g), _) => g.delimiter() == Delimiter::Brace,
        };
        if space_before {
            out.push(' ');
        }
        space_after = false;
        match tt {
            TokenTree::Ident(ident) => {
                let word = ident.to_string();
                prev = match word.as_str() {
                    "mut" | "dyn" | "impl" | "const" | "ref" | "as" => Prev::Keyword,
                    _ => Prev::Word,
                };
                out.push_str(&word);
            }
            TokenTree::Literal(lit) => {
                out.push_str(&lit.to_string());
                prev = Prev::Word;
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                let joint = p.spacing() == proc_macro2::Spacing::Joint;
                out.push(c);
                space_after = match c {
                    ',' | ';' | '=' | '+' => true,
                    '>' => prev == Prev::Punct('-', true),
                    ':' => !joint && prev != Prev::Punct(':', true),
                    _ => false,
                };
                prev = Prev::Punct(c, joint);
            }
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{ ", " }"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                render_into(g.stream(), out);
                out.push_str(close);
                prev = Prev::Group;
            }
        }
    }
}
