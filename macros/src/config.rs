//! The attribute's arguments: `#[gmp::main(maxprocs = 2, max_threads = 8)]`,
//! `#[gmp::test(start_paused = true)]`.
//!
//! Each argument is `name = N`, where `name` is one of `KNOBS` (each the name of a
//! `gmp::Builder` method) and `N` an integer literal of at least 1; `#[gmp::test]` also takes
//! `start_paused = true` or `false` (pause the runtime's clock before the body runs, with
//! `gmp::time::pause`). Arguments may come in any
//! order, each at most once, separated by commas (a trailing comma is fine). The builder calls
//! are emitted in the order of `KNOBS`, not the order written, so that the expansion does not
//! depend on how the user spelled the list.
//!
//! Parsing does not stop at the first bad argument: every mistake in a well-formed list is
//! reported at once, spanned at the token that is wrong, and the good arguments are still
//! returned so that the recovery expansion (see `entry.rs`) stays close to what was meant.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, Lit, Token};

use crate::entry::{push_error, Kind};

/// The accepted arguments, each also the name of the `gmp::Builder` method it maps to.
pub(crate) const KNOBS: [&str; 3] = ["maxprocs", "max_threads", "max_blocking_threads"];

/// The argument only `#[gmp::test]` accepts: start the test with the clock paused.
const START_PAUSED: &str = "start_paused";

/// The parsed arguments: for each entry of `KNOBS`, the value given, if any.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Config {
    values: [Option<Knob>; KNOBS.len()],
    /// `start_paused = ..` (tests only), if given.
    start_paused: Option<bool>,
}

/// One `name = N` argument, with the span of `N` so that a type error in the expansion
/// points at the literal the user wrote.
#[derive(Debug, Clone, Copy)]
struct Knob {
    value: usize,
    span: Span,
}

// Spans do not compare; two knobs are equal when their values are.
impl PartialEq for Knob {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for Knob {}

impl Config {
    /// Parses the tokens between the attribute's parentheses.
    ///
    /// Returns the arguments that were valid, and the combined error for those that were not
    /// (`None` if all were).
    pub(crate) fn parse(kind: Kind, args: TokenStream) -> (Config, Option<syn::Error>) {
        let mut config = Config::default();
        let mut errors = None;
        let parser = |input: ParseStream<'_>| config.parse_list(kind, input, &mut errors);
        if let Err(syntax) = parser.parse2(args) {
            push_error(&mut errors, syntax);
        }
        (config, errors)
    }

    /// The value given for `name` (one of `KNOBS`), if any.
    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<usize> {
        let index = KNOBS.iter().position(|knob| *knob == name)?;
        self.values[index].map(|knob| knob.value)
    }

    /// True if the body must start with the runtime's clock paused (`start_paused = true`).
    pub(crate) fn start_paused(&self) -> bool {
        self.start_paused == Some(true)
    }

    /// The builder method calls, as in `.maxprocs(2).max_threads(8)`.
    pub(crate) fn builder_calls(&self) -> TokenStream {
        let calls = KNOBS.iter().zip(&self.values).filter_map(|(name, knob)| {
            let knob = knob.as_ref()?;
            let method = Ident::new(name, knob.span);
            let mut value = Literal::usize_unsuffixed(knob.value);
            value.set_span(knob.span);
            Some(quote!(.#method(#value)))
        });
        quote!(#(#calls)*)
    }

    /// Parses `name = value, ...` to the end of `input`. A syntax error (something that is not
    /// `name = expression` followed by a comma or the end) stops parsing and is returned; a
    /// well-formed argument with a bad name or value is added to `errors` and parsing goes on.
    fn parse_list(&mut self, kind: Kind, input: ParseStream<'_>, errors: &mut Option<syn::Error>) -> syn::Result<()> {
        while !input.is_empty() {
            // `Ident::parse_any` also accepts keywords, so `crate = ...` or `async` gets the
            // "unknown argument" message rather than syn's "expected identifier".
            let name = input.call(Ident::parse_any).map_err(|error| {
                syn::Error::new(
                    error.span(),
                    format!("expected an argument such as `maxprocs = 2`; {kind} accepts {}", accepted_list(kind)),
                )
            })?;
            let index = KNOBS.iter().position(|knob| name == knob);
            let is_start_paused = name == START_PAUSED;
            if !input.peek(Token![=]) {
                let message = match index {
                    Some(_) => format!("`{name}` needs a value, as in `{name} = 2`"),
                    None if is_start_paused => format!("`{name}` needs a value, as in `{name} = true`"),
                    None => unknown_argument(kind, &name),
                };
                return Err(syn::Error::new(name.span(), message));
            }
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            if is_start_paused {
                self.parse_start_paused(kind, &name, &value, errors);
            } else {
                self.set_knob(kind, &name, index, &value, errors);
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    }

    /// Records `start_paused = value`, or the error: only tests take it, once, as a `bool`.
    fn parse_start_paused(&mut self, kind: Kind, name: &Ident, value: &Expr, errors: &mut Option<syn::Error>) {
        let error = match value {
            _ if kind != Kind::Test => syn::Error::new(
                name.span(),
                format!(
                    "`{name}` is accepted only by #[gmp::test]; in a program, call \
                     gmp::time::pause() at the start of main"
                ),
            ),
            _ if self.start_paused.is_some() => {
                syn::Error::new(name.span(), format!("`{name}` is given more than once"))
            }
            Expr::Lit(ExprLit { lit: Lit::Bool(literal), attrs }) if attrs.is_empty() => {
                self.start_paused = Some(literal.value);
                return;
            }
            _ => syn::Error::new_spanned(value, format!("`{name}` takes `true` or `false`")),
        };
        push_error(errors, error);
    }

    /// Records `name = value` for knob `index` (`None`: not a knob), or the error.
    fn set_knob(
        &mut self,
        kind: Kind,
        name: &Ident,
        index: Option<usize>,
        value: &Expr,
        errors: &mut Option<syn::Error>,
    ) {
        match index {
            None => push_error(errors, syn::Error::new(name.span(), unknown_argument(kind, name))),
            Some(index) => match (&self.values[index], positive_integer(name, value)) {
                (Some(_), _) => {
                    push_error(errors, syn::Error::new(name.span(), format!("`{name}` is given more than once")))
                }
                (None, Ok(knob)) => self.values[index] = Some(knob),
                (None, Err(error)) => push_error(errors, error),
            },
        }
    }
}

/// Checks that `value` is an integer literal of at least 1 that fits a `usize`.
fn positive_integer(name: &Ident, value: &Expr) -> syn::Result<Knob> {
    let literal = match value {
        Expr::Lit(ExprLit { lit: Lit::Int(literal), attrs }) if attrs.is_empty() => literal,
        _ => {
            return Err(syn::Error::new_spanned(
                value,
                format!("`{name}` takes a positive integer literal, as in `{name} = 2`"),
            ))
        }
    };
    let span = literal.span();
    match literal.base10_parse::<usize>() {
        Ok(0) => Err(syn::Error::new(span, format!("{name} must be at least 1"))),
        Ok(value) => Ok(Knob { value, span }),
        Err(_) => Err(syn::Error::new(span, format!("`{name} = {}` does not fit in a usize", literal.base10_digits()))),
    }
}

fn unknown_argument(kind: Kind, name: &Ident) -> String {
    format!("unknown argument `{name}` to {kind}; the accepted arguments are {}", accepted_list(kind))
}

/// "`maxprocs`, `max_threads` and `max_blocking_threads`" (and "`start_paused`" for tests)
fn accepted_list(kind: Kind) -> String {
    let extra = (kind == Kind::Test).then_some(START_PAUSED);
    let quoted: Vec<String> = KNOBS.iter().copied().chain(extra).map(|knob| format!("`{knob}`")).collect();
    let (last, rest) = quoted.split_last().expect("KNOBS is not empty");
    format!("{} and {last}", rest.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: TokenStream) -> Config {
        let (config, errors) = Config::parse(Kind::Main, args);
        if let Some(errors) = errors {
            panic!("unexpected error: {errors}");
        }
        config
    }

    /// Every error message, in order.
    fn parse_errors(kind: Kind, args: TokenStream) -> Vec<String> {
        let (_, errors) = Config::parse(kind, args);
        errors.into_iter().flat_map(|error| error.into_iter().map(|e| e.to_string())).collect()
    }

    #[test]
    fn no_arguments_give_the_default_builder() {
        let config = parse_ok(quote!());
        assert_eq!(config, Config::default());
        assert!(config.builder_calls().is_empty());
    }

    #[test]
    fn every_knob_is_read_and_emitted_in_a_fixed_order() {
        let config = parse_ok(quote!(max_blocking_threads = 64, maxprocs = 2, max_threads = 8,));
        assert_eq!(config.get("maxprocs"), Some(2));
        assert_eq!(config.get("max_threads"), Some(8));
        assert_eq!(config.get("max_blocking_threads"), Some(64));
        assert_eq!(config.builder_calls().to_string(), ". maxprocs (2) . max_threads (8) . max_blocking_threads (64)");
    }

    #[test]
    fn a_suffixed_or_underscored_literal_is_emitted_as_a_plain_usize() {
        let config = parse_ok(quote!(maxprocs = 4usize, max_blocking_threads = 1_000));
        assert_eq!(config.builder_calls().to_string(), ". maxprocs (4) . max_blocking_threads (1000)");
    }

    #[test]
    fn an_unknown_argument_is_named_and_the_accepted_ones_listed() {
        let errors = parse_errors(Kind::Test, quote!(flavor = 1));
        assert_eq!(
            errors,
            ["unknown argument `flavor` to #[gmp::test]; the accepted arguments are \
              `maxprocs`, `max_threads`, `max_blocking_threads` and `start_paused`"]
        );
    }

    #[test]
    fn a_test_may_start_paused() {
        let (config, errors) = Config::parse(Kind::Test, quote!(start_paused = true, maxprocs = 1));
        assert!(errors.is_none());
        assert!(config.start_paused());
        assert_eq!(config.builder_calls().to_string(), ". maxprocs (1)");
        let (config, errors) = Config::parse(Kind::Test, quote!(start_paused = false));
        assert!(errors.is_none());
        assert!(!config.start_paused());
        assert!(!Config::default().start_paused());
    }

    #[test]
    fn start_paused_takes_only_a_bool_once_and_only_on_tests() {
        assert_eq!(parse_errors(Kind::Test, quote!(start_paused = 1)), ["`start_paused` takes `true` or `false`"]);
        assert_eq!(parse_errors(Kind::Test, quote!(start_paused = "true")), ["`start_paused` takes `true` or `false`"]);
        assert_eq!(
            parse_errors(Kind::Test, quote!(start_paused)),
            ["`start_paused` needs a value, as in `start_paused = true`"]
        );
        assert_eq!(
            parse_errors(Kind::Test, quote!(start_paused = true, start_paused = true)),
            ["`start_paused` is given more than once"]
        );
        assert_eq!(
            parse_errors(Kind::Main, quote!(start_paused = true)),
            ["`start_paused` is accepted only by #[gmp::test]; in a program, call \
              gmp::time::pause() at the start of main"]
        );
        let (config, _) = Config::parse(Kind::Main, quote!(start_paused = true));
        assert!(!config.start_paused());
    }

    #[test]
    fn a_keyword_is_an_unknown_argument_too() {
        let errors = parse_errors(Kind::Main, quote!(crate = 1));
        assert!(errors[0].starts_with("unknown argument `crate` to #[gmp::main]"), "{errors:?}");
    }

    #[test]
    fn zero_is_rejected() {
        assert_eq!(parse_errors(Kind::Main, quote!(maxprocs = 0)), ["maxprocs must be at least 1"]);
        assert_eq!(parse_errors(Kind::Main, quote!(max_threads = 0)), ["max_threads must be at least 1"]);
    }

    #[test]
    fn a_value_that_is_not_an_integer_literal_is_rejected_naming_the_argument() {
        for value in [quote!("2"), quote!(2.0), quote!(-1), quote!(N), quote!(1 + 1), quote!(true)] {
            let errors = parse_errors(Kind::Main, quote!(maxprocs = #value));
            assert_eq!(errors, ["`maxprocs` takes a positive integer literal, as in `maxprocs = 2`"], "for {value}");
        }
    }

    #[test]
    fn a_value_too_large_for_usize_is_rejected() {
        let errors = parse_errors(Kind::Main, quote!(maxprocs = 100000000000000000000000000));
        assert_eq!(errors, ["`maxprocs = 100000000000000000000000000` does not fit in a usize"]);
    }

    #[test]
    fn a_repeated_argument_is_rejected() {
        let errors = parse_errors(Kind::Main, quote!(maxprocs = 1, maxprocs = 2));
        assert_eq!(errors, ["`maxprocs` is given more than once"]);
    }

    #[test]
    fn a_name_without_a_value_is_rejected() {
        assert_eq!(parse_errors(Kind::Main, quote!(maxprocs)), ["`maxprocs` needs a value, as in `maxprocs = 2`"]);
        assert!(parse_errors(Kind::Main, quote!(multi_thread))[0].starts_with("unknown argument `multi_thread`"));
    }

    #[test]
    fn something_that_is_not_an_argument_is_rejected() {
        let errors = parse_errors(Kind::Main, quote!(2));
        assert_eq!(
            errors,
            ["expected an argument such as `maxprocs = 2`; #[gmp::main] accepts \
              `maxprocs`, `max_threads` and `max_blocking_threads`"]
        );
    }

    #[test]
    fn a_missing_comma_is_a_syntax_error() {
        let errors = parse_errors(Kind::Main, quote!(maxprocs = 1 max_threads = 2));
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn every_bad_argument_is_reported_and_good_ones_kept() {
        let (config, errors) = Config::parse(Kind::Main, quote!(maxprocs = 0, flavor = 1, max_threads = 3));
        let errors: Vec<String> = errors.unwrap().into_iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0], "maxprocs must be at least 1");
        assert!(errors[1].starts_with("unknown argument `flavor`"));
        assert_eq!(config.get("maxprocs"), None);
        assert_eq!(config.get("max_threads"), Some(3));
    }
}
