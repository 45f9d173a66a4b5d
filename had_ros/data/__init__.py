"""Datasets: loaders for RGB + event tracking datasets, training pairs and the synthetic generator."""
