"""Brian2 side: backend selection, group construction from model files, simulations."""
