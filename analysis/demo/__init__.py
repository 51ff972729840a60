"""The simulated workloads ``driftline demo`` records: a support agent in several versions, the
answers it writes, and a scoring model. Demo data, kept out of the analysis modules so nothing but the
demo (and tests that want realistic traffic) imports it."""
