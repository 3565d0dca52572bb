"""The CVAE and its digit classifier: pure PyTorch, no HTTP, no training loop."""
