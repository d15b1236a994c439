/* A C function the Rust program links: proof that C was compiled for the target. */
int slim_answer(void) { return 42; }
