"""Golden writers: each runs one official repository's network code (a checkout given on the
command line, never vendored) on seeded random weights, and writes the weights in the official
format, the inputs and the official outputs under tests/data/official/<repo>/."""
