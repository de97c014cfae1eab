//! The expansion of `#[gmp::main]` and `#[gmp::test]`, as plain functions over
//! `proc_macro2::TokenStream` so that the unit tests below can call them.
//!
//! The good path (see the crate docs for the shape) removes `async` from the signature and
//! wraps the body in `async move`: a test's under `block_on`; `main`'s becomes the main
//! goroutine, after which the process exits (gmp's `main_goroutine.rs`). The bad path reports every problem it finds
//! at once and then emits *something close to what the user meant*, so that the only errors
//! the user sees are ours and the ones in their own body:
//!
//! - a problem with the arguments, a missing `async`, or a second test attribute: the
//!   ordinary expansion anyway (good arguments kept, bad ones and the extra attribute
//!   dropped). A non-async body is valid inside `async move`, so this compiles.
//! - a signature that cannot be an entry point (parameters, generics, C variadics): the
//!   function as written, with `dead_code` allowed. If it is `#[gmp::main]` on `main`, it is
//!   nested inside a dummy `fn main() {}`, so rustc neither complains that `main` is async or
//!   has the wrong type nor that there is no `main` at all.
//! - not a function: the item as written.

use std::fmt;

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::{Attribute, Item, ItemFn};

use crate::config::Config;

/// Which attribute is being expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[gmp::main]`
    Main,
    /// `#[gmp::test]`
    Test,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Main => "#[gmp::main]",
            Kind::Test => "#[gmp::test]",
        })
    }
}

/// Expands `#[kind(attr)] item`.
pub(crate) fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    let function = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(function)) => function,
        Ok(other) => {
            let message = format!("{kind} can only be applied to an `async fn`");
            return with_error(syn::Error::new_spanned(other, message), item);
        }
        // Rustc has parsed the item already, so this is syntax that syn does not know. Its
        // message is the best we have.
        Err(error) => return with_error(error, item),
    };

    let (config, mut errors) = Config::parse(kind, attr);
    let signature_is_usable = check_signature(kind, &function, &mut errors);
    let Some(errors) = errors else {
        return entry_point(kind, &config, function);
    };
    if signature_is_usable {
        let mut function = function;
        function.attrs.retain(|attr| !is_test_attribute(attr));
        with_error(errors, entry_point(kind, &config, function))
    } else {
        with_error(errors, unusable_function(kind, function))
    }
}

/// The good path: the synchronous function that runs the body on a new runtime.
fn entry_point(kind: Kind, config: &Config, function: ItemFn) -> TokenStream {
    let ItemFn { attrs, vis, mut sig, mut block } = function;
    sig.asyncness = None;
    if kind == Kind::Test && config.start_paused() {
        // `#[gmp::test(start_paused = true)]`: the body's first statement pauses the clock.
        block.stmts.insert(0, syn::parse_quote!(::gmp::time::pause();));
    }
    let test_attribute = match kind {
        Kind::Main => quote!(),
        Kind::Test => quote!(#[::core::prelude::v1::test]),
    };
    let builder_calls = config.builder_calls();
    // The call is the function's tail expression, so rustc reports a body whose value does not
    // match the return type (a `-> Result` main that forgot `Ok(())`) at the call. Give it the
    // *location* of the end of the body's last statement, so that the error points there rather
    // than at the attribute, but keep the call site's *context*, so that it still counts as
    // macro output: rustc does not suggest edits inside it and clippy's lints (`expect_used`)
    // leave it alone.
    let end = block
        .stmts
        .last()
        .and_then(|stmt| stmt.to_token_stream().into_iter().last())
        .map_or_else(|| block.brace_token.span.close(), |token| token.span());
    let end = Span::call_site().located_at(end);
    // A program's main gets Go's SIGQUIT: every goroutine printed on stderr, exit status 2
    // (`Builder::dump_on_sigquit`); a test leaves the test harness's signals alone.
    let sigquit = match kind {
        Kind::Main => quote!(.dump_on_sigquit(true)),
        Kind::Test => quote!(),
    };
    let runtime = quote! {
        ::gmp::Builder::new()
            #builder_calls
            #sigquit
            .build()
            .expect("gmp: failed to build the runtime")
    };
    let call = match kind {
        // The body is the main goroutine, and the process exits when it returns (see gmp's
        // `main_goroutine.rs`: a `Send` body runs as a goroutine, any other on this thread).
        // The body stays an `async fn` of its own, nested inside: the choice needs to know
        // whether its future is `Send`, which rustc can tell for another item's future but
        // not for an `async` block of the function being checked.
        Kind::Main => {
            let mut body_sig = sig.clone();
            body_sig.ident = syn::Ident::new("__gmp_main_body", Span::call_site());
            body_sig.asyncness = Some(Default::default());
            quote! {
                #body_sig #block
                {
                    #[allow(unused_imports)]
                    use ::gmp::main_goroutine::{RunAsGoroutine as _, RunOnMainThread as _};
                    (&::gmp::main_goroutine::Main::new(__gmp_main_body())).run(#runtime)
                }
            }
        }
        Kind::Test => quote_spanned! {end=>
            #runtime.block_on(async move #block)
        },
    };
    quote! {
        #test_attribute
        #(#attrs)*
        #vis #sig {
            #call
        }
    }
}

/// The function as written, for a signature that cannot be turned into an entry point.
fn unusable_function(kind: Kind, function: ItemFn) -> TokenStream {
    let is_main = kind == Kind::Main && function.sig.ident == "main";
    let function = quote! {
        #[allow(dead_code)]
        #function
    };
    if is_main {
        quote! {
            fn main() {
                #function
            }
        }
    } else {
        function
    }
}

/// Adds an error for each thing in the signature and attributes that the attribute cannot
/// accept. Returns whether the signature can still be expanded into an entry point (that is,
/// whether the problems found, if any, are ones the ordinary expansion drops or tolerates).
fn check_signature(kind: Kind, function: &ItemFn, errors: &mut Option<syn::Error>) -> bool {
    let sig = &function.sig;
    let mut usable = true;
    if sig.asyncness.is_none() {
        let message = format!(
            "the `async` keyword is missing from the function declaration; {kind} requires an \
             async fn"
        );
        push_error(errors, syn::Error::new_spanned(sig.fn_token, message));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let message = format!("{kind} functions cannot be generic");
        push_error(errors, syn::Error::new_spanned(&sig.generics, message));
        usable = false;
    }
    if !sig.inputs.is_empty() || sig.variadic.is_some() {
        let message = format!("{kind} functions cannot take parameters");
        let error = match &sig.variadic {
            Some(variadic) if sig.inputs.is_empty() => syn::Error::new_spanned(variadic, message),
            _ => syn::Error::new_spanned(&sig.inputs, message),
        };
        push_error(errors, error);
        usable = false;
    }
    if kind == Kind::Test {
        for attr in function.attrs.iter().filter(|attr| is_test_attribute(attr)) {
            let message = format!("{kind} already makes the function a test; remove this second test attribute");
            push_error(errors, syn::Error::new_spanned(attr, message));
        }
    }
    usable
}

/// `#[test]`, `#[core::prelude::v1::test]`, `#[tokio::test]`, `#[gmp::test]` and the like: an
/// attribute whose path ends in `test`. (`#[cfg(test)]` is a `cfg`, so it does not count.)
fn is_test_attribute(attr: &Attribute) -> bool {
    attr.path().segments.last().is_some_and(|segment| segment.ident == "test")
}

/// Adds `error` to the errors found so far.
pub(crate) fn push_error(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(errors) => errors.combine(error),
        None => *errors = Some(error),
    }
}

/// The `compile_error!`s for `error`, followed by `tokens`.
fn with_error(error: syn::Error, tokens: impl ToTokens) -> TokenStream {
    let mut output = error.to_compile_error();
    tokens.to_tokens(&mut output);
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_main(attr: TokenStream, item: TokenStream) -> String {
        checked(expand(Kind::Main, attr, item))
    }

    fn expand_test(attr: TokenStream, item: TokenStream) -> String {
        checked(expand(Kind::Test, attr, item))
    }

    /// Every expansion, good or bad, must be a sequence of items.
    fn checked(output: TokenStream) -> String {
        if let Err(error) = syn::parse2::<syn::File>(output.clone()) {
            panic!("the expansion is not a list of items ({error}):\n{output}");
        }
        output.to_string()
    }

    fn errors_in(output: &str) -> usize {
        output.matches("compile_error").count()
    }

    /// The expected expansion, printed as the expansion is: round-tripped through syn so that
    /// token spacing (`>>` against `> >`) matches.
    fn tokens(expected: TokenStream) -> String {
        let file: syn::File = syn::parse2(expected).expect("the expected expansion parses");
        file.into_token_stream().to_string()
    }

    #[test]
    fn main_becomes_a_sync_fn_that_runs_its_body_as_the_main_goroutine() {
        let output = expand_main(
            quote!(),
            quote!(
                async fn main() {
                    println!("hi");
                }
            ),
        );
        let expected = quote! {
            fn main() {
                async fn __gmp_main_body() { println!("hi"); }
                {
                    #[allow(unused_imports)]
                    use ::gmp::main_goroutine::{RunAsGoroutine as _, RunOnMainThread as _};
                    (&::gmp::main_goroutine::Main::new(__gmp_main_body()))
                        .run(::gmp::Builder::new().dump_on_sigquit(true).build().expect("gmp: failed to build the runtime"))
                }
            }
        };
        assert_eq!(output, tokens(expected));
    }

    #[test]
    fn main_keeps_visibility_attributes_and_return_type() {
        let output = expand_main(
            quote!(),
            quote! {
                /// Docs.
                #[allow(unused)]
                pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
                    fallible().await?;
                    Ok(())
                }
            },
        );
        let expected = quote! {
            /// Docs.
            #[allow(unused)]
            pub fn main() -> Result<(), Box<dyn std::error::Error>> {
                async fn __gmp_main_body() -> Result<(), Box<dyn std::error::Error>> {
                    fallible().await?;
                    Ok(())
                }
                {
                    #[allow(unused_imports)]
                    use ::gmp::main_goroutine::{RunAsGoroutine as _, RunOnMainThread as _};
                    (&::gmp::main_goroutine::Main::new(__gmp_main_body()))
                        .run(::gmp::Builder::new().dump_on_sigquit(true).build().expect("gmp: failed to build the runtime"))
                }
            }
        };
        assert_eq!(output, tokens(expected));
    }

    #[test]
    fn main_arguments_become_builder_calls() {
        let output = expand_main(
            quote!(maxprocs = 2),
            quote!(
                async fn main() {}
            ),
        );
        assert!(
            output.contains(":: gmp :: Builder :: new () . maxprocs (2) . dump_on_sigquit (true) . build ()"),
            "{output}"
        );
        assert!(output.contains("main_goroutine :: Main :: new"), "{output}");
        assert_eq!(errors_in(&output), 0);

        let output = expand_main(
            quote!(max_threads = 16, max_blocking_threads = 4, maxprocs = 2),
            quote!(
                async fn main() {}
            ),
        );
        assert!(
            output.contains(
                ". maxprocs (2) . max_threads (16) . max_blocking_threads (4) . dump_on_sigquit (true) . build ()"
            ),
            "{output}"
        );
    }

    #[test]
    fn main_may_be_put_on_a_function_with_another_name() {
        let output = expand_main(
            quote!(),
            quote!(
                async fn serve() -> u32 {
                    7
                }
            ),
        );
        assert!(output.starts_with("fn serve () -> u32 {"), "{output}");
        assert_eq!(errors_in(&output), 0);
    }

    #[test]
    fn test_becomes_a_sync_test_fn_keeping_other_attributes() {
        let output = expand_test(
            quote!(maxprocs = 1),
            quote! {
                #[should_panic(expected = "boom")]
                #[ignore]
                async fn it_panics() { panic!("boom") }
            },
        );
        let expected = quote! {
            #[::core::prelude::v1::test]
            #[should_panic(expected = "boom")]
            #[ignore]
            fn it_panics() {
                ::gmp::Builder::new()
                    .maxprocs(1)
                    .build()
                    .expect("gmp: failed to build the runtime")
                    .block_on(async move { panic!("boom") })
            }
        };
        assert_eq!(output, tokens(expected));
    }

    #[test]
    fn a_test_that_starts_paused_pauses_the_clock_before_its_body() {
        let output = expand_test(
            quote!(start_paused = true),
            quote! {
                async fn waits() { wait().await; }
            },
        );
        let expected = quote! {
            #[::core::prelude::v1::test]
            fn waits() {
                ::gmp::Builder::new()
                    .build()
                    .expect("gmp: failed to build the runtime")
                    .block_on(async move { ::gmp::time::pause(); wait().await; })
            }
        };
        assert_eq!(output, tokens(expected));
        let output = expand_test(
            quote!(start_paused = false),
            quote!(
                async fn runs() {}
            ),
        );
        assert!(!output.contains("pause"), "{output}");
    }

    #[test]
    fn start_paused_on_main_is_reported_and_dropped() {
        let output = expand_main(
            quote!(start_paused = true),
            quote!(
                async fn main() {}
            ),
        );
        assert_eq!(errors_in(&output), 1, "{output}");
        assert!(output.contains("`start_paused` is accepted only by #[gmp::test]"), "{output}");
        assert!(!output.contains(":: gmp :: time :: pause"), "{output}");
    }

    #[test]
    fn test_keeps_its_return_type() {
        let output = expand_test(
            quote!(),
            quote!(
                async fn works() -> std::io::Result<()> {
                    Ok(())
                }
            ),
        );
        assert!(output.contains("fn works () -> std :: io :: Result < () > {"), "{output}");
        assert!(output.contains("block_on (async move { Ok (()) })"), "{output}");
    }

    #[test]
    fn a_missing_async_is_reported_and_the_function_still_expanded() {
        let output = expand_main(
            quote!(),
            quote!(
                fn main() {
                    work();
                }
            ),
        );
        assert_eq!(errors_in(&output), 1, "{output}");
        assert!(
            output.contains(
                "the `async` keyword is missing from the function declaration; \
                 #[gmp::main] requires an async fn"
            ),
            "{output}"
        );
        // The fallback is the ordinary expansion, so rustc finds `main` and nothing else fails.
        assert!(output.contains("fn main () { async fn __gmp_main_body () { work () ; }"), "{output}");

        let output = expand_test(
            quote!(),
            quote!(
                fn sync_test() {}
            ),
        );
        assert!(output.contains("#[gmp::test] requires an async fn"), "{output}");
        assert!(output.contains("# [:: core :: prelude :: v1 :: test] fn sync_test ()"), "{output}");
    }

    #[test]
    fn an_unknown_argument_is_reported_and_the_good_ones_kept() {
        let output = expand_main(
            quote!(flavor = 1, maxprocs = 3),
            quote!(
                async fn main() {}
            ),
        );
        assert_eq!(errors_in(&output), 1, "{output}");
        assert!(
            output.contains(
                "unknown argument `flavor` to #[gmp::main]; the accepted arguments are \
                 `maxprocs`, `max_threads` and `max_blocking_threads`"
            ),
            "{output}"
        );
        assert!(output.contains(". maxprocs (3) . dump_on_sigquit (true) . build ()"), "{output}");
    }

    #[test]
    fn zero_maxprocs_is_reported() {
        let output = expand_test(
            quote!(maxprocs = 0),
            quote!(
                async fn t() {}
            ),
        );
        assert_eq!(errors_in(&output), 1, "{output}");
        assert!(output.contains("maxprocs must be at least 1"), "{output}");
        assert!(output.contains(":: gmp :: Builder :: new () . build ()"), "{output}");
    }

    #[test]
    fn a_value_that_is_not_an_integer_literal_is_reported() {
        let output = expand_main(
            quote!(max_threads = "8"),
            quote!(
                async fn main() {}
            ),
        );
        assert_eq!(errors_in(&output), 1, "{output}");
        assert!(output.contains("`max_threads` takes a positive integer literal, as in `max_threads = 2`"), "{output}");
    }

    #[test]
    fn main_with_parameters_is_reported_and_nested_in_a_dummy_main() {
        let output = expand_main(
            quote!(),
            quote!(
                async fn main(port: u16) {
                    serve(port).await
                }
            ),
        );
        assert_eq!(errors_in(&output), 1, "{output}");
        assert!(output.contains("#[gmp::main] functions cannot take parameters"), "{output}");
        let expected = quote! {
            fn main() {
                #[allow(dead_code)]
                async fn main(port: u16) { serve(port).await }
            }
        };
        assert!(output.ends_with(&tokens(expected)), "{output}");
    }

    #[test]
    fn a_test_with_parameters_is_reported_and_emitted_as_written() {
        let output = expand_test(
            quote!(),
            quote!(
                async fn t(x: u32) {
                    let _ = x;
                }
            ),
        );
        assert_eq!(errors_in(&output), 1, "{output}");
        assert!(output.contains("#[gmp::test] functions cannot take parameters"), "{output}");
        let expected = quote! {
            #[allow(dead_code)]
            async fn t(x: u32) { let _ = x; }
        };
        assert!(output.ends_with(&tokens(expected)), "{output}");
    }

    #[test]
    fn a_self_parameter_is_a_parameter() {
        let output = expand_main(
            quote!(),
            quote!(
                async fn run(&self) {}
            ),
        );
        assert!(output.contains("#[gmp::main] functions cannot take parameters"), "{output}");
        assert!(!output.contains("main_goroutine"), "{output}");
    }

    #[test]
    fn a_generic_function_is_reported() {
        let output = expand_main(
            quote!(),
            quote!(
                async fn main<T: Default>() {}
            ),
        );
        assert_eq!(errors_in(&output), 1, "{output}");
        assert!(output.contains("#[gmp::main] functions cannot be generic"), "{output}");
        assert!(output.starts_with(":: core :: compile_error !"), "{output}");
        assert!(output.contains("fn main () { # [allow (dead_code)] async fn main < T : Default > () { } }"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let output = expand_main(
            quote!(maxprocs = 0, flavor = 1),
            quote!(
                fn main(x: u8) {}
            ),
        );
        assert_eq!(errors_in(&output), 4, "{output}");
        for message in [
            "maxprocs must be at least 1",
            "unknown argument `flavor`",
            "the `async` keyword is missing",
            "functions cannot take parameters",
        ] {
            assert!(output.contains(message), "{message} missing from {output}");
        }
    }

    #[test]
    fn a_second_test_attribute_is_reported_and_dropped() {
        let output = expand_test(
            quote!(),
            quote!(
                #[test]
                async fn twice() {}
            ),
        );
        assert_eq!(errors_in(&output), 1, "{output}");
        assert!(
            output.contains("#[gmp::test] already makes the function a test; remove this second test attribute"),
            "{output}"
        );
        assert_eq!(output.matches(":: core :: prelude :: v1 :: test]").count(), 1, "{output}");
        assert!(!output.contains("# [test]"), "{output}");

        let output = expand_test(
            quote!(),
            quote!(
                #[cfg(test)]
                async fn cfg_is_fine() {}
            ),
        );
        assert_eq!(errors_in(&output), 0, "{output}");
    }

    #[test]
    fn an_item_that_is_not_a_function_is_reported_and_emitted_as_written() {
        let output = expand_main(
            quote!(),
            quote!(
                struct Main;
            ),
        );
        assert_eq!(errors_in(&output), 1, "{output}");
        assert!(output.contains("#[gmp::main] can only be applied to an `async fn`"), "{output}");
        assert!(output.ends_with("struct Main ;"), "{output}");
    }
}
