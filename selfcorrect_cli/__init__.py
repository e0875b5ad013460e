"""selfcorrect: train and measure intrinsic self-correction (STaR, Pair-SFT, SCoRe)."""

__version__ = "0.1.0"
