"""A literate, notebook-first textbook package deriving and implementing CRATE-MAE, the white-box masked autoencoder (Pai et al., ICLR 2024)."""

__version__ = "0.0.1"
