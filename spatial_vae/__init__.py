"Spatially aware VAE embeddings and tissue domains for 10x Visium spatial transcriptomics."
__version__ = "0.1.0"
