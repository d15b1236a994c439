mod generated {
    include!(concat!(env!("OUT_DIR"), "/generated.rs"));
}

#[cfg(feature = "absolute-include")]
mod absolute {
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/absolute.rs"));
}

fn main() {
    let n = std::env::args().count();
    #[cfg(feature = "absolute-include")]
    let n = absolute::checked(n) + 1;
    let mut v: smallvec::SmallVec<[u64; 4]> = smallvec::SmallVec::new();
    // smallvec's assert (a panic location in a registry crate) and one in code the
    // build script generated into OUT_DIR: both are paths compiled into the binary.
    v.insert(n - 1, generated::answer(n as u64));
    println!("repro: {}", v[0]);
}
