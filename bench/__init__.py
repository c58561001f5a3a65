"""`make bench`: performance measurements, each printed with a baseline measured in the same
run, so the ratios mean something on a shared, noisy machine. Never part of the tests."""
