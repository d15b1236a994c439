pub fn checked(n: usize) -> usize {
    n.checked_sub(1).expect("no arguments at all")
}
