"""Stage 6: fingerprints of two sides, compared dimension by dimension, into one drift report."""
