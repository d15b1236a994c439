//! cargo-slim's size-attribution fixture: a program whose bytes are mostly
//! `regex` (regex-automata, regex-syntax, aho-corasick, memchr) and std, so the
//! bloat stage has real crates to tell apart.

use regex::Regex;

fn main() {
    println!("regexy: matching arguments");
    // The pattern comes from the command line so the regex engine cannot be
    // optimised away at compile time.
    let mut args = std::env::args().skip(1);
    let pattern = args.next().unwrap_or_else(|| r"^[a-z]+\d*$".to_string());
    let re = match Regex::new(&pattern) {
        Ok(re) => re,
        Err(e) => {
            eprintln!("regexy: bad pattern: {e}");
            std::process::exit(2);
        }
    };
    for arg in args {
        let verdict = if re.is_match(&arg) { "match" } else { "no match" };
        println!("{arg}: {verdict}");
    }
}
