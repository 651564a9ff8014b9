"""Model code: features, Lab math, ab bins, preprocessing, network, trainer, signatures, metrics."""
