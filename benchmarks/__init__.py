"""Speed benchmarks (`make bench`); results go to results/bench/. Not tests: timings are machine facts."""
