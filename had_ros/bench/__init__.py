"""Speed benchmarks: each prints its numbers beside a baseline measured in the same run."""
