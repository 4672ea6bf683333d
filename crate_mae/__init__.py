"""A literate, notebook-first textbook package deriving and implementing CRATE-MAE, the white-box masked autoencoder (Pai et al., ICLR 2024).

Modules:

- `crate_mae.denoising`: The score of a noisy mixture of subspace Gaussians, Tweedie's denoiser, and the sense in which one gradient step on the compression term $R^c$ is a projection of every token onto its own subspace.
- `crate_mae.evaluate`: Linear probes under the paper's and an honest protocol, a raw-pixel baseline, fine-tuning, reconstruction loss with fixed masks, the mask-ratio and lambda sweeps, and the `probe`, `finetune` and `reconstruct` commands.
- `crate_mae.train`: The training engine: MAE's optimizer and schedule, gradient accumulation, bf16, atomic checkpoints that resume bit-exactly, a JSON-lines metrics log, and DDP under `torchrun`."""

__version__ = "0.0.1"
