//! The log macros of the samples' defmt encoder, as a proc-macro crate with no dependencies.
//!
//! A proc macro (not macro_rules) because the code it generates carries the *call site's* spans:
//! the `DEFMT_LOG_STATEMENT` static it declares then has the log statement's file and line in its
//! debug info, which is where defmt tools (and Dapdeck) read a record's location from.
//!
//!   info!("x = {=u8}", x)    trace!/debug!/info!/warn!/error!
//!   intern!("defmt_derived", "Point {{ x: {=i32} }}")  -> u16 index of an interned string
//!   istr!("text")            -> crate::defmt::Istr for an {=istr} argument
//!
//! Arguments are encoded with `crate::defmt::Encode`; the number of arguments is checked against
//! the format string's parameters at compile time.
extern crate proc_macro;
use proc_macro::{Delimiter, Group, TokenStream, TokenTree};

/// Splits the macro input at top-level commas.
fn split_args(input: TokenStream) -> Vec<TokenStream> {
    let mut out = vec![];
    let mut current = vec![];
    for tt in input {
        if let TokenTree::Punct(p) = &tt {
            if p.as_char() == ',' {
                out.push(current.drain(..).collect());
                continue;
            }
        }
        current.push(tt);
    }
    if !current.is_empty() {
        out.push(current.into_iter().collect());
    }
    out
}

/// The string literal's contents (a plain "..." literal; escapes other than \" and \\ refused).
fn literal(ts: &TokenStream) -> String {
    let text = ts.to_string();
    let t = text.trim();
    if !(t.starts_with('"') && t.ends_with('"')) || t.len() < 2 {
        panic!("expected a string literal, found `{}`", t);
    }
    let inner = &t[1..t.len() - 1];
    if inner.contains('\\') {
        panic!("escapes are not supported in defmt format strings here: {}", t);
    }
    inner.to_string()
}

/// Number of distinct argument positions in a defmt format string ("{{" and "}}" are literal braces).
fn param_count(format: &str) -> usize {
    let bytes = format.as_bytes();
    let mut i = 0;
    let mut next = 0;
    let mut max = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' {
            if bytes.get(i + 1) == Some(&b'{') {
                i += 2;
                continue;
            }
            let end = format[i..].find('}').expect("unclosed { in format string") + i;
            let body = &format[i + 1..end];
            let head = body.split(|c| c == '=' || c == ':').next().unwrap_or("");
            let index = if head.is_empty() { let n = next; next += 1; n } else { head.parse::<usize>().expect("bad parameter index") };
            if index + 1 > max {
                max = index + 1;
            }
            i = end + 1;
        } else if bytes[i] == b'}' {
            i += if bytes.get(i + 1) == Some(&b'}') { 2 } else { 1 };
        } else {
            i += 1;
        }
    }
    max
}

/// The interning expression: a `.defmt` static whose symbol name is defmt's JSON record.
fn intern_code(tag: &str, data: &str) -> String {
    // JSON string escaping for the data (quotes and backslashes cannot occur, see `literal`).
    format!(
        "{{ #[link_section = \".defmt\"] \
           #[export_name = concat!(\"{{\\\"package\\\":\\\"dapdeck-samples\\\",\\\"tag\\\":\\\"{tag}\\\",\\\"data\\\":\\\"{data}\\\",\\\"disambiguator\\\":\\\"\", line!(), \":\", column!(), \"\\\",\\\"crate_name\\\":\\\"\", module_path!(), \"\\\"}}\")] \
           static DEFMT_LOG_STATEMENT: u8 = 0; \
           &DEFMT_LOG_STATEMENT as *const u8 as usize as u16 }}",
        tag = tag,
        data = data,
    )
}

fn log(level: &str, input: TokenStream) -> TokenStream {
    let args = split_args(input);
    if args.is_empty() {
        panic!("a log statement needs a format string");
    }
    let format = literal(&args[0]);
    let values = &args[1..];
    let expected = param_count(&format);
    if values.len() != expected {
        panic!("format string {:?} has {} parameter(s) but {} argument(s) were given", format, expected, values.len());
    }
    let mut body: Vec<TokenStream> = vec![];
    // Bind each argument once, outside the closure, keeping the caller's own tokens (and spans).
    for (i, v) in values.iter().enumerate() {
        body.push(format!("let __ARG{} =", i).parse().unwrap());
        body.push(v.clone());
        body.push(";".parse().unwrap());
    }
    let mut call = format!("let index: u16 = {}; crate::defmt::log(index, &|_f: &mut crate::defmt::Frame| {{", intern_code(&format!("defmt_{}", level), &format));
    for i in 0..values.len() {
        call.push_str(&format!(" crate::defmt::Encode::encode(&__ARG{}, _f);", i));
    }
    call.push_str(" });");
    body.push(call.parse().unwrap_or_else(|e| panic!("internal: generated code does not parse: {:?}", e)));
    let block = Group::new(Delimiter::Brace, body.into_iter().collect());
    TokenStream::from(TokenTree::Group(block))
}

#[proc_macro]
pub fn trace(input: TokenStream) -> TokenStream {
    log("trace", input)
}
#[proc_macro]
pub fn debug(input: TokenStream) -> TokenStream {
    log("debug", input)
}
#[proc_macro]
pub fn info(input: TokenStream) -> TokenStream {
    log("info", input)
}
#[proc_macro]
pub fn warn(input: TokenStream) -> TokenStream {
    log("warn", input)
}
#[proc_macro]
pub fn error(input: TokenStream) -> TokenStream {
    log("error", input)
}

#[proc_macro]
pub fn intern(input: TokenStream) -> TokenStream {
    let args = split_args(input);
    if args.len() != 2 {
        panic!("intern!(TAG, \"string\")");
    }
    intern_code(&literal(&args[0]), &literal(&args[1])).parse().unwrap()
}

#[proc_macro]
pub fn istr(input: TokenStream) -> TokenStream {
    let args = split_args(input);
    if args.len() != 1 {
        panic!("istr!(\"string\")");
    }
    format!("crate::defmt::Istr({})", intern_code("defmt_str", &literal(&args[0]))).parse().unwrap()
}
