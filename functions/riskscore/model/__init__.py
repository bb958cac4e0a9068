"""Inference: ONNX sessions, the combined graph, the feeds, the one model loader, the decision
core and the reasons. No transport here."""
