"""The HTTP service that corrects overexposed photos with the generator in model/."""
