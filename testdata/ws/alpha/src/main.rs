fn main() {
    // SLIM_GREETING comes from `--config env.SLIM_GREETING=…` when a test passes it.
    let greeting = option_env!("SLIM_GREETING").unwrap_or("hello");
    println!("alpha: {greeting}, {}", common::shared());
}
