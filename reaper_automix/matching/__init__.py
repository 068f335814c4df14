"""Stage 2 without training: per-stem console settings found by optimisation so that the mix's features match a
reference mix's (:mod:`.features` measures, :mod:`.optimise` searches)."""
