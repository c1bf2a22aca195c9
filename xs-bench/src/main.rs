//! Benchmark driver (see docs/benchmarks.md).
fn main() {}
