"""ringfence's learning side: graph features, the repeat-offender model,
training, scoring and evaluation."""
