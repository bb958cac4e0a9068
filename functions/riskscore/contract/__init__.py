"""The contract between training and everything that scores: the feature and scaling specs,
the typed manifest of a model version, the request model, and publishing, loading and verifying
a bundle."""
