"""ringfence: find repeat offenders on online platforms through the graph that links them."""
