"""Experiments of §8.8 (optimisation since the book, 2016–2026): ``stacked`` (many small networks
trained as one batched run), ``single`` (one network at a time, for Muon and SAM),
``decoupling`` (Adam + L2 against AdamW over a grid), ``edge_of_stability`` (progressive
sharpening under full-batch gradient descent), ``batch_size`` (steps to a target against the
batch size, the critical batch size)."""
