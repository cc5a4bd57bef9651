"""gMLP (Pay Attention to MLPs) in small, tested PyTorch modules."""
