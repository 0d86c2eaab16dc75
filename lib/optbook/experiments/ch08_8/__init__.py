"""Experiments of §8.8 (optimisation since the book, 2016–2026): ``stacked`` (many small networks
trained as one batched run), ``decoupling`` (Adam + L2 against AdamW over a grid),
``edge_of_stability`` (progressive sharpening under full-batch gradient descent)."""
