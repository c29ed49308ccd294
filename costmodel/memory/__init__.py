"""Memory over time: live tensor bytes op by op for inference and the training step, on fake tensors."""
