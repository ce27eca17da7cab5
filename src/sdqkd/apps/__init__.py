"""Applications that consume QKD keys together with classical and post-quantum key exchange."""
