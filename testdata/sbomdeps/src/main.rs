fn main() {
    let mut buf = itoa::Buffer::new();
    println!("sbomdeps {}", buf.format(42u32));
}
