"""Speed and memory measurements, each as a ratio against a reference run in the same process."""
