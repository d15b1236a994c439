fn main() {
    println!("beta: {}", common::shared());
}
