"""Pictures for papers (``pip install vireid[viz]``, matplotlib): rank lists, t-SNE,
distance histograms, attention maps."""
