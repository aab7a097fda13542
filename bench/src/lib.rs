//! Baselines measured by `bench/run` in the same run as localzoom; see the binaries.
