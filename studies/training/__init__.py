"""The training harness: seeded tasks, output heads and losses, optimizers, clipping, and a
training loop in which Python runs once per update (never per time step or per sample)."""
